//! Indexed evaluation decides exactly like naive evaluation: 10,000 random requests (fixed seed)
//! against a generated 100-policy set, comparing every field of the decisions.

use ascend_server::policy::{Evaluation, Outcome, PolicyEngine, synth};

#[test]
fn indexed_and_naive_decisions_are_identical() {
    let engine = PolicyEngine::from_sources(&synth::policy_sources(100, 0x5eed_0001))
        .expect("generated policies load");
    assert_eq!(engine.policy_count(), 100);
    let mut rng = synth::Rng::with_seed(0xd1ff_2026);
    let mut counts = [0usize; 3];
    let mut with_errors = 0;
    let mut with_log_only = 0;
    for i in 0..10_000 {
        let req = synth::request(&mut rng);
        let indexed = engine.evaluate_with(
            &req.action,
            &req.environment,
            &req.risk,
            Evaluation::Indexed,
        );
        let naive =
            engine.evaluate_with(&req.action, &req.environment, &req.risk, Evaluation::Naive);
        assert_eq!(indexed, naive, "request #{i}: {:?}", req.action);
        counts[match indexed.outcome {
            Outcome::Allow => 0,
            Outcome::Deny => 1,
            Outcome::Pending => 2,
        }] += 1;
        with_errors += usize::from(!indexed.errors.is_empty());
        with_log_only += usize::from(!indexed.log_only.is_empty());
    }
    // The generated traffic exercises every branch.
    assert!(
        counts.iter().all(|&c| c > 50),
        "outcomes allow/deny/pending: {counts:?}"
    );
    assert!(with_errors > 0, "some requests hit evaluation errors");
    assert!(with_log_only > 0, "some requests match log-only policies");
    eprintln!("allow/deny/pending {counts:?}, errors {with_errors}, log-only {with_log_only}");
}

/// The decision cache answers exactly what Cedar answers: 4,000 random requests, each decided
/// twice through the cache (a miss, then a hit) and once without it, plus near-duplicates that
/// differ in one context value and must not share an entry.
#[test]
fn cached_decisions_are_identical_to_uncached_ones() {
    let engine = PolicyEngine::from_sources(&synth::policy_sources(100, 0x5eed_0001))
        .expect("generated policies load");
    let mut rng = synth::Rng::with_seed(0xcac4_e001);
    let mut requests = Vec::new();
    for _ in 0..4_000 {
        requests.push(synth::request(&mut rng));
    }
    // Repeated requests hit; every answer equals the uncached one.
    for round in 0..2 {
        for (i, req) in requests.iter().enumerate() {
            let cached = engine.evaluate(&req.action, &req.environment, &req.risk);
            let fresh = engine.evaluate_with(
                &req.action,
                &req.environment,
                &req.risk,
                Evaluation::IndexedUncached,
            );
            assert_eq!(
                cached, fresh,
                "round {round}, request #{i}: {:?}",
                req.action
            );
        }
    }
    let stats = engine.cache_stats();
    assert_eq!(stats.hits + stats.misses, 8_000);
    assert!(stats.hits >= 4_000, "the second round hits: {stats:?}");
    // A request that differs only in its risk score is a different key when a policy reads it.
    let mut probe = requests
        .iter()
        .find(|r| r.risk.score < 50.0)
        .cloned()
        .expect("a low-risk request");
    engine.evaluate(&probe.action, &probe.environment, &probe.risk);
    probe.risk.score = 99.0;
    let high_cached = engine.evaluate(&probe.action, &probe.environment, &probe.risk);
    let high_fresh = engine.evaluate_with(
        &probe.action,
        &probe.environment,
        &probe.risk,
        Evaluation::IndexedUncached,
    );
    assert_eq!(high_cached, high_fresh);
}
