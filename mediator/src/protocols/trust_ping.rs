//! Trust Ping 2.0: answer a `ping` with a `ping-response` when it asks for one. Anyone may
//! ping; the response needs an authenticated sender (it is authcrypted back to it) and
//! `return_route` (the mediator opens no outbound connections).

use didcomm_edge::protocols::trust_ping::PingResponse;
use didcomm_edge::Message;

use crate::error::Result;
use crate::mediator::Request;

/// Handle a `ping`.
pub fn handle(request: &Request<'_>) -> Result<Vec<Message>> {
    let response = PingResponse::answer(&request.message)?;
    if request.metadata.authenticated {
        Ok(response.into_iter().collect())
    } else {
        // An anonymous ping: the channel works, but there is nobody to answer.
        Ok(vec![])
    }
}
