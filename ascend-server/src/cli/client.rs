//! The small HTTP client the command line uses.

use serde_json::Value;

use super::Conn;
use crate::error::{Error, Result};

/// A connection to a server.
#[derive(Debug)]
pub struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Client {
    /// Build from the connection options; a key is required.
    pub fn new(conn: &Conn) -> Result<Self> {
        let key = conn
            .api_key
            .clone()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| {
                Error::Config("set ASCEND_API_KEY (or pass --api-key) to talk to the server".into())
            })?;
        let base = conn.api_url.trim_end_matches('/').to_owned();
        reqwest::Url::parse(&base)
            .map_err(|e| Error::Config(format!("ASCEND_API_URL {base:?} is not a URL: {e}")))?;
        let timeout = std::time::Duration::from_secs(30);
        let http = match &conn.ca_cert {
            Some(ca) => crate::webhooks::http_client_trusting(timeout, ca)?,
            None => crate::webhooks::http_client(timeout)?,
        };
        Ok(Self { base, key, http })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let resp = req
            .header("x-api-key", &self.key)
            .send()
            .await
            .map_err(|e| {
                Error::Config(format!(
                    "cannot reach the server at {}: {}",
                    self.base,
                    root_cause(&e)
                ))
            })?;
        let status = resp.status();
        let text = resp.text().await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(body);
        }
        let detail = match body.get("detail") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o
                .get("detail")
                .and_then(Value::as_str)
                .unwrap_or("denied")
                .to_owned(),
            Some(other) => other.to_string(),
            None => match &body {
                Value::String(s) if !s.is_empty() => s.clone(),
                _ => status.canonical_reason().unwrap_or("error").to_owned(),
            },
        };
        Err(Error::Api {
            status: status.as_u16(),
            detail,
        })
    }

    /// GET a path (with query pairs).
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| Error::Config(format!("bad URL: {e}")))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        self.send(self.http.get(url)).await
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// GET a path as text.
    pub async fn get_text(&self, path: &str) -> Result<String> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("x-api-key", &self.key)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(Error::Api {
                status: status.as_u16(),
                detail: text,
            })
        }
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Percent-encode one path segment.
pub fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
