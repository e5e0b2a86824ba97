//! The processor's use cases with small in-memory fakes of its ports: what one customer message
//! leads to, without a store, a bus or an index. The same paths run end to end, on the embedded
//! adapters and on the four services, in `tests/e2e/skills.rs` and `tests/e2e/scale_to_zero.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use atiende_domain::{
    ActionKind, Channel, Contact, Conversation, ConversationId, HandoffReason, InboundMessage,
    MediaKind, MediaRef, MessageContent, PhoneNumber, ProviderMessageId, Tenant, TenantId, Topic,
    UserId,
    assistant::{Account, AssistantSettings},
    knowledge::{Passage, split_text_document},
    text::words,
};
use atiende_ports::{
    AccountStore, Clock, ConversationFilter, ConversationStore, EventPublisher, KeywordHit,
    KeywordIndex, KnowledgeDocument, KnowledgeStore, OutgoingMessage, PortError, PublishOutcome,
    TenantStore, Versioned,
};
use chrono::{DateTime, Utc};

use super::{InboundProcessor, Processed};
use crate::{knowledge::KnowledgeService, responder::ExtractiveResponder, skills::Skills};

const KNOWLEDGE: &str = "\
## Horarios
- Domingos de 8:00 a.m. a 12:00 m.
## Pagos
- No aceptamos cheques personales.
";

struct Fakes {
    tenants: Mutex<HashMap<TenantId, Arc<Tenant>>>,
    conversations: Mutex<HashMap<ConversationId, (Conversation, u64)>>,
    passages: Vec<Passage>,
    accounts: Vec<Account>,
    now: DateTime<Utc>,
}

#[async_trait]
impl TenantStore for Fakes {
    async fn get(&self, id: &TenantId) -> Result<Option<Arc<Tenant>>, PortError> {
        Ok(self.tenants.lock().unwrap().get(id).cloned())
    }
    async fn list(&self) -> Result<Vec<Arc<Tenant>>, PortError> {
        Ok(self.tenants.lock().unwrap().values().cloned().collect())
    }
    async fn create(&self, tenant: &Tenant) -> Result<(), PortError> {
        self.update(tenant).await
    }
    async fn update(&self, tenant: &Tenant) -> Result<(), PortError> {
        let mut tenants = self.tenants.lock().unwrap();
        tenants.insert(tenant.id.clone(), Arc::new(tenant.clone()));
        Ok(())
    }
    async fn delete(&self, id: &TenantId) -> Result<bool, PortError> {
        Ok(self.tenants.lock().unwrap().remove(id).is_some())
    }
}

#[async_trait]
impl ConversationStore for Fakes {
    async fn load(
        &self,
        id: &ConversationId,
    ) -> Result<Option<Versioned<Conversation>>, PortError> {
        Ok(self
            .conversations
            .lock()
            .unwrap()
            .get(id)
            .map(|(value, version)| Versioned {
                value: value.clone(),
                version: *version,
            }))
    }
    async fn save(&self, c: &Conversation, expected: Option<u64>) -> Result<u64, PortError> {
        let mut all = self.conversations.lock().unwrap();
        let current = all.get(&c.id).map(|(_, v)| *v);
        if current != expected {
            return Err(PortError::Conflict(c.id.to_string()));
        }
        let version = current.unwrap_or(0) + 1;
        all.insert(c.id.clone(), (c.clone(), version));
        Ok(version)
    }
    async fn list(
        &self,
        _: &TenantId,
        _: &ConversationFilter,
    ) -> Result<Vec<Conversation>, PortError> {
        Ok(Vec::new())
    }
    async fn desk_revision(&self, _: &TenantId) -> Result<String, PortError> {
        Ok(String::new())
    }
    async fn phone_of(&self, _: &TenantId, _: &UserId) -> Result<Option<PhoneNumber>, PortError> {
        Ok(None)
    }
    async fn remember_phone(
        &self,
        _: &TenantId,
        _: &UserId,
        _: &PhoneNumber,
    ) -> Result<(), PortError> {
        Ok(())
    }
}

#[async_trait]
impl KnowledgeStore for Fakes {
    async fn put_document(
        &self,
        _: &TenantId,
        _: &KnowledgeDocument,
        _: &[Passage],
    ) -> Result<(), PortError> {
        Ok(())
    }
    async fn list_documents(&self, _: &TenantId) -> Result<Vec<KnowledgeDocument>, PortError> {
        Ok(Vec::new())
    }
    async fn delete_document(&self, _: &TenantId, _: &str) -> Result<bool, PortError> {
        Ok(false)
    }
    async fn passages(&self, _: &TenantId) -> Result<Vec<Passage>, PortError> {
        Ok(self.passages.clone())
    }
    async fn revision(&self, _: &TenantId) -> Result<u64, PortError> {
        Ok(1)
    }
}

/// A keyword index that scores a passage by the share of the question's words it contains.
#[async_trait]
impl KeywordIndex for Fakes {
    async fn index_tenant(&self, _: &TenantId, _: u64, _: Vec<Passage>) -> Result<(), PortError> {
        Ok(())
    }
    async fn indexed_revision(&self, _: &TenantId) -> Result<Option<u64>, PortError> {
        Ok(Some(1))
    }
    async fn search(
        &self,
        _: &TenantId,
        query: &str,
        limit: usize,
    ) -> Result<Option<Vec<KeywordHit>>, PortError> {
        let asked: Vec<String> = words(query).into_iter().filter(|w| w.len() > 3).collect();
        let mut hits: Vec<KeywordHit> = self
            .passages
            .iter()
            .filter_map(|p| {
                let text = words(&p.searchable_text());
                let found = asked.iter().filter(|w| text.contains(w)).count();
                (found > 0).then(|| {
                    let coverage = found as f32 / asked.len() as f32;
                    KeywordHit {
                        passage: p.clone(),
                        score: coverage,
                        coverage,
                    }
                })
            })
            .collect();
        hits.sort_by(|a, b| b.coverage.total_cmp(&a.coverage));
        hits.truncate(limit);
        Ok(Some(hits))
    }
    async fn forget_tenant(&self, _: &TenantId) -> Result<(), PortError> {
        Ok(())
    }
}

#[async_trait]
impl AccountStore for Fakes {
    async fn replace_accounts(&self, _: &TenantId, _: &[Account]) -> Result<(), PortError> {
        Ok(())
    }
    async fn account(&self, _: &TenantId, number: &str) -> Result<Option<Account>, PortError> {
        Ok(self.accounts.iter().find(|a| a.number == number).cloned())
    }
    async fn count_accounts(&self, _: &TenantId) -> Result<u64, PortError> {
        Ok(self.accounts.len() as u64)
    }
}

/// Publishes nothing: the processor returns the actions it published.
struct Nowhere;

#[async_trait]
impl EventPublisher for Nowhere {
    async fn publish(&self, _: Topic, _: OutgoingMessage) -> Result<PublishOutcome, PortError> {
        Ok(PublishOutcome::Duplicate)
    }
}

impl Clock for Fakes {
    fn now(&self) -> DateTime<Utc> {
        self.now
    }
}

fn processor(assistant: AssistantSettings) -> InboundProcessor {
    let mut passages = split_text_document("info", KNOWLEDGE);
    passages.extend(atiende_domain::knowledge::product_passages(
        "cat",
        vec![atiende_domain::knowledge::Product {
            sku: "CEM-001".into(),
            name: "Cemento gris".into(),
            category: String::new(),
            price: 495.0,
            currency: "DOP".into(),
            unit: "funda".into(),
            stock: Some(25),
            branch: String::new(),
        }],
    ));
    let fakes = Arc::new(Fakes {
        tenants: Mutex::default(),
        conversations: Mutex::default(),
        passages,
        accounts: vec![Account {
            number: "104233".into(),
            holder: "Constructora Caribe".into(),
            whatsapp: PhoneNumber::parse("+18095551010").unwrap(),
            status: "al día".into(),
            balance: 12_500.0,
            limit: 150_000.0,
            due: None,
        }],
        now: Utc::now(),
    });
    let t = crate::testing::tenant(assistant);
    fakes
        .tenants
        .lock()
        .unwrap()
        .insert(t.id.clone(), Arc::new(t));
    let knowledge = Arc::new(KnowledgeService::new(
        fakes.clone(),
        fakes.clone(),
        fakes.clone(),
    ));
    InboundProcessor::new(
        fakes.clone(),
        fakes.clone(),
        Arc::new(Nowhere),
        Arc::new(ExtractiveResponder::new(knowledge.clone(), 0.5)),
        fakes.clone(),
    )
    .with_skills(Arc::new(Skills::new(knowledge, fakes)))
}

/// Sends `content` from `from` as the `n`-th message and returns the action kinds.
async fn send(
    p: &InboundProcessor,
    from: &str,
    n: u32,
    content: MessageContent,
) -> Vec<ActionKind> {
    let tenant = TenantId::parse("demo").unwrap();
    let phone = PhoneNumber::parse(from).unwrap();
    let message = InboundMessage {
        conversation: ConversationId::new(&tenant, Channel::TwilioWhatsApp, phone.as_str()),
        tenant,
        channel: Channel::TwilioWhatsApp,
        provider_message_id: ProviderMessageId::parse(format!("SM{from}{n}")).unwrap(),
        contact: Contact::from_phone(phone),
        business_address: None,
        content,
        sent_at: None,
        received_at: Utc::now(),
        in_reply_to: None,
        referral: None,
    };
    let Processed::Handled { actions } = p.process(&message, None).await.unwrap() else {
        panic!("not handled");
    };
    actions.into_iter().map(|a| a.kind).collect()
}

async fn say(p: &InboundProcessor, from: &str, n: u32, text: &str) -> Vec<ActionKind> {
    send(p, from, n, MessageContent::Text { body: text.into() }).await
}

fn replies(kinds: &[ActionKind]) -> Vec<&str> {
    kinds
        .iter()
        .filter_map(|k| {
            if let ActionKind::Reply { text } | ActionKind::Handoff { notice: text, .. } = k {
                Some(text.as_str())
            } else {
                None
            }
        })
        .collect()
}

fn handoff(kinds: &[ActionKind]) -> Option<HandoffReason> {
    kinds.iter().find_map(|k| {
        if let ActionKind::Handoff { reason, .. } = k {
            Some(*reason)
        } else {
            None
        }
    })
}

#[tokio::test]
async fn an_account_is_told_to_its_registered_number_and_refused_to_others() {
    let p = processor(AssistantSettings::default());
    let owner = say(&p, "+18095551010", 1, "estado de mi cuenta 104233").await;
    assert!(replies(&owner)[0].contains("RD$12,500"), "{owner:?}");
    let other = say(&p, "+18095559999", 1, "estado de mi cuenta 104233").await;
    let nobody = say(&p, "+18095559998", 1, "estado de mi cuenta 555555").await;
    assert!(replies(&other)[0].starts_with("Por seguridad"));
    assert_eq!(replies(&other), replies(&nobody), "one refusal for both");
}

#[tokio::test]
async fn a_quote_above_the_amount_goes_to_a_person_under_its_own_case_number() {
    let p = processor(AssistantSettings {
        quote_handoff_above: Some(100_000.0),
        ..AssistantSettings::default()
    });
    let kinds = say(&p, "+18095550001", 1, "cotizame 300 fundas de cemento gris").await;
    assert_eq!(handoff(&kinds), Some(HandoffReason::BusinessRule));
    let texts = replies(&kinds);
    let case = texts[0].split('*').nth(1).unwrap();
    assert!(texts[0].contains("RD$148,500"), "{texts:?}");
    assert!(texts[1].contains(case), "{texts:?}");
}

#[tokio::test]
async fn an_upset_customer_reaches_a_person_with_the_mood_in_the_packet() {
    let p = processor(AssistantSettings::default());
    let kinds = say(&p, "+18095550002", 1, "esto es una estafa, pésimo servicio").await;
    assert_eq!(handoff(&kinds), Some(HandoffReason::NegativeSentiment));
    let packet = kinds
        .iter()
        .find_map(|k| {
            if let ActionKind::DeskHandoff { packet } = k {
                Some(packet)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(packet.version, atiende_domain::desk::PACKET_VERSION);
    assert!(packet.sentiment.is_some_and(|s| s < -0.5));
}

#[tokio::test]
async fn a_run_of_unanswered_questions_asks_before_handing_off() {
    let p = processor(AssistantSettings::default());
    let from = "+18095550003";
    say(&p, from, 1, "¿venden carros?").await;
    say(&p, from, 2, "¿hacen tatuajes?").await;
    let third = say(&p, from, 3, "¿reparan celulares?").await;
    assert_eq!(handoff(&third), None);
    assert!(replies(&third)[0].contains("Responde *sí* o *no*"));
    assert_eq!(
        handoff(&say(&p, from, 4, "sí").await),
        Some(HandoffReason::AcceptedOffer)
    );
}

#[tokio::test]
async fn a_photo_without_words_reaches_a_person_and_a_caption_is_answered() {
    let p = processor(AssistantSettings::default());
    let photo = |caption: Option<&str>| MessageContent::Media {
        items: vec![MediaRef {
            kind: MediaKind::Image,
            reference: "https://api.twilio.com/Media/ME1".into(),
            content_type: Some("image/jpeg".into()),
            filename: None,
            stored: None,
        }],
        caption: caption.map(str::to_owned),
    };
    let bare = send(&p, "+18095550004", 1, photo(None)).await;
    assert_eq!(handoff(&bare), Some(HandoffReason::NeedsHumanReview));
    let captioned = send(&p, "+18095550005", 1, photo(Some("¿aceptan cheques?"))).await;
    assert!(replies(&captioned)[0].contains("cheques"), "{captioned:?}");
}
