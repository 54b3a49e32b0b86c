use ascend_runtime::governed;

#[governed(
    action_type = "database.write",
    resource = "customers",
    action_type = "database.read",
    risk_indicators(pii_involved = true, pii_involved = false)
)]
fn update(customer_id: &str) -> Result<(), ascend_runtime::Error> {
    let _ = customer_id;
    Ok(())
}

fn main() {}
