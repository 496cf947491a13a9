//! The line-based file types and ssh_config through the real engine: the benign
//! corpus (tests/corpus/parsers/benign — everyday edits: aliases, history settings,
//! `set mouse=a`, `set -g mouse on`, ControlMaster/IdentityFile …) raises nothing above
//! medium, every malicious sample (tests/corpus/parsers/malicious) raises a critical
//! finding, and each shipped class file is loaded for its type.

use qcs_core::risk::{Engine, FileKind, Finding, ScanInput, Severity, Verdict};

/// Where a corpus file would live in a home directory (by its name).
fn home_path(name: &str) -> &'static str {
    let table: &[(&str, &str)] = &[
        ("ssh-config", ".ssh/config"),
        (".bashrc", ".bashrc"),
        (".zshrc", ".zshrc"),
        (".vimrc", ".vimrc"),
        (".tmux.conf", ".tmux.conf"),
        (".inputrc", ".inputrc"),
        (".desktop", ".config/autostart/app.desktop"),
        (".service", ".config/systemd/user/app.service"),
        (".conf", ".config/environment.d/50-x.conf"),
    ];
    table
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("no home path for corpus file {name}"))
}

fn corpus(kind: &str) -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/parsers")
        .join(kind);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (
                name,
                std::fs::read_to_string(e.path()).expect("corpus file"),
            )
        })
        .collect();
    out.sort();
    out
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
    assert!(files.len() >= 9);
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
    eprintln!(
        "benign corpus: {} files, {settings} setting lines, 0 findings above medium",
        files.len()
    );
}

#[test]
fn malicious_samples_are_critical() {
    let files = corpus("malicious");
    assert!(files.len() >= 16);
    for (name, text) in &files {
        let f = scan(name, text);
        assert!(
            f.iter().any(|f| f.severity == Severity::Critical),
            "{name} raised no critical finding:\n{}",
            describe(&f)
        );
    }
    eprintln!("malicious samples: {} files, all critical", files.len());
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
