//! # Governed sync functions, everywhere sync code runs
//!
//! ```text
//! cargo run --example sync_tools
//! ```
//!
//! What it shows: `#[governed]` on plain (non-async) functions, called
//! 1. from `main`, with no async runtime at all;
//! 2. from several plain `std::thread`s at once;
//! 3. from inside a tokio runtime — current-thread and multi-thread — both directly and through
//!    `spawn_blocking` (the better habit in async code: a sync governed call blocks its thread
//!    while governance answers).
//!
//! None of these panics or deadlocks: the runtime answers sync calls on its own background
//! runtime, never with `block_on` on the caller's. A denied sync call returns `Err` like an
//! async one. The control plane runs on a runtime of its own (as a real server would run in
//! its own process), so the agent's side has no runtime unless it makes one.

use std::process::ExitCode;
use std::time::Duration;

use ascend_examples::harness::{ControlPlane, init_logging};
use ascend_examples::report::{Checks, Style, heading};
use ascend_runtime::{Error, governed};

/// A read of public data: allowed at once.
#[governed(
    action_type = "database.read",
    resource = "inventory",
    resource_id = sku,
    risk_indicators(data_classification = "public")
)]
fn stock_level(sku: &str) -> Result<u32, Error> {
    // Any sync work: a database driver, a file, a blocking HTTP client…
    Ok(sku.len() as u32 * 7)
}

/// A bulk delete: denied by policy, so the call returns `Err(Error::Denied(..))` and the body
/// never runs. (The error type here is `ascend_runtime::Error` itself; any `E: From<Error>`
/// works.)
#[governed(action_type = "database.delete", resource = "inventory")]
fn purge_inventory(record_count: u32) -> Result<u32, Error> {
    unreachable_in_this_example(record_count)
}

fn unreachable_in_this_example(n: u32) -> Result<u32, Error> {
    eprintln!("purge_inventory's body ran: governance should have denied it");
    Ok(n)
}

fn main() -> ExitCode {
    init_logging();
    let style = Style::detect();
    match run(&style) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("sync_tools failed: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(style: &Style) -> ascend_examples::Result<bool> {
    // The control plane, on its own runtime.
    let server_rt = tokio::runtime::Runtime::new()?;
    let plane = server_rt.block_on(ControlPlane::start("inventory-agent"))?;
    println!("control plane at {}", plane.base_url());

    // The agent's client, built and installed from plain sync code.
    let client = plane.client_builder().build()?;
    ascend_runtime::init(client)?;
    let mut checks = Checks::default();

    // 1. From main: no runtime anywhere on this thread.
    println!("{}", heading(style, "1. from main (no async runtime)"));
    let r = stock_level("SKU-1");
    println!("  stock_level(\"SKU-1\") = {r:?}");
    checks.check(
        "sync call from main is allowed and runs",
        r.is_ok(),
        format!("{r:?}"),
    );

    let r = purge_inventory(5000);
    let denied = matches!(&r, Err(Error::Denied(_)));
    println!(
        "  purge_inventory(5000) = {}",
        match &r {
            Err(e) => format!("Err({e})"),
            Ok(n) => format!("Ok({n})"),
        }
    );
    checks.check(
        "a denied sync call returns Err(Error::Denied)",
        denied,
        format!("{r:?}"),
    );

    // 2. From plain threads, concurrently.
    println!("{}", heading(style, "2. from 4 plain threads at once"));
    let handles: Vec<_> = (0..4)
        .map(|i| std::thread::spawn(move || stock_level(&format!("SKU-T{i}"))))
        .collect();
    let mut ok = 0;
    for h in handles {
        match h.join() {
            Ok(Ok(n)) => {
                ok += 1;
                println!("  thread answered {n}");
            }
            Ok(Err(e)) => println!("  thread refused: {e}"),
            Err(_) => println!("  a thread panicked"),
        }
    }
    checks.check(
        "4 plain threads: every call allowed",
        ok == 4,
        format!("{ok}/4"),
    );

    // 3a. Inside a current-thread runtime: directly, and via spawn_blocking.
    println!("{}", heading(style, "3. inside tokio runtimes"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (direct, blocking) = rt.block_on(async {
        // Directly: works, but blocks this runtime's only thread until governance answers.
        let direct = stock_level("SKU-CT");
        // Better in async code: hand it to the blocking pool.
        let blocking = tokio::task::spawn_blocking(|| stock_level("SKU-CT2")).await;
        (direct, blocking)
    });
    println!("  current-thread, direct: {direct:?}; spawn_blocking: {blocking:?}");
    checks.check(
        "current-thread runtime: direct and spawn_blocking calls allowed",
        direct.is_ok() && matches!(blocking, Ok(Ok(_))),
        format!("{direct:?} / {blocking:?}"),
    );

    // 3b. Inside a multi-thread runtime, from several tasks.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..3 {
            tasks.push(tokio::task::spawn_blocking(move || {
                stock_level(&format!("SKU-MT{i}"))
            }));
        }
        // And one direct call from async code.
        let direct = stock_level("SKU-MT-direct");
        let mut all = vec![direct];
        for t in tasks {
            all.push(
                t.await
                    .unwrap_or(Err(Error::Configuration("task failed".into()))),
            );
        }
        all
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    println!("  multi-thread: {ok}/{} calls allowed", results.len());
    checks.check(
        "multi-thread runtime: every call allowed",
        ok == results.len(),
        format!("{results:?}"),
    );

    // What the control plane recorded.
    let reviewer = plane.reviewer()?;
    let (actions, verify) = server_rt.block_on(async {
        let actions = reviewer.actions(Some("inventory-agent"), None, 100).await?;
        reviewer
            .wait_for_outcomes("inventory-agent", Duration::from_secs(10))
            .await?;
        let verify = reviewer.verify_audit().await?;
        Ok::<_, ascend_examples::Error>((actions, verify))
    })?;
    let expected = 1 + 1 + 4 + 2 + 4; // main (2) + threads (4) + current-thread (2) + multi-thread (4)
    println!(
        "{} {} actions recorded, audit chain {}",
        heading(style, "control plane"),
        actions.len(),
        if verify.ok { "OK" } else { "BROKEN" }
    );
    checks.check(
        "the control plane recorded every call and its audit chain verifies",
        actions.len() == expected && verify.ok,
        format!(
            "{} actions (expected {expected}), chain ok: {}",
            actions.len(),
            verify.ok
        ),
    );

    println!("{}", heading(style, "checks"));
    print!("{}", checks.render(style));
    server_rt.block_on(plane.shutdown())?;
    server_rt.shutdown_timeout(Duration::from_secs(1));
    Ok(checks.all_ok())
}
