//! `tracing` + `tracing-opentelemetry` + `ascend_opentelemetry::install()`: a `#[governed]`
//! call against the real server on a loopback port, with both the agent's spans and the
//! server's spans exported (in memory) through one OpenTelemetry pipeline. One trace: the
//! `governed` span → the runtime's `ascend_request` span → the `traceparent` the server's
//! `ascend_api` span records for the decision request.

mod common;

use ascend_runtime::global::scope;
use ascend_runtime::{Error, governed};
use common::{Exported, attribute, server_and_client, telemetry};

#[governed(
    action_type = "database.read",
    resource = "product_categories",
    risk_indicators(data_classification = "public")
)]
async fn list_categories() -> Result<u32, Error> {
    tracing::info!("listing");
    Ok(4)
}

#[tokio::test]
async fn the_decision_request_is_a_child_of_the_governed_span() {
    telemetry();
    assert!(ascend_opentelemetry::install());
    assert!(!ascend_opentelemetry::install(), "the source is set once");
    let (_server, client) = server_and_client("otel-agent").await;

    let n = scope(client, list_categories()).await.expect("allowed");
    assert_eq!(n, 4);

    let Exported {
        governed,
        request,
        submit,
    } = Exported::wait().await;
    let trace_id = governed.span_context.trace_id();
    assert_eq!(request.span_context.trace_id(), trace_id);
    assert_eq!(request.parent_span_id, governed.span_context.span_id());
    let trace_id = trace_id.to_string();
    let request_id = request.span_context.span_id().to_string();
    assert_eq!(attribute(&submit, "trace_id"), Some(trace_id.clone()));
    assert_eq!(attribute(&submit, "parent_span_id"), Some(request_id));
    // The runtime recorded the same id on the governed span.
    assert_eq!(
        attribute(&governed, "trace_id").as_deref(),
        Some(trace_id.as_str())
    );
    assert_eq!(attribute(&governed, "decision").as_deref(), Some("allowed"));
}
