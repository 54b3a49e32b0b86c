use ascend_runtime::governed;

// Every mistake in the attribute is reported, not just the first one.
#[governed(
    action_type = 42,
    resource = "customers",
    wait_for_approval = "yes",
    approval_timeout_secs = "60",
    description = some_text
)]
fn update(customer_id: &str) -> Result<(), ascend_runtime::Error> {
    let _ = customer_id;
    Ok(())
}

fn main() {}
