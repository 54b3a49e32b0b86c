//! What the other replicas changed: one connection LISTENs on the change and event channels,
//! reads each changed record back, and hands it to the governance service as a [`Change`].
//!
//! A notice is sent inside the transaction of the write it announces, so PostgreSQL delivers
//! it exactly when that write commits (and never for a write that rolled back). When the
//! listening connection drops, notices may be lost: on reconnecting the feed sends a
//! [`Change::Resync`] with the current state before anything else.

use std::time::Duration;

use deadpool_postgres::Pool;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::{AsyncMessage, NoTls, Notification};

use super::writes::{CHANGES, EVENTS};
use super::{load_snapshot, rows};
use crate::error::{Error, Result};
use crate::model::PushKind;
use crate::store::{Change, PeerEvent};

/// Follow the channels until the receiver is dropped, reconnecting with a backoff.
pub async fn run(
    config: tokio_postgres::Config,
    pool: Pool,
    replica: String,
    out: UnboundedSender<Change>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        match listen(&config, &pool, &replica, &out, first).await {
            Ok(()) => return,
            Err(e) => {
                if out.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "replica change feed lost; reconnecting");
            }
        }
        first = false;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// One listening connection; Ok when the receiver went away.
async fn listen(
    config: &tokio_postgres::Config,
    pool: &Pool,
    replica: &str,
    out: &UnboundedSender<Change>,
    first: bool,
) -> Result<()> {
    let (client, mut conn) = config.connect(NoTls).await?;
    let (tx, mut notices) = tokio::sync::mpsc::unbounded_channel::<Notification>();
    // The connection is driven here; its notifications are passed on in order.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if tx.send(n).is_err() {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANGES}; LISTEN {EVENTS}"))
        .await?;
    if !first {
        let c = pool.get().await.map_err(super::pool_error)?;
        let snapshot = load_snapshot(&c, None).await?;
        if out.send(Change::Resync(Box::new(snapshot))).is_err() {
            return Ok(());
        }
    }
    while let Some(n) = notices.recv().await {
        let Ok(notice) = serde_json::from_str::<Value>(n.payload()) else {
            continue;
        };
        if notice.get("r").and_then(Value::as_str) == Some(replica) {
            continue;
        }
        let change = if n.channel() == EVENTS {
            event(&notice)
        } else {
            let c = pool.get().await.map_err(super::pool_error)?;
            read_back(&c, &notice).await?
        };
        if let Some(change) = change
            && out.send(change).is_err()
        {
            return Ok(());
        }
    }
    drop(client);
    match driver.await {
        Ok(Err(e)) => Err(Error::from(e)),
        _ => Err(Error::StoreUnavailable(
            "the listening connection closed".into(),
        )),
    }
}

fn event(notice: &Value) -> Option<Change> {
    let text = |k: &str| notice.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(Change::Event(PeerEvent {
        org_id: notice.get("org")?.as_i64()?,
        agent_id: text("agent"),
        key_id: text("key"),
        push: PushKind::parse(notice.get("push")?.as_str()?)?,
        data: notice.get("data")?.clone(),
    }))
}

/// The record a notice names, as stored now.
async fn read_back(c: &tokio_postgres::Client, notice: &Value) -> Result<Option<Change>> {
    let org = notice.get("org").and_then(Value::as_i64).unwrap_or(0);
    let id = notice.get("id").and_then(Value::as_str).unwrap_or_default();
    let change = match notice.get("t").and_then(Value::as_str) {
        Some("org") => c
            .query_opt("SELECT id, name FROM orgs WHERE id = $1", &[&org])
            .await?
            .map(|r| -> Result<Change> {
                Ok(Change::Org {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                })
            })
            .transpose()?,
        Some("key") => {
            let sql = format!("{} WHERE key_id = $1", rows::KEY_COLS);
            match c.query_opt(&sql, &[&id]).await? {
                Some(r) => rows::key(&r)?.map(Change::Key),
                None => None,
            }
        }
        Some("kill") => {
            let sql = format!("{} WHERE org_id = $1 AND agent_id = $2", rows::KILL_COLS);
            match c.query_opt(&sql, &[&org, &id]).await? {
                Some(r) => Some(Change::KillSwitch(rows::kill_switch(&r)?)),
                None => None,
            }
        }
        Some("agent") => {
            let sql = format!("{} WHERE org_id = $1 AND agent_id = $2", rows::AGENT_COLS);
            match c.query_opt(&sql, &[&org, &id]).await? {
                Some(r) => Some(Change::Agent(rows::agent(&r)?)),
                None => None,
            }
        }
        Some("mcp") => {
            let sql = format!("{} WHERE org_id = $1 AND server_name = $2", rows::MCP_COLS);
            let record = match c.query_opt(&sql, &[&org, &id]).await? {
                Some(r) => Some(rows::mcp(&r)?),
                None => None,
            };
            Some(Change::McpServer {
                org_id: org,
                server_name: id.to_owned(),
                record,
            })
        }
        Some("webhooks") => Some(Change::Webhooks { org_id: org }),
        _ => None,
    };
    Ok(change)
}
