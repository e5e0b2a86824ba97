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
    scrub_digit_runs(text, 7, 3, 2)
}

/// Masks what identifies a person in text a model or a customer wrote (tool arguments kept in
/// decision traces): e-mail addresses keep their first letter and domain, and runs of 4 or more
/// digits (account, phone, id numbers) keep only their ends.
pub fn free_text(text: &str) -> String {
    let emails_masked: Vec<String> = text
        .split(' ')
        .map(|word| match word.split_once('@') {
            Some((local, domain)) if !local.is_empty() && domain.contains('.') => {
                // Quotes or brackets before the address stay; of the address, its first letter.
                let first: String = local
                    .chars()
                    .take_while(|c| !c.is_alphanumeric())
                    .chain(local.chars().find(|c| c.is_alphanumeric()))
                    .collect();
                format!("{first}***@{domain}")
            }
            _ => word.to_owned(),
        })
        .collect();
    scrub_digit_runs(&emails_masked.join(" "), 4, 1, 1)
}

fn scrub_digit_runs(text: &str, min_digits: usize, head: usize, tail: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().filter(char::is_ascii_digit).count() >= min_digits {
            out.push_str(&Masked::new(run, head, tail).to_string());
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        // A hyphen between digits ("104-233", "809-555-1010") keeps the number in one run.
        let joins = c == '-' && run.ends_with(|d: char| d.is_ascii_digit());
        if c.is_ascii_digit() || (c == '+' && run.is_empty()) || joins {
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
    fn tool_arguments_lose_emails_and_numbers() {
        assert_eq!(
            free_text(r#"{"cuenta":"104233","email": "ana.perez@x.com.do","tel":"809-555-1010"}"#),
            r#"{"cuenta":"1****3","email": "a***@x.com.do","tel":"8**********0"}"#
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
