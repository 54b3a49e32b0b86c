//! The tamper-evident audit trail: canonical encoding and hashing ([`chain`]) and the walk that
//! detects edits, missing entries, reordering and truncation ([`verify`]).

pub mod chain;
pub mod event;
pub mod verify;

pub use chain::{GENESIS, entry_hash};
pub use event::Event;
pub use verify::{ChainVerifier, Problem, VerifyReport, verify_chain};
