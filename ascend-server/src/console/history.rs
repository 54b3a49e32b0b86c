//! History (filter by agent, decision, risk level and time) and the detail page of one action
//! with its whole timeline.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use ascend_runtime::{Decision, RiskLevel};

use super::Console;
use super::layout::{self, Nav};
use super::session::Signed;
use super::widgets;
use crate::api::parse_id;
use crate::model::{ActionFilter, ActionOutcome, ActionRecord, Timestamp};

/// How many matching actions the store is asked for (risk level and time are filtered here).
const SCAN: u32 = 1000;
/// How many are shown.
const SHOW: usize = 200;

/// The history filters (all optional).
#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    #[serde(default)]
    agent: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// A `datetime-local` value (`2026-12-01T10:00`, read as UTC) or RFC 3339.
fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Timestamp::parse(s)
        .or_else(|| Timestamp::parse(&format!("{s}:00Z")))
        .or_else(|| Timestamp::parse(&format!("{s}Z")))
}

fn parse_level(s: &str) -> Option<RiskLevel> {
    match s {
        "low" => Some(RiskLevel::Low),
        "medium" => Some(RiskLevel::Medium),
        "high" => Some(RiskLevel::High),
        "critical" => Some(RiskLevel::Critical),
        _ => None,
    }
}

fn select(name: &str, label: &str, current: &str, options: &[(&str, &str)]) -> Markup {
    html! {
        div class="field" {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[*value == current] { (text) }
                }
            }
        }
    }
}

fn filters(q: &HistoryQuery) -> Markup {
    html! {
        form method="get" action="/console/history" class="filters card" role="search" {
            div class="field" {
                label for="agent" { "Agent" }
                input type="text" id="agent" name="agent" value=(q.agent);
            }
            (select("decision", "Decision", &q.decision, &[("", "any"), ("allowed", "allowed"), ("denied", "denied"), ("pending", "pending")]))
            (select("level", "Risk level", &q.level, &[("", "any"), ("low", "low"), ("medium", "medium"), ("high", "high"), ("critical", "critical")]))
            div class="field" {
                label for="from" { "From (UTC)" }
                input type="datetime-local" id="from" name="from" value=(q.from);
            }
            div class="field" {
                label for="to" { "To (UTC)" }
                input type="datetime-local" id="to" name="to" value=(q.to);
            }
            button type="submit" id="filter" { "Filter" }
        }
    }
}

fn table(rows: &[&ActionRecord]) -> Markup {
    html! {
        table class="list" id="history" {
            caption class="visually-hidden" { "Actions, newest first" }
            thead {
                tr {
                    th scope="col" { "Id" } th scope="col" { "When" } th scope="col" { "Agent" }
                    th scope="col" { "Action" } th scope="col" { "Risk" } th scope="col" { "Decision" }
                    th scope="col" { "By" } th scope="col" { "Outcome" }
                }
            }
            tbody {
                @for a in rows {
                    tr {
                        td { a href={ "/console/actions/" (a.id) } { "#" (a.id) } }
                        td { (widgets::time(&a.created_at)) }
                        td { code { (a.agent_id) } }
                        td { (a.action_type) }
                        td { (widgets::risk_badge(a.body.risk_score, a.body.risk_level)) }
                        td { (widgets::decision_badge(a)) }
                        td { (a.body.approved_by.as_deref().unwrap_or("")) }
                        td { (a.outcome.map(ActionOutcome::as_str).unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// `GET /console/history`.
pub async fn page(State(c): State<Console>, s: Signed, Query(q): Query<HistoryQuery>) -> Response {
    let status = match q.decision.as_str() {
        "allowed" => Some("approved".to_owned()),
        "denied" => Some("denied".to_owned()),
        "pending" => Some("pending_approval".to_owned()),
        _ => None,
    };
    let filter = ActionFilter {
        agent_id: Some(q.agent.trim().to_owned()).filter(|a| !a.is_empty()),
        status,
        limit: SCAN,
        ..ActionFilter::default()
    };
    let (level, from, to) = (
        parse_level(&q.level),
        parse_time(&q.from),
        parse_time(&q.to),
    );
    let body = match c.gov().list_actions(&s.principal, filter).await {
        Ok((rows, total)) => {
            let shown: Vec<&ActionRecord> = rows
                .iter()
                .filter(|a| level.is_none_or(|l| a.body.risk_level == l))
                .filter(|a| from.is_none_or(|f| a.created_at >= f))
                .filter(|a| to.is_none_or(|t| a.created_at <= t))
                .take(SHOW)
                .collect();
            html! {
                (filters(&q))
                p class="hint" id="history-count" {
                    (shown.len()) " shown"
                    @if u64::from(SCAN) < total { " (of the newest " (SCAN) " of " (total) " matching)" }
                    "."
                }
                (table(&shown))
            }
        }
        Err(e) => {
            html! { (filters(&q)) p class="flash bad" role="alert" { (layout::refusal(&e)) } }
        }
    };
    layout::page(&c, &s, Nav::History, "History", body).into_response()
}

/// One line of a timeline.
struct Step {
    at: Timestamp,
    what: Markup,
}

fn timeline(a: &ActionRecord) -> Vec<Step> {
    let b = &a.body;
    let mut steps = vec![Step {
        at: a.created_at,
        what: html! {
            strong { "Submitted" } " by agent " code { (a.agent_id) } " — "
            @match (&a.approval, b.decision) {
                (Some(ap), _) => {
                    "waiting for approval (" (ap.stages_required.max(1)) " stage"
                    @if ap.stages_required > 1 { "s" } ")"
                }
                (None, Decision::Allowed) => { "allowed at once" }
                (None, _) => { "denied at once: " (b.reason) }
            }
        },
    }];
    if let Some(ap) = &a.approval {
        for v in &ap.votes {
            steps.push(Step {
                at: v.at,
                what: html! {
                    strong { @if v.approve { "Approved" } @else { "Denied" } } " by " (v.approver)
                    @if let Some(c) = &v.comment { " — “" (c) "”" }
                },
            });
        }
        if let Some(at) = ap.decided_at {
            steps.push(Step {
                at,
                what: html! {
                    strong { "Decided: " (b.decision.as_str()) }
                    @if b.decision == Decision::Denied { " — " (b.reason) }
                },
            });
        }
    }
    if let Some(o) = a.outcome {
        let detail = a.outcome_detail.as_ref();
        let ms = detail
            .and_then(|d| d.get("duration_ms"))
            .and_then(Value::as_f64);
        let error = detail.and_then(|d| d.get("error")).and_then(Value::as_str);
        steps.push(Step {
            at: a.updated_at,
            what: html! {
                strong { @if o == ActionOutcome::Completed { "Completed" } @else { "Failed" } }
                @if let Some(ms) = ms { " in " (format!("{ms:.0}")) " ms" }
                @if let Some(e) = error { " — " (e) }
            },
        });
    }
    steps.sort_by_key(|s| s.at);
    steps
}

/// `GET /console/actions/{id}`.
pub async fn detail(State(c): State<Console>, s: Signed, Path(raw): Path<String>) -> Response {
    let found = match parse_id(&raw, "action") {
        Ok(id) => c.gov().action(&s.principal, id).await,
        Err(e) => Err(e),
    };
    let a = match found {
        Ok(a) => a,
        Err(e) => {
            let body = html! { p class="flash bad" role="alert" { (layout::refusal(&e)) } };
            let page = layout::page(&c, &s, Nav::History, "Action", body);
            return (e.status(), page).into_response();
        }
    };
    let title = format!("Action #{} · {}", a.id, a.action_type);
    let body = html! {
        p { (widgets::decision_badge(&a)) " " code { (a.agent_id) } " on " code class="wrap" { (a.resource) } }
        @if a.body.decision == Decision::Pending {
            p { "Waiting for a decision: " a href="/console/queue" { "vote in the queue" } " (expires " (widgets::expiry(&a)) ")." }
        }
        section aria-labelledby="timeline-h" {
            h2 id="timeline-h" { "Timeline" }
            ol class="timeline" id="timeline" {
                @for step in timeline(&a) {
                    li { (widgets::time(&step.at)) " " (step.what) }
                }
            }
        }
        section aria-labelledby="risk-h" {
            h2 id="risk-h" { "Risk assessment" }
            (widgets::assessment(&a))
        }
        section aria-labelledby="params-h" {
            h2 id="params-h" { "Parameters (redacted)" }
            pre class="params" { (widgets::parameters(&a)) }
        }
    };
    (
        StatusCode::OK,
        layout::page(&c, &s, Nav::History, &title, body),
    )
        .into_response()
}
