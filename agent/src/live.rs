//! Live mode: messages pushed by the mediator over a WebSocket as they arrive (Message Pickup
//! live delivery), with reconnection and no loss across reconnections.
//!
//! A background task owns the socket. It hands each decrypted message to the application
//! ([`LiveStream::recv`]) and tells the mediator to delete it only when the application
//! acknowledges it ([`LiveStream::ack`]). When the socket drops, the task reconnects with
//! backoff, re-sends the acknowledgements the mediator had not confirmed, and turns live mode
//! on again; the mediator then pushes whatever is still queued. Messages the application holds
//! but has not acknowledged are not handed over twice; messages acknowledged whose confirmation
//! was lost are acknowledged again without being handed over.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use didcomm_edge::protocols::pickup::{
    LiveDeliveryChange, MessagesReceived, PickupVersion, StatusRequest,
};
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::Message;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::agent::is_too_large;
use crate::agent::{pack_for_mediator, to_mediator, Acknowledged, EdgeAgent, MediatorEndpoint};
use crate::config::Backoff;
use crate::error::{Error, ErrorKind, Result};
use crate::pickup::{
    read_delivery, DeliveredItem, DeliveryReply, Inbound, Received, Undecryptable,
};
use crate::transport::{self, WsStream};

/// What live mode hands to the application.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// A decrypted message.
    Message(Box<Received>),
    /// A delivered message that could not be opened (acknowledge it like the others).
    Undecryptable(Undecryptable),
}

impl LiveEvent {
    /// The mediator's id of the delivered message.
    pub fn queue_id(&self) -> &str {
        match self {
            LiveEvent::Message(m) => &m.queue_id,
            LiveEvent::Undecryptable(u) => &u.queue_id,
        }
    }

    /// The decrypted message, if it could be opened.
    pub fn received(&self) -> Option<&Received> {
        match self {
            LiveEvent::Message(m) => Some(m),
            LiveEvent::Undecryptable(_) => None,
        }
    }
}

/// Where the live connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveState {
    /// Opening the first connection.
    Connecting,
    /// Connected, live delivery on.
    Live,
    /// The connection dropped; trying again.
    Reconnecting {
        /// Attempts since the connection was last live.
        attempt: u32,
        /// Why the last attempt failed.
        last_error: String,
    },
    /// Stopped for good (refused, or the stream was dropped).
    Closed,
}

enum Command {
    Ack {
        ids: Vec<String>,
        done: oneshot::Sender<Result<()>>,
    },
}

/// Messages handed to the application and not acknowledged yet, by queue id: what
/// [`LiveHandle::ack_queue_id`] acknowledges. The worker hands a message over once only, so an
/// entry lost here could never be acknowledged on this stream.
type Unacknowledged = Arc<StdMutex<HashMap<String, LiveEvent>>>;

/// A live stream of incoming messages. Dropping it closes the connection; unacknowledged
/// messages stay queued at the mediator.
#[derive(Debug)]
pub struct LiveStream {
    agent: EdgeAgent,
    events: mpsc::Receiver<Result<LiveEvent>>,
    unacknowledged: Unacknowledged,
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<LiveState>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Ack { ids, .. } => f.debug_struct("Ack").field("ids", ids).finish(),
        }
    }
}

impl EdgeAgent {
    /// Receive live over the mediator's WebSocket. The stream reconnects by itself; see
    /// [`LiveStream`].
    pub async fn live(&self) -> Result<LiveStream> {
        let endpoint = self.mediator_endpoint().await?;
        let url = {
            let state = self.inner.state.lock().await;
            state
                .mediator
                .as_ref()
                .map(|m| m.websocket_url.clone())
                .ok_or_else(crate::agent::not_connected)?
        };
        let (events_tx, events) = mpsc::channel(64);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(LiveState::Connecting);
        let worker = Worker {
            agent: self.clone(),
            endpoint,
            url,
            events: events_tx,
            commands: commands_rx,
            state: state_tx,
            handed: HashSet::new(),
            pending: Vec::new(),
            draining: false,
            poll_due: false,
        };
        let task = tokio::spawn(worker.run());
        Ok(LiveStream {
            agent: self.clone(),
            events,
            unacknowledged: Unacknowledged::default(),
            commands,
            state,
            task: Some(task),
        })
    }
}

impl LiveStream {
    /// The next message. Errors: [`ErrorKind::Closed`] once the stream stopped, or the refusal
    /// that stopped it (e.g. no mediation grant).
    /// Cancel-safe: a message leaves the stream only when it is returned.
    pub async fn recv(&mut self) -> Result<LiveEvent> {
        let event = match self.events.recv().await {
            Some(event) => event?,
            None => return Err(Error::new(ErrorKind::Closed, "the live stream stopped")),
        };
        if let Ok(mut unacknowledged) = self.unacknowledged.lock() {
            unacknowledged.insert(event.queue_id().to_owned(), event.clone());
        }
        Ok(event)
    }

    /// Acknowledge a message the application has taken: the mediator deletes it. Returns once
    /// the mediator confirmed (across reconnections if need be), after sending the automatic
    /// replies it asked for (`ping-response`, `ack`).
    pub async fn ack(&self, event: &LiveEvent) -> Result<Acknowledged> {
        self.handle().ack(event).await
    }

    /// The connection state now.
    pub fn state(&self) -> LiveState {
        self.state.borrow().clone()
    }

    /// Wait until the connection is live (or `timeout` passes).
    pub async fn wait_live(&mut self, timeout: Duration) -> Result<()> {
        self.handle().wait_live(timeout).await
    }

    /// A handle that acknowledges and watches this stream from another task or thread, while
    /// this one waits in [`LiveStream::recv`] (a language binding's stream object needs both).
    pub fn handle(&self) -> LiveHandle {
        LiveHandle {
            agent: self.agent.clone(),
            unacknowledged: self.unacknowledged.clone(),
            commands: self.commands.clone(),
            state: self.state.clone(),
        }
    }

    /// Stop: close the connection and wait for the background task to end.
    pub async fn close(mut self) {
        self.events.close();
        let task = self.task.take();
        drop(self);
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Acknowledges and watches a [`LiveStream`] from elsewhere ([`LiveStream::handle`]). It does
/// not keep the connection open: once the stream is closed or dropped, its calls fail with
/// [`ErrorKind::Closed`].
#[derive(Debug, Clone)]
pub struct LiveHandle {
    agent: EdgeAgent,
    unacknowledged: Unacknowledged,
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<LiveState>,
}

impl LiveHandle {
    /// [`LiveStream::ack`].
    pub async fn ack(&self, event: &LiveEvent) -> Result<Acknowledged> {
        let ids = vec![event.queue_id().to_owned()];
        let (done, confirmed) = oneshot::channel();
        self.commands
            .send(Command::Ack {
                ids: ids.clone(),
                done,
            })
            .map_err(|_| Error::new(ErrorKind::Closed, "the live stream stopped"))?;
        confirmed
            .await
            .map_err(|_| Error::new(ErrorKind::Closed, "the live stream stopped"))??;
        let mut out = Acknowledged {
            ids,
            ..Acknowledged::default()
        };
        if let Ok(mut unacknowledged) = self.unacknowledged.lock() {
            unacknowledged.remove(event.queue_id());
        }
        if let LiveEvent::Message(received) = event {
            self.agent.auto_reply(received, &mut out).await;
        }
        Ok(out)
    }

    /// Acknowledge a message [`LiveStream::recv`] returned, by its queue id (for hosts that
    /// hand the application ids rather than events, like the language bindings). A message
    /// whose acknowledgement fails, or whose future is dropped before it ends, can be
    /// acknowledged again. [`ErrorKind::IllegalArgument`] for an id this stream did not hand
    /// over or already acknowledged.
    pub async fn ack_queue_id(&self, queue_id: &str) -> Result<Acknowledged> {
        let taken = self
            .unacknowledged
            .lock()
            .ok()
            .and_then(|mut unacknowledged| unacknowledged.remove(queue_id));
        let Some(event) = taken else {
            return Err(Error::illegal_argument(format!(
                "no message '{}' waits for an acknowledgement on this stream",
                didcomm_edge::error::excerpt(queue_id)
            )));
        };
        let mut held = PutBack {
            unacknowledged: &self.unacknowledged,
            event: Some(event.clone()),
        };
        let outcome = self.ack(&event).await;
        if outcome.is_ok() {
            held.event = None;
        }
        outcome
    }

    /// [`LiveStream::state`].
    pub fn state(&self) -> LiveState {
        self.state.borrow().clone()
    }

    /// [`LiveStream::wait_live`].
    pub async fn wait_live(&self, timeout: Duration) -> Result<()> {
        let mut state = self.state.clone();
        let wait = state.wait_for(|s| matches!(s, LiveState::Live | LiveState::Closed));
        let outcome = match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(state)) if *state == LiveState::Live => Ok(()),
            Ok(_) => Err(Error::new(ErrorKind::Closed, "the live stream stopped")),
            Err(_) => Err(Error::new(
                ErrorKind::TimedOut,
                format!("live delivery did not start within {timeout:?}"),
            )),
        };
        outcome
    }
}

/// Puts a message being acknowledged by id back among the unacknowledged ones unless the
/// acknowledgement succeeded: on failure and when the caller's future is dropped.
struct PutBack<'a> {
    unacknowledged: &'a Unacknowledged,
    event: Option<LiveEvent>,
}

impl Drop for PutBack<'_> {
    fn drop(&mut self) {
        if let Some(event) = self.event.take() {
            if let Ok(mut unacknowledged) = self.unacknowledged.lock() {
                unacknowledged.insert(event.queue_id().to_owned(), event);
            }
        }
    }
}

/// An acknowledgement sent (or to send) on the socket, waiting for the mediator's status.
struct PendingAck {
    ids: Vec<String>,
    done: Option<oneshot::Sender<Result<()>>>,
    /// The id of the `messages-received` that carried it on the current connection.
    sent_as: Option<String>,
}

/// Why a connection ended.
enum Ended {
    /// The application is gone: stop.
    Stop,
    /// Refused for good: report and stop.
    Refused(Error),
    /// Dropped or failed: reconnect.
    Lost(Error),
}

struct Worker {
    agent: EdgeAgent,
    endpoint: MediatorEndpoint,
    url: String,
    events: mpsc::Sender<Result<LiveEvent>>,
    commands: mpsc::UnboundedReceiver<Command>,
    state: watch::Sender<LiveState>,
    /// Handed to the application and not acknowledged yet.
    handed: HashSet<String>,
    pending: Vec<PendingAck>,
    /// A push was too large to read: until the queue is empty, messages come by
    /// `delivery-request` (which asks for fewer when a delivery is too large) instead of being
    /// pushed, so one oversized push cannot come back at every reconnection.
    draining: bool,
    /// While draining: an acknowledgement was confirmed, ask for more.
    poll_due: bool,
}

/// What one `delivery-request` while draining brought.
enum Polled {
    /// Nothing waits: live delivery can go on.
    Drained,
    /// Messages were delivered (new ones handed over, or ones still held by the application).
    More,
    /// The application is gone.
    Gone,
}

impl Worker {
    async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            let (ended, was_live) = self.connection().await;
            match ended {
                Ended::Stop => break,
                Ended::Refused(e) => {
                    let _ = self.events.send(Err(e)).await;
                    break;
                }
                Ended::Lost(e) => {
                    if was_live {
                        attempt = 0;
                    }
                    attempt = attempt.saturating_add(1);
                    let _ = self.state.send(LiveState::Reconnecting {
                        attempt,
                        last_error: e.to_string(),
                    });
                    let wait = self.backoff(attempt);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.events.closed() => break,
                    }
                }
            }
        }
        let _ = self.state.send(LiveState::Closed);
        for pending in self.pending.drain(..) {
            if let Some(done) = pending.done {
                let _ = done.send(Err(Error::new(
                    ErrorKind::Closed,
                    "the live stream stopped",
                )));
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        Backoff {
            initial: Duration::from_millis(200),
            max: self.agent.config().max_reconnect_backoff,
        }
        .delay(attempt)
    }

    /// One connection, from opening to its end; also says whether it got live.
    async fn connection(&mut self) -> (Ended, bool) {
        let config = self.agent.config().clone();
        let limit = Some(config.delivery_limit());
        let mut ws =
            match transport::ws_connect_limited(&self.url, config.request_timeout, limit, None)
                .await
            {
                Ok(ws) => ws,
                Err(e) if e.kind() == ErrorKind::IllegalArgument => {
                    return (Ended::Refused(e), false)
                }
                Err(e) => return (Ended::Lost(e), false),
            };
        // Acknowledgements not confirmed on the previous connection go first.
        for i in 0..self.pending.len() {
            let ids = self
                .pending
                .get(i)
                .map(|p| p.ids.clone())
                .unwrap_or_default();
            match self.send_ack(&mut ws, ids).await {
                Ok(sent_as) => {
                    if let Some(p) = self.pending.get_mut(i) {
                        p.sent_as = sent_as;
                    }
                }
                Err(e) => return (Ended::Lost(e), false),
            }
        }
        let mut live = false;
        let mut live_request = String::new();
        if self.draining {
            match self.poll(&mut ws).await {
                Ok(Polled::Drained) => self.draining = false,
                Ok(Polled::More) => {
                    live = true;
                    let _ = self.state.send(LiveState::Live);
                }
                Ok(Polled::Gone) => return (Ended::Stop, false),
                Err(e) if is_too_large(&e) => return (Ended::Refused(e), false),
                Err(e) => return (Ended::Lost(e), false),
            }
        }
        if !self.draining {
            live_request = match self.send_live_on(&mut ws).await {
                Ok(id) => id,
                Err(e) => return (Ended::Lost(e), false),
            };
        }
        let mut keys = self.agent.inner.keys_version.subscribe();
        keys.mark_unchanged();
        let mut keepalive = tokio::time::interval(config.keepalive);
        keepalive.tick().await;
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                frame = ws.next() => {
                    let text = match frame {
                        Some(Ok(WsMessage::Text(t))) => t.to_string(),
                        Some(Ok(WsMessage::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {
                            last_heard = Instant::now();
                            continue;
                        }
                        Some(Ok(WsMessage::Close(_))) | None => {
                            return (Ended::Lost(Error::new(ErrorKind::Unreachable, "the mediator closed the live connection")), live);
                        }
                        Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(_))) => {
                            self.draining = true;
                            return (Ended::Lost(too_large_push()), live);
                        }
                        Some(Err(_)) => {
                            return (Ended::Lost(Error::new(ErrorKind::Unreachable, "the live connection failed")), live);
                        }
                    };
                    last_heard = Instant::now();
                    match self.frame(&mut ws, &text, &live_request).await {
                        Ok(FrameOutcome::LiveConfirmed) => {
                            if !live {
                                live = true;
                                let _ = self.state.send(LiveState::Live);
                            }
                        }
                        Ok(FrameOutcome::Other) => {}
                        Ok(FrameOutcome::ApplicationGone) => return (Ended::Stop, live),
                        Ok(FrameOutcome::TooLarge) => {
                            self.draining = true;
                            return (Ended::Lost(too_large_push()), live);
                        }
                        Err(e) if e.is_transient() || e.kind() == ErrorKind::Unreachable => return (Ended::Lost(e), live),
                        Err(e) if !live => return (Ended::Refused(e), live),
                        Err(e) if e.kind() == ErrorKind::Refused => self.fail_oldest_pending(e),
                        Err(e) => return (Ended::Lost(e), live),
                    }
                    if self.poll_due {
                        self.poll_due = false;
                        if let Some(ended) = self.drain_step(&mut ws, &mut live_request).await {
                            return (ended, live);
                        }
                    }
                }
                command = self.commands.recv() => {
                    let Some(Command::Ack { ids, done }) = command else {
                        let _ = ws.close(None).await;
                        return (Ended::Stop, live);
                    };
                    self.pending.push(PendingAck { ids: ids.clone(), done: Some(done), sent_as: None });
                    match self.send_ack(&mut ws, ids).await {
                        Ok(sent_as) => {
                            if let Some(p) = self.pending.last_mut() {
                                p.sent_as = sent_as;
                            }
                                            }
                        Err(e) => return (Ended::Lost(e), live),
                    }
                }
                changed = keys.changed() => {
                    if changed.is_err() {
                        return (Ended::Stop, live);
                    }
                    if self.draining {
                        // Live delivery, for every key, starts once the queue is drained.
                        continue;
                    }
                    // New recipient DIDs (rotation): register them for live delivery too.
                    match self.send_live_on(&mut ws).await {
                        Ok(id) => live_request = id,
                        Err(e) => return (Ended::Lost(e), live),
                    }
                }
                _ = keepalive.tick() => {
                    if last_heard.elapsed() > config.keepalive.saturating_mul(2) {
                        return (Ended::Lost(Error::new(ErrorKind::TimedOut, "the live connection went silent")), live);
                    }
                    if ws.send(WsMessage::Ping(Vec::new().into())).await.is_err() {
                        return (Ended::Lost(Error::new(ErrorKind::Unreachable, "the live connection failed")), live);
                    }
                    if self.draining {
                        // New messages are not pushed while draining: look now and then.
                        if let Some(ended) = self.drain_step(&mut ws, &mut live_request).await {
                            return (ended, live);
                        }
                    }
                }
                () = self.events.closed() => {
                    let _ = ws.close(None).await;
                    return (Ended::Stop, live);
                }
            }
        }
    }

    /// Pack a request to the mediator from the control DID and send it on the socket.
    async fn send_request(&self, ws: &mut WsStream, message: Message) -> Result<String> {
        let id = message.id.clone();
        let control = self.agent.control_did();
        let message = to_mediator(message, control, &self.endpoint.did);
        let packed =
            pack_for_mediator(self.agent.didcomm(), &message, control, &self.endpoint.did).await?;
        ws.send(WsMessage::Text(packed.into()))
            .await
            .map_err(|_| Error::new(ErrorKind::Unreachable, "the live connection failed"))?;
        Ok(id)
    }

    async fn send_live_on(&self, ws: &mut WsStream) -> Result<String> {
        let request = LiveDeliveryChange {
            version: self.agent.config().pickup_version,
            live_delivery: true,
        }
        .to_message()?;
        self.send_request(ws, request).await
    }

    /// Send `messages-received`; returns the id of the request whose `status` reply confirms
    /// it. Pickup 4.0 does not answer `messages-received`, so a `status-request` follows it on
    /// the same socket (the mediator handles a connection's frames in order).
    async fn send_ack(&self, ws: &mut WsStream, ids: Vec<String>) -> Result<Option<String>> {
        let version = self.agent.config().pickup_version;
        let request = MessagesReceived {
            version,
            message_id_list: ids,
        }
        .to_message()?;
        let id = self.send_request(ws, request).await?;
        if version == PickupVersion::V3 {
            return Ok(Some(id));
        }
        let probe = StatusRequest {
            version,
            recipient_did: None,
        }
        .to_message()?;
        Ok(Some(self.send_request(ws, probe).await?))
    }

    fn confirmed(&mut self, pending: PendingAck) {
        for id in &pending.ids {
            self.handed.remove(id);
        }
        self.poll_due = self.draining;
        let agent = self.agent.clone();
        let ids = pending.ids.clone();
        let done = pending.done;
        // The state file write must not hold up the socket.
        tokio::spawn(async move {
            let mut state = agent.inner.state.lock().await;
            state.remember_acks(&ids);
            let saved = agent.save(&state).await;
            drop(state);
            if let Some(done) = done {
                let _ = done.send(saved);
            }
        });
    }

    fn fail_oldest_pending(&mut self, e: Error) {
        if let Some(index) = self.pending.iter().position(|p| p.sent_as.is_some()) {
            let p = self.pending.remove(index);
            if let Some(done) = p.done {
                let _ = done.send(Err(e));
            }
        }
    }

    async fn frame(
        &mut self,
        ws: &mut WsStream,
        text: &str,
        live_request: &str,
    ) -> Result<FrameOutcome> {
        if let Some(refusal) = transport::ws_refusal(&transport::endpoint_name(&self.url), text) {
            return Err(refusal);
        }
        let message = match self.agent.open_from_mediator(&self.endpoint, text).await {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::Refused => return Err(e),
            Err(e) if is_too_large(&e) => return Ok(FrameOutcome::TooLarge),
            // Not from our mediator, or not readable: ignored.
            Err(_) => return Ok(FrameOutcome::Other),
        };
        let thid = message.thid.clone().unwrap_or_default();
        match read_delivery(message) {
            Ok(Some(DeliveryReply::Status)) => {
                if thid == live_request {
                    return Ok(FrameOutcome::LiveConfirmed);
                }
                if let Some(index) = self
                    .pending
                    .iter()
                    .position(|p| p.sent_as.as_deref() == Some(thid.as_str()))
                {
                    let p = self.pending.remove(index);
                    self.confirmed(p);
                }
                Ok(FrameOutcome::Other)
            }
            Ok(Some(DeliveryReply::Delivery(items))) => {
                if self.hand(ws, items).await? {
                    return Ok(FrameOutcome::ApplicationGone);
                }
                // Live delivery has evidently started.
                Ok(FrameOutcome::LiveConfirmed)
            }
            _ => Ok(FrameOutcome::Other),
        }
    }

    /// Hand the delivered items the application does not hold yet over to it; acknowledge
    /// again those acknowledged before whose confirmation was lost. True when the application
    /// is gone.
    async fn hand(&mut self, ws: &mut WsStream, items: Vec<DeliveredItem>) -> Result<bool> {
        let mut again = Vec::new();
        for item in items {
            let acking = self.pending.iter().any(|p| p.ids.contains(&item.id));
            if acking || self.handed.contains(&item.id) {
                continue;
            }
            let id = item.id.clone();
            let event = match self.agent.open_item(item).await {
                Inbound::Message(m) => LiveEvent::Message(m),
                Inbound::Failed(f) => LiveEvent::Undecryptable(f),
                Inbound::AlreadyAcknowledged(id) => {
                    again.push(id);
                    continue;
                }
            };
            self.handed.insert(id);
            if self.events.send(Ok(event)).await.is_err() {
                return Ok(true);
            }
        }
        if !again.is_empty() {
            self.pending.push(PendingAck {
                ids: again.clone(),
                done: None,
                sent_as: None,
            });
            let sent_as = self.send_ack(ws, again).await?;
            if let Some(p) = self.pending.last_mut() {
                p.sent_as = sent_as;
            }
        }
        Ok(false)
    }

    /// While draining: one `delivery-request` (over HTTP; the socket carries the
    /// acknowledgements), its new messages handed over.
    async fn poll(&mut self, ws: &mut WsStream) -> Result<Polled> {
        let items = self.agent.request_delivery().await?;
        if items.is_empty() {
            return Ok(Polled::Drained);
        }
        if self.hand(ws, items).await? {
            return Ok(Polled::Gone);
        }
        Ok(Polled::More)
    }

    /// One step of draining; once the queue is empty, live delivery is turned on again.
    /// `Some` when the connection must end.
    async fn drain_step(&mut self, ws: &mut WsStream, live_request: &mut String) -> Option<Ended> {
        match self.poll(ws).await {
            Ok(Polled::More) => None,
            Ok(Polled::Gone) => Some(Ended::Stop),
            Ok(Polled::Drained) => {
                self.draining = false;
                match self.send_live_on(ws).await {
                    Ok(id) => {
                        *live_request = id;
                        None
                    }
                    Err(e) => Some(Ended::Lost(e)),
                }
            }
            Err(e) if is_too_large(&e) => Some(Ended::Refused(e)),
            Err(e) => Some(Ended::Lost(e)),
        }
    }
}

/// Why a connection was given up when a push was too large to read.
fn too_large_push() -> Error {
    Error::new(
        ErrorKind::Envelope(didcomm_edge::ErrorKind::TooLarge),
        "a live delivery exceeded AgentConfig::max_delivery_size; asking for fewer messages",
    )
}

enum FrameOutcome {
    LiveConfirmed,
    Other,
    ApplicationGone,
    /// A push too large to open: drain by `delivery-request` instead.
    TooLarge,
}
