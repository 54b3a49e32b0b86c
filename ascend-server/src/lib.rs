//! # ascend-server
//!
//! The self-hosted governance control plane: a REST API wire-compatible with the official
//! Python SDK 2.7.1 and our Rust runtime, the risk and policy engines, the approval workflow,
//! a hash-chained audit trail, kill switches, webhooks and a push stream — and the `ascend`
//! command line.
//!
//! Embed it (tests, examples, benches):
//!
//! ```no_run
//! # async fn demo() -> Result<(), ascend_server::Error> {
//! use ascend_server::{Role, ServerConfig, start};
//! let server = start(ServerConfig {
//!     bind: "127.0.0.1:0".parse().unwrap(),
//!     db_path: "/tmp/ascend-demo.db".into(),
//!     ..ServerConfig::default()
//! })
//! .await?;
//! let agent_key = server.create_api_key("default", Role::Agent, Some("billing-agent")).await?;
//! println!("{} {agent_key}", server.base_url());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Module map, from the bottom up (arrows point down only):
//!
//! | layer | modules |
//! |---|---|
//! | domain types | [`model`] (records, ids, roles, enums) — depends on nothing else here |
//! | engines | [`risk`], [`policy`], [`engine`] (both together) |
//! | rules and persistence | [`approvals`] (the workflow), [`audit`] (chain, typed events, verify), [`store`] (the `Store` trait, SQLite), [`auth`] (keys), [`mcp_registry`], [`redact`] |
//! | the service | [`state`] (what a running service holds), [`webhooks`] (delivery), [`egress`] (which addresses deliveries may reach), [`governance`] (every operation, and [`governance::access`]: who may do it) |
//! | front-ends | [`api`] (HTTP), [`console`] (the reviewer and operator web pages, under `/console`), [`serve`] (the accept loop: connection cap and timeouts) and [`tls`] (HTTPS), [`embedded`] (the runtime's in-process backend), [`cli`] (the `ascend` command line) |
//!
//! Plus [`config`] and [`error`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod model;

pub mod engine;
pub mod policy;
pub mod risk;

pub mod approvals;
pub mod audit;
pub mod auth;
pub mod ident;
pub mod mcp_registry;
pub mod metrics;
pub mod redact;
pub mod store;

pub mod egress;
pub mod governance;
pub mod state;
pub mod webhooks;

pub mod api;
pub mod cli;
pub mod console;
pub mod embedded;
pub mod serve;
pub mod telemetry;
pub mod tls;

pub mod config;
pub mod error;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::ServerConfig;
pub use embedded::Embedded;
pub use error::{Error, Result};
pub use governance::Governance;
pub use model::{Durability, Role};

use crate::audit::Event;
use crate::engine::Engine;
use crate::governance::keys::NewKey;
use crate::model::now;
use crate::policy::PolicyEngine;
use crate::risk::RiskEngine;
use crate::state::AppState;
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

/// A server started by [`start`].
pub struct RunningServer {
    addr: SocketAddr,
    https: bool,
    admin_key: Option<String>,
    db_path: PathBuf,
    governance: Governance,
    shutdown: watch::Sender<bool>,
    serve: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .field("db_path", &self.db_path)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, or `https://IP:PORT` when serving TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The admin key created on the first start of this database (None on later starts).
    pub fn admin_key(&self) -> Option<&str> {
        self.admin_key.as_deref()
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The governance service behind the API (the same operations, without HTTP).
    pub fn governance(&self) -> &Governance {
        &self.governance
    }

    /// Create an API key in organisation `org` (created if missing), optionally bound to one
    /// agent (an agent key without one is a fleet key: it submits for any agent id but sees only
    /// its own submissions). Returns the key (shown once; only its hash is stored).
    pub async fn create_api_key(
        &self,
        org: &str,
        role: Role,
        agent_id: Option<&str>,
    ) -> Result<String> {
        let org_id = self.governance.ensure_org(org).await?;
        let input = NewKey {
            role,
            agent_id: agent_id.map(str::to_owned),
            ..NewKey::default()
        };
        let (key, _) = self.governance.issue_key(org_id, input, "system").await?;
        Ok(key)
    }

    /// The id of organisation `org` (created if missing).
    pub async fn org_id(&self, org: &str) -> Result<i64> {
        self.governance.ensure_org(org).await
    }

    /// Stop accepting requests, finish in-flight ones (up to 5 s), flush the store.
    pub async fn shutdown(self) -> Result<()> {
        // End the event streams first: graceful shutdown waits for open responses.
        let state = self.governance.state().clone();
        state.begin_shutdown();
        let _ = self.shutdown.send(true);
        let mut serve = self.serve;
        if tokio::time::timeout(Duration::from_secs(5), &mut serve)
            .await
            .is_err()
        {
            serve.abort();
        }
        for t in self.tasks {
            t.abort();
        }
        state.store.close().await
    }
}

/// Build the engines for a configuration.
pub fn build_engine(config: &ServerConfig) -> Result<Engine> {
    let policy = match &config.policies_dir {
        Some(dir) => PolicyEngine::from_dir(dir)?,
        None => PolicyEngine::with_default_policies()?,
    };
    Ok(Engine {
        risk: RiskEngine::new(),
        policy,
    })
}

/// Open the database (migrating it), load policies and build the governance service, without
/// serving anything. Returns the service and, on the first start of this database, the admin
/// key it created. `addr` names the service in the `server.started` audit entry.
pub async fn open_governance(
    config: ServerConfig,
    addr: &str,
) -> Result<(Governance, Option<String>)> {
    let engine = build_engine(&config)?;
    open_governance_with(config, engine, addr).await
}

/// [`open_governance`] with engines of your own (benchmarks, tests of generated policy sets).
pub async fn open_governance_with(
    config: ServerConfig,
    engine: Engine,
    addr: &str,
) -> Result<(Governance, Option<String>)> {
    let witness = webhooks::witness(&config)?;
    let (witness_tx, witness_rx) = match &witness {
        Some(_) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let store: Arc<dyn Store> = match &config.database_url {
        Some(url) => {
            if config.audit.enabled {
                tracing::warn!(
                    "signed audit checkpoints are not written by the PostgreSQL store yet: \
                     its chains are verified against the stored heads only"
                );
            }
            Arc::new(store::postgres::PgStore::open(url).await?)
        }
        None => {
            let mut sealing = audit_sealing(&config)?;
            if let Some(s) = sealing.as_mut() {
                s.witness = witness_tx;
            }
            Arc::new(SqliteStore::open_with(
                &config.db_path,
                config.durability,
                sealing,
            )?)
        }
    };
    let changes = store.changes();
    let since = (chrono::Utc::now()
        - chrono::Duration::from_std(config.idempotency_ttl).unwrap_or(chrono::Duration::days(1)))
    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let snapshot = store.snapshot(since).await?;
    // Replicas starting together on an empty database: only one creates the admin key.
    let first_start = snapshot.keys.is_empty() && store.claim_first_start().await?;
    let http = webhooks::delivery_client(&config)?;
    let governance = Governance::new(Arc::new(AppState::new(
        config, store, engine, snapshot, http,
    )));
    if let Some(changes) = changes {
        tokio::spawn(governance::peers::follow(
            governance.state().clone(),
            changes,
        ));
    }
    if let (Some(hook), Some(rx)) = (witness, witness_rx) {
        tokio::spawn(webhooks::run_witness(governance.state().clone(), hook, rx));
    }
    let default_org = governance.config().default_org.clone();
    let org_id = governance.ensure_org(&default_org).await?;
    let admin_key = if first_start {
        // The first key is the platform operator's: an admin of the default organisation that
        // may also create organisations.
        let input = NewKey {
            role: Role::Operator,
            name: Some("admin".into()),
            ..NewKey::default()
        };
        Some(governance.issue_key(org_id, input, "system").await?.0)
    } else {
        None
    };
    let state = governance.state();
    let event = Event::ServerStarted {
        addr: addr.to_owned(),
        policies: state.engine.policy.policy_count(),
        policies_dir: state
            .config
            .policies_dir
            .as_ref()
            .map(|d| d.display().to_string()),
    };
    state
        .store
        .append_audit(event.draft(org_id, "system", now()))
        .await?;
    Ok((governance, admin_key))
}

/// The audit checkpoint signing key of a configuration: `ASCEND_AUDIT_KEY`'s seed, else the key
/// file (created on first use, mode 0600).
pub fn audit_signer(config: &ServerConfig) -> Result<audit::Signer> {
    match &config.audit.key_hex {
        Some(hex) => audit::Signer::from_hex(hex),
        None => audit::Signer::load_or_create(&config.audit.key_path(&config.db_path)),
    }
}

fn audit_sealing(config: &ServerConfig) -> Result<Option<store::sqlite::Sealing>> {
    if !config.audit.enabled {
        return Ok(None);
    }
    let signer = audit_signer(config)?;
    let log = audit::CheckpointLog::open(&config.audit.log_path(&config.db_path))?;
    Ok(Some(store::sqlite::Sealing {
        signer,
        log: Some(log),
        every: config.audit.every.max(1),
        interval: config.audit.interval.max(Duration::from_millis(100)),
        witness: None,
    }))
}

/// The background work of a running service: webhook delivery, approval expiry, pruning of
/// the idempotency memory.
pub(crate) fn background_tasks(governance: &Governance) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(webhooks::run_dispatcher(governance.state().clone())),
        tokio::spawn(sweep_expired(governance.clone())),
        tokio::spawn(prune(governance.state().clone())),
    ]
}

/// Open the database (migrating it), load policies, bind, and serve in the background.
pub async fn start(config: ServerConfig) -> Result<RunningServer> {
    let db_path = config.db_path.clone();
    // Certificate problems are reported before anything is bound or opened.
    let tls = match &config.tls {
        Some(files) => Some(tokio_rustls::TlsAcceptor::from(files.load()?)),
        None => None,
    };
    let https = tls.is_some();
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let (governance, admin_key) = open_governance(config, &addr.to_string()).await?;
    let policies = governance.policy_count();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let app = api::router(governance.clone());
    let limits = governance.config().conn_limits();
    let serve = tokio::spawn(serve::serve(listener, app, limits, tls, shutdown_rx));
    let tasks = background_tasks(&governance);
    tracing::info!(%addr, policies, https, "ascend server listening");
    Ok(RunningServer {
        addr,
        https,
        admin_key,
        db_path,
        governance,
        shutdown,
        serve,
        tasks,
    })
}

async fn sweep_expired(governance: Governance) {
    let every = governance
        .config()
        .expiry_sweep
        .max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = governance.expire_due().await {
            tracing::warn!(error = %e, "expiry sweep failed");
        }
    }
}

async fn prune(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        state.prune_idempotency();
    }
}
