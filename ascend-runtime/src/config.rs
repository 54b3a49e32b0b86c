//! Configuration: the [`ClientBuilder`], environment variables and `.env`, the URL rule, and
//! API-key masking.
//!
//! Resolution order for every setting: the builder, then the process environment, then a `.env`
//! file (found in the current directory or one of its parents; it never overrides the real
//! environment and is read without modifying the process environment), then the default.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `ASCEND_API_KEY` (`OWKAI_API_KEY`) | API key (required for HTTP) | — |
//! | `ASCEND_API_URL` (`OWKAI_API_URL`) | base URL | `https://pilot.owkai.app` |
//! | `ASCEND_AGENT_ID` | agent id | `unknown` |
//! | `ASCEND_AGENT_NAME` | agent display name | the agent id |
//! | `ASCEND_ENVIRONMENT` | `X-Environment` | `production` |
//! | `ASCEND_FAIL_MODE` | `closed` or `open` | `closed` |
//! | `ASCEND_SIGNING_SECRET` | HMAC request signing | none |
//! | `ASCEND_CA_CERT` | PEM file of CA certificates trusted besides the public roots | none |
//! | `ASCEND_TIMEOUT_SECS` | per-attempt timeout (seconds, may be fractional) | 5 |
//! | `ASCEND_MAX_RETRIES` | retries after the first attempt | 3 |

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

use crate::error::{Error, Result};

/// The hosted platform, used when no URL is configured.
pub const DEFAULT_API_URL: &str = "https://pilot.owkai.app";

/// What an evaluation does when the governance service cannot be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum FailMode {
    /// The action is not allowed (the default). The caller gets the transport error.
    #[default]
    Closed,
    /// The action is allowed with a synthetic decision whose `conditions` are
    /// `["fail_open_mode"]`; a record of it is queued and delivered to the server when it answers
    /// again. Denials, approval timeouts, the kill switch, TLS, configuration and validation
    /// errors never fail open.
    Open,
}

impl FailMode {
    /// `closed` or `open`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailMode::Closed => "closed",
            FailMode::Open => "open",
        }
    }
}

impl fmt::Display for FailMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "closed" => Ok(FailMode::Closed),
            "open" => Ok(FailMode::Open),
            other => Err(Error::Configuration(format!(
                "fail mode must be \"closed\" or \"open\", not {other:?} (check ASCEND_FAIL_MODE)"
            ))),
        }
    }
}

/// A secret string (API key or signing secret) that never prints in full.
///
/// `Debug` and `Display` show the masked form, e.g. `asce...x789`.
///
/// ```
/// use ascend_runtime::config::Secret;
/// let key = Secret::new("ascend_prod_1234567890x789");
/// assert_eq!(key.to_string(), "asce...x789");
/// assert_eq!(format!("{key:?}"), "Secret(\"asce...x789\")");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The masked form: first 4 and last 4 characters for secrets of 12 characters or more,
    /// `****` otherwise.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }

    /// The secret itself. Only the transport should call this.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Secret").field(&self.masked()).finish()
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Mask a secret for display: `asce...x789`.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 12 {
        return "****".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail}")
}

/// Check the URL rule: `https` always; `http` only when the parsed host is exactly `localhost`,
/// `127.0.0.1` or `::1`; every other scheme is refused. Trailing slashes are removed.
///
/// ```
/// use ascend_runtime::config::check_api_url;
/// assert!(check_api_url("https://pilot.owkai.app/").is_ok());
/// assert!(check_api_url("http://127.0.0.1:8080").is_ok());
/// assert!(check_api_url("http://localhost.example.com").is_err());
/// assert!(check_api_url("ftp://localhost").is_err());
/// ```
pub fn check_api_url(raw: &str) -> Result<Url> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = Url::parse(trimmed).map_err(|e| {
        Error::Configuration(format!("ASCEND_API_URL {trimmed:?} is not a URL: {e}"))
    })?;
    let host_ok = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if host_ok => Ok(url),
        "http" => Err(Error::Configuration(format!(
            "refusing plain http:// to {trimmed:?}: use https:// (http is allowed only for localhost, 127.0.0.1 and ::1)"
        ))),
        _ => Err(Error::Configuration(format!(
            "unsupported API URL {trimmed:?}: the scheme must be https (or http for localhost)"
        ))),
    }
}

/// Fully resolved client settings. Built by [`ClientBuilder::build_config`]; passed to
/// [`AscendClient::with_backend`](crate::AscendClient::with_backend).
#[derive(Clone)]
pub struct Config {
    pub(crate) api_key: Option<Secret>,
    pub(crate) api_url: Url,
    pub(crate) agent_id: Option<String>,
    pub(crate) agent_name: Option<String>,
    pub(crate) environment: String,
    pub(crate) fail_mode: FailMode,
    pub(crate) timeout: Duration,
    pub(crate) max_retries: u32,
    pub(crate) retry_base_delay: Duration,
    pub(crate) retry_max_delay: Duration,
    pub(crate) retry_after_cap: Duration,
    pub(crate) retry_budget: Duration,
    pub(crate) circuit_threshold: u32,
    pub(crate) circuit_recovery: Duration,
    pub(crate) circuit_probe_successes: u32,
    pub(crate) signing_secret: Option<Secret>,
    pub(crate) poll_interval: Duration,
    pub(crate) kill_switch_interval: Duration,
    pub(crate) kill_switch_failure_limit: u32,
    pub(crate) event_stream: bool,
    pub(crate) fail_open_queue_capacity: usize,
    /// CA certificates trusted besides the public (webpki) roots.
    pub(crate) extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_key: None,
            // A constant that always parses; not user or network input.
            #[allow(clippy::expect_used)]
            api_url: Url::parse(DEFAULT_API_URL).expect("the default URL is valid"),
            agent_id: None,
            agent_name: None,
            environment: "production".to_owned(),
            fail_mode: FailMode::Closed,
            timeout: Duration::from_secs(5),
            max_retries: 3,
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(8),
            retry_after_cap: Duration::from_secs(10),
            retry_budget: Duration::from_secs(30),
            circuit_threshold: 5,
            circuit_recovery: Duration::from_secs(30),
            circuit_probe_successes: 2,
            signing_secret: None,
            poll_interval: Duration::from_secs(1),
            kill_switch_interval: Duration::from_secs(5),
            kill_switch_failure_limit: 3,
            event_stream: true,
            fail_open_queue_capacity: 1000,
            extra_roots: Vec::new(),
        }
    }
}

impl Config {
    /// The base URL requests are sent to.
    pub fn api_url(&self) -> &Url {
        &self.api_url
    }
    /// The agent id (`unknown` when not configured).
    pub fn agent_id(&self) -> &str {
        self.agent_id.as_deref().unwrap_or("unknown")
    }
    /// The agent name (the agent id, or `Unknown Agent`, when not configured).
    pub fn agent_name(&self) -> &str {
        self.agent_name
            .as_deref()
            .or(self.agent_id.as_deref())
            .unwrap_or("Unknown Agent")
    }
    /// The environment sent as `X-Environment`.
    pub fn environment(&self) -> &str {
        &self.environment
    }
    /// The fail mode.
    pub fn fail_mode(&self) -> FailMode {
        self.fail_mode
    }
    /// The masked API key, if one is set.
    pub fn masked_api_key(&self) -> Option<String> {
        self.api_key.as_ref().map(Secret::masked)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &self.api_key)
            .field("api_url", &self.api_url.as_str())
            .field("agent_id", &self.agent_id)
            .field("agent_name", &self.agent_name)
            .field("environment", &self.environment)
            .field("fail_mode", &self.fail_mode)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("circuit_threshold", &self.circuit_threshold)
            .field("circuit_recovery", &self.circuit_recovery)
            .field("signing_secret", &self.signing_secret)
            .finish_non_exhaustive()
    }
}

/// Builds an [`AscendClient`](crate::AscendClient).
///
/// Every setting left unset is read from the environment (and `.env`), then defaulted.
///
/// ```
/// use std::time::Duration;
/// use ascend_runtime::{AscendClient, FailMode};
///
/// let client = AscendClient::builder()
///     .api_key("ascend_test_0123456789abcdef")
///     .api_url("http://127.0.0.1:8080")
///     .agent_id("billing-agent")
///     .fail_mode(FailMode::Closed)
///     .timeout(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(client.agent_id(), "billing-agent");
/// # Ok::<(), ascend_runtime::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct ClientBuilder {
    api_key: Option<Secret>,
    api_url: Option<String>,
    agent_id: Option<String>,
    agent_name: Option<String>,
    environment: Option<String>,
    fail_mode: Option<FailMode>,
    timeout: Option<Duration>,
    max_retries: Option<u32>,
    retry_delays: Option<(Duration, Duration)>,
    retry_after_cap: Option<Duration>,
    retry_budget: Option<Duration>,
    circuit: Option<(u32, Duration)>,
    circuit_probe_successes: Option<u32>,
    signing_secret: Option<Secret>,
    poll_interval: Option<Duration>,
    kill_switch: Option<(Duration, u32)>,
    event_stream: Option<bool>,
    fail_open_queue_capacity: Option<usize>,
    ca_cert: Option<std::path::PathBuf>,
    ignore_env: bool,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key)
            .field("api_url", &self.api_url)
            .field("agent_id", &self.agent_id)
            .field("fail_mode", &self.fail_mode)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// A builder with nothing set.
    pub fn new() -> Self {
        Self::default()
    }
    /// The API key (`ASCEND_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(Secret::new(key));
        self
    }
    /// The base URL (`ASCEND_API_URL`).
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }
    /// The agent id (`ASCEND_AGENT_ID`).
    pub fn agent_id(mut self, id: impl Into<String>) -> Self {
        self.agent_id = Some(id.into());
        self
    }
    /// The agent display name (`ASCEND_AGENT_NAME`).
    pub fn agent_name(mut self, name: impl Into<String>) -> Self {
        self.agent_name = Some(name.into());
        self
    }
    /// The environment (`ASCEND_ENVIRONMENT`, default `production`).
    pub fn environment(mut self, env: impl Into<String>) -> Self {
        self.environment = Some(env.into());
        self
    }
    /// The fail mode (`ASCEND_FAIL_MODE`, default [`FailMode::Closed`]).
    pub fn fail_mode(mut self, mode: FailMode) -> Self {
        self.fail_mode = Some(mode);
        self
    }
    /// Per-attempt request timeout (`ASCEND_TIMEOUT_SECS`, default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Retries after the first attempt (`ASCEND_MAX_RETRIES`, default 3).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }
    /// Backoff: the first retry waits up to `base`, doubling up to `max` (full jitter).
    /// Defaults 500 ms and 8 s.
    pub fn retry_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.retry_delays = Some((base, max));
        self
    }
    /// The longest `Retry-After` honoured (default 10 s).
    pub fn retry_after_cap(mut self, cap: Duration) -> Self {
        self.retry_after_cap = Some(cap);
        self
    }
    /// Total time one logical call may spend retrying (default 30 s).
    pub fn retry_budget(mut self, budget: Duration) -> Self {
        self.retry_budget = Some(budget);
        self
    }
    /// Circuit breaker: opens after `threshold` consecutive failures, half-opens after
    /// `recovery` (defaults 5 and 30 s). A threshold of 0 disables the breaker.
    pub fn circuit_breaker(mut self, threshold: u32, recovery: Duration) -> Self {
        self.circuit = Some((threshold, recovery));
        self
    }
    /// Successful half-open probes needed to close the breaker (default 2).
    pub fn circuit_probe_successes(mut self, n: u32) -> Self {
        self.circuit_probe_successes = Some(n.max(1));
        self
    }
    /// Sign request bodies with HMAC-SHA256 (`ASCEND_SIGNING_SECRET`).
    pub fn signing_secret(mut self, secret: impl Into<String>) -> Self {
        self.signing_secret = Some(Secret::new(secret));
        self
    }
    /// How often a pending decision is polled when no push stream is connected (default 1 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }
    /// Kill-switch watch: poll interval and the number of consecutive failures after which a
    /// fail-closed client blocks itself (defaults 5 s and 3).
    pub fn kill_switch_watch(mut self, interval: Duration, failure_limit: u32) -> Self {
        self.kill_switch = Some((interval, failure_limit.max(1)));
        self
    }
    /// Whether the client uses the push stream `GET /api/v1/events/stream` (default true): one
    /// stream per client, opened by the first approval wait or the kill-switch watch that needs
    /// it, and heard by both. Without it (or on a server without the stream) both poll.
    pub fn event_stream(mut self, enabled: bool) -> Self {
        self.event_stream = Some(enabled);
        self
    }
    /// Trust the CA certificates of this PEM file besides the public roots (`ASCEND_CA_CERT`):
    /// a self-hosted server whose certificate comes from a private CA. Read when the client
    /// is built; an unreadable file or one without a certificate is a configuration error.
    pub fn ca_certificate_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca_cert = Some(path.into());
        self
    }
    /// Capacity of the fail-open record queue (default 1000).
    pub fn fail_open_queue_capacity(mut self, capacity: usize) -> Self {
        self.fail_open_queue_capacity = Some(capacity);
        self
    }
    /// Do not read the environment or `.env` (tests, embedded use).
    pub fn ignore_env(mut self) -> Self {
        self.ignore_env = true;
        self
    }

    /// Resolve every setting without building a client. The API key may be missing here.
    pub fn build_config(self) -> Result<Config> {
        if self.ignore_env {
            self.resolve(&|_| None)
        } else {
            let dotenv = read_dotenv();
            self.resolve(&|name| {
                std::env::var(name)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .or_else(|| dotenv.get(name).filter(|v| !v.trim().is_empty()).cloned())
            })
        }
    }

    /// Build an HTTP client. A missing API key is a [`Error::Configuration`] naming
    /// `ASCEND_API_KEY`.
    pub fn build(self) -> Result<crate::AscendClient> {
        let config = self.build_config()?;
        crate::AscendClient::from_config(config)
    }

    /// Build a client over `backend` (an in-process engine such as `ascend-server`'s embedded
    /// backend, or your own): no API key or URL is needed. The kill switch, fail mode,
    /// validation and approval waiting behave as for HTTP.
    pub fn build_with_backend(
        self,
        backend: std::sync::Arc<dyn crate::backend::Backend>,
    ) -> Result<crate::AscendClient> {
        let config = self.build_config()?;
        Ok(crate::AscendClient::with_backend(config, backend))
    }

    pub(crate) fn resolve(self, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        let d = Config::default();
        let api_key = self
            .api_key
            .filter(|k| !k.expose().trim().is_empty())
            .or_else(|| env("ASCEND_API_KEY").map(Secret::new))
            .or_else(|| env("OWKAI_API_KEY").map(Secret::new));
        let url = self
            .api_url
            .or_else(|| env("ASCEND_API_URL"))
            .or_else(|| env("OWKAI_API_URL"))
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        let api_url = check_api_url(&url)?;
        let agent_id = self.agent_id.or_else(|| env("ASCEND_AGENT_ID"));
        let agent_name = self.agent_name.or_else(|| env("ASCEND_AGENT_NAME"));
        let environment = self
            .environment
            .or_else(|| env("ASCEND_ENVIRONMENT"))
            .unwrap_or(d.environment);
        let fail_mode = match self.fail_mode {
            Some(m) => m,
            None => env("ASCEND_FAIL_MODE")
                .map(|s| s.parse())
                .transpose()?
                .unwrap_or_default(),
        };
        let timeout = match self.timeout {
            Some(t) => t,
            None => match env("ASCEND_TIMEOUT_SECS") {
                Some(s) => parse_secs("ASCEND_TIMEOUT_SECS", &s)?,
                None => d.timeout,
            },
        };
        let max_retries = match self.max_retries {
            Some(n) => n,
            None => match env("ASCEND_MAX_RETRIES") {
                Some(s) => s.trim().parse().map_err(|_| {
                    Error::Configuration(format!(
                        "ASCEND_MAX_RETRIES must be a whole number, not {s:?}"
                    ))
                })?,
                None => d.max_retries,
            },
        };
        let (retry_base_delay, retry_max_delay) = self
            .retry_delays
            .unwrap_or((d.retry_base_delay, d.retry_max_delay));
        let (circuit_threshold, circuit_recovery) = self
            .circuit
            .unwrap_or((d.circuit_threshold, d.circuit_recovery));
        let (kill_switch_interval, kill_switch_failure_limit) = self
            .kill_switch
            .unwrap_or((d.kill_switch_interval, d.kill_switch_failure_limit));
        Ok(Config {
            api_key,
            api_url,
            agent_id,
            agent_name,
            environment,
            fail_mode,
            timeout,
            max_retries,
            retry_base_delay,
            retry_max_delay,
            retry_after_cap: self.retry_after_cap.unwrap_or(d.retry_after_cap),
            retry_budget: self.retry_budget.unwrap_or(d.retry_budget),
            circuit_threshold,
            circuit_recovery,
            circuit_probe_successes: self
                .circuit_probe_successes
                .unwrap_or(d.circuit_probe_successes),
            signing_secret: self
                .signing_secret
                .or_else(|| env("ASCEND_SIGNING_SECRET").map(Secret::new)),
            poll_interval: self.poll_interval.unwrap_or(d.poll_interval),
            kill_switch_interval,
            kill_switch_failure_limit,
            event_stream: self.event_stream.unwrap_or(d.event_stream),
            fail_open_queue_capacity: self
                .fail_open_queue_capacity
                .unwrap_or(d.fail_open_queue_capacity),
            extra_roots: match self
                .ca_cert
                .or_else(|| env("ASCEND_CA_CERT").map(Into::into))
            {
                Some(path) => read_ca_file(&path)?,
                None => Vec::new(),
            },
        })
    }
}

/// Every PEM certificate of a CA file (at least one).
fn read_ca_file(path: &std::path::Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bad = |why: String| {
        Error::Configuration(format!(
            "CA certificate file {} (ASCEND_CA_CERT): {why}",
            path.display()
        ))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(format!("{e:?}")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("{e:?}")))?;
    if certs.is_empty() {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(certs)
}

fn parse_secs(name: &str, value: &str) -> Result<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            Error::Configuration(format!(
                "{name} must be a positive number of seconds, not {value:?}"
            ))
        })
}

/// Read `.env` (current directory or a parent) into a map, without touching the process
/// environment. A missing or unreadable file yields an empty map.
fn read_dotenv() -> HashMap<String, String> {
    match dotenvy::dotenv_iter() {
        Ok(iter) => iter.filter_map(|item| item.ok()).collect(),
        Err(_) => HashMap::new(),
    }
}

/// The sentence every "no API key" error uses.
pub(crate) fn missing_key_error() -> Error {
    Error::Configuration(
        "no API key: set ASCEND_API_KEY (or OWKAI_API_KEY) in the environment or .env, \
         or call ClientBuilder::api_key"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn masks_keys() {
        assert_eq!(mask("ascend_prod_abcdefx789"), "asce...x789");
        assert_eq!(mask("short"), "****");
    }

    #[test]
    fn url_rule_compares_parsed_host() {
        for ok in [
            "https://a.example",
            "http://localhost:1",
            "http://127.0.0.1",
            "http://[::1]:80/",
            "HTTP://LOCALHOST",
        ] {
            assert!(check_api_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://10.0.0.1",
            "ftp://localhost",
            "localhost:8080",
            "file:///etc/passwd",
            "",
        ] {
            assert!(
                matches!(check_api_url(bad), Err(Error::Configuration(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn env_resolution_and_fallbacks() {
        let c = ClientBuilder::new()
            .resolve(&env_of(&[
                ("OWKAI_API_KEY", "owkai_key_1234567890"),
                ("ASCEND_API_URL", "http://localhost:9/"),
                ("ASCEND_AGENT_ID", "a1"),
                ("ASCEND_FAIL_MODE", "OPEN"),
                ("ASCEND_TIMEOUT_SECS", "0.25"),
            ]))
            .unwrap();
        assert_eq!(c.api_key.as_ref().unwrap().expose(), "owkai_key_1234567890");
        assert_eq!(c.api_url.as_str(), "http://localhost:9/");
        assert_eq!(c.agent_name(), "a1");
        assert_eq!(c.fail_mode, FailMode::Open);
        assert_eq!(c.timeout, Duration::from_millis(250));

        // The builder wins over the environment.
        let c = ClientBuilder::new()
            .api_key("explicit_key_123456")
            .fail_mode(FailMode::Closed)
            .resolve(&env_of(&[
                ("ASCEND_API_KEY", "env_key_123456789"),
                ("ASCEND_FAIL_MODE", "open"),
            ]))
            .unwrap();
        assert_eq!(c.api_key.unwrap().expose(), "explicit_key_123456");
        assert_eq!(c.fail_mode, FailMode::Closed);

        assert!(
            ClientBuilder::new()
                .resolve(&env_of(&[("ASCEND_FAIL_MODE", "sideways")]))
                .is_err()
        );
        assert!(
            ClientBuilder::new()
                .resolve(&env_of(&[("ASCEND_TIMEOUT_SECS", "-1")]))
                .is_err()
        );
    }

    #[test]
    fn missing_key_names_the_variable() {
        let err = ClientBuilder::new().ignore_env().build().unwrap_err();
        assert!(matches!(&err, Error::Configuration(m) if m.contains("ASCEND_API_KEY")));
    }
}
