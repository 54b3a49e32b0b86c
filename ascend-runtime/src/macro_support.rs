//! What `#[governed]` expands to.
//!
//! **Not a public API.** Everything here exists for the code the attribute generates and may
//! change in any release; call the client ([`crate::AscendClient`]) directly instead.
//!
//! The generated code is kept small (it is compiled once per governed function): it builds a
//! [`Meta`] constant, collects the parameters, and hands over to [`Call`] / [`Gate`], where the
//! actual work (span, options, decision recording, outcome reporting) is ordinary runtime code.

use std::any::Any;
use std::borrow::Borrow;
use std::fmt::Display;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tracing::Instrument;
use tracing::field::Empty;

use crate::lifecycle::Running;
use crate::{
    AgentAction, AscendClient, AuthorizationDecision, Error, EvaluateOptions, RefusalKind,
};

// Re-exported so users' crates need no direct dependency on them.
pub use serde;
pub use serde_json;
pub use tracing;

/// The text sent in place of a secret-looking parameter.
pub use crate::redact::REDACTED;

/// What the attribute knows at compile time about one governed function (a `static` per
/// function).
#[derive(Debug)]
pub struct Meta {
    /// `action_type = ".."`.
    pub action_type: &'static str,
    /// `tool_name = ".."`, or the function's name.
    pub tool_name: &'static str,
    /// `description = ".."`.
    pub description: Option<&'static str>,
    /// `module_path!()` where the function is.
    pub module_path: &'static str,
    /// `file!():line!()` of the attribute, built at compile time.
    pub code_location: &'static str,
    /// `wait_for_approval = ..` (default true).
    pub wait_for_approval: bool,
    /// `approval_timeout_secs = ..` (default 60).
    pub approval_timeout_secs: u64,
    /// The names the parameters are sent under, in the order the generated code passes them.
    pub params: &'static [&'static str],
    /// Which of `params` look secret: worked out at the first call, then read.
    pub secrets: SecretMask,
}

/// Which parameters of a [`Meta`] look secret ([`crate::redact::is_secret_name`]), worked out
/// once per governed function instead of at every call: bit `i` for `params[i]`, and
/// bit 63 once computed. Parameters past the 63rd are checked at every call.
#[derive(Debug)]
pub struct SecretMask(AtomicU64);

impl SecretMask {
    /// Set once the mask has been computed.
    const KNOWN: u64 = 1 << 63;

    /// Not computed yet.
    #[allow(clippy::new_without_default)] // used in statics: must be `const`
    pub const fn new() -> SecretMask {
        SecretMask(AtomicU64::new(0))
    }
}

impl Meta {
    /// Whether the `i`-th parameter's name looks secret (then its value is never serialized).
    /// An index past `params` counts as secret (fail closed).
    pub fn is_secret(&self, i: usize) -> bool {
        let Some(name) = self.params.get(i) else {
            return true;
        };
        if i >= 63 {
            return crate::redact::is_secret_name(name);
        }
        let mut mask = self.secrets.0.load(Ordering::Relaxed);
        if mask & SecretMask::KNOWN == 0 {
            mask = self
                .params
                .iter()
                .take(63)
                .enumerate()
                .filter(|(_, name)| crate::redact::is_secret_name(name))
                .fold(SecretMask::KNOWN, |m, (bit, _)| m | (1 << bit));
            self.secrets.0.store(mask, Ordering::Relaxed);
        }
        mask & (1 << i) != 0
    }

    fn options(&self) -> EvaluateOptions {
        EvaluateOptions {
            wait_for_approval: self.wait_for_approval,
            approval_timeout: Duration::from_secs(self.approval_timeout_secs),
        }
    }
}

/// The process's client (task-local and thread-local overrides first; see [`crate::global()`]).
pub fn global() -> crate::Result<AscendClient> {
    crate::global()
}

/// `client = <expr>`: anything that borrows as an [`AscendClient`] (`AscendClient`,
/// `&AscendClient`, `Arc<AscendClient>`, …). Cloning is cheap (an `Arc` inside).
pub fn client_from<C: Borrow<AscendClient> + ?Sized>(
    client: &C,
) -> Option<crate::Result<AscendClient>> {
    Some(Ok(client.borrow().clone()))
}

/// A literal resource.
pub fn text(s: &str) -> String {
    s.to_owned()
}

/// A resource or resource id given as an expression.
pub fn display<T: Display + ?Sized>(value: &T) -> String {
    value.to_string()
}

/// A risk indicator or context value given as a literal or an expression.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Value {
    match serde_json::to_value(value) {
        Ok(mut v) => {
            crate::redact::redact_value(&mut v);
            v
        }
        Err(e) => Value::String(format!("<not serializable: {e}>")),
    }
}

/// The value of a secret-looking parameter.
pub fn redacted() -> Value {
    Value::String(REDACTED.to_owned())
}

/// The value sent for a parameter: [`redacted()`] when its name looks secret
/// ([`Meta::is_secret`]), in which case `value` is never called (a secret is never
/// serialized); `value()` otherwise.
pub fn param(secret: bool, value: impl FnOnce() -> Value) -> Value {
    if secret { redacted() } else { value() }
}

/// The JSON of a type that is not `Serialize`: its type name. Not generic, so each
/// expansion instantiates nothing for it but `type_name`.
pub fn type_name_value(secret: bool, name: &'static str) -> Value {
    if secret {
        redacted()
    } else {
        Value::String(name.to_owned())
    }
}

/// Wraps a parameter for [`autoref`] dispatch: the value, sent as JSON when it is
/// `Serialize`, as its type name otherwise — or as [`REDACTED`] when its name looks secret
/// (the generated code passes [`Meta::is_secret`]), decided before anything is serialized.
pub struct Val<'a, T: ?Sized>(pub &'a T);

/// Wraps the body's result for [`autoref`] dispatch: which [`BodyOutcome`] it is.
pub struct Out<'a, T: ?Sized>(pub &'a T);

/// How the body ended, as far as outcome reporting is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyOutcome {
    /// Returned normally (`Ok(..)`, or any non-`Result` value).
    Completed,
    /// Returned `Err(e)`; the text is `e`'s `Display` (or `Debug`, or its type name).
    Failed(String),
}

/// Method-resolution ("autoref") specialisation: the generated code calls
/// `(&&Val(&x)).__ascend_json(secret)` and `(&&&&Out(&r)).__ascend_outcome()`; the most specific impl
/// that applies wins, so a missing `Serialize`/`Display` is never a compile error.
pub mod autoref {
    use std::any::type_name;
    use std::fmt::{Debug, Display};

    use serde::Serialize;
    use serde_json::Value;

    use super::{BodyOutcome, Out, Val};

    /// A `Serialize` parameter: its JSON (nested secret-looking keys redacted), or
    /// `"[REDACTED]"` without serializing when its name looks secret.
    pub trait __AscendParamSerialize {
        /// The value sent.
        fn __ascend_json(&self, secret: bool) -> Value;
    }
    impl<T: Serialize + ?Sized> __AscendParamSerialize for &Val<'_, T> {
        fn __ascend_json(&self, secret: bool) -> Value {
            if secret {
                super::redacted()
            } else {
                super::json(self.0)
            }
        }
    }

    /// Any other parameter: its type name, or `"[REDACTED]"` when its name looks secret.
    pub trait __AscendParamTypeName {
        /// The value sent.
        fn __ascend_json(&self, secret: bool) -> Value;
    }
    impl<T: ?Sized> __AscendParamTypeName for Val<'_, T> {
        fn __ascend_json(&self, secret: bool) -> Value {
            super::type_name_value(secret, type_name::<T>())
        }
    }

    /// `Result<T, E: Display>`.
    pub trait __AscendOutcomeDisplay {
        /// How the body ended.
        fn __ascend_outcome(&self) -> BodyOutcome;
    }
    impl<T, E: Display> __AscendOutcomeDisplay for &&&Out<'_, Result<T, E>> {
        fn __ascend_outcome(&self) -> BodyOutcome {
            match self.0 {
                Ok(_) => BodyOutcome::Completed,
                Err(e) => BodyOutcome::Failed(e.to_string()),
            }
        }
    }

    /// `Result<T, E: Debug>`.
    pub trait __AscendOutcomeDebug {
        /// How the body ended.
        fn __ascend_outcome(&self) -> BodyOutcome;
    }
    impl<T, E: Debug> __AscendOutcomeDebug for &&Out<'_, Result<T, E>> {
        fn __ascend_outcome(&self) -> BodyOutcome {
            match self.0 {
                Ok(_) => BodyOutcome::Completed,
                Err(e) => BodyOutcome::Failed(format!("{e:?}")),
            }
        }
    }

    /// Any other `Result<T, E>`.
    pub trait __AscendOutcomeResult {
        /// How the body ended.
        fn __ascend_outcome(&self) -> BodyOutcome;
    }
    impl<T, E> __AscendOutcomeResult for &Out<'_, Result<T, E>> {
        fn __ascend_outcome(&self) -> BodyOutcome {
            match self.0 {
                Ok(_) => BodyOutcome::Completed,
                Err(_) => BodyOutcome::Failed(format!("error of type {}", type_name::<E>())),
            }
        }
    }

    /// Not a `Result`: always completed.
    pub trait __AscendOutcomeAny {
        /// How the body ended.
        fn __ascend_outcome(&self) -> BodyOutcome;
    }
    impl<R: ?Sized> __AscendOutcomeAny for Out<'_, R> {
        fn __ascend_outcome(&self) -> BodyOutcome {
            BodyOutcome::Completed
        }
    }
}

/// One governed call before the decision: the client, the span, the compile-time facts.
pub struct Call {
    meta: &'static Meta,
    /// `client = ..`, or `None`: the global client, looked up when the decision is asked for
    /// (so a future created outside a test double's scope and polled inside it uses the double).
    client: Option<crate::Result<AscendClient>>,
    span: tracing::Span,
    /// `Type::method` for a method without `tool_name = ..`.
    method_name: Option<String>,
}

impl Call {
    /// Start a call: opens the `governed` span (fields `action_id`, `decision`, `risk_score` and
    /// `outcome` are recorded as they become known).
    pub fn new(meta: &'static Meta, client: Option<crate::Result<AscendClient>>) -> Call {
        Self::start(meta, client, None)
    }

    /// Start a call of a method (`self` receiver) whose tool name is not given: the tool is
    /// named `Type::method` (`self_type` is `type_name::<Self>()`, shortened to its last path
    /// segment), so that two types' `call` methods are told apart.
    pub fn method(
        meta: &'static Meta,
        client: Option<crate::Result<AscendClient>>,
        self_type: &'static str,
    ) -> Call {
        let name = format!("{}::{}", short_type_name(self_type), meta.tool_name);
        Self::start(meta, client, Some(name))
    }

    fn start(
        meta: &'static Meta,
        client: Option<crate::Result<AscendClient>>,
        method_name: Option<String>,
    ) -> Call {
        let tool = method_name.as_deref().unwrap_or(meta.tool_name);
        let span = tracing::info_span!(
            "governed",
            action_type = meta.action_type,
            tool,
            action_id = Empty,
            decision = Empty,
            risk_score = Empty,
            outcome = Empty,
            trace_id = Empty,
        );
        Call {
            meta,
            client,
            span,
            method_name,
        }
    }

    /// Whether the `i`-th parameter is sent redacted ([`Meta::is_secret`]).
    pub fn is_secret(&self, i: usize) -> bool {
        self.meta.is_secret(i)
    }

    /// The action request: resource, parameters (already skipped/redacted), tool
    /// name, description, source location, risk indicators and context.
    pub fn action<const P: usize, const R: usize, const C: usize>(
        &self,
        resource: String,
        resource_id: Option<String>,
        params: [(&'static str, Value); P],
        risk_indicators: [(&'static str, Value); R],
        context: [(&'static str, Value); C],
    ) -> AgentAction {
        let meta = self.meta;
        let mut action = AgentAction::new(meta.action_type, resource);
        action.resource_id = resource_id;
        let mut details = Map::with_capacity(P + 2);
        for (name, value) in params {
            details.insert(name.to_owned(), value);
        }
        // Like the Python SDK: tool_name / description overwrite parameters of the same name.
        let tool = self.method_name.as_deref().unwrap_or(meta.tool_name);
        details.insert("tool_name".to_owned(), Value::from(tool));
        if let Some(description) = meta.description {
            details.insert("description".to_owned(), Value::from(description));
        }
        action.action_details = details;
        let mut ctx = Map::with_capacity(C + 2);
        ctx.insert("code_location".to_owned(), Value::from(meta.code_location));
        ctx.insert("module_path".to_owned(), Value::from(meta.module_path));
        for (name, value) in context {
            ctx.insert(name.to_owned(), value);
        }
        action.context = ctx;
        // Inserted one by one: collecting would sort a temporary `Vec` first.
        let mut risk = Map::new();
        for (name, value) in risk_indicators {
            risk.insert(name.to_owned(), value);
        }
        action.risk_indicators = risk;
        action
    }

    /// The call's metadata, its client (the global one unless `client = ..` named one) and its
    /// span; no client is a refusal recorded on the span.
    fn resolve(self) -> crate::Result<(&'static Meta, AscendClient, tracing::Span)> {
        let Call {
            meta, client, span, ..
        } = self;
        match client.unwrap_or_else(crate::global) {
            Ok(c) => Ok((meta, c, span)),
            Err(e) => Err(refused(&span, e)),
        }
    }

    /// Ask for a decision. `Ok` only when the body may run.
    ///
    /// Not an `async fn`: the async block uses `self` and `action` in place, where an
    /// `async fn` keeps a second copy of each in its state (the generated function's future
    /// holds this one, and is moved: its size is paid at every call).
    #[allow(clippy::manual_async_fn)]
    pub fn authorize(self, action: AgentAction) -> impl Future<Output = crate::Result<Gate>> {
        async move {
            let (meta, client, span) = self.resolve()?;
            // `evaluate_action` + `settle` is `AscendClient::authorize`, one future fewer deep.
            let decision = client
                .evaluate_action(action, meta.options())
                .instrument(span.clone())
                .await
                .and_then(crate::client::settle);
            settle(client, span, decision)
        }
    }

    /// Ask for a decision from synchronous code (safe inside a tokio runtime).
    pub fn authorize_blocking(self, action: AgentAction) -> crate::Result<Gate> {
        let (meta, client, span) = self.resolve()?;
        let decision = {
            let _entered = span.enter();
            client.authorize_blocking(action, meta.options())
        };
        settle(client, span, decision)
    }
}

/// `my_crate::tools::Search<T>` → `Search`.
fn short_type_name(full: &str) -> &str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

fn refused(span: &tracing::Span, error: Error) -> Error {
    let kind = error.refusal_kind();
    span.record("decision", kind.as_str());
    if let Some(d) = error.decision() {
        record_decision(span, d);
    } else if let Some(id) = error.action_id() {
        span.record("action_id", id);
    }
    span.in_scope(|| match kind {
        RefusalKind::Unavailable | RefusalKind::Error => {
            tracing::warn!(error = %error, "governed action not run: governance unavailable");
        }
        _ => tracing::info!(reason = %error, "governed action not allowed"),
    });
    error
}

fn record_decision(span: &tracing::Span, decision: &AuthorizationDecision) {
    if !decision.action_id.is_empty() {
        span.record("action_id", decision.action_id.as_str());
    }
    if let Some(score) = decision.risk_score {
        span.record("risk_score", score);
    }
}

fn settle(
    client: AscendClient,
    span: tracing::Span,
    decision: crate::Result<AuthorizationDecision>,
) -> crate::Result<Gate> {
    match decision {
        Ok(decision) => {
            span.record("decision", decision.decision.as_str());
            record_decision(&span, &decision);
            Ok(Gate {
                running: Running::start(client, decision.action_id),
                span,
            })
        }
        Err(e) => Err(refused(&span, e)),
    }
}

/// An allowed call: runs the body inside the span, then reports its outcome.
///
/// A body that panics is reported as [`crate::Outcome::Failed`] (`"panicked: <message>"`) and the
/// panic then continues unchanged.
pub struct Gate {
    running: Running,
    span: tracing::Span,
}

impl Gate {
    /// Run an async body (pinned by the generated code) inside the span; a panic is reported,
    /// then continues.
    pub fn run<'g, 'b, F: Future>(&'g self, body: Pin<&'b mut F>) -> Guarded<'g, 'b, F> {
        Guarded { gate: self, body }
    }

    /// Run a sync body inside the span. `T` is named by the generated code so that the
    /// closure's body is checked against the function's return type.
    pub fn run_blocking<T, F: FnOnce() -> T>(&self, body: F) -> T {
        let mut body = Some(body);
        let mut value = None;
        self.guarded(&mut || {
            if let Some(body) = body.take() {
                value = Some(body());
            }
        });
        match value {
            Some(value) => value,
            // `guarded` returns only after the step ran to its end (a panic continues).
            None => unreachable!("the governed body ran"),
        }
    }

    /// One step of the body, inside the span; a panic is reported, then continues.
    fn guarded(&self, step: &mut dyn FnMut()) {
        let _entered = self.span.enter();
        if let Err(payload) = catch_unwind(AssertUnwindSafe(step)) {
            self.panicked(payload);
        }
    }

    /// Report `Failed("panicked: ..")`, then continue the panic.
    fn panicked(&self, payload: Box<dyn Any + Send>) -> ! {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string payload".to_owned());
        self.span.record("outcome", "failed");
        self.running.report(Some(format!("panicked: {message}")));
        resume_unwind(payload)
    }

    /// Report how the body ended, in the background.
    pub fn finish(self, outcome: BodyOutcome) {
        let error = match outcome {
            BodyOutcome::Completed => None,
            BodyOutcome::Failed(error) => Some(error),
        };
        self.span.record(
            "outcome",
            if error.is_none() {
                "completed"
            } else {
                "failed"
            },
        );
        self.running.report(error);
    }
}

/// The future of [`Gate::run`]: polls the body inside the span, catching a panic.
///
/// Written by hand (not an `async fn`) so that each expansion instantiates only this small
/// `poll`: the span and the panic catching (`Gate::guarded`) are compiled once, here.
pub struct Guarded<'g, 'b, F> {
    gate: &'g Gate,
    body: Pin<&'b mut F>,
}

impl<F: Future> Future for Guarded<'_, '_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let body = &mut this.body;
        let mut ready = None;
        this.gate.guarded(&mut || {
            if let Poll::Ready(value) = body.as_mut().poll(cx) {
                ready = Some(value);
            }
        });
        match ready {
            Some(value) => Poll::Ready(value),
            None => Poll::Pending,
        }
    }
}

/// `return <expr>` in a governed body: gives the expression the function's return type as its
/// expected type, so it coerces as it would in the original function.
#[inline(always)]
pub fn typed<T>(value: T) -> T {
    value
}

/// The denial as the function's return type (no `on_denied`): `Err(E::from(error))`.
pub fn denied<R: FromDenied>(error: Error) -> R {
    R::from_denied(error)
}

/// `on_denied = handler` on a sync function: the handler's answer is the function's.
pub fn on_denied<R, F: FnOnce(Error) -> R>(handler: F, error: Error) -> R {
    handler(error)
}

/// `on_denied = handler` on an async function (or a future-returning one): the handler may
/// return the function's type, or a future of it (an `async fn`, `|e| async move { .. }`);
/// the generated code awaits what this returns.
pub fn on_denied_async<R, M, A, F>(handler: F, error: Error) -> impl Future<Output = R>
where
    F: FnOnce(Error) -> A,
    A: DeniedAnswer<R, M>,
{
    handler(error).into_answer()
}

/// Marker of [`DeniedAnswer`]: the handler returned the value itself.
#[derive(Debug)]
pub enum Now {}

/// Marker of [`DeniedAnswer`]: the handler returned a future of the value.
#[derive(Debug)]
pub enum Later {}

/// What an `on_denied` handler of an async function may return: the function's type `R`, or a
/// future whose output is `R`.
#[diagnostic::on_unimplemented(
    message = "`on_denied` must return `{R}` or a future of it, not `{Self}`",
    label = "this handler's answer is not the function's return type",
    note = "the handler is called with the `ascend_runtime::Error` and its answer (awaited when it is a future) is what the function returns"
)]
pub trait DeniedAnswer<R, M> {
    /// The future the generated code awaits.
    type Future: Future<Output = R>;
    /// Convert.
    fn into_answer(self) -> Self::Future;
}

impl<R> DeniedAnswer<R, Now> for R {
    type Future = std::future::Ready<R>;
    fn into_answer(self) -> Self::Future {
        std::future::ready(self)
    }
}

impl<F: Future> DeniedAnswer<F::Output, Later> for F {
    type Future = F;
    fn into_answer(self) -> F {
        self
    }
}

/// Return types a denial converts into.
#[diagnostic::on_unimplemented(
    message = "`#[governed]` cannot return a denial as `{Self}`",
    label = "return a `Result<_, E>` (with `E: From<ascend_runtime::Error>`), or add `on_denied = ..` to `#[governed(..)]`",
    note = "when the action is not allowed, a governed function returns `Err(E::from(error))`, or calls its `on_denied` handler"
)]
pub trait FromDenied {
    /// Convert.
    fn from_denied(error: Error) -> Self;
}

#[diagnostic::do_not_recommend]
impl<T, E: From<Error>> FromDenied for Result<T, E> {
    fn from_denied(error: Error) -> Self {
        Err(E::from(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_secrets_are_redacted() {
        let v = json(&json!({
            "user": "ann",
            "password": "hunter2",
            "nested": [{"apiKey": "k", "note": "fine"}],
        }));
        assert_eq!(
            v,
            json!({
                "user": "ann",
                "password": REDACTED,
                "nested": [{"apiKey": REDACTED, "note": "fine"}],
            })
        );
    }

    #[test]
    fn secret_parameters_are_never_serialized() {
        struct Explodes;
        impl Serialize for Explodes {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("a secret was serialized"))
            }
        }
        assert_eq!(param(true, || unreachable!()), json!(REDACTED));
        assert_eq!(param(false, || json!(1)), json!(1));
        static META: Meta = Meta {
            action_type: "t",
            tool_name: "t",
            description: None,
            module_path: "m",
            code_location: "f:1",
            wait_for_approval: true,
            approval_timeout_secs: 60,
            params: &["db_password", "payload"],
            secrets: SecretMask::new(),
        };
        assert!(META.is_secret(0));
        assert!(!META.is_secret(1));
        assert!(META.is_secret(0), "the cached mask gives the same answer");
        assert!(META.is_secret(7), "an unknown index is treated as secret");
        #[allow(clippy::needless_borrow)] // the borrows select the impl
        {
            use autoref::*;
            assert_eq!(
                (&&Val(&Explodes)).__ascend_json(META.is_secret(0)),
                json!(REDACTED)
            );
            let plain = (&&Val(&Explodes)).__ascend_json(META.is_secret(1));
            assert!(
                plain
                    .as_str()
                    .is_some_and(|s| s.contains("not serializable")),
                "{plain}"
            );
        }
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the borrows select the impl: that is the point
    fn autoref_dispatch() {
        use autoref::*;
        struct Opaque;
        let n = 5_u32;
        assert_eq!((&&Val(&n)).__ascend_json(false), json!(5));
        let o = Opaque;
        let name = (&&Val(&o)).__ascend_json(false);
        assert!(
            name.as_str().is_some_and(|s| s.ends_with("Opaque")),
            "{name}"
        );

        let ok: Result<u8, String> = Ok(1);
        assert_eq!((&&&&Out(&ok)).__ascend_outcome(), BodyOutcome::Completed);
        let err: Result<u8, String> = Err("boom".into());
        assert_eq!(
            (&&&&Out(&err)).__ascend_outcome(),
            BodyOutcome::Failed("boom".into())
        );
        #[derive(Debug)]
        struct DebugOnly;
        let err: Result<u8, DebugOnly> = Err(DebugOnly);
        assert_eq!(
            (&&&&Out(&err)).__ascend_outcome(),
            BodyOutcome::Failed("DebugOnly".into())
        );
        let err: Result<u8, Opaque> = Err(Opaque);
        assert!(
            matches!((&&&&Out(&err)).__ascend_outcome(), BodyOutcome::Failed(s) if s.contains("Opaque"))
        );
        assert_eq!(
            (&&&&Out(&"text")).__ascend_outcome(),
            BodyOutcome::Completed
        );
    }
}
