//! [`Route`]: which requests are governed, and how a request becomes an [`AgentAction`].

use std::time::Duration;

use ascend_runtime::request_map::{PathTemplate, RequestFields};
use ascend_runtime::{AgentAction, EvaluateOptions};
use http::Method;
use serde_json::Value;

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
    template: PathTemplate,
    action_type: String,
    resource: String,
    fields: RequestFields,
    wait: EvaluateOptions,
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
        Route {
            method,
            template: PathTemplate::new(template),
            action_type,
            resource,
            fields: RequestFields::default(),
            wait: EvaluateOptions::default(),
        }
    }

    /// The path capture (`{name}` in the template) that is the action's `resource_id`.
    pub fn resource_id(mut self, capture: impl Into<String>) -> Self {
        self.fields.resource_id = Some(capture.into());
        self
    }

    /// Query parameters copied into the action's parameters. Numbers and `true`/`false` are
    /// sent as JSON numbers and booleans, so the risk engine reads counts and amounts.
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

    /// Top-level fields of a JSON request body copied into the action's parameters. The body
    /// is read (up to the layer's limit) before the decision and handed on unchanged.
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

    /// A risk indicator sent with every action of this route (`pii_involved`, `data_classification`, …).
    pub fn risk_indicator(mut self, key: impl Into<String>, value: Value) -> Self {
        self.fields.risk_indicators.insert(key.into(), value);
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
        self.template.as_str()
    }

    pub(crate) fn wait(&self) -> EvaluateOptions {
        self.wait.clone()
    }

    pub(crate) fn wants_body(&self) -> bool {
        !self.fields.body_fields.is_empty()
    }

    /// The captures when `method` and `path` match this route.
    pub(crate) fn matches(&self, method: &Method, path: &str) -> Option<Vec<(String, String)>> {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return None;
        }
        self.template.captures(path)
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
            .with_tool_name(format!("{method} {}", self.template()))
            .with_parameter("http_method", Value::String(method.to_string()))
            .with_parameter("route", Value::String(self.template().to_owned()));
        let query = url::form_urlencoded::parse(query.unwrap_or("").as_bytes());
        self.fields.apply(&mut action, captures, query, body);
        action
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
}
