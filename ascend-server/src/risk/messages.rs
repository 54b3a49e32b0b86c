//! Where an action sends things and what it sends: email/chat/SMS recipients against the
//! organisation's domains, attachments, bodies (secrets, personal data), and HTTP targets
//! (internal or external host, method, cloud metadata, drop sites, exports).

use serde_json::{Map, Value};

use super::content::{self, Scan};
use super::paths;
use super::tables::{self, PathClass};
use super::{DataClass, Verb, features, net, text};

type Maps<'a> = [Option<&'a Map<String, Value>>; 4];

/// Who receives a message.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recipients {
    /// Addresses in the organisation's domains.
    pub internal: usize,
    /// Addresses elsewhere (and phone numbers).
    pub external: usize,
    /// External addresses at personal webmail providers.
    pub personal: usize,
}

impl Recipients {
    /// Total.
    pub fn total(&self) -> usize {
        self.internal + self.external
    }
}

fn add_recipient(s: &str, config: &super::config::RiskConfig, r: &mut Recipients) {
    for part in s.split([',', ';']) {
        let part = part.trim().trim_matches(['<', '>']);
        if let Some((_, domain)) = part.rsplit_once('@') {
            if !text::is_email(part) {
                continue;
            }
            let domain = domain.to_ascii_lowercase();
            if config.is_internal_domain(&domain) {
                r.internal += 1;
            } else {
                r.external += 1;
                if tables::PERSONAL_MAIL_DOMAINS.contains(&domain.as_str()) {
                    r.personal += 1;
                }
            }
        } else if part.starts_with('+') && part.len() >= 8 {
            r.external += 1;
        }
    }
}

fn collect_recipients(
    v: &Value,
    config: &super::config::RiskConfig,
    r: &mut Recipients,
    depth: u8,
) {
    if depth > 4 {
        return;
    }
    match v {
        Value::String(s) => add_recipient(s, config, r),
        Value::Array(a) => a
            .iter()
            .for_each(|x| collect_recipients(x, config, r, depth + 1)),
        Value::Object(o) => {
            for k in ["email", "address", "to", "cc", "bcc"] {
                if let Some(x) = o.get(k) {
                    collect_recipients(x, config, r, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// The recipients an action names.
pub fn recipients(maps: &Maps<'_>, config: &super::config::RiskConfig) -> Recipients {
    let mut r = Recipients::default();
    for key in tables::RECIPIENT_KEYS {
        for v in content::args_of(maps, key) {
            collect_recipients(v, config, &mut r, 0);
        }
    }
    for v in content::args_of(maps, "personalizations") {
        collect_recipients(v, config, &mut r, 0);
    }
    r
}

/// Attachment names an action carries.
fn attachments<'a>(maps: &'a Maps<'a>) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut push = |v: &'a Value| match v {
        Value::String(s) => out.push(s.as_str()),
        Value::Array(a) => {
            for x in a {
                match x {
                    Value::String(s) => out.push(s.as_str()),
                    Value::Object(o) => {
                        if let Some(n) = ["filename", "name", "path"]
                            .iter()
                            .find_map(|k| o.get(*k).and_then(Value::as_str))
                        {
                            out.push(n);
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Object(o) => {
            if let Some(n) = o.get("filename").and_then(Value::as_str) {
                out.push(n);
            }
        }
        _ => {}
    };
    for key in tables::ATTACHMENT_KEYS {
        for v in content::args_of(maps, key) {
            push(v);
        }
    }
    for body in ["data", "json", "body", "payload"] {
        for v in content::args_of(maps, body) {
            if let Some(o) = v.as_object() {
                for key in tables::ATTACHMENT_KEYS {
                    if let Some(x) = o.get(*key) {
                        push(x);
                    }
                }
            }
        }
    }
    out
}

/// What an attachment name says: (a data export?, the class of its subject, dump/backup?).
fn rate_attachment(name: &str) -> (bool, DataClass, bool) {
    let lower = name.to_ascii_lowercase();
    let base = lower.rsplit('/').next().unwrap_or(&lower);
    let dump = tables::DUMP_WORDS.iter().any(|w| base.contains(w));
    let export = dump
        || base
            .split('.')
            .skip(1)
            .any(|ext| tables::DATA_EXPORT_EXTENSIONS.contains(&ext));
    let mut class = DataClass::Internal;
    for p in features::resource_patterns(base) {
        if p.class > class {
            class = p.class;
        }
    }
    (export, class, dump)
}

/// Scan messages and HTTP requests of an action.
pub(crate) fn scan(
    action: &ascend_runtime::AgentAction,
    maps: &Maps<'_>,
    verb: Verb,
    present: content::Present,
    scan: &mut Scan<'_>,
) {
    let (rcpt, count_hint) = if present.recipients {
        let hint = tables::RECIPIENT_COUNT_KEYS
            .iter()
            .find_map(|k| content::args_of(maps, k).find_map(features::number))
            .unwrap_or(0);
        (recipients(maps, scan.config), hint)
    } else {
        (Recipients::default(), 0)
    };
    let web = if present.urls {
        urls(action, maps, verb, scan)
    } else {
        Web::default()
    };
    let message = rcpt.total() > 0 || count_hint > 0 || verb == Verb::Send;
    if (!message && !web.sends_body && !verb.is_mutation()) || verb == Verb::Transfer {
        return;
    }
    let external = rcpt.external > 0 || web.external_body;
    if external {
        scan.external = true;
    }
    let total = i64::try_from(rcpt.total())
        .unwrap_or(i64::MAX)
        .max(count_hint);
    if total >= tables::BULK_RECIPIENTS && (rcpt.external > 0 || count_hint > 0) {
        scan.count(total);
        scan.hold("bulk_send", format!("sends to {total} recipients at once"));
    }
    if (message || web.sends_body) && present.attachments {
        judge_attachments(maps, external, rcpt.personal > 0, scan);
    }
    let facts = content::text_of(maps);
    if let Some(kind) = facts.secret {
        scan.secrets = true;
        if external {
            scan.block(
                "secret_sent_outside",
                format!("sends a secret ({kind}) outside the organisation"),
            );
        } else if message {
            scan.hold(
                "secret_in_message",
                format!("puts a secret ({kind}) in a message"),
            );
        } else {
            scan.hold("secret_written", format!("writes a secret ({kind})"));
        }
    }
    if facts.personal_data() {
        if external {
            scan.pii = true;
            scan.block(
                "personal_data_sent_outside",
                "sends personal identifiers (SSN, card, IBAN or a list of addresses) outside"
                    .to_owned(),
            );
        } else {
            scan.note(
                "personal_data_in_content",
                tables::PII_CONTENT_POINTS,
                "content holds personal identifiers (it stays inside the organisation)".to_owned(),
            );
        }
    }
}

fn judge_attachments(maps: &Maps<'_>, external: bool, personal: bool, scan: &mut Scan<'_>) {
    for name in attachments(maps) {
        let (export, class, dump) = rate_attachment(name);
        if class >= DataClass::Pii {
            scan.pii = true;
        }
        let sensitive = class >= DataClass::Confidential || dump;
        if external && export && sensitive {
            scan.block(
                "exfiltration",
                format!(
                    "sends `{name}` (a {} export) to an outside {}",
                    if dump { "database" } else { class.as_str() },
                    if personal {
                        "personal mailbox"
                    } else {
                        "party"
                    }
                ),
            );
        } else if export && (class >= DataClass::Pii || dump) {
            scan.hold(
                "data_export_sent",
                format!("sends `{name}`, an export of {} data", class.as_str()),
            );
        } else if external && export {
            scan.note(
                "data_export_sent",
                tables::EXPORT_POINTS,
                format!("sends the data file `{name}` outside"),
            );
        }
    }
}

/// What the URLs of an action say.
#[derive(Debug, Default)]
struct Web {
    /// A body goes to some host.
    sends_body: bool,
    /// A body goes to an external host.
    external_body: bool,
}

fn method_of(maps: &Maps<'_>, verb: Verb) -> String {
    content::args_of(maps, "method")
        .find_map(Value::as_str)
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| match verb {
            Verb::Send | Verb::Create => "POST".to_owned(),
            Verb::Write => "PUT".to_owned(),
            Verb::Delete => "DELETE".to_owned(),
            _ => "GET".to_owned(),
        })
}

fn urls(
    action: &ascend_runtime::AgentAction,
    maps: &Maps<'_>,
    verb: Verb,
    scan: &mut Scan<'_>,
) -> Web {
    let mut web = Web::default();
    let mut method = String::new();
    let fetcher = super::operations::has_word(&action.action_type, &["fetch"]);
    for key in tables::URL_KEYS {
        for s in content::args_of(maps, key).filter_map(Value::as_str) {
            if method.is_empty() {
                method = method_of(maps, verb);
            }
            let lower = s.trim().to_ascii_lowercase();
            if let Some(p) = lower.strip_prefix("file://") {
                local_url(p, scan);
                continue;
            }
            let Ok(url) = url::Url::parse(s.trim()) else {
                continue;
            };
            let Some(host) = url
                .host_str()
                .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
            else {
                continue;
            };
            let internal = scan.config.is_internal_host(&host) || net::is_private_ip(&host);
            scan.urls_internal = Some(scan.urls_internal.unwrap_or(true) && internal);
            if net::is_metadata_host(&host) {
                scan.credential_access(&host, "cloud instance metadata (instance credentials)");
                continue;
            }
            if fetcher && internal {
                scan.hold(
                    "internal_fetch",
                    format!("a web-fetch tool reaches the internal host `{host}`"),
                );
            }
            let sends = matches!(method.as_str(), "POST" | "PUT" | "PATCH");
            web.sends_body |= sends;
            if sends && !internal {
                web.external_body = true;
                if tables::DROP_SITES
                    .iter()
                    .any(|d| host == *d || host.ends_with(&format!(".{d}")))
                {
                    scan.hold(
                        "drop_site_upload",
                        format!("posts data to `{host}`, an anonymous drop site"),
                    );
                }
            }
            if *key != "webhook_url" {
                rest_target(&url, &method, scan);
            }
        }
    }
    web
}

fn local_url(path: &str, scan: &mut Scan<'_>) {
    let n = paths::normalize(path);
    let (class, _, label) = features::rate_path(&n.path);
    if matches!(class, PathClass::Credentials | PathClass::Secrets) {
        scan.credential_access(path, label.unwrap_or("credentials"));
    } else if paths::is_account_database(&n.path) || class != PathClass::None {
        scan.hold(
            "local_file_url",
            format!("reads the local system file `{}` through a URL", n.path),
        );
    }
    scan.path(&n.path);
}

/// The REST resource a URL names: its path words rate the data, the method the operation.
fn rest_target(url: &url::Url, method: &str, scan: &mut Scan<'_>) {
    let words: Vec<String> = url
        .path()
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-' && c != '*')
        .filter(|w| w.len() > 1 && !w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_ascii_lowercase)
        .collect();
    let mut class = DataClass::Internal;
    for w in &words {
        for p in features::resource_patterns(w) {
            if p.class > class {
                class = p.class;
            }
        }
    }
    let path = url.path();
    let all = url.query_pairs().any(|(k, v)| k == "all" && v == "true");
    let exports = words
        .iter()
        .any(|w| tables::DUMP_WORDS.iter().any(|d| w.contains(d)));
    let config = words
        .iter()
        .any(|w| tables::CONFIG_ENDPOINT_WORDS.contains(&w.as_str()));
    match method {
        "DELETE" => {
            scan.verb_at_least(Verb::Delete);
            if path.contains('*') {
                scan.count(tables::BULK_IMPLIED_COUNT);
                scan.destroy_block(
                    "http_wildcard_delete",
                    "DELETE with a wildcard: every matching resource",
                );
            } else if class >= DataClass::Pii {
                scan.hold(
                    "http_delete_personal",
                    format!("DELETE of a {} record (`{path}`)", class.as_str()),
                );
            }
        }
        "PUT" | "PATCH" | "POST" if config => {
            scan.verb_at_least(Verb::Configure);
            scan.hold(
                "http_config_change",
                format!("{method} changes configuration (`{path}`)"),
            );
        }
        "PUT" | "PATCH" if class >= DataClass::Pii => {
            scan.verb_at_least(Verb::Write);
            scan.hold(
                "http_personal_write",
                format!("{method} changes a {} record (`{path}`)", class.as_str()),
            );
        }
        "GET" if exports && (class >= DataClass::Pii || all) => {
            scan.pii |= class >= DataClass::Pii;
            scan.count(tables::BULK_IMPLIED_COUNT);
            scan.hold(
                "http_bulk_export",
                format!("bulk export of {} data (`{path}`)", class.as_str()),
            );
        }
        _ => {}
    }
    if class >= DataClass::Pii {
        scan.pii = true;
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::RiskConfig;
    use super::*;
    use serde_json::json;

    #[test]
    fn recipients_against_the_organisation() {
        let config = RiskConfig::with_internal_domains(["acme.com"]);
        let m = json!({"to": ["alice@acme.com", "bob@eu.acme.com"], "cc": "x@gmail.com",
                       "bcc": [{"email": "p@partner.io"}]});
        let m = m.as_object().cloned().unwrap_or_default();
        let r = recipients(&[Some(&m), None, None, None], &config);
        assert_eq!(r.internal, 2);
        assert_eq!(r.external, 2);
        assert_eq!(r.personal, 1);
        let m = json!({"to": "bob@acme-corp.net"});
        let m = m.as_object().cloned().unwrap_or_default();
        let r = recipients(&[Some(&m), None, None, None], &config);
        assert_eq!(
            (r.internal, r.external),
            (0, 1),
            "a look-alike domain is external"
        );
    }

    #[test]
    fn attachments_are_rated_by_name() {
        assert_eq!(
            rate_attachment("customers.csv"),
            (true, DataClass::Pii, false)
        );
        assert!(rate_attachment("db_backup.sql.gz").2);
        assert!(!rate_attachment("invoice-2291.pdf").0);
    }
}
