//! Webhooks as the providers really send them: the third-party corpus in
//! `../shared/eval/realworld/` (SDK fixtures and Chatwoot's test suite, licences in its
//! SOURCES.md), replayed against the all-in-one, signed by independent implementations.
//!
//! Each payload is taken (2xx) or refused with a 4xx a provider would accept; each message in it
//! lands as the event of its kind, or is parked where an operator can see it; and nothing the
//! customer did not write — a reaction, an edit, a deletion, a system notice, a receipt — gets an
//! answer. The corpus is read from `../shared` at test time and never copied into the repository.
//! The replay gives each file's message ids a suffix of their own (many fixtures share `wamid.ID`,
//! which would otherwise be dropped as redeliveries) and points Meta's `phone_number_id` and
//! Twilio's account at the demo tenant.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use atiende_e2e::{Stack, TWILIO_ACCOUNT};
use reqwest::Method;
use serde_json::Value;

/// The corpus, or `None` outside this project's machines (which is a failure in CI).
fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("ATIENDE_REALWORLD").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/eval/realworld"),
        PathBuf::from,
    );
    if dir.join("SOURCES.md").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").is_err(),
        "the real-world corpus is missing at {}",
        dir.display()
    );
    eprintln!(
        "skipped: no real-world corpus at {} (set ATIENDE_REALWORLD)",
        dir.display()
    );
    None
}

fn files(dir: &Path, provider: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join(provider))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// Every customer turn of the demo tenant by provider message id, and every id a bot message
/// was threaded to (a Meta reply's `context.message_id`).
async fn turns(stack: &Stack) -> HashMap<String, Value> {
    let (_, list) = stack
        .admin(
            Method::GET,
            "/admin/tenants/demo/conversations?limit=500",
            None,
        )
        .await;
    let mut turns = HashMap::new();
    for summary in list["conversations"].as_array().unwrap() {
        let id = summary["id"].as_str().unwrap();
        let path = format!("/admin/tenants/demo/conversations/{}", urlencoding(id));
        let (status, conversation) = stack.admin(Method::GET, &path, None).await;
        assert!(status.is_success(), "{path}: {status} {conversation}");
        for turn in conversation["turns"].as_array().unwrap() {
            if let Some(mid) = turn["provider_message_id"].as_str() {
                let mut turn = turn.clone();
                turn["conversation"] = summary["id"].clone();
                turns.insert(mid.to_owned(), turn);
            }
        }
    }
    turns
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn parked(stack: &Stack) -> Vec<Value> {
    let (_, letters) = stack.admin(Method::GET, "/admin/dead-letters", None).await;
    letters["dead_letters"].as_array().unwrap().clone()
}

/// What a customer turn of Meta message type `kind` must look like, and whether the bot may
/// answer it.
fn expected_meta(kind: &str, message: &Value) -> (&'static str, bool) {
    match kind {
        "text" | "button" => ("text", true),
        "interactive" => match message["interactive"]["type"].as_str() {
            Some("button_reply" | "list_reply") => ("text", true),
            Some("nfm_reply") => ("[flow]", true),
            Some("call_permission_reply") => ("[call_permission_reply]", false),
            _ => ("parked", false),
        },
        "image" | "audio" | "voice" | "video" | "document" | "sticker" => ("media", true),
        "location" => ("[location", true),
        "reaction" => ("[reaction", false),
        "edit" => ("[edit]", false),
        "revoke" => ("[revoke]", false),
        "system" => ("[system.", false),
        _ => ("[", true),
    }
}

/// The number that stands in for a fixture's placeholder sender.
const PLACEHOLDER_PHONE: &str = "18095559999";

/// Replaces a placeholder (`PHONE_NUMBER`, `<WHATSAPP_USER_PHONE_NUMBER>`, `BSUID_123`) at
/// `item[key]` with a real-looking `value`: a placeholder is not a WhatsApp user, and would hide
/// the rest of the item from the replay (the parser's own tests refuse placeholders).
fn placeholder(item: &mut Value, key: &str, value: &str) {
    let Some(current) = item.get(key).and_then(Value::as_str) else {
        return;
    };
    let real = current.bytes().all(|b| b.is_ascii_digit())
        || (current.len() > 3
            && current.as_bytes()[2] == b'.'
            && current[3..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b.is_ascii_uppercase()));
    if !real {
        item[key] = value.into();
    }
}

fn rewrite_meta(value: &mut Value, n: usize) {
    for entry in value["entry"].as_array_mut().into_iter().flatten() {
        for change in entry["changes"].as_array_mut().into_iter().flatten() {
            let v = &mut change["value"];
            if v.get("metadata").is_some_and(Value::is_object) {
                v["metadata"]["phone_number_id"] = "106540352242922".into();
            }
            for key in ["messages", "statuses"] {
                for item in v[key].as_array_mut().into_iter().flatten() {
                    if let Some(id) = item["id"].as_str() {
                        item["id"] = format!("{id}.{n}").into();
                    }
                    placeholder(item, "from", PLACEHOLDER_PHONE);
                }
            }
            for contact in v["contacts"].as_array_mut().into_iter().flatten() {
                placeholder(contact, "wa_id", PLACEHOLDER_PHONE);
                placeholder(contact, "user_id", "US.9000000001");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3; infra/test.sh runs it"]
async fn real_meta_payloads_are_taken_item_by_item_and_only_customers_writing_get_answers() {
    let Some(dir) = corpus() else { return };
    let stack = Stack::start().await;
    // The corpus comes from a handful of test numbers, dozens of messages each. Handed off at
    // the third unanswered one, a contact's later messages are recorded without bot replies,
    // so the 50-turn history still holds every one this test looks for; asked instead, the
    // bot's replies would roll the earliest out of the window.
    stack
        .set_assistant("ask_before_handoff", serde_json::json!(false))
        .await;
    // Message id → (file, what its turn must look like, whether the bot may answer).
    let mut expected: BTreeMap<String, (String, &'static str, bool)> = BTreeMap::new();
    let mut receipts = 0;
    for (n, (name, bytes)) in files(&dir, "meta").into_iter().enumerate() {
        let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
            // Not JSON at all: a 400 Meta records as a failed delivery of a broken payload.
            let body = String::from_utf8_lossy(&bytes).into_owned();
            let response = stack.meta_webhook(&body).await;
            assert_eq!(response.status(), 400, "{name}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], "invalid_body", "{name}: {error}");
            continue;
        };
        rewrite_meta(&mut value, n);
        let body = serde_json::to_string(&value).unwrap();
        let response = stack.meta_webhook(&body).await;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "{name}: {answer}");
        for entry in value["entry"].as_array().into_iter().flatten() {
            for change in entry["changes"].as_array().into_iter().flatten() {
                if change["field"] != "messages" {
                    continue;
                }
                let v = &change["value"];
                receipts += v["statuses"].as_array().map_or(0, Vec::len);
                for message in v["messages"].as_array().into_iter().flatten() {
                    let kind = message["type"].as_str().unwrap_or_default();
                    let (look, may_answer) = expected_meta(kind, message);
                    let id = message["id"].as_str().unwrap().to_owned();
                    expected.insert(id, (name.clone(), look, may_answer));
                }
            }
        }
    }
    stack.settle().await;
    assert!(
        expected.len() > 60,
        "the corpus has {} messages",
        expected.len()
    );
    assert!(receipts > 15, "the corpus has {receipts} receipts");

    let turns = turns(&stack).await;
    let parked: HashSet<String> = parked(&stack)
        .await
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l["data"].as_str()?).ok())
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect();
    let answered: HashSet<String> = stack
        .meta
        .sent()
        .iter()
        .filter_map(|m| m.body["context"]["message_id"].as_str().map(str::to_owned))
        .collect();

    let mut parked_files = BTreeMap::new();
    for (id, (file, look, may_answer)) in &expected {
        if !may_answer {
            assert!(
                !answered.contains(id),
                "{file}: the bot answered {id}, which the customer did not write"
            );
        }
        let Some(turn) = turns.get(id) else {
            assert!(
                parked.contains(id),
                "{file}: message {id} is neither in a conversation nor parked"
            );
            parked_files.insert(file.clone(), id.clone());
            continue;
        };
        let text = turn["text"].as_str().unwrap_or_default();
        let media = turn["media"].as_array().map_or(0, Vec::len);
        let ok = match *look {
            "text" => !text.is_empty() && !text.starts_with('['),
            "media" => media > 0,
            "parked" => false,
            prefix => text.starts_with(prefix),
        };
        assert!(ok, "{file}: {id} landed as {turn}, expected {look}");
    }
    // Parked rather than delivered: an interactive message without its object, and a location
    // whose coordinates are placeholders (`"LOCATION_LATITUDE"`). Every other message reached a
    // conversation.
    let parked_files: Vec<_> = parked_files.keys().collect();
    assert_eq!(
        parked_files,
        [
            "interactive_missing__pywa_message_interactive_message_with_err.json",
            "location__netflie_can_build_a_location_notification.json"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 and the twilio SDK; infra/test.sh runs it"]
async fn real_twilio_payloads_are_taken_and_one_person_is_one_conversation() {
    let Some(dir) = corpus() else { return };
    let stack = Stack::start().await;
    let mut sids = BTreeMap::new();
    // The customer wrote with their number (and user id) before writing with the user id
    // alone, as someone who adopts a WhatsApp username does.
    let mut twilio = files(&dir, "twilio");
    twilio.sort_by_key(|(name, _)| !name.starts_with("text_phone_with_bsuid"));
    for (n, (name, bytes)) in twilio.into_iter().enumerate() {
        let fields: BTreeMap<String, Value> = serde_json::from_slice(&bytes).unwrap();
        let mut params: Vec<(String, String)> = fields
            .into_iter()
            .filter_map(|(k, v)| {
                if v.is_null() {
                    return None;
                }
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                Some((k, v))
            })
            .collect();
        for (k, v) in &mut params {
            match k.as_str() {
                "AccountSid" => *v = TWILIO_ACCOUNT.to_owned(),
                "To" => *v = "whatsapp:+14155238886".to_owned(),
                "SmsSid" | "MessageSid" | "SmsMessageSid" => *v = format!("{v}{n:03}"),
                // Chatwoot's spec writes `+12345` for "some sender"; only the file about
                // SMS-style senders keeps it.
                "From" if v == "+12345" && !name.starts_with("text_sms_style") => {
                    *v = "whatsapp:+18095559999".to_owned();
                }
                _ => {}
            }
        }
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let response = stack.twilio_webhook("/webhooks/twilio/demo", &pairs).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        if params.iter().any(|(k, v)| k == "From" && v == "+12345") {
            // `+12345` is neither a WhatsApp number nor a WhatsApp user: refused, saying why.
            assert_eq!(status, 400, "{name}: {text}");
            assert!(text.contains("WhatsApp user id"), "{name}: {text}");
            continue;
        }
        assert_eq!(status, 200, "{name}: {text}");
        let sid = params
            .iter()
            .find(|(k, _)| k == "MessageSid" || k == "SmsSid")
            .map(|(_, v)| v.clone())
            .unwrap();
        sids.insert(name, sid);
    }
    stack.settle().await;
    let turns = turns(&stack).await;
    let turn = |file: &str| {
        let sid = &sids[file];
        turns
            .get(sid)
            .unwrap_or_else(|| panic!("{file}: {sid} is in no conversation"))
    };
    // One person, known by number and by WhatsApp user id, is one conversation.
    assert_eq!(
        turn("text_phone_with_bsuid__chatwoot_spec.json")["conversation"],
        "demo:twilio:+919745786257"
    );
    assert_eq!(
        turn("text_bsuid_only__chatwoot_spec.json")["conversation"],
        turn("text_phone_with_bsuid__chatwoot_spec.json")["conversation"],
        "the user id alone reaches the conversation its number started"
    );
    assert_eq!(
        turn("text_null_bytes__chatwoot_spec.json")["text"]
            .as_str()
            .map(|t| t.contains('\0')),
        Some(false)
    );
    assert!(
        turn("media_two_images__chatwoot_spec.json")["media"]
            .as_array()
            .unwrap()
            .len()
            == 2
    );
    assert!(
        turn("location__chatwoot_spec.json")["text"]
            .as_str()
            .unwrap()
            .starts_with("[location")
    );
    // Receipts are receipts: no turn, no answer.
    for (file, sid) in &sids {
        if file.starts_with("status_") {
            assert!(!turns.contains_key(sid), "{file} became a turn");
        }
    }
    // Click-to-WhatsApp attribution is kept on the conversation.
    let conversation_id = turn("referral_ctwa_text__chatwoot_spec.json")["conversation"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, conversation) = stack
        .admin(
            Method::GET,
            &format!(
                "/admin/tenants/demo/conversations/{}",
                urlencoding(&conversation_id)
            ),
            None,
        )
        .await;
    assert_eq!(
        conversation["referral"]["ctwa_clid"],
        "AfjyUDlaIoiweZDnlzmDTEaG"
    );
    assert_eq!(
        conversation["referral"]["headline"],
        "German citizenship lawyer"
    );
}
