//! An agent's outbound HTTP client governed by `GovernMiddleware`. Governance is embedded in
//! the process (a SQLite file in a temp dir); the "third-party API" is a small axum app on
//! 127.0.0.1. The agent lists products (allowed) and tries a bulk delete (denied, never sent).
//!
//! `cargo run -p ascend-reqwest --example outbound_agent`

use std::sync::Arc;
use std::time::Duration;

use ascend_reqwest::{GovernMiddleware, Rule};
use ascend_runtime::AscendClient;
use ascend_server::Embedded;
use axum::Router;
use axum::routing::any;
use http::Method;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let embedded = Embedded::open(dir.path().join("ascend.db"))?;
    let client = AscendClient::builder()
        .ignore_env()
        .agent_id("crm-agent")
        .build_with_backend(Arc::new(embedded.clone()))?;

    // The stand-in API.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    let app = Router::new().route("/{*path}", any(|| async { "{\"ok\": true}" }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let governance = GovernMiddleware::new(client)
        .rule(
            Rule::new(
                Method::GET,
                "127.0.0.1",
                "/v1/products",
                "database.read",
                "product_categories",
            )
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
        );
    let http = reqwest_middleware::ClientBuilder::new(
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
    )
    .with(governance)
    .build();

    for (method, path) in [
        (Method::GET, "/v1/products"),
        (Method::DELETE, "/v1/users?rows=500"),
    ] {
        let result = http
            .request(method.clone(), format!("{api}{path}"))
            .header("authorization", "Bearer sk_never_sent_to_governance")
            .send()
            .await;
        match result {
            Ok(resp) => println!("{method} {path} -> sent, HTTP {}", resp.status()),
            Err(e) => match ascend_reqwest::refusal(&e) {
                Some(refused) => println!("{method} {path} -> not sent: {refused}"),
                None => println!("{method} {path} -> transport error: {e}"),
            },
        }
    }
    for action in embedded.reviewer("auditor").recent(10).await?.iter().rev() {
        println!(
            "audit: #{} {} {} {} -> {}",
            action.id, action.agent_id, action.action_type, action.resource, action.body.decision
        );
    }
    Ok(())
}
