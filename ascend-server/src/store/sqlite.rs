//! The embedded SQLite store: WAL mode, one writer thread with group commit, read connections
//! used from `spawn_blocking`.
//!
//! Group commit: the writer takes every queued [`WriteOp`] (up to a batch limit), applies them in
//! one transaction (each inside a savepoint, so one failing op does not undo the others), appends
//! their audit entries to the hash chains, checkpoints the chain heads, commits, and only then
//! answers each waiting request. One commit (one WAL append, and one fsync with
//! `synchronous=FULL`) serves the whole batch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction, params};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use ascend_runtime::wire::DecisionBody;

use super::{
    ActionChange, ActionFilter, ActionRecord, AgentRecord, ApiKeyRecord, ApprovalState, AuditDraft,
    AuditEntry, BoxFuture, ChainHead, KillSwitchRecord, McpServerRecord, Snapshot, Store, Webhook,
    WriteOp, WriteReply,
};
use crate::approvals;
use crate::audit::chain::{GENESIS, entry_hash, parse_hash};
use crate::audit::{ChainVerifier, VerifyReport};
use crate::auth::Role;
use crate::error::{Error, Result};

/// How hard commits are pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous=NORMAL` in WAL mode: a commit survives a crash of the process (kill -9);
    /// the last commits may be lost on power failure.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit (batch) is fsynced.
    Full,
}

const MAX_BATCH: usize = 1024;
const READERS: usize = 3;
/// How often the checkpointer thread copies the WAL back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// Backstop: the writer checkpoints itself once the WAL holds this many pages (the checkpointer
/// thread normally keeps it far below; SQLite's default of 1000 would put a checkpoint, with its
/// fsync, inside a commit every few hundred submits).
const WRITER_AUTOCHECKPOINT_PAGES: i64 = 4000;

/// Versioned migrations: (version, SQL). Applied in order, each in a transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE orgs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE api_keys (key_id TEXT PRIMARY KEY, org_id INTEGER NOT NULL, role TEXT NOT NULL,
  agent_id TEXT, key_hash BLOB NOT NULL, name TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE agents (org_id INTEGER NOT NULL, agent_id TEXT NOT NULL, display_name TEXT NOT NULL,
  agent_type TEXT NOT NULL, environment TEXT NOT NULL, metadata TEXT NOT NULL,
  registered_at TEXT NOT NULL, PRIMARY KEY (org_id, agent_id));
CREATE TABLE actions (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, agent_id TEXT NOT NULL,
  agent_name TEXT NOT NULL, action_type TEXT NOT NULL, resource TEXT NOT NULL, resource_id TEXT,
  status TEXT NOT NULL, request TEXT NOT NULL, body TEXT NOT NULL, submitted_key TEXT NOT NULL,
  idempotency_key TEXT, request_hash TEXT, approval TEXT, expires_at TEXT, outcome TEXT,
  outcome_detail TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX actions_by_org ON actions (org_id, id);
CREATE INDEX actions_by_agent ON actions (org_id, agent_id, id);
CREATE UNIQUE INDEX actions_by_idempotency ON actions (org_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX actions_pending ON actions (expires_at) WHERE status = 'pending_approval';
CREATE TABLE audit_log (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, seq INTEGER NOT NULL,
  ts TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL, subject TEXT NOT NULL,
  payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_by_org ON audit_log (org_id, id);
CREATE TABLE audit_heads (org_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL,
  updated_at TEXT NOT NULL);
CREATE TABLE kill_switches (org_id INTEGER NOT NULL, agent_id TEXT NOT NULL, active INTEGER NOT NULL,
  reason TEXT, activated_at TEXT, activated_by TEXT, PRIMARY KEY (org_id, agent_id));
CREATE TABLE webhooks (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, url TEXT NOT NULL,
  events TEXT NOT NULL, secret TEXT NOT NULL, agent_id TEXT, active INTEGER NOT NULL,
  created_at TEXT NOT NULL);
CREATE TABLE webhook_deliveries (id INTEGER PRIMARY KEY, webhook_id INTEGER NOT NULL,
  org_id INTEGER NOT NULL, event TEXT NOT NULL, attempt INTEGER NOT NULL, status_code INTEGER,
  error TEXT, latency_ms REAL NOT NULL, at TEXT NOT NULL);
"#,
    ),
    (
        2,
        r#"
CREATE TABLE mcp_servers (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, server_name TEXT NOT NULL,
  display_name TEXT, description TEXT, transport_type TEXT NOT NULL, server_url TEXT,
  connection_config TEXT NOT NULL, governance_enabled INTEGER NOT NULL, active INTEGER NOT NULL,
  auto_approve_tools TEXT NOT NULL, blocked_tools TEXT NOT NULL, tool_risk_overrides TEXT NOT NULL,
  deactivation_reason TEXT, deactivated_at TEXT, deactivated_by TEXT, registered_by TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (org_id, server_name));
"#,
    ),
];

struct Job {
    op: WriteOp,
    reply: oneshot::Sender<Result<WriteReply>>,
}

enum Msg {
    Job(Box<Job>),
    Close(oneshot::Sender<()>),
}

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    tx: mpsc::Sender<Msg>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_id: AtomicI64,
    writer: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Checkpointer,
}

/// A background thread that checkpoints the WAL with its own connection, so the copy into the
/// database file and its fsync happen outside the writer's commits (a PASSIVE checkpoint never
/// blocks the writer or the readers). It stops on [`Store::close`] or when the store is dropped.
struct Checkpointer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    fn start(path: &Path, durability: Durability) -> Result<Self> {
        let conn = Connection::open(path)?;
        configure(&conn, durability)?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("ascend-store-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    std::thread::park_timeout(CHECKPOINT_EVERY);
                    if flag.load(Ordering::Acquire) {
                        break;
                    }
                    // Returns (busy, log pages, checkpointed pages); a busy result is retried on
                    // the next round.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })?;
        Ok(Self {
            stop,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Ask the thread to stop and hand back its handle (to join).
    fn stop(&self) -> Option<JoinHandle<()>> {
        self.stop.store(true, Ordering::Release);
        let handle = self.handle.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = &handle {
            h.thread().unpark();
        }
        handle
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Not joined here (drop may run on an async worker); the thread ends within one round.
        let _ = self.stop();
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn configure(conn: &Connection, durability: Durability) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Apply pending migrations to an open connection.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    for (version, sql) in MIGRATIONS {
        if *version > current {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, now_rfc3339()],
            )?;
            tx.commit()?;
        }
    }
    Ok(())
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl SqliteStore {
    /// Open (creating and migrating) the database at `path` and start the writer thread.
    pub fn open(path: &Path, durability: Durability) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut conn = Connection::open(path)?;
        configure(&conn, durability)?;
        // Every statement the writer runs stays prepared (the default cache holds 16).
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)?;
        migrate(&mut conn)?;
        let max_id: i64 =
            conn.query_row("SELECT COALESCE(MAX(id), 0) FROM actions", [], |r| r.get(0))?;
        let heads = load_heads(&conn)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(5))?;
            readers.push(Mutex::new(r));
        }
        let (tx, rx) = mpsc::channel::<Msg>(8192);
        let writer = std::thread::Builder::new()
            .name("ascend-store-writer".into())
            .spawn(move || writer_loop(conn, heads, rx))?;
        let checkpointer = Checkpointer::start(path, durability)?;
        Ok(Self {
            path: path.to_owned(),
            tx,
            readers: Arc::new(readers),
            next_id: AtomicI64::new(max_id + 1),
            writer: Mutex::new(Some(writer)),
            checkpointer,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read<T, F>(&self, f: F) -> BoxFuture<'_, Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                // Take the first free reader; wait on one if all are busy.
                for r in readers.iter() {
                    if let Ok(conn) = r.try_lock() {
                        return f(&conn);
                    }
                }
                let idx = fastrand::usize(..readers.len());
                let conn = readers[idx]
                    .lock()
                    .map_err(|_| Error::Internal("reader poisoned".into()))?;
                f(&conn)
            })
            .await
            .map_err(|e| Error::Internal(format!("read task: {e}")))?
        })
    }
}

impl Store for SqliteStore {
    fn write(&self, op: WriteOp) -> BoxFuture<'_, Result<WriteReply>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.tx
                .send(Msg::Job(Box::new(Job { op, reply })))
                .await
                .map_err(|_| Error::StoreUnavailable("writer stopped".into()))?;
            rx.await
                .map_err(|_| Error::StoreUnavailable("writer dropped the request".into()))?
        })
    }

    fn next_action_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn snapshot(&self, idempotency_since: String) -> BoxFuture<'_, Result<Snapshot>> {
        self.read(move |c| load_snapshot(c, &idempotency_since))
    }

    fn get_action(&self, org_id: i64, id: i64) -> BoxFuture<'_, Result<Option<ActionRecord>>> {
        self.read(move |c| {
            c.prepare_cached(&format!("{ACTION_COLS} WHERE org_id = ?1 AND id = ?2"))?
                .query_row(params![org_id, id], action_from_row)
                .optional()
                .map_err(Error::from)
        })
    }

    fn get_action_by_idempotency_key(
        &self,
        org_id: i64,
        key: String,
    ) -> BoxFuture<'_, Result<Option<(String, ActionRecord)>>> {
        self.read(move |c| {
            let found: Option<(i64, String)> = c
                .prepare_cached(
                    "SELECT id, COALESCE(request_hash, '') FROM actions \
                     WHERE org_id = ?1 AND idempotency_key = ?2",
                )?
                .query_row(params![org_id, key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((id, hash)) = found else {
                return Ok(None);
            };
            c.prepare_cached(&format!("{ACTION_COLS} WHERE org_id = ?1 AND id = ?2"))?
                .query_row(params![org_id, id], action_from_row)
                .optional()
                .map(|a| a.map(|a| (hash, a)))
                .map_err(Error::from)
        })
    }

    fn list_actions(
        &self,
        org_id: i64,
        filter: ActionFilter,
    ) -> BoxFuture<'_, Result<(Vec<ActionRecord>, u64)>> {
        self.read(move |c| {
            let mut cond = String::from("org_id = ?1");
            let mut args: Vec<rusqlite::types::Value> = vec![org_id.into()];
            if let Some(agent) = filter.agent_id {
                args.push(agent.into());
                cond.push_str(&format!(" AND agent_id = ?{}", args.len()));
            }
            if let Some(status) = filter.status {
                args.push(status.into());
                cond.push_str(&format!(" AND status = ?{}", args.len()));
            }
            let total: i64 = c.query_row(
                &format!("SELECT COUNT(*) FROM actions WHERE {cond}"),
                rusqlite::params_from_iter(args.iter()),
                |r| r.get(0),
            )?;
            args.push(i64::from(filter.limit).into());
            let lim = args.len();
            args.push(i64::from(filter.offset).into());
            let off = args.len();
            let mut stmt = c.prepare(&format!(
                "{ACTION_COLS} WHERE {cond} ORDER BY id DESC LIMIT ?{lim} OFFSET ?{off}"
            ))?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), action_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((rows, u64::try_from(total).unwrap_or(0)))
        })
    }

    fn expired_pending(&self, now: String) -> BoxFuture<'_, Result<Vec<(i64, i64)>>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT org_id, id FROM actions WHERE status = 'pending_approval' \
                 AND expires_at IS NOT NULL AND expires_at <= ?1 LIMIT 1000",
            )?;
            let rows = stmt
                .query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn audit_entries(
        &self,
        org_id: i64,
        offset: u64,
        limit: u64,
    ) -> BoxFuture<'_, Result<Vec<AuditEntry>>> {
        self.read(move |c| read_audit(c, org_id, offset, limit))
    }

    fn audit_count(&self, org_id: i64) -> BoxFuture<'_, Result<u64>> {
        self.read(move |c| {
            let n: i64 = c.query_row(
                "SELECT COUNT(*) FROM audit_log WHERE org_id = ?1",
                params![org_id],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn audit_head(&self, org_id: i64) -> BoxFuture<'_, Result<Option<ChainHead>>> {
        self.read(move |c| read_head(c, org_id))
    }

    fn verify_audit(&self, org_id: i64) -> BoxFuture<'_, Result<VerifyReport>> {
        self.read(move |c| verify_org(c, org_id))
    }

    fn webhooks(&self, org_id: i64) -> BoxFuture<'_, Result<Vec<Webhook>>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, org_id, url, events, secret, agent_id, active, created_at \
                 FROM webhooks WHERE org_id = ?1 ORDER BY id",
            )?;
            let rows = stmt
                .query_map(params![org_id], webhook_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if let Some(h) = self.checkpointer.stop() {
                let _ = tokio::task::spawn_blocking(move || h.join()).await;
            }
            let (done, rx) = oneshot::channel();
            if self.tx.send(Msg::Close(done)).await.is_ok() {
                let _ = rx.await;
            }
            let handle = self.writer.lock().ok().and_then(|mut h| h.take());
            if let Some(h) = handle {
                let _ = tokio::task::spawn_blocking(move || h.join()).await;
            }
            Ok(())
        })
    }
}

/// Read one organisation's audit entries (used by the API and by `ascend audit verify --db`).
pub fn read_audit(c: &Connection, org_id: i64, offset: u64, limit: u64) -> Result<Vec<AuditEntry>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, org_id, seq, ts, kind, actor, subject, payload, prev_hash, hash \
         FROM audit_log WHERE org_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3",
    )?;
    let rows = stmt
        .query_map(
            params![
                org_id,
                i64::try_from(limit).unwrap_or(i64::MAX),
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            audit_entry_from_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Read one organisation's checkpointed chain head.
pub fn read_head(c: &Connection, org_id: i64) -> Result<Option<ChainHead>> {
    c.query_row(
        "SELECT org_id, seq, hash FROM audit_heads WHERE org_id = ?1",
        params![org_id],
        |r| {
            Ok(ChainHead {
                org_id: r.get(0)?,
                seq: r.get(1)?,
                hash: r.get(2)?,
            })
        },
    )
    .optional()
    .map_err(Error::from)
}

fn audit_entry_from_row(r: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        row_id: r.get(0)?,
        org_id: r.get(1)?,
        seq: r.get(2)?,
        ts: r.get(3)?,
        kind: r.get(4)?,
        actor: r.get(5)?,
        subject: r.get(6)?,
        payload: r.get(7)?,
        prev_hash: r.get(8)?,
        hash: r.get(9)?,
    })
}

/// Verify one organisation's chain straight from the database, streaming: the head and the
/// entries are read in ONE read transaction (one WAL snapshot), so appends committed while the
/// walk runs are invisible to it and never look like a broken chain; entries are visited one
/// row at a time in insertion order, so memory use does not grow with the chain.
///
/// Used by the server (`GET /api/v1/audit/verify`) and by `ascend audit verify --db`.
pub fn verify_org(c: &Connection, org_id: i64) -> Result<VerifyReport> {
    // Rolled back (it only read) when dropped.
    let tx = c.unchecked_transaction()?;
    let head = read_head(&tx, org_id)?;
    let mut verifier = ChainVerifier::new(org_id, head);
    let mut stmt = tx.prepare(
        "SELECT id, org_id, seq, ts, kind, actor, subject, payload, prev_hash, hash \
         FROM audit_log WHERE org_id = ?1 ORDER BY id",
    )?;
    let mut rows = stmt.query(params![org_id])?;
    while let Some(row) = rows.next()? {
        let entry = audit_entry_from_row(row)?;
        let mut lookup_error = None;
        let broken = verifier.push(&entry, |seq| {
            match tx
                .query_row(
                    "SELECT 1 FROM audit_log WHERE org_id = ?1 AND seq = ?2 LIMIT 1",
                    params![org_id, seq],
                    |_| Ok(()),
                )
                .optional()
            {
                Ok(found) => found.is_some(),
                Err(e) => {
                    lookup_error = Some(e);
                    false
                }
            }
        });
        if let Some(e) = lookup_error {
            return Err(e.into());
        }
        if let Some(report) = broken {
            return Ok(report);
        }
    }
    Ok(verifier.finish())
}

/// Every organisation id that has audit entries or a chain head.
pub fn audit_orgs(c: &Connection) -> Result<Vec<i64>> {
    let mut stmt = c.prepare(
        "SELECT org_id FROM audit_heads UNION SELECT DISTINCT org_id FROM audit_log ORDER BY 1",
    )?;
    let rows = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(rows)
}

const ACTION_COLS: &str = "SELECT id, org_id, agent_id, agent_name, action_type, resource, resource_id, \
    request, body, submitted_key, approval, outcome, outcome_detail, created_at, updated_at FROM actions";

fn json_col(s: String) -> rusqlite::Result<Value> {
    serde_json::from_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn action_from_row(r: &Row<'_>) -> rusqlite::Result<ActionRecord> {
    let body: String = r.get(8)?;
    let body: DecisionBody = serde_json::from_str(&body).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let approval: Option<String> = r.get(10)?;
    let approval: Option<ApprovalState> = approval.and_then(|s| serde_json::from_str(&s).ok());
    let outcome_detail: Option<String> = r.get(12)?;
    Ok(ActionRecord {
        id: r.get(0)?,
        org_id: r.get(1)?,
        agent_id: r.get(2)?,
        agent_name: r.get(3)?,
        action_type: r.get(4)?,
        resource: r.get(5)?,
        resource_id: r.get(6)?,
        request: json_col(r.get(7)?)?,
        body,
        submitted_key: r.get(9)?,
        approval,
        outcome: r.get(11)?,
        outcome_detail: outcome_detail.and_then(|s| serde_json::from_str(&s).ok()),
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
    })
}

fn webhook_from_row(r: &Row<'_>) -> rusqlite::Result<Webhook> {
    let events: String = r.get(3)?;
    Ok(Webhook {
        id: r.get(0)?,
        org_id: r.get(1)?,
        url: r.get(2)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        secret: r.get(4)?,
        agent_id: r.get(5)?,
        active: r.get::<_, i64>(6)? != 0,
        created_at: r.get(7)?,
    })
}

fn load_snapshot(c: &Connection, since: &str) -> Result<Snapshot> {
    let mut snap = Snapshot::default();
    let mut stmt = c.prepare("SELECT id, name FROM orgs ORDER BY id")?;
    snap.orgs = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare(
        "SELECT key_id, org_id, role, agent_id, key_hash, name, created_at FROM api_keys",
    )?;
    snap.keys = stmt
        .query_map([], |r| {
            let role: String = r.get(2)?;
            let hash: Vec<u8> = r.get(4)?;
            Ok((
                ApiKeyRecord {
                    key_id: r.get(0)?,
                    org_id: r.get(1)?,
                    role: role.parse().unwrap_or(Role::Agent),
                    agent_id: r.get(3)?,
                    key_hash: hash.try_into().unwrap_or([0u8; 32]),
                    name: r.get(5)?,
                    created_at: r.get(6)?,
                },
                role,
            ))
        })?
        .filter_map(|r| r.ok())
        .filter(|(rec, role)| rec.role.as_str() == role)
        .map(|(rec, _)| rec)
        .collect();
    let mut stmt = c.prepare(
        "SELECT org_id, agent_id, active, reason, activated_at, activated_by FROM kill_switches",
    )?;
    snap.kill_switches = stmt
        .query_map([], |r| {
            let agent: String = r.get(1)?;
            Ok(KillSwitchRecord {
                org_id: r.get(0)?,
                agent_id: (!agent.is_empty()).then_some(agent),
                active: r.get::<_, i64>(2)? != 0,
                reason: r.get(3)?,
                activated_at: r.get(4)?,
                activated_by: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare(
        "SELECT org_id, agent_id, display_name, agent_type, environment, metadata, registered_at FROM agents",
    )?;
    snap.agents = stmt
        .query_map([], |r| {
            Ok(AgentRecord {
                org_id: r.get(0)?,
                agent_id: r.get(1)?,
                display_name: r.get(2)?,
                agent_type: r.get(3)?,
                environment: r.get(4)?,
                metadata: json_col(r.get(5)?)?,
                registered_at: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare("SELECT DISTINCT org_id, agent_id, action_type FROM actions")?;
    snap.seen_action_types = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare(
        "SELECT org_id, idempotency_key, COALESCE(request_hash, ''), id FROM actions \
         WHERE idempotency_key IS NOT NULL AND created_at >= ?1 ORDER BY created_at, id",
    )?;
    snap.idempotency = stmt
        .query_map(params![since], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare(&format!("{MCP_COLS} ORDER BY id"))?;
    snap.mcp_servers = stmt
        .query_map([], mcp_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(snap)
}

const MCP_COLS: &str = "SELECT id, org_id, server_name, display_name, description, transport_type, \
    server_url, connection_config, governance_enabled, active, auto_approve_tools, blocked_tools, \
    tool_risk_overrides, deactivation_reason, deactivated_at, deactivated_by, registered_by, \
    created_at, updated_at FROM mcp_servers";

fn mcp_from_row(r: &Row<'_>) -> rusqlite::Result<McpServerRecord> {
    let list = |i: usize| -> rusqlite::Result<Vec<String>> {
        let s: String = r.get(i)?;
        Ok(serde_json::from_str(&s).unwrap_or_default())
    };
    let overrides: String = r.get(12)?;
    Ok(McpServerRecord {
        id: r.get(0)?,
        org_id: r.get(1)?,
        server_name: r.get(2)?,
        display_name: r.get(3)?,
        description: r.get(4)?,
        transport_type: r.get(5)?,
        server_url: r.get(6)?,
        connection_config: json_col(r.get(7)?)?,
        governance_enabled: r.get::<_, i64>(8)? != 0,
        active: r.get::<_, i64>(9)? != 0,
        auto_approve_tools: list(10)?,
        blocked_tools: list(11)?,
        tool_risk_overrides: serde_json::from_str(&overrides).unwrap_or_default(),
        deactivation_reason: r.get(13)?,
        deactivated_at: r.get(14)?,
        deactivated_by: r.get(15)?,
        registered_by: r.get(16)?,
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
    })
}

type Heads = HashMap<i64, (i64, [u8; 32])>;

fn load_heads(c: &Connection) -> Result<Heads> {
    let mut heads = HashMap::new();
    let mut stmt = c.prepare("SELECT org_id, seq, hash FROM audit_heads")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (org, seq, hash) = row?;
        let hash = parse_hash(&hash)
            .ok_or_else(|| Error::Internal(format!("malformed chain head of org {org}")))?;
        heads.insert(org, (seq, hash));
    }
    Ok(heads)
}

fn writer_loop(mut conn: Connection, mut heads: Heads, mut rx: mpsc::Receiver<Msg>) {
    let mut closing: Option<oneshot::Sender<()>> = None;
    while closing.is_none() {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut batch = Vec::new();
        match first {
            Msg::Job(j) => batch.push(*j),
            Msg::Close(done) => closing = Some(done),
        }
        while closing.is_none() && batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Job(j)) => batch.push(*j),
                Ok(Msg::Close(done)) => closing = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            run_batch(&mut conn, &mut heads, batch);
        }
    }
    // Drain anything still queued so no acknowledged-to-be write is silently dropped.
    rx.close();
    let mut rest = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        if let Msg::Job(j) = msg {
            rest.push(*j);
        }
    }
    if !rest.is_empty() {
        run_batch(&mut conn, &mut heads, rest);
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

fn run_batch(conn: &mut Connection, heads: &mut Heads, batch: Vec<Job>) {
    let saved = heads.clone();
    let mut results: Vec<Result<WriteReply>> = Vec::with_capacity(batch.len());
    let outcome = (|| -> Result<()> {
        let tx = conn.transaction()?;
        let mut touched: Vec<i64> = Vec::new();
        for job in &batch {
            // Prepared once per connection (cached): no SQL parsing per operation.
            tx.prepare_cached("SAVEPOINT op")?.execute([])?;
            let before = heads.clone();
            let r = apply(&tx, heads, &job.op, &mut touched);
            if r.is_err() {
                *heads = before;
                tx.prepare_cached("ROLLBACK TO op")?.execute([])?;
            }
            tx.prepare_cached("RELEASE op")?.execute([])?;
            results.push(r);
        }
        touched.sort_unstable();
        touched.dedup();
        let now = now_rfc3339();
        for org in touched {
            if let Some((seq, hash)) = heads.get(&org) {
                tx.prepare_cached(
                    "INSERT INTO audit_heads (org_id, seq, hash, updated_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT(org_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
                     updated_at = excluded.updated_at",
                )?
                .execute(params![org, seq, hex::encode(hash), now])?;
            }
        }
        tx.commit()?;
        Ok(())
    })();
    match outcome {
        Ok(()) => {
            for (job, r) in batch.into_iter().zip(results) {
                let _ = job.reply.send(r);
            }
        }
        Err(e) => {
            *heads = saved;
            tracing::error!(error = %e, "batch commit failed");
            let msg = e.to_string();
            for job in batch {
                let _ = job.reply.send(Err(Error::StoreUnavailable(format!(
                    "commit failed: {msg}"
                ))));
            }
        }
    }
}

fn append_audit(
    tx: &Transaction<'_>,
    heads: &mut Heads,
    draft: &AuditDraft,
    touched: &mut Vec<i64>,
) -> Result<()> {
    let (seq, prev) = heads
        .get(&draft.org_id)
        .map(|(s, h)| (*s + 1, *h))
        .unwrap_or((1, GENESIS));
    let payload = serde_json::to_string(&draft.payload)?;
    let hash = entry_hash(
        draft.org_id,
        seq,
        &draft.ts,
        &draft.kind,
        &draft.actor,
        &draft.subject,
        &payload,
        &prev,
    );
    tx.prepare_cached(
        "INSERT INTO audit_log (org_id, seq, ts, kind, actor, subject, payload, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        draft.org_id,
        seq,
        draft.ts,
        draft.kind,
        draft.actor,
        draft.subject,
        payload,
        hex::encode(prev),
        hex::encode(hash)
    ])?;
    heads.insert(draft.org_id, (seq, hash));
    touched.push(draft.org_id);
    Ok(())
}

fn load_action_tx(tx: &Transaction<'_>, org_id: i64, id: i64) -> Result<ActionRecord> {
    tx.prepare_cached(&format!("{ACTION_COLS} WHERE org_id = ?1 AND id = ?2"))?
        .query_row(params![org_id, id], action_from_row)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("action {id} not found")))
}

fn save_action_state(tx: &Transaction<'_>, a: &ActionRecord) -> Result<()> {
    let approval = a.approval.as_ref().map(serde_json::to_string).transpose()?;
    tx.prepare_cached(
        "UPDATE actions SET status = ?1, body = ?2, approval = ?3, outcome = ?4, outcome_detail = ?5, \
         updated_at = ?6 WHERE org_id = ?7 AND id = ?8",
    )?
    .execute(params![
        a.body.status,
        serde_json::to_string(&a.body)?,
        approval,
        a.outcome,
        a.outcome_detail
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?,
        a.updated_at,
        a.org_id,
        a.id
    ])?;
    Ok(())
}

fn apply(
    tx: &Transaction<'_>,
    heads: &mut Heads,
    op: &WriteOp,
    touched: &mut Vec<i64>,
) -> Result<WriteReply> {
    match op {
        WriteOp::EnsureOrg { name, now } => {
            tx.prepare_cached("INSERT OR IGNORE INTO orgs (name, created_at) VALUES (?1, ?2)")?
                .execute(params![name, now])?;
            let id = tx.query_row("SELECT id FROM orgs WHERE name = ?1", params![name], |r| {
                r.get(0)
            })?;
            Ok(WriteReply::Org(id))
        }
        WriteOp::CreateKey { key, audit } => {
            tx.prepare_cached(
                "INSERT INTO api_keys (key_id, org_id, role, agent_id, key_hash, name, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                key.key_id,
                key.org_id,
                key.role.as_str(),
                key.agent_id,
                key.key_hash.as_slice(),
                key.name,
                key.created_at
            ])?;
            append_audit(tx, heads, audit, touched)?;
            Ok(WriteReply::Done)
        }
        WriteOp::Submit { action, audit } => {
            let a = action.as_ref();
            let approval = a.approval.as_ref().map(serde_json::to_string).transpose()?;
            let expires = a.approval.as_ref().and_then(|x| x.expires_at.clone());
            tx.prepare_cached(
                "INSERT INTO actions (id, org_id, agent_id, agent_name, action_type, resource, resource_id, \
                 status, request, body, submitted_key, idempotency_key, request_hash, approval, expires_at, \
                 created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
            )?
            .execute(params![
                a.id,
                a.org_id,
                a.agent_id,
                a.agent_name,
                a.action_type,
                a.resource,
                a.resource_id,
                a.body.status,
                serde_json::to_string(&a.request)?,
                serde_json::to_string(&a.body)?,
                a.submitted_key,
                a.idempotency_key,
                a.request_hash,
                approval,
                expires,
                a.created_at
            ])
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Error::Conflict("idempotency key already used".into())
                }
                other => Error::from(other),
            })?;
            append_audit(tx, heads, audit, touched)?;
            Ok(WriteReply::Done)
        }
        WriteOp::Vote {
            org_id,
            action_id,
            vote,
        } => {
            let mut a = load_action_tx(tx, *org_id, *action_id)?;
            let decided = approvals::apply_vote(&mut a, vote.clone())?;
            save_action_state(tx, &a)?;
            let kind = if vote.approve {
                "action.approval_vote"
            } else {
                "action.denied_by_reviewer"
            };
            append_audit(
                tx,
                heads,
                &AuditDraft {
                    org_id: *org_id,
                    kind: kind.into(),
                    actor: vote.approver.clone(),
                    subject: format!("action:{action_id}"),
                    payload: serde_json::json!({
                        "action_id": action_id,
                        "approve": vote.approve,
                        "comment": vote.comment,
                        "approver_key": vote.key_id,
                        "status": a.body.status,
                        "decided": decided,
                    }),
                    ts: vote.at.clone(),
                },
                touched,
            )?;
            Ok(WriteReply::Action(Box::new(ActionChange {
                action: a,
                decided,
            })))
        }
        WriteOp::Expire {
            org_id,
            action_id,
            now,
        } => {
            let mut a = load_action_tx(tx, *org_id, *action_id)?;
            if !approvals::expire(&mut a, now) {
                return Ok(WriteReply::Unchanged);
            }
            save_action_state(tx, &a)?;
            append_audit(
                tx,
                heads,
                &AuditDraft {
                    org_id: *org_id,
                    kind: "action.expired".into(),
                    actor: "system".into(),
                    subject: format!("action:{action_id}"),
                    payload: serde_json::json!({"action_id": action_id, "status": "denied", "reason": "expired"}),
                    ts: now.clone(),
                },
                touched,
            )?;
            Ok(WriteReply::Action(Box::new(ActionChange {
                action: a,
                decided: true,
            })))
        }
        WriteOp::Outcome {
            org_id,
            action_id,
            outcome,
            detail,
            actor,
            now,
        } => {
            let mut a = load_action_tx(tx, *org_id, *action_id)?;
            if let Some(prev) = &a.outcome {
                return Err(Error::Conflict(format!(
                    "action {action_id} was already reported as {prev}"
                )));
            }
            if !a.body.execution_allowed {
                return Err(Error::Conflict(format!(
                    "action {action_id} was not allowed to run (status {})",
                    a.body.status
                )));
            }
            a.outcome = Some(outcome.clone());
            a.outcome_detail = Some(detail.clone());
            a.updated_at = now.clone();
            save_action_state(tx, &a)?;
            append_audit(
                tx,
                heads,
                &AuditDraft {
                    org_id: *org_id,
                    kind: format!("action.{outcome}"),
                    actor: actor.clone(),
                    subject: format!("action:{action_id}"),
                    payload: serde_json::json!({"action_id": action_id, "report": detail}),
                    ts: now.clone(),
                },
                touched,
            )?;
            Ok(WriteReply::Action(Box::new(ActionChange {
                action: a,
                decided: false,
            })))
        }
        WriteOp::KillSwitch { record, audit } => {
            tx.prepare_cached(
                "INSERT INTO kill_switches (org_id, agent_id, active, reason, activated_at, activated_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(org_id, agent_id) DO UPDATE SET \
                 active = excluded.active, reason = excluded.reason, activated_at = excluded.activated_at, \
                 activated_by = excluded.activated_by",
            )?
            .execute(params![
                record.org_id,
                record.agent_id.clone().unwrap_or_default(),
                i64::from(record.active),
                record.reason,
                record.activated_at,
                record.activated_by
            ])?;
            append_audit(tx, heads, audit, touched)?;
            Ok(WriteReply::Done)
        }
        WriteOp::RegisterAgent { agent, audit } => {
            tx.prepare_cached(
                "INSERT INTO agents (org_id, agent_id, display_name, agent_type, environment, metadata, registered_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(org_id, agent_id) DO UPDATE SET \
                 display_name = excluded.display_name, agent_type = excluded.agent_type, \
                 environment = excluded.environment, metadata = excluded.metadata",
            )?
            .execute(params![
                agent.org_id,
                agent.agent_id,
                agent.display_name,
                agent.agent_type,
                agent.environment,
                serde_json::to_string(&agent.metadata)?,
                agent.registered_at
            ])?;
            append_audit(tx, heads, audit, touched)?;
            Ok(WriteReply::Done)
        }
        WriteOp::Audit(draft) => {
            append_audit(tx, heads, draft, touched)?;
            Ok(WriteReply::Done)
        }
        WriteOp::CreateWebhook { webhook: w } => {
            tx.prepare_cached(
                "INSERT INTO webhooks (org_id, url, events, secret, agent_id, active, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                w.org_id,
                w.url,
                serde_json::to_string(&w.events)?,
                w.secret,
                w.agent_id,
                i64::from(w.active),
                w.created_at
            ])?;
            Ok(WriteReply::Webhook(tx.last_insert_rowid()))
        }
        WriteOp::UpdateWebhook { webhook: w } => {
            let n = tx
                .prepare_cached(
                    "UPDATE webhooks SET url = ?1, events = ?2, secret = ?3, active = ?4 \
                     WHERE org_id = ?5 AND id = ?6",
                )?
                .execute(params![
                    w.url,
                    serde_json::to_string(&w.events)?,
                    w.secret,
                    i64::from(w.active),
                    w.org_id,
                    w.id
                ])?;
            if n == 0 {
                return Err(Error::NotFound(format!("webhook {} not found", w.id)));
            }
            Ok(WriteReply::Webhook(w.id))
        }
        WriteOp::DeleteWebhook { org_id, id } => {
            let n = tx
                .prepare_cached("DELETE FROM webhooks WHERE org_id = ?1 AND id = ?2")?
                .execute(params![org_id, id])?;
            if n == 0 {
                return Err(Error::NotFound(format!("webhook {id} not found")));
            }
            Ok(WriteReply::Done)
        }
        WriteOp::UpsertMcpServer { server: m, audit } => {
            tx.prepare_cached(
                "INSERT INTO mcp_servers (org_id, server_name, display_name, description, transport_type, \
                 server_url, connection_config, governance_enabled, active, auto_approve_tools, blocked_tools, \
                 tool_risk_overrides, deactivation_reason, deactivated_at, deactivated_by, registered_by, \
                 created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
                 ?15, ?16, ?17, ?18) ON CONFLICT(org_id, server_name) DO UPDATE SET \
                 display_name = excluded.display_name, description = excluded.description, \
                 transport_type = excluded.transport_type, server_url = excluded.server_url, \
                 connection_config = excluded.connection_config, \
                 governance_enabled = excluded.governance_enabled, active = excluded.active, \
                 auto_approve_tools = excluded.auto_approve_tools, blocked_tools = excluded.blocked_tools, \
                 tool_risk_overrides = excluded.tool_risk_overrides, \
                 deactivation_reason = excluded.deactivation_reason, \
                 deactivated_at = excluded.deactivated_at, deactivated_by = excluded.deactivated_by, \
                 updated_at = excluded.updated_at",
            )?
            .execute(params![
                m.org_id,
                m.server_name,
                m.display_name,
                m.description,
                m.transport_type,
                m.server_url,
                serde_json::to_string(&m.connection_config)?,
                i64::from(m.governance_enabled),
                i64::from(m.active),
                serde_json::to_string(&m.auto_approve_tools)?,
                serde_json::to_string(&m.blocked_tools)?,
                serde_json::to_string(&m.tool_risk_overrides)?,
                m.deactivation_reason,
                m.deactivated_at,
                m.deactivated_by,
                m.registered_by,
                m.created_at,
                m.updated_at
            ])?;
            let stored = tx
                .prepare_cached(&format!(
                    "{MCP_COLS} WHERE org_id = ?1 AND server_name = ?2"
                ))?
                .query_row(params![m.org_id, m.server_name], mcp_from_row)?;
            append_audit(tx, heads, audit, touched)?;
            Ok(WriteReply::McpServer(Box::new(stored)))
        }
        WriteOp::DeleteMcpServer {
            org_id,
            server_name,
            audit,
        } => {
            let n = tx
                .prepare_cached("DELETE FROM mcp_servers WHERE org_id = ?1 AND server_name = ?2")?
                .execute(params![org_id, server_name])?;
            if n == 0 {
                return Err(Error::NotFound(format!(
                    "MCP server {server_name:?} not found"
                )));
            }
            append_audit(tx, heads, audit, touched)?;
            Ok(WriteReply::Done)
        }
        WriteOp::LogDelivery(d) => {
            tx.prepare_cached(
                "INSERT INTO webhook_deliveries (webhook_id, org_id, event, attempt, status_code, error, latency_ms, at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                d.webhook_id,
                d.org_id,
                d.event,
                d.attempt,
                d.status_code,
                d.error,
                d.latency_ms,
                d.at
            ])?;
            Ok(WriteReply::Done)
        }
    }
}
