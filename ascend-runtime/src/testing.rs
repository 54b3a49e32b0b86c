//! A test double for users' own unit tests: [`MockGovernance`].
//!
//! It answers without a network, records every request and every reported outcome, and is
//! installed per task ([`MockGovernance::scope`]) or per thread
//! ([`MockGovernance::install_for_thread`]), so tests running in parallel never see each
//! other's double.
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

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::action::AgentAction;
use crate::backend::{Backend, BoxFuture};
use crate::client::AscendClient;
use crate::config::{ClientBuilder, FailMode};
use crate::decision::{AuthorizationDecision, Decision};
use crate::error::{Error, Result};
use crate::global::{self, ThreadGuard};
use crate::outcome::{FailOpenRecord, Outcome};

#[derive(Default)]
struct State {
    default: Vec<AuthorizationDecision>,
    scripts: HashMap<String, Vec<AuthorizationDecision>>,
    failure: Option<Error>,
    /// action id → remaining answers (the last one repeats).
    pending: HashMap<String, Vec<AuthorizationDecision>>,
    requests: Vec<AgentAction>,
    outcomes: Vec<(String, Outcome)>,
    fail_open: Vec<FailOpenRecord>,
}

struct MockBackend {
    state: Mutex<State>,
    next_id: AtomicU64,
}

impl MockBackend {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn answer(list: &mut Vec<AuthorizationDecision>, id: &str) -> AuthorizationDecision {
        let mut d = if list.len() > 1 {
            list.remove(0)
        } else {
            list.first()
                .cloned()
                .unwrap_or_else(|| AuthorizationDecision::new("", Decision::Allowed))
        };
        d.action_id = id.to_owned();
        d
    }
}

impl Backend for MockBackend {
    fn submit<'a>(
        &'a self,
        action: &'a AgentAction,
        _idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<AuthorizationDecision>> {
        let result = (|| {
            let mut st = self.lock();
            st.requests.push(action.clone());
            if let Some(e) = &st.failure {
                return Err(e.clone());
            }
            let id = (self.next_id.fetch_add(1, Ordering::Relaxed) + 1).to_string();
            let mut script = st
                .scripts
                .get(&action.action_type)
                .cloned()
                .unwrap_or_else(|| st.default.clone());
            let first = Self::answer(&mut script, &id);
            st.pending.insert(id, script);
            Ok(first)
        })();
        Box::pin(std::future::ready(result))
    }

    fn status<'a>(&'a self, action_id: &'a str) -> BoxFuture<'a, Result<AuthorizationDecision>> {
        let result = {
            let mut st = self.lock();
            match st.pending.get_mut(action_id) {
                Some(script) => Ok(Self::answer(script, action_id)),
                None => Err(Error::NotFound {
                    message: format!("no action {action_id} in MockGovernance"),
                }),
            }
        };
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
                default: vec![mock_decision(decision)],
                ..State::default()
            }),
            next_id: AtomicU64::new(0),
        });
        let config = ClientBuilder::new()
            .ignore_env()
            .agent_id("mock-agent")
            .agent_name("Mock Agent")
            .fail_mode(fail_mode)
            .build_config()
            .unwrap_or_default();
        let client = AscendClient::with_backend(config, backend.clone());
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

    /// Script the answers for one action type: the first is the answer to submit, the next
    /// ones answer the status polls of that action; the last one repeats.
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
        let list: Vec<AuthorizationDecision> = decisions.into_iter().collect();
        if !list.is_empty() {
            self.backend
                .lock()
                .scripts
                .insert(action_type.to_owned(), list);
        }
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
        let config = ClientBuilder::new()
            .ignore_env()
            .agent_id("mock-agent")
            .agent_name("Mock Agent")
            .fail_mode(FailMode::Open)
            .build_config()
            .unwrap_or_default();
        let client = AscendClient::with_backend(config, self.backend.clone());
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

    /// Every outcome reported, in order, with its action id.
    pub fn outcomes(&self) -> Vec<(String, Outcome)> {
        self.backend.lock().outcomes.clone()
    }

    /// Fail-open records delivered to the double.
    pub fn fail_open_records(&self) -> Vec<FailOpenRecord> {
        self.backend.lock().fail_open.clone()
    }

    /// Run `fut` with this double as the global client of that task only.
    pub async fn scope<F: Future>(&self, fut: F) -> F::Output {
        global::scope(self.client(), fut).await
    }

    /// Make this double the global client of the current thread until the guard drops.
    pub fn install_for_thread(&self) -> ThreadGuard {
        global::install_for_thread(self.client())
    }
}
