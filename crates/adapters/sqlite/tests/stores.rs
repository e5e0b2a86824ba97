//! The SQLite stores keep their ports' promises.

// A failing test should panic with the value it choked on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use atiende_adapter_sqlite::{Db, Durability, SqliteStores};
use atiende_domain::{
    ActionId, ActionKind, Author, Channel, Contact, Conversation, ConversationId, DeliveryState,
    Locale, OutboundAction, PhoneNumber, ProviderMessageId, StatusUpdate, Tenant, TenantId,
    TwilioSettings, knowledge::split_text_document,
};
use atiende_ports::{
    Claim, ConversationFilter, ConversationStore, DeliveryLog, EmbeddingCache, KnowledgeDocument,
    KnowledgeStore, Outbox, OutboxState, PortError, TenantStore, WebChatStore,
};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_760_000_000, 0).unwrap()
}

fn stores() -> (tempfile::TempDir, SqliteStores) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Durability::Normal).unwrap();
    (dir, SqliteStores::new(db))
}

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: TenantId::parse(id).unwrap(),
        name: "Demo".into(),
        company_name: "Demo SRL".into(),
        welcome_message: None,
        language: Locale::Es,
        twilio: Some(TwilioSettings {
            account_sid: format!("AC{}", "0".repeat(32)),
            auth_token: SecretString::from("s3cret"),
            whatsapp_number: PhoneNumber::parse("+14155238886").unwrap(),
            messaging_service_sid: None,
        }),
        meta: None,
        chatwoot: None,
        rocketchat: None,
        business_hours: None,
        desk_wait_minutes: None,
        alerts: None,
        crm: None,
        templates: BTreeMap::new(),
        webchat_enabled: true,
        canned_replies: Vec::new(),
        assistant: atiende_domain::assistant::AssistantSettings::default(),
        created_at: t0(),
        updated_at: t0(),
    }
}

fn conversation(tenant: &str) -> Conversation {
    let t = TenantId::parse(tenant).unwrap();
    let phone = PhoneNumber::parse("+18095551010").unwrap();
    Conversation::start(
        ConversationId::new(&t, Channel::TwilioWhatsApp, phone.as_str()),
        t,
        Channel::TwilioWhatsApp,
        Contact::from_phone(phone),
        t0(),
    )
}

#[tokio::test]
async fn tenants_round_trip_with_their_secrets_and_ids_are_unique() {
    let (_dir, s) = stores();
    s.create(&tenant("demo")).await.unwrap();
    assert!(matches!(
        s.create(&tenant("demo")).await,
        Err(PortError::Conflict(_))
    ));
    let got = s
        .get(&TenantId::parse("demo").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.twilio.as_ref().unwrap().auth_token.expose_secret(),
        "s3cret"
    );
    assert!(
        !format!("{got:?}").contains("s3cret"),
        "Debug must redact secrets"
    );
    assert!(
        s.get(&TenantId::parse("other").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        s.update(&tenant("other")).await,
        Err(PortError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_stale_conversation_save_is_a_conflict() {
    let (_dir, s) = stores();
    let c = conversation("demo");
    assert_eq!(s.save(&c, None).await.unwrap(), 1);
    assert!(matches!(
        s.save(&c, None).await,
        Err(PortError::Conflict(_))
    ));
    let loaded = s.load(&c.id).await.unwrap().unwrap();
    assert_eq!(loaded.version, 1);
    assert_eq!(s.save(&loaded.value, Some(1)).await.unwrap(), 2);
    assert!(matches!(
        s.save(&loaded.value, Some(1)).await,
        Err(PortError::Conflict(_))
    ));
    let filter = ConversationFilter {
        state: None,
        limit: 10,
    };
    let listed = ConversationStore::list(&s, &TenantId::parse("demo").unwrap(), &filter)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn an_action_is_claimed_until_it_is_finished_then_never_again() {
    let (_dir, s) = stores();
    let c = conversation("demo");
    let action = OutboundAction {
        id: ActionId::caused_by(&c.id, &ProviderMessageId::parse("SM1").unwrap(), 0),
        tenant: c.tenant.clone(),
        conversation: c.id.clone(),
        channel: c.channel,
        to: c.contact.clone(),
        kind: ActionKind::Reply {
            text: "hola".into(),
        },
        in_reply_to: None,
        last_customer_message_at: Some(t0()),
        locale: Locale::Es,
        created_at: t0(),
    };
    assert_eq!(
        s.claim(&action, t0()).await.unwrap(),
        Claim::Claimed { attempts: 1 }
    );
    assert_eq!(
        s.claim(&action, t0()).await.unwrap(),
        Claim::Claimed { attempts: 2 }
    );
    s.finish(
        &action.tenant,
        &action.id,
        OutboxState::Sent,
        Some("SM9"),
        None,
        t0(),
    )
    .await
    .unwrap();
    let Claim::AlreadyDone(record) = s.claim(&action, t0()).await.unwrap() else {
        panic!("a sent action must not be claimed again");
    };
    assert_eq!(record.provider_message_id.as_deref(), Some("SM9"));
    assert_eq!(record.attempts, 2);
    let listed = Outbox::list(&s, &c.tenant, Some(OutboxState::Sent), 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn delivery_receipts_merge_monotonically() {
    let (_dir, s) = stores();
    let update = |state| StatusUpdate {
        tenant: TenantId::parse("demo").unwrap(),
        channel: Channel::MetaWhatsApp,
        provider_message_id: ProviderMessageId::parse("wamid.1").unwrap(),
        state,
        error_code: None,
        at: t0(),
    };
    assert_eq!(
        s.record_status(&update(DeliveryState::Read)).await.unwrap(),
        DeliveryState::Read
    );
    assert_eq!(
        s.record_status(&update(DeliveryState::Delivered))
            .await
            .unwrap(),
        DeliveryState::Read
    );
    assert_eq!(
        s.status(
            &TenantId::parse("demo").unwrap(),
            Channel::MetaWhatsApp,
            "wamid.1"
        )
        .await
        .unwrap(),
        Some(DeliveryState::Read)
    );
}

#[tokio::test]
async fn knowledge_replaces_documents_atomically_and_bumps_the_revision() {
    let (_dir, s) = stores();
    let t = TenantId::parse("demo").unwrap();
    assert_eq!(s.revision(&t).await.unwrap(), 0);
    let doc = |hash: &str, n| KnowledgeDocument {
        id: "info".into(),
        title: "Info".into(),
        kind: "text".into(),
        content_hash: hash.into(),
        passages: n,
        created_at: t0(),
    };
    let v1 = split_text_document("info", "- uno\n- dos\n- tres");
    s.put_document(&t, &doc("a", 3), &v1).await.unwrap();
    let v2 = split_text_document("info", "- cuatro");
    s.put_document(&t, &doc("b", 1), &v2).await.unwrap();
    let passages = s.passages(&t).await.unwrap();
    assert_eq!(
        passages.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(),
        vec!["cuatro"]
    );
    assert_eq!(s.revision(&t).await.unwrap(), 2);
    assert_eq!(s.list_documents(&t).await.unwrap()[0].content_hash, "b");
    assert!(s.delete_document(&t, "info").await.unwrap());
    assert!(s.passages(&t).await.unwrap().is_empty());
    assert!(!s.delete_document(&t, "info").await.unwrap());
}

#[tokio::test]
async fn embeddings_are_cached_per_tenant_and_model() {
    let (_dir, s) = stores();
    let (a, b) = (TenantId::parse("a").unwrap(), TenantId::parse("b").unwrap());
    let keys = vec!["k1".to_owned(), "k2".to_owned()];
    assert!(s.get_embeddings(&a, "m", &keys).await.unwrap().is_empty());
    s.put_embeddings(&a, "m", &[("k1".into(), vec![0.5, -0.25])])
        .await
        .unwrap();
    let found = s.get_embeddings(&a, "m", &keys).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found["k1"], vec![0.5, -0.25]);
    // Another model's or another tenant's vectors are never returned.
    assert!(
        s.get_embeddings(&a, "other", &keys)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.get_embeddings(&b, "m", &keys).await.unwrap().is_empty());
    // More keys than one query binds.
    let many: Vec<String> = (0..1200).map(|i| format!("k{i}")).collect();
    assert_eq!(s.get_embeddings(&a, "m", &many).await.unwrap().len(), 1);
}

#[tokio::test]
async fn stale_embeddings_are_pruned_for_one_tenant_and_model_only() {
    let (_dir, s) = stores();
    let (a, b) = (TenantId::parse("a").unwrap(), TenantId::parse("b").unwrap());
    let entries: Vec<(String, Vec<f32>)> = (0..1200)
        .map(|i| (format!("k{i}"), vec![i as f32]))
        .collect();
    for (tenant, model) in [(&a, "m"), (&a, "other"), (&b, "m")] {
        s.put_embeddings(tenant, model, &entries).await.unwrap();
    }
    let keep: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
    assert_eq!(s.retain_embeddings(&a, "m", &keep).await.unwrap(), 200);
    let all: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(s.get_embeddings(&a, "m", &all).await.unwrap().len(), 1000);
    assert_eq!(
        s.get_embeddings(&a, "other", &all).await.unwrap().len(),
        1200
    );
    assert_eq!(s.get_embeddings(&b, "m", &all).await.unwrap().len(), 1200);
    // Again: nothing left to prune.
    assert_eq!(s.retain_embeddings(&a, "m", &keep).await.unwrap(), 0);
    assert_eq!(s.retain_embeddings(&a, "m", &[]).await.unwrap(), 1000);
}

#[tokio::test]
async fn deleting_a_tenant_deletes_what_it_owns() {
    let (_dir, s) = stores();
    let t = TenantId::parse("demo").unwrap();
    TenantStore::create(&s, &tenant("demo")).await.unwrap();
    s.save(&conversation("demo"), None).await.unwrap();
    s.create_session(&t, "sess", t0()).await.unwrap();
    s.append(&t, "sess", Author::Customer, "hola", t0())
        .await
        .unwrap();
    assert!(TenantStore::delete(&s, &t).await.unwrap());
    assert!(s.session_started(&t, "sess").await.unwrap().is_none());
    let left = ConversationStore::list(
        &s,
        &t,
        &ConversationFilter {
            state: None,
            limit: 10,
        },
    )
    .await
    .unwrap();
    assert!(left.is_empty());
}

#[tokio::test]
async fn web_chat_transcripts_are_per_session() {
    let (_dir, s) = stores();
    let t = TenantId::parse("demo").unwrap();
    s.create_session(&t, "a", t0()).await.unwrap();
    s.create_session(&t, "b", t0()).await.unwrap();
    let first = s
        .append(&t, "a", Author::Customer, "hola", t0())
        .await
        .unwrap();
    s.append(&t, "b", Author::Customer, "otro", t0())
        .await
        .unwrap();
    s.append(&t, "a", Author::Bot, "¡Hola!", t0())
        .await
        .unwrap();
    let all = s.list_after(&t, "a", 0, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(),
        vec!["hola", "¡Hola!"]
    );
    let later = s.list_after(&t, "a", first, 10).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].author, Author::Bot);
    assert!(
        s.session_started(&TenantId::parse("other").unwrap(), "a")
            .await
            .unwrap()
            .is_none()
    );
}
