//! `ascend keys create|list|revoke|rotate` and `ascend orgs create|list`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::Conn;
use super::client::{Client, seg};
use crate::error::Result;
use crate::model::Role;

/// `ascend keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Create an API key (printed once).
    Create(CreateArgs),
    /// List the organisation's keys (never their secrets) with owner, expiry and last use.
    List(ListArgs),
    /// Revoke a key: it stops working at once.
    Revoke(RevokeArgs),
    /// Replace a key by a new one (printed once); the old one is revoked at once.
    Rotate(RotateArgs),
}

/// `ascend keys create --role ROLE [--agent-id ID | --fleet] [--name NAME] [--owner WHO]
/// [--expires-in-secs N] [--org-id ID]`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// agent, reviewer, admin or operator.
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// Bind the key to one agent (required for agent keys unless --fleet).
    #[arg(long)]
    pub agent_id: Option<String>,
    /// An agent key for any agent id that sees only its own submissions (a gateway's key).
    #[arg(long, conflicts_with = "agent_id")]
    pub fleet: bool,
    /// Label recorded as the actor in the audit trail.
    #[arg(long)]
    pub name: Option<String>,
    /// The person or service the key belongs to (separation of duties compares owners).
    #[arg(long)]
    pub owner: Option<String>,
    /// The key stops working after this many seconds.
    #[arg(long)]
    pub expires_in_secs: Option<u64>,
    /// Create the key in another organisation (operator keys only).
    #[arg(long)]
    pub org_id: Option<i64>,
    #[command(flatten)]
    conn: Conn,
}

/// `ascend keys list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    conn: Conn,
}

/// `ascend keys revoke KEY_ID [--reason TEXT]`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The key id (the part between `ascend_` and the secret).
    pub key_id: String,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    conn: Conn,
}

/// `ascend keys rotate KEY_ID`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The key id to replace.
    pub key_id: String,
    #[command(flatten)]
    conn: Conn,
}

/// `ascend orgs ...` (operator key).
#[derive(Debug, Subcommand)]
pub enum OrgsCmd {
    /// Create an organisation.
    Create(OrgCreateArgs),
    /// List organisations.
    List(ListArgs),
}

/// `ascend orgs create NAME`.
#[derive(Debug, Args)]
pub struct OrgCreateArgs {
    /// Its unique name.
    pub name: String,
    #[command(flatten)]
    conn: Conn,
}

fn parse_role(s: &str) -> std::result::Result<Role, String> {
    s.parse()
        .map_err(|_| "expected agent, reviewer, admin or operator".to_owned())
}

fn text(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

fn print_new_key(body: &Value) {
    println!("{}", text(body, "key"));
    eprintln!(
        "created {} key {} owned by {} (shown once)",
        text(body, "role"),
        text(body, "key_id"),
        text(body, "owner")
    );
}

/// Run `ascend keys ...`.
pub async fn run(cmd: KeysCmd) -> Result<()> {
    match cmd {
        KeysCmd::Create(a) => {
            let c = Client::new(&a.conn)?;
            let body = c
                .post(
                    "/api/v1/keys",
                    &json!({"role": a.role.as_str(), "agent_id": a.agent_id, "fleet": a.fleet,
                            "name": a.name, "owner": a.owner,
                            "expires_in_secs": a.expires_in_secs, "organization_id": a.org_id}),
                )
                .await?;
            print_new_key(&body);
        }
        KeysCmd::List(a) => {
            let c = Client::new(&a.conn)?;
            let body = c.get("/api/v1/keys", &[]).await?;
            println!(
                "{:<14} {:<9} {:<16} {:<16} {:<8} {:<27} LAST USED",
                "KEY ID", "ROLE", "AGENT", "OWNER", "STATE", "EXPIRES"
            );
            for k in body["keys"].as_array().into_iter().flatten() {
                let state = if k["active"] == true {
                    "active"
                } else {
                    "revoked"
                };
                println!(
                    "{:<14} {:<9} {:<16} {:<16} {:<8} {:<27} {}",
                    text(k, "key_id"),
                    text(k, "role"),
                    if k["fleet"] == true {
                        "(fleet)".to_owned()
                    } else {
                        text(k, "agent_id")
                    },
                    text(k, "owner"),
                    state,
                    text(k, "expires_at"),
                    text(k, "last_used_at")
                );
            }
        }
        KeysCmd::Revoke(a) => {
            let c = Client::new(&a.conn)?;
            c.post(
                &format!("/api/v1/keys/{}/revoke", seg(&a.key_id)),
                &json!({"reason": a.reason}),
            )
            .await?;
            eprintln!("revoked key {}", a.key_id);
        }
        KeysCmd::Rotate(a) => {
            let c = Client::new(&a.conn)?;
            let body = c
                .post(
                    &format!("/api/v1/keys/{}/rotate", seg(&a.key_id)),
                    &json!({}),
                )
                .await?;
            print_new_key(&body);
            eprintln!("key {} is revoked", a.key_id);
        }
    }
    Ok(())
}

/// Run `ascend orgs ...`.
pub async fn run_orgs(cmd: OrgsCmd) -> Result<()> {
    match cmd {
        OrgsCmd::Create(a) => {
            let c = Client::new(&a.conn)?;
            let body = c.post("/api/v1/orgs", &json!({"name": a.name})).await?;
            println!("{}", text(&body, "id"));
            eprintln!("created organisation {:?}", text(&body, "name"));
        }
        OrgsCmd::List(a) => {
            let c = Client::new(&a.conn)?;
            let body = c.get("/api/v1/orgs", &[]).await?;
            println!("{:<6} NAME", "ID");
            for o in body["organizations"].as_array().into_iter().flatten() {
                println!("{:<6} {}", text(o, "id"), text(o, "name"));
            }
        }
    }
    Ok(())
}
