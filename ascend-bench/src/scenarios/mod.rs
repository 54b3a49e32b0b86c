//! The ten scenarios, the counts each one uses ([`Plan`]), and what they share ([`Ctx`]).

pub mod approval;
pub mod audit;
pub mod compile_cost;
pub mod embedded;
pub mod governed;
pub mod http_load;
pub mod kill_switch;
pub mod memory;
pub mod python_sdk;
pub mod replicas;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ascend_runtime::{AgentAction, AscendClient};
use serde_json::json;

use crate::error::{Result, fail};
use crate::report::ScenarioReport;
use crate::server::{Endpoint, ServerUnderTest, http_client};
use crate::{Options, Verdict};

/// Counts, repeats and intervals: the full run, or tiny ones in smoke mode.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Smoke mode.
    pub smoke: bool,
    /// Scenario 1: calls per repeat.
    pub governed_calls: usize,
    /// Scenario 1: repeats.
    pub governed_repeats: usize,
    /// Scenario 2: decisions per repeat (each policy set / path).
    pub embedded_decisions: usize,
    /// Scenario 2: repeats.
    pub embedded_repeats: usize,
    /// Scenarios 3 and 4: warm-up requests before each concurrency level.
    pub http_warmup: usize,
    /// Scenario 3: (concurrency, requests per repeat).
    pub http_levels: Vec<(usize, usize)>,
    /// Scenario 3: repeats per level.
    pub http_repeats: usize,
    /// Scenario 4: (concurrency, requests per repeat) for the Python SDK.
    pub python_levels: Vec<(usize, usize)>,
    /// Scenario 4: repeats per level.
    pub python_repeats: usize,
    /// Scenario 5: connected agent clients.
    pub kill_clients: usize,
    /// Scenario 5: rounds with push.
    pub kill_push_rounds: usize,
    /// Scenario 5: rounds with polling.
    pub kill_poll_rounds: usize,
    /// Scenarios 5 and 6: the polling interval of the polling variants.
    pub poll_interval: Duration,
    /// Scenario 5: Python SDK clients.
    pub python_kill_clients: usize,
    /// Scenario 5: Python rounds.
    pub python_kill_rounds: usize,
    /// Scenario 6: rounds with push.
    pub approval_push_rounds: usize,
    /// Scenario 6: rounds with polling.
    pub approval_poll_rounds: usize,
    /// Scenario 7: entries in the chain.
    pub audit_entries: usize,
    /// Scenario 7: verification repeats.
    pub verify_repeats: usize,
    /// Scenario 8: decisions through the in-process pipeline.
    pub rss_decisions: usize,
    /// Scenario 10: (concurrency, decisions per repeat — the least, with `replica_seconds`) of
    /// each configuration.
    pub replica_levels: Vec<(usize, usize)>,
    /// Scenario 10: size each repeat to about this many seconds at the rate the warm-up showed
    /// (the rates differ five-fold between SQLite and PostgreSQL); fixed counts when None.
    pub replica_seconds: Option<f64>,
    /// Scenario 10: repeats per point.
    pub replica_repeats: usize,
    /// Scenario 10: warm-up decisions before each point (at least 4 per task).
    pub replica_warmup: usize,
    /// Scenario 10: decisions per repeat of each organisation variant (the least, with
    /// `replica_seconds`).
    pub org_requests: usize,
}

impl Plan {
    /// The plan for a full or a smoke run.
    pub fn new(smoke: bool) -> Plan {
        if smoke {
            Plan {
                smoke,
                governed_calls: 500,
                governed_repeats: 2,
                embedded_decisions: 100,
                embedded_repeats: 1,
                http_warmup: 10,
                http_levels: vec![(1, 20), (16, 64), (64, 128)],
                http_repeats: 1,
                python_levels: vec![(1, 10), (16, 32)],
                python_repeats: 1,
                kill_clients: 5,
                kill_push_rounds: 1,
                kill_poll_rounds: 1,
                poll_interval: Duration::from_millis(200),
                python_kill_clients: 2,
                python_kill_rounds: 1,
                approval_push_rounds: 2,
                approval_poll_rounds: 1,
                audit_entries: 2_000,
                verify_repeats: 1,
                rss_decisions: 1_000,
                replica_levels: vec![(16, 64), (64, 128)],
                replica_seconds: None,
                replica_repeats: 1,
                replica_warmup: 10,
                org_requests: 128,
            }
        } else {
            Plan {
                smoke,
                governed_calls: 50_000,
                governed_repeats: 5,
                embedded_decisions: 20_000,
                embedded_repeats: 3,
                http_warmup: 1_000,
                http_levels: vec![(1, 4_000), (16, 24_000), (64, 24_000)],
                http_repeats: 3,
                python_levels: vec![(1, 1_000), (16, 3_000), (64, 3_000)],
                python_repeats: 2,
                kill_clients: 100,
                kill_push_rounds: 10,
                kill_poll_rounds: 4,
                poll_interval: Duration::from_secs(1),
                python_kill_clients: 20,
                python_kill_rounds: 4,
                approval_push_rounds: 30,
                approval_poll_rounds: 10,
                audit_entries: 1_000_000,
                verify_repeats: 3,
                rss_decisions: 1_000_000,
                replica_levels: vec![(16, 300), (64, 300)],
                replica_seconds: Some(2.0),
                replica_repeats: 3,
                replica_warmup: 300,
                org_requests: 300,
            }
        }
    }
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Create `$TMPDIR/ascend-bench-<pid>-<nanos>`.
    pub fn new() -> Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("ascend-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the scenarios share: options, plan, a scratch directory, the server under test.
#[derive(Debug)]
pub struct Ctx {
    /// The options of the run.
    pub opts: Options,
    /// The counts.
    pub plan: Plan,
    /// Scratch space (databases, logs).
    pub dir: TempDir,
    /// The harness's own HTTP client (operator and reviewer requests).
    pub http: reqwest::Client,
    server: Option<ServerUnderTest>,
    /// Decisions the server under test has answered so far (all HTTP scenarios).
    pub server_decisions: u64,
    /// Scenario 3's results per concurrency level (scenario 4 compares against them).
    pub rust_http: Vec<http_load::LevelResult>,
    /// Scenario 2's embedded pipeline (default set): p50 in seconds at concurrency 1, and
    /// decisions per second with 64 in flight (the HTTP notes refer to them).
    pub embedded: Option<(f64, f64)>,
}

impl Ctx {
    /// A context with no server started yet.
    pub fn new(opts: Options, plan: Plan) -> Result<Ctx> {
        Ok(Ctx {
            opts,
            plan,
            dir: TempDir::new()?,
            http: http_client()?,
            server: None,
            server_decisions: 0,
            rust_http: Vec::new(),
            embedded: None,
        })
    }

    /// The server under test, started on first use.
    pub async fn server(&mut self) -> Result<&ServerUnderTest> {
        if self.server.is_none() {
            let server =
                ServerUnderTest::start(self.opts.harness_exe.as_deref(), self.dir.path()).await?;
            self.server = Some(server);
        }
        match &self.server {
            Some(s) => Ok(s),
            None => fail("server not started"),
        }
    }

    /// The server under test, if one was started.
    pub fn server_if_started(&self) -> Option<&ServerUnderTest> {
        self.server.as_ref()
    }

    /// The endpoint of the server under test (started on first use).
    pub async fn endpoint(&mut self) -> Result<Endpoint> {
        Ok(self.server().await?.endpoint().clone())
    }

    /// Stop the server under test, if one runs.
    pub async fn stop_server(&mut self) -> Result<()> {
        match self.server.take() {
            Some(s) => s.stop().await,
            None => Ok(()),
        }
    }

    /// Release everything (best effort).
    pub async fn finish(&mut self) {
        let _ = self.stop_server().await;
    }

    /// A verdict for `measured` against `target` (none in smoke mode).
    pub fn judge(&self, measured: f64, target: f64, higher_is_better: bool) -> Verdict {
        Verdict::judge(measured, target, higher_is_better, self.plan.smoke)
    }
}

/// Run scenario `n`.
pub async fn run_one(n: u8, ctx: &mut Ctx) -> Result<ScenarioReport> {
    match n {
        1 => governed::run(ctx).await,
        2 => embedded::run(ctx).await,
        3 => http_load::run(ctx).await,
        4 => python_sdk::run_load(ctx).await,
        5 => kill_switch::run(ctx).await,
        6 => approval::run(ctx).await,
        7 => audit::run(ctx).await,
        8 => memory::run(ctx).await,
        9 => compile_cost::run(ctx).await,
        10 => replicas::run(ctx).await,
        _ => fail(format!("no scenario {n}")),
    }
}

/// The action of the load scenarios (3, 4, 8): a low-risk read, allowed at once by the default
/// policies. The Python script sends exactly the same fields.
pub fn low_risk_read() -> AgentAction {
    AgentAction::new("database.read", "product_categories")
        .with_parameter("query", json!("list"))
        .with_risk_indicator("data_classification", json!("public"))
}

/// A realistic mix for the embedded decision over the default policies (the risk model's
/// calibration cases): low read, PII read, PII write (pending), bulk delete (denied), external
/// transfer, MCP directory listing.
pub fn default_mix() -> Vec<AgentAction> {
    vec![
        low_risk_read(),
        AgentAction::new("database.read", "customers")
            .with_parameter("fields", json!(["name", "email", "phone"]))
            .with_risk_indicator("data_classification", json!("pii"))
            .with_risk_indicator("pii_involved", json!(true)),
        AgentAction::new("database.write", "customers")
            .with_resource_id("cust_42")
            .with_parameter("operation", json!("update"))
            .with_parameter("rows", json!(1))
            .with_risk_indicator("pii_involved", json!(true))
            .with_risk_indicator("data_classification", json!("pii")),
        AgentAction::new("database.delete", "users")
            .with_parameter("operation", json!("delete"))
            .with_parameter("row_count", json!(150))
            .with_risk_indicator("bulk_operation", json!(true)),
        AgentAction::new("transaction", "payments")
            .with_parameter("amount", json!(2500))
            .with_risk_indicator("external_transfer", json!(false)),
        AgentAction::new("mcp.list_directory", "/home/dev/project")
            .with_mcp_server("filesystem")
            .with_parameter("path", json!("/home/dev/project")),
    ]
}

/// [`default_mix`] spread over `agents` agent ids (`agent-0`, ...): `6 × agents` actions.
pub fn agent_mix(agents: usize) -> Vec<AgentAction> {
    let base = default_mix();
    let n = base.len() * agents.max(1);
    base.into_iter()
        .cycle()
        .take(n)
        .enumerate()
        .map(|(i, a)| a.with_agent(format!("agent-{}", i % agents.max(1)), "Bench Agent"))
        .collect()
}

/// A runtime client for the server under test, as an agent process would build it.
pub fn agent_client(
    endpoint: &Endpoint,
    agent_id: &str,
    push: bool,
    poll: Duration,
) -> Result<AscendClient> {
    Ok(AscendClient::builder()
        .ignore_env()
        .api_key(endpoint.agent_key.clone())
        .api_url(endpoint.base_url.clone())
        .agent_id(agent_id)
        .agent_name("Bench Agent")
        .timeout(Duration::from_secs(30))
        .event_stream(push)
        .poll_interval(poll)
        .kill_switch_watch(poll, 3)
        .build()?)
}

/// A closed-loop load: `concurrency` tasks each run `op(i)` back to back until `n` operations
/// are done. Returns every operation's latency and the wall time of the whole load.
pub async fn closed_loop<F, Fut>(
    n: usize,
    concurrency: usize,
    op: F,
) -> Result<(Vec<Duration>, Duration)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let op = Arc::clone(&op);
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let mut samples = Vec::with_capacity(n / concurrency.max(1) + 1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, crate::Error>(samples);
                }
                let t = std::time::Instant::now();
                op(i).await?;
                samples.push(t.elapsed());
            }
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(samples)) => all.extend(samples),
            Ok(Err(e)) => {
                tasks.abort_all();
                return Err(e);
            }
            Err(e) => {
                tasks.abort_all();
                return fail(format!("load task: {e}"));
            }
        }
    }
    Ok((all, started.elapsed()))
}
