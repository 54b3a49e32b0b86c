use ascend_runtime::governed;

#[governed(action_type = "database.write", resource = "customers", skip(pool, conection))]
fn update(pool: &str, connection: &str) -> Result<(), ascend_runtime::Error> {
    let _ = (pool, connection);
    Ok(())
}

fn main() {}
