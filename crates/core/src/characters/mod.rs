//! The one table of hidden and confusing characters, shared by the renderer (which
//! draws them as tokens) and the risk rules (which report them): a character is a
//! token exactly when [`hidden`] names a reason for it, and every reason is covered
//! by a content rule (tested by walking every code point). The non-ASCII part is
//! generated from Unicode properties (`table.rs`, by `gen_table.py`): bidi controls
//! (Bidi_Class), format and default-ignorable characters, tag characters, variation
//! selectors, spaces and separators other than U+0020, Script=Inherited combining
//! marks, private use, unassigned code points and noncharacters, and fullwidth,
//! halfwidth and mathematical look-alikes (decomposition type). A leaf module: it
//! classifies characters and decides nothing about risk or layout.

use serde::Deserialize;

mod table;

pub use table::UNICODE_VERSION;

/// Why a character is not plain text (the rules match on these, kebab-case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hidden {
    /// C0/C1 control (general category Cc).
    Control,
    /// Bidi embedding, override, isolate or mark.
    Bidi,
    /// Tag character (U+E0000–U+E007F: ASCII smuggling).
    Tag,
    /// Variation selector.
    VariationSelector,
    /// Space or separator other than U+0020 (Zs, Zl, Zp, VT, FF, NEL, Braille blank).
    OddSpace,
    /// Format (Cf) or other default-ignorable character: draws as nothing.
    Invisible,
    /// Combining mark that stacks on any letter (Script=Inherited blocks, Me).
    Combining,
    /// Private use (Co).
    PrivateUse,
    /// Unassigned in the table's Unicode version, or a noncharacter.
    Unassigned,
    /// Fullwidth, halfwidth or mathematical form of an ordinary character.
    LookAlike,
}

impl Hidden {
    /// Short name used in token labels.
    pub fn label(self) -> &'static str {
        match self {
            Hidden::Control => "CONTROL",
            Hidden::Bidi => "BIDI",
            Hidden::Tag => "TAG",
            Hidden::VariationSelector => "VS",
            Hidden::OddSpace => "SPACE",
            Hidden::Invisible => "INVISIBLE",
            Hidden::Combining => "COMBINING",
            Hidden::PrivateUse => "PRIVATE",
            Hidden::Unassigned => "UNASSIGNED",
            Hidden::LookAlike => "LOOKALIKE",
        }
    }

    /// The token class the renderer draws.
    pub fn token_class(self) -> TokenClass {
        match self {
            Hidden::Control => TokenClass::Control,
            Hidden::Bidi => TokenClass::Bidi,
            Hidden::Tag => TokenClass::Tag,
            Hidden::VariationSelector => TokenClass::VariationSelector,
            Hidden::OddSpace => TokenClass::OddSpace,
            Hidden::Invisible => TokenClass::Invisible,
            Hidden::Combining | Hidden::PrivateUse | Hidden::Unassigned | Hidden::LookAlike => {
                TokenClass::Other
            }
        }
    }
}

/// Why a character is shown as a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClass {
    /// Bidi override, embedding, isolate or mark.
    Bidi,
    /// Zero-width, format or filler character.
    Invisible,
    /// Unicode tag character (ASCII smuggling).
    Tag,
    /// Variation selector.
    VariationSelector,
    /// Space-like character other than U+0020 (NBSP, en space, line separator…).
    OddSpace,
    /// C0/C1 control (ESC, CR, NUL and DEL included).
    Control,
    /// Byte that is not valid UTF-8.
    InvalidByte,
    /// Tab, or a blank at the end of a line.
    Whitespace,
    /// Combining mark, private use, noncharacter or anything else not known to be
    /// a plain visible character.
    Other,
    /// A marker we add (e.g. no newline at end of file).
    Marker,
}

/// Why `c` is not plain text, or `None` for a character that displays as itself.
/// TAB and LF are not hidden (layout; the renderer still marks tabs).
pub fn hidden(c: char) -> Option<Hidden> {
    let cp = c as u32;
    match cp {
        0x09 | 0x0A | 0x20..=0x7E => None,
        0x0B | 0x0C | 0x85 => Some(Hidden::OddSpace),
        0x00..=0x1F | 0x7F..=0x9F => Some(Hidden::Control),
        _ => {
            let i = table::RANGES.partition_point(|(_, end, _)| *end < cp);
            table::RANGES
                .get(i)
                .filter(|(start, _, _)| *start <= cp)
                .map(|(_, _, h)| *h)
        }
    }
}

/// Label for a character that must be shown as a token, or `None` if it may be
/// shown as plain text (only when it is not trailing whitespace).
pub fn classify(c: char) -> Option<(TokenClass, String)> {
    let cp = c as u32;
    let name = match cp {
        0x00 => return Some((TokenClass::Control, "NUL".into())),
        0x09 => return Some((TokenClass::Whitespace, "TAB".into())),
        0x0A => return Some((TokenClass::Control, "LF".into())),
        0x0B => return Some((TokenClass::OddSpace, "VT".into())),
        0x0C => return Some((TokenClass::OddSpace, "FF".into())),
        0x0D => return Some((TokenClass::Control, "CR".into())),
        0x1B => return Some((TokenClass::Control, "ESC".into())),
        0x7F => return Some((TokenClass::Control, "DEL".into())),
        0x01..=0x1F => {
            return Some((
                TokenClass::Control,
                format!("^{}", (cp as u8 + 0x40) as char),
            ));
        }
        0x85 => "NEL",
        0x80..=0x9F => "C1",
        0x061C => "ALM",
        0x200E => "LRM",
        0x200F => "RLM",
        0x202A => "LRE",
        0x202B => "RLE",
        0x202C => "PDF",
        0x202D => "LRO",
        0x202E => "RLO",
        0x2066 => "LRI",
        0x2067 => "RLI",
        0x2068 => "FSI",
        0x2069 => "PDI",
        0x00AD => "SHY",
        0x200B => "ZWSP",
        0x200C => "ZWNJ",
        0x200D => "ZWJ",
        0x2060 => "WJ",
        0xFEFF => "BOM",
        0x00A0 => "NBSP",
        0x202F => "NNBSP",
        0x2028 => "LSEP",
        0x2029 => "PSEP",
        0xFDD0..=0xFDEF => "NONCHAR",
        _ if cp & 0xFFFE == 0xFFFE => "NONCHAR",
        _ => "",
    };
    let h = hidden(c)?;
    if h == Hidden::Tag {
        let shown = cp - 0xE0000;
        if (0x20..0x7F).contains(&shown) {
            return Some((
                TokenClass::Tag,
                format!("U+{cp:05X} TAG {}", shown as u8 as char),
            ));
        }
    }
    let name = if name.is_empty() { h.label() } else { name };
    Some((h.token_class(), format!("U+{cp:04X} {name}")))
}
