//! `did:web`: the document is fetched over HTTPS from the domain the DID names.
//!
//! The fetch goes through [`HttpClient`], which the host may replace (a browser's `fetch`, a
//! phone's HTTP stack). The core does no I/O itself: native hosts get a reqwest client from the
//! `didcomm-edge-web` crate. Documents are cached by the engine for [`WebResolver::ttl`].

use crate::prelude::*;

use alloc::sync::Arc;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use async_trait::async_trait;

use crate::did::doc::DidDocument;
use crate::error::{excerpt, Error, ErrorKind, Result};
use crate::MaybeSendSync;

/// Largest did:web document we accept.
pub const MAX_DOCUMENT_SIZE: usize = 256 * 1024;

/// An HTTP response: the status and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response body (at most the `max_len` asked for).
    pub body: Vec<u8>,
}

/// Fetches a URL with GET. Implement it to route did:web through the host's own HTTP stack.
///
/// Return an error of kind [`ErrorKind::ResolverFailure`] when the request could not be made,
/// and of kind [`ErrorKind::TooLarge`] when the body exceeds `max_len`.
#[cfg_attr(not(target_arch = "wasm32"), async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait(?Send))]
pub trait HttpClient: MaybeSendSync {
    /// GET `url` (`Accept: application/did+json, application/json`).
    async fn get(&self, url: &str, max_len: usize) -> Result<HttpResponse>;

    /// GET `url`, connecting only to addresses `policy` allows, checked after DNS resolution
    /// (a client that cannot see addresses, such as a browser's `fetch`, keeps the default:
    /// [`WebResolver`] itself refuses IP literals outside the policy). Redirects must stay on
    /// the same host.
    async fn get_with_policy(
        &self,
        url: &str,
        max_len: usize,
        policy: AddressPolicy,
    ) -> Result<HttpResponse> {
        let _ = policy;
        self.get(url, max_len).await
    }
}

/// Which IP addresses a did:web fetch may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressPolicy {
    /// Public unicast addresses only (the default): no loopback, private (RFC 1918), shared
    /// (RFC 6598), link-local, unique-local, multicast, unspecified, documentation or reserved
    /// address, so a stranger's DID cannot make us probe our own network.
    PublicOnly,
    /// Public addresses and loopback (local testing, with [`WebResolver::allow_loopback_http`]).
    PublicAndLoopback,
    /// Any address ([`WebResolver::allow_private_addresses`]: an intranet deployment).
    Any,
}

impl AddressPolicy {
    /// Whether `ip` may be connected to.
    pub fn allows(self, ip: IpAddr) -> bool {
        match self {
            AddressPolicy::Any => true,
            AddressPolicy::PublicAndLoopback => is_loopback_ip(ip) || is_public_ip(ip),
            AddressPolicy::PublicOnly => is_public_ip(ip),
        }
    }

    /// The error for connecting to `ip`, which the policy does not allow (the same for every
    /// client, so a refusal reads alike whoever checked it).
    pub fn refusal(self, ip: IpAddr) -> Error {
        let _ = self;
        let class = if is_loopback_ip(ip) {
            "a loopback"
        } else {
            "a private or special-purpose"
        };
        Error::new(
            ErrorKind::ResolverFailure,
            format!("the did:web host has {class} address ({ip}): not fetched"),
        )
    }
}

/// The IPv4 address an IPv6 address embeds (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(v4()),
        _ => None,
    }
}

fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || embedded_v4(v6).is_some_and(|v4| v4.is_loopback()),
    }
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (first & 0xff00) == 0xff00 // multicast
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || v6.segments()[..6] == [0; 6]) // IPv4-compatible (deprecated) ::/96
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", unspecified
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224) // multicast, reserved, broadcast
}

/// Resolves `did:web` DIDs through an [`HttpClient`].
#[derive(Clone)]
pub struct WebResolver {
    client: Arc<dyn HttpClient>,
    ttl: Duration,
    allow_loopback_http: bool,
    allow_private_addresses: bool,
}

impl core::fmt::Debug for WebResolver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebResolver")
            .field("ttl", &self.ttl)
            .field("allow_loopback_http", &self.allow_loopback_http)
            .field("allow_private_addresses", &self.allow_private_addresses)
            .finish_non_exhaustive()
    }
}

impl WebResolver {
    /// How long a did:web document stays cached by default.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

    /// A resolver fetching through `client`.
    pub fn new(client: Arc<dyn HttpClient>) -> WebResolver {
        WebResolver {
            client,
            ttl: Self::DEFAULT_TTL,
            allow_loopback_http: false,
            allow_private_addresses: false,
        }
    }

    /// Set how long fetched documents may be cached.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Fetch `did:web:127.0.0.1...` / `did:web:localhost...` over plain HTTP (tests and local
    /// development only; every other host stays HTTPS). The client must allow HTTP too. This
    /// also lets the fetch connect to loopback addresses, which are refused otherwise.
    #[must_use]
    pub fn allow_loopback_http(mut self, allow: bool) -> Self {
        self.allow_loopback_http = allow;
        self
    }

    /// Let did:web hosts resolve to private, loopback, link-local and other non-public
    /// addresses (an intranet deployment). Off by default: a DID names a host chosen by whoever
    /// sent it, and fetching it must not reach into our own network.
    #[must_use]
    pub fn allow_private_addresses(mut self, allow: bool) -> Self {
        self.allow_private_addresses = allow;
        self
    }

    /// The addresses fetches may connect to.
    pub fn address_policy(&self) -> AddressPolicy {
        if self.allow_private_addresses {
            AddressPolicy::Any
        } else if self.allow_loopback_http {
            AddressPolicy::PublicAndLoopback
        } else {
            AddressPolicy::PublicOnly
        }
    }

    /// How long fetched documents may be cached.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The URL of the document of `did`.
    pub fn document_url(&self, did: &str) -> Result<String> {
        document_url(did, self.allow_loopback_http)
    }

    /// Fetch and check the document of `did`; `Ok(None)` when the server says it does not
    /// exist (404, 410).
    pub async fn resolve(&self, did: &str) -> Result<Option<DidDocument>> {
        crate::did::check_did_len(did, "did:web DID")?;
        let url = self.document_url(did)?;
        let policy = self.address_policy();
        // IP literals are checked here, whatever the client; names after DNS, by the client.
        if let Some(ip) = literal_ip_of(did) {
            if !policy.allows(ip) {
                return Err(policy.refusal(ip));
            }
        } else if policy == AddressPolicy::PublicOnly && is_local_name(did) {
            return Err(Error::new(
                ErrorKind::ResolverFailure,
                "the did:web host is a local name: not fetched",
            ));
        }
        let quoted = excerpt(&url);
        let response = self
            .client
            .get_with_policy(&url, MAX_DOCUMENT_SIZE, policy)
            .await
            .map_err(|e| e.context(format!("fetching {quoted}")))?;
        match response.status {
            200..=299 => {}
            404 | 410 => return Ok(None),
            status => {
                return Err(Error::new(
                    ErrorKind::ResolverFailure,
                    format!("fetching {quoted}: HTTP status {status}"),
                ))
            }
        }
        if response.body.len() > MAX_DOCUMENT_SIZE {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("the document at {quoted} exceeds {MAX_DOCUMENT_SIZE} bytes"),
            ));
        }
        let text = core::str::from_utf8(&response.body)
            .map_err(|_| Error::malformed(format!("the document at {quoted} is not UTF-8")))?;
        let doc = DidDocument::from_json(text)?;
        if doc.id != did {
            return Err(Error::malformed(format!(
                "the document at {quoted} is for another DID"
            )));
        }
        Ok(Some(doc))
    }
}

/// The URL of the document of a `did:web` DID: `did:web:example.com` is
/// `https://example.com/.well-known/did.json`, `did:web:example.com:u:alice` is
/// `https://example.com/u/alice/did.json`, and a port is written `%3A` (`did:web:host%3A8443`).
pub fn document_url(did: &str, allow_loopback_http: bool) -> Result<String> {
    let msi = did
        .strip_prefix("did:web:")
        .ok_or_else(|| Error::illegal_argument("not a did:web DID"))?;
    let mut parts = msi.split(':');
    let host = parts.next().unwrap_or_default();
    let host = percent_decode(host)?;
    check_host(&host)?;
    let path: Vec<String> = parts.map(percent_decode).collect::<Result<_>>()?;
    for segment in &path {
        if segment.is_empty()
            || segment == "."
            || segment == ".."
            || !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=@".contains(&b))
        {
            return Err(Error::malformed(format!(
                "did:web path segment '{}' is not allowed",
                excerpt(segment)
            )));
        }
    }
    let scheme = if allow_loopback_http && is_loopback(&host) {
        "http"
    } else {
        "https"
    };
    Ok(if path.is_empty() {
        format!("{scheme}://{host}/.well-known/did.json")
    } else {
        format!("{scheme}://{host}/{}/did.json", path.join("/"))
    })
}

fn percent_decode(s: &str) -> Result<String> {
    crate::percent::decode(s).map_err(|_| Error::malformed("did:web has a bad percent-encoding"))
}

/// A host name or IPv4 address with an optional port (IPv6 literals are not supported).
fn check_host(host: &str) -> Result<()> {
    let bad = || {
        Error::malformed(format!(
            "did:web host '{}' is not a valid host",
            excerpt(host)
        ))
    };
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if let Some(port) = port {
        if port.is_empty()
            || port.len() > 5
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err()
        {
            return Err(bad());
        }
    }
    let labels_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if labels_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// The host of a did:web DID when it is an IPv4 literal.
fn literal_ip_of(did: &str) -> Option<IpAddr> {
    let host = did.strip_prefix("did:web:")?.split(':').next()?;
    let host = percent_decode(host).ok()?;
    let name = host.split_once(':').map_or(host.as_str(), |(name, _)| name);
    name.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// `localhost` and its subdomains, which never name a public host (RFC 6761).
fn is_local_name(did: &str) -> bool {
    let Some(host) = did
        .strip_prefix("did:web:")
        .and_then(|r| r.split(':').next())
    else {
        return false;
    };
    let Ok(host) = percent_decode(host) else {
        return false;
    };
    let name = host
        .split_once(':')
        .map_or(host.as_str(), |(name, _)| name)
        .to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

fn is_loopback(host: &str) -> bool {
    let name = host.split_once(':').map_or(host, |(name, _)| name);
    matches!(name, "127.0.0.1" | "localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_classes() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public_ip(ip(public)), "{public}");
        }
        for private in [
            "0.0.0.0",
            "10.1.2.3",
            "127.0.0.1",
            "127.9.9.9",
            "100.64.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "192.0.2.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public_ip(ip(private)), "{private}");
            assert!(!AddressPolicy::PublicOnly.allows(ip(private)), "{private}");
            assert!(AddressPolicy::Any.allows(ip(private)));
        }
        assert!(AddressPolicy::PublicAndLoopback.allows(ip("127.0.0.1")));
        assert!(AddressPolicy::PublicAndLoopback.allows(ip("::1")));
        assert!(!AddressPolicy::PublicAndLoopback.allows(ip("10.0.0.1")));
    }

    #[test]
    fn urls() {
        let url = |did| document_url(did, false);
        assert_eq!(
            url("did:web:example.com").unwrap(),
            "https://example.com/.well-known/did.json"
        );
        assert_eq!(
            url("did:web:w3c-ccg.github.io:user:alice").unwrap(),
            "https://w3c-ccg.github.io/user/alice/did.json"
        );
        assert_eq!(
            url("did:web:example.com%3A3000:user:alice").unwrap(),
            "https://example.com:3000/user/alice/did.json"
        );
        assert_eq!(
            url("did:web:127.0.0.1%3A8080").unwrap(),
            "https://127.0.0.1:8080/.well-known/did.json"
        );
        assert_eq!(
            document_url("did:web:127.0.0.1%3A8080", true).unwrap(),
            "http://127.0.0.1:8080/.well-known/did.json"
        );
        assert_eq!(
            document_url("did:web:example.com", true).unwrap(),
            "https://example.com/.well-known/did.json"
        );
        for bad in [
            "did:web:",
            "did:web:exa mple.com",
            "did:web:example.com%2Fevil",
            "did:web:example.com:..:x",
            "did:web:example.com::x",
            "did:web:example.com%3A99999",
            "did:web:example.com%3",
            "did:web:user@example.com",
            "did:web:-x.com",
        ] {
            assert!(url(bad).is_err(), "{bad}");
        }
    }
}
