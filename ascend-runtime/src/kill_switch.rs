//! The kill switch: a local flag every evaluation reads first (one atomic load, through
//! [`KillSwitch::check`]), and the watch that keeps it current. The watch polls
//! `GET /api/sdk/kill-switch/status?agent_id=` and listens to the client's push stream
//! ([`EventHub`]) when the backend has one: pushed `kill_switch` events set the flag at once,
//! and the timer stops while the stream is connected.
//!
//! When the watch keeps failing (`kill_switch_failure_limit` consecutive failures), a
//! fail-closed client blocks itself and logs why; a fail-open client only warns. The block
//! lifts at the next successful status.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use serde_json::Value;
use tokio::sync::Notify;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::backend::Backend;
use crate::config::{Config, FailMode};
use crate::error::{Error, Result};
use crate::events::{EventHub, HubEvent};
use crate::wire::KillSwitchStatus;

/// Why the flag is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Source {
    None = 0,
    /// The server said so (a status or a pushed event).
    Server = 1,
    /// `AscendClient::trigger_kill_switch` (or the test double).
    Local = 2,
    /// The watch could not read the status (fail-closed client).
    WatchFailed = 3,
}

impl Source {
    fn from_u8(v: u8) -> Source {
        match v {
            1 => Source::Server,
            2 => Source::Local,
            3 => Source::WatchFailed,
            _ => Source::None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Source::None => "none",
            Source::Server => "server",
            Source::Local => "local trigger",
            Source::WatchFailed => "kill-switch status unavailable",
        }
    }
}

/// The local kill-switch flag.
#[derive(Debug, Default)]
pub(crate) struct KillSwitch {
    blocked: AtomicBool,
    source: AtomicU8,
    reason: Mutex<String>,
    generation: AtomicU64,
    wake: Arc<Notify>,
    watching: AtomicBool,
}

impl KillSwitch {
    #[inline]
    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Ordering::Acquire)
    }

    /// The guard every entry point runs first: `Err(Error::KillSwitch)` when blocked (no
    /// network). The refusal is logged at debug with what set the flag.
    #[inline]
    pub fn check(&self) -> Result<()> {
        if !self.is_blocked() {
            return Ok(());
        }
        let error = self.error();
        tracing::debug!(set_by = self.source().describe(), error = %error, "call refused locally");
        Err(error)
    }

    pub fn reason(&self) -> String {
        self.reason.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn error(&self) -> Error {
        Error::KillSwitch {
            reason: self.reason(),
        }
    }

    fn source(&self) -> Source {
        Source::from_u8(self.source.load(Ordering::Acquire))
    }

    fn set(&self, blocked: bool, source: Source, reason: String) {
        if let Ok(mut r) = self.reason.lock() {
            *r = reason;
        }
        let source = if blocked { source } else { Source::None };
        self.source.store(source as u8, Ordering::Release);
        self.blocked.store(blocked, Ordering::Release);
    }

    /// Apply a status from the server (it replaces a block of any source).
    pub fn apply(&self, status: &KillSwitchStatus) {
        let was = self.source();
        if status.blocked {
            let reason = status
                .reason
                .clone()
                .unwrap_or_else(|| "kill switch activated".to_owned());
            if was != Source::Server {
                tracing::warn!(reason = %reason, "kill switch activated: governed actions are blocked");
            }
            self.set(true, Source::Server, reason);
        } else if was != Source::None {
            match was {
                Source::WatchFailed => tracing::info!(
                    "kill-switch status readable again: the fail-closed block is lifted"
                ),
                _ => tracing::info!(
                    set_by = was.describe(),
                    "kill switch released: governed actions may run again"
                ),
            }
            self.set(false, Source::None, String::new());
        }
    }

    /// Block locally (tests, the test double).
    pub fn trigger(&self, reason: impl Into<String>) {
        self.set(true, Source::Local, reason.into());
    }

    /// Release a local block.
    pub fn release(&self) {
        self.set(false, Source::None, String::new());
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
        self.set(true, Source::WatchFailed, reason);
    }
}

/// What the watch works on (the client's state, which the watch holds weakly).
pub(crate) trait Watched: Send + Sync + 'static {
    fn kill_switch(&self) -> &KillSwitch;
    fn config(&self) -> &Config;
    fn backend(&self) -> &dyn Backend;
    /// The client's push stream, when its backend has one.
    fn events(&self) -> Option<&Arc<EventHub>>;
    /// The service answered (queued fail-open records may be delivered now).
    fn answered(self: &Arc<Self>);
}

/// Start the watch task (no-op when running).
pub(crate) fn start<W: Watched>(host: &Arc<W>) {
    let kill = host.kill_switch();
    if kill.watching.swap(true, Ordering::AcqRel) {
        return;
    }
    let generation = kill.generation.fetch_add(1, Ordering::AcqRel) + 1;
    if let Err(e) = crate::background::spawn(watch(Arc::downgrade(host), generation)) {
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

fn current<W: Watched>(weak: &Weak<W>, generation: u64) -> Option<Arc<W>> {
    let host = weak.upgrade()?;
    (host.kill_switch().generation.load(Ordering::Acquire) == generation).then_some(host)
}

async fn watch<W: Watched>(weak: Weak<W>, generation: u64) {
    // Listening first: the stream's reader starts now if nobody needed it yet.
    let mut events = current(&weak, generation).and_then(|h| h.events().map(EventHub::listen));
    let mut failures = 0u32;
    loop {
        let Some(host) = current(&weak, generation) else {
            return;
        };
        // Poll (also the sync before relying on the stream, and after it broke).
        match host.backend().kill_switch_status().await {
            Ok(status) => {
                failures = 0;
                host.kill_switch().apply(&status);
                host.answered();
            }
            Err(e) => {
                failures += 1;
                note_failure(&*host, failures, &e);
            }
        }
        // While the stream is connected (and the last poll worked) only its events matter.
        let pushed = failures == 0 && host.events().is_some_and(|h| h.connected());
        let interval = (!pushed).then_some(host.config().kill_switch_interval);
        drop(host);
        if !wait(&weak, generation, &mut events, interval).await {
            return;
        }
    }
}

/// Wait until the next poll is due: the interval is over (`None`: no timer), the stream
/// connected or broke (re-sync), or events were lost. Pushed kill-switch events are applied
/// meanwhile. False when the watch was stopped.
async fn wait<W: Watched>(
    weak: &Weak<W>,
    generation: u64,
    events: &mut Option<broadcast::Receiver<HubEvent>>,
    interval: Option<std::time::Duration>,
) -> bool {
    let Some(wake) = current(weak, generation).map(|h| Arc::clone(&h.kill_switch().wake)) else {
        return false;
    };
    let notified = wake.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let timer = tokio::time::sleep(interval.unwrap_or_default());
    tokio::pin!(timer);
    loop {
        if current(weak, generation).is_none() {
            return false;
        }
        let event = tokio::select! {
            () = &mut timer, if interval.is_some() => return true,
            () = &mut notified => return false,
            ev = recv(events) => ev,
        };
        match event {
            Ok(HubEvent::KillSwitch(data)) => {
                let Some(host) = current(weak, generation) else {
                    return false;
                };
                if let Some(status) = kill_switch_event(&data, host.config().agent_id()) {
                    host.kill_switch().apply(&status);
                }
            }
            Ok(HubEvent::Decision { .. }) => {}
            Ok(HubEvent::Connected | HubEvent::Disconnected) | Err(RecvError::Lagged(_)) => {
                return true;
            }
            Err(RecvError::Closed) => {
                *events = None;
                return true;
            }
        }
    }
}

/// The next event, or never when there is no stream.
async fn recv(
    events: &mut Option<broadcast::Receiver<HubEvent>>,
) -> std::result::Result<HubEvent, RecvError> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn note_failure<W: Watched>(host: &W, failures: u32, e: &Error) {
    tracing::warn!(failures, error = %e, "kill-switch status check failed");
    let config = host.config();
    if failures >= config.kill_switch_failure_limit {
        match config.fail_mode {
            FailMode::Closed => host.kill_switch().block_for_watch_failure(failures, e),
            FailMode::Open => tracing::warn!(
                failures,
                "kill-switch status unavailable; fail-open client keeps running"
            ),
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
        assert!(matches!(k.check(), Err(Error::KillSwitch { reason }) if reason == "incident"));
        assert_eq!(k.source(), Source::Server);
        k.apply(&KillSwitchStatus::default());
        assert!(!k.is_blocked());
        assert!(k.check().is_ok());
        assert_eq!(k.source(), Source::None);

        k.trigger("drill");
        assert_eq!(k.source(), Source::Local);
        k.block_for_watch_failure(3, &Error::Protocol("x".into()));
        assert_eq!(k.source(), Source::Local, "an existing block is kept");
        k.release();
        k.block_for_watch_failure(3, &Error::Protocol("x".into()));
        assert_eq!(k.source(), Source::WatchFailed);
        assert!(k.reason().contains("unavailable after 3"));
    }
}
