//! [`GovernLayer`] and the [`GovernService`] it wraps around a service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use ascend_runtime::{AscendClient, AuthorizationDecision, Outcome};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use serde_json::Value;
use tower::{Layer, Service};

use crate::caller::Caller;
use crate::response;
use crate::route::Route;

/// A tower [`Layer`] that governs the requests of the configured [`Route`]s.
///
/// For a matching request: the caller is taken from the [`Caller`] extension, the request is
/// mapped to an action, and governance decides. Allowed: the request goes on (with the
/// [`AuthorizationDecision`] in its extensions) and its outcome is reported (a 5xx answer as
/// failed). Refused: the service is not called; see the crate docs for the answers.
///
/// Default deny: a request that matches no route is answered `403` unless
/// [`GovernLayer::allow_unmatched`] is set, and a governed request without a [`Caller`] is
/// answered `401` unless [`GovernLayer::default_caller`] is set.
#[derive(Clone, Debug)]
pub struct GovernLayer {
    shared: Arc<Shared>,
}

#[derive(Clone, Debug)]
struct Shared {
    client: AscendClient,
    routes: Vec<Route>,
    allow_unmatched: bool,
    default_caller: bool,
    max_body_bytes: usize,
}

impl GovernLayer {
    /// A layer that asks `client` (HTTP, embedded, or the test double) for decisions.
    pub fn new(client: AscendClient) -> Self {
        GovernLayer {
            shared: Arc::new(Shared {
                client,
                routes: Vec::new(),
                allow_unmatched: false,
                default_caller: false,
                max_body_bytes: 64 * 1024,
            }),
        }
    }

    /// Govern one more route. Routes are tried in the order given; the first match wins.
    pub fn route(mut self, route: Route) -> Self {
        Arc::make_mut(&mut self.shared).routes.push(route);
        self
    }

    /// Let requests that match no route through ungoverned (health checks, static files).
    pub fn allow_unmatched(mut self) -> Self {
        Arc::make_mut(&mut self.shared).allow_unmatched = true;
        self
    }

    /// Attribute requests without a [`Caller`] to the client's own agent id instead of
    /// answering `401`.
    pub fn default_caller(mut self) -> Self {
        Arc::make_mut(&mut self.shared).default_caller = true;
        self
    }

    /// The largest request body read for [`Route::body_fields`] (default 64 KiB); a larger
    /// body is answered `413` without calling governance or the service.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        Arc::make_mut(&mut self.shared).max_body_bytes = limit;
        self
    }
}

impl<S> Layer<S> for GovernLayer {
    type Service = GovernService<S>;

    fn layer(&self, inner: S) -> GovernService<S> {
        GovernService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`GovernLayer`] produces.
#[derive(Clone, Debug)]
pub struct GovernService<S> {
    inner: S,
    shared: Arc<Shared>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GovernService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Body + From<Bytes> + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was not polled ready stays here; the ready one serves this call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { shared.govern(inner, request).await })
    }
}

impl Shared {
    async fn govern<S, ReqBody, ResBody>(
        &self,
        mut inner: S,
        request: Request<ReqBody>,
    ) -> Result<Response<ResBody>, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        ReqBody: Body + From<Bytes>,
        ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        ResBody: From<Bytes>,
    {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let Some((route, captures)) = self
            .routes
            .iter()
            .find_map(|r| r.matches(&method, &path).map(|c| (r, c)))
        else {
            if self.allow_unmatched {
                return inner.call(request).await;
            }
            tracing::warn!(%method, %path, "request matches no governed route; denied");
            return Ok(response::plain(
                StatusCode::FORBIDDEN,
                "no_route",
                "no governance route matches this request",
            ));
        };
        let caller = request.extensions().get::<Caller>().cloned();
        if caller.is_none() && !self.default_caller {
            return Ok(response::plain(
                StatusCode::UNAUTHORIZED,
                "no_caller",
                "the request carries no caller identity",
            ));
        }

        let (request, body) = if route.wants_body() {
            match self.read_json(request).await {
                Ok(read) => read,
                Err(refused) => return Ok(refused),
            }
        } else {
            (request, None)
        };
        let mut action = route.action(&method, captures, request.uri().query(), body.as_ref());
        if let Some(caller) = caller {
            action = action.with_agent(caller.agent_id(), caller.agent_name());
        }

        let decision = match self.client.authorize(action, route.wait()).await {
            Ok(decision) => decision,
            Err(error) => {
                tracing::info!(
                    %method,
                    route = route.template(),
                    refusal = error.refusal_kind().as_str(),
                    error = %error,
                    "governed request refused"
                );
                return Ok(response::refusal(&error));
            }
        };
        let action_id = decision.action_id.clone();
        let mut request = request;
        request
            .extensions_mut()
            .insert::<AuthorizationDecision>(decision);
        let started = Instant::now();
        let result = inner.call(request).await;
        let duration = started.elapsed();
        let outcome = match &result {
            Ok(r) if r.status().is_server_error() => Outcome::Failed {
                error: format!("HTTP {}", r.status()),
                duration,
            },
            Ok(_) => Outcome::Completed { duration },
            Err(_) => Outcome::Failed {
                error: "the service failed".to_owned(),
                duration,
            },
        };
        self.client.report_outcome(&action_id, outcome);
        result
    }

    /// Read the body (within the limit) and parse it as JSON; hand back a request with the
    /// same bytes. A body that is not JSON has no fields; one too large or unreadable is refused.
    async fn read_json<ReqBody, ResBody>(
        &self,
        request: Request<ReqBody>,
    ) -> Result<(Request<ReqBody>, Option<Value>), Response<ResBody>>
    where
        ReqBody: Body + From<Bytes>,
        ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        ResBody: From<Bytes>,
    {
        let (parts, body) = request.into_parts();
        let too_large = || {
            response::plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than the governance layer reads",
            )
        };
        if body.size_hint().lower() > self.max_body_bytes as u64 {
            return Err(too_large());
        }
        let bytes = match Limited::new(body, self.max_body_bytes).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
            Err(e) => {
                return Err(response::plain(
                    StatusCode::BAD_REQUEST,
                    "body_unreadable",
                    &format!("the request body could not be read: {e}"),
                ));
            }
        };
        let json = serde_json::from_slice(&bytes).ok();
        Ok((Request::from_parts(parts, ReqBody::from(bytes)), json))
    }
}
