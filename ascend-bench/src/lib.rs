//! # ascend-bench
//!
//! The benchmark harness behind `BENCHMARKS.md`: one command starts what it needs on loopback,
//! runs the scenarios of the benchmarks issues with warm-up and repeats, and writes a
//! markdown report (machine, one table of measured value / target / pass-fail, details).
//!
//! ```sh
//! cargo run --release -p ascend-bench -- --out BENCHMARKS.md     # full run (< 15 min on 2 cores)
//! cargo run --release -p ascend-bench -- --smoke                  # seconds; nothing judged
//! cargo run --release -p ascend-bench -- --only 3,4 --out /tmp/b.md
//! ```
//!
//! | # | scenario | module |
//! |---|---|---|
//! | 1 | `#[governed]` overhead with the test double | [`scenarios::governed`] |
//! | 2 | embedded decision (risk + policy + audit append), default and 100-policy sets, naive Cedar | [`scenarios::embedded`] |
//! | 3 | decisions over loopback HTTP, our runtime client, concurrency 1/16/64 | [`scenarios::http_load`] |
//! | 4 | the official Python SDK 2.7.1 against the same server | [`scenarios::python_sdk`] |
//! | 5 | kill-switch reaction of 100 agents, push vs polling, Python polling | [`scenarios::kill_switch`] |
//! | 6 | approval reaction of a waiting governed call, push vs polling | [`scenarios::approval`] |
//! | 7 | audit verification rate on a 1,000,000-entry chain, bytes per entry | [`scenarios::audit`] |
//! | 8 | server peak RSS after 1,000,000 decisions | [`scenarios::memory`] |
//! | 9 | build time of 100 governed fns against the same fns ungoverned | [`scenarios::compile_cost`] |
//! | 10 | decisions/s and p50/p99 on PostgreSQL with 1, 2 and 3 replicas against SQLite, and the per-organisation chain serialisation | [`scenarios::replicas`] |
//!
//! The library entry point is [`run`]; `tests/smoke.rs` runs it with [`Options::smoke`] under
//! `cargo test`, so the harness cannot rot.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod machine;
pub mod postgres;
pub mod report;
pub mod scenarios;
pub mod server;
pub mod stats;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use error::{Error, Result};
pub use report::{Report, Row, ScenarioReport, Verdict};

use crate::machine::{Machine, load_1min, load_average};
use crate::scenarios::{Ctx, Plan};

/// What to run and where to write.
#[derive(Debug, Clone)]
pub struct Options {
    /// Smoke mode: tiny counts, seconds in total, no verdicts.
    pub smoke: bool,
    /// Write the markdown report here.
    pub out: Option<PathBuf>,
    /// Run only these scenarios (1–10); the others appear as skipped.
    pub only: Option<Vec<u8>>,
    /// The harness executable, re-run as a child process for the server under test and for the
    /// memory scenario. Without it the server runs in this process and the memory scenario is
    /// skipped.
    pub harness_exe: Option<PathBuf>,
    /// Python interpreter for the SDK scenarios.
    pub python: String,
    /// The Python SDK driver script (`bench/python_sdk.py`).
    pub python_script: PathBuf,
    /// `pip install ascend-ai-sdk==2.7.1` when `import ascend` fails (full mode).
    pub install_python_sdk: bool,
    /// Print progress to stderr.
    pub verbose: bool,
}

impl Options {
    /// The full run, as `cargo run --release -p ascend-bench` does it.
    pub fn full() -> Self {
        Options {
            smoke: false,
            out: None,
            only: None,
            harness_exe: None,
            python: "python3".to_owned(),
            python_script: default_python_script(),
            install_python_sdk: true,
            verbose: true,
        }
    }

    /// The smoke run: every scenario with tiny counts; the Python scenario only when the SDK is
    /// already importable (nothing is installed).
    pub fn smoke() -> Self {
        Options {
            smoke: true,
            install_python_sdk: false,
            verbose: false,
            ..Self::full()
        }
    }

    fn wants(&self, scenario: u8) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(&scenario))
    }
}

/// `bench/python_sdk.py` of this workspace.
pub fn default_python_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("bench")
        .join("python_sdk.py")
}

/// Run the harness (builds its own tokio runtime) and write the report when `opts.out` is set.
pub fn run(opts: &Options) -> Result<Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(run_async(opts))?;
    if let Some(out) = &opts.out {
        std::fs::write(out, report.to_markdown())?;
    }
    Ok(report)
}

const TITLES: [&str; 10] = [
    "Overhead of `#[governed]` (test double answering)",
    "Embedded decision: risk + policy + audit append, in process",
    "Decisions over loopback HTTP: our runtime client → server (durable audit)",
    "The official Python SDK (ascend-ai-sdk 2.7.1) against the same server",
    "Kill-switch reaction",
    "Approval reaction",
    "Audit verification on a 1,000,000-entry chain",
    "Server memory after 1,000,000 decisions",
    "Compile cost of `#[governed]`",
    "Replicas: PostgreSQL with 1, 2 and 3 server processes against SQLite",
];

async fn run_async(opts: &Options) -> Result<Report> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let started = Instant::now();
    let machine = Machine::probe(&opts.python);
    let load_before = load_average();
    let mut load_peak = load_1min();
    let mut ctx = Ctx::new(opts.clone(), Plan::new(opts.smoke))?;
    let mut scenarios = Vec::new();
    for n in 1..=10u8 {
        let title = TITLES[usize::from(n - 1)].to_owned();
        let rep = if !opts.wants(n) {
            ScenarioReport {
                rows: vec![Row {
                    verdict: Verdict::Skipped("not selected (--only)".into()),
                    ..Row::info(n, title.clone(), "—")
                }],
                details: "Not run (not selected with `--only`).".into(),
            }
        } else {
            if opts.verbose {
                eprintln!(
                    "[ascend-bench] scenario {n}: {title} (load {})",
                    load_average()
                );
            }
            let t = Instant::now();
            let rep = match scenarios::run_one(n, &mut ctx).await {
                Ok(rep) => rep,
                Err(e) => ScenarioReport {
                    rows: vec![Row {
                        verdict: Verdict::Error(e.to_string()),
                        ..Row::info(n, title.clone(), "—")
                    }],
                    details: format!("The scenario failed: {e}"),
                },
            };
            if opts.verbose {
                eprintln!(
                    "[ascend-bench] scenario {n} done in {:.1} s",
                    t.elapsed().as_secs_f64()
                );
                for r in &rep.rows {
                    eprintln!(
                        "    {} | {} | {} | {:?}",
                        r.what, r.measured, r.target, r.verdict
                    );
                }
            }
            rep
        };
        load_peak = load_peak.max(load_1min());
        scenarios.push((n, title, rep));
    }
    ctx.finish().await;
    Ok(Report {
        smoke: opts.smoke,
        machine,
        load_before,
        load_after: load_average(),
        load_peak,
        started: started_at,
        wall: started.elapsed(),
        scenarios,
    })
}
