//! The sync facade: `_blocking` versions of the client's operations. Each runs the async
//! operation on the runtime's own background runtime and waits on a channel, so it works from
//! `main`, from a plain thread, and from inside a tokio runtime of either flavour without
//! panicking (it never calls `block_on` on the caller's runtime, and never uses
//! `reqwest::blocking`). The calling thread is blocked meanwhile: inside a current-thread
//! runtime, that runtime's other tasks wait until the call returns (prefer the async methods
//! in async code).
//!
//! ```no_run
//! use ascend_runtime::{AgentAction, AscendClient, EvaluateOptions};
//!
//! let client = AscendClient::from_env()?;
//! let decision = client.authorize_blocking(
//!     AgentAction::new("file.delete", "/tmp/report.csv"),
//!     EvaluateOptions::default(),
//! )?;
//! println!("allowed: {}", decision.action_id);
//! # Ok::<(), ascend_runtime::Error>(())
//! ```

use std::future::Future;
use std::time::Duration;

use crate::action::AgentAction;
use crate::client::{AscendClient, EvaluateOptions};
use crate::decision::AuthorizationDecision;
use crate::error::Result;

/// Run any future to completion on the background runtime, blocking the current thread.
///
/// ```
/// let n = ascend_runtime::blocking::block_on(async { Ok::<_, ascend_runtime::Error>(40 + 2) })?;
/// assert_eq!(n, 42);
/// # Ok::<(), ascend_runtime::Error>(())
/// ```
pub fn block_on<F, T>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    crate::background::block_on(fut)
}

impl AscendClient {
    /// Run `f(client)` on the background runtime and wait for it: the sync form of any async
    /// operation, e.g. `client.run_blocking(|c| async move { c.list_actions(Default::default()).await })`.
    pub fn run_blocking<F, Fut, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce(AscendClient) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        block_on(f(self.clone()))
    }

    /// [`AscendClient::authorize`] from sync code. The kill switch is checked on the calling
    /// thread first (no thread hop when blocked).
    pub fn authorize_blocking(
        &self,
        action: AgentAction,
        opts: EvaluateOptions,
    ) -> Result<AuthorizationDecision> {
        if self.is_blocked() {
            return Err(self.inner.kill.error());
        }
        if self.inner.backend.answers_inline() {
            // In-process backend: submit on this thread; only a wait for a human hops.
            let decision = crate::background::run_here(
                self.evaluate_action(action, EvaluateOptions::no_wait()),
            )?;
            if decision.is_pending() && opts.wait_for_approval {
                let id = decision.action_id.clone();
                let timeout = opts.approval_timeout;
                let d =
                    self.run_blocking(
                        move |c| async move { c.wait_for_decision(&id, timeout).await },
                    )?;
                return crate::client::settle(d);
            }
            return crate::client::settle(decision);
        }
        self.run_blocking(move |c| async move { c.authorize(action, opts).await })
    }

    /// [`AscendClient::evaluate_action`] from sync code.
    pub fn evaluate_action_blocking(
        &self,
        action: AgentAction,
        opts: EvaluateOptions,
    ) -> Result<AuthorizationDecision> {
        if self.is_blocked() {
            return Err(self.inner.kill.error());
        }
        self.run_blocking(move |c| async move { c.evaluate_action(action, opts).await })
    }

    /// [`AscendClient::submit_action`] from sync code.
    pub fn submit_action_blocking(&self, action: AgentAction) -> Result<AuthorizationDecision> {
        self.run_blocking(move |c| async move { c.submit_action(action).await })
    }

    /// [`AscendClient::get_action_status`] from sync code.
    pub fn get_action_status_blocking(&self, action_id: &str) -> Result<AuthorizationDecision> {
        let id = action_id.to_owned();
        self.run_blocking(move |c| async move { c.get_action_status(&id).await })
    }

    /// [`AscendClient::wait_for_decision`] from sync code.
    pub fn wait_for_decision_blocking(
        &self,
        action_id: &str,
        timeout: Duration,
    ) -> Result<AuthorizationDecision> {
        let id = action_id.to_owned();
        self.run_blocking(move |c| async move { c.wait_for_decision(&id, timeout).await })
    }
}
