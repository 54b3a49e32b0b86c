//! The kill switch: a local flag every evaluation reads first (one atomic load), and the watch
//! that keeps it current — the push stream `GET /api/v1/events/stream` when the server offers
//! it, polling `GET /api/sdk/kill-switch/status` otherwise.
//!
//! When the watch keeps failing (`kill_switch_failure_limit` consecutive failures), a
//! fail-closed client blocks itself and logs why; a fail-open client only warns. The block
//! lifts at the next successful status.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::client::Inner;
use crate::config::FailMode;
use crate::error::Error;
use crate::events::SseParser;
use crate::wire::KillSwitchStatus;

/// Why the flag is set.
const NONE: u8 = 0;
const SERVER: u8 = 1;
const WATCH_FAILED: u8 = 2;

/// The local kill-switch flag.
#[derive(Debug, Default)]
pub(crate) struct KillSwitch {
    blocked: AtomicBool,
    source: AtomicU8,
    reason: Mutex<String>,
    pub(crate) generation: AtomicU64,
    pub(crate) wake: Arc<Notify>,
    pub(crate) watching: AtomicBool,
}

impl KillSwitch {
    #[inline]
    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Ordering::Acquire)
    }

    pub fn reason(&self) -> String {
        self.reason.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn error(&self) -> Error {
        Error::KillSwitch {
            reason: self.reason(),
        }
    }

    fn set(&self, blocked: bool, source: u8, reason: String) {
        if let Ok(mut r) = self.reason.lock() {
            *r = reason;
        }
        self.source
            .store(if blocked { source } else { NONE }, Ordering::Release);
        self.blocked.store(blocked, Ordering::Release);
    }

    /// Apply a status from the server.
    pub fn apply(&self, status: &KillSwitchStatus) {
        let was = self.is_blocked();
        if status.blocked {
            let reason = status
                .reason
                .clone()
                .unwrap_or_else(|| "kill switch activated".to_owned());
            if !was {
                tracing::warn!(reason = %reason, "kill switch activated: governed actions are blocked");
            }
            self.set(true, SERVER, reason);
        } else if was {
            tracing::info!("kill switch released: governed actions may run again");
            self.set(false, NONE, String::new());
        }
    }

    /// Block locally (tests, the test double, watch failure).
    pub fn trigger(&self, reason: impl Into<String>) {
        self.set(true, SERVER, reason.into());
    }

    /// Release a local block.
    pub fn release(&self) {
        self.set(false, NONE, String::new());
    }

    fn block_for_watch_failure(&self, failures: u32, error: &Error) {
        if self.is_blocked() {
            return;
        }
        let reason = format!(
            "kill-switch status unavailable after {failures} consecutive failures ({error}); \
             fail-closed client blocks until the status can be read"
        );
        tracing::error!(failures, error = %error, "{reason}");
        self.set(true, WATCH_FAILED, reason);
    }
}

/// Start the watch task for `inner` (no-op when running).
pub(crate) fn start(inner: &Arc<Inner>) {
    let kill = &inner.kill;
    if kill.watching.swap(true, Ordering::AcqRel) {
        return;
    }
    let generation = kill.generation.fetch_add(1, Ordering::AcqRel) + 1;
    let weak = Arc::downgrade(inner);
    if let Err(e) = crate::background::spawn(watch(weak, generation)) {
        kill.watching.store(false, Ordering::Release);
        tracing::error!(error = %e, "cannot start the kill-switch watch");
    }
}

/// Stop the watch task.
pub(crate) fn stop(kill: &KillSwitch) {
    if kill.watching.swap(false, Ordering::AcqRel) {
        kill.generation.fetch_add(1, Ordering::AcqRel);
        kill.wake.notify_waiters();
    }
}

fn current(weak: &Weak<Inner>, generation: u64) -> Option<Arc<Inner>> {
    let inner = weak.upgrade()?;
    (inner.kill.generation.load(Ordering::Acquire) == generation).then_some(inner)
}

async fn watch(weak: Weak<Inner>, generation: u64) {
    let mut failures = 0u32;
    let mut stream_supported = true;
    let mut stream_retry_at = tokio::time::Instant::now();
    loop {
        let Some(inner) = current(&weak, generation) else {
            return;
        };
        let interval = inner.config.kill_switch_interval;

        // 1. Poll once (also the initial sync before listening to the stream).
        match inner.backend.kill_switch_status().await {
            Ok(status) => {
                failures = 0;
                inner.kill.apply(&status);
                inner.maybe_flush();
            }
            Err(e) => {
                failures += 1;
                note_failure(&inner, failures, &e);
            }
        }

        // 2. Listen to the push stream while it works.
        let use_stream = inner.config.event_stream
            && stream_supported
            && failures == 0
            && tokio::time::Instant::now() >= stream_retry_at;
        if let (true, Some(http)) = (use_stream, inner.http.clone()) {
            drop(inner);
            match http
                .transport
                .open_stream(&["api", "v1", "events", "stream"])
                .await
            {
                Ok(resp) => {
                    tracing::debug!("kill-switch watch: push stream connected");
                    http.events.set_connected(true);
                    let end = read_stream(resp, &weak, generation, &http.events).await;
                    http.events.set_connected(false);
                    tracing::debug!(reason = %end, "kill-switch watch: push stream ended; polling");
                    stream_retry_at = tokio::time::Instant::now() + interval;
                    // Re-sync by polling right away.
                    continue;
                }
                Err(Error::NotFound { .. }) => {
                    tracing::debug!(
                        "no push stream on this server; polling the kill-switch status"
                    );
                    stream_supported = false;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "push stream unavailable; polling");
                    stream_retry_at = tokio::time::Instant::now() + interval;
                }
            }
        } else {
            drop(inner);
        }

        // 3. Sleep until the next poll (or a stop).
        let Some(inner) = current(&weak, generation) else {
            return;
        };
        let wake = Arc::clone(&inner.kill.wake);
        drop(inner);
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if current(&weak, generation).is_none() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = notified => {}
        }
    }
}

fn note_failure(inner: &Inner, failures: u32, e: &Error) {
    tracing::warn!(failures, error = %e, "kill-switch status check failed");
    if failures >= inner.config.kill_switch_failure_limit {
        match inner.config.fail_mode {
            FailMode::Closed => inner.kill.block_for_watch_failure(failures, e),
            FailMode::Open => tracing::warn!(
                failures,
                "kill-switch status unavailable; fail-open client keeps running"
            ),
        }
    }
}

/// Read events until the stream ends, errors, goes idle, or the watch is stopped.
async fn read_stream(
    mut resp: reqwest::Response,
    weak: &Weak<Inner>,
    generation: u64,
    events: &crate::events::EventHub,
) -> String {
    let mut parser = SseParser::default();
    // Servers send keep-alive comments; silence this long means the stream is dead.
    let idle = Duration::from_secs(60);
    loop {
        let Some(inner) = current(weak, generation) else {
            return "watch stopped".into();
        };
        let wake = Arc::clone(&inner.kill.wake);
        drop(inner);
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if current(weak, generation).is_none() {
            return "watch stopped".into();
        }
        let chunk = tokio::select! {
            c = tokio::time::timeout(idle, resp.chunk()) => c,
            _ = notified => return "watch stopped".into(),
        };
        let bytes = match chunk {
            Err(_) => return "idle timeout".into(),
            Ok(Err(e)) => return format!("stream error: {e}"),
            Ok(Ok(None)) => return "stream closed by server".into(),
            Ok(Ok(Some(b))) => b,
        };
        for ev in parser.feed(&bytes) {
            let Ok(data) = serde_json::from_str::<Value>(&ev.data) else {
                tracing::debug!(event = %ev.event, "ignoring an event with malformed data");
                continue;
            };
            match ev.event.as_str() {
                "kill_switch" => {
                    let Some(inner) = current(weak, generation) else {
                        return "watch stopped".into();
                    };
                    if let Some(status) = kill_switch_event(&data, inner.config.agent_id()) {
                        inner.kill.apply(&status);
                    }
                }
                "decision" => events.publish_decision(&data),
                _ => {}
            }
        }
    }
}

/// A `kill_switch` event applies when it names no agent or this agent.
fn kill_switch_event(data: &Value, agent_id: &str) -> Option<KillSwitchStatus> {
    let blocked = data.get("blocked")?.as_bool()?;
    match data.get("agent_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(a)) if a == agent_id => {}
        Some(_) => return None,
    }
    Some(KillSwitchStatus {
        blocked,
        reason: data
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        activated_at: None,
        activated_by: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_for_other_agents_are_ignored() {
        assert!(kill_switch_event(&json!({"blocked": true, "agent_id": "b"}), "a").is_none());
        assert!(
            kill_switch_event(&json!({"blocked": true, "agent_id": null}), "a")
                .unwrap()
                .blocked
        );
        assert!(
            kill_switch_event(&json!({"blocked": true, "agent_id": "a"}), "a")
                .unwrap()
                .blocked
        );
        assert!(kill_switch_event(&json!({"blocked": "yes"}), "a").is_none());
    }

    #[test]
    fn flag_follows_status() {
        let k = KillSwitch::default();
        assert!(!k.is_blocked());
        k.apply(&KillSwitchStatus {
            blocked: true,
            reason: Some("incident".into()),
            ..Default::default()
        });
        assert!(k.is_blocked());
        assert!(matches!(k.error(), Error::KillSwitch { reason } if reason == "incident"));
        k.apply(&KillSwitchStatus::default());
        assert!(!k.is_blocked());
    }
}
