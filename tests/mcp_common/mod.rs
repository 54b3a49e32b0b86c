//! Shared set-up of the MCP tests: a real control plane (`ascend_server::start`) on 127.0.0.1:0
//! with a SQLite file in a temp dir, keys for an agent, a reviewer and the admin, and the HTTP
//! calls a reviewer makes (approve, list pending, read the audit trail).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ascend_runtime::AscendClient;
use ascend_server::{Role, RunningServer, ServerConfig};
use serde_json::{Value, json};

/// A temp folder removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("ascend-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The agent id every MCP test client uses.
pub const AGENT_ID: &str = "mcp-fs-agent";

pub struct Harness {
    pub server: Option<RunningServer>,
    pub dir: TempDir,
    pub sandbox: PathBuf,
    pub base_url: String,
    pub admin_key: String,
    pub agent_key: String,
    pub reviewer_key: String,
    pub http: reqwest::Client,
}

impl Harness {
    pub async fn start(tag: &str) -> Harness {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = TempDir::new(tag);
        let config = ServerConfig {
            bind: "127.0.0.1:0".parse().expect("addr"),
            db_path: dir.path().join("ascend.db"),
            ..ServerConfig::default()
        };
        let org = config.default_org.clone();
        let server = ascend_server::start(config)
            .await
            .expect("start the control plane");
        let admin_key = server
            .admin_key()
            .expect("admin key on first start")
            .to_owned();
        let agent_key = server
            .create_api_key(&org, Role::Agent, Some(AGENT_ID))
            .await
            .expect("agent key");
        let reviewer_key = server
            .create_api_key(&org, Role::Reviewer, None)
            .await
            .expect("reviewer key");
        let sandbox = dir.path().join("sandbox");
        std::fs::create_dir_all(&sandbox).expect("sandbox");
        Harness {
            base_url: server.base_url(),
            server: Some(server),
            dir,
            sandbox,
            admin_key,
            agent_key,
            reviewer_key,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    /// A governance client for the MCP server under test (fail-closed, no retries to speak of).
    pub fn client(&self) -> AscendClient {
        AscendClient::builder()
            .api_url(self.base_url.clone())
            .api_key(self.agent_key.clone())
            .agent_id(AGENT_ID)
            .agent_name("MCP filesystem server")
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    }

    /// Environment for a child process configured like the SDK.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ASCEND_API_URL", self.base_url.clone()),
            ("ASCEND_API_KEY", self.agent_key.clone()),
            ("ASCEND_AGENT_ID", AGENT_ID.to_owned()),
            ("ASCEND_AGENT_NAME", "MCP filesystem server".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]
    }

    async fn send(&self, req: reqwest::RequestBuilder, key: &str) -> (u16, Value) {
        let resp = req
            .header("X-API-Key", key)
            .send()
            .await
            .expect("HTTP request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.base_url)), key)
            .await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.send(
            self.http
                .post(format!("{}{path}", self.base_url))
                .json(&body),
            key,
        )
        .await
    }

    /// Approve a pending action as the reviewer.
    pub async fn approve(&self, action_id: &str) -> Value {
        let (status, body) = self
            .post(
                &format!("/api/v1/actions/{action_id}/approve"),
                &self.reviewer_key,
                json!({"comment": "approved by the MCP test"}),
            )
            .await;
        assert_eq!(status, 200, "approve {action_id}: {body}");
        body
    }

    /// Ids of the pending actions.
    pub async fn pending_ids(&self) -> Vec<String> {
        let (status, body) = self
            .get(
                "/api/v1/actions?status=pending&limit=100",
                &self.reviewer_key,
            )
            .await;
        assert_eq!(status, 200, "list pending: {body}");
        body["actions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.get("action_id").or_else(|| x.get("id")))
                    .map(|v| v.to_string().trim_matches('"').to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wait (up to 60 s) for a pending action that was not pending before, and approve it.
    pub async fn approve_next_pending(&self, before: &[String]) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ids = self.pending_ids().await;
            if let Some(id) = ids.into_iter().find(|id| !before.contains(id)) {
                self.approve(&id).await;
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "no pending action appeared within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One action as the server stores it.
    pub async fn action(&self, action_id: &str) -> Value {
        let (status, body) = self
            .get(&format!("/api/v1/actions/{action_id}"), &self.reviewer_key)
            .await;
        assert_eq!(status, 200, "action {action_id}: {body}");
        body
    }

    /// The whole audit trail as one JSON text (entries newest or oldest first, whatever the
    /// server does), for `contains` checks.
    pub async fn audit_text(&self) -> String {
        let (status, body) = self
            .get("/api/v1/audit?limit=10000", &self.reviewer_key)
            .await;
        assert_eq!(status, 200, "audit: {body}");
        body.to_string()
    }

    /// Every stored action with the request it was decided on (`GET /api/v1/actions/{id}`:
    /// `request` is the AgentAction as received, `audit_trail` its votes and outcome), as one
    /// JSON text.
    pub async fn actions_text(&self) -> String {
        let (status, body) = self
            .get("/api/v1/actions?limit=1000", &self.reviewer_key)
            .await;
        assert_eq!(status, 200, "list actions: {body}");
        let mut out = Vec::new();
        for a in body["actions"].as_array().cloned().unwrap_or_default() {
            let id = a["action_id"].to_string();
            out.push(self.action(id.trim_matches('"')).await);
        }
        Value::Array(out).to_string()
    }

    /// Wait until `cond` holds on the audit text (outcomes are reported in the background).
    pub async fn wait_audit(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.audit_text().await;
            if cond(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "audit never showed {what}: {text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("shutdown");
        }
    }
}

/// Path of the example server binary (built by Cargo before the tests as the
/// `ascend-mcp-filesystem` bin target of the root package).
pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ascend-mcp-filesystem"))
}
