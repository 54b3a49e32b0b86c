//! `ascend policy check DIR`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::error::Result;
use crate::policy::PolicyEngine;

/// `ascend policy ...`
#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Parse and validate every *.cedar file of a directory.
    Check(CheckArgs),
}

/// `ascend policy check DIR`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Directory of *.cedar files.
    pub dir: PathBuf,
}

/// Run.
pub fn run(cmd: PolicyCmd) -> Result<()> {
    match cmd {
        PolicyCmd::Check(a) => {
            let engine = PolicyEngine::from_dir(&a.dir)?;
            println!(
                "OK: {} policies in {}",
                engine.policy_count(),
                a.dir.display()
            );
            Ok(())
        }
    }
}
