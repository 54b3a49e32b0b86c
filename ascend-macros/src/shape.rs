//! The model: what kind of function the attribute is on, which parameters it has, and what the
//! call produces. Everything here is checked against the arguments before anything is generated.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Block, Expr, ExprAsync, FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType,
    Stmt, Type, TypeParamBound,
};

use crate::args::{Args, combine};

/// How the function produces its result.
pub(crate) enum Shape {
    /// `async fn`: the governed prologue awaits the decision.
    Async,
    /// A plain `fn`: the prologue blocks on the decision.
    Sync,
    /// `fn f(..) -> Pin<Box<dyn Future<Output = T> ..>> { ..; Box::pin(async move { .. }) }` (the
    /// shape `async-trait` and rmcp's `#[tool]` produce), or `-> impl Future<Output = T>` with an
    /// `async` block in tail position: the prologue goes inside that async block.
    Future,
}

/// One parameter binding sent in the action's parameters (redacted at run time, before it is
/// serialized, when its name looks secret: `ascend_runtime::redact::is_secret_name`).
pub(crate) struct Param {
    /// The binding as written in the signature (original span, so it resolves to the argument).
    pub ident: Ident,
    /// The name it is sent under (`r#` stripped).
    pub name: String,
}

/// The checked model the expansion works from.
pub(crate) struct Model {
    pub args: Args,
    pub shape: Shape,
    pub params: Vec<Param>,
    /// The type the function (or its future) evaluates to, with every `impl Trait` replaced by
    /// `_` so it can be written inside the body.
    pub output: Type,
    /// Where errors about the output type point.
    pub output_span: Span,
}

impl Model {
    /// Check `args` against the function; all problems are reported together.
    pub(crate) fn new(args: Args, item: &ItemFn) -> Result<Model, syn::Error> {
        let mut errors = Vec::new();
        let sig = &item.sig;

        if let Some(constness) = &sig.constness {
            errors.push(syn::Error::new(
                constness.span,
                "`#[governed]` cannot be used on a `const fn`: governance is asked at run time, \
                 which a `const fn` cannot do; remove `const`",
            ));
        }

        // Every binding of every typed argument (`self` is never sent).
        let mut bindings = Vec::new();
        for arg in &sig.inputs {
            if let FnArg::Typed(pat_type) = arg {
                collect_bindings(&pat_type.pat, &mut bindings);
            }
        }
        for skipped in &args.skip {
            if skipped == "self" {
                continue;
            }
            if !bindings.iter().any(|b| b == skipped) {
                let known: Vec<String> = bindings.iter().map(unraw).collect();
                let listing = if known.is_empty() {
                    format!("`{}` has no parameters", sig.ident)
                } else {
                    format!("its parameters are: {}", known.join(", "))
                };
                errors.push(syn::Error::new(
                    skipped.span(),
                    format!(
                        "`skip({skipped})`: `{}` has no parameter named `{skipped}`; {listing}",
                        sig.ident
                    ),
                ));
            }
        }

        let params = if args.skip_all {
            Vec::new()
        } else {
            bindings
                .into_iter()
                .filter(|b| !args.skip.iter().any(|s| s == b))
                .map(|ident| {
                    let name = unraw(&ident);
                    Param { ident, name }
                })
                .collect()
        };

        let (declared, declared_span) = match &sig.output {
            ReturnType::Default => (syn::parse_quote!(()), sig.ident.span()),
            ReturnType::Type(_, ty) => ((**ty).clone(), ty.span()),
        };

        let (shape, output, output_span) = if sig.asyncness.is_some() {
            (Shape::Async, declared, declared_span)
        } else if let Some(out) = future_output(&declared) {
            let span = out.span();
            if tail_async_block(&item.block).is_some() {
                let prefix = &item.block.stmts[..item.block.stmts.len() - 1];
                errors.extend(prefix.iter().filter_map(effectful_statement));
            } else {
                errors.push(syn::Error::new(
                    declared_span,
                    "`#[governed]` on a function returning a future needs its body to end in \
                     `Box::pin(async move { .. })` or `async move { .. }` (the shape `#[tool]` and \
                     `async-trait` produce); otherwise write it as an `async fn`",
                ));
            }
            (Shape::Future, out, span)
        } else {
            (Shape::Sync, declared, declared_span)
        };

        if let Some(err) = combine(errors) {
            return Err(err);
        }
        let mut output = output;
        InferImplTrait.visit_type_mut(&mut output);
        Ok(Model {
            args,
            shape,
            params,
            output,
            output_span,
        })
    }
}

/// A statement before the returned `async` block runs when the function is called, before
/// governance decides (the decision is asked for when the future is first polled): it would run
/// even when the call is then denied. Only statements that capture values are allowed there —
/// `let` bindings of a path, a field, a reference, a literal, a tuple of those, or a
/// `.clone()`/`.to_owned()`/`.to_string()`/`.into()`/`.as_ref()`/`.as_str()`/`.borrow()` of
/// one, or `Arc::clone(&x)`-style calls — and items (`use`, nested `fn`).
fn effectful_statement(stmt: &Stmt) -> Option<syn::Error> {
    let pure = match stmt {
        Stmt::Item(_) => true,
        Stmt::Local(local) => local.diverge_is_none() && local.init_is_capture(),
        Stmt::Expr(..) | Stmt::Macro(_) => false,
    };
    (!pure).then(|| {
        syn::Error::new_spanned(
            stmt,
            "`#[governed]`: a statement before the returned `async` block runs when the function \
             is called, before governance decides, and would run even when the call is denied; \
             only bindings that capture values may come first (`let x = y;`, \
             `let client = self.client.clone();`): move this statement into the `async` block",
        )
    })
}

trait LocalExt {
    fn diverge_is_none(&self) -> bool;
    fn init_is_capture(&self) -> bool;
}

impl LocalExt for syn::Local {
    fn diverge_is_none(&self) -> bool {
        self.init.as_ref().is_none_or(|init| init.diverge.is_none())
    }

    fn init_is_capture(&self) -> bool {
        self.init.as_ref().is_none_or(|init| is_capture(&init.expr))
    }
}

/// An expression that only reads or copies values (see [`effectful_statement`]).
fn is_capture(expr: &Expr) -> bool {
    const CAPTURING_METHODS: &[&str] = &[
        "clone",
        "to_owned",
        "to_string",
        "into",
        "as_ref",
        "as_str",
        "borrow",
    ];
    match expr {
        Expr::Path(_) | Expr::Lit(_) => true,
        Expr::Reference(r) => is_capture(&r.expr),
        Expr::Field(f) => is_capture(&f.base),
        Expr::Paren(p) => is_capture(&p.expr),
        Expr::Group(g) => is_capture(&g.expr),
        Expr::Tuple(t) => t.elems.iter().all(is_capture),
        Expr::MethodCall(m) => {
            m.args.is_empty()
                && m.turbofish.is_none()
                && CAPTURING_METHODS.iter().any(|name| m.method == name)
                && is_capture(&m.receiver)
        }
        Expr::Call(c) => {
            let Expr::Path(func) = &*c.func else {
                return false;
            };
            func.path
                .segments
                .last()
                .is_some_and(|s| s.ident == "clone")
                && c.args.len() == 1
                && c.args.iter().all(is_capture)
        }
        _ => false,
    }
}

/// The binding names in an argument pattern: `x`, `mut x`, `Parameters(req)`, `(a, b)`,
/// `Point { x, y }`, `&x`.
fn collect_bindings(pat: &Pat, out: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(p) => {
            out.push(p.ident.clone());
            if let Some((_, sub)) = &p.subpat {
                collect_bindings(sub, out);
            }
        }
        Pat::Reference(p) => collect_bindings(&p.pat, out),
        Pat::Type(p) => collect_bindings(&p.pat, out),
        Pat::Paren(p) => collect_bindings(&p.pat, out),
        Pat::Tuple(p) => p.elems.iter().for_each(|e| collect_bindings(e, out)),
        Pat::TupleStruct(p) => p.elems.iter().for_each(|e| collect_bindings(e, out)),
        Pat::Slice(p) => p.elems.iter().for_each(|e| collect_bindings(e, out)),
        Pat::Struct(p) => p.fields.iter().for_each(|f| collect_bindings(&f.pat, out)),
        _ => {}
    }
}

fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

/// `T` when `ty` is `Pin<Box<dyn Future<Output = T> ..>>` or `impl Future<Output = T> ..`.
fn future_output(ty: &Type) -> Option<Type> {
    match ty {
        Type::ImplTrait(it) => future_bound_output(it.bounds.iter()),
        Type::Path(tp) => {
            let pin = tp.path.segments.last()?;
            if pin.ident != "Pin" {
                return None;
            }
            let boxed = single_type_arg(&pin.arguments)?;
            let Type::Path(bp) = boxed else { return None };
            let b = bp.path.segments.last()?;
            if b.ident != "Box" {
                return None;
            }
            match single_type_arg(&b.arguments)? {
                Type::TraitObject(obj) => future_bound_output(obj.bounds.iter()),
                _ => None,
            }
        }
        Type::Paren(p) => future_output(&p.elem),
        Type::Group(g) => future_output(&g.elem),
        _ => None,
    }
}

fn single_type_arg(args: &PathArguments) -> Option<&Type> {
    let PathArguments::AngleBracketed(ab) = args else {
        return None;
    };
    let mut types = ab.args.iter().filter_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    });
    let first = types.next()?;
    types.next().is_none().then_some(first)
}

fn future_bound_output<'a>(mut bounds: impl Iterator<Item = &'a TypeParamBound>) -> Option<Type> {
    bounds.find_map(|b| {
        let TypeParamBound::Trait(t) = b else {
            return None;
        };
        let seg = t.path.segments.last()?;
        if seg.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(ab) = &seg.arguments else {
            return None;
        };
        ab.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(at) if at.ident == "Output" => Some(at.ty.clone()),
            _ => None,
        })
    })
}

/// The async block in tail position: `async move { .. }` or `Box::pin(async move { .. })`.
pub(crate) fn tail_async_block(block: &Block) -> Option<&ExprAsync> {
    let Some(Stmt::Expr(tail, None)) = block.stmts.last() else {
        return None;
    };
    async_in(tail)
}

/// Mutable access to the same block (for the expansion to replace its body).
pub(crate) fn tail_async_block_mut(block: &mut Block) -> Option<&mut ExprAsync> {
    let Some(Stmt::Expr(tail, None)) = block.stmts.last_mut() else {
        return None;
    };
    async_in_mut(tail)
}

fn async_in(expr: &Expr) -> Option<&ExprAsync> {
    match expr {
        Expr::Async(a) => Some(a),
        Expr::Call(call) if call.args.len() == 1 && is_box_pin(&call.func) => {
            async_in(call.args.first()?)
        }
        Expr::Paren(p) => async_in(&p.expr),
        Expr::Group(g) => async_in(&g.expr),
        _ => None,
    }
}

fn async_in_mut(expr: &mut Expr) -> Option<&mut ExprAsync> {
    match expr {
        Expr::Async(a) => Some(a),
        Expr::Call(call) if call.args.len() == 1 && is_box_pin(&call.func) => {
            async_in_mut(call.args.first_mut()?)
        }
        Expr::Paren(p) => async_in_mut(&mut p.expr),
        Expr::Group(g) => async_in_mut(&mut g.expr),
        _ => None,
    }
}

fn is_box_pin(func: &Expr) -> bool {
    let Expr::Path(p) = func else { return false };
    let segs: Vec<&syn::PathSegment> = p.path.segments.iter().collect();
    matches!(segs.as_slice(), [.., b, pin] if b.ident == "Box" && pin.ident == "pin")
}

/// Replaces `impl Trait` with `_` so the type can be named inside the body.
struct InferImplTrait;

impl VisitMut for InferImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(it) = ty {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: syn::Token![_](it.impl_token.span),
            });
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_future_outputs() {
        let boxed: Type = syn::parse_quote!(
            ::std::pin::Pin<Box<dyn ::std::future::Future<Output = Result<u8, E>> + Send + '_>>
        );
        let expected: Type = syn::parse_quote!(Result<u8, E>);
        assert_eq!(future_output(&boxed), Some(expected));
        let imp: Type = syn::parse_quote!(impl Future<Output = u8> + Send);
        assert!(future_output(&imp).is_some());
        let plain: Type = syn::parse_quote!(Result<u8, E>);
        assert!(future_output(&plain).is_none());
    }
}
