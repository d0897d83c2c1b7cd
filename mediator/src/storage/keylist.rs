//! The keylist rule, one pure function both backends call inside their write transaction.
//!
//! **One owner per DID.** A DID and all of its DID URLs (`did:x:y`, `did:x:y#k1`,
//! `did:x:y#k2`) are one namespace (the key's `key_did`), recorded in the `namespaces` table
//! with one owner (a granted DID). The namespace stays with its owner while the owner holds a
//! key in it or a message is queued for one of its keys; only then may another DID take it.
//! So a device cannot register the bare DID of another device's DID URL (or the reverse) and
//! receive its forwards, and removing keys cannot leave a queued message where the next owner
//! of the namespace would pick it up.

use super::{KeylistAction, KeylistResult};

/// Who holds a namespace, as read inside the write transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespace<'a> {
    /// The granted DID that holds it.
    pub owner: &'a str,
    /// Whether any key is registered in it or any message is queued for one of its keys.
    pub in_use: bool,
}

/// What the backend read about one update entry, inside its write transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    /// The granted DID that registered exactly this key, if any.
    pub key_owner: Option<&'a str>,
    /// The key's namespace, if anyone holds it.
    pub namespace: Option<Namespace<'a>>,
    /// How many keys the requester holds now (before this entry).
    pub registered: u64,
}

/// What the backend must do for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Register the key for the requester. With `claim`, the namespace is first recorded (or
    /// re-recorded) as the requester's.
    Add {
        /// Whether the namespace row must be written.
        claim: bool,
    },
    /// Unregister the key and drop its queue.
    Remove,
    /// Change nothing; answer this.
    Answer(KeylistResult),
}

/// Decide one keylist entry of `requester` from the facts read inside the transaction.
pub fn decide(
    requester: &str,
    action: KeylistAction,
    facts: &Facts<'_>,
    max_keys: u64,
) -> Decision {
    match (action, facts.key_owner) {
        (KeylistAction::Add, Some(owner)) if owner == requester => {
            Decision::Answer(KeylistResult::NoChange)
        }
        (_, Some(_)) if facts.key_owner != Some(requester) => {
            Decision::Answer(KeylistResult::OwnedByAnother)
        }
        (KeylistAction::Remove, Some(_)) => Decision::Remove,
        (KeylistAction::Remove, None) => Decision::Answer(KeylistResult::NoChange),
        (KeylistAction::Add, _) => match facts.namespace {
            Some(ns) if ns.owner != requester && ns.in_use => {
                Decision::Answer(KeylistResult::OwnedByAnother)
            }
            _ if facts.registered >= max_keys => Decision::Answer(KeylistResult::KeyLimit),
            Some(ns) => Decision::Add {
                claim: ns.owner != requester,
            },
            None => Decision::Add { claim: true },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "did:example:me";
    const OTHER: &str = "did:example:other";

    fn facts<'a>(key_owner: Option<&'a str>, ns: Option<(&'a str, bool)>, n: u64) -> Facts<'a> {
        Facts {
            key_owner,
            namespace: ns.map(|(owner, in_use)| Namespace { owner, in_use }),
            registered: n,
        }
    }

    #[test]
    fn one_owner_per_namespace() {
        use KeylistAction::{Add, Remove};
        let add = |f: Facts<'_>| decide(ME, Add, &f, 10);
        assert_eq!(add(facts(None, None, 0)), Decision::Add { claim: true });
        assert_eq!(
            add(facts(None, Some((ME, true)), 0)),
            Decision::Add { claim: false }
        );
        assert_eq!(
            add(facts(None, Some((OTHER, true)), 0)),
            Decision::Answer(KeylistResult::OwnedByAnother)
        );
        // A namespace its owner left entirely (no key, no queued message) may be taken.
        assert_eq!(
            add(facts(None, Some((OTHER, false)), 0)),
            Decision::Add { claim: true }
        );
        assert_eq!(
            add(facts(Some(ME), Some((ME, true)), 0)),
            Decision::Answer(KeylistResult::NoChange)
        );
        assert_eq!(
            add(facts(Some(OTHER), Some((OTHER, true)), 0)),
            Decision::Answer(KeylistResult::OwnedByAnother)
        );
        // The limit counts only new keys.
        assert_eq!(
            add(facts(None, Some((ME, true)), 10)),
            Decision::Answer(KeylistResult::KeyLimit)
        );
        assert_eq!(
            decide(ME, Add, &facts(Some(ME), None, 10), 10),
            Decision::Answer(KeylistResult::NoChange)
        );
        let remove = |f: Facts<'_>| decide(ME, Remove, &f, 10);
        assert_eq!(
            remove(facts(Some(ME), Some((ME, true)), 1)),
            Decision::Remove
        );
        assert_eq!(
            remove(facts(Some(OTHER), Some((OTHER, true)), 1)),
            Decision::Answer(KeylistResult::OwnedByAnother)
        );
        assert_eq!(
            remove(facts(None, Some((OTHER, true)), 1)),
            Decision::Answer(KeylistResult::NoChange)
        );
    }
}
