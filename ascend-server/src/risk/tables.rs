//! Every data table of the risk engine, in one place.
//!
//! To teach the engine a new action verb, a sensitive resource or path, an MCP tool baseline or
//! an ATT&CK technique, add a row here: the rest of the engine only reads these tables. Weights
//! and increments are ours (risk-model.md fixes the structure and the calibration cases, not the
//! numbers); `tests/risk_calibration.rs` pins the calibration cases so a change here that breaks
//! one fails CI.

use super::{DataClass, Verb};

// ---------------------------------------------------------------------------------------------
// Action types → verbs
// ---------------------------------------------------------------------------------------------

/// Tokens of an action type (split on `.`, `_`, `-`, `:`, `/`, space) and the verb each implies.
/// When several tokens match, the riskiest verb wins (see [`Verb::rank`]).
pub const VERB_TOKENS: &[(&str, Verb)] = &[
    // reads
    ("read", Verb::Read),
    ("get", Verb::Read),
    ("fetch", Verb::Read),
    ("query", Verb::Read),
    ("select", Verb::Read),
    ("search", Verb::Read),
    ("view", Verb::Read),
    ("access", Verb::Read),
    ("lookup", Verb::Read),
    ("retrieve", Verb::Read),
    ("download", Verb::Read),
    ("export", Verb::Read),
    ("report", Verb::Read),
    ("analysis", Verb::Read),
    ("analyze", Verb::Read),
    ("recommendation", Verb::Read),
    ("info", Verb::Read),
    ("stat", Verb::Read),
    // listings
    ("list", Verb::List),
    ("ls", Verb::List),
    ("browse", Verb::List),
    ("directory", Verb::List),
    ("tree", Verb::List),
    ("scan", Verb::List),
    // creation
    ("create", Verb::Create),
    ("insert", Verb::Create),
    ("add", Verb::Create),
    ("upload", Verb::Create),
    ("mkdir", Verb::Create),
    // modification
    ("write", Verb::Write),
    ("update", Verb::Write),
    ("modify", Verb::Write),
    ("modification", Verb::Write),
    ("edit", Verb::Write),
    ("patch", Verb::Write),
    ("put", Verb::Write),
    ("set", Verb::Write),
    ("upsert", Verb::Write),
    ("change", Verb::Write),
    ("move", Verb::Write),
    ("rename", Verb::Write),
    ("save", Verb::Write),
    ("replace", Verb::Write),
    ("append", Verb::Write),
    // destruction
    ("delete", Verb::Delete),
    ("remove", Verb::Delete),
    ("drop", Verb::Delete),
    ("truncate", Verb::Delete),
    ("purge", Verb::Delete),
    ("destroy", Verb::Delete),
    ("wipe", Verb::Delete),
    ("erase", Verb::Delete),
    ("rm", Verb::Delete),
    ("rmdir", Verb::Delete),
    ("unlink", Verb::Delete),
    ("deletion", Verb::Delete),
    ("terminate", Verb::Delete),
    ("deactivate", Verb::Delete),
    // execution
    ("execute", Verb::Execute),
    ("exec", Verb::Execute),
    ("run", Verb::Execute),
    ("shell", Verb::Execute),
    ("command", Verb::Execute),
    ("eval", Verb::Execute),
    ("spawn", Verb::Execute),
    ("script", Verb::Execute),
    ("bash", Verb::Execute),
    // money
    ("transaction", Verb::Transfer),
    ("transfer", Verb::Transfer),
    ("payment", Verb::Transfer),
    ("pay", Verb::Transfer),
    ("payout", Verb::Transfer),
    ("refund", Verb::Transfer),
    ("charge", Verb::Transfer),
    ("withdraw", Verb::Transfer),
    ("wire", Verb::Transfer),
    ("payroll", Verb::Transfer),
    ("payouts", Verb::Transfer),
    ("transfers", Verb::Transfer),
    ("refunds", Verb::Transfer),
    // communication
    ("send", Verb::Send),
    ("email", Verb::Send),
    ("message", Verb::Send),
    ("notify", Verb::Send),
    ("communication", Verb::Send),
    ("sms", Verb::Send),
    ("publish", Verb::Send),
    ("post", Verb::Send),
    // identity and permissions
    ("grant", Verb::Grant),
    ("revoke", Verb::Grant),
    ("permission", Verb::Grant),
    ("permissions", Verb::Grant),
    ("role", Verb::Grant),
    ("chmod", Verb::Grant),
    ("chown", Verb::Grant),
    ("sudo", Verb::Grant),
    ("escalate", Verb::Grant),
    ("assign", Verb::Grant),
    ("invite", Verb::Grant),
    // system configuration and operation
    ("configure", Verb::Configure),
    ("config", Verb::Configure),
    ("settings", Verb::Configure),
    ("deploy", Verb::Configure),
    ("restart", Verb::Configure),
    ("shutdown", Verb::Configure),
    ("stop", Verb::Configure),
    ("disable", Verb::Configure),
    ("install", Verb::Configure),
    ("operation", Verb::Configure),
];

/// Action-type tokens that say the call leaves the organisation (CVSS AV:N).
pub const EXTERNAL_TOKENS: &[&str] = &[
    "api",
    "http",
    "https",
    "webhook",
    "email",
    "sms",
    "slack",
    "external",
    "web",
    "fetch_url",
];

// ---------------------------------------------------------------------------------------------
// Data sensitivity
// ---------------------------------------------------------------------------------------------

/// A resource-name pattern and what it says about the data behind it.
///
/// A needle without `_` matches when a token of the lowercase resource name (split on anything
/// not alphanumeric) starts with it (`user` matches `users`, `categor` matches `product_categories`,
/// `log` does not match `catalog`); a needle with `_` matches as a substring (`api_key`).
#[derive(Debug, Clone, Copy)]
pub struct ResourcePattern {
    /// Lowercase needle (see the type's docs).
    pub needle: &'static str,
    /// Data class the resource holds.
    pub class: DataClass,
    /// Financial records (CVSS I:H for writes; ATT&CK T1565 / T1657).
    pub financial: bool,
    /// Identities, roles or keys (ATT&CK T1098 for mutations).
    pub identity: bool,
    /// Logging or audit data (ATT&CK T1562 for deletes or disables).
    pub audit: bool,
    /// Backups and snapshots (ATT&CK T1490 for deletes).
    pub backup: bool,
}

const fn rp(needle: &'static str, class: DataClass) -> ResourcePattern {
    ResourcePattern {
        needle,
        class,
        financial: false,
        identity: false,
        audit: false,
        backup: false,
    }
}

const fn financial(mut p: ResourcePattern) -> ResourcePattern {
    p.financial = true;
    p
}

const fn identity(mut p: ResourcePattern) -> ResourcePattern {
    p.identity = true;
    p
}

/// Resource-name patterns; every matching row applies (class = the highest).
pub const RESOURCE_PATTERNS: &[ResourcePattern] = &[
    // public data
    rp("public", DataClass::Public),
    rp("product", DataClass::Public),
    rp("categor", DataClass::Public),
    rp("catalog", DataClass::Public),
    rp("faq", DataClass::Public),
    rp("docs", DataClass::Public),
    // personal data
    identity(rp("user", DataClass::Pii)),
    rp("customer", DataClass::Pii),
    rp("client", DataClass::Pii),
    rp("employee", DataClass::Pii),
    rp("person", DataClass::Pii),
    rp("contact", DataClass::Pii),
    rp("profile", DataClass::Pii),
    rp("member", DataClass::Pii),
    rp("address", DataClass::Pii),
    identity(rp("account", DataClass::Pii)),
    // restricted data (health, cards, secrets)
    rp("patient", DataClass::Restricted),
    rp("medical", DataClass::Restricted),
    rp("health", DataClass::Restricted),
    rp("card", DataClass::Restricted),
    identity(rp("secret", DataClass::Restricted)),
    identity(rp("credential", DataClass::Restricted)),
    identity(rp("password", DataClass::Restricted)),
    identity(rp("api_key", DataClass::Restricted)),
    identity(rp("token", DataClass::Restricted)),
    identity(rp("vault", DataClass::Restricted)),
    identity(rp("private_key", DataClass::Restricted)),
    // financial records
    financial(rp("payment", DataClass::Confidential)),
    financial(rp("transaction", DataClass::Confidential)),
    financial(rp("ledger", DataClass::Confidential)),
    financial(rp("invoice", DataClass::Confidential)),
    financial(rp("billing", DataClass::Pii)),
    financial(rp("bank", DataClass::Confidential)),
    financial(rp("payroll", DataClass::Pii)),
    financial(rp("salary", DataClass::Pii)),
    financial(rp("stripe", DataClass::Confidential)),
    financial(rp("finance", DataClass::Confidential)),
    // identity and permissions
    identity(rp("role", DataClass::Internal)),
    identity(rp("permission", DataClass::Internal)),
    identity(rp("iam", DataClass::Internal)),
    identity(rp("group", DataClass::Internal)),
    // audit, logging, backups
    ResourcePattern {
        audit: true,
        ..rp("audit", DataClass::Confidential)
    },
    ResourcePattern {
        audit: true,
        ..rp("log", DataClass::Internal)
    },
    ResourcePattern {
        backup: true,
        ..rp("backup", DataClass::Confidential)
    },
    ResourcePattern {
        backup: true,
        ..rp("snapshot", DataClass::Confidential)
    },
];

/// `data_classification` strings (lowercase) → class.
pub const CLASSIFICATIONS: &[(&str, DataClass)] = &[
    ("public", DataClass::Public),
    ("open", DataClass::Public),
    ("internal", DataClass::Internal),
    ("confidential", DataClass::Confidential),
    ("sensitive", DataClass::Confidential),
    ("financial", DataClass::Confidential),
    ("pii", DataClass::Pii),
    ("personal", DataClass::Pii),
    ("personal_data", DataClass::Pii),
    ("phi", DataClass::Restricted),
    ("pci", DataClass::Restricted),
    ("restricted", DataClass::Restricted),
    ("secret", DataClass::Restricted),
    ("top_secret", DataClass::Restricted),
    ("credentials", DataClass::Restricted),
];

/// `data_sensitivity` strings (lowercase) → class. `low` (the Python SDK sends it by default) and
/// unknown strings say nothing.
pub const SENSITIVITIES: &[(&str, DataClass)] = &[
    ("medium", DataClass::Internal),
    ("moderate", DataClass::Internal),
    ("high", DataClass::Pii),
    ("critical", DataClass::Restricted),
    ("very_high", DataClass::Restricted),
];

/// `compliance_flags` entries (lowercase) → class they imply.
pub const COMPLIANCE_FLAGS: &[(&str, DataClass)] = &[
    ("gdpr", DataClass::Pii),
    ("ccpa", DataClass::Pii),
    ("hipaa", DataClass::Restricted),
    ("pci", DataClass::Restricted),
    ("pci-dss", DataClass::Restricted),
    ("pci_dss", DataClass::Restricted),
    ("sox", DataClass::Confidential),
];

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/// What a sensitive path holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathClass {
    /// Nothing special.
    #[default]
    None,
    /// Operating-system files and binaries (`/boot`, `/usr/bin`, …).
    System,
    /// System configuration (`/etc`).
    SystemConfig,
    /// Credentials and keys (`.ssh`, `id_rsa`, `.aws/credentials`, …).
    Credentials,
    /// Application secrets (`.env`).
    Secrets,
}

impl PathClass {
    /// The string policies see in `context.path_class`.
    pub fn as_str(self) -> &'static str {
        match self {
            PathClass::None => "none",
            PathClass::System => "system",
            PathClass::SystemConfig => "system_config",
            PathClass::Credentials => "credentials",
            PathClass::Secrets => "secrets",
        }
    }
}

/// How a [`PathPattern`] matches a normalised path (lowercase, `\` → `/`, `~` kept).
#[derive(Debug, Clone, Copy)]
pub enum PathMatch {
    /// The path starts with this directory (`/etc` matches `/etc` and `/etc/x`, not `/etcetera`).
    DirPrefix(&'static str),
    /// One path component equals this (`.ssh` in `~/.ssh/id_rsa`).
    Component(&'static str),
    /// One component starts with this (`.env` matches `.env.local`).
    ComponentPrefix(&'static str),
    /// The path ends with this (`.pem`).
    Suffix(&'static str),
    /// The path contains this.
    Contains(&'static str),
}

/// A sensitive-path rule: the MCP floor increment it adds and the class it implies.
#[derive(Debug, Clone, Copy)]
pub struct PathPattern {
    /// How it matches.
    pub matches: PathMatch,
    /// What it holds.
    pub class: PathClass,
    /// Points added to the MCP tool floor (and reported as a factor).
    pub increment: f64,
    /// Reason text.
    pub label: &'static str,
}

/// Sensitive paths (matched against the normalised path, see [`super::paths::normalize`]).
/// Increments of the seed: `/etc`, `.env`, `.ssh`.
pub const PATH_PATTERNS: &[PathPattern] = &[
    PathPattern {
        matches: PathMatch::DirPrefix("/etc"),
        class: PathClass::SystemConfig,
        increment: 20.0,
        label: "system configuration under /etc",
    },
    PathPattern {
        matches: PathMatch::DirPrefix("/etc/shadow"),
        class: PathClass::Credentials,
        increment: 20.0,
        label: "password hashes (/etc/shadow)",
    },
    PathPattern {
        matches: PathMatch::DirPrefix("/etc/gshadow"),
        class: PathClass::Credentials,
        increment: 20.0,
        label: "group password hashes (/etc/gshadow)",
    },
    PathPattern {
        matches: PathMatch::DirPrefix("/etc/sudoers"),
        class: PathClass::SystemConfig,
        increment: 20.0,
        label: "root privileges (/etc/sudoers)",
    },
    PathPattern {
        matches: PathMatch::Suffix("/environ"),
        class: PathClass::Secrets,
        increment: 20.0,
        label: "a process environment (secrets)",
    },
    PathPattern {
        matches: PathMatch::Component("authorized_keys"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "SSH login keys (authorized_keys)",
    },
    PathPattern {
        matches: PathMatch::Component(".bashrc"),
        class: PathClass::SystemConfig,
        increment: 10.0,
        label: "shell startup file (persistence)",
    },
    PathPattern {
        matches: PathMatch::Component(".zshrc"),
        class: PathClass::SystemConfig,
        increment: 10.0,
        label: "shell startup file (persistence)",
    },
    PathPattern {
        matches: PathMatch::Component(".profile"),
        class: PathClass::SystemConfig,
        increment: 10.0,
        label: "shell startup file (persistence)",
    },
    PathPattern {
        matches: PathMatch::Component(".bash_profile"),
        class: PathClass::SystemConfig,
        increment: 10.0,
        label: "shell startup file (persistence)",
    },
    PathPattern {
        matches: PathMatch::Component(".bash_history"),
        class: PathClass::SystemConfig,
        increment: 10.0,
        label: "shell history (audit trail of the host)",
    },
    PathPattern {
        matches: PathMatch::Component(".npmrc"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "registry token (.npmrc)",
    },
    PathPattern {
        matches: PathMatch::Component(".pypirc"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "registry token (.pypirc)",
    },
    PathPattern {
        matches: PathMatch::Contains(".docker/config.json"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "registry credentials (.docker/config.json)",
    },
    PathPattern {
        matches: PathMatch::ComponentPrefix(".env"),
        class: PathClass::Secrets,
        increment: 20.0,
        label: "application secrets (.env)",
    },
    PathPattern {
        matches: PathMatch::Component(".ssh"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "SSH keys and configuration (.ssh)",
    },
    PathPattern {
        matches: PathMatch::ComponentPrefix("id_rsa"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "private key file",
    },
    PathPattern {
        matches: PathMatch::ComponentPrefix("id_ed25519"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "private key file",
    },
    PathPattern {
        matches: PathMatch::Suffix(".pem"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "key or certificate file (.pem)",
    },
    PathPattern {
        matches: PathMatch::Suffix(".key"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "key file (.key)",
    },
    PathPattern {
        matches: PathMatch::Contains(".aws/credentials"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "cloud credentials (.aws/credentials)",
    },
    PathPattern {
        matches: PathMatch::Contains(".kube/config"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "cluster credentials (.kube/config)",
    },
    PathPattern {
        matches: PathMatch::Component(".netrc"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "network credentials (.netrc)",
    },
    PathPattern {
        matches: PathMatch::Component(".git-credentials"),
        class: PathClass::Credentials,
        increment: 15.0,
        label: "git credentials",
    },
    PathPattern {
        matches: PathMatch::DirPrefix("/root"),
        class: PathClass::System,
        increment: 15.0,
        label: "root's home directory",
    },
    PathPattern {
        matches: PathMatch::DirPrefix("/boot"),
        class: PathClass::System,
        increment: 15.0,
        label: "boot files",
    },
    PathPattern {
        matches: PathMatch::DirPrefix("/usr/bin"),
        class: PathClass::System,
        increment: 15.0,
        label: "system binaries",
    },
    PathPattern {
        matches: PathMatch::DirPrefix("/usr/sbin"),
        class: PathClass::System,
        increment: 15.0,
        label: "system binaries",
    },
    PathPattern {
        matches: PathMatch::DirPrefix("/bin"),
        class: PathClass::System,
        increment: 15.0,
        label: "system binaries",
    },
    PathPattern {
        matches: PathMatch::DirPrefix("/sbin"),
        class: PathClass::System,
        increment: 15.0,
        label: "system binaries",
    },
    PathPattern {
        matches: PathMatch::DirPrefix("/var/lib"),
        class: PathClass::System,
        increment: 15.0,
        label: "system state (/var/lib)",
    },
    PathPattern {
        matches: PathMatch::DirPrefix("c:/windows"),
        class: PathClass::System,
        increment: 15.0,
        label: "Windows system directory",
    },
];

// ---------------------------------------------------------------------------------------------
// Parameter keys the engine reads (risk_indicators, then action_details, then context)
// ---------------------------------------------------------------------------------------------

/// Numeric hints of how many records an action touches.
pub const COUNT_KEYS: &[&str] = &[
    "record_count",
    "records_count",
    "count",
    "num_records",
    "records",
    "rows",
    "row_count",
    "affected_rows",
    "rows_affected",
    "limit",
    "batch_size",
    "total_records",
    "items",
    "n_records",
];

/// Arrays whose length is the number of targets (multi-target mutations).
pub const TARGET_LIST_KEYS: &[&str] = &[
    "ids",
    "record_ids",
    "targets",
    "paths",
    "files",
    "items",
    "records",
];

/// A `bulk: true` hint without a count counts as this many records.
pub const BULK_IMPLIED_COUNT: i64 = 100;

/// Money amounts.
pub const AMOUNT_KEYS: &[&str] = &[
    "amount",
    "amount_usd",
    "total_amount",
    "transfer_amount",
    "payment_amount",
];

/// `.env` variants that hold no secrets (templates committed on purpose).
pub const ENV_TEMPLATES: &[&str] = &[".env.example", ".env.sample", ".env.template", ".env.dist"];

/// Keys whose string value names a path.
pub const PATH_KEYS: &[&str] = &[
    "path",
    "file_path",
    "filepath",
    "file",
    "filename",
    "target_path",
    "target",
    "directory",
    "dir",
    "source",
    "destination",
    "dest",
    "src",
];

/// Keys whose truthy value says the operation is recursive.
pub const RECURSIVE_KEYS: &[&str] = &["recursive", "recurse", "rf"];

/// Keys whose truthy value (or value `"external"`) marks an external transfer.
pub const EXTERNAL_KEYS: &[&str] = &["external_transfer", "external", "is_external"];

/// Keys whose string value `external` (or containing `external`) marks an external destination.
pub const DESTINATION_KEYS: &[&str] = &[
    "destination_type",
    "recipient_type",
    "account_type",
    "to_account_type",
    "destination",
    "to_account",
    "recipient",
];

/// Keys marking a human in the loop (CVSS UI:R).
pub const HUMAN_IN_LOOP_KEYS: &[&str] = &[
    "human_in_loop",
    "human_in_the_loop",
    "require_human_approval",
];

/// Keys marking a human co-signature (CVSS PR:H).
pub const HUMAN_COSIGN_KEYS: &[&str] = &["human_cosigned", "co_signed", "cosigned"];

/// Keys marking that the effect crosses tenants (CVSS S:C).
pub const CROSS_TENANT_KEYS: &[&str] = &["cross_tenant", "other_tenants"];

// ---------------------------------------------------------------------------------------------
// MCP tools
// ---------------------------------------------------------------------------------------------

/// Baseline ("floor") risk of a known MCP tool, seeded from wire-protocol §6.2.
#[derive(Debug, Clone, Copy)]
pub struct ToolBaseline {
    /// Tool name as the MCP server publishes it.
    pub tool: &'static str,
    /// Floor of the composite score.
    pub floor: f64,
}

/// Known MCP tools. The three seed values are `list_directory` 15, `write_file` 50 and
/// `delete_file` 75; the others are ours, in the same spirit.
pub const MCP_TOOL_BASELINES: &[ToolBaseline] = &[
    ToolBaseline {
        tool: "list_directory",
        floor: 15.0,
    },
    ToolBaseline {
        tool: "list_allowed_directories",
        floor: 5.0,
    },
    ToolBaseline {
        tool: "directory_tree",
        floor: 15.0,
    },
    ToolBaseline {
        tool: "search_files",
        floor: 15.0,
    },
    ToolBaseline {
        tool: "get_file_info",
        floor: 10.0,
    },
    ToolBaseline {
        tool: "read_file",
        floor: 20.0,
    },
    ToolBaseline {
        tool: "read_text_file",
        floor: 20.0,
    },
    ToolBaseline {
        tool: "read_multiple_files",
        floor: 25.0,
    },
    ToolBaseline {
        tool: "create_directory",
        floor: 25.0,
    },
    ToolBaseline {
        tool: "edit_file",
        floor: 45.0,
    },
    ToolBaseline {
        tool: "move_file",
        floor: 45.0,
    },
    ToolBaseline {
        tool: "write_file",
        floor: 50.0,
    },
    ToolBaseline {
        tool: "delete_file",
        floor: 75.0,
    },
    ToolBaseline {
        tool: "delete_directory",
        floor: 75.0,
    },
    // A command tool's risk is its command line, which the shell analyser reads: the floor
    // only says "a command runs".
    ToolBaseline {
        tool: "execute_command",
        floor: 45.0,
    },
    ToolBaseline {
        tool: "run_command",
        floor: 45.0,
    },
];

/// MCP floor increment for a recursive operation.
pub const RECURSIVE_INCREMENT: f64 = 10.0;
/// MCP floor increment for a multi-target mutation (2+ targets).
pub const MULTI_TARGET_INCREMENT: f64 = 5.0;
/// MCP floor increment for a bulk mutation (100+ targets).
pub const BULK_INCREMENT: f64 = 10.0;
/// `destructiveHint: true` adds this to the computed score.
pub const DESTRUCTIVE_HINT_POINTS: f64 = 8.0;
/// `readOnlyHint: true` removes this from the computed score (never below the tool floor).
pub const READ_ONLY_HINT_POINTS: f64 = -8.0;
/// `openWorldHint: true` adds this to the computed score.
pub const OPEN_WORLD_HINT_POINTS: f64 = 3.0;

// ---------------------------------------------------------------------------------------------
// Composite weights and indicator points
// ---------------------------------------------------------------------------------------------

/// Weight of CVSS × 10 in the composite.
pub const W_CVSS: f64 = 0.40;
/// Weight of the NIST level's semi-quantitative value.
pub const W_NIST: f64 = 0.25;
/// Weight of the highest ATT&CK technique weight.
pub const W_ATTACK: f64 = 0.15;

/// Points for the data class an action reads, sends or executes on (exposure), index =
/// `DataClass as usize`.
pub const DATA_CLASS_POINTS: [f64; 5] = [0.0, 0.0, 2.0, 8.0, 12.0];
/// Points for the data class an action modifies (create, write, delete, grant, configure,
/// transfer), index = `DataClass as usize`.
pub const MUTATION_CLASS_POINTS: [f64; 5] = [0.0, 0.0, 2.0, 10.0, 12.0];

/// Record-count thresholds and their points (for mutations, and for reads of personal data).
pub const RECORD_COUNT_POINTS: &[(i64, f64)] =
    &[(10, 4.0), (100, 12.0), (1_000, 16.0), (10_000, 20.0)];

/// Amount thresholds (whole currency units) and their points.
pub const AMOUNT_POINTS: &[(i64, f64)] = &[(100_000, 6.0), (1_000_000, 12.0)];
/// `amount_threshold: "exceeded"`.
pub const AMOUNT_THRESHOLD_POINTS: f64 = 4.0;
/// `external_transfer: true` on an action that is not itself a money transfer (data leaving;
/// for transfers the CVSS scope change and ATT&CK T1657 already count it).
pub const EXTERNAL_TRANSFER_POINTS: f64 = 5.0;
/// A destructive shell or SQL command.
pub const DESTRUCTIVE_COMMAND_POINTS: f64 = 10.0;

/// Environment name (lowercase) → points.
pub const ENVIRONMENT_POINTS: &[(&str, f64)] = &[
    ("production", 4.0),
    ("prod", 4.0),
    ("staging", 1.0),
    ("development", -4.0),
    ("dev", -4.0),
    ("test", -4.0),
    ("sandbox", -6.0),
    ("local", -6.0),
];

/// An unregistered agent.
pub const UNREGISTERED_POINTS: f64 = 2.0;
/// Recent denials: 1–2 → this, 3+ → double.
pub const RECENT_DENIAL_POINTS: f64 = 2.0;
/// First use of this action type by this agent.
pub const FIRST_USE_POINTS: f64 = 2.0;
/// Unusual velocity (more than [`VELOCITY_THRESHOLD`] actions in the last minute).
pub const VELOCITY_POINTS: f64 = 4.0;
/// Actions per minute above which velocity is unusual.
pub const VELOCITY_THRESHOLD: u32 = 30;

/// NIST SP 800-30 semi-quantitative values (Table I-3 mid-points), index = `NistLevel as usize`.
pub const NIST_VALUES: [f64; 5] = [2.0, 12.0, 50.0, 88.0, 98.0];

// ---------------------------------------------------------------------------------------------
// Content analysis (content.rs, sql.rs, shell.rs, messages.rs, operations.rs, money.rs)
// ---------------------------------------------------------------------------------------------

/// A finding with [`super::findings::Floor::Hold`] lifts the score to at least this (high).
pub const HOLD_FLOOR: f64 = 70.0;
/// A finding with [`super::findings::Floor::Block`] lifts the score to at least this (critical).
pub const BLOCK_FLOOR: f64 = 90.0;
/// Points of a finding that needs a human (shown as its factor; the floor does the rest).
pub const HOLD_POINTS: f64 = 3.0;
/// Points of a finding that is denied.
pub const BLOCK_POINTS: f64 = 12.0;
/// Running a command as root.
pub const SUDO_POINTS: f64 = 3.0;
/// A path disguised with `..` or percent-encoding.
pub const TRAVERSAL_POINTS: f64 = 6.0;
/// Personal identifiers in content that stays inside the organisation.
pub const PII_CONTENT_POINTS: f64 = 3.0;
/// A data file (csv, xlsx, …) sent outside.
pub const EXPORT_POINTS: f64 = 6.0;
/// A resource named for production (`prod`, `live`) in another declared environment.
pub const PRODUCTION_RESOURCE_POINTS: f64 = 4.0;

/// Keys whose string value is SQL (parsed only when it starts like a statement).
pub const SQL_KEYS: &[&str] = &["sql", "query", "statement", "sql_query"];
/// Keys whose value is a shell command line (a string, or a list of them).
pub const SHELL_KEYS: &[&str] = &["command", "cmd", "script", "commands", "shell_command"];
/// Keys of a structured database call that restrict the rows (`where`, `filter`, …).
pub const FILTER_KEYS: &[&str] = &[
    "where",
    "filter",
    "conditions",
    "condition",
    "selector",
    "match",
];

/// Column names that hold national identifiers.
pub const PERSONAL_ID_COLUMNS: &[&str] = &[
    "ssn",
    "social_security_number",
    "date_of_birth",
    "dob",
    "birth_date",
    "passport",
    "passport_number",
    "national_id",
    "tax_id",
];
/// Column names that hold card data (PCI).
pub const PCI_COLUMNS: &[&str] = &["card_number", "cvv", "cvc", "pan", "cc_number", "expiry"];

/// Calls in interpreter code that delete paths (`true`: recursively).
pub const CODE_DELETE_CALLS: &[(&str, bool)] = &[
    ("rmtree(", true),
    ("os.remove(", false),
    ("os.unlink(", false),
    ("os.rmdir(", false),
    ("unlink(", false),
];
/// Calls in interpreter code that run a shell command given as a string literal.
pub const CODE_SHELL_CALLS: &[&str] = &[
    "os.system(",
    "subprocess.run(",
    "subprocess.call(",
    "popen(",
];

/// Words of a system unit or an action type that name a defence (logging, audit, detection).
pub const DEFENSE_WORDS: &[&str] = &[
    "cloudtrail",
    "trail",
    "logging",
    "log",
    "logs",
    "audit",
    "auditd",
    "guardduty",
    "detector",
    "diagnostic",
    "siem",
    "securityhub",
    "defender",
    "falco",
    "sysmon",
    "rsyslog",
    "journald",
    "firewalld",
    "apparmor",
    "selinux",
];
/// Words that remove or switch off.
pub const REMOVAL_WORDS: &[&str] = &[
    "delete",
    "remove",
    "deactivate",
    "disable",
    "destroy",
    "purge",
    "terminate",
    "deletion",
    "reset",
    "revoke",
    "unenroll",
    "drop",
];
/// Words that change something (besides the verb table's mutations).
pub const CHANGE_WORDS: &[&str] = &[
    "attach",
    "put",
    "set",
    "authorize",
    "add",
    "grant",
    "assign",
    "insert",
    "update",
    "create",
    "enable",
    "apply",
];
/// Words of read-only operations.
pub const READ_ONLY_WORDS: &[&str] = &[
    "get", "list", "describe", "read", "simulate", "filter", "lookup", "search", "view", "whoami",
];
/// Multi-factor authentication.
pub const MFA_WORDS: &[&str] = &["mfa", "factor", "factors", "2fa", "totp", "otp", "webauthn"];
/// Credential nouns.
pub const CREDENTIAL_WORDS: &[&str] = &[
    "key",
    "keys",
    "token",
    "tokens",
    "credential",
    "credentials",
    "password",
    "secret",
    "accesskey",
];
/// Identity and permission nouns.
pub const IDENTITY_WORDS: &[&str] = &[
    "iam",
    "user",
    "users",
    "role",
    "roles",
    "group",
    "groups",
    "permission",
    "permissions",
    "policy",
    "collaborator",
    "member",
    "members",
    "rbac",
    "assignment",
    "binding",
    "bindings",
    "okta",
    "principal",
];
/// Strings (lowercase, no spaces) that mark an administrator, owner or wildcard grant.
pub const PRIVILEGED_MARKERS: &[&str] = &[
    "administratoraccess",
    "\"action\":\"*\"",
    "roles/owner",
    "roles/editor",
    "readwrite.all",
    "allusers",
    "allauthenticatedusers",
];
/// Whole values that mark an administrator or owner grant.
pub const PRIVILEGED_VALUES: &[&str] =
    &["admin", "owner", "administrator", "superuser", "root", "*"];
/// Values that make a resource public.
pub const PUBLIC_MARKERS: &[&str] = &[
    "public-read",
    "public-read-write",
    "authenticated-read",
    "allusers",
    "public",
];
/// Keys of public-access guards (a `false` or `null` switches the guard off).
pub const PUBLIC_GUARD_KEYS: &[&str] = &[
    "BlockPublicAcls",
    "BlockPublicPolicy",
    "IgnorePublicAcls",
    "RestrictPublicBuckets",
];
/// Keys of branch-protection settings (a `false` or `null` weakens protection).
pub const PROTECTION_KEYS: &[&str] = &[
    "required_pull_request_reviews",
    "enforce_admins",
    "required_status_checks",
];
/// Network access nouns.
pub const NETWORK_WORDS: &[&str] = &[
    "security",
    "firewall",
    "firewalls",
    "ingress",
    "egress",
    "nacl",
    "acl",
];
/// Backup nouns.
pub const BACKUP_WORDS: &[&str] = &["backup", "backups", "snapshot", "snapshots", "recovery"];
/// Nouns of resources that contain data or whole systems.
pub const CONTAINER_WORDS: &[&str] = &[
    "bucket",
    "buckets",
    "database",
    "db",
    "cluster",
    "namespace",
    "repo",
    "repos",
    "repository",
    "project",
    "table",
    "index",
    "vault",
    "zone",
];
/// Compute nouns.
pub const COMPUTE_WORDS: &[&str] = &[
    "instance",
    "instances",
    "vm",
    "vms",
    "server",
    "servers",
    "node",
    "nodes",
];
/// Nouns of running code and its delivery.
pub const DEPLOY_WORDS: &[&str] = &[
    "function",
    "code",
    "deployment",
    "deploy",
    "release",
    "image",
];
/// Paths of CI/CD pipeline definitions.
pub const PIPELINE_PATHS: &[&str] = &[
    ".github/workflows",
    ".gitlab-ci",
    "jenkinsfile",
    ".circleci",
];
/// Keys holding bank details.
pub const BANK_DETAIL_KEYS: &[&str] = &[
    "iban",
    "account_number",
    "routing_number",
    "bank_account",
    "swift",
    "bic",
    "sort_code",
];
/// Name fragments of database dumps and backups.
pub const DUMP_WORDS: &[&str] = &["dump", "backup", "export", ".sql", ".bak"];
/// File extensions of data exports.
pub const DATA_EXPORT_EXTENSIONS: &[&str] = &[
    "csv", "tsv", "xlsx", "xls", "parquet", "jsonl", "ndjson", "sql", "dump", "bak", "db",
    "sqlite", "avro",
];
/// Keys naming recipients.
pub const RECIPIENT_KEYS: &[&str] = &[
    "to",
    "cc",
    "bcc",
    "recipients",
    "recipient",
    "to_email",
    "emails",
    "email_to",
    "phone_numbers",
];
/// Keys counting recipients.
pub const RECIPIENT_COUNT_KEYS: &[&str] = &["recipients_count", "recipient_count", "audience_size"];
/// Recipients at which a send is bulk.
pub const BULK_RECIPIENTS: i64 = 25;
/// Keys naming attachments or uploaded files.
pub const ATTACHMENT_KEYS: &[&str] = &["attachment", "attachments", "file", "files", "filename"];
/// Personal webmail providers (an export sent there leaves every control).
pub const PERSONAL_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "yahoo.com",
    "icloud.com",
    "proton.me",
    "protonmail.com",
    "gmx.de",
    "gmx.net",
    "aol.com",
    "mail.ru",
    "yandex.ru",
];
/// Keys holding URLs.
pub const URL_KEYS: &[&str] = &["url", "uri", "endpoint", "webhook_url", "href"];
/// Anonymous paste and request-capture sites.
pub const DROP_SITES: &[&str] = &[
    "pastebin.com",
    "webhook.site",
    "requestbin.com",
    "pipedream.net",
    "transfer.sh",
    "file.io",
    "ngrok.io",
    "ngrok-free.app",
    "hastebin.com",
    "paste.ee",
];
/// URL path words of configuration endpoints.
pub const CONFIG_ENDPOINT_WORDS: &[&str] = &[
    "feature-flags",
    "feature_flags",
    "flags",
    "settings",
    "config",
    "configuration",
    "dns_records",
    "dns",
    "webhooks",
    "subscriptions",
    "firewall",
];
/// Argument keys that are metadata, not content (not scanned for secrets or personal data).
pub const NON_CONTENT_KEYS: &[&str] = &[
    "tool_name",
    "description",
    "method",
    "url",
    "path",
    "repo_path",
    "to",
    "cc",
    "bcc",
    "recipients",
];
/// Bytes of text scanned per action at most.
pub const TEXT_SCAN_BUDGET: usize = 64 * 1024;

/// Files that decide who may act as root.
pub const PRIVILEGE_FILES: &[&str] = &["/etc/sudoers", "/etc/shadow", "/etc/gshadow"];

/// Environment words in resource names: production.
pub const PRODUCTION_WORDS: &[&str] = &["prod", "production", "prd", "live"];
/// Environment words in resource names: not production.
pub const NON_PRODUCTION_WORDS: &[&str] = &[
    "staging",
    "stage",
    "stg",
    "dev",
    "development",
    "test",
    "testing",
    "qa",
    "sandbox",
    "local",
    "ci",
];

/// Keys naming currencies.
pub const CURRENCY_KEYS: &[&str] = &["currency", "currency_code", "asset", "coin"];
/// Keys whose amount is in the currency's minor unit (cents).
pub const MINOR_AMOUNT_KEYS: &[&str] = &["amount_cents", "unit_amount", "amount_minor"];
/// Currency symbols.
pub const CURRENCY_SYMBOLS: &[(&str, &str)] =
    &[("€", "EUR"), ("£", "GBP"), ("¥", "JPY"), ("$", "USD")];
/// Currencies without minor units.
pub const ZERO_DECIMAL_CURRENCIES: &[&str] = &["JPY", "KRW", "VND", "CLP", "ISK"];
/// Coarse conversion to US dollars (order of magnitude: thresholds are a factor ten apart).
pub const USD_RATES: &[(&str, f64)] = &[
    ("USD", 1.0),
    ("EUR", 1.1),
    ("GBP", 1.27),
    ("CHF", 1.13),
    ("CAD", 0.73),
    ("AUD", 0.66),
    ("JPY", 0.0067),
    ("CNY", 0.14),
    ("INR", 0.012),
    ("SEK", 0.095),
    ("NOK", 0.093),
    ("DKK", 0.15),
    ("PLN", 0.25),
    ("BRL", 0.18),
    ("MXN", 0.055),
    ("KRW", 0.00072),
    ("BTC", 90_000.0),
    ("ETH", 3_000.0),
    ("USDC", 1.0),
    ("USDT", 1.0),
];
/// Keys naming who receives money.
pub const BENEFICIARY_KEYS: &[&str] = &[
    "beneficiary",
    "beneficiary_account",
    "payee",
    "destination",
    "to_account",
    "to",
    "wallet",
    "recipient",
    "iban",
];
/// An outgoing payment at or above this many dollars needs a human.
pub const EXTERNAL_PAYMENT_HOLD_USD: f64 = 5_000.0;
/// An outgoing payment at or above this many dollars is denied.
pub const EXTERNAL_PAYMENT_BLOCK_USD: f64 = 1_000_000.0;
/// A movement between own accounts at or above this many dollars needs a human.
pub const INTERNAL_PAYMENT_HOLD_USD: f64 = 100_000.0;

/// Below this many dollars a payment is everyday business (refunds, small supplier invoices).
pub const SMALL_PAYMENT_USD: f64 = 2_000.0;
/// Points of a small payment (negative: the frameworks rate every transfer as money leaving).
pub const SMALL_PAYMENT_POINTS: f64 = -12.0;
/// Action-type words of payments that leave the organisation by nature.
pub const OUTBOUND_PAYMENT_WORDS: &[&str] = &[
    "refund",
    "refunds",
    "payout",
    "payouts",
    "wire",
    "withdraw",
    "withdrawal",
    "payroll",
];
/// Action-type words of operations that perform nothing (quotes, estimates, simulations).
pub const DRY_RUN_WORDS: &[&str] = &[
    "quote",
    "quotes",
    "estimate",
    "estimates",
    "preview",
    "simulate",
    "simulation",
    "dryrun",
];
