//! # ascend-runtime
//!
//! The governance client for AI agents. (Crate docs are completed by the runtime work; this file
//! reads as the crate's table of contents.)

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod decision;
pub mod error;
pub mod wire;

pub use action::{ActionType, AgentAction};
pub use decision::{AuthorizationDecision, Decision, RiskFactor, RiskLevel};
pub use error::{Error, Result};

/// The `#[governed]` attribute. See the `ascend-macros` crate docs.
pub use ascend_macros::governed;
