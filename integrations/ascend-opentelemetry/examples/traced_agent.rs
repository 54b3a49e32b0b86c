//! A governed call traced with OpenTelemetry: `tracing` → `tracing-opentelemetry` → an SDK
//! tracer provider (an in-memory exporter here; OTLP in production), `ascend_opentelemetry::install()`,
//! and the real server on 127.0.0.1. Prints the exported spans: the agent's `governed` span and
//! the server's `ascend_api` spans, which carry the same trace id.
//!
//! `cargo run -p ascend-opentelemetry --example traced_agent`

use std::time::Duration;

use ascend_runtime::global::scope;
use ascend_runtime::{AscendClient, Error, governed};
use ascend_server::{Role, ServerConfig, start};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::prelude::*;

#[governed(
    action_type = "database.read",
    resource = "product_categories",
    risk_indicators(data_classification = "public")
)]
async fn list_categories() -> Result<u32, Error> {
    Ok(4)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("traced-agent")))
        .init();
    ascend_opentelemetry::install();

    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let server = start(ServerConfig {
        bind: "127.0.0.1:0".parse()?,
        db_path: dir.path().join("ascend.db"),
        ..ServerConfig::default()
    })
    .await?;
    let key = server.create_api_key("default", Role::Agent, None).await?;
    let client = AscendClient::builder()
        .ignore_env()
        .api_url(server.base_url())
        .api_key(key)
        .agent_id("traced-agent")
        .event_stream(false)
        .build()?;

    let n = scope(client, list_categories()).await?;
    println!("list_categories() = {n}");
    tokio::time::sleep(Duration::from_millis(200)).await;

    for span in exporter.get_finished_spans()? {
        let attrs: Vec<String> = span
            .attributes
            .iter()
            .filter(|kv| {
                ["trace_id", "parent_span_id", "path", "decision"].contains(&kv.key.as_str())
            })
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        println!(
            "span {:<14} trace {} span {}  {}",
            span.name,
            span.span_context.trace_id(),
            span.span_context.span_id(),
            attrs.join(" ")
        );
    }
    Ok(())
}
