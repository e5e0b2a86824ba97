//! The SQLite connection layer: one writer thread with group commit, a pool of readers.
//!
//! SQLite allows one writer at a time. Rather than have every request contend for the write lock,
//! writes are closures sent to a single thread that runs whatever is queued in **one**
//! transaction, each closure in its own savepoint (a failing closure rolls back only itself), then
//! commits once and answers everyone. Under load a commit carries dozens of writes; with no load it
//! carries one and costs one WAL append.
//!
//! Durability: the database runs in WAL mode. With [`Durability::Normal`] (the default) a
//! committed write is in the WAL file before the caller hears back, so it survives the process
//! being killed; only a power loss or kernel crash can lose the last commits. [`Durability::Full`]
//! also fsyncs every commit, for machines where that matters more than throughput.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;

use atiende_ports::PortError;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, oneshot};
use tracing::error;

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Survives a crash of the process (WAL, `synchronous=NORMAL`).
    #[default]
    Normal,
    /// Also survives power loss (`synchronous=FULL`, an fsync per commit).
    Full,
}

/// The most writes committed in one transaction.
const MAX_BATCH: usize = 512;
/// The most writes waiting for the writer; beyond it callers get a transient "overloaded" error
/// (ingest answers 503 and the provider retries) instead of unbounded memory growth.
const MAX_QUEUED_WRITES: usize = 20_000;
/// Reader connections.
const READERS: usize = 4;
/// How often the checkpointer moves committed WAL frames into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Why a database closure failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite reported an error.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A stored document could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The write conflicts with the stored state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The writer thread is gone or overloaded.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl From<serde_json::Error> for DbError {
    fn from(error: serde_json::Error) -> Self {
        Self::Corrupt(error.to_string())
    }
}

impl From<DbError> for PortError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Conflict(what) => PortError::Conflict(what),
            DbError::NotFound(what) => PortError::NotFound(what),
            DbError::Unavailable(what) => PortError::transient(what),
            DbError::Corrupt(what) => PortError::permanent(what),
            DbError::Sqlite(e) => match transient_reason(&e) {
                Some(reason) => PortError::transient_from(reason, e),
                None => PortError::permanent_from("database error", e),
            },
        }
    }
}

/// Why a SQLite failure may pass, if it may: a busy or locked database, and the disk's troubles
/// (full, an I/O error, read-only, out of memory), which an operator fixes without touching the
/// message. Treated as permanent they dead-lettered every message while a disk was full — and the
/// dead letter's own write failed too.
fn transient_reason(error: &rusqlite::Error) -> Option<&'static str> {
    #[allow(clippy::wildcard_enum_match_arm)]
    match error.sqlite_error_code()? {
        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
            Some("database busy")
        }
        rusqlite::ErrorCode::DiskFull => Some("the disk is full"),
        rusqlite::ErrorCode::SystemIoFailure => Some("the disk failed a read or write"),
        rusqlite::ErrorCode::ReadOnly => Some("the database is read-only"),
        rusqlite::ErrorCode::OutOfMemory => Some("out of memory"),
        _ => None,
    }
}

type Completion = Box<dyn FnOnce(Result<(), DbError>) + Send>;
/// A queued write: given the connection it runs and reports success; given `None` (the
/// transaction could not start) it only prepares to report the failure.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Completion) + Send>;

/// A handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    writer: mpsc::SyncSender<Job>,
    readers: Arc<Mutex<Vec<Connection>>>,
    reader_permits: Arc<Semaphore>,
    path: Arc<PathBuf>,
    /// Dropped with the last handle, which stops the checkpointer thread.
    _checkpointer: Arc<mpsc::Sender<()>>,
}

impl Db {
    /// Opens (creating if needed) `atiende.sqlite3` in `dir` and brings the schema up to date.
    pub fn open(dir: &Path, durability: Durability) -> Result<Self, DbError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("atiende.sqlite3");
        restrict_permissions(&path)?;
        let writer_conn = open_connection(&path, durability, false)?;
        migrate(&writer_conn)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(open_connection(&path, durability, true)?);
        }
        // Checkpoints run beside the writer, not inside its commits: an automatic checkpoint
        // copies megabytes and fsyncs while every queued write waits, which showed as the p99
        // of ingest under load.
        writer_conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        let checkpoint_conn = open_connection(&path, durability, false)?;
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        thread::Builder::new()
            .name("atiende-sqlite-checkpoint".to_owned())
            .spawn(move || checkpoint_loop(&checkpoint_conn, &stop_rx))
            .map_err(|e| DbError::Unavailable(format!("cannot start the checkpointer: {e}")))?;
        let (tx, rx) = mpsc::sync_channel::<Job>(MAX_QUEUED_WRITES);
        thread::Builder::new()
            .name("atiende-sqlite-writer".to_owned())
            .spawn(move || writer_loop(&writer_conn, &rx))
            .map_err(|e| DbError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            writer: tx,
            readers: Arc::new(Mutex::new(readers)),
            reader_permits: Arc::new(Semaphore::new(READERS)),
            path: Arc::new(path),
            _checkpointer: Arc::new(stop_tx),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` inside the next group commit; resolves once the commit is durable.
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => f(conn),
                None => Err(DbError::Unavailable(
                    "the write transaction did not start".into(),
                )),
            };
            let ok = result.is_ok();
            let complete: Completion = Box::new(move |commit| {
                let _ = tx.send(commit.and(result));
            });
            (ok, complete)
        });
        self.writer.try_send(job).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => DbError::Unavailable("too many queued writes".into()),
            mpsc::TrySendError::Disconnected(_) => DbError::Unavailable("writer stopped".into()),
        })?;
        rx.await
            .map_err(|_| DbError::Unavailable("writer stopped".into()))?
    }

    /// Runs `f` on a reader connection.
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        let permit = Arc::clone(&self.reader_permits)
            .acquire_owned()
            .await
            .map_err(|_| DbError::Unavailable("reader pool closed".into()))?;
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let conn = readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
                .ok_or_else(|| DbError::Unavailable("no reader connection".into()))?;
            let result = f(&conn);
            readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|e| DbError::Unavailable(format!("reader task failed: {e}")))?
    }
}

fn open_connection(
    path: &Path,
    durability: Durability,
    reader: bool,
) -> Result<Connection, DbError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    let sync = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 67108864;"
    ))?;
    if reader {
        conn.execute_batch("PRAGMA query_only = ON;")?;
    }
    Ok(conn)
}

/// Keeps the database and its WAL and shared-memory files private to the service's user: they
/// hold tenants' provider credentials and customers' conversations. The database file is
/// created `0600` before SQLite opens it (SQLite gives the `-wal` and `-shm` files the
/// database's mode), and files left by an older version are narrowed, so none is ever readable
/// under a permissive umask. (The directory is the operator's to choose and is left alone.)
#[cfg(unix)]
fn restrict_permissions(path: &Path) -> Result<(), DbError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let private = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .map_err(|e| DbError::Unavailable(format!("cannot restrict {}: {e}", p.display())))
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| DbError::Unavailable(format!("cannot create {}: {e}", path.display())))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            private(&file, 0o600)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> Result<(), DbError> {
    Ok(())
}

/// Runs passive checkpoints (which never block the writer) until every `Db` handle is gone.
fn checkpoint_loop(conn: &Connection, stop: &mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed.");
        }
    }
    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
}

/// Runs one of the writer's transaction-control statements through the statement cache: the writer
/// runs four of them per job, and parsing them each time showed up in profiles under load.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn writer_loop(conn: &Connection, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
            error!(error = %e, "Could not begin a write transaction.");
            // Each job still has to be answered; run none of them.
            for job in batch {
                let (_, complete) = job(None);
                complete(Err(DbError::Unavailable(e.to_string())));
            }
            continue;
        }
        let mut completions = Vec::with_capacity(batch.len());
        for job in batch {
            if let Err(e) = control(conn, "SAVEPOINT job") {
                let (_, complete) = job(None);
                complete(Err(DbError::Unavailable(e.to_string())));
                continue;
            }
            match catch_unwind(AssertUnwindSafe(|| job(Some(conn)))) {
                Ok((ok, complete)) => {
                    if !ok {
                        let _ = control(conn, "ROLLBACK TO job");
                    }
                    let _ = control(conn, "RELEASE job");
                    completions.push(complete);
                }
                Err(_) => {
                    error!("A database write panicked; it was rolled back.");
                    let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                }
            }
        }
        let commit = control(conn, "COMMIT").map_err(|e| {
            error!(error = %e, "Could not commit a write transaction.");
            let _ = conn.execute_batch("ROLLBACK");
            DbError::Unavailable(format!("commit failed: {e}"))
        });
        for complete in completions {
            complete(match &commit {
                Ok(()) => Ok(()),
                Err(e) => Err(DbError::Unavailable(e.to_string())),
            });
        }
    }
}

/// The schema, one entry per version; `PRAGMA user_version` records how many were applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX conversations_by_tenant ON conversations (tenant, updated_at DESC);
CREATE TABLE delivery_status (
    tenant TEXT NOT NULL,
    channel TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    state TEXT NOT NULL,
    error_code TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, channel, provider_message_id)
);
CREATE TABLE outbox (
    action_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    conversation TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    provider_message_id TEXT,
    detail TEXT,
    attempts INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_by_tenant ON outbox (tenant, updated_at DESC);
CREATE TABLE webchat_sessions (
    tenant TEXT NOT NULL,
    session TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, session)
);
CREATE TABLE webchat_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    session TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX webchat_messages_by_session ON webchat_messages (tenant, session, seq);
CREATE TABLE knowledge_documents (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    passages INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE knowledge_passages (
    tenant TEXT NOT NULL,
    document_id TEXT NOT NULL,
    id TEXT NOT NULL,
    position INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX knowledge_passages_by_document ON knowledge_passages (tenant, document_id);
CREATE TABLE knowledge_revisions (
    tenant TEXT PRIMARY KEY,
    revision INTEGER NOT NULL
);
CREATE TABLE bus_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    ordering_key TEXT,
    attributes TEXT NOT NULL,
    data BLOB NOT NULL,
    published_at INTEGER NOT NULL
);
CREATE TABLE bus_deliveries (
    subscription TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ordering_key TEXT,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    PRIMARY KEY (subscription, seq)
) WITHOUT ROWID;
CREATE TABLE bus_dedupe (
    key TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX bus_dedupe_by_expiry ON bus_dedupe (expires_at);
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription TEXT NOT NULL,
    message_id TEXT NOT NULL,
    ordering_key TEXT,
    attributes TEXT NOT NULL,
    data TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    at INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE agents (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    key_digest TEXT NOT NULL UNIQUE,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE desk_links (
    conversation TEXT NOT NULL,
    desk TEXT NOT NULL,
    external TEXT NOT NULL,
    PRIMARY KEY (conversation, desk)
) WITHOUT ROWID;
"#,
    // 3: desks whose webhooks name their own room (Rocket.Chat) are traced back by it.
    r#"
CREATE INDEX desk_links_by_external ON desk_links (desk, external);
"#,
    // 4: passage vectors, so restarts and other documents' changes do not re-embed.
    r#"
CREATE TABLE embeddings (
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    key TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (tenant, model, key)
) WITHOUT ROWID;
"#,
    // 5: the assistant's private data: credit accounts, and model spending per month.
    r#"
CREATE TABLE accounts (
    tenant TEXT NOT NULL,
    number TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (tenant, number)
) WITHOUT ROWID;
CREATE TABLE llm_usage (
    tenant TEXT NOT NULL,
    month TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    PRIMARY KEY (tenant, month)
) WITHOUT ROWID;
"#,
    // 6: the security audit log (append-only: the code has no update or delete but the tenant's).
    r#"
CREATE TABLE security_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX security_audit_by_tenant ON security_audit (tenant, seq);
"#,
    // 7: knowledge ingestion jobs, so their status outlives the process that ran them.
    r#"
CREATE TABLE ingestion_jobs (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    finished INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
"#,
    // 8: the phone number each WhatsApp user id came with, so one person is one conversation.
    r#"
CREATE TABLE contact_aliases (
    tenant TEXT NOT NULL,
    user_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    PRIMARY KEY (tenant, user_id)
) WITHOUT ROWID;
"#,
    // 9: tenants' API keys for the admin, by the digest of their secret.
    r#"
CREATE TABLE api_keys (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    digest TEXT NOT NULL UNIQUE,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
"#,
    // 10: tenants' daily counters, behind the dashboard.
    r#"
CREATE TABLE daily_stats (
    tenant TEXT NOT NULL,
    day TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (tenant, day, name)
) WITHOUT ROWID;
"#,
];

fn migrate(conn: &Connection) -> Result<(), DbError> {
    let applied: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?
        .try_into()
        .unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(DbError::Corrupt(format!(
            "the database schema (version {applied}) is newer than this build knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql} PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

/// Statements through SQLite's prepared-statement cache: parsing SQL on every call showed up in
/// profiles of the hot paths (acknowledgements, outbox, conversations).
pub(crate) trait Cached {
    /// `execute` with a cached statement.
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    /// `query_row` with a cached statement.
    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// Milliseconds since the Unix epoch, the time unit of every column named `*_at`.
pub fn millis(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}

/// The inverse of [`millis`].
pub fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_database_and_its_wal_are_private_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Durability::Normal).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(
            files.iter().any(|f| f.to_string_lossy().ends_with("-wal")),
            "{files:?}"
        );
        for file in files {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
        drop(db);
    }

    #[test]
    fn a_full_failing_or_read_only_disk_is_worth_retrying_a_broken_statement_is_not() {
        let failure = |code| {
            PortError::from(DbError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            )))
        };
        for code in [
            rusqlite::ffi::SQLITE_FULL,
            rusqlite::ffi::SQLITE_IOERR,
            rusqlite::ffi::SQLITE_READONLY,
            rusqlite::ffi::SQLITE_BUSY,
            rusqlite::ffi::SQLITE_LOCKED,
        ] {
            assert!(failure(code).is_transient(), "code {code}");
        }
        for code in [
            rusqlite::ffi::SQLITE_CONSTRAINT,
            rusqlite::ffi::SQLITE_CORRUPT,
        ] {
            assert!(!failure(code).is_transient(), "code {code}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_commit_together_and_a_failing_one_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Durability::Normal).unwrap();
        let mut tasks = Vec::new();
        for i in 0..200i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.write(move |c| {
                    c.execute(
                        "INSERT INTO knowledge_revisions (tenant, revision) VALUES (?1, ?2)",
                        rusqlite::params![format!("t{}", i % 150), i],
                    )?;
                    Ok(i)
                })
                .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 150, "the 50 duplicate keys fail, the rest commit");
        let count: i64 = db
            .read(
                |c| Ok(c.query_row("SELECT COUNT(*) FROM knowledge_revisions", [], |r| r.get(0))?),
            )
            .await
            .unwrap();
        assert_eq!(count, 150);
    }

    #[tokio::test]
    async fn reopening_keeps_the_data_and_the_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Db::open(dir.path(), Durability::Full).unwrap();
            db.write(|c| Ok(c.execute("INSERT INTO knowledge_revisions VALUES ('a', 1)", [])?))
                .await
                .unwrap();
        }
        let db = Db::open(dir.path(), Durability::Normal).unwrap();
        let rev: i64 = db
            .read(
                |c| Ok(c.query_row("SELECT revision FROM knowledge_revisions", [], |r| r.get(0))?),
            )
            .await
            .unwrap();
        assert_eq!(rev, 1);
    }
}
