//! Scenario 10: replicas — decisions/s and p50/p99 of the same load as scenario 3 (our runtime
//! client, `authorize` of a low-risk read, closed loop) against one server on SQLite and against
//! 1, 2 and 3 server processes ("replicas") sharing one PostgreSQL database; and the cost of the
//! per-organisation audit chain, which serialises all writes of one organisation on a row lock
//! of its `audit_heads` row (all load in one organisation against the same load spread over
//! eight).
//!
//! Everything — the harness's clients, every server process and PostgreSQL — shares this
//! machine's cores, so more replicas add no CPU: the figures show what replication costs on one
//! box, not how it scales across machines.
//!
//! The PostgreSQL cluster is a throw-away one the harness starts ([`crate::postgres`], default
//! durability: fsync on) or the one `ASCEND_PG_URL` names. In smoke mode the PostgreSQL part is
//! skipped, with a note, when PostgreSQL is not installed; in a full run that is an error.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ascend_runtime::{AscendClient, Decision, EvaluateOptions};
use serde_json::json;

use super::{Ctx, agent_client, low_risk_read};
use crate::error::{Result, fail};
use crate::postgres::{self, PgCluster, Unavailable};
use crate::report::{Row, ScenarioReport, Verdict};
use crate::server::{Endpoint, ServerUnderTest, get_json, post_json};
use crate::stats::{fmt_dur, fmt_rate, median, range, summarize};

const N: u8 = 10;

/// One measured configuration at one concurrency.
#[derive(Debug, Clone)]
struct Point {
    /// `SQLite, 1 server`, `PostgreSQL, 2 replicas`, …
    label: String,
    concurrency: usize,
    /// Median of the per-repeat rates.
    rate: f64,
    rates: Vec<f64>,
    p50: Duration,
    p99: Duration,
    n: usize,
    /// Where the CPU went during the measured repeats.
    cpu: Option<CpuSplit>,
    /// What PostgreSQL's client backends were doing (sampled).
    waits: Option<Waits>,
}

/// CPU seconds per party over the measured repeats, and the wall time.
#[derive(Debug, Clone, Copy, Default)]
struct CpuSplit {
    wall: f64,
    harness: f64,
    servers: f64,
    postgres: Option<f64>,
    machine_busy: f64,
    machine_total: f64,
}

impl CpuSplit {
    fn describe(&self, cores: f64) -> String {
        let per = |s: f64| s / self.wall;
        let ours = self.harness + self.servers + self.postgres.unwrap_or(0.0);
        let other = (self.machine_busy - ours).max(0.0);
        let busy = if self.machine_total > 0.0 {
            self.machine_busy / self.machine_total * 100.0
        } else {
            0.0
        };
        format!(
            "clients {:.2}, server(s) {:.2}, PostgreSQL {}, other {:.2} cores (machine {busy:.0}% busy of {cores:.0})",
            per(self.harness),
            per(self.servers),
            self.postgres
                .map_or_else(|| "not measured".to_owned(), |p| format!("{:.2}", per(p))),
            per(other),
        )
    }
}

/// Sampled states of the database's client backends: average number per state, WAL syncs.
#[derive(Debug, Clone, Default)]
struct Waits {
    samples: u64,
    /// label → backend-samples.
    states: BTreeMap<String, u64>,
    /// WAL syncs (`pg_stat_wal.wal_sync`) during the measured repeats.
    wal_syncs: Option<i64>,
    /// Decisions during the measured repeats.
    decisions: usize,
}

impl Waits {
    fn describe(&self) -> String {
        let mut v: Vec<(&String, &u64)> = self.states.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1));
        let mut s = v
            .iter()
            .take(6)
            .map(|(k, c)| format!("{:.1} {k}", **c as f64 / self.samples.max(1) as f64))
            .collect::<Vec<_>>()
            .join("; ");
        if let Some(w) = self.wal_syncs.filter(|w| *w > 0) {
            let _ = write!(
                s,
                " — {} WAL syncs, {:.1} decisions per sync",
                w,
                self.decisions as f64 / w as f64
            );
        }
        s
    }
}

/// The processes whose CPU is measured.
struct Pids {
    servers: Vec<u32>,
    postmaster: Option<u32>,
}

fn cpu_now(p: &Pids) -> (f64, f64, Option<f64>, (f64, f64)) {
    let harness = postgres::cpu_seconds(&[std::process::id()]);
    let servers: Vec<u32> = p
        .servers
        .iter()
        .copied()
        .filter(|pid| *pid != std::process::id())
        .collect();
    let servers = postgres::cpu_seconds(&servers);
    let pg = p
        .postmaster
        .map(|pm| postgres::cpu_seconds(&postgres::process_tree(pm)));
    (harness, servers, pg, postgres::machine_cpu())
}

/// A closed loop over several clients: task `t` of `concurrency` uses `clients[t % len]`.
async fn load(
    clients: &[Arc<AscendClient>],
    n: usize,
    concurrency: usize,
) -> Result<(Vec<Duration>, Duration)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..concurrency.max(1) {
        let client = Arc::clone(&clients[t % clients.len()]);
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let mut samples = Vec::with_capacity(n / concurrency.max(1) + 1);
            loop {
                if next.fetch_add(1, Ordering::Relaxed) >= n {
                    return Ok::<_, crate::Error>(samples);
                }
                let t0 = Instant::now();
                let d = client
                    .authorize(low_risk_read(), EvaluateOptions::default())
                    .await?;
                if d.decision != Decision::Allowed {
                    return fail(format!("expected allowed, got {d:?}"));
                }
                samples.push(t0.elapsed());
            }
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(s)) => all.extend(s),
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

/// A sampler of `pg_stat_activity` (and `pg_stat_wal`) while a point is measured.
struct Sampler {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<Waits>>,
}

impl Sampler {
    async fn start(url: &str, db: &str) -> Result<Sampler> {
        let c = postgres::connect(url).await?;
        let wal0 = wal_syncs(&c).await;
        let (stop, mut rx) = tokio::sync::watch::channel(false);
        let db = db.to_owned();
        let task = tokio::spawn(async move {
            let mut w = Waits::default();
            let q = c
                .prepare(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity \
                     WHERE datname = $1 AND backend_type = 'client backend' \
                     AND pid <> pg_backend_pid() AND query NOT LIKE 'LISTEN %'",
                )
                .await
                .map_err(postgres::pg_err)?;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = rx.changed() => break,
                }
                let rows = c.query(&q, &[&db]).await.map_err(postgres::pg_err)?;
                w.samples += 1;
                for r in rows {
                    let state: Option<String> = r.get(0);
                    let wt: Option<String> = r.get(1);
                    let we: Option<String> = r.get(2);
                    let label = match (state.as_deref(), wt, we) {
                        (Some("active"), None, _) => "active on CPU".to_owned(),
                        (Some("active"), Some(t), e) => {
                            format!("active waiting {t}:{}", e.unwrap_or_default())
                        }
                        (Some("idle in transaction"), _, _) => {
                            "idle in transaction (waiting for the server's next statement)"
                                .to_owned()
                        }
                        (Some("idle"), _, _) => "idle (pooled, no work)".to_owned(),
                        (s, _, _) => s.unwrap_or("?").to_owned(),
                    };
                    *w.states.entry(label).or_default() += 1;
                }
            }
            if let (Some(a), Some(b)) = (wal0, wal_syncs(&c).await) {
                w.wal_syncs = Some(b - a);
            }
            Ok(w)
        });
        Ok(Sampler { stop, task })
    }

    async fn finish(self) -> Result<Waits> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(r) => r,
            Err(e) => fail(format!("sampler: {e}")),
        }
    }
}

async fn wal_syncs(c: &tokio_postgres::Client) -> Option<i64> {
    c.query_one("SELECT wal_sync FROM pg_stat_wal", &[])
        .await
        .ok()
        .and_then(|r| r.try_get::<_, i64>(0).ok())
}

/// What the repeats of one organisation variant add up to.
#[derive(Default)]
struct Acc {
    samples: Vec<Duration>,
    rates: Vec<f64>,
    cpu: CpuSplit,
    waits: Waits,
}

/// Where PostgreSQL is, for the sampler.
struct PgProbe<'a> {
    url: &'a str,
    db: &'a str,
}

/// Warm up; the decisions per repeat: `least`, or more to fill `replica_seconds` at the rate
/// the warm-up showed.
async fn warm_up(
    ctx: &Ctx,
    clients: &[Arc<AscendClient>],
    concurrency: usize,
    least: usize,
) -> Result<usize> {
    let warmup = ctx.plan.replica_warmup.max(concurrency * 4);
    let (_, wall) = load(clients, warmup, concurrency).await?;
    Ok(match ctx.plan.replica_seconds {
        Some(secs) => {
            let rate = warmup as f64 / wall.as_secs_f64().max(1e-6);
            ((rate * secs) as usize).clamp(least, 50_000)
        }
        None => least,
    })
}

/// Warm up, then `repeats` measured runs of (at least) `n` decisions at `concurrency`.
async fn measure(
    ctx: &Ctx,
    label: &str,
    clients: &[Arc<AscendClient>],
    concurrency: usize,
    n: usize,
    pids: &Pids,
    pg: Option<&PgProbe<'_>>,
) -> Result<Point> {
    let n = warm_up(ctx, clients, concurrency, n).await?;
    let sampler = match pg {
        Some(p) => Some(Sampler::start(p.url, p.db).await?),
        None => None,
    };
    let t0 = Instant::now();
    let c0 = cpu_now(pids);
    let mut all = Vec::new();
    let mut rates = Vec::new();
    for _ in 0..ctx.plan.replica_repeats {
        let (samples, wall) = load(clients, n, concurrency).await?;
        rates.push(n as f64 / wall.as_secs_f64());
        all.extend(samples);
    }
    let c1 = cpu_now(pids);
    let wall = t0.elapsed().as_secs_f64();
    let waits = match sampler {
        Some(s) => {
            let mut w = s.finish().await?;
            w.decisions = n * ctx.plan.replica_repeats;
            Some(w)
        }
        None => None,
    };
    let s = summarize(&mut all);
    let point = Point {
        label: label.to_owned(),
        concurrency,
        rate: median(&rates),
        rates,
        p50: s.p50,
        p99: s.p99,
        n: s.n,
        cpu: Some(CpuSplit {
            wall,
            harness: c1.0 - c0.0,
            servers: c1.1 - c0.1,
            postgres: c0.2.zip(c1.2).map(|(a, b)| b - a),
            machine_busy: c1.3.0 - c0.3.0,
            machine_total: c1.3.1 - c0.3.1,
        }),
        waits,
    };
    if ctx.opts.verbose {
        eprintln!(
            "    {label}, concurrency {concurrency}: {} p50 {} p99 {}",
            fmt_rate(point.rate),
            fmt_dur(point.p50),
            fmt_dur(point.p99)
        );
    }
    Ok(point)
}

fn client_for(base: &Endpoint, key: &str, agent: &str) -> Result<Arc<AscendClient>> {
    let endpoint = Endpoint {
        agent_key: key.to_owned(),
        ..base.clone()
    };
    let client = agent_client(&endpoint, agent, true, Duration::from_secs(1))?;
    client.start_kill_switch_watch();
    Ok(Arc::new(client))
}

/// A fleet agent key created over HTTP with the operator key of `admin` (in `org` when given).
async fn create_agent_key(ctx: &Ctx, admin: &Endpoint, org: Option<i64>) -> Result<String> {
    let mut body = json!({"role": "agent", "name": "bench", "fleet": true, "owner": "bench"});
    if let Some(org) = org {
        body["organization_id"] = json!(org);
    }
    let v = post_json(
        &ctx.http,
        &format!("{}/api/v1/keys", admin.base_url),
        &admin.admin_key,
        &body,
    )
    .await?;
    match v["key"].as_str() {
        Some(k) => Ok(k.to_owned()),
        None => fail(format!("POST /api/v1/keys answered without a key: {v}")),
    }
}

/// Wait until `base_url` accepts `key` (a key created on another replica reaches it through
/// the change feed); the time it took.
async fn wait_for_key(ctx: &Ctx, base_url: &str, key: &str) -> Result<Duration> {
    let t0 = Instant::now();
    loop {
        let url = format!("{base_url}/api/v1/kill-switch/status");
        match get_json(&ctx.http, &url, key).await {
            Ok(_) => return Ok(t0.elapsed()),
            Err(e) if t0.elapsed() > Duration::from_secs(15) => {
                return fail(format!(
                    "a key created on replica 1 is still refused by {base_url} after 15 s: {e}"
                ));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

async fn stop_all(servers: Vec<ServerUnderTest>) -> Result<()> {
    let mut first_err = None;
    for s in servers.into_iter().rev() {
        if let Err(e) = s.stop().await {
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The SQLite baseline: one fresh server, one client.
async fn sqlite_part(ctx: &mut Ctx) -> Result<Vec<Point>> {
    let dir = ctx.dir.path().join("replicas");
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("sqlite.db");
    let server = ServerUnderTest::start_on(
        ctx.opts.harness_exe.as_deref(),
        &db.to_string_lossy(),
        &dir,
        "sqlite",
        true,
    )
    .await?;
    let result = async {
        let e = server.endpoint().clone();
        let key = create_agent_key(ctx, &e, None).await?;
        let clients = vec![client_for(&e, &key, "replica-agent-1")?];
        let pids = Pids {
            servers: vec![server.pid()],
            postmaster: None,
        };
        let mut points = Vec::new();
        for &(c, n) in &ctx.plan.replica_levels {
            points.push(measure(ctx, "SQLite, 1 server", &clients, c, n, &pids, None).await?);
        }
        for c in &clients {
            c.stop_kill_switch_watch();
        }
        Ok::<_, crate::Error>(points)
    }
    .await;
    let stopped = server.stop().await;
    let points = result?;
    stopped?;
    Ok(points)
}

/// What the PostgreSQL part measured.
struct PgResults {
    points: Vec<Point>,
    /// (one organisation, eight organisations) at concurrency 64 on one replica.
    orgs: Option<(Point, Point)>,
    /// How long a key created on replica 1 took to be accepted by replica 2 and 3.
    propagation: Vec<Duration>,
}

async fn pg_part(ctx: &mut Ctx, cluster: &mut PgCluster) -> Result<PgResults> {
    let db = format!("ascend_bench_{}", std::process::id());
    let url = cluster.create_database(&db).await?;
    let dir = ctx.dir.path().join("replicas");
    std::fs::create_dir_all(&dir)?;
    let mut servers: Vec<ServerUnderTest> = Vec::new();
    let result = pg_measure(ctx, cluster, &url, &db, &dir, &mut servers).await;
    let stopped = stop_all(servers).await;
    let r = result?;
    stopped?;
    Ok(r)
}

async fn pg_measure(
    ctx: &mut Ctx,
    cluster: &PgCluster,
    url: &str,
    db: &str,
    dir: &std::path::Path,
    servers: &mut Vec<ServerUnderTest>,
) -> Result<PgResults> {
    let exe = ctx.opts.harness_exe.clone();
    let probe = PgProbe {
        url: &postgres::with_database(cluster.maintenance_url(), db),
        db,
    };
    let first = ServerUnderTest::start_on(exe.as_deref(), url, dir, "replica-1", true).await?;
    let admin = first.endpoint().clone();
    servers.push(first);
    let mut clients = vec![client_for(
        &admin,
        &create_agent_key(ctx, &admin, None).await?,
        "replica-agent-1",
    )?];
    let mut points = Vec::new();
    let mut propagation = Vec::new();
    let mut orgs = None;
    for replicas in 1..=3usize {
        if replicas > 1 {
            // One after another; a later replica's key is created on the first and reaches it
            // through the change feed (LISTEN/NOTIFY).
            let s = ServerUnderTest::start_on(
                exe.as_deref(),
                url,
                dir,
                &format!("replica-{replicas}"),
                false,
            )
            .await?;
            let e = s.endpoint().clone();
            servers.push(s);
            let key = create_agent_key(ctx, &admin, None).await?;
            propagation.push(wait_for_key(ctx, &e.base_url, &key).await?);
            clients.push(client_for(
                &Endpoint {
                    admin_key: admin.admin_key.clone(),
                    ..e
                },
                &key,
                &format!("replica-agent-{replicas}"),
            )?);
        }
        let pids = Pids {
            servers: servers.iter().map(ServerUnderTest::pid).collect(),
            postmaster: cluster.postmaster_pid(),
        };
        let label = if replicas == 1 {
            "PostgreSQL, 1 replica".to_owned()
        } else {
            format!("PostgreSQL, {replicas} replicas")
        };
        for &(c, n) in &ctx.plan.replica_levels.clone() {
            points.push(measure(ctx, &label, &clients, c, n, &pids, Some(&probe)).await?);
        }
        if replicas == 1 {
            orgs = Some(org_cost(ctx, &admin, &pids, &probe).await?);
        }
    }
    for c in &clients {
        c.stop_kill_switch_watch();
    }
    Ok(PgResults {
        points,
        orgs,
        propagation,
    })
}

/// One replica, concurrency 64, eight clients: all in the default organisation, then each in
/// an organisation of its own; repeats interleaved (one, eight, one, eight, …) so drift of the
/// machine hits both alike.
async fn org_cost(
    ctx: &mut Ctx,
    admin: &Endpoint,
    pids: &Pids,
    probe: &PgProbe<'_>,
) -> Result<(Point, Point)> {
    const ORGS: usize = 8;
    let concurrency = 64;
    let mut one = Vec::new();
    let mut eight = Vec::new();
    let tag = std::process::id();
    for i in 0..ORGS {
        let agent = format!("org-agent-{i}");
        one.push(client_for(
            admin,
            &create_agent_key(ctx, admin, None).await?,
            &agent,
        )?);
        let v = post_json(
            &ctx.http,
            &format!("{}/api/v1/orgs", admin.base_url),
            &admin.admin_key,
            &json!({"name": format!("bench-{tag}-org-{i}")}),
        )
        .await?;
        let Some(org) = v["id"].as_i64() else {
            return fail(format!("POST /api/v1/orgs answered without an id: {v}"));
        };
        eight.push(client_for(
            admin,
            &create_agent_key(ctx, admin, Some(org)).await?,
            &agent,
        )?);
    }
    let repeats = ctx.plan.replica_repeats;
    let sizes = [
        warm_up(ctx, &one, concurrency, ctx.plan.org_requests).await?,
        warm_up(ctx, &eight, concurrency, ctx.plan.org_requests).await?,
    ];
    let mut acc = [Acc::default(), Acc::default()];
    for _ in 0..repeats {
        for (k, clients) in [&one, &eight].into_iter().enumerate() {
            let n = sizes[k];
            let sampler = Sampler::start(probe.url, probe.db).await?;
            let c0 = cpu_now(pids);
            let (samples, wall) = load(clients, n, concurrency).await?;
            let c1 = cpu_now(pids);
            let w = sampler.finish().await?;
            let a = &mut acc[k];
            a.samples.extend(samples);
            a.rates.push(n as f64 / wall.as_secs_f64());
            a.cpu.wall += wall.as_secs_f64();
            a.cpu.harness += c1.0 - c0.0;
            a.cpu.servers += c1.1 - c0.1;
            if let (Some(b), Some(e)) = (c0.2, c1.2) {
                *a.cpu.postgres.get_or_insert(0.0) += e - b;
            }
            a.cpu.machine_busy += c1.3.0 - c0.3.0;
            a.cpu.machine_total += c1.3.1 - c0.3.1;
            a.waits.samples += w.samples;
            a.waits.decisions += n;
            for (l, c) in w.states {
                *a.waits.states.entry(l).or_default() += c;
            }
            if let Some(s) = w.wal_syncs {
                *a.waits.wal_syncs.get_or_insert(0) += s;
            }
        }
    }
    for c in one.iter().chain(eight.iter()) {
        c.stop_kill_switch_watch();
    }
    let [a, b] = acc;
    let to_point = |label: &str, mut a: Acc| {
        let s = summarize(&mut a.samples);
        Point {
            label: label.to_owned(),
            concurrency,
            rate: median(&a.rates),
            rates: a.rates,
            p50: s.p50,
            p99: s.p99,
            n: s.n,
            cpu: Some(a.cpu),
            waits: Some(a.waits),
        }
    };
    let one = to_point("PostgreSQL, 1 replica, 8 clients in one organisation", a);
    let eight = to_point("PostgreSQL, 1 replica, 8 clients in 8 organisations", b);
    if ctx.opts.verbose {
        eprintln!(
            "    one org {} (p50 {}), eight orgs {} (p50 {})",
            fmt_rate(one.rate),
            fmt_dur(one.p50),
            fmt_rate(eight.rate),
            fmt_dur(eight.p50)
        );
    }
    Ok((one, eight))
}

/// Average backends waiting for a row lock (the chain head) while `p` was measured.
fn lock_waiters(p: &Point) -> f64 {
    p.waits.as_ref().map_or(0.0, |w| {
        let n: u64 = w
            .states
            .iter()
            .filter(|(k, _)| k.contains("Lock:transactionid") || k.contains("Lock:tuple"))
            .map(|(_, c)| *c)
            .sum();
        n as f64 / w.samples.max(1) as f64
    })
}

/// Decisions per WAL sync while `p` was measured (`?` without the figure).
fn per_sync(p: &Point) -> String {
    match p.waits.as_ref() {
        Some(w) => match w.wal_syncs.filter(|s| *s > 0) {
            Some(s) => format!("{:.1}", w.decisions as f64 / s as f64),
            None => "?".to_owned(),
        },
        None => "?".to_owned(),
    }
}

fn spread(p: &Point) -> String {
    let (lo, hi) = range(&p.rates);
    format!(
        "{} (spread {}–{}), p50 {} / p99 {}",
        fmt_rate(p.rate),
        fmt_rate(lo),
        fmt_rate(hi),
        fmt_dur(p.p50),
        fmt_dur(p.p99)
    )
}

/// Run scenario 10.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let started = Instant::now();
    let mut points = sqlite_part(ctx).await?;

    let mut skipped = None;
    let mut pg = None;
    let mut cluster_desc = String::new();
    match postgres::start_async().await {
        Ok(mut cluster) => {
            cluster_desc = cluster.describe();
            let r = pg_part(ctx, &mut cluster).await;
            let log = postgres::log_path(&cluster);
            postgres::stop_async(cluster).await;
            match r {
                Ok(r) => pg = Some(r),
                Err(e) => {
                    return fail(format!(
                        "{e}{}",
                        log.map_or_else(String::new, |l| format!(
                            " (the PostgreSQL log was {}, deleted with the cluster)",
                            l.display()
                        ))
                    ));
                }
            }
        }
        Err(Unavailable::NotInstalled(why)) if ctx.plan.smoke => {
            skipped = Some(format!("PostgreSQL not available: {why}"));
        }
        Err(e) => {
            return fail(format!(
                "PostgreSQL could not be started for scenario 10: {e} (set ASCEND_PG_URL to a \
                 maintenance database URL, or install PostgreSQL's initdb, pg_ctl and postgres)"
            ));
        }
    }
    let took = started.elapsed();

    let mut rows = Vec::new();
    let mut details = format!(
        "Method: the load of scenario 3 — our runtime client (`AscendClient::authorize` of a \
         low-risk `database.read`, allowed by the default policies; HTTP keep-alive, kill-switch \
         watch on the push stream) in closed loop, {} repeats per point after {}+ warm-up \
         decisions ({}) — against (a) one server process on a fresh SQLite file (WAL mode, \
         `synchronous=NORMAL`: a commit is durable against a process crash, and against power \
         loss only up to the last WAL checkpoint sync) and (b) 1, 2 and 3 server processes \
         (\"replicas\", `ascend_server::start` with `database_url`) on one fresh PostgreSQL \
         database: {}. A decision is answered after its transaction committed — on \
         PostgreSQL after the commit record was fsynced (`synchronous_commit = on`), a \
         stricter durability than SQLite's `NORMAL`. Rate limits are off. Replicas are started \
         one after another; each replica's fleet agent key is created over HTTP \
         (`POST /api/v1/keys`) on replica 1 with the operator key replica 1 created, and used \
         on its replica once the change feed (LISTEN/NOTIFY) brought it there. One \
         `AscendClient` per replica; the load's tasks are spread evenly over the clients \
         (e.g. 64 over 3 replicas: 22/21/21).\n\n\
         **All of it shares this machine's {cores:.0} cores**: the harness's clients, every \
         server process and PostgreSQL. More replicas add processes, not CPU, so these \
         figures show the cost of replication on one box, not scaling across machines.\n\n\
         CPU split: user+system time from `/proc` of the harness process (the clients), the \
         server processes and PostgreSQL (postmaster and its children), per second of wall \
         time; *other* is the rest of the machine's busy time (`/proc/stat`: other work on the \
         machine). Backend states: `pg_stat_activity` of the database's client backends \
         sampled every 20 ms (the replicas' LISTEN connections left out), as the average \
         number of backends in each state; WAL syncs from `pg_stat_wal` (approximate: \
         backends report their statistics about once a second).\n\n",
        ctx.plan.replica_repeats,
        ctx.plan.replica_warmup,
        match ctx.plan.replica_seconds {
            Some(secs) => format!(
                "each repeat sized to about {secs:.0} s at the rate its warm-up showed, so the \
                 decision counts differ between points"
            ),
            None => "fixed counts".to_owned(),
        },
        if cluster_desc.is_empty() {
            "not run"
        } else {
            &cluster_desc
        }
    );
    if let Some(pg) = &pg {
        points.extend(pg.points.iter().cloned());
    }
    let _ = writeln!(
        details,
        "| configuration | concurrency | decisions | decisions/s (median) | per-repeat decisions/s | p50 | p99 | CPU (cores) | PostgreSQL backends (avg) |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    let mut all_points: Vec<&Point> = points.iter().collect();
    if let Some((a, b)) = pg.as_ref().and_then(|p| p.orgs.as_ref()) {
        all_points.push(a);
        all_points.push(b);
    }
    for p in &all_points {
        let _ = writeln!(
            details,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.label,
            p.concurrency,
            p.n,
            fmt_rate(p.rate),
            p.rates
                .iter()
                .map(|r| fmt_rate(*r))
                .collect::<Vec<_>>()
                .join(", "),
            fmt_dur(p.p50),
            fmt_dur(p.p99),
            p.cpu.map_or_else(|| "—".to_owned(), |c| c.describe(cores)),
            p.waits
                .as_ref()
                .map_or_else(|| "—".to_owned(), Waits::describe),
        );
    }
    details.push('\n');

    for p in &points {
        rows.push(Row::info(
            N,
            format!("{}: decisions at concurrency {}", p.label, p.concurrency),
            spread(p),
        ));
    }
    match (&pg, &skipped) {
        (Some(pg), _) => {
            if let Some((one, eight)) = &pg.orgs {
                let ratio = eight.rate / one.rate.max(f64::MIN_POSITIVE);
                rows.push(Row::info(
                    N,
                    "PostgreSQL, 1 replica, concurrency 64: all load in one organisation vs \
                     spread over 8 (per-organisation chain lock)",
                    format!(
                        "one org {} (p50 {}) vs 8 orgs {} (p50 {}): 8 orgs = {ratio:.2}× one",
                        fmt_rate(one.rate),
                        fmt_dur(one.p50),
                        fmt_rate(eight.rate),
                        fmt_dur(eight.p50)
                    ),
                ));
                let _ = writeln!(
                    details,
                    "Chain serialisation: one replica, concurrency 64, eight `AscendClient`s \
                     (8 tasks each, one agent id each) — all eight keys in the default \
                     organisation, against each key in an organisation of its own (created with \
                     `POST /api/v1/orgs`, keys with `organization_id`); the repeats of the two \
                     variants interleaved. Every write of one organisation holds the row lock \
                     on its `audit_heads` row from the audit append to the commit (including \
                     the commit's WAL flush), so one organisation's decisions commit one at a \
                     time; spread over eight organisations up to eight commit at once. 8 \
                     organisations / one: **{ratio:.2}×** the rate ({} against {}), p50 {} \
                     against {}. With one organisation the chain is a queue: on average {:.1} \
                     of the replica's pooled connections wait for the head-row lock \
                     (`Lock:transactionid`/`Lock:tuple`), {:.1} with eight; and since one \
                     organisation's commits cannot overlap, each flushes the WAL on its own \
                     ({} decisions per WAL sync, {} with eight). The lock is therefore held for \
                     about 1/rate = {} per decision with one organisation: the statements from \
                     the audit append to the commit (locking the head, inserting the entry and \
                     moving the head, `COMMIT` with its WAL flush) are round trips between the \
                     server process and PostgreSQL, each waiting for both to be scheduled on \
                     the shared cores.\n",
                    fmt_rate(eight.rate),
                    fmt_rate(one.rate),
                    fmt_dur(eight.p50),
                    fmt_dur(one.p50),
                    lock_waiters(one),
                    lock_waiters(eight),
                    per_sync(one),
                    per_sync(eight),
                    fmt_dur(Duration::from_secs_f64(1.0 / one.rate.max(1e-9)))
                );
            }
            if !pg.propagation.is_empty() {
                let _ = writeln!(
                    details,
                    "A key created on replica 1 was accepted by replica {} after {} (polled \
                     every 5 ms; LISTEN/NOTIFY).\n",
                    (2..2 + pg.propagation.len())
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join(" and "),
                    pg.propagation
                        .iter()
                        .map(|d| fmt_dur(*d))
                        .collect::<Vec<_>>()
                        .join(" and ")
                );
            }
        }
        (None, Some(why)) => {
            for what in [
                "PostgreSQL, 1, 2 and 3 replicas: decisions/s and p50/p99",
                "PostgreSQL, 1 replica: one organisation vs 8 (chain lock)",
            ] {
                rows.push(Row {
                    verdict: Verdict::Skipped(why.clone()),
                    ..Row::info(N, what, "—")
                });
            }
            let _ = writeln!(
                details,
                "**The PostgreSQL part was skipped** (smoke mode): {why}. A full run fails \
                 instead.\n"
            );
        }
        (None, None) => {}
    }
    let _ = writeln!(
        details,
        "The scenario took {:.1} s (cluster start and stop included).",
        took.as_secs_f64()
    );
    Ok(ScenarioReport { rows, details })
}
