//! Which addresses webhook deliveries may reach.
//!
//! Refused unless allow-listed (`webhook_allow_hosts`, IPs or CIDR blocks): unspecified,
//! loopback, private (RFC 1918), carrier-grade NAT (100.64/10, which holds Alibaba's metadata
//! address), link-local (169.254/16 with the cloud metadata address 169.254.169.254, fe80::/10),
//! unique-local (fc00::/7, holding AWS's fd00:ec2::254), multicast, broadcast, documentation,
//! benchmarking and reserved ranges, and IPv6 forms that embed an IPv4 address (mapped,
//! compatible, NAT64, 6to4, Teredo) when the embedded address is refused.
//!
//! The check runs where the address is final: URLs naming an IP are checked before any request
//! is made; host names are resolved by [`GuardedResolver`], which hands the HTTP client only the
//! permitted addresses, so the address checked is the address connected to. Deliveries never
//! follow redirects and never use a proxy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The egress rule: blocked ranges minus the operator's allow list.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allow: Arc<Vec<IpNet>>,
}

impl EgressPolicy {
    /// A policy allowing `allow` on top of the public internet.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self {
            allow: Arc::new(allow),
        }
    }

    /// May a delivery connect to `ip`?
    pub fn permits(&self, ip: IpAddr) -> bool {
        permitted(&self.allow, ip)
    }
}

/// May a delivery connect to `ip`, with `allow` as the allow list?
pub fn permitted(allow: &[IpNet], ip: IpAddr) -> bool {
    let canonical = canonical(ip);
    let listed = allow
        .iter()
        .any(|net| net.contains(&ip) || net.contains(&canonical));
    listed || !is_blocked(ip)
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Is `ip` in a range deliveries must not reach (before the allow list)?
pub fn is_blocked(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn blocked_v4(ip: Ipv4Addr) -> bool {
    const RANGES: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),       // "this network", unspecified
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // carrier-grade NAT (100.100.100.200: Alibaba metadata)
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local (169.254.169.254: cloud metadata)
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation
        ([203, 0, 113, 0], 24),  // documentation
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, broadcast
    ];
    RANGES.iter().any(|(net, p)| in_v4(ip, *net, *p))
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

/// The IPv4 address embedded at bits `shift..shift+32` (counted from the right).
fn embedded_v4(ip: Ipv6Addr, shift: u32) -> Ipv4Addr {
    Ipv4Addr::from(((u128::from(ip) >> shift) & 0xffff_ffff) as u32)
}

fn blocked_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return blocked_v4(v4);
    }
    // Forms embedding an IPv4 address: refused when that address is.
    if in_v6(ip, [0, 0, 0, 0, 0, 0, 0, 0], 96) {
        // ::a.b.c.d (deprecated IPv4-compatible), :: and ::1 included.
        return ip.is_unspecified() || ip.is_loopback() || blocked_v4(embedded_v4(ip, 0));
    }
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return blocked_v4(embedded_v4(ip, 0)); // NAT64 well-known prefix
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        return blocked_v4(embedded_v4(ip, 80)); // 6to4
    }
    const RANGES: &[([u16; 8], u32)] = &[
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),  // local-use NAT64
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64),      // discard-only
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),     // Teredo (embeds an obfuscated IPv4)
        ([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48),   // benchmarking
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),     // documentation
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),      // unique-local (fd00:ec2::254: AWS metadata)
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),     // link-local
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),     // site-local (deprecated)
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),      // multicast
    ];
    RANGES.iter().any(|(net, p)| in_v6(ip, *net, *p))
}

/// A DNS resolver for the delivery client that drops the addresses the policy refuses; a name
/// with no permitted address fails to resolve, so nothing is connected to.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: EgressPolicy,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: EgressPolicy) -> Self {
        Self { policy }
    }
}

/// A host name resolved only to refused addresses.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to addresses webhooks may not reach")]
pub struct Refused(String);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() {
                return Err(Box::new(Refused(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocked_ranges() {
        for s in [
            "0.0.0.0",
            "10.0.0.1",
            "100.64.0.1",
            "100.100.100.200",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(is_blocked(ip(s)), "{s} should be blocked");
        }
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!is_blocked(ip(s)), "{s} should be allowed");
        }
    }

    #[test]
    fn the_allow_list_opens_single_hosts_and_blocks() {
        let p = EgressPolicy::new(vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.1.0.0/16".parse().unwrap(),
        ]);
        assert!(p.permits(ip("127.0.0.1")));
        assert!(p.permits(ip("::ffff:127.0.0.1")));
        assert!(!p.permits(ip("127.0.0.2")));
        assert!(!p.permits(ip("::1")));
        assert!(p.permits(ip("10.1.200.3")));
        assert!(!p.permits(ip("10.2.0.1")));
        assert!(!p.permits(ip("169.254.169.254")));
        assert!(p.permits(ip("8.8.8.8")));
    }
}
