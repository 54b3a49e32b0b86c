//! Generating the governed function from the model.
//!
//! The signature, the attributes (docs, `#[tool(..)]`, lints, …) and the body's tokens are
//! re-emitted with their original spans; only the body is wrapped. The generated code names the
//! runtime through absolute paths (`::ascend_runtime::__private::…`, or the `crate = ".."`
//! path) and `::core::…`, and its local variables are `mixed_site` hygienic, so nothing the user
//! writes in the body (a `use`, a local named like ours) changes its meaning, and vice versa.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, ExprLit, FnArg, ItemFn, Lit, LitStr, Stmt};

use crate::shape::{Model, Shape, tail_async_block_mut};

/// Local names of the generated code (hygienic: invisible to the body, immune to its names).
struct Locals {
    call: syn::Ident,
    action: syn::Ident,
    gate: syn::Ident,
    ret: syn::Ident,
    err: syn::Ident,
}

impl Locals {
    fn new() -> Self {
        let ident = |s: &str| syn::Ident::new(s, Span::mixed_site());
        Locals {
            call: ident("__ascend_call"),
            action: ident("__ascend_action"),
            gate: ident("__ascend_gate"),
            ret: ident("__ascend_ret"),
            err: ident("__ascend_err"),
        }
    }
}

/// The governed function.
pub(crate) fn expand(model: &Model, mut item: ItemFn) -> TokenStream {
    let runtime = match &model.args.krate {
        Some(path) => quote!(#path),
        None => quote!(::ascend_runtime),
    };
    let private = quote!(#runtime::__private);
    let l = Locals::new();

    let prologue = prologue(model, &item, &private, &l);
    let denied = denied(model, &private, &l);
    let output = &model.output;
    let (call, action, gate, ret, err) = (&l.call, &l.action, &l.gate, &l.ret, &l.err);
    let outcome = quote! {
        {
            use #private::autoref::*;
            (&&&&#private::Out(&#ret)).__ascend_outcome()
        }
    };

    let typed_body = |inner: &Block| typed_body(inner, output, &private);
    let authorize_async = |inner: &Block| {
        let body = typed_body(inner);
        quote! {
            match #call.authorize(#action).await {
                ::core::result::Result::Ok(#gate) => {
                    let #ret = #gate.run(::core::pin::pin!(async move #body)).await;
                    #gate.finish(#outcome);
                    #ret
                }
                ::core::result::Result::Err(#err) => #denied,
            }
        }
    };

    match &model.shape {
        Shape::Async => {
            let decide = authorize_async(&item.block);
            let body = quote!(#prologue #decide);
            *item.block = verbatim_block(&item.block, body);
        }
        Shape::Sync => {
            let inner = &item.block;
            let body = quote! {
                #prologue
                match #call.authorize_blocking(#action) {
                    ::core::result::Result::Ok(#gate) => {
                        let #ret = #gate.run_blocking::<#output, _>(move || #inner);
                        #gate.finish(#outcome);
                        #ret
                    }
                    ::core::result::Result::Err(#err) => #denied,
                }
            };
            *item.block = verbatim_block(&item.block, body);
        }
        Shape::Future => {
            // The request is built when the function is called, before the statements that
            // precede the returned future (which may move the arguments); the decision is asked
            // for when the future is first polled. `Model` has checked that those statements
            // only capture values, so nothing runs ungoverned.
            if let Some(async_block) = tail_async_block_mut(&mut item.block) {
                let decide = authorize_async(&async_block.block);
                async_block.block = verbatim_block(&async_block.block, decide);
            }
            let mut stmts = vec![Stmt::Expr(Expr::Verbatim(prologue), None)];
            stmts.append(&mut item.block.stmts);
            item.block.stmts = stmts;
        }
    }
    quote!(#item)
}

/// `{ let ret: Output = { body }; ret }`: the body checked against the function's return type,
/// so that its value coerces as in the original function (`Ok(s)` with `s: &String` for a
/// `Result<&str, _>`, `Ok(Box::new(n))` for a `Result<Box<dyn Trait>, _>`). An async block has
/// no expected type of its own; `return` expressions inside the body get theirs through
/// `__private::typed::<Output>(..)`.
fn typed_body(inner: &Block, output: &syn::Type, private: &TokenStream) -> TokenStream {
    let ret = syn::Ident::new("__ascend_value", Span::mixed_site());
    let mut inner = inner.clone();
    TypedReturns { output, private }.visit_block_mut(&mut inner);
    quote! {
        {
            #[allow(clippy::let_and_return)]
            let #ret: #output = #inner;
            #[allow(unreachable_code)]
            #ret
        }
    }
}

/// Gives every `return <expr>` of the body (not of nested closures, async blocks or items) the
/// function's return type as its expected type.
struct TypedReturns<'a> {
    output: &'a syn::Type,
    private: &'a TokenStream,
}

impl VisitMut for TypedReturns<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Closure(_) | Expr::Async(_) => {}
            Expr::Return(r) => {
                if let Some(value) = r.expr.as_mut() {
                    self.visit_expr_mut(value);
                    let (output, private) = (self.output, self.private);
                    let span = value.span();
                    let typed = quote_spanned!(span=> #private::typed::<#output>(#value));
                    **value = Expr::Verbatim(typed);
                }
            }
            _ => syn::visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// A block with the original braces (and so the original span) holding `tokens`.
fn verbatim_block(original: &Block, tokens: TokenStream) -> Block {
    Block {
        brace_token: original.brace_token,
        stmts: vec![Stmt::Expr(Expr::Verbatim(tokens), None)],
    }
}

/// `let call = ..; let action = ..;` — the client, the span and the action request.
fn prologue(model: &Model, item: &ItemFn, private: &TokenStream, l: &Locals) -> TokenStream {
    let args = &model.args;
    let (call, action) = (&l.call, &l.action);

    let action_type = args
        .action_type
        .as_ref()
        .map(LitStr::value)
        .unwrap_or_default();
    let tool_name = args
        .tool_name
        .as_ref()
        .map(LitStr::value)
        .unwrap_or_else(|| {
            let s = item.sig.ident.to_string();
            s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
        });
    let description = match &args.description {
        Some(d) => quote!(::core::option::Option::Some(#d)),
        None => quote!(::core::option::Option::None),
    };
    let wait = args.wait_for_approval.as_ref().is_none_or(|b| b.value);
    let timeout = args.approval_timeout_secs.unwrap_or(60);

    let client = match &args.client {
        Some(expr) => quote_spanned!(expr.span()=> #private::client_from(&(#expr))),
        None => quote!(::core::option::Option::None),
    };

    let resource = match &args.resource {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        })) => quote!(#private::text(#s)),
        Some(expr) => quote_spanned!(expr.span()=> #private::display(&(#expr))),
        None => quote!(#private::text("")),
    };
    let resource_id = match &args.resource_id {
        Some(expr) => {
            quote_spanned!(expr.span()=> ::core::option::Option::Some(#private::display(&(#expr))))
        }
        None => quote!(::core::option::Option::None),
    };

    // Every parameter goes with its name to the runtime, which sends `"[REDACTED]"` without
    // serializing the value when the name looks secret (`ascend_runtime::redact`: one rule for
    // parameters, nested keys, MCP arguments and the server).
    let names = model.params.iter().map(|p| &p.name);
    let params = model.params.iter().enumerate().map(|(i, p)| {
        let name = &p.name;
        // The binding as written, so it resolves to the argument even when the function
        // comes out of a `macro_rules!` macro. A `_name` binding is re-spanned at the call
        // site instead: reading it is ours, not the user's (`clippy::used_underscore_binding`).
        let mut ident = p.ident.clone();
        if p.name.starts_with('_') {
            ident.set_span(Span::call_site());
        }
        quote!((#name, (&&#private::Val(&#ident)).__ascend_json(#call.is_secret(#i))))
    });
    let entries = |entries: &[crate::args::Entry]| {
        let items = entries.iter().map(|e| {
            let key = &e.key;
            let value = &e.value;
            quote_spanned!(value.span()=> (#key, #private::json(&(#value))))
        });
        quote!([#(#items),*])
    };
    let indicators = entries(&args.risk_indicators);
    let context = entries(&args.context);

    let is_method =
        args.tool_name.is_none() && matches!(item.sig.inputs.first(), Some(FnArg::Receiver(_)));
    let (constructor, self_type) = if is_method {
        (quote!(method), quote!(, ::core::any::type_name::<Self>()))
    } else {
        (quote!(new), TokenStream::new())
    };

    let meta = syn::Ident::new("__ASCEND_META", Span::mixed_site());
    quote! {
        let #call = {
            static #meta: #private::Meta = #private::Meta {
                action_type: #action_type,
                tool_name: #tool_name,
                description: #description,
                module_path: ::core::module_path!(),
                code_location: ::core::concat!(::core::file!(), ":", ::core::line!()),
                wait_for_approval: #wait,
                approval_timeout_secs: #timeout,
                params: &[#(#names),*],
                secrets: #private::SecretMask::new(),
            };
            #private::Call::#constructor(&#meta, #client #self_type)
        };
        let #action = {
            use #private::autoref::*;
            #call.action(
                #resource,
                #resource_id,
                [#(#params),*],
                #indicators,
                #context,
            )
        };
    }
}

/// What the function evaluates to when the action may not run.
///
/// The call is spanned on what the user must change when it does not type-check: the return
/// type (no `on_denied`: it must be a `Result` whose error converts from the runtime's), or the
/// `on_denied` handler (it must take the error and return the function's type).
fn denied(model: &Model, private: &TokenStream, l: &Locals) -> TokenStream {
    let err = &l.err;
    let output = &model.output;
    match &model.args.on_denied {
        Some(handler) => {
            let span = handler.span();
            let private = respan(private.clone(), span);
            match model.shape {
                Shape::Sync => {
                    quote_spanned!(span=> #private::on_denied::<#output, _>(#handler, #err))
                }
                Shape::Async | Shape::Future => quote_spanned! {span=>
                    #private::on_denied_async::<#output, _, _, _>(#handler, #err).await
                },
            }
        }
        None => {
            let span = model.output_span;
            let private = respan(private.clone(), span);
            quote_spanned!(span=> #private::denied(#err))
        }
    }
}

/// The same tokens, all spanned at `span` (so a diagnostic about them points there).
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}
