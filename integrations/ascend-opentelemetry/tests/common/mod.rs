//! Shared set-up: an OpenTelemetry pipeline with an in-memory exporter behind
//! `tracing-opentelemetry`, and the real server on 127.0.0.1:0 with an agent key.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use ascend_runtime::AscendClient;
use ascend_server::{Role, RunningServer, ServerConfig, start};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::prelude::*;

static EXPORTER: OnceLock<(InMemorySpanExporter, SdkTracerProvider)> = OnceLock::new();

/// Install the pipeline as the global subscriber (once per test binary).
pub fn telemetry() -> &'static InMemorySpanExporter {
    let (exporter, _) = EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer("ascend-opentelemetry-test");
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer))
            .init();
        (exporter, provider)
    });
    exporter
}

pub struct Server {
    pub running: RunningServer,
    _dir: tempfile::TempDir,
}

pub async fn server_and_client(agent: &str) -> (Server, AscendClient) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(ServerConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        db_path: dir.path().join("ascend.db"),
        ..ServerConfig::default()
    })
    .await
    .expect("server starts");
    let key = running
        .create_api_key("default", Role::Agent, None)
        .await
        .expect("agent key");
    let client = AscendClient::builder()
        .ignore_env()
        .api_url(running.base_url())
        .api_key(key)
        .agent_id(agent)
        .event_stream(false)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    (Server { running, _dir: dir }, client)
}

/// The spans the test looks for: the agent's `governed` span and the server's `ascend_api`
/// span of the submit request.
pub struct Exported {
    pub governed: SpanData,
    /// The runtime's `ascend_request` span of the submit.
    pub request: SpanData,
    /// The server's `ascend_api` span of the submit.
    pub submit: SpanData,
}

impl Exported {
    /// Wait (bounded) until both spans are exported: spans end when their last handle drops.
    pub async fn wait() -> Exported {
        let exporter = telemetry();
        for _ in 0..300 {
            let spans = exporter.get_finished_spans().expect("finished spans");
            let governed = spans.iter().find(|s| s.name == "governed").cloned();
            let find = |name: &str| {
                spans
                    .iter()
                    .find(|s| {
                        s.name == name
                            && attribute(s, "path").as_deref() == Some("/api/v1/actions/submit")
                    })
                    .cloned()
            };
            if let (Some(governed), Some(request), Some(submit)) =
                (governed, find("ascend_request"), find("ascend_api"))
            {
                return Exported {
                    governed,
                    request,
                    submit,
                };
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let names: Vec<_> = exporter
            .get_finished_spans()
            .unwrap_or_default()
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        panic!("the governed span and the server's submit span were not both exported: {names:?}");
    }
}

/// A span attribute as a string.
pub fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}
