//! Operating the service: readiness and metrics.

use super::Governance;
use super::access::{self, Operation};
use crate::error::Result;
use crate::metrics::Snapshot;
use crate::model::{ActionFilter, Principal};

impl Governance {
    /// Ready to serve: the store answers and its schema is this build's (`GET /ready`).
    pub async fn ready(&self) -> Result<()> {
        self.state.store.ready().await
    }

    /// The metrics in the Prometheus text format (the operator: they span organisations).
    pub async fn metrics_text(&self, p: &Principal) -> Result<String> {
        access::authorize(p, Operation::ReadMetrics)?;
        let mut orgs: Vec<(i64, String)> = self
            .state
            .orgs
            .read()
            .map(|o| o.iter().map(|(id, n)| (*id, n.clone())).collect())
            .unwrap_or_default();
        orgs.sort();
        let mut now = Snapshot {
            writer_queue: self.state.store.queue_depth() as u64,
            kill_switches: self.state.kill.read().map_or(0, |k| k.active_count()) as u64,
            ..Snapshot::default()
        };
        for (id, name) in orgs {
            let filter = ActionFilter {
                status: Some("pending_approval".into()),
                limit: 1,
                ..ActionFilter::default()
            };
            let (_, pending) = self.state.store.list_actions(id, filter).await?;
            now.pending_approvals += pending;
            now.audit
                .push((name, self.state.store.audit_count(id).await?));
        }
        Ok(self.state.metrics.render(&now))
    }
}
