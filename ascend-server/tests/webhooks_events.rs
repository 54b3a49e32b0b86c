//! Webhooks (signed, retried, tested) and the push stream (SSE).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, Bytes)>>>);

async fn receiver(fail_first: usize) -> (String, Received) {
    let rec = Received::default();
    let r2 = rec.clone();
    let count = Arc::new(Mutex::new(0usize));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let r = r2.clone();
            let count = count.clone();
            async move {
                r.0.lock().unwrap().push((headers, body));
                let mut c = count.lock().unwrap();
                *c += 1;
                if *c <= fail_first {
                    (StatusCode::INTERNAL_SERVER_ERROR, "{}")
                } else {
                    (StatusCode::OK, r#"{"status":"processed"}"#)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), rec)
}

fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let ts = headers["x-timestamp"].to_str().unwrap();
    let sig = headers["x-signature"].to_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let ts_n: i64 = ts.parse().unwrap();
    (now - ts_n).abs() < 300 && ascend_server::webhooks::signature(secret, ts, body) == sig
}

async fn wait_for<F: Fn() -> bool>(f: F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn webhook_crud_test_and_signed_retried_delivery() {
    let h = harness().await;
    let (url, rec) = receiver(1).await;
    // https is required except for loopback.
    let (s, v) = h
        .post(
            "/api/webhooks/configure",
            &h.agent,
            json!({"url": "http://example.com/x", "events": ["action.denied"]}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = h
        .post(
            "/api/webhooks/configure",
            &h.agent,
            json!({"url": url, "events": ["bogus"]}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, hook) = h
        .post(
            "/api/webhooks/configure",
            &h.agent,
            json!({"url": url, "events": ["action.denied", "action.approved"], "secret": "whsec_test", "agent_id": null}),
        )
        .await;
    assert_eq!(s, 200, "{hook}");
    let id = hook["webhook_id"].as_str().unwrap().to_owned();
    let (_, list) = h.get("/api/webhooks", &h.agent).await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);

    // A test delivery: first attempt answered 500 by the receiver.
    let (s, t) = h
        .send(
            reqwest::Method::POST,
            &format!("/api/webhooks/{id}/test"),
            Some(&h.agent),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(t["success"], false);
    // A failed delivery reports no status (the endpoint must not reveal what answered).
    assert!(t["status_code"].is_null(), "{t}");
    assert_eq!(t["error"], "delivery failed");
    let (_, t) = h
        .send(
            reqwest::Method::POST,
            &format!("/api/webhooks/{id}/test"),
            Some(&h.agent),
            None,
        )
        .await;
    assert_eq!(t["success"], true, "{t}");
    assert!(t["response_time_ms"].as_f64().unwrap() >= 0.0);
    {
        let got = rec.0.lock().unwrap();
        assert_eq!(got.len(), 2);
        assert!(verify("whsec_test", &got[1].0, &got[1].1));
        assert!(!verify("wrong", &got[1].0, &got[1].1));
    }

    // A real event: the denial is delivered, signed.
    let (_, d) = h.submit(&h.agent, denied_action("agent-w")).await;
    assert_eq!(d["decision"], "denied");
    wait_for(|| rec.0.lock().unwrap().len() >= 3).await;
    {
        let got = rec.0.lock().unwrap();
        let (hd, body) = &got[2];
        assert!(verify("whsec_test", hd, body));
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["event"], "action.denied");
        assert_eq!(v["data"]["action_id"], d["id"]);
    }

    // Update (no https check client-side in the SDK; loopback http fine) and delete (JSON body).
    let (s, u) = h
        .send(
            reqwest::Method::PUT,
            &format!("/api/webhooks/{id}"),
            Some(&h.agent),
            Some(json!({"secret": "whsec_new"})),
        )
        .await;
    assert_eq!(s, 200);
    // The secret is shown once, at creation; never in an update's answer or a listing.
    assert!(u["secret"].is_null(), "{u}");
    let (_, listed) = h.get("/api/webhooks", &h.agent).await;
    assert!(listed["webhooks"][0]["secret"].is_null(), "{listed}");
    let (s, del) = h
        .send(
            reqwest::Method::DELETE,
            &format!("/api/webhooks/{id}"),
            Some(&h.agent),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(del["success"], true);
    let (s, _) = h
        .send(
            reqwest::Method::DELETE,
            &format!("/api/webhooks/{id}"),
            Some(&h.agent),
            None,
        )
        .await;
    assert_eq!(s, 404);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn retries_until_the_receiver_accepts() {
    let h = harness().await;
    let (url, rec) = receiver(2).await;
    let (_, _hook) = h
        .post(
            "/api/webhooks/configure",
            &h.agent,
            json!({"url": url, "events": ["action.denied"], "secret": "s"}),
        )
        .await;
    h.submit(&h.agent, denied_action("a")).await;
    wait_for(|| rec.0.lock().unwrap().len() >= 3).await;
    let got = rec.0.lock().unwrap();
    // Same event, each attempt freshly signed.
    let bodies: Vec<Value> = got
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    assert!(bodies.iter().all(|b| b["event"] == "action.denied"));
    assert!(got.iter().all(|(hd, b)| verify("s", hd, b)));
}

/// Read SSE events from a response until `n` named events arrived.
async fn read_events(resp: &mut reqwest::Response, n: usize) -> Vec<(String, Value)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(20), resp.chunk())
            .await
            .expect("event in time")
            .unwrap()
            .expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(pos) = buf.find("\n\n") {
            let block: String = buf.drain(..pos + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !name.is_empty() {
                out.push((name, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

#[tokio::test]
async fn push_stream_delivers_kill_switch_and_decisions() {
    let h = harness().await;
    let mut resp = h
        .http
        .get(h.url("/api/v1/events/stream"))
        .header("x-api-key", &h.agent)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let first = read_events(&mut resp, 1).await;
    assert_eq!(first[0].0, "kill_switch");
    assert_eq!(first[0].1["blocked"], false);

    let (_, p) = h.submit(&h.agent, pending_action("agent-s")).await;
    let id = p["id"].as_i64().unwrap();
    h.post(
        &format!("/api/v1/actions/{id}/approve"),
        &h.reviewer,
        json!({"comment": "ok"}),
    )
    .await;
    let ev = read_events(&mut resp, 1).await;
    assert_eq!(ev[0].0, "decision");
    assert_eq!(ev[0].1["action_id"], id.to_string());
    assert_eq!(ev[0].1["decision"], "allowed");

    h.post(
        "/api/v1/kill-switch/trigger",
        &h.admin,
        json!({"reason": "stop", "agent_id": "agent-s"}),
    )
    .await;
    let ev = read_events(&mut resp, 1).await;
    assert_eq!(ev[0].0, "kill_switch");
    assert_eq!(
        ev[0].1,
        json!({"blocked": true, "reason": "stop", "agent_id": "agent-s"})
    );

    // Another organisation's events never reach this stream; without a key: 401.
    let r = h
        .http
        .get(h.url("/api/v1/events/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    drop(resp);
    h.server.shutdown().await.unwrap();
}
