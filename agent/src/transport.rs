//! Transports: HTTP POST of one packed message (reqwest), one kept-alive HTTP/1.1 connection
//! ([`HttpConnection`], hyper) and WebSocket connections ([`WsConnection`], tokio-tungstenite),
//! with network failures mapped to typed errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::config::RetryPolicy;
use crate::error::{shorten, Error, ErrorKind, Result};

/// The media type of an encrypted DIDComm message.
pub const ENCRYPTED_MEDIA_TYPE: &str = "application/didcomm-encrypted+json";

/// Largest reply body read by default ([`HttpTransport::max_reply`] changes it).
const MAX_REPLY_BYTES: usize = crate::config::DEFAULT_MAX_DELIVERY_SIZE;

/// What an HTTP POST answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpReply {
    /// Accepted, nothing to say (202, or 200/204 without a body).
    Accepted,
    /// A reply on the same connection (`return_route`): the packed message.
    Message(String),
}

/// An HTTP client for DIDComm endpoints.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    timeout: Duration,
    max_reply: usize,
}

impl HttpTransport {
    /// A client whose requests each take at most `timeout`.
    pub fn new(timeout: Duration) -> Result<HttpTransport> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| Error::new(ErrorKind::Unreachable, format!("HTTP client: {e}")))?;
        Ok(HttpTransport {
            client,
            timeout,
            max_reply: MAX_REPLY_BYTES,
        })
    }

    /// Read reply bodies of at most `bytes` (16 MiB by default); a longer one is an error of
    /// kind [`didcomm_edge::ErrorKind::TooLarge`], never a truncated text.
    #[must_use]
    pub fn max_reply(mut self, bytes: usize) -> Self {
        self.max_reply = bytes;
        self
    }

    /// POST one packed message to `url` and read the answer.
    pub async fn post(&self, url: &str, packed: &str) -> Result<HttpReply> {
        match self.post_raw(url, packed).await? {
            (200..=299, body) if body.trim().is_empty() => Ok(HttpReply::Accepted),
            (200..=299, body) => Ok(HttpReply::Message(body)),
            (status, body) => Err(refusal(url, status, &body)),
        }
    }

    /// POST one packed message; the status and body, whatever the status (network failures
    /// are errors).
    pub async fn post_raw(&self, url: &str, packed: &str) -> Result<(u16, String)> {
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, ENCRYPTED_MEDIA_TYPE)
            .body(packed.to_owned())
            .send()
            .await
            .map_err(|e| self.network_error(url, &e))?;
        let status = response.status().as_u16();
        let body = self.read_body(url, response).await?;
        Ok((status, body))
    }

    /// POST with retries of transient failures (the same bytes each time).
    pub async fn post_with_retry(
        &self,
        url: &str,
        packed: &str,
        retry: &RetryPolicy,
    ) -> Result<HttpReply> {
        retrying(retry, || self.post(url, packed)).await
    }

    /// GET `url` as text (invitations).
    pub async fn get_text(&self, url: &str) -> Result<String> {
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| self.network_error(url, &e))?;
        let status = response.status().as_u16();
        let body = self.read_body(url, response).await?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(refusal(url, status, &body))
        }
    }

    fn network_error(&self, url: &str, e: &reqwest::Error) -> Error {
        let target = endpoint_name(url);
        if e.is_timeout() {
            Error::new(
                ErrorKind::TimedOut,
                format!("{target} did not answer within {:?}", self.timeout),
            )
        } else if e.is_connect() {
            Error::new(
                ErrorKind::Unreachable,
                format!("cannot connect to {target}"),
            )
        } else if e.is_builder() {
            Error::illegal_argument(format!("{target} is not a usable URL"))
        } else {
            Error::new(
                ErrorKind::Unreachable,
                format!("the connection to {target} failed"),
            )
        }
    }

    /// The body, up to the reply limit (a longer body is refused as soon as it is seen to be,
    /// so no more than the limit is held).
    async fn read_body(&self, url: &str, mut response: reqwest::Response) -> Result<String> {
        let too_large = || {
            Error::new(
                ErrorKind::Envelope(didcomm_edge::ErrorKind::TooLarge),
                format!(
                    "the reply of {} exceeds the limit of {} bytes",
                    endpoint_name(url),
                    self.max_reply
                ),
            )
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_reply as u64)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.network_error(url, &e))?
        {
            if bytes.len().saturating_add(chunk.len()) > self.max_reply {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// One HTTP/1.1 connection kept alive, over plain TCP (no TLS: loopback, a local network, or
/// a TLS-terminating proxy beside the device). Requests go one after another on this very
/// connection; once the server closes it, requests fail ([`ErrorKind::Unreachable`]) rather
/// than opening another. For callers that need to know which connection a request used
/// (connection budgets, rate limits per connection, a device that keeps one socket to its
/// mediator); [`HttpTransport`] pools connections instead. It has no timeout of its own: wrap
/// a call in `tokio::time::timeout` where one is needed.
#[derive(Debug)]
pub struct HttpConnection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    max_reply: usize,
}

/// What a request on an [`HttpConnection`] answered, whatever the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body (at most the connection's reply limit).
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the body is a packed DIDComm message ([`ENCRYPTED_MEDIA_TYPE`]): a reply or a
    /// problem report.
    pub fn is_didcomm(&self) -> bool {
        self.content_type.as_deref() == Some(ENCRYPTED_MEDIA_TYPE)
    }
}

impl HttpConnection {
    /// Open a connection to `addr`.
    pub async fn connect(addr: SocketAddr) -> Result<HttpConnection> {
        let stream = Self::tcp(addr).await?;
        Self::handshake(stream, addr.to_string()).await
    }

    /// Open a TLS connection to `addr` that checks the server's certificate for
    /// `server_name` with `tls` (its roots: a private CA, or a test's own certificate).
    pub async fn connect_tls(
        addr: SocketAddr,
        server_name: &str,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<HttpConnection> {
        let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
            .map_err(|_| Error::illegal_argument("not a TLS server name"))?;
        let stream = Self::tcp(addr).await?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, stream)
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Unreachable,
                    format!("no TLS session with {addr} as {server_name}"),
                )
            })?;
        Self::handshake(stream, format!("{server_name}:{}", addr.port())).await
    }

    async fn tcp(addr: SocketAddr) -> Result<TcpStream> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|_| Error::new(ErrorKind::Unreachable, format!("cannot connect to {addr}")))?;
        // Requests are small and answered one at a time: do not wait to fill a segment.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    async fn handshake<S>(stream: S, host: String) -> Result<HttpConnection>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| Error::new(ErrorKind::Unreachable, format!("cannot connect to {host}")))?;
        tokio::spawn(connection);
        Ok(HttpConnection {
            sender,
            host,
            max_reply: MAX_REPLY_BYTES,
        })
    }

    /// Read reply bodies of at most `bytes` (16 MiB by default); a longer one is an error of
    /// kind [`didcomm_edge::ErrorKind::TooLarge`].
    #[must_use]
    pub fn max_reply(mut self, bytes: usize) -> Self {
        self.max_reply = bytes;
        self
    }

    /// Send `method` `path` with `body` (and its `content_type`); the answer, whatever its
    /// status (a failed or closed connection is an error).
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<HttpAnswer> {
        let failed = || {
            Error::new(
                ErrorKind::Unreachable,
                format!("the connection to {} failed", self.host),
            )
        };
        self.sender.ready().await.map_err(|_| failed())?;
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host);
        if let Some(content_type) = content_type {
            builder = builder.header(hyper::header::CONTENT_TYPE, content_type);
        }
        let request = builder.body(Full::new(Bytes::from(body))).map_err(|_| {
            Error::illegal_argument(format!("{method} {path} is not a valid request"))
        })?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|_| failed())?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = Limited::new(response.into_body(), self.max_reply)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Error::new(
                        ErrorKind::Envelope(didcomm_edge::ErrorKind::TooLarge),
                        format!(
                            "the reply of {} exceeds the limit of {} bytes",
                            self.host, self.max_reply
                        ),
                    )
                } else {
                    failed()
                }
            })?
            .to_bytes()
            .to_vec();
        Ok(HttpAnswer {
            status,
            content_type,
            body,
        })
    }

    /// POST one packed message to `/`.
    pub async fn post_packed(&mut self, packed: &str) -> Result<HttpAnswer> {
        let body = packed.as_bytes().to_vec();
        self.request("POST", "/", Some(ENCRYPTED_MEDIA_TYPE), body)
            .await
    }

    /// GET `path`.
    pub async fn get(&mut self, path: &str) -> Result<HttpAnswer> {
        self.request("GET", path, None, Vec::new()).await
    }
}

/// The refusal an error status (and its body) stands for. The mediator answers
/// `{"error": kind, "reason": "..."}`; other servers answer anything.
pub(crate) fn refusal(url: &str, status: u16, body: &str) -> Error {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let reason = parsed
        .as_ref()
        .and_then(|v| {
            let kind = v.get("error")?.as_str()?;
            let reason = v.get("reason").and_then(|r| r.as_str()).unwrap_or("");
            Some(format!("{kind}: {}", shorten(reason)))
        })
        .unwrap_or_else(|| format!("HTTP {status}"));
    Error::refused_http(status, format!("{} refused: {reason}", endpoint_name(url)))
}

/// Scheme, host and port of a URL (no path or query, which may carry tokens).
pub(crate) fn endpoint_name(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => u.scheme().to_owned(),
        },
        Err(_) => "an endpoint".to_owned(),
    }
}

/// Run `attempt` until it succeeds, fails for good, or the policy's attempts run out.
pub(crate) async fn retrying<T, F, Fut>(retry: &RetryPolicy, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let attempts = retry.attempts.max(1);
    let mut n = 1;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && n < attempts => {
                tokio::time::sleep(retry.backoff(n)).await;
                n += 1;
            }
            Err(e) if n > 1 => return Err(e.context(format!("after {n} attempts"))),
            Err(e) => return Err(e),
        }
    }
}

/// An open WebSocket.
pub(crate) type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Open a WebSocket to `url` within `timeout`.
pub(crate) async fn ws_connect(url: &str, timeout: Duration) -> Result<WsStream> {
    ws_connect_limited(url, timeout, None, None).await
}

/// Open a WebSocket to `url` within `timeout` whose incoming messages may be at most
/// `max_message` bytes (a larger one fails the connection with a capacity error instead of
/// being held in memory); tungstenite's defaults when `None`. `wss://` checks the server
/// against `tls` when given, else against the webpki roots.
pub(crate) async fn ws_connect_limited(
    url: &str,
    timeout: Duration,
    max_message: Option<usize>,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<WsStream> {
    let target = endpoint_name(url);
    let config = max_message.map(|limit| {
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit))
    });
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        url,
        config,
        false,
        tls.map(Connector::Rustls),
    );
    match tokio::time::timeout(timeout, connect).await {
        Err(_) => Err(Error::new(
            ErrorKind::TimedOut,
            format!("WebSocket to {target} did not open within {timeout:?}"),
        )),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => Err(Error::refused_http(
            response.status().as_u16(),
            format!("{target} refused the WebSocket upgrade"),
        )),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Url(_))) => Err(Error::illegal_argument(
            format!("{target} is not a WebSocket URL"),
        )),
        Ok(Err(_)) => Err(Error::new(
            ErrorKind::Unreachable,
            format!("cannot open a WebSocket to {target}"),
        )),
        Ok(Ok((stream, _))) => Ok(stream),
    }
}

/// One WebSocket connection carrying packed messages as text frames, for callers that drive
/// the exchange themselves (the agent's own live mode is [`crate::LiveStream`], which
/// reconnects and acknowledges by itself). Pings from the other side are answered.
#[derive(Debug)]
pub struct WsConnection {
    stream: WsStream,
    target: String,
}

impl WsConnection {
    /// Open a WebSocket to `url` (`ws://` or `wss://`) within `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<WsConnection> {
        Ok(WsConnection {
            stream: ws_connect(url, timeout).await?,
            target: endpoint_name(url),
        })
    }

    /// [`WsConnection::connect`] where a `wss://` server is checked with `tls` (its roots)
    /// instead of the webpki roots.
    pub async fn connect_tls(
        url: &str,
        timeout: Duration,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<WsConnection> {
        Ok(WsConnection {
            stream: ws_connect_limited(url, timeout, None, Some(tls)).await?,
            target: endpoint_name(url),
        })
    }

    /// Send `text` (a packed message, or anything) as one text frame.
    pub async fn send(&mut self, text: &str) -> Result<()> {
        self.stream
            .send(WsMessage::Text(text.to_owned().into()))
            .await
            .map_err(|_| self.failed())
    }

    /// The next text (or binary, read as text) frame, waiting at most `wait`: `None` when
    /// nothing came in time; an error of kind [`ErrorKind::Unreachable`] once the connection
    /// is closed or failed.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<String>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Ok(frame) = tokio::time::timeout_at(deadline, self.stream.next()).await else {
                return Ok(None);
            };
            match frame {
                Some(Ok(WsMessage::Text(text))) => return Ok(Some(text.to_string())),
                Some(Ok(WsMessage::Binary(bytes))) => {
                    return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {}
                Some(Ok(WsMessage::Close(_))) | None => {
                    return Err(Error::new(
                        ErrorKind::Unreachable,
                        format!("{} closed the WebSocket", self.target),
                    ))
                }
                Some(Err(_)) => return Err(self.failed()),
            }
        }
    }

    /// Send a ping frame (a keepalive, as live mode sends every
    /// [`crate::AgentConfig::keepalive`]); the pong is read and skipped by [`WsConnection::next`].
    pub async fn ping(&mut self) -> Result<()> {
        self.stream
            .send(WsMessage::Ping(Vec::new().into()))
            .await
            .map_err(|_| self.failed())
    }

    /// Close the connection (the close handshake, as far as the other side takes part).
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }

    fn failed(&self) -> Error {
        Error::new(
            ErrorKind::Unreachable,
            format!("the WebSocket to {} failed", self.target),
        )
    }
}

/// Send one packed message over a fresh WebSocket and close it (a peer whose endpoint is a
/// WebSocket URL).
pub(crate) async fn ws_send_once(url: &str, packed: &str, timeout: Duration) -> Result<()> {
    let mut ws = ws_connect(url, timeout).await?;
    let target = endpoint_name(url);
    let sent = tokio::time::timeout(timeout, async {
        ws.send(WsMessage::Text(packed.to_owned().into())).await?;
        ws.close(None).await?;
        // Drain until the close handshake completes; a refusal frame would arrive first.
        while let Some(frame) = ws.next().await {
            if let WsMessage::Text(text) = frame? {
                if let Some(e) = ws_refusal(&target, &text) {
                    return Ok(Err(e));
                }
            }
        }
        Ok::<_, tokio_tungstenite::tungstenite::Error>(Ok(()))
    })
    .await;
    match sent {
        Err(_) => Err(Error::new(
            ErrorKind::TimedOut,
            format!("sending over the WebSocket to {target} timed out"),
        )),
        Ok(Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed)) | Ok(Ok(Ok(()))) => Ok(()),
        Ok(Err(_)) => Err(Error::new(
            ErrorKind::Unreachable,
            format!("the WebSocket to {target} failed"),
        )),
        Ok(Ok(Err(e))) => Err(e),
    }
}

/// A WebSocket text frame that is a mediator's JSON refusal (`{"error", "reason"}`) rather than
/// a packed message.
pub(crate) fn ws_refusal(target: &str, text: &str) -> Option<Error> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let kind = value.get("error")?.as_str()?;
    if value.get("protected").is_some() {
        return None;
    }
    let reason = value.get("reason").and_then(|r| r.as_str()).unwrap_or("");
    let reason = format!("{target} refused: {kind}: {}", shorten(reason));
    // The HTTP status the mediator would have answered, so passing refusals count as such.
    let status = match kind {
        "rate_limited" => 429,
        "storage" | "unavailable" => 503,
        "forbidden" => 403,
        "too_large" => 413,
        "quota_exceeded" => 507,
        _ => 400,
    };
    Some(Error::refused_http(status, reason))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn endpoint_names_hide_paths_and_queries() {
        assert_eq!(
            endpoint_name("http://127.0.0.1:8080/didcomm?token=secret"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            endpoint_name("https://example.com/x"),
            "https://example.com"
        );
        assert_eq!(endpoint_name("not a url"), "an endpoint");
    }

    #[test]
    fn refusals_read_the_mediator_json() {
        let e = refusal(
            "http://h:1/",
            403,
            r#"{"error":"forbidden","reason":"no grant"}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Refused);
        assert_eq!(e.http_status(), Some(403));
        assert!(e.reason().contains("forbidden: no grant"));
        assert!(!e.is_transient());
        let e = refusal("http://h:1/", 503, "<html>");
        assert!(e.is_transient());
        assert!(ws_refusal("x", r#"{"error":"bad_request","reason":"r"}"#).is_some());
        assert!(ws_refusal("x", r#"{"protected":"e30","error":"x"}"#).is_none());
        assert!(ws_refusal("x", "not json").is_none());
    }

    #[tokio::test]
    async fn retries_stop_on_permanent_errors() {
        let retry = RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let mut calls = 0;
        let r: Result<()> = retrying(&retry, || {
            calls += 1;
            async { Err(Error::new(ErrorKind::Unreachable, "down")) }
        })
        .await;
        assert_eq!(calls, 3);
        assert!(r.unwrap_err().reason().contains("after 3 attempts"));
        let mut calls = 0;
        let r: Result<()> = retrying(&retry, || {
            calls += 1;
            async { Err(Error::refused_http(400, "bad")) }
        })
        .await;
        assert_eq!(calls, 1);
        assert_eq!(r.unwrap_err().http_status(), Some(400));
    }

    /// A server on 127.0.0.1 that answers `answers` requests on its first connection with
    /// `response`, then closes it; later connections are accepted and closed at once.
    async fn one_connection_server(answers: usize, response: &'static [u8]) -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut first, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 4096];
            for _ in 0..answers {
                // Each test request is small enough for one read.
                if first.read(&mut buffer).await.unwrap_or(0) == 0 {
                    break;
                }
                first.write_all(response).await.unwrap();
            }
            drop(first);
            while let Ok((later, _)) = listener.accept().await {
                drop(later);
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_connection_reads_any_status_and_never_reconnects() {
        let addr = one_connection_server(
            2,
            b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\
              Content-Length: 2\r\n\r\n{}",
        )
        .await;
        let mut http = HttpConnection::connect(addr).await.unwrap();
        for _ in 0..2 {
            let answer = http.post_packed("{}").await.unwrap();
            assert_eq!(answer.status, 429);
            assert_eq!(answer.content_type.as_deref(), Some("application/json"));
            assert_eq!(answer.text(), "{}");
            assert!(!answer.is_didcomm());
        }
        // The server closed the connection: the next request fails instead of opening another.
        let e = http.get("/healthz").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unreachable);
    }

    #[tokio::test]
    async fn a_connection_refuses_a_reply_over_its_limit() {
        let addr = one_connection_server(
            1,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
        )
        .await;
        let mut http = HttpConnection::connect(addr).await.unwrap().max_reply(4);
        let e = http.get("/").await.unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::Envelope(didcomm_edge::ErrorKind::TooLarge)
        );
    }

    #[tokio::test]
    async fn connecting_to_nothing_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = HttpConnection::connect(addr).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unreachable);
        let e = WsConnection::connect(&format!("ws://{addr}/ws"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unreachable);
    }
}
