//! The writer thread and group commit.
//!
//! Every write method of the store becomes one [`Job`]: a closure run inside the writer's
//! transaction, with a typed reply channel. The writer takes every queued job (up to a batch
//! limit), applies each inside a savepoint (so one failing job does not undo the others), appends
//! their audit entries to the hash chains, checkpoints the chain heads, commits, and only then
//! answers each waiting caller. One commit (one WAL append, and one fsync with
//! `synchronous=FULL`) serves the whole batch.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, params};
use tokio::sync::{mpsc, oneshot};

use super::{codec, integrity};
use crate::audit::chain::{GENESIS, entry_hash};
use crate::audit::checkpoint::{Checkpoint, CheckpointLog, Reason, Signer};
use crate::error::{Error, Result};
use crate::model::{AuditDraft, now};

/// The chain head of each organisation: (last seq, last hash).
pub(super) type Heads = HashMap<i64, (i64, [u8; 32])>;

const MAX_BATCH: usize = 1024;

/// What a job sees: the open transaction and the chain heads.
pub(super) struct Writer<'a, 'c> {
    /// The batch's transaction (the job runs inside a savepoint of it).
    pub(super) tx: &'a Transaction<'c>,
    heads: &'a mut Heads,
    /// (organisation, ts) of every entry appended in the batch, in order.
    touched: &'a mut Vec<(i64, String)>,
}

impl Writer<'_, '_> {
    /// Append an entry to its organisation's chain.
    pub(super) fn append(&mut self, draft: &AuditDraft) -> Result<()> {
        self.append_with(draft, None)
    }

    /// Append the entry of a change to action `action_id` (already written in this
    /// transaction): its payload also records `row_sha256`, the digest of the action's row as
    /// stored now, so verification can tell any later edit of the row.
    pub(super) fn append_action(&mut self, draft: &AuditDraft, action_id: i64) -> Result<()> {
        let digest = integrity::action_row_digest(self.tx, draft.org_id, action_id)?;
        self.append_with(draft, digest.as_deref())
    }

    fn append_with(&mut self, draft: &AuditDraft, row_sha256: Option<&str>) -> Result<()> {
        let (seq, prev) = self
            .heads
            .get(&draft.org_id)
            .map(|(s, h)| (*s + 1, *h))
            .unwrap_or((1, GENESIS));
        let mut payload = serde_json::to_string(&draft.payload)?;
        if let Some(d) = row_sha256
            && payload.ends_with('}')
        {
            payload.pop();
            if payload.len() > 1 {
                payload.push(',');
            }
            payload.push_str("\"row_sha256\":\"");
            payload.push_str(d);
            payload.push_str("\"}");
        }
        let ts = draft.ts.to_rfc3339();
        let kind = draft.kind.as_str();
        let hash = entry_hash(
            draft.org_id,
            seq,
            &ts,
            kind,
            &draft.actor,
            &draft.subject,
            &payload,
            &prev,
        );
        self.tx
            .prepare_cached(
                "INSERT INTO audit_log (org_id, seq, ts, kind, actor, subject, payload, hash, link) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                draft.org_id,
                seq,
                codec::ts_value(&ts),
                codec::kind_value(kind),
                draft.actor,
                draft.subject,
                payload,
                &hash[..],
                codec::link_tag(&prev)
            ])?;
        self.heads.insert(draft.org_id, (seq, hash));
        self.touched.push((draft.org_id, ts));
        Ok(())
    }
}

/// One queued write.
pub(super) trait Job: Send {
    /// Run inside the transaction; false when it failed (its savepoint is rolled back).
    fn apply(&mut self, w: &mut Writer<'_, '_>) -> bool;
    /// Answer the caller: its result, or `commit_error` when the batch did not commit.
    fn finish(self: Box<Self>, commit_error: Option<&str>);
}

/// A [`Job`] from a closure with a typed result.
pub(super) struct Typed<T, F> {
    f: Option<F>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Typed<T, F> {
    pub(super) fn new(f: F, reply: oneshot::Sender<Result<T>>) -> Self {
        Self {
            f: Some(f),
            result: None,
            reply,
        }
    }
}

impl<T, F> Job for Typed<T, F>
where
    T: Send,
    F: for<'a, 'c> FnOnce(&mut Writer<'a, 'c>) -> Result<T> + Send,
{
    fn apply(&mut self, w: &mut Writer<'_, '_>) -> bool {
        let r = match self.f.take() {
            Some(f) => f(w),
            None => Err(Error::Internal("a write ran twice".into())),
        };
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn finish(self: Box<Self>, commit_error: Option<&str>) {
        let r = match (commit_error, self.result) {
            (Some(msg), _) => Err(Error::StoreUnavailable(format!("commit failed: {msg}"))),
            (None, Some(r)) => r,
            (None, None) => Err(Error::Internal("a write was never applied".into())),
        };
        let _ = self.reply.send(r);
    }
}

/// A message to the writer thread.
pub(super) enum Msg {
    /// A write.
    Job(Box<dyn Job>),
    /// Sign the heads whose checkpoint is due by time (sent by a timer).
    Seal,
    /// Commit what is queued, then stop.
    Close(oneshot::Sender<()>),
}

/// When the writer signs checkpoints, and with what.
pub struct Sealing {
    /// The signing key.
    pub signer: Signer,
    /// The checkpoint log outside the database, when one is kept.
    pub log: Option<CheckpointLog>,
    /// Sign a head once this many entries were appended since its last checkpoint.
    pub every: u64,
    /// ... or once this much time passed since then.
    pub interval: Duration,
    /// Where every committed batch of checkpoints is also handed, for delivery to a witness
    /// outside the server (see `webhooks::run_witness`).
    pub witness: Option<tokio::sync::mpsc::UnboundedSender<Vec<Checkpoint>>>,
}

impl std::fmt::Debug for Sealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealing")
            .field("signer", &self.signer)
            .field("every", &self.every)
            .field("interval", &self.interval)
            .field("witness", &self.witness.is_some())
            .finish_non_exhaustive()
    }
}

/// Which heads a batch signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seal {
    /// Those of the batch's organisations that are due by count or time.
    Due,
    /// Every head with unsigned entries whose checkpoint is due by time.
    Idle,
    /// Every head, for this reason (startup, shutdown).
    All(Reason),
}

/// The writer's checkpointing state.
pub(super) struct Sealer {
    sealing: Sealing,
    /// org → (last checkpoint number, its digest, entry it covers, when).
    last: HashMap<i64, (i64, [u8; 32], i64, Instant)>,
    /// Signed in the current batch, appended to the log once it committed.
    signed: Vec<Checkpoint>,
}

impl Sealer {
    pub(super) fn new(sealing: Sealing, last: HashMap<i64, Checkpoint>) -> Self {
        let at = Instant::now();
        let last = last
            .into_iter()
            .map(|(org, c)| (org, (c.n, c.digest(), c.seq, at)))
            .collect();
        Self {
            sealing,
            last,
            signed: Vec::new(),
        }
    }

    fn seal(
        &mut self,
        tx: &Transaction<'_>,
        heads: &Heads,
        orgs: &[i64],
        mode: Seal,
    ) -> Result<()> {
        let all: Vec<i64>;
        let orgs = match mode {
            Seal::Due => orgs,
            Seal::Idle | Seal::All(_) => {
                all = heads.keys().copied().collect();
                &all
            }
        };
        for org in orgs {
            let Some(&(seq, hash)) = heads.get(org) else {
                continue;
            };
            let (n, prev, signed_seq, at) = self.last.get(org).copied().unwrap_or((
                0,
                [0u8; 32],
                0,
                Instant::now() - self.sealing.interval,
            ));
            let pending = u64::try_from(seq - signed_seq).unwrap_or(0);
            let reason = match mode {
                Seal::All(r) => r,
                Seal::Due if pending >= self.sealing.every => Reason::Periodic,
                Seal::Due | Seal::Idle if pending > 0 && at.elapsed() >= self.sealing.interval => {
                    Reason::Periodic
                }
                _ => continue,
            };
            let c = self.sealing.signer.sign(
                *org,
                n + 1,
                (seq, hash),
                now().to_rfc3339(),
                reason,
                prev,
            );
            integrity::insert_checkpoint(tx, &c)?;
            self.last
                .insert(*org, (c.n, c.digest(), seq, Instant::now()));
            self.signed.push(c);
        }
        Ok(())
    }

    /// After the commit: publish what was signed.
    fn publish(&mut self) {
        if self.signed.is_empty() {
            return;
        }
        if let Some(log) = &mut self.sealing.log
            && let Err(e) = log.append(&self.signed)
        {
            tracing::error!(error = %e, log = %log.path().display(),
                "could not append to the checkpoint log");
        }
        if let Some(w) = &self.sealing.witness
            && w.send(self.signed.clone()).is_err()
        {
            tracing::warn!("the checkpoint witness stopped: checkpoints not delivered");
        }
        self.signed.clear();
    }
}

/// The writer thread's loop: batches until closed; drains what is queued before stopping.
/// With a [`Sealer`], it signs every head at start and at close, and each head every N
/// entries or T seconds.
pub(super) fn writer_loop(
    mut conn: Connection,
    mut heads: Heads,
    mut sealer: Option<Sealer>,
    mut rx: mpsc::Receiver<Msg>,
) {
    if sealer.is_some() {
        run_batch(
            &mut conn,
            &mut heads,
            &mut sealer,
            Vec::new(),
            Seal::All(Reason::Startup),
        );
    }
    let mut closing: Option<oneshot::Sender<()>> = None;
    while closing.is_none() {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut batch: Vec<Box<dyn Job>> = Vec::new();
        let mut idle = false;
        match first {
            Msg::Job(j) => batch.push(j),
            Msg::Seal => idle = true,
            Msg::Close(done) => closing = Some(done),
        }
        while closing.is_none() && batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Job(j)) => batch.push(j),
                Ok(Msg::Seal) => idle = true,
                Ok(Msg::Close(done)) => closing = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            run_batch(&mut conn, &mut heads, &mut sealer, batch, Seal::Due);
        } else if idle && sealer.is_some() {
            run_batch(&mut conn, &mut heads, &mut sealer, batch, Seal::Idle);
        }
    }
    // Drain anything still queued so no acknowledged-to-be write is silently dropped.
    rx.close();
    let mut rest: Vec<Box<dyn Job>> = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        if let Msg::Job(j) = msg {
            rest.push(j);
        }
    }
    if !rest.is_empty() {
        run_batch(&mut conn, &mut heads, &mut sealer, rest, Seal::Due);
    }
    if sealer.is_some() {
        run_batch(
            &mut conn,
            &mut heads,
            &mut sealer,
            Vec::new(),
            Seal::All(Reason::Shutdown),
        );
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

fn run_batch(
    conn: &mut Connection,
    heads: &mut Heads,
    sealer: &mut Option<Sealer>,
    mut batch: Vec<Box<dyn Job>>,
    seal: Seal,
) {
    let saved = heads.clone();
    let saved_seals = sealer.as_ref().map(|s| s.last.clone());
    let outcome = (|| -> Result<()> {
        let tx = conn.transaction()?;
        let mut touched: Vec<(i64, String)> = Vec::new();
        for job in &mut batch {
            // Prepared once per connection (cached): no SQL parsing per operation.
            tx.prepare_cached("SAVEPOINT op")?.execute([])?;
            let before = heads.clone();
            let appended = touched.len();
            let mut w = Writer {
                tx: &tx,
                heads,
                touched: &mut touched,
            };
            if !job.apply(&mut w) {
                *heads = before;
                touched.truncate(appended);
                tx.prepare_cached("ROLLBACK TO op")?.execute([])?;
            }
            tx.prepare_cached("RELEASE op")?.execute([])?;
        }
        // The head's `updated_at` is the time of the entry it names (verification compares).
        let mut last_ts: HashMap<i64, String> = HashMap::new();
        for (org, ts) in touched {
            last_ts.insert(org, ts);
        }
        let mut touched: Vec<i64> = last_ts.keys().copied().collect();
        touched.sort_unstable();
        for &org in &touched {
            let at = &last_ts[&org];
            if let Some((seq, hash)) = heads.get(&org) {
                tx.prepare_cached(
                    "INSERT INTO audit_heads (org_id, seq, hash, updated_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT(org_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
                     updated_at = excluded.updated_at",
                )?
                .execute(params![org, seq, hex::encode(hash), at])?;
            }
        }
        if let Some(s) = sealer.as_mut() {
            s.seal(&tx, heads, &touched, seal)?;
        }
        tx.commit()?;
        Ok(())
    })();
    match outcome {
        Ok(()) => {
            if let Some(s) = sealer.as_mut() {
                s.publish();
            }
            for job in batch {
                job.finish(None);
            }
        }
        Err(e) => {
            *heads = saved;
            if let (Some(s), Some(last)) = (sealer.as_mut(), saved_seals) {
                s.last = last;
                s.signed.clear();
            }
            tracing::error!(error = %e, "batch commit failed");
            let msg = e.to_string();
            for job in batch {
                job.finish(Some(&msg));
            }
        }
    }
}
