//! Webhook delivery: signed POSTs of the events of wire-protocol §7, retried with exponential
//! backoff, every attempt logged.
//!
//! Signature: `X-Timestamp: <unix seconds>` and
//! `X-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>` over the exact bytes sent.
//! Receivers should reject timestamps more than 5 minutes away from their clock.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::broadcast::error::RecvError;

use crate::config::ServerConfig;
use crate::egress::{self, EgressPolicy, GuardedResolver};
use crate::error::{Error, Result};
use crate::model::{DeliveryAttempt, Webhook, now};
use crate::state::{AppState, BusEvent};

/// `v1=<hex>` for a timestamp and body.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; the error branch cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Check a webhook URL: https anywhere; http only to loopback hosts unless
/// `allow_insecure_webhooks`; a literal IP only when the egress policy permits it
/// ([`crate::egress`]: private, loopback, link-local, ... addresses need `webhook_allow_hosts`).
/// Host names are checked again after resolution, at delivery.
pub fn check_url(raw: &str, config: &ServerConfig) -> Result<reqwest::Url> {
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|e| Error::field("url", format!("not a valid URL: {e}")))?;
    let ip = match url.host() {
        Some(url::Host::Domain(_)) => None,
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        None => return Err(Error::field("url", "needs a host")),
    };
    let loopback = match ip {
        Some(ip) => ip.is_loopback(),
        None => url
            .host_str()
            .is_some_and(|d| d.eq_ignore_ascii_case("localhost")),
    };
    if let Some(ip) = ip
        && !egress::permitted(&config.webhook_allow_hosts, ip)
    {
        return Err(Error::field(
            "url",
            format!(
                "{ip} is a private, loopback, link-local or reserved address \
                 (the operator can allow it with webhook_allow_hosts)"
            ),
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback || config.allow_insecure_webhooks => Ok(url),
        "http" => Err(Error::field(
            "url",
            "must use https (http is allowed only for localhost)",
        )),
        other => Err(Error::field("url", format!("unsupported scheme {other:?}"))),
    }
}

/// The client webhook deliveries use: [`http_client`] that resolves host names through
/// [`GuardedResolver`] (refused addresses are never connected to) and ignores proxy settings.
pub fn delivery_client(config: &ServerConfig) -> Result<reqwest::Client> {
    let policy = EgressPolicy::new(config.webhook_allow_hosts.clone());
    client_builder(config.webhook_timeout)?
        .dns_resolver(Arc::new(GuardedResolver::new(policy)))
        .no_proxy()
        .build()
        .map_err(Error::from)
}

/// A plain HTTP client: rustls with the webpki roots, no redirects (the command line, benches).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    client_builder(timeout)?.build().map_err(Error::from)
}

/// [`http_client`] that also trusts the CA certificates of a PEM file (a private CA in front of
/// a self-hosted server: the command line's `--ca-cert`).
pub fn http_client_trusting(
    timeout: Duration,
    ca_pem: &std::path::Path,
) -> Result<reqwest::Client> {
    let extra = crate::tls::read_certificates(ca_pem)?;
    client_builder_with(timeout, extra)?
        .build()
        .map_err(Error::from)
}

fn client_builder(timeout: Duration) -> Result<reqwest::ClientBuilder> {
    client_builder_with(timeout, Vec::new())
}

fn client_builder_with(
    timeout: Duration,
    extra: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<reqwest::ClientBuilder> {
    let tls = tls_client_config(extra)?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ascend-server/", env!("CARGO_PKG_VERSION"))))
}

/// TLS for outgoing connections: rustls with ring, the web PKI roots and `extra` trust anchors.
pub(crate) fn tls_client_config(
    extra: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let (_, unusable) = roots.add_parsable_certificates(extra);
    if unusable > 0 {
        return Err(Error::Config(format!(
            "{unusable} CA certificate(s) could not be used as trust anchors"
        )));
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Result of one delivery attempt (kept in the delivery log; callers outside the operator's
/// logs see only [`AttemptResult::delivered`]).
#[derive(Debug, Clone)]
pub struct AttemptResult {
    /// 2xx answer.
    pub success: bool,
    /// HTTP status, when one arrived.
    pub status_code: Option<u16>,
    /// Round trip in milliseconds.
    pub latency_ms: f64,
    /// Transport error.
    pub error: Option<String>,
}

impl AttemptResult {
    /// The receiver's status when it accepted the delivery (2xx); None otherwise. Nothing else
    /// of a failed attempt (status, transport error, timing) may reach an API caller: it would
    /// let a key probe which hosts and ports answer.
    pub fn delivered(&self) -> Option<u16> {
        self.status_code.filter(|_| self.success)
    }

    fn refused(reason: String) -> Self {
        Self {
            success: false,
            status_code: None,
            latency_ms: 0.0,
            error: Some(reason),
        }
    }
}

/// Refuse a URL naming an IP the egress policy does not permit (host names are checked by the
/// delivery client's resolver).
fn egress_check(config: &ServerConfig, url: &str) -> std::result::Result<(), String> {
    let url = reqwest::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err("URL without a host".into()),
    };
    if egress::permitted(&config.webhook_allow_hosts, ip) {
        Ok(())
    } else {
        Err(format!("{ip} refused by the egress policy"))
    }
}

/// POST one signed event once.
pub async fn deliver_once(
    state: &AppState,
    hook: &Webhook,
    event: &str,
    data: &Value,
) -> AttemptResult {
    let ts = chrono::Utc::now().timestamp().to_string();
    let body = json!({"event": event, "data": data, "timestamp": ts, "webhook_id": hook.id});
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let sig = signature(&hook.secret, &ts, &bytes);
    if let Err(reason) = egress_check(&state.config, &hook.url) {
        return AttemptResult::refused(reason);
    }
    let start = Instant::now();
    let result = state
        .http
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("x-timestamp", &ts)
        .header("x-signature", sig)
        .header("x-webhook-event", event)
        .body(bytes)
        .send()
        .await;
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(resp) => AttemptResult {
            success: resp.status().is_success(),
            status_code: Some(resp.status().as_u16()),
            latency_ms,
            error: (!resp.status().is_success())
                .then(|| format!("receiver answered {}", resp.status())),
        },
        Err(e) => AttemptResult {
            success: false,
            status_code: None,
            latency_ms,
            // The resolver's refusal sits in the source chain.
            error: Some(error_chain(&e)),
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

async fn log_attempt(
    state: &AppState,
    hook: &Webhook,
    event: &str,
    attempt: u32,
    r: &AttemptResult,
) {
    let log = DeliveryAttempt {
        webhook_id: hook.id,
        org_id: hook.org_id,
        event: event.to_owned(),
        attempt,
        status_code: r.status_code,
        error: r.error.clone(),
        latency_ms: r.latency_ms,
        at: now(),
    };
    if let Err(e) = state.store.log_delivery(log).await {
        tracing::warn!(error = %e, "could not log a webhook delivery attempt");
    }
    tracing::info!(webhook = hook.id, event, attempt, status = ?r.status_code, success = r.success, "webhook delivery attempt");
}

/// Deliver with retries (exponential backoff), logging every attempt.
pub async fn deliver(state: Arc<AppState>, hook: Webhook, event: String, data: Value) {
    let attempts = state.config.webhook_attempts.max(1);
    let mut delay = state.config.webhook_backoff;
    for attempt in 1..=attempts {
        let r = deliver_once(&state, &hook, &event, &data).await;
        log_attempt(&state, &hook, &event, attempt, &r).await;
        if r.success {
            return;
        }
        if attempt < attempts {
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
    state.metrics.webhook_failed();
    tracing::warn!(webhook = hook.id, event, "webhook delivery gave up");
}

/// The organisation's webhooks (cached; the cache is dropped on every change).
pub async fn hooks_of(state: &AppState, org_id: i64) -> Result<Arc<Vec<Webhook>>> {
    if let Some(h) = state
        .webhook_cache
        .read()
        .ok()
        .and_then(|c| c.get(&org_id).cloned())
    {
        return Ok(h);
    }
    let hooks = Arc::new(state.store.webhooks(org_id).await?);
    if let Ok(mut c) = state.webhook_cache.write() {
        c.insert(org_id, hooks.clone());
    }
    Ok(hooks)
}

/// Forget the cached webhooks of an organisation.
pub fn invalidate(state: &AppState, org_id: i64) {
    if let Ok(mut c) = state.webhook_cache.write() {
        c.remove(&org_id);
    }
}

fn matches(hook: &Webhook, ev: &BusEvent, name: &str) -> bool {
    let key_ok = match (&hook.only_key, &ev.key_id) {
        (None, _) => true,
        (Some(want), Some(got)) => want == got,
        // A fleet key's webhook: of the events without a submitting key, only the
        // organisation-wide ones (kill switch).
        (Some(_), None) => ev.agent_id.is_none(),
    };
    hook.active
        && key_ok
        && hook.events.iter().any(|e| e == name || e == "*")
        && match (&hook.agent_id, &ev.agent_id) {
            (Some(want), Some(got)) => want == got,
            _ => true,
        }
}

/// The event name of witness deliveries.
pub const WITNESS_EVENT: &str = "audit.checkpoint";

/// The witness webhook of a configuration (`audit.witness_url`), checked like any webhook URL;
/// a witness without a secret is refused (its receiver could not tell our deliveries).
pub fn witness(config: &ServerConfig) -> Result<Option<Webhook>> {
    let Some(url) = &config.audit.witness_url else {
        return Ok(None);
    };
    if !config.audit.enabled {
        return Err(Error::Config(
            "a checkpoint witness needs signed checkpoints (audit enabled)".into(),
        ));
    }
    let secret = config
        .audit
        .witness_secret
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Error::Config(
                "the checkpoint witness needs a secret (--checkpoint-witness-secret)".into(),
            )
        })?;
    let url =
        check_url(url, config).map_err(|e| Error::Config(format!("checkpoint witness: {e}")))?;
    Ok(Some(Webhook {
        id: 0,
        org_id: 0,
        url: url.to_string(),
        events: vec![WITNESS_EVENT.to_owned()],
        secret,
        agent_id: None,
        created_key: None,
        only_key: None,
        active: true,
        created_at: now(),
    }))
}

/// Deliver every batch of signed checkpoints the store commits to the witness, in order, as an
/// `audit.checkpoint` event (`data.checkpoints`: the checkpoints as in the checkpoint log),
/// signed and retried like every webhook delivery (attempts logged with webhook id 0).
pub async fn run_witness(
    state: Arc<AppState>,
    hook: Webhook,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Vec<crate::audit::Checkpoint>>,
) {
    while let Some(batch) = rx.recv().await {
        let data = json!({ "checkpoints": batch });
        deliver(state.clone(), hook.clone(), WITNESS_EVENT.to_owned(), data).await;
    }
}

/// Run the dispatcher until the event bus closes.
pub async fn run_dispatcher(state: Arc<AppState>) {
    let mut rx = state.events.subscribe();
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "webhook dispatcher lagged; events dropped");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let Some(event) = ev.webhook else { continue };
        let name = event.as_str();
        let hooks = match hooks_of(&state, ev.org_id).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot load webhooks");
                continue;
            }
        };
        for hook in hooks.iter().filter(|h| matches(h, &ev, name)) {
            tokio::spawn(deliver(
                state.clone(),
                hook.clone(),
                name.to_owned(),
                ev.data.clone(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        let s = signature("whsec_test", "1700000000", br#"{"a":1}"#);
        assert!(s.starts_with("v1="));
        assert_eq!(s.len(), 3 + 64);
        assert_ne!(s, signature("whsec_test", "1700000001", br#"{"a":1}"#));
    }

    #[test]
    fn url_rules() {
        let config = ServerConfig {
            webhook_allow_hosts: vec!["127.0.0.1/32".parse().unwrap()],
            ..ServerConfig::default()
        };
        assert!(check_url("https://example.com/hook", &config).is_ok());
        assert!(check_url("http://127.0.0.1:9/hook", &config).is_ok());
        assert!(check_url("http://localhost/hook", &config).is_ok());
        assert!(check_url("http://example.com/hook", &config).is_err());
        assert!(check_url("ftp://example.com/hook", &config).is_err());
        assert!(check_url("not a url", &config).is_err());
        assert!(check_url("https://10.0.0.1/hook", &config).is_err());
        assert!(check_url("https://169.254.169.254/latest", &config).is_err());
        assert!(check_url("http://[::1]:9/hook", &config).is_err());
        assert!(check_url("http://127.0.0.1:9/hook", &ServerConfig::default()).is_err());
    }
}
