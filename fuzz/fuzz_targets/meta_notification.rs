//! A Meta notification: any body with any `X-Hub-Signature-256`, then, signed with the app
//! secret, parsed item by item (a malformed item is skipped, never fatal, never a panic).
#![no_main]

use atiende_adapter_meta::{parse_notification, signature};
use atiende_domain::TenantId;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-meta-app-secret-0000";

fuzz_target!(|data: &[u8]| {
    // The first byte says how much of the rest is the signature header.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (header, body) = rest.split_at(usize::from(n).min(rest.len()));
    let header = String::from_utf8_lossy(header);
    let _ = signature::verify(SECRET, body, Some(&header));
    let tenant = TenantId::parse("demo").unwrap();
    if let Ok(events) = parse_notification(body, &tenant, "106540352242922", chrono::Utc::now()) {
        for skipped in &events.skipped {
            let _ = skipped.key();
        }
    }
});
