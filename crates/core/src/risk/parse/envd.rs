//! `~/.config/environment.d/*.conf` read the way systemd's environment generator
//! reads it (environment.d(5), `parse_env_file`): `#` and `;` comment lines, blank
//! lines, `KEY=VALUE` with KEY a valid variable name, values in single quotes
//! (literal), double quotes (`\` escapes `"`, `\`, `` ` ``, `$`) or bare (`\` escapes
//! the next character, trailing blanks dropped), a trailing backslash continuing a
//! bare value. `${OTHER}`/`$OTHER` references are kept as written (they are expanded
//! at login). A line systemd would skip as invalid fails to parse. It never expands
//! or exports anything.
//!
//! Key scheme: `NAME=`; value after unquoting.

use super::{ParseError, ParseFailed, Setting};

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// Unquotes a value; `Err` for an unterminated quote. `more` is set when a bare value
/// ends in a backslash (continued on the next line).
fn value(v: &str, more: &mut bool) -> Result<String, ParseError> {
    let c: Vec<char> = v.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    *more = false;
    match c.first() {
        Some('\'') => {
            let end = c[1..]
                .iter()
                .position(|&x| x == '\'')
                .ok_or(ParseError::UnterminatedSingleQuote)?;
            out.extend(&c[1..1 + end]);
            i = end + 2;
        }
        Some('"') => {
            i = 1;
            loop {
                match c.get(i) {
                    None => return Err(ParseError::UnterminatedDoubleQuote),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some('\\') if matches!(c.get(i + 1), Some('"' | '\\' | '`' | '$')) => {
                        out.push(c[i + 1]);
                        i += 2;
                    }
                    Some(&x) => {
                        out.push(x);
                        i += 1;
                    }
                }
            }
        }
        _ => {
            while i < c.len() {
                if c[i] == '\\' {
                    match c.get(i + 1) {
                        Some(&x) => out.push(x),
                        None => *more = true,
                    }
                    i += 2;
                } else {
                    out.push(c[i]);
                    i += 1;
                }
            }
            return Ok(out.trim_end().to_string());
        }
    }
    if c[i..].iter().any(|x| !x.is_whitespace()) {
        return Err(ParseError::TextAfterClosingQuote);
    }
    Ok(out)
}

/// Parses an environment.d file into settings (see the module doc for the key scheme).
pub fn parse(content: &[u8]) -> Result<Vec<Setting>, ParseFailed> {
    let text = std::str::from_utf8(content).map_err(|e| ParseFailed::not_utf8(content, &e))?;
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = i as u32 + 1;
        let fail = |error: ParseError| ParseFailed::new(line, error);
        let l = lines[i].trim();
        i += 1;
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if l.contains('\0') {
            return Err(fail(ParseError::NulByte));
        }
        let (k, v) = l
            .split_once('=')
            .ok_or_else(|| fail(ParseError::NotKeyValue))?;
        let k = k.trim();
        let k = k.strip_prefix("export ").map(str::trim).unwrap_or(k);
        if !is_name(k) {
            return Err(fail(ParseError::InvalidVariableName));
        }
        let mut more = false;
        let mut val = value(v.trim_start(), &mut more).map_err(fail)?;
        while more && i < lines.len() {
            let next = value(lines[i].trim_start(), &mut more).map_err(fail)?;
            val.push_str(&next);
            i += 1;
        }
        out.push(Setting {
            key: format!("{k}="),
            value: Some(val),
            line,
            span: None,
            context: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments() {
        let s = parse(b"# c\nEDITOR=vim\nPATH=\"${HOME}/bin:$PATH\"\nX='a b' \n").unwrap();
        let k: Vec<_> = s
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_deref()))
            .collect();
        assert_eq!(
            k,
            [
                ("EDITOR=", Some("vim")),
                ("PATH=", Some("${HOME}/bin:$PATH")),
                ("X=", Some("a b"))
            ]
        );
        assert!(parse(b"1X=2\n").is_err());
        assert!(parse(b"X=\"a\n").is_err());
        assert!(parse(b"just words\n").is_err());
    }
}
