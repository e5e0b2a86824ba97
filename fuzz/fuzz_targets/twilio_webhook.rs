//! A Twilio webhook as anyone on the internet can send it: any form body, any signature header.
//! The form is parsed, its signature checked (which must stay linear however hostile the form:
//! libFuzzer's timeout catches a slow input as a hang), and, signed with the tenant's token,
//! normalized into an event.
#![no_main]

use atiende_adapter_twilio::{SignedForm, signature};
use atiende_domain::TenantId;
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "fuzz-twilio-auth-token-000";
const URL: &str = "https://atiende.example.com/webhooks/twilio/demo";

fuzz_target!(|data: &[u8]| {
    // The first byte says how much of the rest is the signature header.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (header, body) = rest.split_at(usize::from(n).min(rest.len()));
    let header = String::from_utf8_lossy(header);
    // A bogus signature: refused, never a panic.
    let _ = SignedForm::parse(body).verify(TOKEN, URL, Some(&header));
    // The right signature: the form reaches the normalizer.
    let form = SignedForm::parse(body);
    let good = signature::compute(TOKEN, URL, form.params());
    if let Ok(verified) = form.verify(TOKEN, URL, Some(&good)) {
        let tenant = TenantId::parse("demo").unwrap();
        let _ = verified.into_event(&tenant, chrono::Utc::now());
    }
});
