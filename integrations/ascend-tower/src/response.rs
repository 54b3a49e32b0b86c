//! The answers the layer gives instead of calling the service: one status and one JSON body
//! per reason, built in one place.

use ascend_runtime::{Error, RefusalKind};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

/// The response for a refused request: `403` with the decision for a denial (also the kill
/// switch and an approval that timed out), `202` with the approval id for a pending action
/// on a route that does not wait, `503` when governance is unreachable and the client fails
/// closed, `500` for any other governance error.
pub(crate) fn refusal<B: From<Bytes>>(error: &Error) -> Response<B> {
    let kind = error.refusal_kind();
    let status = match kind {
        RefusalKind::ApprovalPending => StatusCode::ACCEPTED,
        RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        RefusalKind::Error => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::FORBIDDEN,
    };
    let mut body = json!({
        "error": kind.as_str(),
        "code": error.code(),
        "message": error.to_string(),
    });
    if let Some(id) = error.action_id() {
        body["action_id"] = Value::String(id.to_owned());
    }
    match error {
        Error::Denied(decision) => {
            body["decision"] = serde_json::to_value(decision).unwrap_or(Value::Null);
        }
        Error::PendingApproval {
            approval_request_id,
            ..
        } => {
            body["status"] = Value::String("pending_approval".to_owned());
            body["approval_request_id"] = approval_request_id
                .clone()
                .map_or(Value::Null, Value::String);
        }
        _ => {}
    }
    json_response(status, &body)
}

/// A JSON error answered by the layer itself (no route, no caller, unreadable body).
pub(crate) fn plain<B: From<Bytes>>(status: StatusCode, error: &str, message: &str) -> Response<B> {
    json_response(status, &json!({"error": error, "message": message}))
}

fn json_response<B: From<Bytes>>(status: StatusCode, body: &Value) -> Response<B> {
    let mut response = Response::new(B::from(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
