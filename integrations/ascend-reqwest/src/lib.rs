//! # ascend-reqwest
//!
//! Govern the outbound HTTP calls an agent makes — what a boto3 patch does for AWS, for any
//! API. [`GovernMiddleware`] is a [`reqwest_middleware`] middleware: each request's method, host
//! and path are mapped to an action by your [`Rule`]s (or `http.<method>` on the host when none
//! matches), governance decides, and only an allowed request is sent.
//!
//! ```no_run
//! use ascend_reqwest::{GovernMiddleware, Rule};
//! use http::Method;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let governance = GovernMiddleware::new(ascend_runtime::AscendClient::from_env()?)
//!     .rule(
//!         Rule::new(Method::DELETE, "crm.internal.test", "/v2/contacts/{id}", "database.delete", "contacts")
//!             .resource_id("id"),
//!     );
//! let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(governance)
//!     .build();
//! match http.delete("https://crm.internal.test/v2/contacts/42").send().await {
//!     Ok(response) => println!("{}", response.status()),
//!     Err(e) => match ascend_reqwest::refusal(&e) {
//!         Some(refused) => println!("governance refused: {refused}"),
//!         None => println!("transport error: {e}"),
//!     },
//! }
//! # Ok(()) }
//! ```
//!
//! What is sent to governance: the method, host and path, the path captures, and only the query
//! and top-level JSON body fields a rule names, with secret-looking names redacted
//! ([`ascend_runtime::redact`]). Headers (authorization, cookies, API keys) are never sent.
//!
//! ## Map of the crate
//!
//! | module | what it holds |
//! |---|---|
//! | [`rule`] | [`Rule`]: matching a request and mapping it to an action |
//! | [`middleware`] | [`GovernMiddleware`] |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod middleware;
pub mod rule;

pub use middleware::GovernMiddleware;
pub use rule::Rule;

/// The governance refusal inside an error of a governed request (denied, pending, kill switch,
/// unreachable in fail-closed mode, …), or `None` for a transport error.
pub fn refusal(error: &reqwest_middleware::Error) -> Option<&ascend_runtime::Error> {
    match error {
        reqwest_middleware::Error::Middleware(e) => e.downcast_ref::<ascend_runtime::Error>(),
        reqwest_middleware::Error::Reqwest(_) => None,
    }
}
