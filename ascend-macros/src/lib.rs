//! The `#[governed]` attribute of [`ascend-runtime`](https://docs.rs/ascend-runtime).
//!
//! Use it through the runtime — `use ascend_runtime::governed;` — not through this crate: the
//! code it generates calls into `ascend_runtime` (the macro crate itself has no runtime logic).
//! The full reference, with an example for every argument, is on [`macro@governed`].
//!
//! ## How it works
//!
//! The attribute rewrites a function so that, before the body runs, an action request
//! (action type, resource, the arguments as JSON parameters, risk indicators, context, tool
//! name and source location) is sent to governance through the runtime's client. Then:
//!
//! - **allowed** → the body runs, inside a `governed` tracing span, and its outcome (completed
//!   with its duration, or failed with the error's `Display`) is reported in the background;
//! - **not allowed** (denied, approval timed out, kill switch, governance unreachable in
//!   fail-closed mode) → the body does not run; the function returns
//!   `Err(E::from(ascend_runtime::Error))`, or the value of its `on_denied` handler.
//!
//! The crate is organised like `tracing-attributes`: `args` parses the attribute (collecting
//! every mistake, each spanned on the offending tokens), `shape` builds the checked model (which
//! kind of function, which parameters), `expand` generates the code. The signature, attributes
//! and body are re-emitted with their original spans; when the attribute is wrong the errors are
//! emitted *together with the unchanged function*, so the rest of the crate (and IDEs) still see
//! it.

mod args;
mod expand;
mod shape;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::ToTokens;
use syn::ItemFn;
use syn::parse::Parser;

use crate::args::{ArgsParser, combine};
use crate::shape::Model;

/// Governs a function: asks for a decision before the body runs.
///
/// ```
/// use ascend_runtime::{governed, Error};
///
/// #[derive(Debug, thiserror::Error)]
/// enum ToolError {
///     #[error(transparent)]
///     Governance(#[from] Error),
///     #[error("not found")]
///     NotFound,
/// }
///
/// # struct Pool; #[derive(serde::Serialize)] struct Address { street: String }
/// #[governed(action_type = "database.write", resource = "customer_profiles",
///            resource_id = customer_id, risk_indicators(pii_involved = true), skip(pool))]
/// async fn update_address(pool: &Pool, customer_id: &str, address: Address) -> Result<(), ToolError> {
///     // runs only when governance allows it
///     Ok(())
/// }
///
/// // In tests, the runtime's double answers instead of a server:
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mock = ascend_runtime::testing::MockGovernance::allow_all();
/// let address = Address { street: "1 Main St".into() };
/// mock.scope(update_address(&Pool, "cust_42", address)).await.unwrap();
/// assert_eq!(mock.requests()[0].action_details["customer_id"], "cust_42");
/// # }
/// ```
///
/// # Arguments
///
/// Each argument may be given at most once; an unknown one is an error that lists the valid ones.
///
/// | argument | value | default |
/// |---|---|---|
/// | `action_type = ".."` | string literal, **required** | — |
/// | `resource = ..` | string literal, or an expression over the arguments (`Display`), **required** | — |
/// | `resource_id = ..` | expression over the arguments (`Display`) | none |
/// | `risk_indicators(k = v, ..)` | literal or expression values (`Serialize`) | none |
/// | `context(k = v, ..)` | literal or expression values (`Serialize`) | none |
/// | `description = ".."` | string literal | none |
/// | `tool_name = ".."` | string literal | the function's name (`Type::method` for a method) |
/// | `skip(a, b)` | parameter names not sent | none |
/// | `skip_all` | send no parameter | off |
/// | `on_denied = ..` | path or closure `FnOnce(ascend_runtime::Error) -> Ret` (or `-> impl Future<Output = Ret>` on async fns) | `Err(E::from(error))` |
/// | `wait_for_approval = ..` | `true` / `false` | `true` |
/// | `approval_timeout_secs = ..` | integer literal ≥ 1 | `60` |
/// | `client = ..` | expression giving an `AscendClient` (or `&AscendClient`, `Arc<AscendClient>`) | the global client |
/// | `crate = ".."` | path to the runtime, as a string | `::ascend_runtime` |
///
/// ## `action_type` and `resource` (required)
///
/// What kind of action this is and what it acts on. `resource` may also be computed from the
/// arguments (anything that implements `Display`):
///
/// ```
/// # use ascend_runtime::{governed, Error};
/// #[governed(action_type = "database.delete", resource = format!("table_{table}"))]
/// fn drop_rows(table: &str, ids: Vec<u64>) -> Result<usize, Error> {
///     Ok(ids.len())
/// }
/// ```
///
/// ## `resource_id`
///
/// The specific record, as an expression over the arguments (`Display`):
///
/// ```
/// # use ascend_runtime::{governed, Error};
/// # struct Order { id: u64 }
/// #[governed(action_type = "transaction", resource = "orders", resource_id = order.id)]
/// async fn refund(order: &Order, amount_cents: u64) -> Result<(), Error> {
///     Ok(())
/// }
/// ```
///
/// ## `risk_indicators(..)` and `context(..)`
///
/// Hints for the risk engine and free-form context. Values are literals or expressions over the
/// arguments; anything `Serialize` is accepted:
///
/// ```
/// # use ascend_runtime::{governed, Error};
/// #[governed(action_type = "transaction", resource = "stripe_api",
///            risk_indicators(amount = amount_cents / 100, pii_involved = false,
///                            data_sensitivity = "high"),
///            context(business_justification = "customer refund", ticket = ticket))]
/// async fn refund(ticket: &str, amount_cents: u64) -> Result<(), Error> {
///     Ok(())
/// }
/// ```
///
/// ## `description` and `tool_name`
///
/// Sent in the action's details; `tool_name` defaults to the function's name, and for a method
/// (a `self` receiver) to `Type::method` (the last segment of `Self`'s type name), so that two
/// types' `call` methods are told apart:
///
/// ```
/// # use ascend_runtime::{governed, Error};
/// #[governed(action_type = "communication", resource = "email",
///            description = "send a receipt by email", tool_name = "send_receipt")]
/// fn email_receipt(to: &str) -> Result<(), Error> {
///     Ok(())
/// }
/// ```
///
/// ## Parameters: `skip(..)` and `skip_all`
///
/// Every argument is sent as a JSON parameter under its name (bindings inside patterns such as
/// `Parameters(req)` or `(a, b)` under theirs):
///
/// - values that implement `serde::Serialize` as their JSON, any other value as its type name —
///   a non-serializable argument is never a compile error;
/// - arguments whose names look secret (`password`, `api_key`, `token`, `auth`, `pin`, … — the
///   rule is `ascend_runtime::redact::is_secret_name`, shared with the MCP guard and the
///   server) as `"[REDACTED]"`, checked at run time (once per function, at its first call)
///   before the value is serialized (a secret is never serialized); values under secret-looking keys inside serialized values are
///   redacted the same way (`ascend_runtime::redact::redact_value`, which keeps
///   `true`/`false`/`null`);
/// - `self` is never sent.
///
/// `skip(a, b)` leaves arguments out (naming a parameter that does not exist is an error
/// spanned on it); `skip_all` sends none.
///
/// ```
/// # use ascend_runtime::{governed, Error};
/// # struct Pool;
/// #[governed(action_type = "database.read", resource = "customers", skip(pool))]
/// async fn find(pool: &Pool, name: &str, api_key: &str) -> Result<(), Error> {
///     // sent: {"name": "...", "api_key": "[REDACTED]", "tool_name": "find"}
///     Ok(())
/// }
///
/// #[governed(action_type = "database.read", resource = "customers", skip_all)]
/// async fn find_all(pool: &Pool, filter: &str) -> Result<(), Error> {
///     Ok(())
/// }
/// ```
///
/// ## `on_denied`
///
/// Without it, the return type must be `Result<T, E>` with `E: From<ascend_runtime::Error>`, and
/// a refusal returns `Err(E::from(error))`; any other return type is a compile error on the
/// return type. With it, the handler is called instead of the body when the action may not run:
/// it receives the [`ascend_runtime::Error`](https://docs.rs/ascend-runtime) saying why
/// (`Denied(decision)`, `ApprovalTimeout`, `KillSwitch`, or the unavailability error in
/// fail-closed mode) and returns the function's return type. A path or a closure:
///
/// ```
/// # use ascend_runtime::{governed, Error};
/// fn explain(error: Error) -> String {
///     format!("I may not do that: {error}")
/// }
///
/// #[governed(action_type = "communication", resource = "slack", on_denied = explain)]
/// fn post(channel: &str, text: &str) -> String {
///     format!("posted to {channel}")
/// }
///
/// #[governed(action_type = "communication", resource = "slack", on_denied = |_| None)]
/// async fn post_quietly(channel: &str) -> Option<u64> {
///     Some(1)
/// }
/// ```
///
/// On an `async fn` (or a function returning a future) the handler may be async too — an
/// `async fn`, or a closure returning an `async` block; its future is awaited:
///
/// ```
/// # use ascend_runtime::{governed, Error};
/// async fn queue_for_review(error: Error) -> String {
///     // e.g. write to a review queue
///     format!("queued: {error}")
/// }
///
/// #[governed(action_type = "communication", resource = "email", on_denied = queue_for_review)]
/// async fn send(to: &str) -> String {
///     format!("sent to {to}")
/// }
///
/// #[governed(action_type = "communication", resource = "email",
///            on_denied = |e| async move { format!("not sent: {e}") })]
/// async fn send_later(to: &str) -> String {
///     format!("sent to {to}")
/// }
/// ```
///
/// ## `wait_for_approval` and `approval_timeout_secs`
///
/// How a pending decision (a human must approve) is handled. By default the call waits up to
/// 60 s; a pending decision not approved in time is **not** allowed
/// (`Error::ApprovalTimeout`). With `wait_for_approval = false` a pending decision is not
/// waited for and the body does not run: the refusal is `Error::PendingApproval { action_id,
/// approval_request_id }`.
///
/// ```
/// # use ascend_runtime::{governed, Error};
/// #[governed(action_type = "transaction", resource = "wire_transfers", approval_timeout_secs = 300)]
/// async fn wire(amount_cents: u64) -> Result<(), Error> {
///     Ok(())
/// }
///
/// #[governed(action_type = "transaction", resource = "wire_transfers", wait_for_approval = false)]
/// async fn wire_or_fail_fast(amount_cents: u64) -> Result<(), Error> {
///     Ok(())
/// }
/// ```
///
/// ## `client`
///
/// By default the global client is used (`ascend_runtime::init(..)`, the test double's scope, or
/// one built from the environment). `client = <expr>` names another; it is evaluated before the
/// body, may use the arguments (and `self`), and is cloned (cheap):
///
/// ```
/// # use ascend_runtime::{governed, AscendClient, Error};
/// struct Agent {
///     client: AscendClient,
/// }
///
/// impl Agent {
///     #[governed(action_type = "database.read", resource = "customers", client = &self.client)]
///     async fn lookup(&self, id: u64) -> Result<(), Error> {
///         Ok(())
///     }
/// }
/// ```
///
/// ## `crate`
///
/// For crates that reach the runtime under another path (renamed dependency, re-export):
///
/// ```
/// mod deps {
///     pub use ascend_runtime as governance;
/// }
///
/// #[ascend_runtime::governed(action_type = "query", resource = "metrics",
///                            crate = "deps::governance")]
/// fn query(name: &str) -> Result<u64, deps::governance::Error> {
///     Ok(0)
/// }
/// ```
///
/// # Shapes
///
/// - `async fn`: the decision is awaited; the returned future is `Send` whenever the body's is.
/// - `fn`: the decision is waited for through the runtime's blocking path, which is safe from
///   `main`, from a plain thread, and inside a tokio runtime of either flavour.
/// - A `fn` returning `Pin<Box<dyn Future<Output = T> ..>>` whose body ends in
///   `Box::pin(async move { .. })`, or returning `impl Future<Output = T>` whose body ends in
///   `async move { .. }` — the shape `async-trait` and rmcp's `#[tool]` produce: the request is
///   built from the arguments when the function is called, and governance is asked when the
///   future is first polled. Statements before the returned `async` block run at the call,
///   before any decision, so they may only capture values — `let` bindings of a path, a field, a
///   reference, a literal or a tuple of those, or a `.clone()` / `.to_owned()` / `.to_string()` /
///   `.into()` / `.as_ref()` / `.as_str()` / `.borrow()` of one, `Arc::clone(&x)`; and items.
///   Anything else (a call, a macro, arithmetic) is a compile error asking to move it into the
///   `async` block, so nothing runs ungoverned.
/// - Methods with `&self`, `&mut self` or `self`; generics and `where` clauses; `impl Trait`
///   arguments and return types; `unsafe fn`. A `const fn` is refused.
///
/// The body keeps its meaning: its value coerces to the declared return type as without the
/// attribute (`Ok(s)` with `s: &String` for `Result<&str, _>`, `Ok(Box::new(n))` for
/// `Result<Box<dyn Display>, _>`, in tail position and in `return`), `?` and `return` leave the
/// body (the outcome is still reported),
/// inner attributes apply to the whole function, and the generated code uses only absolute paths
/// and hygienic local names, so a `use` or a local inside the body cannot change it.
///
/// ## With rmcp's `#[tool]`
///
/// Put `#[governed]` **above** `#[tool]`: it then sees the original `async fn` and keeps
/// `#[tool(..)]`, the doc comment (the tool's description), the `Parameters<T>` argument (the
/// input schema) and the return type (the output schema) exactly as written, so
/// `#[tool_router]` still finds and describes the tool. Placed below `#[tool]` it also works
/// (it governs the boxed future `#[tool]` produces).
///
/// ```ignore
/// #[tool_router]
/// impl Tools {
///     /// Look a customer up.
///     #[governed(action_type = "database.read", resource = "customers",
///                resource_id = req.customer_id, on_denied = |e| Err(to_mcp_error(e)))]
///     #[tool(annotations(read_only_hint = true))]
///     async fn lookup(&self, Parameters(req): Parameters<Lookup>) -> Result<Json<Customer>, McpError> {
///         ..
///     }
/// }
/// ```
///
/// # What runs, in order
///
/// 1. `client = ..` is evaluated, and a `governed` tracing span opens (fields `action_type`,
///    `tool`, then `action_id`, `decision`, `risk_score`, `outcome`).
/// 2. The request is built from the arguments (before the body — or the statements before a
///    returned future — can move them).
/// 3. The decision is asked for (and a pending one waited for), from `client = ..` or else the
///    global client as seen at that moment (for a returned future: when it is first polled, so
///    a future created outside a test double's scope and awaited inside it uses the double).
/// 4. Allowed: the body runs inside the span; then its outcome is reported in the background —
///    `Completed` with its duration, or `Failed` with the error's `Display` (`Debug`, or the
///    error's type name, when `Display` is missing) when it returned `Err`, or `Failed` with
///    `"panicked: <message>"` when it panicked (the panic then continues). Reporting never
///    delays the return value.
/// 5. Not allowed: `on_denied(error)`, or `Err(E::from(error))`.
#[proc_macro_attribute]
pub fn governed(args: TokenStream, item: TokenStream) -> TokenStream {
    governed_impl(args.into(), item.into()).into()
}

fn governed_impl(args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    // 1. Parse the arguments, collecting every mistake.
    let mut parser = ArgsParser::default();
    let walked = syn::meta::parser(|meta| parser.parse_one(meta)).parse2(args);
    if let Err(e) = walked {
        parser.push_error(e);
    }
    let (args, arg_errors) = parser.finish();

    // 2. Parse the function. Anything else is reported and passed through untouched.
    let item_fn = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let err = not_a_function(&item);
            let errors = combine(arg_errors.into_iter().chain(std::iter::once(err)));
            return with_errors(errors, item);
        }
    };

    // 3. Check the arguments against the function (the model), then generate.
    match Model::new(args, &item_fn) {
        Ok(model) if arg_errors.is_none() => expand::expand(&model, item_fn),
        Ok(_) => with_errors(arg_errors, item_fn.into_token_stream()),
        Err(model_errors) => with_errors(
            combine(arg_errors.into_iter().chain(std::iter::once(model_errors))),
            item_fn.into_token_stream(),
        ),
    }
}

/// The errors, followed by the item as written: the function still exists for the rest of the
/// crate (and for IDEs), only the errors are new.
fn with_errors(errors: Option<syn::Error>, item: TokenStream2) -> TokenStream2 {
    let mut out = errors.map(|e| e.to_compile_error()).unwrap_or_default();
    out.extend(item);
    out
}

fn not_a_function(item: &TokenStream2) -> syn::Error {
    if let Ok(decl) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
        return syn::Error::new_spanned(
            &decl.sig,
            "`#[governed]` needs a function body: put it on the implementation, not on the \
             trait's declaration",
        );
    }
    syn::Error::new_spanned(
        item,
        "`#[governed]` can only be used on functions (`fn`, `async fn`, methods)",
    )
}
