//! A real axum app on 127.0.0.1 behind `GovernLayer`, governed by the real governance service
//! in this process (`ascend_server::Embedded`, a SQLite file in a temp dir), called over
//! loopback with reqwest. Each test asserts what the caller got, whether the handler ran,
//! and what the audit trail recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ascend_runtime::{AscendClient, AuthorizationDecision, Decision, FailMode};
use ascend_server::Embedded;
use ascend_server::embedded::Reviewer;
use ascend_tower::{Caller, GovernLayer, Route};
use axum::extract::{Extension, Request, State};
use axum::middleware::{self, Next};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use http::Method;
use serde_json::{Value, json};

struct App {
    _dir: tempfile::TempDir,
    base: String,
    /// How many times a handler ran.
    handled: Arc<AtomicUsize>,
    reviewer: Reviewer,
    http: reqwest::Client,
}

/// The service's own authentication: the `x-agent` header names the caller.
async fn authenticate(mut req: Request, next: Next) -> axum::response::Response {
    let agent = req
        .headers()
        .get("x-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(agent) = agent {
        req.extensions_mut()
            .insert(Caller::new(agent).with_name("Loopback Agent"));
    }
    next.run(req).await
}

async fn handled(
    State(count): State<Arc<AtomicUsize>>,
    Extension(d): Extension<AuthorizationDecision>,
) -> Json<Value> {
    count.fetch_add(1, Ordering::SeqCst);
    Json(json!({"ran": true, "action_id": d.action_id}))
}

async fn echo(
    State(count): State<Arc<AtomicUsize>>,
    Extension(d): Extension<AuthorizationDecision>,
    body: String,
) -> Json<Value> {
    count.fetch_add(1, Ordering::SeqCst);
    Json(json!({"ran": true, "action_id": d.action_id, "body": body}))
}

fn governance(client: AscendClient) -> GovernLayer {
    GovernLayer::new(client)
        .route(
            Route::new(
                Method::GET,
                "/categories/{id}",
                "database.read",
                "product_categories",
            )
            .resource_id("id")
            .risk_indicator("data_classification", json!("public")),
        )
        .route(
            Route::new(Method::DELETE, "/users", "database.delete", "users").query_fields(["rows"]),
        )
        .route(
            Route::new(
                Method::PUT,
                "/customers/{id}",
                "database.write",
                "customers",
            )
            .resource_id("id")
            .risk_indicator("pii_involved", json!(true))
            .risk_indicator("data_classification", json!("pii"))
            .wait_for(Duration::from_secs(20)),
        )
        .route(
            Route::new(
                Method::POST,
                "/customers/{id}/address",
                "database.write",
                "customers",
            )
            .resource_id("id")
            .body_fields(["field", "password"])
            .risk_indicator("pii_involved", json!(true))
            .risk_indicator("data_classification", json!("pii"))
            .no_wait(),
        )
}

fn router(layer: GovernLayer, count: Arc<AtomicUsize>) -> Router {
    Router::new()
        .route("/categories/{id}", get(handled))
        .route("/users", delete(handled))
        .route("/customers/{id}", put(handled))
        .route("/customers/{id}/address", post(echo))
        .route("/echo", post(echo))
        .route("/health", get(|| async { "ok" }))
        .with_state(count)
        .layer(layer)
        .layer(middleware::from_fn(authenticate))
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

async fn app_with(configure: impl FnOnce(GovernLayer) -> GovernLayer) -> App {
    let dir = tempfile::tempdir().expect("temp dir");
    let embedded = Embedded::open(dir.path().join("ascend.db")).expect("embedded opens");
    let client = AscendClient::builder()
        .ignore_env()
        .agent_id("gateway")
        .build_with_backend(Arc::new(embedded.clone()))
        .expect("client");
    let handled = Arc::new(AtomicUsize::new(0));
    let base = serve(router(configure(governance(client)), Arc::clone(&handled))).await;
    App {
        _dir: dir,
        base,
        handled,
        reviewer: embedded.reviewer("alice"),
        http: http(),
    }
}

impl App {
    async fn send(&self, method: Method, path: &str, agent: Option<&str>) -> (u16, Value) {
        self.send_body(method, path, agent, None).await
    }

    async fn send_body(
        &self,
        method: Method,
        path: &str,
        agent: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(agent) = agent {
            req = req.header("x-agent", agent);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn audited(&self, id: &Value) -> ascend_server::model::ActionRecord {
        let id: i64 = id
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("action id {id}"));
        self.reviewer.action(id).await.expect("audited action")
    }
}

#[tokio::test]
async fn an_allowed_request_reaches_the_handler_and_is_audited_with_its_caller() {
    let app = app_with(|l| l).await;
    let (status, body) = app
        .send(Method::GET, "/categories/books", Some("shop-bot"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ran"], true);
    assert_eq!(app.handled.load(Ordering::SeqCst), 1);
    let record = app.audited(&body["action_id"]).await;
    assert_eq!(record.agent_id, "shop-bot");
    assert_eq!(record.action_type, "database.read");
    assert_eq!(record.resource_id.as_deref(), Some("books"));
    assert_eq!(record.body.decision, Decision::Allowed);
    // Tool names are stored in their canonical (case-folded) form: the MCP registry and the
    // rules match on it.
    assert_eq!(
        record.request["action_details"]["tool_name"],
        "get /categories/{id}"
    );
    // The outcome is reported in the background.
    for _ in 0..300 {
        if app.audited(&body["action_id"]).await.outcome.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the outcome of the allowed request was never recorded");
}

#[tokio::test]
async fn a_denied_request_gets_403_with_the_decision_and_never_reaches_the_handler() {
    let app = app_with(|l| l).await;
    let (status, body) = app
        .send(Method::DELETE, "/users?rows=500&note=x", Some("cleaner"))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "denied");
    assert_eq!(body["code"], "AUTHZ_DENIED");
    assert_eq!(body["decision"]["rule_name"], "Block Bulk Deletions");
    assert_eq!(body["decision"]["decision"], "denied");
    let record = app.audited(&body["action_id"]).await;
    assert_eq!(record.agent_id, "cleaner");
    assert_eq!(record.body.decision, Decision::Denied);
    assert_eq!(record.request["action_details"]["rows"], 500);
    assert!(record.request["action_details"].get("note").is_none());
    assert_eq!(app.handled.load(Ordering::SeqCst), 0);
    assert!(record.outcome.is_none());
}

#[tokio::test]
async fn a_pending_request_waits_for_the_reviewer_and_then_runs() {
    let app = app_with(|l| l).await;
    let http = app.http.clone();
    let url = format!("{}/customers/c-7", app.base);
    let waiting = tokio::spawn(async move {
        let resp = http
            .put(url)
            .header("x-agent", "writer")
            .send()
            .await
            .expect("request");
        (
            resp.status().as_u16(),
            resp.json::<Value>().await.expect("json"),
        )
    });
    let id = first_pending(&app.reviewer).await;
    assert!(
        !waiting.is_finished(),
        "the request must wait for the reviewer"
    );
    app.reviewer.approve(id, Some("ok")).await.expect("approve");
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the approval reaches the waiting request")
        .expect("task");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action_id"], id.to_string());
}

#[tokio::test]
async fn a_route_that_does_not_wait_answers_202_and_reads_only_the_named_body_fields() {
    let app = app_with(|l| l).await;
    let (status, body) = app
        .send_body(
            Method::POST,
            "/customers/c-9/address",
            Some("writer"),
            Some(json!({"field": "billing_address", "password": "hunter2", "street": "1 Main"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "pending_approval");
    assert!(body["approval_request_id"].is_string(), "{body}");
    let record = app.audited(&body["action_id"]).await;
    assert_eq!(record.body.decision, Decision::Pending);
    let details = &record.request["action_details"];
    assert_eq!(details["field"], "billing_address");
    assert_eq!(details["password"], "[REDACTED]");
    assert!(details.get("street").is_none());
    assert!(!record.request.to_string().contains("hunter2"));
}

#[tokio::test]
async fn a_read_body_is_handed_on_unchanged() {
    let app = app_with(|l| {
        l.route(
            Route::new(Method::POST, "/echo", "database.read", "product_categories")
                .body_fields(["q"])
                .risk_indicator("data_classification", json!("public")),
        )
    })
    .await;
    let sent = r#"{"q": "shoes", "page": 2}"#;
    let resp = app
        .http
        .post(format!("{}/echo", app.base))
        .header("x-agent", "reader")
        .header("content-type", "application/json")
        .body(sent)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["body"], sent);
    let record = app.audited(&body["action_id"]).await;
    assert_eq!(record.request["action_details"]["q"], "shoes");
    assert!(record.request["action_details"].get("page").is_none());
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_governance_is_not_asked() {
    let app = app_with(|l| l.max_body_bytes(32)).await;
    let (status, body) = app
        .send_body(
            Method::POST,
            "/customers/c-1/address",
            Some("writer"),
            Some(json!({"field": "x".repeat(100)})),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(app.handled.load(Ordering::SeqCst), 0);
    assert!(app.reviewer.recent(10).await.expect("recent").is_empty());
}

#[tokio::test]
async fn default_deny_for_unmatched_routes_and_missing_callers() {
    let app = app_with(|l| l).await;
    let (status, body) = app.send(Method::GET, "/health", Some("probe")).await;
    assert_eq!((status, body["error"].clone()), (403, json!("no_route")));
    let (status, body) = app.send(Method::GET, "/categories/books", None).await;
    assert_eq!((status, body["error"].clone()), (401, json!("no_caller")));
    assert!(app.reviewer.recent(10).await.expect("recent").is_empty());

    let open = app_with(|l| l.allow_unmatched().default_caller()).await;
    let (status, body) = open.send(Method::GET, "/health", None).await;
    assert_eq!((status, body), (200, json!("ok")));
    let (status, body) = open.send(Method::GET, "/categories/books", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(open.audited(&body["action_id"]).await.agent_id, "gateway");
}

#[tokio::test]
async fn unreachable_governance_fails_closed_with_503() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = AscendClient::builder()
        .ignore_env()
        .api_key("ascend_test_unreachable")
        .api_url(format!("http://127.0.0.1:{port}"))
        .agent_id("gateway")
        .fail_mode(FailMode::Closed)
        .max_retries(0)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let handled = Arc::new(AtomicUsize::new(0));
    let base = serve(router(governance(client), Arc::clone(&handled))).await;
    let resp = http()
        .get(format!("{base}/categories/books"))
        .header("x-agent", "shop-bot")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "unavailable");
    assert_eq!(handled.load(Ordering::SeqCst), 0);
}

async fn first_pending(reviewer: &Reviewer) -> i64 {
    for _ in 0..500 {
        if let Some(a) = reviewer.pending().await.expect("pending").first() {
            return a.id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no action became pending");
}
