//! The HTTP [`Backend`]: the governance API of wire-protocol §3 over [`Transport`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::action::AgentAction;
use crate::backend::{Backend, BoxFuture};
use crate::background;
use crate::config::Config;
use crate::decision::AuthorizationDecision;
use crate::error::{Error, Result};
use crate::events::{EventHub, HubEvent};
use crate::outcome::{FailOpenRecord, Outcome};
use crate::transport::{Call, Transport};
use crate::wire::KillSwitchStatus;

/// Outcomes waiting for delivery (beyond this, reports are refused and logged).
const REPORT_QUEUE: usize = 10_000;

/// The HTTP backend. Built by [`ClientBuilder::build`](crate::ClientBuilder::build).
pub(crate) struct HttpBackend {
    pub(crate) transport: Arc<Transport>,
    pub(crate) events: Arc<EventHub>,
    poll_interval: Duration,
    reports: mpsc::Sender<(String, Outcome)>,
    /// The configured agent id, sent on kill-switch polls so per-agent switches reach us.
    agent_id: Option<String>,
}

impl HttpBackend {
    pub(crate) fn new(transport: Arc<Transport>, config: &Config) -> Result<Self> {
        let (tx, rx) = mpsc::channel(REPORT_QUEUE);
        background::spawn(deliver_reports(Arc::clone(&transport), rx))?;
        // The stream is reopened at the kill-switch watch's pace after it ended or failed.
        let events = EventHub::new(
            Arc::clone(&transport),
            config.event_stream,
            config.kill_switch_interval,
        );
        Ok(HttpBackend {
            transport,
            events: Arc::new(events),
            poll_interval: config.poll_interval,
            reports: tx,
            agent_id: config.agent_id.clone().filter(|a| !a.trim().is_empty()),
        })
    }
}

/// The reporter task: sends outcomes one by one (each with the transport's retries); a report
/// that cannot be delivered is logged with its action id and outcome.
async fn deliver_reports(transport: Arc<Transport>, mut rx: mpsc::Receiver<(String, Outcome)>) {
    while let Some((id, outcome)) = rx.recv().await {
        if let Err(e) = send_outcome(&transport, &id, &outcome).await {
            tracing::warn!(
                action_id = %id,
                outcome = ?outcome,
                error = %e,
                "could not report the outcome of an action to governance"
            );
        }
    }
}

pub(crate) async fn send_outcome(
    transport: &Transport,
    id: &str,
    outcome: &Outcome,
) -> Result<Value> {
    let verb = match outcome {
        Outcome::Completed { .. } => "complete",
        Outcome::Failed { .. } => "fail",
    };
    let key = format!("{id}:{verb}");
    transport
        .send_on_current_runtime(
            Call::post(&["api", "agent-action", id, verb], Some(outcome.body(id))).idempotent(key),
        )
        .await
}

pub(crate) fn parse_decision(body: &Value) -> Result<AuthorizationDecision> {
    AuthorizationDecision::from_json(body)
}

impl Backend for HttpBackend {
    fn submit<'a>(
        &'a self,
        action: &'a AgentAction,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<AuthorizationDecision>> {
        let body = serde_json::to_value(action);
        let call = body.map(|b| {
            Call::post(&["api", "v1", "actions", "submit"], Some(b)).idempotent(idempotency_key)
        });
        Box::pin(async move {
            let call = call.map_err(|e| Error::Protocol(format!("cannot encode action: {e}")))?;
            let body = self.transport.send_from_caller(call).await?;
            parse_decision(&body)
        })
    }

    fn status<'a>(&'a self, action_id: &'a str) -> BoxFuture<'a, Result<AuthorizationDecision>> {
        Box::pin(async move {
            let body = self
                .transport
                .send_from_caller(Call::get(&["api", "v1", "actions", action_id, "status"]))
                .await?;
            parse_decision(&body)
        })
    }

    fn report_outcome(&self, action_id: &str, outcome: &Outcome) {
        if let Err(e) = self
            .reports
            .try_send((action_id.to_owned(), outcome.clone()))
        {
            tracing::error!(
                action_id = %action_id,
                outcome = ?outcome,
                reason = %e,
                "outcome report queue full or closed: this outcome will not reach governance"
            );
        }
    }

    fn kill_switch_status(&self) -> BoxFuture<'_, Result<KillSwitchStatus>> {
        Box::pin(async move {
            // `?agent_id=`: the server answers for this agent (its own switch, then its
            // organisation's), not only the organisation-wide one.
            let mut call = Call::get(&["api", "sdk", "kill-switch", "status"]);
            if let Some(agent) = &self.agent_id {
                call = call.query("agent_id", agent);
            }
            let body = self.transport.send_from_caller(call).await?;
            parse_kill_switch(&body)
        })
    }

    fn wait_for_change<'a>(&'a self, action_id: &'a str, remaining: Duration) -> BoxFuture<'a, ()> {
        let events = Arc::clone(&self.events);
        let poll = self.poll_interval;
        let id = action_id.to_owned();
        Box::pin(async move {
            let _ = background::run(async move {
                // The client's push stream, started here if nothing needed it yet. Connected:
                // pushed decisions wake us at once, a slow safety poll covers missed events.
                // Not (yet) connected: poll, or re-read as soon as it connects.
                let mut rx = events.listen();
                let wait = if events.connected() {
                    poll.saturating_mul(5)
                } else {
                    poll
                };
                let _ = tokio::time::timeout(remaining.min(wait), async {
                    loop {
                        match rx.recv().await {
                            Ok(HubEvent::Decision { action_id }) if action_id == id => break,
                            Ok(HubEvent::Decision { .. } | HubEvent::KillSwitch(_)) => continue,
                            Ok(HubEvent::Connected | HubEvent::Disconnected) | Err(_) => break,
                        }
                    }
                })
                .await;
                Ok(())
            })
            .await;
        })
    }

    fn deliver_fail_open<'a>(&'a self, record: &'a FailOpenRecord) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let body = serde_json::to_value(record.delivery_action())
                .map_err(|e| Error::Protocol(format!("cannot encode action: {e}")))?;
            let answer = self
                .transport
                .send_from_caller(
                    Call::post(&["api", "v1", "actions", "submit"], Some(body))
                        .idempotent(record.action_id.clone()),
                )
                .await?;
            let server_id = parse_decision(&answer).ok().map(|d| d.action_id);
            tracing::info!(
                fail_open_action_id = %record.action_id,
                server_action_id = server_id.as_deref().unwrap_or(""),
                "delivered a fail-open record to governance"
            );
            if let (Some(outcome), Some(id)) =
                (&record.outcome, server_id.filter(|s| !s.is_empty()))
            {
                self.report_outcome(&id, outcome);
            }
            Ok(())
        })
    }

    fn precheck(&self) -> Result<()> {
        self.transport.circuit.check()
    }

    fn name(&self) -> &'static str {
        "http"
    }
}

/// Parse a kill-switch status strictly: the body must be an object with a boolean `blocked`
/// (a 403 governance body arrives as an error and never clears a block).
pub(crate) fn parse_kill_switch(body: &Value) -> Result<KillSwitchStatus> {
    if !body.is_object() {
        return Err(Error::Protocol(
            "kill-switch status is not a JSON object".into(),
        ));
    }
    match body.get("blocked") {
        Some(Value::Bool(_)) => serde_json::from_value(body.clone())
            .map_err(|e| Error::Protocol(format!("bad kill-switch status: {e}"))),
        Some(other) => Err(Error::Protocol(format!(
            "kill-switch `blocked` is not a boolean: {other}"
        ))),
        None => Err(Error::Protocol(
            "kill-switch status without `blocked`".into(),
        )),
    }
}
