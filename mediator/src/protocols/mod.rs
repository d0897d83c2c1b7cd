//! The protocols the mediator serves, on the core's typed protocol layer:
//! - [`forward`]: Routing 2.0 (queue for a registered key);
//! - [`mediation`]: Coordinate Mediation 2.0 and 3.0 (grants and keylists, persisted);
//! - [`pickup`]: Message Pickup 3.0 and 4.0 (status, delivery, acknowledgement, live mode);
//! - [`trust_ping`], [`discover`]: Trust Ping 2.0 and Discover Features 2.0;
//! - [`push`]: didcomm-edge Push 1.0 (a device's wake-up target);
//! - [`problem`]: Report Problem 2.0 for every refusal.
//!
//! [`Served`] is the one list of them: the handler dispatches by it and Discover Features
//! discloses it, so the mediator cannot announce a protocol it does not route, or the reverse.

pub mod discover;
pub mod forward;
pub mod mediation;
pub mod pickup;
pub mod problem;
pub mod push;
pub mod trust_ping;

use didcomm_edge::protocols::discover_features::{DISCOVER_FEATURES_PIURI, QUERIES_TYPE};
use didcomm_edge::protocols::mediation::MediationVersion;
use didcomm_edge::protocols::pickup::PickupVersion;
use didcomm_edge::protocols::push::{
    GET_TARGET_TYPE, PUSH_PIURI, REMOVE_TARGET_TYPE, SET_TARGET_TYPE,
};
use didcomm_edge::protocols::report_problem::{is_problem_report, REPORT_PROBLEM_PIURI};
use didcomm_edge::protocols::trust_ping::{PING_TYPE, TRUST_PING_PIURI};
use didcomm_edge::routing::{FORWARD_TYPE, ROUTING_PIURI};

/// A protocol (at one version) the mediator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Routing 2.0 `forward`.
    Routing,
    /// Coordinate Mediation.
    Mediation(MediationVersion),
    /// Message Pickup.
    Pickup(PickupVersion),
    /// Trust Ping 2.0 `ping`.
    TrustPing,
    /// Discover Features 2.0 `queries`.
    DiscoverFeatures,
    /// Report Problem 2.0 reports from devices (noted, never answered).
    ReportProblem,
    /// didcomm-edge Push 1.0 `set-target`, `get-target`, `remove-target`.
    Push,
}

impl Served {
    /// Every protocol served, in the order Discover Features lists them.
    pub const ALL: [Served; 9] = [
        Served::Routing,
        Served::Mediation(MediationVersion::V2),
        Served::Mediation(MediationVersion::V3),
        Served::Pickup(PickupVersion::V3),
        Served::Pickup(PickupVersion::V4),
        Served::TrustPing,
        Served::DiscoverFeatures,
        Served::ReportProblem,
        Served::Push,
    ];

    /// The protocol a received message type belongs to, if the mediator serves it. A
    /// protocol's own problem report (Message Pickup 4.0's) is noted as any problem report.
    pub fn of_type(type_: &str) -> Option<Served> {
        if type_ == FORWARD_TYPE {
            return Some(Served::Routing);
        }
        if let Some(version) = MediationVersion::of_type(type_) {
            return Some(Served::Mediation(version));
        }
        if let Some(version) = PickupVersion::of_type(type_) {
            return Some(Served::Pickup(version));
        }
        match type_ {
            PING_TYPE => Some(Served::TrustPing),
            SET_TARGET_TYPE | GET_TARGET_TYPE | REMOVE_TARGET_TYPE => Some(Served::Push),
            QUERIES_TYPE => Some(Served::DiscoverFeatures),
            _ if is_problem_report(type_) => Some(Served::ReportProblem),
            _ => None,
        }
    }

    /// The protocol identifier, with its version.
    pub fn piuri(self) -> &'static str {
        match self {
            Served::Routing => ROUTING_PIURI,
            Served::Mediation(version) => version.piuri(),
            Served::Pickup(version) => version.piuri(),
            Served::TrustPing => TRUST_PING_PIURI,
            Served::DiscoverFeatures => DISCOVER_FEATURES_PIURI,
            Served::ReportProblem => REPORT_PROBLEM_PIURI,
            Served::Push => PUSH_PIURI,
        }
    }

    /// The roles the mediator plays in it.
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Served::Routing | Served::Mediation(_) | Served::Pickup(_) | Served::Push => {
                &["mediator"]
            }
            Served::TrustPing => &["receiver"],
            Served::DiscoverFeatures => &["responder"],
            Served::ReportProblem => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use didcomm_edge::protocols::discover_features::Disclose;
    use didcomm_edge::protocols::trust_ping::PING_RESPONSE_TYPE;
    use didcomm_edge::protocols::ProtocolMessage;
    use didcomm_edge::Message;
    use serde_json::json;

    #[test]
    fn what_is_disclosed_is_what_is_routed() {
        // One message the mediator receives of each protocol it serves, in `ALL`'s order.
        let received = [
            FORWARD_TYPE,
            "https://didcomm.org/coordinate-mediation/2.0/mediate-request",
            "https://didcomm.org/coordinate-mediation/3.0/mediate-request",
            "https://didcomm.org/messagepickup/3.0/status-request",
            "https://didcomm.org/message-pickup/4.0/status-request",
            PING_TYPE,
            QUERIES_TYPE,
            "https://didcomm.org/report-problem/2.0/problem-report",
            SET_TARGET_TYPE,
        ];
        for (type_, served) in received.iter().zip(Served::ALL) {
            assert_eq!(Served::of_type(type_), Some(served), "{type_}");
            assert!(
                type_.starts_with(&format!("{}/", served.piuri())),
                "{type_}"
            );
        }
        // Messages of those protocols that a mediator never receives, and other protocols.
        for type_ in [
            PING_RESPONSE_TYPE,
            "https://didcomm.org/discover-features/2.0/disclose",
            "https://didcomm.org/routing/3.0/forward",
            "https://didcomm.org/basicmessage/2.0/message",
            didcomm_edge::protocols::push::TARGET_TYPE,
        ] {
            assert_eq!(Served::of_type(type_), None, "{type_}");
        }
        // A Message Pickup 4.0 problem report is noted as any other.
        assert_eq!(
            Served::of_type("https://didcomm.org/message-pickup/4.0/problem-report"),
            Some(Served::ReportProblem)
        );

        let queries = Message::build(
            "q",
            QUERIES_TYPE,
            json!({"queries": [{"feature-type": "protocol", "match": "*"}]}),
        );
        let disclosed: Vec<String> =
            Disclose::from_message(&discover::mediator_features().reply(&queries).unwrap())
                .unwrap()
                .disclosures
                .into_iter()
                .map(|d| d.id)
                .collect();
        let served: Vec<&str> = Served::ALL.iter().map(|s| s.piuri()).collect();
        assert_eq!(disclosed, served);
    }
}
