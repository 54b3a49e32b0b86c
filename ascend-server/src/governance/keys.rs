//! API keys and organisations.

use super::Governance;
use super::access::{self, Operation};
use crate::audit::Event;
use crate::auth::generate_key;
use crate::error::Result;
use crate::model::{ApiKeyRecord, Principal, Role, now};

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Its role.
    pub role: Role,
    /// The one agent it acts for, if any.
    pub agent_id: Option<String>,
    /// Its name (the audit actor); generated when None.
    pub name: Option<String>,
}

impl Governance {
    /// Create a key in the caller's organisation. Returns the key (shown once; only its hash
    /// is stored) and its record.
    pub async fn create_key(&self, p: &Principal, input: NewKey) -> Result<(String, ApiKeyRecord)> {
        access::authorize(p, Operation::CreateKey)?;
        self.issue_key(p.org_id, input, &p.name).await
    }

    /// Create a key on the service's own authority (first start, embedding code, tests).
    pub async fn issue_key(
        &self,
        org_id: i64,
        input: NewKey,
        actor: &str,
    ) -> Result<(String, ApiKeyRecord)> {
        let at = now();
        let (key, record) = generate_key(org_id, input.role, input.agent_id, input.name, at)?;
        let audit = Event::KeyCreated {
            key_id: &record.key_id,
            role: record.role,
            agent_id: record.agent_id.as_deref(),
            name: &record.name,
        }
        .draft(org_id, actor, at);
        self.state.store.insert_key(record.clone(), audit).await?;
        self.state.keys.insert(record.clone());
        Ok((key, record))
    }

    /// The id of organisation `name`, created if missing.
    pub async fn ensure_org(&self, name: &str) -> Result<i64> {
        if let Some(id) = self.state.orgs.read().ok().and_then(|o| {
            o.iter()
                .find(|(_, n)| n.as_str() == name)
                .map(|(id, _)| *id)
        }) {
            return Ok(id);
        }
        let id = self.state.store.ensure_org(name.to_owned(), now()).await?;
        if let Ok(mut o) = self.state.orgs.write() {
            o.insert(id, name.to_owned());
        }
        Ok(id)
    }
}
