//! Client-side cost of ascend-runtime:
//! - one evaluation against a local axum endpoint (async and blocking facade), i.e. the client's
//!   overhead plus one loopback HTTP exchange;
//! - a blocked call: the kill switch, and an open circuit breaker (target < 1 µs: no network,
//!   no thread hop).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ascend_runtime::{AgentAction, AscendClient, EvaluateOptions};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

/// Poll a future that completes without waiting (blocked calls never wait).
fn poll_ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a blocked call must not wait"),
    }
}

fn client(url: &str) -> AscendClient {
    AscendClient::builder()
        .ignore_env()
        .api_key("ascend_bench_key_0123456789")
        .api_url(url)
        .agent_id("bench-agent")
        .max_retries(0)
        .circuit_breaker(1, Duration::from_secs(3600))
        .build()
        .expect("client")
}

fn action() -> AgentAction {
    AgentAction::new("database.read", "customers").with_resource_id("42")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = rt.block_on(async {
        let answer = json!({"id": 1, "action_id": 1, "decision": "allowed", "status": "approved",
                            "risk_score": 12.0, "risk_level": "low", "reason": "bench"});
        let app = axum::Router::new().route(
            "/api/v1/actions/submit",
            axum::routing::post(move || {
                let answer = answer.clone();
                async move { axum::Json(answer) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });
    let url = format!("http://{addr}");
    let ok = client(&url);

    c.bench_function("evaluate_local_http_async", |b| {
        b.iter(|| {
            rt.block_on(ok.authorize(action(), EvaluateOptions::default()))
                .expect("allowed")
        })
    });
    c.bench_function("evaluate_local_http_blocking", |b| {
        b.iter(|| {
            ok.authorize_blocking(action(), EvaluateOptions::default())
                .expect("allowed")
        })
    });

    let blocked = client(&url);
    blocked.trigger_kill_switch("bench");
    let prepared = action();
    c.bench_function("blocked_kill_switch", |b| {
        b.iter(|| {
            let r = poll_ready(
                blocked.authorize(black_box(prepared.clone()), EvaluateOptions::default()),
            );
            black_box(r.is_err())
        })
    });
    c.bench_function("blocked_kill_switch_blocking", |b| {
        b.iter(|| {
            black_box(
                blocked
                    .authorize_blocking(black_box(prepared.clone()), EvaluateOptions::default())
                    .is_err(),
            )
        })
    });

    // Open the breaker: one failed call against a dead port (threshold 1).
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = l.local_addr().expect("addr");
        drop(l);
        client(&format!("http://{a}"))
    };
    let _ = dead.authorize_blocking(action(), EvaluateOptions::default());
    assert!(matches!(
        dead.authorize_blocking(action(), EvaluateOptions::default()),
        Err(ascend_runtime::Error::CircuitOpen { .. })
    ));
    c.bench_function("blocked_open_circuit", |b| {
        b.iter(|| {
            let r =
                poll_ready(dead.authorize(black_box(prepared.clone()), EvaluateOptions::default()));
            black_box(r.is_err())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = bench
}
criterion_main!(benches);
