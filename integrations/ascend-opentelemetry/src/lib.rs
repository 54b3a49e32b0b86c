//! # ascend-opentelemetry
//!
//! One trace for a governed tool call and its governance decision. `#[governed]` calls already
//! run in a `governed` [`tracing`] span; with [`tracing-opentelemetry`] that span is an
//! OpenTelemetry span. [`install`] makes every request the runtime sends to the governance
//! service carry the W3C `traceparent` of the current span, so the server's `ascend_api` span
//! (which records `trace_id` and `parent_span_id`) belongs to the same trace, as a child of the
//! governed call.
//!
//! ```no_run
//! use opentelemetry::trace::TracerProvider as _;
//! use tracing_subscriber::prelude::*;
//!
//! # fn run(provider: opentelemetry_sdk::trace::SdkTracerProvider) {
//! // Your OpenTelemetry pipeline (OTLP exporter, batch processor, resource, ...):
//! let tracer = provider.tracer("my-agent");
//! tracing_subscriber::registry()
//!     .with(tracing_opentelemetry::layer().with_tracer(tracer))
//!     .init();
//! // Governance requests now carry the current span's trace context.
//! ascend_opentelemetry::install();
//! # }
//! ```
//!
//! Without [`install`] (or outside any OpenTelemetry span) the runtime still sends a
//! `traceparent`: a random one per request, whose trace id it records on the `governed` span
//! as `trace_id` for the decision request — enough to find the decision of a call in the
//! server's logs. See [`ascend_runtime::trace`].
//!
//! [`tracing-opentelemetry`]: https://docs.rs/tracing-opentelemetry

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use ascend_runtime::trace::Traceparent;
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Use the OpenTelemetry context of the current `tracing` span as the `traceparent` of
/// governance requests, for the rest of the process. Returns `false` when a source was already
/// installed ([`ascend_runtime::trace::set_source`] is set once).
pub fn install() -> bool {
    ascend_runtime::trace::set_source(current_traceparent)
}

/// The current span's OpenTelemetry context as a `traceparent`, when it has a valid one.
pub fn current_traceparent() -> Option<Traceparent> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    Traceparent::new(
        sc.trace_id().to_bytes(),
        sc.span_id().to_bytes(),
        sc.is_sampled(),
    )
}
