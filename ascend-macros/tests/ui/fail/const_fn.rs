use ascend_runtime::governed;

#[governed(action_type = "database.read", resource = "settings")]
const fn limit() -> Result<u32, ascend_runtime::Error> {
    Ok(10)
}

fn main() {}
