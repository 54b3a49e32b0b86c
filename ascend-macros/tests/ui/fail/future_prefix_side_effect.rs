// Issue #12, defect 3: statements before the returned future run when the function is called,
// before governance decides; anything but a capturing binding is refused.
use std::future::Future;

use ascend_runtime::{Error, governed};

fn audit(_: &str) {}

#[governed(action_type = "database.delete", resource = "rows")]
fn delete(table: String) -> impl Future<Output = Result<(), Error>> {
    audit(&table);
    let t = table.clone();
    let n = t.len() + 1;
    async move {
        let _ = (t, n);
        Ok(())
    }
}

fn main() {}
