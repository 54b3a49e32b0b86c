//! A throw-away PostgreSQL for tests: [`database`] hands each test a fresh, empty database on a
//! cluster shared by the test process.
//!
//! The cluster is the one `ASCEND_PG_URL` names (the URL of a maintenance database, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`; CI's `.ci/run` starts one and sets it), or
//! else one this process starts itself when `initdb`, `pg_ctl` and `postgres` are installed (on
//! `PATH`, in `/usr/lib/postgresql/*/bin` or `/usr/local/bin`): initdb into a temp dir (trust
//! auth, no fsync), listening on 127.0.0.1 only on a free port, unix sockets in that dir. It is
//! stopped and its dir deleted when the process exits: by an `atexit` hook on a normal exit, and
//! by a watchdog shell that waits for this process's end on a pipe otherwise (a test binary
//! killed by a signal). initdb refuses to run as root: as root the cluster runs as the
//! `postgres` user (which the Debian package creates), else as `nobody`.
//!
//! Without PostgreSQL the PG variants of tests are skipped, with a `skipped: …` line on
//! stderr, unless [`required`] (`ASCEND_PG_TESTS=1`, as in CI): then they fail.
#![allow(dead_code)]

use std::io::Write;
use std::net::{IpAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Whether the PostgreSQL tests must run (`ASCEND_PG_TESTS=1`): unavailable is then a failure.
pub fn required() -> bool {
    std::env::var("ASCEND_PG_TESTS").is_ok_and(|v| v.trim() == "1")
}

/// A fresh, empty database for one test (its URL), or None when PostgreSQL is unavailable and
/// not [`required`] (a `skipped: …` line is printed). Panics when it is required and
/// unavailable, or when the cluster is there but the database cannot be created.
pub fn database() -> Option<String> {
    let maintenance = match cluster() {
        Ok(url) => url.clone(),
        Err(why) => {
            if required() {
                panic!("ASCEND_PG_TESTS=1 but PostgreSQL is unavailable: {why}");
            }
            // Straight to stderr: the test harness captures only the print macros, so the line
            // shows in a normal `cargo test` run.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: PostgreSQL test ({}): {why} (set ASCEND_PG_URL, or install initdb, \
                 pg_ctl and postgres; ASCEND_PG_TESTS=1 makes this a failure)",
                std::thread::current().name().unwrap_or("?")
            );
            return None;
        }
    };
    let name = format!("t_{:016x}", fastrand::u64(..));
    let mut url = url::Url::parse(&maintenance)
        .unwrap_or_else(|e| panic!("PostgreSQL URL {maintenance:?} does not parse: {e}"));
    url.set_path(&format!("/{name}"));
    if let Err(e) = create_database(&maintenance, &name) {
        panic!("CREATE DATABASE {name} on {maintenance}: {e}");
    }
    Some(url.to_string())
}

/// The maintenance database URL of the shared cluster, or why there is none.
fn cluster() -> &'static Result<String, String> {
    static CLUSTER: OnceLock<Result<String, String>> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        if let Some(url) = std::env::var("ASCEND_PG_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            check_loopback(&url);
            return Ok(url);
        }
        let bin = binaries().ok_or_else(|| {
            "no ASCEND_PG_URL, and initdb/pg_ctl/postgres are not on PATH, in \
             /usr/lib/postgresql/*/bin or /usr/local/bin"
                .to_owned()
        })?;
        let cluster = Local::start(bin)?;
        let url = cluster.url.clone();
        let _ = LOCAL.set(cluster);
        at_exit(stop_local);
        Ok(url)
    })
}

/// Tests talk to 127.0.0.1 only: refuse an `ASCEND_PG_URL` elsewhere.
fn check_loopback(url: &str) {
    let parsed = url::Url::parse(url)
        .unwrap_or_else(|e| panic!("ASCEND_PG_URL {url:?} does not parse: {e}"));
    let host = parsed.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    assert!(
        loopback,
        "ASCEND_PG_URL must name a server on the loopback interface (tests talk to 127.0.0.1 only), not {host:?}"
    );
}

/// `CREATE DATABASE name` over the maintenance URL (on a thread of its own: the caller is
/// usually inside a test's runtime, where blocking on another is not allowed).
fn create_database(maintenance: &str, name: &str) -> Result<(), String> {
    let maintenance = maintenance.to_owned();
    let sql = format!("CREATE DATABASE \"{name}\"");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        rt.block_on(async {
            let connect = tokio_postgres::connect(&maintenance, tokio_postgres::NoTls);
            let (client, conn) = tokio::time::timeout(Duration::from_secs(30), connect)
                .await
                .map_err(|_| "no answer within 30 s".to_owned())?
                .map_err(|e| format!("connect: {e}"))?;
            let conn = tokio::spawn(conn);
            let r = client.batch_execute(&sql).await.map_err(|e| format!("{e}"));
            drop(client);
            let _ = conn.await;
            r
        })
    })
    .join()
    .map_err(|_| "the CREATE DATABASE thread panicked".to_owned())?
}

/// The directory holding all of initdb, pg_ctl and postgres.
fn binaries() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    // Newest version first (numeric directory names).
    versions.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    dirs.extend(versions);
    dirs.push(PathBuf::from("/usr/local/bin"));
    dirs.into_iter().find(|d| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| d.join(b).is_file())
    })
}

/// The cluster this process started.
static LOCAL: OnceLock<Local> = OnceLock::new();

struct Local {
    /// Temp dir: `data/`, `log`, the unix sockets.
    dir: PathBuf,
    bin: PathBuf,
    /// The user the cluster runs as when this process is root.
    run_as: Option<String>,
    url: String,
    /// The watchdog's stdin: it sees EOF when this process ends, however it ends.
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
}

impl Local {
    fn start(bin: PathBuf) -> Result<Local, String> {
        let run_as = if is_root()? {
            Some(
                ["postgres", "nobody"]
                    .into_iter()
                    .find(|u| id_of(u, "-u").is_ok())
                    .ok_or("running as root and neither a postgres nor a nobody user exists")?
                    .to_owned(),
            )
        } else {
            None
        };
        let dir = std::env::temp_dir().join(format!(
            "ascend-pg-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let mut local = Local {
            dir,
            bin,
            run_as,
            url: String::new(),
            watchdog: Mutex::new(None),
        };
        match local.init_and_run() {
            Ok(url) => {
                local.url = url;
                Ok(local)
            }
            Err(e) => {
                local.stop();
                Err(e)
            }
        }
    }

    fn init_and_run(&mut self) -> Result<String, String> {
        if let Some(user) = &self.run_as {
            let uid = id_of(user, "-u")?;
            let gid = id_of(user, "-g")?;
            std::os::unix::fs::chown(&self.dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {} to {user}: {e}", self.dir.display()))?;
        }
        // The watchdog first, so a failure below cannot leave a running cluster behind.
        self.start_watchdog()?;
        let data = self.dir.join("data");
        run(self
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "ascend", "--auth=trust", "-E", "UTF8", "--no-locale"])
            .arg("--no-sync"))?;
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n\
             synchronous_commit = off\nfull_page_writes = off\nmax_connections = 300\n\
             shared_buffers = 32MB\n",
            self.dir.display()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .map_err(|e| format!("postgresql.conf: {e}"))?;
        // A free port can be taken between the probe and the start: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let started = run(self
                .command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(self.dir.join("log"))
                .args(["-w", "-t", "60", "-s", "-o"])
                .arg(format!("-p {port}"))
                .arg("start"));
            match started {
                Ok(()) => return Ok(format!("postgres://ascend@127.0.0.1:{port}/postgres")),
                Err(e) => {
                    let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
                    last = format!("{e}; server log: {log}");
                }
            }
        }
        Err(format!("pg_ctl start failed: {last}"))
    }

    /// A shell that waits for EOF on its stdin (this process's end), then stops the cluster
    /// and deletes its dir. It ignores the terminal's signals and has a process group of its
    /// own, so a Ctrl-C that ends the tests does not end it first.
    fn start_watchdog(&self) -> Result<(), String> {
        use std::os::unix::process::CommandExt;
        let stop = self.stop_command();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"trap '' INT TERM HUP; read -r _ || :; "$@"; rm -rf -- "$ASCEND_PG_DIR""#)
            .arg("ascend-pg-watchdog")
            .arg(stop.get_program())
            .args(stop.get_args())
            .env("ASCEND_PG_DIR", &self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("watchdog: {e}"))?;
        let stdin = child.stdin.take().ok_or("watchdog: no stdin")?;
        if let Ok(mut w) = self.watchdog.lock() {
            *w = Some((child, stdin));
        }
        Ok(())
    }

    /// Stop the cluster (waiting until every server process is gone) and delete its dir.
    /// Never panics (it runs from `atexit`).
    fn stop(&self) {
        if self.dir.join("data").join("postmaster.pid").exists() {
            let _ = self
                .stop_command()
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn stop_command(&self) -> Command {
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(self.dir.join("data")).args([
            "-m",
            "immediate",
            "-w",
            "-t",
            "30",
            "-s",
            "stop",
        ]);
        c
    }

    /// `program` of the PostgreSQL binaries, as the cluster's user, run in the temp dir.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut c = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        c.current_dir(&self.dir);
        c
    }
}

/// Run to completion; its stderr in the error.
fn run(c: &mut Command) -> Result<(), String> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{:?}: {e}", c.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} {:?} exited with {}: {}{}",
            c.get_program(),
            c.get_args().collect::<Vec<_>>(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn id_of(user: &str, flag: &str) -> Result<u32, String> {
    let out = Command::new("id")
        .args([flag, user])
        .output()
        .map_err(|e| format!("id {flag} {user}: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("no user {user}"))
}

fn is_root() -> Result<bool, String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id -u: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

extern "C" fn stop_local() {
    if let Some(local) = LOCAL.get() {
        local.stop();
    }
}

/// Run `f` when the process exits normally (the test harness ends with `exit`, which runs
/// `atexit` hooks; statics are never dropped).
fn at_exit(f: extern "C" fn()) {
    unsafe extern "C" {
        // C's atexit(3): registers a function pointer; sound for any `extern "C" fn()`.
        safe fn atexit(f: extern "C" fn()) -> std::ffi::c_int;
    }
    if atexit(f) != 0 {
        let _ = writeln!(
            std::io::stderr(),
            "atexit failed: the test PostgreSQL is stopped by its watchdog instead"
        );
    }
}
