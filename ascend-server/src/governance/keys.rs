//! API keys and organisations: create, list, revoke, rotate; organisations for the operator.
//!
//! Revocation takes effect at once (the in-memory key ring is updated after the store commits),
//! without a restart. Each key has an owner — the person or service identity behind it — and
//! remembers the owner of the key that created it; separation of duties compares those people,
//! never key ids.

use super::Governance;
use super::access::{self, Operation};
use crate::audit::Event;
use crate::auth::{KeySpec, generate_key};
use crate::error::{Error, Result};
use crate::model::{ApiKeyRecord, Principal, Role, Timestamp, now};

/// A key to create.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    /// Its role.
    pub role: Role,
    /// The one agent it acts for. Required for agent keys unless `fleet` is set.
    pub agent_id: Option<String>,
    /// Its name (the audit actor); generated when None.
    pub name: Option<String>,
    /// The person or service identity it belongs to (the name when None).
    pub owner: Option<String>,
    /// It stops working after this time.
    pub expires_at: Option<Timestamp>,
    /// An agent key for any agent id (a gateway fronting many agents): it submits for the
    /// agent it names but reads, reports and manages only what it submitted or created.
    pub fleet: bool,
    /// Create it in this organisation (an operator only; the caller's own when None).
    pub org_id: Option<i64>,
}

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
}

fn check_identity(field: &str, v: &Option<String>) -> Result<()> {
    if let Some(v) = v {
        crate::ident::check(field, v)?;
    }
    Ok(())
}

impl Governance {
    /// Create a key in the caller's organisation (or, for an operator, in `input.org_id`).
    /// Returns the key (shown once; only its hash is stored) and its record.
    pub async fn create_key(&self, p: &Principal, input: NewKey) -> Result<(String, ApiKeyRecord)> {
        access::authorize(p, Operation::CreateKey)?;
        let org_id = match input.org_id {
            Some(org) if org != p.org_id => {
                access::authorize(p, Operation::ManageOrgs)?;
                if !self.org_exists(org) {
                    return Err(Error::NotFound(format!("organisation {org} not found")));
                }
                org
            }
            _ => p.org_id,
        };
        if input.role > p.role {
            return Err(Error::Forbidden(format!(
                "a {} key cannot create a {} key",
                p.role, input.role
            )));
        }
        if input.role == Role::Agent && input.agent_id.is_none() && !input.fleet {
            return Err(Error::field(
                "agent_id",
                "an agent key acts for one agent: give agent_id (or fleet: true for a key that \
                 submits for any agent and sees only its own submissions)",
            ));
        }
        if input.fleet && input.agent_id.is_some() {
            return Err(Error::field(
                "fleet",
                "a fleet key is not bound to one agent",
            ));
        }
        if input.expires_at.is_some_and(|e| e <= now()) {
            return Err(Error::field("expires_at", "must be in the future"));
        }
        let creator = p.people.first().cloned().unwrap_or_else(|| p.name.clone());
        self.issue_key_as(org_id, input, &p.name, &creator, None)
            .await
    }

    /// Create a key on the service's own authority (first start, embedding code, tests).
    /// An agent key without `agent_id` is a fleet key ([`NewKey::fleet`]).
    pub async fn issue_key(
        &self,
        org_id: i64,
        input: NewKey,
        actor: &str,
    ) -> Result<(String, ApiKeyRecord)> {
        self.issue_key_as(org_id, input, actor, "system", None)
            .await
    }

    async fn issue_key_as(
        &self,
        org_id: i64,
        input: NewKey,
        actor: &str,
        created_by: &str,
        replaces: Option<&str>,
    ) -> Result<(String, ApiKeyRecord)> {
        check_identity("name", &input.name)?;
        check_identity("owner", &input.owner)?;
        let agent_id = match input.agent_id {
            Some(a) => Some(crate::ident::identifier("agent_id", &a)?),
            None => None,
        };
        let at = now();
        let spec = KeySpec {
            org_id,
            role: input.role,
            agent_id,
            name: input.name,
            owner: input.owner.map(|o| crate::ident::fold(&o)),
            created_by: created_by.to_owned(),
            expires_at: input.expires_at,
        };
        let (key, record) = generate_key(spec, at)?;
        let audit = Event::KeyCreated {
            key_id: &record.key_id,
            role: record.role,
            agent_id: record.agent_id.as_deref(),
            name: &record.name,
            owner: &record.owner,
            expires_at: record.expires_at,
            replaces,
        }
        .draft(org_id, actor, at);
        self.state.store.insert_key(record.clone(), audit).await?;
        self.state.keys.insert(record.clone());
        Ok((key, record))
    }

    /// The caller's organisation's keys (revoked ones included) with their last use.
    pub fn list_keys(&self, p: &Principal) -> Result<Vec<(ApiKeyRecord, Option<Timestamp>)>> {
        access::authorize(p, Operation::ManageKeys)?;
        Ok(self.state.keys.of_org(p.org_id))
    }

    /// Revoke a key of the caller's organisation: it stops authenticating at once.
    pub async fn revoke_key(&self, p: &Principal, key_id: &str, reason: &str) -> Result<()> {
        access::authorize(p, Operation::ManageKeys)?;
        self.revoke_in(p.org_id, key_id, reason, &p.name).await
    }

    async fn revoke_in(&self, org_id: i64, key_id: &str, reason: &str, actor: &str) -> Result<()> {
        let at = now();
        let known = self
            .state
            .keys
            .get(key_id)
            .filter(|k| k.org_id == org_id && k.revoked_at.is_none());
        if known.is_none() {
            return Err(Error::NotFound(format!(
                "key {key_id} not found or already revoked"
            )));
        }
        let audit = Event::KeyRevoked { key_id, reason }.draft(org_id, actor, at);
        self.state
            .store
            .revoke_key(org_id, key_id.to_owned(), at, audit)
            .await?;
        self.state.keys.revoke(key_id, at);
        Ok(())
    }

    /// Replace a key by a new one with the same role, binding, name and owner; the old key is
    /// revoked at once. Returns the new key (shown once) and its record.
    pub async fn rotate_key(&self, p: &Principal, key_id: &str) -> Result<(String, ApiKeyRecord)> {
        access::authorize(p, Operation::ManageKeys)?;
        let old = self
            .state
            .keys
            .get(key_id)
            .filter(|k| k.org_id == p.org_id && k.revoked_at.is_none())
            .ok_or_else(|| Error::NotFound(format!("key {key_id} not found or revoked")))?;
        if old.role > p.role {
            return Err(Error::Forbidden(format!(
                "a {} key cannot rotate a {} key",
                p.role, old.role
            )));
        }
        let input = NewKey {
            role: old.role,
            agent_id: old.agent_id.clone(),
            name: Some(old.name.clone()),
            owner: Some(old.owner.clone()),
            expires_at: old.expires_at,
            fleet: old.role == Role::Agent && old.agent_id.is_none(),
            org_id: None,
        };
        let created = self
            .issue_key_as(p.org_id, input, &p.name, &old.created_by, Some(key_id))
            .await?;
        self.revoke_in(p.org_id, key_id, "rotated", &p.name).await?;
        Ok(created)
    }

    /// The id of organisation `name`, created if missing.
    pub async fn ensure_org(&self, name: &str) -> Result<i64> {
        if let Some(id) = self.org_named(name) {
            return Ok(id);
        }
        let id = self.state.store.ensure_org(name.to_owned(), now()).await?;
        if let Ok(mut o) = self.state.orgs.write() {
            o.insert(id, name.to_owned());
        }
        Ok(id)
    }

    /// Create an organisation (operators only); 409 when the name is taken.
    pub async fn create_org(&self, p: &Principal, name: &str) -> Result<Org> {
        access::authorize(p, Operation::ManageOrgs)?;
        let name = crate::ident::identifier("name", name)?;
        if self.org_named(&name).is_some() {
            return Err(Error::Conflict(format!(
                "organisation {name:?} already exists"
            )));
        }
        let id = self.ensure_org(&name).await?;
        let audit = Event::OrgCreated { name: &name }.draft(id, &p.name, now());
        self.state.store.append_audit(audit).await?;
        Ok(Org { id, name })
    }

    /// Every organisation (operators only).
    pub fn list_orgs(&self, p: &Principal) -> Result<Vec<Org>> {
        access::authorize(p, Operation::ManageOrgs)?;
        let mut orgs: Vec<Org> = self
            .state
            .orgs
            .read()
            .map(|o| {
                o.iter()
                    .map(|(id, name)| Org {
                        id: *id,
                        name: name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        orgs.sort_by_key(|o| o.id);
        Ok(orgs)
    }

    fn org_named(&self, name: &str) -> Option<i64> {
        self.state.orgs.read().ok().and_then(|o| {
            o.iter()
                .find(|(_, n)| n.as_str() == name)
                .map(|(id, _)| *id)
        })
    }

    fn org_exists(&self, id: i64) -> bool {
        self.state.orgs.read().is_ok_and(|o| o.contains_key(&id))
    }
}
