// Issue #12, defect 4: an async fn's `on_denied` handler may be async (a closure returning an
// async block, or an `async fn`), or plain.
use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Error, governed};

async fn explain(error: Error) -> String {
    tokio::task::yield_now().await;
    format!("later: {error}")
}

#[governed(action_type = "send", resource = "email", on_denied = |e| async move { format!("closure: {e}") })]
async fn with_closure(to: &str) -> String {
    format!("sent to {to}")
}

#[governed(action_type = "send", resource = "email", on_denied = explain)]
async fn with_path(to: &str) -> String {
    format!("sent to {to}")
}

#[governed(action_type = "send", resource = "email", on_denied = |_| None)]
async fn plain(to: &str) -> Option<String> {
    Some(to.to_owned())
}

#[governed(action_type = "send", resource = "email", on_denied = explain)]
fn later(to: String) -> impl std::future::Future<Output = String> {
    async move { format!("sent to {to}") }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mock = MockGovernance::deny_all();
    mock.scope(async {
        assert_eq!(with_closure("a").await, "closure: action denied: denied by MockGovernance");
        assert_eq!(with_path("a").await, "later: action denied: denied by MockGovernance");
        assert_eq!(plain("a").await, None);
        assert_eq!(later("a".into()).await, "later: action denied: denied by MockGovernance");
    })
    .await;
}
