//! The web pages in a real browser: headless Chromium, driven through chromedriver (Debian's
//! `chromium` and `chromium-driver`). A visitor asks the demo store a question in the web chat and
//! reads the answer; an agent signs in to the console, takes a handed-off conversation, replies and
//! resolves it; a business owner signs in to the panel with their API key, reads the dashboard,
//! uploads a document, tries the bot in the playground, finds a conversation, and creates and
//! revokes a key.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use atiende_e2e::{Stack, Visitor};
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

struct Chromedriver(Child);

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless Chromium session, and the chromedriver behind it (stopped when dropped).
async fn browser() -> (Chromedriver, fantoccini::Client) {
    let port = atiende_testkit::free_port();
    let _driver = Chromedriver(
        Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (apt-get install chromium-driver)"),
    );
    let webdriver = format!("http://127.0.0.1:{port}");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=900,700"],
        }),
    );
    let client = atiende_testkit::eventually(Duration::from_secs(15), || {
        let capabilities = capabilities.clone();
        let webdriver = webdriver.clone();
        async move {
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&webdriver)
                .await
                .ok()
        }
    })
    .await
    .expect("a browser session");
    (_driver, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver (Debian); infra/test.sh installs them and runs it"]
async fn a_visitor_asks_in_the_browser_and_reads_the_answer() {
    let stack = Stack::start().await;
    let (_driver, client) = browser().await;
    let result = async {
        client
            .goto(&format!("{}/?tenant=demo", stack.running.local_url()))
            .await?;
        client
            .wait()
            .for_element(Locator::Css("[data-testid=text]"))
            .await?;
        // The tenant list and the session load before the visitor types.
        atiende_testkit::eventually(Duration::from_secs(10), || async {
            let value = client
                .find(Locator::Css("[data-testid=tenant]"))
                .await
                .ok()?
                .prop("value")
                .await
                .ok()??;
            (value == "demo").then_some(())
        })
        .await
        .expect("the demo tenant is selected");
        // The visitor is greeted and offered questions to start with, before writing anything.
        let greeted = text_when(&client, ".msg.bot", |t| t.contains("asistente virtual")).await;
        let suggested = client
            .find_all(Locator::Css("[data-testid=suggestions] button"))
            .await?
            .len();
        // The demo's own first suggestion, a question its customers ask, sent with a tap.
        client
            .find(Locator::Css("[data-testid=suggestions] button:first-child"))
            .await?
            .click()
            .await?;
        let answer = atiende_testkit::eventually(Duration::from_secs(15), || async {
            for element in client.find_all(Locator::Css(".msg.bot")).await.ok()? {
                let text = element.text().await.ok()?;
                if text.contains("RD$495") {
                    return Some(text);
                }
            }
            None
        })
        .await;
        let screenshot = client.screenshot().await?;
        let target = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/webchat.png");
        let _ = std::fs::write(target, screenshot);
        let customer = client
            .find(Locator::Css(".msg.customer"))
            .await?
            .text()
            .await?;
        Ok::<_, fantoccini::error::CmdError>((answer, customer, greeted, suggested))
    }
    .await;
    let _ = client.close().await;
    let (answer, customer, greeted, suggested) = result.expect("the page works");
    assert!(greeted.is_some(), "the visitor is greeted");
    assert_eq!(suggested, 5, "and offered the tenant's five questions");
    let answer = answer.expect("the bot's answer appears in the page");
    assert!(answer.contains("Cemento gris"), "{answer}");
    assert!(
        customer.contains("¿Cuánto cuesta el cemento gris?"),
        "{customer}"
    );
}

/// The text of the element `css`, once it exists and satisfies `ready`.
async fn text_when(
    client: &fantoccini::Client,
    css: &str,
    ready: impl Fn(&str) -> bool,
) -> Option<String> {
    atiende_testkit::eventually(Duration::from_secs(15), || async {
        for element in client.find_all(Locator::Css(css)).await.ok()? {
            let text = element.text().await.ok()?;
            if ready(&text) {
                return Some(text);
            }
        }
        None
    })
    .await
}

/// Clicks the element `css`, trying again while the page re-renders it (the console redraws on
/// every server-sent change, which can leave a found element stale before the click).
async fn click(client: &fantoccini::Client, css: &str) -> bool {
    atiende_testkit::eventually(Duration::from_secs(15), || async {
        client
            .find(Locator::Css(css))
            .await
            .ok()?
            .click()
            .await
            .ok()
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver (Debian); infra/test.sh installs them and runs it"]
async fn an_agent_takes_replies_and_resolves_in_the_console() {
    let stack = Stack::start().await;
    let base = stack.running.local_url();
    // A web chat visitor asks for a person.
    let visitor = Visitor::open(&stack).await;
    visitor.say("Quiero hablar con un agente, por favor").await;
    stack.settle().await;

    let (_driver, client) = browser().await;
    let result = async {
        client.goto(&format!("{base}/console")).await?;
        client
            .wait()
            .for_element(Locator::Css("#key"))
            .await?
            .send_keys(atiende_demo::AGENT_KEY)
            .await?;
        client.find(Locator::Css("#signin")).await?.click().await?;
        let queued = text_when(&client, "#queue li", |t| {
            t.to_lowercase().contains("en espera")
        })
        .await;
        let took = click(&client, "#queue li").await && click(&client, "#take").await;
        let taken = text_when(&client, "#facts", |t| t.contains("Agente demo"))
            .await
            .filter(|_| took);
        // A canned reply fills the box; the agent writes their own instead.
        client
            .find(Locator::Css("#canned"))
            .await?
            .select_by_label("Formas de pago")
            .await?;
        let canned = client
            .find(Locator::Css("#reply-text"))
            .await?
            .prop("value")
            .await?
            .unwrap_or_default();
        client
            .find(Locator::Css("#reply-text"))
            .await?
            .clear()
            .await?;
        client
            .find(Locator::Css("#reply-text"))
            .await?
            .send_keys("Hola, le atiende Carmen. ¿En qué le ayudo?")
            .await?;
        let sent = click(&client, "#send").await;
        let shown = text_when(&client, "#turns li.agent", |t| t.contains("Carmen")).await;
        // A photo from the attach button: kept, sent, and shown in the transcript from atiende's
        // copy (the image loads).
        let photo = tempfile::Builder::new().suffix(".png").tempfile().unwrap();
        std::fs::write(photo.path(), ONE_PIXEL_PNG).unwrap();
        client
            .find(Locator::Css("#file"))
            .await?
            .send_keys(&photo.path().display().to_string())
            .await?;
        let photo_shown = atiende_testkit::eventually(Duration::from_secs(10), || async {
            let loaded = client
                .execute(
                    "const img = document.querySelector('#turns li.agent img.media'); return !!img && img.complete && img.naturalWidth === 1;",
                    vec![],
                )
                .await
                .ok()?;
            (loaded == serde_json::Value::Bool(true)).then_some(())
        })
        .await;
        let screenshot = client.screenshot().await?;
        let target = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/console.png");
        let _ = std::fs::write(target, screenshot);
        let resolved = click(&client, "#resolve").await;
        let emptied = text_when(&client, "#queue", |t| t.contains("No hay conversaciones")).await;
        Ok::<_, fantoccini::error::CmdError>((
            queued.filter(|_| canned.contains("No aceptamos cheques")),
            taken,
            shown.filter(|_| sent),
            emptied.filter(|_| resolved),
            photo_shown,
        ))
    }
    .await;
    let _ = client.close().await;
    let (queued, taken, shown, emptied, photo_shown) = result.expect("the console works");
    assert!(
        photo_shown.is_some(),
        "an attached photo appears in the transcript, loaded from atiende's copy"
    );
    assert!(
        queued.is_some(),
        "the handed-off conversation is queued, and a canned reply fills the box"
    );
    assert!(taken.is_some(), "taking it names the agent");
    assert!(shown.is_some(), "the reply appears in the transcript");
    assert!(emptied.is_some(), "resolving empties the queue");
    // The visitor received the agent's words on their channel.
    let transcript = visitor.transcript().await;
    assert!(
        transcript
            .iter()
            .any(|m| m["text"] == "Hola, le atiende Carmen. ¿En qué le ayudo?"),
        "{transcript:?}"
    );
}

/// The smallest PNG: one transparent pixel.
const ONE_PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0xff, 0xff, 0x3f,
    0x00, 0x05, 0xfe, 0x02, 0xfe, 0xa7, 0xa6, 0xa0, 0xc7, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Saves what the browser shows as `target/{name}.png`, to look at while building.
async fn screenshot(client: &fantoccini::Client, name: &str) {
    if let Ok(png) = client.screenshot().await {
        let target = format!("{}/../target/{name}.png", env!("CARGO_MANIFEST_DIR"));
        let _ = std::fs::write(target, png);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver (Debian); infra/test.sh installs them and runs it"]
async fn a_business_owner_runs_the_bot_from_the_panel() {
    let stack = Stack::start().await;
    let base = stack.running.local_url();
    // A setting the panel does not show, set through the API: saving the panel keeps it.
    stack
        .set_assistant("persona", serde_json::json!("Tutea al cliente."))
        .await;
    // Activity to report: a visitor's question, then a handoff.
    let visitor = Visitor::open(&stack).await;
    visitor.say("¿Aceptan cheques?").await;
    visitor.say("Quiero hablar con un agente, por favor").await;
    stack.settle().await;
    // A person resolves it and the visitor rates the help: 5.
    let (status, _) = stack
        .call(
            reqwest::Method::POST,
            &format!(
                "/console/api/conversations/{}/resolve",
                visitor.conversation
            ),
            atiende_demo::AGENT_KEY,
            None,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED);
    stack.settle().await;
    visitor.say("5").await;
    stack.settle().await;
    let (status, owner) = stack
        .admin(
            reqwest::Method::POST,
            "/admin/tenants/demo/keys",
            Some(serde_json::json!({ "name": "Ana", "role": "owner" })),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{owner}");
    let owner = owner["key"].as_str().unwrap().to_owned();
    let uploads = tempfile::tempdir().unwrap();
    let upload = uploads.path().join("garantia.md");
    std::fs::write(
        &upload,
        "# Garantía de herramientas\n\nLas herramientas eléctricas tienen garantía de 6 meses con la factura.\n",
    )
    .unwrap();

    let (_driver, client) = browser().await;
    let result = async {
        client.goto(&format!("{base}/panel")).await?;
        // In Spanish, whatever the browser's language (the page follows it by default).
        client
            .wait()
            .for_element(Locator::Css("[data-testid=lang]"))
            .await?
            .select_by_value("es")
            .await?;
        client
            .wait()
            .for_element(Locator::Css("[data-testid=key]"))
            .await?
            .send_keys(&owner)
            .await?;
        client
            .find(Locator::Css("[data-testid=signin]"))
            .await?
            .click()
            .await?;
        // The dashboard, with the day's figures.
        let conversations =
            text_when(&client, "[data-metric=conversations] .value", |t| t == "1").await;
        let escalated =
            text_when(&client, "[data-metric=escalation] .value", |t| t == "100 %").await;
        let trigger = text_when(&client, "[data-testid=triggers]", |t| {
            t.contains("lo pidió el cliente")
        })
        .await;
        screenshot(&client, "panel-dashboard").await;

        // Knowledge: upload a file and see it listed.
        assert!(click(&client, "[data-testid=tab-knowledge]").await);
        client
            .wait()
            .for_element(Locator::Css("[data-testid=files]"))
            .await?
            .send_keys(&upload.display().to_string())
            .await?;
        client
            .find(Locator::Css("[data-testid=upload]"))
            .await?
            .click()
            .await?;
        let uploaded = text_when(&client, "[data-testid=upload-status]", |t| {
            t.starts_with("Listo")
        })
        .await;
        let listed = text_when(&client, "[data-testid=docs]", |t| t.contains("garantia.md")).await;
        screenshot(&client, "panel-knowledge").await;

        // The playground: a dry turn, with its answer.
        assert!(click(&client, "[data-testid=tab-playground]").await);
        client
            .wait()
            .for_element(Locator::Css("[data-testid=pg-text]"))
            .await?
            .send_keys("¿Cuánto tiempo de garantía tienen las herramientas eléctricas?")
            .await?;
        client
            .find(Locator::Css("[data-testid=pg-send]"))
            .await?
            .click()
            .await?;
        let answered =
            text_when(&client, "[data-testid=pg-reply]", |t| t.contains("6 meses")).await;
        // The trace of the turn, without a model: what was retrieved and how relevant.
        let traced = text_when(&client, "[data-testid=pg-trace]", |t| {
            t.contains("extractive") && t.contains("garantia.md")
        })
        .await;
        screenshot(&client, "panel-playground").await;

        // Conversations: find the visitor's, read it.
        assert!(click(&client, "[data-testid=tab-conversations]").await);
        client
            .wait()
            .for_element(Locator::Css("[data-testid=conv-find]"))
            .await?
            .send_keys("cheques")
            .await?;
        let found = click(&client, "[data-testid=conv]").await;
        let read = text_when(&client, "[data-testid=conv-detail]", |t| {
            // Resolved now, and rated by the customer (the trigger is on the dashboard).
            t.contains("¿Aceptan cheques?") && t.contains("Calificación: 5 / 5")
        })
        .await
        .filter(|_| found);
        // Each bot turn carries its decision trace: the engine, and the passage quoted with its
        // relevance.
        let trace = text_when(&client, "[data-testid=turn-trace]", |t| {
            t.contains("motor: extractive") && t.contains("pasajes: informacion#")
        })
        .await;
        let read = read.filter(|_| trace.is_some());
        screenshot(&client, "panel-conversation").await;

        // Settings: a monthly budget for the model, saved with the assistant's other settings.
        assert!(click(&client, "[data-testid=tab-settings]").await);
        let budget = client
            .wait()
            .for_element(Locator::Css("[data-testid=budget]"))
            .await?;
        let _ = text_when(&client, "[data-testid=usage]", |t| !t.is_empty()).await;
        budget.clear().await?;
        budget.send_keys("15").await?;
        // And what a bare photo gets: the question of what the customer needs.
        client
            .find(Locator::Css("[data-testid=media-policy] option[value=ask]"))
            .await?
            .click()
            .await?;
        client
            .find(Locator::Css("[data-testid=save-bot]"))
            .await?
            .click()
            .await?;
        let saved = text_when(&client, "#bot-status", |t| t == "Guardado.").await;
        screenshot(&client, "panel-settings-bot").await;

        // Business hours: open Monday to Saturday 8 to 5, closed on Sunday.
        let always = client
            .find(Locator::Css("[data-testid=always-open]"))
            .await?;
        if always.prop("checked").await?.as_deref() == Some("true") {
            always.click().await?;
        }
        for day in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
            let open = client
                .find(Locator::Css(&format!("tr[data-day={day}] .day-open")))
                .await?;
            let checked = open.prop("checked").await?.as_deref() == Some("true");
            if checked == (day == "sun") {
                open.click().await?;
            }
        }
        client
            .find(Locator::Css("[data-testid=save-hours]"))
            .await?
            .click()
            .await?;
        let hours_saved = text_when(&client, "#hours-status", |t| t == "Guardado.").await;
        // The console stays the desk; customers are told after 20 minutes that nobody is free.
        let wait = client.find(Locator::Css("[data-testid=desk-wait]")).await?;
        wait.clear().await?;
        wait.send_keys("20").await?;
        client
            .find(Locator::Css("[data-testid=save-desk]"))
            .await?
            .click()
            .await?;
        let desk_saved = text_when(&client, "#desk-status", |t| t == "Guardado.").await;
        // A re-engagement template for writing after the 24-hour window.
        client
            .find(Locator::Css("[data-testid=add-template]"))
            .await?
            .click()
            .await?;
        for (field, value) in [
            ("tpl-name", "reengagement"),
            ("tpl-sid", "HX0123456789abcdef0123456789abcdef"),
        ] {
            client
                .find(Locator::Css(&format!(
                    "[data-testid=templates] tr:last-child .{field}"
                )))
                .await?
                .send_keys(value)
                .await?;
        }
        client
            .find(Locator::Css("[data-testid=save-templates]"))
            .await?
            .click()
            .await?;
        let templates_saved = text_when(&client, "#templates-status", |t| t == "Guardado.").await;
        screenshot(&client, "panel-settings-desk").await;
        let saved = saved
            .filter(|_| hours_saved.is_some() && desk_saved.is_some() && templates_saved.is_some());

        // The channels, checked through the public URL.
        client
            .find(Locator::Css("[data-testid=check]"))
            .await?
            .click()
            .await?;
        let checked = text_when(&client, "[data-check=meta]", |t| t.starts_with('✓')).await;
        screenshot(&client, "panel-settings-bot").await;

        // And a viewer's key, shown once; then revoked.
        client
            .wait()
            .for_element(Locator::Css("[data-testid=key-name]"))
            .await?
            .send_keys("Pantalla de la tienda")
            .await?;
        client
            .find(Locator::Css("[data-testid=create-key]"))
            .await?
            .click()
            .await?;
        let shown = text_when(&client, "[data-testid=new-key]", |t| t.starts_with("atk_")).await;
        let row = text_when(&client, "[data-testid=keys]", |t| {
            t.contains("Pantalla de la tienda")
        })
        .await;
        screenshot(&client, "panel-settings").await;
        Ok::<_, fantoccini::error::CmdError>((
            (conversations, escalated, trigger),
            (uploaded, listed),
            (answered, traced),
            read,
            (shown, row),
            saved.filter(|_| checked.is_some()),
        ))
    }
    .await;
    let (dashboard, knowledge, playground, read, keys, saved) = result.expect("the panel works");
    assert!(
        saved.is_some(),
        "the settings are saved and the channels checked"
    );
    let (_, tenant) = stack
        .admin(reqwest::Method::GET, "/admin/tenants/demo", None)
        .await;
    assert_eq!(tenant["assistant"]["monthly_budget_usd"], 15.0, "{tenant}");
    assert_eq!(tenant["assistant"]["csat"], true, "the other settings stay");
    assert_eq!(
        tenant["assistant"]["persona"], "Tutea al cliente.",
        "a setting the panel does not show stays: {tenant}"
    );
    assert_eq!(tenant["assistant"]["media_without_text"], "ask", "{tenant}");
    assert_eq!(
        tenant["assistant"]["quote_handoff_above"], 100000.0,
        "{tenant}"
    );
    assert_eq!(tenant["assistant"]["ask_before_handoff"], true, "{tenant}");
    let weekly = tenant["business_hours"]["weekly"].as_array().unwrap();
    assert_eq!(weekly.len(), 6, "open six days: {tenant}");
    assert!(
        weekly
            .iter()
            .all(|w| w["days"][0] != "sun" && w["open"] == "08:00" && w["close"] == "17:00"),
        "{tenant}"
    );
    assert_eq!(tenant["desk"], "console");
    assert_eq!(tenant["desk_wait_minutes"], 20);
    assert_eq!(
        tenant["templates"]["reengagement"]["twilio_content_sid"],
        "HX0123456789abcdef0123456789abcdef"
    );
    assert!(
        dashboard.0.is_some(),
        "the dashboard counts the conversation"
    );
    assert!(dashboard.1.is_some(), "and its escalation");
    assert!(dashboard.2.is_some(), "by trigger");
    assert!(knowledge.0.is_some(), "the upload finishes");
    assert!(knowledge.1.is_some(), "the document is listed");
    assert!(
        playground.0.is_some(),
        "the playground answers from the new document"
    );
    assert!(playground.1.is_some(), "with the turn's trace");
    assert!(
        read.is_some(),
        "the conversation is found and read, with its decision trace and its rating"
    );
    let secret = keys.0.expect("the new key is shown once");
    assert!(keys.1.is_some(), "and listed");
    let secret = secret.split_whitespace().next().unwrap().to_owned();
    let (status, _) = stack
        .call(
            reqwest::Method::GET,
            "/admin/tenants/demo/stats",
            &secret,
            None,
        )
        .await;
    assert_eq!(
        status,
        reqwest::StatusCode::OK,
        "the viewer's key reads reports"
    );
    // Revoking in the page (after confirming) stops the key.
    let revoke = client
        .find(Locator::XPath(
            "//tr[td[text()='Pantalla de la tienda']]//button[@data-testid='revoke']",
        ))
        .await
        .expect("the key's row has a revoke button");
    revoke.click().await.expect("revoke is clicked");
    client
        .accept_alert()
        .await
        .expect("a confirmation is asked");
    let gone = atiende_testkit::eventually(Duration::from_secs(10), || async {
        let (status, _) = stack
            .call(
                reqwest::Method::GET,
                "/admin/tenants/demo/stats",
                &secret,
                None,
            )
            .await;
        (status == reqwest::StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    let _ = client.close().await;
    assert!(gone.is_some(), "the revoked key stops working");
}
