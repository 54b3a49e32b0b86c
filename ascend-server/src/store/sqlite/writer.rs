//! The writer thread and group commit.
//!
//! Every write method of the store becomes one [`Job`]: a closure run inside the writer's
//! transaction, with a typed reply channel. The writer takes every queued job (up to a batch
//! limit), applies each inside a savepoint (so one failing job does not undo the others), appends
//! their audit entries to the hash chains, checkpoints the chain heads, commits, and only then
//! answers each waiting caller. One commit (one WAL append, and one fsync with
//! `synchronous=FULL`) serves the whole batch.

use std::collections::HashMap;

use rusqlite::{Connection, Transaction, params};
use tokio::sync::{mpsc, oneshot};

use crate::audit::chain::{GENESIS, entry_hash};
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
    touched: &'a mut Vec<i64>,
}

impl Writer<'_, '_> {
    /// Append an entry to its organisation's chain.
    pub(super) fn append(&mut self, draft: &AuditDraft) -> Result<()> {
        let (seq, prev) = self
            .heads
            .get(&draft.org_id)
            .map(|(s, h)| (*s + 1, *h))
            .unwrap_or((1, GENESIS));
        let payload = serde_json::to_string(&draft.payload)?;
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
                "INSERT INTO audit_log (org_id, seq, ts, kind, actor, subject, payload, prev_hash, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                draft.org_id,
                seq,
                ts,
                kind,
                draft.actor,
                draft.subject,
                payload,
                hex::encode(prev),
                hex::encode(hash)
            ])?;
        self.heads.insert(draft.org_id, (seq, hash));
        self.touched.push(draft.org_id);
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
    /// Commit what is queued, then stop.
    Close(oneshot::Sender<()>),
}

/// The writer thread's loop: batches until closed; drains what is queued before stopping.
pub(super) fn writer_loop(mut conn: Connection, mut heads: Heads, mut rx: mpsc::Receiver<Msg>) {
    let mut closing: Option<oneshot::Sender<()>> = None;
    while closing.is_none() {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut batch: Vec<Box<dyn Job>> = Vec::new();
        match first {
            Msg::Job(j) => batch.push(j),
            Msg::Close(done) => closing = Some(done),
        }
        while closing.is_none() && batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Job(j)) => batch.push(j),
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
    let mut rest: Vec<Box<dyn Job>> = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        if let Msg::Job(j) = msg {
            rest.push(j);
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

fn run_batch(conn: &mut Connection, heads: &mut Heads, mut batch: Vec<Box<dyn Job>>) {
    let saved = heads.clone();
    let outcome = (|| -> Result<()> {
        let tx = conn.transaction()?;
        let mut touched: Vec<i64> = Vec::new();
        for job in &mut batch {
            // Prepared once per connection (cached): no SQL parsing per operation.
            tx.prepare_cached("SAVEPOINT op")?.execute([])?;
            let before = heads.clone();
            let mut w = Writer {
                tx: &tx,
                heads,
                touched: &mut touched,
            };
            if !job.apply(&mut w) {
                *heads = before;
                tx.prepare_cached("ROLLBACK TO op")?.execute([])?;
            }
            tx.prepare_cached("RELEASE op")?.execute([])?;
        }
        touched.sort_unstable();
        touched.dedup();
        let at = now();
        for org in touched {
            if let Some((seq, hash)) = heads.get(&org) {
                tx.prepare_cached(
                    "INSERT INTO audit_heads (org_id, seq, hash, updated_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT(org_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
                     updated_at = excluded.updated_at",
                )?
                .execute(params![org, seq, hex::encode(hash), at])?;
            }
        }
        tx.commit()?;
        Ok(())
    })();
    match outcome {
        Ok(()) => {
            for job in batch {
                job.finish(None);
            }
        }
        Err(e) => {
            *heads = saved;
            tracing::error!(error = %e, "batch commit failed");
            let msg = e.to_string();
            for job in batch {
                job.finish(Some(&msg));
            }
        }
    }
}
