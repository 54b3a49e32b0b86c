//! The PostgreSQL store (`--db postgres://…`): several server replicas on one database.
//!
//! Same semantics as the SQLite store: every write is one transaction holding the change and
//! its audit entry, acknowledged after it committed; idempotency keys are unique per
//! organisation (a unique index); approval votes lock the action row; each organisation's
//! chain is appended under a lock on its head row, so replicas appending at once still build
//! one unbroken chain (`writes`). What replicas cache in memory is kept current through
//! LISTEN/NOTIFY (`feed`).
//!
//! Why `tokio-postgres` with `deadpool-postgres` rather than `sqlx`: the store writes its SQL by
//! hand either way (no compile-time checked queries without a live database or offline data in
//! CI), and the pair builds in a fraction of sqlx's time and crates (see
//! `../shared/docs/dependencies.md`), with LISTEN on a plain connection.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio::sync::{Notify, mpsc};
use tokio_postgres::NoTls;

use super::{ActionUpdate, BoxFuture, Change, OutcomeWrite, PeerEvent, Store, WebhookAudit};
use crate::audit::{ChainVerifier, VerifyReport};
use crate::error::{Error, Result};
use crate::model::{
    ActionFilter, ActionRecord, AgentRecord, ApiKeyRecord, AuditDraft, AuditEntry, ChainHead,
    DeliveryAttempt, KillSwitchRecord, McpServerRecord, NewAction, Snapshot, Timestamp, Webhook,
};

mod feed;
mod rows;
mod schema;
mod writes;

use writes::notice;

/// Connections in each replica's pool.
const POOL_SIZE: usize = 16;
/// Ids per block taken from the `action_id_blocks` sequence (its INCREMENT).
const ID_BLOCK: i64 = 256;
/// Audit entries read per round trip while verifying.
const VERIFY_PAGE: i64 = 5_000;

/// Open (migrating) the PostgreSQL database at `url` as a [`Store`].
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(PgStore::open(url).await?))
}

/// The PostgreSQL implementation of [`Store`].
pub struct PgStore {
    pool: Pool,
    /// This replica's name in its notices (it ignores its own).
    replica: String,
    ids: Arc<IdBlocks>,
    closed: AtomicBool,
    /// Outcome reports queued by [`Store::record_outcome_later`] and not yet committed.
    deferred: Arc<Deferred>,
    feed: Mutex<Option<mpsc::UnboundedReceiver<Change>>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Deferred {
    pending: AtomicUsize,
    done: Notify,
}

/// Action ids, a block of [`ID_BLOCK`] at a time, with the next block fetched in the
/// background before the current one runs out.
struct IdBlocks {
    state: Mutex<IdState>,
    refill: Notify,
}

struct IdState {
    next: i64,
    end: i64,
    spare: Option<i64>,
}

impl IdBlocks {
    /// The next id of the current block, moving to the spare block when it ran out; None when
    /// both are used up (the caller then reserves a block itself).
    fn take(&self) -> Result<Option<i64>> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| Error::Internal("action ids poisoned".into()))?;
        if s.next >= s.end {
            let Some(start) = s.spare.take() else {
                return Ok(None);
            };
            s.next = start;
            s.end = start + ID_BLOCK;
            self.refill.notify_one();
        }
        let id = s.next;
        s.next += 1;
        Ok(Some(id))
    }

    /// Hand out the ids of a block reserved by a caller that found none at hand: it takes the
    /// first and keeps the rest as the current block when that one is used up.
    fn adopt(&self, start: i64) -> Result<i64> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| Error::Internal("action ids poisoned".into()))?;
        if s.next >= s.end {
            s.next = start + 1;
            s.end = start + ID_BLOCK;
        }
        Ok(start)
    }
}

async fn next_block(pool: &Pool) -> Result<i64> {
    let c = pool.get().await.map_err(pool_error)?;
    Ok(c.query_one("SELECT nextval('action_id_blocks')", &[])
        .await?
        .try_get(0)?)
}

/// Keep a spare block ready until the store is dropped.
async fn refill_ids(ids: std::sync::Weak<IdBlocks>, pool: Pool) {
    loop {
        let Some(blocks) = ids.upgrade() else { return };
        let needed = blocks
            .state
            .lock()
            .map(|s| s.spare.is_none())
            .unwrap_or(false);
        if needed {
            match next_block(&pool).await {
                Ok(start) => {
                    if let Ok(mut s) = blocks.state.lock() {
                        s.spare = Some(start);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reserve action ids; retrying");
                    drop(blocks);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
        }
        // Woken by `take`; the timeout lets the task notice a dropped store.
        let _ = tokio::time::timeout(Duration::from_secs(1), blocks.refill.notified()).await;
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> Error {
    Error::StoreUnavailable(format!("no database connection: {e}"))
}

impl PgStore {
    /// Connect to `url`, apply pending migrations (one replica at a time) and start the
    /// change feed. Must be called inside a Tokio runtime.
    pub async fn open(url: &str) -> Result<Self> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| Error::Config(format!("bad PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| Error::Config(format!("PostgreSQL pool: {e}")))?;
        let mut c = pool.get().await.map_err(pool_error)?;
        schema::migrate(&mut c).await?;
        drop(c);
        let first = next_block(&pool).await?;
        let spare = next_block(&pool).await?;
        let ids = Arc::new(IdBlocks {
            state: Mutex::new(IdState {
                next: first,
                end: first + ID_BLOCK,
                spare: Some(spare),
            }),
            refill: Notify::new(),
        });
        tokio::spawn(refill_ids(Arc::downgrade(&ids), pool.clone()));
        let replica = uuid::Uuid::new_v4().simple().to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(feed::run(config, pool.clone(), replica.clone(), tx));
        Ok(Self {
            pool,
            replica,
            ids,
            closed: AtomicBool::new(false),
            deferred: Arc::new(Deferred::default()),
            feed: Mutex::new(Some(rx)),
        })
    }

    async fn conn(&self) -> Result<Object> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::StoreUnavailable("the store is closed".into()));
        }
        self.pool.get().await.map_err(pool_error)
    }

    /// Run `f` in a write transaction with `audit` appended after it, and `notice` sent at commit.
    async fn write_with_audit(
        &self,
        audit: &AuditDraft,
        notice: Option<serde_json::Value>,
        f: impl AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        f(&tx).await?;
        writes::append(&tx, audit).await?;
        if let Some(n) = notice {
            writes::notify(&tx, &self.replica, n).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Everything a replica holds in memory at start (and again after its feed reconnected).
/// `since`: also the idempotency keys used since then (None: none).
async fn load_snapshot(c: &tokio_postgres::Client, since: Option<&str>) -> Result<Snapshot> {
    let mut snap = Snapshot::default();
    for r in c
        .query("SELECT id, name FROM orgs ORDER BY id", &[])
        .await?
    {
        snap.orgs.push((r.try_get(0)?, r.try_get(1)?));
    }
    for r in c.query(rows::KEY_COLS, &[]).await? {
        if let Some(k) = rows::key(&r)? {
            snap.keys.push(k);
        }
    }
    for r in c.query(rows::KILL_COLS, &[]).await? {
        snap.kill_switches.push(rows::kill_switch(&r)?);
    }
    for r in c.query(rows::AGENT_COLS, &[]).await? {
        snap.agents.push(rows::agent(&r)?);
    }
    for r in c
        .query(
            "SELECT DISTINCT org_id, agent_id, action_type FROM actions",
            &[],
        )
        .await?
    {
        snap.seen_action_types
            .push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
    }
    if let Some(since) = since {
        for r in c
            .query(
                "SELECT org_id, idempotency_key, COALESCE(request_hash, ''), id FROM actions \
                 WHERE idempotency_key IS NOT NULL AND created_at >= $1 ORDER BY created_at, id",
                &[&since],
            )
            .await?
        {
            snap.idempotency
                .push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
        }
    }
    for r in c
        .query(&format!("{} ORDER BY id", rows::MCP_COLS), &[])
        .await?
    {
        snap.mcp_servers.push(rows::mcp(&r)?);
    }
    Ok(snap)
}

impl Store for PgStore {
    fn ensure_org(&self, name: String, at: Timestamp) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            let tx = c.transaction().await?;
            let (id, created) = writes::ensure_org(&tx, &name, &at).await?;
            if created {
                writes::notify(&tx, &self.replica, notice::org(id)).await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    fn insert_key(&self, key: ApiKeyRecord, audit: AuditDraft) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let n = notice::key(&key.key_id);
            self.write_with_audit(&audit, Some(n), async |tx| {
                writes::insert_key(tx, &key).await
            })
            .await
        })
    }

    fn revoke_key(
        &self,
        org_id: i64,
        key_id: String,
        at: Timestamp,
        audit: AuditDraft,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let n = notice::key(&key_id);
            self.write_with_audit(&audit, Some(n), async |tx| {
                writes::revoke_key(tx, org_id, &key_id, at).await
            })
            .await
        })
    }

    fn insert_action(&self, action: NewAction, audit: AuditDraft) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.write_with_audit(&audit, None, async |tx| {
                writes::insert_action(tx, &action).await
            })
            .await
        })
    }

    fn update_action(
        &self,
        org_id: i64,
        id: i64,
        update: ActionUpdate,
    ) -> BoxFuture<'_, Result<Option<ActionRecord>>> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            let tx = c.transaction().await?;
            let mut a = writes::lock_action(&tx, org_id, id).await?;
            let Some(audit) = update(&mut a)? else {
                return Ok(None);
            };
            writes::save_action_state(&tx, &a).await?;
            writes::append(&tx, &audit).await?;
            tx.commit().await?;
            Ok(Some(a))
        })
    }

    fn record_outcome(&self, write: OutcomeWrite) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            let tx = c.transaction().await?;
            writes::record_outcome(&tx, write).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn record_outcome_later(&self, write: OutcomeWrite) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::StoreUnavailable("the store is closed".into()));
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Internal("the PostgreSQL store needs a Tokio runtime".into()))?;
        let pool = self.pool.clone();
        let deferred = self.deferred.clone();
        deferred.pending.fetch_add(1, Ordering::AcqRel);
        runtime.spawn(async move {
            let result = async {
                let mut c = pool.get().await.map_err(pool_error)?;
                let tx = c.transaction().await?;
                writes::record_outcome(&tx, write).await?;
                tx.commit().await?;
                Ok::<_, Error>(())
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "outcome report not recorded");
            }
            deferred.pending.fetch_sub(1, Ordering::AcqRel);
            deferred.done.notify_waiters();
        });
        Ok(())
    }

    fn set_kill_switch(
        &self,
        record: KillSwitchRecord,
        audit: AuditDraft,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let n = notice::kill_switch(record.org_id, record.agent_id.as_deref());
            self.write_with_audit(&audit, Some(n), async |tx| {
                writes::set_kill_switch(tx, &record).await
            })
            .await
        })
    }

    fn upsert_agent(&self, agent: AgentRecord, audit: AuditDraft) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let n = notice::agent(agent.org_id, &agent.agent_id);
            self.write_with_audit(&audit, Some(n), async |tx| {
                writes::upsert_agent(tx, &agent).await
            })
            .await
        })
    }

    fn append_audit(&self, audit: AuditDraft) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.write_with_audit(&audit, None, async |_| Ok(())).await })
    }

    fn insert_webhook(&self, hook: Webhook, audit: WebhookAudit) -> BoxFuture<'_, Result<Webhook>> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            let tx = c.transaction().await?;
            let mut hook = hook;
            hook.id = writes::insert_webhook(&tx, &hook).await?;
            writes::append(&tx, &audit(&hook)).await?;
            writes::notify(&tx, &self.replica, notice::webhooks(hook.org_id)).await?;
            tx.commit().await?;
            Ok(hook)
        })
    }

    fn update_webhook(&self, hook: Webhook, audit: AuditDraft) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let n = notice::webhooks(hook.org_id);
            self.write_with_audit(&audit, Some(n), async |tx| {
                writes::update_webhook(tx, &hook).await
            })
            .await
        })
    }

    fn delete_webhook(&self, org_id: i64, id: i64, audit: AuditDraft) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let n = notice::webhooks(org_id);
            self.write_with_audit(&audit, Some(n), async |tx| {
                writes::delete_webhook(tx, org_id, id).await
            })
            .await
        })
    }

    fn log_delivery(&self, attempt: DeliveryAttempt) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            let tx = c.transaction().await?;
            writes::log_delivery(&tx, &attempt).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn upsert_mcp_server(
        &self,
        server: McpServerRecord,
        audit: AuditDraft,
    ) -> BoxFuture<'_, Result<McpServerRecord>> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            let tx = c.transaction().await?;
            let stored = writes::upsert_mcp_server(&tx, &server).await?;
            writes::append(&tx, &audit).await?;
            let n = notice::mcp(server.org_id, &server.server_name);
            writes::notify(&tx, &self.replica, n).await?;
            tx.commit().await?;
            Ok(stored)
        })
    }

    fn delete_mcp_server(
        &self,
        org_id: i64,
        server_name: String,
        audit: AuditDraft,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let n = notice::mcp(org_id, &server_name);
            self.write_with_audit(&audit, Some(n), async |tx| {
                writes::delete_mcp_server(tx, org_id, &server_name).await
            })
            .await
        })
    }

    fn next_action_id(&self) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            if let Some(id) = self.ids.take()? {
                return Ok(id);
            }
            // A burst used up both blocks before the spare was refilled: reserve one here.
            let start = next_block(&self.pool).await?;
            self.ids.adopt(start)
        })
    }

    fn snapshot(&self, idempotency_since: String) -> BoxFuture<'_, Result<Snapshot>> {
        Box::pin(async move {
            let c = self.conn().await?;
            load_snapshot(&c, Some(&idempotency_since)).await
        })
    }

    fn get_action(&self, org_id: i64, id: i64) -> BoxFuture<'_, Result<Option<ActionRecord>>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let sql = format!("{} WHERE org_id = $1 AND id = $2", rows::ACTION_COLS);
            let stmt = c.prepare_cached(&sql).await?;
            match c.query_opt(&stmt, &[&org_id, &id]).await? {
                Some(r) => Ok(Some(rows::action(&r)?)),
                None => Ok(None),
            }
        })
    }

    fn get_action_by_idempotency_key(
        &self,
        org_id: i64,
        key: String,
    ) -> BoxFuture<'_, Result<Option<(String, ActionRecord)>>> {
        Box::pin(async move {
            let c = self.conn().await?;
            // The action's columns, then its request hash (column 15).
            let sql = format!(
                "{} WHERE org_id = $1 AND idempotency_key = $2",
                rows::ACTION_COLS
                    .replace(" FROM actions", ", COALESCE(request_hash, '') FROM actions")
            );
            let Some(row) = c.query_opt(&sql, &[&org_id, &key]).await? else {
                return Ok(None);
            };
            let hash: String = row.try_get(15)?;
            Ok(Some((hash, rows::action(&row)?)))
        })
    }

    fn list_actions(
        &self,
        org_id: i64,
        filter: ActionFilter,
    ) -> BoxFuture<'_, Result<(Vec<ActionRecord>, u64)>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let mut cond = String::from("org_id = $1");
            let mut args: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> =
                vec![Box::new(org_id)];
            for (column, value) in [
                ("agent_id", filter.agent_id),
                ("status", filter.status),
                ("submitted_key", filter.submitted_key),
            ] {
                if let Some(v) = value {
                    args.push(Box::new(v));
                    cond.push_str(&format!(" AND {column} = ${}", args.len()));
                }
            }
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
                .iter()
                .map(|a| a.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            let total: i64 = c
                .query_one(
                    &format!("SELECT COUNT(*) FROM actions WHERE {cond}"),
                    &params,
                )
                .await?
                .try_get(0)?;
            let (limit, offset) = (i64::from(filter.limit), i64::from(filter.offset));
            let mut params = params;
            params.push(&limit);
            params.push(&offset);
            // Newest first by time: ids are handed out in blocks per replica.
            let sql = format!(
                "{} WHERE {cond} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
                rows::ACTION_COLS,
                params.len() - 1,
                params.len()
            );
            let mut out = Vec::new();
            for r in c.query(&sql, &params).await? {
                out.push(rows::action(&r)?);
            }
            Ok((out, u64::try_from(total).unwrap_or(0)))
        })
    }

    fn expired_pending(&self, now: Timestamp) -> BoxFuture<'_, Result<Vec<(i64, i64)>>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let rows = c
                .query(
                    "SELECT org_id, id FROM actions WHERE status = 'pending_approval' \
                     AND expires_at IS NOT NULL AND expires_at <= $1 LIMIT 1000",
                    &[&now.to_rfc3339()],
                )
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })
    }

    fn audit_entries(
        &self,
        org_id: i64,
        offset: u64,
        limit: u64,
    ) -> BoxFuture<'_, Result<Vec<AuditEntry>>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let offset = i64::try_from(offset).unwrap_or(i64::MAX);
            let sql = format!(
                "{} WHERE org_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
                rows::AUDIT_COLS
            );
            c.query(&sql, &[&org_id, &limit, &offset])
                .await?
                .iter()
                .map(rows::audit)
                .collect()
        })
    }

    fn audit_count(&self, org_id: i64) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let n: i64 = c
                .query_one(
                    "SELECT COUNT(*) FROM audit_log WHERE org_id = $1",
                    &[&org_id],
                )
                .await?
                .try_get(0)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn ready(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let c = self.pool.get().await.map_err(pool_error)?;
            let current = schema::current(&c).await?;
            let latest = schema::latest();
            if current == latest {
                Ok(())
            } else {
                Err(Error::Internal(format!(
                    "schema version {current}, this build expects {latest}"
                )))
            }
        })
    }

    fn audit_head(&self, org_id: i64) -> BoxFuture<'_, Result<Option<ChainHead>>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let row = c
                .query_opt(
                    "SELECT org_id, seq, hash FROM audit_heads WHERE org_id = $1 AND seq > 0",
                    &[&org_id],
                )
                .await?;
            match row {
                Some(r) => Ok(Some(ChainHead {
                    org_id: r.try_get(0)?,
                    seq: r.try_get(1)?,
                    hash: r.try_get(2)?,
                })),
                None => Ok(None),
            }
        })
    }

    fn verify_audit(&self, org_id: i64) -> BoxFuture<'_, Result<VerifyReport>> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            // One snapshot for the head and every entry: concurrent appends are not seen.
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let head = tx
                .query_opt(
                    "SELECT org_id, seq, hash FROM audit_heads WHERE org_id = $1 AND seq > 0",
                    &[&org_id],
                )
                .await?
                .map(|r| -> Result<ChainHead> {
                    Ok(ChainHead {
                        org_id: r.try_get(0)?,
                        seq: r.try_get(1)?,
                        hash: r.try_get(2)?,
                    })
                })
                .transpose()?;
            let seqs: std::collections::HashSet<i64> = tx
                .query("SELECT seq FROM audit_log WHERE org_id = $1", &[&org_id])
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            let mut verifier = ChainVerifier::new(org_id, head);
            let sql = format!(
                "{} WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                rows::AUDIT_COLS
            );
            let mut after = 0i64;
            loop {
                let page = tx.query(&sql, &[&org_id, &after, &VERIFY_PAGE]).await?;
                for r in &page {
                    let e = rows::audit(r)?;
                    after = e.row_id;
                    if let Some(broken) = verifier.push(&e, |s| seqs.contains(&s)) {
                        return Ok(broken);
                    }
                }
                if (page.len() as i64) < VERIFY_PAGE {
                    break;
                }
            }
            tx.commit().await?;
            Ok(verifier.finish())
        })
    }

    fn webhooks(&self, org_id: i64) -> BoxFuture<'_, Result<Vec<Webhook>>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let sql = format!("{} WHERE org_id = $1 ORDER BY id", rows::WEBHOOK_COLS);
            c.query(&sql, &[&org_id])
                .await?
                .iter()
                .map(rows::webhook)
                .collect()
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.closed.store(true, Ordering::Release);
            loop {
                let done = self.deferred.done.notified();
                if self.deferred.pending.load(Ordering::Acquire) == 0 {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(50), done).await;
            }
            // Dropping the receiver ends the feed at its next notice.
            if let Ok(mut f) = self.feed.lock() {
                f.take();
            }
            self.pool.close();
            Ok(())
        })
    }

    fn lookup_key(&self, key_id: String) -> BoxFuture<'_, Result<Option<ApiKeyRecord>>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let sql = format!("{} WHERE key_id = $1", rows::KEY_COLS);
            match c.query_opt(&sql, &[&key_id]).await? {
                Some(r) => rows::key(&r),
                None => Ok(None),
            }
        })
    }

    fn claim_first_start(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let claimed = c
                .query_opt(
                    "INSERT INTO first_start (id, claimed_at) VALUES (1, $1) \
                     ON CONFLICT (id) DO NOTHING RETURNING id",
                    &[&crate::model::now().to_rfc3339()],
                )
                .await?;
            Ok(claimed.is_some())
        })
    }

    fn changes(&self) -> Option<mpsc::UnboundedReceiver<Change>> {
        self.feed.lock().ok()?.take()
    }

    fn broadcast(&self, event: PeerEvent) {
        let notice = serde_json::json!({
            "r": self.replica,
            "org": event.org_id,
            "agent": event.agent_id,
            "key": event.key_id,
            "push": event.push.as_str(),
            "data": event.data,
        })
        .to_string();
        // NOTIFY payloads are limited to 8000 bytes.
        if notice.len() >= 8000 {
            tracing::warn!(
                bytes = notice.len(),
                "event too large to send to other replicas"
            );
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = self.pool.clone();
        runtime.spawn(async move {
            let sent = async {
                let c = pool.get().await.map_err(pool_error)?;
                c.execute("SELECT pg_notify($1, $2)", &[&writes::EVENTS, &notice])
                    .await?;
                Ok::<_, Error>(())
            }
            .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "event not sent to other replicas");
            }
        });
    }
}
