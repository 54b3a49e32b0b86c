//! An `aws-sdk-s3` client whose every operation is governed, like boto3 after
//! `enable_governance()`. Governance is embedded (a SQLite file in a temp dir); S3 is
//! `aws-smithy-mocks` with static test credentials and a loopback endpoint, so nothing is sent
//! to AWS. Lists a bucket (allowed), tries to delete it (refused), prints the audit trail.
//!
//! `cargo run -p ascend-aws --example governed_s3`

use std::sync::Arc;

use ascend_aws::GovernInterceptor;
use ascend_runtime::AscendClient;
use ascend_server::Embedded;
use aws_sdk_s3::operation::delete_bucket::DeleteBucketOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let embedded = Embedded::open(dir.path().join("ascend.db"))?;
    let client = AscendClient::builder()
        .ignore_env()
        .agent_id("s3-demo")
        .build_with_backend(Arc::new(embedded.clone()))?;

    let list = mock!(aws_sdk_s3::Client::list_objects_v2)
        .then_output(|| ListObjectsV2Output::builder().key_count(3).build());
    let delete = mock!(aws_sdk_s3::Client::delete_bucket)
        .then_output(|| DeleteBucketOutput::builder().build());
    let governance = GovernInterceptor::new(client);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list, &delete], |c| c
        .endpoint_url("http://127.0.0.1:9")
        .force_path_style(true)
        .interceptor(governance.clone()));

    let listed = s3.list_objects_v2().bucket("reports").send().await?;
    println!(
        "s3:ListObjectsV2 reports -> {} keys",
        listed.key_count().unwrap_or(0)
    );
    match s3.delete_bucket().bucket("reports").send().await {
        Ok(_) => println!("s3:DeleteBucket reports -> deleted"),
        Err(e) => match ascend_aws::refusal(&e) {
            Some(refused) => println!("s3:DeleteBucket reports -> refused: {refused}"),
            None => println!("s3:DeleteBucket reports -> SDK error: {e}"),
        },
    }
    for a in embedded.reviewer("auditor").recent(10).await?.iter().rev() {
        println!(
            "audit: #{} {} {} risk {:.0} -> {}",
            a.id, a.action_type, a.resource, a.body.risk_score, a.body.decision
        );
    }
    Ok(())
}
