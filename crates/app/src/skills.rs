//! Skills without the model: the deterministic driver of the assistant's tools.
//!
//! When no language model answers (none configured, the tenant turned it off, its budget is
//! spent, or every provider failed), a customer who asks for an account's status, a quote or to
//! be contacted still gets it done. [`atiende_domain::skill`] reads the request from the words;
//! the same [`ToolRunner`] the model calls does the work — one implementation, with its
//! authorization, two drivers — and this module writes the reply in the customer's language and
//! tells the processor what else to do (hand off a large quote, push a finished lead).

use std::sync::Arc;

use atiende_domain::{
    Conversation, HandoffReason, Locale, Tenant, TicketNumber,
    assistant::{AssistantSettings, ToolName},
    i18n::SystemText,
    knowledge::money,
    skill::{self, PendingSkill, Request},
};
use atiende_ports::AccountStore;

use crate::{
    AppError,
    engine::tools::{AccountLookup, Quote, ToolRunner},
    knowledge::KnowledgeService,
};

/// What a skill did with the customer's message.
#[derive(Debug, Clone, PartialEq)]
pub enum SkillOutcome {
    /// Send this reply.
    Reply(String),
    /// Send this reply, then hand the conversation to a person under `ticket`.
    HandOff {
        /// The reply (the quote).
        text: String,
        /// Why.
        reason: HandoffReason,
        /// The case number the reply already gave the customer.
        ticket: TicketNumber,
    },
    /// The lead is complete: send this reply and give the lead to the team.
    Lead(String),
}

/// The tools' deterministic driver.
pub struct Skills {
    knowledge: Arc<KnowledgeService>,
    accounts: Arc<dyn AccountStore>,
}

impl Skills {
    /// Skills over the tenant's knowledge (the catalog) and credit accounts.
    pub fn new(knowledge: Arc<KnowledgeService>, accounts: Arc<dyn AccountStore>) -> Self {
        Self {
            knowledge,
            accounts,
        }
    }

    /// Runs the skill `body` asks for, or continues the guided exchange waiting for it;
    /// `None` when the message is not a request (the knowledge answers it).
    pub async fn run(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        body: &str,
        locale: Locale,
        cause: &str,
    ) -> Result<Option<SkillOutcome>, AppError> {
        let offered = &tenant.assistant;
        let request = skill::recognize(body);
        // A guided exchange goes on unless the customer moved on to something else.
        if let Some(step) = conversation.skill.take()
            && request.is_none()
            && !skill::is_new_question(body)
        {
            let outcome = match step {
                PendingSkill::AccountNumber => match skill::find_account_number(body) {
                    Some(number) => Some(
                        self.account(tenant, conversation, &number, locale, cause)
                            .await?,
                    ),
                    None => None,
                },
                PendingSkill::QuoteItems => {
                    let lines = skill::quote_lines(body);
                    if lines.is_empty() {
                        None
                    } else {
                        Some(
                            self.quote(tenant, conversation, &lines, locale, cause)
                                .await?,
                        )
                    }
                }
                PendingSkill::LeadName | PendingSkill::LeadEmail | PendingSkill::LeadNeed => {
                    let read = skill::read_lead_answer(step, body, &mut conversation.lead);
                    Some(lead_step(conversation, locale, (!read).then_some(step)))
                }
            };
            if outcome.is_some() {
                return Ok(outcome);
            }
        }
        let Some(request) = request else {
            return Ok(None);
        };
        Ok(match request {
            Request::AccountStatus { number } if offered.offers(ToolName::EstadoDeCuenta) => {
                match number {
                    Some(number) => Some(
                        self.account(tenant, conversation, &number, locale, cause)
                            .await?,
                    ),
                    None => {
                        conversation.skill = Some(PendingSkill::AccountNumber);
                        Some(SkillOutcome::Reply(
                            SystemText::AskAccountNumber.render(locale),
                        ))
                    }
                }
            }
            Request::Quote { lines } if offered.offers(ToolName::SolicitarCotizacion) => {
                if lines.is_empty() {
                    conversation.skill = Some(PendingSkill::QuoteItems);
                    Some(SkillOutcome::Reply(
                        SystemText::AskQuoteItems.render(locale),
                    ))
                } else {
                    Some(
                        self.quote(tenant, conversation, &lines, locale, cause)
                            .await?,
                    )
                }
            }
            Request::Contact if offered.offers(ToolName::RegistrarLead) => {
                if conversation.lead.name.is_none() {
                    conversation.lead.name = conversation.contact.profile_name.clone();
                }
                if conversation.lead.problem_statement.is_none() {
                    // "Quiero que me contacten para una compra grande": the reason is the need.
                    skill::read_lead_answer(PendingSkill::LeadNeed, body, &mut conversation.lead);
                }
                Some(lead_step(conversation, locale, None))
            }
            Request::AccountStatus { .. } | Request::Quote { .. } | Request::Contact => None,
        })
    }

    fn runner<'a>(
        &'a self,
        tenant: &'a Tenant,
        conversation: &'a Conversation,
        cause: &'a str,
        offered: &'a AssistantSettings,
    ) -> ToolRunner<'a> {
        ToolRunner {
            tenant,
            conversation,
            knowledge: &self.knowledge,
            accounts: &self.accounts,
            cause,
            offered,
        }
    }

    async fn account(
        &self,
        tenant: &Tenant,
        conversation: &Conversation,
        number: &str,
        locale: Locale,
        cause: &str,
    ) -> Result<SkillOutcome, AppError> {
        let runner = self.runner(tenant, conversation, cause, &tenant.assistant);
        let text = match runner.lookup_account(number).await? {
            AccountLookup::Authorized(account) => {
                let due = account.due.map(|d| d.to_string());
                SystemText::AccountStatus {
                    number: &account.number,
                    holder: &account.holder,
                    status: &account.status,
                    balance: &money(account.balance, "DOP"),
                    limit: &money(account.limit, "DOP"),
                    due: due.as_deref(),
                }
                .render(locale)
            }
            AccountLookup::Refused => SystemText::AccountRefused.render(locale),
        };
        Ok(SkillOutcome::Reply(text))
    }

    async fn quote(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        lines: &[skill::QuoteLine],
        locale: Locale,
        cause: &str,
    ) -> Result<SkillOutcome, AppError> {
        let requested: Vec<(String, f64)> = lines
            .iter()
            .map(|l| (l.product.clone(), l.quantity))
            .collect();
        let quote = self
            .runner(tenant, conversation, cause, &tenant.assistant)
            .request_quote(&requested)
            .await
            .map_err(|e| AppError::Validation(atiende_domain::ValidationError::new("quote", e)))?;
        let body = render_quote(&quote, locale);
        if quote.needs_person {
            let text = format!("{body}\n\n{}", SystemText::QuoteNeedsPerson.render(locale));
            return Ok(SkillOutcome::HandOff {
                text,
                reason: HandoffReason::BusinessRule,
                ticket: quote.ticket,
            });
        }
        // A "yes" to the offer hands off, as for any offer of a person.
        conversation.handoff_offered = true;
        Ok(SkillOutcome::Reply(format!(
            "{body}\n\n{}",
            SystemText::QuoteOffer.render(locale)
        )))
    }
}

/// The quote's lines and total, one paragraph.
fn render_quote(quote: &Quote, locale: Locale) -> String {
    let mut out = SystemText::QuoteHeader {
        ticket: quote.ticket.as_str(),
    }
    .render(locale);
    for line in &quote.lines {
        out.push_str("\n• ");
        match &line.product {
            Some(p) => {
                out.push_str(&format!(
                    "{} × *{}* ({}) = {}",
                    group(line.quantity),
                    p.name,
                    p.price_display(),
                    money(line.subtotal(), &p.currency)
                ));
                if !line.alternatives.is_empty() {
                    let or = if locale == Locale::Es { " o " } else { " or " };
                    let list = line
                        .alternatives
                        .iter()
                        .map(|a| format!("*{}* ({})", a.name, a.price_display()))
                        .collect::<Vec<_>>()
                        .join(or);
                    out.push(' ');
                    out.push_str(&SystemText::QuoteAlternatives { list: &list }.render(locale));
                }
            }
            None => out.push_str(
                &SystemText::QuoteItemMissing {
                    item: &line.requested,
                }
                .render(locale),
            ),
        }
    }
    if let Some(currency) = &quote.currency {
        out.push('\n');
        out.push_str(
            &SystemText::QuoteTotal {
                total: &money(quote.total, currency),
            }
            .render(locale),
        );
    }
    out
}

/// A quantity without a needless ".0".
fn group(quantity: f64) -> String {
    if quantity.fract() == 0.0 {
        format!("{quantity:.0}")
    } else {
        format!("{quantity}")
    }
}

/// Asks for the next missing lead field (again, for `retry`), or finishes the lead.
fn lead_step(
    conversation: &mut Conversation,
    locale: Locale,
    retry: Option<PendingSkill>,
) -> SkillOutcome {
    let lead = &conversation.lead;
    let next = retry.or_else(|| skill::next_lead_step(lead));
    conversation.skill = next;
    let name = lead.name.as_deref().unwrap_or_default();
    match next {
        Some(PendingSkill::LeadName) => SkillOutcome::Reply(SystemText::LeadAskName.render(locale)),
        Some(PendingSkill::LeadEmail) => SkillOutcome::Reply(
            SystemText::LeadAskEmail {
                name,
                again: retry.is_some(),
            }
            .render(locale),
        ),
        Some(PendingSkill::LeadNeed) => SkillOutcome::Reply(SystemText::LeadAskNeed.render(locale)),
        Some(PendingSkill::AccountNumber | PendingSkill::QuoteItems) | None => SkillOutcome::Lead(
            SystemText::LeadDone {
                name,
                email: lead.email.as_deref().unwrap_or_default(),
            }
            .render(locale),
        ),
    }
}
