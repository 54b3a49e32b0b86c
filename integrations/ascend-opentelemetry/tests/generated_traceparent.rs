//! Without `install()`: the runtime sends a random `traceparent` with each governance request
//! and records the decision request's trace id on the `governed` span, where the server's
//! `ascend_api` span records the same id. (A separate test binary: the source is per process.)

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
    Ok(4)
}

#[tokio::test]
async fn the_generated_trace_id_is_on_both_spans() {
    telemetry();
    let (_server, client) = server_and_client("plain-agent").await;
    scope(client, list_categories()).await.expect("allowed");

    let Exported {
        governed, submit, ..
    } = Exported::wait().await;
    let sent = attribute(&submit, "trace_id").expect("the server recorded a trace id");
    assert_eq!(sent.len(), 32);
    assert_eq!(attribute(&governed, "trace_id"), Some(sent.clone()));
    // Not the OpenTelemetry trace of the governed span: nothing was installed.
    assert_ne!(governed.span_context.trace_id().to_string(), sent);
}
