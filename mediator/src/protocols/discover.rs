//! Discover Features 2.0: answer `queries` with the protocols the mediator serves (and the
//! headers it understands), from [`Mediator::features`].

use didcomm_edge::protocols::discover_features::{Disclosure, FeatureRegistry};
use didcomm_edge::protocols::return_route::RETURN_ROUTE_HEADER;
use didcomm_edge::Message;

use super::Served;
use crate::error::Result;
use crate::mediator::{Mediator, Request};

/// What this mediator serves ([`Served::ALL`]), with the roles it plays, and the headers it
/// understands.
pub fn mediator_features() -> FeatureRegistry {
    let mut features: Vec<Disclosure> = Served::ALL
        .iter()
        .map(|served| Disclosure::protocol(served.piuri(), served.roles()))
        .collect();
    features.push(Disclosure::header(RETURN_ROUTE_HEADER));
    FeatureRegistry::new(features)
}

/// Handle `queries`: the `disclose` reply.
pub fn handle(m: &Mediator, request: &Request<'_>) -> Result<Vec<Message>> {
    Ok(vec![m.features.reply(&request.message)?])
}
