//! Issue #15's findings, one test each: what a hostile agent key (or a careless admin) could do
//! against `ascend serve`, and what it now gets instead. Everything runs against a real server
//! on a loopback port with a real SQLite file.

mod common;

use common::{Harness, denied_action, harness, low_action, pending_action};
use serde_json::{Value, json};

/// A 50,000 USD external transfer: held for two stages (finance manager, then CFO).
fn transfer(agent: &str, action_type: &str) -> Value {
    json!({
        "agent_id": agent, "agent_name": "Payments Agent",
        "action_type": action_type, "resource": "payments",
        "action_details": {"amount": 50000, "currency": "USD", "to_account": "external"},
        "risk_indicators": {"amount_threshold": "exceeded", "external_transfer": true}
    })
}

async fn key(h: &Harness, by: &str, body: Value) -> (u16, Value) {
    h.post("/api/v1/keys", by, body).await
}

async fn new_key(h: &Harness, by: &str, body: Value) -> String {
    let (s, v) = key(h, by, body).await;
    assert_eq!(s, 201, "{v}");
    v["key"].as_str().unwrap().to_owned()
}

async fn approve(h: &Harness, by: &str, id: i64) -> (u16, Value) {
    h.post(
        &format!("/api/v1/actions/{id}/approve"),
        by,
        json!({"comment": "ok"}),
    )
    .await
}

async fn halt(h: &Harness, agent: Option<&str>, on: bool) {
    let path = if on {
        "/api/v1/kill-switch/trigger"
    } else {
        "/api/v1/kill-switch/release"
    };
    let (s, v) = h
        .post(
            path,
            &h.admin,
            json!({"reason": "incident", "agent_id": agent}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

async fn audit_text(h: &Harness) -> String {
    let (s, v) = h.get("/api/v1/audit?limit=10000", &h.reviewer).await;
    assert_eq!(s, 200);
    v.to_string()
}

#[tokio::test]
async fn agents_manage_only_their_own_webhooks_and_never_read_a_secret() {
    let h = harness().await;
    let a = new_key(
        &h,
        &h.admin,
        json!({"role": "agent", "agent_id": "agent-a"}),
    )
    .await;
    let b = new_key(
        &h,
        &h.admin,
        json!({"role": "agent", "agent_id": "agent-b"}),
    )
    .await;
    let (s, hook) = h
        .post(
            "/api/webhooks/configure",
            &a,
            json!({"url": "https://127.0.0.1:9/hook", "events": ["action.denied"]}),
        )
        .await;
    assert_eq!(s, 200, "{hook}");
    assert!(
        hook["secret"].as_str().unwrap().starts_with("whsec_"),
        "shown once: {hook}"
    );
    assert_eq!(
        hook["agent_id"], "agent-a",
        "an agent key's webhook is its agent's"
    );
    let id = hook["id"].as_i64().unwrap();
    // Agent b neither sees nor changes nor deletes it.
    let (_, listed) = h.get("/api/webhooks", &b).await;
    assert_eq!(listed["total"], 0, "{listed}");
    for (method, path, body) in [
        (
            reqwest::Method::PUT,
            format!("/api/webhooks/{id}"),
            Some(json!({"url": "https://127.0.0.1:8/x"})),
        ),
        (
            reqwest::Method::PUT,
            format!("/api/webhooks/{id}"),
            Some(json!({"active": false})),
        ),
        (reqwest::Method::DELETE, format!("/api/webhooks/{id}"), None),
        (
            reqwest::Method::POST,
            format!("/api/webhooks/{id}/test"),
            None,
        ),
    ] {
        let (s, v) = h.send(method, &path, Some(&b), body).await;
        assert_eq!(s, 404, "{path}: {v}");
    }
    // The fleet agent key (the Python SDK's) does not see it either; a reviewer does, without
    // the secret.
    let (_, listed) = h.get("/api/webhooks", &h.agent).await;
    assert_eq!(listed["total"], 0, "{listed}");
    let (_, listed) = h.get("/api/webhooks", &h.reviewer).await;
    assert_eq!(listed["total"], 1);
    assert!(listed["webhooks"][0]["secret"].is_null(), "{listed}");
    // Its owner may change it; every change is audited, never with the secret.
    let (s, _) = h
        .send(
            reqwest::Method::PUT,
            &format!("/api/webhooks/{id}"),
            Some(&a),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(s, 200);
    let audit = audit_text(&h).await;
    assert!(audit.contains("webhook.created") && audit.contains("webhook.updated"));
    assert!(!audit.contains(hook["secret"].as_str().unwrap()));
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn outcome_reports_and_registry_metadata_are_redacted_everywhere() {
    let h = harness().await;
    let (_, d) = h.submit(&h.agent, low_action("agent-r")).await;
    let id = d["id"].as_i64().unwrap();
    let secrets = [
        "hunter2-password",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "4111 1111 1111 1111",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlX2J5dGVz",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_1234567890abcdefghijklmnopqrstuvwxyzAB",
    ];
    let (s, v) = h
        .post(
            &format!("/api/agent-action/{id}/complete"),
            &h.agent,
            json!({"result": {"password": secrets[0], "note": format!("key {}", secrets[1]),
                              "rows": [{"card": secrets[2]}], "session": secrets[3]},
                   "duration_ms": 12}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = h
        .post(
            "/api/registry/agents",
            &h.agent,
            json!({"agent_id": "agent-r", "agent_type": "supervised",
                   "metadata": {"deploy_note": format!("uses {}", secrets[4]),
                                "github": secrets[5], "api_key": "plain"}}),
        )
        .await;
    assert!(s == 200 || s == 201, "{v}");
    let (_, details) = h.get(&format!("/api/v1/actions/{id}"), &h.reviewer).await;
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
    // The database file and its write-ahead log (where fresh pages live until a checkpoint).
    let mut stored = std::fs::read(h.server.db_path()).unwrap();
    let wal = h.server.db_path().with_extension("db-wal");
    stored.extend(std::fs::read(&wal).unwrap_or_default());
    assert!(
        stored.windows(7).any(|w| w == b"agent-r"),
        "the check reads real data"
    );
    for text in [details.to_string(), export, audit_text(&h).await] {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret:?} leaked: {text}");
        }
    }
    let stored = String::from_utf8_lossy(&stored);
    for secret in secrets {
        assert!(
            !stored.contains(secret),
            "{secret:?} stored in the database file"
        );
    }
    assert!(details.to_string().contains("[REDACTED"), "{details}");
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn organisations_and_key_lifecycle() {
    let h = harness().await;
    // The first key is the operator's; an org admin is not an operator.
    let org_admin = new_key(&h, &h.admin, json!({"role": "admin", "owner": "dora"})).await;
    let (s, _) = h
        .post("/api/v1/orgs", &org_admin, json!({"name": "acme"}))
        .await;
    assert_eq!(s, 403);
    let (s, org) = h
        .post("/api/v1/orgs", &h.admin, json!({"name": "acme"}))
        .await;
    assert_eq!(s, 201, "{org}");
    let acme = org["id"].as_i64().unwrap();
    assert_eq!(
        h.post("/api/v1/orgs", &h.admin, json!({"name": "acme"}))
            .await
            .0,
        409
    );
    let (_, orgs) = h.get("/api/v1/orgs", &h.admin).await;
    assert_eq!(orgs["total"], 2, "{orgs}");
    // The operator creates acme's first admin; an org admin cannot create keys elsewhere.
    let (s, _) = key(
        &h,
        &org_admin,
        json!({"role": "admin", "organization_id": acme}),
    )
    .await;
    assert_eq!(s, 403);
    let acme_admin = new_key(
        &h,
        &h.admin,
        json!({"role": "admin", "organization_id": acme, "owner": "ed"}),
    )
    .await;
    // Isolation: acme's admin sees none of default's keys, actions or audit.
    let (_, d) = h.submit(&h.agent, low_action("agent-x")).await;
    let id = d["id"].as_i64().unwrap();
    assert_eq!(
        h.get(&format!("/api/v1/actions/{id}"), &acme_admin).await.0,
        404
    );
    let (_, keys) = h.get("/api/v1/keys", &acme_admin).await;
    assert_eq!(keys["total"], 1, "only its own key: {keys}");
    // A key can't create a key above its own role, and agent keys need an agent.
    assert_eq!(
        key(&h, &org_admin, json!({"role": "operator"})).await.0,
        403
    );
    let (s, v) = key(&h, &h.admin, json!({"role": "agent"})).await;
    assert_eq!(s, 422, "{v}");
    // Listing: owners, no secrets, last use.
    let (_, keys) = h.get("/api/v1/keys", &h.admin).await;
    let text = keys.to_string();
    assert!(!text.contains(&h.agent) && !text.contains("key_hash"));
    let agent_id = h.agent.split('_').nth(1).unwrap().to_owned();
    let listed = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == agent_id.as_str())
        .unwrap();
    assert!(listed["last_used_at"].is_string(), "{listed}");
    // Revocation works at once, without a restart.
    let doomed = new_key(&h, &h.admin, json!({"role": "reviewer", "owner": "fay"})).await;
    assert_eq!(h.get("/api/v1/actions", &doomed).await.0, 200);
    let doomed_id = doomed.split('_').nth(1).unwrap().to_owned();
    let (s, v) = h
        .post(
            &format!("/api/v1/keys/{doomed_id}/revoke"),
            &h.admin,
            json!({"reason": "left"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(h.get("/api/v1/actions", &doomed).await.0, 401);
    // Rotation: the new key works, the old one stops.
    let old = new_key(&h, &h.admin, json!({"role": "reviewer", "owner": "gil"})).await;
    let old_id = old.split('_').nth(1).unwrap().to_owned();
    let (s, rotated) = h
        .post(
            &format!("/api/v1/keys/{old_id}/rotate"),
            &h.admin,
            json!({}),
        )
        .await;
    assert_eq!(s, 201, "{rotated}");
    assert_eq!(rotated["owner"], "gil");
    let new = rotated["key"].as_str().unwrap();
    assert_eq!(h.get("/api/v1/actions", &old).await.0, 401);
    assert_eq!(h.get("/api/v1/actions", new).await.0, 200);
    // Expiry.
    let brief = new_key(
        &h,
        &h.admin,
        json!({"role": "reviewer", "expires_in_secs": 1}),
    )
    .await;
    assert_eq!(h.get("/api/v1/actions", &brief).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(h.get("/api/v1/actions", &brief).await.0, 401);
    assert!(audit_text(&h).await.contains("key.revoked"));
    let (_, acme_audit) = h.get("/api/v1/audit", &acme_admin).await;
    assert!(
        acme_audit.to_string().contains("org.created"),
        "{acme_audit}"
    );
    // Revocation survives a restart.
    let cfg = common::config(h.dir.path());
    h.server.shutdown().await.unwrap();
    let again = ascend_server::start(cfg).await.unwrap();
    let resp = h
        .http
        .get(format!("{}/api/v1/actions", again.base_url()))
        .header("x-api-key", &doomed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    again.shutdown().await.unwrap();
}

#[tokio::test]
async fn separation_of_duties_is_by_person_not_by_key() {
    let h = harness().await;
    // Two keys of one person clear no two-stage transfer.
    let alice1 = new_key(&h, &h.admin, json!({"role": "reviewer", "name": "alice"})).await;
    let alice2 = new_key(&h, &h.admin, json!({"role": "reviewer", "name": "alice"})).await;
    let (_, d) = h
        .submit(&h.agent, transfer("payments-agent", "transaction"))
        .await;
    assert_eq!(d["decision"], "pending", "{d}");
    let id = d["id"].as_i64().unwrap();
    // (keys created by the admin count the admin as one of their people; the agent's key was
    // issued by the service, so the admin-made reviewers may decide.)
    assert_eq!(approve(&h, &alice1, id).await.0, 200);
    let (s, v) = approve(&h, &alice2, id).await;
    assert_eq!(s, 409, "{v}");
    assert!(v["detail"].to_string().contains("alice"), "{v}");
    let bob = new_key(&h, &h.admin, json!({"role": "reviewer", "owner": "bob"})).await;
    let (s, v) = approve(&h, &bob, id).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["decision"], "allowed", "{v}");
    // An admin whose own action is held cannot mint a reviewer and approve it.
    let (_, mine) = h.submit(&h.admin, pending_action("admin-agent")).await;
    let mine = mine["id"].as_i64().unwrap();
    let minted = new_key(&h, &h.admin, json!({"role": "reviewer", "owner": "puppet"})).await;
    let (s, v) = approve(&h, &minted, mine).await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["detail"].to_string().contains("separation of duties"),
        "{v}"
    );
    // A reviewer the service issued (another person) may.
    assert_eq!(approve(&h, &h.reviewer, mine).await.0, 200);
    // Every vote (with its person) replays from the audit trail.
    let (_, ver) = h.get("/api/v1/audit/verify", &h.reviewer).await;
    assert_eq!(ver["ok"], true, "{ver}");
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_halt_freezes_pending_actions() {
    let h = harness().await;
    let (_, d) = h.submit(&h.agent, pending_action("agent-h")).await;
    let id = d["id"].as_i64().unwrap();
    for scope in [None, Some("agent-h")] {
        halt(&h, scope, true).await;
        let (s, v) = approve(&h, &h.reviewer, id).await;
        assert_eq!(s, 409, "{v}");
        assert!(v["detail"].to_string().contains("halted"), "{v}");
        let (_, st) = h
            .get(&format!("/api/v1/actions/{id}/status"), &h.reviewer)
            .await;
        assert_eq!(st["status"], "pending_approval", "{st}");
        let (s, _) = h
            .post(
                &format!("/api/agent-action/{id}/complete"),
                &h.agent,
                json!({}),
            )
            .await;
        assert_eq!(s, 409, "a pending action cannot be completed");
        halt(&h, scope, false).await;
    }
    assert_eq!(approve(&h, &h.reviewer, id).await.0, 200);
    let (_, ver) = h.get("/api/v1/audit/verify", &h.reviewer).await;
    assert_eq!(ver["ok"], true, "{ver}");
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn look_alike_identifiers_get_the_canonical_decision() {
    let h = harness().await;
    // (Two agents, so both are first seen: novelty is part of the score.)
    let (_, canonical) = h.submit(&h.agent, transfer("pay-1", "transaction")).await;
    let (_, zwsp) = h
        .submit(&h.agent, transfer("pay-2", "t\u{200b}ransaction"))
        .await;
    assert_eq!(canonical["decision"], "pending", "{canonical}");
    assert_eq!(zwsp["decision"], canonical["decision"], "{zwsp}");
    assert_eq!(zwsp["risk_score"], canonical["risk_score"]);
    let delete = |action_type: &str| {
        json!({"agent_id": "files", "action_type": action_type, "resource": "/etc/passwd",
               "action_details": {"path": "/etc/passwd"}})
    };
    let (_, plain) = h.submit(&h.agent, delete("file.delete")).await;
    let (_, wide) = h.submit(&h.agent, delete("ｆｉｌｅ．ｄｅｌｅｔｅ")).await;
    assert_ne!(plain["decision"], "allowed", "{plain}");
    assert_eq!(wide["decision"], plain["decision"], "{wide}");
    // An agent kill switch is not bypassed by case or invisible characters.
    halt(&h, Some("agent-k"), true).await;
    for spelling in ["agent-k", "Agent-K", "agent-k\u{200b}", "ＡＧＥＮＴ-K"] {
        let (s, v) = h.submit(&h.agent, low_action(spelling)).await;
        assert_eq!(s, 403, "{spelling:?}: {v}");
    }
    // Control and bidi characters are refused.
    for bad in ["agent\u{202e}k", "agent\u{0007}k"] {
        let (s, v) = h.submit(&h.agent, low_action(bad)).await;
        assert_eq!(s, 422, "{bad:?}: {v}");
    }
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn agent_keys_stay_in_their_lane() {
    let h = harness().await;
    let other_fleet = new_key(&h, &h.admin, json!({"role": "agent", "fleet": true})).await;
    let (_, mine) = h.submit(&h.agent, low_action("agent-a")).await;
    let mine = mine["id"].as_i64().unwrap();
    // Another fleet key neither reads nor reports the action.
    assert_eq!(
        h.get(&format!("/api/v1/actions/{mine}"), &other_fleet)
            .await
            .0,
        404
    );
    let (_, listed) = h.get("/api/v1/actions", &other_fleet).await;
    assert_eq!(listed["total"], 0, "{listed}");
    let (s, _) = h
        .post(
            &format!("/api/agent-action/{mine}/fail"),
            &other_fleet,
            json!({"error": "x"}),
        )
        .await;
    assert_eq!(s, 404);
    // A bound key submits only as its agent.
    let bound = new_key(
        &h,
        &h.admin,
        json!({"role": "agent", "agent_id": "agent-b"}),
    )
    .await;
    assert_eq!(h.submit(&bound, low_action("agent-a")).await.0, 403);
    // A reviewer bound to agent-a decides only agent-a's actions.
    let (_, pa) = h.submit(&h.agent, pending_action("agent-a")).await;
    let (_, pb) = h.submit(&h.agent, pending_action("agent-b")).await;
    let rev_a = new_key(
        &h,
        &h.admin,
        json!({"role": "reviewer", "agent_id": "agent-a"}),
    )
    .await;
    assert_eq!(approve(&h, &rev_a, pb["id"].as_i64().unwrap()).await.0, 404);
    assert_eq!(approve(&h, &rev_a, pa["id"].as_i64().unwrap()).await.0, 200);
    // The submitting fleet key still reads and reports its own.
    assert_eq!(
        h.get(&format!("/api/v1/actions/{mine}"), &h.agent).await.0,
        200
    );
    let (s, _) = h
        .post(
            &format!("/api/agent-action/{mine}/complete"),
            &h.agent,
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let _ = denied_action;
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn numbers_from_clients_are_checked() {
    let h = harness().await;
    let (s, v) = h
        .get(
            "/api/v1/audit?offset=18446744073709551615&limit=1",
            &h.reviewer,
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, _) = h
        .get(
            "/api/v1/audit?offset=9223372036854775807&limit=10000",
            &h.reviewer,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = h
        .get("/api/v1/actions?offset=99999999999999999999", &h.reviewer)
        .await;
    assert_eq!(s, 422);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_fleet_keys_webhook_hears_only_its_own_actions() {
    use std::sync::{Arc, Mutex};
    let h = harness().await;
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    sink.lock().unwrap().push(v);
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (s, v) = h
        .post(
            "/api/webhooks/configure",
            &h.agent,
            json!({"url": format!("https://{addr}/hook"), "events": ["action.denied"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (s, _) = h
        .send(
            reqwest::Method::PUT,
            &format!("/api/webhooks/{id}"),
            Some(&h.agent),
            Some(json!({"url": format!("http://{addr}/hook")})),
        )
        .await;
    assert_eq!(s, 200);
    let other = new_key(&h, &h.admin, json!({"role": "agent", "fleet": true})).await;
    let (_, theirs) = h.submit(&other, denied_action("their-agent")).await;
    let (_, mine) = h.submit(&h.agent, denied_action("my-agent")).await;
    assert_eq!(mine["decision"], "denied");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while got.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Give a stray delivery of the other key's denial time to arrive too.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events = got.lock().unwrap().clone();
    let ids: Vec<&Value> = events.iter().map(|e| &e["data"]["action_id"]).collect();
    assert_eq!(ids, vec![&mine["id"]], "only its own action: {events:?}");
    assert_ne!(theirs["id"], mine["id"]);
    h.server.shutdown().await.unwrap();
}
