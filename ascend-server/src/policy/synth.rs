//! Synthetic policy sets and requests, for the differential test and the benchmarks.
//!
//! Deterministic for a given seed. Policies mix scopes (specific actions, action lists, any
//! action; specific, `in`, `is` and any resources; some principals) and conditions over the
//! context the engine provides, with approval gates, log-only policies and a few policies that
//! can fail to evaluate (integer overflow), so every branch of the decision procedure is used.

use ascend_runtime::{AgentAction, RiskLevel};
/// The deterministic generator the synthetic requests take (re-exported `fastrand::Rng`).
pub use fastrand::Rng;

use crate::risk::features::McpFeatures;
use crate::risk::{
    ActionFeatures, AgentProfile, DataClass, NistLevel, RiskAssessment, Verb, attack,
};

/// Action types used by synthetic policies and requests.
pub const ACTIONS: &[&str] = &[
    "database.read",
    "database.write",
    "database.delete",
    "transaction",
    "data_access",
    "data_modification",
    "communication",
    "api_call",
    "system_operation",
    "query",
    "report_generation",
    "mcp.read_file",
    "mcp.write_file",
    "mcp.delete_file",
    "mcp.list_directory",
    "crm.update",
    "billing.refund",
    "iam.grant",
    "storage.upload",
    "shell.execute",
];

/// Resources used by synthetic policies and requests.
pub const RESOURCES: &[&str] = &[
    "users",
    "customers",
    "payments",
    "product_categories",
    "orders",
    "invoices",
    "audit_log",
    "backups",
    "roles",
    "inventory",
    "tickets",
    "/etc/config.yaml",
    "~/.ssh",
    "reports",
    "email",
];

const ENVS: &[&str] = &["production", "staging", "development"];
const FAMILIES: &[&str] = &[
    "read",
    "write",
    "delete",
    "financial",
    "communication",
    "admin",
    "execute",
];
const CLASSES: &[&str] = &["public", "internal", "confidential", "pii", "restricted"];
const VERBS: &[Verb] = &[
    Verb::Read,
    Verb::List,
    Verb::Create,
    Verb::Write,
    Verb::Send,
    Verb::Execute,
    Verb::Configure,
    Verb::Grant,
    Verb::Transfer,
    Verb::Delete,
    Verb::Other,
];

fn pick<'a, T>(rng: &mut Rng, xs: &'a [T]) -> &'a T {
    &xs[rng.usize(..xs.len())]
}

fn condition(rng: &mut Rng) -> String {
    match rng.u8(..13) {
        0 => format!("context.risk_score < {}", rng.i64(10..100)),
        1 => format!("context.risk_score >= {}", rng.i64(10..100)),
        2 => format!("context.record_count > {}", rng.i64(0..500)),
        3 => format!("context.environment == \"{}\"", pick(rng, ENVS)),
        4 => format!(
            "context.techniques.contains(\"{}\")",
            pick(rng, attack::TECHNIQUES).id
        ),
        5 => "context.pii_involved".to_owned(),
        6 => "!context.external_transfer".to_owned(),
        7 => format!("context.amount >= {}", rng.i64(0..100_000)),
        8 => format!("context.action_family == \"{}\"", pick(rng, FAMILIES)),
        9 => format!("context.data_classification == \"{}\"", pick(rng, CLASSES)),
        10 => "context.agent_registered".to_owned(),
        11 => format!("context.cvss_score <= {}", rng.i64(0..100)),
        _ => format!("context.risk_level != \"{}\"", pick(rng, &["low", "high"])),
    }
}

/// `n` policies as one file, deterministic for `seed`.
pub fn policy_sources(n: usize, seed: u64) -> Vec<(String, String)> {
    let mut rng = Rng::with_seed(seed);
    let mut text = String::new();
    for i in 0..n {
        let forbid = rng.u8(..100) < 40;
        let mut annotations = format!("@id(\"p{i}\")\n@name(\"Synthetic policy {i}\")\n");
        if forbid && rng.u8(..100) < 70 {
            annotations.push_str(&format!("@approval(\"team_{}\")\n", rng.u8(..5)));
        }
        if rng.u8(..100) < 5 {
            annotations.push_str("@mode(\"log_only\")\n");
        }
        let principal = if rng.u8(..100) < 10 {
            format!("principal == Agent::\"agent-{}\"", rng.u8(..10))
        } else {
            "principal".to_owned()
        };
        let action = match rng.u8(..100) {
            0..75 => format!("action == Action::\"{}\"", pick(&mut rng, ACTIONS)),
            75..85 => format!(
                "action in [Action::\"{}\", Action::\"{}\"]",
                pick(&mut rng, ACTIONS),
                pick(&mut rng, ACTIONS)
            ),
            _ => "action".to_owned(),
        };
        let resource = match rng.u8(..100) {
            0..50 => format!("resource == Resource::\"{}\"", pick(&mut rng, RESOURCES)),
            50..60 => format!("resource in Resource::\"{}\"", pick(&mut rng, RESOURCES)),
            60..65 => "resource is Resource".to_owned(),
            _ => "resource".to_owned(),
        };
        let mut conds: Vec<String> = (0..rng.usize(2..=5)).map(|_| condition(&mut rng)).collect();
        if rng.u8(..100) < 2 {
            conds.push("context.amount * 10000000000000 > 0".to_owned());
        }
        text.push_str(&format!(
            "{annotations}{} ({principal}, {action}, {resource})\nwhen {{ {} }};\n\n",
            if forbid { "forbid" } else { "permit" },
            conds.join(" && ")
        ));
    }
    vec![(format!("synthetic-{n}.cedar"), text)]
}

/// One synthetic request: an action, its environment and a plausible assessment.
#[derive(Debug, Clone)]
pub struct SynthRequest {
    /// The action.
    pub action: AgentAction,
    /// The environment.
    pub environment: String,
    /// A synthetic assessment (not computed by the risk engine).
    pub risk: RiskAssessment,
}

/// A random request over [`ACTIONS`] and [`RESOURCES`] (with some unknown ones).
pub fn request(rng: &mut Rng) -> SynthRequest {
    let action_type = if rng.u8(..100) < 90 {
        (*pick(rng, ACTIONS)).to_owned()
    } else {
        format!("unknown.action{}", rng.u8(..5))
    };
    let resource = if rng.u8(..100) < 85 {
        (*pick(rng, RESOURCES)).to_owned()
    } else {
        format!("unlisted_{}", rng.u8(..5))
    };
    let action = AgentAction::new(action_type, resource)
        .with_agent(format!("agent-{}", rng.u8(..12)), "synthetic");
    let environment = (*pick(rng, ENVS)).to_owned();
    let score = f64::from(rng.u16(..1001)) / 10.0;
    let techniques: Vec<_> = attack::TECHNIQUES
        .iter()
        .filter(|_| rng.u8(..100) < 15)
        .copied()
        .collect();
    let mcp = (rng.u8(..100) < 20).then(|| McpFeatures {
        server: "filesystem".to_owned(),
        tool: "write_file".to_owned(),
        destructive_hint: Some(rng.bool()),
        ..McpFeatures::default()
    });
    let features = ActionFeatures {
        verb: *pick(rng, VERBS),
        domain: "synthetic".to_owned(),
        environment: environment.clone(),
        production: environment == "production",
        data_class: *pick(
            rng,
            &[
                DataClass::Public,
                DataClass::Internal,
                DataClass::Confidential,
                DataClass::Pii,
                DataClass::Restricted,
            ],
        ),
        pii: rng.bool(),
        financial: rng.bool(),
        record_count: (rng.u8(..100) < 60).then(|| rng.i64(0..1000)),
        amount: (rng.u8(..100) < 40).then(|| rng.i64(0..2_000_000)),
        amount_threshold_exceeded: rng.bool(),
        external_transfer: rng.u8(..100) < 30,
        recursive: rng.bool(),
        mcp,
        agent: AgentProfile {
            registered: rng.bool(),
            autonomous: rng.bool(),
            ..AgentProfile::default()
        },
        ..ActionFeatures::default()
    };
    let risk = RiskAssessment {
        score,
        level: RiskLevel::from_score(score),
        cvss_score: f64::from(rng.u8(..101)) / 10.0,
        cvss_severity: "Medium".to_owned(),
        nist_risk: NistLevel::from_step(i32::from(rng.u8(..5))),
        mitre_techniques: techniques,
        features,
        ..RiskAssessment::default()
    };
    SynthRequest {
        action,
        environment,
        risk,
    }
}
