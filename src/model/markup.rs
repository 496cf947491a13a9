//! Pango markup for rendered lines.
//!
//! The backend has already turned every hidden or confusing character into a token
//! (DESIGN invariant 7); this module only escapes and colours. Text segments are
//! escaped character by character, so no byte from a qube can open a markup tag, and a
//! token is shown as `⟦label⟧` so it can never be mistaken for the text around it.
//! Colours come from a [`Palette`] (one for the light style, one for the dark) because
//! Pango attributes cannot use GTK's named colours.

use qcs_client::types::Segment;

use super::Severity;

/// Colours of the diff text, as `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    /// Background of a word-level change on a removed line.
    pub removed_word: &'static str,
    /// Background of a word-level change on an added line.
    pub added_word: &'static str,
    /// Token foreground and background (hidden characters).
    pub token_fg: &'static str,
    pub token_bg: &'static str,
    /// Token for a tab or trailing blank: visible but quieter.
    pub whitespace_fg: &'static str,
    /// Severity colours of finding anchors.
    pub critical: &'static str,
    pub high: &'static str,
    pub medium: &'static str,
    pub info: &'static str,
}

impl Palette {
    /// For the light style (Adwaita's named colours, light variant).
    pub const LIGHT: Palette = Palette {
        removed_word: "#f5b6b9",
        added_word: "#a8e3b6",
        token_fg: "#ffffff",
        token_bg: "#9141ac",
        whitespace_fg: "#77767b",
        critical: "#c01c28",
        high: "#c64600",
        medium: "#9c6e03",
        info: "#1c71d8",
    };

    /// For the dark style.
    pub const DARK: Palette = Palette {
        removed_word: "#7a2a30",
        added_word: "#1f6b36",
        token_fg: "#1e1e1e",
        token_bg: "#dc8add",
        whitespace_fg: "#9a9996",
        critical: "#ff7b63",
        high: "#ffa348",
        medium: "#f8e45c",
        info: "#99c1f1",
    };

    /// The palette for the current style.
    pub fn for_dark(dark: bool) -> &'static Palette {
        if dark {
            &Palette::DARK
        } else {
            &Palette::LIGHT
        }
    }

    fn severity(&self, severity: Severity) -> &'static str {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Info => self.info,
        }
    }
}

/// Which side a line is on: decides the colour of word-level changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Removed,
    Added,
    Neutral,
}

/// Escape text for Pango markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Markup of one line's segments.
pub fn segments(segments: &[Segment], side: Side, palette: &Palette) -> String {
    let word_bg = match side {
        Side::Removed => Some(palette.removed_word),
        Side::Added => Some(palette.added_word),
        Side::Neutral => None,
    };
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Text { text, changed } => match (changed, word_bg) {
                (true, Some(bg)) => out.push_str(&format!(
                    "<span background=\"{bg}\">{}</span>",
                    escape(text)
                )),
                _ => out.push_str(&escape(text)),
            },
            Segment::Token {
                class,
                label,
                changed,
            } => {
                let underline = if *changed {
                    " underline=\"single\""
                } else {
                    ""
                };
                if class == "whitespace" || class == "marker" {
                    out.push_str(&format!(
                        "<span foreground=\"{}\"{underline}>⟦{}⟧</span>",
                        palette.whitespace_fg,
                        escape(label)
                    ));
                } else {
                    out.push_str(&format!(
                        "<span foreground=\"{}\" background=\"{}\" weight=\"bold\"{underline}>⟦{}⟧</span>",
                        palette.token_fg,
                        palette.token_bg,
                        escape(label)
                    ));
                }
            }
            Segment::FindingAnchor { severity, .. } => {
                let severity = Severity::from_wire(severity);
                out.push_str(&format!(
                    " <span foreground=\"{}\" weight=\"bold\">{}</span>",
                    palette.severity(severity),
                    severity.symbol()
                ));
            }
        }
    }
    out
}

/// Plain text of a line (for accessible descriptions and tests): tokens as `⟦label⟧`.
pub fn plain(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Text { text, .. } => out.push_str(text),
            Segment::Token { label, .. } => {
                out.push('⟦');
                out.push_str(label);
                out.push('⟧');
            }
            Segment::FindingAnchor { severity, .. } => {
                out.push(' ');
                out.push_str(Severity::from_wire(severity).symbol());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str, changed: bool) -> Segment {
        Segment::Text {
            text: t.into(),
            changed,
        }
    }

    #[test]
    fn text_from_a_qube_cannot_open_markup() {
        let hostile = text("</span><span foreground='red'>&amp;<b>x", false);
        let markup = segments(&[hostile], Side::Added, &Palette::LIGHT);
        assert!(!markup.contains('<'), "{markup}");
        assert_eq!(
            markup,
            "&lt;/span&gt;&lt;span foreground=&apos;red&apos;&gt;&amp;amp;&lt;b&gt;x"
        );
    }

    #[test]
    fn tokens_are_bracketed_and_labels_escaped() {
        let line = [
            text("name = Alice", false),
            Segment::Token {
                class: "bidi".into(),
                label: "U+202E RLO".into(),
                changed: true,
            },
            Segment::Token {
                class: "other".into(),
                label: "<&>".into(),
                changed: false,
            },
            Segment::FindingAnchor {
                finding: 0,
                severity: "critical".into(),
            },
        ];
        let markup = segments(&line, Side::Added, &Palette::DARK);
        assert!(markup.contains("⟦U+202E RLO⟧</span>"), "{markup}");
        assert!(markup.contains("underline=\"single\""));
        assert!(markup.contains("⟦&lt;&amp;&gt;⟧"));
        assert!(markup.contains(Palette::DARK.critical) && markup.ends_with("✖</span>"));
        assert_eq!(plain(&line), "name = Alice⟦U+202E RLO⟧⟦<&>⟧ ✖");
    }

    #[test]
    fn word_changes_are_coloured_by_side_and_not_on_context_lines() {
        let line = [text("a", false), text("b", true)];
        let removed = segments(&line, Side::Removed, &Palette::LIGHT);
        let added = segments(&line, Side::Added, &Palette::LIGHT);
        let context = segments(&line, Side::Neutral, &Palette::LIGHT);
        assert!(removed.contains(Palette::LIGHT.removed_word));
        assert!(added.contains(Palette::LIGHT.added_word));
        assert_eq!(context, "ab");
    }
}
