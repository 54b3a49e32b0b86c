//! The embedded backend: the runtime's [`Backend`] answered by the governance service in this
//! process — no HTTP, no port. Decisions, approvals, the kill switch and the hash-chained
//! audit trail are the same as `ascend serve`'s (the same [`Governance`] operations over the
//! same SQLite store).
//!
//! ```no_run
//! use std::sync::Arc;
//! use ascend_runtime::AscendClient;
//! use ascend_server::Embedded;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let embedded = Embedded::open("ascend.db")?;
//! let client = AscendClient::builder()
//!     .agent_id("billing-agent")
//!     .build_with_backend(Arc::new(embedded.clone()))?;
//! // A reviewer in the same process decides what policy holds for approval.
//! let reviewer = embedded.reviewer("alice");
//! # let _ = (client, reviewer);
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use ascend_runtime::backend::{Backend, BoxFuture};
use ascend_runtime::wire::KillSwitchStatus;
use ascend_runtime::{AgentAction, AuthorizationDecision, Decision, Outcome};

use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::governance::actions::{OutcomeInput, VoteInput};
use crate::governance::kill_switch::KillSwitchInput;
use crate::governance::{Governance, SubmitInput};
use crate::model::{ActionFilter, ActionOutcome, ActionRecord, Principal, PushKind, Role};

/// The governance service of this process, as a runtime backend. Cheap to clone.
#[derive(Clone)]
pub struct Embedded {
    governance: Governance,
    agent: Arc<Principal>,
    started: Arc<AtomicBool>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded").finish_non_exhaustive()
    }
}

impl Embedded {
    /// Open (creating and migrating) the database at `path` with the default configuration
    /// and the built-in policies. Works from synchronous code and from inside a runtime.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(ServerConfig {
            db_path: path.as_ref().to_owned(),
            ..ServerConfig::default()
        })
    }

    /// Open with a configuration (policy directory, approval lifetime, durability, …; the
    /// bind address is not used).
    pub fn open_with(config: ServerConfig) -> Result<Self> {
        // Opening reads the store from a runtime of its own, on a thread of its own, so this
        // works whether or not the caller is inside a runtime.
        let opened = std::thread::spawn(move || -> Result<Governance> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async { Ok(crate::open_governance(config, "embedded").await?.0) })
        })
        .join()
        .map_err(|_| Error::Internal("opening the embedded store panicked".into()))??;
        Ok(Self::over(opened, false))
    }

    /// An embedded backend over a service that is already running (for example the one behind
    /// a [`crate::RunningServer`]), so in-process agents and HTTP clients share one state. The
    /// service's owner runs its background work (webhook delivery, approval expiry); this
    /// backend does not start a second copy.
    pub fn new(governance: Governance) -> Self {
        Self::over(governance, true)
    }

    /// `background_running`: whether webhook delivery and expiry already run for this service.
    fn over(governance: Governance, background_running: bool) -> Self {
        let agent = Principal {
            key_id: "embedded:agent".into(),
            org_id: 0,
            role: Role::Agent,
            agent_id: None,
            name: "embedded-agent".into(),
            people: vec!["embedded-agent".into()],
        };
        let mut this = Self {
            governance,
            agent: Arc::new(agent),
            started: Arc::new(AtomicBool::new(background_running)),
        };
        let org = this
            .governance
            .state()
            .orgs
            .read()
            .ok()
            .and_then(|o| {
                let name = &this.governance.config().default_org;
                o.iter().find(|(_, n)| *n == name).map(|(id, _)| *id)
            })
            .unwrap_or(1);
        Arc::make_mut(&mut this.agent).org_id = org;
        this
    }

    /// The governance service (every operation, for tools and tests).
    pub fn governance(&self) -> &Governance {
        &self.governance
    }

    /// A reviewer of this organisation acting in-process (approves and denies; cannot approve
    /// what the embedded agent submitted under its own name).
    pub fn reviewer(&self, name: &str) -> Reviewer {
        self.person(name, Role::Reviewer)
    }

    /// An operator (admin) of this organisation: also flips kill switches.
    pub fn operator(&self, name: &str) -> Reviewer {
        self.person(name, Role::Admin)
    }

    fn person(&self, name: &str, role: Role) -> Reviewer {
        Reviewer {
            governance: self.governance.clone(),
            principal: Principal {
                key_id: format!("embedded:{}:{name}", role.as_str()),
                org_id: self.agent.org_id,
                role,
                agent_id: None,
                name: name.to_owned(),
                people: vec![crate::ident::fold(name)],
            },
        }
    }

    /// Start the background work (webhook delivery, approval expiry) once, on the runtime the
    /// first call comes from.
    fn ensure_started(&self) {
        if tokio::runtime::Handle::try_current().is_ok()
            && !self.started.swap(true, Ordering::AcqRel)
        {
            drop(crate::background_tasks(&self.governance));
        }
    }
}

/// A person working in the same process as the agents: reviewer or operator.
///
/// With [`Embedded`] it is the kit for integration tests of your own agent: the real
/// control plane (engines, policies, approvals, kill switch, audit) in the test's process, and
/// the people who decide. Compiled and run by `cargo test -p ascend-server --doc`:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ascend_runtime::{AscendClient, Error, global::scope, governed};
/// use ascend_server::Embedded;
///
/// #[governed(action_type = "database.write", resource = "customers",
///            risk_indicators(pii_involved = true, data_classification = "pii"))]
/// async fn update_customer(id: &str) -> Result<String, Error> {
///     Ok(format!("{id} updated"))
/// }
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?; // a throw-away database per test
/// let embedded = Embedded::open(dir.path().join("ascend.db"))?;
/// let client = AscendClient::builder().ignore_env().agent_id("billing-agent")
///     .build_with_backend(Arc::new(embedded.clone()))?;
/// let (alice, olivia) = (embedded.reviewer("alice"), embedded.operator("olivia"));
///
/// // A PII write waits for a human: the test approves it…
/// let call = tokio::spawn(scope(client.clone(), update_customer("c-1")));
/// let pending = alice.next_pending(Duration::from_secs(10)).await?.expect("a pending action");
/// alice.approve(pending.id, Some("checked")).await?;
/// assert_eq!(call.await??, "c-1 updated");
///
/// // …or denies it.
/// let call = tokio::spawn(scope(client.clone(), update_customer("c-2")));
/// let pending = alice.next_pending(Duration::from_secs(10)).await?.expect("a pending action");
/// alice.deny(pending.id, "not this customer").await?;
/// assert!(matches!(call.await?, Err(Error::Denied(_))));
///
/// // An operator halts the agent: refused at once, until resumed.
/// olivia.halt(Some("billing-agent"), "incident 7").await?;
/// let refused = scope(client.clone(), update_customer("c-3")).await;
/// assert!(matches!(refused, Err(Error::KillSwitch { .. })));
/// olivia.resume(Some("billing-agent")).await?;
/// assert!(alice.verify_audit().await?.ok);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Reviewer {
    governance: Governance,
    principal: Principal,
}

impl Reviewer {
    /// Pending actions, newest first.
    pub async fn pending(&self) -> Result<Vec<ActionRecord>> {
        self.list(ActionFilter {
            status: Some("pending_approval".into()),
            limit: 1000,
            ..ActionFilter::default()
        })
        .await
    }

    /// Wait (at most `timeout`) until an action of the organisation is pending, and return the
    /// oldest one; `None` when none came in time. It wakes on the service's own events, so an
    /// integration test can start a governed call in a task and decide it here, without sleeps.
    pub async fn next_pending(&self, timeout: Duration) -> Result<Option<ActionRecord>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Listening before looking: a submit between the two still wakes us.
            let mut events = self.governance.subscribe();
            if let Some(oldest) = self.pending().await?.pop() {
                return Ok(Some(oldest));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // Any event (or a lost one: a slow safety re-check) is a reason to look again.
            let wake = deadline.min(now + Duration::from_millis(250));
            let _ = tokio::time::timeout_at(wake, events.recv()).await;
        }
    }

    /// One action of the organisation.
    pub async fn action(&self, action_id: i64) -> Result<ActionRecord> {
        self.governance.action(&self.principal, action_id).await
    }

    /// The organisation's most recent actions (at most `limit`), newest first.
    pub async fn recent(&self, limit: u32) -> Result<Vec<ActionRecord>> {
        self.list(ActionFilter {
            limit: limit.clamp(1, 1000),
            ..ActionFilter::default()
        })
        .await
    }

    async fn list(&self, filter: ActionFilter) -> Result<Vec<ActionRecord>> {
        Ok(self
            .governance
            .list_actions(&self.principal, filter)
            .await?
            .0)
    }

    /// Approve a pending action (one stage).
    pub async fn approve(&self, action_id: i64, comment: Option<&str>) -> Result<ActionRecord> {
        let input = VoteInput {
            approve: true,
            comment: comment.map(str::to_owned),
        };
        self.governance
            .vote(&self.principal, action_id, input)
            .await
    }

    /// Deny a pending action (a reason is required).
    pub async fn deny(&self, action_id: i64, reason: &str) -> Result<ActionRecord> {
        let input = VoteInput {
            approve: false,
            comment: Some(reason.to_owned()),
        };
        self.governance
            .vote(&self.principal, action_id, input)
            .await
    }

    /// Re-walk the organisation's audit chain against its head.
    pub async fn verify_audit(&self) -> Result<crate::audit::VerifyReport> {
        self.governance.verify_audit(&self.principal).await
    }

    /// Halt one agent (or, with None, the whole organisation) at once (admin).
    pub async fn halt(&self, agent_id: Option<&str>, reason: &str) -> Result<()> {
        self.kill_switch(agent_id, true, Some(reason.to_owned()))
            .await
    }

    /// Release a halt (admin).
    pub async fn resume(&self, agent_id: Option<&str>) -> Result<()> {
        self.kill_switch(agent_id, false, None).await
    }

    async fn kill_switch(
        &self,
        agent: Option<&str>,
        active: bool,
        reason: Option<String>,
    ) -> Result<()> {
        let input = KillSwitchInput {
            agent_id: agent.map(str::to_owned),
            active,
            reason,
        };
        self.governance
            .set_kill_switch(&self.principal, input)
            .await?;
        Ok(())
    }
}

/// The runtime's error for a governance error.
fn to_runtime(e: Error) -> ascend_runtime::Error {
    use ascend_runtime::Error as R;
    match e {
        Error::Governance { code, reason, .. } if code == "KILL_SWITCH_ACTIVE" => {
            R::KillSwitch { reason }
        }
        Error::Governance {
            code,
            reason,
            correlation_id,
            mcp_server_name,
        } => {
            let mut d = AuthorizationDecision::new("", Decision::Denied).with_reason(reason);
            d.raw_status = Some("denied".into());
            d.metadata
                .insert("governance_violation".into(), Value::Bool(true));
            d.metadata.insert(
                "error".into(),
                format!("governance_violation: {code}").into(),
            );
            for (k, v) in [
                ("correlation_id", correlation_id),
                ("mcp_server_name", mcp_server_name),
            ] {
                if let Some(v) = v {
                    d.metadata.insert(k.into(), v.into());
                }
            }
            R::Denied(Box::new(d))
        }
        Error::Validation { detail, errors } => R::Validation {
            message: detail,
            field_errors: errors
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect(),
        },
        Error::BadRequest(message) => R::Validation {
            message,
            field_errors: Default::default(),
        },
        Error::Unauthorized => R::Authentication {
            message: "not authorised".into(),
        },
        Error::Forbidden(message) => R::Forbidden { message },
        Error::NotFound(message) => R::NotFound { message },
        Error::Conflict(message) => R::Conflict { message },
        e @ (Error::StoreUnavailable(_) | Error::Database(_) | Error::Postgres(_)) => R::Server {
            status: 503,
            message: e.to_string(),
        },
        other => R::Server {
            status: 500,
            message: other.to_string(),
        },
    }
}

fn action_id(id: &str) -> ascend_runtime::Result<i64> {
    id.trim()
        .parse()
        .map_err(|_| ascend_runtime::Error::NotFound {
            message: format!("action {id:?} not found"),
        })
}

impl Backend for Embedded {
    fn submit<'a>(
        &'a self,
        action: &'a AgentAction,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, ascend_runtime::Result<AuthorizationDecision>> {
        self.ensure_started();
        Box::pin(async move {
            let environment = action
                .context
                .get("environment")
                .and_then(Value::as_str)
                .unwrap_or("production")
                .to_owned();
            let input = SubmitInput {
                action: action.clone(),
                environment,
                correlation_id: None,
                idempotency_key: Some(format!("idem:{idempotency_key}")),
                mcp: None,
            };
            let body = self
                .governance
                .submit(&self.agent, input)
                .await
                .map_err(to_runtime)?;
            // What `from_json` reads from the same body on the wire, without the round trip
            // (a differential test in `ascend_runtime::wire` keeps the two equal).
            Ok(body.to_decision())
        })
    }

    fn status<'a>(
        &'a self,
        action_id_text: &'a str,
    ) -> BoxFuture<'a, ascend_runtime::Result<AuthorizationDecision>> {
        Box::pin(async move {
            let id = action_id(action_id_text)?;
            let a = self
                .governance
                .action(&self.agent, id)
                .await
                .map_err(to_runtime)?;
            if a.body.decision == Decision::Pending {
                // A halted agent's waiting call is refused at once, not left to time out.
                let ks = self
                    .governance
                    .kill_switch_status(&self.agent, Some(&a.agent_id))
                    .map_err(to_runtime)?;
                if ks.blocked {
                    return Err(ascend_runtime::Error::KillSwitch {
                        reason: ks.reason.unwrap_or_else(|| "kill switch active".into()),
                    });
                }
            }
            Ok(a.body.to_decision())
        })
    }

    fn report_outcome(&self, action_id_text: &str, outcome: &Outcome) {
        let Ok(id) = action_id(action_id_text) else {
            tracing::error!(action_id = %action_id_text, "outcome for an unknown action id");
            return;
        };
        let input = OutcomeInput {
            outcome: match outcome {
                Outcome::Completed { .. } => ActionOutcome::Completed,
                Outcome::Failed { .. } => ActionOutcome::Failed,
            },
            detail: outcome.body(action_id_text),
        };
        // Nobody waits for the report: it commits with the store's next write, so a governed
        // call costs one commit, not two (and no task or thread is started for it).
        if let Err(e) = self.governance.report_outcome_later(&self.agent, id, input) {
            tracing::error!(action_id = id, error = %e, "outcome report refused");
        }
    }

    fn kill_switch_status(&self) -> BoxFuture<'_, ascend_runtime::Result<KillSwitchStatus>> {
        Box::pin(async move {
            self.governance
                .kill_switch_status(&self.agent, None)
                .map_err(to_runtime)
        })
    }

    fn wait_for_change<'a>(
        &'a self,
        action_id_text: &'a str,
        remaining: Duration,
    ) -> BoxFuture<'a, ()> {
        let mut rx = self.governance.subscribe();
        let org = self.agent.org_id;
        Box::pin(async move {
            // Pushed in-process: a decision on this action or a kill switch of the organisation
            // wakes the wait at once; a slow safety poll covers anything missed.
            let wait = async {
                loop {
                    match rx.recv().await {
                        Ok(ev) if ev.org_id != org => {}
                        Ok(ev) => match ev.push {
                            Some(PushKind::KillSwitch) => return,
                            Some(PushKind::Decision)
                                if ev.data.get("action_id").and_then(Value::as_str)
                                    == Some(action_id_text) =>
                            {
                                return;
                            }
                            _ => {}
                        },
                        Err(RecvError::Lagged(_)) => return,
                        Err(RecvError::Closed) => return,
                    }
                }
            };
            let _ = tokio::time::timeout(remaining.min(Duration::from_secs(5)), wait).await;
        })
    }

    fn answers_inline(&self) -> bool {
        // Submit runs the engines on the calling thread and waits for the store's writer
        // thread over a channel: no runtime and no network needed.
        true
    }

    fn name(&self) -> &'static str {
        "embedded"
    }
}
