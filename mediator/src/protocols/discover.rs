//! Discover Features 2.0: answer `queries` with the protocols the mediator serves (and the
//! headers it understands), from [`Mediator::features`].

use didcomm_edge::protocols::discover_features::{
    Disclosure, FeatureRegistry, DISCOVER_FEATURES_PIURI,
};
use didcomm_edge::protocols::mediation::{MEDIATION_V2_PIURI, MEDIATION_V3_PIURI};
use didcomm_edge::protocols::pickup::{PICKUP_V3_PIURI, PICKUP_V4_PIURI};
use didcomm_edge::protocols::report_problem::REPORT_PROBLEM_PIURI;
use didcomm_edge::protocols::return_route::RETURN_ROUTE_HEADER;
use didcomm_edge::protocols::trust_ping::TRUST_PING_PIURI;
use didcomm_edge::routing::ROUTING_PIURI;
use didcomm_edge::Message;

use crate::error::Result;
use crate::mediator::{Mediator, Request};

/// What this mediator serves, with the roles it plays.
pub fn mediator_features() -> FeatureRegistry {
    FeatureRegistry::new(vec![
        Disclosure::protocol(ROUTING_PIURI, &["mediator"]),
        Disclosure::protocol(MEDIATION_V2_PIURI, &["mediator"]),
        Disclosure::protocol(MEDIATION_V3_PIURI, &["mediator"]),
        Disclosure::protocol(PICKUP_V3_PIURI, &["mediator"]),
        Disclosure::protocol(PICKUP_V4_PIURI, &["mediator"]),
        Disclosure::protocol(TRUST_PING_PIURI, &["receiver"]),
        Disclosure::protocol(DISCOVER_FEATURES_PIURI, &["responder"]),
        Disclosure::protocol(REPORT_PROBLEM_PIURI, &[]),
        Disclosure::header(RETURN_ROUTE_HEADER),
    ])
}

/// Handle `queries`: the `disclose` reply.
pub fn handle(m: &Mediator, request: &Request<'_>) -> Result<Vec<Message>> {
    Ok(vec![m.features.reply(&request.message)?])
}
