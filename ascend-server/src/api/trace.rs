//! W3C Trace Context on the way in: every API request runs inside an `ascend_api` span that
//! records the caller's `traceparent` (trace id and parent span id), so the decision the
//! handler makes — and everything it logs — belongs to the caller's trace. A missing or
//! malformed header is ignored (fields stay empty), never an error.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

use ascend_runtime::trace::{HEADER, Traceparent};

/// Middleware: the request's span, with the caller's trace context when it sent one.
pub async fn trace_context(request: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "ascend_api",
        method = %request.method(),
        path = request.uri().path(),
        trace_id = Empty,
        parent_span_id = Empty,
    );
    if let Some(tp) = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(Traceparent::parse)
    {
        span.record("trace_id", tp.trace_id_hex().as_str());
        span.record("parent_span_id", tp.parent_id_hex().as_str());
        // With OTLP export on, the span is exported as a child of the caller's span.
        if let Some(parent) = crate::telemetry::remote_parent(&tp) {
            use tracing_opentelemetry::OpenTelemetrySpanExt;
            let _ = span.set_parent(parent);
        }
    }
    next.run(request).instrument(span).await
}
