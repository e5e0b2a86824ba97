//! What every bus handler does first: decode the delivery, and recognize a message it can never
//! process so the bus parks it instead of retrying it forever.

use atiende_domain::BusEvent;
use atiende_ports::{Delivery, HandleOutcome};

/// Decodes a delivery's event; an undecodable one is rejected (dead-lettered).
pub(crate) fn decode(delivery: &Delivery) -> Result<BusEvent, HandleOutcome> {
    delivery.event().map_err(|error| HandleOutcome::Reject {
        reason: format!("undecodable event on {}: {error}", delivery.subscription),
    })
}

/// The outcome for a valid event that does not belong on this subscription.
pub(crate) fn unexpected(event: &BusEvent, delivery: &Delivery) -> HandleOutcome {
    HandleOutcome::Reject {
        reason: format!(
            "unexpected event {} on {}",
            event.event_type(),
            delivery.subscription
        ),
    }
}
