//! The end of one governed call's lifecycle, shared by every front-end (`#[governed]`'s
//! `Gate`, the MCP guard's `ToolPermit`): authorize → wait → permit → **finish**.
//!
//! The beginning is [`AscendClient::authorize`] / [`AscendClient::evaluate_action`] (kill
//! switch, validation, fail mode, waiting), and why a call was refused is
//! [`crate::Error::refusal_kind`]; what is left is reporting how the allowed call ended, which
//! [`Running`] does once for all of them.

use std::time::{Duration, Instant};

use crate::{AscendClient, Outcome};

/// An allowed action that is running: reports its outcome, in the background, when it ends.
#[derive(Debug)]
pub(crate) struct Running {
    client: AscendClient,
    action_id: String,
    started: Instant,
}

impl Running {
    /// The body starts now.
    pub(crate) fn start(client: AscendClient, action_id: String) -> Running {
        Running {
            client,
            action_id,
            started: Instant::now(),
        }
    }

    /// How long the body has run.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Report `Completed` (with the duration) or `Failed` (with `error` and the duration).
    /// An action without an id (nothing to attach the report to) is not reported.
    pub(crate) fn report(&self, error: Option<String>) {
        if self.action_id.is_empty() {
            return;
        }
        let duration = self.elapsed();
        let outcome = match error {
            None => Outcome::Completed { duration },
            Some(error) => Outcome::Failed { error, duration },
        };
        self.client.report_outcome(&self.action_id, outcome);
    }
}
