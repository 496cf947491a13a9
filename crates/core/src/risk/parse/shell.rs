//! Shell rc files (bash, zsh, POSIX sh profiles) read command by command, as far as
//! that can be done without running anything: backslash-newline continuations and
//! quotes that span lines are joined, `;`, `&&` and `||` split simple commands, and
//! each simple command becomes one setting. Whatever is not a plain simple command
//! (pipelines, redirections, subshells, command or process substitution, here-docs,
//! `case` arms …) becomes a setting whose key says so, so the rules can never mistake
//! it for an inert line. It never expands or runs anything.
//!
//! Key scheme:
//! * `NAME=` for an assignment (`NAME=v`, `export NAME=v`, `declare -x NAME=v`,
//!   `typeset`, `local`, `readonly`); value unquoted; `export NAME` gives value None;
//! * `alias.<first word of the value>` for `alias name=value` (context: the name);
//! * `setopt.<option>` / `unsetopt.<option>` (zsh: lower case, `_` removed),
//!   `shopt.<option>` (value `-s`/`-u`), `set.<option>` for `set -o/+o option`;
//! * `function` for a function definition (value: its name);
//! * `shell.substitution` for `$(…)`, backticks or `<(…)`/`>(…)`; `shell.heredoc`;
//!   `shell.pipeline`, `shell.redirect`, `shell.background`, `shell.subshell`;
//! * otherwise the command word as written after unquoting (`source`, `.`, `eval`,
//!   `[`, `fi`, …), value the remaining words joined by spaces. `if`/`elif`/`while`/
//!   `until`/`then`/`else`/`do`/`!` in front are dropped and what follows is read as
//!   the command (the condition of an `if` runs).

use super::{ParseError, ParseFailed, Setting};

/// Most logical commands one file may have.
pub const MAX_COMMANDS: usize = 200_000;

/// One word after quote removal, and whether any of it was quoted.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    quoted: bool,
}

/// What a logical line contained besides plain words.
#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    substitution: bool,
    heredoc: bool,
    pipeline: bool,
    redirect: bool,
    background: bool,
    subshell: bool,
}

/// A simple command and the structure around it.
#[derive(Debug)]
struct Simple {
    words: Vec<Word>,
    flags: Flags,
}

/// Splits one logical line into simple commands (at unquoted `;`, `&&`, `||`, and
/// newlines kept by quotes are part of words).
fn split_commands(line: &str) -> Result<Vec<Simple>, ParseError> {
    let b: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    let mut cur = String::new();
    let mut cur_quoted = false;
    let mut in_word = false;
    let mut flags = Flags::default();
    let mut i = 0;
    let flush_word = |words: &mut Vec<Word>, cur: &mut String, q: &mut bool, in_word: &mut bool| {
        if *in_word {
            words.push(Word {
                text: std::mem::take(cur),
                quoted: *q,
            });
        }
        *q = false;
        *in_word = false;
    };
    while i < b.len() {
        let c = b[i];
        match c {
            ' ' | '\t' | '\r' => flush_word(&mut words, &mut cur, &mut cur_quoted, &mut in_word),
            '#' if !in_word => break,
            '\\' => {
                in_word = true;
                cur_quoted = true;
                if let Some(&n) = b.get(i + 1) {
                    if n != '\n' {
                        cur.push(n);
                    }
                    i += 1;
                }
            }
            '\'' => {
                in_word = true;
                cur_quoted = true;
                let end = b[i + 1..]
                    .iter()
                    .position(|&x| x == '\'')
                    .ok_or(ParseError::UnterminatedSingleQuote)?;
                cur.extend(&b[i + 1..i + 1 + end]);
                i += end + 1;
            }
            '"' => {
                in_word = true;
                cur_quoted = true;
                let mut j = i + 1;
                loop {
                    let Some(&x) = b.get(j) else {
                        return Err(ParseError::UnterminatedDoubleQuote);
                    };
                    match x {
                        '"' => break,
                        '\\' if matches!(b.get(j + 1), Some('"' | '\\' | '$' | '`' | '\n')) => {
                            if b[j + 1] != '\n' {
                                cur.push(b[j + 1]);
                            }
                            j += 2;
                            continue;
                        }
                        '`' => flags.substitution = true,
                        '$' if b.get(j + 1) == Some(&'(') => flags.substitution = true,
                        _ => {}
                    }
                    cur.push(x);
                    j += 1;
                }
                i = j;
            }
            '`' => {
                flags.substitution = true;
                in_word = true;
                cur.push(c);
            }
            '$' | '<' | '>' if b.get(i + 1) == Some(&'(') => {
                flags.substitution = true;
                in_word = true;
                let end = matching_paren(&b, i + 1).ok_or(ParseError::UnterminatedSubstitution)?;
                cur.extend(&b[i..=end]);
                i = end;
            }
            '<' if b.get(i + 1) == Some(&'<') && b.get(i + 2) != Some(&'<') => {
                flags.heredoc = true;
                flags.redirect = true;
                flush_word(&mut words, &mut cur, &mut cur_quoted, &mut in_word);
                i += 1;
            }
            '<' | '>' => {
                flags.redirect = true;
                flush_word(&mut words, &mut cur, &mut cur_quoted, &mut in_word);
            }
            '(' | ')' => {
                // `name() {` is a function definition, `( … )` a subshell.
                if c == '(' && b.get(i + 1) == Some(&')') && in_word {
                    cur.push_str("()");
                    i += 2;
                    continue;
                }
                flags.subshell = true;
                flush_word(&mut words, &mut cur, &mut cur_quoted, &mut in_word);
            }
            '|' if b.get(i + 1) == Some(&'|') => {
                flush_word(&mut words, &mut cur, &mut cur_quoted, &mut in_word);
                out.push(Simple {
                    words: std::mem::take(&mut words),
                    flags,
                });
                flags = Flags::default();
                i += 1;
            }
            '|' => {
                flags.pipeline = true;
                flush_word(&mut words, &mut cur, &mut cur_quoted, &mut in_word);
            }
            '&' if b.get(i + 1) == Some(&'&') => {
                flush_word(&mut words, &mut cur, &mut cur_quoted, &mut in_word);
                out.push(Simple {
                    words: std::mem::take(&mut words),
                    flags,
                });
                flags = Flags::default();
                i += 1;
            }
            '&' => {
                flags.background = true;
                flush_word(&mut words, &mut cur, &mut cur_quoted, &mut in_word);
            }
            ';' => {
                flush_word(&mut words, &mut cur, &mut cur_quoted, &mut in_word);
                out.push(Simple {
                    words: std::mem::take(&mut words),
                    flags,
                });
                flags = Flags::default();
                if b.get(i + 1) == Some(&';') {
                    i += 1;
                }
            }
            '\n' => flush_word(&mut words, &mut cur, &mut cur_quoted, &mut in_word),
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
        i += 1;
    }
    flush_word(&mut words, &mut cur, &mut cur_quoted, &mut in_word);
    out.push(Simple { words, flags });
    Ok(out)
}

/// Index of the `)` closing the `(` at `open` (nesting and quotes respected).
fn matching_paren(b: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    let mut quote: Option<char> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == '\\' && q == '"' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\\' => i += 1,
                '\'' | '"' => quote = Some(c),
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// Whether a logical line is still open (an unterminated quote, or a trailing
/// backslash), tracked character by character as lines are joined, so joining a
/// long quoted run stays linear.
#[derive(Debug, Clone, Copy, Default)]
struct Open {
    quote: Option<char>,
    /// The previous character was a backslash that escapes this one.
    escape: bool,
    /// A comment started outside quotes: nothing after it opens the line.
    comment: bool,
    started: bool,
    prev_ws: bool,
}

impl Open {
    fn feed(&mut self, c: char) {
        if self.comment {
            return;
        }
        if self.escape {
            self.escape = false;
        } else {
            match self.quote {
                Some('\'') => {
                    if c == '\'' {
                        self.quote = None;
                    }
                }
                Some(_) => {
                    if c == '\\' {
                        self.escape = true;
                    } else if c == '"' {
                        self.quote = None;
                    }
                }
                None => match c {
                    '\\' => self.escape = true,
                    '\'' | '"' => self.quote = Some(c),
                    '#' if !self.started || self.prev_ws => self.comment = true,
                    _ => {}
                },
            }
        }
        self.started = true;
        self.prev_ws = c.is_whitespace();
    }

    fn is_open(&self) -> bool {
        !self.comment && (self.quote.is_some() || self.escape)
    }
}

/// The logical line that starts at `lines[first]`: physical lines joined while a
/// quote is open (with the newline) or a backslash outside quotes ends the line
/// (removed). Returns it, the index of its last physical line, and whether it is
/// still open at the end of the file.
fn join_logical(lines: &[&str], first: usize) -> (String, usize, bool) {
    let mut i = first;
    let mut logical = lines[i].to_string();
    let mut open = Open::default();
    let mut before_last = feed_str(&mut open, &logical);
    while open.is_open() && i + 1 < lines.len() {
        i += 1;
        if logical.ends_with('\\') && !before_last.is_open() {
            logical.pop();
            open = before_last;
        } else {
            logical.push('\n');
            before_last = open;
            open.feed('\n');
        }
        logical.push_str(lines[i]);
        if !lines[i].is_empty() {
            before_last = feed_str(&mut open, lines[i]);
        }
    }
    (logical, i, open.is_open())
}

/// Feeds `text` to `state`; returns the state before its last character (the
/// state itself when `text` is empty).
fn feed_str(state: &mut Open, text: &str) -> Open {
    let mut before_last = *state;
    for c in text.chars() {
        before_last = *state;
        state.feed(c);
    }
    before_last
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// `NAME=value` (or `NAME+=value`) as an assignment word.
fn assignment(w: &Word) -> Option<(String, String)> {
    let eq = w.text.find('=')?;
    let name = w.text[..eq].trim_end_matches('+');
    is_name(name).then(|| (name.to_string(), w.text[eq + 1..].to_string()))
}

fn setting(key: String, value: Option<String>, line: u32, context: Option<String>) -> Setting {
    Setting {
        key,
        value,
        line,
        span: None,
        context,
    }
}

fn zsh_option(o: &str) -> String {
    o.to_ascii_lowercase().replace('_', "")
}

/// Settings for one simple command.
fn classify(s: &Simple, line: u32, out: &mut Vec<Setting>) {
    let f = s.flags;
    for (flag, key) in [
        (f.substitution, "shell.substitution"),
        (f.heredoc, "shell.heredoc"),
        (f.pipeline, "shell.pipeline"),
        (f.redirect && !f.heredoc, "shell.redirect"),
        (f.background, "shell.background"),
        (f.subshell, "shell.subshell"),
    ] {
        if flag {
            let text: Vec<&str> = s.words.iter().map(|w| w.text.as_str()).collect();
            out.push(setting(key.into(), Some(text.join(" ")), line, None));
        }
    }
    let mut words: &[Word] = &s.words;
    while let Some(first) = words.first() {
        if !first.quoted
            && matches!(
                first.text.as_str(),
                "if" | "elif" | "while" | "until" | "then" | "else" | "do" | "!" | "{"
            )
        {
            words = &words[1..];
        } else {
            break;
        }
    }
    let Some(first) = words.first() else { return };
    // Leading assignments.
    let mut i = 0;
    while let Some(w) = words.get(i) {
        let Some((name, value)) = assignment(w) else {
            break;
        };
        out.push(setting(format!("{name}="), Some(value), line, None));
        i += 1;
    }
    let rest = &words[i..];
    let Some(cmd) = rest.first() else { return };
    let args: Vec<&str> = rest[1..].iter().map(|w| w.text.as_str()).collect();
    let joined = || Some(args.join(" "));
    let _ = first;
    match cmd.text.as_str() {
        "export" | "declare" | "typeset" | "local" | "readonly" => {
            let mut plain = true;
            for w in &rest[1..] {
                if w.text.starts_with('-') {
                    // declare -f / -F print or define functions; other flags only set attributes.
                    if w.text.contains('f') && cmd.text != "export" {
                        plain = false;
                    }
                    continue;
                }
                match assignment(w) {
                    Some((n, v)) => out.push(setting(format!("{n}="), Some(v), line, None)),
                    None if is_name(&w.text) => {
                        out.push(setting(format!("{}=", w.text), None, line, None))
                    }
                    None => plain = false,
                }
            }
            if !plain {
                out.push(setting(cmd.text.clone(), joined(), line, None));
            }
        }
        "alias" => {
            let mut any = false;
            for w in &rest[1..] {
                if w.text.starts_with('-') {
                    out.push(setting("alias".into(), joined(), line, None));
                    return;
                }
                let Some(eq) = w.text.find('=') else { continue };
                let (name, value) = (&w.text[..eq], &w.text[eq + 1..]);
                let first_word = value.split_whitespace().next().unwrap_or("");
                out.push(setting(
                    format!("alias.{first_word}"),
                    Some(value.to_string()),
                    line,
                    Some(name.to_string()),
                ));
                any = true;
            }
            if !any {
                out.push(setting("alias".into(), joined(), line, None));
            }
        }
        "setopt" | "unsetopt" => {
            for a in &args {
                out.push(setting(
                    format!("{}.{}", cmd.text, zsh_option(a)),
                    None,
                    line,
                    None,
                ));
            }
        }
        "shopt" => {
            let flag = args.iter().find(|a| a.starts_with('-')).copied();
            for a in args.iter().filter(|a| !a.starts_with('-')) {
                out.push(setting(
                    format!("shopt.{a}"),
                    flag.map(str::to_string),
                    line,
                    None,
                ));
            }
        }
        "set" if args.first().is_some_and(|a| *a == "-o" || *a == "+o") && args.len() == 2 => {
            out.push(setting(
                format!("set.{}", args[1]),
                Some(args[0].to_string()),
                line,
                None,
            ));
        }
        "function" | "function()" => {
            let name = args.first().map(|a| a.trim_end_matches("()").to_string());
            out.push(setting("function".into(), name, line, None));
            body(&rest[2.min(rest.len())..], line, out);
        }
        w if w.ends_with("()") && !cmd.quoted => {
            out.push(setting(
                "function".into(),
                Some(w.trim_end_matches("()").to_string()),
                line,
                None,
            ));
            body(&rest[1..], line, out);
        }
        w => out.push(setting(w.to_string(), joined(), line, None)),
    }
}

/// The commands on the same line as a function header (`f() { cmd …`).
fn body(words: &[Word], line: u32, out: &mut Vec<Setting>) {
    if words.len() > 1 || words.first().is_some_and(|w| w.text != "{") {
        let s = Simple {
            words: words.to_vec(),
            flags: Flags::default(),
        };
        classify(&s, line, out);
    }
}

/// Parses a shell rc file into settings (see the module doc for the key scheme).
pub fn parse(content: &[u8]) -> Result<Vec<Setting>, ParseFailed> {
    let text = std::str::from_utf8(content).map_err(|e| ParseFailed::not_utf8(content, &e))?;
    if text.contains('\0') {
        return Err(ParseFailed::new(
            line_of(content, text.find('\0').unwrap_or(0)),
            ParseError::NulByte,
        ));
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut commands = 0;
    while i < lines.len() {
        let start = i;
        let (logical, last, open) = join_logical(&lines, i);
        i = last;
        let line_no = start as u32 + 1;
        if open && !logical.trim_end().ends_with('\\') {
            return Err(ParseFailed::new(line_no, ParseError::UnterminatedQuote));
        }
        let simple = split_commands(&logical).map_err(|error| ParseFailed::new(line_no, error))?;
        let heredoc = simple.iter().any(|s| s.flags.heredoc);
        for s in &simple {
            classify(s, line_no, &mut out);
        }
        commands += 1;
        if commands > MAX_COMMANDS {
            return Err(ParseFailed::new(line_no, ParseError::TooManyCommands));
        }
        i += 1;
        if heredoc {
            // The body is data for the command: skip to the delimiter line.
            let delim = heredoc_delimiter(&logical).unwrap_or_default();
            while i < lines.len() && lines[i].trim_start_matches('\t') != delim {
                i += 1;
            }
            i += 1;
        }
    }
    Ok(out)
}

fn heredoc_delimiter(line: &str) -> Option<String> {
    let at = line.find("<<")?;
    let rest = line[at + 2..].trim_start_matches('-').trim_start();
    let word: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ';')
        .collect();
    Some(word.trim_matches(['\'', '"']).to_string())
}

fn line_of(content: &[u8], offset: usize) -> u32 {
    content[..offset.min(content.len())]
        .iter()
        .filter(|&&c| c == b'\n')
        .count() as u32
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str) -> Vec<String> {
        parse(s.as_bytes())
            .unwrap()
            .into_iter()
            .map(|s| s.key)
            .collect()
    }

    #[test]
    fn plain_lines() {
        assert_eq!(keys("alias ls='ls --color=auto'\n"), ["alias.ls"]);
        assert_eq!(
            keys("export EDITOR=vim HISTSIZE=100\n"),
            ["EDITOR=", "HISTSIZE="]
        );
        assert_eq!(
            keys("HISTCONTROL=ignoreboth\nshopt -s histappend\n"),
            ["HISTCONTROL=", "shopt.histappend"]
        );
        assert_eq!(
            keys("setopt AUTO_CD no_beep\n"),
            ["setopt.autocd", "setopt.nobeep"]
        );
        assert_eq!(keys("set -o vi\n# c\n\n"), ["set.vi"]);
    }

    #[test]
    fn code_is_never_plain() {
        assert_eq!(keys("x=$(curl evil)\n"), ["shell.substitution", "x="]);
        assert_eq!(keys("PS1='`id`'\n"), ["PS1="]);
        assert_eq!(keys("curl x | sh\n"), ["shell.pipeline", "curl"]);
        assert_eq!(keys("[ -f ~/.x ] && . ~/.x\n"), ["[", "."]);
        assert_eq!(
            keys("if [ -n \"$X\" ]; then eval \"$X\"; fi\n"),
            ["[", "eval", "fi"]
        );
        assert_eq!(keys("foo() { rm -rf ~; }\n"), ["function", "rm", "}"]);
        assert_eq!(keys("trap 'x' EXIT\n"), ["trap"]);
        assert_eq!(
            keys("cat <<EOF\nalias ls=rm\nEOF\nalias l=ls\n"),
            ["shell.heredoc", "cat", "alias.ls"]
        );
    }

    #[test]
    fn continuations_and_quotes_across_lines() {
        let s = parse(b"alias a='one\ntwo'\nexport X=1 \\\n  Y=2\n").unwrap();
        assert_eq!(s[0].value.as_deref(), Some("one\ntwo"));
        assert_eq!(s[1].key, "X=");
        assert_eq!(s[2].key, "Y=");
        assert_eq!(s[2].line, 3);
        assert!(parse(b"alias a='x\n").is_err());
    }
}

#[cfg(test)]
mod join_tests {
    use super::*;

    /// The rescanning definition the incremental `Open` replaces (quadratic when a
    /// quote stays open over many lines): the reference for the test below.
    fn reference_is_open(line: &str) -> bool {
        let b: Vec<char> = line.chars().collect();
        let mut i = 0;
        let mut quote: Option<char> = None;
        while i < b.len() {
            let c = b[i];
            match quote {
                Some('\'') => {
                    if c == '\'' {
                        quote = None;
                    }
                }
                Some(_) => {
                    if c == '\\' {
                        i += 1;
                    } else if c == '"' {
                        quote = None;
                    }
                }
                None => match c {
                    '\\' => {
                        if i + 1 == b.len() {
                            return true;
                        }
                        i += 1;
                    }
                    '\'' | '"' => quote = Some(c),
                    '#' if i == 0 || b[i - 1].is_whitespace() => return false,
                    _ => {}
                },
            }
            i += 1;
        }
        quote.is_some()
    }

    fn reference_join(lines: &[&str], first: usize) -> (String, usize, bool) {
        let mut i = first;
        let mut logical = lines[i].to_string();
        while reference_is_open(&logical) && i + 1 < lines.len() {
            i += 1;
            let trimmed = logical.strip_suffix('\\').unwrap_or(&logical);
            if logical.ends_with('\\') && !reference_is_open(trimmed) {
                logical.pop();
            } else {
                logical.push('\n');
            }
            logical.push_str(lines[i]);
        }
        let open = reference_is_open(&logical);
        (logical, i, open)
    }

    #[test]
    fn incremental_join_equals_rescanning() {
        let alphabet = ['\'', '"', '\\', '#', ' ', 'a', '\n', '\t'];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let mut text = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for k in 0..(x % 24) {
                let r = x.rotate_left(k as u32 * 3) ^ (k * 0x9e37);
                text.push(alphabet[(r % alphabet.len() as u64) as usize]);
            }
            let lines: Vec<&str> = text.split('\n').collect();
            let mut i = 0;
            while i < lines.len() {
                let got = join_logical(&lines, i);
                assert_eq!(got, reference_join(&lines, i), "{text:?} from line {i}");
                i = got.1 + 1;
            }
        }
    }

    #[test]
    fn a_quote_open_over_many_lines_is_joined_in_linear_time() {
        // 200 000 lines inside one open quote: quadratic rescanning would take minutes.
        let text = format!("echo '{}", "a\n".repeat(200_000));
        let lines: Vec<&str> = text.split('\n').collect();
        let (_, last, open) = join_logical(&lines, 0);
        assert_eq!(last, lines.len() - 1);
        assert!(open);
    }
}
