#![deny(warnings, clippy::all)]
// No warning or lint from the generated code, whatever the shape.
use std::future::Future;
use std::pin::Pin;

use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Error, governed};

pub struct Service {
    pub name: String,
}

#[derive(serde::Serialize)]
pub struct Address {
    pub street: String,
}

impl Service {
    /// Documented method.
    #[governed(action_type = "database.write", resource = "customer_profiles",
               resource_id = customer_id, risk_indicators(pii_involved = true),
               context(reason = "support ticket"), description = "update an address",
               tool_name = "update_address", skip(_unused), wait_for_approval = true,
               approval_timeout_secs = 30)]
    pub async fn update(&self, customer_id: &str, address: Address, _unused: u8, password: &str) -> Result<String, Error> {
        let _ = password;
        Ok(format!("{}: {} {}", self.name, customer_id, address.street))
    }

    #[governed(action_type = "database.read", resource = "customer_profiles", skip_all)]
    pub fn read(&mut self, _id: u32) -> Result<(), Error> {
        Ok(())
    }

    #[governed(action_type = "database.read", resource = "customer_profiles")]
    pub fn boxed(&self, n: u32) -> Pin<Box<dyn Future<Output = Result<u32, Error>> + Send + '_>> {
        Box::pin(async move { Ok(n + self.name.len() as u32) })
    }
}

#[governed(action_type = "greeting", resource = "people", on_denied = |_| String::from("no"))]
pub fn greet(_name: &str) -> String {
    String::from("hi")
}

#[governed(action_type = "noop", resource = "nothing")]
pub fn unit() -> Result<(), Error> {
    Ok(())
}

#[tokio::main]
async fn main() {
    let mock = MockGovernance::allow_all();
    let _guard = mock.install_for_thread();
    let mut s = Service { name: "svc".into() };
    let a = Address { street: "Main".into() };
    assert!(mock.scope(s.update("c", a, 0, "pw")).await.is_ok());
    assert!(s.read(1).is_ok());
    assert!(mock.scope(s.boxed(1)).await.is_ok());
    assert_eq!(greet("x"), "hi");
    assert!(unit().is_ok());
}
