//! The four services as separate servers, as on Cloud Run: ingest, processor and dispatcher each
//! on its own port and its own adapters (sharing one data directory, as services on one machine
//! do), connected only by Pub/Sub-style HTTP push with a push token.

use std::sync::Arc;
use std::time::Duration;

use atiende_adapter_twilio::signature as sig;
use atiende_bootstrap::{Embedded, test_settings};
use atiende_domain::Topic;
use atiende_testkit::{FakeTwilio, TestServer};
use secrecy::SecretString;

/// Ingest, processor and dispatcher, each its own server on its own adapters, pushing to each
/// other; the fake Twilio they answer through.
pub(crate) struct SplitServices {
    pub(crate) twilio: FakeTwilio,
    pub(crate) ingest: TestServer,
    pub(crate) processor: TestServer,
    _dispatcher: TestServer,
    _dir: tempfile::TempDir,
}

impl SplitServices {
    pub(crate) async fn start() -> Self {
        let twilio = FakeTwilio::start(&[(
            "AC00000000000000000000000000000000",
            "demo-twilio-auth-token-0000",
        )]);
        let dir = tempfile::tempdir().unwrap();
        let base = |edit: &dyn Fn(&mut atiende_platform::Settings)| {
            let mut s = test_settings(dir.path());
            s.public_url = Some("https://atiende.example.com".to_owned());
            s.twilio.api_base = twilio.base_url().to_owned();
            s.bus.push_token = Some(SecretString::from("push-secret"));
            edit(&mut s);
            s
        };

        let dispatcher_infra = Embedded::open(&base(&|_| {}), 0).await.unwrap();
        let dispatcher = atiende_dispatcher::consumer(&dispatcher_infra);
        let dispatcher_server = TestServer::start(Arc::new(move |cfg| dispatcher.configure(cfg)));

        let processor_infra = Embedded::open(&base(&|_| {}), 0).await.unwrap();
        processor_infra
            .push_to(Topic::Outbound.subscription(), dispatcher_server.url())
            .unwrap();
        let processor = atiende_processor::consumer(&processor_infra).unwrap();
        let processor_server = TestServer::start(Arc::new(move |cfg| processor.configure(cfg)));

        let ingest_infra = Embedded::open(&base(&|s| s.demo = Some(true)), 0)
            .await
            .unwrap();
        ingest_infra.load_demo_if_enabled().await.unwrap();
        ingest_infra
            .push_to(Topic::Inbound.subscription(), processor_server.url())
            .unwrap();
        let ingest = Arc::new(atiende_ingest::Ingest::new(&ingest_infra));
        let ingest_server =
            TestServer::start(Arc::new(move |cfg| Arc::clone(&ingest).configure(cfg)));
        Self {
            twilio,
            ingest: ingest_server,
            processor: processor_server,
            _dispatcher: dispatcher_server,
            _dir: dir,
        }
    }

    /// A Twilio webhook for the demo tenant, signed as Twilio signs it; asserts it is accepted.
    pub(crate) async fn send(&self, sid: &str, body: &str, traceparent: Option<&str>) {
        let params: Vec<(String, String)> = [
            ("MessageSid", sid),
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("From", "whatsapp:+18095551010"),
            ("To", "whatsapp:+14155238886"),
            ("Body", body),
            ("NumMedia", "0"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        // The SDK-signed path is covered by the `twilio` module; here the subject is the wiring.
        let signature = sig::compute(
            "demo-twilio-auth-token-0000",
            "https://atiende.example.com/webhooks/twilio/demo",
            &params,
        );
        let mut request = reqwest::Client::new()
            .post(format!("{}/webhooks/twilio/demo", self.ingest.url()))
            .header("x-twilio-signature", signature)
            .form(&params);
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_services_connected_by_push_answer_a_customer() {
    let services = SplitServices::start().await;
    services
        .send(
            "SM00000000000000000000000000000201",
            "¿Aceptan cheques?",
            None,
        )
        .await;
    let twilio = &services.twilio;
    let sent = atiende_testkit::eventually(Duration::from_secs(15), || async {
        let sent = twilio.sent();
        (!sent.is_empty()).then_some(sent)
    })
    .await
    .expect("the reply crossed three services");
    assert!(
        sent[0]
            .body
            .as_deref()
            .unwrap()
            .contains("No aceptamos cheques personales")
    );

    // Without the push token, a consumer refuses deliveries.
    let refused = reqwest::Client::new()
        .post(format!(
            "{}/pubsub/push/atiende-processor-inbound",
            services.processor.url()
        ))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}
