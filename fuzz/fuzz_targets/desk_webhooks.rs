//! The human desks' webhooks: Chatwoot's (signature over timestamp and body, then the event)
//! and Rocket.Chat's two kinds (outgoing webhook with its token in the body, Omnichannel).
#![no_main]

use atiende_adapter_chatwoot::{signature as chatwoot_signature, webhook as chatwoot};
use atiende_adapter_rocketchat::webhook as rocketchat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte says how much of the rest is the signature header.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (header, body) = rest.split_at(usize::from(n).min(rest.len()));
    let header = String::from_utf8_lossy(header);
    let _ = chatwoot_signature::verify(
        "fuzz-chatwoot-secret-000",
        body,
        Some(&header),
        Some("1700000000"),
        1_700_000_000,
    );
    let _ = chatwoot::parse(body, Some(&header));
    let _ = rocketchat::parse_outgoing(body, "fuzz-rocketchat-token-00");
    let _ = rocketchat::parse_livechat(body);
    let _ = rocketchat::token_matches(Some(&header), "fuzz-rocketchat-token-00");
});
