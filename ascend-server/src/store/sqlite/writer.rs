//! Group commit: on the caller's thread when nobody else is committing, else on the writer
//! thread ([`Committer`]).
//!
//! Every write method of the store becomes one [`Job`]: a closure run inside the writer's
//! transaction, with a typed reply channel. A batch applies each job inside a savepoint (so one
//! failing job does not undo the others), appends their audit entries to the hash chains,
//! checkpoints the chain heads, commits, and only then answers each waiting caller. One commit
//! (one WAL append, and one fsync with `synchronous=FULL`) serves the whole batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, params};
use tokio::sync::oneshot;

use super::{codec, integrity};
use crate::audit::chain::{GENESIS, entry_hash};
use crate::audit::checkpoint::{Checkpoint, CheckpointLog, Reason, Signer};
use crate::error::{Error, Result};
use crate::model::{AuditDraft, AuditKind, now};

/// The chain head of each organisation: (last seq, last hash).
pub(super) type Heads = HashMap<i64, (i64, [u8; 32])>;

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
        self.append_rendered(Rendered::new(draft)?, None)
    }

    /// Append the entry of a change to action `action_id` (already written in this
    /// transaction): its payload also records `row_sha256`, the digest of the action's row as
    /// stored now, so verification can tell any later edit of the row.
    pub(super) fn append_action(&mut self, draft: &AuditDraft, action_id: i64) -> Result<()> {
        self.append_action_rendered(Rendered::new(draft)?, action_id)
    }

    /// [`Writer::append_action`] of an entry rendered beforehand (on the caller's thread).
    pub(super) fn append_action_rendered(&mut self, entry: Rendered, action_id: i64) -> Result<()> {
        let digest = integrity::action_row_digest(self.tx, entry.org_id, action_id)?;
        self.append_rendered(entry, digest.as_deref())
    }

    fn append_rendered(&mut self, entry: Rendered, row_sha256: Option<&str>) -> Result<()> {
        let Rendered {
            org_id,
            kind,
            actor,
            subject,
            mut payload,
            ts,
        } = entry;
        let (seq, prev) = self
            .heads
            .get(&org_id)
            .map(|(s, h)| (*s + 1, *h))
            .unwrap_or((1, GENESIS));
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
        let kind = kind.as_str();
        let hash = entry_hash(org_id, seq, &ts, kind, &actor, &subject, &payload, &prev);
        self.tx
            .prepare_cached(
                "INSERT INTO audit_log (org_id, seq, ts, kind, actor, subject, payload, hash, link) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                org_id,
                seq,
                codec::ts_value(&ts),
                codec::kind_value(kind),
                actor,
                subject,
                payload,
                &hash[..],
                codec::link_tag(&prev)
            ])?;
        self.heads.insert(org_id, (seq, hash));
        self.touched.push((org_id, ts));
        Ok(())
    }
}

/// An audit entry with its payload and time rendered as text: done on the caller's thread for
/// the hot writes, so the writer (which every commit waits on) only hashes and inserts.
pub(super) struct Rendered {
    org_id: i64,
    kind: AuditKind,
    actor: String,
    subject: String,
    payload: String,
    ts: String,
}

impl Rendered {
    pub(super) fn new(draft: &AuditDraft) -> Result<Self> {
        Ok(Self {
            org_id: draft.org_id,
            kind: draft.kind,
            actor: draft.actor.clone(),
            subject: draft.subject.clone(),
            payload: serde_json::to_string(&draft.payload)?,
            ts: draft.ts.to_rfc3339(),
        })
    }

    /// Render an owned draft (moves its strings).
    pub(super) fn from_draft(draft: AuditDraft) -> Result<Self> {
        Ok(Self {
            payload: serde_json::to_string(&draft.payload)?,
            ts: draft.ts.to_rfc3339(),
            org_id: draft.org_id,
            kind: draft.kind,
            actor: draft.actor,
            subject: draft.subject,
        })
    }
}

/// One queued write.
pub(super) trait Job: Send {
    /// Run inside the transaction; false when it failed (its savepoint is rolled back).
    fn apply(&mut self, w: &mut Writer<'_, '_>) -> bool;
    /// Answer the caller: its result, or `commit_error` when the batch did not commit.
    fn finish(self: Box<Self>, commit_error: Option<&str>);
    /// Nobody waits for this job: it commits with the next batch (see [`Committer::defer`]).
    fn deferred(&self) -> bool {
        false
    }
}

/// A [`Job`] nobody waits for: its failure is logged.
pub(super) struct Deferred<F> {
    f: Option<F>,
    what: &'static str,
    failed: Option<String>,
}

impl<F> Deferred<F>
where
    F: for<'a, 'c> FnOnce(&mut Writer<'a, 'c>) -> Result<()> + Send,
{
    pub(super) fn new(what: &'static str, f: F) -> Self {
        Self {
            f: Some(f),
            what,
            failed: None,
        }
    }
}

impl<F> Job for Deferred<F>
where
    F: for<'a, 'c> FnOnce(&mut Writer<'a, 'c>) -> Result<()> + Send,
{
    fn apply(&mut self, w: &mut Writer<'_, '_>) -> bool {
        let r = self.f.take().map_or(Ok(()), |f| f(w));
        self.failed = r.err().map(|e| e.to_string());
        self.failed.is_none()
    }

    fn finish(self: Box<Self>, commit_error: Option<&str>) {
        match (commit_error, self.failed) {
            (Some(e), _) => tracing::error!(error = %e, "{} lost: commit failed", self.what),
            (None, Some(e)) => tracing::warn!(error = %e, "{} refused", self.what),
            (None, None) => {}
        }
    }

    fn deferred(&self) -> bool {
        true
    }
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

/// What the writer owns: the connection, the chain heads and the checkpoint sealer. Whoever
/// commits a batch holds it: a caller on its own thread (the fast path) or the writer thread.
pub(super) struct WriterState {
    conn: Connection,
    heads: Heads,
    sealer: Option<Sealer>,
}

/// Jobs waiting for a commit, and what the writer thread is asked to do besides.
#[derive(Default)]
struct Queue {
    jobs: Vec<Box<dyn Job>>,
    /// Sign the heads whose checkpoint is due by time (set by a timer).
    seal_idle: bool,
    /// Refuse new jobs; the writer thread commits what is queued, seals and stops.
    closing: bool,
    /// The writer thread was rung and has not gone back to sleep: it is working off a backlog,
    /// so new jobs join its next batch rather than commit on their own.
    writer_awake: bool,
}

/// Group commit with a fast path.
///
/// A caller that finds nobody committing commits its own job (and whatever queued) on its own
/// thread: at low concurrency a decision costs no thread hand-off at all. A caller that finds a
/// commit under way queues its job and rings the writer thread, which takes every queued job
/// once the commit in progress ends and commits them together: at high concurrency one commit
/// serves the whole batch. The fast path is taken only when commits do not `fsync`
/// (`Durability::Normal`); with `Full` every commit runs on the writer thread, so an async
/// worker never waits on the disk.
pub(super) struct Committer {
    queue: Mutex<Queue>,
    bell: Condvar,
    state: Mutex<WriterState>,
    inline: bool,
    /// Jobs handed over and not yet answered, deferred ones excepted: a caller commits on its
    /// own thread only when it is alone.
    waiting: AtomicUsize,
    /// Waited-for jobs in the last batch. Under load callers arrive in waves (a batch answers
    /// many at once); the first of a wave is briefly alone, but committing it on its own would
    /// cost a whole commit for one job, so the fast path is kept for when batches are of one.
    last_batch: AtomicUsize,
}

const STOPPED: &str = "writer stopped";

impl Committer {
    /// The committer over `conn`; with a sealer, every head is signed now (startup).
    pub(super) fn new(
        conn: Connection,
        heads: Heads,
        sealer: Option<Sealer>,
        inline: bool,
    ) -> Arc<Self> {
        let mut state = WriterState {
            conn,
            heads,
            sealer,
        };
        if state.sealer.is_some() {
            run_batch(&mut state, Vec::new(), Seal::All(Reason::Startup));
        }
        Arc::new(Self {
            queue: Mutex::new(Queue::default()),
            bell: Condvar::new(),
            state: Mutex::new(state),
            inline,
            waiting: AtomicUsize::new(0),
            last_batch: AtomicUsize::new(0),
        })
    }

    /// Hand a job over: committed here when the caller is alone (nobody else waiting for a
    /// commit, the writer thread asleep, the last batch one job), else queued for the writer
    /// thread. The job's reply
    /// says when (and whether) it committed.
    pub(super) fn submit(&self, job: Box<dyn Job>) -> Result<()> {
        let alone = self.waiting.fetch_add(1, Ordering::AcqRel) == 0;
        let r = self.hand_over(job, alone);
        if r.is_err() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
        r
    }

    /// Queue a job nobody waits for: it commits with the next batch (a caller's or the writer
    /// thread's), at the latest when the checkpointer next rings ([`Committer::ring_deferred`])
    /// or at close. For reports whose sender does not wait (an in-process agent's outcome).
    pub(super) fn defer(&self, job: Box<dyn Job>) -> Result<()> {
        let mut q = self.lock_queue()?;
        if q.closing {
            return Err(Error::StoreUnavailable(STOPPED.into()));
        }
        q.jobs.push(job);
        Ok(())
    }

    fn hand_over(&self, job: Box<dyn Job>, alone: bool) -> Result<()> {
        let mut job = Some(job);
        if self.inline
            && alone
            && self.last_batch.load(Ordering::Acquire) <= 1
            && let Ok(mut state) = self.state.try_lock()
        {
            let mut q = self.lock_queue()?;
            if q.closing {
                return Err(Error::StoreUnavailable(STOPPED.into()));
            }
            if !q.writer_awake {
                let mut batch = std::mem::take(&mut q.jobs);
                drop(q);
                batch.extend(job.take());
                self.commit(&mut state, batch, Seal::Due);
                return Ok(());
            }
        }
        let mut q = self.lock_queue()?;
        if q.closing {
            return Err(Error::StoreUnavailable(STOPPED.into()));
        }
        q.jobs.extend(job);
        if !std::mem::replace(&mut q.writer_awake, true) {
            drop(q);
            self.bell.notify_one();
        }
        Ok(())
    }

    fn commit(&self, state: &mut WriterState, batch: Vec<Box<dyn Job>>, seal: Seal) {
        let waited = batch.iter().filter(|j| !j.deferred()).count();
        run_batch(state, batch, seal);
        self.waiting.fetch_sub(waited, Ordering::AcqRel);
        if waited > 0 {
            self.last_batch.store(waited, Ordering::Release);
        }
    }

    /// Ring the writer thread when deferred jobs wait (the checkpointer's timer).
    pub(super) fn ring_deferred(&self) {
        let Ok(mut q) = self.queue.lock() else {
            return;
        };
        if !q.jobs.is_empty() && !std::mem::replace(&mut q.writer_awake, true) {
            drop(q);
            self.bell.notify_one();
        }
    }

    /// Ask the writer thread to sign the heads that are due by time.
    pub(super) fn ring_seal(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.seal_idle = true;
            q.writer_awake = true;
        }
        self.bell.notify_one();
    }

    /// Refuse new jobs and let the writer thread commit what is queued and stop.
    pub(super) fn close(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.closing = true;
            q.writer_awake = true;
        }
        self.bell.notify_one();
    }

    /// Jobs waiting for the writer thread.
    pub(super) fn queued(&self) -> usize {
        self.queue.lock().map(|q| q.jobs.len()).unwrap_or(0)
    }

    fn lock_queue(&self) -> Result<std::sync::MutexGuard<'_, Queue>> {
        self.queue
            .lock()
            .map_err(|_| Error::StoreUnavailable("writer queue poisoned".into()))
    }

    /// The writer thread: commits what callers queued, in batches, until closed; then commits
    /// what is still queued, signs every head (shutdown) and checkpoints the WAL.
    pub(super) fn writer_loop(&self) {
        loop {
            let Ok(mut q) = self.queue.lock() else {
                return;
            };
            while q.jobs.is_empty() && !q.seal_idle && !q.closing {
                q.writer_awake = false;
                q = match self.bell.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
            drop(q);
            // Wait for a commit on a caller's thread to end, then take everything queued.
            let Ok(mut state) = self.state.lock() else {
                self.fail_queued("the writer panicked");
                return;
            };
            let Ok(mut q) = self.queue.lock() else {
                return;
            };
            let batch = std::mem::take(&mut q.jobs);
            let idle = std::mem::take(&mut q.seal_idle);
            let closing = q.closing;
            drop(q);
            if !batch.is_empty() {
                self.commit(&mut state, batch, Seal::Due);
            } else if idle && state.sealer.is_some() {
                run_batch(&mut state, batch, Seal::Idle);
            }
            if closing {
                // `closing` refuses new jobs: anything queued meanwhile is the last of them.
                let rest = self
                    .queue
                    .lock()
                    .map(|mut q| std::mem::take(&mut q.jobs))
                    .unwrap_or_default();
                if !rest.is_empty() {
                    self.commit(&mut state, rest, Seal::Due);
                }
                if state.sealer.is_some() {
                    run_batch(&mut state, Vec::new(), Seal::All(Reason::Shutdown));
                }
                let _ = state.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
                return;
            }
        }
    }

    fn fail_queued(&self, why: &str) {
        let jobs = self
            .queue
            .lock()
            .map(|mut q| {
                q.closing = true;
                std::mem::take(&mut q.jobs)
            })
            .unwrap_or_default();
        for job in jobs {
            job.finish(Some(why));
        }
    }
}

fn run_batch(state: &mut WriterState, mut batch: Vec<Box<dyn Job>>, seal: Seal) {
    let WriterState {
        conn,
        heads,
        sealer,
    } = state;
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
