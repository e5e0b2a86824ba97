//! [`KnowledgeStore`] and [`EmbeddingCache`] on SQLite. Replacing a document's passages and
//! bumping the tenant's revision happen in one transaction, so readers see the old version or the
//! new, never a mix. Vectors are stored as little-endian `f32` blobs.

use async_trait::async_trait;
use atiende_domain::{TenantId, knowledge::Passage};
use std::collections::HashMap;

use atiende_ports::{EmbeddingCache, KnowledgeDocument, KnowledgeStore, PortError};
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStores;
use crate::db::{Cached, DbError, from_millis, millis};

fn bump_revision(c: &Connection, tenant: &str) -> Result<(), DbError> {
    c.exec(
        "INSERT INTO knowledge_revisions (tenant, revision) VALUES (?1, 1)
         ON CONFLICT (tenant) DO UPDATE SET revision = revision + 1",
        [tenant],
    )?;
    Ok(())
}

#[async_trait]
impl KnowledgeStore for SqliteStores {
    async fn put_document(
        &self,
        tenant: &TenantId,
        document: &KnowledgeDocument,
        passages: &[Passage],
    ) -> Result<(), PortError> {
        let tenant = tenant.to_string();
        let doc = document.clone();
        let encoded: Vec<(String, String)> = passages
            .iter()
            .map(|p| Ok((p.id.clone(), serde_json::to_string(p)?)))
            .collect::<Result<_, serde_json::Error>>()
            .map_err(DbError::from)?;
        self.db
            .write(move |c| {
                c.exec(
                    "DELETE FROM knowledge_passages WHERE tenant = ?1 AND document_id = ?2",
                    params![tenant, doc.id],
                )?;
                c.exec(
                    "INSERT INTO knowledge_documents (tenant, id, title, kind, content_hash, passages, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (tenant, id) DO UPDATE SET title = excluded.title, kind = excluded.kind,
                       content_hash = excluded.content_hash, passages = excluded.passages,
                       created_at = excluded.created_at",
                    params![
                        tenant,
                        doc.id,
                        doc.title,
                        doc.kind,
                        doc.content_hash,
                        i64::try_from(doc.passages).unwrap_or(i64::MAX),
                        millis(doc.created_at)
                    ],
                )?;
                let mut insert = c.prepare_cached(
                    "INSERT INTO knowledge_passages (tenant, document_id, id, position, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (position, (id, json)) in encoded.iter().enumerate() {
                    insert.execute(params![
                        tenant,
                        doc.id,
                        id,
                        i64::try_from(position).unwrap_or(i64::MAX),
                        json
                    ])?;
                }
                bump_revision(c, &tenant)
            })
            .await?;
        Ok(())
    }

    async fn list_documents(&self, tenant: &TenantId) -> Result<Vec<KnowledgeDocument>, PortError> {
        let tenant = tenant.to_string();
        Ok(self
            .db
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT id, title, kind, content_hash, passages, created_at FROM knowledge_documents
                     WHERE tenant = ?1 ORDER BY id",
                )?;
                let rows = stmt.query_map([tenant], |r| {
                    Ok(KnowledgeDocument {
                        id: r.get(0)?,
                        title: r.get(1)?,
                        kind: r.get(2)?,
                        content_hash: r.get(3)?,
                        passages: usize::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                        created_at: from_millis(r.get(5)?),
                    })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?)
    }

    async fn delete_document(&self, tenant: &TenantId, document: &str) -> Result<bool, PortError> {
        let (tenant, document) = (tenant.to_string(), document.to_owned());
        Ok(self
            .db
            .write(move |c| {
                let deleted = c.exec(
                    "DELETE FROM knowledge_documents WHERE tenant = ?1 AND id = ?2",
                    params![tenant, document],
                )?;
                c.exec(
                    "DELETE FROM knowledge_passages WHERE tenant = ?1 AND document_id = ?2",
                    params![tenant, document],
                )?;
                if deleted > 0 {
                    bump_revision(c, &tenant)?;
                }
                Ok(deleted > 0)
            })
            .await?)
    }

    async fn passages(&self, tenant: &TenantId) -> Result<Vec<Passage>, PortError> {
        let tenant = tenant.to_string();
        Ok(self
            .db
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT doc FROM knowledge_passages WHERE tenant = ?1 ORDER BY document_id, position",
                )?;
                let rows = stmt.query_map([tenant], |r| r.get::<_, String>(0))?;
                let mut out = Vec::new();
                for row in rows {
                    out.push(serde_json::from_str(&row?)?);
                }
                Ok(out)
            })
            .await?)
    }

    async fn revision(&self, tenant: &TenantId) -> Result<u64, PortError> {
        let tenant = tenant.to_string();
        let revision: Option<i64> = self
            .db
            .read(move |c| {
                Ok(c.row(
                    "SELECT revision FROM knowledge_revisions WHERE tenant = ?1",
                    [tenant],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .await?;
        Ok(revision.map_or(0, |r| u64::try_from(r).unwrap_or(0)))
    }
}

fn encode_vector(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode_vector(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Keys per `IN (…)` lookup: well under SQLite's bound-parameter limit.
const KEYS_PER_QUERY: usize = 500;

#[async_trait]
impl EmbeddingCache for SqliteStores {
    async fn get_embeddings(
        &self,
        tenant: &TenantId,
        model: &str,
        keys: &[String],
    ) -> Result<HashMap<String, Vec<f32>>, PortError> {
        let (tenant, model, keys) = (tenant.to_string(), model.to_owned(), keys.to_vec());
        Ok(self
            .db
            .read(move |c| {
                let mut found = HashMap::with_capacity(keys.len());
                for chunk in keys.chunks(KEYS_PER_QUERY) {
                    let marks = vec!["?"; chunk.len()].join(",");
                    let mut stmt = c.prepare(&format!(
                        "SELECT key, vector FROM embeddings WHERE tenant = ? AND model = ? AND key IN ({marks})"
                    ))?;
                    let params = [&tenant, &model]
                        .into_iter()
                        .chain(chunk.iter())
                        .map(|s| s as &dyn rusqlite::ToSql)
                        .collect::<Vec<_>>();
                    let rows = stmt.query_map(params.as_slice(), |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                    })?;
                    for row in rows {
                        let (key, blob) = row?;
                        found.insert(key, decode_vector(&blob));
                    }
                }
                Ok(found)
            })
            .await?)
    }

    async fn put_embeddings(
        &self,
        tenant: &TenantId,
        model: &str,
        entries: &[(String, Vec<f32>)],
    ) -> Result<(), PortError> {
        let (tenant, model) = (tenant.to_string(), model.to_owned());
        let encoded: Vec<(String, Vec<u8>)> = entries
            .iter()
            .map(|(k, v)| (k.clone(), encode_vector(v)))
            .collect();
        self.db
            .write(move |c| {
                let mut insert = c.prepare_cached(
                    "INSERT OR REPLACE INTO embeddings (tenant, model, key, vector) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (key, blob) in &encoded {
                    insert.execute(params![tenant, model, key, blob])?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn retain_embeddings(
        &self,
        tenant: &TenantId,
        model: &str,
        keep: &[String],
    ) -> Result<usize, PortError> {
        let (tenant, model, keep) = (tenant.to_string(), model.to_owned(), keep.to_vec());
        Ok(self
            .db
            .write(move |c| {
                // The keys to keep go into a temporary table: a tenant may have tens of thousands,
                // more than one statement binds.
                c.execute_batch(
                    "CREATE TEMP TABLE IF NOT EXISTS keep_embeddings (key TEXT PRIMARY KEY); \
                     DELETE FROM temp.keep_embeddings;",
                )?;
                {
                    let mut insert = c.prepare_cached(
                        "INSERT OR IGNORE INTO temp.keep_embeddings (key) VALUES (?1)",
                    )?;
                    for key in &keep {
                        insert.execute(params![key])?;
                    }
                }
                let deleted = c.execute(
                    "DELETE FROM embeddings WHERE tenant = ?1 AND model = ?2 \
                     AND key NOT IN (SELECT key FROM temp.keep_embeddings)",
                    params![tenant, model],
                )?;
                c.execute_batch("DELETE FROM temp.keep_embeddings;")?;
                Ok(deleted)
            })
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_survive_the_blob_encoding() {
        let v = vec![0.25, -1.5, f32::MIN_POSITIVE, 3.0e7];
        assert_eq!(decode_vector(&encode_vector(&v)), v);
    }
}
