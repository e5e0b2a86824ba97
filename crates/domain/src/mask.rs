//! How customers' personal data appears in logs.
//!
//! Phone numbers and user ids identify people; logs are read by operators and shipped to log
//! stores, so they only ever carry a masked form that is still useful to correlate lines
//! (`+180******10`). Message bodies and profile names are never logged at all.

use std::fmt;

/// A value rendered with most of its characters hidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked(String);

impl Masked {
    /// Keeps the first `head` and last `tail` characters of `value` and stars the rest. Values
    /// too short to mask meaningfully are hidden entirely.
    pub fn new(value: &str, head: usize, tail: usize) -> Self {
        let chars: Vec<char> = value.chars().collect();
        if chars.len() <= head + tail + 2 {
            return Self("*".repeat(chars.len().max(3)));
        }
        let mut out = String::with_capacity(chars.len());
        out.extend(&chars[..head]);
        out.extend(std::iter::repeat_n('*', chars.len() - head - tail));
        out.extend(&chars[chars.len() - tail..]);
        Self(out)
    }
}

impl fmt::Display for Masked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Masks every run of 7 or more digits in free text (a provider's error message may echo the
/// recipient's number), keeping the first 3 and last 2 digits.
pub fn scrub_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().filter(char::is_ascii_digit).count() >= 7 {
            out.push_str(&Masked::new(run, 3, 2).to_string());
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (c == '+' && run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_digit_runs_are_masked_in_free_text() {
        assert_eq!(
            scrub_digits("The 'To' number whatsapp:+18095551010 is invalid (21211)"),
            "The 'To' number whatsapp:+18*******10 is invalid (21211)"
        );
    }

    #[test]
    fn phone_numbers_keep_only_their_ends() {
        assert_eq!(
            Masked::new("+18095551010", 4, 2).to_string(),
            "+180******10"
        );
    }

    #[test]
    fn short_values_are_hidden_entirely() {
        assert_eq!(Masked::new("abc", 4, 2).to_string(), "***");
    }
}
