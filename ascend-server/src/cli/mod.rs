//! The `ascend` command line: one module per subcommand.
//!
//! Client commands talk to a running server through `ASCEND_API_URL` (default
//! `http://127.0.0.1:8080`) and `ASCEND_API_KEY`, like the SDKs.

pub mod actions;
pub mod audit;
pub mod client;
pub mod keys;
pub mod kill_switch;
pub mod policy;
pub mod review;
pub mod serve;

use clap::{Parser, Subcommand};

use crate::error::Result;

/// Ascend governance server and operator tools.
#[derive(Debug, Parser)]
#[command(
    name = "ascend",
    version,
    about = "Ascend: governance for AI agents — run the server, review actions, flip kill switches, verify the audit trail",
    long_about = "Ascend governs what AI agents do: every action is risk-scored, checked against \
                  policy, sent to a human when policy says so, and written to a tamper-evident audit trail.\n\n\
                  `ascend serve` runs the control plane. The other commands talk to a running server \
                  using ASCEND_API_URL (default http://127.0.0.1:8080) and ASCEND_API_KEY.",
    after_help = "Examples:\n  ascend serve\n  ascend actions list --status pending\n  ascend approve 42 --comment \"looks fine\"\n  ascend deny 43 --reason \"not during the freeze\"\n  ascend kill-switch on --agent billing-agent --reason \"incident 7\"\n  ascend audit verify"
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Server connection options shared by the client commands.
#[derive(Debug, Clone, clap::Args)]
pub struct Conn {
    /// Server URL.
    #[arg(
        long,
        env = "ASCEND_API_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub api_url: String,
    /// API key (reviewer or admin for most commands).
    #[arg(long, env = "ASCEND_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// PEM file of CA certificates to trust besides the public roots (a server whose
    /// certificate comes from a private CA).
    #[arg(long, env = "ASCEND_CA_CERT", value_name = "FILE", global = true)]
    pub ca_cert: Option<std::path::PathBuf>,
}

/// Subcommands.
// Parsed once per process: the size of the `serve` options does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the governance server.
    Serve(serve::ServeArgs),
    /// List and inspect actions.
    #[command(subcommand)]
    Actions(actions::ActionsCmd),
    /// Approve a pending action (reviewer key).
    Approve(review::ApproveArgs),
    /// Deny a pending action (reviewer key).
    Deny(review::DenyArgs),
    /// Halt or resume an organisation or one agent (admin key).
    KillSwitch(kill_switch::KillSwitchArgs),
    /// Audit trail tools.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// API keys: create, list, revoke, rotate (admin key).
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Organisations: create, list (operator key).
    #[command(subcommand)]
    Orgs(keys::OrgsCmd),
    /// Policy tools.
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
}

/// Run a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(a) => serve::run(a).await,
        Command::Actions(c) => actions::run(c).await,
        Command::Approve(a) => review::approve(a).await,
        Command::Deny(a) => review::deny(a).await,
        Command::KillSwitch(a) => kill_switch::run(a).await,
        Command::Audit(c) => audit::run(c).await,
        Command::Keys(c) => keys::run(c).await,
        Command::Orgs(c) => keys::run_orgs(c).await,
        Command::Policy(c) => policy::run(c),
    }
}
