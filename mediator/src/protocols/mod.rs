//! Protocols the mediator speaks today, on the core `Message` model. The typed protocol layer
//! of the core (issue 4) joins them in `MediatorHandler::dispatch`.

pub mod forward;
pub mod pickup;
