//! `did:web`: the document is fetched over HTTPS from the domain the DID names.
//!
//! The fetch goes through [`HttpClient`], which the host may replace (a browser's `fetch`, a
//! phone's HTTP stack). Native builds with the `native-http` feature (on by default) get
//! [`ReqwestClient`]. Documents are cached by the engine for [`WebResolver::ttl`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::did::doc::DidDocument;
use crate::error::{Error, ErrorKind, Result};
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
}

/// Resolves `did:web` DIDs through an [`HttpClient`].
#[derive(Clone)]
pub struct WebResolver {
    client: Arc<dyn HttpClient>,
    ttl: Duration,
    allow_loopback_http: bool,
}

impl std::fmt::Debug for WebResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebResolver")
            .field("ttl", &self.ttl)
            .field("allow_loopback_http", &self.allow_loopback_http)
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
        }
    }

    /// A resolver over the built-in HTTPS client.
    #[cfg(all(feature = "native-http", not(target_arch = "wasm32")))]
    pub fn native() -> Result<WebResolver> {
        Ok(WebResolver::new(Arc::new(ReqwestClient::new(false)?)))
    }

    /// Set how long fetched documents may be cached.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Fetch `did:web:127.0.0.1...` / `did:web:localhost...` over plain HTTP (tests and local
    /// development only; every other host stays HTTPS). The client must allow HTTP too.
    #[must_use]
    pub fn allow_loopback_http(mut self, allow: bool) -> Self {
        self.allow_loopback_http = allow;
        self
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
        let url = self.document_url(did)?;
        let response = self
            .client
            .get(&url, MAX_DOCUMENT_SIZE)
            .await
            .map_err(|e| e.context(format!("fetching {url}")))?;
        match response.status {
            200..=299 => {}
            404 | 410 => return Ok(None),
            status => {
                return Err(Error::new(
                    ErrorKind::ResolverFailure,
                    format!("fetching {url}: HTTP status {status}"),
                ))
            }
        }
        if response.body.len() > MAX_DOCUMENT_SIZE {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("the document at {url} exceeds {MAX_DOCUMENT_SIZE} bytes"),
            ));
        }
        let text = std::str::from_utf8(&response.body)
            .map_err(|_| Error::malformed(format!("the document at {url} is not UTF-8")))?;
        let doc = DidDocument::from_json(text)?;
        if doc.id != did {
            return Err(Error::malformed(format!(
                "the document at {url} is for another DID"
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
                "did:web path segment '{segment}' is not allowed"
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
    let bad = || Error::malformed("did:web has a bad percent-encoding");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// A host name or IPv4 address with an optional port (IPv6 literals are not supported).
fn check_host(host: &str) -> Result<()> {
    let bad = || Error::malformed(format!("did:web host '{host}' is not a valid host"));
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

fn is_loopback(host: &str) -> bool {
    let name = host.split_once(':').map_or(host, |(name, _)| name);
    matches!(name, "127.0.0.1" | "localhost")
}

/// The built-in HTTP client: reqwest with rustls (webpki roots), 10 s timeout, at most 3
/// redirects, HTTPS only unless plain HTTP is allowed for loopback tests.
#[cfg(all(feature = "native-http", not(target_arch = "wasm32")))]
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    client: reqwest::Client,
}

#[cfg(all(feature = "native-http", not(target_arch = "wasm32")))]
impl ReqwestClient {
    /// A client; `allow_http` lets it fetch plain `http://` URLs (pair it with
    /// [`WebResolver::allow_loopback_http`], which builds such URLs only for loopback hosts).
    pub fn new(allow_http: bool) -> Result<ReqwestClient> {
        let client = reqwest::Client::builder()
            .https_only(!allow_http)
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("didcomm-edge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| Error::new(ErrorKind::ResolverFailure, "cannot build the HTTP client"))?;
        Ok(ReqwestClient { client })
    }
}

#[cfg(all(feature = "native-http", not(target_arch = "wasm32")))]
#[async_trait]
impl HttpClient for ReqwestClient {
    async fn get(&self, url: &str, max_len: usize) -> Result<HttpResponse> {
        let failure = |what: &str| Error::new(ErrorKind::ResolverFailure, what.to_owned());
        let mut response = self
            .client
            .get(url)
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

#[cfg(test)]
mod tests {
    use super::*;

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
