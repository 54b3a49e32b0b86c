//! Hosts and URLs: internal or external, and the addresses that are never a legitimate target.

use std::net::IpAddr;

/// The host of a URL-looking string (`https://…`, `http://…`), lowercase; `None` for anything
/// else (no allocation unless it looks like a URL).
pub fn url_host(s: &str) -> Option<String> {
    let s = s.trim();
    let lower = s.get(..8)?.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return None;
    }
    url::Url::parse(s)
        .ok()?
        .host_str()
        .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
}

/// Whether a host is an IP address on loopback, a private range, or link-local.
pub fn is_private_ip(host: &str) -> bool {
    match host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()
        }
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00
        }
        Err(_) => false,
    }
}

/// Whether a host is a cloud instance-metadata endpoint (where instance credentials are served).
pub fn is_metadata_host(host: &str) -> bool {
    matches!(
        host,
        "169.254.169.254"
            | "metadata.google.internal"
            | "metadata"
            | "fd00:ec2::254"
            | "100.100.100.200"
    )
}

/// Whether a host is loopback (`localhost`, `127.x`, `::1`).
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            url_host("https://API.github.com/x").as_deref(),
            Some("api.github.com")
        );
        assert_eq!(url_host("ftp://x"), None);
        assert_eq!(url_host("hello"), None);
        assert!(is_private_ip("10.0.0.12"));
        assert!(is_private_ip("169.254.169.254"));
        assert!(!is_private_ip("203.0.113.9"));
        assert!(is_metadata_host("169.254.169.254"));
        assert!(is_loopback("127.0.0.1"));
    }
}
