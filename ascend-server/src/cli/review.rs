//! `ascend approve` and `ascend deny`.

use clap::Args;
use serde_json::{Value, json};

use super::Conn;
use super::client::{Client, seg};
use crate::error::Result;

/// `ascend approve ID [--comment TEXT]`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Action id.
    pub id: String,
    /// Comment recorded with the approval.
    #[arg(long)]
    pub comment: Option<String>,
    #[command(flatten)]
    conn: Conn,
}

/// `ascend deny ID --reason TEXT`.
#[derive(Debug, Args)]
pub struct DenyArgs {
    /// Action id.
    pub id: String,
    /// Why (recorded and shown to the agent).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    conn: Conn,
}

fn report(body: &Value) {
    let s = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned()
    };
    let id = body.get("id").map(Value::to_string).unwrap_or_default();
    println!("action {id}: {} ({})", s("status"), s("reason"));
}

/// Approve.
pub async fn approve(a: ApproveArgs) -> Result<()> {
    let c = Client::new(&a.conn)?;
    let body = c
        .post(
            &format!("/api/v1/actions/{}/approve", seg(a.id.trim())),
            &json!({"comment": a.comment}),
        )
        .await?;
    report(&body);
    Ok(())
}

/// Deny.
pub async fn deny(a: DenyArgs) -> Result<()> {
    let c = Client::new(&a.conn)?;
    let body = c
        .post(
            &format!("/api/v1/actions/{}/deny", seg(a.id.trim())),
            &json!({"reason": a.reason}),
        )
        .await?;
    report(&body);
    Ok(())
}
