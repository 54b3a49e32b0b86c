//! The one error type of the runtime.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::decision::AuthorizationDecision;

/// Result alias used throughout the runtime.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every way a governed call or an API operation can fail.
///
/// The variants mirror the failure modes of the official Python SDK, but each HTTP status the
/// protocol defines maps to its own variant (the Python SDK leaks raw library errors for 404, 409,
/// 429 and 5xx). [`Error::is_retryable`] says which ones a retry may cure.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API key was missing, invalid or expired (HTTP 401).
    #[error("authentication failed: {message}")]
    Authentication {
        /// What the server (or the client) said.
        message: String,
    },
    /// The key is valid but may not perform this operation (HTTP 403 without a governance body).
    #[error("forbidden: {message}")]
    Forbidden {
        /// What the server said.
        message: String,
    },
    /// Governance decided the action must not run. Carries the full decision (reason, rule,
    /// policy violations, risk score).
    #[error("action denied: {}", .0.reason.as_deref().unwrap_or("no reason given"))]
    Denied(Box<AuthorizationDecision>),
    /// A pending action was not approved or denied within the wait. The action did not run.
    #[error("approval for action {action_id} not decided within {waited:?}")]
    ApprovalTimeout {
        /// The action that is still pending.
        action_id: String,
        /// How long the client waited.
        waited: Duration,
    },
    /// A human must approve the action and the call was made without waiting
    /// (`wait_for_approval = false`, [`crate::EvaluateOptions::no_wait`]). The action did not
    /// run; it stays pending until a reviewer decides.
    #[error("action {action_id} is pending human approval{}", .approval_request_id.as_deref().map(|id| format!(" (approval request {id})")).unwrap_or_default())]
    PendingApproval {
        /// The pending action.
        action_id: String,
        /// The approval request a reviewer answers, when the service gave one.
        approval_request_id: Option<String>,
    },
    /// The client is misconfigured; the message says what to set.
    #[error("configuration error: {0}")]
    Configuration(String),
    /// The request conflicts with the server's state (HTTP 409).
    #[error("conflict: {message}")]
    Conflict {
        /// What the server said.
        message: String,
    },
    /// The service could not be reached (connection refused, reset, DNS, TLS).
    #[error("connection error: {message}")]
    Connection {
        /// What went wrong.
        message: String,
    },
    /// The TLS handshake failed (bad or untrusted certificate, protocol mismatch). Never
    /// retried and never a reason to fail open: it may mean someone is in the middle.
    #[error("TLS error: {message}")]
    Tls {
        /// What went wrong.
        message: String,
    },
    /// The kill switch is active for this agent or organisation; nothing was sent.
    #[error("kill switch active: {reason}")]
    KillSwitch {
        /// The operator's reason.
        reason: String,
    },
    /// The resource does not exist (HTTP 404).
    #[error("not found: {message}")]
    NotFound {
        /// What the server said.
        message: String,
    },
    /// Too many requests (HTTP 429); `retry_after` is the server's `Retry-After`, when given.
    #[error("rate limited{}", .retry_after.map(|d| format!(" (retry after {d:?})")).unwrap_or_default())]
    RateLimited {
        /// When the server said to retry.
        retry_after: Option<Duration>,
    },
    /// The server failed (HTTP 5xx).
    #[error("server error (HTTP {status}): {message}")]
    Server {
        /// The HTTP status code.
        status: u16,
        /// What the server said.
        message: String,
    },
    /// A request did not complete in time.
    #[error("request timed out after {after:?}")]
    Timeout {
        /// The configured timeout that elapsed.
        after: Duration,
    },
    /// The request was refused as invalid (HTTP 400/422, or local validation).
    #[error("validation failed: {message}")]
    Validation {
        /// Summary.
        message: String,
        /// Field name → what is wrong with it.
        field_errors: BTreeMap<String, String>,
    },
    /// The circuit breaker is open; no request was sent.
    #[error("circuit breaker open; retry in {retry_in:?}")]
    CircuitOpen {
        /// Time until the breaker half-opens.
        retry_in: Duration,
    },
    /// The server answered something this client cannot interpret safely
    /// (malformed JSON, an unknown decision string, a non-object body).
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl Error {
    /// Whether retrying the same request may succeed: connection problems, timeouts,
    /// rate limiting and 5xx server errors.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Connection { .. }
                | Error::Timeout { .. }
                | Error::RateLimited { .. }
                | Error::Server { .. }
        )
    }

    /// Whether this error means "the governance service could not be consulted" — the
    /// conditions under which a fail-open client lets an action proceed. Decisions (denied,
    /// approval timeout, kill switch) and client mistakes are never in this set.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Connection { .. }
                | Error::Timeout { .. }
                | Error::Server { .. }
                | Error::CircuitOpen { .. }
                | Error::RateLimited { .. }
        )
    }

    /// The decision carried by a [`Error::Denied`], if this is one.
    pub fn decision(&self) -> Option<&AuthorizationDecision> {
        match self {
            Error::Denied(d) => Some(d),
            _ => None,
        }
    }

    /// Why a governed call did not run, classified once for every front-end (the macro's span
    /// and logs, the MCP guard, the client's callers).
    ///
    /// ```
    /// use ascend_runtime::{Error, RefusalKind};
    ///
    /// let pending = Error::PendingApproval { action_id: "7".into(), approval_request_id: None };
    /// assert_eq!(pending.refusal_kind(), RefusalKind::ApprovalPending);
    /// let down = Error::Connection { message: "refused".into() };
    /// assert_eq!(down.refusal_kind().as_str(), "unavailable");
    /// ```
    pub fn refusal_kind(&self) -> RefusalKind {
        match self {
            Error::Denied(_) => RefusalKind::Denied,
            Error::KillSwitch { .. } => RefusalKind::KillSwitch,
            Error::ApprovalTimeout { .. } => RefusalKind::ApprovalTimeout,
            Error::PendingApproval { .. } => RefusalKind::ApprovalPending,
            e if e.is_unavailable() => RefusalKind::Unavailable,
            _ => RefusalKind::Error,
        }
    }

    /// The id of the action governance assigned, when the error carries one (a denial, an
    /// approval that timed out or is pending).
    pub fn action_id(&self) -> Option<&str> {
        let id = match self {
            Error::Denied(d) => d.action_id.as_str(),
            Error::ApprovalTimeout { action_id, .. } | Error::PendingApproval { action_id, .. } => {
                action_id.as_str()
            }
            _ => "",
        };
        (!id.is_empty()).then_some(id)
    }

    /// A stable machine-readable code, compatible with the Python SDK's `error_code` values.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Authentication { .. } => "AUTH_ERROR",
            Error::Forbidden { .. } => "AUTHZ_DENIED",
            Error::Denied(_) => "AUTHZ_DENIED",
            Error::ApprovalTimeout { .. } => "APPROVAL_TIMEOUT",
            Error::PendingApproval { .. } => "APPROVAL_PENDING",
            Error::Configuration(_) => "CONFIG_ERROR",
            Error::Conflict { .. } => "CONFLICT",
            Error::Connection { .. } => "CONNECTION_ERROR",
            Error::Tls { .. } => "TLS_ERROR",
            Error::KillSwitch { .. } => "KILL_SWITCH_ACTIVE",
            Error::NotFound { .. } => "NOT_FOUND",
            Error::RateLimited { .. } => "RATE_LIMIT",
            Error::Server { .. } => "SERVER_ERROR",
            Error::Timeout { .. } => "TIMEOUT",
            Error::Validation { .. } => "VALIDATION_ERROR",
            Error::CircuitOpen { .. } => "CIRCUIT_OPEN",
            Error::Protocol(_) => "PROTOCOL_ERROR",
        }
    }
}

/// Why a governed call did not run: [`Error::refusal_kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// Governance denied the call (policy, risk, blocked MCP server or tool).
    Denied,
    /// The kill switch is active.
    KillSwitch,
    /// A human must approve, and nobody decided within the wait.
    ApprovalTimeout,
    /// A human must approve and the call did not wait ([`Error::PendingApproval`]).
    ApprovalPending,
    /// The governance service could not be consulted and the client fails closed.
    Unavailable,
    /// Any other governance error (authentication, configuration, validation, protocol).
    Error,
}

impl RefusalKind {
    /// Stable machine-readable name (`denied`, `kill_switch`, `approval_timeout`,
    /// `approval_pending`, `unavailable`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalKind::Denied => "denied",
            RefusalKind::KillSwitch => "kill_switch",
            RefusalKind::ApprovalTimeout => "approval_timeout",
            RefusalKind::ApprovalPending => "approval_pending",
            RefusalKind::Unavailable => "unavailable",
            RefusalKind::Error => "error",
        }
    }
}
