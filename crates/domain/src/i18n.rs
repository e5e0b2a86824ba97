//! Every sentence the bot writes on its own, in each language it speaks.
//!
//! Knowledge passages are quoted as the tenant wrote them; everything else the customer reads
//! from the bot comes from here, in the conversation's language.

use crate::{Locale, MediaKind};

/// A message the bot writes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemText<'a> {
    /// The default greeting, when the tenant configured none for this language.
    Welcome {
        /// The business's name.
        company: &'a str,
    },
    /// The reply to thanks.
    YouAreWelcome,
    /// The bot found nothing that answers; it offers a person.
    DontKnow {
        /// The business's name.
        company: &'a str,
    },
    /// Several questions in a row went unanswered: the bot says so and asks outright whether
    /// the customer wants a person.
    AskForPerson {
        /// The business's name.
        company: &'a str,
    },
    /// The customer declined the offer of a person.
    OfferDeclined,
    /// The conversation goes to a person.
    HandoffNotice {
        /// The business's name.
        company: &'a str,
        /// The ticket the customer can quote.
        ticket: &'a str,
    },
    /// No language model could answer: the conversation goes to a person, with an apology.
    ModelUnavailable {
        /// The business's name.
        company: &'a str,
        /// The ticket the customer can quote.
        ticket: &'a str,
    },
    /// Nobody took a handed-off conversation in time.
    NobodyAvailable {
        /// The ticket the customer was given.
        ticket: &'a str,
    },
    /// The conversation goes to a person, but the team is out of hours.
    OutsideHours {
        /// The ticket the customer can quote.
        ticket: &'a str,
        /// The business hours, described in the customer's language.
        hours: &'a str,
    },
    /// An agent registered the customer's case.
    TicketCreated {
        /// The ticket number.
        ticket: &'a str,
    },
    /// An agent closed the customer's case; the bot answers again.
    TicketClosed {
        /// The ticket number.
        ticket: &'a str,
    },
    /// After a person resolved the conversation: how was it?
    CsatQuestion,
    /// The customer rated the service.
    CsatThanks,
    /// The customer sent media the bot cannot read; it is kept for a person.
    MediaReceived {
        /// What was sent.
        kind: MediaKind,
    },
    /// The customer shared a location; it is kept for a person.
    LocationReceived,
    /// The customer sent content the bot cannot read.
    UnsupportedReceived,
    /// The customer submitted a form (a WhatsApp Flow); its answers are kept for a person.
    FormReceived,
    /// The question that closes an answer.
    AnythingElse,
    /// The label before a price.
    Price,
    /// "{n} available at {branch}".
    InStock {
        /// Units in stock.
        count: i64,
        /// Where (empty when the catalog does not say).
        branch: &'a str,
    },
    /// "Out of stock at {branch} right now".
    OutOfStock {
        /// Where (empty when the catalog does not say).
        branch: &'a str,
    },
    /// The label before a product's unit ("per").
    Per,
    /// The customer wrote in a language the bot does not speak.
    LanguageNotServed,
    /// Before a passage quoted in another language than the reply's.
    QuotingIn {
        /// The passage's language.
        language: Locale,
    },
    /// The bot needs the account number to look an account up.
    AskAccountNumber,
    /// An account's status, told to the number registered on it.
    AccountStatus {
        /// The account number.
        number: &'a str,
        /// Who holds it.
        holder: &'a str,
        /// `al día`, `atrasada`…
        status: &'a str,
        /// What is owed, formatted.
        balance: &'a str,
        /// The credit limit, formatted.
        limit: &'a str,
        /// When it is due (`YYYY-MM-DD`), if it is.
        due: Option<&'a str>,
    },
    /// The one answer for an account that does not exist or is not the asker's.
    AccountRefused,
    /// The bot needs the items and quantities of a quote.
    AskQuoteItems,
    /// The first line of a quote.
    QuoteHeader {
        /// The case number.
        ticket: &'a str,
    },
    /// Other products that fit an item of a quote as well as the one priced.
    QuoteAlternatives {
        /// The products, named with their prices.
        list: &'a str,
    },
    /// An item of a quote the catalog does not have.
    QuoteItemMissing {
        /// The item as the customer named it.
        item: &'a str,
    },
    /// The quote's estimated total.
    QuoteTotal {
        /// The total, formatted.
        total: &'a str,
    },
    /// A quote under the tenant's amount: a person may confirm it.
    QuoteOffer,
    /// A quote above the tenant's amount: a person confirms it.
    QuoteNeedsPerson,
    /// Lead capture: the customer's name.
    LeadAskName,
    /// Lead capture: an e-mail address (again, when the last one did not read as one).
    LeadAskEmail {
        /// The customer's name.
        name: &'a str,
        /// The last answer was not an e-mail address.
        again: bool,
    },
    /// Lead capture: what the customer needs.
    LeadAskNeed,
    /// Lead capture: done, the team will write.
    LeadDone {
        /// The customer's name.
        name: &'a str,
        /// Their e-mail.
        email: &'a str,
    },
}

impl SystemText<'_> {
    /// The text in `locale`.
    pub fn render(&self, locale: Locale) -> String {
        match (self, locale) {
            (Self::Welcome { company }, Locale::Es) => {
                format!("¡Hola! Soy el asistente virtual de *{company}*. ¿En qué te puedo ayudar?")
            }
            (Self::Welcome { company }, Locale::En) => {
                format!("Hi! I'm the virtual assistant of *{company}*. How can I help you?")
            }
            (Self::YouAreWelcome, Locale::Es) => {
                "¡Con gusto! ¿Hay algo más en lo que te pueda ayudar?".to_owned()
            }
            (Self::YouAreWelcome, Locale::En) => {
                "You're welcome! Is there anything else I can help you with?".to_owned()
            }
            (Self::DontKnow { company }, Locale::Es) => format!(
                "No encontré esa información en lo que sé de {company}. ¿Quieres que te comunique con una persona del equipo?"
            ),
            (Self::DontKnow { company }, Locale::En) => format!(
                "I couldn't find that in what I know about {company}. Would you like me to connect you with a person from the team?"
            ),
            (Self::AskForPerson { company }, Locale::Es) => format!(
                "Tampoco encontré eso, y ya van varias preguntas que no he podido responder. ¿Te comunico con una persona del equipo de {company}? Responde *sí* o *no*."
            ),
            (Self::AskForPerson { company }, Locale::En) => format!(
                "I couldn't find that either, and several of your questions have gone unanswered. Shall I connect you with a person from the {company} team? Reply *yes* or *no*."
            ),
            (Self::OfferDeclined, Locale::Es) => {
                "De acuerdo. ¿En qué más te puedo ayudar?".to_owned()
            }
            (Self::OfferDeclined, Locale::En) => {
                "All right. What else can I help you with?".to_owned()
            }
            (Self::HandoffNotice { company, ticket }, Locale::Es) => format!(
                "Te comunico con una persona del equipo de {company}. Te responderá por este mismo chat en cuanto esté disponible. Tu número de caso es *{ticket}*."
            ),
            (Self::HandoffNotice { company, ticket }, Locale::En) => format!(
                "I'm passing you to a person from the {company} team. They will answer in this same chat as soon as they are available. Your case number is *{ticket}*."
            ),
            (Self::ModelUnavailable { company, ticket }, Locale::Es) => format!(
                "Disculpa, tengo un problema técnico para responderte en este momento. Te comunico con una persona del equipo de {company}, que te responderá por este mismo chat. Tu número de caso es *{ticket}*."
            ),
            (Self::ModelUnavailable { company, ticket }, Locale::En) => format!(
                "Sorry, I'm having a technical problem answering you right now. I'm passing you to a person from the {company} team, who will answer in this same chat. Your case number is *{ticket}*."
            ),
            (Self::NobodyAvailable { ticket }, Locale::Es) => format!(
                "Nuestro equipo está ocupado en este momento. Tu caso *{ticket}* queda registrado y una persona te escribirá por este chat en cuanto pueda. Si prefieres que te llamemos o te escribamos a un correo, déjanos aquí tu número o tu email."
            ),
            (Self::NobodyAvailable { ticket }, Locale::En) => format!(
                "Our team is busy right now. Your case *{ticket}* is registered and a person will write to you in this chat as soon as they can. If you would rather be called or emailed, leave your number or email here."
            ),
            (Self::OutsideHours { ticket, hours }, Locale::Es) => format!(
                "Ahora mismo estamos fuera de nuestro horario de atención ({hours}). Tu caso *{ticket}* queda registrado y una persona del equipo te escribirá por este chat en cuanto abramos. Si prefieres que te contactemos por otro medio, déjanos aquí tu número o tu email."
            ),
            (Self::OutsideHours { ticket, hours }, Locale::En) => format!(
                "We are outside our opening hours right now ({hours}). Your case *{ticket}* is registered and a person from the team will write to you in this chat as soon as we open. If you would rather be contacted another way, leave your number or email here."
            ),
            (Self::TicketCreated { ticket }, Locale::Es) => format!(
                "Registramos tu caso con el número *{ticket}*. Una persona del equipo le da seguimiento por este chat."
            ),
            (Self::TicketCreated { ticket }, Locale::En) => format!(
                "We registered your case as *{ticket}*. A person from the team is following it up in this chat."
            ),
            (Self::TicketClosed { ticket }, Locale::Es) => format!(
                "Tu caso *{ticket}* quedó cerrado. Si necesitas algo más, escríbenos por aquí."
            ),
            (Self::TicketClosed { ticket }, Locale::En) => format!(
                "Your case *{ticket}* is closed. If you need anything else, write to us here."
            ),
            (Self::CsatQuestion, Locale::Es) => "¿Cómo calificarías la atención que recibiste? Responde con un número del *1* (mala) al *5* (excelente).".to_owned(),
            (Self::CsatQuestion, Locale::En) => "How would you rate the help you got? Reply with a number from *1* (poor) to *5* (excellent).".to_owned(),
            (Self::CsatThanks, Locale::Es) => "¡Gracias por tu calificación! Nos ayuda a atenderte mejor.".to_owned(),
            (Self::CsatThanks, Locale::En) => "Thank you for your rating! It helps us serve you better.".to_owned(),
            (Self::MediaReceived { kind }, Locale::Es) => format!(
                "Recibí tu {}. ¿Me cuentas por escrito en qué te ayudo? Si prefieres, te comunico con una persona del equipo que lo pueda ver.",
                media_name_es(*kind)
            ),
            (Self::MediaReceived { kind }, Locale::En) => format!(
                "I received your {}. Could you tell me in writing how I can help? If you prefer, I can connect you with a person from the team who can look at it.",
                media_name_en(*kind)
            ),
            (Self::LocationReceived, Locale::Es) => {
                "Recibí tu ubicación y la guardé para el equipo. ¿En qué te puedo ayudar?".to_owned()
            }
            (Self::LocationReceived, Locale::En) => {
                "I received your location and saved it for the team. How can I help you?".to_owned()
            }
            (Self::UnsupportedReceived, Locale::Es) => {
                "Recibí tu mensaje, pero solo puedo leer texto. Lo guardé para que una persona del equipo lo revise. ¿Me cuentas por escrito en qué te ayudo?".to_owned()
            }
            (Self::UnsupportedReceived, Locale::En) => {
                "I received your message, but I can only read text. I saved it for a person from the team to review. Could you tell me in writing how I can help?".to_owned()
            }
            (Self::FormReceived, Locale::Es) => {
                "Recibí tus respuestas y las guardé para el equipo. ¿Te ayudo con algo más?".to_owned()
            }
            (Self::FormReceived, Locale::En) => {
                "I received your answers and saved them for the team. Can I help you with anything else?".to_owned()
            }
            (Self::AnythingElse, Locale::Es) => "¿Te ayudo con algo más?".to_owned(),
            (Self::AnythingElse, Locale::En) => "Can I help you with anything else?".to_owned(),
            (Self::Price, Locale::Es) => "Precio".to_owned(),
            (Self::Price, Locale::En) => "Price".to_owned(),
            (Self::InStock { count, branch: "" }, Locale::Es) => format!("{count} disponibles"),
            (Self::InStock { count, branch: "" }, Locale::En) => format!("{count} in stock"),
            (Self::InStock { count, branch }, Locale::Es) => {
                format!("{count} disponibles en sucursal {branch}")
            }
            (Self::InStock { count, branch }, Locale::En) => {
                format!("{count} in stock at the {branch} branch")
            }
            (Self::OutOfStock { branch: "" }, Locale::Es) => "agotado por ahora".to_owned(),
            (Self::OutOfStock { branch: "" }, Locale::En) => "out of stock right now".to_owned(),
            (Self::OutOfStock { branch }, Locale::Es) => {
                format!("agotado por ahora en sucursal {branch}")
            }
            (Self::OutOfStock { branch }, Locale::En) => {
                format!("out of stock at the {branch} branch right now")
            }
            (Self::Per, Locale::Es) => "por".to_owned(),
            (Self::Per, Locale::En) => "per".to_owned(),
            (Self::LanguageNotServed, Locale::Es) => {
                "Disculpa, por ahora solo puedo atenderte en español o en inglés. ¿Me escribes en uno de los dos?".to_owned()
            }
            (Self::LanguageNotServed, Locale::En) => {
                "Sorry, for now I can only help you in English or Spanish. Could you write in one of them?".to_owned()
            }
            (Self::QuotingIn { language }, Locale::Es) => format!(
                "Esto dice nuestra información (en {}):",
                match language {
                    Locale::Es => "español",
                    Locale::En => "inglés",
                }
            ),
            (Self::QuotingIn { language }, Locale::En) => format!(
                "This is what our information says (in {}):",
                match language {
                    Locale::Es => "Spanish",
                    Locale::En => "English",
                }
            ),
            (Self::AskAccountNumber, Locale::Es) => {
                "Con gusto. ¿Cuál es el número de tu cuenta? Por seguridad solo lo informo al número de WhatsApp registrado en ella.".to_owned()
            }
            (Self::AskAccountNumber, Locale::En) => {
                "Sure. What is your account number? For security I can only share it with the WhatsApp number registered on the account.".to_owned()
            }
            (
                Self::AccountStatus {
                    number,
                    holder,
                    status,
                    balance,
                    limit,
                    due,
                },
                Locale::Es,
            ) => {
                let due = due.map_or_else(String::new, |d| format!(" Vence el {d}."));
                format!(
                    "Cuenta *{number}* ({holder}): estado *{status}*. Balance {balance} de un límite de {limit}.{due}"
                )
            }
            (
                Self::AccountStatus {
                    number,
                    holder,
                    status,
                    balance,
                    limit,
                    due,
                },
                Locale::En,
            ) => {
                let due = due.map_or_else(String::new, |d| format!(" Due on {d}."));
                format!(
                    "Account *{number}* ({holder}): status *{status}*. Balance {balance} of a {limit} limit.{due}"
                )
            }
            (Self::AccountRefused, Locale::Es) => {
                "Por seguridad, el estado de cuenta solo se informa al número de WhatsApp registrado en la cuenta, y solo si la cuenta existe. Si es tuya, escríbenos desde ese número o pide hablar con una persona.".to_owned()
            }
            (Self::AccountRefused, Locale::En) => {
                "For security, an account's status is only shared with the WhatsApp number registered on it, and only if the account exists. If it is yours, write from that number or ask for a person.".to_owned()
            }
            (Self::AskQuoteItems, Locale::Es) => {
                "Con gusto te cotizo. ¿Qué productos y cuántos de cada uno? Por ejemplo: 20 fundas de cemento gris, 10 varillas de 3/8.".to_owned()
            }
            (Self::AskQuoteItems, Locale::En) => {
                "Happy to quote. Which products, and how many of each? For example: 20 bags of gray cement, 10 rebars 3/8.".to_owned()
            }
            (Self::QuoteHeader { ticket }, Locale::Es) => format!("Cotización *{ticket}*:"),
            (Self::QuoteHeader { ticket }, Locale::En) => format!("Quote *{ticket}*:"),
            (Self::QuoteAlternatives { list }, Locale::Es) => {
                format!("(si era {list}, pídemelo con ese nombre)")
            }
            (Self::QuoteAlternatives { list }, Locale::En) => {
                format!("(if you meant {list}, ask for it by that name)")
            }
            (Self::QuoteItemMissing { item }, Locale::Es) => {
                format!("{item}: no lo encontré en el catálogo")
            }
            (Self::QuoteItemMissing { item }, Locale::En) => {
                format!("{item}: not found in the catalog")
            }
            (Self::QuoteTotal { total }, Locale::Es) => format!("Total estimado: *{total}*."),
            (Self::QuoteTotal { total }, Locale::En) => format!("Estimated total: *{total}*."),
            (Self::QuoteOffer, Locale::Es) => {
                "¿Quieres que una persona del equipo la confirme y coordine la entrega?".to_owned()
            }
            (Self::QuoteOffer, Locale::En) => {
                "Would you like a person from the team to confirm it and arrange delivery?".to_owned()
            }
            (Self::QuoteNeedsPerson, Locale::Es) => {
                "Por el monto, una persona del equipo la revisa y te confirma precio final y entrega.".to_owned()
            }
            (Self::QuoteNeedsPerson, Locale::En) => {
                "Given the amount, a person from the team will review it and confirm the final price and delivery.".to_owned()
            }
            (Self::LeadAskName, Locale::Es) => {
                "Con gusto te contactamos. ¿Cuál es tu nombre?".to_owned()
            }
            (Self::LeadAskName, Locale::En) => {
                "We'll be glad to contact you. What is your name?".to_owned()
            }
            (Self::LeadAskEmail { name, again: false }, Locale::Es) => {
                format!("Gracias, {name}. ¿A qué correo electrónico te escribimos?")
            }
            (Self::LeadAskEmail { name, again: false }, Locale::En) => {
                format!("Thanks, {name}. Which e-mail address should we write to?")
            }
            (Self::LeadAskEmail { again: true, .. }, Locale::Es) => {
                "No pude leer un correo en tu mensaje. ¿Me lo escribes de nuevo? (por ejemplo, ana@ejemplo.com)".to_owned()
            }
            (Self::LeadAskEmail { again: true, .. }, Locale::En) => {
                "I couldn't read an e-mail address in your message. Could you write it again? (for example, ana@example.com)".to_owned()
            }
            (Self::LeadAskNeed, Locale::Es) => {
                "¿Y en qué te podemos ayudar? Cuéntame en una o dos líneas.".to_owned()
            }
            (Self::LeadAskNeed, Locale::En) => {
                "And what can we help you with? Tell me in a line or two.".to_owned()
            }
            (Self::LeadDone { name, email }, Locale::Es) => format!(
                "Listo, {name}. Le pasé tus datos al equipo y te escribirán a {email}."
            ),
            (Self::LeadDone { name, email }, Locale::En) => format!(
                "Done, {name}. I passed your details to the team and they will write to {email}."
            ),
        }
    }
}

fn media_name_es(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "imagen",
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
        MediaKind::Document => "documento",
        MediaKind::Sticker => "sticker",
        MediaKind::Other => "archivo",
    }
}

fn media_name_en(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Audio => "audio message",
        MediaKind::Video => "video",
        MediaKind::Document => "document",
        MediaKind::Sticker => "sticker",
        MediaKind::Other => "file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_texts_speak_the_requested_language() {
        let es = SystemText::DontKnow {
            company: "El Progreso",
        }
        .render(Locale::Es);
        let en = SystemText::DontKnow {
            company: "El Progreso",
        }
        .render(Locale::En);
        assert!(es.contains("persona") && es.ends_with('?'));
        assert!(en.contains("person") && en.ends_with('?'));
        assert!(
            SystemText::MediaReceived {
                kind: MediaKind::Audio
            }
            .render(Locale::Es)
            .contains("audio")
        );
    }
}
