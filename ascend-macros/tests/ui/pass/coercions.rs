// Issue #12, defect 1: the body's value coerces to the declared return type, as it does without
// the attribute (the async block gets the function's return type as its expected type), in
// tail position and in `return` expressions, for every shape.
use std::fmt::Display;
use std::future::Future;

use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Error, governed};

#[governed(action_type = "read", resource = "names")]
async fn name(s: &String) -> Result<&str, Error> {
    Ok(s)
}

#[governed(action_type = "read", resource = "bytes")]
async fn bytes(v: &Vec<u8>, early: bool) -> Result<&[u8], Error> {
    if early {
        return Ok(v);
    }
    Ok(v)
}

#[governed(action_type = "read", resource = "numbers")]
async fn boxed(n: u8) -> Result<Box<dyn Display + Send>, Error> {
    if n > 100 {
        return Ok(Box::new(n));
    }
    let parsed: u8 = "7".parse().map_err(|_| Error::Configuration("not a number".into()))?;
    Ok(Box::new(n + parsed))
}

#[governed(action_type = "read", resource = "numbers")]
fn boxed_later(n: u8) -> impl Future<Output = Result<Box<dyn Display + Send>, Error>> + Send {
    async move { Ok(Box::new(n)) }
}

#[governed(action_type = "read", resource = "names")]
fn name_sync(s: &String) -> Result<&str, Error> {
    Ok(s)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mock = MockGovernance::allow_all();
    let s = String::from("ann");
    let v = vec![1_u8, 2];
    mock.scope(async {
        assert_eq!(name(&s).await.unwrap(), "ann");
        assert_eq!(bytes(&v, true).await.unwrap(), &[1, 2]);
        assert_eq!(bytes(&v, false).await.unwrap(), &[1, 2]);
        assert_eq!(boxed(1).await.unwrap().to_string(), "8");
        assert_eq!(boxed(101).await.unwrap().to_string(), "101");
        assert_eq!(boxed_later(3).await.unwrap().to_string(), "3");
    })
    .await;
    let _guard = mock.install_for_thread();
    assert_eq!(name_sync(&s).unwrap(), "ann");
    assert_eq!(mock.requests().len(), 7);
}
