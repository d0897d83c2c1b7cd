//! The in-memory backend: every table of the SQL backends as maps behind one mutex, nothing
//! written anywhere. For tests, the demo and hosts that embed the mediator without a database;
//! what it holds is gone when the process ends.
//!
//! It keeps the same contract as the SQL backends (`mediator/tests/storage_contract.rs` runs
//! the same test bodies on it): each call is one critical section, so it is atomic like their
//! transactions; keylist entries are decided by [`keylist::decide`](super::keylist::decide)
//! on facts read under the lock; every limit is checked before anything changes, so a refused
//! store leaves nothing behind (the SQL backends roll back a savepoint). "Durable" here means
//! visible to every later call: [`Storage::store`] returns once the message is in the map.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use didcomm_edge::AttachmentForm;
use tokio::sync::broadcast;

use super::keylist::{decide, Decision, Facts, Namespace};
use super::{
    check_ack_size, key_did, moved_recipient, quota_error, within_budget, Grant, KeylistResult,
    KeylistUpdate, NewMessage, Notification, OutboundMessage, OutboxLimits, PushTarget, QueueStats,
    Quota, QuotaRefusal, Storage, StoreOutcome, StoredMessage, MAX_CLAIM, MAX_PAGE,
    NOTIFY_CAPACITY, SCHEMA_VERSION,
};
use crate::error::{Error, ErrorKind, Result};

/// The in-memory backend.
pub struct MemoryStorage {
    state: Mutex<State>,
    notify: broadcast::Sender<Notification>,
    closed: AtomicBool,
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStorage").finish_non_exhaustive()
    }
}

impl Default for MemoryStorage {
    fn default() -> Self {
        MemoryStorage::new()
    }
}

/// A queued message (the `messages` row without its recipient, which is its queue's key).
#[derive(Debug, Clone)]
struct Queued {
    id: String,
    body: Vec<u8>,
    form: AttachmentForm,
    received_at_ms: u64,
    expires_at_ms: u64,
}

impl Queued {
    fn size(&self) -> u64 {
        self.body.len() as u64
    }
}

/// A message count and its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    messages: u64,
    bytes: u64,
}

impl Counts {
    /// Whether one more message of `size` stays within `max_messages` / `max_bytes`.
    fn fits(self, size: u64, max_messages: u64, max_bytes: u64) -> bool {
        self.messages.saturating_add(1) <= max_messages
            && self.bytes.saturating_add(size) <= max_bytes
    }

    fn add(&mut self, messages: u64, bytes: u64) {
        self.messages = self.messages.saturating_add(messages);
        self.bytes = self.bytes.saturating_add(bytes);
    }

    fn take(&mut self, messages: u64, bytes: u64) {
        self.messages = self.messages.saturating_sub(messages);
        self.bytes = self.bytes.saturating_sub(bytes);
    }
}

/// One recipient key's queue; it exists while it holds a message (as the `queues` rows).
#[derive(Debug)]
struct Queue {
    /// The granted DID it was last stored for (whose device counts include it).
    owner: String,
    /// The messages by arrival sequence.
    messages: BTreeMap<u64, Queued>,
    /// Sequence of each message id.
    ids: HashMap<String, u64>,
    counts: Counts,
}

#[derive(Debug, Default)]
struct State {
    grants: HashMap<String, Grant>,
    /// Owner (granted DID) of each registered key.
    keys: HashMap<String, String>,
    /// The keys of each owner, sorted (the keylist).
    keys_of: HashMap<String, BTreeSet<String>>,
    /// The registered keys of each namespace (a key's DID).
    keys_in: HashMap<String, BTreeSet<String>>,
    /// Owner of each namespace.
    namespaces: HashMap<String, String>,
    /// Non-empty queues by recipient key.
    queues: HashMap<String, Queue>,
    /// Recipients with a non-empty queue, per namespace.
    queued_in: HashMap<String, BTreeSet<String>>,
    /// Counts of all queues of each owner.
    devices: HashMap<String, Counts>,
    /// Counts of every queue.
    total: Counts,
    /// Acknowledged ids per recipient, with the expiry of their message.
    tombstones: HashMap<String, HashMap<String, u64>>,
    /// The outbox by id, each message with when it is due.
    outbox: HashMap<String, (OutboundMessage, u64)>,
    /// Push targets by granted DID.
    push_targets: HashMap<String, PushTarget>,
    /// The next arrival sequence number.
    next_seq: u64,
}

impl State {
    /// Whether a key is registered in the namespace or a message queued for one of its keys.
    fn namespace_in_use(&self, namespace: &str) -> bool {
        self.keys_in.get(namespace).is_some_and(|k| !k.is_empty())
            || self.queued_in.get(namespace).is_some_and(|q| !q.is_empty())
    }

    fn is_duplicate(&self, recipient: &str, id: &str) -> bool {
        self.queues
            .get(recipient)
            .is_some_and(|q| q.ids.contains_key(id))
            || self
                .tombstones
                .get(recipient)
                .is_some_and(|t| t.contains_key(id))
    }

    fn queue_counts(&self, recipient: &str) -> Counts {
        self.queues
            .get(recipient)
            .map_or_else(Counts::default, |q| q.counts)
    }

    fn device_counts(&self, owner: &str) -> Counts {
        self.devices.get(owner).copied().unwrap_or_default()
    }

    fn store(&mut self, m: &NewMessage, quota: Quota) -> Result<StoreOutcome> {
        if self.is_duplicate(&m.recipient, &m.id) {
            return Ok(StoreOutcome::Duplicate);
        }
        let namespace = key_did(&m.recipient);
        let claim = match self.namespaces.get(namespace) {
            Some(owner) if *owner == m.owner => false,
            // Held by another DID (the key changed hands since the lookup): never re-bound.
            Some(_) if self.namespace_in_use(namespace) => return Err(moved_recipient()),
            // A queued message holds the namespace for its owner.
            _ => true,
        };
        let size = m.body.len() as u64;
        if !self
            .queue_counts(&m.recipient)
            .fits(size, quota.max_messages, quota.max_bytes)
        {
            return Err(quota_error(QuotaRefusal::Queue, &quota));
        }
        if !self.device_counts(&m.owner).fits(
            size,
            quota.device_max_messages,
            quota.device_max_bytes,
        ) {
            return Err(quota_error(QuotaRefusal::Device, &quota));
        }
        if !self.total.fits(size, u64::MAX, quota.total_max_bytes) {
            return Err(quota_error(QuotaRefusal::Total, &quota));
        }
        // Checked: from here on nothing fails.
        if claim {
            self.namespaces
                .insert(namespace.to_owned(), m.owner.clone());
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let queue = self
            .queues
            .entry(m.recipient.clone())
            .or_insert_with(|| Queue {
                owner: m.owner.clone(),
                messages: BTreeMap::new(),
                ids: HashMap::new(),
                counts: Counts::default(),
            });
        if queue.owner != m.owner {
            // The queue's counts move to the device it is now stored for.
            let moved = queue.counts;
            let previous = std::mem::replace(&mut queue.owner, m.owner.clone());
            if let Some(device) = self.devices.get_mut(&previous) {
                device.take(moved.messages, moved.bytes);
            }
            self.devices
                .entry(m.owner.clone())
                .or_default()
                .add(moved.messages, moved.bytes);
        }
        queue.ids.insert(m.id.clone(), seq);
        queue.messages.insert(
            seq,
            Queued {
                id: m.id.clone(),
                body: m.body.clone(),
                form: m.form,
                received_at_ms: m.received_at_ms,
                expires_at_ms: m.expires_at_ms,
            },
        );
        queue.counts.add(1, size);
        self.devices
            .entry(m.owner.clone())
            .or_default()
            .add(1, size);
        self.total.add(1, size);
        self.queued_in
            .entry(namespace.to_owned())
            .or_default()
            .insert(m.recipient.clone());
        Ok(StoreOutcome::Stored)
    }

    /// Take the message `id` off `recipient`'s queue (its counters with it); forget the queue
    /// once empty.
    fn take_message(&mut self, recipient: &str, id: &str) -> Option<Queued> {
        let queue = self.queues.get_mut(recipient)?;
        let seq = queue.ids.remove(id)?;
        let message = queue.messages.remove(&seq)?;
        let size = message.size();
        queue.counts.take(1, size);
        let (owner, empty) = (queue.owner.clone(), queue.messages.is_empty());
        if let Some(device) = self.devices.get_mut(&owner) {
            device.take(1, size);
        }
        self.total.take(1, size);
        if empty {
            self.forget_queue(recipient);
        }
        Some(message)
    }

    /// Remove a queue and its counts.
    fn forget_queue(&mut self, recipient: &str) {
        let Some(queue) = self.queues.remove(recipient) else {
            return;
        };
        if let Some(device) = self.devices.get_mut(&queue.owner) {
            device.take(queue.counts.messages, queue.counts.bytes);
        }
        self.total.take(queue.counts.messages, queue.counts.bytes);
        let namespace = key_did(recipient);
        if let Some(recipients) = self.queued_in.get_mut(namespace) {
            recipients.remove(recipient);
            if recipients.is_empty() {
                self.queued_in.remove(namespace);
            }
        }
    }

    /// A key's queue and tombstones go with it.
    fn drop_queue(&mut self, key: &str) {
        self.forget_queue(key);
        self.tombstones.remove(key);
    }

    fn register(&mut self, key: &str, owner: &str) {
        self.keys.insert(key.to_owned(), owner.to_owned());
        self.keys_of
            .entry(owner.to_owned())
            .or_default()
            .insert(key.to_owned());
        self.keys_in
            .entry(key_did(key).to_owned())
            .or_default()
            .insert(key.to_owned());
    }

    fn unregister(&mut self, key: &str) {
        let Some(owner) = self.keys.remove(key) else {
            return;
        };
        if let Some(keys) = self.keys_of.get_mut(&owner) {
            keys.remove(key);
            if keys.is_empty() {
                self.keys_of.remove(&owner);
            }
        }
        let namespace = key_did(key);
        if let Some(keys) = self.keys_in.get_mut(namespace) {
            keys.remove(key);
            if keys.is_empty() {
                self.keys_in.remove(namespace);
            }
        }
    }

    fn update_keylist(
        &mut self,
        did: &str,
        updates: &[KeylistUpdate],
        max_keys: u64,
    ) -> Result<Vec<KeylistResult>> {
        if !self.grants.contains_key(did) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "keylist update from a DID without a mediation grant",
            ));
        }
        let mut registered = self.keys_of.get(did).map_or(0, |k| k.len() as u64);
        let mut results = Vec::with_capacity(updates.len());
        for update in updates {
            let namespace = key_did(&update.key);
            let ns_owner = self.namespaces.get(namespace).cloned();
            // Whether the namespace is in use matters only when someone else holds it.
            let in_use = match ns_owner.as_deref() {
                Some(owner) if owner != did => self.namespace_in_use(namespace),
                _ => true,
            };
            let key_owner = self.keys.get(&update.key).cloned();
            let facts = Facts {
                key_owner: key_owner.as_deref(),
                namespace: ns_owner.as_deref().map(|owner| Namespace { owner, in_use }),
                registered,
            };
            let result = match decide(did, update.action, &facts, max_keys) {
                Decision::Answer(result) => result,
                Decision::Add { claim } => {
                    if claim {
                        self.namespaces.insert(namespace.to_owned(), did.to_owned());
                    }
                    self.register(&update.key, did);
                    registered += 1;
                    KeylistResult::Success
                }
                Decision::Remove => {
                    self.unregister(&update.key);
                    self.drop_queue(&update.key);
                    registered = registered.saturating_sub(1);
                    KeylistResult::Success
                }
            };
            results.push(result);
        }
        Ok(results)
    }

    fn remove_grant(&mut self, did: &str) -> bool {
        let keys: Vec<String> = self
            .keys_of
            .get(did)
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default();
        for key in &keys {
            self.drop_queue(key);
            self.unregister(key);
        }
        self.namespaces.retain(|_, owner| owner != did);
        // A revoked device is pushed no more.
        self.push_targets.remove(did);
        self.grants.remove(did).is_some()
    }

    /// Drop the queues of every key of `did`; how many messages they held.
    fn purge(&mut self, did: &str) -> u64 {
        let keys: Vec<String> = self
            .keys_of
            .get(did)
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default();
        let mut purged = 0u64;
        for key in &keys {
            purged = purged.saturating_add(self.queue_counts(key).messages);
            self.drop_queue(key);
        }
        purged
    }

    fn find_recipient(&self, next: &str) -> Option<(String, String)> {
        let did = key_did(next);
        let ns_owner = self.namespaces.get(did);
        // Only keys of the namespace's owner (as the SQL backends' lookup).
        let candidates = self.keys_in.get(did)?.iter().filter_map(|key| {
            let owner = self.keys.get(key)?;
            ns_owner
                .is_none_or(|held_by| held_by == owner)
                .then_some((key, owner))
        });
        let rank = |key: &str| {
            if key == next {
                0
            } else if key == did {
                1
            } else {
                2
            }
        };
        // Sorted keys: the first of the best rank is the smallest such key.
        candidates
            .min_by_key(|(key, _)| rank(key))
            .map(|(key, owner)| (key.clone(), owner.clone()))
    }

    fn fetch(
        &self,
        recipients: &[String],
        limit: usize,
        max_bytes: u64,
        now_ms: u64,
        exclude: &[String],
    ) -> Vec<StoredMessage> {
        let exclude: HashSet<&str> = exclude.iter().map(String::as_str).collect();
        let recipients: BTreeSet<&str> = recipients.iter().map(String::as_str).collect();
        let mut candidates: Vec<(u64, u64, &str, &Queued)> = recipients
            .iter()
            .filter_map(|r| self.queues.get(*r).map(|q| (*r, q)))
            .flat_map(|(recipient, queue)| {
                queue
                    .messages
                    .iter()
                    .map(move |(seq, m)| (m.received_at_ms, *seq, recipient, m))
            })
            .filter(|(_, _, _, m)| m.expires_at_ms > now_ms && !exclude.contains(m.id.as_str()))
            .collect();
        candidates.sort_unstable_by_key(|(received, seq, _, _)| (*received, *seq));
        candidates.truncate(limit);
        let taken = within_budget(candidates.iter().map(|(_, _, _, m)| m.size()), max_bytes);
        candidates
            .into_iter()
            .take(taken)
            .map(|(_, _, recipient, m)| StoredMessage {
                recipient: recipient.to_owned(),
                id: m.id.clone(),
                body: m.body.clone(),
                form: m.form,
                received_at_ms: m.received_at_ms,
            })
            .collect()
    }

    fn ack(&mut self, recipients: &[String], ids: &[String]) -> u64 {
        let recipients: BTreeSet<&str> = recipients.iter().map(String::as_str).collect();
        let ids: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        let mut deleted = 0;
        for recipient in recipients {
            for id in &ids {
                let Some(message) = self.take_message(recipient, id) else {
                    continue;
                };
                // The id stays known until the message would have expired: a late retry of
                // the same message is not queued again.
                self.tombstones
                    .entry(recipient.to_owned())
                    .or_default()
                    .entry(message.id)
                    .or_insert(message.expires_at_ms);
                deleted += 1;
            }
        }
        deleted
    }

    fn queue_stats(&self, recipients: &[String]) -> QueueStats {
        let recipients: BTreeSet<&str> = recipients.iter().map(String::as_str).collect();
        let mut stats = QueueStats::default();
        for queue in recipients.iter().filter_map(|r| self.queues.get(*r)) {
            stats.messages += queue.counts.messages;
            stats.bytes += queue.counts.bytes;
            for m in queue.messages.values() {
                let at = m.received_at_ms;
                stats.oldest_received_at_ms =
                    Some(stats.oldest_received_at_ms.map_or(at, |o| o.min(at)));
                stats.newest_received_at_ms =
                    Some(stats.newest_received_at_ms.map_or(at, |n| n.max(at)));
            }
        }
        stats
    }

    fn sweep(&mut self, now_ms: u64) -> u64 {
        let expired: Vec<(String, String)> = self
            .queues
            .iter()
            .flat_map(|(recipient, queue)| {
                queue
                    .messages
                    .values()
                    .filter(|m| m.expires_at_ms <= now_ms)
                    .map(move |m| (recipient.clone(), m.id.clone()))
            })
            .collect();
        let mut swept = 0;
        for (recipient, id) in expired {
            if self.take_message(&recipient, &id).is_some() {
                swept += 1;
            }
        }
        for ids in self.tombstones.values_mut() {
            ids.retain(|_, expires_at| *expires_at > now_ms);
        }
        self.tombstones.retain(|_, ids| !ids.is_empty());
        swept
    }
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> MemoryStorage {
        let (notify, _) = broadcast::channel(NOTIFY_CAPACITY);
        MemoryStorage {
            state: Mutex::new(State::default()),
            notify,
            closed: AtomicBool::new(false),
        }
    }

    /// The state, for a read.
    fn read(&self) -> Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| Error::new(ErrorKind::Internal, "the memory storage is poisoned"))
    }

    /// The state, for a write: refused once closed (as the SQL backends' writers).
    fn write(&self) -> Result<MutexGuard<'_, State>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Unavailable, "the storage is closed"));
        }
        self.read()
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn put_grant(&self, grant: &Grant) -> Result<Grant> {
        let mut state = self.write()?;
        Ok(state
            .grants
            .entry(grant.did.clone())
            .or_insert_with(|| grant.clone())
            .clone())
    }

    async fn grant(&self, did: &str) -> Result<Option<Grant>> {
        Ok(self.read()?.grants.get(did).cloned())
    }

    async fn remove_grant(&self, did: &str) -> Result<bool> {
        Ok(self.write()?.remove_grant(did))
    }

    async fn list_grants(&self, after: Option<&str>, limit: u64) -> Result<Vec<Grant>> {
        let state = self.read()?;
        let mut grants: Vec<&Grant> = state
            .grants
            .values()
            .filter(|g| after.is_none_or(|after| g.did.as_str() > after))
            .collect();
        grants.sort_unstable_by(|a, b| a.did.cmp(&b.did));
        let limit = usize::try_from(limit.min(MAX_PAGE)).unwrap_or(0);
        Ok(grants.into_iter().take(limit).cloned().collect())
    }

    async fn purge_queues(&self, did: &str) -> Result<u64> {
        Ok(self.write()?.purge(did))
    }

    async fn schema_version(&self) -> Result<u32> {
        Ok(SCHEMA_VERSION)
    }

    async fn ready(&self) -> Result<()> {
        // Refused once closed, like a write.
        self.write().map(|_| ())
    }

    async fn update_keylist_within(
        &self,
        did: &str,
        updates: &[KeylistUpdate],
        max_keys: u64,
    ) -> Result<Vec<KeylistResult>> {
        self.write()?.update_keylist(did, updates, max_keys)
    }

    async fn keylist(&self, did: &str, offset: u64, limit: u64) -> Result<(Vec<String>, u64)> {
        let state = self.read()?;
        let Some(keys) = state.keys_of.get(did) else {
            return Ok((vec![], 0));
        };
        let page = keys
            .iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect();
        Ok((page, keys.len() as u64))
    }

    async fn key_owner(&self, key: &str) -> Result<Option<String>> {
        Ok(self.read()?.keys.get(key).cloned())
    }

    async fn find_recipient(&self, next: &str) -> Result<Option<(String, String)>> {
        Ok(self.read()?.find_recipient(next))
    }

    async fn store(&self, message: NewMessage, quota: Quota) -> Result<StoreOutcome> {
        let outcome = self.write()?.store(&message, quota)?;
        if outcome == StoreOutcome::Stored {
            // No receiver is fine: nobody is live.
            let _ = self.notify.send(Notification::Stored {
                recipient: message.recipient,
                owner: message.owner,
            });
        }
        Ok(outcome)
    }

    async fn fetch_excluding(
        &self,
        recipients: &[String],
        limit: usize,
        max_bytes: u64,
        now_ms: u64,
        exclude: &[String],
    ) -> Result<Vec<StoredMessage>> {
        if !super::fetch_can_find(recipients, limit)? {
            return Ok(vec![]);
        }
        Ok(self
            .read()?
            .fetch(recipients, limit, max_bytes, now_ms, exclude))
    }

    async fn ack(&self, recipients: &[String], ids: &[String]) -> Result<u64> {
        check_ack_size(recipients, ids)?;
        if recipients.is_empty() || ids.is_empty() {
            return Ok(0);
        }
        Ok(self.write()?.ack(recipients, ids))
    }

    async fn queue_stats(&self, recipients: &[String]) -> Result<QueueStats> {
        if recipients.is_empty() {
            return Ok(QueueStats::default());
        }
        Ok(self.read()?.queue_stats(recipients))
    }

    async fn totals(&self) -> Result<QueueStats> {
        let total = self.read()?.total;
        Ok(QueueStats {
            messages: total.messages,
            bytes: total.bytes,
            oldest_received_at_ms: None,
            newest_received_at_ms: None,
        })
    }

    async fn sweep_expired(&self, now_ms: u64) -> Result<u64> {
        Ok(self.write()?.sweep(now_ms))
    }

    async fn outbox_put(
        &self,
        message: &OutboundMessage,
        due_at_ms: u64,
        limits: OutboxLimits,
    ) -> Result<StoreOutcome> {
        let mut state = self.write()?;
        if state.outbox.contains_key(&message.id) {
            return Ok(StoreOutcome::Duplicate);
        }
        if state.outbox.len() as u64 >= limits.total {
            return Err(super::outbox_full(false, limits));
        }
        let for_destination = state
            .outbox
            .values()
            .filter(|(m, _)| m.destination == message.destination)
            .count() as u64;
        if for_destination >= limits.per_destination {
            return Err(super::outbox_full(true, limits));
        }
        state
            .outbox
            .insert(message.id.clone(), (message.clone(), due_at_ms));
        Ok(StoreOutcome::Stored)
    }

    async fn outbox_claim(
        &self,
        now_ms: u64,
        lease_until_ms: u64,
        limit: usize,
    ) -> Result<Vec<OutboundMessage>> {
        let mut state = self.write()?;
        let mut due: Vec<(u64, String)> = state
            .outbox
            .iter()
            .filter(|(_, (_, at))| *at <= now_ms)
            .map(|(id, (_, at))| (*at, id.clone()))
            .collect();
        due.sort_unstable();
        due.truncate(limit.min(MAX_CLAIM));
        let mut claimed = Vec::with_capacity(due.len());
        for (_, id) in due {
            if let Some((message, at)) = state.outbox.get_mut(&id) {
                message.attempts = message.attempts.saturating_add(1);
                *at = lease_until_ms;
                claimed.push(message.clone());
            }
        }
        Ok(claimed)
    }

    async fn outbox_retry(&self, id: &str, due_at_ms: u64) -> Result<()> {
        let mut state = self.write()?;
        if let Some((_, at)) = state.outbox.get_mut(id) {
            *at = due_at_ms;
        }
        Ok(())
    }

    async fn outbox_remove(&self, id: &str) -> Result<bool> {
        Ok(self.write()?.outbox.remove(id).is_some())
    }

    async fn outbox_depth(&self) -> Result<u64> {
        Ok(self.read()?.outbox.len() as u64)
    }

    async fn set_push_target(&self, did: &str, target: &PushTarget, _now_ms: u64) -> Result<()> {
        self.write()?
            .push_targets
            .insert(did.to_owned(), target.clone());
        Ok(())
    }

    async fn push_target(&self, did: &str) -> Result<Option<PushTarget>> {
        Ok(self.read()?.push_targets.get(did).cloned())
    }

    async fn remove_push_target(&self, did: &str) -> Result<bool> {
        Ok(self.write()?.push_targets.remove(did).is_some())
    }

    fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.notify.subscribe()
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}
