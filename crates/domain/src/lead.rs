//! A lead: what the tenant's CRM receives about a customer a person should follow up.
//!
//! The payload is the seeds' (lead-capture-blueprint §3.1): contact info, business context, a
//! short problem statement and an urgency level, with field names and values as written there,
//! plus where it came from (tenant, conversation, ticket) so the CRM can link back. Its id
//! derives from the conversation and the ticket, so a lead pushed twice — a retry, a redelivery —
//! is recognizably the same lead at the CRM.
//!
//! Until the conversation engine extracts leads from free conversation, every handoff is one:
//! the customer asked for (or needed) a person, and their contact and words are all there. An
//! e-mail address the customer wrote is picked up from the transcript.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Author, ContactIdentity, ConversationId, HandoffPacket, HandoffReason, TenantId};

/// How urgent the follow-up is (the seeds' `urgency_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Urgency {
    /// `Alto`.
    #[serde(rename = "Alto")]
    High,
    /// `Medio`.
    #[serde(rename = "Medio")]
    Medium,
    /// `Bajo`.
    #[serde(rename = "Bajo")]
    Low,
}

impl Urgency {
    /// The urgency of a handoff for `reason`: a customer who asked for a person, or whom the
    /// bot failed several times, is waiting on someone now.
    pub fn of_handoff(reason: HandoffReason) -> Self {
        match reason {
            HandoffReason::CustomerRequested
            | HandoffReason::RepeatedFallback
            | HandoffReason::RepeatedQuestion
            | HandoffReason::NegativeSentiment
            | HandoffReason::HighPriority
            | HandoffReason::ModelUnavailable => Self::High,
            HandoffReason::AcceptedOffer
            | HandoffReason::NeedsHumanReview
            | HandoffReason::LowConfidence
            | HandoffReason::ModelRequested
            | HandoffReason::BusinessRule => Self::Medium,
        }
    }
}

/// The seeds' `phone_or_username`: the number, or the username on channels without one.
fn phone_or_username(identity: &ContactIdentity) -> String {
    match identity {
        ContactIdentity::Phone(phone) => phone.as_str().to_owned(),
        ContactIdentity::User(user) => user.as_str().to_owned(),
    }
}

/// `contact_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactInfo {
    /// The customer's name as the channel gave it.
    pub name: String,
    /// `+18095551010`, or the username on channels without phone numbers.
    pub phone_or_username: String,
    /// An address the customer wrote, if any.
    pub email: Option<String>,
}

/// `business_context`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessContext {
    /// The customer's company, when known.
    pub company_name: Option<String>,
    /// `Ventas | Soporte | Facturación | Otro`.
    pub interest_area: String,
}

/// The lead payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    /// Stable per conversation and ticket.
    pub lead_id: String,
    /// Who.
    pub contact_info: ContactInfo,
    /// Their business.
    pub business_context: BusinessContext,
    /// What they need, in their words.
    pub problem_statement: String,
    /// How soon.
    pub urgency_level: Urgency,
    /// The tenant.
    pub tenant: TenantId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The ticket the customer was given.
    pub ticket: String,
    /// When it was captured.
    pub captured_at: DateTime<Utc>,
    /// The ad or post the customer came from (click-to-WhatsApp), when they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::Referral>,
}

impl Lead {
    /// Fills the lead with what the customer told the assistant (their name, e-mail, company,
    /// interest and need win over what the channel and the transcript suggested).
    pub fn enrich(&mut self, fields: &crate::turn::LeadFields) {
        if let Some(name) = &fields.name {
            self.contact_info.name.clone_from(name);
        }
        if fields.email.is_some() {
            self.contact_info.email.clone_from(&fields.email);
        }
        if fields.company.is_some() {
            self.business_context
                .company_name
                .clone_from(&fields.company);
        }
        if let Some(area) = &fields.interest_area {
            self.business_context.interest_area.clone_from(area);
        }
        if let Some(need) = &fields.problem_statement {
            self.problem_statement.clone_from(need);
        }
    }

    /// The lead the assistant captured with `registrar_lead`: the customer's own fields, their
    /// contact as the channel knows it, and the turn's ticket.
    pub fn from_fields(
        tenant: &TenantId,
        conversation: &crate::Conversation,
        fields: &crate::turn::LeadFields,
        ticket: &crate::TicketNumber,
        urgency: Urgency,
        now: DateTime<Utc>,
    ) -> Self {
        let contact = &conversation.contact;
        let phone_or_username = phone_or_username(&contact.identity);
        let name = fields
            .name
            .clone()
            .or_else(|| contact.profile_name.clone())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| phone_or_username.clone());
        Self {
            lead_id: format!("lead-{}", ticket.as_str().trim_start_matches("T-")),
            contact_info: ContactInfo {
                name,
                phone_or_username,
                email: fields.email.clone(),
            },
            business_context: BusinessContext {
                company_name: fields.company.clone(),
                interest_area: fields
                    .interest_area
                    .clone()
                    .unwrap_or_else(|| "Otro".to_owned()),
            },
            problem_statement: fields.problem_statement.clone().unwrap_or_default(),
            urgency_level: urgency,
            tenant: tenant.clone(),
            conversation_id: conversation.id.clone(),
            ticket: ticket.as_str().to_owned(),
            captured_at: now,
            source: conversation.referral.clone(),
        }
    }

    /// The lead a handoff of `conversation` amounts to.
    pub fn from_handoff(
        tenant: &TenantId,
        conversation: &ConversationId,
        packet: &HandoffPacket,
    ) -> Self {
        let email = packet
            .transcript
            .iter()
            .rev()
            .filter(|t| t.author == Author::Customer)
            .find_map(|t| find_email(&t.text));
        let phone_or_username = phone_or_username(&packet.contact.identity);
        // WhatsApp profile names can be blank; the CRM still needs something to show.
        let name = packet
            .contact
            .profile_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map_or_else(|| phone_or_username.clone(), str::to_owned);
        Self {
            lead_id: format!("lead-{}", packet.ticket.as_str().trim_start_matches("T-")),
            contact_info: ContactInfo {
                name,
                phone_or_username,
                email,
            },
            business_context: BusinessContext {
                company_name: None,
                interest_area: "Otro".to_owned(),
            },
            problem_statement: packet.summary.clone(),
            urgency_level: Urgency::of_handoff(packet.reason),
            tenant: tenant.clone(),
            conversation_id: conversation.clone(),
            ticket: packet.ticket.as_str().to_owned(),
            captured_at: packet.requested_at,
            source: packet.referral.clone(),
        }
    }
}

/// The first plausible e-mail address in `text` (local part, one `@`, a dotted domain).
pub fn find_email(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '(' | ')'))
        .map(|w| w.trim_matches(|c: char| matches!(c, '.' | ':' | '"' | '\'')))
        .find(|w| is_email(w))
        .map(str::to_lowercase)
}

/// Whether `word` is an e-mail address (one `@`, a dotted domain of valid labels).
pub fn is_email(word: &str) -> bool {
    let Some((local, domain)) = word.split_once('@') else {
        return false;
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
    };
    !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
        && domain.contains('.')
        && domain.len() <= 253
        && domain.split('.').all(label_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_found_in_what_customers_write() {
        assert_eq!(
            find_email("mi correo es Ana.Perez@Ferreteria.com.do, gracias"),
            Some("ana.perez@ferreteria.com.do".to_owned())
        );
        assert_eq!(
            find_email("escríbeme a <ana+obra@example.com>."),
            Some("ana+obra@example.com".to_owned())
        );
        for text in [
            "sin correo",
            "ana@localhost",
            "@ana",
            "ana@@x.com",
            "a@-x.com",
        ] {
            assert_eq!(find_email(text), None, "{text}");
        }
    }

    #[test]
    fn urgency_and_field_names_follow_the_seeds() {
        assert_eq!(
            Urgency::of_handoff(HandoffReason::CustomerRequested),
            Urgency::High
        );
        assert_eq!(
            serde_json::to_value(Urgency::Medium).unwrap(),
            serde_json::json!("Medio")
        );
    }
}
