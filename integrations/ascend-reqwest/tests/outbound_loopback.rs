//! An agent's outbound HTTP client with `GovernMiddleware`, calling a stand-in third-party API
//! (an axum app on 127.0.0.1 that counts the requests it receives), governed by the real
//! governance service in this process (`ascend_server::Embedded`, a SQLite file in a temp dir).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ascend_reqwest::{GovernMiddleware, Rule};
use ascend_runtime::{AscendClient, Decision, Error, FailMode};
use ascend_server::Embedded;
use ascend_server::embedded::Reviewer;
use axum::Router;
use axum::extract::State;
use axum::routing::{any, get};
use http::Method;
use reqwest_middleware::ClientWithMiddleware;
use serde_json::json;

const SECRET: &str = "Bearer sk_live_do_not_log_me";

struct Fixture {
    _dir: tempfile::TempDir,
    api: String,
    hits: Arc<AtomicUsize>,
    reviewer: Reviewer,
    client: AscendClient,
}

/// The "third-party API": every path answers 200 and counts the hit.
async fn api() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/{*path}",
            any(|State(hits): State<Arc<AtomicUsize>>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                "ok"
            }),
        )
        .route("/", get(|| async { "root" }))
        .with_state(Arc::clone(&hits));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

async fn fixture() -> Fixture {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let embedded = Embedded::open(dir.path().join("ascend.db")).expect("embedded opens");
    let client = AscendClient::builder()
        .ignore_env()
        .agent_id("outbound-agent")
        .build_with_backend(Arc::new(embedded.clone()))
        .expect("client");
    let (api, hits) = api().await;
    Fixture {
        _dir: dir,
        api,
        hits,
        reviewer: embedded.reviewer("alice"),
        client,
    }
}

fn rules(m: GovernMiddleware) -> GovernMiddleware {
    m.rule(
        Rule::new(
            Method::GET,
            "127.0.0.1",
            "/v1/products",
            "database.read",
            "product_categories",
        )
        .query_fields(["limit"])
        .risk_indicator("data_classification", json!("public")),
    )
    .rule(
        Rule::new(
            Method::DELETE,
            "127.0.0.1",
            "/v1/users",
            "database.delete",
            "users",
        )
        .query_fields(["rows"]),
    )
    .rule(
        Rule::new(
            Method::POST,
            "127.0.0.1",
            "/v1/customers/{id}",
            "database.write",
            "customers",
        )
        .resource_id("id")
        .body_fields(["field"])
        .risk_indicator("pii_involved", json!(true))
        .risk_indicator("data_classification", json!("pii"))
        .no_wait(),
    )
}

fn http(middleware: GovernMiddleware) -> ClientWithMiddleware {
    let inner = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest");
    reqwest_middleware::ClientBuilder::new(inner)
        .with(middleware)
        .build()
}

impl Fixture {
    fn http(&self) -> ClientWithMiddleware {
        http(rules(GovernMiddleware::new(self.client.clone())))
    }

    async fn last(&self) -> ascend_server::model::ActionRecord {
        self.reviewer
            .recent(1)
            .await
            .expect("recent")
            .pop()
            .expect("an audited action")
    }
}

#[tokio::test]
async fn an_allowed_call_is_sent_and_audited_without_its_headers() {
    let f = fixture().await;
    let resp = f
        .http()
        .get(format!("{}/v1/products?limit=5&session=abc", f.api))
        .header("authorization", SECRET)
        .header("x-api-key", "k_live_123")
        .send()
        .await
        .expect("allowed");
    assert_eq!(resp.status(), 200);
    assert_eq!(f.hits.load(Ordering::SeqCst), 1);
    let record = f.last().await;
    assert_eq!(record.agent_id, "outbound-agent");
    assert_eq!(record.action_type, "database.read");
    assert_eq!(record.body.decision, Decision::Allowed);
    let details = &record.request["action_details"];
    assert_eq!(details["limit"], 5);
    assert_eq!(details["path"], "/v1/products");
    assert_eq!(details["host"], "127.0.0.1");
    assert!(details.get("session").is_none());
    let stored = record.request.to_string();
    assert!(
        !stored.contains("sk_live") && !stored.contains("k_live_123"),
        "{stored}"
    );
}

#[tokio::test]
async fn a_denied_call_is_never_sent() {
    let f = fixture().await;
    let err = f
        .http()
        .delete(format!("{}/v1/users?rows=500", f.api))
        .send()
        .await
        .expect_err("bulk delete is denied");
    match ascend_reqwest::refusal(&err) {
        Some(Error::Denied(d)) => {
            assert_eq!(d.rule_name.as_deref(), Some("Block Bulk Deletions"));
        }
        other => panic!("expected a denial, got {other:?} ({err})"),
    }
    assert_eq!(f.hits.load(Ordering::SeqCst), 0);
    let record = f.last().await;
    assert_eq!(record.body.decision, Decision::Denied);
    assert_eq!(record.request["action_details"]["rows"], 500);
}

#[tokio::test]
async fn a_pending_call_without_waiting_fails_with_the_approval_id_and_is_not_sent() {
    let f = fixture().await;
    let err = f
        .http()
        .post(format!("{}/v1/customers/c-42", f.api))
        .header("content-type", "application/json")
        .body(r#"{"field": "billing_address", "api_token": "t0k", "street": "1 Main"}"#)
        .send()
        .await
        .expect_err("pending");
    match ascend_reqwest::refusal(&err) {
        Some(Error::PendingApproval {
            approval_request_id,
            ..
        }) => assert!(approval_request_id.is_some()),
        other => panic!("expected pending, got {other:?}"),
    }
    assert_eq!(f.hits.load(Ordering::SeqCst), 0);
    let record = f.last().await;
    assert_eq!(record.resource_id.as_deref(), Some("c-42"));
    assert_eq!(record.request["action_details"]["field"], "billing_address");
    assert!(record.request["action_details"].get("street").is_none());
    assert!(!record.request.to_string().contains("t0k"));
}

#[tokio::test]
async fn unmatched_calls_are_governed_as_http_method_on_host_unless_passed() {
    let f = fixture().await;
    let resp = f
        .http()
        .get(format!("{}/status/ping?verbose=true", f.api))
        .send()
        .await;
    let record = f.last().await;
    assert_eq!(record.action_type, "http.get");
    assert_eq!(record.resource, "127.0.0.1");
    assert_eq!(record.request["action_details"]["query"]["verbose"], true);
    // Whatever the decision, the request was sent exactly when it was allowed.
    let sent = f.hits.load(Ordering::SeqCst);
    assert_eq!(sent == 1, record.body.decision == Decision::Allowed);
    assert_eq!(resp.is_ok(), record.body.decision == Decision::Allowed);

    let passing = http(rules(GovernMiddleware::new(f.client.clone())).pass_unmatched());
    let resp = passing
        .get(format!("{}/status/ping", f.api))
        .send()
        .await
        .expect("passed through");
    assert_eq!(resp.status(), 200);
    assert_eq!(f.hits.load(Ordering::SeqCst), sent + 1);
    assert_eq!(f.reviewer.recent(10).await.expect("recent").len(), 1);
}

#[tokio::test]
async fn unreachable_governance_fails_closed_and_nothing_is_sent() {
    let (api, hits) = api().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let client = AscendClient::builder()
        .ignore_env()
        .api_key("ascend_test_unreachable")
        .api_url(format!("http://127.0.0.1:{port}"))
        .fail_mode(FailMode::Closed)
        .max_retries(0)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let err = http(rules(GovernMiddleware::new(client)))
        .get(format!("{api}/v1/products"))
        .send()
        .await
        .expect_err("fail closed");
    let refused = ascend_reqwest::refusal(&err).expect("a governance refusal");
    assert!(refused.is_unavailable(), "{refused:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
