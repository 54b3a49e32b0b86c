//! The push stream `GET /api/v1/events/stream` (Server-Sent Events): the parser and the hub
//! that fans decision events out to waiting calls.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use tokio::sync::broadcast;

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

/// What waiting calls hear.
#[derive(Debug, Clone)]
pub(crate) enum HubEvent {
    /// A decision changed for this action.
    Decision { action_id: String },
    /// The stream broke; waiters fall back to polling.
    Disconnected,
}

/// Fan-out of stream events to waiting calls.
#[derive(Debug)]
pub(crate) struct EventHub {
    connected: AtomicBool,
    tx: broadcast::Sender<HubEvent>,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub {
            connected: AtomicBool::new(false),
            tx: broadcast::channel(256).0,
        }
    }
}

impl EventHub {
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }
    pub fn set_connected(&self, on: bool) {
        let was = self.connected.swap(on, Ordering::AcqRel);
        if was && !on {
            let _ = self.tx.send(HubEvent::Disconnected);
        }
    }
    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.tx.subscribe()
    }
    pub fn publish_decision(&self, data: &Value) {
        let id = match data.get("action_id").or_else(|| data.get("id")) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return,
        };
        let _ = self.tx.send(HubEvent::Decision { action_id: id });
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
