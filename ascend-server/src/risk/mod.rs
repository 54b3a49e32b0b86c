//! The risk engine: a pure, deterministic 0–100 score for every submitted action.
//!
//! [`RiskEngine::assess`] turns a [`RiskInput`] (the submitted action, the environment, what the
//! server knows about the agent, and the MCP call when there is one) into a [`RiskAssessment`]:
//!
//! 1. [`features`] reads the action once into typed [`ActionFeatures`] (verb, data class, record
//!    count, amount, paths, MCP tool, …) using the tables of [`tables`];
//! 2. [`cvss`] derives a CVSS v3.1 base vector from the features and looks its score up in a table
//!    precomputed once per process (spec formula, spec Roundup; vectors parsed by the `cvss` crate);
//! 3. [`nist`] rates likelihood and impact on the five NIST SP 800-30 levels and combines them
//!    with Table I-2;
//! 4. [`attack`] tags the MITRE ATT&CK techniques the action resembles;
//! 5. [`composite`] combines the three with the caller's indicators and the MCP tool floor into
//!    the score, recording every contribution as a [`RiskFactor`].
//!
//! No I/O, no locks, no regexes: a few small allocations for the output strings only. The same
//! input always gives the same assessment.

pub mod attack;
mod cloudcli;
pub mod composite;
pub mod config;
mod content;
pub mod cvss;
pub mod features;
pub mod findings;
pub mod messages;
pub mod money;
pub mod net;
pub mod nist;
pub mod operations;
pub mod paths;
mod shell;
pub mod sql;
pub mod tables;
pub mod text;

use std::fmt;

use ascend_runtime::{AgentAction, RiskFactor, RiskLevel};
use serde::Serialize;

pub use attack::Technique;
pub use config::RiskConfig;
pub use features::ActionFeatures;
pub use findings::{Finding, Floor};
pub use nist::NistLevel;
pub use tables::PathClass;

/// What the server knows about the agent submitting an action.
///
/// `Default` is an unregistered agent with no history (the most cautious reading).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AgentProfile {
    /// The agent is registered with the control plane.
    pub registered: bool,
    /// The agent acts without a human supervising it.
    pub autonomous: bool,
    /// Denials of this agent in the recent window.
    pub recent_denials: u32,
    /// The agent has never submitted this action type before.
    pub first_use_of_action_type: bool,
    /// Actions submitted by this agent in the last minute.
    pub actions_last_minute: u32,
}

/// An MCP tool call, with the tool's annotations and the server's per-tool override.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct McpCall<'a> {
    /// The MCP server's registered name.
    pub server: &'a str,
    /// The tool name (`list_directory`, `write_file`, …).
    pub tool: &'a str,
    /// `readOnlyHint` of the tool (lowers the computed score, never below the tool floor).
    pub read_only_hint: Option<bool>,
    /// `destructiveHint` of the tool (raises the score).
    pub destructive_hint: Option<bool>,
    /// `idempotentHint` of the tool (reported, not scored).
    pub idempotent_hint: Option<bool>,
    /// `openWorldHint` of the tool (network reach: CVSS AV:N, small raise).
    pub open_world_hint: Option<bool>,
    /// The MCP server's `tool_risk_overrides` entry: the score is at least this.
    pub risk_override: Option<f64>,
}

/// Everything the risk engine looks at for one action.
#[derive(Debug, Clone, Copy)]
pub struct RiskInput<'a> {
    /// The submitted action.
    pub action: &'a AgentAction,
    /// Deployment environment (`production`, `staging`, `development`, …); empty = production.
    pub environment: &'a str,
    /// What the server knows about the agent.
    pub agent: &'a AgentProfile,
    /// The MCP call, when the action goes through an MCP server.
    pub mcp: Option<McpCall<'a>>,
}

/// The operation an action performs, read from its action type (see [`tables::VERB_TOKENS`]).
///
/// Ordered by [`Verb::rank`]: when an action type has several verb tokens the riskiest wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    /// No known verb.
    Other,
    /// Reading data.
    Read,
    /// Listing (directories, collections).
    List,
    /// Creating new records or files.
    Create,
    /// Modifying existing data.
    Write,
    /// Sending a message.
    Send,
    /// Executing a command or script.
    Execute,
    /// Changing system configuration or operating a system.
    Configure,
    /// Changing identities, roles or permissions.
    Grant,
    /// Moving money.
    Transfer,
    /// Deleting, dropping, truncating.
    Delete,
}

impl Verb {
    /// Risk rank used to pick one verb among several tokens (higher wins).
    pub fn rank(self) -> u8 {
        match self {
            Verb::Other => 0,
            Verb::Read => 1,
            Verb::List => 2,
            Verb::Create => 3,
            Verb::Send => 4,
            Verb::Write => 5,
            Verb::Execute => 6,
            Verb::Configure => 7,
            Verb::Grant => 8,
            Verb::Transfer => 9,
            Verb::Delete => 10,
        }
    }

    /// The canonical verb string policies see as `context.action_verb`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Other => "other",
            Verb::Read => "read",
            Verb::List => "list",
            Verb::Create => "create",
            Verb::Write => "write",
            Verb::Send => "send",
            Verb::Execute => "execute",
            Verb::Configure => "configure",
            Verb::Grant => "grant",
            Verb::Transfer => "transfer",
            Verb::Delete => "delete",
        }
    }

    /// The coarse family policies see as `context.action_family`:
    /// `read` (read, list), `write` (create, write), `delete`, `execute`, `financial`,
    /// `communication`, `admin` (grant, configure), `other`.
    pub fn family(self) -> &'static str {
        match self {
            Verb::Other => "other",
            Verb::Read | Verb::List => "read",
            Verb::Create | Verb::Write => "write",
            Verb::Delete => "delete",
            Verb::Execute => "execute",
            Verb::Transfer => "financial",
            Verb::Send => "communication",
            Verb::Grant | Verb::Configure => "admin",
        }
    }

    /// Whether the verb changes state (create, write, delete, grant, configure, transfer).
    pub fn is_mutation(self) -> bool {
        matches!(
            self,
            Verb::Create
                | Verb::Write
                | Verb::Delete
                | Verb::Grant
                | Verb::Configure
                | Verb::Transfer
        )
    }

    /// Whether the verb only reads (read, list).
    pub fn is_read(self) -> bool {
        matches!(self, Verb::Read | Verb::List)
    }
}

/// How sensitive the data an action touches is, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Public data.
    Public = 0,
    /// Internal data (the default when nothing is known).
    Internal = 1,
    /// Confidential business data (financial records, audit logs).
    Confidential = 2,
    /// Personal data (PII).
    Pii = 3,
    /// Health, card or secret data (PHI, PCI, credentials).
    Restricted = 4,
}

impl DataClass {
    /// The string policies see as `context.data_classification`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Public => "public",
            DataClass::Internal => "internal",
            DataClass::Confidential => "confidential",
            DataClass::Pii => "pii",
            DataClass::Restricted => "restricted",
        }
    }
}

impl fmt::Display for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The risk engine's answer for one action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskAssessment {
    /// Composite score 0–100, one decimal.
    pub score: f64,
    /// Band of `score`: low < 40 ≤ medium < 70 ≤ high < 90 ≤ critical.
    pub level: RiskLevel,
    /// Derived CVSS v3.1 base vector, e.g. `CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N`.
    pub cvss_vector: String,
    /// Its base score 0.0–10.0 (spec Appendix A Roundup).
    pub cvss_score: f64,
    /// `None`, `Low`, `Medium`, `High` or `Critical`.
    pub cvss_severity: String,
    /// NIST SP 800-30 likelihood.
    pub nist_likelihood: NistLevel,
    /// NIST SP 800-30 impact.
    pub nist_impact: NistLevel,
    /// NIST SP 800-30 level of risk (Table I-2).
    pub nist_risk: NistLevel,
    /// ATT&CK techniques the action resembles, highest weight first.
    pub mitre_techniques: Vec<Technique>,
    /// Tactic of the top technique.
    pub mitre_tactic: Option<String>,
    /// Id of the top technique.
    pub mitre_technique: Option<String>,
    /// Every contribution to `score`, with its reason.
    pub factors: Vec<RiskFactor>,
    /// What the engine read from the action; the policy engine builds its Cedar context from it.
    pub features: ActionFeatures,
}

impl Default for RiskAssessment {
    /// A zero assessment (low risk, no factors), for callers that skip scoring.
    fn default() -> Self {
        Self {
            score: 0.0,
            level: RiskLevel::Low,
            cvss_vector: String::new(),
            cvss_score: 0.0,
            cvss_severity: "None".to_owned(),
            nist_likelihood: NistLevel::VeryLow,
            nist_impact: NistLevel::VeryLow,
            nist_risk: NistLevel::VeryLow,
            mitre_techniques: Vec::new(),
            mitre_tactic: None,
            mitre_technique: None,
            factors: Vec::new(),
            features: ActionFeatures::default(),
        }
    }
}

impl RiskAssessment {
    /// Technique ids only, in order (the wire's `mitre_techniques`).
    pub fn technique_ids(&self) -> Vec<String> {
        self.mitre_techniques
            .iter()
            .map(|t| t.id.to_owned())
            .collect()
    }
}

/// The risk engine. Cheap to create and to share (`Send + Sync`, no interior state besides a
/// process-wide CVSS table built on first use).
#[derive(Debug, Clone, Copy)]
pub struct RiskEngine {
    table: &'static cvss::CvssTable,
    config: &'static RiskConfig,
}

impl Default for RiskEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl RiskEngine {
    /// A risk engine with the built-in tables, for the organisation of
    /// `ASCEND_INTERNAL_DOMAINS` ([`RiskConfig::global`]).
    pub fn new() -> Self {
        Self::with_config(RiskConfig::global())
    }

    /// A risk engine for a given organisation. The configuration lives as long as the process
    /// (a `static`, [`RiskConfig::global`], or `Box::leak` of one built at start-up), which keeps
    /// the engine `Copy`.
    pub fn with_config(config: &'static RiskConfig) -> Self {
        Self {
            table: cvss::CvssTable::global(),
            config,
        }
    }

    /// The organisation this engine judges for.
    pub fn config(&self) -> &RiskConfig {
        self.config
    }

    /// Score one action. Pure and deterministic.
    pub fn assess(&self, input: &RiskInput<'_>) -> RiskAssessment {
        let features = features::extract_with(input, self.config);
        composite::assess(self.table, features)
    }
}
