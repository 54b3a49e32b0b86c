//! OpenTelemetry traces, exported over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: every API request's `ascend_api` span and
//! the spans under it, continuing the caller's W3C `traceparent` (`api::trace`), so one trace
//! shows the agent's governed call and the server's decision. The standard `OTEL_*` variables
//! apply (`OTEL_SERVICE_NAME`, `OTEL_BSP_SCHEDULE_DELAY`, ...). Off when neither is set.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::error::{Error, Result};

/// Whether the environment asks for OTLP export.
pub fn requested() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()))
}

/// The exporting tracer provider (shut it down at exit: it flushes the last spans) and the
/// `tracing` layer that feeds it; None when export is not [`requested`].
pub fn from_env<S>() -> Result<Option<(SdkTracerProvider, impl Layer<S> + Send + Sync)>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    if !requested() {
        return Ok(None);
    }
    // The blocking client of the batch exporter's thread, with this crate's TLS set-up (no
    // process-wide crypto provider is installed).
    let client = reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(crate::webhooks::tls_client_config(Vec::new())?)
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| Error::Config(format!("OTLP HTTP client: {e}")))?;
    let exporter = SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .build()
        .map_err(|e| Error::Config(format!("OTLP exporter: {e}")))?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "ascend-server".into());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("ascend-server"));
    Ok(Some((provider, layer)))
}

/// The OpenTelemetry context of a caller's `traceparent`: the server's spans become children
/// of the caller's span.
pub fn remote_parent(tp: &ascend_runtime::trace::Traceparent) -> Option<opentelemetry::Context> {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    let trace_id = TraceId::from_hex(&tp.trace_id_hex()).ok()?;
    let span_id = SpanId::from_hex(&tp.parent_id_hex()).ok()?;
    let flags = if tp.sampled() {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let remote = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    Some(opentelemetry::Context::new().with_remote_span_context(remote))
}
