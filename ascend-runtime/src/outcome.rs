//! What happened after a decision: the [`Outcome`] of an allowed action, and the
//! [`FailOpenRecord`]s of actions allowed without the service (fail-open mode), kept in a
//! bounded queue until the service answers again.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::action::AgentAction;

/// How an allowed action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The action ran to completion.
    Completed {
        /// How long it ran.
        duration: Duration,
    },
    /// The action ran and failed.
    Failed {
        /// The error text (its `Display`).
        error: String,
        /// How long it ran.
        duration: Duration,
    },
}

impl Outcome {
    /// How long the action ran.
    pub fn duration(&self) -> Duration {
        match self {
            Outcome::Completed { duration } | Outcome::Failed { duration, .. } => *duration,
        }
    }

    /// The body of `POST /api/agent-action/{id}/complete` or `/fail` (wire-protocol §3.2).
    pub fn body(&self, action_id: &str) -> Value {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
        let ms = u64::try_from(self.duration().as_millis()).unwrap_or(u64::MAX);
        match self {
            Outcome::Completed { .. } => json!({
                "action_id": action_id,
                "status": "completed",
                "completed_at": now,
                "duration_ms": ms,
            }),
            Outcome::Failed { error, .. } => json!({
                "action_id": action_id,
                "status": "failed",
                "failed_at": now,
                "error": error,
                "duration_ms": ms,
            }),
        }
    }
}

/// An action that was allowed in fail-open mode while the service could not be reached.
#[derive(Debug, Clone, PartialEq)]
pub struct FailOpenRecord {
    /// The synthetic action id (`fail_open_asc_…`); also the idempotency key of its delivery.
    pub action_id: String,
    /// The action that ran.
    pub action: AgentAction,
    /// Why the service was considered unreachable.
    pub error: String,
    /// When it was allowed (RFC 3339).
    pub allowed_at: String,
    /// Its outcome, when reported before delivery.
    pub outcome: Option<Outcome>,
}

impl FailOpenRecord {
    /// The action as delivered: the original action with `context` marking it as allowed in
    /// fail-open mode (`fail_open`, `fail_open_action_id`, `fail_open_at`, `fail_open_error`).
    pub fn delivery_action(&self) -> AgentAction {
        let mut a = self.action.clone();
        a.context.insert("fail_open".into(), Value::Bool(true));
        a.context.insert(
            "fail_open_action_id".into(),
            Value::String(self.action_id.clone()),
        );
        a.context.insert(
            "fail_open_at".into(),
            Value::String(self.allowed_at.clone()),
        );
        a.context
            .insert("fail_open_error".into(), Value::String(self.error.clone()));
        a
    }
}

/// Bounded FIFO of fail-open records. Overflow is counted and logged (with the action), never
/// silent.
#[derive(Debug)]
pub(crate) struct FailOpenQueue {
    items: Mutex<VecDeque<FailOpenRecord>>,
    capacity: usize,
    len: AtomicUsize,
    overflow: AtomicU64,
    pub(crate) flushing: AtomicBool,
}

impl FailOpenQueue {
    pub fn new(capacity: usize) -> Self {
        FailOpenQueue {
            items: Mutex::new(VecDeque::new()),
            capacity,
            len: AtomicUsize::new(0),
            overflow: AtomicU64::new(0),
            flushing: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<FailOpenRecord>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub fn overflow(&self) -> u64 {
        self.overflow.load(Ordering::Acquire)
    }

    pub fn push(&self, record: FailOpenRecord) {
        let mut q = self.lock();
        if q.len() >= self.capacity {
            let total = self.overflow.fetch_add(1, Ordering::AcqRel) + 1;
            tracing::error!(
                action_id = %record.action_id,
                action_type = %record.action.action_type,
                resource = %record.action.resource,
                agent_id = %record.action.agent_id,
                error = %record.error,
                overflow_total = total,
                "fail-open record queue full: this record will not reach the server's audit trail"
            );
            return;
        }
        q.push_back(record);
        self.len.store(q.len(), Ordering::Release);
    }

    pub fn pop(&self) -> Option<FailOpenRecord> {
        let mut q = self.lock();
        let r = q.pop_front();
        self.len.store(q.len(), Ordering::Release);
        r
    }

    pub fn push_front(&self, record: FailOpenRecord) {
        let mut q = self.lock();
        q.push_front(record);
        self.len.store(q.len(), Ordering::Release);
    }

    /// Attach an outcome to a queued record. Returns false when the record is not queued.
    pub fn attach_outcome(&self, action_id: &str, outcome: &Outcome) -> bool {
        let mut q = self.lock();
        match q.iter_mut().find(|r| r.action_id == action_id) {
            Some(r) => {
                r.outcome = Some(outcome.clone());
                true
            }
            None => false,
        }
    }
}
