use ascend_runtime::governed;

#[governed(resource = "customer_profiles")]
fn update(customer_id: &str) -> Result<(), ascend_runtime::Error> {
    let _ = customer_id;
    Ok(())
}

fn main() {}
