//! `ascend kill-switch on|off`.

use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::Conn;
use super::client::Client;
use crate::error::{Error, Result};

/// On or off.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Switch {
    /// Halt: every submit is denied until released.
    On,
    /// Resume.
    Off,
}

/// `ascend kill-switch on|off [--agent ID] --reason TEXT`.
#[derive(Debug, Args)]
pub struct KillSwitchArgs {
    /// `on` halts, `off` resumes.
    pub state: Switch,
    /// Only this agent (default: the whole organisation).
    #[arg(long)]
    pub agent: Option<String>,
    /// Why (recorded in the audit trail; required for `on`).
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    conn: Conn,
}

/// Run.
pub async fn run(a: KillSwitchArgs) -> Result<()> {
    let c = Client::new(&a.conn)?;
    let path = match a.state {
        Switch::On => {
            if a.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                return Err(Error::Config(
                    "--reason is required to turn the kill switch on".into(),
                ));
            }
            "/api/v1/kill-switch/trigger"
        }
        Switch::Off => "/api/v1/kill-switch/release",
    };
    let body = c
        .post(path, &json!({"agent_id": a.agent, "reason": a.reason}))
        .await?;
    let target = match body.get("agent_id").and_then(Value::as_str) {
        Some(agent) => format!("agent {agent}"),
        None => "organisation".to_owned(),
    };
    let blocked = body
        .get("blocked")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    println!(
        "kill switch {} for {target}",
        if blocked { "ON" } else { "OFF" }
    );
    Ok(())
}
