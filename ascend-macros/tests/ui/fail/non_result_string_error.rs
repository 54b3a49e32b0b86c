// Issue #12, defect 8: an error type that does not convert from the runtime's error gets the
// same hint as a non-`Result` return type, not a list of its `From` impls.
use ascend_runtime::governed;

#[governed(action_type = "database.read", resource = "settings")]
fn read(name: &str) -> Result<u8, String> {
    Ok(name.len() as u8)
}

fn main() {}
