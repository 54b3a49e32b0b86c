//! A rig agent with one safe and one dangerous tool, both `Governed`. Governance is embedded
//! (a SQLite file in a temp dir); the "model" is a scripted OpenAI-compatible server on
//! 127.0.0.1 that asks for the safe tool, then the dangerous one, then answers — so this runs
//! without any model provider. Prints what the model was told and the audit trail.
//!
//! `cargo run -p ascend-rig --example governed_agent`

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ascend_rig::GovernExt;
use ascend_runtime::AscendClient;
use ascend_server::Embedded;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use rig_agent::AgentBuilder;
use rig_core::providers::openai::OpenAIConfig;
use rig_core::tool::{Tool, ToolContext};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
#[error("the tool failed")]
struct ToolFailure;

#[derive(Deserialize)]
struct PurgeArgs {
    table: String,
    record_count: u32,
}

struct PurgeTable;

impl Tool for PurgeTable {
    const NAME: &'static str = "purge_table";
    type Args = PurgeArgs;
    type Output = String;
    type Error = ToolFailure;

    fn description(&self) -> String {
        "Delete records from a table".into()
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {
            "table": {"type": "string"}, "record_count": {"type": "integer"}
        }})
    }

    async fn call(&self, _: &mut ToolContext, args: PurgeArgs) -> Result<String, ToolFailure> {
        Ok(format!(
            "deleted {} rows of {}",
            args.record_count, args.table
        ))
    }
}

type Log = Arc<Mutex<Vec<Value>>>;

async fn model(State(log): State<Log>, Json(body): Json<Value>) -> Json<Value> {
    let turn = {
        let mut log = log.lock().expect("lock");
        log.push(body);
        log.len()
    };
    let message = if turn == 1 {
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "purge_table", "arguments": "{\"table\":\"users\",\"record_count\":500}"}}]})
    } else {
        json!({"role": "assistant", "content": "The purge was denied by governance."})
    };
    Json(
        json!({"id": "c", "object": "chat.completion", "created": 1, "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": if turn == 1 { "tool_calls" } else { "stop" }}]}),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let embedded = Embedded::open(dir.path().join("ascend.db"))?;
    let client = AscendClient::builder()
        .ignore_env()
        .agent_id("rig-demo")
        .build_with_backend(Arc::new(embedded.clone()))?;

    let log: Log = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/v1", listener.local_addr()?);
    let app = Router::new()
        .route("/v1/chat/completions", post(model))
        .with_state(Arc::clone(&log));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let chat = OpenAIConfig::new("sk-local")
        .with_base_url(base)
        .connect(rig_reqwest::ReqwestClient::from(http))
        .chat("scripted");
    let agent = AgentBuilder::new(chat)
        .tool(PurgeTable.governed(client, "database.delete", "users"))
        .build();
    let answer = agent
        .prompt("Clean up the users table.")
        .max_turns(4)
        .await?;
    println!("agent: {}", answer.output());

    let told: Vec<Value> = log
        .lock()
        .expect("lock")
        .iter()
        .flat_map(|r| r["messages"].as_array().cloned().unwrap_or_default())
        .filter(|m| m["role"] == "tool")
        .collect();
    for m in told {
        println!("model was told: {}", m["content"]);
    }
    for action in embedded.reviewer("auditor").recent(10).await? {
        println!(
            "audit: #{} {} {} -> {}",
            action.id, action.action_type, action.resource, action.body.decision
        );
    }
    Ok(())
}
