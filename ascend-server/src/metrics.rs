//! Operational metrics, served as `GET /metrics` in the Prometheus / OpenMetrics text format
//! (`prometheus-client`).
//!
//! Counted as they happen: decisions by outcome (`allowed`, `denied`, `pending`, `refused` for
//! kill-switch and MCP-registry refusals, `error`), decision latency (a histogram, seconds),
//! votes, and webhook deliveries that gave up. Read when scraped: pending approvals, active kill
//! switches, the store writer's queue depth and each organisation's audit chain length.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label sets.
type Labels = Vec<(&'static str, String)>;

/// The outcomes a decision is counted under.
pub const OUTCOMES: [&str; 5] = ["allowed", "denied", "pending", "refused", "error"];

/// The metrics of one service.
pub struct Metrics {
    registry: Registry,
    /// One counter per outcome of [`OUTCOMES`], created up front so counting a decision on the
    /// submit path allocates nothing.
    decisions: [Counter; OUTCOMES.len()],
    decision_seconds: Histogram,
    votes: Family<Labels, Counter>,
    webhook_failures: Counter,
    pending: Gauge,
    kill_switches: Gauge,
    writer_queue: Gauge,
    audit_entries: Family<Labels, Gauge<i64, AtomicU64Signed>>,
}

/// `Gauge<i64>`'s default atomic.
type AtomicU64Signed = std::sync::atomic::AtomicI64;

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ascend");
        let family = Family::<Labels, Counter>::default();
        registry.register(
            "decisions",
            "Decisions by outcome (allowed, denied, pending, refused, error)",
            family.clone(),
        );
        let decisions = OUTCOMES.map(|o| {
            family
                .get_or_create(&vec![("outcome", o.to_owned())])
                .clone()
        });
        // 50 µs … ~3.3 s.
        let decision_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 17));
        registry.register(
            "decision_seconds",
            "Time to answer a submit, pipeline and commit included",
            decision_seconds.clone(),
        );
        let votes = Family::<Labels, Counter>::default();
        registry.register("votes", "Reviewer votes by kind", votes.clone());
        let webhook_failures = Counter::default();
        registry.register(
            "webhook_failures",
            "Webhook deliveries that failed every attempt",
            webhook_failures.clone(),
        );
        let pending = Gauge::default();
        registry.register(
            "pending_approvals",
            "Actions waiting for a human",
            pending.clone(),
        );
        let kill_switches = Gauge::default();
        registry.register(
            "kill_switches_active",
            "Organisations and agents halted",
            kill_switches.clone(),
        );
        let writer_queue = Gauge::default();
        registry.register(
            "store_writer_queue",
            "Writes waiting for the store's writer",
            writer_queue.clone(),
        );
        let audit_entries = Family::<Labels, Gauge<i64, AtomicU64Signed>>::default();
        registry.register(
            "audit_entries",
            "Length of each organisation's audit chain (its head's sequence number)",
            audit_entries.clone(),
        );
        Self {
            registry,
            decisions,
            decision_seconds,
            votes,
            webhook_failures,
            pending,
            kill_switches,
            writer_queue,
            audit_entries,
        }
    }
}

/// What is read when the metrics are scraped.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Actions waiting for a human, all organisations.
    pub pending_approvals: u64,
    /// Active kill switches.
    pub kill_switches: u64,
    /// The store writer's queue.
    pub writer_queue: u64,
    /// (organisation name, audit entries).
    pub audit: Vec<(String, u64)>,
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Metrics {
    /// Count one answered submit (`outcome`: one of [`OUTCOMES`]; anything else counts as
    /// `error`).
    pub fn decision(&self, outcome: &str, took: Duration) {
        let i = OUTCOMES
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(OUTCOMES.len() - 1);
        self.decisions[i].inc();
        self.decision_seconds.observe(took.as_secs_f64());
    }

    /// Count one vote.
    pub fn vote(&self, approve: bool) {
        let kind = if approve { "approve" } else { "deny" };
        self.votes
            .get_or_create(&vec![("kind", kind.to_owned())])
            .inc();
    }

    /// Count a webhook delivery that gave up.
    pub fn webhook_failed(&self) {
        self.webhook_failures.inc();
    }

    /// The text exposition, with the scrape-time values of `now`.
    pub fn render(&self, now: &Snapshot) -> String {
        self.pending.set(gauge(now.pending_approvals));
        self.kill_switches.set(gauge(now.kill_switches));
        self.writer_queue.set(gauge(now.writer_queue));
        for (org, n) in &now.audit {
            self.audit_entries
                .get_or_create(&vec![("organization", org.clone())])
                .set(gauge(*n));
        }
        let mut out = String::new();
        // Encoding into a String cannot fail (fmt::Write on String is infallible).
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_gauges() {
        let m = Metrics::default();
        m.decision("allowed", Duration::from_micros(120));
        m.decision("allowed", Duration::from_micros(80));
        m.decision("denied", Duration::from_millis(2));
        m.vote(true);
        m.webhook_failed();
        let text = m.render(&Snapshot {
            pending_approvals: 3,
            kill_switches: 1,
            writer_queue: 0,
            audit: vec![("default".into(), 42)],
        });
        assert!(
            text.contains("ascend_decisions_total{outcome=\"allowed\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("ascend_decisions_total{outcome=\"denied\"} 1"),
            "{text}"
        );
        assert!(text.contains("ascend_decision_seconds_count 3"), "{text}");
        assert!(text.contains("ascend_pending_approvals 3"), "{text}");
        assert!(
            text.contains("ascend_audit_entries{organization=\"default\"} 42"),
            "{text}"
        );
        assert!(text.contains("ascend_webhook_failures_total 1"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
