//! Push for sleeping devices: when a message is queued for a device that is not connected live
//! to this process and has registered a push target (Push 1.0, [`crate::protocols::push`]),
//! the mediator calls the operator's push gateway (`push_gateway_url`), which wakes the device
//! through FCM, APNs or whatever its platform is; the device then picks up as usual.
//!
//! The webhook is a `POST` of a small JSON object that carries **no message content**:
//!
//! ```json
//! {"platform": "fcm", "token": "<the device's token>", "mediator_did": "did:peer:2...",
//!  "did": "<the device's DID>", "pending": 3}
//! ```
//!
//! (`pending`: messages waiting in the device's queues.) At most one push per device per
//! `push_min_interval_seconds` (more are counted as rate limited and dropped: the device picks
//! up everything at once); a failed call (network, timeout, non-2xx) is retried up to
//! `push_max_attempts` times with a doubling delay from half a second. Pushes are not
//! persisted: a push lost in a restart is made good by the next message or by the device's own
//! periodic pickup. The gateway URL is the operator's own, so any address is allowed.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::mediator::KeyedLimit;
use crate::metrics::{Metrics, Push};
use crate::storage::{Storage, MAX_RECIPIENTS};

/// Calls the push gateway.
#[derive(Debug)]
pub struct Pusher {
    url: reqwest::Url,
    client: reqwest::Client,
    storage: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
    mediator_did: String,
    per_device: KeyedLimit<String>,
    max_attempts: u32,
}

impl Pusher {
    /// A pusher to `url` with at most one push per device per `min_interval`.
    pub fn new(
        url: &str,
        storage: Arc<dyn Storage>,
        metrics: Arc<Metrics>,
        mediator_did: String,
        min_interval: Duration,
        max_attempts: u32,
        timeout: Duration,
    ) -> crate::Result<Pusher> {
        let url = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| crate::Error::config("push_gateway_url must be an http(s) URL"))?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("didcomm-edge-mediator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| crate::Error::config("cannot build the push gateway's HTTP client"))?;
        let rate = 1.0 / min_interval.as_secs_f64().max(0.001);
        Ok(Pusher {
            url,
            client,
            storage,
            metrics,
            mediator_did,
            per_device: KeyedLimit::new(rate, 1.0),
            max_attempts: max_attempts.max(1),
        })
    }

    /// A message was queued for `owner`, who is not connected live: push, unless one was sent
    /// for it within the interval. Returns at once (the call runs in its own task).
    pub fn message_queued(self: &Arc<Self>, owner: &str) {
        if self.per_device.check(&owner.to_owned()).is_err() {
            self.metrics.push(Push::RateLimited);
            return;
        }
        let this = Arc::clone(self);
        let owner = owner.to_owned();
        tokio::spawn(async move { this.push(&owner).await });
    }

    async fn push(&self, owner: &str) {
        let target = match self.storage.push_target(owner).await {
            Ok(Some(target)) => target,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "a push target could not be read");
                return;
            }
        };
        let pending = self.pending(owner).await;
        let body = json!({
            "platform": target.platform,
            "token": target.token,
            "mediator_did": self.mediator_did,
            "did": owner,
            "pending": pending,
        });
        let body = body.to_string();
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=self.max_attempts {
            let sent = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if sent {
                self.metrics.push(Push::Sent);
                return;
            }
            if attempt < self.max_attempts {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
        }
        self.metrics.push(Push::Failed);
        tracing::info!(platform = %target.platform, "the push gateway did not take a push");
    }

    /// Messages waiting for `owner` (0 when unknown).
    async fn pending(&self, owner: &str) -> u64 {
        let Ok((keys, _)) = self.storage.keylist(owner, 0, MAX_RECIPIENTS as u64).await else {
            return 0;
        };
        self.storage
            .queue_stats(&keys)
            .await
            .map_or(0, |s| s.messages)
    }
}
