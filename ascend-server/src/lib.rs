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
//! Module map: [`api`] (one module per resource), [`store`] (the `Store` trait and SQLite),
//! [`audit`] (chain and verify), [`auth`] (keys, roles), [`approvals`], [`webhooks`],
//! [`mcp_registry`] (MCP servers and their rules), [`redact`] (secret-looking values),
//! [`config`], [`risk`], [`policy`], [`engine`], [`cli`] (the `ascend` subcommands).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod engine;
pub mod policy;
pub mod risk;

pub mod api;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod mcp_registry;
pub mod redact;
pub mod state;
pub mod store;
pub mod webhooks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use auth::Role;
pub use config::ServerConfig;
pub use error::{Error, Result};
pub use store::sqlite::Durability;

use crate::engine::Engine;
use crate::policy::PolicyEngine;
use crate::risk::RiskEngine;
use crate::state::{AppState, now};
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, WriteOp, WriteReply};

/// A server started by [`start`].
pub struct RunningServer {
    addr: SocketAddr,
    admin_key: Option<String>,
    db_path: PathBuf,
    state: Arc<AppState>,
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

    /// `http://IP:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The admin key created on the first start of this database (None on later starts).
    pub fn admin_key(&self) -> Option<&str> {
        self.admin_key.as_deref()
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// Create an API key in organisation `org` (created if missing), optionally bound to one
    /// agent. Returns the key (shown once; only its hash is stored).
    pub async fn create_api_key(
        &self,
        org: &str,
        role: Role,
        agent_id: Option<&str>,
    ) -> Result<String> {
        let org_id = ensure_org(&self.state, org).await?;
        let (key, _) = api::admin::issue_key(
            &self.state,
            org_id,
            role,
            agent_id.map(str::to_owned),
            None,
            "system",
        )
        .await?;
        Ok(key)
    }

    /// The id of organisation `org` (created if missing).
    pub async fn org_id(&self, org: &str) -> Result<i64> {
        ensure_org(&self.state, org).await
    }

    /// Stop accepting requests, finish in-flight ones (up to 5 s), flush the store.
    pub async fn shutdown(self) -> Result<()> {
        // End the event streams first: graceful shutdown waits for open responses.
        self.state.begin_shutdown();
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
        self.state.store.close().await
    }
}

async fn ensure_org(state: &AppState, name: &str) -> Result<i64> {
    if let Some(id) = state.orgs.read().ok().and_then(|o| {
        o.iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| *id)
    }) {
        return Ok(id);
    }
    match state
        .store
        .write(WriteOp::EnsureOrg {
            name: name.to_owned(),
            now: now(),
        })
        .await?
    {
        WriteReply::Org(id) => {
            if let Ok(mut o) = state.orgs.write() {
                o.insert(id, name.to_owned());
            }
            Ok(id)
        }
        _ => Err(Error::Internal("unexpected store reply".into())),
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

/// Open the database (migrating it), load policies, bind, and serve in the background.
pub async fn start(config: ServerConfig) -> Result<RunningServer> {
    let engine = build_engine(&config)?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&config.db_path, config.durability)?);
    let since = (chrono::Utc::now()
        - chrono::Duration::from_std(config.idempotency_ttl).unwrap_or(chrono::Duration::days(1)))
    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let snapshot = store.snapshot(since).await?;
    let first_start = snapshot.keys.is_empty();
    let http = webhooks::http_client(config.webhook_timeout)?;
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let db_path = config.db_path.clone();
    let state = Arc::new(AppState::new(config, store, engine, snapshot, http));

    let org_id = ensure_org(&state, &state.config.default_org.clone()).await?;
    let admin_key = if first_start {
        let (key, _) = api::admin::issue_key(
            &state,
            org_id,
            Role::Admin,
            None,
            Some("admin".into()),
            "system",
        )
        .await?;
        Some(key)
    } else {
        None
    };
    let policies = state.engine.policy.policy_count();
    let draft = state.audit(
        org_id,
        "server.started",
        "system",
        format!("server:{addr}"),
        json!({"version": env!("CARGO_PKG_VERSION"), "policies": policies,
               "policies_dir": state.config.policies_dir.as_ref().map(|d| d.display().to_string())}),
    );
    state.store.write(WriteOp::Audit(draft)).await?;

    let (shutdown, mut shutdown_rx) = watch::channel(false);
    let app = api::router(state.clone());
    let serve = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown_rx.wait_for(|v| *v).await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "server stopped");
        }
    });
    let tasks = vec![
        tokio::spawn(webhooks::run_dispatcher(state.clone())),
        tokio::spawn(sweep_expired(state.clone())),
        tokio::spawn(prune(state.clone())),
    ];
    tracing::info!(%addr, policies, "ascend server listening");
    Ok(RunningServer {
        addr,
        admin_key,
        db_path,
        state,
        shutdown,
        serve,
        tasks,
    })
}

async fn sweep_expired(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(state.config.expiry_sweep.max(Duration::from_millis(50)));
    loop {
        tick.tick().await;
        match state.store.expired_pending(now()).await {
            Ok(due) => {
                for (org, id) in due {
                    if let Err(e) = api::actions::expire_action(&state, org, id).await {
                        tracing::warn!(error = %e, action = id, "could not expire an approval");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
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
