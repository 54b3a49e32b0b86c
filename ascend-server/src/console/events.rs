//! `GET /console/events`: the console's push stream (Server-Sent Events over the session
//! cookie).
//!
//! The API's stream (`/api/v1/events/stream`) carries kill switch changes and decisions, but
//! not new submissions (SDKs do not need them), and it authenticates with an API key, which the
//! console page does not have. This stream listens to the same event bus and sends, for the
//! signed-in key's organisation: `pending` (a new action waits for approval; from the bus event
//! that also feeds the `action.pending` webhook), `decision` (a pending action was approved,
//! denied or expired, from the console, the CLI or the API) and `kill_switch`. Each carries only
//! `{"action_id"}` or `{"agent_id"}`: the page then re-reads what it shows through the
//! governance operations, so nothing is shown that the reader may not see.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::Console;
use super::session::Signed;
use crate::governance::access::{self, Operation};
use crate::model::{PushKind, WebhookEvent};
use crate::state::BusEvent;

/// The console event for a bus event, if the console cares.
fn console_event(ev: &BusEvent) -> Option<(&'static str, Value)> {
    match (ev.push, ev.webhook) {
        (Some(PushKind::Decision), _) => {
            Some(("decision", json!({"action_id": ev.data.get("action_id")})))
        }
        (Some(PushKind::KillSwitch), _) => Some(("kill_switch", json!({"agent_id": ev.agent_id}))),
        (None, Some(WebhookEvent::ActionPending)) => {
            Some(("pending", json!({"action_id": ev.data.get("action_id")})))
        }
        _ => None,
    }
}

/// Open the stream.
pub async fn stream(State(c): State<Console>, s: Signed) -> Response {
    let p = s.principal;
    if let Err(e) = access::authorize(&p, Operation::ReadActions) {
        return (StatusCode::FORBIDDEN, e.to_string()).into_response();
    }
    let bound = access::bound_agent(&p, Operation::ReadActions).map(str::to_owned);
    let org = p.org_id;
    let rx = c.gov().subscribe();
    let stop = c.gov().shutdown_signal();
    let hello = SseEvent::default().event("hello").data("{}");
    let stream: std::pin::Pin<Box<dyn Stream<Item = Result<SseEvent, Infallible>> + Send>> =
        Box::pin(futures_util::stream::unfold(
            (rx, stop, Some(hello)),
            move |(mut rx, mut stop, first)| {
                let bound = bound.clone();
                async move {
                    if let Some(ev) = first {
                        return Some((Ok(ev), (rx, stop, None)));
                    }
                    loop {
                        let received = tokio::select! {
                            biased;
                            _ = stop.wait_for(|v| *v) => return None,
                            r = rx.recv() => r,
                        };
                        let ev = match received {
                            Ok(ev) => ev,
                            // Missed events: tell the page to re-read everything.
                            Err(RecvError::Lagged(_)) => {
                                let ev = SseEvent::default().event("resync").data("{}");
                                return Some((Ok(ev), (rx, stop, None)));
                            }
                            Err(RecvError::Closed) => return None,
                        };
                        if ev.org_id != org {
                            continue;
                        }
                        if let (Some(b), Some(a)) = (&bound, &ev.agent_id)
                            && b != a
                        {
                            continue;
                        }
                        let Some((name, data)) = console_event(&ev) else {
                            continue;
                        };
                        let Ok(sse) = SseEvent::default().event(name).json_data(data) else {
                            continue;
                        };
                        return Some((Ok(sse), (rx, stop, None)));
                    }
                }
            },
        ));
    Sse::new(stream)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .text("keep-alive"),
        )
        .into_response()
}
