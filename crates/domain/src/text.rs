//! Text helpers shared by the language rules and the WhatsApp formatter.

use unicode_normalization::UnicodeNormalization;

/// Lower-cases `text`, strips accents (`á` → `a`, `ñ` → `n`) and turns punctuation into spaces,
/// so that "¿Dónde están?" and "donde estan" compare equal.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else {
            out.push(' ');
        }
    }
    out
}

/// The words of `text` after [`fold`].
pub fn words(text: &str) -> Vec<String> {
    fold(text).split_whitespace().map(str::to_owned).collect()
}

/// Keeps the first `max` paragraphs (blocks separated by a blank line).
pub fn limit_paragraphs(text: &str, max: usize) -> String {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .take(max)
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Cuts `text` to at most `max_chars` characters, ending with `…` when it was cut.
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Turns a Markdown line into WhatsApp text: drops list markers and heading hashes, and turns
/// `**bold**` into WhatsApp's `*bold*`.
pub fn markdown_line_to_whatsapp(line: &str) -> String {
    let trimmed = line.trim();
    let trimmed = trimmed.trim_start_matches('#').trim_start();
    let trimmed = trimmed
        .strip_prefix("- ")
        .or_else(|| trimmed.strip_prefix("* "))
        .or_else(|| trimmed.strip_prefix("• "))
        .unwrap_or(trimmed);
    trimmed.replace("**", "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_removes_accents_case_and_punctuation() {
        assert_eq!(
            fold("¿Dónde ESTÁN? ñandú")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["donde", "estan", "nandu"]
        );
    }

    #[test]
    fn paragraphs_are_limited() {
        assert_eq!(limit_paragraphs("a\n\n\nb\n\nc", 2), "a\n\nb");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
        assert_eq!(truncate_chars("abc", 4), "abc");
    }

    #[test]
    fn markdown_becomes_whatsapp_text() {
        assert_eq!(
            markdown_line_to_whatsapp("- **Crédito**: 30 días"),
            "*Crédito*: 30 días"
        );
        assert_eq!(markdown_line_to_whatsapp("## Horarios"), "Horarios");
    }
}
