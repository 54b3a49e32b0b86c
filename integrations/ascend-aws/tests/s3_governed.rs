//! An `aws-sdk-s3` client with `GovernInterceptor`, governed by the real governance service in
//! this process (`ascend_server::Embedded`, a SQLite file in a temp dir). S3 itself is
//! `aws-smithy-mocks`: static test credentials and region, an explicit loopback endpoint, and a
//! mock HTTP client, so nothing is looked up or sent anywhere. A second interceptor counts the
//! requests the SDK would have transmitted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ascend_aws::GovernInterceptor;
use ascend_runtime::{AscendClient, Decision, Error, RefusalKind};
use ascend_server::Embedded;
use aws_sdk_s3::operation::delete_bucket::DeleteBucketOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Counts requests that reached the point of transmission.
#[derive(Debug, Clone, Default)]
struct Transmitted(Arc<AtomicUsize>);

impl Intercept for Transmitted {
    fn name(&self) -> &'static str {
        "Transmitted"
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_run_and_delete_bucket_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let embedded = Embedded::open(dir.path().join("ascend.db")).expect("embedded opens");
    let client = AscendClient::builder()
        .ignore_env()
        .agent_id("s3-agent")
        .build_with_backend(Arc::new(embedded.clone()))
        .expect("client");

    let list = mock!(aws_sdk_s3::Client::list_objects_v2)
        .then_output(|| ListObjectsV2Output::builder().key_count(0).build());
    let delete = mock!(aws_sdk_s3::Client::delete_bucket)
        .then_output(|| DeleteBucketOutput::builder().build());
    let sent = Transmitted::default();
    let governance = GovernInterceptor::new(client.clone());
    let counter = sent.clone();
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list, &delete], |c| c
        .endpoint_url("http://127.0.0.1:9")
        .force_path_style(true)
        .interceptor(governance.clone())
        .interceptor(counter.clone()));

    let listed = s3
        .list_objects_v2()
        .bucket("reports")
        .prefix("2026/")
        .send()
        .await
        .expect("listing is allowed");
    assert_eq!(listed.key_count(), Some(0));
    assert_eq!(sent.0.load(Ordering::SeqCst), 1);

    let err = s3
        .delete_bucket()
        .bucket("reports")
        .send()
        .await
        .expect_err("deleting a bucket is not allowed to run");
    let refused = ascend_aws::refusal(&err).unwrap_or_else(|| panic!("not a refusal: {err:?}"));
    assert!(
        matches!(
            refused.refusal_kind(),
            RefusalKind::Denied | RefusalKind::ApprovalPending
        ),
        "{refused:?}"
    );
    assert_eq!(sent.0.load(Ordering::SeqCst), 1, "nothing more was sent");

    let reviewer = embedded.reviewer("auditor");
    let mut audit = reviewer.recent(10).await.expect("recent");
    audit.reverse();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].action_type, "s3:ListObjectsV2");
    assert_eq!(audit[0].resource, "reports");
    assert_eq!(audit[0].body.decision, Decision::Allowed);
    assert_eq!(audit[0].agent_id, "s3-agent");
    assert_eq!(audit[1].action_type, "s3:DeleteBucket");
    assert_eq!(audit[1].resource, "reports");
    assert_ne!(audit[1].body.decision, Decision::Allowed);
    let (high, low) = (audit[1].body.risk_score, audit[0].body.risk_score);
    assert!(
        high >= 70.0 && high > low,
        "DeleteBucket is high risk: {high} vs {low}"
    );
    if let Error::Denied(d) = refused {
        assert!(d.rule_name.is_some());
    }
}
