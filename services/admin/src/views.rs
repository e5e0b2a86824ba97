//! What the admin API shows: tenants without their secrets.

use atiende_domain::assistant::AssistantSettings;
use std::collections::BTreeMap;

use atiende_domain::{BusinessHours, Locale, TemplateRef, Tenant};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A tenant as the admin API returns it. Secrets appear only as `…_set: true`.
#[derive(Serialize)]
pub(crate) struct TenantView {
    id: String,
    name: String,
    company_name: String,
    welcome_message: Option<String>,
    language: Locale,
    twilio: Option<TwilioView>,
    meta: Option<MetaView>,
    desk: &'static str,
    chatwoot: Option<ChatwootView>,
    rocketchat: Option<RocketChatView>,
    business_hours: Option<BusinessHours>,
    desk_wait_minutes: Option<u32>,
    alerts: Option<AlertView>,
    crm: Option<CrmView>,
    templates: BTreeMap<String, TemplateRef>,
    webchat_enabled: bool,
    canned_replies: Vec<atiende_domain::tenant::CannedReply>,
    assistant: AssistantSettings,
    webhooks: WebhookUrls,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct TwilioView {
    account_sid: String,
    whatsapp_number: String,
    messaging_service_sid: Option<String>,
    auth_token_set: bool,
}

#[derive(Serialize)]
struct MetaView {
    phone_number_id: String,
    access_token_set: bool,
    app_secret_set: bool,
    verify_token_set: bool,
}

#[derive(Serialize)]
struct ChatwootView {
    base_url: String,
    account_id: u64,
    inbox_id: u64,
    api_token_set: bool,
    webhook_secret_set: bool,
}

#[derive(Serialize)]
struct RocketChatView {
    base_url: String,
    department: Option<String>,
    outgoing_token_set: bool,
    livechat_secret_set: bool,
}

#[derive(Serialize)]
struct CrmView {
    webhook_url: String,
    signing_secret_set: bool,
}

#[derive(Serialize)]
struct AlertView {
    webhook_url_set: bool,
    every_handoff: bool,
}

/// Where to point each provider's webhook for this tenant.
#[derive(Serialize)]
struct WebhookUrls {
    twilio: String,
    twilio_status: String,
    meta: String,
    chatwoot: String,
    rocketchat: String,
}

impl TenantView {
    pub(crate) fn new(tenant: &Tenant, public_url: &str) -> Self {
        Self {
            id: tenant.id.to_string(),
            name: tenant.name.clone(),
            company_name: tenant.company_name.clone(),
            welcome_message: tenant.welcome_message.clone(),
            language: tenant.language,
            twilio: tenant.twilio.as_ref().map(|t| TwilioView {
                account_sid: t.account_sid.clone(),
                whatsapp_number: t.whatsapp_number.to_string(),
                messaging_service_sid: t.messaging_service_sid.clone(),
                auth_token_set: true,
            }),
            meta: tenant.meta.as_ref().map(|m| MetaView {
                phone_number_id: m.phone_number_id.clone(),
                access_token_set: true,
                app_secret_set: true,
                verify_token_set: true,
            }),
            desk: tenant.desk().as_str(),
            chatwoot: tenant.chatwoot.as_ref().map(|c| ChatwootView {
                base_url: c.base_url.clone(),
                account_id: c.account_id,
                inbox_id: c.inbox_id,
                api_token_set: true,
                webhook_secret_set: true,
            }),
            rocketchat: tenant.rocketchat.as_ref().map(|r| RocketChatView {
                base_url: r.base_url.clone(),
                department: r.department.clone(),
                outgoing_token_set: true,
                livechat_secret_set: r.livechat_secret.is_some(),
            }),
            business_hours: tenant.business_hours.clone(),
            desk_wait_minutes: tenant.desk_wait_minutes,
            alerts: tenant.alerts.as_ref().map(|a| AlertView {
                webhook_url_set: true,
                every_handoff: a.every_handoff,
            }),
            crm: tenant.crm.as_ref().map(|c| CrmView {
                webhook_url: c.webhook_url.clone(),
                signing_secret_set: true,
            }),
            templates: tenant.templates.clone(),
            webchat_enabled: tenant.webchat_enabled,
            canned_replies: tenant.canned_replies.clone(),
            assistant: tenant.assistant.clone(),
            webhooks: WebhookUrls {
                twilio: format!("{public_url}/webhooks/twilio/{}", tenant.id),
                twilio_status: format!("{public_url}/webhooks/twilio/{}/status", tenant.id),
                meta: format!("{public_url}/webhooks/meta/{}", tenant.id),
                chatwoot: format!("{public_url}/webhooks/chatwoot/{}", tenant.id),
                rocketchat: format!("{public_url}/webhooks/rocketchat/{}", tenant.id),
            },
            created_at: tenant.created_at,
            updated_at: tenant.updated_at,
        }
    }
}
