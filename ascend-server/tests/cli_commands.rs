//! The `ascend` command line against a running server.

mod common;

use std::process::{Command, Output};

use common::*;

async fn ascend(h: &Harness, key: &str, args: &[&str]) -> Output {
    let (url, key) = (h.server.base_url(), key.to_owned());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_ascend"))
            .args(&args)
            .env("ASCEND_API_URL", url)
            .env("ASCEND_API_KEY", key)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewer_commands() {
    let h = harness().await;
    let (_, low) = h.submit(&h.agent, low_action("cli-agent")).await;
    let (_, p1) = h.submit(&h.agent, pending_action("cli-agent")).await;
    let (_, p2) = h.submit(&h.agent, pending_action("cli-agent")).await;

    let o = ascend(&h, &h.reviewer, &["actions", "list", "--status", "pending"]).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let header = out.lines().next().unwrap();
    for col in ["ID", "TYPE", "RISK", "DECISION", "TIME"] {
        assert!(header.contains(col), "{out}");
    }
    assert!(out.contains(&p1["id"].to_string()) && out.contains("pending"));
    assert!(
        !out.lines()
            .any(|l| l.starts_with(&format!("{} ", low["id"])))
    );

    let o = ascend(&h, &h.reviewer, &["actions", "show", &p1["id"].to_string()]).await;
    assert!(o.status.success());
    assert!(text(&o).0.contains("\"audit_trail\""));

    let id1 = p1["id"].to_string();
    let o = ascend(
        &h,
        &h.reviewer,
        &["approve", &id1, "--comment", "ok by cli"],
    )
    .await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("approved"), "{out}");
    // Deciding again: one readable error line, non-zero exit.
    let o = ascend(&h, &h.reviewer, &["approve", &id1]).await;
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");

    let id2 = p2["id"].to_string();
    let o = ascend(&h, &h.reviewer, &["deny", &id2, "--reason", "not today"]).await;
    assert!(o.status.success(), "{}", text(&o).1);
    let (_, st) = h
        .get(&format!("/api/v1/actions/{id2}/status"), &h.agent)
        .await;
    assert_eq!(st["decision"], "denied");

    // Kill switch needs an admin key and a reason.
    let o = ascend(&h, &h.reviewer, &["kill-switch", "on", "--reason", "x"]).await;
    assert!(!o.status.success());
    let o = ascend(&h, &h.admin, &["kill-switch", "on"]).await;
    assert!(!o.status.success());
    let o = ascend(
        &h,
        &h.admin,
        &[
            "kill-switch",
            "on",
            "--agent",
            "cli-agent",
            "--reason",
            "incident",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(text(&o).0.contains("ON for agent cli-agent"));
    assert_eq!(h.submit(&h.agent, low_action("cli-agent")).await.0, 403);
    let o = ascend(
        &h,
        &h.admin,
        &[
            "kill-switch",
            "off",
            "--agent",
            "cli-agent",
            "--reason",
            "done",
        ],
    )
    .await;
    assert!(o.status.success());
    assert_eq!(h.submit(&h.agent, low_action("cli-agent")).await.0, 200);

    let o = ascend(
        &h,
        &h.admin,
        &["keys", "create", "--role", "reviewer", "--name", "bob"],
    )
    .await;
    assert!(o.status.success(), "{}", text(&o).1);
    let bob = text(&o).0.trim().to_owned();
    assert!(bob.starts_with("ascend_"));
    let o = ascend(&h, &bob, &["audit", "verify"]).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("OK ("), "{out}");

    // No key: one readable line.
    let o = Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(["actions", "list"])
        .env_remove("ASCEND_API_KEY")
        .env("ASCEND_API_URL", h.server.base_url())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).1.contains("ASCEND_API_KEY"));
    h.server.shutdown().await.unwrap();
}

#[test]
fn help_texts() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["actions", "list", "--help"],
        vec!["approve", "--help"],
        vec!["deny", "--help"],
        vec!["kill-switch", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["keys", "create", "--help"],
        vec!["policy", "check", "--help"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_ascend"))
            .args(&args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}
