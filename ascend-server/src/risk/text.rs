//! Secrets and personal data inside free text (message bodies, request bodies, file contents).
//!
//! Secret-looking *names* (`DB_PASSWORD=…`, `api_key: …`, `password is …`) use the one rule of the
//! runtime, [`ascend_runtime::redact::is_secret_name`]; the runtime has no detector for secret
//! *values* or personal data in text, so the well-known shapes are recognised here: PEM private
//! key blocks, cloud and SaaS token prefixes, US social security numbers, card numbers (Luhn
//! checked), IBANs and email addresses. Hand-written scanners, no regexes, no allocation unless
//! a finding is reported.

use ascend_runtime::redact::is_secret_name;

/// What a text holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextFacts {
    /// The kind of the first secret found (`private key`, `AWS access key`, `secret assignment`…).
    pub secret: Option<&'static str>,
    /// A US social security number.
    pub ssn: bool,
    /// A card number (13–19 digits, Luhn valid).
    pub card: bool,
    /// An IBAN.
    pub iban: bool,
    /// Number of email addresses.
    pub emails: usize,
}

impl TextFacts {
    /// Personal identifiers (SSN, card, IBAN) or ten or more email addresses.
    pub fn personal_data(&self) -> bool {
        self.ssn || self.card || self.iban || self.emails >= 10
    }

    /// Merge another text's facts.
    pub fn merge(&mut self, o: TextFacts) {
        self.secret = self.secret.or(o.secret);
        self.ssn |= o.ssn;
        self.card |= o.card;
        self.iban |= o.iban;
        self.emails += o.emails;
    }
}

/// Token prefixes of well-known credentials and the minimum length of the rest.
const TOKEN_PREFIXES: &[(&str, usize, &str)] = &[
    ("AKIA", 16, "AWS access key"),
    ("ASIA", 16, "AWS access key"),
    ("ghp_", 30, "GitHub token"),
    ("gho_", 30, "GitHub token"),
    ("ghs_", 30, "GitHub token"),
    ("github_pat_", 30, "GitHub token"),
    ("glpat-", 20, "GitLab token"),
    ("sk_live_", 16, "Stripe secret key"),
    ("rk_live_", 16, "Stripe secret key"),
    ("xoxb-", 20, "Slack token"),
    ("xoxp-", 20, "Slack token"),
    ("AIza", 35, "Google API key"),
    ("sk-ant-", 30, "Anthropic API key"),
];

/// Values that say "no real secret here".
const PLACEHOLDERS: &[&str] = &[
    "",
    "***",
    "****",
    "xxx",
    "<redacted>",
    "[redacted]",
    "redacted",
    "changeme",
    "...",
    "none",
    "null",
    "true",
    "false",
];

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn token_secret(word: &str) -> Option<&'static str> {
    for (prefix, rest, kind) in TOKEN_PREFIXES {
        if let Some(tail) = word.strip_prefix(prefix)
            && tail.chars().take_while(|c| is_word_char(*c)).count() >= *rest
        {
            return Some(kind);
        }
    }
    None
}

fn placeholder(v: &str) -> bool {
    let v = v.trim_matches(|c: char| c == '"' || c == '\'' || c == '`' || c == ',');
    PLACEHOLDERS.iter().any(|p| v.eq_ignore_ascii_case(p)) || v.starts_with('$')
}

/// Secret assignments: `NAME=value`, `name: value`, `name is value` with a secret-looking name.
fn assignment_secret(text: &str) -> bool {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '&' || c == ',' || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    for (i, w) in words.iter().enumerate() {
        let w = w.trim_matches(|c: char| c == '"' || c == '\'' || c == '{' || c == '}');
        if let Some(pos) = w.find(['=', ':']) {
            let (name, value) = (&w[..pos], &w[pos + 1..]);
            // `A=B=value` (a form field carrying an env line): judge the last pair.
            let (name, value) = match value.rfind('=') {
                Some(p) => (&value[..p], &value[p + 1..]),
                None => (name, value),
            };
            if name.is_empty() || !is_secret_name(name) {
                continue;
            }
            let value = if value.is_empty() {
                words.get(i + 1).copied().unwrap_or("")
            } else {
                value
            };
            if !placeholder(value) {
                return true;
            }
        } else if is_secret_name(w)
            && words
                .get(i + 1)
                .is_some_and(|n| n.eq_ignore_ascii_case("is"))
            && words.get(i + 2).is_some_and(|v| !placeholder(v))
        {
            return true;
        }
    }
    false
}

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Digit runs (allowing single spaces or dashes inside) of 13–19 digits that pass Luhn.
fn has_card_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let mut digits = Vec::with_capacity(19);
        let mut j = i;
        while j < b.len() && digits.len() <= 19 {
            if b[j].is_ascii_digit() {
                digits.push(b[j] - b'0');
            } else if !(matches!(b[j], b' ' | b'-') && b.get(j + 1).is_some_and(u8::is_ascii_digit))
            {
                break;
            }
            j += 1;
        }
        if (13..=19).contains(&digits.len()) && luhn(&digits) {
            return true;
        }
        i = j.max(i + 1);
    }
    false
}

fn has_ssn(text: &str) -> bool {
    let b = text.as_bytes();
    b.windows(11).enumerate().any(|(i, w)| {
        let shape = w.iter().enumerate().all(|(k, c)| match k {
            3 | 6 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
        let before = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let after = b.get(i + 11).is_none_or(|c| !c.is_ascii_alphanumeric());
        shape && before && after
    })
}

fn has_iban(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
        let b = w.as_bytes();
        (15..=34).contains(&b.len())
            && b[0].is_ascii_uppercase()
            && b[1].is_ascii_uppercase()
            && b[2].is_ascii_digit()
            && b[3].is_ascii_digit()
            && b[4..]
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            && b[4..].iter().filter(|c| c.is_ascii_digit()).count() >= 8
    })
}

/// Email addresses in a text: `local@domain.tld` shapes.
pub fn email_addresses(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '"' | '\'' | '(' | ')')
    })
    .map(|w| w.trim_matches(|c: char| c == '.' || c == ':'))
    .filter(|w| is_email(w))
}

/// Whether a word is an email address.
pub fn is_email(w: &str) -> bool {
    match w.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && local
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '%'))
        }
        None => false,
    }
}

/// Scan one text.
pub fn scan(text: &str) -> TextFacts {
    let mut f = TextFacts::default();
    if text.len() < 6 {
        return f;
    }
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY") {
        f.secret = Some("private key");
    }
    if f.secret.is_none() {
        f.secret = text
            .split(|c: char| !is_word_char(c))
            .find_map(token_secret);
    }
    if f.secret.is_none() && assignment_secret(text) {
        f.secret = Some("secret assignment");
    }
    // A client that redacted values by shape (our runtime does, `[REDACTED:<kind>]`) still
    // tells what was there: the risk is the same as if it had been sent.
    if text.contains("[REDACTED:") {
        marked(text, &mut f);
    }
    let has_digits = text.bytes().filter(u8::is_ascii_digit).count() >= 9;
    if has_digits {
        f.ssn = has_ssn(text);
        f.card = has_card_number(text);
        f.iban = has_iban(text);
    }
    if text.contains('@') {
        f.emails = email_addresses(text).count();
    }
    f
}

/// Facts from `[REDACTED:<kind>]` markers ([`ascend_runtime::redact::VALUE_KINDS`]).
fn marked(text: &str, f: &mut TextFacts) {
    for part in text.split("[REDACTED:").skip(1) {
        let kind = part.split(']').next().unwrap_or_default();
        let secret = match kind {
            "card" => {
                f.card = true;
                None
            }
            "private-key" => Some("private key"),
            "aws-key" => Some("AWS access key"),
            "jwt" => Some("JSON web token"),
            "token" => Some("API token"),
            "credential" => Some("bearer credential"),
            "password" => Some("password in URL"),
            _ => None,
        };
        f.secret = f.secret.or(secret);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_side_markers_keep_their_meaning() {
        let f = scan("export attached: [REDACTED:card], key [REDACTED:aws-key]");
        assert!(f.card);
        assert_eq!(f.secret, Some("AWS access key"));
        assert_eq!(scan("value [REDACTED] only").secret, None);
    }

    #[test]
    fn secrets_are_found() {
        assert_eq!(
            scan("-----BEGIN OPENSSH PRIVATE KEY-----\nabc").secret,
            Some("private key")
        );
        assert_eq!(
            scan("use this key: AKIAIOSFODNN7EXAMPLE").secret,
            Some("AWS access key")
        );
        assert!(scan("prod password is hunter2, rotate it").secret.is_some());
        assert!(scan("api_paste_code=DB_PASSWORD=s3cr3t").secret.is_some());
        assert!(scan("Your code is 482913").secret.is_none());
        assert!(scan("password: ***").secret.is_none());
        assert!(scan("Deploy finished").secret.is_none());
    }

    #[test]
    fn personal_data_is_found() {
        let f = scan("SSN 123-45-6789, card 4111 1111 1111 1111");
        assert!(f.ssn && f.card);
        assert!(!scan("order 4111 1111 1111 1112").card);
        assert!(scan("IBAN DE89370400440532013000").iban);
        assert_eq!(scan("a@b.com, c@d.org and x@y").emails, 2);
        assert!(!scan("call me at 2026-11-01").ssn);
    }
}
