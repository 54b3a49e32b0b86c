//! [`Route`]: which requests are governed, and how a request becomes an [`AgentAction`].

use std::time::Duration;

use ascend_runtime::{AgentAction, EvaluateOptions};
use http::Method;
use serde_json::{Map, Value};

/// One governed route: a method and a path template, and the action a matching request is.
///
/// The template is matched segment by segment; a segment written `{name}` captures that
/// segment of the path (percent-decoded), every other segment must be equal. Captures become
/// parameters of the action under their names; one of them may be the action's `resource_id`.
/// Query fields and top-level fields of a JSON body are copied into the parameters only when
/// named ([`Route::query_fields`], [`Route::body_fields`]), and values under secret-looking
/// names are redacted ([`ascend_runtime::redact`]). Headers are never sent.
///
/// ```
/// use std::time::Duration;
/// use ascend_tower::Route;
/// use http::Method;
///
/// let route = Route::new(Method::DELETE, "/customers/{id}/records", "database.delete", "customers")
///     .resource_id("id")
///     .query_fields(["rows"])
///     .wait_for(Duration::from_secs(30));
/// assert_eq!(route.template(), "/customers/{id}/records");
/// ```
#[derive(Clone, Debug)]
pub struct Route {
    method: Option<Method>,
    template: String,
    segments: Vec<Segment>,
    action_type: String,
    resource: String,
    resource_id: Option<String>,
    query_fields: Vec<String>,
    body_fields: Vec<String>,
    risk_indicators: Map<String, Value>,
    wait: EvaluateOptions,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Capture(String),
}

impl Route {
    /// Requests with `method` whose path matches `template` are the action `action_type` on
    /// `resource`. By default the request waits up to 60 s for a human when the decision is
    /// pending ([`Route::no_wait`] answers 202 at once instead).
    pub fn new(
        method: Method,
        template: &str,
        action_type: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Self::build(Some(method), template, action_type.into(), resource.into())
    }

    /// Like [`Route::new`], for every method.
    pub fn any(
        template: &str,
        action_type: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Self::build(None, template, action_type.into(), resource.into())
    }

    fn build(
        method: Option<Method>,
        template: &str,
        action_type: String,
        resource: String,
    ) -> Self {
        let segments = split(template)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Capture(name.to_owned()),
                    None => Segment::Literal(s.to_owned()),
                },
            )
            .collect();
        Route {
            method,
            template: template.to_owned(),
            segments,
            action_type,
            resource,
            resource_id: None,
            query_fields: Vec::new(),
            body_fields: Vec::new(),
            risk_indicators: Map::new(),
            wait: EvaluateOptions::default(),
        }
    }

    /// The path capture (`{name}` in the template) that is the action's `resource_id`.
    pub fn resource_id(mut self, capture: impl Into<String>) -> Self {
        self.resource_id = Some(capture.into());
        self
    }

    /// Query parameters copied into the action's parameters. Numbers and `true`/`false` are
    /// sent as JSON numbers and booleans, so the risk engine reads counts and amounts.
    pub fn query_fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.query_fields.extend(names.into_iter().map(Into::into));
        self
    }

    /// Top-level fields of a JSON request body copied into the action's parameters. The body
    /// is read (up to the layer's limit) before the decision and handed on unchanged.
    pub fn body_fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.body_fields.extend(names.into_iter().map(Into::into));
        self
    }

    /// A risk indicator sent with every action of this route (`pii_involved`, `data_classification`, …).
    pub fn risk_indicator(mut self, key: impl Into<String>, value: Value) -> Self {
        self.risk_indicators.insert(key.into(), value);
        self
    }

    /// Do not wait for a human: a pending decision answers `202 Accepted` with the approval id.
    pub fn no_wait(mut self) -> Self {
        self.wait = EvaluateOptions::no_wait();
        self
    }

    /// Wait up to `timeout` for a human when the decision is pending (then `403`, approval timeout).
    pub fn wait_for(mut self, timeout: Duration) -> Self {
        self.wait = EvaluateOptions::wait(timeout);
        self
    }

    /// The path template.
    pub fn template(&self) -> &str {
        &self.template
    }

    pub(crate) fn wait(&self) -> EvaluateOptions {
        self.wait.clone()
    }

    pub(crate) fn wants_body(&self) -> bool {
        !self.body_fields.is_empty()
    }

    /// The captures when `method` and `path` match this route.
    pub(crate) fn matches(&self, method: &Method, path: &str) -> Option<Vec<(String, String)>> {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return None;
        }
        let mut captures = Vec::new();
        let mut parts = split(path);
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Capture(name) => {
                    let value = percent_encoding::percent_decode_str(part)
                        .decode_utf8()
                        .ok()?;
                    captures.push((name.clone(), value.into_owned()));
                }
            }
        }
        parts.next().is_none().then_some(captures)
    }

    /// The action for a matching request.
    pub(crate) fn action(
        &self,
        method: &Method,
        captures: Vec<(String, String)>,
        query: Option<&str>,
        body: Option<&Value>,
    ) -> AgentAction {
        let mut action = AgentAction::new(&self.action_type, &self.resource)
            .with_tool_name(format!("{method} {}", self.template))
            .with_parameter("http_method", Value::String(method.to_string()))
            .with_parameter("route", Value::String(self.template.clone()));
        action.risk_indicators = self.risk_indicators.clone();
        for (name, value) in captures {
            if self.resource_id.as_deref() == Some(name.as_str()) {
                action.resource_id = Some(value.clone());
            }
            put(&mut action.action_details, name, Value::String(value));
        }
        if let Some(query) = query {
            for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
                if self.query_fields.iter().any(|f| *f == name) {
                    put(
                        &mut action.action_details,
                        name.into_owned(),
                        scalar(&value),
                    );
                }
            }
        }
        if let Some(Value::Object(fields)) = body {
            for name in &self.body_fields {
                if let Some(v) = fields.get(name) {
                    put(&mut action.action_details, name.clone(), v.clone());
                }
            }
        }
        action
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// Insert a parameter, redacting secret-looking names and keys inside the value.
fn put(details: &mut Map<String, Value>, name: String, mut value: Value) {
    if ascend_runtime::redact::should_redact(&name, &value) {
        value = Value::String(ascend_runtime::redact::REDACTED.to_owned());
    } else {
        ascend_runtime::redact::redact_value(&mut value);
    }
    details.insert(name, value);
}

/// A query value as JSON: integers, decimals and booleans typed, everything else a string.
pub(crate) fn scalar(raw: &str) -> Value {
    if let Ok(n) = raw.parse::<i64>() {
        return Value::from(n);
    }
    if let Ok(x) = raw.parse::<f64>()
        && x.is_finite()
    {
        return Value::from(x);
    }
    match raw {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_match_segment_by_segment() {
        let r = Route::new(
            Method::GET,
            "/users/{id}/orders/{order}",
            "database.read",
            "orders",
        );
        let caps = r
            .matches(&Method::GET, "/users/u%201/orders/7/")
            .expect("matches");
        assert_eq!(
            caps,
            vec![("id".into(), "u 1".into()), ("order".into(), "7".into())]
        );
        assert!(r.matches(&Method::POST, "/users/1/orders/7").is_none());
        assert!(r.matches(&Method::GET, "/users/1/orders").is_none());
        assert!(r.matches(&Method::GET, "/users/1/orders/7/extra").is_none());
        assert!(r.matches(&Method::GET, "/users/1/items/7").is_none());
        assert!(
            Route::any("/", "x", "y")
                .matches(&Method::PUT, "/")
                .is_some()
        );
    }

    #[test]
    fn only_named_fields_reach_the_action_and_secrets_are_redacted() {
        let r = Route::new(Method::POST, "/pay/{account}", "transaction", "payments")
            .resource_id("account")
            .query_fields(["amount", "api_key", "dry"])
            .body_fields(["currency", "card_token"]);
        let body = json!({"currency": "EUR", "card_token": "tok_1", "note": "private"});
        let a = r.action(
            &Method::POST,
            r.matches(&Method::POST, "/pay/acc-9").unwrap(),
            Some("amount=12000&api_key=s3cret&dry=false&other=1"),
            Some(&body),
        );
        assert_eq!(a.resource_id.as_deref(), Some("acc-9"));
        let d = &a.action_details;
        assert_eq!(d["amount"], json!(12000));
        assert_eq!(d["dry"], json!(false));
        assert_eq!(d["api_key"], json!("[REDACTED]"));
        assert_eq!(d["currency"], json!("EUR"));
        assert_eq!(d["card_token"], json!("[REDACTED]"));
        assert!(!d.contains_key("note") && !d.contains_key("other"));
        assert_eq!(d["tool_name"], json!("POST /pay/{account}"));
    }

    #[test]
    fn scalars_are_typed() {
        assert_eq!(scalar("150"), json!(150));
        assert_eq!(scalar("1.5"), json!(1.5));
        assert_eq!(scalar("NaN"), json!("NaN"));
        assert_eq!(scalar("abc"), json!("abc"));
    }
}
