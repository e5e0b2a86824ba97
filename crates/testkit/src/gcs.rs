//! A Cloud Storage emulator for the media tests: `gcp-storage-emulator` (PyPI; it serves the
//! JSON API's upload, download, list and delete), started in memory with one bucket, killed when
//! dropped. Google ships no Cloud Storage emulator; this third-party one runs the same calls the
//! adapter makes against the real service.
//!
//! The binary is `$GCS_EMULATOR_BIN`, else `gcp-storage-emulator` on the `PATH`
//! (`infra/test.sh` installs it in the tests' virtualenv).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running emulator.
pub struct StorageEmulator {
    child: Child,
    host: String,
    _dir: tempfile::TempDir,
}

impl StorageEmulator {
    /// The binary, if one is configured or on the `PATH`.
    pub fn binary() -> Option<String> {
        if let Ok(bin) = std::env::var("GCS_EMULATOR_BIN")
            && !bin.is_empty()
        {
            return Some(bin);
        }
        let on_path = Command::new("gcp-storage-emulator")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        on_path.then(|| "gcp-storage-emulator".to_owned())
    }

    /// Starts it with `bucket` created, waiting up to 30 s for it to answer; `None` when no
    /// binary is installed (under `CI` that is a failure, not a skip).
    pub async fn start(bucket: &str) -> Option<Self> {
        let Some(binary) = Self::binary() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the Cloud Storage tests: install gcp-storage-emulator (infra/test.sh does) or set GCS_EMULATOR_BIN"
            );
            eprintln!("skipped: no gcp-storage-emulator (pip install gcp-storage-emulator)");
            return None;
        };
        let port = crate::free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(dir.path().join("gcs.log")).expect("log file");
        let child = Command::new(&binary)
            .args(["start", "--in-memory", "--quiet", "--host", "127.0.0.1"])
            .arg("--port")
            .arg(port.to_string())
            .arg("--default-bucket")
            .arg(bucket)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let emulator = Self {
            child,
            host: format!("127.0.0.1:{port}"),
            _dir: dir,
        };
        let probe = format!("http://{}/storage/v1/b/{bucket}", emulator.host);
        assert!(
            crate::answers(&probe, Duration::from_secs(30)).await,
            "the Cloud Storage emulator did not start within 30 s: {}",
            std::fs::read_to_string(emulator._dir.path().join("gcs.log")).unwrap_or_default()
        );
        Some(emulator)
    }

    /// `127.0.0.1:{port}`, as `STORAGE_EMULATOR_HOST` takes it.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl Drop for StorageEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
