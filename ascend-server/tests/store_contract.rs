//! The store contract: what every [`Store`] must do, run once per backend — the embedded SQLite
//! store on a real file (`sqlite::…`) and the PostgreSQL store on a fresh database of a real
//! server (`pg::…`; see `common/pg.rs` for where that server comes from, and for when the PG
//! variants are skipped). `pg_replicas::…` adds what only the PostgreSQL store promises: several
//! stores (server replicas) on one database.
//!
//! Each contract is one `async fn xxx(db: Db)`; the `contracts!` macro makes a test of it per
//! backend. The records are built the way the governance service builds them (its audit
//! [`Event`]s, [`approvals::apply_vote`], [`approvals::expire`]).
//!
//! Run: `cargo test -p ascend-server --test store_contract` (with `ASCEND_PG_URL` or the
//! PostgreSQL binaries installed for the `pg::` half; `-- sqlite::` or `-- pg::` for one).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ascend_runtime::wire::DecisionBody;
use ascend_runtime::{Decision, RiskFactor, RiskLevel};
use ascend_server::Error;
use ascend_server::approvals::{self, People};
use ascend_server::audit::Event;
use ascend_server::audit::chain::{entry_hash, parse_hash};
use ascend_server::audit::event::Decided;
use ascend_server::model::{
    ActionFilter, ActionOutcome, ActionRecord, ActionState, AgentRecord, ApiKeyRecord,
    ApprovalState, AuditDraft, AuditEntry, AuditKind, ChainHead, DeliveryAttempt, Durability,
    KillSwitchRecord, McpServerRecord, NewAction, Role, Timestamp, Vote, Webhook, now,
};
use ascend_server::store::sqlite::SqliteStore;
use ascend_server::store::{OutcomeWrite, Store};
use serde_json::{Value, json};

/// Longest a contract may take: a store that hangs fails instead of stalling the suite.
const LIMIT: Duration = Duration::from_secs(120);
/// Longest one write may take after `close` (it must fail, not hang).
const PROMPT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Backends

/// One store on a fresh database, and how to open another on the same database.
struct Db {
    store: Arc<dyn Store>,
    place: Place,
}

enum Place {
    Sqlite(tempfile::TempDir),
    Pg(String),
}

impl Db {
    fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("temp dir");
        Db {
            store: open_sqlite(dir.path()),
            place: Place::Sqlite(dir),
        }
    }

    async fn pg() -> Option<Db> {
        let url = common::pg::database()?;
        Some(Db {
            store: open_pg(&url).await,
            place: Place::Pg(url),
        })
    }

    /// Another store on the same database (a restart; for PostgreSQL also a second replica).
    /// SQLite: close the first store before (one writer per file).
    async fn reopen(&self) -> Arc<dyn Store> {
        match &self.place {
            Place::Sqlite(dir) => open_sqlite(dir.path()),
            Place::Pg(url) => open_pg(url).await,
        }
    }
}

fn open_sqlite(dir: &Path) -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open(&dir.join("ascend.db"), Durability::Normal).expect("SQLite store opens"),
    )
}

async fn open_pg(url: &str) -> Arc<dyn Store> {
    ascend_server::store::postgres::open_store(url)
        .await
        .unwrap_or_else(|e| panic!("the PostgreSQL store opens on {url}: {e}"))
}

async fn within<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("the contract finished within the time limit (a store call hangs?)");
}

/// One test per backend for each contract.
macro_rules! contracts {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::within(super::$name(super::Db::sqlite())).await;
                }
            )*
        }
        mod pg {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::Db::pg().await else { return };
                    super::within(super::$name(db)).await;
                }
            )*
        }
    };
}

contracts!(
    ensure_org_is_idempotent,
    keys_are_stored_and_revoked_once,
    actions_round_trip,
    unusual_text_round_trips,
    action_ids_never_repeat,
    idempotency_keys_are_unique_per_organisation,
    update_action_writes_only_what_the_closure_returns,
    concurrent_votes_are_not_lost,
    audit_chain_holds_under_concurrent_writes,
    outcome_checks_run_against_the_stored_action,
    deferred_outcomes_are_committed_by_close,
    kill_switches_and_agents_are_upserted,
    mcp_servers_keep_id_and_creation_on_update,
    webhooks_crud_and_deliveries,
    list_actions_filters_counts_and_orders,
    expired_pending_lists_only_overdue_pending_actions,
    ready_and_close,
);

// ---------------------------------------------------------------------------------------------
// Records, built as the governance service builds them

const EPOCH: &str = "1970-01-01T00:00:00.000000Z";

async fn org(s: &dyn Store, name: &str) -> i64 {
    s.ensure_org(name.to_owned(), now())
        .await
        .expect("ensure_org")
}

fn hour() -> Duration {
    Duration::from_secs(3600)
}

fn body(id: i64, decision: Decision) -> DecisionBody {
    let mut metadata = serde_json::Map::new();
    metadata.insert("environment".into(), json!("production"));
    metadata.insert(
        "mcp_governance".into(),
        json!({"registry_checked": false, "risk_override": null, "nested": {"a": [1, 2.5, "x"]}}),
    );
    let pending = decision == Decision::Pending;
    DecisionBody {
        id,
        action_id: id,
        decision,
        status: decision.as_status_str().to_owned(),
        risk_score: 47.3,
        risk_level: RiskLevel::Medium,
        reason: format!("{} by rule PII-7", decision.as_str()),
        execution_allowed: decision == Decision::Allowed,
        approval_request_id: pending.then(|| id.to_string()),
        required_approvers: if pending {
            vec!["security-team".into()]
        } else {
            Vec::new()
        },
        policy_violations: if decision == Decision::Denied {
            vec!["bulk-delete".into(), "pii-export".into()]
        } else {
            Vec::new()
        },
        conditions: vec!["log-access".into()],
        expires_at: None,
        approved_by: None,
        approved_at: None,
        comments: None,
        rule_id: Some("PII-7".into()),
        rule_name: Some("PII writes need approval".into()),
        cvss_score: 5.4,
        cvss_severity: "MEDIUM".into(),
        cvss_vector: "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:N".into(),
        mitre_tactic: Some("TA0010".into()),
        mitre_technique: Some("T1041".into()),
        mitre_techniques: vec!["T1041".into(), "T1567".into()],
        nist_likelihood: "moderate".into(),
        nist_impact: "moderate".into(),
        nist_risk: "moderate".into(),
        risk_factors: vec![
            RiskFactor {
                name: "pii_involved".into(),
                contribution: 20.25,
                reason: "personal data".into(),
            },
            RiskFactor {
                name: "cvss".into(),
                contribution: 0.1 + 0.2,
                reason: "base score".into(),
            },
        ],
        correlation_id: Some(format!("corr-{id}")),
        metadata,
    }
}

/// A decided action of `agent` in `org`, submitted with key `key-1`; pending ones need two
/// approvals within the hour.
fn new_action(id: i64, org: i64, agent: &str, decision: Decision) -> NewAction {
    let created_at = now();
    let approval = (decision == Decision::Pending).then(|| {
        approvals::new_state(
            2,
            vec!["security-team".into()],
            Some(created_at.plus(hour())),
        )
    });
    let mut body = body(id, decision);
    body.expires_at = approval
        .as_ref()
        .and_then(|a| a.expires_at.map(|t| t.to_rfc3339()));
    NewAction {
        id,
        org_id: org,
        agent_id: agent.to_owned(),
        agent_name: format!("{agent} (billing)"),
        action_type: "database.write".into(),
        resource: "customers".into(),
        resource_id: Some("cust_42".into()),
        request: json!({
            "agent_id": agent, "agent_name": format!("{agent} (billing)"),
            "action_type": "database.write", "resource": "customers", "resource_id": "cust_42",
            "action_details": {"operation": "update", "field": "billing_address", "rows": 1},
            "context": {"ticket": "OPS-1", "tags": ["a", "b"]},
            "risk_indicators": {"pii_involved": true, "data_classification": "pii"}
        }),
        body,
        submitted_key: "key-1".into(),
        idempotency_key: None,
        request_hash: None,
        approval,
        created_at,
    }
}

/// Its `action.decided` entry, as submit builds it.
fn decided(a: &NewAction) -> AuditDraft {
    Event::ActionDecided(Decided {
        body: &a.body,
        request: &a.request,
        environment: "production",
        mcp_tool: None,
        auto_approved: false,
        submitted_key: &a.submitted_key,
    })
    .draft(a.org_id, "billing agent key", a.created_at)
}

async fn insert(s: &dyn Store, a: NewAction) -> NewAction {
    s.insert_action(a.clone(), decided(&a))
        .await
        .unwrap_or_else(|e| panic!("insert_action {}: {e}", a.id));
    a
}

async fn insert_new(s: &dyn Store, org: i64, agent: &str, decision: Decision) -> NewAction {
    insert(
        s,
        new_action(
            s.next_action_id().await.expect("next_action_id"),
            org,
            agent,
            decision,
        ),
    )
    .await
}

/// Every field of a stored action equals what was inserted (nothing changed it since).
fn assert_stored(r: &ActionRecord, a: &NewAction) {
    assert_eq!(r.id, a.id);
    assert_eq!(r.org_id, a.org_id, "org of {}", a.id);
    assert_eq!(r.agent_id, a.agent_id);
    assert_eq!(r.agent_name, a.agent_name);
    assert_eq!(r.action_type, a.action_type);
    assert_eq!(r.resource, a.resource);
    assert_eq!(r.resource_id, a.resource_id);
    assert_eq!(r.request, a.request, "request of {}", a.id);
    assert_eq!(r.body, a.body, "decision body of {}", a.id);
    assert_eq!(r.submitted_key, a.submitted_key);
    assert_eq!(r.approval, a.approval, "approval of {}", a.id);
    assert_eq!(r.outcome, None);
    assert_eq!(r.outcome_detail, None);
    assert_eq!(r.created_at, a.created_at, "created_at of {}", a.id);
    assert_eq!(r.updated_at, a.created_at, "updated_at of {}", a.id);
}

async fn get(s: &dyn Store, org: i64, id: i64) -> ActionRecord {
    s.get_action(org, id)
        .await
        .expect("get_action")
        .unwrap_or_else(|| panic!("action {id} of org {org} is stored"))
}

async fn audit_count(s: &dyn Store, org: i64) -> u64 {
    s.audit_count(org).await.expect("audit_count")
}

/// The chain verifies and holds `entries` entries.
async fn assert_chain(s: &dyn Store, org: i64, entries: u64) {
    let report = s.verify_audit(org).await.expect("verify_audit");
    assert!(report.ok, "chain of org {org}: {}", report.detail);
    assert_eq!(report.entries, entries, "entries verified in org {org}");
    assert_eq!(
        audit_count(s, org).await,
        entries,
        "audit_count of org {org}"
    );
}

/// A reviewer's vote, as the governance service builds it (person `who`).
fn vote(who: &str, approve: bool) -> Vote {
    Vote {
        key_id: format!("key-{who}"),
        approver: format!("{who}'s reviewer key"),
        owner: Some(format!("{who}@example.com")),
        approve,
        comment: Some(format!("{who}: {}", if approve { "ok" } else { "no" })),
        at: now(),
    }
}

/// The update a vote is: applied to the stored action, with its audit entry.
fn vote_update(org: i64, v: Vote) -> ascend_server::store::ActionUpdate {
    Box::new(move |a: &mut ActionRecord| {
        let voter = vec![v.owner.clone().unwrap_or_default()];
        let submitter = vec!["developer@example.com".to_owned()];
        let decided = approvals::apply_vote(
            a,
            v.clone(),
            People {
                voter: &voter,
                submitter: &submitter,
            },
        )?;
        let status = a.body.status.clone();
        Ok(Some(
            Event::Voted {
                action_id: a.id,
                vote: &v,
                status: &status,
                decided,
            }
            .draft(org, &v.approver, v.at),
        ))
    })
}

fn policy_reload(org: i64, n: usize) -> AuditDraft {
    Event::PolicyReloaded {
        dir: "/etc/ascend/policies".into(),
        ok: true,
        policies: n,
        error: None,
    }
    .draft(org, "operator", now())
}

/// An outcome report whose check runs `check` on the stored action's state.
fn outcome_write(
    org: i64,
    id: i64,
    outcome: ActionOutcome,
    detail: Value,
    check: impl FnOnce(&ActionState) -> ascend_server::Result<()> + Send + 'static,
) -> OutcomeWrite {
    let at = now();
    let report = detail.clone();
    OutcomeWrite {
        org_id: org,
        id,
        outcome,
        detail,
        at,
        check: Box::new(move |state| {
            check(state)?;
            Ok(Event::Outcome {
                action_id: id,
                outcome,
                report: &report,
            }
            .draft(org, "billing agent key", at))
        }),
    }
}

fn conflict(e: &Error) -> bool {
    matches!(e, Error::Conflict(_))
}

fn not_found(e: &Error) -> bool {
    matches!(e, Error::NotFound(_))
}

// ---------------------------------------------------------------------------------------------
// Contracts

async fn ensure_org_is_idempotent(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    assert_eq!(org(s, "acme").await, acme, "the same name, the same id");
    let globex = org(s, "globex").await;
    assert_ne!(globex, acme, "another name, another id");
    // Concurrent first calls for one name agree on one organisation.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = Arc::clone(&db.store);
        tasks.push(tokio::spawn(async move { org(&*s, "initech").await }));
    }
    let mut ids = BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.expect("task"));
    }
    assert_eq!(ids.len(), 1, "concurrent ensure_org of one name: {ids:?}");
    let initech = ids.into_iter().next().expect("one id");
    let snap = s.snapshot(EPOCH.into()).await.expect("snapshot");
    for (id, name) in [(acme, "acme"), (globex, "globex"), (initech, "initech")] {
        let found: Vec<_> = snap.orgs.iter().filter(|(_, n)| n == name).collect();
        assert_eq!(
            found,
            [&(id, name.to_owned())],
            "org {name} in the snapshot"
        );
    }
}

async fn keys_are_stored_and_revoked_once(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let globex = org(s, "globex").await;
    let mut hash = [0u8; 32];
    for (i, b) in hash.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ 0xA5; // every byte value class, 0x00 and >= 0x80
    }
    let created = now();
    let reviewer = ApiKeyRecord {
        key_id: "k_rev_1".into(),
        org_id: acme,
        role: Role::Reviewer,
        agent_id: Some("billing-agent".into()),
        key_hash: hash,
        name: "alice's reviewer key".into(),
        owner: "alice@example.com".into(),
        created_by: "bob@example.com".into(),
        created_at: created,
        expires_at: Some(created.plus(hour() * 24 * 30)),
        revoked_at: None,
    };
    let agent = ApiKeyRecord {
        key_id: "k_agent_1".into(),
        org_id: acme,
        role: Role::Agent,
        agent_id: None,
        key_hash: [0xFF; 32],
        name: "fleet".into(),
        owner: "fleet".into(),
        created_by: "system".into(),
        created_at: created,
        expires_at: None,
        revoked_at: None,
    };
    for k in [&reviewer, &agent] {
        let audit = Event::KeyCreated {
            key_id: &k.key_id,
            role: k.role,
            agent_id: k.agent_id.as_deref(),
            name: &k.name,
            owner: &k.owner,
            expires_at: k.expires_at,
            replaces: None,
        }
        .draft(acme, "admin", created);
        s.insert_key(k.clone(), audit).await.expect("insert_key");
    }
    let key_of = |snap: &ascend_server::model::Snapshot, id: &str| -> ApiKeyRecord {
        let found: Vec<_> = snap.keys.iter().filter(|k| k.key_id == id).collect();
        assert_eq!(found.len(), 1, "key {id} once in the snapshot");
        found[0].clone()
    };
    let snap = s.snapshot(EPOCH.into()).await.expect("snapshot");
    for k in [&reviewer, &agent] {
        let got = key_of(&snap, &k.key_id);
        assert_eq!(
            (got.org_id, got.role, &got.agent_id, got.key_hash, &got.name),
            (k.org_id, k.role, &k.agent_id, k.key_hash, &k.name),
            "key {}",
            k.key_id
        );
        assert_eq!(
            (&got.owner, &got.created_by, got.created_at),
            (&k.owner, &k.created_by, k.created_at)
        );
        assert_eq!((got.expires_at, got.revoked_at), (k.expires_at, None));
    }
    assert_chain(s, acme, 2).await;

    let revoke = |org: i64, id: &str, at: Timestamp| {
        let audit = Event::KeyRevoked {
            key_id: id,
            reason: "leaked",
        }
        .draft(org, "admin", at);
        s.revoke_key(org, id.to_owned(), at, audit)
    };
    let r = revoke(globex, "k_rev_1", now()).await;
    assert!(r.as_ref().is_err_and(not_found), "another org's key: {r:?}");
    assert_eq!(
        audit_count(s, globex).await,
        0,
        "a refused revoke writes nothing"
    );
    let at = now();
    revoke(acme, "k_rev_1", at).await.expect("revoke_key");
    let r = revoke(acme, "k_rev_1", now()).await;
    assert!(r.as_ref().is_err_and(not_found), "revoked twice: {r:?}");
    let r = revoke(acme, "k_nope", now()).await;
    assert!(r.as_ref().is_err_and(not_found), "unknown key: {r:?}");
    let snap = s.snapshot(EPOCH.into()).await.expect("snapshot");
    assert_eq!(key_of(&snap, "k_rev_1").revoked_at, Some(at));
    assert_eq!(key_of(&snap, "k_agent_1").revoked_at, None);
    assert_chain(s, acme, 3).await;
}

async fn actions_round_trip(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let globex = org(s, "globex").await;
    let allowed = insert_new(s, acme, "billing-agent", Decision::Allowed).await;
    let denied = insert_new(s, acme, "billing-agent", Decision::Denied).await;
    // (Votes in a stored approval state round-trip through update_action: a fresh action has
    // none, and verification replays votes from the audit trail.)
    let mut pending = new_action(
        s.next_action_id().await.expect("next_action_id"),
        acme,
        "ops-agent",
        Decision::Pending,
    );
    pending.resource_id = None;
    pending.idempotency_key = Some("idem:order-7".into());
    pending.request_hash = Some("ab".repeat(32));
    let pending = insert(s, pending).await;
    for a in [&allowed, &denied, &pending] {
        assert_stored(&get(s, acme, a.id).await, a);
        assert!(
            s.get_action(globex, a.id)
                .await
                .expect("get_action")
                .is_none(),
            "action {} is not another organisation's",
            a.id
        );
    }
    assert!(s.get_action(acme, -5).await.expect("get_action").is_none());
    assert_chain(s, acme, 3).await;
}

async fn unusual_text_round_trips(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    // What agents may send in free-form fields: quotes, backslashes, non-ASCII, emoji,
    // control characters (NUL included: valid JSON, and kept by the redaction), deep
    // nesting, large and negative numbers.
    let odd = "quote \" backslash \\ tab \t newline \n nul \u{0} del \u{7f} é ü 日本 🦀 \u{202e}";
    let mut a = new_action(
        s.next_action_id().await.expect("next_action_id"),
        acme,
        "billing-agent",
        Decision::Allowed,
    );
    a.request["action_details"] = json!({
        "text": odd, "empty": "", "null": null, "big": 9_007_199_254_740_993_i64,
        "neg": -1.5e-7, "deep": {"a": {"b": {"c": [[[], {}], [odd]]}}}, odd: odd
    });
    a.body.reason = odd.to_owned();
    a.body.metadata.insert(odd.to_owned(), json!(odd));
    let a = insert(s, a).await;
    assert_stored(&get(s, acme, a.id).await, &a);
    let report = json!({"stdout": odd, "exit": 0});
    s.record_outcome(outcome_write(
        acme,
        a.id,
        ActionOutcome::Completed,
        report.clone(),
        |_| Ok(()),
    ))
    .await
    .expect("record_outcome");
    assert_eq!(get(s, acme, a.id).await.outcome_detail, Some(report));
    // The same text in an audit entry with no action: the chain still verifies.
    let mut draft = policy_reload(acme, 1);
    draft.payload = json!({"note": odd});
    draft.actor = "operator é🦀".into();
    s.append_audit(draft.clone()).await.expect("append_audit");
    let entries = s.audit_entries(acme, 0, 10).await.expect("audit_entries");
    let last = entries.last().expect("an entry");
    assert_eq!(last.actor, draft.actor);
    assert_eq!(
        serde_json::from_str::<Value>(&last.payload).expect("payload is JSON"),
        draft.payload
    );
    assert_chain(s, acme, 3).await;
}

/// `n` ids as fast as the store hands them out (a burst larger than any block a store keeps
/// in reserve: it must wait for more, never fail).
async fn id_burst(s: Arc<dyn Store>, n: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(s.next_action_id().await.expect("next_action_id"));
    }
    ids
}

async fn action_ids_never_repeat(db: Db) {
    let mut handed = BTreeSet::new();
    let tasks: Vec<_> = (0..4)
        .map(|_| tokio::spawn(id_burst(Arc::clone(&db.store), 500)))
        .collect();
    for t in tasks {
        for id in t.await.expect("task") {
            assert!(id > 0, "ids are positive (the Python SDK needs it): {id}");
            assert!(handed.insert(id), "id {id} handed out twice");
        }
    }
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let last = *handed.last().expect("ids");
    let first = *handed.first().expect("ids");
    for id in [first, last] {
        insert(s, new_action(id, acme, "billing-agent", Decision::Allowed)).await;
    }
    s.close().await.expect("close");
    let s = db.reopen().await;
    for _ in 0..200 {
        let id = s.next_action_id().await.expect("next_action_id");
        assert!(
            !handed.contains(&id),
            "id {id} handed out again after a restart"
        );
        handed.insert(id);
    }
    let a = insert(
        &*s,
        new_action(
            s.next_action_id().await.expect("next_action_id"),
            acme,
            "b",
            Decision::Allowed,
        ),
    )
    .await;
    assert_stored(&get(&*s, acme, a.id).await, &a);
    get(&*s, acme, last).await;
}

async fn idempotency_keys_are_unique_per_organisation(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let globex = org(s, "globex").await;
    let key = "idem:order-1";
    let with_key = async |org: i64, key: &str, hash: Option<&str>| {
        let mut a = new_action(
            s.next_action_id().await.expect("next_action_id"),
            org,
            "billing-agent",
            Decision::Allowed,
        );
        a.idempotency_key = Some(key.to_owned());
        a.request_hash = hash.map(str::to_owned);
        a
    };
    let first = insert(s, with_key(acme, key, Some(&"a1".repeat(32))).await).await;
    let again = with_key(acme, key, Some(&"b2".repeat(32))).await;
    let r = s.insert_action(again.clone(), decided(&again)).await;
    assert!(r.as_ref().is_err_and(conflict), "same org, same key: {r:?}");
    assert!(
        s.get_action(acme, again.id).await.expect("get").is_none(),
        "nothing of the refused action is written"
    );
    assert_chain(s, acme, 1).await;
    let other = insert(s, with_key(globex, key, Some(&"c3".repeat(32))).await).await;
    let no_hash = insert(s, with_key(acme, "corr:req-9", None).await).await;

    let (hash, found) = s
        .get_action_by_idempotency_key(acme, key.into())
        .await
        .expect("by key")
        .expect("the first action");
    assert_eq!(hash, "a1".repeat(32));
    assert_stored(&found, &first);
    let (hash, found) = s
        .get_action_by_idempotency_key(globex, key.into())
        .await
        .expect("by key")
        .expect("the other org's action");
    assert_eq!((hash, found.id), ("c3".repeat(32), other.id));
    let (hash, found) = s
        .get_action_by_idempotency_key(acme, "corr:req-9".into())
        .await
        .expect("by key")
        .expect("the action without a hash");
    assert_eq!((hash.as_str(), found.id), ("", no_hash.id));
    assert!(
        s.get_action_by_idempotency_key(acme, "idem:unknown".into())
            .await
            .expect("by key")
            .is_none()
    );

    // Concurrent submits with one key: one wins, the rest are refused and write nothing.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let st = Arc::clone(&db.store);
        let mut a = new_action(
            st.next_action_id().await.expect("next_action_id"),
            acme,
            "racer",
            Decision::Allowed,
        );
        a.idempotency_key = Some("idem:race".into());
        a.request_hash = Some(format!("{:064x}", a.id));
        tasks.push(tokio::spawn(async move {
            let r = st.insert_action(a.clone(), decided(&a)).await;
            (a.id, r)
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        let (id, r) = t.await.expect("task");
        match r {
            Ok(()) => won.push(id),
            Err(e) => assert!(conflict(&e), "a losing submit is a conflict: {e}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one of the racing submits is stored");
    let (_, found) = s
        .get_action_by_idempotency_key(acme, "idem:race".into())
        .await
        .expect("by key")
        .expect("the winner");
    assert_eq!(found.id, won[0]);
    assert_chain(s, acme, 3).await;

    let snap = s.snapshot(EPOCH.into()).await.expect("snapshot");
    for expected in [
        (acme, key.to_owned(), "a1".repeat(32), first.id),
        (globex, key.to_owned(), "c3".repeat(32), other.id),
        (acme, "corr:req-9".to_owned(), String::new(), no_hash.id),
    ] {
        assert!(
            snap.idempotency.contains(&expected),
            "{expected:?} in {:?}",
            snap.idempotency
        );
    }
    assert!(!snap.idempotency.iter().any(|(_, _, _, id)| *id == again.id));
    let later = now().plus(hour()).to_rfc3339();
    let snap = s.snapshot(later).await.expect("snapshot");
    assert!(
        snap.idempotency.is_empty(),
        "only keys of actions created since the given time: {:?}",
        snap.idempotency
    );
}

async fn update_action_writes_only_what_the_closure_returns(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let globex = org(s, "globex").await;
    let a = insert_new(s, acme, "billing-agent", Decision::Pending).await;

    // Ok(None): nothing is written, even what the closure changed in its copy.
    let r = s
        .update_action(
            acme,
            a.id,
            Box::new(|rec| {
                rec.body.reason = "changed in the closure".into();
                rec.approval = None;
                Ok(None)
            }),
        )
        .await;
    assert!(matches!(r, Ok(None)), "{r:?}");
    assert_stored(&get(s, acme, a.id).await, &a);
    assert_chain(s, acme, 1).await;

    // Err: nothing is written and the error is the answer.
    let r = s
        .update_action(
            acme,
            a.id,
            Box::new(|rec| {
                rec.body.reason = "changed in the closure".into();
                Err(Error::Conflict("refused by the rule".into()))
            }),
        )
        .await;
    match r {
        Err(Error::Conflict(m)) => assert_eq!(m, "refused by the rule"),
        other => panic!("the closure's error is the answer: {other:?}"),
    }
    assert_stored(&get(s, acme, a.id).await, &a);
    assert_chain(s, acme, 1).await;

    // Ok(Some(entry)): the closure sees the stored action; the change and the entry are saved.
    let seen: Arc<Mutex<Option<ActionRecord>>> = Arc::default();
    let v = vote("dana", true);
    let inner = vote_update(acme, v.clone());
    let seen_in = Arc::clone(&seen);
    let updated = s
        .update_action(
            acme,
            a.id,
            Box::new(move |rec| {
                if let Ok(mut seen) = seen_in.lock() {
                    *seen = Some(rec.clone());
                }
                inner(rec)
            }),
        )
        .await
        .expect("update_action")
        .expect("the action after the change");
    let seen = seen.lock().expect("lock").clone().expect("the closure ran");
    assert_stored(&seen, &a);
    let stored = get(s, acme, a.id).await;
    let approval = stored.approval.clone().expect("approval state");
    assert_eq!(approval.votes, vec![v.clone()]);
    assert_eq!(stored.approval, updated.approval);
    assert_eq!(stored.body, updated.body);
    assert_eq!(stored.updated_at, v.at);
    assert_eq!(
        stored.body.metadata.get("approvals_received"),
        Some(&json!(1))
    );
    assert_eq!(stored.body.decision, Decision::Pending);
    assert_eq!(
        (stored.created_at, &stored.request),
        (a.created_at, &a.request)
    );
    let entries = s.audit_entries(acme, 0, 10).await.expect("entries");
    assert_eq!(
        entries.last().map(|e| e.kind.as_str()),
        Some(AuditKind::ApprovalVote.as_str())
    );
    assert_chain(s, acme, 2).await;

    // Unknown action, another organisation's action: not found, and the closure never runs.
    for (org, id) in [(acme, a.id + 1_000_000), (globex, a.id)] {
        let ran = Arc::new(AtomicBool::new(false));
        let ran_in = Arc::clone(&ran);
        let r = s
            .update_action(
                org,
                id,
                Box::new(move |_| {
                    ran_in.store(true, Ordering::SeqCst);
                    Ok(None)
                }),
            )
            .await;
        assert!(r.as_ref().is_err_and(not_found), "({org}, {id}): {r:?}");
        assert!(!ran.load(Ordering::SeqCst), "closure ran for ({org}, {id})");
    }
    assert_chain(s, acme, 2).await;
    assert_eq!(audit_count(s, globex).await, 0);
}

async fn concurrent_votes_are_not_lost(db: Db) {
    const N: usize = 16;
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let mut a = new_action(
        s.next_action_id().await.expect("next_action_id"),
        acme,
        "billing-agent",
        Decision::Pending,
    );
    a.approval = Some(approvals::new_state(
        N as u32,
        vec!["security-team".into()],
        Some(now().plus(hour())),
    ));
    let a = insert(s, a).await;
    let mut tasks = Vec::new();
    for i in 0..N {
        let st = Arc::clone(&db.store);
        let id = a.id;
        tasks.push(tokio::spawn(async move {
            st.update_action(
                acme,
                id,
                vote_update(acme, vote(&format!("reviewer{i}"), true)),
            )
            .await
        }));
    }
    let mut seen_counts = Vec::new();
    for t in tasks {
        let rec = t
            .await
            .expect("task")
            .expect("every vote of a distinct person is accepted")
            .expect("a vote changes the action");
        seen_counts.push(rec.approval.expect("approval").votes.len());
    }
    seen_counts.sort_unstable();
    assert_eq!(
        seen_counts,
        (1..=N).collect::<Vec<_>>(),
        "each vote saw all earlier ones (serialised, none lost)"
    );
    let stored = get(s, acme, a.id).await;
    let votes = stored.approval.expect("approval").votes;
    let people: BTreeSet<_> = votes.iter().map(|v| v.key_id.clone()).collect();
    assert_eq!((votes.len(), people.len()), (N, N), "all {N} votes kept");
    assert_eq!(
        stored.body.decision,
        Decision::Allowed,
        "the {N}th approval decides"
    );
    assert_eq!(stored.body.status, "approved");
    assert_chain(s, acme, 1 + N as u64).await;
}

async fn audit_chain_holds_under_concurrent_writes(db: Db) {
    const TASKS: usize = 8;
    const PER_TASK: usize = 20;
    let s = &*db.store;
    let orgs = [org(s, "acme").await, org(s, "globex").await];
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let st = Arc::clone(&db.store);
        let org = orgs[t % 2];
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                if i % 2 == 0 {
                    st.append_audit(policy_reload(org, t * 100 + i))
                        .await
                        .expect("append_audit");
                } else {
                    let a = new_action(
                        st.next_action_id().await.expect("next_action_id"),
                        org,
                        &format!("agent-{t}"),
                        Decision::Allowed,
                    );
                    st.insert_action(a.clone(), decided(&a))
                        .await
                        .expect("insert_action");
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    let n = (TASKS / 2 * PER_TASK) as u64;
    for org in orgs {
        assert_chain(s, org, n).await;
        let entries = s.audit_entries(org, 0, 10_000).await.expect("entries");
        assert_eq!(entries.len() as u64, n);
        let mut prev = "0".repeat(64);
        let mut row = i64::MIN;
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e.org_id, org);
            assert_eq!(e.seq, i as i64 + 1, "seq of entry {i} in org {org}");
            assert!(e.row_id > row, "insertion order at seq {}", e.seq);
            row = e.row_id;
            assert_eq!(e.prev_hash, prev, "prev_hash at seq {}", e.seq);
            assert_eq!(e.hash, recomputed(e), "hash at seq {}", e.seq);
            prev.clone_from(&e.hash);
        }
        let kinds = |k: AuditKind| entries.iter().filter(|e| e.kind == k.as_str()).count() as u64;
        assert_eq!(kinds(AuditKind::PolicyReloaded), n / 2);
        assert_eq!(kinds(AuditKind::ActionDecided), n / 2);
        let head = s.audit_head(org).await.expect("audit_head");
        let last = entries.last().expect("entries");
        assert_eq!(
            head,
            Some(ChainHead {
                org_id: org,
                seq: n as i64,
                hash: last.hash.clone()
            })
        );
        // Pages are slices of the whole, with the prev_hash of their first entry.
        let page = s.audit_entries(org, 10, 15).await.expect("page");
        assert_eq!(page, entries[10..25]);
        let tail = s.audit_entries(org, n - 5, 10).await.expect("tail");
        assert_eq!(tail, entries[entries.len() - 5..]);
        assert!(
            s.audit_entries(org, n, 10)
                .await
                .expect("past the end")
                .is_empty()
        );
    }
}

/// An entry's hash, recomputed from its stored fields.
fn recomputed(e: &AuditEntry) -> String {
    let prev = parse_hash(&e.prev_hash).expect("prev_hash is 64 hex digits");
    hex::encode(entry_hash(
        e.org_id, e.seq, &e.ts, &e.kind, &e.actor, &e.subject, &e.payload, &prev,
    ))
}

async fn outcome_checks_run_against_the_stored_action(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let globex = org(s, "globex").await;
    let ran = insert_new(s, acme, "billing-agent", Decision::Allowed).await;
    let denied = insert_new(s, acme, "billing-agent", Decision::Denied).await;
    let failed = insert_new(s, acme, "billing-agent", Decision::Allowed).await;
    let seen: Arc<Mutex<Vec<ActionState>>> = Arc::default();
    let record = |id: i64, refuse_if_reported: bool| {
        let seen = Arc::clone(&seen);
        move |state: &ActionState| {
            seen.lock().expect("lock").push(state.clone());
            if !state.allowed {
                return Err(Error::Conflict(format!(
                    "action {id} was not allowed to run"
                )));
            }
            if refuse_if_reported && state.outcome.is_some() {
                return Err(Error::Conflict(format!("action {id} was already reported")));
            }
            Ok(())
        }
    };
    let detail = json!({"duration_ms": 12, "output": "3 rows"});
    let w = outcome_write(
        acme,
        ran.id,
        ActionOutcome::Completed,
        detail.clone(),
        record(ran.id, true),
    );
    let at = w.at;
    s.record_outcome(w)
        .await
        .expect("an accepted report is recorded");
    assert_eq!(
        seen.lock().expect("lock").pop(),
        Some(ActionState {
            id: ran.id,
            agent_id: ran.agent_id.clone(),
            submitted_key: ran.submitted_key.clone(),
            allowed: true,
            status: "approved".into(),
            outcome: None,
        })
    );
    let stored = get(s, acme, ran.id).await;
    assert_eq!(stored.outcome, Some(ActionOutcome::Completed));
    assert_eq!(stored.outcome_detail, Some(detail.clone()));
    assert_eq!(stored.updated_at, at);
    assert_eq!(stored.body, ran.body);
    assert_chain(s, acme, 4).await;

    // A second report: the check sees the first; its refusal is the answer, nothing written.
    let w = outcome_write(
        acme,
        ran.id,
        ActionOutcome::Failed,
        json!({"error": "late"}),
        record(ran.id, true),
    );
    let r = s.record_outcome(w).await;
    assert!(r.as_ref().is_err_and(conflict), "{r:?}");
    let state = seen.lock().expect("lock").pop().expect("the check ran");
    assert_eq!(state.outcome, Some(ActionOutcome::Completed));
    let stored = get(s, acme, ran.id).await;
    assert_eq!(
        (stored.outcome, stored.outcome_detail),
        (Some(ActionOutcome::Completed), Some(detail))
    );
    // A denied action: the check sees it was not allowed and refuses.
    let w = outcome_write(
        acme,
        denied.id,
        ActionOutcome::Completed,
        json!({}),
        record(denied.id, true),
    );
    let r = s.record_outcome(w).await;
    assert!(r.as_ref().is_err_and(conflict), "{r:?}");
    let state = seen.lock().expect("lock").pop().expect("the check ran");
    assert_eq!((state.allowed, state.status.as_str()), (false, "denied"));
    assert_eq!(get(s, acme, denied.id).await.outcome, None);
    assert_chain(s, acme, 4).await;
    // Unknown, or another organisation's: not found, and the check never runs.
    for (org, id) in [(acme, ran.id + 1_000_000), (globex, ran.id)] {
        let w = outcome_write(
            org,
            id,
            ActionOutcome::Completed,
            json!({}),
            record(id, false),
        );
        let r = s.record_outcome(w).await;
        assert!(r.as_ref().is_err_and(not_found), "({org}, {id}): {r:?}");
    }
    assert!(
        seen.lock().expect("lock").is_empty(),
        "no check ran for a missing action"
    );
    // A failure report is recorded as such.
    let w = outcome_write(
        acme,
        failed.id,
        ActionOutcome::Failed,
        json!({"error": "timeout"}),
        record(failed.id, true),
    );
    s.record_outcome(w).await.expect("record_outcome");
    assert_eq!(
        get(s, acme, failed.id).await.outcome,
        Some(ActionOutcome::Failed)
    );
    let entries = s.audit_entries(acme, 0, 10).await.expect("entries");
    let kinds: Vec<_> = entries[3..].iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            AuditKind::ActionCompleted.as_str(),
            AuditKind::ActionFailed.as_str()
        ]
    );
    assert_chain(s, acme, 5).await;
    assert_eq!(audit_count(s, globex).await, 0);
}

async fn deferred_outcomes_are_committed_by_close(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let ran = insert_new(s, acme, "billing-agent", Decision::Allowed).await;
    let denied = insert_new(s, acme, "billing-agent", Decision::Denied).await;
    let detail = json!({"duration_ms": 3});
    s.record_outcome_later(outcome_write(
        acme,
        ran.id,
        ActionOutcome::Completed,
        detail.clone(),
        |_| Ok(()),
    ))
    .expect("queued");
    // Refused inside the store: logged, not recorded.
    s.record_outcome_later(outcome_write(
        acme,
        denied.id,
        ActionOutcome::Completed,
        json!({}),
        |st| {
            if st.allowed {
                Ok(())
            } else {
                Err(Error::Conflict("not allowed to run".into()))
            }
        },
    ))
    .expect("queued");
    s.close().await.expect("close");
    let s = db.reopen().await;
    let stored = get(&*s, acme, ran.id).await;
    assert_eq!(
        (stored.outcome, stored.outcome_detail),
        (Some(ActionOutcome::Completed), Some(detail)),
        "the deferred report was committed by close"
    );
    assert_eq!(get(&*s, acme, denied.id).await.outcome, None);
    assert_chain(&*s, acme, 3).await;
}

async fn kill_switches_and_agents_are_upserted(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let globex = org(s, "globex").await;
    let org_wide = KillSwitchRecord {
        org_id: acme,
        agent_id: None,
        active: true,
        reason: Some("incident 42".into()),
        activated_at: Some(now()),
        activated_by: Some("ops@example.com".into()),
    };
    let one_agent = KillSwitchRecord {
        agent_id: Some("billing-agent".into()),
        reason: Some("runaway loop".into()),
        ..org_wide.clone()
    };
    let released = KillSwitchRecord {
        active: false,
        reason: Some("resolved".into()),
        activated_at: Some(now()),
        ..org_wide.clone()
    };
    for r in [&org_wide, &one_agent, &released] {
        let audit = Event::KillSwitch(r).draft(acme, "ops", now());
        s.set_kill_switch(r.clone(), audit)
            .await
            .expect("set_kill_switch");
    }
    let snap = s.snapshot(EPOCH.into()).await.expect("snapshot");
    let mut of_acme: Vec<_> = snap
        .kill_switches
        .iter()
        .filter(|k| k.org_id == acme)
        .cloned()
        .collect();
    of_acme.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    assert_eq!(
        of_acme,
        [released, one_agent],
        "one switch per (org, agent), the latest"
    );
    assert!(!snap.kill_switches.iter().any(|k| k.org_id == globex));
    let entries = s.audit_entries(acme, 0, 10).await.expect("entries");
    let kinds: Vec<_> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            AuditKind::KillSwitchTriggered.as_str(),
            AuditKind::KillSwitchTriggered.as_str(),
            AuditKind::KillSwitchReleased.as_str()
        ]
    );

    let first = AgentRecord {
        org_id: acme,
        agent_id: "billing-agent".into(),
        display_name: "Billing".into(),
        agent_type: "supervised".into(),
        environment: "production".into(),
        metadata: json!({"team": "payments", "tags": ["pci"], "version": 3}),
        registered_at: now(),
    };
    let update = AgentRecord {
        display_name: "Billing v2".into(),
        agent_type: "autonomous".into(),
        environment: "staging".into(),
        metadata: json!({"team": "payments", "version": 4}),
        registered_at: now().plus(Duration::from_secs(5)),
        ..first.clone()
    };
    let other_org = AgentRecord {
        org_id: globex,
        ..first.clone()
    };
    for a in [&first, &update, &other_org] {
        let audit = Event::AgentRegistered(a).draft(a.org_id, "admin", now());
        s.upsert_agent(a.clone(), audit)
            .await
            .expect("upsert_agent");
    }
    let snap = s.snapshot(EPOCH.into()).await.expect("snapshot");
    let found: Vec<_> = snap
        .agents
        .iter()
        .filter(|a| a.org_id == acme && a.agent_id == "billing-agent")
        .collect();
    assert_eq!(found.len(), 1, "one agent per (org, agent id)");
    let got = found[0];
    assert_eq!(
        (
            &got.display_name,
            &got.agent_type,
            &got.environment,
            &got.metadata
        ),
        (
            &update.display_name,
            &update.agent_type,
            &update.environment,
            &update.metadata
        ),
        "the update's fields"
    );
    assert_eq!(
        got.registered_at, first.registered_at,
        "the first registration time is kept"
    );
    assert!(
        snap.agents
            .iter()
            .any(|a| a.org_id == globex && a.agent_id == "billing-agent"),
        "the same agent id in another organisation is another agent"
    );
    assert_chain(s, acme, 5).await;
    assert_chain(s, globex, 1).await;
}

async fn mcp_servers_keep_id_and_creation_on_update(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let globex = org(s, "globex").await;
    let t1 = now();
    let github = McpServerRecord {
        id: 0,
        org_id: acme,
        server_name: "github".into(),
        display_name: Some("GitHub".into()),
        description: Some("issues and PRs".into()),
        transport_type: "http".into(),
        server_url: Some("https://mcp.example.com/github".into()),
        connection_config: json!({"timeout_s": 30, "token": "[REDACTED]"}),
        governance_enabled: true,
        active: true,
        auto_approve_tools: vec!["list_issues".into(), "get_pr".into()],
        blocked_tools: vec!["delete_repo".into()],
        tool_risk_overrides: [("create_pr".to_owned(), 55.5), ("merge".to_owned(), 80.0)]
            .into_iter()
            .collect(),
        deactivation_reason: None,
        deactivated_at: None,
        deactivated_by: None,
        registered_by: "admin key".into(),
        created_at: t1,
        updated_at: t1,
    };
    let save = |m: &McpServerRecord, kind: AuditKind| {
        let audit = Event::McpServerSaved {
            kind,
            server: m,
            activation: None,
        }
        .draft(m.org_id, "admin key", now());
        s.upsert_mcp_server(m.clone(), audit)
    };
    let stored = save(&github, AuditKind::McpServerRegistered)
        .await
        .expect("upsert_mcp_server");
    assert!(stored.id > 0, "an id is assigned: {}", stored.id);
    assert_eq!(
        stored,
        McpServerRecord {
            id: stored.id,
            ..github.clone()
        }
    );

    let t2 = now().plus(Duration::from_secs(1));
    let changed = McpServerRecord {
        id: 0,
        display_name: None,
        description: Some("read only now".into()),
        transport_type: "sse".into(),
        server_url: None,
        connection_config: json!({}),
        governance_enabled: false,
        active: false,
        auto_approve_tools: Vec::new(),
        blocked_tools: vec!["delete_repo".into(), "push".into()],
        tool_risk_overrides: Default::default(),
        deactivation_reason: Some("token leaked".into()),
        deactivated_at: Some(t2),
        deactivated_by: Some("ops".into()),
        created_at: t2,
        updated_at: t2,
        ..github.clone()
    };
    let updated = save(&changed, AuditKind::McpServerDeactivated)
        .await
        .expect("upsert_mcp_server");
    assert_eq!(
        updated,
        McpServerRecord {
            id: stored.id,
            created_at: t1,
            ..changed.clone()
        },
        "the update's fields, the first id and creation time"
    );
    let elsewhere = save(
        &McpServerRecord {
            org_id: globex,
            ..github.clone()
        },
        AuditKind::McpServerRegistered,
    )
    .await
    .expect("upsert_mcp_server");
    assert_ne!(elsewhere.id, stored.id, "names are unique per organisation");

    let snap = s.snapshot(EPOCH.into()).await.expect("snapshot");
    let of_acme: Vec<_> = snap
        .mcp_servers
        .iter()
        .filter(|m| m.org_id == acme)
        .collect();
    assert_eq!(of_acme, [&updated]);

    let delete = |org: i64, name: &str| {
        let audit = Event::McpServerDeleted {
            server_name: name,
            id: stored.id,
        }
        .draft(org, "admin key", now());
        s.delete_mcp_server(org, name.to_owned(), audit)
    };
    delete(acme, "github").await.expect("delete_mcp_server");
    let r = delete(acme, "github").await;
    assert!(r.as_ref().is_err_and(not_found), "deleted twice: {r:?}");
    let r = delete(acme, "gitlab").await;
    assert!(r.as_ref().is_err_and(not_found), "never registered: {r:?}");
    let snap = s.snapshot(EPOCH.into()).await.expect("snapshot");
    assert!(!snap.mcp_servers.iter().any(|m| m.org_id == acme));
    assert_eq!(
        snap.mcp_servers
            .iter()
            .filter(|m| m.org_id == globex)
            .collect::<Vec<_>>(),
        [&elsewhere]
    );
    assert_chain(s, acme, 3).await;
    assert_chain(s, globex, 1).await;
}

async fn webhooks_crud_and_deliveries(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let globex = org(s, "globex").await;
    let hook = Webhook {
        id: 0,
        org_id: acme,
        url: "https://hooks.example.com/ascend".into(),
        events: vec!["action.denied".into(), "action.pending".into()],
        secret: "whsec_0123456789abcdef".into(),
        agent_id: Some("billing-agent".into()),
        created_key: Some("k_admin_1".into()),
        only_key: None,
        active: true,
        created_at: now(),
    };
    let fleet = Webhook {
        agent_id: None,
        created_key: Some("k_fleet".into()),
        only_key: Some("k_fleet".into()),
        ..hook.clone()
    };
    let mut stored = Vec::new();
    for h in [&hook, &fleet] {
        let seen: Arc<Mutex<Option<i64>>> = Arc::default();
        let seen_in = Arc::clone(&seen);
        let got = s
            .insert_webhook(
                h.clone(),
                Box::new(move |w| {
                    *seen_in.lock().expect("lock") = Some(w.id);
                    Event::Webhook {
                        kind: AuditKind::WebhookCreated,
                        hook: w,
                    }
                    .draft(w.org_id, "admin", now())
                }),
            )
            .await
            .expect("insert_webhook");
        assert!(got.id > 0, "an id is assigned");
        assert_eq!(
            *seen.lock().expect("lock"),
            Some(got.id),
            "the audit sees the id"
        );
        assert_eq!(
            got,
            Webhook {
                id: got.id,
                ..h.clone()
            }
        );
        stored.push(got);
    }
    assert_ne!(stored[0].id, stored[1].id);
    assert_eq!(s.webhooks(acme).await.expect("webhooks"), stored);
    assert!(s.webhooks(globex).await.expect("webhooks").is_empty());
    let entries = s.audit_entries(acme, 0, 10).await.expect("entries");
    assert_eq!(entries[0].subject, format!("webhook:{}", stored[0].id));

    let changed = Webhook {
        url: "https://hooks.example.com/v2".into(),
        events: vec!["kill_switch.triggered".into()],
        secret: "whsec_rotated".into(),
        active: false,
        ..stored[0].clone()
    };
    let audit =
        |h: &Webhook, kind| Event::Webhook { kind, hook: h }.draft(h.org_id, "admin", now());
    s.update_webhook(changed.clone(), audit(&changed, AuditKind::WebhookUpdated))
        .await
        .expect("update_webhook");
    for missing in [
        Webhook {
            id: stored[1].id + 1_000,
            ..changed.clone()
        },
        Webhook {
            org_id: globex,
            ..changed.clone()
        },
    ] {
        let r = s
            .update_webhook(missing.clone(), audit(&missing, AuditKind::WebhookUpdated))
            .await;
        assert!(
            r.as_ref().is_err_and(not_found),
            "update of {missing:?}: {r:?}"
        );
    }
    assert_eq!(
        s.webhooks(acme).await.expect("webhooks"),
        [changed.clone(), stored[1].clone()]
    );
    let r = s
        .delete_webhook(
            globex,
            changed.id,
            audit(&changed, AuditKind::WebhookDeleted),
        )
        .await;
    assert!(
        r.as_ref().is_err_and(not_found),
        "another org's webhook: {r:?}"
    );
    s.delete_webhook(acme, changed.id, audit(&changed, AuditKind::WebhookDeleted))
        .await
        .expect("delete_webhook");
    let r = s
        .delete_webhook(acme, changed.id, audit(&changed, AuditKind::WebhookDeleted))
        .await;
    assert!(r.as_ref().is_err_and(not_found), "deleted twice: {r:?}");
    assert_eq!(
        s.webhooks(acme).await.expect("webhooks"),
        [stored[1].clone()]
    );

    // Deliveries are logged without an audit entry (the Store trait reads none back).
    for (attempt, status, error) in [(1, None, Some("connection refused")), (2, Some(200), None)] {
        s.log_delivery(DeliveryAttempt {
            webhook_id: stored[1].id,
            org_id: acme,
            event: "action.denied".into(),
            attempt,
            status_code: status,
            error: error.map(str::to_owned),
            latency_ms: 12.5,
            at: now(),
        })
        .await
        .expect("log_delivery");
    }
    assert_chain(s, acme, 4).await;
    assert_eq!(audit_count(s, globex).await, 0);
}

async fn list_actions_filters_counts_and_orders(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let globex = org(s, "globex").await;
    let plan = [
        ("agent-a", "k1", Decision::Allowed),
        ("agent-b", "k1", Decision::Denied),
        ("agent-a", "k2", Decision::Pending),
        ("agent-a", "k1", Decision::Allowed),
        ("agent-b", "k2", Decision::Pending),
        ("agent-a", "k2", Decision::Denied),
        ("agent-a", "k1", Decision::Allowed),
    ];
    let mut ids = Vec::new();
    let mut inserted = Vec::new();
    for (agent, key, decision) in plan {
        let mut a = new_action(
            s.next_action_id().await.expect("next_action_id"),
            acme,
            agent,
            decision,
        );
        a.submitted_key = key.into();
        let a = insert(s, a).await;
        ids.push(a.id);
        inserted.push(a);
    }
    for _ in 0..2 {
        insert_new(s, globex, "agent-a", Decision::Allowed).await;
    }
    let list = |org: i64, f: ActionFilter| s.list_actions(org, f);
    let filter = |agent: Option<&str>, key: Option<&str>, status: Option<&str>| ActionFilter {
        agent_id: agent.map(str::to_owned),
        submitted_key: key.map(str::to_owned),
        status: status.map(str::to_owned),
        limit: 100,
        offset: 0,
    };
    // Newest first: positions in `plan`, reversed.
    let expect = |pos: &[usize]| -> Vec<i64> { pos.iter().map(|&p| ids[p]).collect() };
    let (all, total) = list(acme, filter(None, None, None)).await.expect("list");
    assert_eq!(total, 7);
    assert_eq!(
        all.iter().map(|a| a.id).collect::<Vec<_>>(),
        expect(&[6, 5, 4, 3, 2, 1, 0])
    );
    for r in &all {
        let a = inserted.iter().find(|a| a.id == r.id).expect("inserted");
        assert_stored(r, a);
    }
    let cases: [(ActionFilter, Vec<i64>); 7] = [
        (
            filter(Some("agent-a"), None, None),
            expect(&[6, 5, 3, 2, 0]),
        ),
        (
            filter(None, None, Some("pending_approval")),
            expect(&[4, 2]),
        ),
        (filter(None, None, Some("approved")), expect(&[6, 3, 0])),
        (filter(None, Some("k2"), None), expect(&[5, 4, 2])),
        (
            filter(Some("agent-a"), Some("k1"), None),
            expect(&[6, 3, 0]),
        ),
        (filter(Some("agent-a"), None, Some("denied")), expect(&[5])),
        (filter(Some("agent-z"), None, None), Vec::new()),
    ];
    for (f, want) in cases {
        let (got, total) = list(acme, f.clone()).await.expect("list");
        assert_eq!(got.iter().map(|a| a.id).collect::<Vec<_>>(), want, "{f:?}");
        assert_eq!(total, want.len() as u64, "total of {f:?}");
    }
    for (limit, offset, want) in [
        (2, 1, expect(&[5, 4])),
        (3, 6, expect(&[0])),
        (5, 7, Vec::new()),
    ] {
        let f = ActionFilter {
            limit,
            offset,
            ..filter(None, None, None)
        };
        let (got, total) = list(acme, f).await.expect("list");
        assert_eq!(
            got.iter().map(|a| a.id).collect::<Vec<_>>(),
            want,
            "limit {limit} offset {offset}"
        );
        assert_eq!(total, 7, "the total ignores the page");
    }
    let (other, total) = list(globex, filter(None, None, None)).await.expect("list");
    assert_eq!((other.len(), total), (2, 2));
    // The status filter follows updates: a reviewer denies the first pending action.
    s.update_action(acme, ids[2], vote_update(acme, vote("erin", false)))
        .await
        .expect("update_action")
        .expect("changed");
    let (got, total) = list(acme, filter(None, None, Some("pending_approval")))
        .await
        .expect("list");
    assert_eq!(
        (got.iter().map(|a| a.id).collect::<Vec<_>>(), total),
        (expect(&[4]), 1)
    );
    let (got, _) = list(acme, filter(None, None, Some("denied")))
        .await
        .expect("list");
    assert_eq!(
        got.iter().map(|a| a.id).collect::<Vec<_>>(),
        expect(&[5, 2, 1])
    );
}

async fn expired_pending_lists_only_overdue_pending_actions(db: Db) {
    let s = &*db.store;
    let acme = org(s, "acme").await;
    let globex = org(s, "globex").await;
    let past = now().minus(Duration::from_secs(60));
    let future = now().plus(hour());
    let pending = async |org: i64, expires: Option<Timestamp>| {
        let mut a = new_action(
            s.next_action_id().await.expect("next_action_id"),
            org,
            "billing-agent",
            Decision::Pending,
        );
        a.approval = Some(approvals::new_state(1, Vec::new(), expires));
        a.body.expires_at = expires.map(|t| t.to_rfc3339());
        a
    };
    let overdue = insert(s, pending(acme, Some(past)).await).await;
    let overdue_elsewhere = insert(s, pending(globex, Some(past)).await).await;
    let later = insert(s, pending(acme, Some(future)).await).await;
    let _never = insert(s, pending(acme, None).await).await;
    // Decided before its expiry: an approval state with a past expiry, but not pending.
    let mut decided_early = new_action(
        s.next_action_id().await.expect("next_action_id"),
        acme,
        "billing-agent",
        Decision::Allowed,
    );
    decided_early.approval = Some(ApprovalState {
        decided_at: Some(past),
        ..approvals::new_state(1, Vec::new(), Some(past))
    });
    insert(s, decided_early).await;
    // Expired by the sweeper already: denied now.
    let swept = insert(s, pending(acme, Some(past)).await).await;
    let at = now();
    let r = s
        .update_action(
            acme,
            swept.id,
            Box::new(move |a| {
                let id = a.id;
                Ok(approvals::expire(a, at)
                    .then(|| Event::Expired { action_id: id }.draft(acme, "system", at)))
            }),
        )
        .await
        .expect("update_action");
    assert_eq!(r.map(|a| a.body.status), Some("denied".to_owned()));

    let set = |v: Vec<(i64, i64)>| v.into_iter().collect::<BTreeSet<_>>();
    let due = set(s.expired_pending(now()).await.expect("expired_pending"));
    assert_eq!(
        due,
        set(vec![(acme, overdue.id), (globex, overdue_elsewhere.id)]),
        "only pending actions whose expiry passed, of every organisation"
    );
    let before = past.minus(hour());
    assert!(
        s.expired_pending(before)
            .await
            .expect("expired_pending")
            .is_empty()
    );
    let due = set(s
        .expired_pending(future.plus(Duration::from_secs(1)))
        .await
        .expect("expired_pending"));
    assert_eq!(
        due,
        set(vec![
            (acme, overdue.id),
            (globex, overdue_elsewhere.id),
            (acme, later.id)
        ])
    );
}

async fn ready_and_close(db: Db) {
    let s = Arc::clone(&db.store);
    s.ready().await.expect("a migrated store is ready");
    let acme = org(&*s, "acme").await;
    let allowed = insert_new(&*s, acme, "billing-agent", Decision::Allowed).await;
    // Writes racing the close: each is acknowledged (and then stored) or refused (and not).
    let mut tasks = Vec::new();
    for i in 0..40 {
        let st = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            tokio::time::timeout(PROMPT, st.append_audit(policy_reload(acme, i))).await
        }));
    }
    tokio::task::yield_now().await;
    tokio::time::timeout(PROMPT, s.close())
        .await
        .expect("close returns")
        .expect("close");
    let mut acked = 1;
    for t in tasks {
        match t
            .await
            .expect("task")
            .expect("a write racing close answers")
        {
            Ok(()) => acked += 1,
            Err(e) => assert!(
                matches!(
                    e,
                    Error::StoreUnavailable(_) | Error::Postgres(_) | Error::Database(_)
                ),
                "a refused write says the store is unavailable: {e}"
            ),
        }
    }
    // After close every write fails promptly.
    let a = new_action(
        s.next_action_id().await.expect("next_action_id"),
        acme,
        "billing-agent",
        Decision::Allowed,
    );
    let results: Vec<(&str, ascend_server::Result<()>)> = vec![
        (
            "append_audit",
            answer(s.append_audit(policy_reload(acme, 99))).await,
        ),
        (
            "insert_action",
            answer(s.insert_action(a.clone(), decided(&a))).await,
        ),
        (
            "update_action",
            answer(s.update_action(acme, allowed.id, Box::new(|_| Ok(None))))
                .await
                .map(|_| ()),
        ),
        (
            "record_outcome",
            answer(s.record_outcome(outcome_write(
                acme,
                allowed.id,
                ActionOutcome::Completed,
                json!({}),
                |_| Ok(()),
            )))
            .await,
        ),
        (
            "ensure_org",
            answer(s.ensure_org("late".into(), now())).await.map(|_| ()),
        ),
        (
            "record_outcome_later",
            s.record_outcome_later(outcome_write(
                acme,
                allowed.id,
                ActionOutcome::Completed,
                json!({}),
                |_| Ok(()),
            )),
        ),
    ];
    for (what, r) in results {
        assert!(
            r.is_err(),
            "{what} after close is refused, not accepted: {r:?}"
        );
    }
    tokio::time::timeout(PROMPT, s.close())
        .await
        .expect("a second close returns")
        .expect("a second close is harmless");
    let s = db.reopen().await;
    s.ready().await.expect("ready after reopening");
    assert_chain(&*s, acme, acked).await;
    assert_eq!(get(&*s, acme, allowed.id).await.outcome, None);
    assert!(s.get_action(acme, a.id).await.expect("get").is_none());
}

/// A store call's answer, which must come promptly.
async fn answer<T>(
    f: impl std::future::Future<Output = ascend_server::Result<T>>,
) -> ascend_server::Result<T> {
    tokio::time::timeout(PROMPT, f)
        .await
        .expect("a write after close answers promptly (no hang)")
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only: several stores (server replicas) on one database

mod pg_replicas {
    use super::*;
    use ascend_server::model::PushKind;
    use ascend_server::store::{Change, PeerEvent};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_stores_share_ids_chains_keys_and_votes() {
        let Some(db) = Db::pg().await else { return };
        within(replicas(db)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_hears_the_other_replicas_changes_and_events() {
        let Some(db) = Db::pg().await else { return };
        within(feed(db)).await;
    }

    /// The next change on `feed` that `pick` accepts, within 10 s.
    /// The next change on `feed` that `pick` accepts, within `wait`.
    async fn next_change<T>(
        feed: &mut tokio::sync::mpsc::UnboundedReceiver<Change>,
        wait: Duration,
        mut pick: impl FnMut(Change) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, feed.recv()).await {
                Ok(Some(c)) => {
                    if let Some(t) = pick(c) {
                        return Some(t);
                    }
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }

    async fn feed(db: Db) {
        let one = Arc::clone(&db.store);
        let two = db.reopen().await;
        let mut heard = two
            .changes()
            .expect("the PostgreSQL store has a change feed");
        assert!(two.changes().is_none(), "the feed is taken once");
        let acme = org(&*one, "acme").await;
        // Events: broadcast until the other replica's feed is listening and hears one.
        let event = |n: i64| PeerEvent {
            org_id: acme,
            agent_id: Some("billing-agent".into()),
            key_id: Some("key-1".into()),
            push: PushKind::Decision,
            data: json!({"action_id": n, "decision": "allowed", "text": "é🦀"}),
        };
        let mut got = None;
        for n in 0..50 {
            one.broadcast(event(n));
            got = next_change(&mut heard, Duration::from_millis(200), |c| match c {
                Change::Event(e) => Some(e),
                _ => None,
            })
            .await;
            if got.is_some() {
                break;
            }
        }
        let got = got.expect("a broadcast event reaches the other replica");
        let n = got.data["action_id"].as_i64().expect("action id");
        assert_eq!(got, event(n));
        // Changes: a kill switch, a key, an agent set through one arrive at the other as stored.
        let switch = KillSwitchRecord {
            org_id: acme,
            agent_id: Some("billing-agent".into()),
            active: true,
            reason: Some("incident".into()),
            activated_at: Some(now()),
            activated_by: Some("ops".into()),
        };
        one.set_kill_switch(
            switch.clone(),
            Event::KillSwitch(&switch).draft(acme, "ops", now()),
        )
        .await
        .expect("set_kill_switch");
        let heard_switch = next_change(&mut heard, PROMPT, |c| match c {
            Change::KillSwitch(k) => Some(k),
            _ => None,
        })
        .await;
        assert_eq!(
            heard_switch,
            Some(switch),
            "the other replica hears the kill switch"
        );
        let agent = AgentRecord {
            org_id: acme,
            agent_id: "billing-agent".into(),
            display_name: "Billing".into(),
            agent_type: "supervised".into(),
            environment: "production".into(),
            metadata: json!({"team": "payments"}),
            registered_at: now(),
        };
        one.upsert_agent(
            agent.clone(),
            Event::AgentRegistered(&agent).draft(acme, "admin", now()),
        )
        .await
        .expect("upsert_agent");
        let heard_agent = next_change(&mut heard, PROMPT, |c| match c {
            Change::Agent(a) => Some(a),
            _ => None,
        })
        .await
        .expect("the other replica hears the agent");
        assert_eq!(
            (
                heard_agent.org_id,
                heard_agent.agent_id,
                heard_agent.display_name
            ),
            (acme, agent.agent_id, agent.display_name)
        );
        let globex = org(&*one, "globex").await;
        let heard_org = next_change(&mut heard, PROMPT, |c| match c {
            Change::Org { id, name } => Some((id, name)),
            _ => None,
        })
        .await;
        assert_eq!(heard_org, Some((globex, "globex".to_owned())));
    }

    async fn replicas(db: Db) {
        let stores = [Arc::clone(&db.store), db.reopen().await];
        // Ids: disjoint across replicas.
        let tasks: Vec<_> = stores
            .iter()
            .map(|s| tokio::spawn(id_burst(Arc::clone(s), 500)))
            .collect();
        let mut ids = BTreeSet::new();
        for t in tasks {
            for id in t.await.expect("task") {
                assert!(ids.insert(id), "id {id} handed out by both replicas");
            }
        }
        let acme = org(&*stores[0], "acme").await;
        assert_eq!(
            org(&*stores[1], "acme").await,
            acme,
            "one organisation for both"
        );

        // One chain, written by both.
        let mut tasks = Vec::new();
        for t in 0..8 {
            let st = Arc::clone(&stores[t % 2]);
            tasks.push(tokio::spawn(async move {
                for i in 0..20 {
                    if i % 2 == 0 {
                        st.append_audit(policy_reload(acme, i))
                            .await
                            .expect("append_audit");
                    } else {
                        let a = new_action(
                            st.next_action_id().await.expect("next_action_id"),
                            acme,
                            "agent",
                            Decision::Allowed,
                        );
                        st.insert_action(a.clone(), decided(&a))
                            .await
                            .expect("insert_action");
                    }
                }
            }));
        }
        for t in tasks {
            t.await.expect("writer task");
        }
        for s in &stores {
            assert_chain(&**s, acme, 160).await;
        }
        let entries = stores[1]
            .audit_entries(acme, 0, 1000)
            .await
            .expect("entries");
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e.seq, i as i64 + 1);
            assert_eq!(e.hash, recomputed(e));
        }

        // One idempotency key submitted to both: one action.
        let mut tasks = Vec::new();
        for i in 0..8 {
            let st = Arc::clone(&stores[i % 2]);
            let mut a = new_action(
                st.next_action_id().await.expect("next_action_id"),
                acme,
                "racer",
                Decision::Allowed,
            );
            a.idempotency_key = Some("idem:race".into());
            tasks.push(tokio::spawn(async move {
                st.insert_action(a.clone(), decided(&a)).await
            }));
        }
        let mut won = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(()) => won += 1,
                Err(e) => assert!(conflict(&e), "the loser is a conflict: {e}"),
            }
        }
        assert_eq!(won, 1);

        // Votes through both replicas on one action: none lost.
        const N: usize = 16;
        let mut a = new_action(
            stores[0].next_action_id().await.expect("next_action_id"),
            acme,
            "agent",
            Decision::Pending,
        );
        a.approval = Some(approvals::new_state(
            N as u32,
            Vec::new(),
            Some(now().plus(hour())),
        ));
        let a = insert(&*stores[0], a).await;
        let mut tasks = Vec::new();
        for i in 0..N {
            let st = Arc::clone(&stores[i % 2]);
            let id = a.id;
            tasks.push(tokio::spawn(async move {
                st.update_action(acme, id, vote_update(acme, vote(&format!("r{i}"), true)))
                    .await
            }));
        }
        for t in tasks {
            t.await
                .expect("task")
                .expect("vote accepted")
                .expect("vote changed the action");
        }
        let stored = get(&*stores[1], acme, a.id).await;
        assert_eq!(stored.approval.expect("approval").votes.len(), N);
        assert_eq!(stored.body.decision, Decision::Allowed);
        assert_chain(&*stores[0], acme, 160 + 1 + 1 + N as u64).await;
    }
}
