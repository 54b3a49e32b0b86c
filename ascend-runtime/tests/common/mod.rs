//! A small fault-injecting HTTP server on 127.0.0.1:0: scripted answers per route (any status,
//! delays, dropped connections, truncated or malformed bodies), a push stream, and a record of
//! every request.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

pub const KEY: &str = "ascend_test_key_0123456789abcdef_x789";

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Status + JSON body.
    Json(u16, Value),
    /// Status + raw body + extra headers.
    Raw(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Wait, then answer.
    Delay(Duration, Box<Reply>),
    /// Send headers (200, Content-Length 200) and part of a JSON body, then break the connection.
    Truncated,
    /// Accept the request and abort the connection without any answer.
    Drop,
}

impl Reply {
    pub fn ok(v: Value) -> Reply {
        Reply::Json(200, v)
    }
    pub fn status(code: u16) -> Reply {
        Reply::Json(code, json!({"detail": format!("status {code}")}))
    }
    pub fn decision(id: i64, decision: &str) -> Reply {
        Reply::ok(json!({
            "id": id, "action_id": id, "decision": decision,
            "status": match decision { "allowed" => "approved", "denied" => "denied", _ => "pending_approval" },
            "risk_score": 42.0, "risk_level": "medium", "reason": format!("test {decision}"),
            "approval_request_id": if decision == "pending" { json!("77") } else { Value::Null },
        }))
    }
}

/// A recorded request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

#[derive(Default)]
struct Inner {
    scripts: HashMap<String, VecDeque<Reply>>,
    defaults: HashMap<String, Reply>,
    seen: Vec<Seen>,
    stream_enabled: bool,
}

#[derive(Clone)]
pub struct Server {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    events: broadcast::Sender<String>,
}

type Shared = (Arc<Mutex<Inner>>, broadcast::Sender<String>);

impl Server {
    /// Start on 127.0.0.1:0 on the current tokio runtime... or on a private thread when there is
    /// none. Default answers: submit allowed, status allowed, kill switch not blocked.
    pub async fn start() -> Server {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let (events, _) = broadcast::channel(64);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state((inner.clone(), events.clone()));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let s = Server {
            addr,
            inner,
            events,
        };
        s.default("POST /api/v1/actions/submit", Reply::decision(1, "allowed"));
        s.default(
            "GET /api/sdk/kill-switch/status",
            Reply::ok(json!({"blocked": false, "reason": null})),
        );
        s
    }

    /// Start on a dedicated thread with its own runtime (for tests without a runtime, or whose
    /// runtime is blocked by a sync call).
    pub fn start_in_thread() -> Server {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                tx.send(Server::start().await).unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().unwrap()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Script answers for `"METHOD /path"` (consumed in order, then the default applies).
    pub fn script(&self, route: &str, replies: impl IntoIterator<Item = Reply>) {
        self.inner
            .lock()
            .unwrap()
            .scripts
            .entry(route.to_owned())
            .or_default()
            .extend(replies);
    }

    /// The answer for `"METHOD /path"` once the script is used up.
    pub fn default(&self, route: &str, reply: Reply) {
        self.inner
            .lock()
            .unwrap()
            .defaults
            .insert(route.to_owned(), reply);
    }

    pub fn enable_stream(&self) {
        self.inner.lock().unwrap().stream_enabled = true;
    }

    /// Push an SSE event to connected clients.
    pub fn push(&self, event: &str, data: Value) -> usize {
        self.events
            .send(format!("event: {event}\ndata: {data}\n\n"))
            .unwrap_or(0)
    }

    pub fn stream_clients(&self) -> usize {
        self.events.receiver_count()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    /// Requests to `"METHOD /path"`.
    pub fn seen_on(&self, route: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| format!("{} {}", s.method, s.path) == route)
            .collect()
    }

    pub fn count(&self, route: &str) -> usize {
        self.seen_on(route).len()
    }

    /// A client builder pointing here, isolated from the environment, with fast retries.
    pub fn client(&self) -> ascend_runtime::ClientBuilder {
        ascend_runtime::AscendClient::builder()
            .ignore_env()
            .api_key(KEY)
            .api_url(self.url())
            .agent_id("agent-1")
            .agent_name("Agent One")
            .timeout(Duration::from_secs(5))
            .retry_backoff(Duration::from_millis(10), Duration::from_millis(40))
            .poll_interval(Duration::from_millis(20))
            .event_stream(false)
    }
}

async fn handle(State((inner, events)): State<Shared>, req: Request) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let route = format!("{method} {path}");
    let (reply, stream) = {
        let mut g = inner.lock().unwrap();
        g.seen.push(Seen {
            method,
            path: path.clone(),
            query,
            headers,
            body,
            at: Instant::now(),
        });
        let reply = match g.scripts.get_mut(&route).and_then(VecDeque::pop_front) {
            Some(r) => Some(r),
            None => g.defaults.get(&route).cloned(),
        };
        (reply, g.stream_enabled)
    };
    if route == "GET /api/v1/events/stream" && reply.is_none() {
        if !stream {
            return json_response(404, json!({"detail": "Not Found"}));
        }
        let rx = BroadcastStream::new(events.subscribe());
        let hello = tokio_stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(
            b": connected\n\n",
        ))]);
        let body = hello.chain(rx.map(|m| Ok(Bytes::from(m.unwrap_or_default()))));
        return Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(body))
            .unwrap();
    }
    let reply = reply.unwrap_or_else(|| Reply::Json(404, json!({"detail": "Not Found"})));
    answer(reply).await
}

fn json_response(code: u16, v: Value) -> Response {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

fn answer(reply: Reply) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>> {
    Box::pin(async move {
        match reply {
            Reply::Json(code, v) => json_response(code, v),
            Reply::Raw(code, headers, body) => {
                let mut r = Response::builder().status(StatusCode::from_u16(code).unwrap());
                for (k, v) in headers {
                    r = r.header(k, HeaderValue::from_str(&v).unwrap());
                }
                r.body(Body::from(body)).unwrap()
            }
            Reply::Delay(d, inner) => {
                tokio::time::sleep(d).await;
                answer(*inner).await
            }
            Reply::Truncated => {
                let parts = tokio_stream::iter(vec![
                    Ok(Bytes::from_static(b"{\"id\": 1, \"decision\": \"all")),
                    Err(std::io::Error::other("cut")),
                ]);
                Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .header("content-length", "200")
                    .body(Body::from_stream(parts))
                    .unwrap()
            }
            Reply::Drop => {
                let parts =
                    tokio_stream::iter(vec![Err::<Bytes, _>(std::io::Error::other("drop"))]);
                Response::builder()
                    .status(200)
                    .header("content-length", "50")
                    .body(Body::from_stream(parts))
                    .unwrap()
            }
        }
    })
}

/// A port on which nothing listens.
pub fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// Wait until `f` is true (or panic after `timeout`).
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < timeout,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
