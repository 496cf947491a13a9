//! Validation of the file paths carried by requests: always relative to the service
//! user's home, never able to name anything outside it or to hide what they name.

use std::fmt;

use crate::limits::MAX_PATH_BYTES;

/// Why a path was refused. Each variant is a rule of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path is {len} bytes long, the limit is {MAX_PATH_BYTES}")]
    TooLong { len: usize },
    #[error("path is absolute; it must be relative to the home directory")]
    Absolute,
    #[error("path has an empty component (a doubled or trailing '/')")]
    EmptyComponent,
    #[error("path has a '.' component")]
    DotComponent,
    #[error("path has a '..' component")]
    DotDotComponent,
    #[error("path component starts with '-'")]
    LeadingDash,
    #[error("path contains {} at byte {offset}", describe_char(*.ch))]
    ForbiddenChar { ch: char, offset: usize },
    #[error("path is not valid UTF-8")]
    InvalidUtf8,
}

/// A path relative to the home directory that passed every rule of
/// [`validate_relative_path`]. Components are separated by single `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelativePath(String);

impl RelativePath {
    /// The components, in order; none is empty, `.`, `..` or starts with `-`.
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &str> + Clone {
        self.0.split('/')
    }

    /// The last component (the file name).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// All components but the last (the parent directories), possibly none.
    pub fn parent_components(&self) -> impl Iterator<Item = &str> {
        let mut all: Vec<&str> = self.components().collect();
        all.pop();
        all.into_iter()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for RelativePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lookups by text in maps keyed by paths (equality, order and hash are the text's).
impl std::borrow::Borrow<str> for RelativePath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RelativePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RelativePath {
    type Error = PathError;
    fn try_from(value: String) -> Result<Self, PathError> {
        validate_relative_path(&value)?;
        Ok(RelativePath(value))
    }
}

impl From<RelativePath> for String {
    fn from(value: RelativePath) -> String {
        value.0
    }
}

impl serde::Serialize for RelativePath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for RelativePath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        RelativePath::try_from(raw).map_err(|e| crate::violation(crate::Violation::Path(e)))
    }
}

/// Checks a path against the protocol rules: relative to home, at most
/// [`MAX_PATH_BYTES`], no empty, `.` or `..` components, no component starting with
/// `-`, and no control, bidi, invisible or odd-space characters.
pub fn validate_relative_path(p: &str) -> Result<RelativePath, PathError> {
    if p.is_empty() {
        return Err(PathError::Empty);
    }
    if p.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong { len: p.len() });
    }
    if let Some((offset, ch)) = p.char_indices().find(|&(_, c)| is_forbidden_char(c)) {
        return Err(PathError::ForbiddenChar { ch, offset });
    }
    if p.starts_with('/') {
        return Err(PathError::Absolute);
    }
    for component in p.split('/') {
        match component {
            "" => return Err(PathError::EmptyComponent),
            "." => return Err(PathError::DotComponent),
            ".." => return Err(PathError::DotDotComponent),
            c if c.starts_with('-') => return Err(PathError::LeadingDash),
            _ => {}
        }
    }
    Ok(RelativePath(p.to_owned()))
}

/// Like [`validate_relative_path`] for raw bytes, which must first be valid UTF-8.
pub fn validate_relative_path_bytes(p: &[u8]) -> Result<RelativePath, PathError> {
    let text = std::str::from_utf8(p).map_err(|_| PathError::InvalidUtf8)?;
    validate_relative_path(text)
}

/// Characters a path must not contain: controls (C0, DEL, C1), bidi controls,
/// zero-width and other invisible characters, and every whitespace but the plain
/// space (NBSP and friends look like a space and are not).
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(
            c,
            '\u{00AD}'                  // soft hyphen
            | '\u{034F}'                // combining grapheme joiner
            | '\u{061C}'                // arabic letter mark
            | '\u{115F}' | '\u{1160}'   // hangul fillers
            | '\u{17B4}' | '\u{17B5}'   // khmer inherent vowels
            | '\u{180B}'..='\u{180F}'   // mongolian selectors and vowel separator
            | '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}'   // bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}'   // word joiner, invisible operators, bidi isolates
            | '\u{3164}'                // hangul filler
            | '\u{FE00}'..='\u{FE0F}'   // variation selectors
            | '\u{FEFF}'                // byte order mark / zero-width no-break space
            | '\u{FFA0}'                // halfwidth hangul filler
            | '\u{FFF0}'..='\u{FFFB}'   // interlinear annotations and specials
            | '\u{1D173}'..='\u{1D17A}' // musical formatting
            | '\u{E0000}'..='\u{E0FFF}' // tags and variation selectors supplement
        )
}

fn describe_char(c: char) -> String {
    format!("the forbidden character U+{:04X}", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_dotfiles() {
        for ok in [
            ".gitconfig",
            ".config/git/ignore",
            ".ssh/config",
            "My Documents/notes.txt",
            "a-b/c.d",
            "..hidden",
            "...",
            "é/ü",
        ] {
            let p = validate_relative_path(ok).unwrap();
            assert_eq!(p.as_ref(), ok);
        }
        let p = validate_relative_path(".config/git/ignore").unwrap();
        assert_eq!(
            p.components().collect::<Vec<_>>(),
            [".config", "git", "ignore"]
        );
        assert_eq!(
            p.parent_components().collect::<Vec<_>>(),
            [".config", "git"]
        );
        assert_eq!(p.file_name(), "ignore");
    }

    #[test]
    fn refuses_each_rule() {
        use PathError::*;
        let cases: &[(&str, PathError)] = &[
            ("", Empty),
            ("/etc/passwd", Absolute),
            ("a//b", EmptyComponent),
            ("a/", EmptyComponent),
            ("./a", DotComponent),
            ("a/./b", DotComponent),
            ("..", DotDotComponent),
            ("../x", DotDotComponent),
            ("a/../../x", DotDotComponent),
            ("-rf", LeadingDash),
            ("a/-b", LeadingDash),
            (
                "a\nb",
                ForbiddenChar {
                    ch: '\n',
                    offset: 1,
                },
            ),
            (
                "a\0b",
                ForbiddenChar {
                    ch: '\0',
                    offset: 1,
                },
            ),
            (
                "a\rb",
                ForbiddenChar {
                    ch: '\r',
                    offset: 1,
                },
            ),
            (
                "a\u{7f}",
                ForbiddenChar {
                    ch: '\u{7f}',
                    offset: 1,
                },
            ),
            (
                "a\u{85}",
                ForbiddenChar {
                    ch: '\u{85}',
                    offset: 1,
                },
            ),
            (
                "x\u{202E}fdp.exe",
                ForbiddenChar {
                    ch: '\u{202E}',
                    offset: 1,
                },
            ),
            (
                "x\u{2066}",
                ForbiddenChar {
                    ch: '\u{2066}',
                    offset: 1,
                },
            ),
            (
                "x\u{200B}",
                ForbiddenChar {
                    ch: '\u{200B}',
                    offset: 1,
                },
            ),
            (
                "x\u{FEFF}",
                ForbiddenChar {
                    ch: '\u{FEFF}',
                    offset: 1,
                },
            ),
            (
                "x\u{00A0}y",
                ForbiddenChar {
                    ch: '\u{00A0}',
                    offset: 1,
                },
            ),
            (
                "x\u{E0041}",
                ForbiddenChar {
                    ch: '\u{E0041}',
                    offset: 1,
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                validate_relative_path(input).unwrap_err(),
                *expected,
                "{input:?}"
            );
        }
        let long = "a/".repeat(2048) + "b";
        assert_eq!(
            validate_relative_path(&long).unwrap_err(),
            TooLong { len: long.len() }
        );
        let exactly = "a".repeat(MAX_PATH_BYTES);
        assert!(validate_relative_path(&exactly).is_ok());
        assert_eq!(
            validate_relative_path_bytes(b"a\xff").unwrap_err(),
            InvalidUtf8
        );
    }
}
