//! `ascend keys create`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::Conn;
use super::client::Client;
use crate::error::Result;
use crate::model::Role;

/// `ascend keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Create an API key (printed once).
    Create(CreateArgs),
}

/// `ascend keys create --role ROLE [--agent-id ID] [--name NAME]`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// agent, reviewer or admin.
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// Bind the key to one agent.
    #[arg(long)]
    pub agent_id: Option<String>,
    /// Label recorded as the actor in the audit trail.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    conn: Conn,
}

fn parse_role(s: &str) -> std::result::Result<Role, String> {
    s.parse()
        .map_err(|_| "expected agent, reviewer or admin".to_owned())
}

/// Run.
pub async fn run(cmd: KeysCmd) -> Result<()> {
    match cmd {
        KeysCmd::Create(a) => {
            let c = Client::new(&a.conn)?;
            let body = c
                .post(
                    "/api/v1/keys",
                    &json!({"role": a.role.as_str(), "agent_id": a.agent_id, "name": a.name}),
                )
                .await?;
            let key = body.get("key").and_then(Value::as_str).unwrap_or_default();
            println!("{key}");
            eprintln!(
                "created {} key {} (shown once)",
                a.role,
                body.get("key_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
            Ok(())
        }
    }
}
