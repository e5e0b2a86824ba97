//! Every request atiende sends to Qdrant, built as plain values (so tests can read them), and the
//! sparse encoding of passages.
//!
//! Points of all tenants share one collection. A point's payload says whose it is (`tenant`),
//! which index it belongs to (`index`: `keyword` or `dense`) and which store revision it was built
//! from (`revision`). Queries can only be built from a [`Scope`], which carries all three as
//! `must` conditions — a query without the tenant filter cannot be written — and the keyword
//! query computes IDF over the same scope (Qdrant's per-query IDF corpus, 1.19+), so one tenant's
//! vocabulary never changes another tenant's scores.

use std::collections::HashMap;

use atiende_domain::{TenantId, knowledge::Passage};
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, GetPointsBuilder, IdfParamsBuilder,
    KeywordIndexParamsBuilder, Modifier, NamedVectors, PointId, PointStruct, Query,
    QueryPointsBuilder, SearchParamsBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder,
    UpsertPointsBuilder, Vector, VectorInput, VectorParamsBuilder, VectorsConfigBuilder,
};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The dense vector's name.
pub const DENSE: &str = "dense";
/// The sparse (keyword) vector's name.
pub const SPARSE: &str = "keywords";
/// Payload field: the tenant.
pub const TENANT: &str = "tenant";
/// Payload field: `keyword`, `dense`, or `marker` for the revision markers.
pub const INDEX: &str = "index";
/// Payload field: the store revision a point was built from.
pub const REVISION: &str = "revision";
/// Payload field: a keyword point's analyzed terms (for coverage and document frequencies).
pub const TERMS: &str = "terms";
/// Payload field: the passage, as JSON.
pub const PASSAGE: &str = "passage";

/// BM25's term-frequency saturation.
const K1: f32 = 1.2;
/// BM25's length normalization.
const B: f32 = 0.75;

/// Which of the two indexes a point or request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// Sparse BM25-style vectors.
    Keyword,
    /// Dense embedding vectors.
    Dense,
}

impl IndexKind {
    fn name(self) -> &'static str {
        match self {
            Self::Keyword => "keyword",
            Self::Dense => "dense",
        }
    }
}

/// One tenant's points of one index at one revision: the only source of filters for queries.
#[derive(Debug, Clone)]
pub struct Scope {
    tenant: TenantId,
    index: IndexKind,
    revision: u64,
}

impl Scope {
    /// The scope of `tenant`'s `index` built at `revision`.
    pub fn new(tenant: &TenantId, index: IndexKind, revision: u64) -> Self {
        Self {
            tenant: tenant.clone(),
            index,
            revision,
        }
    }

    /// The filter: tenant, index and revision must all match.
    pub fn filter(&self) -> Filter {
        Filter::must([
            Condition::matches(TENANT, self.tenant.to_string()),
            Condition::matches(INDEX, self.index.name().to_owned()),
            Condition::matches(REVISION, i64::try_from(self.revision).unwrap_or(i64::MAX)),
        ])
    }
}

/// The collection with a dense vector of `dimensions` (cosine) and a sparse vector with the IDF
/// modifier, and the payload indexes the filters use (`tenant` marked as the tenant key, so
/// Qdrant co-locates each tenant's points).
pub fn setup(
    collection: &str,
    dimensions: u64,
) -> (
    CreateCollectionBuilder,
    Vec<CreateFieldIndexCollectionBuilder>,
) {
    let mut vectors = VectorsConfigBuilder::default();
    vectors.add_named_vector_params(
        DENSE,
        VectorParamsBuilder::new(dimensions, Distance::Cosine),
    );
    let mut sparse = SparseVectorsConfigBuilder::default();
    sparse.add_named_vector_params(
        SPARSE,
        SparseVectorParamsBuilder::default().modifier(Modifier::Idf),
    );
    let create = CreateCollectionBuilder::new(collection)
        .vectors_config(vectors)
        .sparse_vectors_config(sparse);
    let indexes = vec![
        CreateFieldIndexCollectionBuilder::new(collection, TENANT, FieldType::Keyword)
            .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true))
            .wait(true),
        CreateFieldIndexCollectionBuilder::new(collection, INDEX, FieldType::Keyword).wait(true),
        CreateFieldIndexCollectionBuilder::new(collection, REVISION, FieldType::Integer).wait(true),
        CreateFieldIndexCollectionBuilder::new(collection, TERMS, FieldType::Keyword).wait(true),
    ];
    (create, indexes)
}

/// A stable point id (a UUID made from a hash) for `parts`.
pub fn point_id(parts: &[&str]) -> PointId {
    let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    PointId::from(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// A term's dimension in the sparse vector: the first four bytes of its SHA-256.
pub fn term_index(term: &str) -> u32 {
    let digest = Sha256::digest(term.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A passage's sparse vector: per term, BM25's saturated term frequency for a document of this
/// length in a tenant whose average is `average_length` (Qdrant multiplies in the IDF).
pub fn sparse_document(tokens: &[String], average_length: f32) -> (Vec<u32>, Vec<f32>) {
    let mut counts: HashMap<&str, f32> = HashMap::new();
    for token in tokens {
        *counts.entry(token.as_str()).or_default() += 1.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let length = tokens.len() as f32;
    let norm = K1 * (1.0 - B + B * length / average_length.max(1.0));
    let mut entries: Vec<(u32, f32)> = counts
        .into_iter()
        .map(|(term, tf)| (term_index(term), tf * (K1 + 1.0) / (tf + norm)))
        .collect();
    entries.sort_by_key(|(index, _)| *index);
    entries.dedup_by_key(|(index, _)| *index);
    entries.into_iter().unzip()
}

/// The keyword points of a tenant's passages at `revision` (`tokens` are each passage's analyzed
/// tokens, in order, repeats kept).
pub fn keyword_points(
    tenant: &TenantId,
    revision: u64,
    passages: &[(Passage, Vec<String>)],
) -> Vec<PointStruct> {
    let total: usize = passages.iter().map(|(_, tokens)| tokens.len()).sum();
    #[allow(clippy::cast_precision_loss)]
    let average = total as f32 / passages.len().max(1) as f32;
    let tenant_text = tenant.to_string();
    passages
        .iter()
        .map(|(passage, tokens)| {
            let (indices, values) = sparse_document(tokens, average);
            let mut terms: Vec<&String> = tokens.iter().collect();
            terms.sort();
            terms.dedup();
            let payload = json!({
                TENANT: tenant_text,
                INDEX: IndexKind::Keyword.name(),
                REVISION: revision,
                TERMS: terms,
                PASSAGE: passage,
            });
            PointStruct::new(
                point_id(&[&tenant_text, "keyword", &revision.to_string(), &passage.id]),
                NamedVectors::default().add_vector(SPARSE, Vector::new_sparse(indices, values)),
                payload_of(payload),
            )
        })
        .collect()
}

/// The dense points of a tenant's passages at `revision`.
pub fn dense_points(
    tenant: &TenantId,
    revision: u64,
    model: &str,
    entries: Vec<(Passage, Vec<f32>)>,
) -> Vec<PointStruct> {
    let tenant_text = tenant.to_string();
    entries
        .into_iter()
        .map(|(passage, vector)| {
            let id = point_id(&[&tenant_text, "dense", &revision.to_string(), &passage.id]);
            let payload = json!({
                TENANT: tenant_text,
                INDEX: IndexKind::Dense.name(),
                REVISION: revision,
                "model": model,
                PASSAGE: passage,
            });
            PointStruct::new(
                id,
                NamedVectors::default().add_vector(DENSE, Vector::new_dense(vector)),
                payload_of(payload),
            )
        })
        .collect()
}

/// The id of the point that records which revision (and model) a tenant's index was built from.
pub fn marker_id(tenant: &TenantId, index: IndexKind) -> PointId {
    point_id(&[tenant.as_ref(), "marker", index.name()])
}

/// The marker point: no vectors, only the revision it records.
pub fn marker_point(
    tenant: &TenantId,
    index: IndexKind,
    revision: u64,
    model: Option<&str>,
) -> PointStruct {
    PointStruct::new(
        marker_id(tenant, index),
        NamedVectors::default(),
        payload_of(json!({
            TENANT: tenant.to_string(),
            INDEX: "marker",
            "of": index.name(),
            REVISION: revision,
            "model": model,
        })),
    )
}

/// Reads a tenant's marker.
pub fn get_marker(collection: &str, tenant: &TenantId, index: IndexKind) -> GetPointsBuilder {
    GetPointsBuilder::new(collection, vec![marker_id(tenant, index)]).with_payload(true)
}

/// Upserts points and waits until they are searchable.
pub fn upsert(collection: &str, points: Vec<PointStruct>) -> UpsertPointsBuilder {
    UpsertPointsBuilder::new(collection, points).wait(true)
}

/// Deletes the tenant's points of `index` built at any revision but `keep` (`None`: all of them,
/// and its marker).
pub fn delete_others(
    collection: &str,
    tenant: &TenantId,
    index: IndexKind,
    keep: Option<u64>,
) -> DeletePointsBuilder {
    let mut filter = Filter::must([
        Condition::matches(TENANT, tenant.to_string()),
        Condition::matches(INDEX, index.name().to_owned()),
    ]);
    if let Some(keep) = keep {
        filter.must_not = vec![Condition::matches(
            REVISION,
            i64::try_from(keep).unwrap_or(i64::MAX),
        )];
    }
    DeletePointsBuilder::new(collection)
        .points(filter)
        .wait(true)
}

/// The keyword query: the question's terms against the sparse vectors of `scope`, with IDF
/// computed over `scope` too.
pub fn keyword_query(
    collection: &str,
    scope: &Scope,
    terms: &[String],
    limit: u64,
) -> QueryPointsBuilder {
    let mut indices: Vec<u32> = terms.iter().map(|t| term_index(t)).collect();
    indices.sort_unstable();
    indices.dedup();
    let values = vec![1.0; indices.len()];
    QueryPointsBuilder::new(collection)
        .query(Query::new_nearest(VectorInput::new_sparse(indices, values)))
        .using(SPARSE)
        .filter(scope.filter())
        .params(SearchParamsBuilder::default().idf(IdfParamsBuilder::new().corpus(scope.filter())))
        .with_payload(true)
        .limit(limit)
}

/// The dense query: the nearest vectors of `scope`.
pub fn dense_query(
    collection: &str,
    scope: &Scope,
    vector: &[f32],
    limit: u64,
) -> QueryPointsBuilder {
    QueryPointsBuilder::new(collection)
        .query(Query::new_nearest(VectorInput::new_dense(vector.to_vec())))
        .using(DENSE)
        .filter(scope.filter())
        .with_payload(true)
        .limit(limit)
}

/// How many points of `scope` exist, or contain `term` (a document frequency).
pub fn count(collection: &str, scope: &Scope, term: Option<&str>) -> CountPointsBuilder {
    let mut filter = scope.filter();
    if let Some(term) = term {
        filter.must.push(Condition::matches(TERMS, term.to_owned()));
    }
    CountPointsBuilder::new(collection)
        .filter(filter)
        .exact(true)
}

fn payload_of(value: serde_json::Value) -> qdrant_client::Payload {
    // Built from `json!` objects above: always an object, so the conversion cannot fail.
    qdrant_client::Payload::try_from(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use qdrant_client::qdrant::{condition::ConditionOneOf, r#match::MatchValue};

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    /// The (key, value) pairs of a filter's `must` conditions.
    fn musts(filter: &Filter) -> Vec<(String, String)> {
        filter
            .must
            .iter()
            .filter_map(|c| match &c.condition_one_of {
                Some(ConditionOneOf::Field(f)) => {
                    let value = match f.r#match.as_ref()?.match_value.as_ref()? {
                        MatchValue::Keyword(k) => k.clone(),
                        MatchValue::Integer(i) => i.to_string(),
                        other @ (MatchValue::Boolean(_)
                        | MatchValue::Text(_)
                        | MatchValue::Keywords(_)
                        | MatchValue::Integers(_)
                        | MatchValue::ExceptIntegers(_)
                        | MatchValue::ExceptKeywords(_)
                        | MatchValue::Phrase(_)
                        | MatchValue::TextAny(_)
                        | MatchValue::Prefix(_)
                        | MatchValue::Substring(_)) => format!("{other:?}"),
                    };
                    Some((f.key.clone(), value))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_query_is_scoped_to_one_tenant_index_and_revision() {
        let scope = Scope::new(&tenant("acme"), IndexKind::Keyword, 7);
        let expected = vec![
            ("tenant".to_owned(), "acme".to_owned()),
            ("index".to_owned(), "keyword".to_owned()),
            ("revision".to_owned(), "7".to_owned()),
        ];
        let keyword = keyword_query("kb", &scope, &["cement".into()], 20).build();
        assert_eq!(musts(keyword.filter.as_ref().unwrap()), expected);
        assert_eq!(keyword.using.as_deref(), Some(SPARSE));
        // IDF is computed over the same tenant's points, not the whole collection.
        let corpus = keyword
            .params
            .as_ref()
            .and_then(|p| p.idf.as_ref())
            .and_then(|i| i.corpus.as_ref())
            .unwrap();
        assert_eq!(musts(corpus), expected);

        let dense_scope = Scope::new(&tenant("acme"), IndexKind::Dense, 7);
        let dense = dense_query("kb", &dense_scope, &[0.1, 0.2], 20).build();
        assert_eq!(
            musts(dense.filter.as_ref().unwrap())[0],
            ("tenant".to_owned(), "acme".to_owned())
        );
        assert_eq!(dense.using.as_deref(), Some(DENSE));
        assert_eq!(dense.limit, Some(20));

        let df = count("kb", &scope, Some("cement")).build();
        let conditions = musts(df.filter.as_ref().unwrap());
        assert_eq!(conditions[..3], expected[..]);
        assert_eq!(conditions[3], ("terms".to_owned(), "cement".to_owned()));
    }

    #[test]
    fn deleting_a_tenants_old_points_never_touches_other_tenants() {
        let delete = delete_others("kb", &tenant("acme"), IndexKind::Dense, Some(3)).build();
        let Some(qdrant_client::qdrant::PointsSelector {
            points_selector_one_of:
                Some(qdrant_client::qdrant::points_selector::PointsSelectorOneOf::Filter(filter)),
        }) = delete.points
        else {
            panic!("a filter delete expected: {delete:?}");
        };
        assert_eq!(
            musts(&filter),
            vec![
                ("tenant".to_owned(), "acme".to_owned()),
                ("index".to_owned(), "dense".to_owned())
            ]
        );
        assert_eq!(filter.must_not.len(), 1, "keeps revision 3");
        assert_eq!(delete.wait, Some(true));
    }

    #[test]
    fn the_collection_has_both_vectors_idf_and_a_tenant_index() {
        let (create, indexes) = setup("kb", 384);
        let create = create.build();
        let sparse = create.sparse_vectors_config.unwrap();
        let params = &sparse.map[SPARSE];
        assert_eq!(params.modifier, Some(Modifier::Idf as i32));
        let indexes: Vec<_> = indexes.into_iter().map(|i| i.build()).collect();
        assert_eq!(indexes[0].field_name, TENANT);
        assert!(format!("{:?}", indexes[0].field_index_params).contains("is_tenant: Some(true)"));
    }

    #[test]
    fn sparse_vectors_follow_bm25_term_saturation_and_length() {
        let tokens = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let (indices, values) = sparse_document(&tokens("cement cement sand"), 3.0);
        assert_eq!(indices.len(), 2);
        let weight =
            |term: &str| values[indices.iter().position(|i| *i == term_index(term)).unwrap()];
        assert!(weight("cement") > weight("sand"));
        // The same term weighs less in a longer passage.
        let (long_i, long_v) = sparse_document(&tokens("sand a b c d e f g h"), 3.0);
        let long = long_v[long_i
            .iter()
            .position(|i| *i == term_index("sand"))
            .unwrap()];
        assert!(long < weight("sand"));
        // Ids are stable and tenant-specific.
        assert_eq!(point_id(&["a", "b"]), point_id(&["a", "b"]));
        assert_ne!(point_id(&["a", "b"]), point_id(&["ab", ""]));
    }
}
