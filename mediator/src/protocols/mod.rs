//! The protocols the mediator serves, on the core's typed protocol layer:
//! - [`forward`]: Routing 2.0 (queue for a registered key);
//! - [`mediation`]: Coordinate Mediation 2.0 and 3.0 (grants and keylists, persisted);
//! - [`pickup`]: Message Pickup 3.0 and 4.0 (status, delivery, acknowledgement, live mode);
//! - [`trust_ping`], [`discover`]: Trust Ping 2.0 and Discover Features 2.0;
//! - [`problem`]: Report Problem 2.0 for every refusal.

pub mod discover;
pub mod forward;
pub mod mediation;
pub mod pickup;
pub mod problem;
pub mod trust_ping;
