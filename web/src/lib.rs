//! did:web over HTTPS for didcomm-edge hosts: [`ReqwestClient`], the reqwest client behind the
//! core's [`HttpClient`] trait, and [`resolver`], a [`WebResolver`] over it.
//!
//! The core does no I/O; the rules of did:web (document URL, [`AddressPolicy`], size limit,
//! document checks) stay there, and this crate only makes the connections they allow.
//!
//! ```no_run
//! # fn main() -> didcomm_edge::Result<()> {
//! let chain = didcomm_edge::ResolverChain::new().with_web(didcomm_edge_web::resolver()?);
//! # let _ = chain;
//! # Ok(())
//! # }
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use didcomm_edge::did::methods::web::{AddressPolicy, HttpClient, HttpResponse, WebResolver};
use didcomm_edge::{Error, ErrorKind, Result};

/// A did:web resolver over the built-in HTTPS client (what `ResolverChain::new()` used to do by
/// itself): public addresses only, HTTPS only.
pub fn resolver() -> Result<WebResolver> {
    Ok(WebResolver::new(Arc::new(ReqwestClient::new(false)?)))
}

/// A did:web resolver that also fetches `did:web:127.0.0.1...` / `did:web:localhost...` over
/// plain HTTP ([`WebResolver::allow_loopback_http`]; local testing only).
pub fn loopback_resolver() -> Result<WebResolver> {
    Ok(WebResolver::new(Arc::new(ReqwestClient::new(true)?)).allow_loopback_http(true))
}

/// Resolve the host of `url` and check every address against `policy`; returns the checked
/// addresses to pin the connection to (empty for an IP literal, which is checked itself).
/// The one home of this check for every client of the workspace (the mediator's outbound
/// delivery connects only where it allows, pinned the same way).
pub async fn checked_addresses(
    url: &reqwest::Url,
    policy: AddressPolicy,
) -> Result<Vec<std::net::SocketAddr>> {
    ReqwestClient::checked_addresses(url, policy).await
}

/// How many redirects a did:web fetch follows (on the same host only).
const MAX_REDIRECTS: usize = 3;

/// The built-in HTTP client: reqwest with rustls (webpki roots), 10 s timeout, HTTPS only
/// unless plain HTTP is allowed for loopback tests. Every fetch resolves the host itself,
/// checks every address against the [`AddressPolicy`] and pins the connection to the checked
/// addresses (so a second DNS answer cannot swap in another address); redirects are followed
/// only on the same host and port, at most 3. [`HttpClient::get`] allows public addresses only.
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    allow_http: bool,
}

impl ReqwestClient {
    /// A client; `allow_http` lets it fetch plain `http://` URLs (pair it with
    /// [`WebResolver::allow_loopback_http`], which builds such URLs only for loopback hosts).
    pub fn new(allow_http: bool) -> Result<ReqwestClient> {
        let client = ReqwestClient { allow_http };
        // Fail early (as before) when no client can be built at all.
        client.build(None, &[])?;
        Ok(client)
    }

    /// A reqwest client for one fetch of `origin`: `pin` maps its host name to the checked
    /// addresses (empty for an IP literal); redirects must keep its scheme, host and port.
    fn build(
        &self,
        origin: Option<&reqwest::Url>,
        pin: &[std::net::SocketAddr],
    ) -> Result<reqwest::Client> {
        let origin_key = origin.map(|u| {
            (
                u.scheme().to_owned(),
                u.host_str().map(str::to_owned),
                u.port_or_known_default(),
            )
        });
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            let next = attempt.url();
            let same_origin = origin_key.as_ref().is_some_and(|(scheme, host, port)| {
                next.scheme() == scheme
                    && next.host_str() == host.as_deref()
                    && next.port_or_known_default() == *port
            });
            if same_origin && attempt.previous().len() <= MAX_REDIRECTS {
                attempt.follow()
            } else {
                // The 3xx answer itself is returned: the resolver reports its status.
                attempt.stop()
            }
        });
        let mut builder = reqwest::Client::builder()
            .https_only(!self.allow_http)
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(redirects)
            // A proxy from the environment would connect wherever it likes and bypass the
            // address check and pinning below.
            .no_proxy()
            .user_agent(concat!("didcomm-edge/", env!("CARGO_PKG_VERSION")));
        if let Some(host) = origin.and_then(reqwest::Url::host_str) {
            if !pin.is_empty() {
                builder = builder.resolve_to_addrs(host, pin);
            }
        }
        builder
            .build()
            .map_err(|_| Error::new(ErrorKind::ResolverFailure, "cannot build the HTTP client"))
    }

    /// Resolve the host of `url` and check every address against `policy`.
    async fn checked_addresses(
        url: &reqwest::Url,
        policy: AddressPolicy,
    ) -> Result<Vec<std::net::SocketAddr>> {
        let failure = |what: &str| Error::new(ErrorKind::ResolverFailure, what.to_owned());
        let port = url
            .port_or_known_default()
            .ok_or_else(|| failure("the URL has no port"))?;
        let host = url
            .host_str()
            .ok_or_else(|| failure("the URL has no host"))?
            .to_owned();
        // IPv6 literals come bracketed.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            if !policy.allows(ip) {
                return Err(policy.refusal(ip));
            }
            return Ok(vec![]);
        }
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| failure("cannot resolve the host"))?
            .collect();
        if addrs.is_empty() {
            return Err(failure("the host has no address"));
        }
        if let Some(bad) = addrs.iter().find(|a| !policy.allows(a.ip())) {
            return Err(policy.refusal(bad.ip()));
        }
        Ok(addrs)
    }
}

#[async_trait]
impl HttpClient for ReqwestClient {
    async fn get(&self, url: &str, max_len: usize) -> Result<HttpResponse> {
        self.get_with_policy(url, max_len, AddressPolicy::PublicOnly)
            .await
    }

    async fn get_with_policy(
        &self,
        url: &str,
        max_len: usize,
        policy: AddressPolicy,
    ) -> Result<HttpResponse> {
        let failure = |what: &str| Error::new(ErrorKind::ResolverFailure, what.to_owned());
        let parsed = reqwest::Url::parse(url).map_err(|_| failure("not a URL"))?;
        let pin = Self::checked_addresses(&parsed, policy).await?;
        let client = self.build(Some(&parsed), &pin)?;
        let mut response = client
            .get(parsed)
            .header("accept", "application/did+json, application/json")
            .send()
            .await
            .map_err(|e| {
                failure(if e.is_timeout() {
                    "the request timed out"
                } else if e.is_connect() {
                    "cannot connect"
                } else {
                    "the request failed"
                })
            })?;
        let status = response.status().as_u16();
        if response
            .content_length()
            .is_some_and(|len| len > max_len as u64)
        {
            return Err(Error::new(ErrorKind::TooLarge, "the response is too large"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| failure("the response body could not be read"))?
        {
            if body.len() + chunk.len() > max_len {
                return Err(Error::new(ErrorKind::TooLarge, "the response is too large"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse { status, body })
    }
}
