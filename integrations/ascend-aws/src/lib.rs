//! # ascend-aws
//!
//! Govern every operation of an `aws-sdk-*` client — the Rust counterpart of the Python SDK's
//! `enable_governance()` for boto3. [`GovernInterceptor`] is a smithy interceptor: add it to a
//! client's config and each operation (`s3:ListObjectsV2`, `s3:DeleteBucket`, …) is sent to
//! governance as an action, with the bucket (or other first path/host label) as resource,
//! before anything is signed or sent. A refused operation fails with the SDK's usual
//! dispatch-failure error whose source is the [`ascend_runtime::Error`] ([`refusal`] finds it).
//!
//! ```no_run
//! # fn run(client: ascend_runtime::AscendClient, sdk_config: aws_sdk_s3::Config) {
//! let s3_config = sdk_config
//!     .to_builder()
//!     .interceptor(ascend_aws::GovernInterceptor::new(client))
//!     .build();
//! let s3 = aws_sdk_s3::Client::from_conf(s3_config);
//! # let _ = s3;
//! # }
//! ```
//!
//! What is sent: action type `<service>:<Operation>` (service lower-cased, as IAM writes it),
//! resource the bucket (path-style or virtual-hosted request), `resource_id` the object key when
//! there is one, and parameters `service`, `operation`, `http_method`, `path` and the query's
//! parameter names. Request bodies and headers never are. Destructive operations (`Delete*`,
//! `Terminate*`, …) carry `destructive: true`, and those on a whole container or a batch
//! (`DeleteBucket`, `DeleteObjects`, `Batch*`) also `bulk_operation: true`, so the risk engine
//! treats `s3:DeleteBucket` as the bulk deletion it is; `Put*Policy` / `Put*Acl` carry
//! `permission_change: true`.
//!
//! The smithy interceptor hooks are synchronous, so the decision is awaited with
//! [`AscendClient::authorize_blocking`](ascend_runtime::AscendClient::authorize_blocking) (the
//! runtime's own background runtime; safe inside tokio, but the calling worker thread waits).
//! By default a pending decision is not waited for: the operation fails with
//! [`ascend_runtime::Error::PendingApproval`]; [`GovernInterceptor::wait_for`] changes that.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::{Duration, Instant};

use ascend_runtime::{AgentAction, AscendClient, EvaluateOptions, Outcome};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::Value;

/// Operation-name prefixes that destroy or open up resources: marked `destructive`.
const DESTRUCTIVE: &[&str] = &["Delete", "Terminate", "Destroy", "Purge", "Remove"];
/// Operation-name fragments that change who may access a resource: marked `permission_change`.
const PERMISSION: &[&str] = &["Policy", "Acl", "PublicAccessBlock"];

/// Governs each operation of the SDK client it is added to.
#[derive(Clone, Debug)]
pub struct GovernInterceptor {
    client: AscendClient,
    wait: EvaluateOptions,
}

impl GovernInterceptor {
    /// An interceptor that asks `client` (its agent id is the caller). Pending decisions are
    /// not waited for.
    pub fn new(client: AscendClient) -> Self {
        GovernInterceptor {
            client,
            wait: EvaluateOptions::no_wait(),
        }
    }

    /// Wait up to `timeout` for a human when a decision is pending (the SDK call blocks).
    pub fn wait_for(mut self, timeout: Duration) -> Self {
        self.wait = EvaluateOptions::wait(timeout);
        self
    }
}

/// The governed action of the current execution, kept for reporting its outcome.
#[derive(Clone, Debug)]
struct Governed {
    action_id: String,
    started: Instant,
}

impl Storable for Governed {
    type Storer = StoreReplace<Self>;
}

/// The refusal of the current execution: it stands for every attempt, whatever later hooks do.
#[derive(Clone, Debug)]
struct Refused(ascend_runtime::Error);

impl Storable for Refused {
    type Storer = StoreReplace<Self>;
}

impl Intercept for GovernInterceptor {
    fn name(&self) -> &'static str {
        "AscendGovernInterceptor"
    }

    /// Before the first attempt is signed (the endpoint, and so the bucket, is in the request
    /// by then; nothing has been signed or sent). Retries reuse the decision.
    fn read_before_signing(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Refused(error)) = cfg.load::<Refused>() {
            return Err(Box::new(error.clone()));
        }
        if cfg.load::<Governed>().is_some() {
            return Ok(());
        }
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(m) => (m.service().to_owned(), m.name().to_owned()),
            None => ("unknown".to_owned(), "Unknown".to_owned()),
        };
        let request = context.request();
        let action = action(&service, &operation, request.method(), request.uri());
        match self.client.authorize_blocking(action, self.wait.clone()) {
            Ok(decision) => {
                cfg.interceptor_state().store_put(Governed {
                    action_id: decision.action_id,
                    started: Instant::now(),
                });
                Ok(())
            }
            Err(error) => {
                tracing::info!(
                    %service,
                    %operation,
                    refusal = error.refusal_kind().as_str(),
                    error = %error,
                    "AWS operation refused by governance"
                );
                cfg.interceptor_state().store_put(Refused(error.clone()));
                Err(Box::new(error))
            }
        }
    }

    /// A refused operation ends in its refusal, even when a later interceptor (a cache, a
    /// test mock) would substitute an output.
    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Refused(error)) = cfg.load::<Refused>() {
            context
                .inner_mut()
                .set_output_or_error(Err(OrchestratorError::other(error.clone())));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(governed) = cfg.load::<Governed>() {
            let duration = governed.started.elapsed();
            let outcome = match context.output_or_error() {
                Some(Err(e)) => Outcome::Failed {
                    error: format!("{e:?}").chars().take(500).collect(),
                    duration,
                },
                _ => Outcome::Completed { duration },
            };
            self.client.report_outcome(&governed.action_id, outcome);
        }
        Ok(())
    }
}

/// The action for one operation: `<service>:<Operation>` on the bucket (or first label).
pub fn action(service: &str, operation: &str, method: &str, uri: &str) -> AgentAction {
    let service = service.to_ascii_lowercase();
    let (host, path, query) = split_uri(uri);
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    // Path-style: /bucket/key…; virtual-hosted: bucket.s3.<region>.amazonaws.com/key…
    let first_host_label = host.split('.').next().unwrap_or("");
    let virtual_hosted = host
        .split('.')
        .nth(1)
        .is_some_and(|l| l.starts_with(&service));
    let (resource, key) = if virtual_hosted {
        (
            first_host_label.to_owned(),
            path.trim_start_matches('/').to_owned(),
        )
    } else {
        let bucket = segments.next().unwrap_or("").to_owned();
        let key: Vec<&str> = segments.collect();
        (bucket, key.join("/"))
    };
    let resource = if resource.is_empty() {
        service.clone()
    } else {
        resource
    };
    let mut action = AgentAction::new(format!("{service}:{operation}"), resource)
        .with_tool_name(format!("{service}:{operation}"))
        .with_parameter("service", Value::String(service.clone()))
        .with_parameter("operation", Value::String(operation.to_owned()))
        .with_parameter("http_method", Value::String(method.to_owned()))
        .with_parameter("path", Value::String(path.to_owned()));
    if !key.is_empty() {
        action.resource_id = Some(key);
    }
    let names: Vec<Value> = query
        .split('&')
        .filter_map(|kv| kv.split('=').next())
        .filter(|k| !k.is_empty() && !k.starts_with("x-id") && !k.starts_with("X-Amz"))
        .map(|k| Value::String(k.to_owned()))
        .collect();
    if !names.is_empty() {
        action
            .action_details
            .insert("query_parameters".into(), Value::Array(names));
    }
    if DESTRUCTIVE.iter().any(|p| operation.starts_with(p)) {
        action = action.with_risk_indicator("destructive", Value::Bool(true));
        // A bucket, table or cluster holds many records, and a batch delete is many: both are
        // bulk deletions to the risk engine.
        if operation.contains("Bucket") || operation.ends_with('s') || operation.contains("Batch") {
            action = action.with_risk_indicator("bulk_operation", Value::Bool(true));
        }
    }
    if operation.starts_with("Put") && PERMISSION.iter().any(|p| operation.contains(p)) {
        action = action.with_risk_indicator("permission_change", Value::Bool(true));
    }
    action
}

/// (host, path, query) of an absolute or origin-form URI.
fn split_uri(uri: &str) -> (&str, &str, &str) {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let (authority, path_and_query) = if uri.contains("://") {
        match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        }
    } else {
        ("", rest)
    };
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = host.split(':').next().unwrap_or("");
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    (host, path, query)
}

/// The governance refusal inside an SDK error (walking its `source()` chain), if that is why
/// the operation failed.
pub fn refusal<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a ascend_runtime::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<ascend_runtime::Error>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn path_style_and_virtual_hosted_requests_name_the_bucket() {
        let a = action(
            "S3",
            "DeleteObject",
            "DELETE",
            "http://127.0.0.1:9000/reports/2026/q1.csv?x-id=DeleteObject",
        );
        assert_eq!(a.action_type, "s3:DeleteObject");
        assert_eq!(a.resource, "reports");
        assert_eq!(a.resource_id.as_deref(), Some("2026/q1.csv"));
        assert_eq!(a.risk_indicators["destructive"], json!(true));
        assert!(!a.risk_indicators.contains_key("bulk_operation"));
        let b = action("s3", "DeleteBucket", "DELETE", "http://127.0.0.1:9/reports");
        assert_eq!(b.risk_indicators["bulk_operation"], json!(true));
        assert!(!a.action_details.contains_key("query_parameters"));
        let v = action(
            "s3",
            "ListObjectsV2",
            "GET",
            "https://logs.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=a",
        );
        assert_eq!(
            (v.resource.as_str(), v.resource_id.as_deref()),
            ("logs", None)
        );
        assert_eq!(
            v.action_details["query_parameters"],
            json!(["list-type", "prefix"])
        );
        assert!(v.risk_indicators.is_empty());
        let p = action(
            "s3",
            "PutBucketPolicy",
            "PUT",
            "https://s3.amazonaws.com/b?policy",
        );
        assert_eq!(p.risk_indicators["permission_change"], json!(true));
        assert_eq!(p.resource, "b");
    }
}
