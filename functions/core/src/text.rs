//! Measuring, cleaning and fitting text for provider fields.
//!
//! The provider states its limits in "characters" without saying which kind. This module counts
//! UTF-16 code units, what a JavaScript or Java backend reports as a string's length, because
//! that count is never smaller than the number of Unicode scalar values: a text that fits by
//! this measure fits by either. Cutting always happens between `char`s, so a multi-byte
//! character is never split.
//!
//! It knows nothing about which field gets which limit; that is [`crate::model`]'s job.

/// The length of `text` as the provider is assumed to count it (UTF-16 code units).
pub fn provider_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Returns `text` unchanged when it fits in `max` units, otherwise cut at a `char` boundary and
/// ended with `…` so a reader can tell it was shortened.
pub fn fit(text: &str, max: usize) -> String {
    if provider_len(text) <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut cut = take_units(text, max - 1).trim_end().to_owned();
    cut.push('…');
    cut
}

/// The longest prefix of `text` that fits in `max` units, cut between `char`s.
pub fn take_units(text: &str, max: usize) -> &str {
    let mut used = 0;
    for (at, ch) in text.char_indices() {
        used += ch.len_utf16();
        if used > max {
            return &text[..at];
        }
    }
    text
}

/// Normalises free text from a user: control characters (newlines and tabs included) become
/// spaces, runs of whitespace collapse to one space, and both ends are trimmed.
///
/// Prompts are single paragraphs, and a NUL byte would be refused by Postgres `text` columns,
/// so nothing the user types survives as a control character.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The number of `char`s in `text`: the user-facing length used for input limits, the same
/// count as Postgres `char_length`.
pub fn char_len(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_short_text() {
        assert_eq!(fit("calm", 10), "calm");
    }

    #[test]
    fn fit_marks_cut_text_with_an_ellipsis() {
        assert_eq!(fit("abcdefgh", 5), "abcd…");
        assert_eq!(provider_len(&fit("abcdefgh", 5)), 5);
    }

    #[test]
    fn fit_never_splits_a_character() {
        // "é" is one unit, the emoji two: the cut must fall before the emoji.
        let text = "é😀😀";
        let out = fit(text, 3);
        assert_eq!(out, "é…");
        assert!(provider_len(&out) <= 3);
    }

    #[test]
    fn fit_to_zero_is_empty() {
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn clean_collapses_whitespace_and_controls() {
        assert_eq!(clean("  rainy\n\tday\u{0}  at  sea "), "rainy day at sea");
        assert_eq!(clean(" \n "), "");
    }

    #[test]
    fn provider_len_counts_utf16_units() {
        assert_eq!(provider_len("a😀"), 3);
        assert_eq!(char_len("a😀"), 2);
    }
}
