//! git attributes (`~/.config/git/attributes`, `.gitattributes`) read the way git's
//! `attr.c` reads them: leading blanks skipped, `#` comment lines, a C-quoted or
//! blank-delimited pattern, then attribute states separated by blanks (space, tab,
//! CR, LF): `name` (set), `-name` (unset), `!name` (unspecified), `name=value`;
//! `[attr]name states…` defines a macro. A UTF-8 BOM at the start is skipped.
//!
//! Key scheme: the attribute name for set and `name=value` states, `-name` for unset,
//! `!name` for unspecified; value: the value of `name=value`, `None` otherwise;
//! context: the pattern, or `[attr]<macro>` for a macro definition (which is itself a
//! setting with key `[attr]` and the macro name as value).
//!
//! Lines git ignores with a warning (invalid attribute names, reserved `builtin_`
//! names, lines of 2048 bytes or more, a bad macro name) are `ParseFailed`: the
//! reviewer would see a line git does not apply.

use super::{ParseError, ParseFailed, Setting};

/// git's `ATTR_MAX_LINE_LENGTH`.
const MAX_LINE: usize = 2048;
const BLANK: &[u8] = b" \t\r\n";

fn is_blank(b: u8) -> bool {
    BLANK.contains(&b)
}

fn skip_blanks(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| is_blank(**b)).count();
    &s[n..]
}

fn word_len(s: &[u8]) -> usize {
    s.iter().take_while(|b| !is_blank(**b)).count()
}

/// git's `attr_name_valid`: non-empty, no leading `-`, only `[-._0-9a-zA-Z]`.
fn name_valid(name: &[u8]) -> bool {
    !name.is_empty()
        && name[0] != b'-'
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// git's `unquote_c_style` on a string starting with `"`: the unquoted bytes and
/// the rest after the closing quote, or `None` when it is not a valid C string.
pub(crate) fn unquote_c(s: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        let b = *s.get(i)?;
        i += 1;
        match b {
            b'"' => return Some((out, &s[i..])),
            b'\\' => {
                let e = *s.get(i)?;
                i += 1;
                match e {
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'v' => out.push(11),
                    b'\\' | b'"' => out.push(e),
                    b'0'..=b'3' => {
                        let d1 = *s.get(i)?;
                        let d2 = *s.get(i + 1)?;
                        if !(b'0'..=b'7').contains(&d1) || !(b'0'..=b'7').contains(&d2) {
                            return None;
                        }
                        i += 2;
                        out.push(((e - b'0') << 6) | ((d1 - b'0') << 3) | (d2 - b'0'));
                    }
                    _ => return None,
                }
            }
            _ => out.push(b),
        }
    }
}

/// Parses a git attributes file into its attribute states.
pub fn parse(content: &[u8]) -> Result<Vec<Setting>, ParseFailed> {
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    let mut settings = Vec::new();
    for (i, raw) in content.split(|b| *b == b'\n').enumerate() {
        let line = i as u32 + 1;
        let fail = |error: ParseError| Err(ParseFailed::new(line, error));
        let cp = skip_blanks(raw);
        if cp.is_empty() || cp[0] == b'#' {
            continue;
        }
        if raw.len() + 1 >= MAX_LINE {
            return fail(ParseError::LongLine { bytes: raw.len() });
        }
        let quoted = if cp[0] == b'"' { unquote_c(cp) } else { None };
        let (pattern, states): (Vec<u8>, &[u8]) = match quoted {
            Some((p, rest)) => (p, rest),
            None => {
                let n = word_len(cp);
                (cp[..n].to_vec(), &cp[n..])
            }
        };
        let mut context = String::from_utf8_lossy(&pattern).into_owned();
        let mut states = states;
        if pattern.len() > b"[attr]".len() && pattern.starts_with(b"[attr]") {
            // git re-reads the macro name from the raw text after `[attr]`.
            let after = skip_blanks(&cp[b"[attr]".len()..]);
            let n = word_len(after);
            let name = &after[..n];
            if !name_valid(name) {
                return fail(ParseError::InvalidMacroName {
                    name: String::from_utf8_lossy(name).into_owned(),
                });
            }
            let name = String::from_utf8_lossy(name).into_owned();
            context = format!("[attr]{name}");
            states = &after[n..];
            settings.push(Setting {
                key: "[attr]".into(),
                value: Some(name),
                line,
                span: None,
                context: Some(context.clone()),
            });
        }
        let mut rest = skip_blanks(states);
        while !rest.is_empty() {
            let n = word_len(rest);
            let word = &rest[..n];
            rest = skip_blanks(&rest[n..]);
            let (name, value) = match word.iter().position(|b| *b == b'=') {
                Some(eq) => (&word[..eq], Some(&word[eq + 1..])),
                None => (word, None),
            };
            let (prefix, bare) = match name.first() {
                Some(b'-' | b'!') => (&name[..1], &name[1..]),
                _ => (&name[..0], name),
            };
            if !name_valid(bare) || bare.starts_with(b"builtin_") {
                return fail(ParseError::InvalidAttribute {
                    attribute: String::from_utf8_lossy(word).into_owned(),
                });
            }
            // `-a=b` / `!a=b`: git takes the state from the prefix and drops the value.
            let value = if prefix.is_empty() {
                value.map(|v| String::from_utf8_lossy(v).into_owned())
            } else {
                None
            };
            settings.push(Setting {
                key: format!(
                    "{}{}",
                    String::from_utf8_lossy(prefix),
                    String::from_utf8_lossy(bare)
                ),
                value,
                line,
                span: None,
                context: Some(context.clone()),
            });
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_macros() {
        let s = parse(b"\xEF\xBB\xBF*.c text -diff !eol filter=x\n[attr]bin -diff -merge\n\"a b\" merge=m\n# c\n")
            .unwrap_or_default();
        let keys: Vec<(&str, Option<&str>, Option<&str>)> = s
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_deref(), s.context.as_deref()))
            .collect();
        assert_eq!(
            keys,
            [
                ("text", None, Some("*.c")),
                ("-diff", None, Some("*.c")),
                ("!eol", None, Some("*.c")),
                ("filter", Some("x"), Some("*.c")),
                ("[attr]", Some("bin"), Some("[attr]bin")),
                ("-diff", None, Some("[attr]bin")),
                ("-merge", None, Some("[attr]bin")),
                ("merge", Some("m"), Some("a b")),
            ]
        );
        assert!(parse(b"* builtin_objectmode=x\n").is_err());
        assert!(parse(b"* a$b\n").is_err());
    }
}
