//! vimrc / init.vim read as the Ex script it is: `"` comment lines, `\` line
//! continuation, leading `:` and blanks dropped, `|` separating commands where vim
//! does, command abbreviations resolved to their full names for the commands that
//! matter, and `set`/`setlocal`/`setglobal` split into one setting per option with
//! vim's short option names, `no`/`inv` prefixes and `!`/`&` suffixes resolved. It
//! never evaluates an expression or runs a command.
//!
//! Key scheme:
//! * `set.<option>` (full option name; value after `=`/`:`/`+=`/`-=`/`^=`, or
//!   `no`/`inv`/`!`/`&` for booleans, None for a plain boolean);
//! * `<map command>` (`nnoremap`, `map`, …) with the right-hand side as value and the
//!   left-hand side as context; `<map command>.expr` when `<expr>` is among its
//!   arguments;
//! * `!` for a shell command;
//! * otherwise the full command name (`autocmd`, `source`, `let`, `syntax`, …) with
//!   the rest of the line as value; an abbreviation this table does not know keeps
//!   its written form, so it falls to the rules' unknown class.

use super::{ParseError, ParseFailed, Setting};

/// (shortest abbreviation, full name) for the Ex commands the rules name.
const COMMANDS: &[(&str, &str)] = &[
    ("se", "set"),
    ("setl", "setlocal"),
    ("setg", "setglobal"),
    ("au", "autocmd"),
    ("aug", "augroup"),
    ("so", "source"),
    ("ru", "runtime"),
    ("pa", "packadd"),
    ("let", "let"),
    ("unl", "unlet"),
    ("cal", "call"),
    ("exe", "execute"),
    ("ev", "eval"),
    ("colo", "colorscheme"),
    ("sy", "syntax"),
    ("filet", "filetype"),
    ("hi", "highlight"),
    ("com", "command"),
    ("fu", "function"),
    ("endf", "endfunction"),
    ("def", "def"),
    ("enddef", "enddef"),
    ("if", "if"),
    ("en", "endif"),
    ("el", "else"),
    ("elsei", "elseif"),
    ("norm", "normal"),
    ("exec", "execute"),
    ("py", "python"),
    ("py3", "python3"),
    ("pyx", "pyx"),
    ("pyf", "pyfile"),
    ("py3f", "py3file"),
    ("pydo", "pydo"),
    ("py3do", "py3do"),
    ("lua", "lua"),
    ("luado", "luado"),
    ("luaf", "luafile"),
    ("perl", "perl"),
    ("rub", "ruby"),
    ("tcl", "tcl"),
    ("mz", "mzscheme"),
    ("ter", "terminal"),
    ("mak", "make"),
    ("gr", "grep"),
    ("r", "read"),
    ("w", "write"),
    ("e", "edit"),
    ("redi", "redir"),
    ("mks", "mksession"),
    ("mkv", "mkvimrc"),
    ("lan", "language"),
    ("scripte", "scriptencoding"),
    ("vim9s", "vim9script"),
    ("g", "global"),
    ("v", "vglobal"),
    ("map", "map"),
    ("nm", "nmap"),
    ("vm", "vmap"),
    ("xm", "xmap"),
    ("smap", "smap"),
    ("om", "omap"),
    ("im", "imap"),
    ("lm", "lmap"),
    ("cm", "cmap"),
    ("tma", "tmap"),
    ("no", "noremap"),
    ("nn", "nnoremap"),
    ("vn", "vnoremap"),
    ("xn", "xnoremap"),
    ("snor", "snoremap"),
    ("ono", "onoremap"),
    ("ino", "inoremap"),
    ("ln", "lnoremap"),
    ("cno", "cnoremap"),
    ("tno", "tnoremap"),
    ("unm", "unmap"),
    ("nun", "nunmap"),
    ("vu", "vunmap"),
    ("iu", "iunmap"),
    ("ab", "abbreviate"),
    ("ia", "iabbrev"),
    ("ca", "cabbrev"),
    ("cnorea", "cnoreabbrev"),
    ("inorea", "inoreabbrev"),
    ("mapc", "mapclear"),
    ("sil", "silent"),
    ("ene", "enew"),
    ("ec", "echo"),
    ("echom", "echomsg"),
    ("ret", "retab"),
    ("nohl", "nohlsearch"),
    ("lcd", "lcd"),
    ("cd", "cd"),
    ("sign", "sign"),
    ("helpt", "helptags"),
    ("redr", "redraw"),
    ("nos", "noswapfile"),
    ("sp", "split"),
];

/// (short name, full name) of vim options.
const OPTIONS: &[(&str, &str)] = &[
    ("nu", "number"),
    ("rnu", "relativenumber"),
    ("ts", "tabstop"),
    ("sw", "shiftwidth"),
    ("sts", "softtabstop"),
    ("et", "expandtab"),
    ("ai", "autoindent"),
    ("si", "smartindent"),
    ("cin", "cindent"),
    ("ic", "ignorecase"),
    ("scs", "smartcase"),
    ("hls", "hlsearch"),
    ("is", "incsearch"),
    ("ls", "laststatus"),
    ("so", "scrolloff"),
    ("siso", "sidescrolloff"),
    ("bg", "background"),
    ("enc", "encoding"),
    ("fenc", "fileencoding"),
    ("ff", "fileformat"),
    ("ffs", "fileformats"),
    ("tw", "textwidth"),
    ("wm", "wrapmargin"),
    ("cul", "cursorline"),
    ("cuc", "cursorcolumn"),
    ("cc", "colorcolumn"),
    ("lbr", "linebreak"),
    ("sr", "shiftround"),
    ("sm", "showmatch"),
    ("smd", "showmode"),
    ("sc", "showcmd"),
    ("ru", "ruler"),
    ("bs", "backspace"),
    ("cb", "clipboard"),
    ("wmnu", "wildmenu"),
    ("wim", "wildmode"),
    ("wig", "wildignore"),
    ("hid", "hidden"),
    ("ar", "autoread"),
    ("aw", "autowrite"),
    ("bk", "backup"),
    ("wb", "writebackup"),
    ("swf", "swapfile"),
    ("udf", "undofile"),
    ("ul", "undolevels"),
    ("hi", "history"),
    ("tm", "timeoutlen"),
    ("ttm", "ttimeoutlen"),
    ("to", "timeout"),
    ("ut", "updatetime"),
    ("sb", "splitbelow"),
    ("spr", "splitright"),
    ("tgc", "termguicolors"),
    ("fdm", "foldmethod"),
    ("fdl", "foldlevel"),
    ("fen", "foldenable"),
    ("fdls", "foldlevelstart"),
    ("fdc", "foldcolumn"),
    ("scl", "signcolumn"),
    ("ch", "cmdheight"),
    ("lcs", "listchars"),
    ("fo", "formatoptions"),
    ("cpt", "complete"),
    ("cot", "completeopt"),
    ("spl", "spelllang"),
    ("vb", "visualbell"),
    ("eb", "errorbells"),
    ("ml", "modeline"),
    ("mls", "modelines"),
    ("mle", "modelineexpr"),
    ("sh", "shell"),
    ("shcf", "shellcmdflag"),
    ("mp", "makeprg"),
    ("gp", "grepprg"),
    ("kp", "keywordprg"),
    ("ep", "equalprg"),
    ("fp", "formatprg"),
    ("rtp", "runtimepath"),
    ("pp", "packpath"),
    ("dex", "diffexpr"),
    ("pex", "patchexpr"),
    ("ccv", "charconvert"),
    ("cfu", "completefunc"),
    ("ofu", "omnifunc"),
    ("opfunc", "operatorfunc"),
    ("tfu", "tagfunc"),
    ("tsrfu", "thesaurusfunc"),
    ("fde", "foldexpr"),
    ("fdt", "foldtext"),
    ("fex", "formatexpr"),
    ("inex", "includeexpr"),
    ("inde", "indentexpr"),
    ("stl", "statusline"),
    ("tal", "tabline"),
    ("bex", "balloonexpr"),
    ("bdir", "backupdir"),
    ("dir", "directory"),
    ("udir", "undodir"),
    ("vi", "viminfo"),
    ("vif", "viminfofile"),
    ("vfile", "verbosefile"),
    ("spf", "spellfile"),
    ("ef", "errorfile"),
    ("hf", "helpfile"),
    ("ex", "exrc"),
    ("lmap", "langmap"),
    ("ft", "filetype"),
    ("syn", "syntax"),
    ("ve", "virtualedit"),
    ("ww", "whichwrap"),
    ("nf", "nrformats"),
    ("js", "joinspaces"),
    ("sol", "startofline"),
    ("lz", "lazyredraw"),
    ("tf", "ttyfast"),
    ("sta", "smarttab"),
    ("ws", "wrapscan"),
    ("gd", "gdefault"),
    ("magic", "magic"),
    ("sel", "selection"),
    ("slm", "selectmode"),
    ("km", "keymodel"),
    ("mouse", "mouse"),
    ("title", "title"),
    ("sft", "showfulltag"),
    ("report", "report"),
    ("shm", "shortmess"),
    ("fcs", "fillchars"),
    ("sbr", "showbreak"),
    ("bri", "breakindent"),
    ("ci", "copyindent"),
    ("pi", "preserveindent"),
    ("ff", "fileformat"),
    ("bomb", "bomb"),
    ("eol", "endofline"),
    ("fixeol", "fixendofline"),
    ("sel", "selection"),
    ("ttyfast", "ttyfast"),
    ("cp", "compatible"),
    ("list", "list"),
    ("wrap", "wrap"),
    ("spell", "spell"),
    ("paste", "paste"),
    ("ttimeout", "ttimeout"),
    ("cf", "confirm"),
    ("more", "more"),
    ("sms", "smoothscroll"),
    ("ea", "equalalways"),
    ("ma", "modifiable"),
    ("ro", "readonly"),
    ("ek", "esckeys"),
    ("ri", "revins"),
    ("cole", "conceallevel"),
    ("nuw", "numberwidth"),
];

/// Commands after which `|` is part of the argument, not a separator (`:help :bar`).
fn takes_bar(cmd: &str) -> bool {
    cmd.ends_with("map")
        || cmd.ends_with("noremap")
        || cmd.ends_with("abbrev")
        || cmd.ends_with("abbreviate")
        || matches!(
            cmd,
            "autocmd"
                | "command"
                | "normal"
                | "global"
                | "vglobal"
                | "!"
                | "execute"
                | "python"
                | "python3"
                | "pyx"
                | "lua"
                | "perl"
                | "ruby"
                | "tcl"
                | "mzscheme"
                | "read"
                | "write"
                | "make"
                | "grep"
                | "terminal"
                | "silent"
                | "pydo"
                | "py3do"
                | "luado"
        )
}

fn is_map(cmd: &str) -> bool {
    cmd.ends_with("map") && !cmd.ends_with("unmap") && cmd != "mapclear"
        || cmd.ends_with("noremap")
        || cmd.ends_with("abbrev")
        || cmd.ends_with("abbreviate")
}

/// Resolves an Ex command as written (`nn`, `nnoremap!`) to its full name.
fn command_name(word: &str) -> String {
    let w = word.trim_end_matches('!');
    for (short, full) in COMMANDS {
        if w.len() >= short.len() && full.starts_with(w) && w.starts_with(short) {
            return (*full).to_string();
        }
    }
    w.to_string()
}

fn option_name(o: &str) -> String {
    OPTIONS
        .iter()
        .find(|(s, _)| *s == o)
        .map(|(_, f)| (*f).to_string())
        .unwrap_or_else(|| o.to_string())
}

fn is_known_option(o: &str) -> bool {
    OPTIONS.iter().any(|(s, f)| *s == o || *f == o)
}

/// Splits `set` arguments at unescaped blanks (`\ ` is a literal space).
fn set_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ' ' | '\t' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            '"' if cur.is_empty() => break,
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn set_settings(args: &str, line: u32, out: &mut Vec<Setting>) {
    for a in set_args(args) {
        let split = a.find(['=', ':']).map(|i| {
            let op_start = if i > 0 && matches!(a.as_bytes()[i - 1], b'+' | b'-' | b'^') {
                i - 1
            } else {
                i
            };
            (&a[..op_start], a[op_start..].to_string())
        });
        let (name, value) = match split {
            Some((n, v)) => (
                n.to_string(),
                Some(
                    v.trim_start_matches(['+', '-', '^'])
                        .trim_start_matches(['=', ':'])
                        .to_string(),
                ),
            ),
            None => {
                let (n, suffix) = match a.strip_suffix(['!', '&', '?']) {
                    Some(n) => (n.to_string(), Some(a[n.len()..].to_string())),
                    None => (a.clone(), None),
                };
                if let Some(b) = n.strip_prefix("no").filter(|b| is_known_option(b)) {
                    (b.to_string(), Some("no".to_string()))
                } else if let Some(b) = n.strip_prefix("inv").filter(|b| is_known_option(b)) {
                    (b.to_string(), Some("inv".to_string()))
                } else {
                    (n, suffix)
                }
            }
        };
        out.push(Setting {
            key: format!("set.{}", option_name(&name)),
            value,
            line,
            span: None,
            context: None,
        });
    }
}

/// One Ex command line (after continuation joining).
fn command(text: &str, line: u32, out: &mut Vec<Setting>) {
    let t = text.trim_start_matches([' ', '\t', ':']);
    if t.is_empty() || t.starts_with('"') {
        return;
    }
    if let Some(rest) = t.strip_prefix('!') {
        out.push(Setting {
            key: "!".into(),
            value: Some(rest.trim().into()),
            line,
            span: None,
            context: None,
        });
        return;
    }
    // A range or count in front (`:1,$d`, `:%s`) makes it an editing command: keep as written.
    let word_end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '!'))
        .unwrap_or(t.len());
    let word = &t[..word_end];
    if word.is_empty() {
        out.push(Setting {
            key: t.chars().next().map(String::from).unwrap_or_default(),
            value: Some(t.into()),
            line,
            span: None,
            context: None,
        });
        return;
    }
    let cmd = command_name(word);
    let rest = t[word_end..].trim_start();
    let (arg, next) = if takes_bar(&cmd) {
        (rest, None)
    } else {
        split_bar(rest)
    };
    match cmd.as_str() {
        "set" | "setlocal" | "setglobal" => set_settings(arg, line, out),
        c if is_map(c) => {
            let mut words = arg.split_whitespace().peekable();
            let mut expr = false;
            while let Some(w) = words.peek() {
                let l = w.to_ascii_lowercase();
                if matches!(
                    l.as_str(),
                    "<buffer>"
                        | "<nowait>"
                        | "<silent>"
                        | "<special>"
                        | "<script>"
                        | "<unique>"
                        | "<expr>"
                ) {
                    expr |= l == "<expr>";
                    words.next();
                } else {
                    break;
                }
            }
            let lhs = words.next().map(str::to_string);
            let rhs: Vec<&str> = words.collect();
            let key = if expr {
                format!("{c}.expr")
            } else {
                c.to_string()
            };
            out.push(Setting {
                key,
                value: Some(rhs.join(" ")),
                line,
                span: None,
                context: lhs,
            });
        }
        c => out.push(Setting {
            key: c.to_string(),
            value: Some(arg.trim().to_string()),
            line,
            span: None,
            context: None,
        }),
    }
    if let Some(n) = next {
        command(n, line, out);
    }
}

/// Splits at the first `|` that separates commands (not `\|`, not in a string).
fn split_bar(s: &str) -> (&str, Option<&str>) {
    let b = s.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        match (quote, b[i]) {
            (None, b'\\') => i += 1,
            (None, b'\'' | b'"') => quote = Some(b[i]),
            (Some(q), c) if c == q => quote = None,
            (None, b'|') => return (&s[..i], Some(&s[i + 1..])),
            _ => {}
        }
        i += 1;
    }
    (s, None)
}

/// Parses a vimrc into settings (see the module doc for the key scheme).
pub fn parse(content: &[u8]) -> Result<Vec<Setting>, ParseFailed> {
    let text = std::str::from_utf8(content).map_err(|e| ParseFailed::not_utf8(content, &e))?;
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        let mut logical = lines[i].to_string();
        // Continuation: following lines starting with `\` (after blanks) join on; `"\ `
        // lines are comments inside a continuation.
        while i + 1 < lines.len() {
            let next = lines[i + 1].trim_start();
            if let Some(rest) = next.strip_prefix('\\') {
                logical.push_str(rest);
                i += 1;
            } else if next.starts_with("\"\\ ") {
                i += 1;
            } else {
                break;
            }
        }
        if logical.contains('\0') {
            return Err(ParseFailed::new(start as u32 + 1, ParseError::NulByte));
        }
        command(&logical, start as u32 + 1, &mut out);
        i += 1;
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
    fn set_options() {
        assert_eq!(
            kv("set nu ts=4 noet mouse=a\n"),
            vec![
                ("set.number".into(), None),
                ("set.tabstop".into(), Some("4".into())),
                ("set.expandtab".into(), Some("no".into())),
                ("set.mouse".into(), Some("a".into())),
            ]
        );
        assert_eq!(
            kv(":se sh=/tmp/x\\ y | set ic\n")[0],
            ("set.shell".into(), Some("/tmp/x y".into()))
        );
        assert_eq!(kv("se sh=/bin/sh | set ic\n")[1].0, "set.ignorecase");
        assert_eq!(
            kv("set path+=**\n")[0],
            ("set.path".into(), Some("**".into()))
        );
    }

    #[test]
    fn commands_and_maps() {
        assert_eq!(
            kv("nnoremap j gj\n")[0],
            ("nnoremap".into(), Some("gj".into()))
        );
        assert_eq!(kv("nn <silent> <expr> x Foo()\n")[0].0, "nnoremap.expr");
        assert_eq!(kv("au BufRead * !id\n")[0].0, "autocmd");
        assert_eq!(kv("\" comment\n  syntax on\n")[0].0, "syntax");
        assert_eq!(kv("call system('id')\n")[0].0, "call");
        assert_eq!(kv("!rm -rf ~\n")[0].0, "!");
        assert_eq!(kv("let g:x = 1 | so /tmp/x\n")[1].0, "source");
        assert_eq!(
            kv("autocmd BufRead *\n  \\ call Evil()\n")[0].1.as_deref(),
            Some("BufRead * call Evil()")
        );
    }
}
