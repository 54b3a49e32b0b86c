use ascend_runtime::governed;

#[governed(action_type = "database.write", resource = "customers", resorce_id = customer_id)]
fn typo(customer_id: &str) -> Result<(), ascend_runtime::Error> {
    let _ = customer_id;
    Ok(())
}

#[governed(action_type = "database.write", resource = "customers", priority(high = true))]
fn unknown(customer_id: &str) -> Result<(), ascend_runtime::Error> {
    let _ = customer_id;
    Ok(())
}

fn main() {}
