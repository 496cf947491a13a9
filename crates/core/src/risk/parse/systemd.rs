//! systemd unit files (user units and drop-ins) read the way systemd's
//! `config_parse` reads them (systemd.syntax(7)): `#` and `;` comment lines,
//! `[Section]` headers, `Key=Value` with blanks around `=` dropped, a trailing
//! backslash joining the next line with a space (comment lines inside a continuation
//! are skipped). systemd warns about and ignores a line without `=` or an assignment
//! before the first section; here both fail to parse, so a line the review would
//! otherwise not show cannot hide anything. It never starts a unit.
//!
//! Key scheme: `<Section>.<Key>` as written (`Service.ExecStart`, `Unit.Description`,
//! `Install.WantedBy`); value after the `=`; an empty value (a reset) is `Some("")`.

use super::{ParseError, ParseFailed, Setting};

fn valid_name(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Parses a unit file into settings (see the module doc for the key scheme).
pub fn parse(content: &[u8]) -> Result<Vec<Setting>, ParseFailed> {
    let text = std::str::from_utf8(content).map_err(|e| ParseFailed::not_utf8(content, &e))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut section: Option<String> = None;
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        let line = start as u32 + 1;
        let fail = |error: ParseError| ParseFailed::new(line, error);
        let mut l = lines[i].trim().to_string();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            i += 1;
            continue;
        }
        while l.ends_with('\\') {
            l.pop();
            l.push(' ');
            i += 1;
            // Comment lines inside a continuation are skipped.
            while i < lines.len() && matches!(lines[i].trim_start().chars().next(), Some('#' | ';'))
            {
                i += 1;
            }
            match lines.get(i) {
                Some(next) => l.push_str(next.trim()),
                None => break,
            }
        }
        i += 1;
        let l = l.trim();
        if l.contains('\0') {
            return Err(fail(ParseError::NulByte));
        }
        if let Some(name) = l.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or_else(|| fail(ParseError::MalformedSectionHeader))?;
            if name.is_empty() || name.contains(['[', ']']) {
                return Err(fail(ParseError::InvalidSectionName));
            }
            section = Some(name.to_string());
            continue;
        }
        let Some(sec) = &section else {
            return Err(fail(ParseError::OutsideSection));
        };
        let Some((k, v)) = l.split_once('=') else {
            return Err(fail(ParseError::MissingEquals));
        };
        let k = k.trim();
        if !valid_name(k) {
            return Err(fail(ParseError::InvalidKeyName));
        }
        out.push(Setting {
            key: format!("{sec}.{k}"),
            value: Some(v.trim().to_string()),
            line,
            span: None,
            context: Some(sec.clone()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        let s = parse(b"[Unit]\nDescription=x\n# c\n[Service]\nExecStart=/bin/echo \\\n  a \\\n# skipped\n  b\nEnvironment=\n").unwrap();
        let k: Vec<_> = s
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_deref()))
            .collect();
        assert_eq!(
            k,
            [
                ("Unit.Description", Some("x")),
                ("Service.ExecStart", Some("/bin/echo  a  b")),
                ("Service.Environment", Some(""))
            ]
        );
        assert!(parse(b"ExecStart=x\n").is_err());
        assert!(parse(b"[Service]\nExecStart x\n").is_err());
    }
}
