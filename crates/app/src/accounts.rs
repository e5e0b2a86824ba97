//! Tenants' credit accounts: imported from a CSV (the demo's `cuentas.csv` layout) and read
//! only by the assistant's account-status tool.
//!
//! Columns, by header name (Spanish or English): `cuenta`/`account`, `titular`/`holder`,
//! `telefono_whatsapp`/`whatsapp`, `estado`/`status`, `balance_dop`/`balance`,
//! `limite_dop`/`limit`, `vence`/`due` (YYYY-MM-DD, may be empty). An import replaces the
//! tenant's accounts atomically; a bad row rejects the whole file with its line number.

use std::sync::Arc;

use atiende_domain::{
    PhoneNumber, TenantId, ValidationError,
    assistant::{Account, account_digits},
};
use atiende_ports::AccountStore;

use crate::AppError;

/// The most accounts one tenant may import.
pub const MAX_ACCOUNTS: usize = 100_000;

fn column(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    headers
        .iter()
        .position(|h| names.contains(&h.trim().to_lowercase().as_str()))
}

/// Reads accounts from CSV text.
pub fn parse_csv(text: &str) -> Result<Vec<Account>, ValidationError> {
    let bad = |reason: String| ValidationError::new("accounts", reason);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| bad(format!("unreadable header: {e}")))?
        .clone();
    let need = |names: &[&str]| {
        column(&headers, names).ok_or_else(|| bad(format!("missing the column {:?}", names[0])))
    };
    let (number, holder, phone, status) = (
        need(&["cuenta", "account"])?,
        need(&["titular", "holder"])?,
        need(&["telefono_whatsapp", "whatsapp"])?,
        need(&["estado", "status"])?,
    );
    let balance = column(&headers, &["balance_dop", "balance"]);
    let limit = column(&headers, &["limite_dop", "limit"]);
    let due = column(&headers, &["vence", "due"]);
    let mut accounts = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| bad(format!("line {line}: {e}")))?;
        let field = |at: Option<usize>| at.and_then(|i| row.get(i)).unwrap_or("").trim();
        let digits = account_digits(field(Some(number)));
        if !(4..=12).contains(&digits.len()) {
            return Err(bad(format!(
                "line {line}: the account number needs 4-12 digits"
            )));
        }
        let amount = |at: Option<usize>| -> Result<f64, ValidationError> {
            let text = field(at);
            if text.is_empty() {
                return Ok(0.0);
            }
            text.replace(',', "")
                .parse::<f64>()
                .map_err(|_| bad(format!("line {line}: {text:?} is not an amount")))
        };
        let due_text = field(due);
        accounts.push(Account {
            number: digits,
            holder: field(Some(holder)).to_owned(),
            whatsapp: PhoneNumber::parse(field(Some(phone)))
                .map_err(|e| bad(format!("line {line}: {}", e.reason)))?,
            status: field(Some(status)).to_owned(),
            balance: amount(balance)?,
            limit: amount(limit)?,
            due: if due_text.is_empty() {
                None
            } else {
                Some(
                    chrono::NaiveDate::parse_from_str(due_text, "%Y-%m-%d")
                        .map_err(|_| bad(format!("line {line}: {due_text:?} is not YYYY-MM-DD")))?,
                )
            },
        });
        if accounts.len() > MAX_ACCOUNTS {
            return Err(bad(format!("more than {MAX_ACCOUNTS} accounts")));
        }
    }
    Ok(accounts)
}

/// Imports accounts.
pub struct AccountsAdmin {
    store: Arc<dyn AccountStore>,
}

impl AccountsAdmin {
    /// Builds the use case.
    pub fn new(store: Arc<dyn AccountStore>) -> Self {
        Self { store }
    }

    /// Replaces `tenant`'s accounts with those in `csv`; returns how many.
    pub async fn import_csv(&self, tenant: &TenantId, csv: &str) -> Result<usize, AppError> {
        let accounts = parse_csv(csv)?;
        self.store.replace_accounts(tenant, &accounts).await?;
        Ok(accounts.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_layout_is_read() {
        let csv = "cuenta,titular,telefono_whatsapp,estado,balance_dop,limite_dop,vence\n\
                   104233,Constructora Caribe SRL,+18095551010,al día,12500,150000,2026-12-10\n\
                   131562,María Santana,+18095554040,al día,0,50000,\n";
        let accounts = parse_csv(csv).unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].number, "104233");
        assert_eq!(accounts[0].whatsapp.as_str(), "+18095551010");
        assert_eq!(accounts[0].balance, 12500.0);
        assert_eq!(accounts[1].due, None);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let csv = "cuenta,titular,telefono_whatsapp,estado\n104233,A,+18095551010,ok\n12,B,+18095551010,ok\n";
        let error = parse_csv(csv).unwrap_err();
        assert!(error.reason.contains("line 3"), "{error}");
        assert!(parse_csv("titular,estado\nA,ok\n").is_err());
        let csv = "cuenta,titular,telefono_whatsapp,estado\n104233,A,not-a-phone,ok\n";
        assert!(parse_csv(csv).is_err());
    }
}
