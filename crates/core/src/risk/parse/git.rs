//! A bounded, in-process parser for git's config syntax (never `git config`).
//!
//! It follows git's grammar where it matters for review: section and key names
//! fold to lower case, subsections in `[section "sub"]` keep their case (legacy
//! `[section.sub]` folds it), values may be quoted, escapes `\n \t \b \" \\` are
//! decoded, a `\` before the newline continues the value on the next line, `;` and
//! `#` start a comment outside quotes, a key without `=` is boolean true. What git
//! would reject (bad escape, unterminated quote, bad key) is an error here too: a
//! file that does not parse is a finding, never a silent pass.

/// Caps that bound the parser's work and memory.
pub const MAX_ENTRIES: usize = 20_000;
/// Longest decoded value accepted.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// One `key = value` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Section, lower case.
    pub section: String,
    /// Subsection, case kept (legacy dotted form folded).
    pub subsection: Option<String>,
    /// Key name, lower case.
    pub name: String,
    /// Decoded value; `None` for a bare key (boolean true).
    pub value: Option<String>,
    /// 1-based line where the key starts.
    pub line: u32,
}

impl Entry {
    /// `section.subsection.name` with the subsection's case kept.
    pub fn full_key(&self) -> String {
        match &self.subsection {
            Some(sub) => format!("{}.{}.{}", self.section, sub, self.name),
            None => format!("{}.{}", self.section, self.name),
        }
    }
}

/// Why a git config did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line.
    pub line: u32,
    /// What was wrong.
    pub reason: String,
}

/// The settings of a git config: key `section.subsection.name` (section and name
/// lower case, subsection as written), the decoded value, no context.
pub fn parse(content: &[u8]) -> Result<Vec<super::Setting>, super::ParseFailed> {
    parse_entries(content)
        .map(|entries| {
            entries
                .into_iter()
                .map(|e| super::Setting {
                    key: e.full_key(),
                    value: e.value,
                    line: e.line,
                    span: None,
                    context: None,
                })
                .collect()
        })
        .map_err(|e| super::ParseFailed {
            line: e.line,
            reason: e.reason,
        })
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u32,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }
    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        if b == b'\n' {
            self.line += 1;
        }
        Some(b)
    }
    fn error<T>(&self, reason: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            line: self.line,
            reason: reason.into(),
        })
    }
    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.bump();
        }
    }
    fn skip_to_eol(&mut self) {
        while let Some(b) = self.peek() {
            if b == b'\n' {
                break;
            }
            self.bump();
        }
    }
}

/// Parses a whole git config file.
pub fn parse_entries(content: &[u8]) -> Result<Vec<Entry>, ParseError> {
    let mut c = Cursor {
        bytes: content,
        pos: 0,
        line: 1,
    };
    // A UTF-8 BOM at the very start is skipped by git.
    if content.starts_with(b"\xEF\xBB\xBF") {
        c.pos = 3;
    }
    let mut entries = Vec::new();
    let mut section: Option<(String, Option<String>)> = None;
    loop {
        c.skip_blanks();
        match c.peek() {
            None => break,
            Some(b'\n') => {
                c.bump();
            }
            Some(b'#' | b';') => c.skip_to_eol(),
            Some(b'[') => {
                c.bump();
                section = Some(parse_section_header(&mut c)?);
            }
            Some(b) if b.is_ascii_alphabetic() => {
                let Some((sec, sub)) = &section else {
                    return c.error("key outside of any section");
                };
                let line = c.line;
                let mut name = String::new();
                while let Some(b) = c.peek() {
                    if b.is_ascii_alphanumeric() || b == b'-' {
                        name.push(b.to_ascii_lowercase() as char);
                        c.bump();
                    } else {
                        break;
                    }
                }
                c.skip_blanks();
                let value = match c.peek() {
                    Some(b'=') => {
                        c.bump();
                        Some(parse_value(&mut c)?)
                    }
                    None | Some(b'\n' | b'#' | b';') => {
                        c.skip_to_eol();
                        None
                    }
                    Some(_) => return c.error(format!("invalid character in key '{name}'")),
                };
                if entries.len() >= MAX_ENTRIES {
                    return c.error(format!("more than {MAX_ENTRIES} settings"));
                }
                entries.push(Entry {
                    section: sec.clone(),
                    subsection: sub.clone(),
                    name,
                    value,
                    line,
                });
            }
            Some(_) => return c.error("invalid key (must start with a letter)"),
        }
    }
    Ok(entries)
}

fn parse_section_header(c: &mut Cursor<'_>) -> Result<(String, Option<String>), ParseError> {
    let mut name = String::new();
    loop {
        match c.peek() {
            Some(b) if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' => {
                name.push(b.to_ascii_lowercase() as char);
                c.bump();
            }
            Some(b']') => {
                c.bump();
                if name.is_empty() {
                    return c.error("empty section name");
                }
                // Legacy `[section.sub]`: the whole name is folded, split at the first dot.
                return Ok(match name.split_once('.') {
                    Some((s, sub)) if !s.is_empty() && !sub.is_empty() => {
                        (s.to_string(), Some(sub.to_string()))
                    }
                    Some(_) => return c.error("invalid section name"),
                    None => (name, None),
                });
            }
            Some(b' ' | b'\t') => break,
            _ => return c.error("invalid section header"),
        }
    }
    c.skip_blanks();
    if c.peek() != Some(b'"') || name.is_empty() || name.contains('.') {
        return c.error("invalid section header");
    }
    c.bump();
    let mut sub = Vec::new();
    loop {
        match c.bump() {
            None | Some(b'\n') => return c.error("unterminated subsection name"),
            Some(b'"') => break,
            Some(b'\\') => match c.bump() {
                None | Some(b'\n') => return c.error("unterminated subsection name"),
                Some(b) => sub.push(b),
            },
            Some(0) => return c.error("NUL in subsection name"),
            Some(b) => sub.push(b),
        }
        if sub.len() > MAX_VALUE_BYTES {
            return c.error("subsection name too long");
        }
    }
    if c.bump() != Some(b']') {
        return c.error("expected ']' after subsection name");
    }
    Ok((name, Some(into_string(sub))))
}

fn parse_value(c: &mut Cursor<'_>) -> Result<String, ParseError> {
    let mut out: Vec<u8> = Vec::new();
    // Length of `out` without trailing unquoted blanks (git drops those).
    let mut keep = 0;
    let mut quoted = false;
    c.skip_blanks();
    loop {
        let Some(b) = c.bump() else {
            if quoted {
                return c.error("unterminated quoted value");
            }
            break;
        };
        match b {
            b'\n' => {
                if quoted {
                    return c.error("unterminated quoted value");
                }
                break;
            }
            // CR before LF ends the line; git strips it (CVE-2025-48384 context).
            b'\r' if c.peek() == Some(b'\n') || c.peek().is_none() => {}
            b'#' | b';' if !quoted => {
                c.skip_to_eol();
                if c.peek() == Some(b'\n') {
                    c.bump();
                }
                break;
            }
            b'"' => quoted = !quoted,
            b'\\' => {
                let escaped = match c.bump() {
                    Some(b'\n') => continue,
                    Some(b'\r') if c.peek() == Some(b'\n') => {
                        c.bump();
                        continue;
                    }
                    Some(b'n') => b'\n',
                    Some(b't') => b'\t',
                    Some(b'b') => 0x08,
                    Some(b'\\') => b'\\',
                    Some(b'"') => b'"',
                    _ => return c.error("invalid escape sequence in value"),
                };
                out.push(escaped);
                keep = out.len();
            }
            b' ' | b'\t' if !quoted => {
                // Leading blanks are skipped; inner ones kept if followed by text.
                if !out.is_empty() {
                    out.push(b);
                }
            }
            _ => {
                out.push(b);
                keep = out.len();
            }
        }
        if out.len() > MAX_VALUE_BYTES {
            return c.error(format!("value longer than {MAX_VALUE_BYTES} bytes"));
        }
    }
    out.truncate(keep);
    Ok(into_string(out))
}

/// Bytes to text without a second copy when they are valid UTF-8 (invalid bytes
/// become U+FFFD here; the content rules report them separately).
fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Entry {
        let mut e = parse_entries(text.as_bytes()).unwrap();
        assert_eq!(e.len(), 1, "{e:?}");
        e.remove(0)
    }

    #[test]
    fn folds_case_but_keeps_subsection() {
        let e = one("[CORE]\n\tFsMonitor = /tmp/x\n");
        assert_eq!(e.full_key(), "core.fsmonitor");
        assert_eq!(e.value.as_deref(), Some("/tmp/x"));
        let e = one("[Url \"Ext::sh\"]\n InsteadOf = https://x/\n");
        assert_eq!(e.full_key(), "url.Ext::sh.insteadof");
        let e = one("[Remote.Origin]\nurl=x\n");
        assert_eq!(e.full_key(), "remote.origin.url");
    }

    #[test]
    fn quoting_escapes_comments_and_continuations() {
        assert_eq!(
            one("[a]\nb = \"x ; y\" ; c\n").value.as_deref(),
            Some("x ; y")
        );
        assert_eq!(one("[a]\nb = x \\\n  y\n").value.as_deref(), Some("x   y"));
        assert_eq!(
            one("[a]\nb = \"q\\\"\\t\\n\"\n").value.as_deref(),
            Some("q\"\t\n")
        );
        assert_eq!(one("[a]\nb = v   # c\n").value.as_deref(), Some("v"));
        assert_eq!(one("[a]\nb\n").value, None);
        assert_eq!(one("[a] b = 1\n").value.as_deref(), Some("1"));
        assert_eq!(one("[a]\r\nb = 1\r\n").value.as_deref(), Some("1"));
        assert_eq!(
            one("[a \"s\\\\q\"]\nb=1").subsection.as_deref(),
            Some("s\\q")
        );
    }

    #[test]
    fn rejects_what_git_rejects() {
        for bad in [
            "b = 1\n",
            "[a]\nb = \"open\n",
            "[a]\nb = \\q\n",
            "[a\nb=1\n",
            "[a \"x]\n",
            "[a]\n1b = x\n",
            "[a]\nb c = 1\n",
            "[.a]\n",
        ] {
            assert!(parse_entries(bad.as_bytes()).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn line_numbers_follow_continuations() {
        let e = parse_entries(b"[a]\nb = 1 \\\n 2\nc = 3\n").unwrap();
        assert_eq!(e[0].line, 2);
        assert_eq!(e[1].line, 4);
    }
}
