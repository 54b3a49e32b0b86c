//! The MCP registry (#27–#30) over loopback HTTP with a real SQLite file: the Python SDK's
//! response shapes, roles, validation, organisation scoping, persistence, the audit entries of
//! every change, and what the registry does to MCP calls on both submit endpoints.

mod common;

use ascend_server::{Role, start};
use common::{Harness, config, harness};
use reqwest::Method;
use serde_json::{Value, json};

const SERVERS: &str = "/api/registry/mcp-servers";

/// A generic submit (#1) of an MCP tool call, shaped like our runtime's MCP guard sends it.
fn mcp_call(server: &str, tool: &str, args: Value) -> Value {
    let mut details = args.as_object().cloned().unwrap_or_default();
    details.insert("tool_name".into(), json!(tool));
    let resource = details
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or(server)
        .to_owned();
    json!({
        "agent_id": "mcp-agent", "agent_name": "MCP agent",
        "action_type": format!("mcp.{tool}"), "resource": resource,
        "action_details": details,
        "context": {"source": "mcp_server", "mcp_server": server, "mcp_tool": tool},
        "risk_indicators": {"mcp_server": server, "mcp_tool": tool},
        "mcp_server_name": server,
    })
}

fn governance_code(body: &Value) -> String {
    body["detail"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn delete(h: &Harness, path: &str, key: &str) -> (u16, Value) {
    h.send(Method::DELETE, path, Some(key), None).await
}

async fn audit_text(h: &Harness) -> String {
    let (s, body) = h.get("/api/v1/audit?limit=10000", &h.reviewer).await;
    assert_eq!(s, 200, "{body}");
    body.to_string()
}

#[tokio::test]
async fn register_list_get_update_delete() {
    let h = harness().await;
    let (s, body) = h
        .post(
            SERVERS,
            &h.admin,
            json!({
                "server_name": "filesystem", "display_name": "Files", "description": "sandbox",
                "transport_type": "stdio", "governance_enabled": true,
                "connection_config": {"command": "fs-server", "env": {"GITHUB_TOKEN": "ghp_secret"}},
                "auto_approve_tools": ["list_directory"], "blocked_tools": ["delete_file"],
                "tool_risk_overrides": {"write_file": 60}
            }),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["success"], true);
    assert!(body["message"].as_str().unwrap().contains("registered"));
    let server = &body["server"];
    assert_eq!(server["server_name"], "filesystem");
    assert_eq!(server["display_name"], "Files");
    assert_eq!(server["transport_type"], "stdio");
    assert_eq!(server["governance_enabled"], true);
    assert_eq!(server["is_active"], true);
    assert_eq!(server["status"], "active");
    assert_eq!(server["auto_approve_tools"], json!(["list_directory"]));
    assert_eq!(server["blocked_tools"], json!(["delete_file"]));
    assert_eq!(server["tool_risk_overrides"], json!({"write_file": 60.0}));
    assert_eq!(
        server["connection_config"],
        json!({"command": "fs-server", "env": {"GITHUB_TOKEN": "[REDACTED]"}}),
        "secrets in connection_config are not kept"
    );
    let id = server["id"].as_i64().unwrap();
    assert!(id > 0);

    // Defaults: transport stdio, governance on.
    let (s, body) = h
        .post(SERVERS, &h.admin, json!({"server_name": "github"}))
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["server"]["transport_type"], "stdio");
    assert_eq!(body["server"]["governance_enabled"], true);

    // Registering again updates (200), keeps the id.
    let (s, body) = h
        .post(
            SERVERS,
            &h.admin,
            json!({"server_name": "filesystem", "transport_type": "http", "blocked_tools": []}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["message"].as_str().unwrap().contains("updated"));
    assert_eq!(body["server"]["id"], id);
    assert_eq!(body["server"]["transport_type"], "http");
    assert_eq!(body["server"]["blocked_tools"], json!([]));

    // Any key of the organisation reads.
    let (s, list) = h.get(SERVERS, &h.agent).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["total"], 2);
    let names: Vec<_> = list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["server_name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["filesystem", "github"]);
    let (s, one) = h.get(&format!("{SERVERS}/filesystem"), &h.reviewer).await;
    assert_eq!(s, 200, "{one}");
    assert_eq!(one["server"]["id"], id);
    let (s, _) = h.get(&format!("{SERVERS}/nope"), &h.agent).await;
    assert_eq!(s, 404);

    // Delete: 200 with a JSON body, then 404.
    let (s, body) = delete(&h, &format!("{SERVERS}/github"), &h.admin).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["success"], true);
    let (s, _) = delete(&h, &format!("{SERVERS}/github"), &h.admin).await;
    assert_eq!(s, 404);
    let (_, list) = h.get(SERVERS, &h.agent).await;
    assert_eq!(list["total"], 1);

    // Every change is in the hash-chained audit trail, and the chain verifies.
    let audit = audit_text(&h).await;
    for kind in [
        "mcp_server.registered",
        "mcp_server.updated",
        "mcp_server.deleted",
    ] {
        assert!(audit.contains(kind), "{kind} missing");
    }
    assert!(!audit.contains("ghp_secret"));
    let (_, v) = h.get("/api/v1/audit/verify", &h.reviewer).await;
    assert_eq!(v["ok"], true, "{v}");
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn changes_need_admin_and_valid_input() {
    let h = harness().await;
    for key in [&h.agent, &h.reviewer] {
        let (s, body) = h
            .post(SERVERS, key, json!({"server_name": "filesystem"}))
            .await;
        assert_eq!(s, 403, "{body}");
    }
    let (s, _) = h
        .post(SERVERS, &h.admin, json!({"server_name": "filesystem"}))
        .await;
    assert_eq!(s, 201);
    for path in ["activate", "deactivate"] {
        let (s, _) = h
            .post(&format!("{SERVERS}/filesystem/{path}"), &h.agent, json!({}))
            .await;
        assert_eq!(s, 403, "{path}");
    }
    let (s, _) = delete(&h, &format!("{SERVERS}/filesystem"), &h.reviewer).await;
    assert_eq!(s, 403);
    let (s, _) = h
        .post(
            &format!("{SERVERS}/unknown/deactivate"),
            &h.admin,
            json!({}),
        )
        .await;
    assert_eq!(s, 404);

    for (bad, field) in [
        (json!({}), "server_name"),
        (json!({"server_name": "  "}), "server_name"),
        (json!({"server_name": 5}), "server_name"),
        (json!({"server_name": "x\u{7}y"}), "server_name"),
        (
            json!({"server_name": "a", "blocked_tools": "delete_file"}),
            "blocked_tools",
        ),
        (
            json!({"server_name": "a", "auto_approve_tools": [1]}),
            "auto_approve_tools",
        ),
        (
            json!({"server_name": "a", "tool_risk_overrides": {"write_file": 101}}),
            "tool_risk_overrides",
        ),
        (
            json!({"server_name": "a", "tool_risk_overrides": {"write_file": "high"}}),
            "tool_risk_overrides",
        ),
        (
            json!({"server_name": "a", "governance_enabled": "maybe"}),
            "governance_enabled",
        ),
        (
            json!({"server_name": "a", "connection_config": []}),
            "connection_config",
        ),
    ] {
        let (s, body) = h.post(SERVERS, &h.admin, bad.clone()).await;
        assert_eq!(s, 422, "{bad} -> {body}");
        assert!(body["errors"].get(field).is_some(), "{bad} -> {body}");
        assert!(body["detail"].is_string());
    }
    // Not JSON at all.
    let r = h
        .http
        .post(h.url(SERVERS))
        .header("x-api-key", &h.admin)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn registry_rules_apply_to_mcp_calls() {
    let h = harness().await;
    let list = |server: &str| mcp_call(server, "list_directory", json!({"path": "/project"}));

    // No server registered: the registry is not in use, MCP calls go to normal policy.
    let (s, body) = h.submit(&h.agent, list("anything")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["decision"], "allowed", "{body}");
    assert_eq!(
        body["metadata"]["mcp_governance"]["registry_checked"], false,
        "{body}"
    );

    let (s, _) = h
        .post(
            SERVERS,
            &h.admin,
            json!({"server_name": "filesystem", "blocked_tools": ["delete_file"],
                   "tool_risk_overrides": {"read_file": 95}}),
        )
        .await;
    assert_eq!(s, 201);

    // Registered + active: allowed, and the answer says the registry was checked.
    let (s, body) = h.submit(&h.agent, list("filesystem")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["decision"], "allowed", "{body}");
    let gov = &body["metadata"]["mcp_governance"];
    assert_eq!(gov["registry_checked"], true, "{body}");
    assert_eq!(gov["server_registered"], true, "{body}");

    // Unregistered server: 403 governance body naming the server.
    let (s, body) = h.submit(&h.agent, list("shadow-server")).await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(
        governance_code(&body),
        "governance_violation: MCP_SERVER_UNREGISTERED_DENY"
    );
    assert_eq!(body["detail"]["mcp_server_name"], "shadow-server");
    assert!(
        body["detail"]["detail"]
            .as_str()
            .unwrap()
            .contains("not registered")
    );

    // Blocked tool: 403, on the generic endpoint and on the MCP endpoint (#16).
    let (s, body) = h
        .submit(
            &h.agent,
            mcp_call("filesystem", "delete_file", json!({"path": "/tmp/x"})),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(
        governance_code(&body),
        "governance_violation: MCP_TOOL_BLOCKED_DENY"
    );
    let (s, body) = h
        .post(
            "/api/v1/mcp/actions/submit",
            &h.agent,
            json!({"mcp_server": "filesystem", "namespace": "fs", "verb": "delete_file",
                   "resource": "/tmp/x", "action_type": null, "description": null,
                   "parameters": {}, "context": {}, "environment": "production",
                   "tool_name": "delete_file"}),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(
        governance_code(&body),
        "governance_violation: MCP_TOOL_BLOCKED_DENY"
    );

    // Risk override: the score is at least the configured value.
    let (s, body) = h
        .submit(
            &h.agent,
            mcp_call("filesystem", "read_file", json!({"path": "/project/a.txt"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(
        body["risk_score"].as_f64().unwrap() >= 95.0,
        "override ignored: {body}"
    );

    // Deactivate (the kill switch of one MCP server): every tool refused, with the reason.
    let (s, body) = h
        .post(
            &format!("{SERVERS}/filesystem/deactivate"),
            &h.admin,
            json!({"reason": "suspicious traffic"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["server"]["is_active"], false);
    assert_eq!(body["server"]["deactivation_reason"], "suspicious traffic");
    let (s, body) = h.submit(&h.agent, list("filesystem")).await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(
        governance_code(&body),
        "governance_violation: MCP_SERVER_DEACTIVATED_DENY"
    );
    assert!(
        body["detail"]["detail"]
            .as_str()
            .unwrap()
            .contains("suspicious traffic")
    );
    let (s, body) = h
        .post(
            "/api/v1/mcp/actions/submit",
            &h.agent,
            json!({"mcp_server": "filesystem", "namespace": "fs", "verb": "list_directory",
                   "resource": "/", "parameters": {}, "context": {}, "tool_name": null}),
        )
        .await;
    assert_eq!(s, 403, "{body}");

    // Deactivate without a body works too; activate (no body) lets calls through again.
    let (s, _) = h
        .send(
            Method::POST,
            &format!("{SERVERS}/filesystem/deactivate"),
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, body) = h
        .send(
            Method::POST,
            &format!("{SERVERS}/filesystem/activate"),
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["server"]["is_active"], true);
    assert_eq!(body["server"]["deactivation_reason"], Value::Null);
    let (s, body) = h.submit(&h.agent, list("filesystem")).await;
    assert_eq!(s, 200, "{body}");

    // Calls without an MCP server name are not affected by the registry.
    let (s, _) = h.submit(&h.agent, common::low_action("plain")).await;
    assert_eq!(s, 200);

    // Deleting the last server turns the registry off again.
    let (s, _) = delete(&h, &format!("{SERVERS}/filesystem"), &h.admin).await;
    assert_eq!(s, 200);
    let (s, _) = h.submit(&h.agent, list("shadow-server")).await;
    assert_eq!(s, 200);

    // The refusals and the (de)activations are audit entries.
    let audit = audit_text(&h).await;
    for needle in [
        "MCP_SERVER_UNREGISTERED_DENY",
        "MCP_TOOL_BLOCKED_DENY",
        "MCP_SERVER_DEACTIVATED_DENY",
        "mcp_server.deactivated",
        "mcp_server.activated",
        "suspicious traffic",
    ] {
        assert!(audit.contains(needle), "{needle} missing from the audit");
    }
    h.server.shutdown().await.unwrap();
}

/// Policies: the default risk bands, plus a rule that sends every MCP `write_file` call to a
/// human (so an approval is needed at low and medium risk too).
fn policies_needing_approval_for_writes() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bands = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/90-risk-bands.cedar"
    ))
    .unwrap();
    std::fs::write(dir.path().join("90-risk-bands.cedar"), bands).unwrap();
    std::fs::write(
        dir.path().join("30-mcp-writes.cedar"),
        r#"@id("mcp-write-approval")
@name("MCP Writes Need Approval")
@reason("every MCP write needs approval")
@approval("platform_admin")
forbid (principal, action, resource)
when { context.mcp && context.mcp_tool == "write_file" };
"#,
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn auto_approve_skips_approval_below_high_risk_only() {
    let policies = policies_needing_approval_for_writes();
    let h = common::harness_with(|c| c.policies_dir = Some(policies.path().to_owned())).await;
    let write = mcp_call(
        "filesystem",
        "write_file",
        json!({"path": "/project/notes.txt", "content": "x"}),
    );
    let (s, before) = h.submit(&h.agent, write.clone()).await;
    assert_eq!(s, 200, "{before}");
    assert_eq!(before["decision"], "pending", "{before}");
    assert!(
        matches!(before["risk_level"].as_str(), Some("low" | "medium")),
        "{before}"
    );

    let (s, _) = h
        .post(
            SERVERS,
            &h.admin,
            json!({"server_name": "filesystem", "auto_approve_tools": ["write_file"]}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, after) = h.submit(&h.agent, write.clone()).await;
    assert_eq!(s, 200, "{after}");
    assert_eq!(after["decision"], "allowed", "{after}");
    assert_eq!(after["execution_allowed"], true, "{after}");
    assert!(
        after["reason"].as_str().unwrap().contains("auto-approved"),
        "{after}"
    );
    assert_eq!(
        after["metadata"]["mcp_governance"]["auto_approved"], true,
        "{after}"
    );
    assert!(after.get("approval_request_id").is_none_or(Value::is_null));

    // At high risk the same tool still needs a human: the override lifts it to high.
    let (s, _) = h
        .post(
            SERVERS,
            &h.admin,
            json!({"server_name": "filesystem", "auto_approve_tools": ["write_file"],
                   "tool_risk_overrides": {"write_file": 75}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, high) = h.submit(&h.agent, write).await;
    assert_eq!(s, 200, "{high}");
    assert_eq!(high["risk_level"], "high", "{high}");
    assert_eq!(high["decision"], "pending", "{high}");
    assert_eq!(
        high["metadata"]["mcp_governance"]["auto_approved"], false,
        "{high}"
    );
    // A tool not in the list is not auto-approved.
    let (s, _) = h
        .post(
            SERVERS,
            &h.admin,
            json!({"server_name": "filesystem", "auto_approve_tools": ["read_file"]}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, other) = h
        .submit(
            &h.agent,
            mcp_call(
                "filesystem",
                "write_file",
                json!({"path": "/project/b.txt", "content": "y"}),
            ),
        )
        .await;
    assert_eq!(other["decision"], "pending", "{other}");

    // governance_enabled=false: registered and active, but tool lists are not applied.
    let (s, _) = h
        .post(
            SERVERS,
            &h.admin,
            json!({"server_name": "filesystem", "governance_enabled": false,
                   "blocked_tools": ["list_directory"]}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, body) = h
        .submit(
            &h.agent,
            mcp_call("filesystem", "list_directory", json!({"path": "/"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn registry_is_per_organisation_and_survives_restart() {
    let h = harness().await;
    let other = h
        .server
        .create_api_key("other-org", Role::Admin, None)
        .await
        .unwrap();
    let (s, _) = h
        .post(
            SERVERS,
            &h.admin,
            json!({"server_name": "filesystem", "blocked_tools": ["delete_file"]}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = h
        .post(
            &format!("{SERVERS}/filesystem/deactivate"),
            &h.admin,
            json!({"reason": "maintenance"}),
        )
        .await;
    assert_eq!(s, 200);

    // The other organisation sees nothing, cannot touch it, and is not governed by it.
    let (_, list) = h.get(SERVERS, &other).await;
    assert_eq!(list["total"], 0);
    let (s, _) = h.get(&format!("{SERVERS}/filesystem"), &other).await;
    assert_eq!(s, 404);
    let (s, _) = h
        .post(&format!("{SERVERS}/filesystem/activate"), &other, json!({}))
        .await;
    assert_eq!(s, 404);
    let call = mcp_call("filesystem", "list_directory", json!({"path": "/"}));
    let (s, body) = h.submit(&other, call.clone()).await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = h.submit(&h.agent, call.clone()).await;
    assert_eq!(s, 403);

    // Restart on the same database: the registry (and the deactivation) is still there.
    let common::Harness {
        server,
        dir,
        admin,
        agent,
        http,
        ..
    } = h;
    server.shutdown().await.unwrap();
    let server = start(config(dir.path())).await.unwrap();
    let url = format!("{}/api/v1/actions/submit", server.base_url());
    let r = http
        .post(&url)
        .header("x-api-key", &agent)
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        governance_code(&body),
        "governance_violation: MCP_SERVER_DEACTIVATED_DENY"
    );
    let r = http
        .get(format!("{}{SERVERS}/filesystem", server.base_url()))
        .header("x-api-key", &admin)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["server"]["blocked_tools"], json!(["delete_file"]));
    assert_eq!(body["server"]["deactivation_reason"], "maintenance");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn decided_audit_entry_records_the_redacted_request() {
    let h = harness().await;
    let (s, body) = h
        .submit(
            &h.agent,
            json!({
                "agent_id": "a1", "action_type": "database.read", "resource": "products",
                "action_details": {"query": "select 1", "password": "hunter2",
                                   "nested": [{"api_key": "k-123"}], "requires_auth": true},
                "context": {"session": {"access_token": "tok-9"}, "user": "bob"},
                "risk_indicators": {"data_classification": "public", "secret_sauce": 42},
            }),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let id = body["id"].as_i64().unwrap();

    let (_, audit) = h.get("/api/v1/audit?limit=10000", &h.reviewer).await;
    let entry = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "action.decided" && e["details"]["action_id"] == id)
        .cloned()
        .expect("decided entry");
    let d = &entry["details"];
    assert_eq!(d["action_details"]["query"], "select 1");
    assert_eq!(d["action_details"]["password"], "[REDACTED]");
    assert_eq!(d["action_details"]["nested"][0]["api_key"], "[REDACTED]");
    assert_eq!(d["action_details"]["requires_auth"], true);
    assert_eq!(d["context"]["session"]["access_token"], "[REDACTED]");
    assert_eq!(d["context"]["user"], "bob");
    assert_eq!(d["risk_indicators"]["secret_sauce"], "[REDACTED]");
    assert_eq!(d["risk_level"], body["risk_level"]);
    assert_eq!(d["risk_score"], body["risk_score"]);
    assert_eq!(d["rule_id"], body["rule_id"]);
    assert_eq!(d["rule_name"], body["rule_name"]);
    let text = audit.to_string();
    for secret in ["hunter2", "k-123", "tok-9"] {
        assert!(!text.contains(secret), "{secret} in the audit");
    }
    let (_, stored) = h.get(&format!("/api/v1/actions/{id}"), &h.reviewer).await;
    let text = stored.to_string();
    assert_eq!(
        stored["request"]["action_details"]["password"],
        "[REDACTED]"
    );
    for secret in ["hunter2", "k-123", "tok-9"] {
        assert!(!text.contains(secret), "{secret} in the stored request");
    }
    h.server.shutdown().await.unwrap();
}
