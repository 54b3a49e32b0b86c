//! `ascend serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::config::{ServerConfig, parse_allow_host, rate, timeout_secs};
use crate::error::{Error, Result};
use crate::model::Durability;

/// Options of `ascend serve` (flags override `ASCEND_*` variables, which override the TOML file).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ASCEND_BIND", value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// SQLite database file (created on first start), or a `postgres://` URL.
    #[arg(long, env = "ASCEND_DB", value_name = "FILE|URL")]
    pub db: Option<PathBuf>,
    /// Directory of *.cedar policies (default: the built-in policies).
    #[arg(long, env = "ASCEND_POLICIES", value_name = "DIR")]
    pub policies: Option<PathBuf>,
    /// TOML configuration file (keys: bind, db, policies, durability, approval_ttl_secs, ...).
    #[arg(long, env = "ASCEND_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `normal` (survives a process crash) or `full` (fsync every commit batch).
    #[arg(long, env = "ASCEND_DURABILITY", value_parser = parse_durability)]
    pub durability: Option<Durability>,
    /// Seconds a pending approval stays open before it is denied as "expired".
    #[arg(long, env = "ASCEND_APPROVAL_TTL_SECS", value_name = "SECS")]
    pub approval_ttl_secs: Option<f64>,
    /// Private/loopback/link-local addresses webhooks may reach anyway (IPs or CIDR blocks,
    /// comma-separated), e.g. `127.0.0.1,10.1.0.0/16`.
    #[arg(
        long,
        env = "ASCEND_WEBHOOK_ALLOW_HOSTS",
        value_name = "IP|CIDR",
        value_delimiter = ','
    )]
    pub webhook_allow_hosts: Option<Vec<String>>,
    /// Most HTTP connections open at once.
    #[arg(long, env = "ASCEND_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request head (also the keep-alive idle timeout).
    #[arg(long, env = "ASCEND_HEADER_TIMEOUT_SECS", value_name = "SECS")]
    pub header_timeout_secs: Option<f64>,
    /// Seconds a client has to send a request body.
    #[arg(long, env = "ASCEND_BODY_TIMEOUT_SECS", value_name = "SECS")]
    pub body_timeout_secs: Option<f64>,
    /// Requests per second one organisation may sustain (0: no limit).
    #[arg(long, env = "ASCEND_ORG_RATE", value_name = "PER_SEC")]
    pub org_rate: Option<f64>,
    /// Burst above the organisation rate.
    #[arg(long, env = "ASCEND_ORG_BURST", value_name = "N")]
    pub org_burst: Option<u32>,
    /// Requests per second one agent (or key) may sustain (0: no limit).
    #[arg(long, env = "ASCEND_AGENT_RATE", value_name = "PER_SEC")]
    pub agent_rate: Option<f64>,
    /// Burst above the agent rate.
    #[arg(long, env = "ASCEND_AGENT_BURST", value_name = "N")]
    pub agent_burst: Option<u32>,
    /// Most audit entries per organisation before new actions etc. are refused (0: no quota).
    #[arg(long, env = "ASCEND_ORG_QUOTA_ENTRIES", value_name = "N")]
    pub org_quota_entries: Option<u64>,
    /// PEM certificate chain: serve HTTPS (needs --tls-key too).
    #[arg(long, env = "ASCEND_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "ASCEND_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Audit checkpoint options.
    #[command(flatten)]
    pub audit: AuditArgs,
}

/// Where the audit checkpoint key and log live (see the README on what each placement proves).
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Checkpoint signing key file (created with mode 0600 on first start; default
    /// `<db>.audit-key`). `ASCEND_AUDIT_KEY` (64 hex digits) overrides it.
    #[arg(long, env = "ASCEND_AUDIT_KEY_FILE", value_name = "FILE")]
    pub audit_key: Option<PathBuf>,
    /// The signing key itself, 64 hex digits (e.g. from a secrets manager).
    #[arg(
        long = "audit-key-hex",
        env = "ASCEND_AUDIT_KEY",
        hide = true,
        hide_env_values = true
    )]
    pub audit_key_hex: Option<String>,
    /// Checkpoint log outside the database (default `<db>.checkpoints.jsonl`).
    #[arg(long, env = "ASCEND_CHECKPOINT_LOG", value_name = "FILE")]
    pub checkpoint_log: Option<PathBuf>,
    /// Sign each chain head every this many entries (default 1000).
    #[arg(long, env = "ASCEND_CHECKPOINT_EVERY", value_name = "N")]
    pub checkpoint_every: Option<u64>,
    /// ... or every this many seconds when entries are waiting (default 5).
    #[arg(long, env = "ASCEND_CHECKPOINT_SECS", value_name = "SECS")]
    pub checkpoint_secs: Option<f64>,
    /// Witness webhook: also POST every signed checkpoint to this URL (HMAC-signed like other
    /// webhooks; needs --checkpoint-witness-secret).
    #[arg(long, env = "ASCEND_CHECKPOINT_WITNESS", value_name = "URL")]
    pub checkpoint_witness: Option<String>,
    /// The witness deliveries' HMAC secret.
    #[arg(
        long,
        env = "ASCEND_CHECKPOINT_WITNESS_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub checkpoint_witness_secret: Option<String>,
}

fn parse_durability(s: &str) -> std::result::Result<Durability, String> {
    match s.to_ascii_lowercase().as_str() {
        "normal" => Ok(Durability::Normal),
        "full" => Ok(Durability::Full),
        _ => Err("expected normal or full".into()),
    }
}

/// The configuration these options describe.
pub fn config(a: &ServeArgs) -> Result<ServerConfig> {
    let mut c = ServerConfig::default();
    if let Some(f) = &a.config {
        c = c.apply_file(f)?;
    }
    if let Some(v) = a.bind {
        c.bind = v;
    }
    if let Some(v) = &a.db {
        c.set_db(&v.to_string_lossy());
    }
    if let Some(v) = &a.policies {
        c.policies_dir = Some(v.clone());
    }
    if let Some(v) = a.durability {
        c.durability = v;
    }
    apply_audit(&mut c, &a.audit)?;
    if let Some(v) = a.approval_ttl_secs {
        c.approval_ttl = std::time::Duration::try_from_secs_f64(v)
            .map_err(|_| Error::Config("--approval-ttl-secs must be >= 0".into()))?;
    }
    if let Some(v) = &a.webhook_allow_hosts {
        c.webhook_allow_hosts = v
            .iter()
            .filter(|h| !h.trim().is_empty())
            .map(|h| parse_allow_host(h))
            .collect::<Result<_>>()?;
    }
    if let Some(v) = a.max_connections {
        c.max_connections = v.max(1);
    }
    if let Some(v) = a.header_timeout_secs {
        c.header_timeout = timeout_secs("--header-timeout-secs", v)?;
    }
    if let Some(v) = a.body_timeout_secs {
        c.body_timeout = timeout_secs("--body-timeout-secs", v)?;
    }
    if let Some(v) = a.org_rate {
        c.org_rate = rate("--org-rate", v)?;
    }
    if let Some(v) = a.org_burst {
        c.org_burst = v.max(1);
    }
    if let Some(v) = a.agent_rate {
        c.agent_rate = rate("--agent-rate", v)?;
    }
    if let Some(v) = a.agent_burst {
        c.agent_burst = v.max(1);
    }
    if let Some(v) = a.org_quota_entries {
        c.org_quota_entries = v;
    }
    if a.tls_cert.is_some() || a.tls_key.is_some() {
        c.tls = crate::tls::TlsFiles::pair(a.tls_cert.clone(), a.tls_key.clone())?;
    }
    Ok(c)
}

fn apply_audit(c: &mut ServerConfig, a: &AuditArgs) -> Result<()> {
    if let Some(v) = &a.audit_key {
        c.audit.key_file = Some(v.clone());
    }
    if let Some(v) = &a.audit_key_hex {
        c.audit.key_hex = Some(v.clone());
    }
    if let Some(v) = &a.checkpoint_log {
        c.audit.checkpoint_log = Some(v.clone());
    }
    if let Some(v) = a.checkpoint_every {
        c.audit.every = v.max(1);
    }
    if let Some(v) = a.checkpoint_secs {
        c.audit.interval = std::time::Duration::try_from_secs_f64(v)
            .map_err(|_| Error::Config("--checkpoint-secs must be >= 0".into()))?;
    }
    if let Some(v) = &a.checkpoint_witness {
        c.audit.witness_url = Some(v.clone());
    }
    if let Some(v) = &a.checkpoint_witness_secret {
        c.audit.witness_secret = Some(v.clone());
    }
    Ok(())
}

/// Run until Ctrl-C or SIGTERM.
pub async fn run(a: ServeArgs) -> Result<()> {
    let cfg = config(&a)?;
    let server = crate::start(cfg).await?;
    let config = server.governance().config();
    let db = match &config.database_url {
        Some(url) => crate::config::masked_url(url),
        None => std::fs::canonicalize(server.db_path())
            .unwrap_or_else(|_| server.db_path().into())
            .display()
            .to_string(),
    };
    println!("ascend server listening on {}", server.base_url());
    if let Some(key) = server.admin_key() {
        println!("admin key (shown once, store it now): {key}");
        println!(
            "  export ASCEND_API_URL={} ASCEND_API_KEY={key}",
            server.base_url()
        );
    }
    // Before the database line: scripts read the output up to that line, then stop reading.
    println!(
        "console: {}/console (sign in with a reviewer or admin key)",
        server.base_url()
    );
    println!("database: {db}");
    let audit = &config.audit;
    if audit.enabled && config.database_url.is_none() {
        let key = crate::audit_signer(server.governance().config())?;
        println!("audit checkpoint public key: {}", key.public_hex());
        println!(
            "audit checkpoint log: {}",
            audit.log_path(server.db_path()).display()
        );
    }
    wait_for_signal().await;
    println!("shutting down");
    server.shutdown().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn limit_flags() {
        let cli = Cli::try_parse_from([
            "ascend",
            "--webhook-allow-hosts",
            "127.0.0.1,fd00::/8",
            "--max-connections",
            "10",
            "--header-timeout-secs",
            "1",
            "--agent-rate",
            "0",
            "--org-quota-entries",
            "5",
        ])
        .unwrap();
        let c = config(&cli.serve).unwrap();
        assert_eq!(c.webhook_allow_hosts.len(), 2);
        assert_eq!(c.max_connections, 10);
        assert_eq!(c.header_timeout, std::time::Duration::from_secs(1));
        assert_eq!(c.agent_rate, 0.0);
        assert_eq!(c.org_quota_entries, 5);
        let bad = Cli::try_parse_from(["ascend", "--webhook-allow-hosts", "not-an-ip"]).unwrap();
        assert!(config(&bad.serve).is_err());
    }
}
