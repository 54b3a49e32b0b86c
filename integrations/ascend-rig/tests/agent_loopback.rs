//! A rig agent (rig-agent's `AgentBuilder`, rig-core's OpenAI chat-completions client) whose
//! model is a scripted OpenAI-compatible server on 127.0.0.1: it asks for a safe tool, then a
//! dangerous one, then answers. The tools are `Governed`, and governance is the real service in
//! this process (`ascend_server::Embedded`, a SQLite file in a temp dir). The safe call runs,
//! the dangerous one does not, the model reads the denial, and the audit shows both.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ascend_rig::GovernExt;
use ascend_runtime::{AscendClient, Decision};
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
struct CategoryArgs {
    category: String,
}

/// The safe tool.
struct ListCategories {
    runs: Arc<AtomicUsize>,
}

impl Tool for ListCategories {
    const NAME: &'static str = "list_categories";
    type Args = CategoryArgs;
    type Output = String;
    type Error = ToolFailure;

    fn description(&self) -> String {
        "List the products of a category".into()
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {"category": {"type": "string"}}, "required": ["category"]})
    }

    async fn call(&self, _: &mut ToolContext, args: CategoryArgs) -> Result<String, ToolFailure> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(format!("3 products in {}", args.category))
    }
}

#[derive(Deserialize)]
struct DeleteArgs {
    table: String,
    record_count: u32,
}

/// The dangerous tool.
struct DeleteRecords {
    runs: Arc<AtomicUsize>,
}

impl Tool for DeleteRecords {
    const NAME: &'static str = "delete_records";
    type Args = DeleteArgs;
    type Output = String;
    type Error = ToolFailure;

    fn description(&self) -> String {
        "Delete records from a table".into()
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {
            "table": {"type": "string"}, "record_count": {"type": "integer"}
        }, "required": ["table", "record_count"]})
    }

    async fn call(&self, _: &mut ToolContext, args: DeleteArgs) -> Result<String, ToolFailure> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(format!("deleted {} from {}", args.record_count, args.table))
    }
}

/// The scripted model: one reply per request received, in order.
#[derive(Clone, Default)]
struct Script {
    requests: Arc<Mutex<Vec<Value>>>,
}

fn tool_call(id: &str, name: &str, arguments: Value) -> Value {
    json!({"role": "assistant", "content": null, "tool_calls": [{
        "id": id, "type": "function",
        "function": {"name": name, "arguments": arguments.to_string()}
    }]})
}

async fn completions(State(script): State<Script>, Json(body): Json<Value>) -> Json<Value> {
    let turn = {
        let mut requests = script.requests.lock().expect("lock");
        requests.push(body);
        requests.len()
    };
    let (message, finish) = match turn {
        1 => (
            tool_call("call_1", "list_categories", json!({"category": "books"})),
            "tool_calls",
        ),
        2 => (
            tool_call(
                "call_2",
                "delete_records",
                json!({"table": "users", "record_count": 500}),
            ),
            "tool_calls",
        ),
        _ => (
            json!({"role": "assistant", "content": "I listed the books; deleting users was denied."}),
            "stop",
        ),
    };
    Json(json!({
        "id": format!("chatcmpl-{turn}"), "object": "chat.completion", "created": 1,
        "model": "scripted-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    }))
}

async fn scripted_model() -> (String, Script) {
    let script = Script::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), script)
}

/// The tool results the model was sent, in order (`role: tool` messages).
fn tool_results(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "tool")
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[tokio::test]
async fn the_safe_tool_runs_the_dangerous_one_is_denied_and_the_model_reads_why() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let embedded = Embedded::open(dir.path().join("ascend.db")).expect("embedded opens");
    let client = AscendClient::builder()
        .ignore_env()
        .agent_id("rig-agent")
        .build_with_backend(Arc::new(embedded.clone()))
        .expect("client");

    let (base_url, script) = scripted_model().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest");
    let model = OpenAIConfig::new("sk-test-not-a-real-key")
        .with_base_url(base_url)
        .connect(rig_reqwest::ReqwestClient::from(http))
        .chat("scripted-model");

    let safe_runs = Arc::new(AtomicUsize::new(0));
    let dangerous_runs = Arc::new(AtomicUsize::new(0));
    let agent = AgentBuilder::new(model)
        .preamble("You manage the shop's data.")
        .tool(
            ListCategories {
                runs: Arc::clone(&safe_runs),
            }
            .governed(client.clone(), "database.read", "product_categories")
            .resource_id_arg("category")
            .risk_indicator("data_classification", json!("public")),
        )
        .tool(
            DeleteRecords {
                runs: Arc::clone(&dangerous_runs),
            }
            .governed(client.clone(), "database.delete", "users"),
        )
        .build();

    let response = agent
        .prompt("List the books, then clean up the users table.")
        .max_turns(5)
        .await
        .expect("the run completes");
    assert_eq!(
        response.output(),
        "I listed the books; deleting users was denied."
    );
    assert_eq!(safe_runs.load(Ordering::SeqCst), 1);
    assert_eq!(dangerous_runs.load(Ordering::SeqCst), 0);

    let requests = script.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    // The tools were offered to the model under their own names.
    let offered: Vec<_> = requests[0]["tools"]
        .as_array()
        .expect("tools offered")
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        offered.contains(&"list_categories".to_owned())
            && offered.contains(&"delete_records".to_owned())
    );
    let results = tool_results(&requests[2]);
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results[0].contains("3 products in books"), "{results:?}");
    assert!(
        results[1].contains(
            "denied by Block Bulk Deletions: bulk deletion (100 or more records) is not allowed for agents"
        ),
        "the model reads the rule and the reason: {results:?}"
    );

    // The audit trail shows both calls.
    let reviewer = embedded.reviewer("auditor");
    let mut audit = reviewer.recent(10).await.expect("recent");
    audit.reverse();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].action_type, "database.read");
    assert_eq!(audit[0].resource_id.as_deref(), Some("books"));
    assert_eq!(audit[0].body.decision, Decision::Allowed);
    assert_eq!(
        audit[0].request["action_details"]["tool_name"],
        "list_categories"
    );
    assert_eq!(audit[1].action_type, "database.delete");
    assert_eq!(audit[1].body.decision, Decision::Denied);
    assert_eq!(audit[1].request["action_details"]["record_count"], 500);
    assert_eq!(audit[1].agent_id, "rig-agent");
    let report = reviewer.verify_audit().await.expect("verify");
    assert!(report.ok, "{}", report.detail);
}
