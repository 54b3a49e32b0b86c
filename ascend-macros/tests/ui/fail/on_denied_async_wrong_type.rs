// An async `on_denied` handler whose future yields the wrong type says what it must return.
use ascend_runtime::{Error, governed};

async fn fallback(_e: Error) -> u32 {
    0
}

#[governed(action_type = "database.read", resource = "settings", on_denied = fallback)]
async fn read(name: &str) -> String {
    name.to_uppercase()
}

fn main() {}
