//! Tenant onboarding (the admin service's use cases) and the tenant cache used on the hot path.

use atiende_domain::assistant::AssistantSettings;
use atiende_domain::tenant::CannedReply;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use atiende_domain::{
    AlertSettings, BusinessHours, ChatwootSettings, CrmSettings, Locale, MetaSettings, PhoneNumber,
    RocketChatSettings, TemplateRef, Tenant, TenantId, TwilioSettings, ValidationError,
};
use atiende_ports::{Clock, KeywordIndex, PortError, TenantStore};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

use crate::AppError;

/// A cached lookup: when it was made and what it found (`None`: no such tenant).
type CacheEntry = (Instant, Option<Arc<Tenant>>);

/// A [`TenantStore`] that remembers lookups for a short time.
///
/// Every webhook needs its tenant (to verify the signature), so the hot path must not read the
/// store each time. Unknown ids are cached too, so a flood of requests for a tenant that does not
/// exist stays cheap. Writes through this store invalidate at once; writes made by another
/// process become visible within `ttl`.
pub struct CachedTenantStore {
    inner: Arc<dyn TenantStore>,
    ttl: Duration,
    entries: RwLock<HashMap<TenantId, CacheEntry>>,
}

impl CachedTenantStore {
    /// Wraps `inner` with a cache whose entries live `ttl`.
    pub fn new(inner: Arc<dyn TenantStore>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn forget(&self, id: &TenantId) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

#[async_trait]
impl TenantStore for CachedTenantStore {
    async fn get(&self, id: &TenantId) -> Result<Option<Arc<Tenant>>, PortError> {
        if let Some((at, tenant)) = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            && at.elapsed() < self.ttl
        {
            return Ok(tenant.clone());
        }
        let tenant = self.inner.get(id).await?;
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() > 10_000 {
            // Bounded: ids come from URLs, so an attacker could otherwise grow the map.
            entries.clear();
        }
        entries.insert(id.clone(), (Instant::now(), tenant.clone()));
        Ok(tenant)
    }

    async fn list(&self) -> Result<Vec<Arc<Tenant>>, PortError> {
        self.inner.list().await
    }

    async fn create(&self, tenant: &Tenant) -> Result<(), PortError> {
        let result = self.inner.create(tenant).await;
        self.forget(&tenant.id);
        result
    }

    async fn update(&self, tenant: &Tenant) -> Result<(), PortError> {
        let result = self.inner.update(tenant).await;
        self.forget(&tenant.id);
        result
    }

    async fn delete(&self, id: &TenantId) -> Result<bool, PortError> {
        let result = self.inner.delete(id).await;
        self.forget(id);
        result
    }
}

/// Reads `null` as `Some(None)` and a missing field as `None`, so a patch can clear a field.
fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Twilio settings as the admin API receives them. On create every field but the messaging
/// service is required; on update, missing fields keep their current values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioInput {
    /// `AC…`.
    pub account_sid: Option<String>,
    /// The auth token (write-only).
    pub auth_token: Option<SecretString>,
    /// The WhatsApp sender number.
    pub whatsapp_number: Option<String>,
    /// An optional Messaging Service SID; `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    pub messaging_service_sid: Option<Option<String>>,
}

/// Meta settings as the admin API receives them (same merge rules as [`TwilioInput`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaInput {
    /// The phone number id.
    pub phone_number_id: Option<String>,
    /// The Graph API token (write-only).
    pub access_token: Option<SecretString>,
    /// The app secret (write-only).
    pub app_secret: Option<SecretString>,
    /// The webhook verify token (write-only).
    pub verify_token: Option<SecretString>,
}

/// Chatwoot settings as the admin API receives them (same merge rules as [`TwilioInput`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatwootInput {
    /// The installation's base URL.
    pub base_url: Option<String>,
    /// The account id.
    pub account_id: Option<u64>,
    /// The API inbox id.
    pub inbox_id: Option<u64>,
    /// The access token (write-only).
    pub api_token: Option<SecretString>,
    /// The webhook signing secret (write-only).
    pub webhook_secret: Option<SecretString>,
}

/// Rocket.Chat settings as the admin API receives them (same merge rules as [`TwilioInput`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocketChatInput {
    /// The server's base URL.
    pub base_url: Option<String>,
    /// The Omnichannel department; `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    pub department: Option<Option<String>>,
    /// The outgoing webhook's token (write-only).
    pub outgoing_token: Option<SecretString>,
    /// The Omnichannel webhook secret (write-only); `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    pub livechat_secret: Option<Option<SecretString>>,
}

/// Alert settings as the admin API receives them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertInput {
    /// The incoming webhook URL (write-only).
    pub webhook_url: Option<SecretString>,
    /// Announce every handoff, not only urgent ones (default false).
    pub every_handoff: Option<bool>,
}

/// CRM settings as the admin API receives them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmInput {
    /// Where leads are posted.
    pub webhook_url: Option<String>,
    /// The signing secret (write-only).
    pub signing_secret: Option<SecretString>,
}

/// A new tenant, as `POST /admin/tenants` receives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// The id (URL slug).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Company name used in messages; defaults to `name`.
    pub company_name: Option<String>,
    /// Greeting.
    pub welcome_message: Option<String>,
    /// Business language (`es`, `en`); defaults to Spanish.
    pub language: Option<String>,
    /// Twilio settings.
    pub twilio: Option<TwilioInput>,
    /// Meta settings.
    pub meta: Option<MetaInput>,
    /// The Chatwoot desk; without it (or Rocket.Chat), the built-in console.
    pub chatwoot: Option<ChatwootInput>,
    /// The Rocket.Chat desk.
    pub rocketchat: Option<RocketChatInput>,
    /// Business hours.
    pub business_hours: Option<BusinessHours>,
    /// Minutes before a waiting customer is told nobody is free.
    pub desk_wait_minutes: Option<u32>,
    /// Urgent-handoff alerts.
    pub alerts: Option<AlertInput>,
    /// The CRM leads are pushed to.
    pub crm: Option<CrmInput>,
    /// Templates by name.
    #[serde(default)]
    pub templates: BTreeMap<String, TemplateRef>,
    /// Whether the web chat may reach this tenant (default false: off until the tenant turns it
    /// on, since a public chat spends model calls and desk time).
    pub webchat_enabled: Option<bool>,
    /// Ready answers for the console's agents.
    #[serde(default)]
    pub canned_replies: Vec<CannedReply>,
    /// The assistant's persona, tools, models and limits.
    #[serde(default)]
    pub assistant: AssistantSettings,
}

/// Changes to a tenant, as `PATCH /admin/tenants/{id}` receives them. Absent fields are kept;
/// `null` clears optional ones.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// Display name.
    pub name: Option<String>,
    /// Company name.
    pub company_name: Option<String>,
    /// Greeting; `null` returns to the default.
    #[serde(default, deserialize_with = "double_option")]
    pub welcome_message: Option<Option<String>>,
    /// Business language.
    pub language: Option<String>,
    /// Twilio settings; `null` removes the channel.
    #[serde(default, deserialize_with = "double_option")]
    pub twilio: Option<Option<TwilioInput>>,
    /// Meta settings; `null` removes the channel.
    #[serde(default, deserialize_with = "double_option")]
    pub meta: Option<Option<MetaInput>>,
    /// Chatwoot settings; `null` returns the tenant to the built-in console.
    #[serde(default, deserialize_with = "double_option")]
    pub chatwoot: Option<Option<ChatwootInput>>,
    /// Rocket.Chat settings; `null` removes the desk.
    #[serde(default, deserialize_with = "double_option")]
    pub rocketchat: Option<Option<RocketChatInput>>,
    /// Business hours; `null` means always open.
    #[serde(default, deserialize_with = "double_option")]
    pub business_hours: Option<Option<BusinessHours>>,
    /// Changes to the assistant settings as a JSON merge patch (RFC 7396): the fields given are
    /// set, a `null` field returns to its default, the rest are kept; `null` for the whole
    /// object returns every setting to its default.
    #[serde(default, deserialize_with = "double_option")]
    pub assistant: Option<Option<serde_json::Value>>,
    /// Wait before the "nobody is free" notice; `null` returns to the deployment default.
    #[serde(default, deserialize_with = "double_option")]
    pub desk_wait_minutes: Option<Option<u32>>,
    /// Alerts; `null` turns them off.
    #[serde(default, deserialize_with = "double_option")]
    pub alerts: Option<Option<AlertInput>>,
    /// CRM; `null` stops pushing leads.
    #[serde(default, deserialize_with = "double_option")]
    pub crm: Option<Option<CrmInput>>,
    /// Templates: replaces the whole set when present.
    pub templates: Option<BTreeMap<String, TemplateRef>>,
    /// Web chat switch.
    pub webchat_enabled: Option<bool>,
    /// The console's ready answers: replaces the whole set when present.
    pub canned_replies: Option<Vec<CannedReply>>,
}

impl TenantPatch {
    /// The fields this patch sets that change who can reach the tenant and how (channels and
    /// their secrets, desks, alerts, the CRM, the business's name): an owner's to change. The
    /// rest — welcome, language, hours, the assistant, templates, the web chat switch — is the
    /// bot's behaviour, an editor's.
    pub fn owner_fields(&self) -> Vec<&'static str> {
        [
            ("name", self.name.is_some()),
            ("company_name", self.company_name.is_some()),
            ("twilio", self.twilio.is_some()),
            ("meta", self.meta.is_some()),
            ("chatwoot", self.chatwoot.is_some()),
            ("rocketchat", self.rocketchat.is_some()),
            ("alerts", self.alerts.is_some()),
            ("crm", self.crm.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, set)| set.then_some(field))
        .collect()
    }
}

fn required<T>(value: Option<T>, field: &'static str) -> Result<T, ValidationError> {
    value.ok_or_else(|| ValidationError::new(field, "is required"))
}

/// Applies a JSON merge patch to a tenant's assistant settings: a script that changes the persona
/// does not turn off the satisfaction question it never mentioned.
fn merge_assistant(
    current: &AssistantSettings,
    changes: serde_json::Value,
) -> Result<AssistantSettings, ValidationError> {
    if !changes.is_object() {
        return Err(ValidationError::new(
            "assistant",
            "must be an object of the settings to change, or null",
        ));
    }
    let mut settings = serde_json::to_value(current)
        .map_err(|e| ValidationError::new("assistant", e.to_string()))?;
    merge_patch(&mut settings, changes);
    serde_json::from_value(settings).map_err(|e| ValidationError::new("assistant", e.to_string()))
}

/// RFC 7396: objects merge key by key, `null` removes a key, anything else replaces.
fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    use serde_json::Value;
    let Value::Object(changes) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(fields) = target {
        for (key, value) in changes {
            if value.is_null() {
                fields.remove(&key);
            } else {
                merge_patch(fields.entry(key).or_insert(Value::Null), value);
            }
        }
    }
}

fn merge_twilio(
    current: Option<&TwilioSettings>,
    input: TwilioInput,
) -> Result<TwilioSettings, ValidationError> {
    let number = match input.whatsapp_number {
        Some(n) => Some(PhoneNumber::parse(&n)?),
        None => current.map(|c| c.whatsapp_number.clone()),
    };
    Ok(TwilioSettings {
        account_sid: required(
            input
                .account_sid
                .or_else(|| current.map(|c| c.account_sid.clone())),
            "twilio.account_sid",
        )?,
        auth_token: required(
            input
                .auth_token
                .or_else(|| current.map(|c| c.auth_token.clone())),
            "twilio.auth_token",
        )?,
        whatsapp_number: required(number, "twilio.whatsapp_number")?,
        messaging_service_sid: match input.messaging_service_sid {
            Some(value) => value,
            None => current.and_then(|c| c.messaging_service_sid.clone()),
        },
    })
}

fn merge_meta(
    current: Option<&MetaSettings>,
    input: MetaInput,
) -> Result<MetaSettings, ValidationError> {
    Ok(MetaSettings {
        phone_number_id: required(
            input
                .phone_number_id
                .or_else(|| current.map(|c| c.phone_number_id.clone())),
            "meta.phone_number_id",
        )?,
        access_token: required(
            input
                .access_token
                .or_else(|| current.map(|c| c.access_token.clone())),
            "meta.access_token",
        )?,
        app_secret: required(
            input
                .app_secret
                .or_else(|| current.map(|c| c.app_secret.clone())),
            "meta.app_secret",
        )?,
        verify_token: required(
            input
                .verify_token
                .or_else(|| current.map(|c| c.verify_token.clone())),
            "meta.verify_token",
        )?,
    })
}

fn merge_chatwoot(
    current: Option<&ChatwootSettings>,
    input: ChatwootInput,
) -> Result<ChatwootSettings, ValidationError> {
    Ok(ChatwootSettings {
        base_url: required(
            input
                .base_url
                .or_else(|| current.map(|c| c.base_url.clone())),
            "chatwoot.base_url",
        )?,
        account_id: required(
            input.account_id.or_else(|| current.map(|c| c.account_id)),
            "chatwoot.account_id",
        )?,
        inbox_id: required(
            input.inbox_id.or_else(|| current.map(|c| c.inbox_id)),
            "chatwoot.inbox_id",
        )?,
        api_token: required(
            input
                .api_token
                .or_else(|| current.map(|c| c.api_token.clone())),
            "chatwoot.api_token",
        )?,
        webhook_secret: required(
            input
                .webhook_secret
                .or_else(|| current.map(|c| c.webhook_secret.clone())),
            "chatwoot.webhook_secret",
        )?,
    })
}

fn merge_rocketchat(
    current: Option<&RocketChatSettings>,
    input: RocketChatInput,
) -> Result<RocketChatSettings, ValidationError> {
    Ok(RocketChatSettings {
        base_url: required(
            input
                .base_url
                .or_else(|| current.map(|c| c.base_url.clone())),
            "rocketchat.base_url",
        )?,
        department: match input.department {
            Some(value) => value,
            None => current.and_then(|c| c.department.clone()),
        },
        outgoing_token: required(
            input
                .outgoing_token
                .or_else(|| current.map(|c| c.outgoing_token.clone())),
            "rocketchat.outgoing_token",
        )?,
        livechat_secret: match input.livechat_secret {
            Some(value) => value,
            None => current.and_then(|c| c.livechat_secret.clone()),
        },
    })
}

fn merge_alerts(
    current: Option<&AlertSettings>,
    input: AlertInput,
) -> Result<AlertSettings, ValidationError> {
    Ok(AlertSettings {
        webhook_url: required(
            input
                .webhook_url
                .or_else(|| current.map(|c| c.webhook_url.clone())),
            "alerts.webhook_url",
        )?,
        every_handoff: input
            .every_handoff
            .or_else(|| current.map(|c| c.every_handoff))
            .unwrap_or(false),
    })
}

fn merge_crm(
    current: Option<&CrmSettings>,
    input: CrmInput,
) -> Result<CrmSettings, ValidationError> {
    Ok(CrmSettings {
        webhook_url: required(
            input
                .webhook_url
                .or_else(|| current.map(|c| c.webhook_url.clone())),
            "crm.webhook_url",
        )?,
        signing_secret: required(
            input
                .signing_secret
                .or_else(|| current.map(|c| c.signing_secret.clone())),
            "crm.signing_secret",
        )?,
    })
}

/// Tenant onboarding.
pub struct TenantAdmin {
    store: Arc<dyn TenantStore>,
    index: Arc<dyn KeywordIndex>,
    clock: Arc<dyn Clock>,
    allow_private_urls: bool,
    media: Option<Arc<dyn atiende_ports::MediaStore>>,
}

/// The URLs atiende calls on the tenant's behalf, with the setting each comes from.
fn outbound_urls(tenant: &Tenant) -> Vec<(&'static str, String)> {
    use secrecy::ExposeSecret;
    let mut urls = Vec::new();
    if let Some(c) = &tenant.chatwoot {
        urls.push(("chatwoot.base_url", c.base_url.clone()));
    }
    if let Some(r) = &tenant.rocketchat {
        urls.push(("rocketchat.base_url", r.base_url.clone()));
    }
    if let Some(a) = &tenant.alerts {
        urls.push((
            "alerts.webhook_url",
            a.webhook_url.expose_secret().to_owned(),
        ));
    }
    if let Some(c) = &tenant.crm {
        urls.push(("crm.webhook_url", c.webhook_url.clone()));
    }
    urls
}

impl TenantAdmin {
    /// Builds the use case.
    pub fn new(
        store: Arc<dyn TenantStore>,
        index: Arc<dyn KeywordIndex>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            index,
            clock,
            allow_private_urls: false,
            media: None,
        }
    }

    /// Deletes a deleted tenant's media files from `store` too.
    #[must_use]
    pub fn with_media(mut self, store: Arc<dyn atiende_ports::MediaStore>) -> Self {
        self.media = Some(store);
        self
    }

    /// Lets tenants' desk, alert and CRM URLs name private and local addresses: for tests, and
    /// for a desk on the same private network as atiende (`allow_private_urls`).
    #[must_use]
    pub fn allowing_private_urls(mut self, allow: bool) -> Self {
        self.allow_private_urls = allow;
        self
    }

    /// Validates `tenant`, including that the URLs atiende will call for it are public.
    fn check(&self, tenant: &Tenant) -> Result<(), AppError> {
        tenant.validate()?;
        if !self.allow_private_urls {
            for (setting, url) in outbound_urls(tenant) {
                if let Some(why) = atiende_domain::address::private_host(&url) {
                    return Err(atiende_domain::ValidationError::new(
                        setting,
                        format!("must point at a public address: {why}"),
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    /// Turns a [`NewTenant`] into a validated [`Tenant`] without storing it.
    pub fn build(&self, input: NewTenant) -> Result<Tenant, AppError> {
        let now = self.clock.now();
        let tenant = Tenant {
            id: TenantId::parse(input.id)?,
            company_name: input.company_name.unwrap_or_else(|| input.name.clone()),
            name: input.name,
            welcome_message: input.welcome_message.filter(|w| !w.trim().is_empty()),
            language: input
                .language
                .as_deref()
                .map(Locale::parse)
                .transpose()?
                .unwrap_or_default(),
            twilio: input.twilio.map(|t| merge_twilio(None, t)).transpose()?,
            meta: input.meta.map(|m| merge_meta(None, m)).transpose()?,
            chatwoot: input
                .chatwoot
                .map(|c| merge_chatwoot(None, c))
                .transpose()?,
            rocketchat: input
                .rocketchat
                .map(|r| merge_rocketchat(None, r))
                .transpose()?,
            business_hours: input.business_hours,
            desk_wait_minutes: input.desk_wait_minutes,
            alerts: input.alerts.map(|a| merge_alerts(None, a)).transpose()?,
            crm: input.crm.map(|c| merge_crm(None, c)).transpose()?,
            templates: input.templates,
            // Off until the tenant turns it on: a public chat costs model calls and desk time.
            webchat_enabled: input.webchat_enabled.unwrap_or(false),
            canned_replies: input.canned_replies,
            assistant: input.assistant,
            created_at: now,
            updated_at: now,
        };
        self.check(&tenant)?;
        Ok(tenant)
    }

    /// Creates a tenant.
    pub async fn create(&self, input: NewTenant) -> Result<Arc<Tenant>, AppError> {
        let tenant = self.build(input)?;
        self.store.create(&tenant).await?;
        Ok(Arc::new(tenant))
    }

    /// Creates a tenant, or replaces the configuration of an existing one (used to load the
    /// demo tenant at start without clobbering its creation date).
    pub async fn upsert(&self, input: NewTenant) -> Result<Arc<Tenant>, AppError> {
        let mut tenant = self.build(input)?;
        match self.store.get(&tenant.id).await? {
            Some(existing) => {
                tenant.created_at = existing.created_at;
                self.store.update(&tenant).await?;
            }
            None => self.store.create(&tenant).await?,
        }
        Ok(Arc::new(tenant))
    }

    /// The tenant with `id`.
    pub async fn get(&self, id: &str) -> Result<Arc<Tenant>, AppError> {
        let id = TenantId::parse(id)?;
        self.store
            .get(&id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("tenant {id}")))
    }

    /// Every tenant.
    pub async fn list(&self) -> Result<Vec<Arc<Tenant>>, AppError> {
        Ok(self.store.list().await?)
    }

    /// Applies `patch` to a tenant.
    pub async fn update(&self, id: &str, patch: TenantPatch) -> Result<Arc<Tenant>, AppError> {
        let current = self.get(id).await?;
        let mut tenant = (*current).clone();
        if let Some(name) = patch.name {
            tenant.name = name;
        }
        if let Some(company) = patch.company_name {
            tenant.company_name = company;
        }
        if let Some(welcome) = patch.welcome_message {
            tenant.welcome_message = welcome.filter(|w| !w.trim().is_empty());
        }
        if let Some(language) = patch.language {
            tenant.language = Locale::parse(&language)?;
        }
        if let Some(twilio) = patch.twilio {
            tenant.twilio = twilio
                .map(|t| merge_twilio(current.twilio.as_ref(), t))
                .transpose()?;
        }
        if let Some(meta) = patch.meta {
            tenant.meta = meta
                .map(|m| merge_meta(current.meta.as_ref(), m))
                .transpose()?;
        }
        if let Some(chatwoot) = patch.chatwoot {
            tenant.chatwoot = chatwoot
                .map(|c| merge_chatwoot(current.chatwoot.as_ref(), c))
                .transpose()?;
        }
        if let Some(rocketchat) = patch.rocketchat {
            tenant.rocketchat = rocketchat
                .map(|r| merge_rocketchat(current.rocketchat.as_ref(), r))
                .transpose()?;
        }
        if let Some(hours) = patch.business_hours {
            tenant.business_hours = hours;
        }
        if let Some(assistant) = patch.assistant {
            tenant.assistant = match assistant {
                None => AssistantSettings::default(),
                Some(changes) => merge_assistant(&current.assistant, changes)?,
            };
        }
        if let Some(wait) = patch.desk_wait_minutes {
            tenant.desk_wait_minutes = wait;
        }
        if let Some(alerts) = patch.alerts {
            tenant.alerts = alerts
                .map(|a| merge_alerts(current.alerts.as_ref(), a))
                .transpose()?;
        }
        if let Some(crm) = patch.crm {
            tenant.crm = crm
                .map(|c| merge_crm(current.crm.as_ref(), c))
                .transpose()?;
        }
        if let Some(templates) = patch.templates {
            tenant.templates = templates;
        }
        if let Some(webchat) = patch.webchat_enabled {
            tenant.webchat_enabled = webchat;
        }
        if let Some(replies) = patch.canned_replies {
            tenant.canned_replies = replies;
        }
        tenant.updated_at = self.clock.now();
        self.check(&tenant)?;
        self.store.update(&tenant).await?;
        Ok(Arc::new(tenant))
    }

    /// Deletes a tenant, its index and its media files.
    pub async fn delete(&self, id: &str) -> Result<(), AppError> {
        let id = TenantId::parse(id)?;
        if !self.store.delete(&id).await? {
            return Err(AppError::NotFound(format!("tenant {id}")));
        }
        self.index.forget_tenant(&id).await?;
        if let Some(media) = &self.media {
            media.forget_tenant(&id).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_assistant_patch_changes_only_what_it_names() {
        let current = AssistantSettings {
            csat: false,
            monthly_budget_usd: Some(5.0),
            suggestions: vec!["¿Tienen cemento?".into()],
            ..AssistantSettings::default()
        };
        let changed = merge_assistant(
            &current,
            json!({ "persona": "Tutea al cliente.", "monthly_budget_usd": null, "suggestions": [] }),
        )
        .unwrap();
        assert_eq!(changed.persona.as_deref(), Some("Tutea al cliente."));
        assert!(!changed.csat, "a setting the patch does not name is kept");
        assert_eq!(
            changed.monthly_budget_usd, None,
            "null returns to the default"
        );
        assert!(changed.suggestions.is_empty(), "arrays are replaced whole");
    }

    #[test]
    fn an_assistant_patch_that_is_not_settings_is_refused() {
        let current = AssistantSettings::default();
        for bad in [
            json!("llm"),
            json!({ "llm": "yes" }),
            json!({ "colour": "red" }),
        ] {
            let error = merge_assistant(&current, bad.clone()).unwrap_err();
            assert_eq!(error.field, "assistant", "{bad}");
        }
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // The examples of RFC 7396 §3 that apply to objects.
        let mut doc = json!({ "a": "b", "c": { "d": "e", "f": "g" } });
        merge_patch(&mut doc, json!({ "a": "z", "c": { "f": null } }));
        assert_eq!(doc, json!({ "a": "z", "c": { "d": "e" } }));
        let mut doc = json!({ "a": ["b"] });
        merge_patch(&mut doc, json!({ "a": { "b": "c" } }));
        assert_eq!(doc, json!({ "a": { "b": "c" } }));
        let mut doc = json!({ "e": null });
        merge_patch(&mut doc, json!({ "a": 1 }));
        assert_eq!(doc, json!({ "e": null, "a": 1 }));
    }
}
