//! Pango markup for rendered lines and for names from a qube.
//!
//! The backend has already turned every hidden or confusing character of a line into a
//! token (DESIGN invariant 7); this module escapes and colours, marks words that mix
//! scripts (`ѕshCommand` with a Cyrillic ѕ) in the line itself, and cuts very long
//! lines into pieces a label can lay out quickly. Names (paths, qube and profile
//! names) arrive as raw strings: [`name`] renders them through the core's character
//! classes and marks every character that is not plain ASCII, and leading or trailing
//! blanks. Text segments are escaped character by character, so no byte from a qube
//! can open a markup tag, and a token is shown as `⟦label⟧` so it can never be
//! mistaken for the text around it. The app's own marks (a character of a name that is
//! not plain ASCII, a word that mixes scripts) are [`Class`] variants beside the
//! backend's [`TokenClass`]es, in the app's [`Piece`]s; a class this client does not
//! know is drawn like the loudest mark. Colours come from a [`Palette`] (one for the light
//! style, one for the dark) because Pango attributes cannot use GTK's named colours.
//! This module must not decide risk: the engine's findings do.

use qcs_client::types::{Segment, TokenClass};

use super::{Severity, SeverityExt};

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
        match severity.order() {
            4 => self.critical,
            3 => self.high,
            2 => self.medium,
            _ => self.info,
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

/// A token's class as the app draws it: the backend's, or a mark the app adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// From the backend's renderer.
    Wire(TokenClass),
    /// After a character of a name that is not plain ASCII.
    NonAscii,
    /// After a word that mixes look-alike scripts.
    MixedScripts,
}

/// How a token is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// Critical colours: look-alikes, and classes this client does not know.
    Loudest,
    /// Hidden characters.
    Token,
    /// Tabs, trailing blanks, markers: visible but quieter.
    Quiet,
}

impl Class {
    fn look(self) -> Look {
        match self {
            Class::NonAscii | Class::MixedScripts | Class::Wire(TokenClass::Unknown) => {
                Look::Loudest
            }
            Class::Wire(TokenClass::Whitespace | TokenClass::Marker) => Look::Quiet,
            Class::Wire(
                TokenClass::Bidi
                | TokenClass::Invisible
                | TokenClass::Tag
                | TokenClass::VariationSelector
                | TokenClass::OddSpace
                | TokenClass::Control
                | TokenClass::InvalidByte
                | TokenClass::Other,
            ) => Look::Token,
        }
    }
}

/// A piece of a line as the app draws it: a backend [`Segment`], with the app's own
/// marks possible among the tokens.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text {
        text: String,
        changed: bool,
    },
    Token {
        class: Class,
        label: String,
        changed: bool,
    },
    FindingAnchor {
        finding: u32,
        severity: Severity,
    },
}

impl From<&Segment> for Piece {
    fn from(segment: &Segment) -> Piece {
        match segment {
            Segment::Text { text, changed } => Piece::Text {
                text: text.clone(),
                changed: *changed,
            },
            Segment::Token {
                class,
                label,
                changed,
            } => Piece::Token {
                class: Class::Wire(*class),
                label: label.clone(),
                changed: *changed,
            },
            Segment::FindingAnchor { finding, severity } => Piece::FindingAnchor {
                finding: *finding,
                severity: *severity,
            },
        }
    }
}

/// A backend line as pieces (nothing marked).
pub fn pieces(segments: &[Segment]) -> Vec<Piece> {
    segments.iter().map(Piece::from).collect()
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

/// Markup of one line's pieces.
pub fn segments(segments: &[Piece], side: Side, palette: &Palette) -> String {
    let word_bg = match side {
        Side::Removed => Some(palette.removed_word),
        Side::Added => Some(palette.added_word),
        Side::Neutral => None,
    };
    let mut out = String::new();
    for segment in segments {
        match segment {
            Piece::Text { text, changed } => match (changed, word_bg) {
                (true, Some(bg)) => out.push_str(&format!(
                    "<span background=\"{bg}\">{}</span>",
                    escape(text)
                )),
                _ => out.push_str(&escape(text)),
            },
            Piece::Token {
                class,
                label,
                changed,
            } => {
                let underline = if *changed {
                    " underline=\"single\""
                } else {
                    ""
                };
                match class.look() {
                    Look::Loudest => out.push_str(&format!(
                        "<span foreground=\"{}\" background=\"{}\" weight=\"bold\" size=\"small\"{underline}>⟦{}⟧</span>",
                        palette.token_fg,
                        palette.critical,
                        escape(label)
                    )),
                    Look::Quiet => out.push_str(&format!(
                        "<span foreground=\"{}\"{underline}>⟦{}⟧</span>",
                        palette.whitespace_fg,
                        escape(label)
                    )),
                    Look::Token => out.push_str(&format!(
                        "<span foreground=\"{}\" background=\"{}\" weight=\"bold\"{underline}>⟦{}⟧</span>",
                        palette.token_fg,
                        palette.token_bg,
                        escape(label)
                    )),
                }
            }
            Piece::FindingAnchor { severity, .. } => {
                out.push_str(&format!(
                    " <span foreground=\"{}\" weight=\"bold\">{}</span>",
                    palette.severity(*severity),
                    severity.symbol()
                ));
            }
        }
    }
    out
}

/// Plain text of a line (for accessible descriptions and tests): tokens as `⟦label⟧`.
pub fn plain(segments: &[Piece]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Piece::Text { text, .. } => out.push_str(text),
            Piece::Token { label, .. } => {
                out.push('⟦');
                out.push_str(label);
                out.push('⟧');
            }
            Piece::FindingAnchor { severity, .. } => {
                out.push(' ');
                out.push_str(severity.symbol());
            }
        }
    }
    out
}

/// A name from a qube (path, qube name, profile name) as segments: every character the
/// core would hide is a token; every other character that is not plain ASCII stays
/// visible and is followed by a mark with its code point; blanks at either end are
/// tokens, so `.gіtconfig` and `.gitconfig ` never look like `.gitconfig`.
pub fn name_segments(name: &str) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    let mut text = String::new();
    let chars: Vec<char> = name.chars().collect();
    let first_visible = chars.iter().position(|c| *c != ' ').unwrap_or(chars.len());
    let last_visible = chars.iter().rposition(|c| *c != ' ').map_or(0, |i| i + 1);
    let flush = |text: &mut String, out: &mut Vec<Piece>| {
        if !text.is_empty() {
            out.push(Piece::Text {
                text: std::mem::take(text),
                changed: false,
            });
        }
    };
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' && (i < first_visible || i >= last_visible) {
            flush(&mut text, &mut out);
            out.push(Piece::Token {
                class: Class::Wire(TokenClass::Whitespace),
                label: "SPACE".into(),
                changed: false,
            });
        } else if let Some((_, label)) = qcs_core::render::classify(c) {
            flush(&mut text, &mut out);
            out.push(Piece::Token {
                class: Class::Wire(TokenClass::Other),
                label,
                changed: false,
            });
        } else if c.is_ascii() {
            text.push(c);
        } else {
            text.push(c);
            flush(&mut text, &mut out);
            out.push(Piece::Token {
                class: Class::NonAscii,
                label: format!("U+{:04X}", u32::from(c)),
                changed: false,
            });
        }
    }
    flush(&mut text, &mut out);
    out
}

/// Markup of a name from a qube (see [`name_segments`]).
pub fn name(name: &str, palette: &Palette) -> String {
    segments(&name_segments(name), Side::Neutral, palette)
}

/// The plain text of a name with its marks (`.gі⟦U+0456⟧tconfig`): for places that
/// take no colours (notifications, window titles, accessible labels).
pub fn name_plain(name: &str) -> String {
    plain(&name_segments(name))
}

/// The scripts whose letters look alike; a word mixing two of them is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
    Armenian,
    Cherokee,
}

fn script_of(c: char) -> Option<Script> {
    match u32::from(c) {
        0x41..=0x5A | 0x61..=0x7A => Some(Script::Latin),
        0xC0..=0x24F if c != '×' && c != '÷' => Some(Script::Latin),
        0x1E00..=0x1EFF | 0xA720..=0xA7FF => Some(Script::Latin),
        0x370..=0x3FF | 0x1F00..=0x1FFF => Some(Script::Greek),
        0x400..=0x52F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => {
            Some(Script::Cyrillic)
        }
        0x530..=0x58F => Some(Script::Armenian),
        0x13A0..=0x13FF | 0xAB70..=0xABBF => Some(Script::Cherokee),
        _ => None,
    }
}

/// The mark label of a word that mixes scripts: its characters outside plain ASCII.
fn mixed_label(word: &str) -> Option<String> {
    let mut scripts: Vec<Script> = Vec::new();
    for c in word.chars() {
        if let Some(script) = script_of(c)
            && !scripts.contains(&script)
        {
            scripts.push(script);
        }
    }
    if scripts.len() < 2 {
        return None;
    }
    let foreign: Vec<String> = word
        .chars()
        .filter(|c| !c.is_ascii())
        .take(4)
        .map(|c| format!("U+{:04X}", u32::from(c)))
        .collect();
    Some(crate::i18n::gettext_f(
        "mixed scripts {chars}",
        &[("chars", &foreign.join(" "))],
    ))
}

/// Mark every word (a run of letters, digits, `_` and `-`) that mixes look-alike
/// scripts: a mark token follows the word. A word may run across segments (a
/// word-level change can split it); tokens and anchors end a word.
pub fn mark_mixed_scripts(line: &[Segment]) -> Vec<Piece> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    // Fast path: a line with only ASCII text has nothing to mark.
    if line.iter().all(|s| match s {
        Segment::Text { text, .. } => text.is_ascii(),
        _ => true,
    }) {
        return pieces(line);
    }
    let mut out: Vec<Piece> = Vec::with_capacity(line.len() + 1);
    let mut word = String::new();
    let end_word = |word: &mut String, out: &mut Vec<Piece>| {
        if let Some(label) = mixed_label(word) {
            out.push(Piece::Token {
                class: Class::MixedScripts,
                label,
                changed: false,
            });
        }
        word.clear();
    };
    for segment in line {
        match segment {
            Segment::Text { text, changed } => {
                let mut piece = String::new();
                for c in text.chars() {
                    if is_word(c) {
                        word.push(c);
                        piece.push(c);
                    } else {
                        if !piece.is_empty() && mixed_label(&word).is_some() {
                            out.push(Piece::Text {
                                text: std::mem::take(&mut piece),
                                changed: *changed,
                            });
                        }
                        end_word(&mut word, &mut out);
                        piece.push(c);
                    }
                }
                if !piece.is_empty() {
                    out.push(Piece::Text {
                        text: piece,
                        changed: *changed,
                    });
                }
            }
            other => {
                end_word(&mut word, &mut out);
                out.push(Piece::from(other));
            }
        }
    }
    end_word(&mut word, &mut out);
    out
}

/// Cut a line into pieces of at most `max` shown characters (a token counts as its
/// label), so a 256 KiB line becomes many short labels instead of one that takes
/// seconds to lay out. Nothing is dropped: the pieces joined are the line.
pub fn split_long(line: &[Piece], max: usize) -> Vec<Vec<Piece>> {
    let max = max.max(1);
    let mut pieces: Vec<Vec<Piece>> = vec![Vec::new()];
    let mut used = 0usize;
    for segment in line {
        match segment {
            Piece::Text { text, changed } => {
                let mut rest = text.as_str();
                while !rest.is_empty() {
                    if used >= max {
                        pieces.push(Vec::new());
                        used = 0;
                    }
                    let room = max - used;
                    let cut = rest.char_indices().nth(room).map_or(rest.len(), |(i, _)| i);
                    let (head, tail) = rest.split_at(cut);
                    used += head.chars().count();
                    if let Some(piece) = pieces.last_mut() {
                        piece.push(Piece::Text {
                            text: head.to_owned(),
                            changed: *changed,
                        });
                    }
                    rest = tail;
                }
            }
            other => {
                let width = match other {
                    Piece::Token { label, .. } => label.chars().count() + 2,
                    _ => 2,
                };
                if used >= max && !matches!(other, Piece::FindingAnchor { .. }) {
                    pieces.push(Vec::new());
                    used = 0;
                }
                used += width;
                if let Some(piece) = pieces.last_mut() {
                    piece.push(other.clone());
                }
            }
        }
    }
    pieces
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

    fn piece(t: &str, changed: bool) -> Piece {
        Piece::Text {
            text: t.into(),
            changed,
        }
    }

    #[test]
    fn text_from_a_qube_cannot_open_markup() {
        let hostile = piece("</span><span foreground='red'>&amp;<b>x", false);
        let markup = segments(&[hostile], Side::Added, &Palette::LIGHT);
        assert!(!markup.contains('<'), "{markup}");
        assert_eq!(
            markup,
            "&lt;/span&gt;&lt;span foreground=&apos;red&apos;&gt;&amp;amp;&lt;b&gt;x"
        );
    }

    #[test]
    fn tokens_are_bracketed_and_labels_escaped() {
        let line = pieces(&[
            text("name = Alice", false),
            Segment::Token {
                class: TokenClass::Bidi,
                label: "U+202E RLO".into(),
                changed: true,
            },
            Segment::Token {
                class: TokenClass::Other,
                label: "<&>".into(),
                changed: false,
            },
            Segment::FindingAnchor {
                finding: 0,
                severity: "critical".into(),
            },
        ]);
        let markup = segments(&line, Side::Added, &Palette::DARK);
        assert!(markup.contains("⟦U+202E RLO⟧</span>"), "{markup}");
        assert!(markup.contains("underline=\"single\""));
        assert!(markup.contains("⟦&lt;&amp;&gt;⟧"));
        assert!(markup.contains(Palette::DARK.critical) && markup.ends_with("✖</span>"));
        assert_eq!(plain(&line), "name = Alice⟦U+202E RLO⟧⟦<&>⟧ ✖");
    }

    #[test]
    fn word_changes_are_coloured_by_side_and_not_on_context_lines() {
        let line = [piece("a", false), piece("b", true)];
        let removed = segments(&line, Side::Removed, &Palette::LIGHT);
        let added = segments(&line, Side::Added, &Palette::LIGHT);
        let context = segments(&line, Side::Neutral, &Palette::LIGHT);
        assert!(removed.contains(Palette::LIGHT.removed_word));
        assert!(added.contains(Palette::LIGHT.added_word));
        assert_eq!(context, "ab");
    }

    #[test]
    fn look_alike_names_are_marked_and_never_plain() {
        assert_eq!(name_plain(".gitconfig"), ".gitconfig");
        // Cyrillic і: shown, then its code point.
        assert_eq!(name_plain(".g\u{456}tconfig"), ".g\u{456}⟦U+0456⟧tconfig");
        // Blanks at either end are tokens; inner blanks are text.
        assert_eq!(name_plain(".gitconfig "), ".gitconfig⟦SPACE⟧");
        assert_eq!(name_plain(" a b"), "⟦SPACE⟧a b");
        // Hidden characters become the core's tokens.
        assert_eq!(name_plain("a\u{202E}b"), "a⟦U+202E RLO⟧b");
        assert_eq!(name_plain("e\u{301}"), "e⟦U+0301 COMBINING⟧");
        // Fullwidth forms are the core's tokens too.
        assert_eq!(name_plain("\u{FF0E}git"), "⟦U+FF0E LOOKALIKE⟧git");
        let markup = name("<b>\u{456}", &Palette::LIGHT);
        assert!(markup.starts_with("&lt;b&gt;\u{456}<span"), "{markup}");
        assert!(markup.contains(Palette::LIGHT.critical), "{markup}");
    }

    #[test]
    fn words_mixing_scripts_are_marked_in_the_line() {
        let line = [text("\tѕshCommand = ssh -i key", false)];
        let marked = plain(&mark_mixed_scripts(&line));
        assert_eq!(marked, "\tѕshCommand⟦mixed scripts U+0455⟧ = ssh -i key");
        // One script only (even non-Latin), or Latin with digits: nothing.
        for fine in ["name = Jürgen", "имя = Юрий", "x1 = αβγ", "über2"] {
            let line = [text(fine, false)];
            assert_eq!(plain(&mark_mixed_scripts(&line)), fine);
        }
        // A word split by a word-level change is one word.
        let split = [text("ssh", false), text("Сommand", true), text(" x", false)];
        let marked = mark_mixed_scripts(&split);
        assert_eq!(plain(&marked), "sshСommand⟦mixed scripts U+0421⟧ x");
        let markup = segments(&marked, Side::Added, &Palette::LIGHT);
        assert!(markup.contains(Palette::LIGHT.critical), "{markup}");
    }

    #[test]
    fn token_classes_are_drawn_by_kind_and_unknown_ones_loudest() {
        let token = |class| Piece::Token {
            class,
            label: "X".into(),
            changed: false,
        };
        let draw = |class| segments(&[token(class)], Side::Neutral, &Palette::LIGHT);
        let loud = draw(Class::NonAscii);
        assert!(loud.contains(Palette::LIGHT.critical), "{loud}");
        // A class from a newer backend, unknown here: as loud as a look-alike.
        let unknown: Segment = serde_json::from_str(
            r#"{"type":"token","class":"new-hider","label":"X","changed":false}"#,
        )
        .expect("decodes");
        assert_eq!(
            segments(&pieces(&[unknown]), Side::Neutral, &Palette::LIGHT),
            loud
        );
        assert_eq!(draw(Class::MixedScripts), loud);
        // Hidden characters: the token colours; tabs and markers quieter.
        for class in [TokenClass::Bidi, TokenClass::Control, TokenClass::Other] {
            let drawn = draw(Class::Wire(class));
            assert!(
                drawn.contains(Palette::LIGHT.token_bg),
                "{class:?}: {drawn}"
            );
        }
        for class in [TokenClass::Whitespace, TokenClass::Marker] {
            let drawn = draw(Class::Wire(class));
            assert!(
                drawn.contains(Palette::LIGHT.whitespace_fg) && !drawn.contains("background"),
                "{class:?}: {drawn}"
            );
        }
    }

    #[test]
    fn long_lines_are_cut_without_losing_anything() {
        let long = "é".repeat(2500) + "x";
        let line = [
            piece(&long, false),
            Piece::Token {
                class: Class::Wire(TokenClass::Bidi),
                label: "U+202E RLO".into(),
                changed: false,
            },
            piece("tail", true),
            Piece::FindingAnchor {
                finding: 0,
                severity: "critical".into(),
            },
        ];
        let pieces = split_long(&line, 1000);
        assert_eq!(pieces.len(), 3);
        let joined: String = pieces.iter().map(|p| plain(p)).collect();
        assert_eq!(joined, plain(&line));
        assert!(pieces.iter().all(|p| plain(p).chars().count() <= 1000 + 16));
        assert_eq!(split_long(&[], 10), vec![Vec::<Piece>::new()]);
    }
}
