//! Prometheus metrics: a `prometheus-client` registry, written in the Prometheus text
//! exposition format (version 0.0.4, [`CONTENT_TYPE`]).

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::storage::QueueStats;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

fn latency() -> Histogram {
    Histogram::new(BUCKETS)
}

/// One label: its name and value.
type Label = [(&'static str, &'static str); 1];

/// Which transport a message came or went by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP POST.
    Http,
    /// A WebSocket frame.
    WebSocket,
}

impl Transport {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::WebSocket => "ws",
        }
    }

    fn label(self) -> Label {
        [("transport", self.as_str())]
    }
}

/// How an outbound delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The endpoint accepted the message (2xx).
    Ok,
    /// It failed and will be retried.
    Failed,
    /// It failed for the last time (attempts used up, expired, or refused for good).
    GivenUp,
}

impl Delivery {
    fn label(self) -> Label {
        [(
            "result",
            match self {
                Delivery::Ok => "ok",
                Delivery::Failed => "failed",
                Delivery::GivenUp => "given_up",
            },
        )]
    }
}

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The gateway took it (2xx).
    Sent,
    /// It failed after its retries.
    Failed,
    /// Dropped: one was sent for the device within the interval.
    RateLimited,
}

impl Push {
    fn label(self) -> Label {
        [(
            "result",
            match self {
                Push::Sent => "sent",
                Push::Failed => "failed",
                Push::RateLimited => "rate_limited",
            },
        )]
    }
}

/// Every metric of one mediator process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// The queue totals, read from storage at each render (left out when it cannot answer).
    queues: Registry,
    queue_messages: Gauge<u64, AtomicU64>,
    queue_bytes: Gauge<u64, AtomicU64>,
    messages_in: Family<Label, Counter>,
    messages_out: Family<Label, Counter>,
    stored: Counter,
    duplicates: Counter,
    delivered: Counter,
    acknowledged: Counter,
    expired: Counter,
    ws_connections: Gauge<i64, AtomicI64>,
    refusals: Family<Label, Counter>,
    /// Time to handle one inbound message (unpack, store, reply), by transport.
    handle: Family<Label, Histogram, fn() -> Histogram>,
    /// Time for a store to become durable.
    store: Histogram,
    /// Messages waiting in the outbox (set by the outbound worker).
    outbox_messages: Gauge<u64, AtomicU64>,
    /// Outbound delivery attempts by result (`ok`, `failed`, `given_up`).
    deliveries: Family<Label, Counter>,
    /// Push gateway calls by result (`sent`, `failed`, `rate_limited`).
    pushes: Family<Label, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Registry::default(),
            queues: Registry::default(),
            queue_messages: Gauge::default(),
            queue_bytes: Gauge::default(),
            messages_in: Family::default(),
            messages_out: Family::default(),
            stored: Counter::default(),
            duplicates: Counter::default(),
            delivered: Counter::default(),
            acknowledged: Counter::default(),
            expired: Counter::default(),
            ws_connections: Gauge::default(),
            refusals: Family::default(),
            handle: Family::new_with_constructor(latency),
            store: latency(),
            outbox_messages: Gauge::default(),
            deliveries: Family::default(),
            pushes: Family::default(),
        };
        m.registered()
    }
}

impl Metrics {
    /// The registries filled with every metric (the registries keep handles to the same
    /// values). Counters are named without `_total`: the encoder appends it.
    fn registered(mut self) -> Self {
        // Both transports are exposed from the start, at zero.
        for transport in [Transport::Http, Transport::WebSocket] {
            let _ = self.messages_in.get_or_create(&transport.label());
            let _ = self.messages_out.get_or_create(&transport.label());
            let _ = self.handle.get_or_create(&transport.label());
        }
        let r = &mut self.registry;
        r.register(
            "didcomm_mediator_messages_in",
            "Packed messages received",
            self.messages_in.clone(),
        );
        r.register(
            "didcomm_mediator_messages_out",
            "Packed messages sent (replies and live deliveries)",
            self.messages_out.clone(),
        );
        r.register(
            "didcomm_mediator_messages_stored",
            "Forwarded messages queued durably",
            self.stored.clone(),
        );
        r.register(
            "didcomm_mediator_messages_duplicate",
            "Forwarded messages already queued (stored once)",
            self.duplicates.clone(),
        );
        r.register(
            "didcomm_mediator_messages_delivered",
            "Queued messages handed to devices",
            self.delivered.clone(),
        );
        r.register(
            "didcomm_mediator_messages_acknowledged",
            "Queued messages deleted after messages-received",
            self.acknowledged.clone(),
        );
        r.register(
            "didcomm_mediator_messages_expired",
            "Queued messages dropped by the expiry sweep",
            self.expired.clone(),
        );
        r.register(
            "didcomm_mediator_refusals",
            "Requests refused, by reason",
            self.refusals.clone(),
        );
        r.register(
            "didcomm_mediator_ws_connections",
            "Open WebSocket connections",
            self.ws_connections.clone(),
        );
        r.register_with_unit(
            "didcomm_mediator_handle",
            "Time to handle one inbound message",
            Unit::Seconds,
            self.handle.clone(),
        );
        r.register_with_unit(
            "didcomm_mediator_store",
            "Time for a message to be stored durably",
            Unit::Seconds,
            self.store.clone(),
        );
        for result in [Delivery::Ok, Delivery::Failed, Delivery::GivenUp] {
            let _ = self.deliveries.get_or_create(&result.label());
        }
        r.register(
            "didcomm_mediator_outbound_deliveries",
            "Outbound deliveries to devices' own endpoints, by result (ok; failed, to be \
             retried; given_up after the last attempt or at expiry)",
            self.deliveries.clone(),
        );
        for result in [Push::Sent, Push::Failed, Push::RateLimited] {
            let _ = self.pushes.get_or_create(&result.label());
        }
        r.register(
            "didcomm_mediator_pushes",
            "Push gateway calls for devices not connected live, by result (sent; failed after \
             its retries; rate_limited, dropped within the per-device interval)",
            self.pushes.clone(),
        );
        r.register(
            "didcomm_mediator_outbox_messages",
            "Messages waiting in the outbox for their endpoint",
            self.outbox_messages.clone(),
        );
        self.queues.register(
            "didcomm_mediator_queue_messages",
            "Messages waiting in all queues",
            self.queue_messages.clone(),
        );
        self.queues.register(
            "didcomm_mediator_queue_bytes",
            "Bytes waiting in all queues",
            self.queue_bytes.clone(),
        );
        self
    }

    /// A message arrived.
    pub fn message_in(&self, transport: Transport) {
        self.messages_in.get_or_create(&transport.label()).inc();
    }

    /// A message left (a reply or a live delivery).
    pub fn message_out(&self, transport: Transport) {
        self.messages_out.get_or_create(&transport.label()).inc();
    }

    /// The handling latency of a message.
    pub fn handled(&self, transport: Transport, elapsed: Duration) {
        self.handle
            .get_or_create(&transport.label())
            .observe(elapsed.as_secs_f64());
    }

    /// A message was queued (or was a duplicate).
    pub fn stored(&self, duplicate: bool, elapsed: Duration) {
        if duplicate {
            self.duplicates.inc();
        } else {
            self.stored.inc();
        }
        self.store.observe(elapsed.as_secs_f64());
    }

    /// Messages handed to a device.
    pub fn delivered(&self, count: u64) {
        self.delivered.inc_by(count);
    }

    /// Messages a device acknowledged (deleted).
    pub fn acknowledged(&self, count: u64) {
        self.acknowledged.inc_by(count);
    }

    /// Messages dropped by the expiry sweep.
    pub fn expired(&self, count: u64) {
        self.expired.inc_by(count);
    }

    /// A refusal, by reason (a stable snake_case name).
    pub fn refused(&self, reason: &'static str) {
        self.refusals.get_or_create(&[("reason", reason)]).inc();
    }

    /// An outbound delivery attempt ended.
    pub fn outbound(&self, result: Delivery) {
        self.deliveries.get_or_create(&result.label()).inc();
    }

    /// A push ended (or was not made).
    pub fn push(&self, result: Push) {
        self.pushes.get_or_create(&result.label()).inc();
    }

    /// How many messages wait in the outbox.
    pub fn outbox_depth(&self, messages: u64) {
        self.outbox_messages.set(messages);
    }

    /// A WebSocket opened (`true`) or closed.
    pub fn ws_connection(&self, opened: bool) {
        if opened {
            self.ws_connections.inc();
        } else {
            self.ws_connections.dec();
        }
    }

    /// The text exposition, with the queue totals read from storage.
    pub fn render(&self, queues: Option<QueueStats>) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        if let Some(q) = queues {
            self.queue_messages.set(q.messages);
            self.queue_bytes.set(q.bytes);
            let _ = prometheus_text::encode(&mut out, &self.queues);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.message_in(Transport::Http);
        m.refused("too_large");
        m.refused("too_large");
        m.handled(Transport::Http, Duration::from_millis(3));
        let text = m.render(Some(QueueStats {
            messages: 4,
            bytes: 10,
            ..QueueStats::default()
        }));
        assert!(text.contains("didcomm_mediator_messages_in_total{transport=\"http\"} 1"));
        assert!(text.contains("didcomm_mediator_refusals_total{reason=\"too_large\"} 2"));
        assert!(text.contains("didcomm_mediator_queue_messages 4"));
        assert!(text
            .contains("didcomm_mediator_handle_seconds_bucket{transport=\"http\",le=\"0.005\"} 1"));
        assert!(text
            .contains("didcomm_mediator_handle_seconds_bucket{transport=\"http\",le=\"0.002\"} 0"));
        assert!(text.contains("didcomm_mediator_store_seconds_count 0"));
    }
}
