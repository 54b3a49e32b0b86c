//! A throw-away PostgreSQL cluster for scenario 10 (the approach of
//! `ascend-server/tests/common/pg.rs`, this project's own test helper, adapted to the harness).
//!
//! [`PgCluster::start`] uses the cluster `ASCEND_PG_URL` names (the URL of a maintenance
//! database, e.g. `postgres://postgres@127.0.0.1:5432/postgres`) when it is set; otherwise it
//! starts one when `initdb`, `pg_ctl` and `postgres` are installed (on `PATH`, in
//! `/usr/lib/postgresql/*/bin` or `/usr/local/bin`): initdb into a temp dir (trust auth),
//! listening on 127.0.0.1 only on a free port, unix sockets in that dir. Unlike the test helper,
//! the benchmark cluster keeps PostgreSQL's **default durability** (`fsync = on`,
//! `synchronous_commit = on`, `full_page_writes = on`): a decision is answered after its commit
//! record is flushed to disk.
//!
//! It is stopped and its dir deleted by [`PgCluster::stop`] or on drop (so also when the scenario
//! fails), and by a watchdog shell that waits for the harness's end on a pipe otherwise (the
//! harness killed by a signal). initdb refuses to run as root: as root the cluster runs as the
//! `postgres` user (which the Debian package creates), else as `nobody`.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};

/// A PostgreSQL cluster for the benchmark: one this process started, or `ASCEND_PG_URL`'s.
#[derive(Debug)]
pub struct PgCluster {
    /// The maintenance database URL (`postgres://ascend@127.0.0.1:PORT/postgres`).
    url: String,
    /// The cluster this process started (None with `ASCEND_PG_URL`).
    local: Option<Local>,
    /// Databases created here (dropped at the end on an external cluster).
    created: Vec<String>,
}

#[derive(Debug)]
struct Local {
    /// Temp dir: `data/`, `log`, the unix sockets.
    dir: PathBuf,
    bin: PathBuf,
    /// The user the cluster runs as when this process is root.
    run_as: Option<String>,
    /// The watchdog and its stdin: it sees EOF when this process ends, however it ends.
    watchdog: Option<(Child, ChildStdin)>,
    /// The major version (`initdb --version`).
    version: String,
}

/// Why no cluster could be had: PostgreSQL is not installed (smoke mode skips then), or it is
/// but failed.
#[derive(Debug)]
pub enum Unavailable {
    /// No `ASCEND_PG_URL` and no binaries.
    NotInstalled(String),
    /// Installed (or named) but it did not start / answer.
    Failed(String),
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::NotInstalled(s) | Unavailable::Failed(s) => f.write_str(s),
        }
    }
}

impl PgCluster {
    /// `ASCEND_PG_URL`'s cluster, or a fresh local one (blocking: run it off the runtime).
    pub fn start() -> std::result::Result<PgCluster, Unavailable> {
        if let Some(url) = std::env::var("ASCEND_PG_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            return Ok(PgCluster {
                url,
                local: None,
                created: Vec::new(),
            });
        }
        let bin = binaries().ok_or_else(|| {
            Unavailable::NotInstalled(
                "no ASCEND_PG_URL, and initdb/pg_ctl/postgres are not on PATH, in \
                 /usr/lib/postgresql/*/bin or /usr/local/bin"
                    .to_owned(),
            )
        })?;
        let local = Local::start(bin).map_err(Unavailable::Failed)?;
        let port = local.port.clone();
        Ok(PgCluster {
            url: format!("postgres://ascend@127.0.0.1:{port}/postgres"),
            local: Some(local.inner),
            created: Vec::new(),
        })
    }

    /// Whether this process started the cluster (its processes can be measured).
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// One line on where the cluster comes from and how durable it is.
    pub fn describe(&self) -> String {
        match &self.local {
            Some(l) => format!(
                "a throw-away PostgreSQL {} cluster started by the harness (initdb into a temp \
                 dir, 127.0.0.1 only, default durability: fsync on, synchronous_commit on, \
                 full_page_writes on; shared_buffers 128 MB, the default)",
                l.version
            ),
            None => "the PostgreSQL cluster `ASCEND_PG_URL` names (its own settings)".to_owned(),
        }
    }

    /// The postmaster's process id (local cluster only).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let l = self.local.as_ref()?;
        std::fs::read_to_string(l.dir.join("data").join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// The maintenance database URL.
    pub fn maintenance_url(&self) -> &str {
        &self.url
    }

    /// Create a fresh database and return its URL.
    pub async fn create_database(&mut self, name: &str) -> Result<String> {
        let c = connect(&self.url).await?;
        c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(pg_err)?;
        self.created.push(name.to_owned());
        Ok(with_database(&self.url, name))
    }

    /// Stop the cluster (local) or drop the databases created (external); idempotent,
    /// best effort. Blocking.
    pub fn stop(&mut self) {
        if let Some(mut l) = self.local.take() {
            l.stop();
        } else if !self.created.is_empty() {
            let url = self.url.clone();
            let names = std::mem::take(&mut self.created);
            // On a thread of its own: the caller may be inside a runtime.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(c) = connect(&url).await {
                        for n in names {
                            let _ = c
                                .batch_execute(&format!(
                                    "DROP DATABASE IF EXISTS \"{n}\" WITH (FORCE)"
                                ))
                                .await;
                        }
                    }
                });
            })
            .join();
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `url` with its database replaced by `name` (`…/postgres` → `…/name`, query kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

/// A connection whose driver runs on the current runtime.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let connect = tokio_postgres::connect(url, tokio_postgres::NoTls);
    let (client, conn) = tokio::time::timeout(Duration::from_secs(30), connect)
        .await
        .map_err(|_| Error::Scenario(format!("PostgreSQL at {url}: no answer within 30 s")))?
        .map_err(pg_err)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// A driver error as the harness's.
pub fn pg_err(e: tokio_postgres::Error) -> Error {
    Error::Scenario(format!("PostgreSQL: {e}"))
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

struct Started {
    inner: Local,
    port: String,
}

impl Local {
    fn start(bin: PathBuf) -> std::result::Result<Started, String> {
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
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "ascend-bench-pg-{}-{nanos:08x}",
            std::process::id()
        ));
        std::fs::create_dir(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let mut local = Local {
            dir,
            bin,
            run_as,
            watchdog: None,
            version: String::new(),
        };
        match local.init_and_run() {
            Ok(port) => Ok(Started { inner: local, port }),
            Err(e) => {
                local.stop();
                Err(e)
            }
        }
    }

    /// initdb and pg_ctl start; the port.
    fn init_and_run(&mut self) -> std::result::Result<String, String> {
        if let Some(user) = &self.run_as {
            let uid = id_of(user, "-u")?;
            let gid = id_of(user, "-g")?;
            std::os::unix::fs::chown(&self.dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {} to {user}: {e}", self.dir.display()))?;
        }
        // The watchdog first, so a failure below cannot leave a running cluster behind.
        self.start_watchdog()?;
        let version = run(self.command("initdb").arg("--version"))?;
        self.version = version.split_whitespace().last().unwrap_or("?").to_owned();
        let data = self.dir.join("data");
        // `--no-sync` only skips initdb's own final sync of the fresh data dir (set-up time);
        // the running server keeps its default durability.
        run(self
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "ascend", "--auth=trust", "-E", "UTF8", "--no-locale"])
            .arg("--no-sync"))?;
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 200\n",
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
                Ok(_) => return Ok(port.to_string()),
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
    /// own, so a Ctrl-C that ends the harness does not end it first.
    fn start_watchdog(&mut self) -> std::result::Result<(), String> {
        use std::os::unix::process::CommandExt;
        let stop = self.stop_command();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"trap '' INT TERM HUP; read -r _ || :; "$@"; rm -rf -- "$ASCEND_PG_DIR""#)
            .arg("ascend-bench-pg-watchdog")
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
        self.watchdog = Some((child, stdin));
        Ok(())
    }

    /// Stop the cluster (waiting until every server process is gone), delete its dir, and let
    /// the watchdog go (it finds nothing left to do).
    fn stop(&mut self) {
        if self.dir.join("data").join("postmaster.pid").exists() {
            let _ = self
                .stop_command()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((mut child, stdin)) = self.watchdog.take() {
            drop(stdin);
            let _ = child.wait();
        }
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

/// Run to completion; its stdout, or its stderr in the error.
fn run(c: &mut Command) -> std::result::Result<String, String> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{:?}: {e}", c.get_program()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
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

fn id_of(user: &str, flag: &str) -> std::result::Result<u32, String> {
    let out = Command::new("id")
        .args([flag, user])
        .output()
        .map_err(|e| format!("id {flag} {user}: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("no user {user}"))
}

fn is_root() -> std::result::Result<bool, String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id -u: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> std::result::Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

/// CPU time (user + system) in seconds of processes, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    let tick = clock_ticks();
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|s| {
            // Fields after the command name (which may hold spaces) closed by the last ')'.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / tick)
        })
        .sum()
}

/// The postmaster and its children (backends, walwriter, checkpointer, …).
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut pids = vec![root];
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 2..].split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(root) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Busy and total CPU seconds of the whole machine (`/proc/stat`, first line).
pub fn machine_cpu() -> (f64, f64) {
    let tick = clock_ticks();
    let Ok(s) = std::fs::read_to_string("/proc/stat") else {
        return (0.0, 0.0);
    };
    let Some(line) = s.lines().next() else {
        return (0.0, 0.0);
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().take(8).sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    ((total - idle) / tick, total / tick)
}

fn clock_ticks() -> f64 {
    static TICK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Start a cluster off the runtime.
pub async fn start_async() -> std::result::Result<PgCluster, Unavailable> {
    tokio::task::spawn_blocking(PgCluster::start)
        .await
        .unwrap_or_else(|e| Err(Unavailable::Failed(format!("start task: {e}"))))
}

/// Stop a cluster off the runtime.
pub async fn stop_async(mut cluster: PgCluster) {
    let _ = tokio::task::spawn_blocking(move || cluster.stop()).await;
}

/// Where a local cluster's log is (for error messages).
pub fn log_path(cluster: &PgCluster) -> Option<PathBuf> {
    cluster.local.as_ref().map(|l| l.dir.join("log"))
}
