//! One logical HTTP call: headers, signing, the status → [`Error`] mapping, parsing, and the
//! single retry layer (with the circuit breaker consulted before every attempt).

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::background;
use crate::circuit::CircuitBreaker;
use crate::config::{Config, Secret, missing_key_error};
use crate::decision::AuthorizationDecision;
use crate::error::{Error, Result};
use crate::retry::{RetryPolicy, parse_retry_after};
use crate::signing;

/// `User-Agent` and `X-SDK-Version` value.
pub(crate) const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Largest response body read (protects against hostile or broken servers).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// A request to make: method, path segments (each percent-encoded), query, JSON body.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    pub path: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub idempotency_key: Option<String>,
    pub retry: bool,
    /// The W3C `traceparent` sent (taken on the caller's task by [`Transport::send`]).
    pub traceparent: Option<crate::trace::Traceparent>,
}

impl Call {
    fn new(method: Method, path: &[&str]) -> Self {
        let retry = method != Method::POST;
        Call {
            method,
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            body: None,
            idempotency_key: None,
            retry,
            traceparent: None,
        }
    }
    /// `GET` (retried).
    pub fn get(path: &[&str]) -> Self {
        Self::new(Method::GET, path)
    }
    /// `DELETE` (retried).
    pub fn delete(path: &[&str]) -> Self {
        Self::new(Method::DELETE, path)
    }
    /// `PUT` with a body (retried).
    pub fn put(path: &[&str], body: Value) -> Self {
        let mut c = Self::new(Method::PUT, path);
        c.body = Some(body);
        c
    }
    /// `POST` with a body (not retried unless [`Call::idempotent`]).
    pub fn post(path: &[&str], body: Option<Value>) -> Self {
        let mut c = Self::new(Method::POST, path);
        c.body = body;
        c
    }
    /// Add a query parameter.
    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }
    /// Send `Idempotency-Key: key` on every attempt and allow retries.
    pub fn idempotent(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self.retry = true;
        self
    }
    /// Allow retries without an idempotency key (the operation is naturally idempotent).
    pub fn retried(mut self) -> Self {
        self.retry = true;
        self
    }
}

/// The HTTP side of the client.
pub(crate) struct Transport {
    http: reqwest::Client,
    base: Url,
    api_key: Secret,
    signing_secret: Option<Secret>,
    timeout: Duration,
    retry: RetryPolicy,
    pub(crate) circuit: CircuitBreaker,
    static_headers: HeaderMap,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base.as_str())
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// A new correlation id: `asc_` + 16 lowercase hex characters.
pub(crate) fn correlation_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("asc_{}", &u[..16])
}

fn tls_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Configuration(format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

fn header_value(name: &str, value: &str, sensitive: bool) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Error::Configuration(format!(
            "{name} contains characters not allowed in an HTTP header"
        ))
    })?;
    v.set_sensitive(sensitive);
    Ok(v)
}

impl Transport {
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let api_key = config.api_key.clone().ok_or_else(missing_key_error)?;
        let base = config.api_url.clone();
        let origin = base.origin();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .connect_timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                // Follow only same-origin redirects: the API key must never leave the origin.
                if attempt.previous().len() >= 5 || attempt.url().origin() != origin {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| Error::Configuration(format!("cannot build the HTTP client: {e}")))?;

        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        h.insert(
            header::USER_AGENT,
            header_value("User-Agent", &format!("ascend-rust/{SDK_VERSION}"), false)?,
        );
        h.insert(
            "x-sdk-version",
            header_value("X-SDK-Version", SDK_VERSION, false)?,
        );
        h.insert(
            "x-environment",
            header_value("environment", &config.environment, false)?,
        );
        h.insert(
            "x-api-key",
            header_value("the API key", api_key.expose(), true)?,
        );
        h.insert(
            header::AUTHORIZATION,
            header_value("the API key", &format!("Bearer {}", api_key.expose()), true)?,
        );

        Ok(Transport {
            http,
            base,
            api_key,
            signing_secret: config.signing_secret.clone(),
            timeout: config.timeout,
            retry: RetryPolicy {
                max_retries: config.max_retries,
                base: config.retry_base_delay,
                max_delay: config.retry_max_delay,
                retry_after_cap: config.retry_after_cap,
                budget: config.retry_budget,
            },
            circuit: CircuitBreaker::new(
                config.circuit_threshold,
                config.circuit_recovery,
                config.circuit_probe_successes,
            ),
            static_headers: h,
        })
    }

    /// The URL of a path (segments percent-encoded) with a query.
    pub(crate) fn url(&self, path: &[String], query: &[(String, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty();
            segs.extend(path);
        }
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// Make the call on the background runtime (with retries) and return the JSON body.
    pub(crate) async fn send(self: &Arc<Self>, mut call: Call) -> Result<Value> {
        // The trace context is the caller's: take it here, before moving to the background
        // runtime. The decision request's trace id goes on the caller's (governed) span.
        // The request's span is a child of the caller's, so one trace holds both.
        let caller = tracing::Span::current();
        let traceparent = crate::trace::outgoing();
        if call.idempotency_key.is_some() {
            caller.record("trace_id", traceparent.trace_id_hex().as_str());
        }
        call.traceparent = Some(traceparent);
        let this = Arc::clone(self);
        background::run(async move { this.send_here(call).instrument(caller).await }).await
    }

    /// Make the call on the current runtime.
    pub(crate) async fn send_here(&self, call: Call) -> Result<Value> {
        let cid = correlation_id();
        let path = format!("/{}", call.path.join("/"));
        let span = tracing::debug_span!(
            "ascend_request",
            correlation_id = %cid,
            method = %call.method,
            path = %path
        );
        self.send_with_retries(&call, &cid).instrument(span).await
    }

    async fn send_with_retries(&self, call: &Call, cid: &str) -> Result<Value> {
        let url = self.url(&call.path, &call.query);
        let started = Instant::now();
        let mut retry = 0u32;
        loop {
            let permit = self.circuit.acquire()?;
            let attempt_started = Instant::now();
            let result = self.attempt(call, &url, cid).await;
            match &result {
                Ok(_) => permit.success(),
                Err(Error::Server { .. } | Error::Timeout { .. } | Error::Connection { .. }) => {
                    permit.failure()
                }
                Err(Error::RateLimited { .. } | Error::Tls { .. }) => permit.neutral(),
                Err(_) => permit.success(),
            }
            let error = match result {
                Ok(v) => {
                    tracing::debug!(
                        attempt = retry + 1,
                        elapsed_ms = attempt_started.elapsed().as_millis() as u64,
                        "governance request succeeded"
                    );
                    return Ok(v);
                }
                Err(e) => e,
            };
            if !call.retry {
                tracing::debug!(error = %error, "governance request failed (not retried)");
                return Err(error);
            }
            match self.retry.delay_for(&error, retry) {
                Some(delay) if started.elapsed() + delay < self.retry.budget => {
                    tracing::debug!(
                        attempt = retry + 1,
                        error = %error,
                        delay_ms = delay.as_millis() as u64,
                        "governance request failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
                _ => {
                    tracing::debug!(attempts = retry + 1, error = %error, "governance request failed");
                    return Err(error);
                }
            }
        }
    }

    fn headers(&self, call: &Call, cid: &str) -> Result<(HeaderMap, Option<Vec<u8>>)> {
        let mut h = self.static_headers.clone();
        let ts = signing::request_timestamp(chrono::Utc::now());
        h.insert(
            "x-correlation-id",
            header_value("correlation id", cid, false)?,
        );
        if let Some(key) = &call.idempotency_key {
            h.insert(
                HeaderName::from_static("idempotency-key"),
                header_value("idempotency key", key, false)?,
            );
        }
        let body = match &call.body {
            Some(b) => {
                if let Some(secret) = &self.signing_secret
                    && let Some(sig) = signing::sign_body(secret.expose(), &ts, b)
                {
                    h.insert("x-signature", header_value("signature", &sig, false)?);
                }
                Some(
                    serde_json::to_vec(b)
                        .map_err(|e| Error::Protocol(format!("cannot encode request: {e}")))?,
                )
            }
            None => None,
        };
        h.insert(
            "x-request-timestamp",
            header_value("timestamp", &ts, false)?,
        );
        // Inside the request's span: a source gives that span's context (same trace, the
        // request as parent); without one, the context taken on the caller's task.
        let traceparent = crate::trace::from_source()
            .or(call.traceparent)
            .unwrap_or_else(crate::trace::Traceparent::generate);
        h.insert(
            crate::trace::HEADER,
            header_value("traceparent", &traceparent.to_string(), false)?,
        );
        Ok((h, body))
    }

    async fn attempt(&self, call: &Call, url: &Url, cid: &str) -> Result<Value> {
        let (headers, body) = self.headers(call, cid)?;
        let mut req = self
            .http
            .request(call.method.clone(), url.clone())
            .headers(headers)
            .timeout(self.timeout);
        if let Some(b) = body {
            req = req.body(b);
        }
        let mut resp = req.send().await.map_err(|e| self.map_reqwest(e))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(parse_retry_after);
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_BODY {
                        return Err(Error::Protocol(format!(
                            "response body larger than {MAX_BODY} bytes"
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.map_reqwest(e)),
            }
        }
        map_response(status, retry_after, &bytes, self.timeout)
    }

    /// Open the push stream (`GET path` with `Accept: text/event-stream`), no overall timeout.
    pub(crate) async fn open_stream(&self, path: &[&str]) -> Result<reqwest::Response> {
        self.circuit.check()?;
        let call = Call::get(path);
        let url = self.url(&call.path, &call.query);
        let (mut headers, _) = self.headers(&call, &correlation_id())?;
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        let resp = self
            .http
            .get(url)
            .headers(headers)
            .send()
            .await
            .map_err(|e| self.map_reqwest(e))?;
        let status = resp.status();
        let is_stream = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if status.is_success() && is_stream {
            return Ok(resp);
        }
        if status.is_success() {
            return Err(Error::NotFound {
                message: "the server does not offer an event stream".to_owned(),
            });
        }
        let bytes = resp.bytes().await.unwrap_or_default();
        match map_response(status, None, &bytes, self.timeout) {
            Ok(_) => Err(Error::Protocol("unexpected event stream answer".to_owned())),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn map_reqwest(&self, e: reqwest::Error) -> Error {
        map_reqwest_error(&e, self.timeout)
    }
}

/// Classify a transport error: TLS, timeout, or connection.
pub(crate) fn map_reqwest_error(e: &reqwest::Error, timeout: Duration) -> Error {
    let message = error_chain(e);
    if is_tls(e) {
        return Error::Tls { message };
    }
    if e.is_timeout() {
        return Error::Timeout { after: timeout };
    }
    Error::Connection { message }
}

fn error_chain(e: &dyn StdError) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = inner.source();
    }
    s
}

fn is_tls(e: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && (inner.is::<rustls::Error>() || is_tls(inner))
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Map an HTTP answer to the JSON body or the matching [`Error`] (wire-protocol §2.1, intended
/// semantics): 401 → Authentication; 403 → Denied (governance body) or Forbidden; 404 →
/// NotFound; 408 → Timeout; 409 → Conflict; 400/413/422 → Validation with field errors; 429 →
/// RateLimited with `Retry-After`; 5xx → Server; other statuses → Protocol. A 2xx body must be
/// JSON (an empty body, e.g. 204, is `null`).
pub(crate) fn map_response(
    status: StatusCode,
    retry_after: Option<Duration>,
    bytes: &[u8],
    timeout: Duration,
) -> Result<Value> {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    let code = status.as_u16();
    if status.is_success() {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        return parsed.ok_or_else(|| {
            Error::Protocol(format!(
                "HTTP {code} with a body that is not valid JSON ({} bytes)",
                bytes.len()
            ))
        });
    }
    let detail = parsed.as_ref().map(detail_text).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("no detail").to_owned()
        } else {
            text.chars().take(300).collect()
        }
    });
    match code {
        401 => Err(Error::Authentication {
            message: format!("invalid or expired API key ({detail})"),
        }),
        403 => match parsed.as_ref().and_then(governance_denial) {
            Some(decision) => Err(Error::Denied(Box::new(decision))),
            None => Err(Error::Forbidden { message: detail }),
        },
        404 => Err(Error::NotFound { message: detail }),
        408 => Err(Error::Timeout { after: timeout }),
        409 => Err(Error::Conflict { message: detail }),
        400 | 413 | 422 => Err(Error::Validation {
            message: detail,
            field_errors: parsed.as_ref().map(field_errors).unwrap_or_default(),
        }),
        429 => Err(Error::RateLimited { retry_after }),
        500..=599 => Err(Error::Server {
            status: code,
            message: detail,
        }),
        _ => Err(Error::Protocol(format!("unexpected HTTP {code}: {detail}"))),
    }
}

/// A readable text from an error body: `detail` (string, object or FastAPI list), `error`,
/// `message`.
fn detail_text(body: &Value) -> String {
    let pick = body
        .get("detail")
        .or_else(|| body.get("error"))
        .or_else(|| body.get("message"));
    match pick {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("detail")
            .or_else(|| o.get("error"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| Value::Object(o.clone()).to_string()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i.get("msg").and_then(Value::as_str) {
                Some(m) => m.to_owned(),
                None => i.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
        None => body.to_string().chars().take(300).collect(),
    }
}

/// `errors` object, or FastAPI's `detail: [{loc, msg}]`, as field → message.
fn field_errors(body: &Value) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let Some(Value::Object(errors)) = body.get("errors") {
        for (k, v) in errors {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            };
            out.insert(k.clone(), text);
        }
    }
    if let Some(Value::Array(items)) = body.get("detail") {
        for item in items {
            let field = match item.get("loc") {
                Some(Value::Array(loc)) => loc
                    .iter()
                    .filter(|p| p.as_str() != Some("body"))
                    .map(|p| {
                        p.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| p.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join("."),
                _ => continue,
            };
            if let Some(msg) = item.get("msg").and_then(Value::as_str) {
                out.insert(field, msg.to_owned());
            }
        }
    }
    out
}

/// A 403 whose `detail.error` mentions governance or a violation is a denial decision.
fn governance_denial(body: &Value) -> Option<AuthorizationDecision> {
    let detail = body.get("detail")?.as_object()?;
    let error = match detail.get("error")? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let lower = error.to_ascii_lowercase();
    if !lower.contains("governance") && !lower.contains("violation") {
        return None;
    }
    let reason = detail
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or(&error)
        .to_owned();
    let mut d = AuthorizationDecision::new("", crate::Decision::Denied).with_reason(reason);
    d.raw_status = Some("denied".to_owned());
    d.metadata
        .insert("governance_violation".into(), Value::Bool(true));
    d.metadata.insert("error".into(), Value::String(error));
    for key in ["correlation_id", "mcp_server_name", "model_id"] {
        if let Some(v) = detail.get(key) {
            d.metadata.insert(key.into(), v.clone());
        }
    }
    if let Some(id) = detail.get("action_id").or_else(|| body.get("action_id")) {
        d.action_id = match id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    }
    if let Some(Value::Array(v)) = body.get("policy_violations") {
        d.policy_violations = v
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect();
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(code: u16, body: &str) -> Result<Value> {
        map_response(
            StatusCode::from_u16(code).unwrap(),
            Some(Duration::from_secs(3)),
            body.as_bytes(),
            Duration::from_secs(5),
        )
    }

    #[test]
    fn status_mapping() {
        assert!(matches!(map(200, r#"{"a":1}"#), Ok(v) if v == json!({"a":1})));
        assert!(matches!(map(204, ""), Ok(Value::Null)));
        assert!(matches!(map(200, r#"{"a":"#), Err(Error::Protocol(_))));
        assert!(matches!(map(401, "{}"), Err(Error::Authentication { .. })));
        assert!(
            matches!(map(403, r#"{"detail":"no"}"#), Err(Error::Forbidden { message }) if message == "no")
        );
        let denied = map(
            403,
            r#"{"detail":{"error":"governance_violation: MCP_SERVER_UNREGISTERED_DENY","detail":"unregistered","correlation_id":"c1"}}"#,
        );
        match denied {
            Err(Error::Denied(d)) => {
                assert_eq!(d.reason.as_deref(), Some("unregistered"));
                assert!(d.is_denied());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            map(404, r#"{"detail":"gone"}"#),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(map(409, "{}"), Err(Error::Conflict { .. })));
        match map(
            422,
            r#"{"detail":[{"loc":["body","resource"],"msg":"field required","type":"x"}]}"#,
        ) {
            Err(Error::Validation { field_errors, .. }) => {
                assert_eq!(field_errors["resource"], "field required")
            }
            other => panic!("{other:?}"),
        }
        match map(400, r#"{"detail":"bad","errors":{"action_type":"empty"}}"#) {
            Err(Error::Validation {
                message,
                field_errors,
            }) => {
                assert_eq!(message, "bad");
                assert_eq!(field_errors["action_type"], "empty");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(map(429, ""), Err(Error::RateLimited { retry_after: Some(d) }) if d == Duration::from_secs(3))
        );
        for code in [500, 501, 502, 503, 504, 505, 507, 599] {
            assert!(
                matches!(map(code, "oops"), Err(Error::Server { status, .. }) if status == code)
            );
        }
        assert!(matches!(map(418, ""), Err(Error::Protocol(_))));
        assert!(matches!(map(408, ""), Err(Error::Timeout { .. })));
    }

    #[test]
    fn correlation_ids_look_like_python() {
        let id = correlation_id();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("asc_"));
        assert!(
            id[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
}
