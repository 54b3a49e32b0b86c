//! A test double for users' own unit tests: [`MockGovernance`].
//!
//! It answers without a network — everything allowed or denied, scripted sequences per action
//! type ([`MockGovernance::on`]), or decided from the action's content
//! ([`MockGovernance::respond_with`]) — records every request and every reported outcome (with
//! assertion helpers: [`MockGovernance::assert_requested`], …), and is installed per task
//! ([`MockGovernance::scope`], [`MockGovernance::scope_owned`]), per thread
//! ([`MockGovernance::install_for_thread`]) or for every thread of one test's runtime
//! ([`MockGovernance::runtime`], [`MockGovernance::block_on`]: agents that fan out with
//! `tokio::spawn`), so tests running in parallel never see each other's double.
//!
//! ```
//! use ascend_runtime::testing::MockGovernance;
//! use ascend_runtime::{AgentAction, Decision, EvaluateOptions, Error};
//!
//! let mock = MockGovernance::allow_all().on("database.delete", [Decision::Denied]);
//! let _guard = mock.install_for_thread();
//! let client = ascend_runtime::global()?;
//!
//! assert!(client.authorize_blocking(AgentAction::new("database.read", "t"), EvaluateOptions::default()).is_ok());
//! let err = client
//!     .authorize_blocking(AgentAction::new("database.delete", "t"), EvaluateOptions::default())
//!     .unwrap_err();
//! assert!(matches!(err, Error::Denied(_)));
//! assert_eq!(mock.requests().len(), 2);
//! # Ok::<(), ascend_runtime::Error>(())
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::action::AgentAction;
use crate::backend::{Backend, BoxFuture, Submitted};
use crate::client::AscendClient;
use crate::config::{ClientBuilder, FailMode};
use crate::decision::{AuthorizationDecision, Decision};
use crate::error::{Error, Result};
use crate::global::{self, ThreadGuard};
use crate::outcome::{FailOpenRecord, Outcome};

/// `respond_with(..)`: decides from the action's content.
type Responder = Arc<dyn Fn(&AgentAction) -> Decision + Send + Sync>;

/// The answers scripted for one action type, taken in order by every submit and every status
/// poll of that type; the last one repeats.
struct Script {
    answers: Vec<AuthorizationDecision>,
    next: usize,
}

impl Script {
    fn take(&mut self) -> AuthorizationDecision {
        let i = self.next.min(self.answers.len().saturating_sub(1));
        self.next = self.next.saturating_add(1);
        self.answers
            .get(i)
            .cloned()
            .unwrap_or_else(|| mock_decision(Decision::Allowed))
    }
}

/// Where the status polls of a pending action get their answers.
enum Pending {
    /// The next answers of that action type's script.
    Scripted(String),
    /// The same answer again (a pending answer of the default or of `respond_with`).
    Fixed(Box<AuthorizationDecision>),
}

#[derive(Default)]
struct State {
    default: Option<AuthorizationDecision>,
    scripts: HashMap<String, Script>,
    responder: Option<Responder>,
    failure: Option<Error>,
    /// Pending action id → where its next answers come from.
    pending: HashMap<String, Pending>,
    requests: Vec<AgentAction>,
    outcomes: Vec<(String, Outcome)>,
    fail_open: Vec<FailOpenRecord>,
}

impl State {
    /// The answer to a submit of `action`: its type's script, else `respond_with`, else the
    /// default.
    fn answer(&mut self, action: &AgentAction, id: String) -> AuthorizationDecision {
        let (mut d, source) = if let Some(script) = self.scripts.get_mut(&action.action_type) {
            (
                script.take(),
                Some(Pending::Scripted(action.action_type.clone())),
            )
        } else {
            let d = match &self.responder {
                Some(respond) => mock_decision(respond(action)),
                None => self
                    .default
                    .clone()
                    .unwrap_or_else(|| mock_decision(Decision::Allowed)),
            };
            (d, None)
        };
        if d.is_pending() {
            let source = source.unwrap_or_else(|| Pending::Fixed(Box::new(d.clone())));
            self.pending.insert(id.clone(), source);
        }
        d.action_id = id;
        d
    }

    fn poll(&mut self, action_id: &str) -> Option<AuthorizationDecision> {
        let mut d = match self.pending.get(action_id)? {
            Pending::Fixed(d) => (**d).clone(),
            Pending::Scripted(action_type) => {
                let action_type = action_type.clone();
                self.scripts.get_mut(&action_type)?.take()
            }
        };
        if !d.is_pending() {
            self.pending.remove(action_id);
        }
        d.action_id = action_id.to_owned();
        Some(d)
    }
}

struct MockBackend {
    state: Mutex<State>,
    next_id: AtomicU64,
}

impl MockBackend {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer to a submit of `action` (the caller records the action).
    fn decide(&self, st: &mut State, action: &AgentAction) -> Result<AuthorizationDecision> {
        match &st.failure {
            Some(e) => Err(e.clone()),
            None => {
                let id = (self.next_id.fetch_add(1, Ordering::Relaxed) + 1).to_string();
                Ok(st.answer(action, id))
            }
        }
    }
}

impl Backend for MockBackend {
    fn submit<'a>(
        &'a self,
        action: &'a AgentAction,
        _idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<AuthorizationDecision>> {
        // Copied before the lock is taken: tasks fanning out wait only for the push.
        let recorded = action.clone();
        let result = {
            let mut st = self.lock();
            let result = self.decide(&mut st, action);
            st.requests.push(recorded);
            result
        };
        Box::pin(std::future::ready(result))
    }

    fn submit_taking<'a>(
        &'a self,
        action: &'a mut AgentAction,
        _idempotency_key: &'a str,
    ) -> Submitted<'a> {
        // Answered at once: no future to allocate.
        Submitted::Now({
            let mut st = self.lock();
            let result = self.decide(&mut st, action);
            // Answered: the client is done with the action, which becomes the record as it is.
            // A failed submit leaves it to the client (its fail mode needs it): a copy then.
            let recorded = match result {
                Ok(_) => std::mem::take(action),
                Err(_) => action.clone(),
            };
            st.requests.push(recorded);
            result
        })
    }

    fn status<'a>(&'a self, action_id: &'a str) -> BoxFuture<'a, Result<AuthorizationDecision>> {
        let result = self.lock().poll(action_id).ok_or_else(|| Error::NotFound {
            message: format!("no pending action {action_id} in MockGovernance"),
        });
        Box::pin(std::future::ready(result))
    }

    fn report_outcome(&self, action_id: &str, outcome: &Outcome) {
        self.lock()
            .outcomes
            .push((action_id.to_owned(), outcome.clone()));
    }

    fn wait_for_change<'a>(
        &'a self,
        _action_id: &'a str,
        remaining: Duration,
    ) -> BoxFuture<'a, ()> {
        // Scripted answers change at every poll: poll again almost at once.
        Box::pin(tokio::time::sleep(remaining.min(Duration::from_millis(2))))
    }

    fn deliver_fail_open<'a>(&'a self, record: &'a FailOpenRecord) -> BoxFuture<'a, Result<()>> {
        self.lock().fail_open.push(record.clone());
        Box::pin(std::future::ready(Ok(())))
    }

    fn name(&self) -> &'static str {
        "mock"
    }
}

thread_local! {
    /// The double a [`MockGovernance::runtime`] thread uses, for as long as the thread lives.
    static RUNTIME_THREAD: RefCell<Option<ThreadGuard>> = const { RefCell::new(None) };
}

/// The test double. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct MockGovernance {
    backend: Arc<MockBackend>,
    client: AscendClient,
}

impl std::fmt::Debug for MockGovernance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockGovernance")
            .field("requests", &self.backend.lock().requests.len())
            .finish_non_exhaustive()
    }
}

fn mock_decision(decision: Decision) -> AuthorizationDecision {
    let mut d = AuthorizationDecision::new("", decision);
    d.reason = Some(match decision {
        Decision::Allowed => "allowed by MockGovernance".to_owned(),
        Decision::Denied => "denied by MockGovernance".to_owned(),
        Decision::Pending => "pending in MockGovernance".to_owned(),
    });
    d.risk_score = Some(match decision {
        Decision::Allowed => 10.0,
        Decision::Denied => 90.0,
        Decision::Pending => 60.0,
    });
    d.risk_level = d.risk_score.map(crate::RiskLevel::from_score);
    if decision == Decision::Pending {
        d.approval_request_id = Some("mock-approval".to_owned());
    }
    d
}

impl MockGovernance {
    fn with_default(decision: Decision, fail_mode: FailMode) -> Self {
        let backend = Arc::new(MockBackend {
            state: Mutex::new(State {
                default: Some(mock_decision(decision)),
                ..State::default()
            }),
            next_id: AtomicU64::new(0),
        });
        let client = AscendClient::with_backend(mock_config(fail_mode), backend.clone());
        MockGovernance { backend, client }
    }

    /// Every action is allowed.
    pub fn allow_all() -> Self {
        Self::with_default(Decision::Allowed, FailMode::Closed)
    }

    /// Every action is denied (reason "denied by MockGovernance").
    pub fn deny_all() -> Self {
        Self::with_default(Decision::Denied, FailMode::Closed)
    }

    /// Script the answers for one action type, as a sequence that continues across calls:
    /// each submit of that type takes the next answer, and so does each status poll of a
    /// pending one; the last answer repeats. `[Allowed, Denied]` allows the first call and
    /// denies every later one; `[Pending, Allowed]` makes the first call wait for an approval
    /// that its first poll grants.
    ///
    /// ```
    /// use ascend_runtime::testing::MockGovernance;
    /// use ascend_runtime::{AgentAction, Decision, EvaluateOptions};
    ///
    /// let mock = MockGovernance::allow_all().on("db.write", [Decision::Allowed, Decision::Denied]);
    /// let client = mock.client();
    /// let write = || client.authorize_blocking(AgentAction::new("db.write", "t"), EvaluateOptions::default());
    /// assert!(write().is_ok());
    /// assert!(write().is_err());
    /// assert!(write().is_err());
    /// ```
    pub fn on(self, action_type: &str, decisions: impl IntoIterator<Item = Decision>) -> Self {
        let list: Vec<AuthorizationDecision> = decisions.into_iter().map(mock_decision).collect();
        self.respond(action_type, list)
    }

    /// Like [`MockGovernance::on`] with full decisions (reason, risk, violations, …).
    pub fn respond(
        self,
        action_type: &str,
        decisions: impl IntoIterator<Item = AuthorizationDecision>,
    ) -> Self {
        let answers: Vec<AuthorizationDecision> = decisions.into_iter().collect();
        if !answers.is_empty() {
            self.backend
                .lock()
                .scripts
                .insert(action_type.to_owned(), Script { answers, next: 0 });
        }
        self
    }

    /// Decide from the action's content (resource, parameters, risk indicators, …), for
    /// action types without a script ([`MockGovernance::on`] wins). A pending answer stays
    /// pending at every poll.
    ///
    /// ```
    /// use ascend_runtime::testing::MockGovernance;
    /// use ascend_runtime::{AgentAction, Decision, EvaluateOptions};
    ///
    /// let mock = MockGovernance::allow_all().respond_with(|action: &AgentAction| {
    ///     if action.resource.starts_with("prod_") { Decision::Denied } else { Decision::Allowed }
    /// });
    /// let client = mock.client();
    /// let ask = |resource: &str| {
    ///     client.authorize_blocking(AgentAction::new("db.write", resource), EvaluateOptions::default())
    /// };
    /// assert!(ask("staging_users").is_ok());
    /// assert!(ask("prod_users").is_err());
    /// ```
    pub fn respond_with(
        self,
        decide: impl Fn(&AgentAction) -> Decision + Send + Sync + 'static,
    ) -> Self {
        self.backend.lock().responder = Some(Arc::new(decide));
        self
    }

    /// Make every submit fail with `error` (e.g. a [`Error::Connection`] to test the fail
    /// mode). `None` restores normal answers.
    pub fn fail_with(self, error: Option<Error>) -> Self {
        self.backend.lock().failure = error;
        self
    }

    /// Simulate the service being unreachable (every submit fails with a connection error).
    pub fn unavailable() -> Self {
        Self::allow_all().fail_with(Some(Error::Connection {
            message: "MockGovernance: service unavailable".to_owned(),
        }))
    }

    /// The same double with a fail-open client (for testing fail-open behaviour).
    pub fn fail_open(self) -> Self {
        let client = AscendClient::with_backend(mock_config(FailMode::Open), self.backend.clone());
        MockGovernance {
            backend: self.backend,
            client,
        }
    }

    /// Activate the kill switch: every evaluation fails with [`Error::KillSwitch`].
    pub fn trigger_kill_switch(&self, reason: &str) {
        self.client.trigger_kill_switch(reason);
    }

    /// Release the kill switch.
    pub fn release_kill_switch(&self) {
        self.client.release_kill_switch();
    }

    /// The client answering from this double.
    pub fn client(&self) -> AscendClient {
        self.client.clone()
    }

    /// Every action submitted, in order (with the identity the client filled in).
    pub fn requests(&self) -> Vec<AgentAction> {
        self.backend.lock().requests.clone()
    }

    /// The actions of one type submitted, in order.
    pub fn requests_for(&self, action_type: &str) -> Vec<AgentAction> {
        self.backend
            .lock()
            .requests
            .iter()
            .filter(|a| a.action_type == action_type)
            .cloned()
            .collect()
    }

    /// Every outcome reported, in order, with its action id.
    pub fn outcomes(&self) -> Vec<(String, Outcome)> {
        self.backend.lock().outcomes.clone()
    }

    /// Fail-open records delivered to the double.
    pub fn fail_open_records(&self) -> Vec<FailOpenRecord> {
        self.backend.lock().fail_open.clone()
    }

    /// Run `fut` with this double as the global client of that task only.
    ///
    /// Tasks that `fut` spawns (`tokio::spawn`) are other tasks and do not see it: use
    /// [`MockGovernance::scope_owned`] for each, or run the test on
    /// [`MockGovernance::runtime`], which every task of the test sees.
    pub async fn scope<F: Future>(&self, fut: F) -> F::Output {
        global::scope(self.client(), fut).await
    }

    /// Like [`MockGovernance::scope`], but owning what it needs: the future borrows nothing
    /// from `self` and is `'static` (and `Send`) when `fut` is, so it can be spawned.
    ///
    /// ```
    /// use ascend_runtime::testing::MockGovernance;
    /// use ascend_runtime::{AgentAction, EvaluateOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mock = MockGovernance::allow_all();
    /// let task = tokio::spawn(mock.scope_owned(async {
    ///     let client = ascend_runtime::global()?;
    ///     client.authorize(AgentAction::new("db.read", "t"), EvaluateOptions::default()).await
    /// }));
    /// assert!(task.await.unwrap().is_ok());
    /// mock.assert_requested("db.read");
    /// # }
    /// ```
    pub fn scope_owned<F: Future>(&self, fut: F) -> impl Future<Output = F::Output> + use<F> {
        global::scope(self.client(), fut)
    }

    /// Make this double the global client of the current thread until the guard drops.
    pub fn install_for_thread(&self) -> ThreadGuard {
        global::install_for_thread(self.client())
    }

    /// A multi-thread tokio runtime (two workers) on whose every thread — workers, the
    /// blocking pool, and the thread calling `block_on` for as long as it runs — this double
    /// is the global client. Every task of a test that fans out (`tokio::spawn`,
    /// `spawn_blocking`, sync governed calls) reaches it, and tests running in parallel,
    /// each with its own runtime, never see each other's double.
    ///
    /// ```
    /// use ascend_runtime::testing::MockGovernance;
    /// use ascend_runtime::{AgentAction, EvaluateOptions};
    ///
    /// let mock = MockGovernance::allow_all();
    /// let allowed = mock.block_on(async {
    ///     let calls = (0..8).map(|i| {
    ///         tokio::spawn(async move {
    ///             let client = ascend_runtime::global()?;
    ///             client.authorize(AgentAction::new("db.read", format!("t{i}")), EvaluateOptions::default()).await
    ///         })
    ///     });
    ///     let mut allowed = 0;
    ///     for call in calls {
    ///         allowed += usize::from(call.await.unwrap().is_ok());
    ///     }
    ///     allowed
    /// });
    /// assert_eq!(allowed, 8);
    /// mock.assert_request_count(8);
    /// ```
    pub fn runtime(&self) -> std::io::Result<MockRuntime> {
        let start = self.client();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                let guard = global::install_for_thread(start.clone());
                RUNTIME_THREAD.with(|slot| *slot.borrow_mut() = Some(guard));
            })
            .on_thread_stop(|| {
                RUNTIME_THREAD.with(|slot| slot.borrow_mut().take());
            })
            .build()?;
        Ok(MockRuntime {
            runtime,
            mock: self.clone(),
        })
    }

    /// Run `fut` to completion on a fresh [`MockGovernance::runtime`].
    ///
    /// # Panics
    ///
    /// When the runtime cannot be built (the system refuses to start its threads), or when
    /// called from inside another tokio runtime.
    #[track_caller]
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        match self.runtime() {
            Ok(rt) => rt.block_on(fut),
            Err(e) => panic!("MockGovernance::block_on: cannot start a tokio runtime: {e}"),
        }
    }

    /// The last action submitted, if any.
    pub fn last_request(&self) -> Option<AgentAction> {
        self.backend.lock().requests.last().cloned()
    }

    /// Assert that an action of `action_type` was submitted; returns the last one.
    ///
    /// # Panics
    ///
    /// When none was, listing the action types that were.
    #[track_caller]
    pub fn assert_requested(&self, action_type: &str) -> AgentAction {
        let st = self.backend.lock();
        match st
            .requests
            .iter()
            .rev()
            .find(|a| a.action_type == action_type)
        {
            Some(action) => action.clone(),
            None => panic!(
                "MockGovernance: expected a request of type `{action_type}`; requested: [{}]",
                requested_types(&st.requests)
            ),
        }
    }

    /// Assert that no action of `action_type` was submitted.
    ///
    /// # Panics
    ///
    /// When one was, showing it.
    #[track_caller]
    pub fn assert_not_requested(&self, action_type: &str) {
        let st = self.backend.lock();
        if let Some(action) = st.requests.iter().find(|a| a.action_type == action_type) {
            panic!(
                "MockGovernance: expected no request of type `{action_type}`, got one for \
                 resource `{}` with details {:?}",
                action.resource, action.action_details
            );
        }
    }

    /// Assert how many actions were submitted in all.
    ///
    /// # Panics
    ///
    /// When the count differs, listing the action types that were submitted.
    #[track_caller]
    pub fn assert_request_count(&self, expected: usize) {
        let st = self.backend.lock();
        assert!(
            st.requests.len() == expected,
            "MockGovernance: expected {expected} request(s), got {}: [{}]",
            st.requests.len(),
            requested_types(&st.requests)
        );
    }
}

fn requested_types(requests: &[AgentAction]) -> String {
    requests
        .iter()
        .map(|a| a.action_type.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn mock_config(fail_mode: FailMode) -> crate::Config {
    ClientBuilder::new()
        .ignore_env()
        .agent_id("mock-agent")
        .agent_name("Mock Agent")
        .fail_mode(fail_mode)
        .build_config()
        .unwrap_or_default()
}

/// A tokio runtime on whose every thread a [`MockGovernance`] is the global client
/// ([`MockGovernance::runtime`]). Dereferences to the [`tokio::runtime::Runtime`].
#[derive(Debug)]
pub struct MockRuntime {
    runtime: tokio::runtime::Runtime,
    mock: MockGovernance,
}

impl MockRuntime {
    /// Run `fut` to completion; the calling thread also uses the double meanwhile.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let _guard = self.mock.install_for_thread();
        self.runtime.block_on(fut)
    }
}

impl std::ops::Deref for MockRuntime {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &Self::Target {
        &self.runtime
    }
}
