//! The embedded SQLite store: WAL mode, group commit on the caller's thread or the writer
//! thread (`writer`), the SQL of each write (`writes`), read connections used from
//! `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use serde_json::Value;
use tokio::sync::oneshot;

use ascend_runtime::wire::DecisionBody;

use super::{ActionUpdate, BoxFuture, OutcomeWrite, Store, WebhookAudit};
use crate::audit::VerifyReport;
use crate::audit::chain::parse_hash;
use crate::error::{Error, Result};
use crate::model::{
    ActionFilter, ActionOutcome, ActionRecord, AgentRecord, ApiKeyRecord, ApprovalState,
    AuditDraft, AuditEntry, ChainHead, DeliveryAttempt, Durability, KillSwitchRecord,
    McpServerRecord, NewAction, Role, Snapshot, Timestamp, Webhook, now,
};

pub mod codec;
mod integrity;
mod writer;
mod writes;

pub use integrity::{
    Anchors, action_row_digest, anchor_report, audit_orgs, export_evidence, read_checkpoints,
    verify_org, verify_org_in,
};
pub use writer::Sealing;

impl rusqlite::types::ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.to_rfc3339()))
    }
}

impl rusqlite::types::FromSql for Timestamp {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = v.as_str()?;
        Timestamp::parse(text).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("not an RFC 3339 time: {text:?}").into())
        })
    }
}

use writer::{Committer, Deferred, Heads, Sealer, Typed, Writer};

const READERS: usize = 3;
/// How often the checkpointer thread copies the WAL back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// The writer checkpoints itself once the WAL holds this many pages. The checkpointer thread
/// copies the WAL into the database meanwhile, but under steady load frames keep arriving while
/// it runs, so only the writer's own checkpoint lets the WAL start over: each costs one `fsync`
/// inside a commit, whatever the WAL's size. 16,000 pages (≤ 64 MB of WAL at 4 KiB pages) make
/// that about once a second at 4,000 decisions/s (SQLite's default of 1,000 would put it in
/// every hundred-odd commits).
const WRITER_AUTOCHECKPOINT_PAGES: i64 = 16_000;

/// One migration: SQL, or code for what SQL cannot say.
enum Step {
    Sql(&'static str),
    Code(fn(&Connection) -> Result<()>),
}

/// Versioned migrations. Applied in order, each in a transaction.
const MIGRATIONS: &[(i64, Step)] = &[
    (
        1,
        Step::Sql(
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
    ),
    (
        2,
        Step::Sql(
            r#"
CREATE TABLE mcp_servers (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, server_name TEXT NOT NULL,
  display_name TEXT, description TEXT, transport_type TEXT NOT NULL, server_url TEXT,
  connection_config TEXT NOT NULL, governance_enabled INTEGER NOT NULL, active INTEGER NOT NULL,
  auto_approve_tools TEXT NOT NULL, blocked_tools TEXT NOT NULL, tool_risk_overrides TEXT NOT NULL,
  deactivation_reason TEXT, deactivated_at TEXT, deactivated_by TEXT, registered_by TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (org_id, server_name));
"#,
        ),
    ),
    (
        3,
        Step::Sql(
            r#"
ALTER TABLE api_keys ADD COLUMN owner TEXT;
ALTER TABLE api_keys ADD COLUMN created_by TEXT NOT NULL DEFAULT 'system';
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
ALTER TABLE api_keys ADD COLUMN revoked_at TEXT;
ALTER TABLE webhooks ADD COLUMN created_key TEXT;
ALTER TABLE webhooks ADD COLUMN only_key TEXT;
"#,
        ),
    ),
    // 4, not 3: main's access-control migration is 3 (the loop applies any gap in order).
    (4, Step::Sql(integrity::MIGRATION)),
    // The compact audit rows (`codec`).
    (5, Step::Code(codec::migrate_v5)),
];

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    committer: Arc<Committer>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_id: AtomicI64,
    writer: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Checkpointer,
    /// What the server's own verification checks checkpoints with.
    verify_with: Option<VerifyWith>,
}

/// The public key and checkpoint log the server's verification uses.
#[derive(Debug, Clone)]
struct VerifyWith {
    key: ed25519_dalek::VerifyingKey,
    log: Option<PathBuf>,
}

/// A background thread that checkpoints the WAL with its own connection, so the copy into the
/// database file and its fsync happen outside the writer's commits (a PASSIVE checkpoint never
/// blocks the writer or the readers). It stops on [`Store::close`] or when the store is dropped.
struct Checkpointer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Each round it also rings the writer for deferred jobs, and every `seal_every` asks it
    /// to sign heads that are due by time.
    fn start(
        path: &Path,
        durability: Durability,
        committer: Arc<Committer>,
        seal_every: Option<std::time::Duration>,
    ) -> Result<Self> {
        let conn = Connection::open(path)?;
        configure(&conn, durability)?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("ascend-store-checkpoint".into())
            .spawn(move || {
                let mut last_seal = std::time::Instant::now();
                while !flag.load(Ordering::Acquire) {
                    std::thread::park_timeout(CHECKPOINT_EVERY);
                    if flag.load(Ordering::Acquire) {
                        break;
                    }
                    committer.ring_deferred();
                    if let Some(every) = seal_every
                        && last_seal.elapsed() >= every
                    {
                        committer.ring_seal();
                        last_seal = std::time::Instant::now();
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

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // The writer thread commits what is queued and stops (not joined: drop may run on an
        // async worker).
        self.committer.close();
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
    migrate_to(conn, i64::MAX)
}

/// Apply pending migrations up to `version` (tests build databases of an older schema).
pub fn migrate_to(conn: &mut Connection, version: i64) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    for (v, step) in MIGRATIONS {
        if *v > current && *v <= version {
            let tx = conn.transaction()?;
            match step {
                Step::Sql(sql) => tx.execute_batch(sql)?,
                Step::Code(f) => f(&tx)?,
            }
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![v, now()],
            )?;
            tx.commit()?;
        }
    }
    Ok(())
}

/// Refuse a database whose schema is older than this build's (it is migrated by opening it
/// with the server, e.g. `ascend serve`, once).
pub fn check_schema(c: &Connection) -> Result<()> {
    let current: i64 = c
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let latest = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current < latest {
        return Err(Error::Config(format!(
            "the database has schema version {current}, this build reads {latest}: start the \
             server on it once to migrate it"
        )));
    }
    Ok(())
}

impl SqliteStore {
    /// Open (creating and migrating) the database at `path` and start the writer thread, with
    /// no checkpoint signing.
    pub fn open(path: &Path, durability: Durability) -> Result<Self> {
        Self::open_with(path, durability, None)
    }

    /// [`SqliteStore::open`], signing checkpoints of the chain heads with `sealing` (at start,
    /// every N entries or T seconds, and at close).
    pub fn open_with(
        path: &Path,
        durability: Durability,
        sealing: Option<Sealing>,
    ) -> Result<Self> {
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
        let verify_with = sealing.as_ref().map(|s| VerifyWith {
            key: s.signer.verifying_key(),
            log: s.log.as_ref().map(|l| l.path().to_owned()),
        });
        let interval = sealing.as_ref().map(|s| s.interval);
        let sealer = match sealing {
            Some(s) => Some(Sealer::new(s, integrity::last_checkpoints(&conn)?)),
            None => None,
        };
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(5))?;
            readers.push(Mutex::new(r));
        }
        let committer = Committer::new(conn, heads, sealer, durability == Durability::Normal);
        let on_thread = Arc::clone(&committer);
        let writer = std::thread::Builder::new()
            .name("ascend-store-writer".into())
            .spawn(move || on_thread.writer_loop())?;
        let checkpointer = Checkpointer::start(path, durability, Arc::clone(&committer), interval)?;
        Ok(Self {
            path: path.to_owned(),
            committer,
            readers: Arc::new(readers),
            next_id: AtomicI64::new(max_id + 1),
            writer: Mutex::new(Some(writer)),
            checkpointer,
            verify_with,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commit a write (on this thread when nobody else is committing, else in the writer
    /// thread's next batch); resolves once its batch committed.
    fn run<T, F>(&self, f: F) -> BoxFuture<'_, Result<T>>
    where
        T: Send + 'static,
        F: for<'a, 'c> FnOnce(&mut Writer<'a, 'c>) -> Result<T> + Send + 'static,
    {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.committer.submit(Box::new(Typed::new(f, reply)))?;
            rx.await
                .map_err(|_| Error::StoreUnavailable("writer dropped the request".into()))?
        })
    }

    fn read<T, F>(&self, f: F) -> BoxFuture<'_, Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        Box::pin(async move {
            let run = move || {
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
            };
            // Outside a runtime (a sync caller of the embedded backend) the read runs here.
            if tokio::runtime::Handle::try_current().is_err() {
                return run();
            }
            tokio::task::spawn_blocking(run)
                .await
                .map_err(|e| Error::Internal(format!("read task: {e}")))?
        })
    }
}

impl Store for SqliteStore {
    fn ensure_org(&self, name: String, at: Timestamp) -> BoxFuture<'_, Result<i64>> {
        self.run(move |w| writes::ensure_org(w, &name, &at))
    }

    fn insert_key(&self, key: ApiKeyRecord, audit: AuditDraft) -> BoxFuture<'_, Result<()>> {
        self.run(move |w| {
            writes::insert_key(w, &key)?;
            w.append(&audit)
        })
    }

    fn revoke_key(
        &self,
        org_id: i64,
        key_id: String,
        at: Timestamp,
        audit: AuditDraft,
    ) -> BoxFuture<'_, Result<()>> {
        self.run(move |w| {
            writes::revoke_key(w, org_id, &key_id, at)?;
            w.append(&audit)
        })
    }

    fn queue_depth(&self) -> usize {
        self.committer.queued()
    }

    fn ready(&self) -> BoxFuture<'_, Result<()>> {
        self.read(|c| {
            let current: i64 = c.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )?;
            let latest = MIGRATIONS.last().map_or(0, |(v, _)| *v);
            if current == latest {
                Ok(())
            } else {
                Err(Error::Internal(format!(
                    "schema version {current}, this build expects {latest}"
                )))
            }
        })
    }

    fn insert_action(&self, action: NewAction, audit: AuditDraft) -> BoxFuture<'_, Result<()>> {
        // Rendered here, on the caller's thread: the writer only binds, inserts and hashes.
        let rendered = writes::ActionRow::render(action)
            .and_then(|row| Ok((row, writer::Rendered::from_draft(audit)?)));
        let (row, entry) = match rendered {
            Ok(r) => r,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        self.run(move |w| {
            writes::insert_action(w, &row)?;
            w.append_action_rendered(entry, row.id)
        })
    }

    fn update_action(
        &self,
        org_id: i64,
        id: i64,
        update: ActionUpdate,
    ) -> BoxFuture<'_, Result<Option<ActionRecord>>> {
        self.run(move |w| {
            let mut a = writes::load_action(w, org_id, id)?;
            match update(&mut a)? {
                None => Ok(None),
                Some(audit) => {
                    writes::save_action_state(w, &a)?;
                    w.append_action(&audit, id)?;
                    Ok(Some(a))
                }
            }
        })
    }

    fn record_outcome(&self, write: OutcomeWrite) -> BoxFuture<'_, Result<()>> {
        self.run(move |w| writes::record_outcome(w, write))
    }

    fn record_outcome_later(&self, write: OutcomeWrite) -> Result<()> {
        self.committer
            .defer(Box::new(Deferred::new("outcome report", move |w| {
                writes::record_outcome(w, write)
            })))
    }

    fn set_kill_switch(
        &self,
        record: KillSwitchRecord,
        audit: AuditDraft,
    ) -> BoxFuture<'_, Result<()>> {
        self.run(move |w| {
            writes::set_kill_switch(w, &record)?;
            w.append(&audit)
        })
    }

    fn upsert_agent(&self, agent: AgentRecord, audit: AuditDraft) -> BoxFuture<'_, Result<()>> {
        self.run(move |w| {
            writes::upsert_agent(w, &agent)?;
            w.append(&audit)
        })
    }

    fn append_audit(&self, audit: AuditDraft) -> BoxFuture<'_, Result<()>> {
        self.run(move |w| w.append(&audit))
    }

    fn insert_webhook(&self, hook: Webhook, audit: WebhookAudit) -> BoxFuture<'_, Result<Webhook>> {
        self.run(move |w| {
            let mut hook = hook;
            hook.id = writes::insert_webhook(w, &hook)?;
            w.append(&audit(&hook))?;
            Ok(hook)
        })
    }

    fn update_webhook(&self, hook: Webhook, audit: AuditDraft) -> BoxFuture<'_, Result<()>> {
        self.run(move |w| {
            writes::update_webhook(w, &hook)?;
            w.append(&audit)
        })
    }

    fn delete_webhook(&self, org_id: i64, id: i64, audit: AuditDraft) -> BoxFuture<'_, Result<()>> {
        self.run(move |w| {
            writes::delete_webhook(w, org_id, id)?;
            w.append(&audit)
        })
    }

    fn log_delivery(&self, attempt: DeliveryAttempt) -> BoxFuture<'_, Result<()>> {
        self.run(move |w| writes::log_delivery(w, &attempt))
    }

    fn upsert_mcp_server(
        &self,
        server: McpServerRecord,
        audit: AuditDraft,
    ) -> BoxFuture<'_, Result<McpServerRecord>> {
        self.run(move |w| {
            let stored = writes::upsert_mcp_server(w, &server)?;
            w.append(&audit)?;
            Ok(stored)
        })
    }

    fn delete_mcp_server(
        &self,
        org_id: i64,
        server_name: String,
        audit: AuditDraft,
    ) -> BoxFuture<'_, Result<()>> {
        self.run(move |w| {
            writes::delete_mcp_server(w, org_id, &server_name)?;
            w.append(&audit)
        })
    }

    fn next_action_id(&self) -> BoxFuture<'_, Result<i64>> {
        Box::pin(std::future::ready(Ok(self
            .next_id
            .fetch_add(1, Ordering::Relaxed))))
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
            if let Some(key) = filter.submitted_key {
                args.push(key.into());
                cond.push_str(&format!(" AND submitted_key = ?{}", args.len()));
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

    fn expired_pending(&self, now: Timestamp) -> BoxFuture<'_, Result<Vec<(i64, i64)>>> {
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
        let with = self.verify_with.clone();
        self.read(move |c| {
            let mut anchors = Anchors::default();
            if let Some(w) = with {
                anchors.key = Some(w.key);
                if let Some(log) = &w.log {
                    // Read before the snapshot: every checkpoint in the log is then visible.
                    let (cps, bad) = crate::audit::checkpoint::read_log(log)?;
                    anchors.log = cps;
                    anchors.bad_lines = bad;
                }
            }
            let mut report = verify_org(c, org_id, &anchors)?;
            if let Some(bad) = anchor_report(&anchors) {
                report.add(bad.findings);
            }
            Ok(report)
        })
    }

    fn webhooks(&self, org_id: i64) -> BoxFuture<'_, Result<Vec<Webhook>>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, org_id, url, events, secret, agent_id, active, created_at, created_key, \
                 only_key FROM webhooks WHERE org_id = ?1 ORDER BY id",
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
            self.committer.close();
            let handle = self.writer.lock().ok().and_then(|mut h| h.take());
            if let Some(h) = handle {
                let _ = tokio::task::spawn_blocking(move || h.join()).await;
            }
            Ok(())
        })
    }
}

/// Read one organisation's audit entries (used by the API and by `ascend audit verify --db`),
/// hashes as hex and each entry's `prev_hash` as stored ([`codec`]).
pub fn read_audit(c: &Connection, org_id: i64, offset: u64, limit: u64) -> Result<Vec<AuditEntry>> {
    // The row before the page gives the first entry's `prev_hash`.
    let (skip, take) = match offset.checked_sub(1) {
        Some(before) => (before, limit.saturating_add(1)),
        None => (0, limit),
    };
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {} FROM audit_log WHERE org_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3",
        codec::COLUMNS
    ))?;
    let mut rows = stmt.query(params![
        org_id,
        i64::try_from(take).unwrap_or(i64::MAX),
        i64::try_from(skip).unwrap_or(i64::MAX)
    ])?;
    let mut out = Vec::new();
    let mut dec = codec::RowDecoder::new();
    let mut prev = codec::genesis_hex();
    let mut first = offset > 0;
    while let Some(r) = rows.next()? {
        if first {
            first = false;
            prev = codec::shown(r.get_ref(8)?);
            continue;
        }
        let e = dec.entry(r, &prev)?;
        prev.clone_from(&e.hash);
        out.push(e);
    }
    Ok(out)
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
        outcome: r
            .get::<_, Option<String>>(11)?
            .as_deref()
            .and_then(ActionOutcome::parse),
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
        created_key: r.get(8)?,
        only_key: r.get(9)?,
    })
}

fn load_snapshot(c: &Connection, since: &str) -> Result<Snapshot> {
    let mut snap = Snapshot::default();
    let mut stmt = c.prepare("SELECT id, name FROM orgs ORDER BY id")?;
    snap.orgs = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare(
        "SELECT key_id, org_id, role, agent_id, key_hash, name, created_at, owner, created_by, \
         expires_at, revoked_at FROM api_keys",
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
                    owner: r.get::<_, Option<String>>(7)?.unwrap_or(r.get(5)?),
                    name: r.get(5)?,
                    created_at: r.get(6)?,
                    created_by: r.get(8)?,
                    expires_at: r.get(9)?,
                    revoked_at: r.get(10)?,
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

fn load_heads(c: &Connection) -> Result<Heads> {
    let mut heads = Heads::new();
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
