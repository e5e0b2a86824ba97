//! Passage vectors on Firestore ([`EmbeddingCache`]): a text is embedded once per model, for
//! every instance.
//!
//! Admin embeds a tenant's new passages when they are uploaded, before storing the documents;
//! a processor instance that starts cold on Cloud Run builds its vector index from these, with
//! no embedding on a customer's time. Layout: `tenants/{tenant}/embeddings/{model}~{key}`, the
//! key being the SHA-256 of the embedded text, the vector its little-endian `f32`s as a bytes
//! field (1.5 KiB for 384 dimensions; Firestore's limit is 1 MiB a document).

use std::collections::HashMap;

use async_trait::async_trait;
use atiende_domain::TenantId;
use atiende_ports::{EmbeddingCache, PortError};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::store::{FirestoreStores, MAX_BATCH, classify, doc_id};

/// A tenant's cached passage vectors (sub-collection).
pub(crate) const EMBEDDINGS: &str = "embeddings";
/// Documents asked for in one batched read.
const READ_BATCH: usize = 300;

#[derive(Serialize, Deserialize)]
struct EmbeddingDoc {
    model: String,
    key: String,
    vector: VectorBytes,
}

/// A vector as Firestore bytes: its `f32`s, little-endian.
struct VectorBytes(Vec<u8>);

impl VectorBytes {
    fn encode(vector: &[f32]) -> Self {
        Self(vector.iter().flat_map(|x| x.to_le_bytes()).collect())
    }

    fn decode(&self) -> Result<Vec<f32>, PortError> {
        if !self.0.len().is_multiple_of(4) {
            return Err(PortError::permanent(
                "corrupt embedding: not a whole number of floats",
            ));
        }
        Ok(self
            .0
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

impl Serialize for VectorBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for VectorBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = VectorBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<VectorBytes, E> {
                Ok(VectorBytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<VectorBytes, E> {
                Ok(VectorBytes(v))
            }
        }
        deserializer.deserialize_bytes(Visitor)
    }
}

fn embedding_id(model: &str, key: &str) -> String {
    doc_id(&format!("{model}~{key}"))
}

#[async_trait]
impl EmbeddingCache for FirestoreStores {
    async fn get_embeddings(
        &self,
        tenant: &TenantId,
        model: &str,
        keys: &[String],
    ) -> Result<HashMap<String, Vec<f32>>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(READ_BATCH) {
            let ids: Vec<String> = chunk.iter().map(|k| embedding_id(model, k)).collect();
            let mut docs = self
                .db()
                .fluent()
                .select()
                .by_id_in(EMBEDDINGS)
                .parent(&parent)
                .obj::<EmbeddingDoc>()
                .batch_with_errors(ids)
                .await
                .map_err(classify)?;
            while let Some(next) = docs.next().await {
                let (_, doc) = next.map_err(classify)?;
                if let Some(doc) = doc.filter(|d| d.model == model) {
                    found.insert(doc.key.clone(), doc.vector.decode()?);
                }
            }
        }
        Ok(found)
    }

    async fn put_embeddings(
        &self,
        tenant: &TenantId,
        model: &str,
        entries: &[(String, Vec<f32>)],
    ) -> Result<(), PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        // A few hundred vectors of 1.5 KiB a request keeps each well under the 10 MiB limit.
        for chunk in entries.chunks(MAX_BATCH.min(READ_BATCH)) {
            let docs: Vec<(String, EmbeddingDoc)> = chunk
                .iter()
                .map(|(key, vector)| {
                    (
                        embedding_id(model, key),
                        EmbeddingDoc {
                            model: model.to_owned(),
                            key: key.clone(),
                            vector: VectorBytes::encode(vector),
                        },
                    )
                })
                .collect();
            let mut batch = self.batch();
            for (id, doc) in &docs {
                batch
                    .update_object_at(&parent, EMBEDDINGS, id, doc, None, None, vec![])
                    .map_err(classify)?;
            }
            Self::commit(batch).await?;
        }
        Ok(())
    }

    async fn retain_embeddings(
        &self,
        tenant: &TenantId,
        model: &str,
        keep: &[String],
    ) -> Result<usize, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let keep: std::collections::HashSet<&str> = keep.iter().map(String::as_str).collect();
        #[derive(Deserialize)]
        struct Key {
            key: String,
        }
        let docs = self
            .db()
            .fluent()
            .select()
            .fields(["key"])
            .from(EMBEDDINGS)
            .parent(&parent)
            .filter(|q| q.for_all([q.field("model").eq(model)]))
            .query()
            .await
            .map_err(classify)?;
        let mut stale = Vec::new();
        for doc in &docs {
            let k: Key = firestore::FirestoreDb::deserialize_doc_to(doc)
                .map_err(|e| PortError::permanent(format!("corrupt embedding: {e}")))?;
            if !keep.contains(k.key.as_str()) {
                stale.push(doc.name.rsplit('/').next().unwrap_or_default().to_owned());
            }
        }
        for chunk in stale.chunks(MAX_BATCH) {
            let mut batch = self.batch();
            for id in chunk {
                batch
                    .delete_by_id_at(&parent, EMBEDDINGS, id, None)
                    .map_err(classify)?;
            }
            Self::commit(batch).await?;
        }
        Ok(stale.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_bytes() {
        let v = vec![0.25_f32, -1.0, 3.5e-8, f32::MAX];
        let bytes = VectorBytes::encode(&v);
        assert_eq!(bytes.0.len(), 16);
        assert_eq!(bytes.decode().unwrap(), v);
        assert!(VectorBytes(vec![0, 1, 2]).decode().is_err());
    }
}
