//! The web chat in a real browser: headless Chromium, driven through chromedriver (Debian's
//! `chromium` and `chromium-driver`), asks the demo store a question and reads the answer.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use atiende_e2e::Stack;
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

struct Chromedriver(Child);

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver (Debian); infra/test.sh installs them and runs it"]
async fn a_visitor_asks_in_the_browser_and_reads_the_answer() {
    let stack = Stack::start().await;
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

    let result = async {
        client
            .goto(&format!("{}/?tenant=demo", stack.running.local_url()))
            .await?;
        let input = client
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
        input.send_keys("¿Cuánto cuesta el cemento gris?").await?;
        client
            .find(Locator::Css("[data-testid=send]"))
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
        Ok::<_, fantoccini::error::CmdError>((answer, customer))
    }
    .await;
    let _ = client.close().await;
    let (answer, customer) = result.expect("the page works");
    let answer = answer.expect("the bot's answer appears in the page");
    assert!(answer.contains("Cemento gris"), "{answer}");
    assert!(
        customer.contains("¿Cuánto cuesta el cemento gris?"),
        "{customer}"
    );
}
