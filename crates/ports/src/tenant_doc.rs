//! The stored form of a [`Tenant`]: one serializable document, secrets included.
//!
//! Every tenant store (SQLite, Firestore) writes this same document, so a tenant moved between
//! them reads back identically. Secrets are written in clear (the webhooks need them): the stores
//! keep them where only atiende's own identity can read (a file readable by its owner, a
//! Firestore database behind IAM).

use std::collections::BTreeMap;

use atiende_domain::assistant::AssistantSettings;
use atiende_domain::tenant::CannedReply;
use atiende_domain::{
    AlertSettings, BusinessHours, ChatwootSettings, CrmSettings, Locale, MetaSettings, PhoneNumber,
    RocketChatSettings, TemplateRef, Tenant, TenantId, TwilioSettings,
};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::PortError;

/// Encodes a tenant as its stored JSON document.
pub fn encode(tenant: &Tenant) -> Result<String, PortError> {
    serde_json::to_string(&TenantDocument::from(tenant))
        .map_err(|e| PortError::permanent_from("cannot encode a tenant", e))
}

/// Decodes a stored JSON document.
pub fn decode(doc: &str) -> Result<Tenant, PortError> {
    let stored: TenantDocument = serde_json::from_str(doc)
        .map_err(|e| PortError::permanent_from("corrupt tenant document", e))?;
    Tenant::try_from(stored)
}

#[derive(Serialize, Deserialize)]
struct TenantDocument {
    id: String,
    name: String,
    company_name: String,
    welcome_message: Option<String>,
    language: Locale,
    twilio: Option<StoredTwilio>,
    meta: Option<StoredMeta>,
    #[serde(default)]
    chatwoot: Option<StoredChatwoot>,
    #[serde(default)]
    rocketchat: Option<StoredRocketChat>,
    #[serde(default)]
    business_hours: Option<BusinessHours>,
    #[serde(default)]
    desk_wait_minutes: Option<u32>,
    #[serde(default)]
    alerts: Option<StoredAlerts>,
    #[serde(default)]
    crm: Option<StoredCrm>,
    templates: BTreeMap<String, TemplateRef>,
    webchat_enabled: bool,
    #[serde(default)]
    canned_replies: Vec<CannedReply>,
    #[serde(default)]
    assistant: AssistantSettings,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct StoredTwilio {
    account_sid: String,
    auth_token: String,
    whatsapp_number: String,
    messaging_service_sid: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredChatwoot {
    base_url: String,
    account_id: u64,
    inbox_id: u64,
    api_token: String,
    webhook_secret: String,
}

#[derive(Serialize, Deserialize)]
struct StoredRocketChat {
    base_url: String,
    department: Option<String>,
    outgoing_token: String,
    livechat_secret: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredCrm {
    webhook_url: String,
    signing_secret: String,
}

#[derive(Serialize, Deserialize)]
struct StoredAlerts {
    webhook_url: String,
    every_handoff: bool,
}

#[derive(Serialize, Deserialize)]
struct StoredMeta {
    phone_number_id: String,
    access_token: String,
    app_secret: String,
    verify_token: String,
}

impl From<&Tenant> for TenantDocument {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.clone(),
            company_name: t.company_name.clone(),
            welcome_message: t.welcome_message.clone(),
            language: t.language,
            twilio: t.twilio.as_ref().map(|tw| StoredTwilio {
                account_sid: tw.account_sid.clone(),
                auth_token: tw.auth_token.expose_secret().to_owned(),
                whatsapp_number: tw.whatsapp_number.to_string(),
                messaging_service_sid: tw.messaging_service_sid.clone(),
            }),
            meta: t.meta.as_ref().map(|m| StoredMeta {
                phone_number_id: m.phone_number_id.clone(),
                access_token: m.access_token.expose_secret().to_owned(),
                app_secret: m.app_secret.expose_secret().to_owned(),
                verify_token: m.verify_token.expose_secret().to_owned(),
            }),
            chatwoot: t.chatwoot.as_ref().map(|c| StoredChatwoot {
                base_url: c.base_url.clone(),
                account_id: c.account_id,
                inbox_id: c.inbox_id,
                api_token: c.api_token.expose_secret().to_owned(),
                webhook_secret: c.webhook_secret.expose_secret().to_owned(),
            }),
            rocketchat: t.rocketchat.as_ref().map(|r| StoredRocketChat {
                base_url: r.base_url.clone(),
                department: r.department.clone(),
                outgoing_token: r.outgoing_token.expose_secret().to_owned(),
                livechat_secret: r
                    .livechat_secret
                    .as_ref()
                    .map(|s| s.expose_secret().to_owned()),
            }),
            business_hours: t.business_hours.clone(),
            assistant: t.assistant.clone(),
            desk_wait_minutes: t.desk_wait_minutes,
            alerts: t.alerts.as_ref().map(|a| StoredAlerts {
                webhook_url: a.webhook_url.expose_secret().to_owned(),
                every_handoff: a.every_handoff,
            }),
            crm: t.crm.as_ref().map(|c| StoredCrm {
                webhook_url: c.webhook_url.clone(),
                signing_secret: c.signing_secret.expose_secret().to_owned(),
            }),
            templates: t.templates.clone(),
            webchat_enabled: t.webchat_enabled,
            canned_replies: t.canned_replies.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

impl TryFrom<TenantDocument> for Tenant {
    type Error = PortError;
    fn try_from(s: TenantDocument) -> Result<Self, Self::Error> {
        let corrupt = |e: atiende_domain::ValidationError| {
            PortError::permanent(format!("corrupt tenant document: {e}"))
        };
        Ok(Self {
            id: TenantId::parse(s.id).map_err(corrupt)?,
            name: s.name,
            company_name: s.company_name,
            welcome_message: s.welcome_message,
            language: s.language,
            twilio: s
                .twilio
                .map(|tw| -> Result<_, PortError> {
                    Ok(TwilioSettings {
                        account_sid: tw.account_sid,
                        auth_token: SecretString::from(tw.auth_token),
                        whatsapp_number: PhoneNumber::parse(&tw.whatsapp_number)
                            .map_err(corrupt)?,
                        messaging_service_sid: tw.messaging_service_sid,
                    })
                })
                .transpose()?,
            meta: s.meta.map(|m| MetaSettings {
                phone_number_id: m.phone_number_id,
                access_token: SecretString::from(m.access_token),
                app_secret: SecretString::from(m.app_secret),
                verify_token: SecretString::from(m.verify_token),
            }),
            chatwoot: s.chatwoot.map(|c| ChatwootSettings {
                base_url: c.base_url,
                account_id: c.account_id,
                inbox_id: c.inbox_id,
                api_token: SecretString::from(c.api_token),
                webhook_secret: SecretString::from(c.webhook_secret),
            }),
            rocketchat: s.rocketchat.map(|r| RocketChatSettings {
                base_url: r.base_url,
                department: r.department,
                outgoing_token: SecretString::from(r.outgoing_token),
                livechat_secret: r.livechat_secret.map(SecretString::from),
            }),
            business_hours: s.business_hours,
            assistant: s.assistant,
            desk_wait_minutes: s.desk_wait_minutes,
            alerts: s.alerts.map(|a| AlertSettings {
                webhook_url: SecretString::from(a.webhook_url),
                every_handoff: a.every_handoff,
            }),
            crm: s.crm.map(|c| CrmSettings {
                webhook_url: c.webhook_url,
                signing_secret: SecretString::from(c.signing_secret),
            }),
            templates: s.templates,
            webchat_enabled: s.webchat_enabled,
            canned_replies: s.canned_replies,
            created_at: s.created_at,
            updated_at: s.updated_at,
        })
    }
}
