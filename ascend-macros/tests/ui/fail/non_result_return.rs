use ascend_runtime::governed;

#[governed(action_type = "database.read", resource = "settings")]
fn read_setting(name: &str) -> String {
    name.to_uppercase()
}

// A `Result` whose error type cannot carry the denial is refused too.
#[derive(Debug)]
struct MyError;

#[governed(action_type = "database.read", resource = "settings")]
async fn read_async(name: &str) -> Result<String, MyError> {
    Ok(name.to_uppercase())
}

fn main() {}
