//! Shared helpers: a server on 127.0.0.1:0 with a real SQLite file in a temp dir.
#![allow(dead_code)]

use std::time::Duration;

pub mod pg;

use ascend_server::{Role, RunningServer, ServerConfig, start};
use serde_json::{Value, json};

pub struct Harness {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
    pub admin: String,
    pub agent: String,
    pub reviewer: String,
    pub http: reqwest::Client,
}

pub fn config(dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        db_path: dir.join("ascend.db"),
        webhook_backoff: Duration::from_millis(50),
        // The receivers of the webhook tests listen on loopback, which deliveries may reach
        // only when allow-listed.
        webhook_allow_hosts: vec!["127.0.0.1/32".parse().unwrap()],
        ..ServerConfig::default()
    }
}

/// reqwest is built without a default TLS provider; install ring once per test process.
pub fn tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub async fn harness_with(f: impl FnOnce(&mut ServerConfig)) -> Harness {
    tls();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    f(&mut cfg);
    let server = start(cfg).await.unwrap();
    let admin = server.admin_key().unwrap().to_owned();
    let agent = server
        .create_api_key("default", Role::Agent, None)
        .await
        .unwrap();
    let reviewer = server
        .create_api_key("default", Role::Reviewer, None)
        .await
        .unwrap();
    Harness {
        server,
        dir,
        admin,
        agent,
        reviewer,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    }
}

pub async fn harness() -> Harness {
    harness_with(|_| {}).await
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("non-JSON body for {path} ({status}): {e}: {text:?}"));
        (status, v)
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(key), Some(body))
            .await
    }

    pub async fn submit(&self, key: &str, body: Value) -> (u16, Value) {
        self.post("/api/v1/actions/submit", key, body).await
    }
}

/// Calibration case: low risk, allowed at once.
pub fn low_action(agent: &str) -> Value {
    json!({
        "agent_id": agent, "agent_name": "Test Agent",
        "action_type": "database.read", "resource": "product_categories",
        "action_details": {"query": "list categories"},
        "risk_indicators": {"data_classification": "public"}
    })
}

/// Calibration case: PII write, pending human approval.
pub fn pending_action(agent: &str) -> Value {
    json!({
        "agent_id": agent, "agent_name": "Test Agent",
        "action_type": "database.write", "resource": "customers", "resource_id": "cust_42",
        "action_details": {"operation": "update", "field": "billing_address", "rows": 1},
        "risk_indicators": {"pii_involved": true, "data_classification": "pii"}
    })
}

/// Calibration case: bulk deletion, denied.
pub fn denied_action(agent: &str) -> Value {
    json!({
        "agent_id": agent, "agent_name": "Test Agent",
        "action_type": "database.delete", "resource": "users",
        "action_details": {"operation": "delete", "row_count": 150, "rows": 150},
        "risk_indicators": {"bulk_operation": true}
    })
}
