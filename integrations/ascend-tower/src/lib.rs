//! # ascend-tower
//!
//! Ascend governance for [axum], hyper and any [tower] service: a [`GovernLayer`] that maps each
//! configured request to an action — method, route template, path ids, and the query or JSON
//! body fields you name — asks governance, and calls the service only when the action is allowed.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ascend_tower::{Caller, GovernLayer, Route};
//! use axum::{Router, routing::delete};
//! use http::Method;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = ascend_runtime::AscendClient::from_env()?; // or build_with_backend(Embedded)
//! let governance = GovernLayer::new(client)
//!     .route(
//!         Route::new(Method::DELETE, "/customers/{id}", "database.delete", "customers")
//!             .resource_id("id")
//!             .query_fields(["rows"]),
//!     )
//!     .allow_unmatched();
//! let app: Router = Router::new()
//!     .route("/customers/{id}", delete(|| async { "deleted" }))
//!     .layer(governance)
//!     // Your authentication runs first and says who the caller is:
//!     .layer(axum::middleware::from_fn(|mut req: axum::extract::Request, next: axum::middleware::Next| async move {
//!         req.extensions_mut().insert(Caller::new("support-bot"));
//!         next.run(req).await
//!     }));
//! # Ok(()) }
//! ```
//!
//! ## What the client gets back
//!
//! | governance says | answer |
//! |---|---|
//! | allowed | the service's own response; the [`ascend_runtime::AuthorizationDecision`] is in the request's extensions, the outcome is reported (5xx as failed) |
//! | denied, kill switch, approval timed out | `403` `{"error": "denied", "code", "message", "action_id", "decision": {…}}` |
//! | pending, route with [`Route::no_wait`] | `202` `{"error": "approval_pending", "status": "pending_approval", "action_id", "approval_request_id"}` |
//! | unreachable, client fails closed | `503` `{"error": "unavailable", …}` (a fail-open client lets the request through) |
//! | other governance error | `500` |
//! | no route matches | `403` `no_route`, unless [`GovernLayer::allow_unmatched`] |
//! | no [`Caller`] extension | `401` `no_caller`, unless [`GovernLayer::default_caller`] |
//!
//! Bodies: the service's request body type must be buildable from [`bytes::Bytes`] (axum's
//! `Body`, `http_body_util::Full`), because a route with [`Route::body_fields`] reads the body
//! (at most [`GovernLayer::max_body_bytes`], else `413`) and hands the same bytes on. The
//! response body type must be buildable from `Bytes` too, for the layer's own answers.
//!
//! ## Map of the crate
//!
//! | module | what it holds |
//! |---|---|
//! | [`route`] | [`Route`]: matching a request and mapping it to an action |
//! | [`caller`] | [`Caller`]: the identity extension |
//! | [`layer`] | [`GovernLayer`], [`GovernService`] |
//!
//! Internals: `response` (the layer's own answers).
//!
//! [axum]: https://docs.rs/axum
//! [tower]: https://docs.rs/tower

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod caller;
pub mod layer;
mod response;
pub mod route;

pub use caller::Caller;
pub use layer::{GovernLayer, GovernService};
pub use route::Route;
