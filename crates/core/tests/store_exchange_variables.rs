//! Export and import carry the template flag, the variables (per qube, per tag, profile
//! defaults) and the assignment rules: the round trip, a merge into a store that has
//! variables of its own, an export of the older format (1) that still imports, and a
//! hostile manifest (bad names, oversized values, dom0 as a scope, bad rules, too many
//! variables) refused whole with nothing changed.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use qcs_core::store::{
    AssignmentRule, MANIFEST_FILE_NAME, MAX_VARIABLES_PER_SCOPE, RuleKind, Store, VariableEntry,
    VariableScope,
};
use qcs_core::template::MAX_VARIABLE_VALUE_BYTES;
use qcs_protocol::literal::{pid, rp, vm};
use qcs_protocol::sha256_hex;

const TEMPLATE: &[u8] = b"[user]\n\temail = {{ var.email }}\n";

fn rule(kind: RuleKind, value: &str, profile: &str) -> AssignmentRule {
    AssignmentRule {
        kind,
        value: value.to_owned(),
        profile: pid(profile),
    }
}

fn sample_store() -> Store {
    let mut store = Store::open_in_memory().unwrap();
    store.create_profile(&pid("git"), "").unwrap();
    store.create_profile(&pid("ssh"), "").unwrap();
    store
        .put_template_file(&pid("git"), &rp(".gitconfig"), Some(TEMPLATE), None, true)
        .unwrap();
    store
        .put_file(&pid("ssh"), &rp(".ssh/config"), b"Host *\n", 0o600)
        .unwrap();
    let set = |store: &mut Store, scope: VariableScope, name: &str, value: &str| {
        store.set_variable(&scope, name, value).unwrap();
    };
    set(
        &mut store,
        VariableScope::ProfileDefault(pid("git")),
        "email",
        "me@example.org",
    );
    set(
        &mut store,
        VariableScope::Qube(vm("work")),
        "email",
        "me@work.example",
    );
    // A value with quotes, a newline and non-ASCII survives TOML.
    set(
        &mut store,
        VariableScope::Qube(vm("work")),
        "motto",
        "say \"hi\"\n\tgrüß",
    );
    set(
        &mut store,
        VariableScope::Tag("dev".to_owned()),
        "email",
        "dev@example.org",
    );
    store
        .add_assignment_rule(&rule(RuleKind::Tag, "dev", "git"))
        .unwrap();
    store
        .add_assignment_rule(&rule(RuleKind::Class, "AppVM", "ssh"))
        .unwrap();
    store
}

fn export(store: &mut Store, profiles: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("backup");
    let ids: Vec<_> = profiles.iter().map(|p| pid(p)).collect();
    store.export_profiles(&out, &ids).unwrap();
    (dir, out)
}

/// Everything an import may change: profiles with generation, files, variables, rules.
type State = (
    Vec<(String, u64)>,
    Vec<(String, String)>,
    Vec<VariableEntry>,
    Vec<AssignmentRule>,
);

fn state(store: &Store) -> State {
    let profiles: Vec<(String, u64)> = store
        .profiles()
        .unwrap()
        .into_iter()
        .map(|p| (p.id.to_string(), p.generation))
        .collect();
    let mut files = Vec::new();
    for (id, _) in &profiles {
        for f in store.current_files(&pid(id)).unwrap() {
            files.push((f.path.to_string(), f.sha256));
        }
    }
    (
        profiles,
        files,
        store.variables().unwrap(),
        store.assignment_rules().unwrap(),
    )
}

fn edit_manifest(out: &Path, edit: impl FnOnce(String) -> String) {
    let path = out.join(MANIFEST_FILE_NAME);
    let text = fs::read_to_string(&path).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    fs::write(&path, edited).unwrap();
}

#[test]
fn variables_rules_and_template_flags_round_trip() {
    let mut store = sample_store();
    let (_dir, out) = export(&mut store, &[]);
    let manifest = fs::read_to_string(out.join(MANIFEST_FILE_NAME)).unwrap();
    assert!(manifest.starts_with("format = 2\n"), "{manifest}");
    assert!(manifest.contains("[variables.qubes.work]"), "{manifest}");
    assert!(manifest.contains("[variables.tags.dev]"), "{manifest}");
    assert!(manifest.contains("[profiles.git.variables]"), "{manifest}");
    assert!(manifest.contains("[[rules]]"), "{manifest}");

    let mut fresh = Store::open_in_memory().unwrap();
    let summary = fresh.import_profiles(&out).unwrap();
    assert_eq!((summary.variables, summary.rules), (4, 2));
    assert_eq!(fresh.variables().unwrap(), store.variables().unwrap());
    assert_eq!(
        fresh.assignment_rules().unwrap(),
        store.assignment_rules().unwrap()
    );
    assert!(fresh.is_template(&pid("git"), &rp(".gitconfig")).unwrap());
    assert_eq!(
        fresh
            .templated_files(&pid("git"))
            .unwrap()
            .get(&rp(".gitconfig")),
        Some(&sha256_hex(TEMPLATE))
    );
    // The qube of a qube variable is known to the store now (like `var set`).
    assert!(fresh.qubes().unwrap().iter().any(|q| q.qube == vm("work")));
    // The same again changes nothing, and audits nothing new but the import.
    let before = state(&fresh);
    let summary = fresh.import_profiles(&out).unwrap();
    assert_eq!((summary.variables, summary.rules), (0, 0));
    assert_eq!(state(&fresh), before);
    assert_eq!(fresh.verify().unwrap(), Vec::<String>::new());
}

#[test]
fn an_export_of_some_profiles_carries_their_rules_only() {
    let mut store = sample_store();
    let (_dir, out) = export(&mut store, &["ssh"]);
    let mut fresh = Store::open_in_memory().unwrap();
    fresh.import_profiles(&out).unwrap();
    assert_eq!(
        fresh.assignment_rules().unwrap(),
        [rule(RuleKind::Class, "AppVM", "ssh")]
    );
    // Qube and tag variables belong to no profile: they travel; git's default does not.
    let scopes: Vec<VariableScope> = fresh
        .variables()
        .unwrap()
        .into_iter()
        .map(|v| v.scope)
        .collect();
    assert!(scopes.contains(&VariableScope::Qube(vm("work"))));
    assert!(scopes.contains(&VariableScope::Tag("dev".to_owned())));
    assert!(!scopes.contains(&VariableScope::ProfileDefault(pid("git"))));
}

#[test]
fn an_import_merges_variables_and_rules_and_removes_none() {
    let mut store = sample_store();
    let (_dir, out) = export(&mut store, &[]);
    let mut other = Store::open_in_memory().unwrap();
    other.create_profile(&pid("vim"), "").unwrap();
    let work = VariableScope::Qube(vm("work"));
    other
        .set_variable(&work, "email", "old@work.example")
        .unwrap();
    other.set_variable(&work, "editor", "vim").unwrap();
    other
        .add_assignment_rule(&rule(RuleKind::Template, "fedora", "vim"))
        .unwrap();
    other.import_profiles(&out).unwrap();
    let value = |store: &Store, name: &str| {
        store
            .variables()
            .unwrap()
            .into_iter()
            .find(|v| v.scope == work && v.name == name)
            .map(|v| v.value)
    };
    // The file's value replaces the same name; the other name stays.
    assert_eq!(value(&other, "email").as_deref(), Some("me@work.example"));
    assert_eq!(value(&other, "editor").as_deref(), Some("vim"));
    assert_eq!(other.assignment_rules().unwrap().len(), 3);
}

#[test]
fn an_export_of_format_1_still_imports() {
    // Written by hand as the older build wrote it: no variables, no rules.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("old");
    fs::create_dir_all(out.join("git")).unwrap();
    fs::write(out.join("git/.gitconfig"), TEMPLATE).unwrap();
    fs::write(
        out.join(MANIFEST_FILE_NAME),
        format!(
            "format = 1\n\n[profiles.git]\ndescription = \"old\"\n\n\
             [profiles.git.files.\".gitconfig\"]\nmode = \"0644\"\nsha256 = \"{}\"\n\
             template = true\n",
            sha256_hex(TEMPLATE)
        ),
    )
    .unwrap();
    let mut store = Store::open_in_memory().unwrap();
    let summary = store.import_profiles(&out).unwrap();
    assert_eq!(summary.profiles.len(), 1);
    assert_eq!((summary.variables, summary.rules), (0, 0));
    assert!(store.is_template(&pid("git"), &rp(".gitconfig")).unwrap());

    // Format 1 with a variables section is no file an older build wrote: refused.
    edit_manifest(&out, |t| {
        format!("{t}\n[variables.qubes.work]\nemail = \"x@example.org\"\n")
    });
    let error = Store::open_in_memory()
        .unwrap()
        .import_profiles(&out)
        .unwrap_err()
        .to_string();
    assert!(error.contains("format 1 has no variables"), "{error}");
}

#[test]
fn a_hostile_manifest_is_refused_whole_and_nothing_changes() {
    let oversized = "x".repeat(MAX_VARIABLE_VALUE_BYTES + 1);
    let many: String = (0..=MAX_VARIABLES_PER_SCOPE)
        .map(|i| format!("v{i} = \"x\"\n"))
        .collect();
    let cases: Vec<(String, &str)> = vec![
        // Names and values as `var set` checks them.
        (
            "[variables.qubes.alt]\n\"bad name\" = \"x\"\n".to_owned(),
            "variables of qube alt",
        ),
        (
            "[variables.qubes.alt]\n\"var.email\" = \"x\"\n".to_owned(),
            "variables of qube alt",
        ),
        (
            format!("[variables.qubes.alt]\nbig = \"{oversized}\"\n"),
            "variable big",
        ),
        (
            format!("[variables.tags.ops]\nbig = \"{oversized}\"\n"),
            "variable big",
        ),
        (
            "[variables.qubes.dom0]\nemail = \"x\"\n".to_owned(),
            "dom0 is never a target",
        ),
        (
            "[variables.qubes.\"../etc\"]\nemail = \"x\"\n".to_owned(),
            "variables of qube \"../etc\"",
        ),
        (
            "[variables.tags.\"no spaces\"]\nemail = \"x\"\n".to_owned(),
            "variables of tag \"no spaces\"",
        ),
        (
            format!("[variables.qubes.alt]\n{many}"),
            "more than 256 variables",
        ),
        (
            "[variables.qubes.alt]\nemail = 3\n".to_owned(),
            "manifest.toml",
        ),
        (
            "[variables.elsewhere.x]\nemail = \"x\"\n".to_owned(),
            "manifest.toml",
        ),
        // Rules as `assign --tag/--template/--class` checks them.
        (
            "[[rules]]\nkind = \"owner\"\nvalue = \"x\"\nprofile = \"git\"\n".to_owned(),
            "rule kind",
        ),
        (
            "[[rules]]\nkind = \"class\"\nvalue = \"AdminVM\"\nprofile = \"git\"\n".to_owned(),
            "AdminVM",
        ),
        (
            "[[rules]]\nkind = \"tag\"\nvalue = \"a b\"\nprofile = \"git\"\n".to_owned(),
            "assignment rule",
        ),
        (
            "[[rules]]\nkind = \"tag\"\nvalue = \"dev\"\nprofile = \"nosuch\"\n".to_owned(),
            "neither in the file nor in the store",
        ),
        (
            "[[rules]]\nkind = \"tag\"\nvalue = \"dev\"\nprofile = \"../x\"\n".to_owned(),
            "profile id",
        ),
    ];
    for (extra, expected) in cases {
        let mut store = sample_store();
        let (_dir, out) = export(&mut store, &["git"]);
        // A store that already has something of its own, which must survive.
        let mut target = Store::open_in_memory().unwrap();
        target.create_profile(&pid("git"), "mine").unwrap();
        target
            .set_variable(
                &VariableScope::Qube(vm("work")),
                "email",
                "kept@example.org",
            )
            .unwrap();
        let before = state(&target);
        edit_manifest(&out, |t| format!("{t}\n{extra}"));
        let error = target.import_profiles(&out).unwrap_err().to_string();
        assert!(error.contains(expected), "{expected:?} not in {error:?}");
        assert_eq!(state(&target), before, "{extra}: the store changed");
    }
    // A bad profile default is refused too.
    let mut store = sample_store();
    let (_dir, out) = export(&mut store, &["git"]);
    edit_manifest(&out, |t| {
        t.replacen(
            "[profiles.git.variables]\n",
            "[profiles.git.variables]\n\"qube.name\" = \"x\"\n",
            1,
        )
    });
    let mut target = Store::open_in_memory().unwrap();
    let error = target.import_profiles(&out).unwrap_err().to_string();
    assert!(error.contains("variables of profile git"), "{error}");
    assert!(target.profiles().unwrap().is_empty());
}

#[test]
fn a_scope_full_with_the_stores_own_variables_refuses_the_import() {
    let mut store = sample_store();
    let (_dir, out) = export(&mut store, &["git"]);
    let mut target = Store::open_in_memory().unwrap();
    let work = VariableScope::Qube(vm("work"));
    for i in 0..MAX_VARIABLES_PER_SCOPE {
        target.set_variable(&work, &format!("v{i}"), "x").unwrap();
    }
    let before = state(&target);
    // The file adds new names to work's full scope: refused, nothing changed.
    let error = target.import_profiles(&out).unwrap_err().to_string();
    assert!(error.contains("more than 256 variables"), "{error}");
    assert_eq!(state(&target), before);
}
