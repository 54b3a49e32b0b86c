//! What the MCP guard sends and reports, checked with the runtime's test double
//! (`ascend_runtime::testing::MockGovernance`) — no control plane needed. The end-to-end
//! behaviour against the real server is in `mcp_inmemory.rs`, `mcp_stdio.rs` and `mcp_node.rs`.

use std::time::Duration;

use ascend_examples::mcp_fs::{AnnotatedFs, GuardedFs, Sandbox};
use ascend_runtime::mcp::{McpGovernanceConfig, McpGovernor};
use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Decision, Outcome};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::{ServerHandler, ServiceExt};
use serde_json::{Value, json};

type Client = RunningService<RoleClient, ()>;

fn sandbox(tag: &str) -> (Sandbox, std::path::PathBuf) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "ascend-mcp-mock-{tag}-{}-{nanos}",
        std::process::id()
    ));
    (Sandbox::new(&dir).expect("sandbox"), dir)
}

async fn connect<S: ServerHandler + Send + Sync + 'static>(server: S) -> Client {
    let (s, c) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(s).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(c).await.expect("MCP client handshake")
}

async fn call(client: &Client, tool: &'static str, args: Value) -> CallToolResult {
    client
        .call_tool(
            CallToolRequestParams::new(tool)
                .with_arguments(args.as_object().cloned().unwrap_or_default()),
        )
        .await
        .expect("call")
}

async fn wait_outcomes(mock: &MockGovernance, n: usize) -> Vec<(String, Outcome)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let o = mock.outcomes();
        if o.len() >= n || std::time::Instant::now() > deadline {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_sends_tool_facts_and_reports_outcomes() {
    let mock = MockGovernance::allow_all();
    let (sb, dir) = sandbox("facts");
    let config = McpGovernanceConfig::new("filesystem").action_type("delete_file", "file.delete");
    let client = connect(GuardedFs::governed(
        sb,
        McpGovernor::new(mock.client(), config),
    ))
    .await;

    let long = "y".repeat(1000);
    let r = call(
        &client,
        "write_file",
        json!({"path": "/notes/a.txt", "content": long, "github_token": "ghp_secret"}),
    )
    .await;
    assert_ne!(r.is_error, Some(true));
    let r = call(
        &client,
        "delete_file",
        json!({"path": "/notes/missing.txt"}),
    )
    .await;
    assert_eq!(
        r.is_error,
        Some(true),
        "the tool itself fails: file missing"
    );

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let w = &reqs[0];
    assert_eq!(w.action_type, "mcp.write_file");
    assert_eq!(w.resource, "/notes/a.txt");
    assert_eq!(w.mcp_server_name.as_deref(), Some("filesystem"));
    assert_eq!(w.action_details["tool_name"], "write_file");
    assert_eq!(w.action_details["path"], "/notes/a.txt");
    assert_eq!(w.action_details["github_token"], "[REDACTED]");
    let content = w.action_details["content"].as_str().unwrap_or_default();
    assert!(
        content.len() < 400 && content.contains("truncated"),
        "{content}"
    );
    assert_eq!(w.risk_indicators["destructive_hint"], true);
    assert_eq!(w.risk_indicators["read_only_hint"], false);
    assert_eq!(w.risk_indicators["idempotent_hint"], true);
    assert_eq!(w.risk_indicators["open_world_hint"], false);
    assert_eq!(w.context["mcp_server"], "filesystem");
    assert_eq!(w.context["mcp_tool"], "write_file");
    assert_eq!(reqs[1].action_type, "file.delete", "mapped action type");

    let outcomes = wait_outcomes(&mock, 2).await;
    assert!(
        matches!(outcomes[0].1, Outcome::Completed { .. }),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[1].1, Outcome::Failed { error, .. } if error.contains("missing.txt")),
        "{outcomes:?}"
    );
    client.cancel().await.expect("cancel");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_denial_and_pending_flows_with_the_double() {
    let mock = MockGovernance::allow_all()
        .on("mcp.delete_file", [Decision::Denied])
        .on(
            "mcp.write_file",
            [Decision::Pending, Decision::Pending, Decision::Allowed],
        );
    let (sb, dir) = sandbox("flows");
    let client = connect(GuardedFs::governed(
        sb,
        McpGovernor::new(mock.client(), McpGovernanceConfig::new("filesystem")),
    ))
    .await;
    let r = call(&client, "delete_file", json!({"path": "/a"})).await;
    assert_eq!(r.is_error, Some(true));
    let r = call(
        &client,
        "write_file",
        json!({"path": "/b.txt", "content": "b"}),
    )
    .await;
    assert_ne!(r.is_error, Some(true), "approved after polling");
    assert!(dir.join("b.txt").exists());
    client.cancel().await.expect("cancel");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ungoverned_tools_and_unknown_tools_skip_governance() {
    let mock = MockGovernance::deny_all();
    let (sb, dir) = sandbox("skip");
    let config = McpGovernanceConfig::new("filesystem").ungoverned("list_directory");
    let client = connect(GuardedFs::governed(
        sb,
        McpGovernor::new(mock.client(), config),
    ))
    .await;
    let r = call(&client, "list_directory", json!({})).await;
    assert_ne!(r.is_error, Some(true));
    let err = client
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await
        .expect_err("unknown tool is a protocol error from the router");
    assert!(err.to_string().contains("tool not found"), "{err}");
    assert!(
        mock.requests().is_empty(),
        "nothing governed: {:?}",
        mock.requests()
    );
    client.cancel().await.expect("cancel");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governed_attribute_runs_before_the_tool_body() {
    let mock = MockGovernance::allow_all().on("mcp.delete_file", [Decision::Denied]);
    let (sb, dir) = sandbox("annotated");
    std::fs::write(dir.join("keep.txt"), "k").expect("seed");
    let client = connect(AnnotatedFs::new(sb, mock.client())).await;
    let r = call(&client, "delete_file", json!({"path": "/keep.txt"})).await;
    assert_eq!(r.is_error, Some(true));
    let msg = r
        .content
        .iter()
        .filter_map(|c| c.as_text())
        .map(|t| t.text.clone())
        .collect::<String>();
    assert!(msg.contains("denied"), "{msg}");
    assert!(dir.join("keep.txt").exists(), "denied body must not run");
    let r = call(&client, "read_file", json!({"path": "/keep.txt"})).await;
    assert_ne!(r.is_error, Some(true));
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].action_type, "mcp.delete_file");
    assert_eq!(reqs[0].resource, "/keep.txt");
    assert_eq!(reqs[1].action_type, "mcp.read_file");
    client.cancel().await.expect("cancel");
    let _ = std::fs::remove_dir_all(dir);
}
