//! tmux.conf read with tmux's command grammar (`cmd-parse.y`): `#` at a token start
//! comments to the end of the line, backslash-newline continues a line (in comments
//! too), `;` separates commands (`\;` passes one to the command), `'…'` is literal,
//! `"…"` takes `\` escapes, `{ … }` is a nested command list that may span lines,
//! `%if`/`%elif`/`%else`/`%endif` and `%hidden` are directives, `NAME=value` assigns
//! to tmux's global environment. Command aliases are resolved to full names. It never
//! expands a format or runs anything.
//!
//! Key scheme:
//! * `set.<option>` for set-option / set-window-option (value: the option value;
//!   `-u` unsets, value None);
//! * `bind.<command>` for every command a key binding runs (value: that command's
//!   arguments; context: the key), also for commands inside `{ … }` or `\;` chains;
//! * `NAME=` for an environment assignment;
//! * `%if`, `%elif`, `%else`, `%endif`;
//! * otherwise the full command name (`run-shell`, `source-file`, `set-hook`, …) with
//!   its arguments joined as value.

use super::{ParseError, ParseFailed, Setting};

/// tmux's command aliases and unique prefixes the manual documents.
const ALIASES: &[(&str, &str)] = &[
    ("set", "set-option"),
    ("setw", "set-window-option"),
    ("bind", "bind-key"),
    ("unbind", "unbind-key"),
    ("run", "run-shell"),
    ("if", "if-shell"),
    ("source", "source-file"),
    ("display", "display-message"),
    ("new", "new-session"),
    ("neww", "new-window"),
    ("splitw", "split-window"),
    ("send", "send-keys"),
    ("selectp", "select-pane"),
    ("resizep", "resize-pane"),
    ("selectw", "select-window"),
    ("killp", "kill-pane"),
    ("killw", "kill-window"),
    ("setenv", "set-environment"),
    ("pipep", "pipe-pane"),
    ("popup", "display-popup"),
    ("respawnp", "respawn-pane"),
    ("respawnw", "respawn-window"),
    ("lastp", "last-pane"),
    ("last", "last-window"),
    ("next", "next-window"),
    ("prev", "previous-window"),
    ("swapp", "swap-pane"),
    ("swapw", "swap-window"),
    ("movew", "move-window"),
    ("copy-mode", "copy-mode"),
    ("pasteb", "paste-buffer"),
    ("detach", "detach-client"),
    ("lsk", "list-keys"),
    ("menu", "display-menu"),
    ("confirm", "confirm-before"),
    ("command-prompt", "command-prompt"),
    ("renamew", "rename-window"),
    ("rename", "rename-session"),
    ("breakp", "break-pane"),
    ("joinp", "join-pane"),
    ("selectl", "select-layout"),
    ("nextl", "next-layout"),
    ("showo", "show-options"),
    ("show", "show-options"),
    ("lock", "lock-server"),
    ("refresh", "refresh-client"),
    ("clearhist", "clear-history"),
    ("switchc", "switch-client"),
];

fn full_command(w: &str) -> String {
    ALIASES
        .iter()
        .find(|(a, _)| *a == w)
        .map(|(_, f)| (*f).to_string())
        .unwrap_or_else(|| w.to_string())
}

/// One token: its text after quote removal.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    /// `{ … }`: the commands inside.
    Block(Vec<Vec<Tok>>),
}

struct Lexer<'a> {
    b: &'a [char],
    i: usize,
    line: u32,
}

impl Lexer<'_> {
    fn err(&self, error: ParseError) -> ParseFailed {
        ParseFailed {
            line: self.line,
            error,
        }
    }

    /// Reads commands until end of input (top) or a closing `}` (nested).
    fn commands(&mut self, nested: bool) -> Result<Vec<(u32, Vec<Tok>)>, ParseFailed> {
        let mut out = Vec::new();
        let mut cur: Vec<Tok> = Vec::new();
        let mut start = self.line;
        loop {
            let Some(&c) = self.b.get(self.i) else {
                if nested {
                    return Err(self.err(ParseError::UnterminatedBlock));
                }
                break;
            };
            match c {
                ' ' | '\t' | '\r' => self.i += 1,
                '\\' if self.b.get(self.i + 1) == Some(&'\n') => {
                    self.i += 2;
                    self.line += 1;
                }
                '\n' => {
                    self.i += 1;
                    self.line += 1;
                    if !cur.is_empty() {
                        out.push((start, std::mem::take(&mut cur)));
                    }
                    start = self.line;
                }
                ';' => {
                    self.i += 1;
                    if !cur.is_empty() {
                        out.push((start, std::mem::take(&mut cur)));
                    }
                }
                '#' if self.b.get(self.i + 1) == Some(&'{')
                    && matches!(cur.first(), Some(Tok::Word(w)) if w == "%if" || w == "%elif") =>
                {
                    // `#{…}` after %if/%elif is a format, not a comment.
                    let mut depth = 0;
                    let mut w = String::new();
                    while let Some(&x) = self.b.get(self.i) {
                        if x == '\n' && depth > 0 {
                            return Err(self.err(ParseError::UnterminatedFormat));
                        }
                        w.push(x);
                        self.i += 1;
                        match x {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    cur.push(Tok::Word(w));
                }
                '#' => {
                    // Comment to end of line; backslash-newline continues it.
                    while let Some(&x) = self.b.get(self.i) {
                        if x == '\\' && self.b.get(self.i + 1) == Some(&'\n') {
                            self.i += 2;
                            self.line += 1;
                            continue;
                        }
                        if x == '\n' {
                            break;
                        }
                        self.i += 1;
                    }
                }
                '{' => {
                    self.i += 1;
                    let inner = self.commands(true)?;
                    cur.push(Tok::Block(inner.into_iter().map(|(_, t)| t).collect()));
                }
                '}' if nested => {
                    self.i += 1;
                    if !cur.is_empty() {
                        out.push((start, cur));
                    }
                    return Ok(out);
                }
                _ => cur.push(Tok::Word(self.word()?)),
            }
            if out.len() > 200_000 {
                return Err(self.err(ParseError::TooManyCommands));
            }
        }
        if !cur.is_empty() {
            out.push((start, cur));
        }
        Ok(out)
    }

    fn word(&mut self) -> Result<String, ParseFailed> {
        let mut w = String::new();
        while let Some(&c) = self.b.get(self.i) {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' => break,
                '}' | '{' if w.is_empty() => break,
                '\\' => {
                    let n = self.b.get(self.i + 1).copied();
                    match n {
                        Some('\n') => {
                            self.i += 2;
                            self.line += 1;
                            continue;
                        }
                        Some(';') => {
                            // `\;` ends the word and is a literal `;` argument.
                            if w.is_empty() {
                                w.push(';');
                                self.i += 2;
                            }
                            break;
                        }
                        Some(x) => {
                            w.push(unescape(x));
                            self.i += 2;
                        }
                        None => self.i += 1,
                    }
                }
                '\'' => {
                    self.i += 1;
                    loop {
                        match self.b.get(self.i) {
                            Some('\'') => break,
                            Some('\n') => {
                                self.line += 1;
                                w.push('\n');
                            }
                            Some(&x) => w.push(x),
                            None => return Err(self.err(ParseError::UnterminatedSingleQuote)),
                        }
                        self.i += 1;
                    }
                    self.i += 1;
                }
                '"' => {
                    self.i += 1;
                    loop {
                        match self.b.get(self.i) {
                            Some('"') => break,
                            Some('\\') => {
                                match self.b.get(self.i + 1) {
                                    Some('\n') => self.line += 1,
                                    Some(&x) => w.push(unescape(x)),
                                    None => {
                                        return Err(self.err(ParseError::UnterminatedDoubleQuote));
                                    }
                                }
                                self.i += 1;
                            }
                            Some('\n') => {
                                self.line += 1;
                                w.push('\n');
                            }
                            Some(&x) => w.push(x),
                            None => return Err(self.err(ParseError::UnterminatedDoubleQuote)),
                        }
                        self.i += 1;
                    }
                    self.i += 1;
                }
                _ => {
                    w.push(c);
                    self.i += 1;
                }
            }
        }
        Ok(w)
    }
}

fn unescape(c: char) -> char {
    match c {
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'e' => '\x1b',
        x => x,
    }
}

fn text(toks: &[Tok]) -> String {
    toks.iter()
        .map(|t| match t {
            Tok::Word(w) => w.clone(),
            Tok::Block(cmds) => format!(
                "{{ {} }}",
                cmds.iter().map(|c| text(c)).collect::<Vec<_>>().join(" ; ")
            ),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn push(
    out: &mut Vec<Setting>,
    key: String,
    value: Option<String>,
    line: u32,
    context: Option<String>,
) {
    out.push(Setting {
        key,
        value,
        line,
        span: None,
        context,
    });
}

/// Flags of a command that take an argument (so the argument is not the option name).
fn flag_takes_arg(cmd: &str, f: char) -> bool {
    match cmd {
        "set-option" | "set-window-option" => f == 't',
        "bind-key" => f == 'T' || f == 'N',
        _ => false,
    }
}

/// Splits leading `-xyz` flags; returns (flags, rest).
fn flags<'t>(cmd: &str, args: &'t [Tok]) -> (String, &'t [Tok]) {
    let mut f = String::new();
    let mut i = 0;
    while let Some(Tok::Word(w)) = args.get(i) {
        if !w.starts_with('-') || w == "-" || w == "--" {
            if w == "--" {
                i += 1;
            }
            break;
        }
        f.push_str(&w[1..]);
        i += 1;
        if w.chars().last().is_some_and(|c| flag_takes_arg(cmd, c)) {
            i += 1;
        }
    }
    (f, &args[i.min(args.len())..])
}

fn classify(line: u32, toks: &[Tok], out: &mut Vec<Setting>, bound_to: Option<&str>) {
    let Some(Tok::Word(first)) = toks.first() else {
        if let Some(Tok::Block(cmds)) = toks.first() {
            for c in cmds {
                classify(line, c, out, bound_to);
            }
        }
        return;
    };
    if bound_to.is_none() && first.starts_with('%') {
        let value = Some(text(&toks[1..]));
        if first == "%hidden"
            && let Some(Tok::Word(a)) = toks.get(1)
            && let Some((n, v)) = a.split_once('=')
        {
            push(out, format!("{n}="), Some(v.to_string()), line, None);
            return;
        }
        push(out, first.clone(), value, line, None);
        return;
    }
    if bound_to.is_none()
        && let Some((n, v)) = first.split_once('=')
        && !n.is_empty()
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        push(out, format!("{n}="), Some(v.to_string()), line, None);
        return;
    }
    let cmd = full_command(first);
    let args = &toks[1..];
    if let Some(key) = bound_to {
        push(
            out,
            format!("bind.{cmd}"),
            Some(text(args)),
            line,
            Some(key.to_string()),
        );
        // A bound command that itself takes commands (if-shell, confirm-before, …)
        // has them in its arguments; blocks are classified too.
        for a in args {
            if let Tok::Block(cmds) = a {
                for c in cmds {
                    classify(line, c, out, Some(key));
                }
            }
        }
        return;
    }
    match cmd.as_str() {
        "set-option" | "set-window-option" => {
            let (f, rest) = flags(&cmd, args);
            let name = match rest.first() {
                Some(Tok::Word(n)) => n.clone(),
                _ => String::new(),
            };
            let value = if f.contains('u') {
                None
            } else {
                Some(text(&rest[1.min(rest.len())..]))
            };
            let key = if f.contains('F') {
                format!("set-format.{name}")
            } else {
                format!("set.{name}")
            };
            push(out, key, value, line, None);
        }
        "bind-key" => {
            let (_, rest) = flags(&cmd, args);
            let key = match rest.first() {
                Some(Tok::Word(k)) => k.clone(),
                _ => String::new(),
            };
            let body = &rest[1.min(rest.len())..];
            // `bind x cmd1 \; cmd2`: split at literal `;` words.
            for part in body.split(|t| *t == Tok::Word(";".into())) {
                if part.is_empty() {
                    continue;
                }
                classify(line, part, out, Some(&key));
            }
            if body.is_empty() {
                push(out, "bind-key".into(), None, line, Some(key));
            }
        }
        _ => push(out, cmd, Some(text(args)), line, None),
    }
}

/// Parses a tmux.conf into settings (see the module doc for the key scheme).
pub fn parse(content: &[u8]) -> Result<Vec<Setting>, ParseFailed> {
    let text = std::str::from_utf8(content).map_err(|e| ParseFailed::not_utf8(content, &e))?;
    let chars: Vec<char> = text.chars().collect();
    let mut lx = Lexer {
        b: &chars,
        i: 0,
        line: 1,
    };
    let cmds = lx.commands(false)?;
    let mut out = Vec::new();
    for (line, toks) in &cmds {
        classify(*line, toks, &mut out, None);
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
    fn options_and_bindings() {
        assert_eq!(
            kv("set -g mouse on\n"),
            vec![("set.mouse".into(), Some("on".into()))]
        );
        assert_eq!(kv("setw -g mode-keys vi # c\n")[0].0, "set.mode-keys");
        assert_eq!(
            kv("set -g status-right '#(uptime)'\n")[0].1.as_deref(),
            Some("#(uptime)")
        );
        assert_eq!(
            kv("bind r source-file ~/.tmux.conf \\; display 'ok'\n")
                .iter()
                .map(|k| k.0.clone())
                .collect::<Vec<_>>(),
            ["bind.source-file", "bind.display-message"]
        );
        assert_eq!(
            kv("bind -n M-Left select-pane -L\n")[0].0,
            "bind.select-pane"
        );
        assert_eq!(kv("bind x { run-shell 'id' }\n")[0].0, "bind.run-shell");
    }

    #[test]
    fn grammar() {
        assert_eq!(kv("run 'x'; set -g mouse on\n").len(), 2);
        assert_eq!(
            kv("# c \\\nrun-shell x\nset -g mouse on\n"),
            vec![("set.mouse".into(), Some("on".into()))]
        );
        assert_eq!(kv("PATH=/tmp/x\n")[0].0, "PATH=");
        assert_eq!(
            kv("%if #{>=:#{version},3.0}\nset -g mouse on\n%endif\n")[0].0,
            "%if"
        );
        assert!(parse(b"set -g status-left \"x\n").is_err());
        assert!(parse(b"bind x { run y\n").is_err());
    }
}
