//! What the profile editor must point out: characters a text view would hide or
//! reorder (bidi controls, zero-width and other invisible characters, controls, odd
//! spaces). The store may hold them — an accepted proposal can carry one — and an
//! editor showing them raw would bring back the confusion the review pane prevents.
//! Classification is the shared renderer's (`qcs_core::render::classify`).

use qcs_core::render::{TokenClass, classify};

/// A hidden or confusing character in the edited text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenChar {
    /// 1-based line.
    pub line: usize,
    /// Offset in characters from the start of the text (a text buffer's unit).
    pub offset: usize,
    /// Label, e.g. `U+202E RLO`.
    pub label: String,
}

/// Every character of `text` that is not plain visible text. Tabs are ordinary in
/// configuration files and line feeds end lines: neither is reported.
pub fn hidden_chars(text: &str) -> Vec<HiddenChar> {
    let mut found = Vec::new();
    let mut line = 1;
    for (offset, c) in text.chars().enumerate() {
        if c == '\n' {
            line += 1;
            continue;
        }
        if let Some((class, label)) = classify(c)
            && class != TokenClass::Whitespace
        {
            found.push(HiddenChar {
                line,
                offset,
                label,
            });
        }
    }
    found
}

/// One line for the editor's warning: "line 2: U+202E RLO, U+2066 LRI; line 9: …",
/// at most `limit` characters listed.
pub fn summary(hidden: &[HiddenChar], limit: usize) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<usize> = None;
    for h in hidden.iter().take(limit) {
        if current == Some(h.line) {
            if let Some(last) = parts.last_mut() {
                last.push_str(", ");
                last.push_str(&h.label);
            }
        } else {
            current = Some(h.line);
            parts.push(crate::i18n::gettext_f(
                "line {line}: {label}",
                &[("line", &h.line.to_string()), ("label", &h.label)],
            ));
        }
    }
    let mut text = parts.join("; ");
    if hidden.len() > limit {
        text.push_str(" …");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_invisible_characters_are_found_with_their_lines() {
        let text = "[user]\n\tname = Alice\u{202E}x\nurl = github\u{200B}.com\ncafé ok\n";
        let found = hidden_chars(text);
        let labels: Vec<(usize, &str)> = found.iter().map(|h| (h.line, h.label.as_str())).collect();
        assert_eq!(labels, [(2, "U+202E RLO"), (3, "U+200B ZWSP")]);
        // Offsets are in characters, as a text buffer counts them.
        let rlo = text.chars().position(|c| c == '\u{202E}').unwrap();
        assert_eq!(found[0].offset, rlo);
        assert_eq!(
            summary(&found, 10),
            "line 2: U+202E RLO; line 3: U+200B ZWSP"
        );
        assert_eq!(summary(&found, 1), "line 2: U+202E RLO …");
    }

    #[test]
    fn plain_configuration_text_has_nothing_to_report() {
        assert!(hidden_chars("set number\n\tindent = 4\nnamé = Zoë\n").is_empty());
    }
}
