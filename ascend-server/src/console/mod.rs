//! The reviewer and operator console: HTML pages served by `ascend serve` under `/console`.
//!
//! Stack: server-rendered HTML ([`maud`]: compile-time templates, escaped by default, a small
//! proc macro over `syn`, which the workspace builds anyway) plus one small JavaScript file for
//! progressive enhancement (the live queue over the console's push stream, the expiry
//! countdown, the kill switch banner). No build step and no second server: the stylesheet and
//! the script are embedded in the binary ([`assets`]). Every page works without JavaScript
//! (forms post, the server redirects back); the script only makes the queue live.
//!
//! Every operation goes through [`crate::governance::Governance`] with the signed-in key's
//! [`crate::model::Principal`], so the console obeys the same access table as the API.
//!
//! | file | what |
//! |---|---|
//! | [`session`] | sign-in with a reviewer or admin key, session cookie, CSRF, sign-out |
//! | [`layout`] | the page shell: navigation, kill switch banner, flash messages |
//! | [`queue`] | the pending queue and the vote (approve / deny) |
//! | [`events`] | the console's push stream (pending, decision, kill switch) |
//! | [`history`] | history with filters, the detail page with its timeline |
//! | [`operators`] | kill switches and agents |
//! | [`audit`] | chain verification, browsing, export |
//! | [`charts`] | server-rendered SVG pictures |
//! | [`widgets`] | risk badges, times, the risk assessment (shared by the pages) |
//! | [`assets`] | embedded CSS / JS, security headers |

pub mod assets;
pub mod audit;
pub mod charts;
pub mod events;
pub mod history;
pub mod layout;
pub mod operators;
pub mod queue;
pub mod session;
pub mod widgets;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::response::Redirect;
use axum::routing::{get, post};

use crate::governance::Governance;

/// What console handlers receive: the governance service and the session store.
#[derive(Clone)]
pub struct Console {
    gov: Governance,
    sessions: Arc<session::Sessions>,
}

impl Console {
    /// The console over a governance service, with an empty session store.
    pub fn new(gov: Governance) -> Self {
        Self {
            gov,
            sessions: Arc::new(session::Sessions::default()),
        }
    }

    /// The governance service.
    pub fn gov(&self) -> &Governance {
        &self.gov
    }
}

/// The console's routes (all under `/console`), with their own state; merge into the API router.
pub fn router<S: Clone + Send + Sync + 'static>(gov: Governance) -> Router<S> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/queue") }))
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/queue") }),
        )
        .route(
            "/console/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/queue", get(queue::page))
        .route("/console/queue/items", get(queue::items))
        .route("/console/actions/{id}/vote", post(queue::vote))
        .route("/console/events", get(events::stream))
        .route("/console/banner", get(layout::banner_fragment))
        .route("/console/history", get(history::page))
        .route("/console/actions/{id}", get(history::detail))
        .route("/console/operators", get(operators::page))
        .route("/console/kill-switch", post(operators::set_kill_switch))
        .route("/console/audit", get(audit::page))
        .route("/console/audit/export", get(audit::export))
        .route("/console/insights", get(charts::page))
        .route("/console/static/{file}", get(assets::file))
        .layer(middleware::from_fn(assets::security_headers))
        .with_state(Console::new(gov))
}
