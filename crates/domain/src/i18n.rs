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
                "Recibí tu {}. Por ahora solo leo texto, así que lo guardé para que una persona del equipo lo revise. ¿Me cuentas por escrito en qué te ayudo?",
                media_name_es(*kind)
            ),
            (Self::MediaReceived { kind }, Locale::En) => format!(
                "I received your {}. For now I can only read text, so I saved it for a person from the team to review. Could you tell me in writing how I can help?",
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
