// on_denied: a path or a closure, getting the error, returning the function's type.
use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Error, governed};

fn explain(e: Error) -> String {
    format!("not allowed: {}", e.code())
}

#[governed(action_type = "message.send", resource = "email", on_denied = explain)]
fn send(to: &str) -> String {
    format!("sent to {to}")
}

#[governed(action_type = "message.send", resource = "email", on_denied = |e| Ok(e.to_string()))]
async fn send_async(to: &str) -> Result<String, std::io::Error> {
    Ok(format!("sent to {to}"))
}

#[governed(action_type = "message.send", resource = "email", on_denied = |_| ())]
fn fire_and_forget(to: &str) {
    let _ = to;
}

#[tokio::main]
async fn main() {
    let mock = MockGovernance::deny_all();
    let _guard = mock.install_for_thread();
    assert_eq!(send("a"), "not allowed: AUTHZ_DENIED");
    let r = mock.scope(send_async("a")).await.ok();
    assert!(r.is_some_and(|s| s.contains("denied")));
    fire_and_forget("a");
}
