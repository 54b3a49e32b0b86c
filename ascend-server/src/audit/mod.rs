//! The tamper-evident audit trail: canonical encoding and hashing ([`chain`]), typed events
//! ([`event`]), signed checkpoints kept apart from the database ([`checkpoint`]), the replay of
//! actions from their events ([`replay`]), the walk that detects edits, missing entries,
//! reordering, truncation and rewriting ([`verify`]), and the offline evidence package
//! ([`evidence`]).

pub mod chain;
pub mod checkpoint;
pub mod event;
pub mod evidence;
pub mod replay;
pub mod verify;

pub use chain::{GENESIS, entry_hash};
pub use checkpoint::{Checkpoint, CheckpointLog, Reason, Signer};
pub use event::Event;
pub use verify::{ChainVerifier, Finding, Problem, VerifyReport, verify_chain};
