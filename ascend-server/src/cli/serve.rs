//! `ascend serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::model::Durability;

/// Options of `ascend serve` (flags override `ASCEND_*` variables, which override the TOML file).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ASCEND_BIND", value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// SQLite database file (created on first start).
    #[arg(long, env = "ASCEND_DB", value_name = "FILE")]
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
        c.db_path = v.clone();
    }
    if let Some(v) = &a.policies {
        c.policies_dir = Some(v.clone());
    }
    if let Some(v) = a.durability {
        c.durability = v;
    }
    if let Some(v) = a.approval_ttl_secs {
        c.approval_ttl = std::time::Duration::try_from_secs_f64(v)
            .map_err(|_| Error::Config("--approval-ttl-secs must be >= 0".into()))?;
    }
    Ok(c)
}

/// Run until Ctrl-C or SIGTERM.
pub async fn run(a: ServeArgs) -> Result<()> {
    let cfg = config(&a)?;
    let server = crate::start(cfg).await?;
    let db = std::fs::canonicalize(server.db_path()).unwrap_or_else(|_| server.db_path().into());
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
    println!("database: {}", db.display());
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
