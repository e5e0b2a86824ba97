//! [`JobStore`] on SQLite: ingestion jobs' records, the most recent [`JOBS_KEPT`] per tenant.

use async_trait::async_trait;
use atiende_domain::TenantId;
use atiende_ports::{JOBS_KEPT, JobRecord, JobStore, PortError};
use rusqlite::{OptionalExtension, params};

use super::SqliteStores;
use crate::db::{Cached, from_millis, millis};

type Row = (String, i64, i64, bool, String);

fn record((id, started_at, heartbeat_at, finished, data): Row) -> JobRecord {
    JobRecord {
        id,
        started_at: from_millis(started_at),
        heartbeat_at: from_millis(heartbeat_at),
        finished,
        data,
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

#[async_trait]
impl JobStore for SqliteStores {
    async fn put_job(&self, tenant: &TenantId, job: &JobRecord) -> Result<(), PortError> {
        let tenant = tenant.to_string();
        let job = job.clone();
        let keep = i64::try_from(JOBS_KEPT).unwrap_or(i64::MAX);
        self.db
            .write(move |c| {
                c.exec(
                    "INSERT INTO ingestion_jobs (tenant, id, started_at, heartbeat_at, finished, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (tenant, id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,
                       finished = excluded.finished, data = excluded.data",
                    params![
                        tenant,
                        job.id,
                        millis(job.started_at),
                        millis(job.heartbeat_at),
                        job.finished,
                        job.data
                    ],
                )?;
                c.exec(
                    "DELETE FROM ingestion_jobs WHERE tenant = ?1 AND id NOT IN
                       (SELECT id FROM ingestion_jobs WHERE tenant = ?1
                        ORDER BY started_at DESC, id DESC LIMIT ?2)",
                    params![tenant, keep],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn job(&self, tenant: &TenantId, id: &str) -> Result<Option<JobRecord>, PortError> {
        let (tenant, id) = (tenant.to_string(), id.to_owned());
        let found = self
            .db
            .read(move |c| {
                Ok(c.row(
                    "SELECT id, started_at, heartbeat_at, finished, data FROM ingestion_jobs
                     WHERE tenant = ?1 AND id = ?2",
                    params![tenant, id],
                    row,
                )
                .optional()?)
            })
            .await?;
        Ok(found.map(record))
    }

    async fn jobs(&self, tenant: &TenantId, limit: usize) -> Result<Vec<JobRecord>, PortError> {
        let tenant = tenant.to_string();
        let limit = i64::try_from(limit.min(JOBS_KEPT)).unwrap_or(50);
        let rows = self
            .db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id, started_at, heartbeat_at, finished, data FROM ingestion_jobs
                     WHERE tenant = ?1 ORDER BY started_at DESC, id DESC LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![tenant, limit], row)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        Ok(rows.into_iter().map(record).collect())
    }
}
