//! What a tenant can upload, and how each kind of file becomes passages.
//!
//! Three kinds of document, each chunked its own way (the seeds' chunking by type):
//! * **text** — plain text, Markdown or a PDF's text: bullets and paragraphs under their heading,
//!   long paragraphs split on sentences with one sentence of overlap;
//! * **faq** — questions with their answers, from CSV (`pregunta,respuesta` or
//!   `question,answer`) or JSON (`[{"question","answer"}]`, or `{"faqs": […]}`): one question and
//!   its answer per passage, never separated;
//! * **catalog** — products from CSV, one structured record per product: the same records the
//!   product-lookup tool answers from.
//!
//! An uploaded file's kind comes from its extension or content type, and a CSV's from its header.
//! Anything else is refused as unsupported (HTTP 415), and a file that cannot be decoded as what
//! it claims to be as invalid (400).

use atiende_domain::{
    ValidationError,
    knowledge::{FaqEntry, Passage, Product, faq_passages, product_passages, split_text_document},
};
use serde::Deserialize;

use crate::AppError;

/// The largest file accepted in an upload, in bytes (a PDF is bigger than its text).
pub const MAX_UPLOAD_FILE_BYTES: usize = 10 * 1024 * 1024;

/// What a document is, which decides how it is cut into passages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// Prose: plain text or Markdown.
    Text,
    /// Questions and answers (CSV or JSON).
    Faq,
    /// A product catalog (CSV).
    Catalog,
}

impl DocumentKind {
    /// Parses the API's name for a kind (`text`, `markdown`, `faq`, `catalog`).
    pub fn parse(name: &str) -> Result<Self, ValidationError> {
        match name {
            "text" | "markdown" => Ok(Self::Text),
            "faq" => Ok(Self::Faq),
            "catalog" => Ok(Self::Catalog),
            _ => Err(ValidationError::new(
                "kind",
                "expected text, markdown, faq or catalog",
            )),
        }
    }

    /// The kind's name, as stored and listed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Faq => "faq",
            Self::Catalog => "catalog",
        }
    }

    /// Cuts `content` into passages of document `id`.
    pub fn passages(self, id: &str, content: &str) -> Result<Vec<Passage>, ValidationError> {
        Ok(match self {
            Self::Text => split_text_document(id, content),
            Self::Faq => faq_passages(id, &parse_faq(content)?),
            Self::Catalog => product_passages(id, parse_catalog(content)?),
        })
    }
}

/// An uploaded file, before it is known to be usable.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The file's name as the client sent it (its extension decides the kind).
    pub file_name: String,
    /// The part's declared content type, if any.
    pub content_type: Option<String>,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A file turned into a document's text, kind and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The id: the file name, cleaned (re-uploading a file replaces its earlier version).
    pub id: String,
    /// The title: the file name.
    pub title: String,
    /// The kind.
    pub kind: DocumentKind,
    /// The text.
    pub content: String,
}

/// The file formats atiende reads, by extension and content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Csv,
    Json,
    Pdf,
}

impl Format {
    fn detect(file_name: &str, content_type: Option<&str>) -> Option<Self> {
        let extension = file_name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase());
        let by_extension = match extension.as_deref() {
            Some("txt" | "md" | "markdown" | "text") => Some(Self::Text),
            Some("csv") => Some(Self::Csv),
            Some("json") => Some(Self::Json),
            Some("pdf") => Some(Self::Pdf),
            _ => None,
        };
        let essence = content_type
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase());
        let by_type = match essence.as_deref() {
            Some("text/plain" | "text/markdown" | "text/x-markdown") => Some(Self::Text),
            Some("text/csv" | "application/csv") => Some(Self::Csv),
            Some("application/json") => Some(Self::Json),
            Some("application/pdf") => Some(Self::Pdf),
            _ => None,
        };
        // The extension is what people choose; a generic declared type (browsers send
        // application/octet-stream for unknown files) does not override it.
        by_extension.or(by_type)
    }
}

/// Decodes an uploaded file. `kind` forces the kind (a CSV is otherwise a catalog when it has a
/// `sku` column, or name and price columns, and an FAQ when it has question and answer columns).
///
/// Errors: [`AppError::Unsupported`] for a format atiende does not read, [`AppError::TooLarge`]
/// above [`MAX_UPLOAD_FILE_BYTES`], [`AppError::Validation`] for an empty or undecodable file.
pub fn decode_upload(upload: Upload, kind: Option<DocumentKind>) -> Result<Decoded, AppError> {
    let Upload {
        file_name,
        content_type,
        bytes,
    } = upload;
    let Some(format) = Format::detect(&file_name, content_type.as_deref()) else {
        return Err(AppError::Unsupported(format!(
            "{file_name}: upload .txt, .md, .csv, .json or .pdf files"
        )));
    };
    if bytes.len() > MAX_UPLOAD_FILE_BYTES {
        return Err(AppError::TooLarge(format!(
            "{file_name} is larger than {MAX_UPLOAD_FILE_BYTES} bytes"
        )));
    }
    let invalid = |message: String| AppError::from(ValidationError::new("file", message));
    let content = match format {
        Format::Pdf => pdf_text(&bytes).map_err(|e| invalid(format!("{file_name}: {e}")))?,
        Format::Text | Format::Csv | Format::Json => String::from_utf8(bytes)
            .map_err(|_| invalid(format!("{file_name} is not UTF-8 text")))?,
    };
    // A byte-order mark is not content.
    let content = content.trim_start_matches('\u{feff}').to_owned();
    if content.trim().is_empty() {
        return Err(invalid(format!("{file_name} has no text")));
    }
    let kind = match (kind, format) {
        (Some(kind), _) => kind,
        (None, Format::Text | Format::Pdf) => DocumentKind::Text,
        (None, Format::Json) => DocumentKind::Faq,
        (None, Format::Csv) => csv_kind(&content)
            .ok_or_else(|| invalid(format!(
                "{file_name}: a CSV needs name and price columns (catalog) or question and answer columns (faq)"
            )))?,
    };
    Ok(Decoded {
        id: id_from_file_name(&file_name),
        title: file_name,
        kind,
        content,
    })
}

/// A document id from a file name: its base name, with anything but letters, digits, `-`, `_`
/// and `.` replaced, at most 100 characters.
pub fn id_from_file_name(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let id: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(100)
        .collect();
    let id = id.trim_start_matches('.').to_owned();
    if id.is_empty() {
        "upload".to_owned()
    } else {
        id
    }
}

fn csv_kind(content: &str) -> Option<DocumentKind> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(content.as_bytes());
    let headers = reader.headers().ok()?;
    let has = |names: &[&str]| column(headers, names).is_some();
    if has(SKU) || (has(NAME) && has(PRICE)) {
        Some(DocumentKind::Catalog)
    } else if has(QUESTION) && has(ANSWER) {
        Some(DocumentKind::Faq)
    } else {
        None
    }
}

const SKU: &[&str] = &["sku", "codigo", "code"];
const NAME: &[&str] = &["nombre", "name", "producto", "product"];
const PRICE: &[&str] = &["precio", "price"];
const QUESTION: &[&str] = &["pregunta", "question", "q"];
const ANSWER: &[&str] = &["respuesta", "answer", "a"];

/// The position of the first header matching one of `names` (case-insensitive, accents and a
/// `_suffix` allowed: `precio_dop` matches `precio`).
fn column(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| {
        // Folded: lower case, no accents, `_` turned into a space.
        let h = atiende_domain::text::fold(h);
        let h = h.trim();
        names
            .iter()
            .any(|n| h == *n || h.starts_with(&format!("{n} ")))
    })
}

/// Parses FAQ entries from JSON (`[{"question","answer"}]`, Spanish keys too, or an object with
/// a `faqs`/`preguntas` array) or CSV (question and answer columns).
pub fn parse_faq(content: &str) -> Result<Vec<FaqEntry>, ValidationError> {
    let trimmed = content.trim_start();
    let entries = if trimmed.starts_with('[') || trimmed.starts_with('{') {
        parse_faq_json(trimmed)?
    } else {
        parse_faq_csv(content)?
    };
    let entries: Vec<FaqEntry> = entries
        .into_iter()
        .filter(|e| !e.question.trim().is_empty() && !e.answer.trim().is_empty())
        .collect();
    if entries.is_empty() {
        return Err(ValidationError::new(
            "faq",
            "no question with an answer was found",
        ));
    }
    Ok(entries)
}

#[derive(Deserialize)]
struct JsonFaq {
    #[serde(alias = "pregunta", alias = "q")]
    question: String,
    #[serde(alias = "respuesta", alias = "a")]
    answer: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonFaqFile {
    List(Vec<JsonFaq>),
    Wrapped {
        #[serde(alias = "preguntas", alias = "faq", alias = "items")]
        faqs: Vec<JsonFaq>,
    },
}

fn parse_faq_json(content: &str) -> Result<Vec<FaqEntry>, ValidationError> {
    let file: JsonFaqFile = serde_json::from_str(content).map_err(|e| {
        ValidationError::new(
            "faq",
            format!("expected [{{\"question\": …, \"answer\": …}}]: {e}"),
        )
    })?;
    let list = match file {
        JsonFaqFile::List(list) | JsonFaqFile::Wrapped { faqs: list } => list,
    };
    Ok(list
        .into_iter()
        .map(|f| FaqEntry {
            question: f.question,
            answer: f.answer,
        })
        .collect())
}

fn parse_faq_csv(content: &str) -> Result<Vec<FaqEntry>, ValidationError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(content.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ValidationError::new("faq", format!("unreadable header: {e}")))?
        .clone();
    let missing = || ValidationError::new("faq", "missing column pregunta/question");
    let question = column(&headers, QUESTION).ok_or_else(missing)?;
    let answer = column(&headers, ANSWER)
        .ok_or_else(|| ValidationError::new("faq", "missing column respuesta/answer"))?;
    let mut entries = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record =
            record.map_err(|e| ValidationError::new("faq", format!("row {}: {e}", line + 2)))?;
        entries.push(FaqEntry {
            question: record.get(question).unwrap_or("").to_owned(),
            answer: record.get(answer).unwrap_or("").to_owned(),
        });
    }
    Ok(entries)
}

/// Parses a product catalog in CSV. Headers may be Spanish or English: `nombre|name` and
/// `precio|precio_dop|price[_xxx]` are required; `sku|codigo`, `categoria|category`,
/// `unidad|unit`, `existencia|stock` and `sucursal|branch` are optional; a `moneda|currency` column or a `_xxx` suffix on the price
/// header gives the currency (default `DOP`).
pub fn parse_catalog(csv_text: &str) -> Result<Vec<Product>, ValidationError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(csv_text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ValidationError::new("catalog", format!("unreadable header: {e}")))?
        .clone();
    let find = |names: &[&str]| column(&headers, names);
    let col = |names: &[&str], what: &'static str| {
        find(names).ok_or_else(|| ValidationError::new("catalog", format!("missing column {what}")))
    };
    let sku = find(SKU);
    let name = col(NAME, "nombre/name")?;
    let price = col(PRICE, "precio/price")?;
    let category = find(&["categoria", "category"]);
    let unit = find(&["unidad", "unit"]);
    let stock = find(&["existencia", "stock", "inventario"]);
    let branch = find(&["sucursal", "branch", "almacen"]);
    let currency_col = find(&["moneda", "currency"]);
    let header_currency = headers
        .get(price)
        .and_then(|h| h.rsplit_once('_'))
        .map(|(_, c)| c.to_ascii_uppercase())
        .filter(|c| c.len() == 3);

    let mut products = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record
            .map_err(|e| ValidationError::new("catalog", format!("row {}: {e}", line + 2)))?;
        let get = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").to_owned();
        let price_text = get(Some(price)).replace([',', '$'], "");
        let product = Product {
            sku: get(sku),
            name: get(Some(name)),
            category: get(category),
            price: price_text.parse().map_err(|_| {
                ValidationError::new(
                    "catalog",
                    format!("row {}: price is not a number", line + 2),
                )
            })?,
            currency: currency_col
                .map(|c| get(Some(c)).to_ascii_uppercase())
                .filter(|c| !c.is_empty())
                .or_else(|| header_currency.clone())
                .unwrap_or_else(|| "DOP".to_owned()),
            unit: get(unit),
            stock: stock.and_then(|_| get(stock).parse().ok()),
            branch: get(branch),
        };
        product.validate()?;
        products.push(product);
    }
    if products.is_empty() {
        return Err(ValidationError::new("catalog", "no product rows"));
    }
    Ok(products)
}

/// The text of a PDF, page by page. PDF parsers meet malformed files in the wild and some panic
/// on them; a panic here is caught and reported as an undecodable file, never a crash.
#[cfg(feature = "pdf")]
fn pdf_text(bytes: &[u8]) -> Result<String, String> {
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| "the PDF could not be read".to_owned())?
        .map_err(|e| format!("the PDF could not be read: {e}"))?;
    // Pages become paragraphs; hyphenation and line breaks inside a paragraph are PDF layout,
    // which the text chunker treats as a paragraph's lines.
    Ok(pages
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n"))
}

#[cfg(not(feature = "pdf"))]
fn pdf_text(_: &[u8]) -> Result<String, String> {
    Err("this build of atiende reads no PDF (built without the `pdf` feature)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(name: &str, content_type: Option<&str>, bytes: &[u8]) -> Upload {
        Upload {
            file_name: name.into(),
            content_type: content_type.map(str::to_owned),
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn spanish_catalogs_parse_with_currency_from_the_header() {
        let csv = "sku,nombre,categoria,precio_dop,unidad,existencia,sucursal\n\
                   CEM-001,\"Cemento gris, funda 42.5 kg\",Construcción,495,funda,25,Centro\n";
        let products = parse_catalog(csv).unwrap();
        assert_eq!(products.len(), 1);
        assert_eq!(products[0].name, "Cemento gris, funda 42.5 kg");
        assert_eq!(products[0].currency, "DOP");
        assert_eq!(products[0].stock, Some(25));
    }

    #[test]
    fn a_catalog_of_names_and_prices_reads_as_a_sentence() {
        let products = parse_catalog("producto,precio\nPintura acrílica galón,650\n").unwrap();
        assert_eq!(products[0].stock, None);
        assert_eq!(
            products[0].describe(atiende_domain::Locale::Es),
            "*Pintura acrílica galón*: RD$650."
        );
        let with_stock = parse_catalog("name,price_usd,stock\nGuitar strings,12.5,0\n").unwrap();
        assert_eq!(
            with_stock[0].describe(atiende_domain::Locale::En),
            "*Guitar strings*: US$12.50; out of stock right now."
        );
        assert_eq!(
            csv_kind("nombre,precio\nX,1\n"),
            Some(DocumentKind::Catalog)
        );
    }

    #[test]
    fn catalogs_without_required_columns_or_numbers_are_rejected() {
        assert!(parse_catalog("sku,price\nA,1\n").is_err());
        assert!(parse_catalog("sku,name\nA,X\n").is_err());
        assert!(parse_catalog("sku,name,price\nA,X,abc\n").is_err());
        assert!(parse_catalog("sku,name,price\n").is_err());
    }

    #[test]
    fn faqs_parse_from_csv_and_json_in_spanish_or_english() {
        let csv = "Categoría,Pregunta,Respuesta\nEnvíos,¿Hacen envíos?,\"Sí, a toda la ciudad.\"\n";
        let from_csv = parse_faq(csv).unwrap();
        assert_eq!(
            from_csv,
            vec![FaqEntry {
                question: "¿Hacen envíos?".into(),
                answer: "Sí, a toda la ciudad.".into()
            }]
        );
        let json = r#"[{"pregunta": "¿Hacen envíos?", "respuesta": "Sí, a toda la ciudad."}]"#;
        assert_eq!(parse_faq(json).unwrap(), from_csv);
        let wrapped = r#"{"faqs": [{"question": "Do you deliver?", "answer": "Yes."}]}"#;
        assert_eq!(parse_faq(wrapped).unwrap()[0].answer, "Yes.");
    }

    #[test]
    fn faqs_without_answers_are_rejected_with_the_reason() {
        let e = parse_faq("pregunta,respuesta\n¿Algo?,\n").unwrap_err();
        assert!(e.to_string().contains("no question with an answer"), "{e}");
        let e = parse_faq("pregunta,otra\nx,y\n").unwrap_err();
        assert!(e.to_string().contains("respuesta/answer"), "{e}");
        assert!(parse_faq(r#"[{"q": 1}]"#).is_err());
    }

    #[test]
    fn uploads_are_recognized_by_extension_then_content_type() {
        let d = decode_upload(upload("Políticas.md", None, b"# Envios\n- Gratis."), None).unwrap();
        assert_eq!(d.kind, DocumentKind::Text);
        assert_eq!(d.id, "Pol-ticas.md");
        let d = decode_upload(
            upload(
                "export",
                Some("text/csv; charset=utf-8"),
                b"sku,nombre,precio\nA,B,1\n",
            ),
            None,
        )
        .unwrap();
        assert_eq!(d.kind, DocumentKind::Catalog);
        let d = decode_upload(upload("faq.csv", None, b"question,answer\nQ?,A.\n"), None).unwrap();
        assert_eq!(d.kind, DocumentKind::Faq);
        let d = decode_upload(upload("faq.json", None, br#"[{"q":"Q?","a":"A."}]"#), None).unwrap();
        assert_eq!(d.kind, DocumentKind::Faq);
        // A byte-order mark from a spreadsheet export is dropped.
        let d = decode_upload(upload("x.txt", None, "\u{feff}Hola".as_bytes()), None).unwrap();
        assert_eq!(d.content, "Hola");
    }

    #[test]
    fn unsupported_empty_undecodable_and_oversized_files_are_refused_distinctly() {
        let unsupported = decode_upload(upload("foto.png", Some("image/png"), b"\x89PNG"), None);
        assert!(matches!(unsupported, Err(AppError::Unsupported(_))));
        let octet = decode_upload(
            upload("a.docx", Some("application/octet-stream"), b"x"),
            None,
        );
        assert!(matches!(octet, Err(AppError::Unsupported(_))));
        let empty = decode_upload(upload("a.txt", None, b"  \n"), None);
        assert!(matches!(empty, Err(AppError::Validation(_))));
        let latin1 = decode_upload(upload("a.txt", None, b"Espa\xf1a"), None);
        assert!(matches!(latin1, Err(AppError::Validation(_))));
        let csv = decode_upload(upload("a.csv", None, b"x,y\n1,2\n"), None);
        assert!(matches!(csv, Err(AppError::Validation(_))));
        let big = decode_upload(
            upload("a.txt", None, &vec![b'a'; MAX_UPLOAD_FILE_BYTES + 1]),
            None,
        );
        assert!(matches!(big, Err(AppError::TooLarge(_))));
        let pdf = decode_upload(upload("a.pdf", None, b"not a pdf"), None);
        assert!(matches!(pdf, Err(AppError::Validation(_))), "{pdf:?}");
    }

    #[cfg(feature = "pdf")]
    #[test]
    fn pdfs_are_read_as_text_documents() {
        // One page in Helvetica with WinAnsi (Latin-1) text, as office tools write them.
        let pdf = include_bytes!("../../../../tests/data/knowledge/garantia.pdf");
        let d = decode_upload(upload("garantia.pdf", Some("application/pdf"), pdf), None).unwrap();
        assert_eq!(d.kind, DocumentKind::Text);
        assert!(
            d.content
                .contains("Las herramientas eléctricas tienen garantía de un año."),
            "{:?}",
            d.content
        );
        // A truncated file is undecodable, not a crash.
        let broken = decode_upload(upload("a.pdf", None, &pdf[..pdf.len() / 2]), None);
        assert!(matches!(broken, Err(AppError::Validation(_))), "{broken:?}");
    }

    #[test]
    fn file_names_become_safe_document_ids() {
        assert_eq!(
            id_from_file_name("docs/../precios 2026.csv"),
            "precios-2026.csv"
        );
        assert_eq!(id_from_file_name("..hidden"), "hidden");
        assert_eq!(id_from_file_name("///"), "upload");
    }
}
