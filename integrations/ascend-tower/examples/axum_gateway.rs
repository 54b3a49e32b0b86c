//! An axum service whose routes are governed by `GovernLayer`, with the governance service
//! embedded in the process (a SQLite file in a temp dir). It serves on 127.0.0.1, calls itself
//! twice — an allowed read and a bulk delete that policy denies — and prints what came back.
//!
//! `cargo run -p ascend-tower --example axum_gateway`

use std::sync::Arc;
use std::time::Duration;

use ascend_runtime::AscendClient;
use ascend_server::Embedded;
use ascend_tower::{Caller, GovernLayer, Route};
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::routing::{delete, get};
use http::Method;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let embedded = Embedded::open(dir.path().join("ascend.db"))?;
    let client = AscendClient::builder()
        .ignore_env()
        .agent_id("gateway")
        .build_with_backend(Arc::new(embedded.clone()))?;

    let governance = GovernLayer::new(client)
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
        .allow_unmatched();

    let app = Router::new()
        .route("/categories/{id}", get(|| async { "the books category" }))
        .route("/users", delete(|| async { "deleted" }))
        .route("/health", get(|| async { "ok" }))
        .layer(governance)
        // Stand-in for real authentication: every caller is "support-bot".
        .layer(middleware::from_fn(
            |mut req: Request, next: Next| async move {
                req.extensions_mut().insert(Caller::new("support-bot"));
                next.run(req).await
            },
        ));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    for (method, path) in [
        (Method::GET, "/categories/books"),
        (Method::DELETE, "/users?rows=500"),
        (Method::GET, "/health"),
    ] {
        let resp = http
            .request(method.clone(), format!("{base}{path}"))
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await?;
        println!("{method} {path} -> {status}\n  {body}");
    }

    let audit = embedded.reviewer("auditor").recent(10).await?;
    for action in audit.iter().rev() {
        println!(
            "audit: #{} {} {} {} -> {}",
            action.id, action.agent_id, action.action_type, action.resource, action.body.decision
        );
    }
    Ok(())
}
