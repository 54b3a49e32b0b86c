//! What a governed function does at run time, against the runtime's test double
//! (`ascend_runtime::testing::MockGovernance`): which requests are sent, when the body runs,
//! what the caller gets back, and which outcomes are reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{AscendClient, Decision, Error, Outcome, governed};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error(transparent)]
    Governance(#[from] Error),
    #[error("invalid input: {0}")]
    Invalid(String),
}

/// Counts how often a body ran.
#[derive(Clone, Default)]
struct Runs(Arc<AtomicUsize>);

impl Runs {
    fn hit(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[governed(action_type = "database.write", resource = "customer_profiles", resource_id = customer_id)]
async fn update(runs: &Runs, customer_id: &str, fail: bool) -> Result<String, ToolError> {
    runs.hit();
    if fail {
        return Err(ToolError::Invalid(format!("no customer {customer_id}")));
    }
    Ok(format!("updated {customer_id}"))
}

#[governed(action_type = "database.write", resource = "customer_profiles")]
fn update_sync(runs: &Runs, customer_id: &str) -> Result<String, ToolError> {
    runs.hit();
    Ok(format!("updated {customer_id}"))
}

#[governed(
    action_type = "approval.needed",
    resource = "payments",
    approval_timeout_secs = 1
)]
async fn pay(runs: &Runs, amount: u64) -> Result<u64, ToolError> {
    runs.hit();
    Ok(amount)
}

#[governed(
    action_type = "message.send",
    resource = "email",
    on_denied = |e| format!("not sent: {e}")
)]
async fn send(runs: &Runs, to: &str) -> String {
    runs.hit();
    format!("sent to {to}")
}

#[tokio::test]
async fn allowed_runs_the_body_once_and_reports_completion() {
    let mock = MockGovernance::allow_all();
    let runs = Runs::default();
    let result = mock.scope(update(&runs, "cust_42", false)).await;
    assert_eq!(result.ok().as_deref(), Some("updated cust_42"));
    assert_eq!(runs.count(), 1);

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].action_type, "database.write");
    assert_eq!(requests[0].resource, "customer_profiles");
    assert_eq!(requests[0].resource_id.as_deref(), Some("cust_42"));
    assert_eq!(requests[0].agent_id, "mock-agent");

    let outcomes = mock.outcomes();
    assert_eq!(outcomes.len(), 1);
    assert!(
        matches!(outcomes[0].1, Outcome::Completed { .. }),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn denied_never_runs_the_body_and_returns_the_converted_error() {
    let mock = MockGovernance::deny_all();
    let runs = Runs::default();
    let result = mock.scope(update(&runs, "cust_42", false)).await;
    assert_eq!(runs.count(), 0);
    match result {
        Err(ToolError::Governance(Error::Denied(decision))) => {
            assert_eq!(decision.decision, Decision::Denied);
            assert_eq!(decision.reason.as_deref(), Some("denied by MockGovernance"));
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(mock.outcomes().is_empty(), "no outcome for a denied action");
}

#[test]
fn sync_fn_denied_and_allowed() {
    let runs = Runs::default();
    let denied = MockGovernance::deny_all();
    {
        let _guard = denied.install_for_thread();
        assert!(matches!(
            update_sync(&runs, "c"),
            Err(ToolError::Governance(Error::Denied(_)))
        ));
    }
    assert_eq!(runs.count(), 0);
    let allowed = MockGovernance::allow_all();
    let _guard = allowed.install_for_thread();
    assert_eq!(update_sync(&runs, "c").ok().as_deref(), Some("updated c"));
    assert_eq!(runs.count(), 1);
    assert_eq!(allowed.outcomes().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_fn_inside_a_multi_thread_runtime() {
    let mock = MockGovernance::allow_all();
    let runs = Runs::default();
    let r = runs.clone();
    let result = mock.scope(async move { update_sync(&r, "c") }).await;
    assert!(result.is_ok());
    assert_eq!(runs.count(), 1);
}

#[tokio::test]
async fn sync_fn_inside_a_current_thread_runtime() {
    let mock = MockGovernance::allow_all();
    let _guard = mock.install_for_thread();
    let runs = Runs::default();
    assert!(update_sync(&runs, "c").is_ok());
    assert_eq!(runs.count(), 1);
}

#[tokio::test]
async fn on_denied_gets_the_reason_and_the_body_does_not_run() {
    let mock = MockGovernance::deny_all();
    let runs = Runs::default();
    let answer = mock.scope(send(&runs, "ann@example.com")).await;
    assert_eq!(runs.count(), 0);
    assert_eq!(answer, "not sent: action denied: denied by MockGovernance");

    let allowed = MockGovernance::allow_all();
    let answer = allowed.scope(send(&runs, "ann@example.com")).await;
    assert_eq!(answer, "sent to ann@example.com");
    assert_eq!(runs.count(), 1);
    // A non-Result return reports plain completion.
    assert!(matches!(allowed.outcomes()[0].1, Outcome::Completed { .. }));
}

#[tokio::test]
async fn pending_then_approved_runs() {
    let mock =
        MockGovernance::allow_all().on("approval.needed", [Decision::Pending, Decision::Allowed]);
    let runs = Runs::default();
    let result = mock.scope(pay(&runs, 120)).await;
    assert_eq!(result.ok(), Some(120));
    assert_eq!(runs.count(), 1);
}

#[tokio::test]
async fn pending_then_timeout_does_not_run() {
    let mock = MockGovernance::allow_all().on("approval.needed", [Decision::Pending]);
    let runs = Runs::default();
    let started = Instant::now();
    let result = mock.scope(pay(&runs, 120)).await;
    assert!(
        matches!(
            result,
            Err(ToolError::Governance(Error::ApprovalTimeout { .. }))
        ),
        "{result:?}"
    );
    assert_eq!(runs.count(), 0);
    // approval_timeout_secs = 1 was honoured (generous upper bound for a loaded machine).
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[governed(
    action_type = "approval.needed",
    resource = "payments",
    wait_for_approval = false
)]
async fn pay_no_wait(runs: &Runs, amount: u64) -> Result<u64, ToolError> {
    runs.hit();
    Ok(amount)
}

#[tokio::test]
async fn pending_without_waiting_does_not_run() {
    let mock = MockGovernance::allow_all().on("approval.needed", [Decision::Pending]);
    let runs = Runs::default();
    let result = mock.scope(pay_no_wait(&runs, 5)).await;
    // Issue #12, defect 5: not an `ApprovalTimeout { waited: 0ns }`.
    match result {
        Err(ToolError::Governance(
            ref e @ Error::PendingApproval {
                ref action_id,
                ref approval_request_id,
            },
        )) => {
            assert_eq!(action_id, "1");
            assert_eq!(approval_request_id.as_deref(), Some("mock-approval"));
            assert_eq!(
                e.refusal_kind(),
                ascend_runtime::RefusalKind::ApprovalPending
            );
            assert_eq!(
                e.to_string(),
                "action 1 is pending human approval (approval request mock-approval)"
            );
        }
        other => panic!("expected PendingApproval, got {other:?}"),
    }
    assert_eq!(runs.count(), 0);
}

#[tokio::test]
async fn kill_switch_blocks() {
    let mock = MockGovernance::allow_all();
    mock.trigger_kill_switch("incident 7");
    let runs = Runs::default();
    let result = mock.scope(update(&runs, "c", false)).await;
    match result {
        Err(ToolError::Governance(Error::KillSwitch { reason })) => {
            assert!(reason.contains("incident 7"), "{reason}")
        }
        other => panic!("expected the kill switch, got {other:?}"),
    }
    let answer = mock.scope(send(&runs, "x")).await;
    assert!(
        answer.starts_with("not sent: kill switch active"),
        "{answer}"
    );
    assert_eq!(runs.count(), 0);
}

#[tokio::test]
async fn unavailable_governance_fails_closed() {
    let mock = MockGovernance::unavailable();
    let runs = Runs::default();
    let result = mock.scope(update(&runs, "c", false)).await;
    assert!(
        matches!(result, Err(ToolError::Governance(Error::Connection { .. }))),
        "{result:?}"
    );
    assert_eq!(runs.count(), 0);
}

#[tokio::test]
async fn no_client_configured_is_a_denial_not_a_panic() {
    // No double installed and (in tests) no complete environment: the global client cannot be
    // built, the body does not run, the configuration error is returned.
    if std::env::var_os("ASCEND_API_KEY").is_some() {
        return;
    }
    let runs = Runs::default();
    let result = update(&runs, "c", false).await;
    assert!(
        matches!(result, Err(ToolError::Governance(Error::Configuration(_)))),
        "{result:?}"
    );
    assert_eq!(runs.count(), 0);
}

#[tokio::test]
async fn outcome_reported_with_the_failure_text() {
    let mock = MockGovernance::allow_all();
    let runs = Runs::default();
    let result = mock.scope(update(&runs, "cust_9", true)).await;
    assert!(matches!(result, Err(ToolError::Invalid(_))));
    assert_eq!(runs.count(), 1);
    let outcomes = mock.outcomes();
    assert_eq!(outcomes.len(), 1);
    match &outcomes[0].1 {
        Outcome::Failed { error, .. } => assert_eq!(error, "invalid input: no customer cust_9"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

// ---- parameters ------------------------------------------------------------------------------

#[derive(Serialize)]
struct Address {
    street: String,
    city: String,
    /// Nested secret-looking keys are redacted too.
    access_token: String,
}

/// Not `Serialize`: sent as its type name.
struct Pool;

struct Repo {
    client: AscendClient,
    table: &'static str,
}

impl Repo {
    #[governed(
        action_type = "database.write",
        resource = self.table,
        resource_id = format!("{customer}-{}", address.city),
        risk_indicators(pii_involved = true, amount = amount * 2, data_sensitivity = "high"),
        context(ticket = "T-1", requested_by = customer),
        description = "update a customer's address",
        tool_name = "update_address",
        skip(pool),
        client = self.client
    )]
    #[allow(clippy::too_many_arguments)]
    async fn update_address(
        &self,
        pool: &Pool,
        conn: &Pool,
        customer: &str,
        address: Address,
        amount: u64,
        password: &str,
        api_key: String,
        (left, right): (u8, u8),
    ) -> Result<(), ToolError> {
        let _ = (
            pool, conn, customer, address, amount, password, api_key, left, right,
        );
        Ok(())
    }

    #[governed(action_type = "database.read", resource = "t", skip_all, client = &self.client)]
    fn read(&self, customer: &str, secret_sauce: &str) -> Result<(), ToolError> {
        let _ = (customer, secret_sauce);
        Ok(())
    }
}

#[tokio::test]
async fn parameters_sent_match_the_arguments_with_skip_and_redaction() {
    let mock = MockGovernance::allow_all();
    let repo = Repo {
        client: mock.client(),
        table: "customer_profiles",
    };
    let address = Address {
        street: "1 Main St".into(),
        city: "Springfield".into(),
        access_token: "tok_123".into(),
    };
    repo.update_address(
        &Pool,
        &Pool,
        "cust_42",
        address,
        50,
        "hunter2",
        "ak_live".into(),
        (1, 2),
    )
    .await
    .expect("allowed");

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let action = &requests[0];
    assert_eq!(action.resource, "customer_profiles");
    assert_eq!(action.resource_id.as_deref(), Some("cust_42-Springfield"));
    let details = serde_json::Value::Object(action.action_details.clone());
    assert_eq!(
        details,
        json!({
            "conn": "&behaviour::Pool",
            "customer": "cust_42",
            "address": {"street": "1 Main St", "city": "Springfield", "access_token": "[REDACTED]"},
            "amount": 50,
            "password": "[REDACTED]",
            "api_key": "[REDACTED]",
            "left": 1,
            "right": 2,
            "tool_name": "update_address",
            "description": "update a customer's address",
        })
    );
    let indicators = serde_json::Value::Object(action.risk_indicators.clone());
    assert_eq!(
        indicators,
        json!({"pii_involved": true, "amount": 100, "data_sensitivity": "high"})
    );
    assert_eq!(action.context["ticket"], "T-1");
    assert_eq!(action.context["requested_by"], "cust_42");
    let location = action.context["code_location"].as_str().unwrap_or_default();
    assert!(location.contains("behaviour.rs:"), "{location}");
    assert!(
        action.context["module_path"]
            .as_str()
            .is_some_and(|m| m.starts_with("behaviour")),
        "{:?}",
        action.context
    );

    repo.read("cust_42", "s3cr3t").expect("allowed");
    let requests = mock.requests();
    let details = serde_json::Value::Object(requests[1].action_details.clone());
    assert_eq!(
        details,
        json!({"tool_name": "Repo::read"}),
        "skip_all sends no parameter"
    );
}

#[tokio::test]
async fn client_argument_overrides_the_global_client() {
    let global = MockGovernance::deny_all();
    let own = MockGovernance::allow_all();
    let repo = Repo {
        client: own.client(),
        table: "t",
    };
    let result = global.scope(async { repo.read("c", "s") }).await;
    assert!(result.is_ok());
    assert_eq!(own.requests().len(), 1);
    assert!(global.requests().is_empty());
}

// ---- the boxed-future shape, and rmcp's #[tool] -------------------------------------------

mod mcp {
    use super::*;
    use rmcp::handler::server::router::tool::ToolRouter;
    use rmcp::handler::server::wrapper::{Json, Parameters};
    use rmcp::{ErrorData as McpError, tool, tool_router};

    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    pub struct LookupRequest {
        /// The customer to look up.
        pub customer_id: String,
    }

    #[derive(Debug, serde::Serialize, schemars::JsonSchema)]
    pub struct LookupResponse {
        pub name: String,
    }

    #[derive(Clone)]
    pub struct Tools {
        pub runs: Runs,
    }

    fn to_mcp(e: Error) -> McpError {
        McpError::invalid_request(e.to_string(), None)
    }

    #[tool_router]
    impl Tools {
        /// Look a customer up (governed placed above `#[tool]`: the recommended order).
        #[governed(action_type = "database.read", resource = "customers",
                   resource_id = req.customer_id, on_denied = |e| Err(to_mcp(e)))]
        #[tool]
        pub async fn lookup(
            &self,
            Parameters(req): Parameters<LookupRequest>,
        ) -> Result<Json<LookupResponse>, McpError> {
            self.runs.hit();
            Ok(Json(LookupResponse {
                name: format!("name of {}", req.customer_id),
            }))
        }

        /// Delete a customer (governed placed below `#[tool]`: sees the boxed-future shape).
        #[tool(annotations(destructive_hint = true))]
        #[governed(action_type = "database.delete", resource = "customers",
                   on_denied = |e| Err(to_mcp(e)))]
        pub async fn delete(
            &self,
            Parameters(req): Parameters<LookupRequest>,
        ) -> Result<String, McpError> {
            self.runs.hit();
            Ok(format!("deleted {}", req.customer_id))
        }
    }

    pub fn router() -> ToolRouter<Tools> {
        Tools::tool_router()
    }
}

#[tokio::test]
async fn rmcp_tools_stay_routed_and_governed_in_either_order() {
    let tools = mcp::router().list_all();
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["delete", "lookup"]);
    let lookup = tools.iter().find(|t| t.name == "lookup").expect("lookup");
    assert!(
        lookup
            .description
            .as_deref()
            .is_some_and(|d| d.contains("Look a customer up")),
        "doc comment kept as the description: {:?}",
        lookup.description
    );
    assert!(
        lookup.input_schema.contains_key("properties"),
        "Parameters<T> still found: {:?}",
        lookup.input_schema
    );
    assert!(lookup.output_schema.is_some(), "Json<T> output schema kept");

    let mock = MockGovernance::allow_all().on("database.delete", [Decision::Denied]);
    let runs = Runs::default();
    let t = mcp::Tools { runs: runs.clone() };
    let req = || {
        rmcp::handler::server::wrapper::Parameters(mcp::LookupRequest {
            customer_id: "c7".into(),
        })
    };
    let found = mock.scope(t.lookup(req())).await;
    assert_eq!(found.ok().map(|j| j.0.name).as_deref(), Some("name of c7"));
    let deleted = mock.scope(t.delete(req())).await;
    assert!(deleted.is_err());
    assert_eq!(runs.count(), 1);
    let requests = mock.requests();
    assert_eq!(requests[0].resource_id.as_deref(), Some("c7"));
    assert_eq!(
        requests[0].action_details["req"],
        "behaviour::mcp::LookupRequest"
    );
    assert_eq!(requests[1].action_type, "database.delete");
}

// ---- issue #12 ---------------------------------------------------------------------------

#[governed(action_type = "compute", resource = "numbers")]
async fn explode(runs: &Runs, n: u32) -> Result<u32, ToolError> {
    runs.hit();
    if n > 0 {
        panic!("boom {n}");
    }
    Ok(n)
}

#[governed(action_type = "compute", resource = "numbers")]
fn explode_sync(n: u32) -> Result<u32, ToolError> {
    assert!(n == 0, "sync boom {n}");
    Ok(n)
}

#[tokio::test]
async fn a_panicking_body_reports_failed_and_the_panic_continues() {
    let mock = MockGovernance::allow_all();
    let runs = Runs::default();
    let r = runs.clone();
    let client = mock.client();
    let joined = tokio::spawn(ascend_runtime::global::scope(client, async move {
        explode(&r, 3).await
    }))
    .await;
    let panic = joined.expect_err("the panic reaches the caller");
    assert!(panic.is_panic());
    let message = panic.into_panic();
    assert_eq!(
        message.downcast_ref::<String>().map(String::as_str),
        Some("boom 3")
    );
    assert_eq!(runs.count(), 1);

    let _guard = mock.install_for_thread();
    let caught = std::panic::catch_unwind(|| explode_sync(4));
    assert!(caught.is_err());

    let outcomes = mock.outcomes();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    let errors: Vec<&str> = outcomes
        .iter()
        .map(|(_, o)| match o {
            Outcome::Failed { error, .. } => error.as_str(),
            Outcome::Completed { .. } => "completed",
        })
        .collect();
    assert_eq!(errors, ["panicked: boom 3", "panicked: sync boom 4"]);
}

struct Tool;
struct SendTool;

impl Tool {
    #[governed(action_type = "tool.call", resource = "tools")]
    async fn call(&self) -> Result<(), ToolError> {
        Ok(())
    }
}

impl SendTool {
    #[governed(action_type = "tool.call", resource = "tools")]
    async fn call(&self) -> Result<(), ToolError> {
        Ok(())
    }

    #[governed(action_type = "tool.call", resource = "tools", tool_name = "send")]
    fn named(&self) -> Result<(), ToolError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_method_is_named_after_its_type() {
    let mock = MockGovernance::allow_all();
    mock.scope(async {
        Tool.call().await.expect("allowed");
        SendTool.call().await.expect("allowed");
        SendTool.named().expect("allowed");
    })
    .await;
    let names: Vec<String> = mock
        .requests()
        .iter()
        .map(|a| {
            a.action_details["tool_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["Tool::call", "SendTool::call", "send"]);
}

#[governed(action_type = "compute", resource = 42, resource_id = true)]
async fn literal_resource() -> Result<(), ToolError> {
    Ok(())
}

#[tokio::test]
async fn a_non_string_literal_resource_is_displayed() {
    let mock = MockGovernance::allow_all();
    mock.scope(literal_resource()).await.expect("allowed");
    let requests = mock.requests();
    assert_eq!(requests[0].resource, "42");
    assert_eq!(requests[0].resource_id.as_deref(), Some("true"));
}

#[governed(action_type = "message.send", resource = "email",
           on_denied = |e| async move { tokio::task::yield_now().await; format!("later: {e}") })]
async fn send_later(runs: &Runs, to: &str) -> String {
    runs.hit();
    format!("sent to {to}")
}

async fn explain(e: Error) -> Result<String, ToolError> {
    Ok(format!("explained: {}", e.refusal_kind().as_str()))
}

#[governed(action_type = "message.send", resource = "email", on_denied = explain)]
async fn send_explained(to: &str) -> Result<String, ToolError> {
    Ok(format!("sent to {to}"))
}

#[tokio::test]
async fn async_on_denied_handlers_are_awaited() {
    let mock = MockGovernance::deny_all();
    let runs = Runs::default();
    let answer = mock.scope(send_later(&runs, "a")).await;
    assert_eq!(answer, "later: action denied: denied by MockGovernance");
    assert_eq!(runs.count(), 0);
    let answer = mock.scope(send_explained("a")).await;
    assert_eq!(answer.ok().as_deref(), Some("explained: denied"));
}

#[governed(action_type = "database.write", resource = "names")]
fn rename_later(s: String) -> impl std::future::Future<Output = Result<String, ToolError>> {
    let t = s;
    async move { Ok(t) }
}

#[tokio::test]
async fn a_future_returning_fn_with_a_prefix_is_governed_when_polled() {
    let denied = MockGovernance::deny_all();
    let fut = rename_later("ann".into());
    assert!(
        denied.requests().is_empty(),
        "nothing is asked before the first poll"
    );
    let result = denied.scope(fut).await;
    assert!(
        matches!(result, Err(ToolError::Governance(Error::Denied(_)))),
        "{result:?}"
    );
    assert_eq!(denied.requests()[0].action_details["s"], "ann");

    let allowed = MockGovernance::allow_all();
    let result = allowed.scope(rename_later("bob".into())).await;
    assert_eq!(result.ok().as_deref(), Some("bob"));
}
