//! The real LiteLLM proxy (`pip install 'litellm[proxy]'`), started for a test with a config of
//! mock deployments: `mock_response` answers with fixed text, or raises LiteLLM's own
//! `RateLimitError` (429) or `InternalServerError` (500) — the failures a hosted provider sends
//! through a real gateway, with LiteLLM's real error bodies and headers.
//!
//! The binary is `$LITELLM_BIN`, else `litellm` on the `PATH` (`infra/test.sh` installs it in a
//! virtualenv). The model cost map is read locally, so nothing is fetched.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running proxy, killed when dropped.
pub struct LiteLlmProxy {
    child: Child,
    base_url: String,
    _dir: tempfile::TempDir,
}

/// The master key the proxy is started with.
pub const MASTER_KEY: &str = "sk-atiende-test";

impl LiteLlmProxy {
    /// Starts the proxy with `model_list` (YAML, the entries under `model_list:`), waits until it
    /// answers, for at most a minute.
    pub async fn start(model_list: &str) -> Self {
        let port = crate::free_port();
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_path_buf();
        let config = dir.join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "model_list:\n{model_list}\ngeneral_settings:\n  master_key: {MASTER_KEY}\nlitellm_settings:\n  num_retries: 0\n  request_timeout: 10\n"
            ),
        )
        .expect("write the config");
        let binary = std::env::var("LITELLM_BIN").unwrap_or_else(|_| "litellm".to_owned());
        let log = std::fs::File::create(dir.join("proxy.log")).expect("log file");
        let child = Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(port.to_string())
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .env("LITELLM_LOG", "ERROR")
            .env("NO_DOCS", "True")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {binary} (pip install 'litellm[proxy]'; infra/test.sh does): {e}"
                )
            });
        let proxy = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            _dir: temp,
        };
        let probe = format!("{}/health/liveliness", proxy.base_url);
        assert!(
            crate::answers(&probe, Duration::from_secs(60)).await,
            "LiteLLM did not start within a minute: {}",
            std::fs::read_to_string(dir.join("proxy.log")).unwrap_or_default()
        );
        proxy
    }

    /// The base URL (`http://127.0.0.1:{port}`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl Drop for LiteLlmProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
