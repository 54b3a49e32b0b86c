//! An in-process control plane for the examples and the end-to-end tests.
//!
//! [`ControlPlane::start`] runs the real `ascend-server` (HTTP on `127.0.0.1`, a free port, a
//! SQLite file in a temporary directory, the default policy set) inside the current tokio
//! runtime, and creates the three keys a deployment hands out:
//!
//! | key | role | who holds it |
//! |---|---|---|
//! | agent key | `agent`, bound to one agent id | the agent (the governed code) |
//! | reviewer key | `reviewer` | the human who approves or denies pending actions |
//! | admin key | `admin` | the operator who flips the kill switch |
//!
//! Nothing here is a shortcut around the product: the agent talks HTTP to the server through
//! `ascend-runtime`, and the reviewer and the operator use the same HTTP API as the `ascend`
//! command line ([`Operator`] is built on its client).
//!
//! ```no_run
//! # async fn demo() -> ascend_examples::Result<()> {
//! use ascend_examples::harness::ControlPlane;
//!
//! let plane = ControlPlane::start("billing-agent").await?;
//! let client = plane.client_builder().build()?;            // the agent's governance client
//! ascend_runtime::init(client)?;                             // used by every #[governed] fn
//! // ... run governed tools; approve with plane.reviewer() ...
//! plane.shutdown().await?;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ascend_runtime::{AuthorizationDecision, ClientBuilder};
use ascend_server::cli::Conn;
use ascend_server::cli::client::Client;
use ascend_server::{Role, RunningServer, ServerConfig};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// The organisation the in-process server creates on first start.
pub const ORG: &str = "default";

/// A running `ascend-server` with an agent key, a reviewer key and an admin key.
pub struct ControlPlane {
    server: Option<RunningServer>,
    config: ServerConfig,
    base_url: String,
    agent_id: String,
    agent_key: String,
    reviewer_key: String,
    admin_key: String,
    // Dropped last: the database lives in this directory.
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secrets: never printed.
        f.debug_struct("ControlPlane")
            .field("base_url", &self.base_url)
            .field("agent_id", &self.agent_id)
            .field("db", &self.config.db_path)
            .field("running", &self.server.is_some())
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Start a server with the default configuration for agent `agent_id`.
    pub async fn start(agent_id: &str) -> Result<Self> {
        Self::start_with(agent_id, |_| {}).await
    }

    /// Start a server, letting `configure` adjust its configuration first (e.g. a short
    /// `approval_ttl`). The bind address and the database path are set by the harness.
    pub async fn start_with(
        agent_id: &str,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("ascend-example-")
            .tempdir()?;
        let mut config = ServerConfig {
            bind: ([127, 0, 0, 1], 0).into(),
            db_path: dir.path().join("ascend.db"),
            ..ServerConfig::default()
        };
        configure(&mut config);
        let server = ascend_server::start(config.clone()).await?;
        let admin_key = match server.admin_key() {
            Some(k) => k.to_owned(),
            None => server.create_api_key(ORG, Role::Admin, None).await?,
        };
        let agent_key = server
            .create_api_key(ORG, Role::Agent, Some(agent_id))
            .await?;
        let reviewer_key = server.create_api_key(ORG, Role::Reviewer, None).await?;
        // A restart must come back on the same port (the agent's URL does not change).
        config.bind = server.addr();
        Ok(ControlPlane {
            base_url: server.base_url(),
            server: Some(server),
            config,
            agent_id: agent_id.to_owned(),
            agent_key,
            reviewer_key,
            admin_key,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The agent id the agent key is bound to.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// The agent's API key (role `agent`).
    pub fn agent_key(&self) -> &str {
        &self.agent_key
    }

    /// The reviewer's API key (role `reviewer`).
    pub fn reviewer_key(&self) -> &str {
        &self.reviewer_key
    }

    /// The operator's API key (role `admin`).
    pub fn admin_key(&self) -> &str {
        &self.admin_key
    }

    /// The SQLite file.
    pub fn db_path(&self) -> &PathBuf {
        &self.config.db_path
    }

    /// Whether the server is running (false between [`ControlPlane::stop`] and
    /// [`ControlPlane::restart`]).
    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }

    /// A client builder for the agent: this server's URL, the agent key and id, the environment
    /// ignored (so a developer's `ASCEND_*` variables cannot redirect an example), and short
    /// retry delays suited to a local server. Add `.fail_mode(..)` etc. and `.build()`.
    pub fn client_builder(&self) -> ClientBuilder {
        ClientBuilder::new()
            .ignore_env()
            .api_url(self.base_url.clone())
            .api_key(self.agent_key.clone())
            .agent_id(self.agent_id.clone())
            .agent_name(format!("{} (example)", self.agent_id))
            .environment("production")
            .timeout(Duration::from_secs(5))
            .retry_backoff(Duration::from_millis(50), Duration::from_millis(400))
            .poll_interval(Duration::from_millis(200))
    }

    /// The reviewer, over the HTTP API.
    pub fn reviewer(&self) -> Result<Operator> {
        Operator::new(&self.base_url, &self.reviewer_key)
    }

    /// The operator (admin key), over the HTTP API.
    pub fn admin(&self) -> Result<Operator> {
        Operator::new(&self.base_url, &self.admin_key)
    }

    /// Stop the server (gracefully: in-flight requests finish, the store is flushed). The
    /// database stays; [`ControlPlane::restart`] brings the server back.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(server) = self.server.take() {
            server.shutdown().await?;
        }
        Ok(())
    }

    /// Start the server again on the same port with the same database (keys, actions and the
    /// audit chain survive).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        // The port was just released; retry briefly in case the OS has not freed it yet.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match ascend_server::start(self.config.clone()).await {
                Ok(server) => {
                    self.server = Some(server);
                    return Ok(());
                }
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "restart: port not free yet; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Stop the server and delete its database.
    pub async fn shutdown(mut self) -> Result<()> {
        self.stop().await
    }
}

/// A person using the HTTP API with their own key: a reviewer (approve, deny, read the audit
/// trail) or an operator (kill switch). Built on the `ascend` command line's client, so every
/// call here is exactly what `ascend approve`, `ascend actions list`, … send.
#[derive(Debug)]
pub struct Operator {
    client: Client,
}

/// The result of `GET /api/v1/audit/verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// The whole chain verified.
    pub ok: bool,
    /// Entries walked.
    pub entries: u64,
    /// The server's sentence for humans.
    pub detail: String,
}

impl Operator {
    /// An operator of the server at `base_url` holding `api_key`.
    pub fn new(base_url: &str, api_key: &str) -> Result<Self> {
        let conn = Conn {
            api_url: base_url.to_owned(),
            api_key: Some(api_key.to_owned()),
            ca_cert: None,
        };
        Ok(Operator {
            client: Client::new(&conn)?,
        })
    }

    /// `POST /api/v1/actions/{id}/approve` (what `ascend approve ID --comment ..` sends).
    pub async fn approve(&self, action_id: &str, comment: &str) -> Result<AuthorizationDecision> {
        let body = self
            .client
            .post(
                &format!("/api/v1/actions/{action_id}/approve"),
                &json!({ "comment": comment }),
            )
            .await?;
        Ok(AuthorizationDecision::from_json(&body)?)
    }

    /// `POST /api/v1/actions/{id}/deny` (what `ascend deny ID --reason ..` sends).
    pub async fn deny(&self, action_id: &str, reason: &str) -> Result<AuthorizationDecision> {
        let body = self
            .client
            .post(
                &format!("/api/v1/actions/{action_id}/deny"),
                &json!({ "reason": reason }),
            )
            .await?;
        Ok(AuthorizationDecision::from_json(&body)?)
    }

    /// `GET /api/v1/actions`: newest first, optionally one agent's and/or one status
    /// (`pending`, `approved`, `denied`).
    pub async fn actions(
        &self,
        agent_id: Option<&str>,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Value>> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(a) = agent_id {
            query.push(("agent_id", a.to_owned()));
        }
        if let Some(s) = status {
            query.push(("status", s.to_owned()));
        }
        let body = self.client.get("/api/v1/actions", &query).await?;
        match body.get("actions") {
            Some(Value::Array(a)) => Ok(a.clone()),
            _ => Err(Error::Unexpected(format!(
                "action list without `actions`: {body}"
            ))),
        }
    }

    /// The full decision of one action (`GET /api/v1/actions/{id}`, its `decision_body`): risk
    /// score and level, CVSS vector, ATT&CK techniques, factors, the rule, the reviewer.
    pub async fn decision(&self, action_id: &str) -> Result<AuthorizationDecision> {
        let body = self
            .client
            .get(&format!("/api/v1/actions/{action_id}"), &[])
            .await?;
        let decision = body.get("decision_body").ok_or_else(|| {
            Error::Unexpected(format!("action {action_id} without decision_body"))
        })?;
        Ok(AuthorizationDecision::from_json(decision)?)
    }

    /// The full raw record of one action (`GET /api/v1/actions/{id}`, as `ascend actions show`).
    pub async fn action(&self, action_id: &str) -> Result<Value> {
        Ok(self
            .client
            .get(&format!("/api/v1/actions/{action_id}"), &[])
            .await?)
    }

    /// The newest action of `agent_id` and its full decision, if it has any.
    pub async fn latest_decision(&self, agent_id: &str) -> Result<Option<AuthorizationDecision>> {
        let newest = self.actions(Some(agent_id), None, 1).await?;
        match newest.first().and_then(|a| a.get("id")).map(id_text) {
            Some(id) => Ok(Some(self.decision(&id).await?)),
            None => Ok(None),
        }
    }

    /// Wait until `agent_id` has a pending action of `action_type`; returns its id.
    pub async fn wait_for_pending(
        &self,
        agent_id: &str,
        action_type: &str,
        timeout: Duration,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = self.actions(Some(agent_id), Some("pending"), 50).await?;
            if let Some(id) = pending
                .iter()
                .find(|a| a.get("action_type").and_then(Value::as_str) == Some(action_type))
                .and_then(|a| a.get("id"))
            {
                return Ok(id_text(id));
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout(format!(
                    "no pending {action_type} action of {agent_id} within {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until every allowed action of `agent_id` has its outcome on the server. Governed
    /// calls report outcomes in the background, after the call returned; waiting for them
    /// makes the audit trail complete before it is printed or verified. Returns false when
    /// some outcome did not arrive within `timeout`.
    pub async fn wait_for_outcomes(&self, agent_id: &str, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let missing = self
                .actions(Some(agent_id), Some("approved"), 1000)
                .await?
                .iter()
                .filter(|a| a.get("outcome").is_none_or(Value::is_null))
                .count();
            if missing == 0 {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The full records of `agent_id`'s actions that were allowed in fail-open mode and
    /// delivered later (their request carries `context.fail_open = true`), newest first.
    pub async fn fail_open_records(&self, agent_id: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for a in self.actions(Some(agent_id), None, 1000).await? {
            let Some(id) = a.get("id").map(id_text) else {
                continue;
            };
            let full = self.action(&id).await?;
            let flag = full
                .get("request")
                .and_then(|r| r.get("context"))
                .and_then(|c| c.get("fail_open"));
            if flag == Some(&Value::Bool(true)) {
                out.push(full);
            }
        }
        Ok(out)
    }

    /// Wait until `agent_id` has at least `count` delivered fail-open records (they are sent in
    /// the background once the client reaches the server again).
    pub async fn wait_for_fail_open_records(
        &self,
        agent_id: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.fail_open_records(agent_id).await?;
            if found.len() >= count || Instant::now() >= deadline {
                return Ok(found);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every audit entry of the organisation, oldest first (`GET /api/v1/audit`).
    pub async fn audit_events(&self) -> Result<Vec<Value>> {
        let mut events = Vec::new();
        loop {
            let page = self
                .client
                .get(
                    "/api/v1/audit",
                    &[
                        ("limit", "1000".to_owned()),
                        ("offset", events.len().to_string()),
                    ],
                )
                .await?;
            let batch = match page.get("events") {
                Some(Value::Array(a)) => a.clone(),
                _ => {
                    return Err(Error::Unexpected(format!(
                        "audit page without `events`: {page}"
                    )));
                }
            };
            let n = batch.len();
            events.extend(batch);
            if n < 1000 {
                return Ok(events);
            }
        }
    }

    /// How many audit entries the organisation has.
    pub async fn audit_total(&self) -> Result<u64> {
        let page = self
            .client
            .get("/api/v1/audit", &[("limit", "1".to_owned())])
            .await?;
        page.get("total")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::Unexpected(format!("audit page without `total`: {page}")))
    }

    /// Re-walk the audit hash chain on the server (what `ascend audit verify` asks).
    pub async fn verify_audit(&self) -> Result<AuditVerification> {
        let v = self.client.get("/api/v1/audit/verify", &[]).await?;
        Ok(AuditVerification {
            ok: v.get("ok").and_then(Value::as_bool).unwrap_or(false),
            entries: v.get("entries").and_then(Value::as_u64).unwrap_or(0),
            detail: v
                .get("detail")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// Halt one agent (`Some(id)`) or the whole organisation (`None`) — admin key.
    pub async fn trigger_kill_switch(&self, agent_id: Option<&str>, reason: &str) -> Result<Value> {
        Ok(self
            .client
            .post(
                "/api/v1/kill-switch/trigger",
                &json!({ "agent_id": agent_id, "reason": reason }),
            )
            .await?)
    }

    /// Lift a kill switch — admin key.
    pub async fn release_kill_switch(&self, agent_id: Option<&str>) -> Result<Value> {
        Ok(self
            .client
            .post(
                "/api/v1/kill-switch/release",
                &json!({ "agent_id": agent_id, "reason": "resumed" }),
            )
            .await?)
    }
}

/// An id as text, whether the server sent a number or a string.
pub fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Wait until `condition` holds, checking every 10 ms; returns how long it took, or `None`
/// when `timeout` passed first.
pub async fn wait_until(
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if condition() {
            return Some(started.elapsed());
        }
        if started.elapsed() >= timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Logging for examples: `RUST_LOG` when set, otherwise only errors (the examples print their
/// own report; the runtime's and server's logs are one `RUST_LOG=info` away).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}
