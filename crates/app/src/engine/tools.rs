//! The assistant's tools: what the model may ask the engine to do, and the checks the engine
//! makes itself before doing it.
//!
//! The model only *asks*; authorization is code. An account's status goes only to the WhatsApp
//! number registered on the account, whatever the model or the customer says. Arguments are
//! validated (a malformed call gets an error result the model can correct, never a panic), and
//! the effects that leave the turn — a lead for the CRM, a quote ticket, a request for a person —
//! are collected in [`Effects`] for the processor to act on.

use std::sync::Arc;

use atiende_domain::{
    Channel, ContactIdentity, Conversation, Tenant, TicketNumber,
    assistant::{Account, AssistantSettings, ToolName, TracedTool, account_digits},
    knowledge::{PassageKind, Product},
    lead::is_email,
    mask,
    turn::LeadFields,
};
use atiende_ports::{AccountStore, ToolCall, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{AppError, knowledge::KnowledgeService};

/// How many products a lookup returns.
const MAX_PRODUCTS: usize = 5;
/// The least relevance a product must have to be offered as a match.
const MIN_PRODUCT_RELEVANCE: f32 = 0.3;

/// What the turn's tool calls asked for beyond their results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// `escalar_a_humano` was called, with this reason.
    pub handoff: Option<String>,
    /// A business rule asks for a person (a quote above the tenant's amount).
    pub business_rule: bool,
    /// `registrar_lead` captured these fields.
    pub lead: Option<LeadFields>,
    /// The ticket a quote request was given.
    pub quote_ticket: Option<TicketNumber>,
    /// At least one tool answered with data (the reply may rest on it, not on passages).
    pub grounded: bool,
}

/// The JSON schemas of the tools `settings` offers.
pub fn specs(settings: &AssistantSettings) -> Vec<ToolSpec> {
    ToolName::ALL
        .into_iter()
        .filter(|t| settings.offers(*t))
        .map(spec)
        .collect()
}

fn spec(tool: ToolName) -> ToolSpec {
    let (description, parameters) = match tool {
        ToolName::BuscarProducto => (
            "Busca productos del catálogo por nombre o SKU y devuelve precio, existencia y sucursal. Úsala para toda pregunta de precio o disponibilidad.",
            json!({"type": "object", "properties": {
                "consulta": {"type": "string", "description": "nombre, descripción o SKU del producto"}},
                "required": ["consulta"]}),
        ),
        ToolName::EstadoDeCuenta => (
            "Consulta el estado de una cuenta de crédito por su número. Solo se informa al número de WhatsApp registrado en la cuenta; el sistema lo verifica.",
            json!({"type": "object", "properties": {
                "cuenta": {"type": "string", "description": "número de cuenta tal como lo escribió el cliente"}},
                "required": ["cuenta"]}),
        ),
        ToolName::SolicitarCotizacion => (
            "Registra una solicitud de cotización y devuelve el número de caso y un total estimado con los precios del catálogo.",
            json!({"type": "object", "properties": {
                "productos": {"type": "array", "items": {"type": "object", "properties": {
                    "producto": {"type": "string", "description": "nombre o SKU"},
                    "cantidad": {"type": "number"}}, "required": ["producto", "cantidad"]}},
                "notas": {"type": "string"}},
                "required": ["productos"]}),
        ),
        ToolName::RegistrarLead => (
            "Registra los datos de un cliente interesado para que ventas o soporte lo contacte. Pide antes nombre y correo.",
            json!({"type": "object", "properties": {
                "nombre": {"type": "string"},
                "email": {"type": "string"},
                "empresa": {"type": "string"},
                "area_interes": {"type": "string", "enum": ["Ventas", "Soporte", "Facturación", "Otro"]},
                "problema": {"type": "string", "description": "resumen de 2-3 líneas de lo que necesita"}},
                "required": ["nombre", "email", "area_interes", "problema"]}),
        ),
        ToolName::EscalarAHumano => (
            "Pasa la conversación a una persona del equipo. Úsala cuando el cliente lo pida, esté molesto o el caso lo requiera.",
            json!({"type": "object", "properties": {
                "motivo": {"type": "string"}}, "required": ["motivo"]}),
        ),
    };
    ToolSpec {
        name: tool.as_str().to_owned(),
        description: description.to_owned(),
        parameters,
    }
}

/// What a tool run needs.
pub struct ToolRunner<'a> {
    /// The tenant.
    pub tenant: &'a Tenant,
    /// The conversation (its contact is who asks).
    pub conversation: &'a Conversation,
    /// The tenant's knowledge (the catalog).
    pub knowledge: &'a Arc<KnowledgeService>,
    /// The tenant's credit accounts.
    pub accounts: &'a Arc<dyn AccountStore>,
    /// What caused the turn (for stable ticket numbers).
    pub cause: &'a str,
    /// The tools offered on this turn (fewer than the tenant's on a suspicious turn); a call
    /// of any other is refused, whatever the model wrote.
    pub offered: &'a AssistantSettings,
}

#[derive(Deserialize)]
struct ProductArgs {
    consulta: String,
}

#[derive(Deserialize)]
struct AccountArgs {
    cuenta: Value,
}

#[derive(Deserialize)]
struct QuoteLine {
    producto: String,
    cantidad: f64,
}

#[derive(Deserialize)]
struct QuoteArgs {
    productos: Vec<QuoteLine>,
    #[serde(default)]
    notas: Option<String>,
}

#[derive(Deserialize)]
struct LeadArgs {
    nombre: String,
    email: String,
    #[serde(default)]
    empresa: Option<String>,
    area_interes: String,
    problema: String,
}

#[derive(Deserialize)]
struct EscalateArgs {
    #[serde(default)]
    motivo: String,
}

fn parse<T: for<'de> Deserialize<'de>>(call: &ToolCall) -> Result<T, String> {
    serde_json::from_str(&call.arguments).map_err(|e| format!("argumentos inválidos: {e}"))
}

impl ToolRunner<'_> {
    /// Runs `call`, returning its result for the model and its trace entry.
    pub async fn run(&self, call: &ToolCall, effects: &mut Effects) -> (String, TracedTool) {
        let tool = ToolName::parse(&call.name).filter(|t| self.offered.offers(*t));
        let (result, outcome) = match tool {
            None => (
                json!({"error": format!("la herramienta {:?} no existe", call.name)}),
                "invalid",
            ),
            Some(tool) => match self.dispatch(tool, call, effects).await {
                Ok((value, outcome)) => (value, outcome),
                Err(message) => (json!({"error": message}), "invalid"),
            },
        };
        let trace = TracedTool {
            name: call.name.clone(),
            arguments: mask::free_text(&call.arguments),
            outcome: outcome.to_owned(),
        };
        (result.to_string(), trace)
    }

    async fn dispatch(
        &self,
        tool: ToolName,
        call: &ToolCall,
        effects: &mut Effects,
    ) -> Result<(Value, &'static str), String> {
        match tool {
            ToolName::BuscarProducto => {
                let args: ProductArgs = parse(call)?;
                let found = self.products(&args.consulta).await?;
                if !found.is_empty() {
                    effects.grounded = true;
                }
                Ok((json!({"productos": found}), "ok"))
            }
            ToolName::EstadoDeCuenta => {
                let args: AccountArgs = parse(call)?;
                let raw = args
                    .cuenta
                    .as_str()
                    .map_or_else(|| args.cuenta.to_string(), str::to_owned);
                self.account_status(&account_digits(&raw), effects).await
            }
            ToolName::SolicitarCotizacion => {
                let args: QuoteArgs = parse(call)?;
                self.quote(args, effects).await
            }
            ToolName::RegistrarLead => {
                let args: LeadArgs = parse(call)?;
                if !is_email(args.email.trim()) {
                    return Err(format!(
                        "{:?} no es un correo válido: pídeselo de nuevo al cliente",
                        args.email
                    ));
                }
                if args.nombre.trim().is_empty() || args.problema.trim().is_empty() {
                    return Err("faltan el nombre o el problema".to_owned());
                }
                effects.lead = Some(LeadFields {
                    name: Some(args.nombre.trim().to_owned()),
                    email: Some(args.email.trim().to_owned()),
                    company: args.empresa.filter(|e| !e.trim().is_empty()),
                    interest_area: Some(args.area_interes),
                    problem_statement: Some(args.problema.trim().to_owned()),
                });
                effects.grounded = true;
                Ok((json!({"registrado": true}), "ok"))
            }
            ToolName::EscalarAHumano => {
                let args: EscalateArgs = parse(call)?;
                effects.handoff = Some(args.motivo);
                Ok((
                    json!({"ok": true, "nota": "una persona tomará la conversación"}),
                    "ok",
                ))
            }
        }
    }

    async fn products(&self, query: &str) -> Result<Vec<Value>, String> {
        Ok(self
            .find_products(query)
            .await?
            .into_iter()
            .map(|found| {
                let p = &found.product;
                json!({"id": found.id, "sku": p.sku, "nombre": p.name, "precio": p.price,
                    "moneda": p.currency, "unidad": p.unit, "existencia": p.stock,
                    "sucursal": p.branch})
            })
            .collect())
    }

    /// The catalog products matching `query` (name, description or SKU), an exact SKU first,
    /// then by relevance; at most [`MAX_PRODUCTS`].
    pub async fn find_products(&self, query: &str) -> Result<Vec<FoundProduct>, String> {
        let query = query.trim();
        if query.is_empty() || query.chars().count() > 200 {
            return Err("la consulta debe tener entre 1 y 200 caracteres".to_owned());
        }
        let hits = self
            .knowledge
            .search(&self.tenant.id, query, 20)
            .await
            .map_err(|e| format!("búsqueda no disponible: {e}"))?;
        let sku = query.to_uppercase();
        let mut products: Vec<(bool, FoundProduct)> = hits
            .iter()
            .filter(|h| h.passage.kind == PassageKind::Product)
            .filter_map(|h| h.passage.product.as_ref().map(|p| (h, p)))
            .filter(|(h, p)| p.sku == sku || h.relevance >= MIN_PRODUCT_RELEVANCE)
            .map(|(h, p)| {
                (
                    p.sku == sku,
                    FoundProduct {
                        id: h.passage.id.clone(),
                        product: p.clone(),
                        relevance: h.relevance,
                    },
                )
            })
            .collect();
        products.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.relevance.total_cmp(&a.1.relevance)));
        Ok(products
            .into_iter()
            .take(MAX_PRODUCTS)
            .map(|(_, found)| found)
            .collect())
    }

    async fn account_status(
        &self,
        number: &str,
        effects: &mut Effects,
    ) -> Result<(Value, &'static str), String> {
        if !(4..=12).contains(&number.len()) {
            return Err("el número de cuenta debe tener entre 4 y 12 dígitos".to_owned());
        }
        let lookup = self
            .lookup_account(number)
            .await
            .map_err(|e| format!("cuentas no disponibles: {e}"))?;
        match lookup {
            AccountLookup::Refused => Ok((
                json!({"autorizado": false, "motivo": "Por seguridad el estado de cuenta solo se informa al número de WhatsApp registrado en la cuenta, y solo si la cuenta existe."}),
                "refused",
            )),
            AccountLookup::Authorized(account) => {
                effects.grounded = true;
                Ok((
                    json!({"autorizado": true, "cuenta": account.number, "titular": account.holder,
                        "estado": account.status, "balance": account.balance, "limite": account.limit,
                        "vence": account.due}),
                    "ok",
                ))
            }
        }
    }

    /// The account numbered `number` (digits), if the person writing may see it. Errors are
    /// the store's (a number of the wrong length is simply nobody's account).
    pub async fn lookup_account(&self, number: &str) -> Result<AccountLookup, AppError> {
        if !(4..=12).contains(&number.len()) {
            return Ok(AccountLookup::Refused);
        }
        let account = self.accounts.account(&self.tenant.id, number).await?;
        // An account that does not exist and one that is not the asker's get the same answer,
        // word for word: a different one would let anyone enumerate account numbers.
        Ok(match account.filter(|a| self.asker_owns(&a.whatsapp)) {
            Some(account) => AccountLookup::Authorized(account),
            None => AccountLookup::Refused,
        })
    }

    /// Whether the person writing is the account's registered WhatsApp number: only on a
    /// WhatsApp channel, where the provider (not the customer) says who writes.
    fn asker_owns(&self, registered: &atiende_domain::PhoneNumber) -> bool {
        let whatsapp = matches!(
            self.conversation.channel,
            Channel::TwilioWhatsApp | Channel::MetaWhatsApp
        );
        let contact = &self.conversation.contact;
        let phone = match &contact.identity {
            ContactIdentity::Phone(phone) => Some(phone),
            ContactIdentity::User(_) => contact.phone.as_ref(),
        };
        whatsapp && phone == Some(registered)
    }

    async fn quote(
        &self,
        args: QuoteArgs,
        effects: &mut Effects,
    ) -> Result<(Value, &'static str), String> {
        let requested: Vec<(String, f64)> = args
            .productos
            .iter()
            .map(|l| (l.producto.clone(), l.cantidad))
            .collect();
        let quote = self.request_quote(&requested).await?;
        effects.business_rule |= quote.needs_person;
        effects.quote_ticket = Some(quote.ticket.clone());
        effects.grounded = true;
        let mut lines: Vec<Value> = quote
            .lines
            .iter()
            .map(|line| match &line.product {
                None => json!({"producto": line.requested, "encontrado": false}),
                Some(p) => json!({"producto": p.name, "sku": p.sku, "cantidad": line.quantity,
                    "precio": p.price, "subtotal": line.subtotal(),
                    "alternativas": line.alternatives.iter()
                        .map(|a| json!({"producto": a.name, "sku": a.sku, "precio": a.price}))
                        .collect::<Vec<_>>()}),
            })
            .collect();
        if let Some(notes) = args.notas.filter(|n| !n.trim().is_empty()) {
            lines.push(json!({"notas": notes}));
        }
        Ok((
            json!({"caso": quote.ticket.as_str(), "total_estimado": quote.total,
                "moneda": quote.currency, "lineas": lines, "requiere_asesor": quote.needs_person}),
            "ok",
        ))
    }

    /// Prices `requested` (product as named, quantity) from the catalog under a quote ticket;
    /// above the tenant's amount the quote needs a person.
    pub async fn request_quote(&self, requested: &[(String, f64)]) -> Result<Quote, String> {
        if requested.is_empty() || requested.len() > 50 {
            return Err("indica entre 1 y 50 productos".to_owned());
        }
        let mut lines = Vec::new();
        let mut total = 0.0;
        let mut currency = None;
        for (name, quantity) in requested {
            if !(*quantity > 0.0 && *quantity <= 1_000_000.0) {
                return Err(format!("cantidad inválida para {name:?}"));
            }
            let mut found = self.find_products(name).await?.into_iter();
            let best = found.next();
            // Products the words fit nearly as well ("cemento": gray or white) are named beside
            // the one priced, so the customer can correct it rather than trust a guess.
            let alternatives: Vec<Product> = best
                .as_ref()
                .map(|top| {
                    found
                        .filter(|f| f.relevance >= top.relevance - ALTERNATIVE_MARGIN)
                        .take(MAX_ALTERNATIVES)
                        .map(|f| f.product)
                        .collect()
                })
                .unwrap_or_default();
            let product = best.map(|found| found.product);
            if let Some(p) = &product {
                total += p.price * quantity;
                currency = Some(p.currency.clone());
            }
            lines.push(QuotedLine {
                requested: name.clone(),
                quantity: *quantity,
                product,
                alternatives,
            });
        }
        let ticket =
            TicketNumber::for_handoff(&self.conversation.id, &format!("quote:{}", self.cause));
        let needs_person = self
            .tenant
            .assistant
            .quote_handoff_above
            .is_some_and(|limit| total > limit);
        Ok(Quote {
            ticket,
            lines,
            total,
            currency,
            needs_person,
        })
    }
}

/// A catalog product a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundProduct {
    /// Its passage id.
    pub id: String,
    /// The product.
    pub product: Product,
    /// Its relevance to the query.
    pub relevance: f32,
}

/// What an account lookup may tell the person writing.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountLookup {
    /// The account, because the person writes from its registered WhatsApp number.
    Authorized(Account),
    /// Nothing: the account does not exist or is not theirs (one answer for both).
    Refused,
}

/// A priced quote request.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// The case number the customer can quote.
    pub ticket: TicketNumber,
    /// Each requested item, priced when the catalog has it.
    pub lines: Vec<QuotedLine>,
    /// The estimated total of the priced items.
    pub total: f64,
    /// The catalog's currency of the priced items.
    pub currency: Option<String>,
    /// Above the tenant's amount: a person confirms it.
    pub needs_person: bool,
}

/// One item of a quote.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotedLine {
    /// The product as the customer named it.
    pub requested: String,
    /// How many.
    pub quantity: f64,
    /// The catalog product it matched, if any.
    pub product: Option<Product>,
    /// Other products the words fit nearly as well, to offer instead.
    pub alternatives: Vec<Product>,
}

/// How close (in relevance) another product must come to the best to be offered beside it.
const ALTERNATIVE_MARGIN: f32 = 0.05;
/// The most alternatives named for one item.
const MAX_ALTERNATIVES: usize = 2;

impl QuotedLine {
    /// Quantity times price (0 when the item is not in the catalog).
    pub fn subtotal(&self) -> f64 {
        self.product
            .as_ref()
            .map_or(0.0, |p| p.price * self.quantity)
    }
}
