//! A tenant's knowledge documents and passages on Firestore ([`KnowledgeStore`]).
//!
//! On Cloud Run the admin service ingests documents and every processor instance builds its
//! search indexes from the same store, so the store must be shared. Layout under
//! `tenants/{tenant}`:
//!
//! * `knowledge/{document}`: the document's record and the *generation* its passages belong to;
//! * `knowledge_chunks/{document}~{generation}~{n}`: the passages, as JSON, a few hundred per
//!   chunk (a Firestore document holds at most 1 MiB, an upload up to 50,000 passages);
//! * `knowledge_meta/state`: written on every change; its update time is the revision that
//!   tells other processes to rebuild.
//!
//! A replacement writes the new generation's chunks first, then switches the record to it, then
//! deletes the old chunks. Readers keep only the chunks of each record's current generation, so
//! they see the old passages or the new ones, never a mix, without a transaction (whose 500-write
//! limit a large document would exceed).

use std::collections::HashMap;

use async_trait::async_trait;
use atiende_domain::TenantId;
use atiende_domain::knowledge::Passage;
use atiende_ports::{KnowledgeDocument, KnowledgeStore, PortError};
use firestore::FirestoreDb;
use serde::{Deserialize, Serialize};

use crate::store::{FirestoreStores, classify, doc_id, version_of};

const DOCUMENTS: &str = "knowledge";
const CHUNKS: &str = "knowledge_chunks";
const META: &str = "knowledge_meta";
const META_ID: &str = "state";
/// Passages per chunk, and the JSON size a chunk stops growing at (well under 1 MiB).
const CHUNK_PASSAGES: usize = 200;
const CHUNK_BYTES: usize = 700 * 1024;

#[derive(Serialize, Deserialize)]
struct DocumentRecord {
    data: String,
    generation: String,
    chunks: i64,
}

#[derive(Serialize, Deserialize)]
struct Chunk {
    document: String,
    generation: String,
    position: i64,
    data: String,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    changed_at: i64,
}

fn encode_chunks(passages: &[Passage]) -> Result<Vec<String>, PortError> {
    let mut chunks = Vec::new();
    let mut current: Vec<&Passage> = Vec::new();
    let mut bytes = 0;
    for passage in passages {
        let size = passage.text.len() + passage.heading.as_ref().map_or(0, String::len) + 256;
        if !current.is_empty() && (current.len() >= CHUNK_PASSAGES || bytes + size > CHUNK_BYTES) {
            chunks.push(current);
            current = Vec::new();
            bytes = 0;
        }
        bytes += size;
        current.push(passage);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
        .iter()
        .map(|c| {
            serde_json::to_string(c)
                .map_err(|e| PortError::permanent_from("cannot encode passages", e))
        })
        .collect()
}

impl FirestoreStores {
    /// Marks the tenant's knowledge as changed (a new revision).
    async fn touch_knowledge(&self, parent: &str) -> Result<(), PortError> {
        let meta = Meta {
            changed_at: chrono::Utc::now().timestamp_micros(),
        };
        self.db()
            .fluent()
            .update()
            .in_col(META)
            .document_id(META_ID)
            .parent(parent)
            .object(&meta)
            .execute::<()>()
            .await
            .map_err(classify)
    }

    /// Deletes `document`'s chunks other than those of `keep`.
    async fn delete_chunks(
        &self,
        parent: &str,
        document: &str,
        keep: Option<&str>,
    ) -> Result<(), PortError> {
        let chunks: Vec<firestore::FirestoreDocument> = self
            .db()
            .fluent()
            .select()
            .fields(["generation"])
            .from(CHUNKS)
            .parent(parent)
            .filter(|q| q.for_all([q.field("document").eq(document)]))
            .query()
            .await
            .map_err(classify)?;
        for chunk in chunks {
            let generation = chunk
                .fields
                .get("generation")
                .and_then(|v| match &v.value_type {
                    Some(
                        firestore::gcloud_sdk::google::firestore::v1::value::ValueType::StringValue(
                            s,
                        ),
                    ) => Some(s.as_str()),
                    _ => None,
                });
            if keep.is_some() && generation == keep {
                continue;
            }
            let id = chunk.name.rsplit('/').next().unwrap_or_default().to_owned();
            self.db()
                .fluent()
                .delete()
                .from(CHUNKS)
                .parent(parent)
                .document_id(id)
                .execute()
                .await
                .map_err(classify)?;
        }
        Ok(())
    }
}

#[async_trait]
impl KnowledgeStore for FirestoreStores {
    async fn put_document(
        &self,
        tenant: &TenantId,
        document: &KnowledgeDocument,
        passages: &[Passage],
    ) -> Result<(), PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let generation = uuid::Uuid::new_v4().simple().to_string();
        let id = doc_id(&document.id);
        let chunks = encode_chunks(passages)?;
        for (position, data) in chunks.iter().enumerate() {
            let chunk = Chunk {
                document: document.id.clone(),
                generation: generation.clone(),
                position: i64::try_from(position).unwrap_or(i64::MAX),
                data: data.clone(),
            };
            self.db()
                .fluent()
                .update()
                .in_col(CHUNKS)
                .document_id(format!("{id}~{generation}~{position:05}"))
                .parent(&parent)
                .object(&chunk)
                .execute::<()>()
                .await
                .map_err(classify)?;
        }
        let record = DocumentRecord {
            data: serde_json::to_string(document)
                .map_err(|e| PortError::permanent_from("cannot encode a document", e))?,
            generation: generation.clone(),
            chunks: i64::try_from(chunks.len()).unwrap_or(i64::MAX),
        };
        // The switch: from here readers see the new passages.
        self.db()
            .fluent()
            .update()
            .in_col(DOCUMENTS)
            .document_id(&id)
            .parent(&parent)
            .object(&record)
            .execute::<()>()
            .await
            .map_err(classify)?;
        self.touch_knowledge(&parent).await?;
        self.delete_chunks(&parent, &document.id, Some(&generation))
            .await
    }

    async fn list_documents(&self, tenant: &TenantId) -> Result<Vec<KnowledgeDocument>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let records: Vec<DocumentRecord> = self
            .db()
            .fluent()
            .select()
            .from(DOCUMENTS)
            .parent(&parent)
            .obj()
            .query()
            .await
            .map_err(classify)?;
        let mut documents = records
            .iter()
            .map(|r| {
                serde_json::from_str::<KnowledgeDocument>(&r.data)
                    .map_err(|e| PortError::permanent(format!("corrupt knowledge document: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        documents.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(documents)
    }

    async fn delete_document(&self, tenant: &TenantId, document: &str) -> Result<bool, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let existed = self
            .db()
            .fluent()
            .select()
            .by_id_in(DOCUMENTS)
            .parent(&parent)
            .one(doc_id(document))
            .await
            .map_err(classify)?
            .is_some();
        if !existed {
            return Ok(false);
        }
        self.db()
            .fluent()
            .delete()
            .from(DOCUMENTS)
            .parent(&parent)
            .document_id(doc_id(document))
            .execute()
            .await
            .map_err(classify)?;
        self.touch_knowledge(&parent).await?;
        self.delete_chunks(&parent, document, None).await?;
        Ok(true)
    }

    async fn passages(&self, tenant: &TenantId) -> Result<Vec<Passage>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let records: Vec<firestore::FirestoreDocument> = self
            .db()
            .fluent()
            .select()
            .fields(["generation"])
            .from(DOCUMENTS)
            .parent(&parent)
            .query()
            .await
            .map_err(classify)?;
        let mut current: HashMap<String, String> = HashMap::new();
        for record in &records {
            #[derive(Deserialize)]
            struct Generation {
                generation: String,
            }
            let g: Generation = FirestoreDb::deserialize_doc_to(record)
                .map_err(|e| PortError::permanent(format!("corrupt knowledge record: {e}")))?;
            let id = record
                .name
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            current.insert(id, g.generation);
        }
        let mut chunks: Vec<Chunk> = self
            .db()
            .fluent()
            .select()
            .from(CHUNKS)
            .parent(&parent)
            .obj()
            .query()
            .await
            .map_err(classify)?;
        chunks.retain(|c| current.get(&doc_id(&c.document)) == Some(&c.generation));
        chunks.sort_by(|a, b| (&a.document, a.position).cmp(&(&b.document, b.position)));
        let mut passages = Vec::new();
        for chunk in chunks {
            let part: Vec<Passage> = serde_json::from_str(&chunk.data)
                .map_err(|e| PortError::permanent(format!("corrupt passages: {e}")))?;
            passages.extend(part);
        }
        Ok(passages)
    }

    async fn revision(&self, tenant: &TenantId) -> Result<u64, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let meta = self
            .db()
            .fluent()
            .select()
            .by_id_in(META)
            .parent(&parent)
            .one(META_ID)
            .await
            .map_err(classify)?;
        meta.as_ref().map_or(Ok(0), version_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atiende_domain::knowledge::PassageKind;

    #[test]
    fn passages_are_split_into_chunks_by_count_and_size() {
        let passage = |i: usize, len: usize| Passage {
            id: format!("p{i}"),
            document_id: "d".into(),
            kind: PassageKind::Text,
            heading: None,
            text: "a".repeat(len),
            product: None,
        };
        let small: Vec<_> = (0..450).map(|i| passage(i, 10)).collect();
        assert_eq!(encode_chunks(&small).unwrap().len(), 3);
        let large: Vec<_> = (0..10).map(|i| passage(i, 200 * 1024)).collect();
        let chunks = encode_chunks(&large).unwrap();
        assert_eq!(chunks.len(), 4);
        assert!(chunks.iter().all(|c| c.len() < 1024 * 1024));
        assert!(encode_chunks(&[]).unwrap().is_empty());
    }
}
