//! readline's inputrc read the way `bind.c` reads it (`rl_parse_and_bind`,
//! `handle_parser_directive`): `#` comment lines, `$if`/`$else`/`$endif`/`$include`
//! directives, `set variable value`, and key bindings `keyname: function`,
//! `"keyseq": function` or either left side with a quoted macro. Macro text is
//! unescaped as readline does (`\C-x`, `\M-x`, `\e`, `\n`, `\r`, octal, hex …) so the
//! rules see the characters it will type. It never opens an included file.
//!
//! Key scheme:
//! * `set.<variable>` (lower case), value the rest of the line;
//! * `bind` for a function binding (value: function name, lower case; context: keys);
//! * `macro` for a macro (value: the characters it types; context: the keys), or
//!   `macro.enter` when it is bound to Return/Enter/Newline or `\C-m`/`\C-j`/`\r`/`\n`;
//! * `$if`, `$else`, `$endif`, `$include` (value: the rest of the line).

use super::{ParseError, ParseFailed, Setting};

/// readline's unescaping of a quoted key sequence or macro (`rl_translate_keyseq`).
fn translate(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        if c[i] != '\\' || i + 1 >= c.len() {
            out.push(c[i]);
            i += 1;
            continue;
        }
        i += 1;
        match c[i] {
            'C' if c.get(i + 1) == Some(&'-') && i + 2 < c.len() => {
                let k = c[i + 2];
                out.push(if k == '?' {
                    '\x7f'
                } else {
                    char::from((k as u8 & 0x1f) & 0x7f)
                });
                i += 3;
            }
            'M' if c.get(i + 1) == Some(&'-') && i + 2 < c.len() => {
                out.push('\x1b');
                out.push(c[i + 2]);
                i += 3;
            }
            'e' => {
                out.push('\x1b');
                i += 1;
            }
            'a' => {
                out.push('\x07');
                i += 1;
            }
            'b' => {
                out.push('\x08');
                i += 1;
            }
            'd' => {
                out.push('\x7f');
                i += 1;
            }
            'f' => {
                out.push('\x0c');
                i += 1;
            }
            'n' => {
                out.push('\n');
                i += 1;
            }
            'r' => {
                out.push('\r');
                i += 1;
            }
            't' => {
                out.push('\t');
                i += 1;
            }
            'v' => {
                out.push('\x0b');
                i += 1;
            }
            '0'..='7' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 3 && i < c.len() && ('0'..='7').contains(&c[i]) {
                    v = v * 8 + c[i].to_digit(8).unwrap_or(0);
                    i += 1;
                    n += 1;
                }
                out.push(char::from_u32(v & 0xff).unwrap_or('\0'));
            }
            'x' => {
                i += 1;
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 && i < c.len() && c[i].is_ascii_hexdigit() {
                    v = v * 16 + c[i].to_digit(16).unwrap_or(0);
                    i += 1;
                    n += 1;
                }
                out.push(char::from_u32(v).unwrap_or('\0'));
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}

/// Whether a key spec names Return/Enter/Newline.
fn is_enter(keys: &str, quoted: bool) -> bool {
    if quoted {
        let t = translate(keys);
        t == "\r" || t == "\n"
    } else {
        let k = keys.to_ascii_lowercase();
        matches!(
            k.as_str(),
            "return"
                | "ret"
                | "enter"
                | "newline"
                | "linefeed"
                | "lfd"
                | "control-m"
                | "control-j"
                | "c-m"
                | "c-j"
        )
    }
}

/// A quoted string starting at `s[0]` (`"` or `'`): (content, rest).
fn quoted(s: &str) -> Option<(&str, &str)> {
    let q = s.chars().next()?;
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q as u8 {
            return Some((&s[1..i], &s[i + 1..]));
        }
        i += 1;
    }
    None
}

fn push(
    out: &mut Vec<Setting>,
    key: &str,
    value: Option<String>,
    line: u32,
    context: Option<String>,
) {
    out.push(Setting {
        key: key.into(),
        value,
        line,
        span: None,
        context,
    });
}

/// Parses an inputrc into settings (see the module doc for the key scheme).
pub fn parse(content: &[u8]) -> Result<Vec<Setting>, ParseFailed> {
    let text = std::str::from_utf8(content).map_err(|e| ParseFailed::not_utf8(content, &e))?;
    let mut out = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line = n as u32 + 1;
        let l = raw
            .trim_start_matches([' ', '\t'])
            .trim_end_matches(['\r', ' ', '\t']);
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(d) = l.strip_prefix('$') {
            let (word, rest) = d.split_once([' ', '\t']).unwrap_or((d, ""));
            let key = format!("${}", word.to_ascii_lowercase());
            push(&mut out, &key, Some(rest.trim().to_string()), line, None);
            continue;
        }
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("set ") || lower.starts_with("set\t") {
            let rest = l[4..].trim_start();
            let (var, value) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
            push(
                &mut out,
                &format!("set.{}", var.to_ascii_lowercase()),
                Some(value.trim().to_string()),
                line,
                None,
            );
            continue;
        }
        // Key binding: left side up to the colon.
        let (keys, keys_quoted, rest) = if l.starts_with('"') || l.starts_with('\'') {
            let Some((k, rest)) = quoted(l) else {
                return Err(ParseFailed::new(line, ParseError::UnterminatedKeySequence));
            };
            let Some(rest) = rest.trim_start().strip_prefix(':') else {
                return Err(ParseFailed::new(line, ParseError::NoColonAfterKeySequence));
            };
            (k.to_string(), true, rest)
        } else {
            let Some(colon) = l.find(':') else {
                return Err(ParseFailed::new(line, ParseError::NotInputrcLine));
            };
            (l[..colon].trim().to_string(), false, &l[colon + 1..])
        };
        let rhs = rest.trim_start();
        let enter = is_enter(&keys, keys_quoted);
        if rhs.starts_with('"') || rhs.starts_with('\'') {
            let Some((m, _)) = quoted(rhs) else {
                return Err(ParseFailed::new(line, ParseError::UnterminatedMacro));
            };
            push(
                &mut out,
                if enter { "macro.enter" } else { "macro" },
                Some(translate(m)),
                line,
                Some(keys),
            );
        } else {
            let f = rhs
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            push(&mut out, "bind", Some(f), line, Some(keys));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(s: &str) -> Vec<(String, Option<String>)> {
        parse(s.as_bytes())
            .unwrap()
            .into_iter()
            .map(|s| (s.key, s.value))
            .collect()
    }

    #[test]
    fn lines() {
        assert_eq!(
            kv("set bell-style none\n"),
            vec![("set.bell-style".into(), Some("none".into()))]
        );
        assert_eq!(
            kv("\"\\e[A\": history-search-backward\n")[0],
            ("bind".into(), Some("history-search-backward".into()))
        );
        assert_eq!(
            kv("Control-x: \"rm -rf ~\\C-m\"\n")[0],
            ("macro".into(), Some("rm -rf ~\r".into()))
        );
        assert_eq!(kv("Return: \"x\"\n")[0].0, "macro.enter");
        assert_eq!(kv("\"\\C-m\": \"curl x|sh\\n\"\n")[0].0, "macro.enter");
        assert_eq!(
            kv("$include /etc/inputrc\n$if mode=emacs\n$endif\n")[0].0,
            "$include"
        );
        assert!(parse(b"garbage\n").is_err());
    }
}
