//! # ascend-runtime
//!
//! The governance client for AI agents. Before an agent's tool runs, the action is sent to the
//! ASCEND governance service (or the self-hosted `ascend-server`), risk-scored, checked against
//! policy, possibly held for a human's approval, and audited; the tool then runs, or the caller
//! gets a denial. `#[governed]` does all of this for a function; [`AscendClient`] is the client
//! underneath.
//!
//! ```no_run
//! use ascend_runtime::{governed, AscendClient, FailMode};
//!
//! #[derive(Debug, thiserror::Error)]
//! enum ToolError {
//!     #[error(transparent)]
//!     Governance(#[from] ascend_runtime::Error),
//! }
//!
//! #[governed(action_type = "database.write", resource = "customer_profiles")]
//! async fn update_address(customer_id: &str, address: &str) -> Result<(), ToolError> {
//!     // runs only when governance allows it
//!     Ok(())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = AscendClient::builder()
//!     .api_key("ascend_prod_...")          // or ASCEND_API_KEY
//!     .agent_id("support-bot")
//!     .fail_mode(FailMode::Closed)
//!     .build()?;
//! client.start_kill_switch_watch();
//! ascend_runtime::init(client)?;
//! update_address("cust_42", "1 Main St").await?;
//! # Ok(()) }
//! ```
//!
//! ## Map of the crate
//!
//! | module | what it holds |
//! |---|---|
//! | [`client`] | [`AscendClient`]: evaluate, authorize, wait for approval, report outcomes |
//! | [`operations`] | the other API operations: list, register, connection test, approvals, MCP, webhooks |
//! | [`blocking`] | the sync facade (`*_blocking`), safe inside and outside tokio |
//! | [`config`] | [`ClientBuilder`], environment and `.env`, the URL rule, key masking |
//! | [`action`], [`decision`] | what is asked and what is answered |
//! | [`error`] | the one [`Error`] enum |
//! | [`backend`] | the [`backend::Backend`] seam (HTTP, test double, in-process engine) |
//! | [`agent`] | [`AuthorizedAgent`]: execute-if-authorized helpers for one agent identity |
//! | [`mod@global`] | [`init`] / [`global()`] for `#[governed]` |
//! | [`testing`] | [`testing::MockGovernance`], the test double for your unit tests |
//! | [`redact`] | the one rule for secret-looking names, and redaction of JSON values |
//! | [`request_map`] | an HTTP request as an action (path templates, chosen fields), for the HTTP integrations |
//! | [`webhook`] | verifying signed webhook deliveries |
//! | [`signing`] | Python-compatible canonical JSON and request signatures |
//! | [`trace`] | the W3C `traceparent` sent with every governance request |
//! | [`wire`] | response bodies shared with `ascend-server` |
//!
//! Internals: `transport` (one HTTP call: builder, TLS, headers and signing, retries),
//! `response` (status and body → JSON or error), `retry` (backoff, Retry-After), `circuit`
//! (circuit breaker), `kill_switch` (flag and watch), `events` (the client's one push stream,
//! heard by the watch and approval waits), `http` (the HTTP backend),
//! `outcome` (outcome and fail-open records), `lifecycle` (reporting how an allowed call
//! ended, shared by `#[governed]` and the MCP guard), `background` (the client's own runtime).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod agent;
pub mod backend;
mod background;
pub mod blocking;
pub mod circuit;
pub mod client;
pub mod config;
pub mod decision;
pub mod error;
mod events;
pub mod global;
mod http;
mod kill_switch;
mod lifecycle;
pub mod operations;
mod outcome;
pub mod redact;
pub mod request_map;
mod response;
mod retry;
pub mod signing;
pub mod testing;
pub mod trace;
mod transport;
pub mod webhook;
pub mod wire;

#[cfg(feature = "mcp")]
pub mod mcp;

#[doc(hidden)]
#[path = "macro_support.rs"]
pub mod __private;

pub use action::{ActionType, AgentAction};
pub use agent::AuthorizedAgent;
pub use client::{AscendClient, EvaluateOptions, Outcome};
pub use config::{ClientBuilder, Config, FailMode};
pub use decision::{AuthorizationDecision, Decision, RiskFactor, RiskLevel};
pub use error::{Error, RefusalKind, Result};
pub use global::{global, init};
pub use outcome::FailOpenRecord;

/// The `#[governed]` attribute. See the `ascend-macros` crate docs.
pub use ascend_macros::governed;
