//! The one error type of policy loading: every problem that makes dom0 refuse the whole policy.

use std::fmt;

/// Why a policy was refused as a whole. qrexec fails closed: one bad line anywhere means no call
/// is allowed at all, so callers must treat any `PolicyError` as "deny everything".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The file the problem is in, as the loader names it (a path for [`crate::Policy::load_dir`],
    /// the given name for [`crate::Policy::from_files`]).
    pub file: String,
    /// 1-based line number; `0` when the problem is not tied to a line (e.g. a bad file name).
    pub line: u32,
    /// The message, worded as qrexec's own parser words it.
    pub message: String,
    /// What kind of problem this is.
    pub kind: PolicyErrorKind,
}

/// The classes of [`PolicyError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyErrorKind {
    /// A syntax error in a line or directive (qrexec's `PolicySyntaxError`).
    Syntax,
    /// A file in a policy directory has a name outside `[0-9a-z_.-]` (qrexec's
    /// `filter_filepaths`: makes every call fail).
    InvalidFileName,
    /// A file could not be read (missing, permissions, not UTF-8, include loop too deep).
    Io,
}

impl PolicyError {
    pub(crate) fn syntax(file: &str, line: u32, message: impl Into<String>) -> Self {
        PolicyError {
            file: file.to_owned(),
            line,
            message: message.into(),
            kind: PolicyErrorKind::Syntax,
        }
    }

    pub(crate) fn io(file: &str, message: impl Into<String>) -> Self {
        PolicyError {
            file: file.to_owned(),
            line: 0,
            message: message.into(),
            kind: PolicyErrorKind::Io,
        }
    }

    /// True for syntax errors and invalid file names: the policy itself is malformed (as opposed
    /// to unreadable).
    pub fn is_malformed_policy(&self) -> bool {
        matches!(
            self.kind,
            PolicyErrorKind::Syntax | PolicyErrorKind::InvalidFileName
        )
    }
}

/// `file:line: message` for syntax errors (and any error tied to a line); qrexec's own
/// `invalid filename: PATH` for a bad file name; `file: message` for other file problems.
impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PolicyErrorKind::InvalidFileName => f.write_str(&self.message),
            PolicyErrorKind::Io if self.line == 0 => write!(f, "{}: {}", self.file, self.message),
            _ => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

/// Python's `repr()` of a `str`, so messages read exactly like those of qrexec and qubesd,
/// both Python (`'foo'`, `"it's"`).
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_py_unprintable(c) => {
                let v = c as u32;
                if v <= 0xff {
                    out.push_str(&format!("\\x{v:02x}"));
                } else if v <= 0xffff {
                    out.push_str(&format!("\\u{v:04x}"));
                } else {
                    out.push_str(&format!("\\U{v:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// An approximation of Python's `str.isprintable() == false` for non-ASCII characters: C1
/// controls, separators other than the plain space, format characters, surrogates, private use.
fn is_py_unprintable(c: char) -> bool {
    let v = c as u32;
    (0x80..=0xa0).contains(&v)
        || v == 0xad
        || (0x2000..=0x200f).contains(&v)
        || (0x2028..=0x202f).contains(&v)
        || (0x205f..=0x206f).contains(&v)
        || v == 0x3000
        || v == 0xfeff
        || (0xfff9..=0xfffb).contains(&v)
        || (0xe000..=0xf8ff).contains(&v)
}

/// Python's `repr()` of a list or tuple of strings.
pub(crate) fn py_repr_seq<'a>(items: impl IntoIterator<Item = &'a str>, tuple: bool) -> String {
    let parts: Vec<String> = items.into_iter().map(py_repr).collect();
    if tuple {
        if parts.len() == 1 {
            format!("({},)", parts[0])
        } else {
            format!("({})", parts.join(", "))
        }
    } else {
        format!("[{}]", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_matches_python() {
        assert_eq!(py_repr("abc"), "'abc'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_repr("a\tb"), "'a\\tb'");
        assert_eq!(py_repr("é"), "'é'");
        assert_eq!(py_repr("\u{202e}"), "'\\u202e'");
        assert_eq!(py_repr_seq(["/"], true), "('/',)");
        assert_eq!(py_repr_seq(["/", "@"], true), "('/', '@')");
        assert_eq!(py_repr_seq(["a=b", "c"], false), "['a=b', 'c']");
        assert_eq!(py_repr_seq([], false), "[]");
    }
}
