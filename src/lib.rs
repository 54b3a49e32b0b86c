//! Support code shared by the runnable examples (`examples/`) and the end-to-end tests
//! (`tests/`) of the workspace.
//!
//! | module | what it holds |
//! |---|---|
//! | [`harness`] | an in-process control plane (`ascend-server` on `127.0.0.1`, a temporary SQLite file) with an agent, a reviewer and an admin key; the reviewer's and operator's HTTP calls |
//! | [`report`] | the printed report: per-call decision blocks, the audit-trail table, the checks |
//! | [`error`] | the [`Error`] of this support code |
//! | `mcp_fs` | a governed filesystem MCP server (see `examples/mcp_filesystem.rs`) |
//!
//! Start with `cargo run --example quickstart`.

pub mod error;
pub mod harness;
pub mod report;

pub use error::{Error, Result};

pub mod mcp_fs;
