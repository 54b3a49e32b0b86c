//! The other API operations over real HTTP: list, register, connection test, approvals,
//! kill-switch status, MCP evaluation, webhooks, outcome logging.

mod common;

use std::time::Duration;

use ascend_runtime::operations::{AgentRegistration, ListActionsQuery, McpAction, WebhookUpdate};
use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Error, FailMode};
use common::{Reply, Server};
use serde_json::json;

#[tokio::test]
async fn list_actions_pages() {
    let server = Server::start().await;
    let client = server.client().build().unwrap();
    server.script(
        "GET /api/agent-activity",
        [
            Reply::ok(json!({"actions": [{"action_id": 1}, {"action_id": 2}], "total": 5})),
            Reply::ok(json!({"actions": [{"action_id": 5}], "total": 5, "has_more": false})),
        ],
    );
    let page = client
        .list_actions(ListActionsQuery {
            limit: 2,
            offset: 0,
            status: Some("approved".into()),
        })
        .await
        .unwrap();
    assert_eq!(
        (page.actions.len(), page.total, page.has_more),
        (2, 5, true)
    );
    let q = server.seen_on("GET /api/agent-activity")[0]
        .query
        .clone()
        .unwrap();
    assert!(
        q.contains("limit=2") && q.contains("status=approved") && q.contains("agent_id=agent-1"),
        "{q}"
    );
    let page = client
        .list_actions(ListActionsQuery {
            limit: 2,
            offset: 4,
            status: None,
        })
        .await
        .unwrap();
    assert!(!page.has_more);
}

#[tokio::test]
async fn register_is_idempotent() {
    let server = Server::start().await;
    let client = server.client().build().unwrap();
    server.script(
        "POST /api/registry/agents",
        [
            Reply::Json(201, json!({"agent_id": "agent-1", "trust_level": "new"})),
            Reply::Json(400, json!({"detail": "Agent agent-1 already exists"})),
            Reply::Json(409, json!({"detail": "duplicate"})),
        ],
    );
    let r = client.register(AgentRegistration::default()).await.unwrap();
    assert!(!r.already_registered);
    let body = server.seen_on("POST /api/registry/agents")[0].json();
    assert_eq!(body["agent_id"], "agent-1");
    assert_eq!(body["display_name"], "Agent One");
    assert_eq!(body["agent_type"], "supervised");
    assert!(
        client
            .register(AgentRegistration::default())
            .await
            .unwrap()
            .already_registered
    );
    assert!(
        client
            .register(AgentRegistration::default())
            .await
            .unwrap()
            .already_registered
    );
}

#[tokio::test]
async fn test_connection_reports_instead_of_failing() {
    let server = Server::start().await;
    let client = server.client().max_retries(0).build().unwrap();
    server.default("GET /health", Reply::ok(json!({"status": "healthy"})));
    server.default(
        "GET /api/deployment-info",
        Reply::ok(json!({"version": "1.2.3", "environment": "test"})),
    );
    let s = client.test_connection().await;
    assert!(s.connected);
    assert_eq!(s.api_version.as_deref(), Some("1.2.3"));
    assert!(s.latency.is_some());
    server.default("GET /health", Reply::status(401));
    let s = client.test_connection().await;
    assert!(!s.connected && s.error.is_some());
}

#[tokio::test]
async fn approvals_and_kill_switch_status() {
    let server = Server::start().await;
    let client = server.client().build().unwrap();
    server.script(
        "GET /api/sdk/approval/77",
        [
            Reply::ok(json!({"status": "approved", "approved_by": "ann", "decided_at": "t"})),
            Reply::ok(
                json!({"status": "rejected", "rejected_by": "bob", "rejection_reason": "no"}),
            ),
        ],
    );
    let a = client.check_approval("77").await.unwrap();
    assert!(a.approved && !a.denied && a.approver.as_deref() == Some("ann"));
    let a = client.check_approval("77").await.unwrap();
    assert!(a.denied && a.comments.as_deref() == Some("no"));

    server.script(
        "GET /api/sdk/kill-switch/status",
        [Reply::ok(json!({"blocked": true, "reason": "maintenance"}))],
    );
    let k = client.kill_switch_status().await.unwrap();
    assert!(k.blocked && client.is_blocked());
    // A 403 governance body is an error, and never clears the block.
    server.script(
        "GET /api/sdk/kill-switch/status",
        [Reply::Json(
            403,
            json!({"detail": {"error": "governance violation"}}),
        )],
    );
    assert!(client.kill_switch_status().await.is_err());
    assert!(client.is_blocked());
    client.kill_switch_status().await.unwrap();
    assert!(!client.is_blocked());
}

#[tokio::test]
async fn mcp_evaluation() {
    let server = Server::start().await;
    let client = server.client().max_retries(0).build().unwrap();
    let route = "POST /api/v1/mcp/actions/submit";
    server.script(
        route,
        [
            Reply::ok(json!({"action_id": 4, "status": "approved", "success": true, "requires_approval": false, "risk_score": 15})),
            Reply::ok(json!({"action_id": 5, "status": "denied", "success": false, "reason": "blocked tool"})),
        ],
    );
    let action = McpAction {
        mcp_server: "fs".into(),
        namespace: "filesystem".into(),
        verb: "write_file".into(),
        resource: "/tmp/x".into(),
        ..McpAction::default()
    };
    let d = client.evaluate_mcp_action(action.clone()).await.unwrap();
    assert!(d.is_allowed() && d.execution_allowed);
    let body = server.seen_on(route)[0].json();
    assert_eq!(body["action_type"], "filesystem.write_file");
    assert_eq!(body["environment"], "production");
    assert_eq!(body["parameters"], json!({}));
    assert!(body.get("tool_name").is_some());
    let d = client.evaluate_mcp_action(action.clone()).await.unwrap();
    assert!(d.is_denied());
    client.trigger_kill_switch("stop");
    assert!(matches!(
        client.evaluate_mcp_action(action.clone()).await,
        Err(Error::KillSwitch { .. })
    ));
    client.release_kill_switch();

    let open = server
        .client()
        .max_retries(0)
        .fail_mode(FailMode::Open)
        .build()
        .unwrap();
    server.script(route, [Reply::status(503)]);
    let d = open.evaluate_mcp_action(action).await.unwrap();
    assert_eq!(d.conditions, vec!["fail_open_mode".to_owned()]);
    assert_eq!(open.pending_fail_open_records(), 1);
}

#[tokio::test]
async fn webhooks_crud() {
    let server = Server::start().await;
    let client = server.client().build().unwrap();
    server.default(
        "POST /api/webhooks/configure",
        Reply::ok(json!({"webhook_id": "w1"})),
    );
    server.default(
        "GET /api/webhooks",
        Reply::ok(json!({"webhooks": [{"id": 7, "url": "https://h.example/x", "events": ["action.denied"]}]})),
    );
    server.default(
        "PUT /api/webhooks/w1",
        Reply::ok(json!({"webhook_id": "w1", "url": "https://h.example/y", "events": [], "active": false})),
    );
    server.default("DELETE /api/webhooks/w1", Reply::Raw(204, vec![], vec![]));
    server.default(
        "POST /api/webhooks/w1/test",
        Reply::ok(json!({"success": true, "status_code": 200, "response_time_ms": 12.5})),
    );
    let events = vec!["action.denied".to_owned()];
    client
        .configure_webhook("https://h.example/x", &events, Some("whsec_1"))
        .await
        .unwrap();
    let body = server.seen_on("POST /api/webhooks/configure")[0].json();
    assert_eq!(
        body,
        json!({"url": "https://h.example/x", "events": ["action.denied"], "agent_id": "agent-1", "secret": "whsec_1"})
    );
    assert!(matches!(
        client
            .configure_webhook("http://h.example/x", &events, None)
            .await,
        Err(Error::Validation { .. })
    ));
    assert!(matches!(
        client
            .configure_webhook("https://h.example/x", &["nope".to_owned()], None)
            .await,
        Err(Error::Validation { .. })
    ));
    let list = client.list_webhooks().await.unwrap();
    assert_eq!(list[0].webhook_id, "7");
    assert!(list[0].active);
    let w = client
        .update_webhook(
            "w1",
            WebhookUpdate {
                url: Some("https://h.example/y".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!w.active);
    assert_eq!(
        server.seen_on("PUT /api/webhooks/w1")[0].json(),
        json!({"url": "https://h.example/y"})
    );
    client.delete_webhook("w1").await.unwrap();
    let t = client.test_webhook("w1").await.unwrap();
    assert!(t.success && t.status_code == Some(200));
}

#[tokio::test]
async fn outcome_logging_now() {
    let server = Server::start().await;
    let client = server.client().build().unwrap();
    server.default(
        "POST /api/agent-action/3/complete",
        Reply::ok(json!({"ok": true})),
    );
    server.default(
        "POST /api/agent-action/3/fail",
        Reply::ok(json!({"ok": true})),
    );
    client
        .log_action_completed(
            "3",
            Some(json!({"rows": 2})),
            Some(Duration::from_millis(0)),
        )
        .await
        .unwrap();
    client.log_action_failed("3", "boom", None).await.unwrap();
    let c = server.seen_on("POST /api/agent-action/3/complete")[0].json();
    assert_eq!(
        (c["result"]["rows"].clone(), c["duration_ms"].clone()),
        (json!(2), json!(0))
    );
    let f = server.seen_on("POST /api/agent-action/3/fail")[0].json();
    assert_eq!(f["error"], "boom");
    assert!(f.get("duration_ms").is_none());
}

#[tokio::test]
async fn http_only_operations_refuse_other_backends() {
    let client = MockGovernance::allow_all().client();
    assert!(matches!(
        client.list_webhooks().await,
        Err(Error::Configuration(_))
    ));
}
