//! The one table of hidden and confusing characters, shared by the renderer (which
//! draws them as tokens) and the risk rules (which report them). A leaf module: it
//! classifies characters and decides nothing about risk or layout.

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

/// Label for a character that must be shown as a token, or `None` if it may be
/// shown as plain text (only when it is not trailing whitespace).
pub fn classify(c: char) -> Option<(TokenClass, String)> {
    let cp = c as u32;
    let named = |class, name: &str| Some((class, format!("U+{cp:04X} {name}")));
    let plain = |class| Some((class, format!("U+{cp:04X}")));
    match cp {
        0x00 => Some((TokenClass::Control, "NUL".into())),
        0x09 => Some((TokenClass::Whitespace, "TAB".into())),
        0x0A => Some((TokenClass::Control, "LF".into())),
        0x0B => Some((TokenClass::OddSpace, "VT".into())),
        0x0C => Some((TokenClass::OddSpace, "FF".into())),
        0x0D => Some((TokenClass::Control, "CR".into())),
        0x1B => Some((TokenClass::Control, "ESC".into())),
        0x7F => Some((TokenClass::Control, "DEL".into())),
        0x01..=0x1F => Some((
            TokenClass::Control,
            format!("^{}", (cp as u8 + 0x40) as char),
        )),
        0x20..=0x7E => None,
        0x85 => named(TokenClass::OddSpace, "NEL"),
        0x80..=0x9F => named(TokenClass::Control, "C1"),
        0x061C => named(TokenClass::Bidi, "ALM"),
        0x200E => named(TokenClass::Bidi, "LRM"),
        0x200F => named(TokenClass::Bidi, "RLM"),
        0x202A => named(TokenClass::Bidi, "LRE"),
        0x202B => named(TokenClass::Bidi, "RLE"),
        0x202C => named(TokenClass::Bidi, "PDF"),
        0x202D => named(TokenClass::Bidi, "LRO"),
        0x202E => named(TokenClass::Bidi, "RLO"),
        0x2066 => named(TokenClass::Bidi, "LRI"),
        0x2067 => named(TokenClass::Bidi, "RLI"),
        0x2068 => named(TokenClass::Bidi, "FSI"),
        0x2069 => named(TokenClass::Bidi, "PDI"),
        0x00AD => named(TokenClass::Invisible, "SHY"),
        0x200B => named(TokenClass::Invisible, "ZWSP"),
        0x200C => named(TokenClass::Invisible, "ZWNJ"),
        0x200D => named(TokenClass::Invisible, "ZWJ"),
        0x2060 => named(TokenClass::Invisible, "WJ"),
        0xFEFF => named(TokenClass::Invisible, "BOM"),
        0x034F
        | 0x115F
        | 0x1160
        | 0x17B4
        | 0x17B5
        | 0x180B..=0x180F
        | 0x2061..=0x2064
        | 0x206A..=0x206F
        | 0x3164
        | 0xFFA0
        | 0xFFF9..=0xFFFB
        | 0x1D173..=0x1D17A => named(TokenClass::Invisible, "INVISIBLE"),
        0x00A0 => named(TokenClass::OddSpace, "NBSP"),
        0x202F => named(TokenClass::OddSpace, "NNBSP"),
        0x2028 => named(TokenClass::OddSpace, "LSEP"),
        0x2029 => named(TokenClass::OddSpace, "PSEP"),
        0x1680 | 0x2000..=0x200A | 0x205F | 0x3000 | 0x2800 => named(TokenClass::OddSpace, "SPACE"),
        0xE0000..=0xE007F => {
            let shown = cp - 0xE0000;
            if (0x20..0x7F).contains(&shown) {
                Some((
                    TokenClass::Tag,
                    format!("U+{cp:05X} TAG {}", shown as u8 as char),
                ))
            } else {
                named(TokenClass::Tag, "TAG")
            }
        }
        0xFE00..=0xFE0F | 0xE0100..=0xE01EF => named(TokenClass::VariationSelector, "VS"),
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F => {
            named(TokenClass::Other, "COMBINING")
        }
        0xE000..=0xF8FF | 0xF0000..=0x10FFFF => named(TokenClass::Other, "PRIVATE"),
        0xFDD0..=0xFDEF => named(TokenClass::Other, "NONCHAR"),
        _ if cp & 0xFFFE == 0xFFFE => named(TokenClass::Other, "NONCHAR"),
        // Halfwidth/fullwidth forms include look-alike slashes and letters.
        0xFF00..=0xFFEF => plain(TokenClass::Other),
        _ if c.is_alphanumeric() || is_plain_symbol(cp) => None,
        _ => plain(TokenClass::Other),
    }
}

/// Non-alphanumeric characters known to display as a visible glyph of their own.
fn is_plain_symbol(cp: u32) -> bool {
    matches!(cp,
        0x00A1..=0x00BF | 0x00D7 | 0x00F7 | 0x2010..=0x2027 | 0x2030..=0x205E
        | 0x20A0..=0x20C0 | 0x2100..=0x214F | 0x2190..=0x27FF | 0x2900..=0x2BFF
        | 0x3001..=0x303F | 0x1F300..=0x1FAFF)
}
