//! ssh_config read the way OpenSSH's `readconf.c` (9.2, the version the oracle test
//! runs) reads it: `getline` lines cut at NUL, trailing blanks stripped, the keyword
//! taken with `strdelim` (quotes removed anywhere in it, one `=` separator, an
//! unterminated quote silently skips the line), the arguments split with `argv_split`
//! (both quote kinds, `\'` `\"` `\\` `\ ` escapes, `#` at a token start ends the line),
//! the four command keywords and ProxyJump taking the raw rest of the line, every
//! value checked the way ssh checks it, and every error that makes ssh print
//! "terminating, N bad configuration options" turned into `ParseFailed`.
//!
//! It never evaluates `Host`/`Match` for a host, never follows `Include`, never runs
//! `Match exec`; it records them (`Line::block`, `Line::criteria`, `Line::args`) so the
//! rules and the oracle test can. Where OpenSSH's acceptance depends on the host the
//! file is used for (an `IgnoreUnknown` that is only active in some blocks, an empty
//! `Host` pattern after a negated one), the parser refuses: that is the safe side.
//!
//! Key scheme of the settings: the keyword in lower case with aliases resolved to the
//! keyword ssh stores them under (`smartcarddevice` → `pkcs11provider`); `host`;
//! `match.<criterion>` per `Match` criterion (`match.exec`, `match.host`, …); an
//! unknown keyword that an `IgnoreUnknown` hides keeps its lower-cased name. The
//! context of a setting is its enclosing `Host`/`Match` line as written.

pub use super::ssh_addr::{Jump, parse_jump};
pub use super::ssh_check::convtime;
use super::ssh_check::{Check, KEYWORDS, check, text};
use super::{ParseError, ParseFailed, Setting};
use crate::findings::Span;

/// Most lines one file may have (bounds the work on hostile input).
pub const MAX_LINES: usize = 200_000;

/// How ssh treats a keyword (the opcode families of `readconf.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Host` patterns.
    Host,
    /// `Match` criteria.
    Match,
    /// `Include` paths.
    Include,
    /// ProxyCommand, LocalCommand, RemoteCommand, KnownHostsCommand: raw rest of line.
    Command,
    /// ProxyJump: raw rest of line, validated.
    Jump,
    /// A keyword with ordinary arguments.
    Option,
    /// Deprecated (only a debug message) or `protocol` (silently ignored).
    Ignored,
    /// Known to ssh but unsupported in this build: a message, not an error.
    Unsupported,
    /// Not a keyword of OpenSSH, hidden by `IgnoreUnknown`.
    IgnoredUnknown,
    /// A keyword of a newer OpenSSH (9.4–10.x) than the 9.2 this reader follows: 9.2
    /// refuses the file, a newer ssh in another qube reads it; kept (unchecked) so the
    /// rules see it instead of the whole file failing.
    Newer,
}

/// One keyword line as ssh reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub line: u32,
    /// The keyword lower-cased as written (after quote removal).
    pub written: String,
    /// The keyword ssh stores it under (aliases resolved).
    pub keyword: &'static str,
    /// How ssh treats it.
    pub kind: Kind,
    /// Arguments after `argv_split` (for Command/Jump: empty).
    pub args: Vec<String>,
    /// Raw rest of line for Command and Jump keywords.
    pub raw: Option<String>,
    /// `Match` criteria, in order.
    pub criteria: Vec<Criterion>,
    /// Index (in the returned lines) of the enclosing `Host`/`Match` line.
    pub block: Option<usize>,
    /// Byte span of the keyword and its arguments in the line.
    pub span: Span,
}

/// One `Match` criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criterion {
    /// `!` in front.
    pub negated: bool,
    /// Lower-cased criterion name (`all`, `canonical`, `final`, `exec`, `host`, …).
    pub name: String,
    /// Its argument (none for all/canonical/final).
    pub arg: Option<String>,
}

/// Whether ssh would refuse the file for every host or only for some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// ssh refuses the file whatever host it is used for.
    Always,
    /// ssh's verdict depends on the host (the parser refuses to be safe).
    DependsOnHost,
}

/// A refusal with its kind (for the oracle test; `parse` keeps only the `ParseFailed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Line and reason.
    pub failed: ParseFailed,
    /// Whether it holds for every host.
    pub refusal: Refusal,
}

const WS: &[u8] = b" \t\r\n";

/// `strdelim` with `=` splitting, on a byte line. `None` as position is C's NULL.
fn strdelim(l: &[u8], s: &mut Option<usize>) -> Option<Vec<u8>> {
    let start = (*s)?;
    let skip_ws = |mut p: usize| {
        while p < l.len() && WS.contains(&l[p]) {
            p += 1;
        }
        p
    };
    let Some(d) = l[start..]
        .iter()
        .position(|c| WS.contains(c) || *c == b'"' || *c == b'=')
        .map(|p| start + p)
    else {
        *s = None;
        return Some(l[start..].to_vec());
    };
    if l[d] == b'"' {
        let close = l[d + 1..]
            .iter()
            .position(|&c| c == b'"')
            .map(|q| d + 1 + q);
        let Some(close) = close else {
            *s = None;
            return None;
        };
        let mut tok = l[start..d].to_vec();
        tok.extend_from_slice(&l[d + 1..close]);
        *s = Some(skip_ws(close + 1));
        return Some(tok);
    }
    let was_equals = l[d] == b'=';
    let tok = l[start..d].to_vec();
    let mut p = skip_ws(d + 1);
    if !was_equals && p < l.len() && l[p] == b'=' {
        p = skip_ws(p + 1);
    }
    *s = Some(p);
    Some(tok)
}

/// `argv_split(s, …, terminate_on_comment=1)`; `None` for unbalanced quotes.
fn argv_split(s: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b' ' || s[i] == b'\t' {
            i += 1;
            continue;
        }
        if s[i] == b'#' {
            break;
        }
        let mut quote = 0u8;
        let mut arg = Vec::new();
        while i < s.len() {
            let c = s[i];
            if c == b'\\' {
                let n = s.get(i + 1).copied();
                if matches!(n, Some(b'\'' | b'"' | b'\\')) || (quote == 0 && n == Some(b' ')) {
                    i += 1;
                    arg.push(s[i]);
                } else {
                    arg.push(c);
                }
            } else if quote == 0 && (c == b' ' || c == b'\t') {
                break;
            } else if quote == 0 && (c == b'"' || c == b'\'') {
                quote = c;
            } else if quote != 0 && c == quote {
                quote = 0;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        if i >= s.len() && quote != 0 {
            return None;
        }
        out.push(arg);
    }
    Some(out)
}

/// `match_pattern`: `*` and `?` globbing, case-sensitive.
pub fn match_pattern(s: &[u8], p: &[u8]) -> bool {
    // Iterative glob with backtracking over the last `*`.
    let (mut si, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) && p[pi] != b'*' {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// `match_pattern_list`: 1 match, 0 none, -1 a negated pattern matched.
pub fn match_pattern_list(s: &[u8], list: &[u8], lower: bool) -> i32 {
    let mut got = 0;
    for sub in list.split(|&c| c == b',') {
        let (neg, sub) = match sub.first() {
            Some(b'!') => (true, &sub[1..]),
            _ => (false, sub),
        };
        if sub.len() >= 1023 {
            return 0;
        }
        let sub: Vec<u8> = if lower {
            sub.to_ascii_lowercase()
        } else {
            sub.to_vec()
        };
        if match_pattern(s, &sub) {
            if neg {
                return -1;
            }
            got = 1;
        }
    }
    got
}

/// Parses `Match` criteria the way `match_cfg_line` walks them (without evaluating
/// them): `(criteria, consumed_everything)`.
fn match_criteria(l: &[u8], start: usize) -> Result<(Vec<Criterion>, bool), ParseError> {
    let mut cp = Some(start);
    let mut out = Vec::new();
    let mut attributes = 0;
    while let Some(attrib) = strdelim(l, &mut cp) {
        if attrib.is_empty() {
            break;
        }
        if attrib[0] == b'#' {
            cp = None;
            break;
        }
        let negated = attrib[0] == b'!';
        let name = text(&attrib[usize::from(negated)..]).to_ascii_lowercase();
        if name == "all" {
            let arg = strdelim(l, &mut cp);
            if attributes > 1 || arg.as_ref().is_some_and(|a| !a.is_empty() && a[0] != b'#') {
                return Err(ParseError::MatchAllCombined);
            }
            if arg.as_ref().is_some_and(|a| a.first() == Some(&b'#')) {
                cp = None;
            }
            out.push(Criterion {
                negated,
                name,
                arg: None,
            });
            let consumed = cp.is_none_or(|p| p >= l.len());
            return Ok((out, consumed));
        }
        attributes += 1;
        if name == "canonical" || name == "final" {
            out.push(Criterion {
                negated,
                name,
                arg: None,
            });
            continue;
        }
        let arg = match strdelim(l, &mut cp) {
            Some(a) if !a.is_empty() && a[0] != b'#' => a,
            _ => return Err(ParseError::MissingMatchCriteria { attribute: name }),
        };
        if !matches!(
            name.as_str(),
            "host" | "originalhost" | "user" | "localuser" | "exec"
        ) {
            return Err(ParseError::UnsupportedMatchAttribute { attribute: name });
        }
        out.push(Criterion {
            negated,
            name,
            arg: Some(text(&arg)),
        });
    }
    if attributes == 0 {
        return Err(ParseError::MatchWithoutAttributes);
    }
    Ok((out, cp.is_none_or(|p| p >= l.len())))
}

/// Where a block header makes the lines after it apply to every host.
fn unconditional(header: Option<&Line>) -> bool {
    match header {
        None => true,
        Some(h) if h.kind == Kind::Host => {
            h.args.iter().any(|a| a == "*") && !h.args.iter().any(|a| a.starts_with('!'))
        }
        Some(h) => matches!(h.criteria.as_slice(), [c] if c.name == "all" && !c.negated),
    }
}

/// Parses a whole file into keyword lines, or the first reason ssh would refuse it.
pub fn parse_lines(content: &[u8]) -> Result<Vec<Line>, Refused> {
    let mut out: Vec<Line> = Vec::new();
    let mut block: Option<usize> = None;
    // The first IgnoreUnknown line: (patterns, applies to every host).
    let mut ignore: Option<(Vec<u8>, bool)> = None;
    let mut raw_lines: Vec<&[u8]> = content.split(|&c| c == b'\n').collect();
    if content.ends_with(b"\n") {
        raw_lines.pop();
    }
    if raw_lines.len() > MAX_LINES {
        return Err(Refused {
            failed: ParseFailed::new(
                MAX_LINES as u32 + 1,
                ParseError::TooManyLines { limit: MAX_LINES },
            ),
            refusal: Refusal::Always,
        });
    }
    for (i, raw) in raw_lines.into_iter().enumerate() {
        let line_no = i as u32 + 1;
        let fail = |error: ParseError, refusal: Refusal| Refused {
            failed: ParseFailed::new(line_no, error),
            refusal,
        };
        // getline keeps the newline; a NUL ends the C string.
        let mut l: Vec<u8> = raw.to_vec();
        l.push(b'\n');
        if let Some(nul) = l.iter().position(|&c| c == 0) {
            l.truncate(nul);
        }
        // Strip trailing whitespace and \f, never the first byte.
        let mut len = l.len();
        while len > 1 && b" \t\r\n\x0c".contains(&l[len - 1]) {
            len -= 1;
        }
        l.truncate(len);
        if l.is_empty() {
            continue;
        }
        let mut s = Some(0);
        let mut kw = strdelim(&l, &mut s);
        if kw.as_ref().is_some_and(|k| k.is_empty()) {
            kw = strdelim(&l, &mut s);
        }
        let Some(kw) = kw else { continue };
        if kw.is_empty() || kw[0] == b'\n' || kw[0] == b'#' {
            continue;
        }
        let kw_lower = kw.to_ascii_lowercase();
        let written = text(&kw_lower);
        let kw_start = l
            .iter()
            .position(|c| !WS.contains(c) && *c != b'=')
            .unwrap_or(0);
        let Some(rest) = s.map(|p| {
            let mut p = p;
            while p < l.len() && WS.contains(&l[p]) {
                p += 1;
            }
            p
        }) else {
            return Err(fail(
                ParseError::NoArgument {
                    keyword: written.clone(),
                },
                Refusal::Always,
            ));
        };
        if rest >= l.len() {
            return Err(fail(
                ParseError::NoArgument {
                    keyword: written.clone(),
                },
                Refusal::Always,
            ));
        }
        let entry = KEYWORDS
            .iter()
            .find(|(n, ..)| n.as_bytes() == kw_lower.as_slice());
        let (keyword, kind, chk) = match entry {
            Some((_, stored, kind, chk)) => (*stored, *kind, *chk),
            None => match &ignore {
                Some((pats, all_hosts)) if match_pattern_list(&kw_lower, pats, true) == 1 => {
                    if !*all_hosts {
                        return Err(fail(
                            ParseError::UnknownForSomeHosts {
                                keyword: written.clone(),
                            },
                            Refusal::DependsOnHost,
                        ));
                    }
                    ("", Kind::IgnoredUnknown, Check::None)
                }
                _ => {
                    return Err(fail(
                        ParseError::BadOption {
                            keyword: written.clone(),
                        },
                        Refusal::Always,
                    ));
                }
            },
        };
        let tail = &l[rest..];
        let Some(args) = argv_split(tail) else {
            return Err(fail(ParseError::InvalidQuotes, Refusal::Always));
        };
        let span = Span {
            start: kw_start,
            end: l.len(),
        };
        let mut line = Line {
            line: line_no,
            written: written.clone(),
            keyword,
            kind,
            args: Vec::new(),
            raw: None,
            criteria: Vec::new(),
            block,
            span,
        };
        match kind {
            Kind::Ignored | Kind::Unsupported | Kind::IgnoredUnknown | Kind::Newer => {
                line.args = args.iter().map(|a| text(a)).collect();
            }
            Kind::Command | Kind::Jump => {
                let skip = tail
                    .iter()
                    .take_while(|c| WS.contains(c) || **c == b'=')
                    .count();
                let raw = &tail[skip..];
                let raw = text(raw);
                if kind == Kind::Jump && parse_jump(&raw).is_none() {
                    return Err(fail(
                        ParseError::InvalidProxyJump { value: raw },
                        Refusal::Always,
                    ));
                }
                line.raw = Some(raw);
            }
            Kind::Host => {
                if let Some(p) = args.iter().position(|a| a.is_empty()) {
                    // ssh stops at a negated match before reaching the empty pattern.
                    let refusal = if args[..p].iter().any(|a| a.first() == Some(&b'!')) {
                        Refusal::DependsOnHost
                    } else {
                        Refusal::Always
                    };
                    return Err(fail(
                        ParseError::EmptyArgument {
                            keyword: "host".into(),
                        },
                        refusal,
                    ));
                }
                line.args = args.iter().map(|a| text(a)).collect();
            }
            Kind::Match => {
                let (criteria, consumed) =
                    match_criteria(&l, rest).map_err(|r| fail(r, Refusal::Always))?;
                if !consumed && !args.is_empty() {
                    return Err(fail(
                        ParseError::ExtraArguments {
                            keyword: "match".into(),
                        },
                        Refusal::Always,
                    ));
                }
                line.criteria = criteria;
            }
            Kind::Include => {
                if let Some(p) = args.iter().position(|a| a.is_empty()) {
                    let _ = p;
                    return Err(fail(
                        ParseError::EmptyArgument {
                            keyword: "include".into(),
                        },
                        Refusal::Always,
                    ));
                }
                line.args = args.iter().map(|a| text(a)).collect();
            }
            Kind::Option => {
                check(chk, keyword, &args).map_err(|r| fail(r, Refusal::Always))?;
                line.args = args.iter().map(|a| text(a)).collect();
                if keyword == "ignoreunknown" && ignore.is_none() {
                    let header = block.map(|b| &out[b]);
                    ignore = Some((args[0].clone(), unconditional(header)));
                }
            }
        }
        let is_header = matches!(kind, Kind::Host | Kind::Match);
        out.push(line);
        if is_header {
            let idx = out.len() - 1;
            out[idx].block = None;
            block = Some(idx);
        }
    }
    Ok(out)
}

/// The header line of a block as context (`Host a b`, `Match host x user y`).
fn header_text(h: &Line) -> String {
    match h.kind {
        Kind::Host => format!("Host {}", h.args.join(" ")),
        _ => {
            let parts: Vec<String> = h
                .criteria
                .iter()
                .map(|c| {
                    let n = if c.negated {
                        format!("!{}", c.name)
                    } else {
                        c.name.clone()
                    };
                    match &c.arg {
                        Some(a) => format!("{n} {a}"),
                        None => n,
                    }
                })
                .collect();
            format!("Match {}", parts.join(" "))
        }
    }
}

/// Parses an ssh_config into settings (see the module doc for the key scheme).
pub fn parse(content: &[u8]) -> Result<Vec<Setting>, ParseFailed> {
    let lines = parse_lines(content).map_err(|r| r.failed)?;
    let mut out = Vec::new();
    for l in &lines {
        let context = l.block.map(|b| header_text(&lines[b]));
        let span = Some(l.span);
        match l.kind {
            Kind::Match => {
                for c in &l.criteria {
                    out.push(Setting {
                        key: format!("match.{}", c.name),
                        value: c.arg.clone(),
                        line: l.line,
                        span,
                        context: Some(header_text(l)),
                    });
                }
            }
            _ => {
                let key = if l.keyword.is_empty() {
                    l.written.clone()
                } else {
                    l.keyword.to_string()
                };
                let value = l.raw.clone().unwrap_or_else(|| l.args.join(" "));
                out.push(Setting {
                    key,
                    value: Some(value),
                    line: l.line,
                    span,
                    context,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str) -> Vec<(String, Option<String>)> {
        parse(s.as_bytes())
            .unwrap()
            .into_iter()
            .map(|s| (s.key, s.value))
            .collect()
    }

    #[test]
    fn quotes_are_removed_anywhere_in_the_keyword() {
        assert_eq!(
            keys("Proxy\"Command\" nc %h %p\n"),
            vec![("proxycommand".into(), Some("nc %h %p".into()))]
        );
        assert!(parse(b"Pro\"xyComm\"and nc\n").is_err());
        assert_eq!(keys("\"HostName\" foo\n")[0].0, "hostname");
        assert!(parse(b"Ho\"st Name\" foo\n").is_err());
        assert!(parse(b"Host\"Name foo\"\n").is_err());
    }

    #[test]
    fn unterminated_quote_in_keyword_skips_the_line() {
        assert!(keys("\"User foo\nUser\"x bar\n").is_empty());
    }

    #[test]
    fn equals_separator_and_case() {
        assert_eq!(
            keys("USER=foo=bar\n"),
            vec![("user".into(), Some("foo=bar".into()))]
        );
        assert_eq!(
            keys("Host==h1\n"),
            vec![("host".into(), Some("=h1".into()))]
        );
        assert_eq!(
            keys("  =User  =  x\n"),
            vec![("user".into(), Some("x".into()))]
        );
    }

    #[test]
    fn argv_split_escapes_and_comments() {
        assert_eq!(keys("User a\\qb\n")[0].1.as_deref(), Some("a\\qb"));
        assert_eq!(keys("User 'x\\'y' # c\n")[0].1.as_deref(), Some("x'y"));
        assert_eq!(keys("User foo#bar\n")[0].1.as_deref(), Some("foo#bar"));
        assert!(parse(b"User \"x\n").is_err());
        assert!(parse(b"User a b\n").is_err());
        assert_eq!(
            keys("ProxyCommand  nc \"%h\" %p # t\n")[0].1.as_deref(),
            Some("nc \"%h\" %p # t")
        );
    }

    #[test]
    fn unknown_bom_missing_and_ignored() {
        assert!(parse(b"Frobnicate yes\n").is_err());
        assert!(parse(b"\xef\xbb\xbfUser x\n").is_err());
        assert!(parse(b"User\n").is_err());
        assert_eq!(
            keys("IgnoreUnknown frob*\nFrobnicate yes\n")[1].0,
            "frobnicate"
        );
        let conditional =
            parse_lines(b"Host a\nIgnoreUnknown frob*\nFrobnicate yes\n").unwrap_err();
        assert_eq!(conditional.refusal, Refusal::DependsOnHost);
        assert!(parse(b"Cipher x\nKerberosAuthentication yes\n").is_ok());
    }

    #[test]
    fn match_criteria_are_settings() {
        let s = keys("Match host a exec \"touch /x\"\n");
        assert_eq!(s[0].0, "match.host");
        assert_eq!(s[1], ("match.exec".into(), Some("touch /x".into())));
        assert!(parse(b"Match all host x\n").is_err());
        assert!(parse(b"Match host x all\n").is_ok());
        assert!(parse(b"Match frob x\n").is_err());
        assert!(parse(b"Match\t#c\n").is_err());
    }

    #[test]
    fn values_are_checked() {
        assert!(parse(b"Port 0\n").is_err());
        assert!(parse(b"Compression maybe\n").is_err());
        assert!(parse(b"ConnectTimeout 5x\n").is_err());
        assert!(parse(b"ConnectTimeout 1m30s\n").is_ok());
        assert!(parse(b"UserKnownHostsFile a none\n").is_err());
        assert!(
            parse(b"SmartcardDevice /x.so\n").map(|s| s[0].key.clone())
                == Ok("pkcs11provider".into())
        );
    }

    #[test]
    fn nul_and_trailing_blanks() {
        assert_eq!(keys("User foo\0bar\n")[0].1.as_deref(), Some("foo"));
        assert_eq!(keys("User fo\ro\r\n")[0].1.as_deref(), Some("fo\ro"));
    }
}
