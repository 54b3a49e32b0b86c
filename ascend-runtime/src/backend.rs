//! The [`Backend`] seam: what answers a governed call. Implementations: the HTTP client (the
//! default), the test double ([`crate::testing::MockGovernance`]), and in-process engines such
//! as `ascend-server`'s embedded mode.
//!
//! The kill-switch flag, fail mode, validation and approval waiting live in
//! [`AscendClient`](crate::AscendClient), above the backend, so they behave the same for every
//! backend.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::action::AgentAction;
use crate::client::Outcome;
use crate::decision::AuthorizationDecision;
use crate::error::Result;
use crate::outcome::FailOpenRecord;
use crate::wire::KillSwitchStatus;

/// A boxed, `Send` future (what [`Backend`] methods return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`Backend::submit_taking`] returns: the answer, or a future of it.
// Not boxed: an allocation per call is what `Now` is there to avoid. It is returned and
// matched at once, never stored.
#[allow(clippy::large_enum_variant)]
pub enum Submitted<'a> {
    /// Answered at once (an in-process double).
    Now(Result<AuthorizationDecision>),
    /// Answered when the future completes.
    Later(BoxFuture<'a, Result<AuthorizationDecision>>),
}

impl Submitted<'_> {
    /// The answer.
    pub async fn answer(self) -> Result<AuthorizationDecision> {
        match self {
            Submitted::Now(answer) => answer,
            Submitted::Later(future) => future.await,
        }
    }
}

impl std::fmt::Debug for Submitted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Submitted::Now(answer) => f.debug_tuple("Now").field(answer).finish(),
            Submitted::Later(_) => f.write_str("Later(..)"),
        }
    }
}

/// Where decisions come from.
///
/// ```
/// use std::sync::Arc;
/// use ascend_runtime::backend::{Backend, BoxFuture};
/// use ascend_runtime::{AgentAction, AscendClient, AuthorizationDecision, Decision, Outcome, Result};
///
/// /// Allows reads, denies everything else.
/// struct ReadOnly;
/// impl Backend for ReadOnly {
///     fn submit<'a>(&'a self, action: &'a AgentAction, _key: &'a str)
///         -> BoxFuture<'a, Result<AuthorizationDecision>> {
///         let d = if action.action_type.ends_with(".read") { Decision::Allowed } else { Decision::Denied };
///         Box::pin(async move { Ok(AuthorizationDecision::new("1", d)) })
///     }
///     fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<AuthorizationDecision>> {
///         Box::pin(async move { Ok(AuthorizationDecision::new(id, Decision::Denied)) })
///     }
///     fn report_outcome(&self, _id: &str, _outcome: &Outcome) {}
/// }
///
/// let config = AscendClient::builder().ignore_env().build_config()?;
/// let client = AscendClient::with_backend(config, Arc::new(ReadOnly));
/// let d = client.authorize_blocking(AgentAction::new("db.read", "t"), Default::default())?;
/// assert!(d.is_allowed());
/// # Ok::<(), ascend_runtime::Error>(())
/// ```
pub trait Backend: Any + Send + Sync + 'static {
    /// Submit an action for a decision. `idempotency_key` is the same for every retry of one
    /// logical submission.
    fn submit<'a>(
        &'a self,
        action: &'a AgentAction,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<AuthorizationDecision>>;

    /// Submit an action the client is done with once it is answered: what the client calls.
    /// A backend that keeps actions (the test double records every one) may take it
    /// (`std::mem::take(action)`) instead of copying it — but only when it answers `Ok`: on an
    /// error the client still needs the action (a fail-open record, the log line). A backend
    /// that knows the answer at once returns [`Submitted::Now`] (no future to allocate).
    /// Default: [`Backend::submit`], as [`Submitted::Later`].
    fn submit_taking<'a>(
        &'a self,
        action: &'a mut AgentAction,
        idempotency_key: &'a str,
    ) -> Submitted<'a> {
        Submitted::Later(self.submit(action, idempotency_key))
    }

    /// The current decision for an action.
    fn status<'a>(&'a self, action_id: &'a str) -> BoxFuture<'a, Result<AuthorizationDecision>>;

    /// Record the outcome of an allowed action. Must not block; delivery may happen later but
    /// must never be silently lost.
    fn report_outcome(&self, action_id: &str, outcome: &Outcome);

    /// The kill-switch status for this agent. Default: not blocked.
    fn kill_switch_status(&self) -> BoxFuture<'_, Result<KillSwitchStatus>> {
        Box::pin(async { Ok(KillSwitchStatus::default()) })
    }

    /// Wait until the decision of `action_id` may have changed, at most `remaining`.
    /// Default: sleep up to 250 ms.
    fn wait_for_change<'a>(&'a self, action_id: &'a str, remaining: Duration) -> BoxFuture<'a, ()> {
        let _ = action_id;
        Box::pin(tokio::time::sleep(
            remaining.min(Duration::from_millis(250)),
        ))
    }

    /// Deliver the record of an action that was allowed in fail-open mode without the
    /// service. Default: nothing to deliver.
    fn deliver_fail_open<'a>(&'a self, record: &'a FailOpenRecord) -> BoxFuture<'a, Result<()>> {
        let _ = record;
        Box::pin(async { Ok(()) })
    }

    /// A local check before any request (e.g. the circuit breaker). Must be fast.
    fn precheck(&self) -> Result<()> {
        Ok(())
    }

    /// Whether [`Backend::submit`] completes without an async runtime and without network I/O
    /// (an in-process engine whose answer arrives from another thread over a channel). When
    /// true, a sync governed call submits on the calling thread instead of hopping to the
    /// client's background runtime. Default: false.
    fn answers_inline(&self) -> bool {
        false
    }

    /// A short name for logs and `Debug`.
    fn name(&self) -> &'static str {
        "custom"
    }
}
