//! Parsing the attribute's arguments: `#[governed(key = value, key(..), ..)]`.
//!
//! Parsing never stops at the first mistake: every problem found is collected and reported
//! together (one `compile_error!` each, spanned on the offending tokens), so a user fixing the
//! attribute sees all of them at once.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::{Expr, ExprLit, Ident, Lit, LitBool, LitInt, LitStr, Path, Token};

/// Every argument the attribute accepts: the one list that parsing, the "valid arguments"
/// listing, the typo suggestions and the required-argument checks work from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    ActionType,
    Resource,
    ResourceId,
    RiskIndicators,
    Context,
    Description,
    ToolName,
    Skip,
    SkipAll,
    OnDenied,
    WaitForApproval,
    ApprovalTimeoutSecs,
    Client,
    Crate,
}

impl Key {
    /// In the order the docs list them.
    pub(crate) const ALL: [Key; 14] = [
        Key::ActionType,
        Key::Resource,
        Key::ResourceId,
        Key::RiskIndicators,
        Key::Context,
        Key::Description,
        Key::ToolName,
        Key::Skip,
        Key::SkipAll,
        Key::OnDenied,
        Key::WaitForApproval,
        Key::ApprovalTimeoutSecs,
        Key::Client,
        Key::Crate,
    ];

    /// The name as written in the attribute.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Key::ActionType => "action_type",
            Key::Resource => "resource",
            Key::ResourceId => "resource_id",
            Key::RiskIndicators => "risk_indicators",
            Key::Context => "context",
            Key::Description => "description",
            Key::ToolName => "tool_name",
            Key::Skip => "skip",
            Key::SkipAll => "skip_all",
            Key::OnDenied => "on_denied",
            Key::WaitForApproval => "wait_for_approval",
            Key::ApprovalTimeoutSecs => "approval_timeout_secs",
            Key::Client => "client",
            Key::Crate => "crate",
        }
    }

    fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Takes a parenthesised list (`skip(..)`), not `= value`.
    fn is_list(self) -> bool {
        matches!(self, Key::RiskIndicators | Key::Context | Key::Skip)
    }
}

/// `action_type, resource, …, skip(..), …`: for error messages.
fn valid_keys() -> String {
    Key::ALL
        .iter()
        .map(|k| {
            if k.is_list() {
                format!("{}(..)", k.name())
            } else {
                k.name().to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One `key = value` entry of `risk_indicators(..)` or `context(..)`.
pub(crate) struct Entry {
    pub key: String,
    pub value: Expr,
}

/// The attribute's arguments as written (before they are checked against the function).
#[derive(Default)]
pub(crate) struct Args {
    pub action_type: Option<LitStr>,
    pub resource: Option<Expr>,
    pub resource_id: Option<Expr>,
    pub risk_indicators: Vec<Entry>,
    pub context: Vec<Entry>,
    pub description: Option<LitStr>,
    pub tool_name: Option<LitStr>,
    pub skip: Vec<Ident>,
    pub skip_all: bool,
    pub on_denied: Option<Expr>,
    pub wait_for_approval: Option<LitBool>,
    pub approval_timeout_secs: Option<u64>,
    pub client: Option<Expr>,
    pub krate: Option<Path>,
}

/// Collects arguments and errors while `syn::meta::parser` walks the attribute.
#[derive(Default)]
pub(crate) struct ArgsParser {
    args: Args,
    seen: Vec<Key>,
    errors: Vec<syn::Error>,
}

impl ArgsParser {
    /// Handles one top-level argument. Returns `Err` only when the token stream itself cannot be
    /// walked any further; mistakes in an argument are recorded and parsing goes on.
    pub(crate) fn parse_one(&mut self, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        let Some(ident) = meta.path.get_ident() else {
            self.errors.push(syn::Error::new_spanned(
                &meta.path,
                format!(
                    "expected an argument name, found a path; valid arguments are: {}",
                    valid_keys()
                ),
            ));
            return skip_value(&meta);
        };
        let written = ident.to_string();
        let written = written.strip_prefix("r#").unwrap_or(&written).to_owned();
        let Some(key) = Key::from_name(&written) else {
            let mut msg = format!("unknown argument `{written}`");
            if let Some(suggestion) = closest_key(&written) {
                msg.push_str(&format!(" (did you mean `{suggestion}`?)"));
            }
            msg.push_str(&format!("; valid arguments are: {}", valid_keys()));
            self.errors.push(syn::Error::new(ident.span(), msg));
            return skip_value(&meta);
        };
        if self.seen.contains(&key) {
            self.errors.push(syn::Error::new(
                ident.span(),
                format!(
                    "duplicate argument `{}`: each argument may be given at most once",
                    key.name()
                ),
            ));
            return skip_value(&meta);
        }
        self.seen.push(key);
        self.parse_value(key, ident, &meta)
    }

    /// The value of one (known, first-seen) argument.
    fn parse_value(
        &mut self,
        key: Key,
        ident: &Ident,
        meta: &ParseNestedMeta<'_>,
    ) -> syn::Result<()> {
        let name = key.name();
        match key {
            Key::ActionType => {
                let lit = self.string_value(meta, name, "\"database.write\"")?;
                self.args.action_type = self.not_blank(lit, name);
            }
            Key::Description => {
                self.args.description = self.string_value(meta, name, "\"what it does\"")?;
            }
            Key::ToolName => {
                let lit = self.string_value(meta, name, "\"update_address\"")?;
                self.args.tool_name = self.not_blank(lit, name);
            }
            Key::Resource => {
                let Some(expr) = self.value(meta, "resource = \"customer_profiles\"")? else {
                    return Ok(());
                };
                match &expr {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) if s.value().trim().is_empty() => {
                        self.errors
                            .push(syn::Error::new(s.span(), "`resource` must not be empty"));
                    }
                    // Any other literal is an expression like the rest: `42` and `true`
                    // implement `Display`; `b"x"` does not, and the compiler says so.
                    _ => {}
                }
                self.args.resource = Some(expr);
            }
            Key::ResourceId => {
                self.args.resource_id = self.value(meta, "resource_id = customer_id")?;
            }
            Key::OnDenied => {
                self.args.on_denied = self.value(meta, "on_denied = my_fallback")?;
            }
            Key::Client => {
                self.args.client = self.value(meta, "client = &self.client")?;
            }
            Key::WaitForApproval => {
                let Some(expr) = self.value(meta, "wait_for_approval = false")? else {
                    return Ok(());
                };
                match expr {
                    Expr::Lit(ExprLit {
                        lit: Lit::Bool(b), ..
                    }) => self.args.wait_for_approval = Some(b),
                    other => self.errors.push(syn::Error::new_spanned(
                        other,
                        "`wait_for_approval` must be `true` or `false`",
                    )),
                }
            }
            Key::ApprovalTimeoutSecs => {
                let Some(expr) = self.value(meta, "approval_timeout_secs = 60")? else {
                    return Ok(());
                };
                match expr {
                    Expr::Lit(ExprLit {
                        lit: Lit::Int(i), ..
                    }) => self.timeout(&i),
                    other => self.errors.push(syn::Error::new_spanned(
                        other,
                        "`approval_timeout_secs` must be an integer literal (seconds), like \
                         `approval_timeout_secs = 300`",
                    )),
                }
            }
            Key::Crate => {
                if let Some(lit) =
                    self.string_value(meta, name, "\"my_reexport::ascend_runtime\"")?
                {
                    match lit.parse::<Path>() {
                        Ok(path) => self.args.krate = Some(path),
                        Err(_) => self.errors.push(syn::Error::new(
                            lit.span(),
                            "`crate` must be a path, like `crate = \"my_crate::ascend_runtime\"`",
                        )),
                    }
                }
            }
            Key::SkipAll => {
                if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                    self.errors.push(syn::Error::new(
                        ident.span(),
                        "`skip_all` takes no value: write `skip_all`",
                    ));
                    return skip_value(meta);
                }
                self.args.skip_all = true;
            }
            Key::Skip => return self.skip_list(ident, meta),
            Key::RiskIndicators => self.args.risk_indicators = self.entries(meta, name)?,
            Key::Context => self.args.context = self.entries(meta, name)?,
        }
        Ok(())
    }

    /// `skip(a, b)`: parameter names.
    fn skip_list(&mut self, ident: &Ident, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        if !meta.input.peek(syn::token::Paren) {
            self.errors.push(syn::Error::new(
                ident.span(),
                "expected a list of parameter names: `skip(pool, conn)`",
            ));
            return skip_value(meta);
        }
        let mut names = Vec::new();
        let mut errors = Vec::new();
        meta.parse_nested_meta(|inner| {
            match inner.path.get_ident() {
                Some(name) if inner.input.is_empty() || inner.input.peek(Token![,]) => {
                    names.push(name.clone())
                }
                _ => {
                    errors.push(syn::Error::new_spanned(
                        &inner.path,
                        "expected a parameter name: `skip(pool, conn)`",
                    ));
                    skip_value(&inner)?;
                }
            }
            Ok(())
        })?;
        self.errors.extend(errors);
        self.args.skip = names;
        Ok(())
    }

    /// Records an error when a string argument is blank; the literal is kept either way.
    fn not_blank(&mut self, lit: Option<LitStr>, key: &str) -> Option<LitStr> {
        if let Some(blank) = lit.as_ref().filter(|l| l.value().trim().is_empty()) {
            self.errors.push(syn::Error::new(
                blank.span(),
                format!("`{key}` must not be empty"),
            ));
        }
        lit
    }

    /// Finish: check what is required; returns the arguments understood so far and, when anything
    /// was wrong, every error found.
    pub(crate) fn finish(mut self) -> (Args, Option<syn::Error>) {
        if self.args.action_type.is_none() && !self.seen.contains(&Key::ActionType) {
            self.errors.push(syn::Error::new(
                Span::call_site(),
                "missing `action_type`: write `#[governed(action_type = \"database.write\", \
                 resource = \"...\")]`",
            ));
        }
        if self.args.resource.is_none() && !self.seen.contains(&Key::Resource) {
            self.errors.push(syn::Error::new(
                Span::call_site(),
                "missing `resource`: write `#[governed(action_type = \"...\", \
                 resource = \"customer_profiles\")]` (a string literal, or an expression over \
                 the arguments)",
            ));
        }
        let errors = combine(self.errors);
        (self.args, errors)
    }

    /// Record an error found outside the attribute's own grammar (e.g. the token stream ended early).
    pub(crate) fn push_error(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// `= <expr>` after a key; without `=` the mistake is recorded, the rest skipped, `None` returned.
    fn value(&mut self, meta: &ParseNestedMeta<'_>, example: &str) -> syn::Result<Option<Expr>> {
        if !meta.input.peek(Token![=]) {
            self.errors.push(syn::Error::new_spanned(
                &meta.path,
                format!("expected a value: `{example}`"),
            ));
            skip_value(meta)?;
            return Ok(None);
        }
        Ok(Some(ungroup(meta.value()?.parse::<Expr>()?)))
    }

    fn timeout(&mut self, lit: &LitInt) {
        match lit.base10_parse::<u64>() {
            Ok(0) => self.errors.push(syn::Error::new(
                lit.span(),
                "`approval_timeout_secs` must be at least 1",
            )),
            Ok(n) => self.args.approval_timeout_secs = Some(n),
            Err(_) => self.errors.push(syn::Error::new(
                lit.span(),
                "`approval_timeout_secs` must be a whole number of seconds that fits in a u64",
            )),
        }
    }

    /// `key = "literal"`; a non-string value is recorded as an error and yields `None`.
    fn string_value(
        &mut self,
        meta: &ParseNestedMeta<'_>,
        key: &str,
        example: &str,
    ) -> syn::Result<Option<LitStr>> {
        let Some(expr) = self.value(meta, &format!("{key} = {example}"))? else {
            return Ok(None);
        };
        match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(Some(s)),
            other => {
                self.errors.push(syn::Error::new_spanned(
                    other,
                    format!("`{key}` must be a string literal, like `{key} = {example}`"),
                ));
                Ok(None)
            }
        }
    }

    /// `key(name = value, ...)`: literal or expression values, each name at most once.
    fn entries(&mut self, meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<Vec<Entry>> {
        if !meta.input.peek(syn::token::Paren) {
            self.errors.push(syn::Error::new_spanned(
                &meta.path,
                format!("expected a list: `{key}(name = value, ...)`"),
            ));
            skip_value(meta)?;
            return Ok(Vec::new());
        }
        let mut entries: Vec<Entry> = Vec::new();
        let mut errors = Vec::new();
        meta.parse_nested_meta(|inner| {
            let Some(name) = inner.path.get_ident() else {
                errors.push(syn::Error::new_spanned(
                    &inner.path,
                    format!("expected a name: `{key}(name = value)`"),
                ));
                return skip_value(&inner);
            };
            let name_str = name.to_string();
            let name_str = name_str.strip_prefix("r#").unwrap_or(&name_str).to_owned();
            if !inner.input.peek(Token![=]) {
                errors.push(syn::Error::new(
                    name.span(),
                    format!("expected a value: `{key}({name_str} = value)`"),
                ));
                return skip_value(&inner);
            }
            let value: Expr = inner.value()?.parse()?;
            if entries.iter().any(|e| e.key == name_str) {
                errors.push(syn::Error::new(
                    name.span(),
                    format!("duplicate `{name_str}` in `{key}(..)`"),
                ));
            } else {
                entries.push(Entry {
                    key: name_str,
                    value,
                });
            }
            Ok(())
        })?;
        self.errors.extend(errors);
        Ok(entries)
    }
}

/// A literal passed through a `macro_rules!` fragment (`$lit`) arrives wrapped in an invisible
/// group; look through it so it counts as the literal it is.
fn ungroup(expr: Expr) -> Expr {
    match expr {
        Expr::Group(g) if matches!(*g.expr, Expr::Lit(_) | Expr::Group(_)) => ungroup(*g.expr),
        other => other,
    }
}

/// Consume whatever value follows a key we are not going to use (`= expr` or `(..)`), so that
/// parsing continues with the next argument.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

/// The valid key closest to a misspelt one, when it is close enough to be a likely typo.
fn closest_key(key: &str) -> Option<&'static str> {
    Key::ALL
        .iter()
        .map(|k| k.name())
        .map(|k| (k, edit_distance(key, k)))
        .filter(|(k, d)| *d <= (k.len() / 3).max(1))
        .min_by_key(|(_, d)| *d)
        .map(|(k, _)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Combine errors into one `syn::Error` (it renders as one `compile_error!` per message).
pub(crate) fn combine(errors: impl IntoIterator<Item = syn::Error>) -> Option<syn::Error> {
    errors.into_iter().reduce(|mut acc, e| {
        acc.combine(e);
        acc
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        assert_eq!(closest_key("action_typ"), Some("action_type"));
        assert_eq!(closest_key("resorce"), Some("resource"));
        assert_eq!(closest_key("skipall"), Some("skip_all"));
        assert_eq!(closest_key("something_else"), None);
    }
}
