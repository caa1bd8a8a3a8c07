//! Clients behind a load balancer or reverse proxy: their address comes
//! from `X-Forwarded-For`, but only when the TCP peer is a proxy the
//! operator named (`--trusted-proxy`). Anyone else's header is ignored, so
//! a client cannot pick the address its limits are counted under.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Proxies at these networks (`10.0.0.0/8`, `192.0.2.7/32`, `::1/128`).
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    /// Whether `ip` is one of them.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// Whether none are configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client of a request from `peer`: `peer` itself unless it is a
    /// trusted proxy; then, reading `X-Forwarded-For` from the right (each
    /// proxy appends the address it was reached from), the first address
    /// that is not a trusted proxy. An entry that is not an address stops
    /// the walk at the proxy that wrote it: what lies left of it is the
    /// client's to forge.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.contains(peer.ip()) {
            return peer;
        }
        let mut client = peer.ip();
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        SocketAddr::new(client, peer.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_a_trusted_peer_is_believed_and_only_from_the_right() {
        let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let lb: SocketAddr = "10.1.2.3:4000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.1:4000".parse().unwrap();
        let ip = |addr: SocketAddr| addr.ip().to_string();
        // A stranger's header is ignored.
        assert_eq!(
            ip(proxies.client(stranger, &forwarded(&["203.0.113.7"]))),
            "198.51.100.1"
        );
        // The balancer's is believed.
        assert_eq!(
            ip(proxies.client(lb, &forwarded(&["203.0.113.7"]))),
            "203.0.113.7"
        );
        // A forged entry left of the real client changes nothing.
        let forged = forwarded(&["1.2.3.4, 203.0.113.7"]);
        assert_eq!(ip(proxies.client(lb, &forged)), "203.0.113.7");
        // Through two trusted proxies, across two header lines.
        let two = forwarded(&["203.0.113.7", "10.9.9.9"]);
        assert_eq!(ip(proxies.client(lb, &two)), "203.0.113.7");
        // Garbage stops the walk at the proxy that wrote it.
        assert_eq!(
            ip(proxies.client(lb, &forwarded(&["not-an-ip"]))),
            "10.1.2.3"
        );
        // No header: the proxy itself.
        assert_eq!(ip(proxies.client(lb, &HeaderMap::new())), "10.1.2.3");
        // IPv4-mapped IPv6 peers match IPv4 networks.
        let mapped: SocketAddr = "[::ffff:10.1.2.3]:4000".parse().unwrap();
        assert_eq!(
            ip(proxies.client(mapped, &forwarded(&["203.0.113.7"]))),
            "203.0.113.7"
        );
        assert!(TrustedProxies::default().is_empty());
    }
}
