//! Operators: the kill switch of the organisation and of each agent (with a reason and a
//! confirmation), and the agents with their last activity.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::Console;
use super::layout::{self, Nav};
use super::session::{Flash, Signed};
use super::widgets;
use crate::governance::kill_switch::KillSwitchInput;
use crate::model::{ActionFilter, KillSwitchRecord, Principal, Timestamp};

/// An agent as the operators page shows it.
struct AgentRow {
    id: String,
    last: Timestamp,
    last_type: String,
    actions: u64,
    halted: bool,
}

/// The agents seen in the newest 1000 actions, most recently active first.
async fn agents(c: &Console, p: &Principal) -> crate::error::Result<Vec<AgentRow>> {
    let filter = ActionFilter {
        limit: 1000,
        ..ActionFilter::default()
    };
    let (rows, _) = c.gov().list_actions(p, filter).await?;
    let mut by: BTreeMap<String, AgentRow> = BTreeMap::new();
    for a in &rows {
        let e = by.entry(a.agent_id.clone()).or_insert_with(|| AgentRow {
            id: a.agent_id.clone(),
            last: a.created_at,
            last_type: a.action_type.clone(),
            actions: 0,
            halted: false,
        });
        e.actions += 1;
        if a.created_at > e.last {
            e.last = a.created_at;
            e.last_type = a.action_type.clone();
        }
    }
    let mut out: Vec<AgentRow> = by.into_values().collect();
    for r in &mut out {
        r.halted = c.gov().kill_switch_status(p, Some(&r.id))?.blocked;
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.last));
    Ok(out)
}

fn switch_form(csrf: &str, agent: Option<&str>, halt: bool, enabled: bool) -> Markup {
    let scope = agent.unwrap_or("org");
    let suffix = format!("{}-{scope}", if halt { "halt" } else { "release" });
    html! {
        form method="post" action="/console/kill-switch" class="kill card" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="active" value=(if halt { "on" } else { "off" });
            @match agent {
                Some(a) => { input type="hidden" name="agent_id" value=(a); }
                None => {}
            }
            @if halt {
                label for={ "reason-" (suffix) } { "Reason" }
                input type="text" id={ "reason-" (suffix) } name="reason" required maxlength="1000"
                    disabled[!enabled];
            }
            div class="confirm" {
                input type="checkbox" id={ "confirm-" (suffix) } name="confirm" value="yes" required
                    disabled[!enabled];
                label for={ "confirm-" (suffix) } {
                    @if halt { "I confirm: refuse every governed call of " } @else { "I confirm: let " }
                    @match agent { Some(a) => { "agent " code { (a) } } None => { "the whole organisation" } }
                    @if !halt { " run again" }
                }
            }
            button type="submit" class={ @if halt { "deny" } @else { "approve" } } id=(suffix)
                disabled[!enabled] {
                @if halt { "Halt" } @else { "Release" }
            }
        }
    }
}

fn switches(s: &Signed, on: &[KillSwitchRecord], admin: bool) -> Markup {
    let org_on = on.iter().any(|r| r.agent_id.is_none());
    html! {
        section aria-labelledby="ks-h" {
            h2 id="ks-h" { "Kill switch" }
            @if !admin { p class="hint" { "Halting and releasing needs the admin role; you can see the state." } }
            h3 { "Organisation" }
            @if org_on {
                p { "The organisation is " strong { "halted" } "." }
                (switch_form(&s.csrf, None, false, admin))
            } @else {
                p { "The organisation runs." }
                (switch_form(&s.csrf, None, true, admin))
            }
            h3 { "One agent" }
            form method="post" action="/console/kill-switch" class="kill card" {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="active" value="on";
                label for="agent-halt-id" { "Agent id" }
                input type="text" id="agent-halt-id" name="agent_id" required maxlength="256" disabled[!admin];
                label for="agent-halt-reason" { "Reason" }
                input type="text" id="agent-halt-reason" name="reason" required maxlength="1000" disabled[!admin];
                div class="confirm" {
                    input type="checkbox" id="agent-halt-confirm" name="confirm" value="yes" required disabled[!admin];
                    label for="agent-halt-confirm" { "I confirm: refuse every governed call of this agent" }
                }
                button type="submit" class="deny" id="agent-halt" disabled[!admin] { "Halt agent" }
            }
            @for r in on.iter().filter(|r| r.agent_id.is_some()) {
                @if let Some(a) = &r.agent_id {
                    p { "Agent " code { (a) } " is halted: " (r.reason.as_deref().unwrap_or("")) }
                    (switch_form(&s.csrf, Some(a), false, admin))
                }
            }
        }
    }
}

fn query_value(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

fn agent_table(rows: &[AgentRow]) -> Markup {
    html! {
        section aria-labelledby="agents-h" {
            h2 id="agents-h" { "Agents" }
            @if rows.is_empty() { p class="empty" { "No agent has submitted an action yet." } }
            @else {
                table class="list" id="agents" {
                    thead { tr {
                        th scope="col" { "Agent" } th scope="col" { "Last activity" }
                        th scope="col" { "Last action" } th scope="col" class="num" { "Actions" }
                        th scope="col" { "State" }
                    } }
                    tbody {
                        @for r in rows {
                            tr {
                                td { a href={ "/console/history?agent=" (query_value(&r.id)) } { code { (r.id) } } }
                                td { (widgets::time(&r.last)) }
                                td { (r.last_type) }
                                td class="num" { (r.actions) }
                                td { @if r.halted { span class="decision denied" { "halted" } } @else { "running" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/operators`.
pub async fn page(State(c): State<Console>, s: Signed) -> Response {
    let admin = layout::is_admin(&s.principal);
    let body = match (
        layout::active_switches(&c, &s.principal),
        agents(&c, &s.principal).await,
    ) {
        (Ok(on), Ok(rows)) => html! { (switches(&s, &on, admin)) (agent_table(&rows)) },
        (Err(e), _) | (_, Err(e)) => {
            html! { p class="flash bad" role="alert" { (layout::refusal(&e)) } }
        }
    };
    layout::page(&c, &s, Nav::Operators, "Operators", body).into_response()
}

/// The kill switch form.
#[derive(Deserialize)]
pub struct KillForm {
    #[serde(default)]
    csrf: String,
    active: String,
    #[serde(default)]
    agent_id: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /console/kill-switch`: halt or release through the governance operation.
pub async fn set_kill_switch(
    State(c): State<Console>,
    s: Signed,
    headers: HeaderMap,
    Form(form): Form<KillForm>,
) -> Response {
    if let Some(r) = s.forged(&headers, &form.csrf) {
        return r;
    }
    let active = form.active == "on";
    let agent = Some(form.agent_id.trim().to_owned()).filter(|a| !a.is_empty());
    let target = match &agent {
        Some(a) => format!("agent {a:?}"),
        None => "the organisation".to_owned(),
    };
    let flash = if form.confirm != "yes" {
        Flash {
            ok: false,
            text: "Not changed: tick the confirmation first.".into(),
        }
    } else {
        let input = KillSwitchInput {
            agent_id: agent,
            active,
            reason: Some(form.reason.trim().to_owned()).filter(|r| !r.is_empty()),
        };
        match c.gov().set_kill_switch(&s.principal, input).await {
            Ok(_) if active => Flash {
                ok: true,
                text: format!("Kill switch on: {target} is halted."),
            },
            Ok(_) => Flash {
                ok: true,
                text: format!("Kill switch off: {target} runs again."),
            },
            Err(e) => Flash {
                ok: false,
                text: layout::refusal(&e),
            },
        }
    };
    s.leave(&c, flash);
    Redirect::to("/console/operators").into_response()
}
