//! Prometheus metrics, kept in atomics and written in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::storage::QueueStats;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// A latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Record one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bound, counter) in BUCKETS.iter().zip(&self.counts) {
            if seconds <= *bound {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, counter) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

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
}

/// Every metric of one mediator process.
#[derive(Debug, Default)]
pub struct Metrics {
    in_http: AtomicU64,
    in_ws: AtomicU64,
    out_http: AtomicU64,
    out_ws: AtomicU64,
    stored: AtomicU64,
    duplicates: AtomicU64,
    delivered: AtomicU64,
    acknowledged: AtomicU64,
    expired: AtomicU64,
    ws_connections: AtomicU64,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
    /// Time to handle one inbound message (unpack, store, reply), by transport.
    pub handle_http: Histogram,
    /// Same, for WebSocket frames.
    pub handle_ws: Histogram,
    /// Time for a store to become durable.
    pub store: Histogram,
}

impl Metrics {
    /// A message arrived.
    pub fn message_in(&self, transport: Transport) {
        match transport {
            Transport::Http => &self.in_http,
            Transport::WebSocket => &self.in_ws,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// A message left (a reply or a live delivery).
    pub fn message_out(&self, transport: Transport) {
        match transport {
            Transport::Http => &self.out_http,
            Transport::WebSocket => &self.out_ws,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// The handling latency of a message.
    pub fn handled(&self, transport: Transport, elapsed: Duration) {
        match transport {
            Transport::Http => self.handle_http.observe(elapsed),
            Transport::WebSocket => self.handle_ws.observe(elapsed),
        }
    }

    /// A message was queued (or was a duplicate).
    pub fn stored(&self, duplicate: bool, elapsed: Duration) {
        if duplicate {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stored.fetch_add(1, Ordering::Relaxed);
        }
        self.store.observe(elapsed);
    }

    /// Messages handed to a device.
    pub fn delivered(&self, count: u64) {
        self.delivered.fetch_add(count, Ordering::Relaxed);
    }

    /// Messages a device acknowledged (deleted).
    pub fn acknowledged(&self, count: u64) {
        self.acknowledged.fetch_add(count, Ordering::Relaxed);
    }

    /// Messages dropped by the expiry sweep.
    pub fn expired(&self, count: u64) {
        self.expired.fetch_add(count, Ordering::Relaxed);
    }

    /// A refusal, by reason (a stable snake_case name).
    pub fn refused(&self, reason: &'static str) {
        if let Ok(mut map) = self.refusals.lock() {
            *map.entry(reason).or_default() += 1;
        }
    }

    /// A WebSocket opened (`true`) or closed.
    pub fn ws_connection(&self, opened: bool) {
        if opened {
            self.ws_connections.fetch_add(1, Ordering::Relaxed);
        } else {
            self.ws_connections.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The text exposition, with the queue totals read from storage.
    pub fn render(&self, queues: Option<QueueStats>) -> String {
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in rows {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {value}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "didcomm_mediator_messages_in_total",
            "Packed messages received.",
            &[
                ("transport=\"http\"", load(&self.in_http)),
                ("transport=\"ws\"", load(&self.in_ws)),
            ],
        );
        counter(
            &mut out,
            "didcomm_mediator_messages_out_total",
            "Packed messages sent (replies and live deliveries).",
            &[
                ("transport=\"http\"", load(&self.out_http)),
                ("transport=\"ws\"", load(&self.out_ws)),
            ],
        );
        counter(
            &mut out,
            "didcomm_mediator_messages_stored_total",
            "Forwarded messages queued durably.",
            &[("", load(&self.stored))],
        );
        counter(
            &mut out,
            "didcomm_mediator_messages_duplicate_total",
            "Forwarded messages already queued (stored once).",
            &[("", load(&self.duplicates))],
        );
        counter(
            &mut out,
            "didcomm_mediator_messages_delivered_total",
            "Queued messages handed to devices.",
            &[("", load(&self.delivered))],
        );
        counter(
            &mut out,
            "didcomm_mediator_messages_acknowledged_total",
            "Queued messages deleted after messages-received.",
            &[("", load(&self.acknowledged))],
        );
        counter(
            &mut out,
            "didcomm_mediator_messages_expired_total",
            "Queued messages dropped by the expiry sweep.",
            &[("", load(&self.expired))],
        );
        let refusals: Vec<(String, u64)> = self
            .refusals
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (format!("reason=\"{k}\""), *v))
                    .collect()
            })
            .unwrap_or_default();
        let rows: Vec<(&str, u64)> = refusals.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        counter(
            &mut out,
            "didcomm_mediator_refusals_total",
            "Requests refused, by reason.",
            &rows,
        );
        let _ = writeln!(
            out,
            "# HELP didcomm_mediator_ws_connections Open WebSocket connections.\n\
             # TYPE didcomm_mediator_ws_connections gauge\n\
             didcomm_mediator_ws_connections {}",
            load(&self.ws_connections)
        );
        if let Some(q) = queues {
            let _ = writeln!(
                out,
                "# HELP didcomm_mediator_queue_messages Messages waiting in all queues.\n\
                 # TYPE didcomm_mediator_queue_messages gauge\n\
                 didcomm_mediator_queue_messages {}\n\
                 # HELP didcomm_mediator_queue_bytes Bytes waiting in all queues.\n\
                 # TYPE didcomm_mediator_queue_bytes gauge\n\
                 didcomm_mediator_queue_bytes {}",
                q.messages, q.bytes
            );
        }
        let _ = writeln!(
            out,
            "# HELP didcomm_mediator_handle_seconds Time to handle one inbound message.\n\
             # TYPE didcomm_mediator_handle_seconds histogram"
        );
        self.handle_http.write(
            &mut out,
            "didcomm_mediator_handle_seconds",
            "transport=\"http\"",
        );
        self.handle_ws.write(
            &mut out,
            "didcomm_mediator_handle_seconds",
            "transport=\"ws\"",
        );
        let _ = writeln!(
            out,
            "# HELP didcomm_mediator_store_seconds Time for a message to be stored durably.\n\
             # TYPE didcomm_mediator_store_seconds histogram"
        );
        self.store
            .write(&mut out, "didcomm_mediator_store_seconds", "");
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
