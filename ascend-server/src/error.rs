//! The crate's one error type, [`Error`], and how it becomes an HTTP response.
//!
//! Every variant maps to a JSON body `{"detail": "...", "errors": {...}}`
//! ([`ascend_runtime::wire::ErrorBody`]). Deterministic failures never map to 429 or 5xx
//! (wire-protocol §2.1: the Python SDK would retry them four times); the exceptions are the
//! rate limit (429 with `Retry-After`: a retry later is the cure) and the storage quota (507:
//! it lifts when the operator raises the quota).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use ascend_runtime::wire::ErrorBody;

/// Everything that can go wrong in the server, the store and the command line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Request validation failed (HTTP 422) with per-field messages.
    #[error("{detail}")]
    Validation {
        /// Summary.
        detail: String,
        /// Field name → message.
        errors: Map<String, Value>,
    },
    /// The request is malformed (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid API key (HTTP 401).
    #[error("invalid or missing API key")]
    Unauthorized,
    /// The key is valid but may not do this (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// A governance denial (HTTP 403 with the body shape the Python SDK turns into DENIED).
    #[error("governance violation: {reason}")]
    Governance {
        /// Machine-readable code, e.g. `KILL_SWITCH_ACTIVE`.
        code: String,
        /// Why.
        reason: String,
        /// The request's correlation id.
        correlation_id: Option<String>,
        /// The MCP server concerned, for MCP registry denials (copied into the body, where the
        /// Python SDK picks it up into the decision's metadata).
        mcp_server_name: Option<String>,
    },
    /// No such resource in the caller's organisation (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the configured limit (HTTP 413).
    #[error("request body too large")]
    PayloadTooLarge,
    /// The body did not arrive within the body timeout (HTTP 408).
    #[error("request body not received in time")]
    RequestTimeout,
    /// Too many requests of one organisation or agent (HTTP 429 with `Retry-After`).
    #[error("{detail}")]
    RateLimited {
        /// Which limit, and when to retry.
        detail: String,
        /// Whole seconds until a request will be accepted again (at least 1).
        retry_after_secs: u64,
    },
    /// The organisation's storage quota is used up (HTTP 507).
    #[error("{0}")]
    QuotaExceeded(String),
    /// Invalid configuration (flags, environment, TOML file).
    #[error("configuration: {0}")]
    Config(String),
    /// SQLite failed.
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    /// PostgreSQL failed (the server-side store, `--db postgres://…`).
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The store's writer is gone (shut down or crashed).
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    /// Policies could not be loaded.
    #[error("policy: {0}")]
    Policy(#[from] crate::policy::PolicyError),
    /// File or socket I/O.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// An outgoing HTTP request failed (webhooks, command line).
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// JSON encoding or decoding failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A command-line request got an error answer from the server.
    #[error("server answered {status}: {detail}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The `detail` text of the answer.
        detail: String,
    },
    /// Anything else that should not happen.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<crate::model::UnknownRole> for Error {
    fn from(e: crate::model::UnknownRole) -> Self {
        Error::field("role", e.to_string())
    }
}

impl Error {
    /// A validation error for one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut errors = Map::new();
        errors.insert(field.to_owned(), Value::String(message.clone()));
        Error::Validation {
            detail: format!("{field}: {message}"),
            errors,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::BadRequest(_) | Error::Json(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::Governance { .. } => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::QuotaExceeded(_) => StatusCode::INSUFFICIENT_STORAGE,
            Error::Config(_) | Error::Policy(_) => StatusCode::BAD_REQUEST,
            // Storage trouble is transient: 503 lets clients retry (the idempotency key makes
            // a retried submit safe).
            Error::StoreUnavailable(_) | Error::Database(_) | Error::Postgres(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::Io(_) | Error::Http(_) | Error::Api { .. } | Error::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && !matches!(self, Error::QuotaExceeded(_)) {
            tracing::error!(error = %self, "request failed");
        }
        match self {
            Error::Governance {
                code,
                reason,
                correlation_id,
                mcp_server_name,
            } => {
                let mut body = serde_json::json!({
                    "detail": {
                        "error": format!("governance_violation: {code}"),
                        "detail": reason,
                        "code": code,
                        "correlation_id": correlation_id,
                    }
                });
                if let (Some(name), Some(detail)) = (mcp_server_name, body.get_mut("detail"))
                    && let Some(d) = detail.as_object_mut()
                {
                    d.insert("mcp_server_name".into(), name.into());
                }
                (status, axum::Json(body)).into_response()
            }
            Error::Validation { detail, errors } => {
                (status, axum::Json(ErrorBody { detail, errors })).into_response()
            }
            Error::RateLimited {
                detail,
                retry_after_secs,
            } => (
                status,
                [(
                    axum::http::header::RETRY_AFTER,
                    retry_after_secs.to_string(),
                )],
                axum::Json(ErrorBody {
                    detail,
                    errors: Map::new(),
                }),
            )
                .into_response(),
            other => {
                let detail = match &other {
                    // Do not leak internals to clients.
                    Error::Database(_) | Error::Postgres(_) => "database unavailable".to_owned(),
                    Error::Io(_) | Error::Http(_) | Error::Internal(_) => {
                        "internal error".to_owned()
                    }
                    e => e.to_string(),
                };
                (
                    status,
                    axum::Json(ErrorBody {
                        detail,
                        errors: Map::new(),
                    }),
                )
                    .into_response()
            }
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
