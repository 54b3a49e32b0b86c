//! `GET /api/v1/events/stream`: Server-Sent Events for connected SDKs.
//!
//! Events: `kill_switch` with `{"blocked", "reason", "agent_id"}` (sent once on connect with the
//! current state, then on every change) and `decision` with `{"action_id", "decision", ...}` when a
//! pending action is approved, denied or expires. Scoped to the key's organisation, and to the
//! key's agent (or `?agent_id=`) when there is one. Keep-alive comments every 15 s. The stream
//! ends when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::{Shared, header_str};
use crate::error::Result;
use crate::model::Principal;

/// Query of the stream.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    agent_id: Option<String>,
}

fn kill_event(state: &Shared, p: &Principal, agent: Option<&str>) -> Option<SseEvent> {
    let status = state.kill_switch_status(p, agent).ok()?;
    let data = json!({"blocked": status.blocked, "reason": status.reason, "agent_id": agent});
    SseEvent::default()
        .event("kill_switch")
        .json_data(data)
        .ok()
}

/// Open the stream.
pub async fn stream(
    State(state): State<Shared>,
    principal: Principal,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let agent = principal
        .agent_id
        .clone()
        .or(q.agent_id.filter(|a| !a.is_empty()))
        .or_else(|| header_str(&headers, "x-agent-id").map(str::to_owned));
    let org = principal.org_id;
    let rx = state.subscribe();
    let first = kill_event(&state, &principal, agent.as_deref());
    let p = principal.clone();
    let stop = state.shutdown_signal();
    let st = state.clone();
    let stream = futures_util::stream::unfold(
        (rx, first, st, agent, stop),
        move |(mut rx, mut pending, st, agent, mut stop)| {
            let p = p.clone();
            async move {
                if let Some(ev) = pending.take() {
                    return Some((Ok(ev), (rx, None, st, agent, stop)));
                }
                loop {
                    let received = tokio::select! {
                        biased;
                        // Shutdown (or the state going away) ends the stream, so graceful
                        // shutdown does not wait for connected clients.
                        _ = stop.wait_for(|v| *v) => return None,
                        r = rx.recv() => r,
                    };
                    match received {
                        Ok(ev) => {
                            let Some(kind) = ev.push else { continue };
                            let name = kind.as_str();
                            if ev.org_id != org {
                                continue;
                            }
                            if let (Some(mine), Some(theirs)) = (&agent, &ev.agent_id)
                                && mine != theirs
                            {
                                continue;
                            }
                            let Ok(sse) = SseEvent::default().event(name).json_data(&ev.data)
                            else {
                                continue;
                            };
                            return Some((Ok(sse), (rx, None, st, agent, stop)));
                        }
                        Err(RecvError::Lagged(_)) => {
                            // We missed events: resend the current kill switch state.
                            if let Some(ev) = kill_event(&st, &p, agent.as_deref()) {
                                return Some((Ok(ev), (rx, None, st, agent, stop)));
                            }
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keep-alive"),
    ))
}
