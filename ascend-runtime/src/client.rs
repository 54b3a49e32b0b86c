//! [`AscendClient`]: the governance decisions a governed call needs — evaluate, authorize,
//! wait for approval, report the outcome — with the kill switch, validation and fail mode
//! applied above the backend.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::action::AgentAction;
use crate::backend::{Backend, Submitted};
use crate::config::{ClientBuilder, Config, FailMode};
use crate::decision::{AuthorizationDecision, Decision};
use crate::error::{Error, Result};
use crate::events::EventHub;
use crate::http::HttpBackend;
use crate::kill_switch::{self, KillSwitch, Watched};
use crate::outcome::{FailOpenQueue, FailOpenRecord};
use crate::transport::{Transport, correlation_id};

pub use crate::outcome::Outcome;

/// How an evaluation treats a pending decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvaluateOptions {
    /// Wait for a human decision when the answer is pending (default true).
    pub wait_for_approval: bool,
    /// How long to wait (default 60 s). A pending decision not decided in time is
    /// [`Error::ApprovalTimeout`] — never allowed, whatever the fail mode.
    pub approval_timeout: Duration,
}

impl Default for EvaluateOptions {
    fn default() -> Self {
        EvaluateOptions {
            wait_for_approval: true,
            approval_timeout: Duration::from_secs(60),
        }
    }
}

impl EvaluateOptions {
    /// Do not wait for a pending decision.
    pub fn no_wait() -> Self {
        EvaluateOptions {
            wait_for_approval: false,
            ..Self::default()
        }
    }

    /// Wait up to `timeout` for a pending decision.
    pub fn wait(timeout: Duration) -> Self {
        EvaluateOptions {
            wait_for_approval: true,
            approval_timeout: timeout,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    /// Everything that goes to the service goes through here (HTTP or not).
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) kill: KillSwitch,
    pub(crate) queue: FailOpenQueue,
}

impl Drop for Inner {
    fn drop(&mut self) {
        kill_switch::stop(&self.kill);
    }
}

/// The governance client. `Send + Sync`, cheap to clone (an `Arc` inside).
///
/// ```no_run
/// use ascend_runtime::{AgentAction, AscendClient, EvaluateOptions};
///
/// # async fn run() -> ascend_runtime::Result<()> {
/// let client = AscendClient::from_env()?;          // ASCEND_API_KEY, ASCEND_API_URL, ...
/// client.start_kill_switch_watch();
/// let action = AgentAction::new("database.write", "customer_profiles").with_resource_id("42");
/// let decision = client.authorize(action, EvaluateOptions::default()).await?;
/// // ... perform the action ...
/// client.report_outcome(&decision.action_id, ascend_runtime::Outcome::Completed {
///     duration: std::time::Duration::from_millis(12),
/// });
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AscendClient {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for AscendClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AscendClient")
            .field("backend", &self.inner.backend.name())
            .field("api_url", &self.inner.config.api_url.as_str())
            .field("api_key", &self.inner.config.masked_api_key())
            .field("agent_id", &self.agent_id())
            .field("fail_mode", &self.fail_mode())
            .field("blocked", &self.is_blocked())
            .finish()
    }
}

impl AscendClient {
    /// A builder; unset settings come from the environment. See [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client configured entirely from the environment (and `.env`).
    pub fn from_env() -> Result<AscendClient> {
        ClientBuilder::new().build()
    }

    /// An HTTP client from resolved settings.
    pub(crate) fn from_config(config: Config) -> Result<AscendClient> {
        let transport = Arc::new(Transport::new(&config)?);
        let backend = Arc::new(HttpBackend::new(transport, &config)?);
        tracing::debug!(config = ?config, "ascend client built");
        Ok(Self::with_backend(config, backend))
    }

    /// A client over any [`Backend`] (the test double, an in-process engine, …). The kill
    /// switch, fail mode, validation and approval waiting behave as for HTTP. Operations that
    /// only exist over HTTP (webhooks, list, register, …) return [`Error::Configuration`].
    pub fn with_backend(config: Config, backend: Arc<dyn Backend>) -> AscendClient {
        let queue = FailOpenQueue::new(config.fail_open_queue_capacity);
        AscendClient {
            inner: Arc::new(Inner {
                config,
                backend,
                kill: KillSwitch::default(),
                queue,
            }),
        }
    }

    /// The agent id sent with actions (`unknown` when not configured).
    pub fn agent_id(&self) -> &str {
        self.inner.config.agent_id()
    }

    /// The agent name sent with actions.
    pub fn agent_name(&self) -> &str {
        self.inner.config.agent_name()
    }

    /// The fail mode.
    pub fn fail_mode(&self) -> FailMode {
        self.inner.config.fail_mode
    }

    /// The resolved configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Whether the kill switch blocks this agent (a local atomic read; no network).
    #[inline]
    pub fn is_blocked(&self) -> bool {
        self.inner.kill.is_blocked()
    }

    /// The kill-switch guard every entry point runs first: [`Error::KillSwitch`] when blocked,
    /// without any network.
    #[inline]
    pub(crate) fn check_kill_switch(&self) -> Result<()> {
        self.inner.kill.check()
    }

    /// Block this client locally, as if the kill switch had been triggered (until
    /// [`AscendClient::release_kill_switch`] or the next status from the watch).
    pub fn trigger_kill_switch(&self, reason: impl Into<String>) {
        self.inner.kill.trigger(reason);
    }

    /// Lift a local block.
    pub fn release_kill_switch(&self) {
        self.inner.kill.release();
    }

    /// Start watching the kill switch in the background (pushed events when the server offers
    /// the event stream, polling `?agent_id=` otherwise). Idempotent; stops when the last clone
    /// of the client is dropped. Approval waits do not need it: they use the same push stream
    /// (or poll) whether or not the watch runs.
    pub fn start_kill_switch_watch(&self) {
        kill_switch::start(&self.inner);
    }

    /// Stop the watch.
    pub fn stop_kill_switch_watch(&self) {
        kill_switch::stop(&self.inner.kill);
    }

    /// Fail-open records not yet delivered to the server.
    pub fn pending_fail_open_records(&self) -> usize {
        self.inner.queue.len()
    }

    /// Fail-open records that did not fit in the queue (each was logged at `error`).
    pub fn dropped_fail_open_records(&self) -> u64 {
        self.inner.queue.overflow()
    }

    /// Raw protocol call: submit the action and, when `opts.wait_for_approval`, wait for a
    /// pending decision. Returns the decision as-is (allowed, denied or pending).
    ///
    /// Order: the kill switch (→ [`Error::KillSwitch`], no network), local validation
    /// (→ [`Error::Validation`]), then the backend. When the service cannot be reached
    /// (connection, timeout, 5xx after retries, circuit open, rate limit) a fail-closed client
    /// returns that error, and a fail-open client returns a synthetic allowed decision with
    /// conditions `["fail_open_mode"]` and queues a record for the server.
    // Not an `async fn`: the async block uses the arguments in place, where an `async fn`
    // keeps a second copy of each in its state — and futures are moved, so their size is paid
    // at every call. Nothing runs before the first poll, as with an `async fn`.
    #[allow(clippy::manual_async_fn)]
    pub fn evaluate_action(
        &self,
        mut action: AgentAction,
        opts: EvaluateOptions,
    ) -> impl Future<Output = Result<AuthorizationDecision>> + Send + '_ {
        async move {
            self.check_kill_switch()?;
            let precheck = self.inner.backend.precheck();
            if let Err(e) = &precheck
                && self.fail_mode() == FailMode::Closed
                && e.is_unavailable()
            {
                // Fast refusal (open circuit): nothing to validate or queue. The breaker
                // logged when it opened; per-call lines stay at debug.
                tracing::debug!(error = %e, "governance unavailable; fail-closed: refused locally");
                return Err(precheck.err().unwrap_or(Error::CircuitOpen {
                    retry_in: Duration::ZERO,
                }));
            }
            self.prepare(&mut action)?;
            let submitted = match precheck {
                Ok(()) => {
                    let key = crate::action::idempotency_key();
                    match self.inner.backend.submit_taking(&mut action, key.as_str()) {
                        Submitted::Now(answer) => answer,
                        Submitted::Later(answer) => answer.await,
                    }
                }
                Err(e) => Err(e),
            };
            let decision = match submitted {
                Ok(d) => {
                    self.inner.maybe_flush();
                    d
                }
                Err(Error::Denied(d)) => *d,
                // The backend took the action only if it answered `Ok`.
                Err(e) => return self.unavailable(action, e),
            };
            if decision.is_pending() && opts.wait_for_approval {
                // Boxed: a wait is rare, and would make every call's future larger.
                return Box::pin(
                    self.wait_for_decision(&decision.action_id, opts.approval_timeout),
                )
                .await;
            }
            Ok(decision)
        }
    }

    /// What a governed call uses: `Ok` only when the action may run (allowed, or a fail-open
    /// synthetic decision). Denied → [`Error::Denied`]; pending not decided in time →
    /// [`Error::ApprovalTimeout`]; pending without waiting → [`Error::PendingApproval`]; kill switch → [`Error::KillSwitch`]; unreachable in
    /// fail-closed mode → the transport error.
    pub async fn authorize(
        &self,
        action: AgentAction,
        opts: EvaluateOptions,
    ) -> Result<AuthorizationDecision> {
        self.check_kill_switch()?;
        let decision = self.evaluate_action(action, opts).await?;
        settle(decision)
    }

    /// Submit without waiting and without fail-open: the server's answer as-is (a 403
    /// governance body becomes a denied decision).
    pub async fn submit_action(&self, mut action: AgentAction) -> Result<AuthorizationDecision> {
        self.check_kill_switch()?;
        self.prepare(&mut action)?;
        self.inner.backend.precheck()?;
        let key = crate::action::idempotency_key();
        match self
            .inner
            .backend
            .submit_taking(&mut action, key.as_str())
            .answer()
            .await
        {
            Ok(d) => {
                self.inner.maybe_flush();
                Ok(d)
            }
            Err(Error::Denied(d)) => Ok(*d),
            Err(e) => Err(e),
        }
    }

    /// The current decision of an action.
    pub async fn get_action_status(&self, action_id: &str) -> Result<AuthorizationDecision> {
        let d = self.inner.backend.status(action_id).await?;
        self.inner.maybe_flush();
        Ok(d)
    }

    /// Wait until a pending action is decided, at most `timeout`. Uses pushed decisions when
    /// the server offers the event stream (the client's one stream, opened on first need,
    /// whether or not the kill-switch watch runs), polling otherwise. Transient failures while
    /// waiting are retried at the next poll; the wait never turns into "allowed" (in either
    /// fail mode): when the time is up the result is [`Error::ApprovalTimeout`].
    pub async fn wait_for_decision(
        &self,
        action_id: &str,
        timeout: Duration,
    ) -> Result<AuthorizationDecision> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut escalated_logged = false;
        loop {
            match self.inner.backend.status(action_id).await {
                Ok(d) if !d.is_pending() => {
                    self.inner.maybe_flush();
                    return Ok(d);
                }
                Ok(d) => {
                    if !escalated_logged && d.raw_status.as_deref() == Some("escalated") {
                        escalated_logged = true;
                        tracing::warn!(action_id, "approval escalated; still waiting");
                    }
                }
                Err(e) if e.is_unavailable() => {
                    tracing::warn!(action_id, error = %e, "decision status unavailable; will retry");
                }
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::ApprovalTimeout {
                    action_id: action_id.to_owned(),
                    waited: now - started,
                });
            }
            self.inner
                .backend
                .wait_for_change(action_id, deadline - now)
                .await;
        }
    }

    /// Report the outcome of an allowed action in the background: never blocks, and a report
    /// that cannot be delivered is logged, never dropped silently.
    pub fn report_outcome(&self, action_id: &str, outcome: Outcome) {
        if action_id.starts_with("fail_open_") {
            if !self.inner.queue.attach_outcome(action_id, &outcome) {
                tracing::warn!(
                    action_id,
                    outcome = ?outcome,
                    "outcome of a fail-open action whose record was already delivered; logged only"
                );
            }
            return;
        }
        self.inner.backend.report_outcome(action_id, &outcome);
    }

    /// Fill the identity and check what can be checked locally.
    /// In place: the action is not moved (it is large, and so is every future holding it).
    fn prepare(&self, action: &mut AgentAction) -> Result<()> {
        if action.agent_id.trim().is_empty() {
            action.agent_id = self.agent_id().to_owned();
        }
        if action.agent_name.trim().is_empty() {
            action.agent_name = self.agent_name().to_owned();
        }
        validate(action)
    }

    /// Apply the fail mode to an error of submit.
    fn unavailable(&self, action: AgentAction, error: Error) -> Result<AuthorizationDecision> {
        if !error.is_unavailable() {
            return Err(error);
        }
        match self.fail_mode() {
            FailMode::Closed => {
                tracing::error!(
                    action_type = %action.action_type,
                    resource = %action.resource,
                    error = %error,
                    "governance unavailable; fail-closed: the action is not allowed"
                );
                Err(error)
            }
            FailMode::Open => {
                let decision = fail_open_decision(&error);
                tracing::warn!(
                    action_id = %decision.action_id,
                    action_type = %action.action_type,
                    resource = %action.resource,
                    error = %error,
                    "governance unavailable; fail-open: the action is allowed and will be reported later"
                );
                self.inner.queue.push(FailOpenRecord {
                    action_id: decision.action_id.clone(),
                    action,
                    error: error.to_string(),
                    allowed_at: chrono::Utc::now().to_rfc3339(),
                    outcome: None,
                });
                Ok(decision)
            }
        }
    }
}

impl Inner {
    /// The HTTP backend, when the client has it (the HTTP-only operations and the push stream
    /// reach it through [`Inner::backend`]: there is no second copy of its parts).
    pub(crate) fn http(&self) -> Option<&HttpBackend> {
        let backend: &dyn Any = &*self.backend;
        backend.downcast_ref::<HttpBackend>()
    }

    /// The service answered: deliver queued fail-open records in the background.
    pub(crate) fn maybe_flush(self: &Arc<Self>) {
        if self.queue.len() == 0 || self.queue.flushing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(self);
        let spawned = crate::background::spawn(async move {
            while let Some(record) = inner.queue.pop() {
                if let Err(e) = inner.backend.deliver_fail_open(&record).await {
                    tracing::warn!(
                        action_id = %record.action_id,
                        error = %e,
                        "could not deliver a fail-open record yet; will retry after the next answer"
                    );
                    inner.queue.push_front(record);
                    break;
                }
            }
            inner.queue.flushing.store(false, Ordering::Release);
        });
        if spawned.is_err() {
            self.queue.flushing.store(false, Ordering::Release);
        }
    }
}

impl Watched for Inner {
    fn kill_switch(&self) -> &KillSwitch {
        &self.kill
    }
    fn config(&self) -> &Config {
        &self.config
    }
    fn backend(&self) -> &dyn Backend {
        &*self.backend
    }
    fn events(&self) -> Option<&Arc<EventHub>> {
        self.http().map(|h| &h.events)
    }
    fn answered(self: &Arc<Self>) {
        self.maybe_flush();
    }
}

/// What a governed call gets for an evaluated decision: `Ok` when allowed; a pending one (only
/// reached without waiting: a wait ends decided or in `ApprovalTimeout`) is
/// [`Error::PendingApproval`]; a denied one [`Error::Denied`].
pub(crate) fn settle(decision: AuthorizationDecision) -> Result<AuthorizationDecision> {
    if decision.is_pending() {
        return Err(Error::PendingApproval {
            action_id: decision.action_id,
            approval_request_id: decision.approval_request_id,
        });
    }
    decision_to_result(decision, Duration::ZERO)
}

/// `Ok` for allowed decisions, the matching error otherwise.
pub(crate) fn decision_to_result(
    decision: AuthorizationDecision,
    waited: Duration,
) -> Result<AuthorizationDecision> {
    match decision.decision {
        Decision::Allowed => Ok(decision),
        Decision::Denied => Err(Error::Denied(Box::new(decision))),
        Decision::Pending => Err(Error::ApprovalTimeout {
            action_id: decision.action_id,
            waited,
        }),
    }
}

/// The synthetic decision of fail-open mode.
pub(crate) fn fail_open_decision(error: &Error) -> AuthorizationDecision {
    let mut d =
        AuthorizationDecision::new(format!("fail_open_{}", correlation_id()), Decision::Allowed);
    d.conditions = vec!["fail_open_mode".to_owned()];
    d.comments = Some(
        "Auto-approved: the governance service could not be reached and fail mode is open"
            .to_owned(),
    );
    d.reason = Some(format!("fail-open: {error}"));
    let mut meta = Map::new();
    meta.insert("fail_mode".into(), Value::String("open".into()));
    meta.insert("error".into(), Value::String(error.to_string()));
    d.metadata = meta;
    d
}

/// Local validation (wire-protocol §4.1 step 3).
pub(crate) fn validate(action: &AgentAction) -> Result<()> {
    let mut errors = std::collections::BTreeMap::new();
    if action.action_type.trim().is_empty() {
        errors.insert("action_type".to_owned(), "must not be empty".to_owned());
    }
    if action.resource.trim().is_empty() {
        errors.insert("resource".to_owned(), "must not be empty".to_owned());
    }
    if action.orchestration_depth.is_some_and(|d| d > 5) {
        errors.insert(
            "orchestration_depth".to_owned(),
            "must be between 0 and 5".to_owned(),
        );
    }
    for (field, value) in [
        ("mcp_server_name", &action.mcp_server_name),
        ("model_id", &action.model_id),
        ("orchestration_session_id", &action.orchestration_session_id),
    ] {
        if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
            errors.insert(field.to_owned(), "must not be empty when given".to_owned());
        }
    }
    if let Some(Value::String(t)) = action.action_details.get("tool_name")
        && t.trim().is_empty()
    {
        errors.insert(
            "tool_name".to_owned(),
            "must not be empty when given".to_owned(),
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation {
            message: format!(
                "invalid action: {}",
                errors.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            field_errors: errors,
        })
    }
}
