// Receivers: &self, &mut self, self; `client = ..` naming a field.
use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{AscendClient, Error, governed};

struct Account {
    balance: u64,
    client: AscendClient,
}

impl Account {
    #[governed(action_type = "account.read", resource = "accounts", client = &self.client)]
    fn balance(&self) -> Result<u64, Error> {
        Ok(self.balance)
    }

    #[governed(action_type = "transaction", resource = "accounts", client = self.client,
               risk_indicators(amount = amount))]
    async fn withdraw(&mut self, amount: u64) -> Result<u64, Error> {
        self.balance -= amount;
        Ok(self.balance)
    }

    #[governed(action_type = "account.close", resource = "accounts", client = self.client.clone())]
    fn close(self) -> Result<u64, Error> {
        Ok(self.balance)
    }
}

#[tokio::main]
async fn main() {
    let mock = MockGovernance::allow_all();
    let mut account = Account { balance: 10, client: mock.client() };
    assert_eq!(account.balance().ok(), Some(10));
    assert_eq!(account.withdraw(3).await.ok(), Some(7));
    assert_eq!(account.close().ok(), Some(7));
    assert_eq!(mock.requests().len(), 3);
}
