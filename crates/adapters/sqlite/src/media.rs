//! Media files on the local disk, beside the database: the embedded default's [`MediaStore`].
//!
//! Each file lives at `{root}/{tenant}/{key}`; its first line is its MIME type, the rest its
//! bytes, so a file and its type are written (and replaced) together by one rename. Keys are
//! checked against atiende's own form ([`atiende_domain::is_media_key`]) before they touch a path,
//! so no key can name a file outside its tenant's directory.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use atiende_domain::TenantId;
use atiende_ports::{FetchedMedia, MediaStore, PortError};

/// Tells concurrent writes of one key apart (each writes its own partial file).
static WRITES: AtomicU64 = AtomicU64::new(0);

/// Media files under one directory.
#[derive(Debug, Clone)]
pub struct FileMediaStore {
    root: PathBuf,
}

impl FileMediaStore {
    /// Files under `root` (created on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Deletes the files last written more than `max_age` ago (what a bucket's lifecycle rule
    /// does on Cloud Storage); returns how many. Blocking: run it off the async threads.
    pub fn sweep(&self, max_age: std::time::Duration) -> std::io::Result<usize> {
        let Some(cutoff) = std::time::SystemTime::now().checked_sub(max_age) else {
            return Ok(0);
        };
        let tenants = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for tenant in tenants {
            let tenant = tenant?;
            if !tenant.file_type()?.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(tenant.path())? {
                let file = file?;
                let meta = file.metadata()?;
                if meta.is_file() && meta.modified()? < cutoff {
                    std::fs::remove_file(file.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    fn path(&self, tenant: &TenantId, key: &str) -> Result<PathBuf, PortError> {
        atiende_ports::check_media_key(key)?;
        Ok(self.root.join(tenant.as_str()).join(key))
    }
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> PortError {
    PortError::transient_from(format!("{what} {}", path.display()), error)
}

#[async_trait]
impl MediaStore for FileMediaStore {
    async fn put(
        &self,
        tenant: &TenantId,
        key: &str,
        media: &FetchedMedia,
    ) -> Result<(), PortError> {
        let path = self.path(tenant, key)?;
        let content_type = media.content_type.trim();
        if content_type.contains(['\n', '\r']) {
            return Err(PortError::permanent("a MIME type cannot span lines"));
        }
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_error("cannot create", &dir, e))?;
        let mut contents = Vec::with_capacity(content_type.len() + 1 + media.bytes.len());
        contents.extend_from_slice(content_type.as_bytes());
        contents.push(b'\n');
        contents.extend_from_slice(&media.bytes);
        // Written aside and renamed into place: a reader sees the old file or the new, whole.
        let partial = path.with_extension(format!(
            "part-{}-{}",
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        tokio::fs::write(&partial, contents)
            .await
            .map_err(|e| io_error("cannot write", &partial, e))?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(|e| io_error("cannot rename into", &path, e))
    }

    async fn get(&self, tenant: &TenantId, key: &str) -> Result<Option<FetchedMedia>, PortError> {
        let path = self.path(tenant, key)?;
        let contents = match tokio::fs::read(&path).await {
            Ok(contents) => contents,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("cannot read", &path, e)),
        };
        let Some(split) = contents.iter().position(|b| *b == b'\n') else {
            return Err(PortError::permanent(format!(
                "{} is not a media file",
                path.display()
            )));
        };
        Ok(Some(FetchedMedia {
            content_type: String::from_utf8_lossy(&contents[..split]).into_owned(),
            bytes: contents[split + 1..].to_vec(),
        }))
    }

    async fn forget_tenant(&self, tenant: &TenantId) -> Result<(), PortError> {
        let dir = self.root.join(tenant.as_str());
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("cannot delete", &dir, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sweep_deletes_only_files_older_than_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileMediaStore::new(dir.path());
        let tenant = TenantId::parse("demo").unwrap();
        let (old, new) = (
            atiende_domain::outgoing_media_key(&format!("{:032x}", 1)),
            atiende_domain::outgoing_media_key(&format!("{:032x}", 2)),
        );
        let file = FetchedMedia {
            content_type: "image/jpeg".into(),
            bytes: b"x".to_vec(),
        };
        store.put(&tenant, &old, &file).await.unwrap();
        store.put(&tenant, &new, &file).await.unwrap();
        let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(200 * 86_400);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join("demo").join(&old))
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let removed = store
            .sweep(std::time::Duration::from_secs(180 * 86_400))
            .unwrap();
        assert_eq!(removed, 1);
        assert_eq!(store.get(&tenant, &old).await.unwrap(), None);
        assert_eq!(store.get(&tenant, &new).await.unwrap(), Some(file));
    }
}
