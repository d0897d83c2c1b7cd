//! # didcomm-edge-testkit
//!
//! What the mediator's tests, its benchmark, the load generator and the demo drive it with
//! (not published). Everything goes through the edge agent's transports
//! ([`didcomm_edge_agent::transport`]); nothing here is a second client:
//!
//! - [`Device`]: a device at the protocol level, on the core's protocol types (Coordinate
//!   Mediation, Message Pickup, routing), that packs each request the way the agent does
//!   ([`didcomm_edge_agent::to_mediator`], [`didcomm_edge_agent::pack_for_mediator`]) but
//!   hands the packed bytes to the caller, so a test can replay, alter, hold back or count
//!   them. The full device (state file, retries, live mode, rotation) is
//!   [`didcomm_edge_agent::EdgeAgent`].
//! - [`MediatorProcess`]: the mediator binary started on loopback, its address, DID and
//!   invitation read from its output (the load generator, `make bench-hostile`, the crash
//!   tests, the end-to-end demo in `examples/edge-demo/`).
//! - [`SelfSignedTls`]: a certificate made for one run and the client side that trusts it, for
//!   TLS on loopback.
//! - The binary `didcomm-edge-mediator-load` (`make bench-mediator`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod device;
mod process;
mod tls;

pub use device::Device;
pub use didcomm_edge_agent::transport::{HttpAnswer, HttpConnection, WsConnection};
pub use didcomm_edge_agent::{Error, ErrorKind, Result};
pub use process::MediatorProcess;
pub use tls::SelfSignedTls;

/// The mediator's WebSocket endpoint at `addr` (`ws://addr/ws`, as the mediator advertises it).
pub fn websocket_url(addr: std::net::SocketAddr) -> String {
    didcomm_edge::routing::mediator_websocket_url(&format!("http://{addr}"))
}

/// A [`WsConnection`] to the mediator listening on `addr`, opened within `timeout`.
pub async fn connect_ws(
    addr: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> Result<WsConnection> {
    WsConnection::connect(&websocket_url(addr), timeout).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_websocket_url_is_the_one_the_mediator_advertises() {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
        assert_eq!(super::websocket_url(addr), "ws://127.0.0.1:8080/ws");
    }
}
