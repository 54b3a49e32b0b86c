//! Endpoint tests over loopback HTTP against a real SQLite file.

mod common;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn health_and_auth() {
    let h = harness().await;
    let (s, v) = h.send(Method::GET, "/health", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "healthy");
    let (s, v) = h
        .send(Method::GET, "/api/deployment-info", None, None)
        .await;
    assert_eq!(s, 200);
    assert!(v["version"].is_string());

    // No key, bad key, malformed bearer → 401 JSON.
    let (s, v) = h
        .send(
            Method::POST,
            "/api/v1/actions/submit",
            None,
            Some(low_action("a")),
        )
        .await;
    assert_eq!(s, 401);
    assert!(v["detail"].is_string());
    let (s, _) = h.submit("ascend_nope_nope", low_action("a")).await;
    assert_eq!(s, 401);
    // Bearer works; X-API-Key wins when both differ.
    let r = h
        .http
        .post(h.url("/api/v1/actions/submit"))
        .header("authorization", format!("Bearer {}", h.agent))
        .json(&low_action("a"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = h
        .http
        .post(h.url("/api/v1/actions/submit"))
        .header("x-api-key", &h.agent)
        .header("authorization", "Bearer ascend_******")
        .json(&low_action("a"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn submit_decisions_have_every_field() {
    let h = harness().await;
    let (s, v) = h.submit(&h.agent, low_action("agent-1")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["decision"], "allowed");
    assert_eq!(v["status"], "approved");
    assert_eq!(v["id"], v["action_id"]);
    assert!(v["id"].as_i64().unwrap() > 0);
    assert_eq!(v["execution_allowed"], true);
    for k in [
        "risk_score",
        "risk_level",
        "cvss_score",
        "cvss_vector",
        "cvss_severity",
        "nist_risk",
        "mitre_techniques",
        "risk_factors",
        "reason",
        "policy_violations",
        "required_approvers",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert!(v.get("approval_request_id").is_none());

    let (s, p) = h.submit(&h.agent, pending_action("agent-1")).await;
    assert_eq!(s, 200);
    assert_eq!(p["decision"], "pending", "{p}");
    assert_eq!(p["status"], "pending_approval");
    assert_eq!(p["execution_allowed"], false);
    assert_eq!(p["approval_request_id"], p["id"].to_string());
    assert!(p["expires_at"].is_string());

    let (s, d) = h.submit(&h.agent, denied_action("agent-1")).await;
    assert_eq!(s, 200);
    assert_eq!(d["decision"], "denied", "{d}");
    assert_eq!(d["execution_allowed"], false);

    // Status mirrors the submit answer.
    let (s, st) = h
        .get(&format!("/api/v1/actions/{}/status", p["id"]), &h.agent)
        .await;
    assert_eq!(s, 200);
    assert_eq!(st["decision"], "pending");

    // boto3 wrapper variant without `resource`; client risk_score ignored.
    let (s, b) = h
        .submit(
            &h.agent,
            json!({"agent_id": "boto", "agent_name": "b", "action_type": "s3.list_objects",
                   "description": "list", "tool_name": "boto3", "parameters": {"Bucket": "x"},
                   "risk_score": 0}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["status"].is_string());
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn approve_deny_and_self_approval() {
    let h = harness().await;
    let (_, p) = h.submit(&h.agent, pending_action("agent-1")).await;
    let id = p["id"].as_i64().unwrap();
    // The agent role cannot approve.
    let (s, _) = h
        .post(
            &format!("/api/v1/actions/{id}/approve"),
            &h.agent,
            json!({}),
        )
        .await;
    assert_eq!(s, 403);
    // Approve by a reviewer.
    let (s, a) = h
        .post(
            &format!("/api/v1/actions/{id}/approve"),
            &h.reviewer,
            json!({"comment": "fine"}),
        )
        .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["decision"], "allowed");
    assert_eq!(a["status"], "approved");
    assert!(a["approved_by"].is_string());
    assert_eq!(a["comments"], "fine");
    // Deciding twice is a conflict.
    let (s, _) = h
        .post(
            &format!("/api/v1/actions/{id}/deny"),
            &h.reviewer,
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(s, 409);
    let (_, st) = h
        .get(&format!("/api/v1/actions/{id}/status"), &h.agent)
        .await;
    assert_eq!(st["decision"], "allowed");
    let (_, chk) = h.get(&format!("/api/sdk/approval/{id}"), &h.agent).await;
    assert_eq!(chk["status"], "approved");

    // A key that submitted an action can never approve it (even an admin key).
    let (_, p2) = h.submit(&h.admin, pending_action("agent-2")).await;
    let id2 = p2["id"].as_i64().unwrap();
    let (s, v) = h
        .post(
            &format!("/api/v1/actions/{id2}/approve"),
            &h.admin,
            json!({}),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    // Deny needs a reason.
    let (s, v) = h
        .post(
            &format!("/api/v1/actions/{id2}/deny"),
            &h.reviewer,
            json!({}),
        )
        .await;
    assert_eq!(s, 422);
    assert!(v["errors"]["reason"].is_string());
    let (s, d) = h
        .post(
            &format!("/api/v1/actions/{id2}/deny"),
            &h.reviewer,
            json!({"reason": "not now"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(d["decision"], "denied");
    // (A fleet agent key reads only its own submissions: the admin's action is read by the
    // reviewer.)
    let (s, _) = h.get(&format!("/api/sdk/approval/{id2}"), &h.agent).await;
    assert_eq!(s, 404);
    let (_, chk) = h
        .get(&format!("/api/sdk/approval/{id2}"), &h.reviewer)
        .await;
    assert_eq!(chk["status"], "denied");
    assert!(
        chk["rejection_reason"]
            .as_str()
            .unwrap()
            .contains("not now")
    );
    // Details use legacy status strings.
    let (_, det) = h.get(&format!("/api/v1/actions/{id2}"), &h.reviewer).await;
    assert_eq!(det["status"], "denied");
    assert!(det["audit_trail"].as_array().unwrap().len() == 1);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn expired_approvals_are_denied() {
    let h = harness_with(|c| {
        c.approval_ttl = Duration::from_millis(300);
        c.expiry_sweep = Duration::from_millis(100);
    })
    .await;
    let (_, p) = h.submit(&h.agent, pending_action("agent-1")).await;
    let id = p["id"].as_i64().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, st) = h
            .get(&format!("/api/v1/actions/{id}/status"), &h.agent)
            .await;
        if st["decision"] == "denied" {
            assert_eq!(st["reason"], "expired");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never expired: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, _) = h
        .post(
            &format!("/api/v1/actions/{id}/approve"),
            &h.reviewer,
            json!({}),
        )
        .await;
    assert_eq!(s, 409);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn idempotency_keys() {
    let h = harness().await;
    let send = |key: &'static str, hdr: &'static str, body: Value| {
        let req = h
            .http
            .post(h.url("/api/v1/actions/submit"))
            .header("x-api-key", &h.agent)
            .header(hdr, key)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s1, a) = send("k-1", "idempotency-key", pending_action("ag")).await;
    let (s2, b) = send("k-1", "idempotency-key", pending_action("ag")).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(a["id"], b["id"]);
    let (s3, c) = send("k-1", "idempotency-key", low_action("ag")).await;
    assert_eq!(s3, 409, "{c}");
    // Python SDK transport retries resend the same X-Correlation-ID.
    let (_, x) = send("asc_0123456789abcdef", "x-correlation-id", low_action("ag")).await;
    let (_, y) = send("asc_0123456789abcdef", "x-correlation-id", low_action("ag")).await;
    assert_eq!(x["id"], y["id"]);
    // Concurrent duplicates resolve to one action.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let req = h
            .http
            .post(h.url("/api/v1/actions/submit"))
            .header("x-api-key", &h.agent)
            .header("idempotency-key", "concurrent")
            .json(&low_action("ag"));
        tasks.push(tokio::spawn(async move {
            req.send().await.unwrap().json::<Value>().await.unwrap()["id"].clone()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    // Survives a restart.
    let dir = h.dir;
    h.server.shutdown().await.unwrap();
    let server = ascend_server::start(config(dir.path())).await.unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/actions/submit", server.base_url()))
        .header("x-api-key", &h.agent)
        .header("idempotency-key", "k-1")
        .json(&pending_action("ag"))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], a["id"]);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_gets_json_4xx() {
    let h = harness_with(|c| c.body_limit = 64 * 1024).await;
    let raw = |body: Vec<u8>| {
        h.http
            .post(h.url("/api/v1/actions/submit"))
            .header("x-api-key", &h.agent)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let check = |r: reqwest::Response, want: u16| async move {
        assert_eq!(r.status().as_u16(), want);
        let v: Value = r.json().await.expect("JSON error body");
        assert!(v["detail"].is_string(), "{v}");
        v
    };
    check(raw(b"{not json".to_vec()).await.unwrap(), 400).await;
    check(raw(b"[1,2,3]".to_vec()).await.unwrap(), 422).await;
    let v = check(
        raw(br#"{"action_type": 5, "resource": ["x"], "orchestration_depth": 9}"#.to_vec())
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(v["errors"]["action_type"].is_string());
    assert!(v["errors"]["resource"].is_string());
    assert!(v["errors"]["orchestration_depth"].is_string());
    let v = check(raw(b"{}".to_vec()).await.unwrap(), 422).await;
    assert!(v["errors"]["action_type"].is_string());
    let big = format!(
        r#"{{"action_type":"x","resource":"y","action_details":{{"blob":"{}"}}}}"#,
        "a".repeat(200 * 1024)
    );
    check(raw(big.into_bytes()).await.unwrap(), 413).await;
    // Odd Unicode is fine; control and bidi characters in identifiers are not.
    let (s, _) = h
        .submit(
            &h.agent,
            json!({"agent_id": "🤖", "agent_name": "ẞ", "action_type": "database.read",
                   "resource": "pröducts\u{fffd}", "action_details": {"q": "\u{1F600}\u{202e}"}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = h
        .submit(
            &h.agent,
            json!({"agent_id": "🤖\u{202e}\u{0}", "agent_name": "ẞ", "action_type": "database.read",
                   "resource": "products"}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["errors"]["agent_id"].is_string(), "{v}");
    // Unknown fields are tolerated.
    let mut body = low_action("x");
    body["something_new"] = json!({"nested": true});
    assert_eq!(h.submit(&h.agent, body).await.0, 200);
    // Path tricks and unknown routes.
    for path in [
        "/api/v1/actions/..%2F..%2Fetc/status",
        "/api/v1/actions/abc/status",
        "/api/v1/actions/-1/status",
        "/api/v1/actions/99999999999999999999999/status",
        "/api/nope",
    ] {
        let r = h
            .http
            .get(h.url(path))
            .header("x-api-key", &h.agent)
            .send()
            .await
            .unwrap();
        check(r, 404).await;
    }
    let r = h
        .http
        .delete(h.url("/api/v1/actions/submit"))
        .header("x-api-key", &h.agent)
        .send()
        .await
        .unwrap();
    check(r, 405).await;
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn organisations_are_isolated() {
    let h = harness().await;
    let other = h
        .server
        .create_api_key("other-org", ascend_server::Role::Admin, None)
        .await
        .unwrap();
    let (_, p) = h.submit(&h.agent, pending_action("a")).await;
    let id = p["id"].as_i64().unwrap();
    let (s, _) = h.get(&format!("/api/v1/actions/{id}/status"), &other).await;
    assert_eq!(s, 404);
    let (s, _) = h
        .post(&format!("/api/v1/actions/{id}/approve"), &other, json!({}))
        .await;
    assert_eq!(s, 404);
    let (_, list) = h.get("/api/agent-activity", &other).await;
    assert_eq!(list["total"], 0);
    // A kill switch in the other org does not halt this one.
    let (s, _) = h
        .post(
            "/api/v1/kill-switch/trigger",
            &other,
            json!({"reason": "their incident"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(h.submit(&h.agent, low_action("a")).await.0, 200);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn kill_switch_blocks_with_governance_403() {
    let h = harness().await;
    let (s, _) = h
        .post(
            "/api/v1/kill-switch/trigger",
            &h.reviewer,
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(s, 403, "reviewer may not flip the switch");
    // Per agent.
    let (s, v) = h
        .post(
            "/api/v1/kill-switch/trigger",
            &h.admin,
            json!({"reason": "agent misbehaves", "agent_id": "bad-agent"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = h.submit(&h.agent, low_action("bad-agent")).await;
    assert_eq!(s, 403);
    assert!(
        v["detail"]["error"]
            .as_str()
            .unwrap()
            .contains("governance")
    );
    assert!(
        v["detail"]["detail"]
            .as_str()
            .unwrap()
            .contains("agent misbehaves")
    );
    assert_eq!(h.submit(&h.agent, low_action("good-agent")).await.0, 200);
    let (_, st) = h
        .get("/api/sdk/kill-switch/status?agent_id=bad-agent", &h.agent)
        .await;
    assert_eq!(st["blocked"], true);
    // Organisation-wide, through the Python SDK's billing path.
    let (s, _) = h
        .post(
            "/api/billing/kill-switch/999/trigger",
            &h.admin,
            json!({"reason": "wrong org id"}),
        )
        .await;
    assert_eq!(s, 404);
    let org = h.server.org_id("default").await.unwrap();
    let (s, _) = h
        .post(
            &format!("/api/billing/kill-switch/{org}/trigger"),
            &h.admin,
            json!({"reason": "incident 42 in progress"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(h.submit(&h.agent, low_action("good-agent")).await.0, 403);
    let (_, st) = h.get("/api/sdk/kill-switch/status", &h.agent).await;
    assert_eq!(st["blocked"], true);
    assert_eq!(st["reason"], "incident 42 in progress");
    let (s, _) = h
        .post(
            &format!("/api/billing/kill-switch/{org}/release"),
            &h.admin,
            json!({"reason": "incident resolved now"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(h.submit(&h.agent, low_action("good-agent")).await.0, 200);
    let (_, st) = h.get("/api/sdk/kill-switch/status", &h.agent).await;
    assert_eq!(st["blocked"], false);
    // Recorded in the audit trail.
    let (_, audit) = h.get("/api/v1/audit?limit=1000", &h.reviewer).await;
    let kinds: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"kill_switch.triggered"));
    assert!(kinds.contains(&"kill_switch.released"));
    assert!(kinds.contains(&"action.blocked"));
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn outcomes_listing_registry_and_audit() {
    let h = harness().await;
    let (_, a) = h.submit(&h.agent, low_action("agent-x")).await;
    let id = a["id"].as_i64().unwrap();
    let (s, v) = h
        .post(
            &format!("/api/agent-action/{id}/complete"),
            &h.agent,
            json!({"action_id": id.to_string(), "status": "completed", "completed_at": "2026-01-01T00:00:00+00:00", "duration_ms": 12}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = h
        .post(
            &format!("/api/agent-action/{id}/fail"),
            &h.agent,
            json!({"error": "x"}),
        )
        .await;
    assert_eq!(s, 409, "an action is completed or failed once");
    let (_, d) = h.submit(&h.agent, denied_action("agent-x")).await;
    let (s, _) = h
        .post(
            &format!("/api/agent-action/{}/complete", d["id"]),
            &h.agent,
            json!({}),
        )
        .await;
    assert_eq!(s, 409, "a denied action cannot complete");
    let (_, b) = h.submit(&h.agent, low_action("agent-x")).await;
    let (s, _) = h
        .post(
            &format!("/api/agent-action/{}/fail", b["id"]),
            &h.agent,
            json!({"action_id": "x", "status": "failed", "error": {"type": "Boom"}}),
        )
        .await;
    assert_eq!(s, 200);

    let (s, list) = h
        .get(
            "/api/agent-activity?limit=2&offset=0&agent_id=agent-x",
            &h.agent,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["total"], 3);
    assert_eq!(list["actions"].as_array().unwrap().len(), 2);
    assert_eq!(list["has_more"], true);
    assert_eq!(
        list["actions"][0]["metadata"]["action_type"],
        "database.read"
    );
    let (_, list) = h.get("/api/v1/actions?status=denied", &h.reviewer).await;
    assert_eq!(list["total"], 1);
    let (s, _) = h.get("/api/v1/actions?status=bogus", &h.reviewer).await;
    assert_eq!(s, 422);

    let reg = json!({"agent_id": "agent-x", "display_name": "X", "agent_type": "supervised",
                     "environment": "production", "capabilities": [], "allowed_resources": [],
                     "sdk_version": "2.7.1", "metadata": {}});
    let (s, r) = h.post("/api/registry/agents", &h.agent, reg.clone()).await;
    assert_eq!(s, 201, "{r}");
    let (s, _) = h.post("/api/registry/agents", &h.agent, reg).await;
    assert_eq!(s, 200, "registering again is fine");

    let (_, audit) = h.get("/api/v1/audit?limit=1000", &h.reviewer).await;
    let kinds: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    for k in [
        "action.decided",
        "action.completed",
        "action.failed",
        "key.created",
        "agent.registered",
    ] {
        assert!(kinds.contains(&k), "missing {k} in {kinds:?}");
    }
    let (s, _) = h.get("/api/v1/audit", &h.agent).await;
    assert_eq!(s, 403, "agents cannot read the audit trail");
    let (_, ver) = h.get("/api/v1/audit/verify", &h.reviewer).await;
    assert_eq!(ver["ok"], true, "{ver}");
    assert!(ver["entries"].as_u64().unwrap() >= 8);
    let export = h
        .http
        .get(h.url("/api/v1/audit/export"))
        .header("x-api-key", &h.reviewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, ver["entries"].as_u64().unwrap());
    assert_eq!(lines[0]["seq"], 1);
    // Keys through the API, admin only.
    let (s, k) = h
        .post(
            "/api/v1/keys",
            &h.admin,
            json!({"role": "reviewer", "name": "alice"}),
        )
        .await;
    assert_eq!(s, 201);
    let alice = k["key"].as_str().unwrap().to_owned();
    assert_eq!(h.get("/api/v1/audit/verify", &alice).await.0, 200);
    assert_eq!(
        h.post("/api/v1/keys", &h.reviewer, json!({"role": "admin"}))
            .await
            .0,
        403
    );
    assert_eq!(
        h.post("/api/v1/keys", &h.admin, json!({"role": "emperor"}))
            .await
            .0,
        422
    );
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn ready_and_metrics() {
    let h = harness().await;
    let (s, v) = h.send(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "ready");
    h.submit(&h.agent, low_action("m")).await;
    h.submit(&h.agent, pending_action("m")).await;
    h.submit(&h.agent, denied_action("m")).await;
    // The operator only (metrics span organisations).
    let get = |key: String| {
        let h = &h;
        async move {
            let r = h
                .http
                .get(h.url("/metrics"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(get(h.reviewer.clone()).await.0, 403);
    let (s, text) = get(h.admin.clone()).await;
    assert_eq!(s, 200, "{text}");
    for line in [
        "ascend_decisions_total{outcome=\"allowed\"} 1",
        "ascend_decisions_total{outcome=\"pending\"} 1",
        "ascend_decisions_total{outcome=\"denied\"} 1",
        "ascend_decision_seconds_count 3",
        "ascend_pending_approvals 1",
        "ascend_kill_switches_active 0",
        "ascend_audit_entries{organization=\"default\"}",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    h.server.shutdown().await.unwrap();
}
