use ascend_runtime::{Error, governed};

fn fallback(_e: Error) -> u32 {
    0
}

#[governed(action_type = "database.read", resource = "settings", on_denied = fallback)]
fn read_setting(name: &str) -> String {
    name.to_uppercase()
}

#[governed(action_type = "database.read", resource = "settings", on_denied = |e: String| e)]
fn read_other(name: &str) -> String {
    name.to_uppercase()
}

fn main() {}
