//! The example server as a child process over stdio, driven by rmcp's own client
//! (`TokioChildProcess`), against the real control plane. Both integration styles.

mod mcp_common;

use std::time::Duration;

use mcp_common::{Harness, server_binary};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn params(tool: &'static str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool).with_arguments(args.as_object().cloned().unwrap_or_default())
}

async fn run_style(h: &Harness, style: &str) {
    let sandbox = h.sandbox.join(style);
    std::fs::create_dir_all(sandbox.join("project")).expect("seed");
    std::fs::write(sandbox.join("project/notes.txt"), "stdio works").expect("seed");
    std::fs::create_dir_all(sandbox.join("~/.ssh")).expect("seed");
    let env = h.child_env();
    let cmd = tokio::process::Command::new(server_binary()).configure(|c| {
        c.arg("--root").arg(&sandbox).arg("--style").arg(style);
        for (k, v) in &env {
            c.env(k, v);
        }
    });
    let client =
        ().serve(TokioChildProcess::new(cmd).expect("spawn the example server"))
            .await
            .expect("MCP handshake over stdio");
    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("filesystem")
    );

    let tools = client.list_all_tools().await.expect("list tools");
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        ["delete_file", "list_directory", "read_file", "write_file"],
        "{style}"
    );

    let r = client
        .call_tool(params("list_directory", json!({"path": "/project"})))
        .await
        .expect("list");
    assert_ne!(r.is_error, Some(true), "{style}: {}", text(&r));
    assert!(text(&r).contains("notes.txt"), "{style}: {}", text(&r));

    let r = client
        .call_tool(params(
            "read_file",
            json!({"path": "/project/notes.txt", "secret": "do-not-log-me"}),
        ))
        .await
        .expect("read");
    assert_eq!(text(&r), "stdio works", "{style}");

    // Pending → approved by a reviewer while the client waits.
    let before = h.pending_ids().await;
    let peer = client.peer().clone();
    let write = tokio::spawn(async move {
        peer.call_tool(params(
            "write_file",
            json!({"path": "/etc/config.yaml", "content": "ok: true\n"}),
        ))
        .await
    });
    h.approve_next_pending(&before).await;
    let r = tokio::time::timeout(Duration::from_secs(60), write)
        .await
        .expect("approved call returns")
        .expect("join")
        .expect("call");
    assert_ne!(r.is_error, Some(true), "{style}: {}", text(&r));
    assert!(sandbox.join("etc/config.yaml").exists(), "{style}");

    // Denied, as an isError result with the reason.
    let r = client
        .call_tool(params(
            "delete_file",
            json!({"path": "~/.ssh", "recursive": true}),
        ))
        .await
        .expect("delete");
    assert_eq!(r.is_error, Some(true), "{style}: {}", text(&r));
    assert!(
        text(&r).to_lowercase().contains("denied"),
        "{style}: {}",
        text(&r)
    );
    assert!(sandbox.join("~/.ssh").exists(), "{style}");

    client.cancel().await.expect("stop the child");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_child_process_both_styles() {
    let h = Harness::start("mcp-stdio").await;
    run_style(&h, "guard").await;
    run_style(&h, "governed").await;
    let audit = h
        .wait_audit("the stdio calls", |t| {
            ["list_directory", "read_file", "write_file", "delete_file"]
                .iter()
                .all(|tool| t.contains(tool))
        })
        .await;
    assert!(
        !audit.contains("do-not-log-me"),
        "secret argument leaked into the audit"
    );
    h.shutdown().await;
}
