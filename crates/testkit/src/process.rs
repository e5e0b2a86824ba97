//! Running a service binary as a real process: the only way to prove that what ingest
//! acknowledged survives `kill -9`, and that each service starts alone from its configuration.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// A service process on `127.0.0.1`, killed when dropped.
///
/// What it prints goes to `service-{port}.log` in its data directory (or to the test's own
/// output when `TEST_LOG` is set), so a failing test can show the service's last words: on CI
/// that is often the only clue.
pub struct ServiceProcess {
    child: Child,
    port: u16,
    log: Option<PathBuf>,
}

impl ServiceProcess {
    /// Starts `binary` on a free port with `data_dir`, JSON logs and the extra `env`. The
    /// caller's own `ATIENDE_*` variables are not inherited, so a developer's shell cannot change
    /// what a test runs.
    pub fn start(binary: &str, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_on(binary, crate::free_port(), data_dir, env)
    }

    /// Like [`ServiceProcess::start`], on a given port (to restart a service where it was).
    pub fn start_on(binary: &str, port: u16, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary);
        for (key, _) in std::env::vars() {
            if key.starts_with("ATIENDE_")
                || matches!(key.as_str(), "PORT" | "TWILIO_API_BASE" | "META_GRAPH_BASE")
            {
                command.env_remove(key);
            }
        }
        command
            .env("PORT", port.to_string())
            .env("ATIENDE_HOST", "127.0.0.1")
            .env("ATIENDE_DATA_DIR", data_dir)
            .env("ATIENDE_LOG__FORMAT", "json")
            .env("ATIENDE_WORKERS", "2")
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        let log = if std::env::var_os("TEST_LOG").is_some() {
            command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
            None
        } else {
            std::fs::create_dir_all(data_dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", data_dir.display()));
            let path = data_dir.join(format!("service-{port}.log"));
            let file = File::create(&path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
            let copy = file
                .try_clone()
                .unwrap_or_else(|e| panic!("cannot share {}: {e}", path.display()));
            command.stdout(copy).stderr(file);
            Some(path)
        };
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        Self { child, port, log }
    }

    /// The last `lines` lines the process printed (empty when `TEST_LOG` sends them to the
    /// test's output instead).
    pub fn log_tail(&self, lines: usize) -> String {
        let Some(text) = self
            .log
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
        else {
            return String::new();
        };
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The process id (to read its `/proc` entries: memory, open files).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until `/health/ready` answers 200.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let url = format!("{}/health/ready", self.url());
        let ready = crate::eventually(timeout, || {
            let url = url.clone();
            async move { http_get_ok(&url).await.then_some(()) }
        })
        .await;
        if ready.is_none() {
            let status = self.child.try_wait().ok().flatten();
            panic!(
                "the service on port {} never became ready (exit status: {status:?}); it printed:\n{}",
                self.port,
                self.log_tail(40)
            );
        }
    }

    /// Kills the process at once (SIGKILL): no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM) and waits for it.
    pub fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("the process was waited for")
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// A plain HTTP GET over a TCP socket: `true` for a 200. (The testkit keeps no HTTP client of
/// its own; readiness needs only the status line.)
async fn http_get_ok(url: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (authority, path) = rest.split_once('/').map_or((rest, "/"), |(a, p)| (a, p));
    let Ok(mut stream) = tokio::net::TcpStream::connect(authority).await else {
        return false;
    };
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && &head[9..12] == b"200"
}

/// Runs `binary` with `args` to completion, returning its exit status and everything it printed.
pub fn run_to_completion(
    binary: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (ExitStatus, String) {
    let mut command = Command::new(binary);
    for (key, _) in std::env::vars() {
        if key.starts_with("ATIENDE_") {
            command.env_remove(key);
        }
    }
    let output = command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status, text)
}

/// Starts `binary` alone on a fresh data directory, waits for `/health/ready`, then stops it
/// with SIGTERM and asserts a clean exit: what every service binary must do.
pub async fn assert_runs_alone_and_stops_cleanly(binary: &str, env: &[(&str, &str)]) {
    let dir = std::env::temp_dir().join(format!(
        "atiende-alone-{}-{}",
        std::process::id(),
        crate::free_port()
    ));
    let mut process = ServiceProcess::start(binary, &dir, env);
    process.wait_ready(Duration::from_secs(60)).await;
    let status = process.terminate();
    assert!(
        status.success(),
        "{binary} exited with {status} after SIGTERM; it printed:\n{}",
        process.log_tail(40)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
