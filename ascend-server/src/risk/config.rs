//! The organisation the risk engine judges actions for: which email domains and hosts are its own.
//!
//! A message to `alice@acme.com` stays inside the organisation when `acme.com` is one of
//! [`RiskConfig::internal_domains`]; one to `someone@gmail.com` leaves it. The same list tells
//! internal HTTP hosts from external ones (besides loopback, private addresses and the reserved
//! suffixes of [`INTERNAL_HOST_SUFFIXES`], which are always internal).
//!
//! [`RiskConfig::from_env`] reads `ASCEND_INTERNAL_DOMAINS` (comma- or space-separated, e.g.
//! `acme.com, acme.io`); [`RiskConfig::global`] is that, read once per process, and is what
//! [`super::RiskEngine::new`] uses.

use std::sync::OnceLock;

/// Environment variable holding the organisation's own email domains / host suffixes.
pub const INTERNAL_DOMAINS_ENV: &str = "ASCEND_INTERNAL_DOMAINS";

/// Host suffixes that are internal in every organisation (RFC 6762 `.local`, RFC 8375
/// `.home.arpa`, and the conventional private zones).
pub const INTERNAL_HOST_SUFFIXES: &[&str] = &[
    "localhost",
    ".local",
    ".internal",
    ".intranet",
    ".corp",
    ".lan",
    ".home.arpa",
    ".svc.cluster.local",
];

/// The risk engine's view of the organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskConfig {
    /// The organisation's own domains, lowercase, without a leading `@` or `.`
    /// (`acme.com` also covers `eu.acme.com`). Empty: every email domain is external.
    pub internal_domains: Vec<String>,
}

impl RiskConfig {
    /// A configuration with these internal domains (normalised: trimmed, lowercase, leading `@`
    /// or `.` removed, empty entries dropped).
    pub fn with_internal_domains<I, S>(domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let internal_domains = domains
            .into_iter()
            .filter_map(|d| {
                let d = d
                    .as_ref()
                    .trim()
                    .trim_start_matches(['@', '.'])
                    .to_ascii_lowercase();
                (!d.is_empty()).then_some(d)
            })
            .collect();
        Self { internal_domains }
    }

    /// The configuration from `ASCEND_INTERNAL_DOMAINS` (unset or empty: no internal domains).
    pub fn from_env() -> Self {
        let raw = std::env::var(INTERNAL_DOMAINS_ENV).unwrap_or_default();
        Self::with_internal_domains(raw.split([',', ' ', ';']))
    }

    /// [`RiskConfig::from_env`], read once per process.
    pub fn global() -> &'static RiskConfig {
        static CONFIG: OnceLock<RiskConfig> = OnceLock::new();
        CONFIG.get_or_init(RiskConfig::from_env)
    }

    /// Whether a domain (lowercase or not) is one of the organisation's own or a subdomain of one.
    pub fn is_internal_domain(&self, domain: &str) -> bool {
        let domain = domain.trim().trim_end_matches('.');
        self.internal_domains.iter().any(|d| {
            domain.eq_ignore_ascii_case(d)
                || (domain.len() > d.len()
                    && domain.as_bytes()[domain.len() - d.len() - 1] == b'.'
                    && domain[domain.len() - d.len()..].eq_ignore_ascii_case(d))
        })
    }

    /// Whether a host name is internal: an internal domain, a reserved private suffix, or a
    /// name without any dot (`db`, `cache`: resolved by the local network).
    pub fn is_internal_host(&self, host: &str) -> bool {
        let h = host.trim().trim_end_matches('.').to_ascii_lowercase();
        !h.contains('.')
            || INTERNAL_HOST_SUFFIXES
                .iter()
                .any(|s| h == s.trim_start_matches('.') || h.ends_with(s))
            || self.is_internal_domain(&h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_domains_cover_subdomains_only() {
        let c = RiskConfig::with_internal_domains(["@Acme.com", " ", ".acme.io"]);
        assert_eq!(c.internal_domains, vec!["acme.com", "acme.io"]);
        assert!(c.is_internal_domain("acme.com"));
        assert!(c.is_internal_domain("eu.ACME.com"));
        assert!(!c.is_internal_domain("acme-corp.net"));
        assert!(!c.is_internal_domain("notacme.com"));
        assert!(!c.is_internal_domain("gmail.com"));
        assert!(c.is_internal_host("inventory.internal"));
        assert!(c.is_internal_host("localhost"));
        assert!(c.is_internal_host("db"));
        assert!(!c.is_internal_host("api.github.com"));
    }
}
