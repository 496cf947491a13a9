//! A bounded, in-process parser for ssh_config (never `ssh -G`, which runs
//! `Match exec`).
//!
//! Keywords are case-insensitive and folded to lower case; the separator is blanks
//! or one `=` (with optional blanks around it); arguments may be double-quoted; `#`
//! starts a comment only at the start of a line; `Host` and `Match` lines open the
//! block that scopes the lines after them. An unterminated quote is an error.

/// Most settings accepted in one file.
pub const MAX_ENTRIES: usize = 20_000;
/// Most arguments on one line.
pub const MAX_ARGS: usize = 256;

/// One keyword line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Keyword, lower case.
    pub keyword: String,
    /// Arguments with quotes removed.
    pub args: Vec<String>,
    /// 1-based line.
    pub line: u32,
    /// Index of the enclosing `Host`/`Match` entry, `None` before the first one.
    pub block: Option<usize>,
}

impl Entry {
    /// Arguments joined by single spaces.
    pub fn args_text(&self) -> String {
        self.args.join(" ")
    }
}

/// Why an ssh_config did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line.
    pub line: u32,
    /// What was wrong.
    pub reason: String,
}

/// Parses a whole ssh_config.
pub fn parse(content: &[u8]) -> Result<Vec<Entry>, ParseError> {
    let text = String::from_utf8_lossy(content);
    let mut entries: Vec<Entry> = Vec::new();
    let mut block = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line = i as u32 + 1;
        let err = |reason: &str| ParseError {
            line,
            reason: reason.into(),
        };
        let l = raw.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r');
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let key_end = l.find([' ', '\t', '=']).unwrap_or(l.len());
        let keyword = l[..key_end].to_ascii_lowercase();
        let mut rest = l[key_end..].trim_start_matches([' ', '\t']);
        if let Some(r) = rest.strip_prefix('=') {
            rest = r.trim_start_matches([' ', '\t']);
        }
        let args = split_args(rest).map_err(err)?;
        if args.len() > MAX_ARGS {
            return Err(err("too many arguments"));
        }
        if entries.len() >= MAX_ENTRIES {
            return Err(err("too many settings"));
        }
        if keyword == "host" || keyword == "match" {
            block = Some(entries.len());
        }
        entries.push(Entry {
            keyword,
            args,
            line,
            block,
        });
    }
    Ok(entries)
}

fn split_args(s: &str) -> Result<Vec<String>, &'static str> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_arg = true;
            }
            ' ' | '\t' | '\r' if !quoted => {
                if in_arg {
                    args.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
            }
            _ => {
                cur.push(c);
                in_arg = true;
            }
        }
    }
    if quoted {
        return Err("unterminated quoted argument");
    }
    if in_arg {
        args.push(cur);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_separators_quotes_and_blocks() {
        let e = parse(
            b"PROXYCOMMAND=nc %h %p\nHost *\n  ProxyJump = \"a b\"\n# c\nMatch exec \"x y\"\n User=u\n",
        )
        .unwrap();
        assert_eq!(e[0].keyword, "proxycommand");
        assert_eq!(e[0].args, ["nc", "%h", "%p"]);
        assert_eq!(e[0].block, None);
        assert_eq!(e[2].args, ["a b"]);
        assert_eq!(e[2].block, Some(1));
        assert_eq!(e[3].keyword, "match");
        assert_eq!(e[3].args, ["exec", "x y"]);
        assert_eq!(e[4].block, Some(3));
        assert_eq!(e[4].line, 6);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(parse(b"Host \"x\n").is_err());
    }
}
