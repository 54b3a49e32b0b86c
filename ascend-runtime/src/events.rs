//! The push stream `GET /api/v1/events/stream` (Server-Sent Events): the parser, and the hub
//! that owns the client's one reader and fans its events out to whoever listens — the
//! kill-switch watch and approval waits alike.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::background;
use crate::error::Error;
use crate::transport::Transport;

const STREAM_PATH: &[&str] = &["api", "v1", "events", "stream"];
/// Servers send keep-alive comments; silence this long means the stream is dead.
const IDLE: Duration = Duration::from_secs(60);
/// How long the stream stays open after the last listener left.
const LINGER: Duration = Duration::from_secs(5);

/// One parsed SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub event: String,
    pub data: String,
}

/// An incremental SSE parser (bytes in, events out). Lines longer than the limit are dropped
/// along with their event.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buf: Vec<u8>,
    event: String,
    data: Vec<String>,
    poisoned: bool,
}

const MAX_LINE: usize = 256 * 1024;

impl SseParser {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        self.buf.extend_from_slice(bytes);
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            self.line(&line, &mut out);
        }
        if self.buf.len() > MAX_LINE {
            self.buf.clear();
            self.poisoned = true;
        }
        out
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if !self.poisoned && !self.data.is_empty() {
                let event = if self.event.is_empty() {
                    "message".to_owned()
                } else {
                    std::mem::take(&mut self.event)
                };
                out.push(SseEvent {
                    event,
                    data: self.data.join("\n"),
                });
            }
            self.event.clear();
            self.data.clear();
            self.poisoned = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => self.data.push(value.to_owned()),
            _ => {}
        }
    }
}

/// What listeners hear.
#[derive(Debug, Clone)]
pub(crate) enum HubEvent {
    /// A decision changed for this action.
    Decision { action_id: String },
    /// A `kill_switch` event (its data; the kill-switch watch decides whether it applies).
    KillSwitch(Arc<Value>),
    /// The stream connected: events from before were not pushed, so listeners re-read.
    Connected,
    /// The stream broke; listeners fall back to polling.
    Disconnected,
}

/// The client's one push stream and the fan-out of its events. The reader is started by the
/// first listener that needs it ([`EventHub::listen`]: the kill-switch watch or an approval
/// wait), whoever that is, and ends when nobody listens any more (the next listener starts it
/// again). A server without the stream (404) is remembered: listeners poll from then on.
pub(crate) struct EventHub {
    transport: Arc<Transport>,
    /// `ClientBuilder::event_stream`: when false, no stream is ever opened.
    enabled: bool,
    /// Pause before reconnecting after the stream ended or could not be opened.
    retry: Duration,
    connected: AtomicBool,
    reading: AtomicBool,
    unsupported: AtomicBool,
    tx: broadcast::Sender<HubEvent>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("enabled", &self.enabled)
            .field("connected", &self.connected())
            .field("listeners", &self.tx.receiver_count())
            .finish_non_exhaustive()
    }
}

impl EventHub {
    pub fn new(transport: Arc<Transport>, enabled: bool, retry: Duration) -> Self {
        EventHub {
            transport,
            enabled,
            retry,
            connected: AtomicBool::new(false),
            reading: AtomicBool::new(false),
            unsupported: AtomicBool::new(false),
            tx: broadcast::channel(256).0,
        }
    }

    /// Whether the stream is connected now (pushed events arrive).
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Listen to the stream's events, starting the reader when none runs.
    pub fn listen(self: &Arc<Self>) -> broadcast::Receiver<HubEvent> {
        let rx = self.tx.subscribe();
        if self.enabled
            && !self.unsupported.load(Ordering::Acquire)
            && !self.reading.swap(true, Ordering::AcqRel)
            && let Err(e) = background::spawn(read_loop(Arc::clone(self)))
        {
            self.reading.store(false, Ordering::Release);
            tracing::debug!(error = %e, "cannot start the push-stream reader; polling");
        }
        rx
    }

    fn set_connected(&self, on: bool) {
        let was = self.connected.swap(on, Ordering::AcqRel);
        match (was, on) {
            (false, true) => drop(self.tx.send(HubEvent::Connected)),
            (true, false) => drop(self.tx.send(HubEvent::Disconnected)),
            _ => {}
        }
    }

    /// Whether the reader goes on: someone listens. When nobody does, the reader stops, unless
    /// a listener came in meanwhile and found it still running.
    fn keep_reading(&self) -> bool {
        if self.tx.receiver_count() > 0 {
            return true;
        }
        self.reading.store(false, Ordering::Release);
        self.tx.receiver_count() > 0 && !self.reading.swap(true, Ordering::AcqRel)
    }

    fn publish(&self, ev: &SseEvent) {
        let Ok(data) = serde_json::from_str::<Value>(&ev.data) else {
            tracing::debug!(event = %ev.event, "ignoring an event with malformed data");
            return;
        };
        match ev.event.as_str() {
            "kill_switch" => drop(self.tx.send(HubEvent::KillSwitch(Arc::new(data)))),
            "decision" => self.publish_decision(&data),
            _ => {}
        }
    }

    fn publish_decision(&self, data: &Value) {
        let id = match data.get("action_id").or_else(|| data.get("id")) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return,
        };
        let _ = self.tx.send(HubEvent::Decision { action_id: id });
    }
}

/// The reader task: connect, read until the stream ends, reconnect after a pause — while
/// anyone listens.
async fn read_loop(hub: Arc<EventHub>) {
    loop {
        match hub.transport.open_stream(STREAM_PATH).await {
            Ok(resp) => {
                tracing::debug!("push stream connected");
                hub.set_connected(true);
                let end = read_events(&hub, resp).await;
                hub.set_connected(false);
                tracing::debug!(reason = %end, "push stream ended; polling meanwhile");
            }
            Err(Error::NotFound { .. }) => {
                tracing::debug!("no push stream on this server; polling");
                hub.unsupported.store(true, Ordering::Release);
                hub.reading.store(false, Ordering::Release);
                return;
            }
            Err(e) => tracing::debug!(error = %e, "push stream unavailable; polling"),
        }
        tokio::select! {
            _ = tokio::time::sleep(hub.retry) => {}
            _ = hub.tx.closed() => {}
        }
        if !hub.keep_reading() {
            return;
        }
    }
}

/// Read events until the stream ends, errors, goes idle, or nobody has listened for
/// [`LINGER`] (an approval wait stops listening while it re-reads the status: the stream is
/// kept for the next wait).
async fn read_events(hub: &EventHub, mut resp: reqwest::Response) -> String {
    let mut parser = SseParser::default();
    let mut unheard_until: Option<tokio::time::Instant> = None;
    loop {
        let linger =
            tokio::time::sleep_until(unheard_until.unwrap_or_else(tokio::time::Instant::now));
        let chunk = tokio::select! {
            c = tokio::time::timeout(IDLE, resp.chunk()) => c,
            () = hub.tx.closed(), if unheard_until.is_none() => {
                unheard_until = Some(tokio::time::Instant::now() + LINGER);
                continue;
            }
            () = linger, if unheard_until.is_some() => {
                if hub.tx.receiver_count() == 0 {
                    return "nobody listens".into();
                }
                unheard_until = None;
                continue;
            }
        };
        let bytes = match chunk {
            Err(_) => return "idle timeout".into(),
            Ok(Err(e)) => return format!("stream error: {e}"),
            Ok(Ok(None)) => return "stream closed by the server".into(),
            Ok(Ok(Some(b))) => b,
        };
        for ev in parser.feed(&bytes) {
            hub.publish(&ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed(b": keep-alive\n\nevent: kill_sw").is_empty());
        let evs = p.feed(b"itch\r\ndata: {\"blocked\":true}\r\n\r\ndata: a\ndata: b\n\n");
        assert_eq!(
            evs,
            vec![
                SseEvent {
                    event: "kill_switch".into(),
                    data: "{\"blocked\":true}".into()
                },
                SseEvent {
                    event: "message".into(),
                    data: "a\nb".into()
                }
            ]
        );
    }

    #[test]
    fn oversized_lines_are_dropped() {
        let mut p = SseParser::default();
        let big = vec![b'x'; MAX_LINE + 10];
        p.feed(b"data: ");
        p.feed(&big);
        assert!(p.feed(b"\n\n").is_empty());
        assert_eq!(p.feed(b"data: ok\n\n").len(), 1);
    }
}
