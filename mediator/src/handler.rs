//! The boundary between transports and message processing.
//!
//! A transport (HTTP, WebSocket) hands every packed message it receives to a
//! [`MessageHandler`] together with the [`Connection`] it came on, and sends back whatever packed
//! replies the handler returns (`return_route`). On connections that can carry messages at any
//! time (WebSocket) the handler may register recipient keys for live delivery; when a message
//! for such a key is stored (by this process or, with PostgreSQL, by another), the transport
//! calls [`MessageHandler::deliver_live`] and sends what it returns.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc};

use didcomm_edge::protocols::pickup::PickupVersion;

use crate::error::Result;
pub use crate::metrics::Transport;
use crate::storage::Notification;

/// Processes packed messages. Implemented by [`crate::mediator::MediatorHandler`].
#[async_trait]
pub trait MessageHandler: Send + Sync + 'static {
    /// Handle one packed message received on `connection`. Returns the packed replies to send
    /// back on the same connection (empty: nothing to say, HTTP answers 202).
    async fn handle(&self, packed: &[u8], connection: &Connection) -> Result<Vec<String>>;

    /// Messages may wait for the DID this connection is live for: return the packed messages
    /// to push now (e.g. a Pickup `delivery`).
    async fn deliver_live(&self, connection: &Connection) -> Result<Vec<String>> {
        let _ = connection;
        Ok(vec![])
    }
}

/// Why a live connection should look at its queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveSignal {
    /// A message was stored for this recipient key of the connection's DID.
    Stored(String),
    /// Look at every queue of the DID (notifications may have been missed).
    Resync,
}

/// What the handler learns about the connection a message came on, and what it may do with it.
#[derive(Debug)]
pub struct Connection {
    /// Unique within the process.
    pub id: u64,
    /// HTTP or WebSocket.
    pub transport: Transport,
    /// The peer's address.
    pub peer: SocketAddr,
    live: Option<LiveLink>,
}

#[derive(Debug)]
struct LiveLink {
    registry: Arc<LiveRegistry>,
    signals: mpsc::Sender<LiveSignal>,
    state: Mutex<LiveState>,
}

#[derive(Debug, Default)]
struct LiveState {
    /// The DID that turned live delivery on (the only one whose messages may be pushed), and
    /// the Message Pickup version it asked in.
    owner: Option<(String, PickupVersion)>,
    /// Ids pushed on this connection and not yet acknowledged: not pushed again.
    in_flight: HashSet<String>,
}

impl Connection {
    /// A connection that can only answer requests (HTTP).
    pub fn request_only(id: u64, transport: Transport, peer: SocketAddr) -> Connection {
        Connection {
            id,
            transport,
            peer,
            live: None,
        }
    }

    /// A connection that can carry messages at any time (WebSocket); `signals` is where
    /// the registry announces stored messages for its live keys.
    pub fn live_capable(
        id: u64,
        transport: Transport,
        peer: SocketAddr,
        registry: Arc<LiveRegistry>,
        signals: mpsc::Sender<LiveSignal>,
    ) -> Connection {
        Connection {
            id,
            transport,
            peer,
            live: Some(LiveLink {
                registry,
                signals,
                state: Mutex::new(LiveState::default()),
            }),
        }
    }

    /// Whether messages can be pushed on this connection.
    pub fn supports_live(&self) -> bool {
        self.live.is_some()
    }

    /// Turn live delivery on for every key of `owner` (replacing any earlier registration);
    /// deliveries are written in `version`. Returns `false` when the connection cannot carry
    /// live messages.
    pub fn start_live(&self, owner: &str, version: PickupVersion) -> bool {
        let Some(link) = &self.live else {
            return false;
        };
        self.stop_live();
        if let Ok(mut state) = link.state.lock() {
            state.owner = Some((owner.to_owned(), version));
            link.registry.register(owner, self.id, link.signals.clone());
        }
        // Push what is already queued.
        let _ = link.signals.try_send(LiveSignal::Resync);
        true
    }

    /// Ask this connection to look at its queues again (after a push that may have left
    /// messages behind: one `delivery` carries a bounded number).
    pub fn poke(&self) {
        if let Some(link) = &self.live {
            let _ = link.signals.try_send(LiveSignal::Resync);
        }
    }

    /// Turn live delivery off.
    pub fn stop_live(&self) {
        if let Some(link) = &self.live {
            if let Ok(mut state) = link.state.lock() {
                if let Some((owner, _)) = state.owner.take() {
                    link.registry.unregister(&owner, self.id);
                }
                state.in_flight.clear();
            }
        }
    }

    /// The DID live delivery runs for and the Pickup version of its deliveries, if on.
    pub fn live_owner(&self) -> Option<(String, PickupVersion)> {
        self.live
            .as_ref()
            .and_then(|l| l.state.lock().ok().and_then(|s| s.owner.clone()))
    }

    /// Remember that these message ids were pushed (so they are not pushed again).
    pub fn mark_in_flight(&self, ids: impl IntoIterator<Item = String>) {
        if let Some(Ok(mut state)) = self.live.as_ref().map(|l| l.state.lock()) {
            state.in_flight.extend(ids);
        }
    }

    /// Whether this id was pushed and not yet acknowledged.
    pub fn is_in_flight(&self, id: &str) -> bool {
        self.live
            .as_ref()
            .and_then(|l| l.state.lock().ok().map(|s| s.in_flight.contains(id)))
            .unwrap_or(false)
    }

    /// The ids pushed on this connection and not yet acknowledged.
    pub fn in_flight(&self) -> Vec<String> {
        self.live
            .as_ref()
            .and_then(|l| {
                l.state
                    .lock()
                    .ok()
                    .map(|s| s.in_flight.iter().cloned().collect())
            })
            .unwrap_or_default()
    }

    /// Forget pushed ids (they were acknowledged).
    pub fn acknowledged(&self, ids: &[String]) {
        if let Some(Ok(mut state)) = self.live.as_ref().map(|l| l.state.lock()) {
            for id in ids {
                state.in_flight.remove(id);
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.stop_live();
    }
}

/// Which live connections wait for which granted DIDs. One per process; fed by the storage's
/// notification stream.
#[derive(Debug, Default)]
pub struct LiveRegistry {
    by_owner: Mutex<HashMap<String, HashMap<u64, mpsc::Sender<LiveSignal>>>>,
}

impl LiveRegistry {
    fn register(&self, owner: &str, connection: u64, signals: mpsc::Sender<LiveSignal>) {
        if let Ok(mut map) = self.by_owner.lock() {
            map.entry(owner.to_owned())
                .or_default()
                .insert(connection, signals);
        }
    }

    fn unregister(&self, owner: &str, connection: u64) {
        if let Ok(mut map) = self.by_owner.lock() {
            if let Some(entries) = map.get_mut(owner) {
                entries.remove(&connection);
                if entries.is_empty() {
                    map.remove(owner);
                }
            }
        }
    }

    /// Whether `owner` has a live connection to this process.
    pub fn is_live(&self, owner: &str) -> bool {
        self.by_owner
            .lock()
            .map(|m| m.contains_key(owner))
            .unwrap_or(false)
    }

    /// How many DIDs have a live connection.
    pub fn live_owners(&self) -> usize {
        self.by_owner.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Pass one storage notification to the connections it concerns. A full signal queue
    /// means the connection already has work pending, so dropping the signal loses nothing.
    pub fn dispatch(&self, notification: &Notification) {
        let Ok(map) = self.by_owner.lock() else {
            return;
        };
        match notification {
            Notification::Stored { recipient, owner } => {
                if let Some(entries) = map.get(owner) {
                    for signals in entries.values() {
                        let _ = signals.try_send(LiveSignal::Stored(recipient.clone()));
                    }
                }
            }
            Notification::Resync => {
                let mut seen = HashSet::new();
                for entries in map.values() {
                    for (id, signals) in entries {
                        if seen.insert(*id) {
                            let _ = signals.try_send(LiveSignal::Resync);
                        }
                    }
                }
            }
        }
    }

    /// Forward the storage's notifications until the stream ends.
    pub async fn run(self: Arc<Self>, mut notifications: broadcast::Receiver<Notification>) {
        loop {
            match notifications.recv().await {
                Ok(n) => self.dispatch(&n),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.dispatch(&Notification::Resync);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
