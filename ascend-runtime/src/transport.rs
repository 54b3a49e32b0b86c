//! One logical HTTP call: the call builder ([`Call`]), the TLS set-up, headers and signing,
//! and the single retry layer (with the circuit breaker consulted before every attempt). What
//! an answer means ([`Error`] or JSON) is [`crate::response`]'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::background;
use crate::circuit::CircuitBreaker;
use crate::config::{Config, Secret, missing_key_error};
use crate::error::{Error, Result};
use crate::response;
use crate::retry::RetryPolicy;
use crate::signing;

/// `User-Agent` and `X-SDK-Version` value.
pub(crate) const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A request to make: method, path segments (each percent-encoded), query, JSON body.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    pub path: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub idempotency_key: Option<String>,
    pub retry: bool,
    /// The W3C `traceparent` sent (taken on the caller's task by
    /// [`Transport::send_from_caller`]).
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

fn tls_config(config: &Config) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let (_, unusable) = roots.add_parsable_certificates(config.extra_roots.iter().cloned());
    if unusable > 0 {
        return Err(Error::Configuration(format!(
            "{unusable} certificate(s) of ASCEND_CA_CERT cannot be used as a trust anchor"
        )));
    }
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
            .tls_backend_preconfigured(tls_config(config)?)
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

    /// Make the call for the calling task: its trace context goes with the request, which runs
    /// (with retries) on the client's background runtime, so it works from any runtime or
    /// thread. The JSON body, or the mapped [`Error`].
    pub(crate) async fn send_from_caller(self: &Arc<Self>, mut call: Call) -> Result<Value> {
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
        background::run(async move { this.send_on_current_runtime(call).instrument(caller).await })
            .await
    }

    /// Make the call (with retries) on the runtime this runs on: for the client's own
    /// background tasks, which are there already.
    pub(crate) async fn send_on_current_runtime(&self, call: Call) -> Result<Value> {
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
        let resp = req.send().await.map_err(|e| self.map_reqwest(e))?;
        response::read(resp, self.timeout).await
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
        match response::map(status, None, &bytes, self.timeout) {
            Ok(_) => Err(Error::Protocol("unexpected event stream answer".to_owned())),
            Err(e) => Err(e),
        }
    }

    fn map_reqwest(&self, e: reqwest::Error) -> Error {
        response::map_reqwest_error(&e, self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
