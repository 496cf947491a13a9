//! Loading policy directories as dom0's qrexec does: which files are read, in which order,
//! includes of every kind, `!compat-4.0`, and files that cannot be read.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;
use common::system;
use qrexec::{LegacyPolicy, Policy, PolicyErrorKind};
use std::fs;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, text).unwrap();
}

fn decide(policy: &Policy, call: &str, source: &str, target: &str) -> String {
    let (service, arg) = qrexec::split_service_call(call);
    policy
        .evaluate(&system(), service, &arg, source, target)
        .summary()
}

#[test]
fn files_are_read_in_c_locale_order_and_first_match_wins() {
    let dir = tempfile::tempdir().unwrap();
    // byte order: "10-a" < "10-b" < "10_a" < "9-x" ('-' 0x2d, '_' 0x5f, '9' after '1')
    for (name, target) in [
        ("9-x.policy", "personal"),
        ("10_a.policy", "vault"),
        ("10-b.policy", "untrusted"),
        ("10-a.policy", "work"),
    ] {
        write(
            dir.path(),
            name,
            &format!(
                "svc.{name} * config-mgr @default allow target={target}\nsvc * config-mgr @default allow target={target}\n"
            ),
        );
    }
    let p = Policy::load_dir(dir.path()).unwrap();
    assert_eq!(
        decide(&p, "svc", "config-mgr", "@default"),
        "allow target=work"
    );
    let order: Vec<&str> = p
        .rules()
        .iter()
        .filter(|r| r.service.as_deref() == Some("svc"))
        .map(|r| r.origin.file.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        order,
        ["10-a.policy", "10-b.policy", "10_a.policy", "9-x.policy"]
    );
}

#[test]
fn only_policy_files_qrexec_would_read_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let allow_all = "* * @anyvm @anyvm allow\n";
    write(dir.path(), ".hidden.policy", allow_all);
    write(dir.path(), "30-x.policy.rpmnew", allow_all);
    write(dir.path(), "30-x.policy~", allow_all);
    write(dir.path(), "README", allow_all);
    write(dir.path(), "dir.policy/inner.policy", allow_all);
    write(dir.path(), "include/admin-local-rwx", allow_all);
    write(dir.path(), "50-real.policy", "svc * work vault allow\n");
    // a broken symlink named like a policy file is not a file: ignored
    std::os::unix::fs::symlink(
        dir.path().join("missing"),
        dir.path().join("60-dangling.policy"),
    )
    .unwrap();
    // a symlink to a file is followed
    write(dir.path(), "elsewhere/target", "svc2 * work vault allow\n");
    std::os::unix::fs::symlink(
        dir.path().join("elsewhere/target"),
        dir.path().join("70-link.policy"),
    )
    .unwrap();
    let p = Policy::load_dir(dir.path()).unwrap();
    assert_eq!(p.rules().len(), 2, "{:#?}", p.rules());
    assert_eq!(decide(&p, "svc", "work", "vault"), "allow target=vault");
    assert_eq!(decide(&p, "svc2", "work", "vault"), "allow target=vault");
    assert_eq!(decide(&p, "other", "work", "vault"), "deny");
}

#[test]
fn an_invalid_policy_file_name_refuses_everything() {
    for bad in [
        "30-User.policy",
        "30 user.policy",
        "30-usér.policy",
        "30+x.policy",
    ] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "10-ok.policy", "svc * work vault allow\n");
        write(dir.path(), bad, "svc * work vault allow\n");
        let err = Policy::load_dir(dir.path()).unwrap_err();
        let path = dir.path().join(bad).display().to_string();
        assert_eq!(err.kind, PolicyErrorKind::InvalidFileName, "{bad}");
        assert_eq!(err.to_string(), format!("invalid filename: {path}"));
        assert!(err.is_malformed_policy());
    }
    // ... but a bad name that is ignored anyway (no .policy suffix, dotfile) is harmless
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "README.md", "");
    write(dir.path(), ".Swap.policy", "");
    assert!(Policy::load_dir(dir.path()).is_ok());
}

#[test]
fn includes_are_relative_to_the_policy_directory() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "30-a.policy",
        "!include include/one\n!include /etc/qubes/policy.d/include/two\n!include-dir extra\n",
    );
    write(dir.path(), "include/one", "s.One * work vault allow\n");
    write(dir.path(), "include/two", "s.Two * work vault allow\n");
    // a file of an included directory includes relative to the policy directory too
    write(dir.path(), "extra/20-b.policy", "!include include/three\n");
    write(
        dir.path(),
        "extra/10-a.policy",
        "s.Order * work vault deny\n",
    );
    write(
        dir.path(),
        "extra/30-c.policy",
        "s.Order * work vault allow\n",
    );
    write(dir.path(), "extra/notes.txt", "this is not policy\n");
    write(dir.path(), "include/three", "s.Three * work vault allow\n");
    let p = Policy::load_dir(dir.path()).unwrap();
    for svc in ["s.One", "s.Two", "s.Three"] {
        assert_eq!(
            decide(&p, svc, "work", "vault"),
            "allow target=vault",
            "{svc}"
        );
    }
    assert_eq!(decide(&p, "s.Order", "work", "vault"), "deny");
}

#[test]
fn missing_include_targets_are_syntax_errors_at_the_directive() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "30-a.policy", "# x\n!include include/nosuch\n");
    let err = Policy::load_dir(dir.path()).unwrap_err();
    let file = dir.path().join("30-a.policy").display().to_string();
    let missing = dir.path().join("include/nosuch").display().to_string();
    assert_eq!(err.to_string(), format!("{file}:2: not a file: {missing}"));

    write(dir.path(), "30-a.policy", "!include-dir nodir\n");
    let err = Policy::load_dir(dir.path()).unwrap_err();
    let nodir = dir.path().join("nodir").display().to_string();
    assert_eq!(
        err.to_string(),
        format!("{file}:1: not a directory: {nodir}")
    );

    write(
        dir.path(),
        "30-a.policy",
        "!include-service svc * include\n",
    );
    fs::create_dir_all(dir.path().join("include")).unwrap();
    let err = Policy::load_dir(dir.path()).unwrap_err();
    let inc = dir.path().join("include").display().to_string();
    assert_eq!(err.to_string(), format!("{file}:1: not a file: {inc}"));
}

#[test]
fn include_service_files_use_three_columns_with_compat_substitutions() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "30-a.policy",
        "!include-service admin.vm.List * include/admin-global-ro\n\
         !include-service test.Svc +arg include/svc\n",
    );
    write(
        dir.path(),
        "include/admin-global-ro",
        "# comment\n\nconfig-mgr @adminvm allow target=dom0\n$include:include/more\n",
    );
    write(
        dir.path(),
        "include/more",
        "config-mgr $tag:qubes-config-sync-managed allow,target=dom0\n",
    );
    write(
        dir.path(),
        "include/svc",
        "$anyvm $anyvm ask,default_target=vault\n",
    );
    let p = Policy::load_dir(dir.path()).unwrap();
    assert_eq!(
        decide(&p, "admin.vm.List", "config-mgr", "dom0"),
        "allow target=dom0"
    );
    assert_eq!(
        decide(&p, "admin.vm.List", "config-mgr", "work"),
        "allow target=dom0"
    );
    assert_eq!(
        decide(&p, "admin.vm.List", "config-mgr", "untrusted"),
        "deny"
    );
    assert_eq!(decide(&p, "admin.vm.List", "work", "dom0"), "deny");
    let r = decide(&p, "test.Svc+arg", "work", "vault");
    assert!(
        r.starts_with("ask targets=") && r.ends_with(" default_target=vault"),
        "{r}"
    );
    assert_eq!(decide(&p, "test.Svc+other", "work", "vault"), "deny");
    let rule = &p.rules()[0];
    assert_eq!(rule.origin.line, 3);
    assert_eq!(
        rule.origin.text,
        "admin.vm.List * config-mgr @adminvm allow target=dom0"
    );

    write(
        dir.path(),
        "include/svc",
        "$anyvm $anyvm ask,target=@tag:x\n",
    );
    let err = Policy::load_dir(dir.path()).unwrap_err();
    let svc = dir.path().join("include/svc").display().to_string();
    assert_eq!(
        err.to_string(),
        format!("{svc}:1: invalid redirect token: '@tag:x'")
    );
}

#[test]
fn compat_40_reads_the_legacy_directory() {
    let root = tempfile::tempdir().unwrap();
    let policy_d = root.path().join("etc/qubes/policy.d");
    let legacy = root.path().join("etc/qubes-rpc/policy");
    write(&policy_d, "35-compat.policy", "# legacy\n!compat-4.0\n");
    write(
        &policy_d,
        "90-default.policy",
        "test.Gpg * @anyvm @anyvm ask\n",
    );
    write(&legacy, "test.Gpg+key", "work vault allow\n");
    write(&legacy, "test.Gpg", "work personal allow\n");
    write(&legacy, "test.Gpg.rpmsave", "$anyvm $anyvm allow\n");
    write(&legacy, ".test.Gpg.swp", "$anyvm $anyvm allow\n");
    write(&legacy, "bad name", "$anyvm $anyvm allow\n");

    let p = Policy::load_dir(&policy_d).unwrap();
    assert!(p.warnings().iter().any(|w| w.contains("!compat-4.0")));
    // specific-argument file, then its implicit deny lines
    assert_eq!(
        decide(&p, "test.Gpg+key", "work", "vault"),
        "allow target=vault"
    );
    assert_eq!(decide(&p, "test.Gpg+key", "work", "personal"), "deny");
    assert_eq!(decide(&p, "test.Gpg+key", "work", "dom0"), "deny");
    // the generic file has no implicit deny: it falls through to 90-default
    assert_eq!(
        decide(&p, "test.Gpg+other", "work", "personal"),
        "allow target=personal"
    );
    assert!(decide(&p, "test.Gpg+other", "work", "vault").starts_with("ask"));
    // ignored legacy files grant nothing
    assert_eq!(
        decide(&p, "test.Gpg+other", "untrusted", "work")
            .split(' ')
            .next(),
        Some("ask")
    );

    // without a legacy directory !compat-4.0 includes nothing
    let p = Policy::load_dir_with_legacy(&policy_d, &LegacyPolicy::None).unwrap();
    assert!(decide(&p, "test.Gpg+key", "work", "vault").starts_with("ask"));

    write(&policy_d, "35-compat.policy", "!compat-4.0 now\n");
    let err = Policy::load_dir(&policy_d).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("35-compat.policy:1: invalid number of params"),
        "{err}"
    );
}

#[test]
fn compat_40_in_memory() {
    let files = common::files(&[("35-compat.policy", "!compat-4.0\n")]);
    let legacy = common::files(&[("test.Svc+a", "work vault allow\n")]);
    let p = Policy::from_files_with_legacy(&files, &legacy).unwrap();
    assert_eq!(
        decide(&p, "test.Svc+a", "work", "vault"),
        "allow target=vault"
    );
    assert_eq!(decide(&p, "test.Svc+a", "work", "personal"), "deny");
    let denied = p.evaluate(&system(), "test.Svc", "+a", "work", "personal");
    match denied {
        qrexec::Resolution::Deny {
            rule: Some(rule), ..
        } => {
            assert_eq!(rule.file, "test.Svc+a");
            assert_eq!(rule.line, 0);
            assert_eq!(rule.text, "test.Svc +a @anyvm @anyvm deny");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unreadable_and_binary_files_refuse_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("30-a.policy"),
        b"svc * work vault allow\n\xff\xfe\n",
    )
    .unwrap();
    let err = Policy::load_dir(dir.path()).unwrap_err();
    assert_eq!(err.kind, PolicyErrorKind::Io);
    assert!(!err.is_malformed_policy());
    assert!(
        err.to_string()
            .ends_with("30-a.policy: file is not valid UTF-8"),
        "{err}"
    );

    let err = Policy::load_dir(&dir.path().join("nosuch")).unwrap_err();
    assert_eq!(err.kind, PolicyErrorKind::Io);
}

#[test]
fn files_use_universal_newlines() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "30-a.policy",
        "svc * work vault allow\rsvc * work personal allow\r\nbad line\n",
    );
    let err = Policy::load_dir(dir.path()).unwrap_err();
    assert_eq!(err.line, 3, "{err}");
}

#[test]
fn the_legacy_directory_is_only_found_beside_a_dom0_layout() {
    let root = tempfile::tempdir().unwrap();
    let policy_d = root.path().join("world/policy");
    write(&policy_d, "35-compat.policy", "!compat-4.0\n");
    write(
        root.path(),
        "qubes-rpc/policy/test.Svc",
        "@anyvm @anyvm allow\n",
    );
    let p = Policy::load_dir(&policy_d).unwrap();
    assert!(p.rules().is_empty());
    assert!(
        p.warnings()
            .iter()
            .any(|w| w.contains("no legacy policy directory"))
    );
    let p = Policy::load_dir_with_legacy(
        &policy_d,
        &LegacyPolicy::Dir(root.path().join("qubes-rpc/policy")),
    )
    .unwrap();
    assert_eq!(
        decide(&p, "test.Svc", "work", "vault"),
        "allow target=vault"
    );
}

#[test]
fn in_memory_files_behave_like_the_same_tree_on_disk() {
    let tree = [
        (
            "30-a.policy",
            "!include-dir extra\n!include include/x\n!include-service s.S +a include/svc\n",
        ),
        ("extra/20-b.policy", "s.B * work vault allow\n"),
        ("extra/10-a.policy", "s.B * work vault deny\n"),
        ("extra/.hidden.policy", "s.H * work vault allow\n"),
        ("extra/notes", "s.H * work vault allow\n"),
        ("include/x", "s.X * work vault allow\n"),
        ("include/svc", "work vault ask,default_target=vault\n"),
        ("README", "not policy\n"),
    ];
    let mem = Policy::from_files(&common::files(&tree)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in tree {
        write(dir.path(), name, text);
    }
    let disk = Policy::load_dir(dir.path()).unwrap();
    for call in ["s.B", "s.H", "s.X", "s.S+a", "s.S+b", "s.Z"] {
        assert_eq!(
            decide(&mem, call, "work", "vault"),
            decide(&disk, call, "work", "vault"),
            "{call}"
        );
    }
    assert_eq!(decide(&mem, "s.B", "work", "vault"), "deny");
    assert_eq!(
        decide(&mem, "s.S+a", "work", "vault"),
        "ask targets=vault default_target=vault"
    );
    assert_eq!(mem.rules().len(), disk.rules().len());
}
