//! The audit trail as an operation (query, export, verify) and policy reloads.

use super::Governance;
use super::access::{self, Operation};
use crate::audit::{Event, VerifyReport};
use crate::error::{Error, Result};
use crate::model::{AuditEntry, Principal};

impl Governance {
    /// Entries of the caller's organisation in chain order, from `offset`, at most `limit`, and
    /// the total count.
    pub async fn audit_page(
        &self,
        p: &Principal,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<AuditEntry>, u64)> {
        access::authorize(p, Operation::ReadAudit)?;
        let total = self.state.store.audit_count(p.org_id).await?;
        let rows = self
            .state
            .store
            .audit_entries(p.org_id, offset, limit)
            .await?;
        Ok((rows, total))
    }

    /// Every entry of the caller's organisation.
    pub async fn audit_export(&self, p: &Principal) -> Result<Vec<AuditEntry>> {
        access::authorize(p, Operation::ReadAudit)?;
        let mut out = Vec::new();
        loop {
            let page = self
                .state
                .store
                .audit_entries(p.org_id, out.len() as u64, 10_000)
                .await?;
            let n = page.len();
            out.extend(page);
            if n < 10_000 {
                return Ok(out);
            }
        }
    }

    /// Verify the caller's organisation's chain against its head (one consistent snapshot).
    pub async fn verify_audit(&self, p: &Principal) -> Result<VerifyReport> {
        access::authorize(p, Operation::ReadAudit)?;
        self.state.store.verify_audit(p.org_id).await
    }

    /// Re-read the policy directory (atomic swap; on failure the previous set stays active).
    /// Returns the number of policies now active.
    pub async fn reload_policies(&self, p: &Principal) -> Result<usize> {
        access::authorize(p, Operation::ReloadPolicies)?;
        let dir = self.state.config.policies_dir.clone().ok_or_else(|| {
            Error::BadRequest(
                "the server runs on built-in policies (start it with --policies DIR)".into(),
            )
        })?;
        let result = self.state.engine.policy.reload_from_dir(&dir);
        let event = Event::PolicyReloaded {
            dir: dir.display().to_string(),
            ok: result.is_ok(),
            policies: match &result {
                Ok(n) => *n,
                Err(_) => self.state.engine.policy.policy_count(),
            },
            error: result.as_ref().err().map(ToString::to_string),
        };
        self.state.store.append_audit(self.draft(p, &event)).await?;
        result.map_err(|e| Error::Validation {
            detail: format!("policies not reloaded (the previous set stays active): {e}"),
            errors: serde_json::Map::new(),
        })
    }
}
