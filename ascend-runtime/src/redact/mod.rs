//! The one rule for "does this name look like it holds a secret", and redaction of JSON values.
//!
//! Everything that keeps secrets out of what leaves a process or gets stored uses this module:
//! `#[governed]` (parameter names, checked before a value is serialized, and keys inside
//! serialized values), the MCP guard (the `mcp` module, feature `mcp`: tool arguments) and `ascend-server`
//! (stored requests, audit entries, the MCP registry's connection configs).
//!
//! # The rule
//!
//! A name is split into words at `_`, `-`, `.`, spaces and any other non-alphanumeric
//! character, and at camelCase boundaries (a capital after a lower-case letter or digit), and
//! compared case-insensitively. It looks secret when
//!
//! - one of its words is one of [`SECRET_WORDS`] (`password`, `pwd`, `token`, `key`, `keys`,
//!   `auth`, `bearer`, `cookie`, `otp`, `pin`, …) — so `api_key`, `sshKey`, `X-Api-Key` and
//!   `pin_code` are secret but `keyboard`, `monkey` and `spin` are not; or
//! - the name with its separators removed contains one of [`SECRET_FRAGMENTS`] (`password`,
//!   `secret`, `token`, `apikey`, `auth`, `credential`, `privatekey`, `accesskey`,
//!   `sessionid`, …) — so `GitHubToken`, `client_secret`, `private_key`, `access_token`,
//!   `DBPASSWORD` are secret. This errs on the safe side on purpose: `author` contains `auth`
//!   and is redacted too.
//!
//! # What is redacted
//!
//! - A **parameter** of a `#[governed]` function whose name is secret is sent as
//!   [`REDACTED`] without its value ever being serialized, whatever its type.
//! - Inside **JSON values** ([`redact_value`], [`should_redact`]), the value under a secret key
//!   is replaced by [`REDACTED`] whatever it is (string, number, object, array) — except
//!   `true`, `false` and `null`, which cannot carry a secret and are often flags a reader needs
//!   (`"requires_auth": true`). This is the same everywhere: runtime, MCP guard and server.
//! - Inside **any other string** of a JSON value, secrets recognised by their shape are
//!   replaced, and only they ([`redact_secrets_in`]): payment card numbers (Luhn-checked),
//!   JWTs, PEM private keys, AWS / GitHub / GitLab / Slack / Stripe / OpenAI / Anthropic /
//!   Google key prefixes, `Bearer …` credentials and passwords in URLs, each by a marker naming
//!   its kind (`[REDACTED:card]`, see [`VALUE_KINDS`]). A JSON number that is a card number is
//!   replaced too.
//!
//! ```
//! use ascend_runtime::redact::{is_secret_name, redact_value, REDACTED};
//! use serde_json::json;
//!
//! assert!(is_secret_name("apiKey"));
//! assert!(is_secret_name("DB_PASSWORD"));
//! assert!(!is_secret_name("customer_id"));
//!
//! let mut v = json!({"user": "ann", "auth": {"password": "hunter2"}, "requires_auth": true,
//!                    "items": [{"session_token": "t", "n": 1}]});
//! redact_value(&mut v);
//! assert_eq!(v, json!({"user": "ann", "auth": REDACTED, "requires_auth": true,
//!                      "items": [{"session_token": REDACTED, "n": 1}]}));
//! ```

use serde_json::Value;

mod values;

pub use values::{VALUE_KINDS, contains_secret, redact_secrets_in};

/// What the value of a secret-looking name becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Whole words (lower case) that make a name look secret.
pub const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "secrets",
    "token",
    "tokens",
    "key",
    "keys",
    "apikey",
    "credential",
    "credentials",
    "creds",
    "auth",
    "authorization",
    "bearer",
    "cookie",
    "cookies",
    "otp",
    "pin",
    "privatekey",
];

/// Fragments (lower case, no separators) that make a name look secret wherever they appear
/// in it once its separators are removed.
pub const SECRET_FRAGMENTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "auth",
    "credential",
    "privatekey",
    "accesskey",
    "cookie",
    "sessionid",
];

/// Whether `name` looks like it holds a secret (see the [module docs](self) for the rule).
///
/// Allocation-free: it runs for every parameter of every governed call.
///
/// ```
/// use ascend_runtime::redact::is_secret_name;
/// for secret in ["password", "api_key", "X-Api-Key", "sshKey", "GitHubToken", "private_key",
///                "AWS_Secret_Access_Key", "sessionId", "Authorization", "pin"] {
///     assert!(is_secret_name(secret), "{secret}");
/// }
/// for plain in ["path", "customer_id", "keyboard_layout", "monkey", "amount"] {
///     assert!(!is_secret_name(plain), "{plain}");
/// }
/// ```
pub fn is_secret_name(name: &str) -> bool {
    words(name).any(|word| SECRET_WORDS.iter().any(|w| eq_lower(word, w)))
        || contains_fragment(name)
}

/// Whether the value under `key` in a JSON object must be replaced by [`REDACTED`]: the key
/// looks secret and the value is not `true`, `false` or `null`.
pub fn should_redact(key: &str, value: &Value) -> bool {
    !matches!(value, Value::Bool(_) | Value::Null) && is_secret_name(key)
}

/// Replace, at any depth (objects inside arrays included), the values under secret-looking
/// keys by [`REDACTED`] (see [`should_redact`]), and every secret recognised by its shape
/// inside any other string ([`redact_secrets_in`]: card numbers, JWTs, PEM keys, cloud key
/// prefixes, passwords in URLs). Works without recursion, so deeply nested input cannot
/// overflow the stack.
///
/// ```
/// use ascend_runtime::redact::{redact_value, REDACTED};
/// use serde_json::json;
/// let mut v = json!({"note": "use AKIAIOSFODNN7EXAMPLE", "dsn": "mysql://u:pw@db/app",
///                    "cards": ["4111-1111-1111-1111"], "order": "4111111111111112"});
/// redact_value(&mut v);
/// assert_eq!(v, json!({"note": "use [REDACTED:aws-key]",
///                      "dsn": "mysql://u:[REDACTED:password]@db/app",
///                      "cards": ["[REDACTED:card]"], "order": "4111111111111112"}));
/// ```
pub fn redact_value(value: &mut Value) {
    // A scalar (most parameters) needs no work list.
    if !matches!(value, Value::Object(_) | Value::Array(_)) {
        redact_scalar(value);
        return;
    }
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        match v {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if should_redact(key, child) {
                        *child = Value::String(REDACTED.to_owned());
                    } else {
                        pending.push(child);
                    }
                }
            }
            Value::Array(items) => pending.extend(items.iter_mut()),
            scalar => redact_scalar(scalar),
        }
    }
}

/// [`redact_value`] of a string, number, boolean or null.
fn redact_scalar(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Some(clean) = redact_secrets_in(s) {
                *s = clean;
            }
        }
        Value::Number(n) if n.as_u64().is_some_and(values::is_card_number) => {
            *v = Value::String("[REDACTED:card]".to_owned());
        }
        _ => {}
    }
}

/// `s` cut to at most `max_chars` characters (never inside a character); when something was
/// cut, a note `…[truncated N chars]` says how much.
///
/// ```
/// use ascend_runtime::redact::truncate;
/// assert_eq!(truncate("short", 10), "short");
/// assert_eq!(truncate("ééééé", 2), "éé…[truncated 3 chars]");
/// ```
pub fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_owned(),
        Some((cut, _)) => {
            let rest = s[cut..].chars().count();
            format!("{}…[truncated {rest} chars]", &s[..cut])
        }
    }
}

fn is_separator(c: char) -> bool {
    !c.is_alphanumeric()
}

/// The words of `name`: split at separators and camelCase boundaries.
fn words(name: &str) -> impl Iterator<Item = &str> {
    let mut rest = name;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches(is_separator);
        if rest.is_empty() {
            return None;
        }
        let mut prev_lower = false;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            if is_separator(c) || (i > 0 && prev_lower && c.is_uppercase()) {
                end = i;
                break;
            }
            prev_lower = c.is_lowercase() || c.is_numeric();
        }
        let (word, tail) = rest.split_at(end);
        rest = tail;
        Some(word)
    })
}

/// `word`, lower-cased, equals `lower`.
fn eq_lower(word: &str, lower: &str) -> bool {
    if word.is_ascii() {
        word.eq_ignore_ascii_case(lower)
    } else {
        word.chars().flat_map(char::to_lowercase).eq(lower.chars())
    }
}

/// Whether `name`, lower-cased with its separators removed, contains a [`SECRET_FRAGMENTS`]
/// entry.
fn contains_fragment(name: &str) -> bool {
    // Fast path: ASCII names up to 64 bytes are folded into a stack buffer (no allocation);
    // anything else is folded into a String. The fragments are lower-case ASCII.
    let mut stack = [0u8; 64];
    let mut len = 0;
    let folded: std::borrow::Cow<'_, [u8]> = if name.is_ascii() && name.len() <= stack.len() {
        for b in name.bytes().filter(u8::is_ascii_alphanumeric) {
            stack[len] = b.to_ascii_lowercase();
            len += 1;
        }
        std::borrow::Cow::Borrowed(&stack[..len])
    } else {
        let joined: String = name
            .chars()
            .filter(|c| !is_separator(*c))
            .flat_map(char::to_lowercase)
            .collect();
        std::borrow::Cow::Owned(joined.into_bytes())
    };
    SECRET_FRAGMENTS.iter().any(|fragment| {
        let f = fragment.as_bytes();
        folded.len() >= f.len() && folded.windows(f.len()).any(|w| w == f)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn words_split_snake_kebab_and_camel_case() {
        let split = |s| words(s).collect::<Vec<_>>();
        assert_eq!(split("db_password"), ["db", "password"]);
        assert_eq!(split("X-Api-Key"), ["X", "Api", "Key"]);
        assert_eq!(split("sshKey"), ["ssh", "Key"]);
        assert_eq!(split("APIKey"), ["APIKey"]);
        assert_eq!(split("v2Token"), ["v2", "Token"]);
        assert_eq!(split("__a..b  "), ["a", "b"]);
        assert!(split("").is_empty());
        assert!(split("_-.").is_empty());
    }

    #[test]
    fn every_rule_of_the_former_copies_is_kept() {
        // The macro's and runtime's word lists and fragments, the MCP guard's and the server's
        // markers and `key` / `_key` / `-key` rule: all of them.
        for name in [
            "password",
            "db_password",
            "passwd",
            "pwd",
            "passphrase",
            "secret",
            "secrets",
            "client_secret",
            "token",
            "tokens",
            "access_token",
            "refresh_token",
            "GitHubToken",
            "SESSION_TOKEN",
            "key",
            "keys",
            "api_key",
            "apiKey",
            "apikey",
            "APIKey",
            "X-Api-Key",
            "ssh-key",
            "sshKey",
            "key_id",
            "AWS_Secret_Access_Key",
            "aws_access_key",
            "credential",
            "credentials",
            "creds",
            "auth",
            "auth_header",
            "Authorization",
            "proxyAuthorization",
            "bearer",
            "cookie",
            "SESSION_COOKIE",
            "set_cookies",
            "otp",
            "pin",
            "private_key",
            "privateKey",
            "session_id",
            "sessionId",
            "author",
            "oauth_state",
        ] {
            assert!(is_secret_name(name), "{name} should look secret");
        }
        for name in [
            "customer_id",
            "keyboard",
            "keyboard_layout",
            "monkey",
            "address",
            "amount",
            "path",
            "spin",
            "pinned",
            "",
            "_",
            "données",
        ] {
            assert!(!is_secret_name(name), "{name} should not look secret");
        }
    }

    #[test]
    fn case_insensitive_beyond_ascii() {
        assert!(is_secret_name("PASSWORD"));
        assert!(is_secret_name("Pass_Word"));
        // U+212A KELVIN SIGN lower-cases to `k`.
        assert!(is_secret_name("\u{212A}ey"));
    }

    #[test]
    fn redacts_nested_values_but_keeps_flags() {
        let mut v = json!({
            "user": "ann",
            "password": "hunter2",
            "pin": 1234,
            "nested": [{"apiKey": "k", "note": "fine"}, [{"credentials": {"a": "b"}}]],
            "requires_auth": true,
            "token": null,
            "list": ["token", "secret"],
        });
        redact_value(&mut v);
        assert_eq!(
            v,
            json!({
                "user": "ann",
                "password": REDACTED,
                "pin": REDACTED,
                "nested": [{"apiKey": REDACTED, "note": "fine"}, [{"credentials": REDACTED}]],
                "requires_auth": true,
                "token": null,
                "list": ["token", "secret"],
            })
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut v = json!({"password": "x"});
        for _ in 0..10_000 {
            v = Value::Array(vec![v]);
        }
        redact_value(&mut v);
        let mut inner = &v;
        while let Value::Array(items) = inner {
            inner = &items[0];
        }
        assert_eq!(inner["password"], REDACTED);
        // Dropping 10 000 levels recursively is serde_json's business; unwind it here.
        while let Value::Array(mut items) = v {
            v = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn truncation_is_char_safe() {
        let s = "é".repeat(10);
        assert_eq!(truncate(&s, 20), s);
        assert_eq!(truncate(&s, 10), s);
        assert_eq!(truncate(&s, 3), "ééé…[truncated 7 chars]");
        assert_eq!(truncate("abc", 0), "…[truncated 3 chars]");
    }
}
