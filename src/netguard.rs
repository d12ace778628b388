//! Which addresses bot calls may reach (docs/contract.md §8, on by default): public
//! internet addresses; networks a tutor allowed (`--allow-bot-networks`);
//! and this machine's loopback, only for a call that is local (its bot was
//! saved from this machine and the call was asked for from this machine,
//! not through the proxy), which is what a laptop running the quick start
//! does. Everything else (loopback otherwise, private, link-local with the
//! cloud metadata address, carrier-grade NAT, multicast, unspecified) is
//! refused. The check runs on the address actually connected to: after DNS
//! on every connection, redirects included, so a name cannot be re-pointed
//! between check and use; literal addresses in URLs are checked by the
//! caller (the resolver never sees them).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Where bot calls may go: public addresses, the networks a tutor allowed,
/// and loopback for local calls. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct BotNetworks {
    allowed: Arc<Vec<IpNet>>,
}

impl BotNetworks {
    /// `allowed`: networks called whoever saved the bot (a school's LAN).
    pub fn new(allowed: Vec<IpNet>) -> BotNetworks {
        BotNetworks {
            allowed: Arc::new(allowed),
        }
    }

    /// Whether a call may connect to `ip`; `local`: the call is local (see
    /// the module), so this machine's loopback is allowed too.
    pub fn permits(&self, ip: IpAddr, local: bool) -> bool {
        // `::ffff:a.b.c.d` is the IPv4 address a.b.c.d.
        let ip = ip.to_canonical();
        is_public(ip) || self.allowed.iter().any(|n| n.contains(&ip)) || (local && ip.is_loopback())
    }
}

/// Whether `ip` is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT
        || (a == 100 && (64..128).contains(&b)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80)
}

/// A resolver that drops every address a call may not reach; a name left
/// with none fails to resolve with a `Refused` error.
pub struct Guarded {
    pub networks: BotNetworks,
    pub local: bool,
}

/// The error a refused bot address gives; `botcall` recognises it. Holds
/// the name or address refused.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} only resolves to addresses bots may not use", self.0)
    }
}

impl std::error::Error for Refused {}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let networks = self.networks.clone();
        let local = self.local;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| networks.permits(a.ip(), local))
                .collect();
            if found.is_empty() {
                return Err(Box::new(Refused(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{BotNetworks, is_public};

    #[test]
    fn allowed_networks_and_local_loopback() {
        let nets = BotNetworks::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let ip = |s: &str| s.parse().unwrap();
        assert!(nets.permits(ip("10.1.2.3"), false));
        assert!(!nets.permits(ip("192.168.1.1"), false));
        assert!(!nets.permits(ip("127.0.0.1"), false));
        assert!(nets.permits(ip("127.0.0.1"), true));
        assert!(nets.permits(ip("::1"), true));
        assert!(nets.permits(ip("::ffff:127.0.0.1"), true));
        assert!(!nets.permits(ip("::ffff:127.0.0.1"), false));
        assert!(
            !nets.permits(ip("0.0.0.0"), true),
            "unspecified is not loopback"
        );
        assert!(!nets.permits(ip("169.254.169.254"), true));
        assert!(nets.permits(ip("::ffff:10.0.0.1"), false));
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(!is_public(refused.parse().unwrap()), "{refused}");
        }
        for allowed in [
            "93.184.216.34",
            "8.8.8.8",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(allowed.parse().unwrap()), "{allowed}");
        }
    }
}
