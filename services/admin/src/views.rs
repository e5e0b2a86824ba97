//! What the admin API shows: tenants without their secrets.

use std::collections::BTreeMap;

use atiende_domain::{Locale, TemplateRef, Tenant};
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
    templates: BTreeMap<String, TemplateRef>,
    webchat_enabled: bool,
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

/// Where to point each provider's webhook for this tenant.
#[derive(Serialize)]
struct WebhookUrls {
    twilio: String,
    twilio_status: String,
    meta: String,
    chatwoot: String,
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
            templates: tenant.templates.clone(),
            webchat_enabled: tenant.webchat_enabled,
            webhooks: WebhookUrls {
                twilio: format!("{public_url}/webhooks/twilio/{}", tenant.id),
                twilio_status: format!("{public_url}/webhooks/twilio/{}/status", tenant.id),
                meta: format!("{public_url}/webhooks/meta/{}", tenant.id),
                chatwoot: format!("{public_url}/webhooks/chatwoot/{}", tenant.id),
            },
            created_at: tenant.created_at,
            updated_at: tenant.updated_at,
        }
    }
}
