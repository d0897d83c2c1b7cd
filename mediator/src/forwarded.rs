//! Reverse-proxy mode: the client address of a request that came through a proxy the operator
//! trusts ([`Settings::trusted_proxies`](crate::config::Settings::trusted_proxies)), from the
//! `Forwarded` header (RFC 7239, `for=`) or else `X-Forwarded-For`.
//!
//! Only a connection from a trusted address is asked; anyone else's headers are ignored (a
//! client cannot choose its own rate-limit key). The list of addresses is read from the
//! right (the one the nearest proxy appended) and the first address that is not itself a
//! trusted proxy is the client. An entry that is not an address (`unknown`, an obfuscated
//! name, garbage) ends the walk: the last address seen (a trusted proxy, at worst the peer)
//! is used. At most [`MAX_HOPS`] entries and [`MAX_HEADER_BYTES`] of headers are looked at.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use axum::http::HeaderMap;

use crate::error::{Error, Result};

/// Most forwarding entries looked at.
pub const MAX_HOPS: usize = 32;

/// Most bytes of forwarding headers looked at (more: the peer address is used).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// An address block: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    addr: IpAddr,
    prefix: u8,
}

impl Block {
    fn parse(text: &str) -> Option<Block> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Block { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(block), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(block) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(block), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(block) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    blocks: Vec<Block>,
}

impl TrustedProxies {
    /// Parse addresses and blocks (`10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies> {
        let mut blocks = Vec::with_capacity(entries.len());
        for entry in entries {
            let entry = entry.as_ref();
            let block = Block::parse(entry).ok_or_else(|| {
                Error::config(format!(
                    "trusted proxy '{}' is not an address or an address/prefix block",
                    crate::error::excerpt(entry)
                ))
            })?;
            blocks.push(block);
        }
        Ok(TrustedProxies { blocks })
    }

    /// Whether no proxy is trusted (forwarding headers are never read).
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// The client address of a request from `peer` with these headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let forwarded = joined(headers, "forwarded");
        let entries: Vec<Option<IpAddr>> = match forwarded {
            Some(text) => forwarded_for(&text),
            None => match joined(headers, "x-forwarded-for") {
                Some(text) => text
                    .split(',')
                    .rev()
                    .take(MAX_HOPS)
                    .map(|e| node_addr(e.trim()))
                    .collect(),
                None => return peer,
            },
        };
        let mut client = peer;
        for entry in entries {
            let Some(addr) = entry else { break };
            client = canonical(addr);
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

/// All values of a header, joined with commas (`None` when absent, too long or not text).
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut out = String::new();
    let mut any = false;
    for value in headers.get_all(name) {
        any = true;
        let text = value.to_str().ok()?;
        if out.len() + text.len() + 1 > MAX_HEADER_BYTES {
            return None;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(text);
    }
    any.then_some(out)
}

/// The `for=` addresses of a `Forwarded` value, last element first (`None` for an element
/// without a usable address).
fn forwarded_for(text: &str) -> Vec<Option<IpAddr>> {
    text.split(',')
        .rev()
        .take(MAX_HOPS)
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, value)| node_addr(value.trim().trim_matches('"')))
        })
        .collect()
}

/// The address of a node: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`, `2001:db8::1`.
fn node_addr(text: &str) -> Option<IpAddr> {
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    let (host, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn blocks_parse_and_match() {
        let t = TrustedProxies::parse(&["10.0.0.0/8", "192.0.2.7", "fd00::/8", "::1"]).unwrap();
        assert!(t.contains(ip("10.1.2.3")));
        assert!(t.contains(ip("::ffff:10.1.2.3")));
        assert!(t.contains(ip("192.0.2.7")));
        assert!(!t.contains(ip("192.0.2.8")));
        assert!(t.contains(ip("fd12::1")));
        assert!(t.contains(ip("::1")));
        assert!(!t.contains(ip("2001:db8::1")));
        let all = TrustedProxies::parse(&["0.0.0.0/0"]).unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.1/x", "::/129", ""] {
            assert!(TrustedProxies::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_count_only_from_trusted_peers() {
        let t = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).unwrap();
        let h = headers(&[("x-forwarded-for", "203.0.113.5")]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("203.0.113.5"));
        assert_eq!(t.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        // A client's own entry on the left cannot pick its key: the walk stops at the first
        // untrusted address from the right.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.5, 10.0.0.2")]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("203.0.113.5"));
        // Several header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.6"),
        ]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("203.0.113.6"));
        // Garbage ends the walk at the last address seen.
        let h = headers(&[("x-forwarded-for", "203.0.113.5, garbage, 10.0.0.3")]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("10.0.0.3"));
        let h = headers(&[("x-forwarded-for", "garbage")]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        // No header: the peer.
        assert_eq!(
            t.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        // Too long: the peer.
        let long = vec!["203.0.113.5"; 2000].join(",");
        let h = headers(&[("x-forwarded-for", long.as_str())]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("127.0.0.1"));
    }

    #[test]
    fn forwarded_is_preferred_and_parsed() {
        let t = TrustedProxies::parse(&["127.0.0.1"]).unwrap();
        let h = headers(&[
            ("forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43"),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("192.0.2.60"));
        let h = headers(&[("forwarded", "for=\"[2001:db8:cafe::17]:4711\"")]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "For=\"192.0.2.43:47011\", for=unknown")]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        let h = headers(&[("forwarded", "for=192.0.2.43, for=\"_hidden\"")]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        let h = headers(&[("forwarded", "proto=https")]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("127.0.0.1"));
    }
}
