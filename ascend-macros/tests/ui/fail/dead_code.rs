#![deny(dead_code)]
// The `dead_code` lint still sees an unused governed function.
use ascend_runtime::governed;

#[governed(action_type = "database.read", resource = "settings")]
fn never_called(name: &str) -> Result<String, ascend_runtime::Error> {
    Ok(name.to_uppercase())
}

fn main() {}
