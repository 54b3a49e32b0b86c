//! How an HTTP request becomes an [`AgentAction`]: the part shared by the HTTP integrations
//! (`ascend-tower` for the routes a service serves, `ascend-reqwest` for the calls an agent
//! makes), so both match paths and pick parameters the same way.
//!
//! - [`PathTemplate`]: `/customers/{id}/records` matched segment by segment; `{name}` captures
//!   one segment, percent-decoded.
//! - [`RequestFields`]: which captures, query fields and top-level JSON body fields become
//!   parameters, which capture is the `resource_id`, and the risk indicators sent every time.
//!   Values under secret-looking names are redacted ([`crate::redact`]); headers never are sent.
//!
//! ```
//! use ascend_runtime::AgentAction;
//! use ascend_runtime::request_map::{PathTemplate, RequestFields};
//!
//! let template = PathTemplate::new("/accounts/{account}/refunds");
//! let captures = template.captures("/accounts/acc%2D9/refunds").expect("matches");
//! let fields = RequestFields {
//!     resource_id: Some("account".into()),
//!     query_fields: vec!["amount".into(), "api_key".into()],
//!     ..RequestFields::default()
//! };
//! let mut action = AgentAction::new("transaction", "payments");
//! let query = url::form_urlencoded::parse(b"amount=120&api_key=s3cret&note=x");
//! fields.apply(&mut action, captures, query, None);
//! assert_eq!(action.resource_id.as_deref(), Some("acc-9"));
//! assert_eq!(action.action_details["amount"], 120);
//! assert_eq!(action.action_details["api_key"], "[REDACTED]");
//! assert!(!action.action_details.contains_key("note"));
//! ```

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::AgentAction;
use crate::redact::{REDACTED, redact_value, should_redact};

/// A path template: literal segments and `{name}` captures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Capture(String),
}

impl PathTemplate {
    /// Parse a template; empty segments (doubled or trailing slashes) are ignored.
    pub fn new(template: &str) -> Self {
        let segments = split(template)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Capture(name.to_owned()),
                    None => Segment::Literal(s.to_owned()),
                },
            )
            .collect();
        Self {
            text: template.to_owned(),
            segments,
        }
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The captures (name, percent-decoded value) when `path` matches, segment for segment;
    /// None when it does not (or a capture is not UTF-8 once decoded).
    pub fn captures(&self, path: &str) -> Option<Vec<(String, String)>> {
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
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// Which parts of a request become the action's parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestFields {
    /// The capture that is the action's `resource_id`.
    pub resource_id: Option<String>,
    /// Query fields sent as parameters (numbers and booleans typed, see [`query_value`]).
    pub query_fields: Vec<String>,
    /// Top-level fields of a JSON body sent as parameters.
    pub body_fields: Vec<String>,
    /// Risk indicators sent with every action.
    pub risk_indicators: Map<String, Value>,
}

impl RequestFields {
    /// Copy every capture, the named query fields and the named body fields into `action`'s
    /// parameters (redacted where their names look secret), set its `resource_id` from the
    /// named capture, and add the risk indicators.
    pub fn apply<'q>(
        &self,
        action: &mut AgentAction,
        captures: Vec<(String, String)>,
        query: impl IntoIterator<Item = (Cow<'q, str>, Cow<'q, str>)>,
        body: Option<&Value>,
    ) {
        action.risk_indicators.extend(
            self.risk_indicators
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        for (name, value) in captures {
            if self.resource_id.as_deref() == Some(name.as_str()) {
                action.resource_id = Some(value.clone());
            }
            put_parameter(&mut action.action_details, name, Value::String(value));
        }
        for (name, value) in query {
            if self.query_fields.iter().any(|f| *f == name) {
                put_parameter(
                    &mut action.action_details,
                    name.into_owned(),
                    query_value(&value),
                );
            }
        }
        if let Some(Value::Object(fields)) = body {
            for name in &self.body_fields {
                if let Some(v) = fields.get(name) {
                    put_parameter(&mut action.action_details, name.clone(), v.clone());
                }
            }
        }
    }
}

/// Insert a parameter: the whole value redacted when its name (or shape) looks secret, else
/// with secret-looking keys inside it redacted.
pub fn put_parameter(details: &mut Map<String, Value>, name: String, mut value: Value) {
    if should_redact(&name, &value) {
        value = Value::String(REDACTED.to_owned());
    } else {
        redact_value(&mut value);
    }
    details.insert(name, value);
}

/// A query value as JSON: integers, finite decimals and `true`/`false` typed (so the risk
/// engine reads counts and amounts), everything else a string.
pub fn query_value(raw: &str) -> Value {
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
        let t = PathTemplate::new("/users/{id}/orders/{order}");
        assert_eq!(
            t.captures("/users/u%201/orders/7/").expect("matches"),
            vec![("id".into(), "u 1".into()), ("order".into(), "7".into())]
        );
        assert!(t.captures("/users/1/orders").is_none());
        assert!(t.captures("/users/1/orders/7/extra").is_none());
        assert!(t.captures("/users/1/items/7").is_none());
        assert!(t.captures("/users/%FF/orders/7").is_none(), "not UTF-8");
        assert_eq!(PathTemplate::new("/").captures("/"), Some(vec![]));
    }

    #[test]
    fn only_named_fields_become_parameters_and_secrets_are_redacted() {
        let fields = RequestFields {
            resource_id: Some("account".into()),
            query_fields: vec!["amount".into(), "api_key".into(), "dry".into()],
            body_fields: vec!["currency".into(), "card_token".into()],
            risk_indicators: [("pii_involved".to_owned(), json!(true))]
                .into_iter()
                .collect(),
        };
        let captures = PathTemplate::new("/pay/{account}")
            .captures("/pay/acc-9")
            .unwrap();
        let body = json!({"currency": "EUR", "card_token": "tok_1", "note": "private"});
        let mut a = AgentAction::new("transaction", "payments");
        let query = url::form_urlencoded::parse(b"amount=12000&api_key=s3cret&dry=false&other=1");
        fields.apply(&mut a, captures, query, Some(&body));
        assert_eq!(a.resource_id.as_deref(), Some("acc-9"));
        let d = &a.action_details;
        assert_eq!(d["account"], json!("acc-9"));
        assert_eq!(d["amount"], json!(12000));
        assert_eq!(d["dry"], json!(false));
        assert_eq!(d["api_key"], json!(REDACTED));
        assert_eq!(d["currency"], json!("EUR"));
        assert_eq!(d["card_token"], json!(REDACTED));
        assert!(!d.contains_key("note") && !d.contains_key("other"));
        assert_eq!(a.risk_indicators["pii_involved"], json!(true));
    }

    #[test]
    fn query_values_are_typed() {
        assert_eq!(query_value("150"), json!(150));
        assert_eq!(query_value("1.5"), json!(1.5));
        assert_eq!(query_value("NaN"), json!("NaN"));
        assert_eq!(query_value("true"), json!(true));
        assert_eq!(query_value("abc"), json!("abc"));
    }
}
