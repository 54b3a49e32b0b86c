//! Server configuration: defaults, an optional TOML file, `ASCEND_*` environment variables and
//! command-line flags (in increasing precedence; the command line applies the last two).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::Durability;

/// Everything `start` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free port).
    pub bind: SocketAddr,
    /// SQLite database file.
    pub db_path: PathBuf,
    /// Directory of `*.cedar` policies; the built-in defaults when None.
    pub policies_dir: Option<PathBuf>,
    /// Disk durability of commits.
    pub durability: Durability,
    /// How long a pending approval stays open before it is denied as "expired".
    pub approval_ttl: Duration,
    /// How often expired approvals are swept.
    pub expiry_sweep: Duration,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// How long idempotency keys are remembered.
    pub idempotency_ttl: Duration,
    /// Most idempotency keys remembered in memory (oldest dropped first); older keys are still
    /// recognised through the store's unique index.
    pub idempotency_max_keys: usize,
    /// Delivery attempts per webhook event (first try included).
    pub webhook_attempts: u32,
    /// Delay before the first webhook retry; doubled on each further retry.
    pub webhook_backoff: Duration,
    /// Timeout of one webhook request.
    pub webhook_timeout: Duration,
    /// Allow `http://` webhook URLs to non-loopback hosts (loopback is always allowed).
    pub allow_insecure_webhooks: bool,
    /// Name of the organisation created on first start.
    pub default_org: String,
    /// Environment reported by `/api/deployment-info`.
    pub environment: String,
    /// Signed audit checkpoints: key, checkpoint log, how often.
    pub audit: AuditConfig,
}

/// Where the audit checkpoint signing key and the checkpoint log live, and how often heads are
/// signed. The defaults put both beside the database: that proves the chain against someone
/// who can change the database but not those files; see the README for stronger placements.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Sign checkpoints at all.
    pub enabled: bool,
    /// The signing key's 64-hex-digit seed (`ASCEND_AUDIT_KEY`); overrides `key_file`.
    pub key_hex: Option<String>,
    /// Key file (created with mode 0600 on first start); default `<db>.audit-key`.
    pub key_file: Option<PathBuf>,
    /// Checkpoint log; default `<db>.checkpoints.jsonl`.
    pub checkpoint_log: Option<PathBuf>,
    /// Sign a head every this many entries...
    pub every: u64,
    /// ... or this often when entries are waiting.
    pub interval: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            key_hex: None,
            key_file: None,
            checkpoint_log: None,
            every: 1000,
            interval: Duration::from_secs(5),
        }
    }
}

impl AuditConfig {
    /// The key file used for the database at `db`.
    pub fn key_path(&self, db: &Path) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| beside(db, "audit-key"))
    }

    /// The checkpoint log used for the database at `db`.
    pub fn log_path(&self, db: &Path) -> PathBuf {
        self.checkpoint_log
            .clone()
            .unwrap_or_else(|| beside(db, "checkpoints.jsonl"))
    }
}

/// `<file>.<suffix>` in the same directory.
pub fn beside(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".");
    name.push(suffix);
    file.with_file_name(name)
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            db_path: PathBuf::from("ascend.db"),
            policies_dir: None,
            durability: Durability::Normal,
            approval_ttl: Duration::from_secs(3600),
            expiry_sweep: Duration::from_secs(1),
            body_limit: 1024 * 1024,
            idempotency_ttl: Duration::from_secs(3600),
            idempotency_max_keys: 100_000,
            webhook_attempts: 5,
            webhook_backoff: Duration::from_millis(500),
            webhook_timeout: Duration::from_secs(5),
            allow_insecure_webhooks: false,
            default_org: "default".to_owned(),
            environment: "self-hosted".to_owned(),
            audit: AuditConfig::default(),
        }
    }
}

/// The optional TOML file (every key optional; durations in seconds).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `bind = "127.0.0.1:8080"`
    pub bind: Option<SocketAddr>,
    /// `db = "ascend.db"`
    pub db: Option<PathBuf>,
    /// `policies = "policies/"`
    pub policies: Option<PathBuf>,
    /// `durability = "normal" | "full"`
    pub durability: Option<Durability>,
    /// `approval_ttl_secs = 3600`
    pub approval_ttl_secs: Option<f64>,
    /// `body_limit_bytes = 1048576`
    pub body_limit_bytes: Option<usize>,
    /// `idempotency_ttl_secs = 3600`
    pub idempotency_ttl_secs: Option<f64>,
    /// `idempotency_max_keys = 100000`
    pub idempotency_max_keys: Option<usize>,
    /// `webhook_attempts = 5`
    pub webhook_attempts: Option<u32>,
    /// `webhook_backoff_secs = 0.5`
    pub webhook_backoff_secs: Option<f64>,
    /// `allow_insecure_webhooks = false`
    pub allow_insecure_webhooks: Option<bool>,
    /// `environment = "self-hosted"`
    pub environment: Option<String>,
}

fn secs(field: &str, v: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(v).map_err(|_| Error::Config(format!("{field} must be >= 0")))
}

impl ServerConfig {
    /// Apply a TOML file on top of `self`.
    pub fn apply_file(mut self, path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        let f: FileConfig =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        if let Some(v) = f.bind {
            self.bind = v;
        }
        if let Some(v) = f.db {
            self.db_path = v;
        }
        if let Some(v) = f.policies {
            self.policies_dir = Some(v);
        }
        if let Some(v) = f.durability {
            self.durability = v;
        }
        if let Some(v) = f.approval_ttl_secs {
            self.approval_ttl = secs("approval_ttl_secs", v)?;
        }
        if let Some(v) = f.body_limit_bytes {
            self.body_limit = v;
        }
        if let Some(v) = f.idempotency_ttl_secs {
            self.idempotency_ttl = secs("idempotency_ttl_secs", v)?;
        }
        if let Some(v) = f.idempotency_max_keys {
            self.idempotency_max_keys = v.max(1);
        }
        if let Some(v) = f.webhook_attempts {
            self.webhook_attempts = v.max(1);
        }
        if let Some(v) = f.webhook_backoff_secs {
            self.webhook_backoff = secs("webhook_backoff_secs", v)?;
        }
        if let Some(v) = f.allow_insecure_webhooks {
            self.allow_insecure_webhooks = v;
        }
        if let Some(v) = f.environment {
            self.environment = v;
        }
        Ok(self)
    }
}
