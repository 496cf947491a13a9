//! The three setting classes (inert, dangerous, unknown), the per-hunk review of
//! files without a parser, and the cross-file analysis of the state after accept.

use qcs_core::risk::{Engine, FileKind, Finding, ScanInput, Severity, Side, Verdict};

fn input<'a>(path: &'a str, content: &'a str, base: Option<&'a str>) -> ScanInput<'a> {
    ScanInput {
        path,
        content: content.as_bytes(),
        base: base.map(str::as_bytes),
        mode: None,
        kind: FileKind::Regular,
    }
}

fn scan(path: &str, content: &str, base: Option<&str>) -> Vec<Finding> {
    Engine::shared().scan(&input(path, content, base))
}

fn gated(f: &[Finding]) -> Vec<String> {
    // meta.new-path (a file new to the profile) is about the profile, not the content.
    f.iter()
        .filter(|f| f.gated() && f.rule != "meta.new-path")
        .map(|f| format!("{} {:?}: {}", f.rule, f.line, f.message))
        .collect()
}

#[test]
fn the_gate_is_high_and_above() {
    assert!(Severity::Critical.gates() && Severity::High.gates());
    assert!(!Severity::Medium.gates() && !Severity::Low.gates() && !Severity::Info.gates());
}

#[test]
fn shipped_class_files_load_and_cover_git() {
    let e = Engine::shared();
    assert!(e.setting_count("git-config") > 200);
    assert!(e.setting_count("git-attributes") > 5);
    assert_eq!(
        e.classify_setting("git-config", "color.ui", Some("auto")),
        Verdict::Inert
    );
    assert_eq!(
        e.classify_setting("git-config", "color.diff.meta", Some("blue")),
        Verdict::Inert
    );
    // A known pager or editor by name is inert (an entry for the value wins over
    // the dangerous entry for the key); anything else runs as a command.
    assert_eq!(
        e.classify_setting("git-config", "core.pager", Some("less -FRX")),
        Verdict::Inert
    );
    assert_eq!(
        e.classify_setting("git-config", "core.editor", Some("vim")),
        Verdict::Inert
    );
    for (key, value) in [
        ("core.pager", "less; id"),
        ("core.pager", "/tmp/pager"),
        ("core.editor", "vim -c '!id'"),
        ("core.editor", "sh -c id"),
    ] {
        assert!(
            matches!(
                e.classify_setting("git-config", key, Some(value)),
                Verdict::Dangerous { .. }
            ),
            "{key} = {value}"
        );
    }
    assert!(matches!(
        e.classify_setting("git-config", "diff.pdf.textconv", Some("x")),
        Verdict::Dangerous { .. }
    ));
    // gc.* is inert, its one hook is not; dangerous wins.
    assert_eq!(
        e.classify_setting("git-config", "gc.auto", Some("0")),
        Verdict::Inert
    );
    assert!(matches!(
        e.classify_setting("git-config", "gc.recentobjectshook", Some("x")),
        Verdict::Dangerous { .. }
    ));
    assert_eq!(
        e.classify_setting("git-config", "core.futureknob", Some("1")),
        Verdict::Unknown
    );
}

#[test]
fn inert_settings_raise_nothing_that_gates() {
    let f = scan(
        ".gitconfig",
        "[user]\n\tname = A\n\temail = a@b\n[color]\n\tui = auto\n[alias]\n\tst = status -sb\n\tlg = log --graph\n[pull]\n\trebase = true\n[merge]\n\tconflictstyle = zdiff3\n",
        None,
    );
    assert!(gated(&f).is_empty(), "{:?}", gated(&f));
}

#[test]
fn dangerous_and_unknown_settings_gate() {
    let f = scan(
        ".gitconfig",
        "[alias]\n\tx = !sh -c id\n\ty = -c core.pager=id log\n[web]\n\tbrowser = evil\n[core]\n\tfutureknob = 1\n",
        None,
    );
    let at = |line| f.iter().find(|f| f.line == Some(line)).map(|f| f.severity);
    assert_eq!(at(2), Some(Severity::Critical), "{f:#?}");
    assert_eq!(at(3), Some(Severity::Critical), "{f:#?}");
    assert_eq!(at(5), Some(Severity::Critical), "{f:#?}");
    let unknown = f
        .iter()
        .find(|f| f.line == Some(7) && f.rule == "setting.unknown")
        .expect("an unknown key is a finding");
    assert_eq!(unknown.severity, Severity::High);
    assert!(unknown.message.contains("core.futureknob"));
}

#[test]
fn only_changed_settings_are_classified_and_removed_unknowns_stay_findings() {
    let base = "[core]\n\tpager = less\n\tfutureknob = 1\n[color]\n\tui = auto\n";
    let f = scan(
        ".gitconfig",
        "[core]\n\tpager = less\n[color]\n\tui = never\n",
        Some(base),
    );
    let g = gated(&f);
    assert_eq!(g.len(), 1, "{g:?}");
    let removed = f.iter().find(|f| f.rule == "setting.unknown").unwrap();
    assert_eq!(removed.side, Side::Base);
    assert_eq!(removed.line, Some(3));
}

#[test]
fn files_without_a_parser_gate_every_changed_hunk() {
    let base = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
    let new = "a\nB\nc\nd\ne\nf\ng\nh\nI\nI2\nj\n";
    let f = scan(".emacs", new, Some(base));
    let hunks: Vec<&Finding> = f
        .iter()
        .filter(|f| f.rule == "file.unparsed-change")
        .collect();
    assert_eq!(hunks.len(), 2, "{f:#?}");
    assert!(hunks.iter().all(|f| f.severity == Severity::Critical));
    assert_eq!(hunks[0].line, Some(2));
    assert_eq!(hunks[1].line, Some(9));
    assert!(hunks[1].message.contains("lines 9–10"));
    // Unknown type: high per hunk. A pure removal stands on the base side.
    let f = scan(".config/someapp/rc", "a\nc\n", Some("a\nb\nc\n"));
    let h: Vec<&Finding> = f
        .iter()
        .filter(|f| f.rule == "file.unparsed-change")
        .collect();
    assert_eq!(h.len(), 1);
    assert_eq!(
        (h[0].severity, h[0].side, h[0].line),
        (Severity::High, Side::Base, Some(2))
    );
}

fn set(files: &[ScanInput<'_>]) -> Vec<Vec<Finding>> {
    Engine::shared().scan_proposal(files)
}

const DRIVER: &str = "[diff \"x\"]\n\ttextconv = sh -c evil\n";
const ATTRS: &str = "*.pdf diff=x\n";

#[test]
fn attributes_then_driver_gates_on_the_driver() {
    // The attributes file was accepted before; the driver arrives now.
    let out = set(&[
        input(".config/git/attributes", ATTRS, Some(ATTRS)),
        input(".gitconfig", DRIVER, None),
    ]);
    assert!(
        out[0].is_empty(),
        "unchanged files raise nothing: {:?}",
        out[0]
    );
    let combo = out[1]
        .iter()
        .find(|f| f.rule == "git.attributes-driver")
        .expect("combination finding on the driver");
    assert_eq!(combo.severity, Severity::Critical);
    assert_eq!(combo.line, Some(2));
    assert_eq!(combo.related[0].path, ".config/git/attributes");
    assert_eq!(combo.related[0].line, Some(1));
}

#[test]
fn driver_then_attributes_gates_on_the_attributes_line() {
    let out = set(&[
        input(".gitconfig", DRIVER, Some(DRIVER)),
        input(".config/git/attributes", ATTRS, None),
    ]);
    assert!(out[0].is_empty());
    let combo = out[1]
        .iter()
        .find(|f| f.rule == "git.attributes-driver")
        .expect("combination finding on the attributes line");
    assert_eq!(combo.severity, Severity::Critical);
    assert_eq!(combo.line, Some(1));
    assert_eq!(combo.related[0].path, ".gitconfig");
    assert_eq!(combo.related[0].line, Some(2));
    // Neither changed: nothing.
    let out = set(&[
        input(".gitconfig", DRIVER, Some(DRIVER)),
        input(".config/git/attributes", ATTRS, Some(ATTRS)),
    ]);
    assert!(out.iter().all(Vec::is_empty));
}

#[test]
fn includes_name_the_included_file_and_it_is_read_as_git_config() {
    let out = set(&[
        input(
            ".gitconfig",
            "[include]\n\tpath = ~/.config/work.inc\n",
            None,
        ),
        input(".config/work.inc", "[core]\n\tpager = evil\n", None),
    ]);
    let inc = out[0]
        .iter()
        .find(|f| f.line == Some(2))
        .expect("include finding");
    assert!(inc.gated());
    assert_eq!(inc.related[0].path, ".config/work.inc");
    // The target has no type of its own: read as the git config that includes it.
    assert!(
        out[1]
            .iter()
            .any(|f| f.severity == Severity::Critical && f.line == Some(2)),
        "{:#?}",
        out[1]
    );
    // Unchanged include, changed target: the target's findings name the include.
    let inc = "[include]\n\tpath = ~/.config/work.inc\n";
    let out = set(&[
        input(".gitconfig", inc, Some(inc)),
        input(".config/work.inc", "[core]\n\tpager = evil\n", Some("")),
    ]);
    assert!(out[0].is_empty());
    let f = out[1].iter().find(|f| f.line == Some(2)).unwrap();
    assert_eq!(f.related[0].path, ".gitconfig");
}

#[test]
fn look_alike_paths_are_critical_and_scanned_as_what_they_imitate() {
    for path in [
        ".g\u{0456}tconfig",
        ".gitconfig ",
        " .gitconfig",
        ".git\u{200B}config",
        "\u{FF0E}gitconfig",
        ".gitconfig\u{0301}",
    ] {
        let f = scan(path, "[core]\n\tpager = evil\n", None);
        let c = f
            .iter()
            .find(|f| f.rule == "path.confusable")
            .unwrap_or_else(|| panic!("{path:?}: {f:#?}"));
        assert_eq!(c.severity, Severity::Critical);
        assert!(c.message.contains(".gitconfig"), "{}", c.message);
        assert!(
            f.iter()
                .any(|f| f.rule == "setting.dangerous" || f.rule.starts_with("git.")),
            "{path:?} not scanned as git config: {f:#?}"
        );
    }
    // Imitating a never-sync path is critical too; an ordinary non-ASCII path is not.
    assert!(
        scan(".ssh/id_rs\u{0430}", "x\n", None)
            .iter()
            .any(|f| f.rule == "path.confusable")
    );
    assert!(
        !scan("notes/caf\u{00E9}.txt", "x\n", None)
            .iter()
            .any(|f| f.rule == "path.confusable")
    );
}

#[test]
fn mixed_script_identifiers_in_content_are_findings() {
    let f = scan(".gitconfig", "[core]\n\t\u{0455}shCommand = x\n", None);
    assert!(
        f.iter()
            .any(|f| f.rule == "content.mixed-script" && f.line == Some(2) && f.gated())
    );
    let f = scan(
        ".gitconfig",
        "[remote \"\u{043E}rigin\"]\n\tfetch = x\n",
        None,
    );
    assert!(
        f.iter()
            .any(|f| f.rule == "content.mixed-script" && f.line == Some(1))
    );
}
