use ascend_runtime::governed;

#[governed(action_type = "database.write")]
fn update(customer_id: &str) -> Result<(), ascend_runtime::Error> {
    let _ = customer_id;
    Ok(())
}

fn main() {}
