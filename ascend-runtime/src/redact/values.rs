//! Secrets recognised by their shape, whatever key they sit under: payment card numbers (Luhn
//! checked, known issuer prefixes), JSON Web Tokens, PEM private keys, well-known cloud and
//! SaaS key prefixes, `Bearer` credentials and passwords inside URLs.
//!
//! [`redact_secrets_in`] replaces only the secret part of a string (`"card 4111 1111 1111 1111
//! exp 12/29"` → `"card [REDACTED:card] exp 12/29"`; `postgres://app:pw@db/x` →
//! `postgres://app:[REDACTED:password]@db/x`), so the rest of a message stays readable. It is linear in
//! the length of the string and allocates only when it finds something.
//!
//! What is *not* recognised (look-alikes that stay as they are): 16-digit numbers that fail the
//! Luhn check or start with no card issuer's digit, UUIDs, git object ids, base64 without a JWT
//! header, `sk-` or `AKIA` followed by too few characters, URLs with a user name but no
//! password.

/// A found secret: byte range and kind (the kind names the marker, `[REDACTED:<kind>]`).
type Span = (usize, usize, &'static str);

/// The kinds of secret recognised by shape; each is replaced by `[REDACTED:<kind>]`, so a
/// reader (and the server's risk engine, which scores "a message carries a card number" the
/// same whether the client redacted it or not) still knows what was there.
pub const VALUE_KINDS: &[&str] = &[
    "card",
    "jwt",
    "private-key",
    "password",
    "credential",
    "aws-key",
    "token",
];

/// `s` with every recognised secret replaced by `[REDACTED:<kind>]` (see [`VALUE_KINDS`]), or
/// `None` when there is none.
///
/// ```
/// use ascend_runtime::redact::redact_secrets_in;
/// assert_eq!(redact_secrets_in("card 4111 1111 1111 1111 exp 12/29").as_deref(),
///            Some("card [REDACTED:card] exp 12/29"));
/// assert_eq!(redact_secrets_in("postgres://app:hunter2@db:5432/x").as_deref(),
///            Some("postgres://app:[REDACTED:password]@db:5432/x"));
/// assert_eq!(redact_secrets_in("order 4111 1111 1111 1112"), None); // fails Luhn
/// ```
pub fn redact_secrets_in(s: &str) -> Option<String> {
    // Cheap exit for the common case: short strings without digits or token-ish characters
    // (single words, enum values) cannot hold any of the shapes below.
    if s.len() < 12 {
        return None;
    }
    let mut spans = Vec::new();
    pem_spans(s, &mut spans);
    url_password_spans(s, &mut spans);
    bearer_spans(s, &mut spans);
    token_spans(s, &mut spans);
    card_spans(s, &mut spans);
    if spans.is_empty() {
        return None;
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (start, end, kind) in spans {
        if end <= at {
            continue;
        }
        let start = start.max(at);
        out.push_str(&s[at..start]);
        out.push_str("[REDACTED:");
        out.push_str(kind);
        out.push(']');
        at = end;
    }
    out.push_str(&s[at..]);
    Some(out)
}

/// Whether `s` holds a recognised secret.
pub fn contains_secret(s: &str) -> bool {
    redact_secrets_in(s).is_some()
}

/// `-----BEGIN … PRIVATE KEY-----` through its `-----END …-----` line (or the end of `s`).
fn pem_spans(s: &str, spans: &mut Vec<Span>) {
    let mut from = 0;
    while let Some(rel) = s[from..].find("-----BEGIN ") {
        let start = from + rel;
        let header_end = match s[start + 11..].find("-----") {
            Some(i) => start + 11 + i + 5,
            None => return,
        };
        let label = &s[start + 11..header_end - 5];
        if !label.ends_with("PRIVATE KEY") {
            from = header_end;
            continue;
        }
        let end = s[header_end..]
            .find("-----END ")
            .and_then(|i| {
                let tail = header_end + i + 9;
                s[tail..].find("-----").map(|j| tail + j + 5)
            })
            .unwrap_or(s.len());
        spans.push((start, end, "private-key"));
        from = end;
    }
}

/// The password of `scheme://user:password@host`.
fn url_password_spans(s: &str, spans: &mut Vec<Span>) {
    let mut from = 0;
    while let Some(rel) = s[from..].find("://") {
        let auth_start = from + rel + 3;
        let auth_end = s[auth_start..]
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .map_or(s.len(), |i| auth_start + i);
        let authority = &s[auth_start..auth_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':')
                && colon + 1 < userinfo.len()
            {
                spans.push((auth_start + colon + 1, auth_start + at, "password"));
            }
        }
        from = auth_end.max(auth_start);
    }
}

/// The credential after `Bearer ` / `Basic ` (an `Authorization` header value pasted anywhere).
fn bearer_spans(s: &str, spans: &mut Vec<Span>) {
    for scheme in ["bearer ", "basic "] {
        let mut from = 0;
        while let Some(rel) = find_ascii_ci(&s[from..], scheme) {
            let start = from + rel + scheme.len();
            let end = s[start..]
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';'))
                .map_or(s.len(), |i| start + i);
            if end - start >= 16 {
                spans.push((start, end, "credential"));
            }
            from = end.max(start);
        }
    }
}

fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    (0..h.len().checked_sub(n.len())? + 1).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Well-known key prefixes and JWTs, matched on maximal runs of token characters.
fn token_spans(s: &str, spans: &mut Vec<Span>) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !is_token_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_token_byte(bytes[i]) {
            i += 1;
        }
        // Trailing sentence punctuation is not part of a token.
        let mut end = i;
        while end > start && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        if let Some((len, kind)) = secret_token(&s[start..end]) {
            spans.push((start, start + len, kind));
        }
    }
}

/// The length and kind of the secret at the start of `word`, if `word` is one.
fn secret_token(word: &str) -> Option<(usize, &'static str)> {
    if is_jwt(word) {
        return Some((word.len(), "jwt"));
    }
    const PREFIXES: &[(&str, usize)] = &[
        // (prefix, least number of characters after it)
        ("ghp_", 30),
        ("gho_", 30),
        ("ghu_", 30),
        ("ghs_", 30),
        ("ghr_", 30),
        ("github_pat_", 30),
        ("glpat-", 20),
        ("xoxb-", 20),
        ("xoxp-", 20),
        ("xoxa-", 20),
        ("xoxs-", 20),
        ("sk_live_", 16),
        ("rk_live_", 16),
        ("sk_test_", 16),
        ("sk-proj-", 20),
        ("sk-ant-", 20),
        ("sk-", 32),
        ("AIza", 35),
        ("ascend_", 30),
        ("whsec_", 24),
        ("npm_", 30),
        ("pypi-", 40),
    ];
    for (prefix, least) in PREFIXES {
        if let Some(rest) = word.strip_prefix(prefix) {
            let n = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
                .count();
            if n >= *least {
                return Some((prefix.len() + n, "token"));
            }
        }
    }
    // AWS access key ids: AKIA/ASIA + 16 upper-case letters or digits, nothing more.
    for prefix in ["AKIA", "ASIA"] {
        if let Some(rest) = word.strip_prefix(prefix) {
            let n = rest
                .bytes()
                .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                .count();
            if n == 16 && rest.len() == 16 {
                return Some((word.len(), "aws-key"));
            }
        }
    }
    None
}

/// `eyJ…` header . payload . signature, each part base64url, the header long enough to hold
/// `{"alg":…}`.
fn is_jwt(word: &str) -> bool {
    if !word.starts_with("eyJ") {
        return false;
    }
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && parts[0].len() >= 10
        && parts[1].len() >= 10
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Card numbers: 13 to 19 digits, optionally in groups separated by one space or dash,
/// bounded by non-alphanumerics, starting with an issuer's digit (2–6) and passing Luhn.
fn card_spans(s: &str, spans: &mut Vec<Span>) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let bounded = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if !(bytes[i].is_ascii_digit() && bounded) {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = Vec::with_capacity(19);
        let mut end = i;
        let mut j = i;
        while j < bytes.len() {
            let b = bytes[j];
            if b.is_ascii_digit() {
                digits.push(b - b'0');
                j += 1;
                end = j;
            } else if matches!(b, b' ' | b'-')
                && j + 1 < bytes.len()
                && bytes[j + 1].is_ascii_digit()
                && j > start
                && bytes[j - 1].is_ascii_digit()
            {
                j += 1;
            } else {
                break;
            }
            if digits.len() > 19 {
                break;
            }
        }
        let after_ok = end >= bytes.len() || !bytes[end].is_ascii_alphanumeric();
        if (13..=19).contains(&digits.len())
            && after_ok
            && (2..=6).contains(&digits[0])
            && luhn(&digits)
            && !digits.iter().all(|d| *d == digits[0])
        {
            spans.push((start, end, "card"));
        }
        i = end.max(start + 1);
    }
}

/// Whether an integer is a payment card number (13–19 digits, issuer digit 2–6, Luhn).
pub(crate) fn is_card_number(n: u64) -> bool {
    // 13–19 digits: most numbers (amounts, counts, ids) are shorter, and are told apart here
    // without formatting them.
    if !(1_000_000_000_000..10_000_000_000_000_000_000).contains(&n) {
        return false;
    }
    let digits: Vec<u8> = n.to_string().bytes().map(|b| b - b'0').collect();
    (13..=19).contains(&digits.len())
        && (2..=6).contains(&digits[0])
        && luhn(&digits)
        && !digits.iter().all(|d| *d == digits[0])
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_numbers() {
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn(&d("4111111111111111")));
        assert!(luhn(&d("378282246310005")));
        assert!(!luhn(&d("4111111111111112")));
    }

    #[test]
    fn card_numbers_have_13_to_19_digits() {
        assert!(is_card_number(4_222_000_000_006), "13 digits");
        assert!(is_card_number(4_000_000_000_000_000_006), "19 digits");
        assert!(is_card_number(4_111_111_111_111_111));
        assert!(!is_card_number(400_000_000_002), "12 digits, Luhn-valid");
        assert!(
            !is_card_number(10_000_000_000_000_000_008),
            "20 digits, Luhn-valid"
        );
        assert!(!is_card_number(0));
        assert!(!is_card_number(u64::MAX));
    }

    #[test]
    fn spans_do_not_overlap_badly() {
        let s =
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig_sig_sig";
        let r = redact_secrets_in(s).unwrap();
        assert_eq!(r, "Authorization: Bearer [REDACTED:credential]");
    }
}
