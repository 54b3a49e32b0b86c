//! Every runnable example runs, exits 0, and prints what it promises.
//!
//! The examples are run as the separate programs users run (`cargo test` builds them into
//! `target/<profile>/examples/`, next to this test's `deps/` folder). Each one checks its own
//! steps and exits non-zero when one misbehaves, so the exit status is the main assertion; the
//! output checks make sure the report a newcomer reads is there.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: a loaded 2-core machine; each example takes a few seconds.
const TIMEOUT: Duration = Duration::from_secs(120);

fn examples_dir() -> PathBuf {
    // target/<profile>/deps/examples-<hash>  →  target/<profile>/examples
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    profile_dir.join("examples")
}

/// The example's binary. `cargo test` builds every example before running tests; a run
/// restricted with `--test examples` does not, and building from inside the test would wait
/// forever on the build directory lock cargo holds, so say what to do instead.
fn ensure_built(name: &str) -> PathBuf {
    let path = examples_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "example binary {} not found: run `cargo test` (which builds the examples) or \
         `cargo build --examples` before `cargo test --test examples`",
        path.display()
    );
    path
}

struct Run {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Run an example non-interactively (stdin closed), without colour, with no `ASCEND_*`
/// variables from the developer's environment.
fn run(name: &str) -> Run {
    let path = ensure_built(name);
    let mut cmd = Command::new(&path);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("ASCEND_") || k.starts_with("OWKAI_") {
            cmd.env_remove(k);
        }
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("the example starts");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait on the example") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("example {name} did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        success: status.success(),
        code: status.code(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
        took: started.elapsed(),
    }
}

fn assert_ok(name: &str, r: &Run) {
    assert!(
        r.success,
        "example {name} exited with {:?} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
        r.code, r.took, r.stdout, r.stderr
    );
    assert!(
        !r.stdout.contains('\x1b'),
        "{name}: colour codes in non-terminal output"
    );
    assert!(
        !r.stdout.contains('✗'),
        "{name}: a check failed:\n{}",
        r.stdout
    );
}

fn assert_contains(name: &str, r: &Run, needles: &[&str]) {
    for n in needles {
        assert!(
            r.stdout.contains(n),
            "{name}: output lacks {n:?}\n--- stdout\n{}",
            r.stdout
        );
    }
}

#[test]
fn quickstart_shows_the_whole_product() {
    let r = run("quickstart");
    assert_ok("quickstart", &r);
    assert_contains(
        "quickstart",
        &r,
        &[
            "Control plane: ascend-server in this process at http://127.0.0.1:",
            "\"Auto-Allow Low Risk\"",
            "\"Allow Medium Risk\"",
            "\"High Risk Requires Approval\"",
            "\"Block Bulk Deletions\"",
            "on_denied ran instead",
            "CVSS:3.1/",
            "KILL_SWITCH_ACTIVE",
            "the call never reached the server",
            "ID  TYPE",
            "DECISION",
            "OK — ",
            "Every step behaved as described",
        ],
    );
    // "well under a minute after the build" (generous for a loaded machine).
    assert!(
        r.took < Duration::from_secs(45),
        "quickstart took {:?}",
        r.took
    );
}

#[test]
fn sync_tools_work_from_threads_and_runtimes() {
    let r = run("sync_tools");
    assert_ok("sync_tools", &r);
    assert_contains(
        "sync_tools",
        &r,
        &[
            "from 4 plain threads",
            "multi-thread: 4/4 calls allowed",
            "12 actions recorded",
        ],
    );
}

#[test]
fn approval_workflow_approves_by_itself_when_not_interactive() {
    let r = run("approval_workflow");
    assert_ok("approval_workflow", &r);
    assert_contains(
        "approval_workflow",
        &r,
        &[
            "cargo run -p ascend-server --bin ascend -- approve 1",
            "Not interactive: approving by itself",
            "action 1: approved",
            "the tool ran",
            "action.decided → action.approval_vote → action.completed",
        ],
    );
}

#[test]
fn fail_modes_blocks_or_proceeds_and_delivers_later() {
    let r = run("fail_modes");
    assert_ok("fail_modes", &r);
    assert_contains(
        "fail_modes",
        &r,
        &[
            "fail-closed  refused",
            "CONNECTION_ERROR",
            "fail-open    ran: order B-2",
            "context.fail_open = true",
            "across the restart",
        ],
    );
}

#[test]
fn testing_your_agent_scenarios_pass() {
    let r = run("testing_your_agent");
    assert_ok("testing_your_agent", &r);
    assert_contains("testing_your_agent", &r, &["all scenarios passed"]);
}

#[test]
fn embedded_agent_governs_in_process() {
    let r = run("embedded_agent");
    assert_ok("embedded_agent", &r);
    assert_contains(
        "embedded_agent",
        &r,
        &[
            "purge_customers(150) refused: action denied",
            "alice approves it",
            "the waiting call: Err(Governance(KillSwitch",
            "chain intact",
        ],
    );
}
