//! [`Rule`]: how an outbound request (method + host + path) becomes an [`AgentAction`].

use std::time::Duration;

use ascend_runtime::request_map::{PathTemplate, RequestFields, put_parameter, query_value};
use ascend_runtime::{AgentAction, EvaluateOptions};
use http::Method;
use serde_json::{Map, Value};
use url::Url;

/// One mapping from outbound requests to an action.
///
/// `host` is an exact host name (`api.stripe.com`) or a suffix pattern (`*.amazonaws.com`,
/// which matches any sub-domain but not the bare domain). The path template is matched segment
/// by segment; a `{name}` segment captures that segment (percent-decoded) as a parameter, and
/// one capture may be the action's `resource_id`. Only the query fields and top-level JSON
/// body fields you name are sent, with secret-looking names redacted; headers never are.
///
/// ```
/// use ascend_reqwest::Rule;
/// use http::Method;
///
/// let refund = Rule::new(Method::POST, "api.payments.example", "/v1/refunds/{charge}", "transaction", "payments")
///     .resource_id("charge")
///     .body_fields(["amount", "currency"]);
/// assert_eq!(refund.host(), "api.payments.example");
/// ```
#[derive(Clone, Debug)]
pub struct Rule {
    method: Option<Method>,
    host: String,
    template: PathTemplate,
    action_type: String,
    resource: String,
    fields: RequestFields,
    wait: EvaluateOptions,
}

impl Rule {
    /// Requests with `method` to `host` whose path matches `template` are the action
    /// `action_type` on `resource`. A pending decision is waited on up to 60 s by default.
    pub fn new(
        method: Method,
        host: &str,
        template: &str,
        action_type: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Self::build(
            Some(method),
            host,
            template,
            action_type.into(),
            resource.into(),
        )
    }

    /// Like [`Rule::new`], for every method.
    pub fn any_method(
        host: &str,
        template: &str,
        action_type: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Self::build(None, host, template, action_type.into(), resource.into())
    }

    fn build(
        method: Option<Method>,
        host: &str,
        template: &str,
        action_type: String,
        resource: String,
    ) -> Self {
        Rule {
            method,
            host: host.to_ascii_lowercase(),
            template: PathTemplate::new(template),
            action_type,
            resource,
            fields: RequestFields::default(),
            wait: EvaluateOptions::default(),
        }
    }

    /// The path capture that is the action's `resource_id`.
    pub fn resource_id(mut self, capture: impl Into<String>) -> Self {
        self.fields.resource_id = Some(capture.into());
        self
    }

    /// Query parameters sent as parameters (numbers and booleans typed).
    pub fn query_fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fields
            .query_fields
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// Top-level fields of a JSON request body sent as parameters (a streamed body has none).
    pub fn body_fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fields
            .body_fields
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// A risk indicator sent with every action of this rule.
    pub fn risk_indicator(mut self, key: impl Into<String>, value: Value) -> Self {
        self.fields.risk_indicators.insert(key.into(), value);
        self
    }

    /// Do not wait for a human: a pending decision fails the request with
    /// [`ascend_runtime::Error::PendingApproval`].
    pub fn no_wait(mut self) -> Self {
        self.wait = EvaluateOptions::no_wait();
        self
    }

    /// Wait up to `timeout` for a human when the decision is pending.
    pub fn wait_for(mut self, timeout: Duration) -> Self {
        self.wait = EvaluateOptions::wait(timeout);
        self
    }

    /// The host or host pattern.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn wait(&self) -> EvaluateOptions {
        self.wait.clone()
    }

    pub(crate) fn matches(&self, method: &Method, url: &Url) -> Option<Vec<(String, String)>> {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let host_ok = match self.host.strip_prefix("*.") {
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => host == self.host,
        };
        if !host_ok {
            return None;
        }
        self.template.captures(url.path())
    }

    pub(crate) fn action(
        &self,
        method: &Method,
        url: &Url,
        captures: Vec<(String, String)>,
        body: Option<&Value>,
    ) -> AgentAction {
        let mut action = base_action(&self.action_type, &self.resource, method, url)
            .with_tool_name(format!(
                "{method} {}{}",
                url.host_str().unwrap_or(""),
                self.template.as_str()
            ));
        self.fields
            .apply(&mut action, captures, url.query_pairs(), body);
        action
    }
}

/// The action of a request no rule matches: `http.<method>` (lower case) on the host, with
/// the path and the query (secret-looking names redacted) as parameters.
pub(crate) fn default_action(method: &Method, url: &Url) -> AgentAction {
    let action_type = format!("http.{}", method.as_str().to_ascii_lowercase());
    let host = url.host_str().unwrap_or("").to_owned();
    let mut action = base_action(&action_type, &host, method, url)
        .with_tool_name(format!("{method} {host}{}", url.path()));
    let mut query = Map::new();
    for (name, value) in url.query_pairs() {
        put_parameter(&mut query, name.into_owned(), query_value(&value));
    }
    if !query.is_empty() {
        action
            .action_details
            .insert("query".into(), Value::Object(query));
    }
    action
}

fn base_action(action_type: &str, resource: &str, method: &Method, url: &Url) -> AgentAction {
    AgentAction::new(action_type, resource)
        .with_parameter("http_method", Value::String(method.to_string()))
        .with_parameter(
            "host",
            Value::String(url.host_str().unwrap_or("").to_owned()),
        )
        .with_parameter("path", Value::String(url.path().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ascend_runtime::redact::REDACTED;
    use serde_json::json;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn hosts_match_exactly_or_by_suffix() {
        let exact = Rule::new(Method::GET, "API.example.test", "/", "x", "y");
        assert!(
            exact
                .matches(&Method::GET, &url("http://api.example.test/"))
                .is_some()
        );
        assert!(
            exact
                .matches(&Method::GET, &url("http://evil-api.example.test/"))
                .is_none()
        );
        let wild = Rule::any_method("*.example.test", "/v1/{id}", "x", "y");
        assert!(
            wild.matches(&Method::PUT, &url("http://s3.eu.example.test/v1/a%2Fb"))
                .is_some()
        );
        assert!(
            wild.matches(&Method::PUT, &url("http://example.test/v1/a"))
                .is_none()
        );
        assert!(
            wild.matches(&Method::PUT, &url("http://badexample.test/v1/a"))
                .is_none()
        );
        assert!(
            wild.matches(&Method::PUT, &url("http://a.example.test/v1"))
                .is_none()
        );
    }

    #[test]
    fn only_named_fields_are_sent_and_secrets_are_redacted() {
        let rule = Rule::new(
            Method::POST,
            "pay.test",
            "/charges/{id}",
            "transaction",
            "pay",
        )
        .resource_id("id")
        .query_fields(["amount", "access_token"])
        .body_fields(["currency", "card_number"]);
        let u = url("http://pay.test/charges/ch_1?amount=25000&access_token=abc&other=1");
        let caps = rule.matches(&Method::POST, &u).unwrap();
        let body = json!({"currency": "EUR", "card_number": 4242, "memo": "x"});
        let a = rule.action(&Method::POST, &u, caps, Some(&body));
        assert_eq!(a.resource_id.as_deref(), Some("ch_1"));
        assert_eq!(a.action_details["amount"], json!(25000));
        assert_eq!(a.action_details["access_token"], json!(REDACTED));
        assert_eq!(a.action_details["currency"], json!("EUR"));
        assert!(!a.action_details.contains_key("other") && !a.action_details.contains_key("memo"));
        assert_eq!(
            a.action_details["tool_name"],
            json!("POST pay.test/charges/{id}")
        );
    }

    #[test]
    fn the_default_mapping_is_http_method_on_host() {
        let u = url("http://files.test/a/b?token=t0p&limit=5");
        let a = default_action(&Method::DELETE, &u);
        assert_eq!(
            (a.action_type.as_str(), a.resource.as_str()),
            ("http.delete", "files.test")
        );
        assert_eq!(a.action_details["path"], json!("/a/b"));
        assert_eq!(
            a.action_details["query"],
            json!({"token": REDACTED, "limit": 5})
        );
    }
}
