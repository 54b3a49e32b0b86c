// async fn: `?`, early `return`, borrowed arguments; the future stays `Send`.
use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Error, governed};

#[derive(Debug)]
enum ToolError {
    Governance(Error),
    Invalid(String),
}

impl From<Error> for ToolError {
    fn from(e: Error) -> Self {
        ToolError::Governance(e)
    }
}

impl From<std::num::ParseIntError> for ToolError {
    fn from(e: std::num::ParseIntError) -> Self {
        ToolError::Invalid(e.to_string())
    }
}

#[governed(action_type = "database.write", resource = "customer_profiles", resource_id = customer_id)]
async fn update_limit(customer_id: &str, limit: &str) -> Result<u32, ToolError> {
    if limit.is_empty() {
        return Err(ToolError::Invalid("empty".to_owned()));
    }
    let parsed: u32 = limit.parse()?;
    tokio::task::yield_now().await;
    Ok(parsed)
}

fn assert_send<T: Send>(_: T) {}

#[tokio::main]
async fn main() {
    assert_send(update_limit("c1", "5"));
    let mock = MockGovernance::allow_all();
    let result = mock.scope(update_limit("c1", "5")).await;
    assert!(matches!(result, Ok(5)));
    let result = mock.scope(update_limit("c1", "x")).await;
    assert!(matches!(result, Err(ToolError::Invalid(_))));
    let result = MockGovernance::deny_all().scope(update_limit("c1", "5")).await;
    assert!(matches!(result, Err(ToolError::Governance(Error::Denied(_)))));
}
