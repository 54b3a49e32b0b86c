//! `ascend audit verify|export`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rusqlite::{Connection, OpenFlags};

use super::Conn;
use super::client::Client;
use crate::audit::VerifyReport;
use crate::error::{Error, Result};
use crate::store::sqlite::{audit_orgs, verify_org};

/// `ascend audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Re-walk the hash chain: OK with the count, or where and how it breaks.
    Verify(VerifyArgs),
    /// Print every entry as JSON lines.
    Export(ExportArgs),
}

/// `ascend audit verify [--db FILE]`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify a database file directly (every organisation) instead of asking the server.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    conn: Conn,
}

/// `ascend audit export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    conn: Conn,
}

/// Verify every organisation's chain in a database file.
pub fn verify_file(path: &std::path::Path) -> Result<Vec<VerifyReport>> {
    if !path.exists() {
        return Err(Error::Config(format!("no database at {}", path.display())));
    }
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut reports = Vec::new();
    for org in audit_orgs(&c)? {
        reports.push(verify_org(&c, org)?);
    }
    Ok(reports)
}

fn print(r: &VerifyReport) {
    if r.ok {
        println!("org {}: OK ({} entries)", r.org_id, r.entries);
    } else {
        println!(
            "org {}: BROKEN at entry {} ({}): {}",
            r.org_id,
            r.broken_at.unwrap_or_default(),
            r.problem.map(|p| p.to_string()).unwrap_or_default(),
            r.detail
        );
    }
}

/// Run.
pub async fn run(cmd: AuditCmd) -> Result<()> {
    match cmd {
        AuditCmd::Verify(a) => {
            let reports = match &a.db {
                Some(db) => verify_file(db)?,
                None => {
                    let c = Client::new(&a.conn)?;
                    let v = c.get("/api/v1/audit/verify", &[]).await?;
                    let ok = v
                        .get("ok")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false);
                    let entries = v
                        .get("entries")
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(0);
                    let detail = v
                        .get("detail")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default();
                    if ok {
                        println!("OK ({entries} entries)");
                        return Ok(());
                    }
                    return Err(Error::Config(format!("audit chain BROKEN: {detail}")));
                }
            };
            for r in &reports {
                print(r);
            }
            if reports.iter().all(|r| r.ok) {
                Ok(())
            } else {
                Err(Error::Config("audit chain verification failed".into()))
            }
        }
        AuditCmd::Export(a) => {
            let c = Client::new(&a.conn)?;
            print!("{}", c.get_text("/api/v1/audit/export").await?);
            Ok(())
        }
    }
}
