//! Every route of the API, called with every kind of caller: no key, a bound agent key, a fleet
//! agent key, a bound reviewer, a reviewer, an admin, the operator, and an admin of another
//! organisation. The least role each route needs is written down here independently of
//! `governance::access` (so a change to the table that widens a route fails this test), and the
//! list of routes is checked against the router's source so a new route cannot be forgotten.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Harness, harness, pending_action};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Least {
    /// No key needed.
    Public,
    Agent,
    Reviewer,
    Admin,
    Operator,
}

struct Route {
    method: Method,
    /// Path as the router spells it (placeholders in braces).
    template: &'static str,
    least: Least,
    /// Whether the path names a resource of the default organisation (another organisation's
    /// admin must then get a 404).
    owned: bool,
    body: Option<Value>,
}

fn r(
    method: Method,
    template: &'static str,
    least: Least,
    owned: bool,
    body: Option<Value>,
) -> Route {
    Route {
        method,
        template,
        least,
        owned,
        body,
    }
}

fn routes() -> Vec<Route> {
    use Least::*;
    let submit = json!({"agent_id": "agent-a", "action_type": "database.read",
                        "resource": "product_categories"});
    let mcp = json!({"mcp_server": "filesystem", "namespace": "fs", "verb": "read_file",
                     "resource": "/tmp/x", "parameters": {}, "context": {},
                     "environment": "production", "tool_name": "read_file"});
    let server = json!({"server_name": "scratch", "transport_type": "stdio",
                        "governance_enabled": true});
    vec![
        r(Method::GET, "/health", Public, false, None),
        r(Method::GET, "/api/deployment-info", Public, false, None),
        r(Method::GET, "/ready", Public, false, None),
        r(Method::GET, "/metrics", Operator, false, None),
        r(
            Method::POST,
            "/api/registry/agents",
            Agent,
            false,
            Some(json!({"agent_id": "agent-a"})),
        ),
        r(
            Method::POST,
            "/api/v1/actions/submit",
            Agent,
            false,
            Some(submit),
        ),
        r(Method::GET, "/api/v1/actions", Agent, false, None),
        r(Method::GET, "/api/v1/actions/{id}", Agent, true, None),
        r(
            Method::GET,
            "/api/v1/actions/{id}/status",
            Agent,
            true,
            None,
        ),
        r(
            Method::POST,
            "/api/v1/actions/{id}/approve",
            Reviewer,
            true,
            Some(json!({})),
        ),
        r(
            Method::POST,
            "/api/v1/actions/{id}/deny",
            Reviewer,
            true,
            Some(json!({"reason": "no"})),
        ),
        r(
            Method::POST,
            "/api/agent-action/{id}/complete",
            Agent,
            true,
            Some(json!({})),
        ),
        r(
            Method::POST,
            "/api/agent-action/{id}/fail",
            Agent,
            true,
            Some(json!({"error": "x"})),
        ),
        r(Method::GET, "/api/agent-activity", Agent, false, None),
        r(Method::GET, "/api/sdk/approval/{id}", Agent, true, None),
        r(
            Method::GET,
            "/api/sdk/kill-switch/status",
            Agent,
            false,
            None,
        ),
        r(
            Method::GET,
            "/api/v1/kill-switch/status",
            Agent,
            false,
            None,
        ),
        r(
            Method::POST,
            "/api/v1/kill-switch/trigger",
            Admin,
            false,
            Some(json!({"reason": "t", "agent_id": "nobody"})),
        ),
        r(
            Method::POST,
            "/api/v1/kill-switch/release",
            Admin,
            false,
            Some(json!({"agent_id": "nobody"})),
        ),
        r(
            Method::POST,
            "/api/billing/kill-switch/{org}/trigger",
            Admin,
            true,
            Some(json!({"reason": "t"})),
        ),
        r(
            Method::POST,
            "/api/billing/kill-switch/{org}/release",
            Admin,
            true,
            Some(json!({})),
        ),
        r(
            Method::POST,
            "/api/webhooks/configure",
            Agent,
            false,
            Some(json!({"url": "https://127.0.0.1:9/x", "events": ["action.denied"]})),
        ),
        r(Method::GET, "/api/webhooks", Agent, false, None),
        r(
            Method::PUT,
            "/api/webhooks/{id}",
            Agent,
            true,
            Some(json!({"active": true})),
        ),
        r(Method::POST, "/api/webhooks/{id}/test", Agent, true, None),
        r(Method::DELETE, "/api/webhooks/{id}", Agent, true, None),
        r(
            Method::POST,
            "/api/v1/mcp/actions/submit",
            Agent,
            false,
            Some(mcp),
        ),
        r(
            Method::POST,
            "/api/registry/mcp-servers",
            Admin,
            false,
            Some(server),
        ),
        r(Method::GET, "/api/registry/mcp-servers", Agent, false, None),
        r(
            Method::GET,
            "/api/registry/mcp-servers/{server_name}",
            Agent,
            true,
            None,
        ),
        r(
            Method::POST,
            "/api/registry/mcp-servers/{server_name}/deactivate",
            Admin,
            true,
            Some(json!({"reason": "r"})),
        ),
        r(
            Method::POST,
            "/api/registry/mcp-servers/{server_name}/activate",
            Admin,
            true,
            None,
        ),
        r(
            Method::DELETE,
            "/api/registry/mcp-servers/{server_name}",
            Admin,
            true,
            None,
        ),
        r(Method::GET, "/api/v1/audit", Reviewer, false, None),
        r(Method::GET, "/audit/logs", Reviewer, false, None),
        r(Method::GET, "/api/v1/audit/export", Reviewer, false, None),
        r(Method::GET, "/api/v1/audit/verify", Reviewer, false, None),
        r(Method::POST, "/api/v1/policies/reload", Admin, false, None),
        r(
            Method::POST,
            "/api/v1/keys",
            Admin,
            false,
            Some(json!({"role": "reviewer"})),
        ),
        r(Method::GET, "/api/v1/keys", Admin, false, None),
        r(
            Method::POST,
            "/api/v1/keys/{key_id}/rotate",
            Admin,
            true,
            None,
        ),
        r(
            Method::POST,
            "/api/v1/keys/{key_id}/revoke",
            Admin,
            true,
            Some(json!({})),
        ),
        r(
            Method::POST,
            "/api/v1/orgs",
            Operator,
            false,
            Some(json!({"name": "made-by-test"})),
        ),
        r(Method::GET, "/api/v1/orgs", Operator, false, None),
        r(Method::GET, "/api/v1/events/stream", Agent, false, None),
    ]
}

/// `(method, path)` of every `.route(…)` in the router's source.
fn router_routes() -> BTreeSet<(String, String)> {
    let src = include_str!("../src/api/mod.rs");
    let mut out = BTreeSet::new();
    for chunk in src.split(".route(").skip(1) {
        let Some(path) = chunk.split('"').nth(1) else {
            continue;
        };
        let mut depth = 1;
        let mut end = chunk.len();
        for (i, c) in chunk.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = &chunk[..end];
        for (method, marker) in [
            ("GET", "get("),
            ("POST", "post("),
            ("PUT", "put("),
            ("DELETE", "delete("),
        ] {
            let found = body.match_indices(marker).any(|(i, _)| {
                i == 0
                    || !body.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && body.as_bytes()[i - 1] != b'_'
            });
            if found {
                out.insert((method.to_owned(), path.to_owned()));
            }
        }
    }
    out
}

#[test]
fn every_route_of_the_router_is_in_the_table() {
    let table: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|r| (r.method.to_string(), r.template.to_owned()))
        .collect();
    let router = router_routes();
    assert!(router.len() >= 40, "parsed {} routes", router.len());
    let missing: Vec<_> = router.difference(&table).collect();
    let extra: Vec<_> = table.difference(&router).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
}

struct Caller {
    label: &'static str,
    key: Option<String>,
    /// The role it has (None: no key).
    role: Option<Least>,
    /// Another organisation's key.
    foreign: bool,
}

struct Fixture {
    action: i64,
    hook: i64,
    key: String,
    org: i64,
}

async fn fixture(h: &Harness) -> Fixture {
    let (_, a) = h.submit(&h.agent, pending_action("agent-a")).await;
    let (s, hook) = h
        .post(
            "/api/webhooks/configure",
            &h.admin,
            json!({"url": "https://127.0.0.1:9/x", "events": ["action.denied"]}),
        )
        .await;
    assert_eq!(s, 200, "{hook}");
    let (s, srv) = h
        .post("/api/registry/mcp-servers", &h.admin,
              json!({"server_name": "filesystem", "transport_type": "stdio", "governance_enabled": true}))
        .await;
    assert_eq!(s, 201, "{srv}");
    let (s, k) = h
        .post(
            "/api/v1/keys",
            &h.admin,
            json!({"role": "reviewer", "name": "spare"}),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    Fixture {
        action: a["id"].as_i64().unwrap(),
        hook: hook["id"].as_i64().unwrap(),
        key: k["key_id"].as_str().unwrap().to_owned(),
        org: h.server.org_id("default").await.unwrap(),
    }
}

fn path(template: &str, f: &Fixture) -> String {
    let id = if template.starts_with("/api/webhooks/") {
        f.hook
    } else {
        f.action
    };
    template
        .replace("{id}", &id.to_string())
        .replace("{server_name}", "filesystem")
        .replace("{key_id}", &f.key)
        .replace("{org}", &f.org.to_string())
}

async fn call(h: &Harness, route: &Route, path: &str, key: Option<&str>) -> (u16, String) {
    let mut req = h
        .http
        .request(route.method.clone(), h.url(path))
        .timeout(Duration::from_secs(10));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    if let Some(b) = &route.body {
        req = req.json(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    if route.template.ends_with("/stream") {
        return (status, String::new()); // an open event stream: the status is the answer
    }
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn every_route_with_every_caller() {
    let h = harness().await;
    let f = fixture(&h).await;
    let mk = |body: Value| {
        let h = &h;
        async move {
            let (s, v) = h.post("/api/v1/keys", &h.admin, body).await;
            assert_eq!(s, 201, "{v}");
            v["key"].as_str().unwrap().to_owned()
        }
    };
    let bound_agent = mk(json!({"role": "agent", "agent_id": "agent-z"})).await;
    let bound_reviewer = mk(json!({"role": "reviewer", "agent_id": "agent-z"})).await;
    let admin = mk(json!({"role": "admin", "owner": "second-admin"})).await;
    let (_, other) = h
        .post("/api/v1/orgs", &h.admin, json!({"name": "elsewhere"}))
        .await;
    let foreign = mk(json!({"role": "admin", "organization_id": other["id"]})).await;
    let callers = [
        Caller {
            label: "no key",
            key: None,
            role: None,
            foreign: false,
        },
        Caller {
            label: "bound agent",
            key: Some(bound_agent),
            role: Some(Least::Agent),
            foreign: false,
        },
        Caller {
            label: "fleet agent",
            key: Some(h.agent.clone()),
            role: Some(Least::Agent),
            foreign: false,
        },
        Caller {
            label: "bound reviewer",
            key: Some(bound_reviewer),
            role: Some(Least::Reviewer),
            foreign: false,
        },
        Caller {
            label: "reviewer",
            key: Some(h.reviewer.clone()),
            role: Some(Least::Reviewer),
            foreign: false,
        },
        Caller {
            label: "foreign admin",
            key: Some(foreign),
            role: Some(Least::Admin),
            foreign: true,
        },
        Caller {
            label: "admin",
            key: Some(admin),
            role: Some(Least::Admin),
            foreign: false,
        },
        Caller {
            label: "operator",
            key: Some(h.admin.clone()),
            role: Some(Least::Operator),
            foreign: false,
        },
    ];
    let mut failures = Vec::new();
    let mut calls = 0;
    for caller in &callers {
        for route in routes() {
            let p = path(route.template, &f);
            let (status, text) = call(&h, &route, &p, caller.key.as_deref()).await;
            calls += 1;
            let role_refused = status == 403 && text.contains("role");
            let expect_ok = match caller.role {
                None => route.least == Least::Public,
                Some(r) => r >= route.least,
            };
            let what = format!(
                "{} {} as {}: {status} {}",
                route.method,
                p,
                caller.label,
                text.chars().take(160).collect::<String>()
            );
            if expect_ok {
                if status == 401 || role_refused {
                    failures.push(format!("refused but allowed by the table: {what}"));
                }
                if caller.foreign && route.owned && (200..300).contains(&status) {
                    failures.push(format!("crossed organisations: {what}"));
                }
            } else {
                let want = if caller.role.is_none() { 401 } else { 403 };
                if status != want {
                    failures.push(format!("expected {want}: {what}"));
                }
            }
        }
    }
    assert!(calls >= 8 * 40);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    h.server.shutdown().await.unwrap();
}
