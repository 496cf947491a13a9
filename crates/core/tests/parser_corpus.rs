//! The line-based file types and ssh_config through the real engine: the benign
//! corpus (tests/corpus/parsers/benign — everyday edits: aliases, history settings,
//! `set mouse=a`, `set -g mouse on`, ControlMaster/IdentityFile …) raises nothing above
//! medium, every malicious sample (tests/corpus/parsers/malicious) raises a critical
//! finding, and each shipped class file is loaded for its type.

use qcs_core::risk::{Engine, FileKind, Finding, ScanInput, Severity, Verdict};

#[path = "common/parser_corpus.rs"]
mod corpus_files;
use corpus_files::home_path;

fn corpus(kind: &str) -> Vec<(String, String)> {
    corpus_files::files(kind)
        .into_iter()
        .map(|(name, bytes)| (name, String::from_utf8(bytes).expect("UTF-8 corpus file")))
        .collect()
}

/// Scans `content` as an edit of an existing (empty) file at the home path of `name`.
fn scan(name: &str, content: &str) -> Vec<Finding> {
    Engine::shared().scan(&ScanInput {
        path: home_path(name),
        content: content.as_bytes(),
        base: Some(b""),
        mode: None,
        kind: FileKind::Regular,
    })
}

fn describe(f: &[Finding]) -> String {
    f.iter()
        .map(|f| format!("{} {:?} {:?}: {}", f.rule, f.severity, f.line, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn benign_corpus_raises_nothing_above_medium() {
    let files = corpus("benign");
    assert!(files.len() >= 20);
    let mut settings = 0;
    let mut failures = Vec::new();
    for (name, text) in &files {
        let above: Vec<Finding> = scan(name, text)
            .into_iter()
            .filter(|f| f.severity > Severity::Medium)
            .collect();
        if !above.is_empty() {
            failures.push(format!("{name}:\n{}", describe(&above)));
        }
        settings += text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with(['#', '"']))
            .count();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let mut by_type: std::collections::BTreeMap<&str, usize> = Default::default();
    for (name, _) in &files {
        let ft = Engine::shared()
            .filetype_of(home_path(name))
            .unwrap_or("unknown");
        *by_type.entry(ft).or_default() += 1;
    }
    eprintln!(
        "benign corpus: {} files, {settings} non-comment lines, 0 findings above medium; files by type: {by_type:?}",
        files.len()
    );
}

/// What each malicious sample does (the issue's classes of dangerous settings, plus
/// the tricks a parser must see through).
const MALICIOUS: &[(&str, &str)] = &[
    ("autocmd.vimrc", "runs code"),
    ("bind.tmux.conf", "runs code"),
    ("defaultcmd.tmux.conf", "runs code"),
    ("editor.gitconfig", "runs code"),
    ("enter.inputrc", "runs code"),
    ("evil.bashrc", "runs code"),
    ("evil.desktop", "runs code"),
    ("evil.service", "runs code"),
    ("fsmonitor.gitconfig", "runs code"),
    ("func.zshrc", "runs code"),
    ("hookspath.gitconfig", "runs code"),
    ("letshell.vimrc", "runs code"),
    ("localcommand.ssh-config", "runs code"),
    ("macro.inputrc", "runs code"),
    ("mapexpr.vimrc", "runs code"),
    ("matchexec.ssh-config", "runs code"),
    ("pre.service", "runs code"),
    ("prompt.bashrc", "runs code"),
    ("proxy.ssh-config", "runs code"),
    ("run.tmux.conf", "runs code"),
    ("shell.vimrc", "runs code"),
    ("shellalias.gitconfig", "runs code"),
    ("status.tmux.conf", "runs code"),
    ("include-near.inputrc", "loads code or config"),
    ("include.gitconfig", "loads code or config"),
    ("include.inputrc", "loads code or config"),
    ("path.conf", "loads code or config"),
    ("preload.conf", "loads code or config"),
    ("preload.profile", "loads code or config"),
    ("preload.service", "loads code or config"),
    ("provider.ssh-config", "loads code or config"),
    ("xdg.conf", "loads code or config"),
    ("knownhosts.ssh-config", "redirects trust"),
    ("mitm.ssh-config", "redirects trust"),
    ("sslverify.gitconfig", "redirects trust"),
    ("credential.gitconfig", "credentials"),
    ("token.bashrc", "credentials"),
    ("insteadof.gitconfig", "network endpoint"),
    ("bidi.gitconfig", "hidden characters or parser differential"),
    ("cr.gitconfig", "hidden characters or parser differential"),
    (
        "quoted.ssh-config",
        "hidden characters or parser differential",
    ),
];

#[test]
fn malicious_samples_are_critical() {
    let files = corpus("malicious");
    assert!(files.len() >= 40);
    let mut by_class: std::collections::BTreeMap<&str, usize> = Default::default();
    for (name, text) in &files {
        let class = MALICIOUS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| *c)
            .unwrap_or_else(|| panic!("{name}: add it to MALICIOUS with its class"));
        *by_class.entry(class).or_default() += 1;
        let f = scan(name, text);
        assert!(
            f.iter().any(|f| f.severity == Severity::Critical),
            "{name} raised no critical finding:\n{}",
            describe(&f)
        );
    }
    eprintln!(
        "malicious samples: {} files, all critical; by class: {by_class:?}",
        files.len()
    );
}

#[test]
fn the_issue_examples() {
    // `set mouse=a` in .vimrc and `set -g mouse on` in .tmux.conf raise nothing.
    assert!(
        scan(".vimrc", "set mouse=a\n").is_empty(),
        "{}",
        describe(&scan(".vimrc", "set mouse=a\n"))
    );
    assert!(scan(".tmux.conf", "set -g mouse on\n").is_empty());
    // A keyword with quotes inside it is the keyword OpenSSH reads.
    let f = scan("ssh-config", "\"ProxyCommand\" nc %h %p\n");
    assert!(
        f.iter().any(|f| f.severity == Severity::Critical),
        "{}",
        describe(&f)
    );
    // An unknown setting is gated but not critical.
    let f = scan(".vimrc", "set frobnicate\n");
    assert!(
        f.iter().any(|f| f.severity == Severity::High),
        "{}",
        describe(&f)
    );
    assert!(!f.iter().any(|f| f.severity == Severity::Critical));
    // What OpenSSH refuses is parse.failed.
    let f = scan("ssh-config", "Host x\n    Frobnicate yes\n");
    assert!(
        f.iter()
            .any(|f| f.rule == "parse.failed" && f.severity == Severity::Critical),
        "{}",
        describe(&f)
    );
}

#[test]
fn every_type_has_its_classes_loaded() {
    let e = Engine::shared();
    for (ft, min) in [
        ("ssh-config", 80),
        ("shell-rc", 150),
        ("vimrc", 150),
        ("tmux", 100),
        ("readline", 40),
        ("desktop-entry", 15),
        ("systemd-user", 40),
        ("environment-d", 40),
    ] {
        assert!(e.setting_count(ft) >= min, "{ft}: {}", e.setting_count(ft));
    }
    assert_eq!(
        e.classify_setting("tmux", "set.status-right", Some("%H:%M")),
        Verdict::Inert
    );
    assert!(matches!(
        e.classify_setting("tmux", "set.status-right", Some("#(id)")),
        Verdict::Dangerous { .. }
    ));
    assert!(matches!(
        e.classify_setting("readline", "macro", Some("ls\n")),
        Verdict::Dangerous { .. }
    ));
    assert_eq!(
        e.classify_setting("readline", "macro", Some("cd ..")),
        Verdict::Inert
    );
    assert_eq!(
        e.classify_setting("shell-rc", "alias.ls", Some("ls -l; id")),
        Verdict::Unknown
    );
}
