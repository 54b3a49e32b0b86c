//! The pending queue (live: the script re-reads [`items`] on every push event) and the vote.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use ascend_runtime::Decision;

use super::Console;
use super::layout::{self, Nav};
use super::session::{Flash, Signed};
use super::widgets;
use crate::api::parse_id;
use crate::governance::actions::VoteInput;
use crate::model::{ActionFilter, ActionRecord, Principal};

const MAX_QUEUE: u32 = 200;

/// The pending actions the caller may see, soonest expiry first.
pub async fn pending(c: &Console, p: &Principal) -> crate::error::Result<Vec<ActionRecord>> {
    let filter = ActionFilter {
        status: Some("pending_approval".into()),
        limit: MAX_QUEUE,
        ..ActionFilter::default()
    };
    let (mut rows, _) = c.gov().list_actions(p, filter).await?;
    rows.retain(|a| a.body.decision == Decision::Pending);
    rows.sort_by_key(|a| (a.approval.as_ref().and_then(|x| x.expires_at), a.id));
    Ok(rows)
}

fn card(a: &ActionRecord, csrf: &str) -> Markup {
    let id = a.id;
    let approval = a.approval.as_ref();
    let approvals = approval.map_or(0, |x| x.votes.iter().filter(|v| v.approve).count());
    let stages = approval.map_or(1, |x| x.stages_required.max(1));
    let approvers = approval
        .map(|x| x.required_approvers.clone())
        .unwrap_or_default();
    let comment_id = format!("comment-{id}");
    html! {
        article class="action card" id={ "action-" (id) } data-action-id=(id)
            aria-labelledby={ "title-" (id) } {
            header {
                h2 id={ "title-" (id) } {
                    a href={ "/console/actions/" (id) } { "#" (id) " " (a.action_type) }
                }
                (widgets::risk_badge(a.body.risk_score, a.body.risk_level))
            }
            dl class="facts" {
                dt { "Agent" } dd { code { (a.agent_id) } @if a.agent_name != a.agent_id { " (" (a.agent_name) ")" } }
                @if let Some(t) = widgets::tool(a) { dt { "Tool" } dd { code { (t) } } }
                dt { "Resource" } dd { code class="wrap" { (a.resource) } }
                dt { "Submitted" } dd { (widgets::time(&a.created_at)) }
                dt { "Expires" } dd { (widgets::expiry(a)) }
                dt { "Approvals" }
                dd {
                    (approvals) " of " (stages) " stage" @if stages != 1 { "s" }
                    @if !approvers.is_empty() {
                        " · required: "
                        @for r in &approvers { code class="tag" { (r) } " " }
                    }
                }
            }
            details {
                summary { "Parameters (redacted)" }
                pre class="params" { (widgets::parameters(a)) }
            }
            (widgets::assessment(a))
            form method="post" action={ "/console/actions/" (id) "/vote" } class="vote" {
                input type="hidden" name="csrf" value=(csrf);
                label for=(comment_id) { "Comment (required to deny)" }
                textarea id=(comment_id) name="comment" rows="2" maxlength="4096" {}
                div class="buttons" {
                    button type="submit" name="decision" value="approve" class="approve"
                        id={ "approve-" (id) } { "Approve #" (id) }
                    button type="submit" name="decision" value="deny" class="deny"
                        id={ "deny-" (id) } { "Deny #" (id) }
                }
            }
        }
    }
}

fn list(rows: &[ActionRecord], csrf: &str) -> Markup {
    html! {
        div id="queue-items" aria-live="polite" data-count=(rows.len()) {
            @if rows.is_empty() {
                p class="empty" id="queue-empty" { "Nothing is waiting for a decision." }
            }
            @for a in rows { (card(a, csrf)) }
        }
    }
}

/// `GET /console/queue`.
pub async fn page(State(c): State<Console>, s: Signed) -> Response {
    let body = match pending(&c, &s.principal).await {
        Ok(rows) => html! {
            p class="hint" {
                "Actions waiting for a human decision. Updates: "
                span id="live-state" { "reload the page to see new actions" } "."
            }
            (list(&rows, &s.csrf))
        },
        Err(e) => html! { p class="flash bad" role="alert" { (layout::refusal(&e)) } },
    };
    layout::page(&c, &s, Nav::Queue, "Pending queue", body).into_response()
}

/// `GET /console/queue/items`: the list alone, for the script.
pub async fn items(State(c): State<Console>, s: Signed) -> Response {
    match pending(&c, &s.principal).await {
        Ok(rows) => list(&rows, &s.csrf).into_response(),
        Err(e) => (e.status(), layout::refusal(&e)).into_response(),
    }
}

/// The vote form.
#[derive(Deserialize)]
pub struct VoteForm {
    #[serde(default)]
    csrf: String,
    decision: String,
    #[serde(default)]
    comment: String,
}

/// `POST /console/actions/{id}/vote`: approve or deny through the governance vote.
pub async fn vote(
    State(c): State<Console>,
    s: Signed,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Form(form): Form<VoteForm>,
) -> Response {
    if let Some(r) = s.forged(&headers, &form.csrf) {
        return r;
    }
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            let f = Flash {
                ok: false,
                text: "Invalid: choose approve or deny.".into(),
            };
            s.leave(&c, f);
            return Redirect::to("/console/queue").into_response();
        }
    };
    let comment = Some(form.comment.trim().to_owned()).filter(|t| !t.is_empty());
    let result = match parse_id(&raw, "action") {
        Ok(id) => c
            .gov()
            .vote(&s.principal, id, VoteInput { approve, comment })
            .await
            .map(|a| (id, a)),
        Err(e) => Err(e),
    };
    let flash = match result {
        Ok((id, a)) => Flash {
            ok: true,
            text: match a.body.decision {
                Decision::Allowed => format!("Action #{id} approved: it may run now."),
                Decision::Denied => format!("Action #{id} denied."),
                Decision::Pending => {
                    let n = a
                        .approval
                        .as_ref()
                        .map_or(0, |x| x.votes.iter().filter(|v| v.approve).count());
                    let of = a.approval.as_ref().map_or(1, |x| x.stages_required);
                    format!(
                        "Your approval of action #{id} is recorded ({n} of {of}); it waits for more."
                    )
                }
            },
        },
        Err(e) => Flash {
            ok: false,
            text: layout::refusal(&e),
        },
    };
    s.leave(&c, flash);
    Redirect::to("/console/queue").into_response()
}
