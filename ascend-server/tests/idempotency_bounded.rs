//! The idempotency memory is bounded; keys it evicted are still recognised through the store.
mod common;

use common::*;
use serde_json::Value;

async fn send(h: &Harness, key: &str, body: Value) -> (u16, Value) {
    let r = h
        .http
        .post(h.url("/api/v1/actions/submit"))
        .header("x-api-key", &h.agent)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json::<Value>().await.unwrap())
}

#[tokio::test]
async fn evicted_keys_are_answered_from_the_store() {
    let h = harness_with(|c| c.idempotency_max_keys = 2).await;
    let (s, first) = send(&h, "k-0", pending_action("ag")).await;
    assert_eq!(s, 200, "{first}");
    let mut ids = vec![first["id"].clone()];
    for i in 1..6 {
        let (s, b) = send(&h, &format!("k-{i}"), low_action("ag")).await;
        assert_eq!(s, 200, "{b}");
        ids.push(b["id"].clone());
    }
    // k-0 is long evicted from memory: same request → the same action, from the store.
    let (s, again) = send(&h, "k-0", pending_action("ag")).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["id"], ids[0]);
    assert_eq!(again["status"], first["status"]);
    // Different request with an evicted key → 409, and the original request still works.
    let (s, c) = send(&h, "k-1", pending_action("ag")).await;
    assert_eq!(s, 409, "{c}");
    let (s, c) = send(&h, "k-1", low_action("ag")).await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["id"], ids[1]);
    // Cycle through every key twice more (evicting each time): always the first answer.
    for _ in 0..2 {
        for (i, id) in ids.iter().enumerate() {
            let body = if i == 0 {
                pending_action("ag")
            } else {
                low_action("ag")
            };
            let (s, b) = send(&h, &format!("k-{i}"), body).await;
            assert_eq!(s, 200, "{b}");
            assert_eq!(&b["id"], id);
        }
    }
    // No extra actions were created, and no extra decisions audited.
    let (s, list) = h.get("/api/v1/actions?limit=100", &h.admin).await;
    assert_eq!(s, 200, "{list}");
    let n = list["total"]
        .as_u64()
        .or_else(|| list["actions"].as_array().map(|a| a.len() as u64));
    assert_eq!(n, Some(6), "{list}");
}
