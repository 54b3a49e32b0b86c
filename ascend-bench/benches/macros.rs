//! Overhead of `#[governed]`: a governed call against the same function ungoverned, with an
//! in-process backend answering at once (so the numbers are the generated code + the client's
//! local path, no network). Target: < 2 µs per call.
//!
//! - `plain_async` / `governed_async_null`: async fn, backend answers "allowed" and drops
//!   outcomes (nothing recorded, so memory stays flat however many iterations criterion runs).
//! - `governed_async_mock`: the same through `testing::MockGovernance` (records every request
//!   and outcome; a fresh double per batch keeps memory bounded).
//! - `plain_sync` / `governed_sync_null`: sync fn, through the runtime's blocking path.
//!
//! Every async variant runs its batch inside one `block_on`, so the runtime's own cost is not
//! counted per call.
//!
//! Run: `cargo bench -p ascend-bench --bench macros`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ascend_runtime::backend::{Backend, BoxFuture};
use ascend_runtime::config::ClientBuilder;
use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{
    AgentAction, AscendClient, AuthorizationDecision, Decision, Error, Outcome, governed,
};
use criterion::{Criterion, criterion_group, criterion_main};

/// Answers "allowed" at once and forgets everything.
struct NullBackend;

impl Backend for NullBackend {
    fn submit<'a>(
        &'a self,
        _action: &'a AgentAction,
        _idempotency_key: &'a str,
    ) -> BoxFuture<'a, ascend_runtime::Result<AuthorizationDecision>> {
        Box::pin(std::future::ready(Ok(AuthorizationDecision::new(
            "1",
            Decision::Allowed,
        ))))
    }

    fn status<'a>(
        &'a self,
        action_id: &'a str,
    ) -> BoxFuture<'a, ascend_runtime::Result<AuthorizationDecision>> {
        Box::pin(std::future::ready(Ok(AuthorizationDecision::new(
            action_id,
            Decision::Allowed,
        ))))
    }

    fn report_outcome(&self, _action_id: &str, _outcome: &Outcome) {}
}

fn null_client() -> AscendClient {
    let config = ClientBuilder::new()
        .ignore_env()
        .agent_id("bench-agent")
        .agent_name("Bench Agent")
        .build_config()
        .expect("config");
    AscendClient::with_backend(config, Arc::new(NullBackend))
}

/// A typical tool body: a little string work on the arguments.
fn work(customer_id: &str, amount: u64) -> Result<u64, Error> {
    Ok(black_box(customer_id.len() as u64 + amount))
}

async fn plain_async(customer_id: &str, amount: u64) -> Result<u64, Error> {
    work(customer_id, amount)
}

#[governed(action_type = "transaction", resource = "payments", resource_id = customer_id,
           risk_indicators(amount = amount))]
async fn governed_async(customer_id: &str, amount: u64) -> Result<u64, Error> {
    work(customer_id, amount)
}

fn plain_sync(customer_id: &str, amount: u64) -> Result<u64, Error> {
    work(customer_id, amount)
}

#[governed(action_type = "transaction", resource = "payments", resource_id = customer_id,
           risk_indicators(amount = amount))]
fn governed_sync(customer_id: &str, amount: u64) -> Result<u64, Error> {
    work(customer_id, amount)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn bench_async(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("governed_call");

    group.bench_function("plain_async", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let _ = black_box(plain_async(black_box("cust_42"), i).await);
                }
                start.elapsed()
            })
        })
    });

    let client = null_client();
    let _guard = ascend_runtime::global::install_for_thread(client.clone());
    group.bench_function("governed_async_null", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let r = governed_async(black_box("cust_42"), i).await;
                    assert!(r.is_ok());
                }
                start.elapsed()
            })
        })
    });
    drop(_guard);

    group.bench_function("governed_async_mock", |b| {
        b.iter_custom(|iters| {
            let mock = MockGovernance::allow_all();
            let _guard = mock.install_for_thread();
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let r = governed_async(black_box("cust_42"), i).await;
                    assert!(r.is_ok());
                }
                start.elapsed()
            })
        })
    });

    // Split of governed_async_null: the client's own authorize + report (what any caller of
    // the runtime pays), and the generated prologue alone (request building, span, global()).
    let opts = ascend_runtime::EvaluateOptions::default();
    let action = AgentAction::new("transaction", "payments").with_resource_id("cust_42");
    group.bench_function("client_authorize_and_report_only", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let d = client.authorize(action.clone(), opts.clone()).await;
                    let d = d.expect("allowed");
                    client.report_outcome(
                        &d.action_id,
                        Outcome::Completed {
                            duration: Duration::ZERO,
                        },
                    );
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("generated_prologue_only", |b| {
        use ascend_runtime::__private as p;
        static META: p::Meta = p::Meta {
            action_type: "transaction",
            tool_name: "governed_async",
            description: None,
            module_path: module_path!(),
            code_location: concat!(file!(), ":", line!()),
            wait_for_approval: true,
            approval_timeout_secs: 60,
            params: &["customer_id", "amount"],
            secrets: p::SecretMask::new(),
        };
        let _guard = ascend_runtime::global::install_for_thread(client.clone());
        let mut i = 0_u64;
        b.iter(|| {
            use p::autoref::*;
            i += 1;
            let customer_id = black_box("cust_42");
            let call = p::Call::new(&META, Some(p::global()));
            black_box(call.action(
                p::text("payments"),
                Some(p::display(&customer_id)),
                [
                    (
                        "customer_id",
                        (&&p::Val(&customer_id)).__ascend_json(call.is_secret(0)),
                    ),
                    ("amount", (&&p::Val(&i)).__ascend_json(call.is_secret(1))),
                ],
                [("amount", p::json(&i))],
                [],
            ))
        })
    });

    group.bench_function("plain_sync", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            black_box(plain_sync(black_box("cust_42"), i))
        })
    });

    let _guard = ascend_runtime::global::install_for_thread(client);
    group.bench_function("governed_sync_null", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            let r = governed_sync(black_box("cust_42"), i);
            assert!(r.is_ok());
            r
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench_async
}
criterion_main!(benches);
