//! Signing webhooks with independent implementations: the official `twilio` Python SDK for
//! `X-Twilio-Signature`, Python's `hmac` for Meta's `X-Hub-Signature-256` and Chatwoot's
//! `X-Chatwoot-Signature`.
//!
//! The tests that use these are the proof that what atiende accepts is what the real providers
//! send, not merely what atiende's own signing code produces. The interpreter is `$TWILIO_PYTHON`
//! or `python3`; it needs `pip install twilio` (`infra/test.sh` sets up a virtualenv with it).

use std::process::Stdio;

use serde_json::json;
use tokio::io::AsyncWriteExt;

const TWILIO_SIGN: &str = r#"
import json, sys
from twilio.request_validator import RequestValidator
req = json.load(sys.stdin)
print(RequestValidator(req["token"]).compute_signature(req["url"], req["params"]))
"#;

const META_SIGN: &str = r#"
import hashlib, hmac, json, sys
req = json.load(sys.stdin)
print("sha256=" + hmac.new(req["secret"].encode(), req["body"].encode("utf-8"), hashlib.sha256).hexdigest())
"#;

fn interpreter() -> String {
    std::env::var("TWILIO_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

async fn run(script: &str, input: serde_json::Value) -> String {
    let mut child = tokio::process::Command::new(interpreter())
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed (run infra/test.sh)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.to_string().as_bytes())
        .await
        .expect("write to python");
    drop(stdin);
    let output = child.wait_with_output().await.expect("python ran");
    assert!(
        output.status.success(),
        "python failed — is the twilio SDK installed? (pip install twilio, or run infra/test.sh)\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// `X-Twilio-Signature` for a form POST to `url`, computed by the official twilio SDK.
pub async fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let params: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    run(
        TWILIO_SIGN,
        json!({ "token": token, "url": url, "params": params }),
    )
    .await
}

/// `X-Hub-Signature-256` for `body`, computed by Python's `hmac`.
pub async fn meta_signature(app_secret: &str, body: &str) -> String {
    run(META_SIGN, json!({ "secret": app_secret, "body": body })).await
}

/// `X-Chatwoot-Signature` for `body` sent at `timestamp`: Python's `hmac` over
/// `"{timestamp}.{body}"` (protocols.md §3.3).
pub async fn chatwoot_signature(secret: &str, timestamp: i64, body: &str) -> String {
    meta_signature(secret, &format!("{timestamp}.{body}")).await
}
