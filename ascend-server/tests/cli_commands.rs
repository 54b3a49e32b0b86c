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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_and_organisation_commands() {
    let h = harness().await;
    // keys create: the key on stdout, once.
    let o = ascend(
        &h,
        &h.admin,
        &[
            "keys",
            "create",
            "--role",
            "reviewer",
            "--owner",
            "alice",
            "--expires-in-secs",
            "3600",
        ],
    )
    .await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let key = out.trim().to_owned();
    assert!(key.starts_with("ascend_"), "{out}");
    assert!(err.contains("owned by alice"), "{err}");
    let key_id = key.split('_').nth(1).unwrap().to_owned();
    // An agent key needs an agent (or --fleet).
    let o = ascend(&h, &h.admin, &["keys", "create", "--role", "agent"]).await;
    assert!(!o.status.success());
    assert!(text(&o).1.contains("agent_id"), "{}", text(&o).1);
    // keys list: owners, no secrets.
    let o = ascend(&h, &h.admin, &["keys", "list"]).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains(&key_id) && out.contains("alice") && !out.contains(&key),
        "{out}"
    );
    // rotate: a new key; the old one stops.
    let o = ascend(&h, &h.admin, &["keys", "rotate", &key_id]).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let rotated = out.trim().to_owned();
    let (s, _) = h.get("/api/v1/actions", &key).await;
    assert_eq!(s, 401);
    let (s, _) = h.get("/api/v1/actions", &rotated).await;
    assert_eq!(s, 200);
    // revoke.
    let rotated_id = rotated.split('_').nth(1).unwrap().to_owned();
    let o = ascend(
        &h,
        &h.admin,
        &["keys", "revoke", &rotated_id, "--reason", "left"],
    )
    .await;
    assert!(o.status.success(), "{}", text(&o).1);
    let (s, _) = h.get("/api/v1/actions", &rotated).await;
    assert_eq!(s, 401);
    // orgs: the operator only.
    let o = ascend(&h, &h.reviewer, &["orgs", "create", "acme"]).await;
    assert!(!o.status.success());
    let o = ascend(&h, &h.admin, &["orgs", "create", "acme"]).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let acme = out.trim().to_owned();
    let o = ascend(&h, &h.admin, &["orgs", "list"]).await;
    assert!(text(&o).0.contains("acme"));
    let o = ascend(
        &h,
        &h.admin,
        &[
            "keys", "create", "--role", "admin", "--org-id", &acme, "--owner", "ed",
        ],
    )
    .await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let (s, v) = h.get("/api/v1/keys", out.trim()).await;
    assert_eq!(s, 200);
    assert_eq!(v["total"], 1, "acme sees only its own key: {v}");
    h.server.shutdown().await.unwrap();
}

#[test]
fn serve_logs_json_lines_when_asked() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("a.db"))
        .env("ASCEND_LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut found = None;
    for _ in 0..20 {
        let Some(Ok(line)) = lines.next() else { break };
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        if v["message"] == "ascend server listening" {
            found = Some(v);
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let v = found.expect("the listening line was logged");
    assert_eq!(v["level"], "INFO");
    assert!(v["addr"].as_str().unwrap().starts_with("127.0.0.1:"), "{v}");
}
