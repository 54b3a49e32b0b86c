//! The PostgreSQL schema: versioned migrations, applied in order under an advisory lock so
//! replicas that start together migrate once.

use deadpool_postgres::Client;

use crate::error::{Error, Result};
use crate::model::now;

/// Key of the advisory lock migrations hold (any constant shared by every replica).
const MIGRATION_LOCK: i64 = 0x6173_6365_6e64_0001;

/// Versioned migrations, each applied in its own transaction.
///
/// Times are RFC 3339 text with microseconds (what the chain hashes, and lexically ordered);
/// JSON documents are text, so what is read back is byte for byte what was written.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE orgs (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE api_keys (key_id TEXT PRIMARY KEY, org_id BIGINT NOT NULL, role TEXT NOT NULL,
  agent_id TEXT, key_hash BYTEA NOT NULL, name TEXT NOT NULL, created_at TEXT NOT NULL, owner TEXT,
  created_by TEXT NOT NULL, expires_at TEXT, revoked_at TEXT);
CREATE TABLE agents (org_id BIGINT NOT NULL, agent_id TEXT NOT NULL, display_name TEXT NOT NULL,
  agent_type TEXT NOT NULL, environment TEXT NOT NULL, metadata TEXT NOT NULL,
  registered_at TEXT NOT NULL, PRIMARY KEY (org_id, agent_id));
-- Action ids are handed out in blocks (each replica takes one with nextval).
CREATE SEQUENCE action_id_blocks START WITH 1 INCREMENT BY 256;
CREATE TABLE actions (id BIGINT PRIMARY KEY, org_id BIGINT NOT NULL, agent_id TEXT NOT NULL,
  agent_name TEXT NOT NULL, action_type TEXT NOT NULL, resource TEXT NOT NULL, resource_id TEXT,
  status TEXT NOT NULL, request TEXT NOT NULL, body TEXT NOT NULL, submitted_key TEXT NOT NULL,
  idempotency_key TEXT, request_hash TEXT, approval TEXT, expires_at TEXT, outcome TEXT,
  outcome_detail TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX actions_by_org ON actions (org_id, created_at, id);
CREATE INDEX actions_by_agent ON actions (org_id, agent_id, created_at);
CREATE UNIQUE INDEX actions_by_idempotency ON actions (org_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX actions_pending ON actions (expires_at) WHERE status = 'pending_approval';
-- One chain per organisation: (org_id, seq) is unique, so two replicas can never fork it.
CREATE TABLE audit_log (id BIGSERIAL PRIMARY KEY, org_id BIGINT NOT NULL, seq BIGINT NOT NULL,
  ts TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL, subject TEXT NOT NULL,
  payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, UNIQUE (org_id, seq));
-- The head row of an organisation is locked by every append (the per-organisation lock).
CREATE TABLE audit_heads (org_id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL,
  updated_at TEXT NOT NULL);
CREATE TABLE kill_switches (org_id BIGINT NOT NULL, agent_id TEXT NOT NULL, active BOOLEAN NOT NULL,
  reason TEXT, activated_at TEXT, activated_by TEXT, PRIMARY KEY (org_id, agent_id));
CREATE TABLE webhooks (id BIGSERIAL PRIMARY KEY, org_id BIGINT NOT NULL, url TEXT NOT NULL,
  events TEXT NOT NULL, secret TEXT NOT NULL, agent_id TEXT, active BOOLEAN NOT NULL,
  created_at TEXT NOT NULL, created_key TEXT, only_key TEXT);
CREATE TABLE webhook_deliveries (id BIGSERIAL PRIMARY KEY, webhook_id BIGINT NOT NULL,
  org_id BIGINT NOT NULL, event TEXT NOT NULL, attempt BIGINT NOT NULL, status_code INTEGER,
  error TEXT, latency_ms DOUBLE PRECISION NOT NULL, at TEXT NOT NULL);
CREATE TABLE mcp_servers (id BIGSERIAL PRIMARY KEY, org_id BIGINT NOT NULL, server_name TEXT NOT NULL,
  display_name TEXT, description TEXT, transport_type TEXT NOT NULL, server_url TEXT,
  connection_config TEXT NOT NULL, governance_enabled BOOLEAN NOT NULL, active BOOLEAN NOT NULL,
  auto_approve_tools TEXT NOT NULL, blocked_tools TEXT NOT NULL, tool_risk_overrides TEXT NOT NULL,
  deactivation_reason TEXT, deactivated_at TEXT, deactivated_by TEXT, registered_by TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (org_id, server_name));
"#,
    ),
    (
        2,
        "CREATE TABLE first_start (id INTEGER PRIMARY KEY CHECK (id = 1), claimed_at TEXT NOT NULL);",
    ),
];

/// The schema version this build reads and writes.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Apply pending migrations (one replica at a time).
pub async fn migrate(client: &mut Client) -> Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
             applied_at TEXT NOT NULL)",
        )
        .await
        .or_else(ignore_concurrent_create)?;
    for (version, sql) in MIGRATIONS {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        if current >= *version {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &now().to_rfc3339()],
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// `CREATE TABLE IF NOT EXISTS` run by two replicas at once can still collide on the catalog
/// (a unique violation on `pg_type`): the table exists then, which is all that was asked.
fn ignore_concurrent_create(e: tokio_postgres::Error) -> Result<()> {
    if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
        Ok(())
    } else {
        Err(Error::from(e))
    }
}

/// The schema version of the database.
pub async fn current(client: &Client) -> Result<i64> {
    Ok(client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0))
}
