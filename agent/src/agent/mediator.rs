//! Talking to the mediator: every request the device makes to it (authcrypt from the control
//! DID, `return_route: all`, retried), the keylist, status, trust ping and the push target.

use std::time::{Duration, Instant};

use didcomm_edge::did::did_of;
use didcomm_edge::protocols::mediation::{MediationEvent, RecipientUpdateItem, UpdateResult};
use didcomm_edge::protocols::pickup::{PickupMessage, Status, StatusRequest};
use didcomm_edge::protocols::push::{GetTarget, RemoveTarget, SetTarget, Target};
use didcomm_edge::protocols::report_problem::{is_problem_report, ProblemReport};
use didcomm_edge::protocols::return_route::{with_return_route, ReturnRoute};
use didcomm_edge::protocols::trust_ping::{Ping, PING_RESPONSE_TYPE};
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::{DidComm, Message, PackEncryptedOptions, UnpackOptions};

use crate::error::{Error, ErrorKind, Result};
use crate::transport;

use super::{not_connected, EdgeAgent};

/// The mediator's DID and where to POST to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MediatorEndpoint {
    pub(crate) did: String,
    pub(crate) http: String,
}

impl EdgeAgent {
    /// Send a request to the mediator from the control DID (authcrypt, `return_route: all`)
    /// and return its verified reply. Retried while the failure is transient: every request
    /// the agent makes to the mediator is safe to repeat. Each attempt is a message of its own
    /// (a fresh id, packed again): an earlier attempt may have reached the mediator, which
    /// refuses a message id it has seen. The reply, checked to answer the attempt it came
    /// for, is returned threaded to `message`'s id, so the caller sees one exchange.
    pub(crate) async fn mediator_call(
        &self,
        endpoint: &MediatorEndpoint,
        message: Message,
    ) -> Result<Message> {
        let request_id = message.id.clone();
        let message = to_mediator(message, &self.inner.control_did, &endpoint.did);
        let mut attempt = 0u32;
        let (reply, attempt_id) = transport::retrying(&self.inner.config.retry, || {
            attempt += 1;
            let first = attempt == 1;
            let message = &message;
            async move {
                let mut this = message.clone();
                if !first {
                    this.id = didcomm_edge::crypto::uuid_v4()?;
                }
                let packed = pack_for_mediator(
                    &self.inner.didcomm,
                    &this,
                    &self.inner.control_did,
                    &endpoint.did,
                )
                .await?;
                match self.inner.http.post_raw(&endpoint.http, &packed).await? {
                    (200..=299, body) if body.trim().is_empty() => Ok((None, this.id)),
                    (200..=299, body) => Ok((Some(body), this.id)),
                    (status, body) => Err(self.refusal(endpoint, status, &body).await),
                }
            }
        })
        .await?;
        let Some(reply) = reply else {
            return Err(Error::protocol(format!(
                "the mediator accepted {} without replying (does it support return_route?)",
                message.type_
            )));
        };
        let mut reply = self.open_from_mediator(endpoint, &reply).await?;
        let answers = |id: &Option<String>| id.as_deref() == Some(attempt_id.as_str());
        if !answers(&reply.thid) && !answers(&reply.pthid) {
            return Err(Error::protocol(format!(
                "the mediator's {} does not answer our {}",
                reply.type_, message.type_
            )));
        }
        if attempt_id != request_id {
            for id in [&mut reply.thid, &mut reply.pthid] {
                if id.as_deref() == Some(attempt_id.as_str()) {
                    *id = Some(request_id.clone());
                }
            }
        }
        Ok(reply)
    }

    /// The error an HTTP refusal from the mediator stands for: its problem report when the
    /// body is one we can open, else its JSON reason.
    async fn refusal(&self, endpoint: &MediatorEndpoint, status: u16, body: &str) -> Error {
        if body.contains("\"ciphertext\"") {
            if let Err(e) = self.open_from_mediator(endpoint, body).await {
                if e.problem_report().is_some() {
                    return Error::refused_problem_with_status(e, status);
                }
            }
        }
        transport::refusal(&endpoint.http, status, body)
    }

    /// Unpack a message from the mediator: it must be encrypted and authenticated as the
    /// mediator; a problem report becomes a [`ErrorKind::Refused`] error.
    pub(crate) async fn open_from_mediator(
        &self,
        endpoint: &MediatorEndpoint,
        packed: &str,
    ) -> Result<Message> {
        let (message, metadata) = self
            .inner
            .replies
            .unpack(packed, &UnpackOptions::default())
            .await
            .map_err(|e| Error::from(e).context("the mediator's reply"))?;
        let from_mediator = metadata.encrypted
            && metadata.authenticated
            && message
                .from
                .as_deref()
                .is_some_and(|f| did_of(f) == did_of(&endpoint.did));
        if !from_mediator {
            return Err(Error::protocol(
                "a reply that is not authenticated as the mediator was ignored",
            ));
        }
        if is_problem_report(&message.type_) {
            let report = ProblemReport::from_message(&message)?;
            return Err(Error::refused_problem(report));
        }
        Ok(message)
    }

    /// Apply keylist updates, checking each outcome (`success` or `no_change`).
    pub(crate) async fn update_keylist(&self, updates: Vec<RecipientUpdateItem>) -> Result<()> {
        let endpoint = self.mediator_endpoint().await?;
        let request = {
            let mut state = self.inner.state.lock().await;
            let link = state.mediator.as_mut().ok_or_else(not_connected)?;
            link.mediation
                .update(&self.inner.control_did, updates.clone())?
        };
        let reply = self.mediator_call(&endpoint, request).await?;
        let event = {
            let mut state = self.inner.state.lock().await;
            let link = state.mediator.as_mut().ok_or_else(not_connected)?;
            let event = link.mediation.handle(&reply)?;
            self.save(&state).await?;
            event
        };
        let MediationEvent::Updated { updated } = event else {
            return Err(Error::protocol(format!(
                "unexpected answer to a keylist update: {event:?}"
            )));
        };
        for asked in &updates {
            let outcome = updated
                .iter()
                .find(|u| u.recipient_did == asked.recipient_did && u.action == asked.action);
            match outcome.map(|u| u.result) {
                Some(UpdateResult::Success | UpdateResult::NoChange) => {}
                Some(other) => {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "the mediator answered {} to {} {}",
                            other.as_str(),
                            asked.action.as_str(),
                            asked.recipient_did
                        ),
                    ))
                }
                None => {
                    return Err(Error::protocol(format!(
                        "the mediator did not answer the update of {}",
                        asked.recipient_did
                    )))
                }
            }
        }
        self.inner.keys_version.send_modify(|v| *v += 1);
        Ok(())
    }

    /// The recipient DIDs the mediator holds for this device (every page).
    pub async fn keylist(&self) -> Result<Vec<String>> {
        let endpoint = self.mediator_endpoint().await?;
        let mut dids = Vec::new();
        let mut offset = 0;
        // Bounded: a mediator that keeps paging forever is not followed.
        for _ in 0..100 {
            let paginate = didcomm_edge::protocols::mediation::Paginate { limit: 100, offset };
            let request = {
                let mut state = self.inner.state.lock().await;
                let link = state.mediator.as_mut().ok_or_else(not_connected)?;
                link.mediation
                    .query(&self.inner.control_did, Some(paginate))?
            };
            let reply = self.mediator_call(&endpoint, request).await?;
            let event = {
                let mut state = self.inner.state.lock().await;
                let link = state.mediator.as_mut().ok_or_else(not_connected)?;
                link.mediation.handle(&reply)?
            };
            let MediationEvent::Listed { list } = event else {
                return Err(Error::protocol(format!(
                    "unexpected answer to a keylist query: {event:?}"
                )));
            };
            let got = list.dids.len() as u64;
            dids.extend(list.dids);
            match list.pagination {
                Some(p) if p.remaining > 0 && got > 0 => offset += got,
                _ => break,
            }
        }
        {
            let mut state = self.inner.state.lock().await;
            if let Some(link) = state.mediator.as_mut() {
                link.mediation.recipient_dids = dids.iter().cloned().collect();
            }
            self.save(&state).await?;
        }
        Ok(dids)
    }

    /// Ask the mediator how many messages wait (for one recipient DID, or all of ours).
    pub async fn status(&self, recipient_did: Option<&str>) -> Result<Status> {
        let endpoint = self.mediator_endpoint().await?;
        let request = StatusRequest {
            version: self.inner.config.pickup_version,
            recipient_did: recipient_did.map(str::to_owned),
        }
        .to_message()?;
        let reply = self.mediator_call(&endpoint, request).await?;
        match PickupMessage::parse(&reply)? {
            PickupMessage::Status(status) => Ok(status),
            _ => Err(Error::protocol(format!(
                "the mediator answered a status-request with {}",
                reply.type_
            ))),
        }
    }

    /// Ask the mediator to wake this device by a push when messages arrive while it is not
    /// connected live (didcomm-edge Push 1.0 `set-target`; `platform` is `fcm`, `apns`,
    /// `webpush` or another name the mediator operator's push gateway knows, `token` the
    /// device's token there). Returns the target the mediator now holds.
    pub async fn set_push_target(&self, platform: &str, token: &str) -> Result<Target> {
        let request = SetTarget {
            platform: platform.to_owned(),
            token: token.to_owned(),
        }
        .to_message()?;
        self.push_call(request).await
    }

    /// The push target the mediator holds for this device (both fields `None`: none).
    pub async fn push_target(&self) -> Result<Target> {
        self.push_call(GetTarget {}.to_message()?).await
    }

    /// Ask the mediator to push no more.
    pub async fn remove_push_target(&self) -> Result<()> {
        self.push_call(RemoveTarget {}.to_message()?).await?;
        Ok(())
    }

    async fn push_call(&self, request: Message) -> Result<Target> {
        let endpoint = self.mediator_endpoint().await?;
        let reply = self.mediator_call(&endpoint, request).await?;
        Ok(Target::from_message(&reply)?)
    }

    /// Trust-ping the mediator over the control DID's channel; returns the round trip.
    pub async fn ping_mediator(&self) -> Result<Duration> {
        let endpoint = self.mediator_endpoint().await?;
        let started = Instant::now();
        let reply = self
            .mediator_call(&endpoint, Ping::default().to_message()?)
            .await?;
        if reply.type_ != PING_RESPONSE_TYPE {
            return Err(Error::protocol(format!(
                "the mediator answered a ping with {}",
                reply.type_
            )));
        }
        Ok(started.elapsed())
    }
}

/// Address `message` from `from` (a device's control DID) to the mediator `mediator_did`, and
/// ask for the reply on the same connection (`return_route: all`): how every request the agent
/// makes to its mediator is addressed. Pack it with [`pack_for_mediator`].
pub fn to_mediator(message: Message, from: &str, mediator_did: &str) -> Message {
    with_return_route(message, ReturnRoute::All)
        .from(from.to_owned())
        .to(mediator_did.to_owned())
}

/// Authcrypt `message` (already addressed, see [`to_mediator`]) from `from` to the mediator
/// `mediator_did` with `didcomm`, the way the agent packs its requests to the mediator.
pub async fn pack_for_mediator(
    didcomm: &DidComm,
    message: &Message,
    from: &str,
    mediator_did: &str,
) -> Result<String> {
    let (packed, _) = didcomm
        .pack_encrypted(
            message,
            mediator_did,
            Some(from),
            None,
            &PackEncryptedOptions::default(),
        )
        .await?;
    Ok(packed)
}
