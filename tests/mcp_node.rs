//! Interoperability with a third-party MCP client: the official TypeScript SDK
//! (`@modelcontextprotocol/sdk`, Client + StdioClientTransport / StreamableHTTPClientTransport)
//! drives the example server (tests/mcp_node/client.mjs) against the real control plane.
//!
//! Needs `npm ci` in tests/mcp_node. Without node_modules the test is skipped with a message —
//! unless CI is set, where it fails loudly.

mod mcp_common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use mcp_common::{Harness, server_binary};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_node")
}

/// True when the test should be skipped (no SDK installed, not in CI). Panics in CI.
fn missing_sdk() -> bool {
    let installed = node_dir()
        .join("node_modules/@modelcontextprotocol/sdk/package.json")
        .exists();
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if installed && node {
        return false;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    let what = if node {
        "tests/mcp_node/node_modules is missing: run `npm ci --prefix tests/mcp_node`"
    } else {
        "`node` is not on PATH"
    };
    assert!(!ci, "MCP Node interop test cannot run in CI: {what}");
    // Written to the real stderr (not the captured test output) so the skip is visible.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED mcp_node: {what} (this test is mandatory when CI is set)"
    );
    true
}

/// Run the Node client with `calls` against `target` (`["stdio", bin, args..]` or
/// `["http", url]`), approving every new pending action meanwhile when `approve` is set.
async fn run_node(h: &Harness, calls: &Value, target: &[String], approve: bool) -> Value {
    let before = h.pending_ids().await;
    let mut cmd = tokio::process::Command::new("node");
    cmd.current_dir(node_dir())
        .arg("client.mjs")
        .arg(calls.to_string())
        .args(target)
        .envs(h.child_env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("spawn node");
    let output = child.wait_with_output();
    let output = if approve {
        let (out, _) = tokio::join!(output, h.approve_next_pending(&before));
        out
    } else {
        output.await
    };
    let output = output.expect("node ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node client failed ({}): {stdout}",
        output.status
    );
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("node printed no JSON ({e}): {stdout}"))
}

fn seed(sandbox: &std::path::Path) {
    std::fs::create_dir_all(sandbox.join("project")).expect("seed");
    std::fs::write(sandbox.join("project/README.md"), "# from node").expect("seed");
    std::fs::create_dir_all(sandbox.join("~/.ssh")).expect("seed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_over_stdio() {
    if missing_sdk() {
        return;
    }
    let h = Harness::start("mcp-node").await;
    let sandbox = h.sandbox.join("node");
    seed(&sandbox);
    let calls = json!([
        {"tool": "list_directory", "arguments": {"path": "/project"}},
        {"tool": "read_file", "arguments": {"path": "/project/README.md", "password": "hunter2-from-node"}},
        {"tool": "write_file", "arguments": {"path": "/etc/config.yaml", "content": "node: yes\n"}},
        {"tool": "delete_file", "arguments": {"path": "~/.ssh", "recursive": true}}
    ]);
    let target = vec![
        "stdio".to_owned(),
        server_binary().display().to_string(),
        "--root".to_owned(),
        sandbox.display().to_string(),
    ];
    let out = tokio::time::timeout(
        Duration::from_secs(180),
        run_node(&h, &calls, &target, true),
    )
    .await
    .expect("node finished in time");

    assert_eq!(out["server"]["name"], "filesystem", "{out}");
    let tools = out["tools"].as_array().cloned().unwrap_or_default();
    let mut names: Vec<_> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["delete_file", "list_directory", "read_file", "write_file"]
    );
    let list = tools
        .iter()
        .find(|t| t["name"] == "list_directory")
        .cloned()
        .unwrap_or_default();
    assert_eq!(list["annotations"]["readOnlyHint"], true, "{list}");

    let r = &out["results"];
    assert_eq!(r[0]["isError"], false, "allowed list: {}", r[0]);
    assert!(
        r[0]["structured"]
            .to_string()
            .contains("/project/README.md"),
        "{}",
        r[0]
    );
    assert_eq!(r[1]["text"], "# from node", "{}", r[1]);
    assert_eq!(
        r[2]["isError"], false,
        "pending then approved write: {}",
        r[2]
    );
    assert!(sandbox.join("etc/config.yaml").exists());
    assert_eq!(r[3]["isError"], true, "denied delete: {}", r[3]);
    assert!(
        r[3]["text"]
            .as_str()
            .is_some_and(|t| t.contains("Governance denied tool `delete_file`")),
        "{}",
        r[3]
    );
    assert_eq!(
        r[3]["meta"]["ascend/governance"]["outcome"], "denied",
        "{}",
        r[3]
    );
    assert!(sandbox.join("~/.ssh").exists());

    let audit = h
        .wait_audit("the node calls", |t| {
            t.contains("write_file") && t.contains("delete_file")
        })
        .await;
    assert!(
        !audit.contains("hunter2-from-node"),
        "secret leaked into the audit"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_over_streamable_http() {
    if missing_sdk() {
        return;
    }
    let h = Harness::start("mcp-node-http").await;
    let sandbox = h.sandbox.join("http");
    seed(&sandbox);
    let mut server = tokio::process::Command::new(server_binary())
        .arg("--root")
        .arg(&sandbox)
        .arg("--http")
        .arg("127.0.0.1:0")
        .envs(h.child_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the HTTP server");
    let stderr = server.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[server] {line}");
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.trim().to_owned();
            }
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server listens");
    // Keep draining the server's log so it never blocks on a full pipe.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[server] {line}");
        }
    });

    let calls = json!([
        {"tool": "list_directory", "arguments": {"path": "/project"}},
        {"tool": "write_file", "arguments": {"path": "/etc/config.yaml", "content": "http: yes\n"}},
        {"tool": "delete_file", "arguments": {"path": "~/.ssh", "recursive": true}}
    ]);
    let out = tokio::time::timeout(
        Duration::from_secs(180),
        run_node(&h, &calls, &["http".to_owned(), url], true),
    )
    .await
    .expect("node finished in time");
    let r = &out["results"];
    assert_eq!(r[0]["isError"], false, "{}", r[0]);
    assert_eq!(r[1]["isError"], false, "approved write over HTTP: {}", r[1]);
    assert!(sandbox.join("etc/config.yaml").exists());
    assert_eq!(r[2]["isError"], true, "{}", r[2]);
    assert_eq!(
        r[2]["meta"]["ascend/governance"]["outcome"], "denied",
        "{}",
        r[2]
    );
    let _ = server.kill().await;
    h.shutdown().await;
}
