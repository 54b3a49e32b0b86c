//! `ascend audit verify|export|pubkey`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use ed25519_dalek::VerifyingKey;
use rusqlite::{Connection, OpenFlags};

use super::Conn;
use super::client::Client;
use crate::audit::checkpoint::{self, parse_public_key};
use crate::audit::evidence::{self, ExportRange};
use crate::audit::{Signer, VerifyReport};
use crate::config::{AuditConfig, beside};
use crate::error::{Error, Result};
use crate::store::sqlite::{
    Anchors, anchor_report, audit_orgs, check_schema, export_evidence, verify_org,
};

/// `ascend audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Re-walk the hash chain, compare it with the signed checkpoints and the actions table:
    /// OK with the count, or every finding with its first bad sequence number.
    Verify(VerifyArgs),
    /// Print every entry as JSON lines, or write an offline evidence package (--evidence).
    Export(ExportArgs),
    /// Print the public key that checks the signed checkpoints.
    Pubkey(PubkeyArgs),
}

/// `ascend audit verify [--db FILE | --evidence DIR] [--pubkey FILE] [--checkpoints FILE]`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify a database file directly (every organisation) instead of asking the server.
    #[arg(long, value_name = "FILE", conflicts_with = "evidence")]
    pub db: Option<PathBuf>,
    /// Verify an evidence package written by `ascend audit export --evidence` (no database,
    /// no server; needs --pubkey).
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,
    /// Public key of the checkpoint signer (64 hex digits in a file). Default with --db: the
    /// one of the key file beside the database.
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
    /// Checkpoint log to compare with (default with --db: `<db>.checkpoints.jsonl`).
    #[arg(long, value_name = "FILE")]
    pub checkpoints: Option<PathBuf>,
    #[command(flatten)]
    conn: Conn,
}

/// `ascend audit export [--evidence DIR --db FILE [--org ID] [--from SEQ] [--to SEQ]]`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write an evidence package (entries, checkpoints, public key, manifest) into DIR.
    #[arg(long, value_name = "DIR", requires = "db")]
    pub evidence: Option<PathBuf>,
    /// The database to export from (with --evidence).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Only this organisation.
    #[arg(long, value_name = "ID")]
    pub org: Option<i64>,
    /// First sequence number.
    #[arg(long, value_name = "SEQ")]
    pub from: Option<i64>,
    /// Last sequence number.
    #[arg(long, value_name = "SEQ")]
    pub to: Option<i64>,
    /// Checkpoint log to include (default `<db>.checkpoints.jsonl`).
    #[arg(long, value_name = "FILE")]
    pub checkpoints: Option<PathBuf>,
    /// Public key to include (default: the key file beside the database).
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
    #[command(flatten)]
    conn: Conn,
}

/// `ascend audit pubkey [--db FILE] [--audit-key FILE]` (`ASCEND_AUDIT_KEY`, when set, wins).
#[derive(Debug, Args)]
pub struct PubkeyArgs {
    /// The database whose default key file (`<db>.audit-key`) to read.
    #[arg(
        long,
        env = "ASCEND_DB",
        value_name = "FILE",
        default_value = "ascend.db"
    )]
    pub db: PathBuf,
    /// The key file (overrides the default beside the database).
    #[arg(long, env = "ASCEND_AUDIT_KEY_FILE", value_name = "FILE")]
    pub audit_key: Option<PathBuf>,
}

/// How an offline verification finds its anchors.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The checkpoint log (None: `<db>.checkpoints.jsonl`).
    pub checkpoints: Option<PathBuf>,
    /// The public key (None: derived from the key file beside the database, when present).
    pub pubkey: Option<VerifyingKey>,
}

/// Read a public key file.
pub fn read_pubkey(path: &Path) -> Result<VerifyingKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
    parse_public_key(&text)
}

fn default_pubkey(db: &Path) -> Result<Option<VerifyingKey>> {
    let key = AuditConfig::default().key_path(db);
    if !key.exists() {
        return Ok(None);
    }
    Ok(Some(Signer::load_or_create(&key)?.verifying_key()))
}

/// The anchors for verifying the database at `db`.
pub fn anchors(db: &Path, opts: &VerifyOptions) -> Result<Anchors> {
    let log = opts
        .checkpoints
        .clone()
        .unwrap_or_else(|| beside(db, "checkpoints.jsonl"));
    let (cps, bad) = checkpoint::read_log(&log)?;
    let key = match opts.pubkey {
        Some(k) => Some(k),
        None => default_pubkey(db)?,
    };
    Ok(Anchors {
        key,
        log: cps,
        bad_lines: bad,
    })
}

/// Verify every organisation in a database file, with the default anchors (the checkpoint log
/// and key file beside it).
pub fn verify_file(path: &Path) -> Result<Vec<VerifyReport>> {
    verify_file_with(path, &VerifyOptions::default())
}

/// Verify every organisation in a database file against the given anchors.
pub fn verify_file_with(path: &Path, opts: &VerifyOptions) -> Result<Vec<VerifyReport>> {
    if !path.exists() {
        return Err(Error::Config(format!("no database at {}", path.display())));
    }
    let anchors = anchors(path, opts)?;
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    check_schema(&c)?;
    let mut reports = Vec::new();
    if let Some(r) = anchor_report(&anchors) {
        reports.push(r);
    }
    for org in audit_orgs(&c, &anchors)? {
        reports.push(verify_org(&c, org, &anchors)?);
    }
    Ok(reports)
}

fn print(r: &VerifyReport) {
    if r.ok {
        println!("org {}: OK ({} entries) {}", r.org_id, r.entries, r.detail);
        return;
    }
    for f in &r.findings {
        println!(
            "org {}: BROKEN at entry {} ({}): {}",
            r.org_id, f.seq, f.problem, f.detail
        );
    }
}

fn finish(reports: &[VerifyReport]) -> Result<()> {
    for r in reports {
        print(r);
    }
    if reports.iter().all(|r| r.ok) {
        Ok(())
    } else {
        let n: usize = reports.iter().map(|r| r.findings.len()).sum();
        Err(Error::Config(format!(
            "audit verification failed: {n} finding(s)"
        )))
    }
}

async fn verify_remote(conn: &Conn) -> Result<()> {
    let c = Client::new(conn)?;
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
        println!("OK ({entries} entries) {detail}");
        return Ok(());
    }
    Err(Error::Config(format!("audit chain BROKEN: {detail}")))
}

/// Run.
pub async fn run(cmd: AuditCmd) -> Result<()> {
    match cmd {
        AuditCmd::Verify(a) => {
            let pubkey = a.pubkey.as_deref().map(read_pubkey).transpose()?;
            if let Some(dir) = &a.evidence {
                let key = pubkey.ok_or_else(|| {
                    Error::Config("--evidence needs --pubkey FILE (obtained out of band)".into())
                })?;
                return finish(&evidence::verify_dir(dir, &key)?);
            }
            match &a.db {
                Some(db) => {
                    let opts = VerifyOptions {
                        checkpoints: a.checkpoints.clone(),
                        pubkey,
                    };
                    finish(&verify_file_with(db, &opts)?)
                }
                None => verify_remote(&a.conn).await,
            }
        }
        AuditCmd::Export(a) => match (&a.evidence, &a.db) {
            (Some(dir), Some(db)) => {
                let opts = VerifyOptions {
                    checkpoints: a.checkpoints.clone(),
                    pubkey: a.pubkey.as_deref().map(read_pubkey).transpose()?,
                };
                let anchors = anchors(db, &opts)?;
                let key = anchors
                    .key
                    .ok_or_else(|| Error::Config("no public key: pass --pubkey FILE".into()))?;
                let range = ExportRange {
                    org: a.org,
                    from: a.from,
                    to: a.to,
                };
                let m = export_evidence(db, dir, &key, &anchors.log, &range)?;
                println!(
                    "evidence written to {}: {} entries, {} checkpoints",
                    dir.display(),
                    m.entries,
                    m.checkpoints
                );
                Ok(())
            }
            _ => {
                let c = Client::new(&a.conn)?;
                print!("{}", c.get_text("/api/v1/audit/export").await?);
                Ok(())
            }
        },
        AuditCmd::Pubkey(a) => {
            if let Ok(seed) = std::env::var("ASCEND_AUDIT_KEY") {
                println!("{}", Signer::from_hex(&seed)?.public_hex());
                return Ok(());
            }
            let cfg = AuditConfig {
                key_file: a.audit_key.clone(),
                ..AuditConfig::default()
            };
            let path = cfg.key_path(&a.db);
            if !path.exists() {
                return Err(Error::Config(format!(
                    "no audit key at {} (the server creates it on first start)",
                    path.display()
                )));
            }
            println!("{}", Signer::load_or_create(&path)?.public_hex());
            Ok(())
        }
    }
}
