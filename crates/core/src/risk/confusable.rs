//! Paths that imitate a path the rules know (issue 17.3): the skeleton of a path —
//! invisible, bidi, combining and variation characters dropped, blanks around each
//! component trimmed, fullwidth forms folded to ASCII, Cyrillic, Greek and other
//! look-alike letters folded to the Latin letter they look like — names the path a
//! reviewer believes they are seeing. When it differs from the path and names a
//! known file type (or a never-sync path), the file is a critical finding that names
//! the imitated path, and it is scanned under that type too. Pure string work.

use crate::characters::{self, Hidden};

/// Latin look-alikes of letters of other scripts (UTS #39 confusables, the subset
/// that matters in dotfile paths) and of path punctuation.
fn fold(c: char) -> Option<char> {
    Some(match c {
        'а' => 'a',
        'е' => 'e',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'у' => 'y',
        'х' => 'x',
        'і' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'ԁ' => 'd',
        'һ' => 'h',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ӏ' => 'l',
        'ɡ' => 'g',
        'ı' => 'i',
        'ℓ' => 'l',
        'ո' => 'n',
        'ս' => 'u',
        'օ' => 'o',
        'А' => 'A',
        'В' => 'B',
        'Е' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'Х' => 'X',
        'Ү' => 'Y',
        'Ѕ' => 'S',
        'І' => 'I',
        'Ј' => 'J',
        'ο' => 'o',
        'α' => 'a',
        'ν' => 'v',
        'ι' => 'i',
        'κ' => 'k',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ε' => 'e',
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        '⁄' | '∕' | '⧸' | '／' => '/',
        '․' | '﹒' | '．' => '.',
        '‐' | '‑' | '‒' | '–' | '−' => '-',
        _ => {
            let cp = c as u32;
            // Fullwidth ASCII forms.
            if (0xFF01..=0xFF5E).contains(&cp) {
                return char::from_u32(cp - 0xFEE0);
            }
            return None;
        }
    })
}

/// What made a path differ from its skeleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Trick {
    /// A letter of another script or a look-alike character.
    LookAlike,
    /// A fullwidth form.
    Fullwidth,
    /// An invisible, bidi or variation character.
    Invisible,
    /// A combining mark.
    Combining,
    /// Blanks before or after a path component.
    Blanks,
}

impl Trick {
    /// In words.
    pub fn as_str(self) -> &'static str {
        match self {
            Trick::LookAlike => "look-alike characters of another script",
            Trick::Fullwidth => "fullwidth forms",
            Trick::Invisible => "invisible characters",
            Trick::Combining => "combining marks",
            Trick::Blanks => "leading or trailing blanks",
        }
    }
}

/// The skeleton of a path and the tricks found, or `None` when the path is its
/// own skeleton.
pub fn skeleton(path: &str) -> Option<(String, Vec<Trick>)> {
    if path.is_ascii() && path.split('/').all(|c| c.trim() == c) {
        return None;
    }
    let mut tricks = Vec::new();
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if let Some(f) = fold(c) {
            tricks.push(if (0xFF01..=0xFF5E).contains(&(c as u32)) {
                Trick::Fullwidth
            } else {
                Trick::LookAlike
            });
            out.push(f);
            continue;
        }
        match characters::hidden(c) {
            Some(Hidden::Invisible | Hidden::Bidi | Hidden::VariationSelector | Hidden::Tag) => {
                tricks.push(Trick::Invisible);
            }
            Some(Hidden::Combining) => tricks.push(Trick::Combining),
            Some(Hidden::OddSpace) => out.push(' '),
            _ => out.push(c),
        }
    }
    let trimmed: Vec<&str> = out
        .split('/')
        .map(|c| c.trim_matches([' ', '\t']))
        .collect();
    let trimmed = trimmed.join("/");
    if trimmed != out {
        tricks.push(Trick::Blanks);
    }
    tricks.sort();
    tricks.dedup();
    (trimmed != path).then_some((trimmed, tricks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skeletons() {
        assert_eq!(skeleton(".gitconfig"), None);
        let (s, t) = skeleton(".g\u{0456}tconfig").unwrap_or_default();
        assert_eq!((s.as_str(), t), (".gitconfig", vec![Trick::LookAlike]));
        let (s, t) = skeleton(".gitconfig ").unwrap_or_default();
        assert_eq!((s.as_str(), t), (".gitconfig", vec![Trick::Blanks]));
        let (s, _) = skeleton(".ssh\u{2215}config").unwrap_or_default();
        assert_eq!(s, ".ssh/config");
        let (s, t) = skeleton(".bash\u{200B}rc").unwrap_or_default();
        assert_eq!((s.as_str(), t), (".bashrc", vec![Trick::Invisible]));
        let (s, _) = skeleton("\u{FF0E}vimrc").unwrap_or_default();
        assert_eq!(s, ".vimrc");
        let (s, t) = skeleton(".vimrc\u{0301}").unwrap_or_default();
        assert_eq!((s.as_str(), t), (".vimrc", vec![Trick::Combining]));
    }
}
