//! The Pub/Sub push envelope a consumer's push route decodes (or the embedded bus's own push
//! between processes), then the bus event inside it.
#![no_main]

use atiende_ports::{Delivery, bus::PushEnvelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = serde_json::from_slice::<PushEnvelope>(data) else {
        return;
    };
    if let Ok(delivery) = Delivery::try_from(envelope) {
        let _ = serde_json::from_slice::<atiende_domain::BusEvent>(&delivery.data);
    }
});
