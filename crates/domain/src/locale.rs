//! The languages the bot speaks.

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A language the bot can answer in. Customers write mostly in Spanish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    /// Spanish.
    #[default]
    Es,
    /// English.
    En,
}

impl Locale {
    /// Parses a language tag such as `es`, `es-DO`, `en_US` or `EN`.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let primary = value
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "es" => Ok(Self::Es),
            "en" => Ok(Self::En),
            _ => Err(ValidationError::new("language", "supported: es, en")),
        }
    }

    /// The two-letter code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es => "es",
            Self::En => "en",
        }
    }
}

impl std::fmt::Display for Locale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_parse_from_common_tags() {
        assert_eq!(Locale::parse("es-DO").unwrap(), Locale::Es);
        assert_eq!(Locale::parse("en_US").unwrap(), Locale::En);
        assert_eq!(Locale::parse("EN").unwrap(), Locale::En);
        assert!(Locale::parse("pt-BR").is_err());
    }
}
