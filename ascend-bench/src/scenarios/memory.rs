//! Scenario 8: server memory.
//!
//! - **One million decisions** (the target): a child process
//!   (`ascend-bench --rss-child DB N C keys|no-keys`) builds the server's state over a fresh
//!   SQLite file exactly as `ascend_server::start` does (store with its writer thread, engines
//!   with the default policies, key ring, idempotency memory, agent statistics, event bus) and
//!   runs the server's decision pipeline (`api::actions::run_pipeline`) N times with C decisions
//!   in flight — every decision stored with its audit entry, and (`keys`) carrying a fresh
//!   idempotency key as every submit of our runtime client does. No HTTP listener: a million
//!   decisions over HTTP do not fit the time budget on two cores, so the HTTP server is measured
//!   separately below. The child samples its RSS after every tenth of the decisions and reports
//!   its peak (`VmHWM` from `/proc/self/status`). A second, shorter child run without
//!   idempotency keys separates the idempotency memory from the rest.
//! - **The HTTP server**: the peak RSS of the server-under-test process (a real HTTP server,
//!   `ascend_server::start` as `ascend serve` runs it) after every decision of scenarios 3–6.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::embedded::{Embedded, PolicySet};
use super::{Ctx, agent_mix};
use crate::error::{Error, Result, fail};
use crate::machine::{ProcMemory, proc_memory};
use crate::report::{Row, ScenarioReport, Verdict};
use crate::stats::{fmt_rate, fmt_secs, thousands};

/// What the child reports.
#[derive(Debug, Serialize, Deserialize)]
pub struct RssReport {
    /// Decisions made.
    pub decisions: u64,
    /// Seconds the decisions took.
    pub elapsed_s: f64,
    /// Peak RSS, bytes.
    pub peak_rss: u64,
    /// RSS at the end, bytes.
    pub rss: u64,
    /// Database file size at the end (main file + WAL), bytes.
    pub db_bytes: u64,
    /// Allowed / denied / pending answers.
    pub outcomes: [u64; 3],
    /// Whether every decision carried an idempotency key.
    pub keyed: bool,
    /// RSS (bytes) sampled after every tenth of the decisions: (decisions done, RSS).
    pub curve: Vec<(u64, u64)>,
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The child side: `n` decisions through the pipeline with `concurrency` in flight (each with a
/// fresh idempotency key when `keyed`); prints an [`RssReport`] as one JSON line.
pub fn rss_child(db: &Path, n: usize, concurrency: usize, keyed: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let emb = Arc::new(Embedded::open(db, PolicySet::Default).await?);
        let mix = Arc::new(agent_mix(16));
        let next = Arc::new(AtomicUsize::new(0));
        let counts = Arc::new([
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        ]);
        let curve = Arc::new(Mutex::new(Vec::new()));
        let tenth = (n / 10).max(1);
        let t = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency.max(1) {
            let (emb, mix, next, counts, curve) = (
                Arc::clone(&emb),
                Arc::clone(&mix),
                Arc::clone(&next),
                Arc::clone(&counts),
                Arc::clone(&curve),
            );
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok::<(), Error>(());
                    }
                    if i > 0
                        && i % tenth == 0
                        && let (Some(m), Ok(mut c)) = (proc_memory("self"), curve.lock())
                    {
                        c.push((i as u64, m.rss));
                    }
                    let action = mix[i % mix.len()].clone();
                    // Our runtime client sends a fresh Idempotency-Key (UUID v4) with every
                    // submit, and the server remembers each key with its answer (24 h).
                    let key = keyed.then(|| format!("idem:00000000-0000-4000-8000-{i:012x}"));
                    let body = emb.decide_keyed(action, key).await?;
                    let slot = match body.decision {
                        ascend_runtime::Decision::Allowed => 0,
                        ascend_runtime::Decision::Denied => 1,
                        ascend_runtime::Decision::Pending => 2,
                    };
                    counts[slot].fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.map_err(|e| Error::Scenario(format!("decision task: {e}")))??;
        }
        let elapsed = t.elapsed();
        emb.close().await?;
        let mem = proc_memory("self").unwrap_or(ProcMemory {
            peak_rss: 0,
            rss: 0,
        });
        let wal = PathBuf::from(format!("{}-wal", db.display()));
        let mut curve = curve.lock().map(|c| c.clone()).unwrap_or_default();
        curve.sort_unstable();
        curve.push((n as u64, mem.rss));
        Ok::<_, Error>(RssReport {
            decisions: n as u64,
            elapsed_s: elapsed.as_secs_f64(),
            peak_rss: mem.peak_rss,
            rss: mem.rss,
            db_bytes: file_len(db) + file_len(&wal),
            outcomes: [
                counts[0].load(Ordering::Relaxed) as u64,
                counts[1].load(Ordering::Relaxed) as u64,
                counts[2].load(Ordering::Relaxed) as u64,
            ],
            keyed,
            curve,
        })
    })?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn spawn_rss_child(
    exe: &Path,
    dir: &Path,
    n: usize,
    concurrency: usize,
    keyed: bool,
) -> Result<RssReport> {
    let name = if keyed { "rss-keys" } else { "rss-no-keys" };
    let db = dir.join(format!("{name}.db"));
    let log = dir.join(format!("{name}.log"));
    let mut child = Command::new(exe)
        .arg("--rss-child")
        .arg(&db)
        .arg(n.to_string())
        .arg(concurrency.to_string())
        .arg(if keyed { "keys" } else { "no-keys" })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log)?))
        .spawn()?;
    let Some(stdout) = child.stdout.take() else {
        return fail("the memory child has no stdout");
    };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let status = child.wait()?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    if !status.success() || line.trim().is_empty() {
        return fail(format!(
            "the memory child failed ({status}): {}",
            std::fs::read_to_string(&log).unwrap_or_default().trim()
        ));
    }
    Ok(serde_json::from_str(line.trim())?)
}

async fn child_run(exe: &Path, dir: &Path, n: usize, keyed: bool) -> Result<RssReport> {
    let (exe, dir) = (exe.to_owned(), dir.to_owned());
    tokio::task::spawn_blocking(move || spawn_rss_child(&exe, &dir, n, CONCURRENCY, keyed))
        .await
        .map_err(|e| Error::Scenario(format!("memory task: {e}")))?
}

const CONCURRENCY: usize = 64;

fn curve(r: &RssReport) -> String {
    r.curve
        .iter()
        .map(|(d, rss)| format!("{}: {}", thousands(*d), mb(*rss)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Run scenario 8.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let mut rows = Vec::new();
    let mut details = String::new();
    let n = ctx.plan.rss_decisions;
    let n_unkeyed = if ctx.plan.smoke { n } else { n / 5 };

    // The HTTP server under test, after everything scenarios 3–6 sent it.
    let http_line = match ctx.server_if_started() {
        Some(s) if s.is_child() => match s.memory() {
            Some(m) => {
                let decisions = ctx.server_decisions;
                rows.push(Row::info(
                    8,
                    format!(
                        "HTTP server process peak RSS after {} decisions over HTTP (scenarios 3–6)",
                        thousands(decisions)
                    ),
                    format!("{} (current {})", mb(m.peak_rss), mb(m.rss)),
                ));
                format!(
                    "HTTP server process (pid {}): VmHWM {} and VmRSS {} after {} decisions over \
                     HTTP from scenarios 3–6 (plus their status, kill-switch and stream \
                     requests).",
                    s.pid(),
                    mb(m.peak_rss),
                    mb(m.rss),
                    thousands(decisions)
                )
            }
            None => "HTTP server memory: /proc not readable.".to_owned(),
        },
        _ => "HTTP server memory: not measured (no server child; scenarios 3–6 not run or the \
              server ran in process)."
            .to_owned(),
    };
    ctx.stop_server().await?;

    let Some(exe) = ctx.opts.harness_exe.clone() else {
        rows.insert(
            0,
            Row {
                verdict: Verdict::Skipped(
                    "needs the harness executable to run the child process".into(),
                ),
                ..Row::info(8, "server peak RSS after 1,000,000 decisions", "—")
            },
        );
        return Ok(ScenarioReport {
            rows,
            details: http_line,
        });
    };
    let keyed = child_run(&exe, ctx.dir.path(), n, true).await?;
    let unkeyed = child_run(&exe, ctx.dir.path(), n_unkeyed, false).await?;
    rows.insert(
        0,
        Row::target(
            8,
            format!(
                "server peak RSS after {} decisions (server state + decision pipeline in a child process, no HTTP; idempotency keys as our client sends)",
                thousands(keyed.decisions)
            ),
            format!(
                "{} (end {}; {} decisions in {} = {})",
                mb(keyed.peak_rss),
                mb(keyed.rss),
                thousands(keyed.decisions),
                fmt_secs(keyed.elapsed_s),
                fmt_rate(keyed.decisions as f64 / keyed.elapsed_s.max(1e-9))
            ),
            "≤ 200 MB",
            ctx.judge(keyed.peak_rss as f64, 200e6, false),
        )
        .with_note(format!(
            "Memory grows linearly with the number of decisions (RSS after each tenth: {}). \
             Without idempotency keys the same pipeline peaks at {} after {} decisions (with \
             keys: {} at that count), so almost all of it is the server's idempotency memory: every submit's key is kept for \
             24 h together with the full decision body it answered (`state::Remembered::Body`, \
             several KB each), with no bound on the number of entries. Closing it: remember only \
             (request hash, action id) per key and read the body back from the store on a \
             retry, bound the map (LRU) and shorten the window to the clients' retry budget \
             (minutes, not a day).",
            curve(&keyed),
            mb(unkeyed.peak_rss),
            thousands(unkeyed.decisions),
            keyed
                .curve
                .iter()
                .find(|(d, _)| *d >= unkeyed.decisions)
                .map_or_else(|| "—".to_owned(), |(_, rss)| mb(*rss))
        )),
    );
    rows.insert(
        1,
        Row::info(
            8,
            format!(
                "server peak RSS after {} decisions without idempotency keys (same pipeline)",
                thousands(unkeyed.decisions)
            ),
            format!("{} (end {})", mb(unkeyed.peak_rss), mb(unkeyed.rss)),
        ),
    );
    let _ = write!(
        details,
        "Method: `ascend-bench --rss-child` — a fresh process that opens a fresh SQLite file, \
         builds `AppState` like `ascend_server::start` (default policies) and runs \
         `api::actions::run_pipeline` N times with {CONCURRENCY} in flight over the six \
         calibration actions and 16 agent ids; every decision is stored with its audit entry. \
         After the last commit it reads its own `VmHWM` (peak) and `VmRSS`.\n\n\
         | run | decisions | allowed / denied / pending | peak RSS | RSS after each tenth | database (+WAL) per decision |\n\
         |---|---|---|---|---|---|\n"
    );
    for r in [&keyed, &unkeyed] {
        let _ = writeln!(
            details,
            "| {} | {} | {} / {} / {} | {} | {} | {:.0} bytes |",
            if r.keyed {
                "idempotency key per decision (as our runtime client and the Python SDK's \
                 correlation id)"
            } else {
                "no idempotency keys"
            },
            thousands(r.decisions),
            thousands(r.outcomes[0]),
            thousands(r.outcomes[1]),
            thousands(r.outcomes[2]),
            mb(r.peak_rss),
            curve(r),
            r.db_bytes as f64 / r.decisions.max(1) as f64
        );
    }
    let _ = write!(details, "\n{http_line}");
    Ok(ScenarioReport { rows, details })
}
