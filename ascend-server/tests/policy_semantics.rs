//! Policy semantics (risk-model.md §7): default deny, forbid wins, approval gates, named rules,
//! log-only, errors deny, validation at load, loading directories and atomic reload.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ascend_runtime::{AgentAction, RiskLevel};
use ascend_server::policy::{Outcome, PolicyEngine, PolicyError};
use ascend_server::risk::{ActionFeatures, RiskAssessment};
use serde_json::json;

fn src(name: &str, text: &str) -> Vec<(String, String)> {
    vec![(name.to_owned(), text.to_owned())]
}

fn risk(score: f64) -> RiskAssessment {
    RiskAssessment {
        score,
        level: RiskLevel::from_score(score),
        ..RiskAssessment::default()
    }
}

fn risk_with(score: f64, f: ActionFeatures) -> RiskAssessment {
    RiskAssessment {
        features: f,
        ..risk(score)
    }
}

fn act(t: &str, r: &str) -> AgentAction {
    AgentAction::new(t, r).with_agent("agent-1", "Agent One")
}

const BASE: &str = r#"
@id("allow-low") @name("Allow Low") @reason("low risk")
permit (principal, action, resource) when { context.risk_score < 40 };
"#;

#[test]
fn default_deny_says_no_policy_permits() {
    let e = PolicyEngine::from_sources(&src("a.cedar", BASE)).expect("loads");
    let d = e.evaluate(&act("database.read", "users"), "production", &risk(55.0));
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.rule_id, None);
    assert!(d.reason.contains("no policy permits"), "{}", d.reason);
    assert!(d.reason.contains("database.read") && d.reason.contains("users"));

    let empty = PolicyEngine::from_sources(&[]).expect("empty set loads");
    assert_eq!(empty.policy_count(), 0);
    let d = empty.evaluate(&act("x", "y"), "production", &risk(0.0));
    assert_eq!(d.outcome, Outcome::Deny);
}

#[test]
fn permit_names_its_rule() {
    let e = PolicyEngine::from_sources(&src("a.cedar", BASE)).expect("loads");
    let d = e.evaluate(&act("database.read", "users"), "production", &risk(12.0));
    assert_eq!(d.outcome, Outcome::Allow);
    assert_eq!(d.rule_id.as_deref(), Some("allow-low"));
    assert_eq!(d.rule_name.as_deref(), Some("Allow Low"));
    assert_eq!(d.reason, "low risk");
    assert_eq!(d.determining, vec!["allow-low".to_owned()]);
}

#[test]
fn forbid_wins_and_unannotated_forbid_denies() {
    let text = format!(
        "{BASE}\n@id(\"no-deletes\") @name(\"No Deletes\")\nforbid (principal, action, resource) when {{ context.action_family == \"delete\" }};"
    );
    let e = PolicyEngine::from_sources(&src("a.cedar", &text)).expect("loads");
    let f = ActionFeatures {
        verb: ascend_server::risk::Verb::Delete,
        ..ActionFeatures::default()
    };
    let d = e.evaluate(
        &act("database.delete", "users"),
        "production",
        &risk_with(5.0, f),
    );
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.rule_name.as_deref(), Some("No Deletes"));
    assert_eq!(d.reason, "denied by policy \"No Deletes\"");
    assert_eq!(d.policy_violations, vec!["No Deletes".to_owned()]);
    assert!(d.approval.is_none());
}

#[test]
fn approval_forbid_makes_pending_with_approvers_and_stages() {
    let text = format!(
        r#"{BASE}
@id("gate-a") @name("Gate A") @reason("needs finance")
@approval("stage1:finance_manager, stage2:cfo")
forbid (principal, action == Action::"transaction", resource) when {{ context.amount >= 1000 }};

@id("gate-b") @name("Gate B") @approval("security_team") @approvers("alice@example.com")
forbid (principal, action, resource) when {{ context.external_transfer }};
"#
    );
    let e = PolicyEngine::from_sources(&src("g.cedar", &text)).expect("loads");
    let f = ActionFeatures {
        amount: Some(5000),
        external_transfer: true,
        ..ActionFeatures::default()
    };
    let d = e.evaluate(
        &act("transaction", "payments"),
        "production",
        &risk_with(20.0, f.clone()),
    );
    assert_eq!(d.outcome, Outcome::Pending);
    assert_eq!(d.rule_id.as_deref(), Some("gate-a"));
    let a = d.approval.expect("approval");
    assert_eq!(
        a.approvers,
        [
            "finance_manager",
            "cfo",
            "security_team",
            "alice@example.com"
        ]
    );
    assert_eq!(a.stages, 2);
    assert!(a.reason.contains("needs finance"));
    assert_eq!(
        d.policy_violations,
        vec!["Gate A".to_owned(), "Gate B".to_owned()]
    );

    // No permit matches (score too high): approval gates do not open a door; default deny.
    let d = e.evaluate(
        &act("transaction", "payments"),
        "production",
        &risk_with(50.0, f.clone()),
    );
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(d.reason.contains("no policy permits"), "{}", d.reason);

    // A hard forbid beside an approval gate denies.
    let text2 = format!(
        "{text}\n@id(\"hard\") @name(\"Hard\") forbid (principal, action, resource) when {{ context.amount > 4000 }};"
    );
    let e = PolicyEngine::from_sources(&src("g.cedar", &text2)).expect("loads");
    let d = e.evaluate(
        &act("transaction", "payments"),
        "production",
        &risk_with(20.0, f),
    );
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.rule_id.as_deref(), Some("hard"));
    assert_eq!(d.policy_violations.len(), 3);
}

#[test]
fn log_only_policies_are_reported_never_enforced() {
    let text = format!(
        r#"{BASE}
@id("trial-deny") @mode("log_only")
forbid (principal, action, resource) when {{ context.risk_score > 5 }};
@id("trial-permit") @mode("log_only")
permit (principal, action, resource) when {{ context.risk_score > 50 }};
"#
    );
    let e = PolicyEngine::from_sources(&src("t.cedar", &text)).expect("loads");
    let d = e.evaluate(&act("a", "b"), "production", &risk(10.0));
    assert_eq!(d.outcome, Outcome::Allow, "log-only forbid is not enforced");
    assert_eq!(d.log_only, vec!["trial-deny".to_owned()]);
    let d = e.evaluate(&act("a", "b"), "production", &risk(60.0));
    assert_eq!(d.outcome, Outcome::Deny, "log-only permit is not enforced");
    assert_eq!(
        d.log_only,
        vec!["trial-deny".to_owned(), "trial-permit".to_owned()]
    );
}

#[test]
fn evaluation_errors_deny_and_are_reported() {
    let text = format!(
        r#"{BASE}
@id("overflowing") @name("Overflowing")
forbid (principal, action, resource) when {{ context.amount * 10000000000000 > 5 }};
@id("trial-overflow") @mode("log_only")
forbid (principal, action, resource) when {{ context.record_count * 10000000000000 > 5 }};
"#
    );
    let e = PolicyEngine::from_sources(&src("e.cedar", &text)).expect("loads");
    let f = ActionFeatures {
        amount: Some(10_000_000),
        ..ActionFeatures::default()
    };
    let d = e.evaluate(&act("a", "b"), "production", &risk_with(1.0, f));
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.rule_id.as_deref(), Some("overflowing"));
    assert!(
        d.reason.starts_with("policy evaluation failed"),
        "{}",
        d.reason
    );
    assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
    assert!(d.errors[0].contains("overflowing") && d.errors[0].contains("e.cedar"));

    // An error in a log-only policy is reported but does not deny.
    let f = ActionFeatures {
        record_count: Some(10_000_000),
        ..ActionFeatures::default()
    };
    let d = e.evaluate(&act("a", "b"), "production", &risk_with(1.0, f));
    assert_eq!(d.outcome, Outcome::Allow);
    assert_eq!(d.errors.len(), 1);
    assert!(d.errors[0].starts_with("log-only"), "{:?}", d.errors);
}

#[test]
fn missing_attribute_is_refused_at_load_naming_file_and_policy() {
    let text = format!(
        "{BASE}\n@id(\"typo\") @name(\"Typo\")\nforbid (principal, action, resource) when {{ context.recordcount > 5 }};"
    );
    let err = PolicyEngine::from_sources(&src("typo.cedar", &text)).expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, PolicyError::Validation { .. }), "{msg}");
    assert!(
        msg.contains("typo.cedar") && msg.contains("`typo`"),
        "{msg}"
    );
    assert!(msg.contains("recordcount"), "{msg}");

    // Wrong types and unknown entity types are refused too.
    for bad in [
        r#"permit (principal, action, resource) when { context.risk_level > 3 };"#,
        r#"permit (principal == User::"x", action, resource);"#,
    ] {
        let err = PolicyEngine::from_sources(&src("bad.cedar", bad)).expect_err(bad);
        assert!(err.to_string().contains("bad.cedar"), "{err}");
    }
}

#[test]
fn malformed_files_and_annotations_are_errors_not_panics() {
    let err =
        PolicyEngine::from_sources(&src("broken.cedar", "permit (principal, action resource);"))
            .expect_err("parse error");
    let msg = err.to_string();
    assert!(msg.starts_with("broken.cedar: line 1"), "{msg}");

    let cases = [
        (
            "@aproval(\"x\") forbid (principal, action, resource);",
            "unknown annotation",
        ),
        (
            "@approval(\"x\") permit (principal, action, resource);",
            "only applies to forbid",
        ),
        (
            "@mode(\"sometimes\") permit (principal, action, resource);",
            "@mode",
        ),
        (
            "@approvers(\"x\") forbid (principal, action, resource);",
            "needs @approval",
        ),
        (
            "permit (principal == ?principal, action, resource);",
            "templates",
        ),
    ];
    for (text, needle) in cases {
        let err = PolicyEngine::from_sources(&src("x.cedar", text)).expect_err(text);
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }

    let dup = vec![
        (
            "a.cedar".to_owned(),
            "@id(\"same\") permit (principal, action, resource);".to_owned(),
        ),
        (
            "b.cedar".to_owned(),
            "@id(\"same\") permit (principal, action, resource);".to_owned(),
        ),
    ];
    let err = PolicyEngine::from_sources(&dup).expect_err("duplicate");
    assert!(matches!(err, PolicyError::DuplicateId { .. }), "{err}");
}

#[test]
fn default_policies_load_and_are_documented() {
    let e = PolicyEngine::with_default_policies().expect("default set loads");
    assert!(e.policy_count() >= 8);
    for (name, text) in ascend_server::policy::DEFAULT_POLICY_FILES {
        assert!(
            text.trim_start().starts_with("//"),
            "{name} starts with a comment"
        );
    }
    let ids = e.policy_ids();
    assert!(ids.contains(&"block-bulk-deletions".to_owned()));
}

#[test]
fn directory_load_and_atomic_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("10-a.cedar"), BASE).expect("write");
    std::fs::write(dir.path().join("README.md"), "not a policy").expect("write");
    let e = Arc::new(PolicyEngine::from_dir(dir.path()).expect("loads"));
    assert_eq!(e.policy_count(), 1);

    // Readers running during reloads always see a whole set: either 1 permit (score 50 denied)
    // or the 2-permit set where score 50 is allowed by "allow-medium"; never a set that
    // allows with a rule of the other set, never an error.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let e = Arc::clone(&e);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut seen = (0u32, 0u32);
            while !stop.load(Ordering::Relaxed) {
                let d = e.evaluate(&act("a", "b"), "production", &risk(50.0));
                assert!(d.errors.is_empty(), "{:?}", d.errors);
                match d.outcome {
                    Outcome::Allow => {
                        assert_eq!(d.rule_id.as_deref(), Some("allow-medium"));
                        seen.1 += 1;
                    }
                    Outcome::Deny => {
                        assert!(d.reason.contains("no policy permits"));
                        seen.0 += 1;
                    }
                    Outcome::Pending => panic!("no approval gates here"),
                }
            }
            seen
        })
    };
    let medium = format!(
        "{BASE}\n@id(\"allow-medium\") permit (principal, action, resource) when {{ context.risk_score < 70 }};"
    );
    for i in 0..20 {
        let text = if i % 2 == 0 { medium.as_str() } else { BASE };
        std::fs::write(dir.path().join("10-a.cedar"), text).expect("write");
        let n = e.reload_from_dir(dir.path()).expect("reload");
        assert_eq!(n, if i % 2 == 0 { 2 } else { 1 });
    }
    // A broken reload keeps the current set.
    std::fs::write(dir.path().join("20-b.cedar"), "permit (").expect("write");
    assert!(e.reload_from_dir(dir.path()).is_err());
    assert_eq!(e.policy_count(), 1);
    stop.store(true, Ordering::Relaxed);
    let _seen = reader.join().expect("reader thread");

    let empty = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        PolicyEngine::from_dir(empty.path()),
        Err(PolicyError::NoPolicies(_))
    ));
    assert!(matches!(
        PolicyEngine::from_dir(&empty.path().join("missing")),
        Err(PolicyError::Io { .. })
    ));
}

#[test]
fn action_family_matches_any_delete_and_context_reads_indicators() {
    use ascend_server::risk::{AgentProfile, RiskEngine, RiskInput};
    let e = PolicyEngine::with_default_policies().expect("loads");
    let risk_engine = RiskEngine::new();
    let agent = AgentProfile::default();
    for t in [
        "database.delete",
        "data_purge",
        "crm.remove_contacts",
        "mcp.delete_file",
    ] {
        let a = act(t, "users").with_parameter("count", json!(500));
        let r = risk_engine.assess(&RiskInput {
            action: &a,
            environment: "production",
            agent: &agent,
            mcp: None,
        });
        let d = e.evaluate(&a, "production", &r);
        assert_eq!(d.outcome, Outcome::Deny, "{t}");
        assert_eq!(d.rule_name.as_deref(), Some("Block Bulk Deletions"), "{t}");
    }
}

#[test]
fn engines_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PolicyEngine>();
    assert_send_sync::<ascend_server::engine::Engine>();
    assert_send_sync::<ascend_server::risk::RiskEngine>();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Arbitrary text (and mangled valid policies) is an error or a policy set, never a panic.
    #[test]
    fn loading_arbitrary_text_never_panics(
        junk in ".{0,200}",
        cut in 0usize..400,
        ann in "[a-zA-Zå_:, 0-9]{0,20}",
    ) {
        let _ = PolicyEngine::from_sources(&src("junk.cedar", &junk));
        let valid = format!("@approval(\"{ann}\") forbid (principal, action, resource) when {{ context.amount > 5 }};\n{BASE}");
        let cut = valid.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(valid.len());
        let _ = PolicyEngine::from_sources(&src("cut.cedar", &valid[..cut]));
    }
}
