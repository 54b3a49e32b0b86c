// Issue #12, defect 2: statements before the returned `async` block may move the arguments;
// the request is built from them before those statements run.
use std::future::Future;
use std::sync::Arc;

use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Error, governed};

#[governed(action_type = "write", resource = "names")]
fn rename(s: String) -> impl Future<Output = Result<String, Error>> {
    let t = s;
    async move { Ok(t) }
}

struct Service {
    shared: Arc<String>,
}

impl Service {
    // A `'static` future from `&self`: the prefix clones what the future needs.
    #[governed(action_type = "write", resource = "names")]
    fn detached(&self, n: u32) -> impl Future<Output = Result<String, Error>> + Send + 'static {
        use std::fmt::Write as _;
        let shared = Arc::clone(&self.shared);
        let (count, label) = (n, "x".to_owned());
        async move {
            let mut out = String::new();
            let _ = write!(out, "{shared}{label}{count}");
            Ok(out)
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mock = MockGovernance::allow_all();
    let svc = Service { shared: Arc::new("a".into()) };
    let detached = svc.detached(2);
    drop(svc);
    mock.scope(async {
        assert_eq!(rename("ann".into()).await.unwrap(), "ann");
        assert_eq!(detached.await.unwrap(), "ax2");
    })
    .await;
    let requests = mock.requests();
    assert_eq!(requests[0].action_details["s"], "ann");
    assert_eq!(requests[1].action_details["n"], 2);
}
