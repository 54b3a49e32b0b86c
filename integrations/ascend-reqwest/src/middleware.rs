//! [`GovernMiddleware`]: the `reqwest-middleware` middleware.

use std::time::Instant;

use ascend_runtime::{AscendClient, EvaluateOptions, Outcome};
use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use serde_json::Value;

use crate::rule::{self, Rule};

/// Governs every request sent through a [`reqwest_middleware::ClientWithMiddleware`].
///
/// The first [`Rule`] that matches the request's method, host and path maps it to an action;
/// a request no rule matches is governed as `http.<method>` on its host (or, with
/// [`GovernMiddleware::pass_unmatched`], sent ungoverned). The request is sent only when
/// governance allows it; otherwise it fails with [`reqwest_middleware::Error::Middleware`]
/// holding the [`ascend_runtime::Error`] ([`crate::refusal`] gets it back). The outcome of an
/// allowed request is reported: a 5xx answer or a transport error as failed.
#[derive(Clone, Debug)]
pub struct GovernMiddleware {
    client: AscendClient,
    rules: Vec<Rule>,
    pass_unmatched: bool,
    unmatched_wait: EvaluateOptions,
}

impl GovernMiddleware {
    /// A middleware that asks `client` for decisions (its agent id is the caller).
    pub fn new(client: AscendClient) -> Self {
        GovernMiddleware {
            client,
            rules: Vec::new(),
            pass_unmatched: false,
            unmatched_wait: EvaluateOptions::default(),
        }
    }

    /// Add a rule; rules are tried in the order given.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Send requests that match no rule without asking governance.
    pub fn pass_unmatched(mut self) -> Self {
        self.pass_unmatched = true;
        self
    }
}

#[async_trait::async_trait]
impl Middleware for GovernMiddleware {
    async fn handle(
        &self,
        req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let method = req.method().clone();
        let url = req.url().clone();
        let matched = self
            .rules
            .iter()
            .find_map(|r| r.matches(&method, &url).map(|c| (r, c)));
        let (action, wait) = match matched {
            Some((rule, captures)) => {
                let body = req
                    .body()
                    .and_then(|b| b.as_bytes())
                    .and_then(|b| serde_json::from_slice::<Value>(b).ok());
                (
                    rule.action(&method, &url, captures, body.as_ref()),
                    rule.wait(),
                )
            }
            None if self.pass_unmatched => return next.run(req, extensions).await,
            None => (
                rule::default_action(&method, &url),
                self.unmatched_wait.clone(),
            ),
        };
        let decision = match self.client.authorize(action, wait).await {
            Ok(d) => d,
            Err(error) => {
                tracing::info!(
                    %method,
                    host = url.host_str().unwrap_or(""),
                    path = url.path(),
                    refusal = error.refusal_kind().as_str(),
                    error = %error,
                    "outbound request refused by governance"
                );
                return Err(reqwest_middleware::Error::middleware(error));
            }
        };
        let started = Instant::now();
        let result = next.run(req, extensions).await;
        let duration = started.elapsed();
        let outcome = match &result {
            Ok(r) if r.status().is_server_error() => Outcome::Failed {
                error: format!("HTTP {}", r.status()),
                duration,
            },
            Ok(_) => Outcome::Completed { duration },
            Err(e) => Outcome::Failed {
                error: e.to_string(),
                duration,
            },
        };
        self.client.report_outcome(&decision.action_id, outcome);
        result
    }
}
