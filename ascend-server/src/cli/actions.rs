//! `ascend actions list|show`.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::Conn;
use super::client::{Client, seg};
use crate::error::Result;

/// `ascend actions ...`
#[derive(Debug, Subcommand)]
pub enum ActionsCmd {
    /// List recent actions as a table (ID, TYPE, RISK, DECISION, TIME).
    List(ListArgs),
    /// Show one action in full (JSON).
    Show(ShowArgs),
}

/// `ascend actions list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this agent.
    #[arg(long)]
    pub agent_id: Option<String>,
    /// Only actions with this status.
    #[arg(long, value_parser = ["pending", "approved", "denied"])]
    pub status: Option<String>,
    /// How many (newest first).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[command(flatten)]
    conn: Conn,
}

/// `ascend actions show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Action id.
    pub id: String,
    #[command(flatten)]
    conn: Conn,
}

fn cell(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

fn short_time(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| s.to_owned())
}

/// Render the table.
pub fn table(actions: &[Value]) -> String {
    let mut rows = vec![[
        "ID".to_owned(),
        "TYPE".to_owned(),
        "RISK".to_owned(),
        "DECISION".to_owned(),
        "TIME".to_owned(),
    ]];
    for a in actions {
        let risk = match a.get("risk_score").and_then(Value::as_f64) {
            Some(s) => format!("{s:.0} {}", cell(a, "risk_level")),
            None => "-".into(),
        };
        let decision = match cell(a, "status").as_str() {
            "pending_approval" => "pending".to_owned(),
            other => other.to_owned(),
        };
        rows.push([
            cell(a, "id"),
            cell(a, "action_type"),
            risk,
            decision,
            short_time(&cell(a, "created_at")),
        ]);
    }
    let mut widths = [0usize; 5];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Run.
pub async fn run(cmd: ActionsCmd) -> Result<()> {
    match cmd {
        ActionsCmd::List(a) => {
            let c = Client::new(&a.conn)?;
            let mut q = vec![("limit", a.limit.to_string())];
            if let Some(s) = a.status {
                q.push(("status", s));
            }
            if let Some(id) = a.agent_id {
                q.push(("agent_id", id));
            }
            let body = c.get("/api/v1/actions", &q).await?;
            let empty = Vec::new();
            let actions = body
                .get("actions")
                .and_then(Value::as_array)
                .unwrap_or(&empty);
            if actions.is_empty() {
                println!("no actions");
            } else {
                print!("{}", table(actions));
                let total = body.get("total").and_then(Value::as_u64).unwrap_or(0);
                if total > actions.len() as u64 {
                    println!("({} of {total} shown)", actions.len());
                }
            }
            Ok(())
        }
        ActionsCmd::Show(a) => {
            let c = Client::new(&a.conn)?;
            let body = c
                .get(&format!("/api/v1/actions/{}", seg(a.id.trim())), &[])
                .await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
    }
}
