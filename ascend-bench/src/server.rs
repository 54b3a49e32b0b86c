//! The server under test for the HTTP scenarios (3–6, and the HTTP part of 8).
//!
//! By default it runs in a **child process** — the harness binary re-executed as
//! `ascend-bench --serve-child DB DIR [--no-keys]`, which does exactly what `ascend serve` does
//! (`ascend_server::start` on a multi-thread runtime, `info` logging to stderr) on
//! `127.0.0.1:0` with a fresh SQLite file (or, for scenario 10, a PostgreSQL URL: several such
//! children are replicas of one database) — so the clients measured (our runtime in the harness
//! process, the Python SDK in its own process) never share a process with it, and its peak RSS
//! can be read from `/proc/<pid>/status`. Without a harness executable (library use), the server
//! runs inside the harness process instead.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use ascend_server::{Role, RunningServer, ServerConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, fail};
use crate::machine::{ProcMemory, proc_memory};

/// How to reach the server and act on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Admin key (kill switch).
    pub admin_key: String,
    /// Agent key (submits).
    pub agent_key: String,
    /// Reviewer key (approvals).
    pub reviewer_key: String,
    /// Organisation id of the keys.
    pub org_id: i64,
}

/// A running server under test.
#[derive(Debug)]
pub enum ServerUnderTest {
    /// In a child process.
    Child {
        /// The process.
        child: Child,
        /// Its stdin: closing it asks for a graceful shutdown.
        stdin: Option<ChildStdin>,
        /// Where to reach it.
        endpoint: Endpoint,
    },
    /// In this process.
    InProcess {
        /// The server.
        server: Box<RunningServer>,
        /// Where to reach it.
        endpoint: Endpoint,
    },
}

impl ServerUnderTest {
    /// Start a server on a fresh database in `dir`: in a child process when `exe` is given.
    pub async fn start(exe: Option<&Path>, dir: &Path) -> Result<Self> {
        let db = dir.join("server.db");
        Self::start_on(exe, &db.to_string_lossy(), dir, "server", true).await
    }

    /// Start a server on `db` — a SQLite file, or a `postgres://` URL (a replica of the
    /// database: several may run on one) — logging to `dir/<name>.log`: in a child process when
    /// `exe` is given. With `keys`, the endpoint carries the admin (operator) key created on the
    /// first start and agent and reviewer keys of the default organisation; without, only its
    /// URL and organisation id (the keys are empty: a later replica's keys come from the
    /// first).
    pub async fn start_on(
        exe: Option<&Path>,
        db: &str,
        dir: &Path,
        name: &str,
        keys: bool,
    ) -> Result<Self> {
        match exe {
            Some(exe) => {
                let exe = exe.to_owned();
                let log = dir.join(format!("{name}.log"));
                let db = db.to_owned();
                let dir = dir.to_owned();
                tokio::task::spawn_blocking(move || spawn_child(&exe, &db, &dir, &log, keys))
                    .await
                    .map_err(|e| Error::Scenario(format!("spawn task: {e}")))?
            }
            None => {
                let server = ascend_server::start(config(db, dir)).await?;
                let endpoint = endpoint_of(&server, keys).await?;
                Ok(ServerUnderTest::InProcess {
                    server: Box::new(server),
                    endpoint,
                })
            }
        }
    }

    /// Where to reach it.
    pub fn endpoint(&self) -> &Endpoint {
        match self {
            ServerUnderTest::Child { endpoint, .. }
            | ServerUnderTest::InProcess { endpoint, .. } => endpoint,
        }
    }

    /// The server's process id (this process when in-process).
    pub fn pid(&self) -> u32 {
        match self {
            ServerUnderTest::Child { child, .. } => child.id(),
            ServerUnderTest::InProcess { .. } => std::process::id(),
        }
    }

    /// Whether the server has a process of its own (its memory can be measured).
    pub fn is_child(&self) -> bool {
        matches!(self, ServerUnderTest::Child { .. })
    }

    /// Peak and current RSS of the server process (child only).
    pub fn memory(&self) -> Option<ProcMemory> {
        match self {
            ServerUnderTest::Child { child, .. } => proc_memory(&child.id().to_string()),
            ServerUnderTest::InProcess { .. } => None,
        }
    }

    /// Shut the server down gracefully (a child gets 20 s, then is killed).
    pub async fn stop(self) -> Result<()> {
        match self {
            ServerUnderTest::Child {
                mut child, stdin, ..
            } => {
                drop(stdin);
                tokio::task::spawn_blocking(move || {
                    let deadline = std::time::Instant::now() + Duration::from_secs(20);
                    loop {
                        if child.try_wait()?.is_some() {
                            return Ok(());
                        }
                        if std::time::Instant::now() > deadline {
                            child.kill()?;
                            child.wait()?;
                            return fail("the server child did not stop within 20 s (killed)");
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                })
                .await
                .map_err(|e| Error::Scenario(format!("stop task: {e}")))?
            }
            ServerUnderTest::InProcess { server, .. } => Ok(server.shutdown().await?),
        }
    }
}

/// The configuration of a server under test on `db` (a SQLite file or a `postgres://` URL).
/// `dir` is scratch space: a PostgreSQL server's unused SQLite path points there.
fn config(db: &str, dir: &Path) -> ServerConfig {
    let mut config = ServerConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        db_path: dir.join("unused.db"),
        // Load from one key far above the default request rates; the limits are not measured.
        org_rate: 0.0,
        agent_rate: 0.0,
        ..ServerConfig::default()
    };
    config.set_db(db);
    config
}

async fn endpoint_of(server: &RunningServer, keys: bool) -> Result<Endpoint> {
    if !keys {
        return Ok(Endpoint {
            base_url: server.base_url(),
            admin_key: String::new(),
            agent_key: String::new(),
            reviewer_key: String::new(),
            org_id: server.org_id("default").await?,
        });
    }
    let admin_key = match server.admin_key() {
        Some(k) => k.to_owned(),
        None => server.create_api_key("default", Role::Admin, None).await?,
    };
    Ok(Endpoint {
        base_url: server.base_url(),
        admin_key,
        agent_key: server.create_api_key("default", Role::Agent, None).await?,
        reviewer_key: server
            .create_api_key("default", Role::Reviewer, None)
            .await?,
        org_id: server.org_id("default").await?,
    })
}

fn spawn_child(
    exe: &Path,
    db: &str,
    dir: &Path,
    log: &Path,
    keys: bool,
) -> Result<ServerUnderTest> {
    let log_file = std::fs::File::create(log)?;
    let mut command = Command::new(exe);
    command.arg("--serve-child").arg(db).arg(dir);
    if !keys {
        command.arg("--no-keys");
    }
    let mut child = command
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .env_remove("RUST_LOG")
        .spawn()?;
    let stdin = child.stdin.take();
    let Some(stdout) = child.stdout.take() else {
        return fail("the server child has no stdout");
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        let _ = tx.send(first);
        // Keep draining so the child never blocks on a full pipe.
        for _ in lines {}
    });
    let line = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Some(Ok(line))) => line,
        other => {
            let _ = child.kill();
            let _ = child.wait();
            let log_text = std::fs::read_to_string(log).unwrap_or_default();
            return fail(format!(
                "the server child did not announce itself ({other:?}); its log:\n{log_text}"
            ));
        }
    };
    let endpoint: Endpoint = serde_json::from_str(&line)?;
    Ok(ServerUnderTest::Child {
        child,
        stdin,
        endpoint,
    })
}

/// The child side of [`ServerUnderTest`]: what `ascend serve` does on `db` (a SQLite file or a
/// `postgres://` URL; `dir` is scratch space), plus printing the endpoint (one JSON line on
/// stdout; without `keys` only its URL and organisation), until stdin closes.
pub fn serve_child(db: &str, dir: &Path, keys: bool) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::new("info");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = ascend_server::start(config(db, dir)).await?;
        let endpoint = endpoint_of(&server, keys).await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", serde_json::to_string(&endpoint)?)?;
            out.flush()?;
        }
        // Run until the parent closes our stdin (or dies).
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin()
                .read_line(&mut sink)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                sink.clear();
            }
        })
        .await
        .map_err(|e| Error::Scenario(format!("stdin task: {e}")))?;
        server.shutdown().await?;
        Ok(())
    })
}

/// A minimal HTTP client for the harness's own operator/reviewer requests (rustls with ring, as
/// the server's webhook client).
pub fn http_client() -> Result<reqwest::Client> {
    Ok(ascend_server::webhooks::http_client(Duration::from_secs(
        30,
    ))?)
}

/// POST JSON with an API key; the parsed JSON answer when 2xx, an error otherwise.
pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value> {
    let resp = http
        .post(url)
        .header("x-api-key", key)
        .json(body)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        return fail(format!("POST {url}: {status}: {text}"));
    }
    Ok(serde_json::from_str(&text)?)
}

/// GET JSON with an API key.
pub async fn get_json(http: &reqwest::Client, url: &str, key: &str) -> Result<serde_json::Value> {
    let resp = http.get(url).header("x-api-key", key).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        return fail(format!("GET {url}: {status}: {text}"));
    }
    Ok(serde_json::from_str(&text)?)
}
