//! Test support shared by the services' black-box tests and the end-to-end suite.
//!
//! Twilio's and Meta's APIs cannot run here, so [`FakeTwilio`] and [`FakeMeta`] stand in for
//! them (and Chatwoot's and Rocket.Chat's, [`FakeChatwoot`], [`FakeRocketChat`], and a hosted
//! language model's, [`FakeLlm`]) — strictly following protocols.md (authentication, field rules, response and error
//! bodies), because a lenient fake would let the senders drift from the real contract. Everything
//! that *can* run here runs for real in the tests: SQLite, tantivy, the HTTP servers, and the
//! official `twilio` Python SDK, which signs the webhooks the end-to-end tests send
//! ([`python`]).

// Test support fails loudly and early: a panic with the reason is the right outcome.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod bus;
pub mod fake_chatwoot;
pub mod fake_llm;
pub mod fake_meta;
pub mod fake_rocketchat;
pub mod fake_twilio;
pub mod gcs;
pub mod litellm;
pub mod process;
pub mod python;
pub mod receiver;

pub use fake_chatwoot::FakeChatwoot;
pub use fake_llm::FakeLlm;
pub use fake_meta::FakeMeta;
pub use fake_rocketchat::FakeRocketChat;
pub use fake_twilio::FakeTwilio;
pub use receiver::WebhookReceiver;

use std::future::Future;
use std::time::Duration;

/// Polls `check` every 20 ms until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `url` answers a GET with a success status within `timeout`: how a test knows a process
/// it spawned (an emulator, a proxy) is up.
pub async fn answers(url: &str, timeout: Duration) -> bool {
    let client = reqwest::Client::new();
    eventually(timeout, || async {
        let response = client.get(url).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await
    .is_some()
}

/// A service under test: its routes on a real HTTP server bound to `127.0.0.1:0`, with the
/// platform's middleware and error handling, stopped when dropped.
pub struct TestServer {
    base_url: String,
    handle: actix_web::dev::ServerHandle,
}

impl TestServer {
    /// Serves `configure` on a fresh port.
    pub fn start(configure: atiende_platform::server::Configure) -> Self {
        atiende_platform::telemetry::init_for_tests();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let port = listener.local_addr().expect("local address").port();
        let options = atiende_platform::server::ServerOptions {
            workers: 2,
            shutdown_grace_secs: 1,
            json_limit: 1024 * 1024,
        };
        let server =
            atiende_platform::server::build(listener, &options, configure).expect("server");
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            handle,
        }
    }

    /// `http://127.0.0.1:{port}`.
    pub fn url(&self) -> &str {
        &self.base_url
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.base_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// A port that was free a moment ago, for configuring a server before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs an actix server on `127.0.0.1:0` in a background thread with its own runtime, returning
/// its base URL and a handle that stops it.
pub(crate) fn spawn_server<F>(factory: F) -> (String, actix_web::dev::ServerHandle)
where
    F: Fn(&mut actix_web::web::ServiceConfig) + Send + Clone + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let port = listener.local_addr().expect("local address").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                actix_web::App::new().configure(factory.clone())
            })
            .workers(1)
            .listen(listener)
            .expect("listen")
            .disable_signals()
            .run();
            tx.send(server.handle()).expect("send the handle");
            let _ = server.await;
        });
    });
    let handle = rx.recv().expect("the fake server started");
    (format!("http://127.0.0.1:{port}"), handle)
}

/// A customer's WhatsApp text (via Twilio) to `tenant` from `phone`, as ingest would publish it.
pub fn whatsapp_text(
    tenant: &str,
    phone: &str,
    id: &str,
    text: &str,
) -> atiende_domain::InboundMessage {
    use atiende_domain::{
        Channel, Contact, ConversationId, InboundMessage, MessageContent, PhoneNumber,
        ProviderMessageId, TenantId,
    };
    let tenant = TenantId::parse(tenant).expect("a tenant id");
    let phone = PhoneNumber::parse(phone).expect("a phone number");
    InboundMessage {
        conversation: ConversationId::new(&tenant, Channel::TwilioWhatsApp, phone.as_str()),
        tenant,
        channel: Channel::TwilioWhatsApp,
        provider_message_id: ProviderMessageId::parse(id).expect("a message id"),
        contact: Contact::from_phone(phone),
        business_address: None,
        content: MessageContent::Text {
            body: text.to_owned(),
        },
        sent_at: None,
        received_at: chrono::Utc::now(),
        in_reply_to: None,
        referral: None,
    }
}
