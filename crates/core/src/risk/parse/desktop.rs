//! Desktop entries (`*.desktop`, also autostart entries) read the way GLib's key-file
//! parser reads them for the Desktop Entry Specification: `#` comment lines, blank
//! lines, `[Group]` headers, `Key=Value` or `Key[locale]=Value` lines with blanks
//! around `=` dropped, and the spec's escapes (`\s \n \t \r \\`) in values. A file that
//! GLib would refuse (a line before the first group, a line that is neither of these,
//! a malformed group or key) fails to parse. It never runs an `Exec` line.
//!
//! Key scheme: the key without its locale, as written (keys are case-sensitive);
//! context: the group (`Desktop Entry`, `Desktop Action new-window`, …).

use super::{ParseError, ParseFailed, Setting};

fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(x) => {
                out.push('\\');
                out.push(x);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Parses a desktop entry into settings (see the module doc for the key scheme).
pub fn parse(content: &[u8]) -> Result<Vec<Setting>, ParseFailed> {
    let text = std::str::from_utf8(content).map_err(|e| ParseFailed::not_utf8(content, &e))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut group: Option<String> = None;
    let mut out = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line = n as u32 + 1;
        let fail = |error: ParseError| ParseFailed::new(line, error);
        let l = raw.strip_suffix('\r').unwrap_or(raw);
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.starts_with('[') {
            let name = t
                .trim_end()
                .strip_prefix('[')
                .and_then(|x| x.strip_suffix(']'))
                .ok_or_else(|| fail(ParseError::MalformedGroupHeader))?;
            if name.is_empty() || name.contains(['[', ']']) || name.chars().any(char::is_control) {
                return Err(fail(ParseError::InvalidGroupName));
            }
            group = Some(name.to_string());
            continue;
        }
        let Some(g) = &group else {
            return Err(fail(ParseError::NoGroupFirst));
        };
        let Some((k, v)) = l.split_once('=') else {
            return Err(fail(ParseError::NotKeyValueGroupOrComment));
        };
        let k = k.trim();
        let (key, locale_ok) = match k.split_once('[') {
            Some((base, loc)) => (base, loc.ends_with(']') && !loc[..loc.len() - 1].is_empty()),
            None => (k, true),
        };
        if !valid_key(key) || !locale_ok {
            return Err(fail(ParseError::InvalidKeyName));
        }
        out.push(Setting {
            key: key.to_string(),
            value: Some(unescape(v.trim_start())),
            line,
            span: None,
            context: Some(g.clone()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries() {
        let s = parse(b"[Desktop Entry]\nName=Terminal\nName[de]=Terminal\nExec = xterm -e\\sx\n[Desktop Action n]\nExec=evil\n").unwrap();
        let keys: Vec<_> = s
            .iter()
            .map(|s| (s.key.as_str(), s.context.as_deref()))
            .collect();
        assert_eq!(
            keys,
            [
                ("Name", Some("Desktop Entry")),
                ("Name", Some("Desktop Entry")),
                ("Exec", Some("Desktop Entry")),
                ("Exec", Some("Desktop Action n"))
            ]
        );
        assert_eq!(s[2].value.as_deref(), Some("xterm -e x"));
        assert!(parse(b"Exec=x\n").is_err());
        assert!(parse(b"[Desktop Entry]\nExec x\n").is_err());
        assert!(parse(b"[Desktop Entry]\nE_x=1\n").is_err());
    }
}
