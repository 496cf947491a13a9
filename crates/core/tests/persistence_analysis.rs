//! Persistence analysis: one test per case of DESIGN §7 / issue 5 item 6.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use qcs_core::persistence::{
    PersistentBecause, QubeClass, QubesRelease, Verdict, analyse, fix_key,
};
use qcs_protocol::path::validate_relative_path;

fn features(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn verdict(class: QubeClass, release: QubesRelease, pairs: &[(&str, &str)], path: &str) -> Verdict {
    let path = validate_relative_path(path).unwrap();
    analyse("work", class, release, &features(pairs), &path, 0o644).verdict
}

const ON: (&str, &str) = ("service.custom-persist", "1");

#[test]
fn app_vm_without_custom_persist_keeps_home() {
    assert_eq!(
        verdict(QubeClass::AppVM, QubesRelease::R4_3, &[], ".gitconfig"),
        Verdict::Persistent(PersistentBecause::HomeIsPrivate)
    );
    // The service feature set to '' means disabled (core-admin exports it as '0').
    assert_eq!(
        verdict(
            QubeClass::AppVM,
            QubesRelease::R4_3,
            &[("service.custom-persist", "")],
            ".gitconfig"
        ),
        Verdict::Persistent(PersistentBecause::HomeIsPrivate)
    );
    // Entries without the service do nothing; home persists anyway.
    assert_eq!(
        verdict(
            QubeClass::AppVM,
            QubesRelease::R4_3,
            &[("custom-persist.x", "/var/x")],
            ".gitconfig"
        ),
        Verdict::Persistent(PersistentBecause::HomeIsPrivate)
    );
}

#[test]
fn disp_vm_is_volatile_whatever_the_features() {
    for pairs in [&[][..], &[ON, ("custom-persist.home", "/home")][..]] {
        for release in [QubesRelease::R4_2, QubesRelease::R4_3] {
            assert_eq!(
                verdict(QubeClass::DispVM, release, pairs, ".vimrc"),
                Verdict::Volatile
            );
        }
    }
}

#[test]
fn template_and_standalone_are_fully_persistent_even_with_custom_persist_on() {
    for class in [QubeClass::TemplateVM, QubeClass::StandaloneVM] {
        for pairs in [&[][..], &[ON][..]] {
            assert_eq!(
                verdict(class, QubesRelease::R4_3, pairs, ".bashrc"),
                Verdict::Persistent(PersistentBecause::FullyPersistentClass)
            );
        }
    }
}

#[test]
fn custom_persist_on_and_uncovered_is_lost_with_an_exact_fix() {
    let path = validate_relative_path(".config/git/ignore").unwrap();
    let analysis = analyse(
        "work",
        QubeClass::AppVM,
        QubesRelease::R4_3,
        &features(&[
            ON,
            (
                "custom-persist.downloads",
                "dir:user:user:0755:/home/user/Downloads",
            ),
        ]),
        &path,
        0o644,
    );
    assert!(analysis.custom_persist_enabled);
    let Verdict::LostAtRestart {
        fix: Some(fix),
        why_no_fix: None,
    } = analysis.verdict
    else {
        panic!("expected lost with fix, got {:?}", analysis.verdict);
    };
    assert_eq!(
        fix.value,
        "file:user:user:0644:/home/user/.config/git/ignore"
    );
    assert_eq!(fix.feature, format!("custom-persist.{}", fix.key));
    assert_eq!(fix.key, fix_key(&path));
    qubesadmin::validate::custom_persist_key(&fix.key).unwrap();
    qubesadmin::validate::feature_assignment(&fix.feature, fix.value.as_bytes()).unwrap();
    assert_eq!(
        fix.dom0_command,
        format!(
            "qvm-features work custom-persist.{} 'file:user:user:0644:/home/user/.config/git/ignore'",
            fix.key
        )
    );
    // Applying the fix makes the path persistent.
    let mut fixed = features(&[ON]);
    fixed.insert(fix.feature.clone(), fix.value.clone());
    assert!(matches!(
        analyse(
            "work",
            QubeClass::AppVM,
            QubesRelease::R4_3,
            &fixed,
            &path,
            0o644
        )
        .verdict,
        Verdict::Persistent(PersistentBecause::CoveredBy { .. })
    ));
}

#[test]
fn fix_uses_the_file_mode_and_quotes_for_the_shell() {
    let path = validate_relative_path(".ssh/it's config").unwrap();
    let analysis = analyse(
        "work",
        QubeClass::AppVM,
        QubesRelease::R4_3,
        &features(&[ON]),
        &path,
        0o600,
    );
    let Verdict::LostAtRestart { fix: Some(fix), .. } = analysis.verdict else {
        panic!("{:?}", analysis.verdict);
    };
    assert_eq!(fix.value, "file:user:user:0600:/home/user/.ssh/it's config");
    assert!(
        fix.dom0_command
            .ends_with(r"'file:user:user:0600:/home/user/.ssh/it'\''s config'"),
        "{}",
        fix.dom0_command
    );
}

#[test]
fn non_ascii_path_has_no_fix_and_says_why() {
    let path = validate_relative_path(".config/café").unwrap();
    let analysis = analyse(
        "work",
        QubeClass::AppVM,
        QubesRelease::R4_3,
        &features(&[ON]),
        &path,
        0o644,
    );
    let Verdict::LostAtRestart {
        fix: None,
        why_no_fix: Some(why),
    } = analysis.verdict
    else {
        panic!("{:?}", analysis.verdict);
    };
    assert!(why.contains("non-ASCII"), "{why}");
}

#[test]
fn plain_path_entry_covers_itself_and_everything_below() {
    let pairs = [ON, ("custom-persist.cfg", "/home/user/.config")];
    for path in [".config", ".config/git/ignore"] {
        assert_eq!(
            verdict(QubeClass::AppVM, QubesRelease::R4_3, &pairs, path),
            Verdict::Persistent(PersistentBecause::CoveredBy {
                key: "cfg".into(),
                value: "/home/user/.config".into()
            }),
            "{path}"
        );
    }
    // A component prefix is not a parent directory.
    assert!(matches!(
        verdict(QubeClass::AppVM, QubesRelease::R4_3, &pairs, ".configure"),
        Verdict::LostAtRestart { .. }
    ));
}

#[test]
fn dir_entry_covers_everything_below() {
    let pairs = [
        ON,
        ("custom-persist.ssh", "dir:user:user:0700:/home/user/.ssh"),
    ];
    assert!(matches!(
        verdict(QubeClass::AppVM, QubesRelease::R4_3, &pairs, ".ssh/config"),
        Verdict::Persistent(PersistentBecause::CoveredBy { ref key, .. }) if key == "ssh"
    ));
    assert!(matches!(
        verdict(QubeClass::AppVM, QubesRelease::R4_3, &pairs, ".sshrc"),
        Verdict::LostAtRestart { .. }
    ));
    // Redundant slashes and '.' components are normalised, as the kernel does.
    let pairs = [
        ON,
        (
            "custom-persist.ssh",
            "dir:user:user:0700:/home//user/./.ssh/",
        ),
    ];
    assert!(matches!(
        verdict(QubeClass::AppVM, QubesRelease::R4_3, &pairs, ".ssh/config"),
        Verdict::Persistent(_)
    ));
}

#[test]
fn file_entry_covers_only_that_file() {
    let pairs = [
        ON,
        (
            "custom-persist.gc",
            "file:user:user:0644:/home/user/.gitconfig",
        ),
    ];
    assert!(matches!(
        verdict(QubeClass::AppVM, QubesRelease::R4_3, &pairs, ".gitconfig"),
        Verdict::Persistent(PersistentBecause::CoveredBy { .. })
    ));
    let pairs = [
        ON,
        ("custom-persist.c", "file:user:user:0644:/home/user/.config"),
    ];
    assert!(matches!(
        verdict(
            QubeClass::AppVM,
            QubesRelease::R4_3,
            &pairs,
            ".config/git/ignore"
        ),
        Verdict::LostAtRestart { .. }
    ));
}

#[test]
fn plain_home_re_enables_home_but_prefixed_home_does_not() {
    let pairs = [ON, ("custom-persist.home", "/home")];
    assert_eq!(
        verdict(QubeClass::AppVM, QubesRelease::R4_3, &pairs, ".bashrc"),
        Verdict::Persistent(PersistentBecause::HomeReEnabled { key: "home".into() })
    );
    let features_map = features(&[ON, ("custom-persist.home", "dir:user:user:0755:/home")]);
    let path = validate_relative_path(".bashrc").unwrap();
    let analysis = analyse(
        "work",
        QubeClass::AppVM,
        QubesRelease::R4_3,
        &features_map,
        &path,
        0o644,
    );
    assert!(matches!(analysis.verdict, Verdict::LostAtRestart { .. }));
    assert_eq!(analysis.ignored_entries.len(), 1);
    assert!(analysis.ignored_entries[0].reason.contains("plain value"));
}

#[test]
fn invalid_entries_are_ignored_and_reported() {
    let long_key = format!("custom-persist.{}", "k".repeat(55));
    let pairs = [
        ON,
        ("custom-persist.bad1", "relative/path"),
        (
            "custom-persist.bad2",
            "link:user:user:0644:/home/user/.bashrc",
        ),
        (
            "custom-persist.bad3",
            "file:user:user:9999:/home/user/.bashrc",
        ),
        (
            "custom-persist.bad4",
            "dir:user:user:0755:/home/user/../user",
        ),
        ("custom-persist.", "/home"),
        (long_key.as_str(), "/home"),
    ];
    let path = validate_relative_path(".bashrc").unwrap();
    let analysis = analyse(
        "work",
        QubeClass::AppVM,
        QubesRelease::R4_3,
        &features(&pairs),
        &path,
        0o644,
    );
    assert!(matches!(analysis.verdict, Verdict::LostAtRestart { .. }));
    let mut names: Vec<&str> = analysis
        .ignored_entries
        .iter()
        .map(|e| e.feature.as_str())
        .collect();
    names.sort();
    let mut expected = vec![
        "custom-persist.",
        "custom-persist.bad1",
        "custom-persist.bad2",
        "custom-persist.bad3",
        "custom-persist.bad4",
        long_key.as_str(),
    ];
    expected.sort();
    assert_eq!(names, expected);
    assert!(
        analysis
            .ignored_entries
            .iter()
            .all(|e| !e.reason.is_empty())
    );
}

#[test]
fn r4_2_has_no_custom_persist_and_says_so() {
    // Nothing configured: an ordinary AppVM.
    assert_eq!(
        verdict(QubeClass::AppVM, QubesRelease::R4_2, &[], ".gitconfig"),
        Verdict::Persistent(PersistentBecause::HomeIsPrivate)
    );
    // Configured custom-persist has no effect on R4.2: home still persists, and we say so.
    let v = verdict(QubeClass::AppVM, QubesRelease::R4_2, &[ON], ".gitconfig");
    assert_eq!(
        v,
        Verdict::NotSupported {
            path_persists: true
        }
    );
    assert!(v.to_string().contains("R4.3"));
    assert!(!QubesRelease::R4_2.has_custom_persist());
    assert!(QubesRelease::R4_3.has_custom_persist());
}

#[test]
fn fix_keys_are_deterministic_distinct_and_valid() {
    let mut seen = std::collections::HashSet::new();
    for path in [
        ".a-b",
        ".a/b",
        ".gitconfig",
        "x",
        "日本",
        &format!("{}/{}", "d".repeat(200), "f".repeat(200)),
    ] {
        let p = validate_relative_path(path).unwrap();
        let key = fix_key(&p);
        assert_eq!(key, fix_key(&p));
        qubesadmin::validate::custom_persist_key(&key).unwrap();
        qubesadmin::validate::feature_name(&format!("custom-persist.{key}")).unwrap();
        assert!(key.starts_with("qcs-"));
        assert!(seen.insert(key), "{path}");
    }
}

#[test]
fn class_names_parse_like_admin_vm_list() {
    assert_eq!("AppVM".parse::<QubeClass>().unwrap(), QubeClass::AppVM);
    assert_eq!("DispVM".parse::<QubeClass>().unwrap(), QubeClass::DispVM);
    assert!("AdminVM".parse::<QubeClass>().is_err());
}
