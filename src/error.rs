//! The error type of the examples' support code.

/// What can go wrong while setting up or driving an example.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The control plane (`ascend-server`) failed: start-up, a key, or an API call.
    #[error("control plane: {0}")]
    Server(#[from] ascend_server::Error),
    /// The governance client failed.
    #[error("governance client: {0}")]
    Runtime(#[from] ascend_runtime::Error),
    /// A local file or socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Something did not happen in time (e.g. no pending action showed up).
    #[error("timed out: {0}")]
    Timeout(String),
    /// The server answered something the example did not expect.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// Result alias of the examples' support code.
pub type Result<T, E = Error> = std::result::Result<T, E>;
