//! One contract for the media store — keep, read back, replace, keep tenants apart, refuse keys
//! atiende did not make, forget a deleted tenant — run against the embedded default's files and
//! against Cloud Storage (the `gcp-storage-emulator`), so the two cannot drift.

use atiende_domain::{TenantId, media_key, outgoing_media_key};
use atiende_ports::{FetchedMedia, MediaStore};

fn photo(bytes: &[u8]) -> FetchedMedia {
    FetchedMedia {
        content_type: "image/jpeg".into(),
        bytes: bytes.to_vec(),
    }
}

async fn contract(store: &dyn MediaStore) {
    let ferreteria = TenantId::parse("ferreteria").unwrap();
    let musica = TenantId::parse("musica").unwrap();
    let conversation =
        atiende_domain::ConversationId::parse("ferreteria:twilio:+18095550100").unwrap();
    let message = atiende_domain::ProviderMessageId::parse("SM0001").unwrap();
    let key = media_key(&conversation, &message, 0);

    assert_eq!(store.get(&ferreteria, &key).await.unwrap(), None);
    // Binary bytes, newlines included, come back as they went in.
    let bytes: Vec<u8> = (0..=255u8).chain(b"\n\r\nend".iter().copied()).collect();
    store.put(&ferreteria, &key, &photo(&bytes)).await.unwrap();
    assert_eq!(
        store.get(&ferreteria, &key).await.unwrap(),
        Some(photo(&bytes))
    );

    // A redelivered message writes the same key again: the copy is replaced, not duplicated.
    let pdf = FetchedMedia {
        content_type: "application/pdf".into(),
        bytes: b"%PDF-1.4".to_vec(),
    };
    store.put(&ferreteria, &key, &pdf).await.unwrap();
    assert_eq!(store.get(&ferreteria, &key).await.unwrap(), Some(pdf));

    // The same key under another tenant is another tenant's file: never this one.
    assert_eq!(store.get(&musica, &key).await.unwrap(), None);
    let theirs = outgoing_media_key("0123456789abcdef0123456789abcdef");
    store
        .put(&musica, &theirs, &photo(b"theirs"))
        .await
        .unwrap();
    assert_eq!(store.get(&ferreteria, &theirs).await.unwrap(), None);

    // Keys atiende did not make never reach a path or an object name.
    for bad in ["../musica/in-0", "in-../../etc/passwd", "", "x"] {
        assert!(store.get(&ferreteria, bad).await.is_err(), "{bad:?}");
        assert!(
            store.put(&ferreteria, bad, &photo(b"x")).await.is_err(),
            "{bad:?}"
        );
    }

    // Deleting a tenant deletes its files, and only its files.
    store.forget_tenant(&ferreteria).await.unwrap();
    assert_eq!(store.get(&ferreteria, &key).await.unwrap(), None);
    assert_eq!(
        store.get(&musica, &theirs).await.unwrap(),
        Some(photo(b"theirs"))
    );
    // Forgetting a tenant with nothing kept is not an error.
    store.forget_tenant(&ferreteria).await.unwrap();
}

#[tokio::test]
async fn local_files_keep_the_media_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = atiende_adapter_sqlite::FileMediaStore::new(dir.path().join("media"));
    contract(&store).await;
}

#[cfg(feature = "gcp")]
#[tokio::test]
#[ignore = "needs gcp-storage-emulator (infra/test.sh installs it)"]
async fn cloud_storage_keeps_the_media_contract() {
    let Some(emulator) = atiende_testkit::gcs::StorageEmulator::start("atiende-media").await else {
        return;
    };
    let store = atiende_adapter_gcp::CloudStorage::new(
        reqwest::Client::new(),
        "atiende-media",
        Some(emulator.host()),
    )
    .unwrap();
    contract(&store).await;
}
