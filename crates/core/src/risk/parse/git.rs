//! git config read the way git's `config.c` reads it (`git_parse_source`,
//! `get_base_var`, `get_extended_base_var`, `get_value`, `parse_value`; reference
//! config-grammars §1), in-process and bounded — never `git config`.
//!
//! * CR LF is LF; a lone CR is an ordinary byte; end of file acts as a final LF.
//! * A complete UTF-8 BOM at byte 0 is skipped; a partial one is an error.
//! * Outside values: SP HT CR LF are blanks, `#`/`;` start a comment, `[` a section
//!   header, an ASCII letter a variable, anything else is an error. A variable
//!   before any header is an orphan (key `name`).
//! * `[Sec]` and the deprecated `[Sec.Sub]` fold to lower case; `[sec "Sub"]`
//!   keeps the subsection verbatim (a backslash takes the next byte literally,
//!   newline is an error, `"` must be directly followed by `]`); `[ "sub"]` has an
//!   empty section.
//! * Variable names: ASCII letter, then alphanumerics or `-`, lower-cased; then
//!   only SP/HT, then end of line (value NULL = true) or `=`.
//! * Values: leading blanks dropped, inner blanks kept, trailing unquoted blanks
//!   cut; `"` toggles quoting; `#`/`;` outside quotes start a comment (where a
//!   backslash does not continue the line); escapes `\n \t \b \" \\` and
//!   backslash-newline (continuation, also inside quotes); any other escape, a
//!   newline inside quotes, fails the whole file.
//!
//! Deliberate refusals where git reads something a reviewer cannot see: a NUL byte
//! anywhere (git silently cuts the key or value at it), and `include.path` /
//! `includeIf.<cond>.path` without a value (every git command dies on it).
//!
//! Key scheme of [`parse`]: `section.subsection.name` with section and name lower
//! case and the subsection as written (`name` alone for an orphan); value: the
//! decoded value, `None` for a bare key; line: where the variable starts; context:
//! the include condition of `includeIf.<cond>.path`.

use std::sync::Arc;

use super::{ParseError as Code, ParseFailed, Setting};
use crate::findings::Span;

/// Caps that bound the parser's work and memory.
pub const MAX_ENTRIES: usize = 200_000;
/// Longest decoded value accepted.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// One `key = value` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Section, lower case (empty for an orphan or `[ "sub"]`); shared by the
    /// entries under one header (no copy per key).
    pub section: Arc<str>,
    /// Subsection, case kept (deprecated dotted form folded); for `[a.b "c"]` it is
    /// `b.c`, as git's key spells it.
    pub subsection: Option<Arc<str>>,
    /// Key name, lower case.
    pub name: String,
    /// Decoded value; `None` for a bare key (boolean true).
    pub value: Option<String>,
    /// 1-based line where the key starts.
    pub line: u32,
    /// True for a variable before any section header (key is `name` alone).
    pub orphan: bool,
    /// Byte offsets of the key name in its line.
    pub name_span: (usize, usize),
}

impl Entry {
    /// The key as `git config --list` prints it.
    pub fn full_key(&self) -> String {
        if self.orphan {
            return self.name.clone();
        }
        let sub = self.subsection.as_deref();
        let mut key = String::with_capacity(
            self.section.len() + sub.map_or(0, |s| s.len() + 1) + self.name.len() + 1,
        );
        key.push_str(&self.section);
        if let Some(sub) = sub {
            key.push('.');
            key.push_str(sub);
        }
        key.push('.');
        key.push_str(&self.name);
        key
    }
}

/// Why a git config did not parse (the parsers' one error type).
pub type ParseError = ParseFailed;

/// git's `get_next_char`: CR LF → LF, EOF → LF (with `eof` set).
struct Src<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// 1-based line of the next byte.
    line: u32,
    line_start: usize,
    eof: bool,
}

impl Src<'_> {
    fn next(&mut self) -> u8 {
        let Some(&c) = self.bytes.get(self.pos) else {
            self.eof = true;
            return b'\n';
        };
        self.pos += 1;
        let c = if c == b'\r' && self.bytes.get(self.pos) == Some(&b'\n') {
            self.pos += 1;
            b'\n'
        } else {
            c
        };
        if c == b'\n' {
            self.line += 1;
            self.line_start = self.pos;
        }
        c
    }

    fn fail<T>(&self, line: u32, error: Code) -> Result<T, ParseError> {
        Err(ParseFailed::new(line, error))
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_keychar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `lossy` for bytes already owned: valid UTF-8 (the usual case) is moved, not copied.
fn lossy_owned(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap_or_else(|e| lossy(e.as_bytes()))
}

/// The section header after `[`: the lower-cased dotted part and the quoted
/// subsection (if any), or `None` when git rejects it.
fn base_var(s: &mut Src<'_>) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let mut name = Vec::new();
    loop {
        let c = s.next();
        if s.eof {
            return None;
        }
        if c == b']' {
            return Some((name, None));
        }
        if is_space(c) {
            return extended_base_var(s, c).map(|sub| (name, Some(sub)));
        }
        if !is_keychar(c) && c != b'.' {
            return None;
        }
        name.push(c.to_ascii_lowercase());
    }
}

fn extended_base_var(s: &mut Src<'_>, mut c: u8) -> Option<Vec<u8>> {
    loop {
        if c == b'\n' {
            return None;
        }
        c = s.next();
        if !is_space(c) {
            break;
        }
    }
    if c != b'"' {
        return None;
    }
    let mut sub = Vec::new();
    loop {
        let mut c = s.next();
        if c == b'\n' {
            return None;
        }
        if c == b'"' {
            break;
        }
        if c == b'\\' {
            c = s.next();
            if c == b'\n' {
                return None;
            }
        }
        sub.push(c);
    }
    (s.next() == b']').then_some(sub)
}

/// git's `parse_value`, after the `=`.
fn value(s: &mut Src<'_>) -> Option<Vec<u8>> {
    // Sized for the rest of the physical line (the usual whole value) so that long
    // values are not grown step by step; continuations may still grow it.
    let rest = &s.bytes[s.pos.min(s.bytes.len())..];
    let line_len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    let line = &rest[..line_len];
    // Fast path, same result as the loop below: a rest of line without quotes,
    // escapes or continuations, comments or CR (CR LF is a line end) is its text with leading and trailing SP/HT cut (inner
    // blanks kept; LF, the only other blank, ends it).
    if memchr::memchr3(b'"', b'\\', b'#', line).is_none()
        && memchr::memchr2(b';', b'\r', line).is_none()
    {
        let blank = |c: &u8| *c == b' ' || *c == b'\t';
        let start = line.iter().position(|c| !blank(c)).unwrap_or(line.len());
        let end = line
            .iter()
            .rposition(|c| !blank(c))
            .map_or(start, |e| e + 1);
        if end - start > MAX_VALUE_BYTES {
            return None;
        }
        let v = line[start..end].to_vec();
        // Consume the line and its LF like `Src::next` does (end of file acts as LF).
        s.pos += line_len;
        if s.pos < s.bytes.len() {
            s.pos += 1;
            s.line += 1;
            s.line_start = s.pos;
        } else {
            s.eof = true;
        }
        return Some(v);
    }
    let mut quote = false;
    let mut comment = false;
    let mut trim_len = 0usize;
    let mut v: Vec<u8> = Vec::with_capacity(line_len.min(MAX_VALUE_BYTES));
    loop {
        let c = s.next();
        if c == b'\n' {
            if quote {
                return None;
            }
            if trim_len != 0 {
                v.truncate(trim_len);
            }
            return Some(v);
        }
        if comment {
            continue;
        }
        if is_space(c) && !quote {
            if trim_len == 0 {
                trim_len = v.len();
            }
            if !v.is_empty() {
                v.push(c);
            }
            continue;
        }
        if !quote && (c == b';' || c == b'#') {
            comment = true;
            continue;
        }
        trim_len = 0;
        if c == b'\\' {
            let e = s.next();
            let decoded = match e {
                b'\n' => continue,
                b't' => b'\t',
                b'b' => 8,
                b'n' => b'\n',
                b'\\' | b'"' => e,
                _ => return None,
            };
            v.push(decoded);
            continue;
        }
        if c == b'"' {
            quote = !quote;
            continue;
        }
        v.push(c);
        if v.len() > MAX_VALUE_BYTES {
            return None;
        }
    }
}

/// Parses a git config into its entries, in file order.
pub fn parse_entries(content: &[u8]) -> Result<Vec<Entry>, ParseError> {
    if let Some(at) = memchr::memchr(0, content) {
        let line = content[..at].iter().filter(|b| **b == b'\n').count() as u32 + 1;
        return Err(ParseFailed::new(line, Code::NulByte));
    }
    let mut s = Src {
        bytes: content,
        pos: 0,
        line: 1,
        line_start: 0,
        eof: false,
    };
    // git_parse_source: a complete BOM is skipped, a partial one is an error.
    let bom = b"\xEF\xBB\xBF";
    let matched = content.iter().zip(bom).take_while(|(a, b)| a == b).count();
    if matched == 3 {
        s.pos = 3;
    } else if matched > 0 {
        return s.fail(1, Code::IncompleteBom);
    }
    let mut entries = Vec::new();
    let mut comment = false;
    // (section, subsection) of the current header; None before the first.
    let mut header: Option<(Arc<str>, Option<Arc<str>>)> = None;
    loop {
        let c = s.next();
        if s.eof {
            return Ok(entries);
        }
        if c == b'\n' {
            comment = false;
            continue;
        }
        if comment || is_space(c) {
            continue;
        }
        if c == b'#' || c == b';' {
            comment = true;
            continue;
        }
        let line = s.line;
        if c == b'[' {
            let Some((base, sub)) = base_var(&mut s) else {
                return s.fail(line, Code::BadSectionHeader);
            };
            if base.is_empty() && sub.is_none() {
                return s.fail(line, Code::EmptySectionName);
            }
            // The key is `base[.sub].name`; split it at its first dot like the
            // rules do (section, then subsection up to the last dot).
            let full: Vec<u8> = match &sub {
                Some(q) => [&base[..], b".", &q[..]].concat(),
                None => base.clone(),
            };
            let (section, subsection) = match full.iter().position(|b| *b == b'.') {
                Some(dot) => (
                    Arc::from(lossy(&full[..dot])),
                    Some(Arc::from(lossy(&full[dot + 1..]))),
                ),
                None => (Arc::from(lossy(&full)), None),
            };
            header = Some((section, subsection));
            continue;
        }
        if !c.is_ascii_alphabetic() {
            return s.fail(line, Code::BadLineStart { byte: c });
        }
        let name_start = s.pos - 1 - s.line_start;
        let mut name = Vec::with_capacity(24);
        name.push(c.to_ascii_lowercase());
        let mut c;
        loop {
            c = s.next();
            if s.eof || !is_keychar(c) {
                break;
            }
            name.push(c.to_ascii_lowercase());
        }
        let name_end = name_start + name.len();
        while c == b' ' || c == b'\t' {
            c = s.next();
        }
        let value = if c == b'\n' {
            None
        } else if c != b'=' {
            return s.fail(line, Code::KeyWithoutEquals);
        } else {
            match value(&mut s) {
                Some(v) => Some(lossy_owned(v)),
                None => {
                    return s.fail(s.line.saturating_sub(1).max(line), Code::BadValue);
                }
            }
        };
        let (section, subsection, orphan) = match &header {
            Some((sec, sub)) => (sec.clone(), sub.clone(), false),
            None => (Arc::from(""), None, true),
        };
        let name = lossy_owned(name);
        let is_include = !orphan
            && name == "path"
            && ((&*section == "include" && subsection.is_none())
                || (&*section == "includeif" && subsection.is_some()));
        if is_include && value.is_none() {
            return s.fail(line, Code::IncludeWithoutValue);
        }
        if entries.len() >= MAX_ENTRIES {
            return s.fail(line, Code::TooManySettings { limit: MAX_ENTRIES });
        }
        entries.push(Entry {
            section,
            subsection,
            name,
            value,
            line,
            orphan,
            name_span: (name_start, name_end),
        });
    }
}

/// The settings of a git config (key scheme in the module doc).
pub fn parse(content: &[u8]) -> Result<Vec<Setting>, ParseFailed> {
    parse_entries(content)
        .as_deref()
        .map(settings_of)
        .map_err(Clone::clone)
}

/// The settings of parsed entries (one parse serves the key rules and the classes).
pub fn settings_of(entries: &[Entry]) -> Vec<Setting> {
    entries
        .iter()
        .map(|e| setting(e, e.value.clone()))
        .collect()
}

/// [`settings_of`] that moves each value out of its entry instead of copying it
/// (the entries are left with `value: None`): the scan keeps one copy of every
/// value, in the settings, and reads the entries' values from there.
pub fn take_settings(entries: &mut [Entry]) -> Vec<Setting> {
    entries
        .iter_mut()
        .map(|e| {
            let value = e.value.take();
            setting(e, value)
        })
        .collect()
}

fn setting(e: &Entry, value: Option<String>) -> Setting {
    Setting {
        key: e.full_key(),
        context: (&*e.section == "includeif" && e.name == "path")
            .then(|| e.subsection.as_deref().map(str::to_owned))
            .flatten(),
        value,
        line: e.line,
        span: Some(Span {
            start: e.name_span.0,
            end: e.name_span.1,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &[u8]) -> Vec<String> {
        parse_entries(text)
            .unwrap_or_default()
            .iter()
            .map(|e| match &e.value {
                Some(v) => format!("{}={v}", e.full_key()),
                None => e.full_key(),
            })
            .collect()
    }

    #[test]
    fn grammar_examples_from_the_reference() {
        assert_eq!(list(b"[core] bare = true"), ["core.bare=true"]);
        assert_eq!(list(b"[a \"b\"]x = 1"), ["a.b.x=1"]);
        assert_eq!(list(b"k = v\n"), ["k=v"]);
        assert_eq!(list(b"[Sec \"SubSec\"]\nKey"), ["sec.SubSec.key"]);
        assert_eq!(list(b"[a.B \"c\"]\nk=1"), ["a.b.c.k=1"]);
        assert_eq!(list(b"[A.B.C]\nk=1"), ["a.b.c.k=1"]);
        assert_eq!(list(b"[ \"sub\"]\nk=1"), [".sub.k=1"]);
        assert_eq!(list(b"[a \"s\\tu\\\"b\\\\c\\0\"]\nk"), ["a.stu\"b\\c0.k"]);
        assert_eq!(list(b"[a]\nkey = foo   bar  # c\n"), ["a.key=foo   bar"]);
        assert_eq!(
            list(b"[a]\nkey = \"  foo # bar ; baz  \"  \n"),
            ["a.key=  foo # bar ; baz  "]
        );
        assert_eq!(list(b"[a]\nkey = foo\\\n   bar\n"), ["a.key=foo   bar"]);
        assert_eq!(list(b"[a]\nkey = v\\\r\n w\r\n"), ["a.key=v w"]);
        assert_eq!(list(b"[a]\nkey = v\\"), ["a.key=v"]);
        assert_eq!(list(b"[a]\nkey = a\"b c\"d"), ["a.key=ab cd"]);
        assert_eq!(
            list(b"[a]\nkey = foo # c \\\nbar\n"),
            ["a.key=foo", "a.bar"]
        );
        assert_eq!(list(b"[a]\nkey =\n"), ["a.key="]);
        assert_eq!(list(b"\xEF\xBB\xBF[a]\nk=1"), ["a.k=1"]);
        assert_eq!(list(b"[a]\nk = v\x0b\x0c\n"), ["a.k=v\x0b\x0c"]);
        assert_eq!(list(b"[a]\nk = v\rw\n"), ["a.k=v\rw"]);
    }

    #[test]
    fn what_git_refuses_is_refused() {
        for bad in [
            &b"[a_b]\nk=1"[..],
            b"[]\nk=1",
            b"[ core]\nk=1",
            b"[core ]\nk=1",
            b"[a \"sub\" ]\nk=1",
            b"[a \"b\" \"c\"]\nk=1",
            b"[a.\"b\"]\nk=1",
            b"[a]\nk_ey = 1",
            b"[a]\n1key = 1",
            b"[a]\nkey # comment\n",
            b"[a]\nkey ; comment\n",
            b"[a]\nkey\r",
            b"[a]\nkey = \"foo\nbar\"\n",
            b"[a]\nkey = \\a\n",
            b"\xEF\xBB[a]\n",
            b"[a]\n\xEF\xBB\xBFk=1\n",
            b"[a \"s\\\nb\"]\n",
            b"[include]\npath\n",
            b"[a]\nk = v\x00w\n",
        ] {
            assert!(
                parse_entries(bad).is_err(),
                "{:?} parsed",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn lines_and_include_context() {
        let s = parse(b"[a]\nx = 1 \\\n 2\n[includeIf \"gitdir:~/w/\"]\n\tpath = w.inc\n")
            .unwrap_or_default();
        assert_eq!(s[0].line, 2);
        assert_eq!(s[1].key, "includeif.gitdir:~/w/.path");
        assert_eq!(s[1].context.as_deref(), Some("gitdir:~/w/"));
        assert_eq!(s[1].line, 5);
        assert_eq!(s[1].span, Some(Span { start: 1, end: 5 }));
    }
}
