//! The page shell: document head (embedded stylesheet and script only; the Content-Security-Policy
//! forbids inline ones), navigation, the kill switch banner shown on every page, flash messages.

use axum::extract::State;
use maud::{DOCTYPE, Markup, html};

use super::Console;
use super::session::Signed;
use crate::error::{Error, Result};
use crate::governance::access::{self, Operation};
use crate::model::{KillSwitchRecord, Principal, Role};

/// The sections of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// Pending queue.
    Queue,
    /// Decided actions.
    History,
    /// Kill switches and agents.
    Operators,
    /// Audit trail.
    Audit,
    /// Charts.
    Insights,
}

const SECTIONS: &[(Nav, &str, &str)] = &[
    (Nav::Queue, "/console/queue", "Queue"),
    (Nav::History, "/console/history", "History"),
    (Nav::Operators, "/console/operators", "Operators"),
    (Nav::Audit, "/console/audit", "Audit"),
    (Nav::Insights, "/console/insights", "Insights"),
];

/// A complete document around `body` (no navigation: sign-in, refusals).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Ascend console" }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/console.js" defer {}
            }
            body { (body) }
        }
    }
}

/// The kill switches of the caller's organisation that are on (a bound key sees its
/// organisation's and its agent's only).
pub fn active_switches(c: &Console, p: &Principal) -> Result<Vec<KillSwitchRecord>> {
    access::authorize(p, Operation::ReadKillSwitch)?;
    let bound = access::bound_agent(p, Operation::ReadKillSwitch);
    let all = c
        .gov()
        .state()
        .kill
        .read()
        .map_err(|_| Error::Internal("kill switch state poisoned".into()))?
        .active_in(p.org_id);
    Ok(all
        .into_iter()
        .filter(|r| match (bound, r.agent_id.as_deref()) {
            (Some(b), Some(a)) => a == b,
            _ => true,
        })
        .collect())
}

/// The kill switch banner (replaced live by the script on `kill_switch` events).
pub fn banner(c: &Console, p: &Principal) -> Markup {
    let on = active_switches(c, p).unwrap_or_default();
    html! {
        div id="kill-banner" role="status" aria-live="polite" {
            @if on.is_empty() {
                p class="banner ok" id="kill-state" data-halted="false" {
                    "Kill switch: off — agents are running."
                }
            } @else {
                @for r in &on {
                    p class="banner halted" id="kill-state" data-halted="true" {
                        strong {
                            @match &r.agent_id {
                                None => { "HALTED: the whole organisation" }
                                Some(a) => { "HALTED: agent " code { (a) } }
                            }
                        }
                        " — " (r.reason.as_deref().unwrap_or("no reason given"))
                        @if let Some(by) = &r.activated_by { " (by " (by) ")" }
                    }
                }
            }
        }
    }
}

/// `GET /console/banner`: the banner alone, for the script.
pub async fn banner_fragment(State(c): State<Console>, s: Signed) -> Markup {
    banner(&c, &s.principal)
}

/// A console page: navigation, banner, flash, then `body`.
pub fn page(c: &Console, s: &Signed, nav: Nav, title: &str, body: Markup) -> Markup {
    let p = &s.principal;
    let flash = s.take_flash(c);
    let inner = html! {
        a class="skip" href="#main" { "Skip to content" }
        header class="top" {
            div class="brand" { "Ascend" }
            nav aria-label="Console sections" {
                ul {
                    @for (n, href, label) in SECTIONS {
                        li {
                            @if *n == nav {
                                a href=(href) aria-current="page" { (label) }
                            } @else {
                                a href=(href) { (label) }
                            }
                        }
                    }
                }
            }
            div class="who" {
                span id="who" { (p.name) " · " (p.role) }
                form method="post" action="/console/sign-out" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    button type="submit" id="sign-out" class="link" { "Sign out" }
                }
            }
        }
        (banner(c, p))
        main id="main" {
            h1 { (title) }
            @if let Some(f) = &flash {
                p.flash.good[f.ok].bad[!f.ok] id="flash" role="alert" {
                    (f.text)
                }
            }
            (body)
        }
    };
    bare(title, inner)
}

/// Whether `p` may use the operator page's controls.
pub fn is_admin(p: &Principal) -> bool {
    p.role >= Role::Admin
}

/// "Refused (403): …" for an error of a governance operation.
pub fn refusal(e: &Error) -> String {
    let status = e.status();
    let kind = match status.as_u16() {
        401 | 403 => "Refused",
        404 => "Not found",
        409 => "Not possible now",
        422 | 400 => "Invalid",
        _ => "Failed",
    };
    format!("{kind} ({}): {e}", status.as_u16())
}
