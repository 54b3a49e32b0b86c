//! risk-model.md §6: the calibration cases, with the default policy set, as a table; plus
//! property tests of the risk engine (bounds, determinism, monotonicity).

use ascend_runtime::{AgentAction, RiskLevel};
use ascend_server::engine::Engine;
use ascend_server::policy::Outcome;
use ascend_server::risk::{AgentProfile, McpCall, RiskEngine, RiskInput};
use proptest::prelude::*;
use serde_json::json;

struct Case {
    name: &'static str,
    action: AgentAction,
    mcp: Option<McpCall<'static>>,
    levels: &'static [RiskLevel],
    outcomes: &'static [Outcome],
    rule_name: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    use Outcome::*;
    use RiskLevel::*;
    vec![
        Case {
            name: "read product_categories, public",
            action: AgentAction::new("database.read", "product_categories")
                .with_risk_indicator("data_classification", json!("public")),
            mcp: None,
            levels: &[Low],
            outcomes: &[Allow],
            rule_name: Some("Auto-Allow Low Risk"),
        },
        Case {
            name: "read customers name/email/phone, pii",
            action: AgentAction::new("database.read", "customers")
                .with_parameter("fields", json!(["name", "email", "phone"]))
                .with_risk_indicator("data_classification", json!("pii")),
            mcp: None,
            levels: &[Medium],
            outcomes: &[Allow],
            rule_name: Some("Allow Medium Risk"),
        },
        Case {
            name: "update one customer's billing address (PII write)",
            action: AgentAction::new("database.write", "customers")
                .with_resource_id("cust_42")
                .with_parameter("field", json!("billing_address"))
                .with_risk_indicator("pii_involved", json!(true)),
            mcp: None,
            levels: &[High],
            outcomes: &[Pending],
            rule_name: Some("High Risk Requires Approval"),
        },
        Case {
            name: "delete 150 rows from users",
            action: AgentAction::new("database.delete", "users")
                .with_parameter("record_count", json!(150)),
            mcp: None,
            levels: &[Critical],
            outcomes: &[Deny],
            rule_name: Some("Block Bulk Deletions"),
        },
        Case {
            name: "transaction 50,000 USD to an external account, threshold exceeded",
            action: AgentAction::new("transaction", "payments")
                .with_parameter("amount", json!(50000))
                .with_parameter("currency", json!("USD"))
                .with_parameter("destination_type", json!("external"))
                .with_risk_indicator("amount_threshold", json!("exceeded"))
                .with_risk_indicator("external_transfer", json!(true))
                .with_risk_indicator("financial_data", json!(true)),
            mcp: None,
            levels: &[High, Critical],
            outcomes: &[Pending, Deny],
            rule_name: None,
        },
        Case {
            name: "MCP list_directory on a project folder",
            action: AgentAction::new("mcp.list_directory", "/home/dev/project")
                .with_mcp_server("filesystem")
                .with_parameter("path", json!("/home/dev/project")),
            mcp: Some(McpCall {
                server: "filesystem",
                tool: "list_directory",
                read_only_hint: Some(true),
                ..McpCall::default()
            }),
            levels: &[Low],
            outcomes: &[Allow],
            rule_name: Some("Auto-Allow Low Risk"),
        },
        Case {
            name: "MCP write_file to /etc/config.yaml",
            action: AgentAction::new("mcp.write_file", "/etc/config.yaml")
                .with_mcp_server("filesystem")
                .with_parameter("path", json!("/etc/config.yaml"))
                .with_parameter("content", json!("debug: true")),
            mcp: Some(McpCall {
                server: "filesystem",
                tool: "write_file",
                ..McpCall::default()
            }),
            levels: &[High],
            outcomes: &[Pending],
            rule_name: Some("MCP Writes to Sensitive Paths Need Approval"),
        },
        Case {
            name: "MCP delete_file recursive on ~/.ssh",
            action: AgentAction::new("mcp.delete_file", "~/.ssh")
                .with_mcp_server("filesystem")
                .with_parameter("path", json!("~/.ssh"))
                .with_parameter("recursive", json!(true)),
            mcp: Some(McpCall {
                server: "filesystem",
                tool: "delete_file",
                destructive_hint: Some(true),
                ..McpCall::default()
            }),
            levels: &[Critical],
            outcomes: &[Deny],
            rule_name: Some("Block Destruction of Credentials"),
        },
    ]
}

fn profiles() -> [(&'static str, AgentProfile); 3] {
    [
        ("default (unregistered)", AgentProfile::default()),
        (
            "registered autonomous",
            AgentProfile {
                registered: true,
                autonomous: true,
                ..AgentProfile::default()
            },
        ),
        (
            "registered supervised",
            AgentProfile {
                registered: true,
                ..AgentProfile::default()
            },
        ),
    ]
}

#[test]
fn calibration_cases_hold_with_the_default_policies() {
    let engine = Engine::with_default_policies().expect("default policies load");
    for (pname, profile) in profiles() {
        for case in cases() {
            let input = RiskInput {
                action: &case.action,
                environment: "production",
                agent: &profile,
                mcp: case.mcp,
            };
            let eval = engine.decide(&input);
            let ctx = format!(
                "{} / {pname}: score {} level {} decision {:?} rule {:?} factors {:#?}",
                case.name,
                eval.risk.score,
                eval.risk.level,
                eval.policy.outcome,
                eval.policy.rule_name,
                eval.risk.factors
            );
            assert!(case.levels.contains(&eval.risk.level), "level: {ctx}");
            assert!(
                case.outcomes.contains(&eval.policy.outcome),
                "outcome: {ctx}"
            );
            if let Some(rule) = case.rule_name {
                assert_eq!(eval.policy.rule_name.as_deref(), Some(rule), "rule: {ctx}");
            }
            // Every score is explained: the factors add up to it.
            let sum: f64 = eval.risk.factors.iter().map(|f| f.contribution).sum();
            assert!(
                (sum - eval.risk.score).abs() < 0.05,
                "factors sum {sum}: {ctx}"
            );
            assert!(eval.risk.factors.iter().all(|f| !f.reason.is_empty()));
        }
    }
}

#[test]
fn pending_and_denied_decisions_carry_their_details() {
    let engine = Engine::with_default_policies().expect("default policies load");
    let agent = AgentProfile::default();
    let by_name = |name: &str| {
        cases()
            .into_iter()
            .find(|c| c.name.starts_with(name))
            .expect("case")
    };

    let transfer = by_name("transaction");
    let eval = engine.decide(&RiskInput {
        action: &transfer.action,
        environment: "production",
        agent: &agent,
        mcp: None,
    });
    assert_eq!(eval.risk.mitre_technique.as_deref(), Some("T1657"));
    if eval.policy.outcome == Outcome::Pending {
        let approval = eval.policy.approval.expect("pending carries an approval");
        assert!(approval.approvers.contains(&"finance_manager".to_owned()));
        assert!(approval.approvers.contains(&"cfo".to_owned()));
        assert!(approval.stages >= 2);
        assert_eq!(
            eval.policy.rule_name.as_deref(),
            Some("Large External Transfers Need Approval")
        );
    }

    let delete = by_name("delete 150");
    let eval = engine.decide(&RiskInput {
        action: &delete.action,
        environment: "production",
        agent: &agent,
        mcp: None,
    });
    assert_eq!(eval.policy.rule_id.as_deref(), Some("block-bulk-deletions"));
    assert!(
        eval.policy
            .policy_violations
            .contains(&"Block Bulk Deletions".to_owned())
    );
    assert!(
        eval.policy
            .policy_violations
            .contains(&"Block Critical Risk".to_owned())
    );
    assert!(eval.risk.mitre_techniques.iter().any(|t| t.id == "T1485"));
    assert_eq!(eval.risk.features.record_count, Some(150));

    // Strict mode is a log-only trial: the PII read is allowed, and the trial rule is reported.
    let pii = by_name("read customers");
    let eval = engine.decide(&RiskInput {
        action: &pii.action,
        environment: "production",
        agent: &agent,
        mcp: None,
    });
    assert_eq!(eval.policy.outcome, Outcome::Allow);
    assert_eq!(
        eval.policy.log_only,
        vec!["strict-pii-read-approval".to_owned()]
    );
}

#[test]
fn cvss_nist_and_attack_outputs_are_filled() {
    let engine = RiskEngine::new();
    let agent = AgentProfile::default();
    for case in cases() {
        let r = engine.assess(&RiskInput {
            action: &case.action,
            environment: "production",
            agent: &agent,
            mcp: case.mcp,
        });
        assert!(
            r.cvss_vector.starts_with("CVSS:3.1/AV:"),
            "{}",
            r.cvss_vector
        );
        assert!((0.0..=10.0).contains(&r.cvss_score));
        assert!(["None", "Low", "Medium", "High", "Critical"].contains(&r.cvss_severity.as_str()));
        assert_eq!(
            r.mitre_technique.as_deref(),
            r.mitre_techniques.first().map(|t| t.id)
        );
        assert!(!r.nist_risk.to_string().is_empty());
    }
}

fn action_strategy() -> impl Strategy<Value = AgentAction> {
    let types = prop::sample::select(vec![
        "database.read",
        "database.write",
        "database.delete",
        "transaction",
        "communication",
        "api_call",
        "mcp.write_file",
        "mcp.delete_file",
        "shell.execute",
        "query",
        "whatever",
    ]);
    let resources = prop::sample::select(vec![
        "users",
        "product_categories",
        "payments",
        "/etc/hosts",
        "~/.ssh/id_rsa",
        "inventory",
        "audit_log",
        "backups",
    ]);
    (
        types,
        resources,
        prop::option::of(0i64..100_000),
        prop::option::of(0i64..10_000_000),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec!["low", "medium", "high", "critical"]),
    )
        .prop_map(|(t, r, count, amount, ext, rec, sens)| {
            let mut a = AgentAction::new(t, r)
                .with_risk_indicator("external_transfer", json!(ext))
                .with_risk_indicator("data_sensitivity", json!(sens))
                .with_parameter("recursive", json!(rec));
            if let Some(c) = count {
                a = a.with_parameter("count", json!(c));
            }
            if let Some(x) = amount {
                a = a.with_parameter("amount", json!(x));
            }
            a
        })
}

fn profile_strategy() -> impl Strategy<Value = AgentProfile> {
    (
        any::<bool>(),
        any::<bool>(),
        0u32..6,
        any::<bool>(),
        0u32..100,
    )
        .prop_map(
            |(registered, autonomous, recent_denials, first, velocity)| AgentProfile {
                registered,
                autonomous,
                recent_denials,
                first_use_of_action_type: first,
                actions_last_minute: velocity,
            },
        )
}

const CLASSES: [&str; 5] = ["public", "internal", "confidential", "pii", "restricted"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn score_is_bounded_and_deterministic(
        action in action_strategy(),
        agent in profile_strategy(),
        env in prop::sample::select(vec!["production", "staging", "development", ""]),
    ) {
        let engine = RiskEngine::new();
        let input = RiskInput { action: &action, environment: env, agent: &agent, mcp: None };
        let a = engine.assess(&input);
        prop_assert!((0.0..=100.0).contains(&a.score), "score {}", a.score);
        prop_assert_eq!(a.level, RiskLevel::from_score(a.score));
        prop_assert_eq!(&a, &engine.assess(&input));
    }

    #[test]
    fn more_records_never_lower_the_score(
        action in action_strategy(),
        agent in profile_strategy(),
        n in 0i64..5_000,
        extra in 0i64..100_000,
    ) {
        let engine = RiskEngine::new();
        let fewer = action.clone().with_parameter("record_count", json!(n));
        let more = action.with_parameter("record_count", json!(n + extra));
        let s1 = engine.assess(&RiskInput { action: &fewer, environment: "production", agent: &agent, mcp: None }).score;
        let s2 = engine.assess(&RiskInput { action: &more, environment: "production", agent: &agent, mcp: None }).score;
        prop_assert!(s2 >= s1, "{} records: {}, {} records: {}", n, s1, n + extra, s2);
    }

    #[test]
    fn more_sensitive_data_never_lowers_the_score(
        action in action_strategy(),
        agent in profile_strategy(),
        lo in 0usize..5,
        step in 0usize..5,
        pii in any::<bool>(),
    ) {
        let engine = RiskEngine::new();
        let hi = (lo + step).min(4);
        let less = action.clone().with_risk_indicator("data_classification", json!(CLASSES[lo]));
        let mut more = action.with_risk_indicator("data_classification", json!(CLASSES[hi]));
        if pii {
            more = more.with_risk_indicator("pii_involved", json!(true));
        }
        let s1 = engine.assess(&RiskInput { action: &less, environment: "production", agent: &agent, mcp: None }).score;
        let s2 = engine.assess(&RiskInput { action: &more, environment: "production", agent: &agent, mcp: None }).score;
        prop_assert!(s2 >= s1, "{}: {} vs {} (+pii {}): {}", CLASSES[lo], s1, CLASSES[hi], pii, s2);
    }
}
