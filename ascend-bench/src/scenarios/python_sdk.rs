//! Scenario 4 (and the Python half of scenario 5): the official Python SDK, `ascend-ai-sdk`
//! 2.7.1 unchanged, against the same server, driven by `bench/python_sdk.py`. The script times
//! every call and prints the raw samples; the statistics are computed here exactly as for the
//! Rust client.
//!
//! The SDK is installed with `python3 -m pip install ascend-ai-sdk==2.7.1` when
//! `import ascend` fails (full mode only; the smoke mode skips the scenario instead).

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

use super::Ctx;
use crate::error::{Error, Result, fail};
use crate::report::{Row, ScenarioReport, Verdict};
use crate::server::Endpoint;
use crate::stats::{fmt_dur, fmt_rate, median, range, summarize};

/// The SDK version the comparison is about.
pub const SDK_VERSION: &str = "2.7.1";

fn installed_version(python: &str) -> Option<String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import ascend, requests, importlib.metadata as m; print(m.version('ascend-ai-sdk'))",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The installed SDK version, installing it first when allowed; `Err(reason)` when unusable.
pub async fn ensure_sdk(ctx: &Ctx) -> std::result::Result<String, String> {
    let python = ctx.opts.python.clone();
    let install = ctx.opts.install_python_sdk;
    tokio::task::spawn_blocking(move || {
        if let Some(v) = installed_version(&python) {
            return Ok(v);
        }
        if !install {
            return Err(format!(
                "`{python} -c 'import ascend'` fails (pip install ascend-ai-sdk=={SDK_VERSION})"
            ));
        }
        let out = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                &format!("ascend-ai-sdk=={SDK_VERSION}"),
            ])
            .output()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pip install ascend-ai-sdk=={SDK_VERSION} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        installed_version(&python).ok_or_else(|| "the SDK is still not importable".to_owned())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Run the driver script with arguments; its stdout parsed as JSON.
pub async fn run_script<T: for<'de> Deserialize<'de>>(ctx: &Ctx, args: Vec<String>) -> Result<T> {
    let python = ctx.opts.python.clone();
    let script = ctx.opts.python_script.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args(args)
            .env_remove("ASCEND_API_KEY")
            .env_remove("ASCEND_API_URL")
            .output()
    })
    .await
    .map_err(|e| Error::Scenario(format!("python task: {e}")))??;
    if !out.status.success() {
        return fail(format!(
            "bench/python_sdk.py failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(8)
                .collect::<Vec<_>>()
                .join(" / ")
        ));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[derive(Debug, Deserialize)]
struct LoadOut {
    levels: Vec<LoadLevel>,
}

#[derive(Debug, Deserialize)]
struct LoadLevel {
    concurrency: usize,
    repeats: Vec<LoadRepeat>,
}

#[derive(Debug, Deserialize)]
struct LoadRepeat {
    n: usize,
    wall_s: f64,
    latencies_ns: Vec<u64>,
}

fn skipped(reason: &str) -> ScenarioReport {
    ScenarioReport {
        rows: vec![Row {
            verdict: Verdict::Skipped(reason.to_owned()),
            ..Row::info(4, "Python SDK throughput and p50, ratio Rust/Python", "—")
        }],
        details: format!("Not run: {reason}."),
    }
}

/// Arguments for the load subcommand.
fn load_args(
    endpoint: &Endpoint,
    levels: &[(usize, usize)],
    repeats: usize,
    warmup: usize,
) -> Vec<String> {
    vec![
        "load".into(),
        "--url".into(),
        endpoint.base_url.clone(),
        "--key".into(),
        endpoint.agent_key.clone(),
        "--levels".into(),
        levels
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect::<Vec<_>>()
            .join(","),
        "--repeats".into(),
        repeats.to_string(),
        "--warmup".into(),
        warmup.to_string(),
    ]
}

/// Run scenario 4.
pub async fn run_load(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let version = match ensure_sdk(ctx).await {
        Ok(v) => v,
        Err(reason) => return Ok(skipped(&reason)),
    };
    let endpoint = ctx.endpoint().await?;
    let levels = ctx.plan.python_levels.clone();
    let repeats = ctx.plan.python_repeats;
    let warmup = (ctx.plan.http_warmup / 10).max(5);
    let out: LoadOut = run_script(ctx, load_args(&endpoint, &levels, repeats, warmup)).await?;

    let mut details = format!(
        "Method: `bench/python_sdk.py load` with ascend-ai-sdk {version} (Python: {}). \
         Concurrency C = C threads in one Python process (sharing the interpreter lock), each \
         with its own `AscendClient` \
         (one `requests.Session` each, kill-switch polling started as the SDK asks), calling \
         `evaluate_action()` with the same action as scenario 3 until the level's count is done; \
         every call timed with `perf_counter_ns`. Same server process, same database, right \
         after scenario 3. {repeats} repeats per level after a warm-up.\n\n\
         | concurrency | Python p50 | Python p99 | Python decisions/s | Rust p50 | Rust decisions/s | p50 ratio (Python ÷ Rust) | throughput ratio (Rust ÷ Python) |\n\
         |---|---|---|---|---|---|---|---|\n",
        ctx.opts.python
    );
    let mut tp_ratios = Vec::new();
    let mut p50_ratios = Vec::new();
    for level in &out.levels {
        let mut samples: Vec<Duration> = level
            .repeats
            .iter()
            .flat_map(|r| r.latencies_ns.iter().map(|ns| Duration::from_nanos(*ns)))
            .collect();
        let rates: Vec<f64> = level
            .repeats
            .iter()
            .map(|r| r.n as f64 / r.wall_s.max(1e-9))
            .collect();
        ctx.server_decisions += level.repeats.iter().map(|r| r.n as u64).sum::<u64>();
        let s = summarize(&mut samples);
        let rate = median(&rates);
        let (rlo, rhi) = range(&rates);
        let rust = ctx
            .rust_http
            .iter()
            .find(|r| r.concurrency == level.concurrency);
        let (rust_p50, rust_rate) = rust.map_or((None, None), |r| (Some(r.p50), Some(r.rate)));
        let p50_ratio = rust_p50.map(|p| s.p50.as_secs_f64() / p.as_secs_f64().max(1e-12));
        let tp_ratio = rust_rate.map(|r| r / rate.max(1e-9));
        if let Some(x) = p50_ratio {
            p50_ratios.push((level.concurrency, x));
        }
        if let Some(x) = tp_ratio {
            tp_ratios.push((level.concurrency, x));
        }
        let _ = writeln!(
            details,
            "| {} | {} | {} | {} (spread {}–{}) | {} | {} | {} | {} |",
            level.concurrency,
            fmt_dur(s.p50),
            fmt_dur(s.p99),
            fmt_rate(rate),
            fmt_rate(rlo),
            fmt_rate(rhi),
            rust_p50.map_or("—".into(), fmt_dur),
            rust_rate.map_or("—".into(), fmt_rate),
            p50_ratio.map_or("—".into(), |x| format!("{x:.1}×")),
            tp_ratio.map_or("—".into(), |x| format!("{x:.1}×")),
        );
    }
    let list = |v: &[(usize, f64)]| {
        v.iter()
            .map(|(c, x)| format!("{x:.1}× @{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let min = |v: &[(usize, f64)]| v.iter().map(|(_, x)| *x).fold(f64::INFINITY, f64::min);
    let mut rows = Vec::new();
    if tp_ratios.is_empty() {
        rows.push(Row {
            verdict: Verdict::Skipped("scenario 3 did not run: nothing to compare".into()),
            ..Row::info(4, "Rust ÷ Python throughput", "—")
        });
    } else {
        rows.push(
            Row::target(
                4,
                "throughput ratio Rust ÷ Python SDK, same server (at concurrency 1, 16, 64; judged on the lowest)",
                list(&tp_ratios),
                "≥ 20×",
                ctx.judge(min(&tp_ratios), 20.0, true),
            )
            .with_note(
                "Both clients talk to the same server, whose own time per decision (risk, \
                 policy, SQLite commit) is a floor common to both; with client and server on the \
                 same two cores the ratio is bounded by (Python client CPU + server CPU) ÷ (Rust \
                 client CPU + server CPU). Closing it: a cheaper server path per decision raises \
                 the ratio directly.",
            ),
        );
        rows.push(
            Row::target(
                4,
                "p50 ratio Python SDK ÷ Rust, same server (at concurrency 1, 16, 64; judged on the lowest)",
                list(&p50_ratios),
                "≥ 20×",
                ctx.judge(min(&p50_ratios), 20.0, true),
            )
            .with_note(
                "The server's round trip is part of both medians, so the ratio is bounded by \
                 (Python client time + server time) ÷ (Rust client time + server time).",
            ),
        );
    }
    Ok(ScenarioReport { rows, details })
}
