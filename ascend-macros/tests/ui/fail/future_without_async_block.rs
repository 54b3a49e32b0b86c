use std::future::Future;
use std::pin::Pin;

use ascend_runtime::governed;

async fn work() -> Result<u32, ascend_runtime::Error> {
    Ok(1)
}

#[governed(action_type = "database.read", resource = "settings")]
fn boxed() -> Pin<Box<dyn Future<Output = Result<u32, ascend_runtime::Error>> + Send>> {
    Box::pin(work())
}

fn main() {}
