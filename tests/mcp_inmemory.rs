//! The governed filesystem MCP server driven by rmcp's own client over an in-memory duplex pair,
//! against the real control plane (`ascend_server::start` on 127.0.0.1:0, SQLite in a temp dir).

mod mcp_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ascend_examples::mcp_fs::{AnnotatedFs, GuardedFs, Sandbox};
use ascend_runtime::mcp::{
    DenialStyle, GOVERNANCE_ERROR_CODE, META_KEY, McpGovernanceConfig, McpGovernor,
};
use ascend_runtime::{AscendClient, FailMode};
use mcp_common::Harness;
use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::{RoleClient, RunningService};
use rmcp::{ServerHandler, ServiceError, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

type Client = RunningService<RoleClient, ()>;

async fn connect<S: ServerHandler + Send + Sync + 'static>(server: S) -> Client {
    let (s, c) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(s).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(c).await.expect("MCP client handshake")
}

async fn call(client: &Client, tool: &str, args: Value) -> Result<CallToolResult, ServiceError> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(m) = args {
        params = params.with_arguments(m);
    }
    client.call_tool(params).await
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn governance_meta(r: &CallToolResult) -> Value {
    r.meta
        .as_ref()
        .and_then(|m| m.0.get(META_KEY))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Records every callback of the guard.
#[derive(Default, Clone)]
struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    fn push(&self, e: String) {
        if let Ok(mut v) = self.0.lock() {
            v.push(e);
        }
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// A guard whose callbacks record into `events` and send pending action ids on `pending`.
fn governor(
    client: AscendClient,
    events: &Events,
    pending: mpsc::UnboundedSender<String>,
    approval_timeout: Duration,
) -> McpGovernor {
    let (e1, e2, e3, e4) = (
        events.clone(),
        events.clone(),
        events.clone(),
        events.clone(),
    );
    let config = McpGovernanceConfig::new("filesystem")
        .approval_timeout(approval_timeout)
        .on_allowed(move |tool, _| e1.push(format!("allowed:{tool}")))
        .on_approval_required(move |tool, d| {
            e2.push(format!("approval_required:{tool}"));
            let _ = pending.send(d.action_id.clone());
        })
        .on_denied(move |tool, err| e3.push(format!("denied:{tool}:{}", err.code())))
        .on_timeout(move |tool, err| e4.push(format!("timeout:{tool}:{}", err.code())));
    McpGovernor::new(client, config)
}

fn tool<'a>(tools: &'a [Tool], name: &str) -> &'a Tool {
    tools
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("tool {name} not listed: {tools:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_lists_tools_with_annotations() {
    let h = Harness::start("mcp-list").await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let server = GuardedFs::governed(
        Sandbox::new(&h.sandbox).expect("sandbox"),
        governor(h.client(), &Events::default(), tx, Duration::from_secs(60)),
    );
    let client = connect(server).await;
    let tools = client.list_all_tools().await.expect("list tools");
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        ["delete_file", "list_directory", "read_file", "write_file"]
    );
    let list = tool(&tools, "list_directory");
    assert_eq!(
        list.annotations.as_ref().and_then(|a| a.read_only_hint),
        Some(true)
    );
    let delete = tool(&tools, "delete_file");
    assert_eq!(
        delete.annotations.as_ref().and_then(|a| a.destructive_hint),
        Some(true)
    );
    assert!(
        list.output_schema.is_some(),
        "Json<T> output keeps its schema"
    );
    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("filesystem")
    );
    client.cancel().await.expect("cancel");
    h.shutdown().await;
}

/// `#[governed]` above `#[tool]`: every tool must still be discovered by `#[tool_router]`, keep
/// its description (doc comment), input schema, output schema and annotations — and run
/// governed. Fails if the attribute order breaks discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governed_above_tool_keeps_discovery() {
    let h = Harness::start("mcp-annotated-list").await;
    let server = AnnotatedFs::new(Sandbox::new(&h.sandbox).expect("sandbox"), h.client());
    let client = connect(server).await;
    let tools = client.list_all_tools().await.expect("list tools");
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        ["delete_file", "list_directory", "read_file", "write_file"],
        "#[governed] above #[tool] must not hide tools from #[tool_router]"
    );
    for t in &tools {
        assert!(
            t.description
                .as_deref()
                .is_some_and(|d| d.contains("sandbox")),
            "{} lost its doc-comment description: {:?}",
            t.name,
            t.description
        );
        assert!(t.annotations.is_some(), "{} lost its annotations", t.name);
    }
    let write = tool(&tools, "write_file");
    let props = write
        .input_schema
        .get("properties")
        .cloned()
        .unwrap_or(Value::Null);
    assert!(
        props.get("path").is_some() && props.get("content").is_some(),
        "input schema: {props}"
    );
    assert!(write.output_schema.is_some(), "Json<T> output schema kept");

    std::fs::write(h.sandbox.join("hello.txt"), "hi").expect("seed file");
    let r = call(&client, "read_file", json!({"path": "/hello.txt"}))
        .await
        .expect("call");
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    assert_eq!(text(&r), "hi");
    let audit = h
        .wait_audit("the governed read", |t| t.contains("mcp.read_file"))
        .await;
    assert!(audit.contains("hello.txt"), "{audit}");
    client.cancel().await.expect("cancel");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_allowed_pending_approved_and_denied() {
    let h = Harness::start("mcp-guard").await;
    let events = Events::default();
    let (tx, mut pending) = mpsc::unbounded_channel();
    let server = GuardedFs::governed(
        Sandbox::new(&h.sandbox).expect("sandbox"),
        governor(h.client(), &events, tx, Duration::from_secs(120)),
    );
    std::fs::create_dir_all(h.sandbox.join("project/src")).expect("seed");
    std::fs::write(h.sandbox.join("project/README.md"), "# demo").expect("seed");
    std::fs::create_dir_all(h.sandbox.join("~/.ssh")).expect("seed");
    std::fs::write(h.sandbox.join("~/.ssh/id_ed25519"), "KEY").expect("seed");
    let client = connect(server).await;

    // Allowed: low-risk listing of a project folder.
    let r = call(&client, "list_directory", json!({"path": "/project"}))
        .await
        .expect("list");
    assert_ne!(
        r.is_error,
        Some(true),
        "list_directory refused: {}",
        text(&r)
    );
    let entries = r.structured_content.clone().unwrap_or(Value::Null);
    assert!(
        entries.to_string().contains("/project/README.md"),
        "{entries}"
    );

    // Allowed read, with a secret-looking extra argument the tool ignores: redacted in the audit.
    let r = call(
        &client,
        "read_file",
        json!({"path": "/project/README.md", "api_token": "s3cr3t-value-123", "note": "x".repeat(400)}),
    )
    .await
    .expect("read");
    assert_ne!(r.is_error, Some(true), "read_file refused: {}", text(&r));
    assert_eq!(text(&r), "# demo");

    // Pending, then approved by a reviewer through the HTTP API: the write happens after.
    let write = {
        let client_peer = client.peer().clone();
        tokio::spawn(async move {
            client_peer
                .call_tool(
                    CallToolRequestParams::new("write_file").with_arguments(
                        json!({"path": "/etc/config.yaml", "content": "mode: strict\n"})
                            .as_object()
                            .cloned()
                            .unwrap_or_default(),
                    ),
                )
                .await
        })
    };
    let action_id = tokio::time::timeout(Duration::from_secs(60), pending.recv())
        .await
        .expect("write_file should need approval")
        .expect("pending id");
    assert!(
        !h.sandbox.join("etc/config.yaml").exists(),
        "ran before approval"
    );
    h.approve(&action_id).await;
    let r = tokio::time::timeout(Duration::from_secs(60), write)
        .await
        .expect("approved call returns")
        .expect("join")
        .expect("call");
    assert_ne!(
        r.is_error,
        Some(true),
        "approved write refused: {}",
        text(&r)
    );
    assert_eq!(
        std::fs::read_to_string(h.sandbox.join("etc/config.yaml")).expect("written"),
        "mode: strict\n"
    );

    // Denied: recursive delete of ~/.ssh → an isError result with the reason; nothing deleted.
    let r = call(
        &client,
        "delete_file",
        json!({"path": "~/.ssh", "recursive": true}),
    )
    .await
    .expect("delete");
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    let msg = text(&r);
    assert!(
        msg.contains("Governance denied tool `delete_file`"),
        "{msg}"
    );
    assert!(msg.contains("not executed"), "{msg}");
    let meta = governance_meta(&r);
    assert_eq!(meta["outcome"], "denied", "{meta}");
    assert!(
        meta["reason"].as_str().is_some_and(|s| !s.is_empty()),
        "{meta}"
    );
    assert!(
        h.sandbox.join("~/.ssh/id_ed25519").exists(),
        "denied delete must not run"
    );

    let ev = events.all();
    for expected in [
        "allowed:list_directory",
        "allowed:read_file",
        "approval_required:write_file",
        "allowed:write_file",
        "denied:delete_file:AUTHZ_DENIED",
    ] {
        assert!(
            ev.iter().any(|e| e == expected),
            "missing {expected} in {ev:?}"
        );
    }

    // The audit trail: each call with its tool name (the hash-chained audit records the action
    // type `mcp.<tool>`); the stored request of each action has the arguments, secrets redacted
    // and long strings cut, and the MCP server name.
    let audit = h
        .wait_audit("every tool call", |t| {
            ["list_directory", "read_file", "write_file", "delete_file"]
                .iter()
                .all(|tool| t.contains(&format!("mcp.{tool}")))
        })
        .await;
    assert!(
        !audit.contains("s3cr3t-value-123"),
        "secret leaked into the audit"
    );
    let stored = h.actions_text().await;
    for tool in ["list_directory", "read_file", "write_file", "delete_file"] {
        assert!(
            stored.contains(&format!("\"tool_name\":\"{tool}\"")),
            "{tool} missing: {stored}"
        );
    }
    assert!(
        stored.contains("\"api_token\":\"[REDACTED]\""),
        "api_token not redacted: {stored}"
    );
    assert!(
        !stored.contains("s3cr3t-value-123"),
        "secret leaked into the stored request"
    );
    assert!(
        !stored.contains(&"x".repeat(300)),
        "long argument not truncated"
    );
    assert!(
        stored.contains("\"mcp_server_name\":\"filesystem\""),
        "MCP server name missing"
    );
    assert!(
        stored.contains("\"destructive_hint\":true"),
        "annotations missing: {stored}"
    );

    // The approved write's outcome is reported back (in the background).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let a = h.action(&action_id).await;
        if a.to_string().contains("completed") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "outcome never reported: {a}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.cancel().await.expect("cancel");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_timeout_is_a_timeout_not_unavailable() {
    let h = Harness::start("mcp-timeout").await;
    let events = Events::default();
    let (tx, _pending) = mpsc::unbounded_channel();
    let server = GuardedFs::governed(
        Sandbox::new(&h.sandbox).expect("sandbox"),
        governor(h.client(), &events, tx, Duration::from_secs(1)),
    );
    let client = connect(server).await;
    let r = call(
        &client,
        "write_file",
        json!({"path": "/etc/config.yaml", "content": "x"}),
    )
    .await
    .expect("call");
    assert_eq!(r.is_error, Some(true));
    let msg = text(&r);
    assert!(msg.contains("requires human approval"), "{msg}");
    assert!(
        !msg.contains("unavailable"),
        "a timeout is not unavailability: {msg}"
    );
    assert_eq!(governance_meta(&r)["outcome"], "approval_timeout");
    assert!(!h.sandbox.join("etc/config.yaml").exists());
    assert!(
        events
            .all()
            .iter()
            .any(|e| e == "timeout:write_file:APPROVAL_TIMEOUT"),
        "{:?}",
        events.all()
    );
    client.cancel().await.expect("cancel");
    h.shutdown().await;
}

/// Counts the progress notifications the server sends.
#[derive(Clone, Default)]
struct ProgressCounter(Arc<std::sync::atomic::AtomicUsize>);

impl rmcp::ClientHandler for ProgressCounter {
    async fn on_progress(
        &self,
        _params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// While waiting for a human, the guard sends progress notifications to a client that gave a
/// progress token (so its request timeout can be reset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_approval_sends_progress() {
    let h = Harness::start("mcp-progress").await;
    let config = McpGovernanceConfig::new("filesystem")
        .approval_timeout(Duration::from_millis(1500))
        .progress_interval(Duration::from_millis(200));
    let server = GuardedFs::governed(
        Sandbox::new(&h.sandbox).expect("sandbox"),
        McpGovernor::new(h.client(), config),
    );
    let (s, c) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(s).await {
            let _ = running.waiting().await;
        }
    });
    let counter = ProgressCounter::default();
    let client = counter.clone().serve(c).await.expect("handshake");
    let mut params = CallToolRequestParams::new("write_file").with_arguments(
        json!({"path": "/etc/config.yaml", "content": "x"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    let mut meta = rmcp::model::RequestMetaObject::default();
    meta.set_progress_token(rmcp::model::ProgressToken(
        rmcp::model::NumberOrString::Number(7),
    ));
    params.meta = Some(meta);
    let r = client.call_tool(params).await.expect("call");
    assert_eq!(r.is_error, Some(true));
    assert_eq!(governance_meta(&r)["outcome"], "approval_timeout");
    let seen = counter.0.load(std::sync::atomic::Ordering::SeqCst);
    assert!(seen >= 2, "expected progress while waiting, got {seen}");
    client.cancel().await.expect("cancel");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wait_refuses_pending_as_approval_pending() {
    let h = Harness::start("mcp-nowait").await;
    let config = McpGovernanceConfig::new("filesystem").wait_for_approval(false);
    let server = GuardedFs::governed(
        Sandbox::new(&h.sandbox).expect("sandbox"),
        McpGovernor::new(h.client(), config),
    );
    let client = connect(server).await;
    let r = call(
        &client,
        "write_file",
        json!({"path": "/etc/config.yaml", "content": "x"}),
    )
    .await
    .expect("call");
    assert_eq!(r.is_error, Some(true));
    assert_eq!(governance_meta(&r)["outcome"], "approval_pending");
    assert!(governance_meta(&r)["action_id"].is_string());
    client.cancel().await.expect("cancel");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_error_style() {
    let h = Harness::start("mcp-protoerr").await;
    let config = McpGovernanceConfig::new("filesystem").denial_style(DenialStyle::ProtocolError);
    let server = GuardedFs::governed(
        Sandbox::new(&h.sandbox).expect("sandbox"),
        McpGovernor::new(h.client(), config),
    );
    let client = connect(server).await;
    let err = call(
        &client,
        "delete_file",
        json!({"path": "~/.ssh", "recursive": true}),
    )
    .await
    .expect_err("a protocol error");
    match err {
        ServiceError::McpError(e) => {
            assert_eq!(e.code.0, GOVERNANCE_ERROR_CODE);
            assert!(e.message.contains("Governance denied"), "{}", e.message);
        }
        other => panic!("expected an MCP error, got {other:?}"),
    }
    client.cancel().await.expect("cancel");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_blocks_every_tool() {
    let h = Harness::start("mcp-kill").await;
    let events = Events::default();
    let (tx, _pending) = mpsc::unbounded_channel();
    let gov_client = h.client();
    let server = GuardedFs::governed(
        Sandbox::new(&h.sandbox).expect("sandbox"),
        governor(gov_client.clone(), &events, tx, Duration::from_secs(5)),
    );
    let client = connect(server).await;

    // Server-side kill switch for this agent (admin API): the submit is refused.
    let (status, body) = h
        .post(
            "/api/v1/kill-switch/trigger",
            &h.admin_key,
            json!({"agent_id": mcp_common::AGENT_ID, "reason": "MCP test halts the agent"}),
        )
        .await;
    assert_eq!(status, 200, "trigger: {body}");
    let r = call(&client, "list_directory", json!({}))
        .await
        .expect("call");
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    let outcome = governance_meta(&r)["outcome"].clone();
    assert!(outcome == "kill_switch" || outcome == "denied", "{outcome}");
    let (status, body) = h
        .post(
            "/api/v1/kill-switch/release",
            &h.admin_key,
            json!({"agent_id": mcp_common::AGENT_ID, "reason": "MCP test releases the agent"}),
        )
        .await;
    assert_eq!(status, 200, "release: {body}");
    // The release reaches the client (pushed or polled); wait until calls run again.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = call(&client, "list_directory", json!({}))
            .await
            .expect("call");
        if r.is_error != Some(true) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still refused after release: {}",
            text(&r)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Local kill switch: refused without asking the server.
    gov_client.trigger_kill_switch("operator pressed stop");
    let r = call(&client, "read_file", json!({"path": "/x"}))
        .await
        .expect("call");
    assert_eq!(r.is_error, Some(true));
    assert_eq!(governance_meta(&r)["outcome"], "kill_switch");
    assert!(text(&r).contains("kill switch"), "{}", text(&r));
    gov_client.release_kill_switch();
    let r = call(&client, "list_directory", json!({}))
        .await
        .expect("call");
    assert_ne!(r.is_error, Some(true), "released: {}", text(&r));
    client.cancel().await.expect("cancel");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_governance_fails_closed_or_open_per_client() {
    let dir = mcp_common::TempDir::new("mcp-unreachable");
    // A port nobody listens on: bind, take the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let build = |mode| {
        AscendClient::builder()
            .api_url(format!("http://127.0.0.1:{port}"))
            .api_key("asc_test_unreachable")
            .agent_id("offline-agent")
            .max_retries(0)
            .timeout(Duration::from_secs(2))
            .fail_mode(mode)
            .build()
            .expect("client")
    };
    let closed = GuardedFs::governed(
        Sandbox::new(dir.path()).expect("sandbox"),
        McpGovernor::new(
            build(FailMode::Closed),
            McpGovernanceConfig::new("filesystem"),
        ),
    );
    let client = connect(closed).await;
    let r = call(&client, "list_directory", json!({}))
        .await
        .expect("call");
    assert_eq!(r.is_error, Some(true));
    assert_eq!(
        governance_meta(&r)["outcome"],
        "unavailable",
        "{}",
        text(&r)
    );
    client.cancel().await.expect("cancel");

    let open = GuardedFs::governed(
        Sandbox::new(dir.path()).expect("sandbox"),
        McpGovernor::new(
            build(FailMode::Open),
            McpGovernanceConfig::new("filesystem"),
        ),
    );
    let client = connect(open).await;
    let r = call(&client, "list_directory", json!({}))
        .await
        .expect("call");
    assert_ne!(
        r.is_error,
        Some(true),
        "fail-open runs the tool: {}",
        text(&r)
    );
    client.cancel().await.expect("cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotated_style_allowed_pending_denied() {
    let h = Harness::start("mcp-annotated").await;
    let server = AnnotatedFs::new(Sandbox::new(&h.sandbox).expect("sandbox"), h.client());
    std::fs::create_dir_all(h.sandbox.join("~/.ssh")).expect("seed");
    let client = connect(server).await;

    let r = call(&client, "list_directory", json!({"path": "/"}))
        .await
        .expect("list");
    assert_ne!(r.is_error, Some(true), "{}", text(&r));

    let before = h.pending_ids().await;
    let peer = client.peer().clone();
    let write = tokio::spawn(async move {
        peer.call_tool(
            CallToolRequestParams::new("write_file").with_arguments(
                json!({"path": "/etc/config.yaml", "content": "a: 1\n"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await
    });
    h.approve_next_pending(&before).await;
    let r = tokio::time::timeout(Duration::from_secs(60), write)
        .await
        .expect("returns")
        .expect("join")
        .expect("call");
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    assert!(h.sandbox.join("etc/config.yaml").exists());

    let r = call(
        &client,
        "delete_file",
        json!({"path": "~/.ssh", "recursive": true}),
    )
    .await
    .expect("delete");
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    assert!(text(&r).contains("denied"), "{}", text(&r));
    assert!(h.sandbox.join("~/.ssh").exists());
    client.cancel().await.expect("cancel");
    h.shutdown().await;
}

/// The hash-chained audit entry of each governed call carries its (redacted) arguments, not
/// only the action type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_chain_records_redacted_arguments() {
    let h = Harness::start("mcp-audit-args").await;
    let server = GuardedFs::governed(
        Sandbox::new(&h.sandbox).expect("sandbox"),
        McpGovernor::new(h.client(), McpGovernanceConfig::new("filesystem")),
    );
    let client = connect(server).await;
    let r = call(
        &client,
        "list_directory",
        json!({"path": "/", "session_token": "tok-123456"}),
    )
    .await
    .expect("call");
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let audit = h
        .wait_audit("the call", |t| t.contains("mcp.list_directory"))
        .await;
    assert!(
        audit.contains("\"tool_name\":\"list_directory\""),
        "{audit}"
    );
    assert!(
        audit.contains("\"session_token\":\"[REDACTED]\""),
        "{audit}"
    );
    assert!(!audit.contains("tok-123456"), "{audit}");
    client.cancel().await.expect("cancel");
    h.shutdown().await;
}

/// MCP-server-level block: deactivating the server in the control plane's MCP registry refuses
/// every tool of that server (wire-protocol §6.3), as an isError result with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_mcp_server_refuses_all_tools() {
    let h = Harness::start("mcp-blocked").await;
    let (status, body) = h
        .post(
            "/api/registry/mcp-servers",
            &h.admin_key,
            json!({"server_name": "filesystem", "transport_type": "stdio", "governance_enabled": true}),
        )
        .await;
    assert!(status == 200 || status == 201, "register: {status} {body}");
    let server = GuardedFs::governed(
        Sandbox::new(&h.sandbox).expect("sandbox"),
        McpGovernor::new(h.client(), McpGovernanceConfig::new("filesystem")),
    );
    let client = connect(server).await;
    let r = call(&client, "list_directory", json!({}))
        .await
        .expect("call");
    assert_ne!(r.is_error, Some(true), "registered + active: {}", text(&r));

    let (status, body) = h
        .post(
            "/api/registry/mcp-servers/filesystem/deactivate",
            &h.admin_key,
            json!({"reason": "MCP test blocks the server"}),
        )
        .await;
    assert_eq!(status, 200, "deactivate: {body}");
    for tool in ["list_directory", "read_file"] {
        let r = call(&client, tool, json!({"path": "/"}))
            .await
            .expect("call");
        assert_eq!(
            r.is_error,
            Some(true),
            "{tool} on a blocked server: {}",
            text(&r)
        );
        assert_eq!(governance_meta(&r)["outcome"], "denied");
    }
    let (status, _) = h
        .post(
            "/api/registry/mcp-servers/filesystem/activate",
            &h.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let r = call(&client, "list_directory", json!({}))
        .await
        .expect("call");
    assert_ne!(r.is_error, Some(true), "re-activated: {}", text(&r));
    client.cancel().await.expect("cancel");
    h.shutdown().await;
}
