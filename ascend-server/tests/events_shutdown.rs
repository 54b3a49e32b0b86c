//! Shutdown with connected push-stream clients: the streams end, so `RunningServer::shutdown`
//! does not wait out its 5 s grace period.

mod common;

use std::time::{Duration, Instant};

use common::harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_event_streams() {
    let h = harness().await;
    let mut streams = Vec::new();
    for key in [&h.agent, &h.reviewer] {
        let mut resp = h
            .http
            .get(h.url("/api/v1/events/stream"))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        // The first event (current kill-switch state) proves the stream is live.
        let first = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("first event")
            .unwrap()
            .expect("a chunk");
        assert!(String::from_utf8_lossy(&first).contains("kill_switch"));
        streams.push(resp);
    }

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), h.server.shutdown())
        .await
        .expect("shutdown returns")
        .unwrap();
    let took = started.elapsed();
    // The grace period is 5 s; ending the streams makes shutdown finish well before it.
    assert!(
        took < Duration::from_millis(4500),
        "shutdown waited for the open streams: {took:?}"
    );

    // Each client sees its stream end (clean end of body, or the connection closing).
    for mut resp in streams {
        let end = tokio::time::timeout(Duration::from_secs(10), async {
            // Ends on a clean end of body (Ok(None)) or a closed connection (Err).
            while let Ok(Some(_)) = resp.chunk().await {}
        })
        .await;
        assert!(end.is_ok(), "the stream stayed open after shutdown");
    }
}
