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
    /// SQLite database file (also where the audit key and checkpoint log live by default).
    pub db_path: PathBuf,
    /// A PostgreSQL connection URL (`postgres://user@host/db`): the store of a replicated
    /// deployment, used instead of `db_path` when set (see [`ServerConfig::set_db`]).
    pub database_url: Option<String>,
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
    /// Addresses webhooks may reach although they are private, loopback, link-local, ... (see
    /// [`crate::egress`]); entries are IPs or CIDR blocks.
    pub webhook_allow_hosts: Vec<ipnet::IpNet>,
    /// Most HTTP connections open at once (see [`crate::serve`]).
    pub max_connections: usize,
    /// Time a client has to send a request head; also the keep-alive idle timeout.
    pub header_timeout: Duration,
    /// Time a client has to send a request body once its head arrived.
    pub body_timeout: Duration,
    /// Sustained requests per second of one organisation (0: no limit).
    pub org_rate: f64,
    /// Requests one organisation may make in a burst above its rate.
    pub org_burst: u32,
    /// Sustained requests per second of one agent (the key's bound agent, else the key; 0: no
    /// limit).
    pub agent_rate: f64,
    /// Requests one agent may make in a burst above its rate.
    pub agent_burst: u32,
    /// Most audit entries one organisation may hold before new actions, agents, webhooks, MCP
    /// servers and keys are refused with 507 (0: no quota); see [`crate::api::limits`].
    pub org_quota_entries: u64,
    /// Signed audit checkpoints: key, checkpoint log, how often.
    pub audit: AuditConfig,
    /// Serve HTTPS with this certificate and key (see [`crate::tls`]); plain HTTP when None.
    pub tls: Option<crate::tls::TlsFiles>,
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
    /// Witness webhook: every signed checkpoint is also POSTed here (signed like the other
    /// webhooks, under the same egress rules), so a party outside the server holds them.
    pub witness_url: Option<String>,
    /// The HMAC secret of the witness deliveries (required with `witness_url`).
    pub witness_secret: Option<String>,
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
            witness_url: None,
            witness_secret: None,
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

/// Whether `db` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// A database URL as it may be shown: any password replaced by `****`.
pub fn masked_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("****"));
            }
            u.to_string()
        }
        Err(_) => "postgres://(unparsable URL)".to_owned(),
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
            database_url: None,
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
            webhook_allow_hosts: Vec::new(),
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            org_rate: 1000.0,
            org_burst: 2000,
            agent_rate: 300.0,
            agent_burst: 600,
            org_quota_entries: 10_000_000,
            audit: AuditConfig::default(),
            tls: None,
        }
    }
}

impl ServerConfig {
    /// Where the data lives: a `postgres://` or `postgresql://` URL selects the PostgreSQL
    /// store, anything else is a SQLite file.
    pub fn set_db(&mut self, db: &str) {
        if is_postgres_url(db) {
            self.database_url = Some(db.to_owned());
        } else {
            self.database_url = None;
            self.db_path = PathBuf::from(db);
        }
    }

    /// The connection-level limits of the HTTP server.
    pub fn conn_limits(&self) -> crate::serve::ConnLimits {
        crate::serve::ConnLimits {
            max_connections: self.max_connections,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
        }
    }
}

/// Parse one `webhook_allow_hosts` entry: an IP (`127.0.0.1`, `::1`) or a CIDR block
/// (`10.0.0.0/8`).
pub fn parse_allow_host(raw: &str) -> Result<ipnet::IpNet> {
    let raw = raw.trim();
    let raw = raw
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(raw);
    if let Ok(ip) = raw.parse::<std::net::IpAddr>() {
        return Ok(ipnet::IpNet::from(ip));
    }
    raw.parse::<ipnet::IpNet>().map_err(|_| {
        Error::Config(format!(
            "webhook_allow_hosts: {raw:?} is neither an IP address nor a CIDR block"
        ))
    })
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
    /// `webhook_allow_hosts = ["127.0.0.1", "10.1.0.0/16"]`
    pub webhook_allow_hosts: Option<Vec<String>>,
    /// `max_connections = 1024`
    pub max_connections: Option<usize>,
    /// `header_timeout_secs = 10`
    pub header_timeout_secs: Option<f64>,
    /// `body_timeout_secs = 30`
    pub body_timeout_secs: Option<f64>,
    /// `org_rate = 1000` (requests per second; 0 disables)
    pub org_rate: Option<f64>,
    /// `org_burst = 2000`
    pub org_burst: Option<u32>,
    /// `agent_rate = 300` (requests per second; 0 disables)
    pub agent_rate: Option<f64>,
    /// `agent_burst = 600`
    pub agent_burst: Option<u32>,
    /// `org_quota_entries = 10000000` (0 disables)
    pub org_quota_entries: Option<u64>,
    /// `tls_cert = "/etc/ascend/server.pem"` (with `tls_key`: serve HTTPS)
    pub tls_cert: Option<PathBuf>,
    /// `tls_key = "/etc/ascend/server.key"`
    pub tls_key: Option<PathBuf>,
}

/// A duration in seconds (`field` names it in the error).
pub fn secs(field: &str, v: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(v).map_err(|_| Error::Config(format!("{field} must be >= 0")))
}

/// A timeout in seconds: positive.
pub fn timeout_secs(field: &str, v: f64) -> Result<Duration> {
    let d = secs(field, v)?;
    if d.is_zero() {
        return Err(Error::Config(format!("{field} must be > 0")));
    }
    Ok(d)
}

/// A request rate: finite and >= 0.
pub fn rate(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(Error::Config(format!("{field} must be a number >= 0")))
    }
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
            self.set_db(&v.to_string_lossy());
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
        if let Some(v) = f.webhook_allow_hosts {
            self.webhook_allow_hosts = v
                .iter()
                .map(|h| parse_allow_host(h))
                .collect::<Result<_>>()?;
        }
        if let Some(v) = f.max_connections {
            self.max_connections = v.max(1);
        }
        if let Some(v) = f.header_timeout_secs {
            self.header_timeout = timeout_secs("header_timeout_secs", v)?;
        }
        if let Some(v) = f.body_timeout_secs {
            self.body_timeout = timeout_secs("body_timeout_secs", v)?;
        }
        if let Some(v) = f.org_rate {
            self.org_rate = rate("org_rate", v)?;
        }
        if let Some(v) = f.org_burst {
            self.org_burst = v.max(1);
        }
        if let Some(v) = f.agent_rate {
            self.agent_rate = rate("agent_rate", v)?;
        }
        if let Some(v) = f.agent_burst {
            self.agent_burst = v.max(1);
        }
        if let Some(v) = f.org_quota_entries {
            self.org_quota_entries = v;
        }
        if let Some(tls) = crate::tls::TlsFiles::pair(f.tls_cert, f.tls_key)? {
            self.tls = Some(tls);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_allow_list_from_the_toml_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ascend.toml");
        std::fs::write(
            &path,
            r#"
webhook_allow_hosts = ["127.0.0.1", "10.1.0.0/16", "[::1]"]
max_connections = 64
header_timeout_secs = 2.5
body_timeout_secs = 4
org_rate = 50
org_burst = 100
agent_rate = 5
agent_burst = 10
org_quota_entries = 1000
"#,
        )
        .unwrap();
        let c = ServerConfig::default().apply_file(&path).unwrap();
        let allow: Vec<String> = c
            .webhook_allow_hosts
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(allow, ["127.0.0.1/32", "10.1.0.0/16", "::1/128"]);
        assert_eq!(c.max_connections, 64);
        assert_eq!(c.header_timeout, Duration::from_millis(2500));
        assert_eq!(c.body_timeout, Duration::from_secs(4));
        assert_eq!((c.org_rate, c.org_burst), (50.0, 100));
        assert_eq!((c.agent_rate, c.agent_burst), (5.0, 10));
        assert_eq!(c.org_quota_entries, 1000);

        std::fs::write(&path, "webhook_allow_hosts = [\"example.com\"]\n").unwrap();
        assert!(ServerConfig::default().apply_file(&path).is_err());
        std::fs::write(&path, "header_timeout_secs = 0\n").unwrap();
        assert!(ServerConfig::default().apply_file(&path).is_err());
        std::fs::write(&path, "org_rate = -1\n").unwrap();
        assert!(ServerConfig::default().apply_file(&path).is_err());
    }
}
