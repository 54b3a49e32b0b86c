//! The API key never appears in logs: every line of a TRACE-level capture (this binary's
//! global subscriber, so the background runtime's threads are captured too) is checked.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ascend_runtime::{AgentAction, EvaluateOptions, FailMode};
use common::{KEY, Reply, Server};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_is_masked_everywhere() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let server = Server::start().await;
    let client = server
        .client()
        .max_retries(1)
        .fail_mode(FailMode::Open)
        .signing_secret("signing_secret_value_1234")
        .build()
        .unwrap();
    tracing::info!(client = ?client, config = ?client.config(), "client under test");
    assert!(!format!("{client:?}").contains(KEY));
    assert!(format!("{client:?}").contains("asce...x789"));

    client
        .authorize(AgentAction::new("a.b", "r"), EvaluateOptions::default())
        .await
        .unwrap();
    server.default("POST /api/v1/actions/submit", Reply::status(503));
    client
        .authorize(AgentAction::new("a.b", "r"), EvaluateOptions::default())
        .await
        .unwrap();
    server.default("POST /api/v1/actions/submit", Reply::status(401));
    let err = client
        .authorize(AgentAction::new("a.b", "r"), EvaluateOptions::default())
        .await
        .unwrap_err();
    tracing::error!(error = %err, debug = ?err, "auth failure");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("asce...x789"),
        "masked key expected in the logs"
    );
    assert!(
        logs.contains("correlation_id=asc_"),
        "requests carry the correlation id"
    );
    assert!(!logs.contains(KEY), "full API key leaked into the logs");
    assert!(
        !logs.contains("signing_secret_value_1234"),
        "signing secret leaked"
    );
    assert!(!logs.contains("0123456789abcdef"), "part of the key leaked");
}
