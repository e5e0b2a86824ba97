//! A tenant: one business, its channels and its templates.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::{BusinessHours, DeskKind, Locale, PhoneNumber, TenantId, ValidationError};

/// The name of the template sent when a free-form reply is due outside the 24-hour window.
pub const REENGAGEMENT_TEMPLATE: &str = "reengagement";

/// A business served by atiende.
///
/// Secrets (auth tokens, app secrets, access and verify tokens) are [`SecretString`]s: their
/// `Debug` output is redacted and reading them needs an explicit `expose_secret()`, so they cannot
/// reach a log line by accident.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The tenant's id, used in webhook URLs.
    pub id: TenantId,
    /// A short display name ("Ferretería El Progreso").
    pub name: String,
    /// The legal or commercial name used in messages.
    pub company_name: String,
    /// The greeting sent when a customer says hello; a localized default is used when absent.
    pub welcome_message: Option<String>,
    /// The language the business writes in; the bot answers customers in theirs.
    pub language: Locale,
    /// Twilio WhatsApp settings, when the tenant uses Twilio.
    pub twilio: Option<TwilioSettings>,
    /// Meta Cloud API settings, when the tenant uses Meta directly.
    pub meta: Option<MetaSettings>,
    /// The Chatwoot inbox conversations are handed to.
    pub chatwoot: Option<ChatwootSettings>,
    /// The Rocket.Chat Omnichannel conversations are handed to. With neither desk configured,
    /// the built-in console.
    pub rocketchat: Option<RocketChatSettings>,
    /// When people are at the desk; `None` means always.
    pub business_hours: Option<BusinessHours>,
    /// Minutes a handed-off customer waits for a person before being told nobody is free;
    /// `None` uses the deployment's default (`processor.desk_wait_secs`).
    pub desk_wait_minutes: Option<u32>,
    /// Where urgent handoffs are announced (a Slack, Rocket.Chat or Teams incoming webhook).
    pub alerts: Option<AlertSettings>,
    /// Where leads are pushed (a signed webhook to the tenant's CRM).
    pub crm: Option<CrmSettings>,
    /// Approved WhatsApp templates by name (see [`REENGAGEMENT_TEMPLATE`]).
    pub templates: BTreeMap<String, TemplateRef>,
    /// Whether the built-in web chat may be used to talk to this tenant.
    pub webchat_enabled: bool,
    /// Answers the tenant's agents pick from in the console.
    pub canned_replies: Vec<CannedReply>,
    /// How the assistant answers when a language model is configured.
    pub assistant: crate::assistant::AssistantSettings,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
    /// When the tenant was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Tenant {
    /// The desk this tenant's conversations are handed to.
    pub fn desk(&self) -> DeskKind {
        if self.chatwoot.is_some() {
            DeskKind::Chatwoot
        } else if self.rocketchat.is_some() {
            DeskKind::RocketChat
        } else {
            DeskKind::Console
        }
    }

    /// The template used to reopen a closed service window, if configured.
    pub fn reengagement_template(&self) -> Option<&TemplateRef> {
        self.templates.get(REENGAGEMENT_TEMPLATE)
    }

    /// Checks the invariants that involve several fields.
    pub fn validate(&self) -> Result<(), ValidationError> {
        CannedReply::validate(&self.canned_replies)?;
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err(ValidationError::new("name", "must be 1-200 characters"));
        }
        if self.company_name.trim().is_empty() || self.company_name.len() > 200 {
            return Err(ValidationError::new(
                "company_name",
                "must be 1-200 characters",
            ));
        }
        if self
            .welcome_message
            .as_ref()
            .is_some_and(|w| w.len() > 1000)
        {
            return Err(ValidationError::new(
                "welcome_message",
                "must be at most 1000 characters",
            ));
        }
        if let Some(twilio) = &self.twilio {
            twilio.validate()?;
        }
        if let Some(meta) = &self.meta {
            meta.validate()?;
        }
        if let Some(chatwoot) = &self.chatwoot {
            chatwoot.validate()?;
        }
        if let Some(rocketchat) = &self.rocketchat {
            if self.chatwoot.is_some() {
                return Err(ValidationError::new(
                    "rocketchat",
                    "a tenant hands conversations to one desk: remove chatwoot first",
                ));
            }
            rocketchat.validate()?;
        }
        if let Some(hours) = &self.business_hours {
            hours.validate()?;
        }
        self.assistant.validate()?;
        if self
            .desk_wait_minutes
            .is_some_and(|m| m == 0 || m > 7 * 24 * 60)
        {
            return Err(ValidationError::new(
                "desk_wait_minutes",
                "must be between 1 and 10080 (a week)",
            ));
        }
        if let Some(alerts) = &self.alerts {
            alerts.validate()?;
        }
        if let Some(crm) = &self.crm {
            if !is_http_url(&crm.webhook_url) {
                return Err(ValidationError::new(
                    "crm.webhook_url",
                    "expected an http(s) URL",
                ));
            }
            check_secret("crm.signing_secret", &crm.signing_secret)?;
        }
        for (name, template) in &self.templates {
            if name.is_empty() || name.len() > 64 {
                return Err(ValidationError::new(
                    "templates",
                    "template names must be 1-64 characters",
                ));
            }
            template.validate()?;
        }
        Ok(())
    }
}

/// A tenant's Twilio WhatsApp sender.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    /// The account SID (`AC…`), also the Basic-auth user.
    pub account_sid: String,
    /// The auth token: signs webhooks and authenticates API calls.
    pub auth_token: SecretString,
    /// The WhatsApp sender number.
    pub whatsapp_number: PhoneNumber,
    /// A Messaging Service SID (`MG…`) to send through instead of the number, if any.
    pub messaging_service_sid: Option<String>,
}

impl TwilioSettings {
    fn validate(&self) -> Result<(), ValidationError> {
        let sid_ok = self.account_sid.len() == 34 && self.account_sid.starts_with("AC");
        if !sid_ok
            || !self.account_sid[2..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        {
            return Err(ValidationError::new(
                "twilio.account_sid",
                "expected AC followed by 32 letters or digits",
            ));
        }
        check_secret("twilio.auth_token", &self.auth_token)?;
        if let Some(mg) = &self.messaging_service_sid
            && !(mg.len() == 34 && mg.starts_with("MG"))
        {
            return Err(ValidationError::new(
                "twilio.messaging_service_sid",
                "expected MG followed by 32 letters or digits",
            ));
        }
        Ok(())
    }
}

/// A tenant's Meta WhatsApp Cloud API phone number.
#[derive(Debug, Clone)]
pub struct MetaSettings {
    /// The phone number id messages are sent from (`/{phone_number_id}/messages`).
    pub phone_number_id: String,
    /// The bearer token for the Graph API.
    pub access_token: SecretString,
    /// The app secret that signs webhooks (`X-Hub-Signature-256`).
    pub app_secret: SecretString,
    /// The token Meta echoes when verifying the webhook URL.
    pub verify_token: SecretString,
}

impl MetaSettings {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.phone_number_id.is_empty()
            || self.phone_number_id.len() > 64
            || !self.phone_number_id.chars().all(|c| c.is_ascii_digit())
        {
            return Err(ValidationError::new(
                "meta.phone_number_id",
                "expected the numeric phone number id",
            ));
        }
        check_secret("meta.access_token", &self.access_token)?;
        check_secret("meta.app_secret", &self.app_secret)?;
        check_secret("meta.verify_token", &self.verify_token)?;
        Ok(())
    }
}

/// A tenant's Chatwoot API-channel inbox (protocols.md §3).
#[derive(Debug, Clone)]
pub struct ChatwootSettings {
    /// The installation's base URL (`https://chat.example.com`).
    pub base_url: String,
    /// The account id in `/api/v1/accounts/{account_id}`.
    pub account_id: u64,
    /// The API inbox conversations are opened in.
    pub inbox_id: u64,
    /// An agent bot's or a user's access token (`api_access_token`).
    pub api_token: SecretString,
    /// The secret Chatwoot signs webhooks with (`X-Chatwoot-Signature`); unsigned webhooks are
    /// refused.
    pub webhook_secret: SecretString,
}

impl ChatwootSettings {
    fn validate(&self) -> Result<(), ValidationError> {
        let url = self.base_url.trim_end_matches('/');
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 500 {
            return Err(ValidationError::new(
                "chatwoot.base_url",
                "expected an http(s) URL",
            ));
        }
        if self.account_id == 0 || self.inbox_id == 0 {
            return Err(ValidationError::new(
                "chatwoot.inbox_id",
                "account_id and inbox_id are positive numbers",
            ));
        }
        check_secret("chatwoot.api_token", &self.api_token)?;
        check_secret("chatwoot.webhook_secret", &self.webhook_secret)?;
        Ok(())
    }
}

/// A tenant's Rocket.Chat Omnichannel desk (protocols.md §4).
///
/// Customers appear as livechat visitors; agents answer in the livechat room. Their replies come
/// back through an outgoing webhook (its token checked in constant time) or the Omnichannel
/// webhook (its `X-RocketChat-Livechat-Token` header checked).
#[derive(Debug, Clone)]
pub struct RocketChatSettings {
    /// The server's base URL (`https://chat.example.com`).
    pub base_url: String,
    /// The Omnichannel department visitors are routed to, if any.
    pub department: Option<String>,
    /// The outgoing webhook integration's token, sent in the body of each call.
    pub outgoing_token: SecretString,
    /// The Omnichannel webhook secret (`Livechat_secret_token`); without it the Omnichannel
    /// webhook is refused and only the outgoing webhook is accepted.
    pub livechat_secret: Option<SecretString>,
}

impl RocketChatSettings {
    fn validate(&self) -> Result<(), ValidationError> {
        if !is_http_url(&self.base_url) {
            return Err(ValidationError::new(
                "rocketchat.base_url",
                "expected an http(s) URL",
            ));
        }
        if self
            .department
            .as_ref()
            .is_some_and(|d| d.is_empty() || d.len() > 100)
        {
            return Err(ValidationError::new(
                "rocketchat.department",
                "must be 1-100 characters",
            ));
        }
        check_secret("rocketchat.outgoing_token", &self.outgoing_token)?;
        if let Some(secret) = &self.livechat_secret {
            check_secret("rocketchat.livechat_secret", secret)?;
        }
        Ok(())
    }
}

/// Where urgent handoffs are announced: an incoming webhook that takes Slack's message format
/// (`{"text", "attachments"}`), which Slack, Rocket.Chat and Mattermost accept, and a Teams
/// workflow can be set up to read.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// The incoming webhook URL; it carries the integration's token, so it is a secret.
    pub webhook_url: SecretString,
    /// Announce every handoff, not only the urgent ones.
    pub every_handoff: bool,
}

impl AlertSettings {
    fn validate(&self) -> Result<(), ValidationError> {
        use secrecy::ExposeSecret;
        if !is_http_url(self.webhook_url.expose_secret()) {
            return Err(ValidationError::new(
                "alerts.webhook_url",
                "expected an http(s) URL",
            ));
        }
        Ok(())
    }
}

/// The tenant's CRM, reached by a signed webhook: `POST webhook_url` with the lead as JSON,
/// `X-Atiende-Timestamp` and `X-Atiende-Signature: sha256=HMAC(signing_secret, "{timestamp}.{body}")`
/// (docs/integrations.md).
#[derive(Debug, Clone)]
pub struct CrmSettings {
    /// Where leads are posted.
    pub webhook_url: String,
    /// The key the CRM verifies the signature with.
    pub signing_secret: SecretString,
}

/// The fewest characters a tenant secret may have. Providers issue longer ones (Twilio's auth
/// token and Meta's app secret are 32 hex digits); a short or empty one would let anyone sign
/// webhooks as the provider, since an empty HMAC key or token is trivially guessed.
pub const MIN_SECRET_CHARS: usize = 16;

fn check_secret(field: &'static str, secret: &SecretString) -> Result<(), ValidationError> {
    use secrecy::ExposeSecret;
    let secret = secret.expose_secret();
    if secret.trim().chars().count() < MIN_SECRET_CHARS || secret.len() > 4096 {
        return Err(ValidationError::new(
            field,
            "must be at least 16 characters (the value the provider issued, or a long random one)",
        ));
    }
    Ok(())
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= 500
}

/// A ready answer an agent picks in the console ("Horario", "Formas de pago") and edits before
/// sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedReply {
    /// What the agent sees in the list.
    pub title: String,
    /// The text put in the reply box.
    pub text: String,
}

impl CannedReply {
    /// At most this many per tenant.
    pub const MAX: usize = 100;

    /// Checks a set: titles 1–60 characters and unique, texts 1–4096.
    pub fn validate(set: &[CannedReply]) -> Result<(), crate::ValidationError> {
        if set.len() > Self::MAX {
            return Err(crate::ValidationError::new(
                "canned_replies",
                format!("at most {} replies", Self::MAX),
            ));
        }
        let mut titles = std::collections::BTreeSet::new();
        for reply in set {
            let title = reply.title.trim();
            if title.is_empty() || title.chars().count() > 60 || !titles.insert(title) {
                return Err(crate::ValidationError::new(
                    "canned_replies",
                    format!("title {title:?} must be 1-60 characters and unique"),
                ));
            }
            if reply.text.trim().is_empty() || reply.text.chars().count() > 4096 {
                return Err(crate::ValidationError::new(
                    "canned_replies",
                    format!("the text of {title:?} must be 1-4096 characters"),
                ));
            }
        }
        Ok(())
    }
}

/// An approved WhatsApp template, as each provider names it.
///
/// `variables` may contain the placeholders `{customer_name}` and `{company_name}`, filled in when
/// the template is sent; Twilio receives them as `ContentVariables` `{"1": …, "2": …}`, Meta as the
/// body component's text parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TemplateRef {
    /// Twilio Content SID (`HX…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio_content_sid: Option<String>,
    /// Meta template name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_name: Option<String>,
    /// Meta template language code (`es`, `es_MX`, `en_US`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_language: Option<String>,
    /// Template variables, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<String>,
}

impl TemplateRef {
    fn validate(&self) -> Result<(), ValidationError> {
        if let Some(sid) = &self.twilio_content_sid
            && !(sid.len() == 34 && sid.starts_with("HX"))
        {
            return Err(ValidationError::new(
                "templates.twilio_content_sid",
                "expected HX followed by 32 letters or digits",
            ));
        }
        if self.meta_name.is_some() != self.meta_language.is_some() {
            return Err(ValidationError::new(
                "templates.meta_name",
                "meta_name and meta_language go together",
            ));
        }
        if self.variables.len() > 100 {
            return Err(ValidationError::new(
                "templates.variables",
                "at most 100 variables",
            ));
        }
        Ok(())
    }

    /// The variables with placeholders filled in.
    pub fn render_variables(&self, customer_name: Option<&str>, company_name: &str) -> Vec<String> {
        self.variables
            .iter()
            .map(|v| {
                v.replace("{customer_name}", customer_name.unwrap_or(""))
                    .replace("{company_name}", company_name)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_variables_fill_placeholders() {
        let t = TemplateRef {
            variables: vec!["{customer_name}".into(), "de {company_name}".into()],
            ..TemplateRef::default()
        };
        assert_eq!(
            t.render_variables(Some("Ada"), "El Progreso"),
            vec!["Ada".to_owned(), "de El Progreso".to_owned()]
        );
    }

    #[test]
    fn meta_templates_need_a_language() {
        let t = TemplateRef {
            meta_name: Some("reengage".into()),
            ..TemplateRef::default()
        };
        assert!(t.validate().is_err());
    }
}
