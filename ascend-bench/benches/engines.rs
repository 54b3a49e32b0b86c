//! Engines benchmarks: risk scoring alone, and full decisions (risk + policy) with the default
//! policy set and with a generated 100-policy set, indexed against naive evaluation of the same
//! set in the same run.
//!
//! `cargo bench -p ascend-bench --bench engines` (add `-- --warm-up-time 1 --measurement-time 3`
//! for a short run). Before the criterion groups, a percentile pass prints p50/p99 per decision
//! (criterion reports means and medians only).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ascend_runtime::AgentAction;
use ascend_server::engine::Engine;
use ascend_server::policy::{Evaluation, PolicyEngine, synth};
use ascend_server::risk::{AgentProfile, McpCall, RiskEngine, RiskInput};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

/// A realistic mix: the calibration actions of risk-model.md §6.
fn calibration_actions() -> Vec<(AgentAction, Option<McpCall<'static>>)> {
    vec![
        (
            AgentAction::new("database.read", "product_categories")
                .with_risk_indicator("data_classification", json!("public")),
            None,
        ),
        (
            AgentAction::new("database.read", "customers")
                .with_risk_indicator("data_classification", json!("pii")),
            None,
        ),
        (
            AgentAction::new("database.write", "customers")
                .with_resource_id("cust_42")
                .with_risk_indicator("pii_involved", json!(true)),
            None,
        ),
        (
            AgentAction::new("database.delete", "users").with_parameter("record_count", json!(150)),
            None,
        ),
        (
            AgentAction::new("transaction", "payments")
                .with_parameter("amount", json!(50000))
                .with_risk_indicator("amount_threshold", json!("exceeded"))
                .with_risk_indicator("external_transfer", json!(true)),
            None,
        ),
        (
            AgentAction::new("mcp.list_directory", "/home/dev/project")
                .with_mcp_server("filesystem")
                .with_parameter("path", json!("/home/dev/project")),
            Some(McpCall {
                server: "filesystem",
                tool: "list_directory",
                read_only_hint: Some(true),
                ..McpCall::default()
            }),
        ),
        (
            AgentAction::new("mcp.write_file", "/etc/config.yaml")
                .with_mcp_server("filesystem")
                .with_parameter("path", json!("/etc/config.yaml")),
            Some(McpCall {
                server: "filesystem",
                tool: "write_file",
                ..McpCall::default()
            }),
        ),
        (
            AgentAction::new("mcp.delete_file", "~/.ssh")
                .with_mcp_server("filesystem")
                .with_parameter("path", json!("~/.ssh"))
                .with_parameter("recursive", json!(true)),
            Some(McpCall {
                server: "filesystem",
                tool: "delete_file",
                ..McpCall::default()
            }),
        ),
    ]
}

/// Requests over the generated set's actions and resources, with real risk scoring.
fn synthetic_actions(n: usize) -> Vec<(AgentAction, Option<McpCall<'static>>)> {
    let mut rng = fastrand_rng();
    (0..n)
        .map(|_| {
            let r = synth::request(&mut rng);
            let count = rng.i64(0..300);
            let amount = rng.i64(0..200_000);
            let a = r
                .action
                .with_parameter("count", json!(count))
                .with_parameter("amount", json!(amount))
                .with_risk_indicator("pii_involved", json!(rng.bool()));
            (a, None)
        })
        .collect()
}

fn fastrand_rng() -> synth::Rng {
    synth::Rng::with_seed(0xbe_7c_40)
}

fn engines() -> (Engine, Engine) {
    let default = Engine::with_default_policies().expect("default policies");
    let generated = Engine::new(
        PolicyEngine::from_sources(&synth::policy_sources(100, 0x5eed_0001))
            .expect("generated policies"),
    );
    (default, generated)
}

fn decide_all(
    engine: &Engine,
    actions: &[(AgentAction, Option<McpCall<'static>>)],
    agent: &AgentProfile,
    how: Evaluation,
) {
    for (a, m) in actions {
        let input = RiskInput {
            action: a,
            environment: "production",
            agent,
            mcp: *m,
        };
        black_box(engine.decide_with(black_box(&input), how));
    }
}

/// Per-decision percentiles, printed once (criterion gives means/medians, the issue asks p99).
fn percentiles(_c: &mut Criterion) {
    let (default, generated) = engines();
    let agent = AgentProfile::default();
    let cal = calibration_actions();
    let syn = synthetic_actions(256);
    let rounds = 4000usize;
    let report =
        |label: &str, engine: &Engine, actions: &[(AgentAction, Option<McpCall<'static>>)], how| {
            let mut samples: Vec<Duration> = Vec::with_capacity(rounds);
            for i in 0..rounds + 200 {
                let (a, m) = &actions[i % actions.len()];
                let input = RiskInput {
                    action: a,
                    environment: "production",
                    agent: &agent,
                    mcp: *m,
                };
                let t = Instant::now();
                black_box(engine.decide_with(black_box(&input), how));
                let d = t.elapsed();
                if i >= 200 {
                    samples.push(d);
                }
            }
            samples.sort_unstable();
            let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
            eprintln!(
                "{label:<40} p50 {:>9.2?}  p99 {:>9.2?}  ({} decisions)",
                p(0.50),
                p(0.99),
                samples.len()
            );
        };
    let risk = RiskEngine::new();
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let (a, m) = &cal[i % cal.len()];
        let input = RiskInput {
            action: a,
            environment: "production",
            agent: &agent,
            mcp: *m,
        };
        let t = Instant::now();
        black_box(risk.assess(black_box(&input)));
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    eprintln!(
        "{:<40} p50 {:>9.2?}  p99 {:>9.2?}",
        "risk scoring (calibration mix)",
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100]
    );
    report(
        "decide default set, indexed",
        &default,
        &cal,
        Evaluation::Indexed,
    );
    report(
        "decide default set, naive",
        &default,
        &cal,
        Evaluation::Naive,
    );
    report(
        "decide 100 policies, indexed",
        &generated,
        &syn,
        Evaluation::Indexed,
    );
    report(
        "decide 100 policies, naive",
        &generated,
        &syn,
        Evaluation::Naive,
    );
}

fn risk_scoring(c: &mut Criterion) {
    let risk = RiskEngine::new();
    let agent = AgentProfile::default();
    let cal = calibration_actions();
    c.bench_function("risk/assess calibration mix (8 actions)", |b| {
        b.iter(|| {
            for (a, m) in &cal {
                let input = RiskInput {
                    action: a,
                    environment: "production",
                    agent: &agent,
                    mcp: *m,
                };
                black_box(risk.assess(black_box(&input)));
            }
        })
    });
}

fn decisions(c: &mut Criterion) {
    let (default, generated) = engines();
    let agent = AgentProfile::default();
    let cal = calibration_actions();
    let syn = synthetic_actions(64);
    let mut g = c.benchmark_group("decide");
    g.bench_function("default set, indexed (8 actions)", |b| {
        b.iter(|| decide_all(&default, &cal, &agent, Evaluation::Indexed))
    });
    g.bench_function("default set, naive (8 actions)", |b| {
        b.iter(|| decide_all(&default, &cal, &agent, Evaluation::Naive))
    });
    g.bench_function("100 policies, indexed (64 actions)", |b| {
        b.iter(|| decide_all(&generated, &syn, &agent, Evaluation::Indexed))
    });
    g.bench_function("100 policies, naive (64 actions)", |b| {
        b.iter(|| decide_all(&generated, &syn, &agent, Evaluation::Naive))
    });
    g.finish();
}

criterion_group!(benches, percentiles, risk_scoring, decisions);
criterion_main!(benches);
