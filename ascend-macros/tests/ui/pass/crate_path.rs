// `crate = ".."` for users who re-export the runtime under another path.
mod governance {
    pub use ascend_runtime as runtime;
}

use governance::runtime::testing::MockGovernance;

#[ascend_runtime::governed(action_type = "x.y", resource = "z", crate = "crate::governance::runtime")]
fn renamed(n: u8) -> Result<u8, governance::runtime::Error> {
    Ok(n)
}

fn main() {
    let mock = MockGovernance::allow_all();
    let _guard = mock.install_for_thread();
    assert_eq!(renamed(3).ok(), Some(3));
}
