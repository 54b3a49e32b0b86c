//! The harness's one error type.

/// Everything that can stop a scenario.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or process operation failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The server library refused or failed.
    #[error("server: {0}")]
    Server(#[from] ascend_server::Error),
    /// The runtime client failed.
    #[error("runtime: {0}")]
    Runtime(#[from] ascend_runtime::Error),
    /// A policy set could not be loaded.
    #[error("policy: {0}")]
    Policy(#[from] ascend_server::policy::PolicyError),
    /// An HTTP exchange of the harness itself (reviewer, operator) failed.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// JSON encoding or decoding failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// SQLite (database size, audit read) failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A scenario saw something other than what it measures (wrong decision, timeout, ...).
    #[error("{0}")]
    Scenario(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand for [`Error::Scenario`].
pub fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Scenario(msg.into()))
}
