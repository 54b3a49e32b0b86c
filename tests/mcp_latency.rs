//! Added latency per MCP tool call: the same filesystem server governed (server-wide guard →
//! real control plane over loopback HTTP, and → the in-process test double) vs ungoverned,
//! driven by the same rmcp client code in the same run, calls interleaved.
//!
//! `cargo test -p ascend-examples --test mcp_latency -- --ignored --nocapture`
//! (add `--release` for release numbers). Prints medians and p99; asserts nothing about speed.

mod mcp_common;

use std::time::{Duration, Instant};

use ascend_examples::mcp_fs::{GuardedFs, Sandbox};
use ascend_runtime::mcp::{McpGovernanceConfig, McpGovernor};
use ascend_runtime::testing::MockGovernance;
use mcp_common::Harness;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::{ServerHandler, ServiceExt};
use serde_json::json;

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

async fn one(client: &Client) -> Duration {
    let params = CallToolRequestParams::new("list_directory").with_arguments(
        json!({"path": "/project"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    let t = Instant::now();
    let r = client.call_tool(params).await.expect("call");
    let d = t.elapsed();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    d
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (p(0.5), p(0.99))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --ignored --nocapture"]
async fn added_latency_per_tool_call() {
    let h = Harness::start("mcp-latency").await;
    std::fs::create_dir_all(h.sandbox.join("project")).expect("seed");
    std::fs::write(h.sandbox.join("project/a.txt"), "a").expect("seed");
    let sandbox = || Sandbox::new(&h.sandbox).expect("sandbox");
    let plain = connect(GuardedFs::ungoverned(sandbox())).await;
    let real = connect(GuardedFs::governed(
        sandbox(),
        McpGovernor::new(h.client(), McpGovernanceConfig::new("filesystem")),
    ))
    .await;
    let mock = MockGovernance::allow_all();
    let double = connect(GuardedFs::governed(
        sandbox(),
        McpGovernor::new(mock.client(), McpGovernanceConfig::new("filesystem")),
    ))
    .await;

    let n: usize = std::env::var("MCP_LATENCY_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    for _ in 0..20 {
        one(&plain).await;
        one(&real).await;
        one(&double).await;
    }
    let (mut a, mut b, mut c) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for _ in 0..n {
        a.push(one(&plain).await);
        b.push(one(&real).await);
        c.push(one(&double).await);
    }
    let (pa, qa) = stats(a);
    let (pb, qb) = stats(b);
    let (pc, qc) = stats(c);
    println!("MCP list_directory over an in-memory duplex, {n} calls each, interleaved:");
    println!("  ungoverned                         median {pa:>10.1?}  p99 {qa:>10.1?}");
    println!(
        "  governed (control plane, loopback) median {pb:>10.1?}  p99 {qb:>10.1?}  added median {:.1?}",
        pb.saturating_sub(pa)
    );
    println!(
        "  governed (in-process test double)  median {pc:>10.1?}  p99 {qc:>10.1?}  added median {:.1?}",
        pc.saturating_sub(pa)
    );
    h.shutdown().await;
}
