//! Templates and variables in the store, against real SQLite files: the template flag per
//! file version (kept by later versions, cleared by a removal, refused on a qube's text),
//! accept refused for a templated file, variables per qube / tag / profile default, the
//! rendered files kept for the three-way base, and the migration that adds them (forward
//! with data, and atomic when it fails).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use qcs_core::store::{
    Acceptance, NewProposal, ProposalStatus, Store, StoreError, TemplateRefusal, VariableEntry,
    VariableScope, latest_schema_version,
};
use qcs_core::template::{Resolved, Source};
use qcs_protocol::literal::{pid, rp, vm};
use qcs_protocol::sha256_hex;

const TEMPLATE: &[u8] = b"[user]\n\temail = {{ var.email }}\n";

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("store.sqlite")).unwrap();
    store.create_profile(&pid("git"), "").unwrap();
    (dir, store)
}

fn proposal<'a>(content: &'a [u8]) -> NewProposal<'a> {
    NewProposal {
        source_qube: vm("work"),
        profile: pid("git"),
        path: rp(".gitconfig"),
        content,
        mode: Some(0o644),
        base_sha256: None,
        note: "",
    }
}

fn refusal(error: StoreError) -> TemplateRefusal {
    match error {
        StoreError::Template(r) => r,
        other => panic!("not a template refusal: {other}"),
    }
}

#[test]
fn the_template_flag_is_per_version_kept_by_edits_and_cleared_by_a_removal() {
    let (_dir, mut store) = store();
    let git = pid("git");
    let path = rp(".gitconfig");
    let g1 = store
        .put_template_file(&git, &path, Some(TEMPLATE), None, true)
        .unwrap();
    assert!(store.is_template(&git, &path).unwrap());
    assert_eq!(
        store.templated_files(&git).unwrap().get(&path),
        Some(&sha256_hex(TEMPLATE))
    );
    // The same again changes nothing.
    assert_eq!(
        store
            .put_template_file(&git, &path, Some(TEMPLATE), None, true)
            .unwrap(),
        g1
    );
    // An ordinary edit keeps the flag.
    let g2 = store
        .put_file(&git, &path, b"[user]\n\tname = {{ var.name }}\n", 0o644)
        .unwrap();
    assert!(g2 > g1);
    assert!(store.is_template(&git, &path).unwrap());
    let history = store.file_history(&git, &path).unwrap();
    assert!(
        history
            .iter()
            .all(|v| store.is_template_version(v.id).unwrap())
    );
    // Unmarking is a new version with the same content.
    let g3 = store.set_template(&git, &path, false).unwrap();
    assert!(g3 > g2);
    assert!(!store.is_template(&git, &path).unwrap());
    assert_eq!(
        store.current_file(&git, &path).unwrap().unwrap().bytes,
        b"[user]\n\tname = {{ var.name }}\n"
    );
    store.set_template(&git, &path, true).unwrap();
    // A removal is no template; a file added again is a plain file.
    store.remove_file(&git, &path).unwrap();
    assert!(!store.is_template(&git, &path).unwrap());
    store.put_file(&git, &path, b"plain\n", 0o644).unwrap();
    assert!(!store.is_template(&git, &path).unwrap());
    assert!(store.templated_files(&git).unwrap().is_empty());
    // The old versions keep their flags (the history is append-only).
    let flags: Vec<bool> = store
        .file_history(&git, &path)
        .unwrap()
        .iter()
        .map(|v| store.is_template_version(v.id).unwrap())
        .collect();
    assert_eq!(flags, [true, true, false, true, false, false]);
    assert_eq!(store.verify().unwrap(), Vec::<String>::new());
}

#[test]
fn a_template_must_parse_and_a_failed_mark_changes_nothing() {
    let (_dir, mut store) = store();
    let git = pid("git");
    let path = rp(".gitconfig");
    let err = store
        .put_template_file(&git, &path, Some(b"x {{ var.email\n"), None, true)
        .unwrap_err();
    let TemplateRefusal::Syntax { source, .. } = refusal(err) else {
        panic!("not a syntax refusal")
    };
    assert_eq!((source.at.line, source.at.column), (1, 3));
    assert!(store.current_file(&git, &path).unwrap().is_none());
    assert_eq!(store.profile(&git).unwrap().unwrap().generation, 0);
    // Bytes that are not text are no template either.
    assert!(
        store
            .put_template_file(&git, &path, Some(b"\xff"), None, true)
            .is_err()
    );
    // Never-sync paths stay out, as with any edit.
    assert!(matches!(
        store.put_template_file(&git, &rp(".ssh/id_ed25519"), Some(b"k"), None, true),
        Err(StoreError::NeverSync(_))
    ));
}

#[test]
fn a_qubes_text_is_never_marked_as_a_template_and_never_accepted_into_one() {
    let (_dir, mut store) = store();
    let git = pid("git");
    let path = rp(".gitconfig");
    store.put_file(&git, &path, b"[user]\n", 0o644).unwrap();
    store.allow_proposals(&vm("work"), &git).unwrap();
    // The qube's text, with template syntax in it, accepted as a plain file.
    let id = store
        .submit_proposal(&proposal(b"[user]\n\temail = {{ var.secret }}\n"))
        .unwrap();
    store.accept_proposal(id, Acceptance::default()).unwrap();
    let err = store.set_template(&git, &path, true).unwrap_err();
    assert!(matches!(
        refusal(err),
        TemplateRefusal::FromProposal { proposal, .. } if proposal == id
    ));
    assert!(!store.is_template(&git, &path).unwrap());
    // The user writes the template in the config qube.
    store
        .put_template_file(&git, &path, Some(TEMPLATE), None, true)
        .unwrap();
    // A proposal for the templated file stays pending: accepting it is refused.
    let id = store
        .submit_proposal(&proposal(b"[user]\n\temail = me@work\n"))
        .unwrap();
    let err = store
        .accept_proposal(id, Acceptance::default())
        .unwrap_err();
    assert!(matches!(
        refusal(err),
        TemplateRefusal::TemplatedFile { .. }
    ));
    assert_eq!(
        store.proposal(id).unwrap().unwrap().status,
        ProposalStatus::Pending
    );
    assert_eq!(
        store.current_file(&git, &path).unwrap().unwrap().bytes,
        TEMPLATE
    );
    // Rejecting works as usual.
    store.reject_proposal(id, "edit the template").unwrap();
}

#[test]
fn variables_per_qube_tag_and_profile_default() {
    let (_dir, mut store) = store();
    let git = pid("git");
    store
        .set_variable(&VariableScope::Qube(vm("work")), "email", "me@work")
        .unwrap();
    store
        .set_variable(&VariableScope::Tag("dev".into()), "email", "dev@x")
        .unwrap();
    store
        .set_variable(&VariableScope::ProfileDefault(git.clone()), "name", "Me")
        .unwrap();
    // Replacing a value.
    store
        .set_variable(&VariableScope::Qube(vm("work")), "email", "me@work.example")
        .unwrap();
    assert_eq!(
        store.variables().unwrap(),
        vec![
            VariableEntry {
                scope: VariableScope::Qube(vm("work")),
                name: "email".into(),
                value: "me@work.example".into()
            },
            VariableEntry {
                scope: VariableScope::Tag("dev".into()),
                name: "email".into(),
                value: "dev@x".into()
            },
            VariableEntry {
                scope: VariableScope::ProfileDefault(git.clone()),
                name: "name".into(),
                value: "Me".into()
            },
        ]
    );
    let tags = ["dev".to_owned()].into_iter().collect();
    let work = store.variables_for(&vm("work"), &git).unwrap();
    assert_eq!(
        work.resolve("email", &tags),
        Resolved::Found {
            value: "me@work.example",
            source: Source::Qube
        }
    );
    let other = store.variables_for(&vm("other"), &git).unwrap();
    assert_eq!(
        other.resolve("email", &tags),
        Resolved::Found {
            value: "dev@x",
            source: Source::Tag("dev".into())
        }
    );
    assert_eq!(
        other.resolve("name", &tags),
        Resolved::Found {
            value: "Me",
            source: Source::ProfileDefault
        }
    );
    store
        .unset_variable(&VariableScope::Tag("dev".into()), "email")
        .unwrap();
    assert!(matches!(
        refusal(
            store
                .unset_variable(&VariableScope::Tag("dev".into()), "email")
                .unwrap_err()
        ),
        TemplateRefusal::NotSet { .. }
    ));
    // Bad names, tags and values are refused and change nothing.
    let before = store.variables().unwrap();
    for (scope, name, value) in [
        (VariableScope::Qube(vm("work")), "a b", "v"),
        (VariableScope::Qube(vm("work")), "", "v"),
        (VariableScope::Qube(vm("work")), "9x", "v"),
        (VariableScope::Tag("a/b".into()), "x", "v"),
        (VariableScope::Tag(String::new()), "x", "v"),
        (VariableScope::Qube(vm("work")), "x", "a\u{1b}[2J"),
    ] {
        assert!(
            matches!(
                store.set_variable(&scope, name, value),
                Err(StoreError::Template(_))
            ),
            "{scope} {name:?} {value:?}"
        );
    }
    let too_long = "v".repeat(4097);
    assert!(
        store
            .set_variable(&VariableScope::Qube(vm("work")), "x", &too_long)
            .is_err()
    );
    // A default needs an existing profile.
    assert!(matches!(
        store.set_variable(&VariableScope::ProfileDefault(pid("nope")), "x", "v"),
        Err(StoreError::ProfileNotFound(_))
    ));
    assert_eq!(store.variables().unwrap(), before);
    // Every change is audited.
    let actions: Vec<String> = store
        .audit_log(0, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.starts_with("variable-"))
        .collect();
    assert_eq!(actions.len(), 5);
}

#[test]
fn a_scope_holds_a_bounded_number_of_variables() {
    let (_dir, mut store) = store();
    let scope = VariableScope::Tag("dev".into());
    for i in 0..qcs_core::store::MAX_VARIABLES_PER_SCOPE {
        store.set_variable(&scope, &format!("v{i}"), "x").unwrap();
    }
    assert!(matches!(
        refusal(store.set_variable(&scope, "one_more", "x").unwrap_err()),
        TemplateRefusal::TooManyVariables { .. }
    ));
    // Replacing a value is still possible.
    store.set_variable(&scope, "v0", "y").unwrap();
}

#[test]
fn rendered_files_keep_the_last_pushed_and_the_latest_planned() {
    let (_dir, mut store) = store();
    let git = pid("git");
    let path = rp(".gitconfig");
    let work = vm("work");
    let (a, b, c) = (&b"a\n"[..], &b"b\n"[..], &b"c\n"[..]);
    store
        .remember_rendered(&work, &path, &sha256_hex(a), a)
        .unwrap();
    store
        .record_push(
            &work,
            &[qcs_core::store::PushedFile {
                profile: git.clone(),
                path: path.clone(),
                sha256: sha256_hex(a),
                mode: qcs_protocol::mode::validate_mode(0o644).unwrap(),
                generation: 1,
            }],
            serde_json::json!({}),
        )
        .unwrap();
    store
        .remember_rendered(&work, &path, &sha256_hex(b), b)
        .unwrap();
    store
        .remember_rendered(&work, &path, &sha256_hex(c), c)
        .unwrap();
    // a was pushed: kept; b was planned and superseded by c: dropped.
    assert_eq!(
        store
            .rendered_content(&work, &path, &sha256_hex(a))
            .unwrap()
            .as_deref(),
        Some(a)
    );
    assert_eq!(
        store
            .rendered_content(&work, &path, &sha256_hex(b))
            .unwrap(),
        None
    );
    assert!(
        store
            .rendered_content(&work, &path, &sha256_hex(c))
            .unwrap()
            .is_some()
    );
    // A hash that does not match the content is refused.
    assert!(matches!(
        store.remember_rendered(&work, &path, &sha256_hex(a), b),
        Err(StoreError::InvalidHash(_))
    ));
}

/// Index of the migration that adds templates and variables (the one that creates
/// `qube_variables`), so the tests do not depend on its number.
fn templates_migration() -> usize {
    qcs_core::store::MIGRATIONS
        .iter()
        .position(|sql| sql.contains("CREATE TABLE qube_variables"))
        .unwrap()
}

/// A database as the schema before the templates migration left it, with a profile, a
/// file with two versions and a tombstone, a qube and a pending proposal.
fn database_before_templates(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA application_id = {};",
        qcs_core::store::APPLICATION_ID
    ))
    .unwrap();
    let before = templates_migration();
    for sql in &qcs_core::store::MIGRATIONS[..before] {
        conn.execute_batch(sql).unwrap();
    }
    let sha = |b: &[u8]| sha256_hex(b);
    conn.execute_batch(&format!(
        "PRAGMA user_version = {before};
         INSERT INTO profiles (id, generation, created_at) VALUES ('git', 3, 0);
         INSERT INTO file_versions (profile, path, generation, content, sha256, mode,
                                    provenance, created_at)
             VALUES ('git', '.gitconfig', 1, x'61', '{}', 420, 'local', 1),
                    ('git', '.gitconfig', 2, x'62', '{}', 420, 'local', 2);
         INSERT INTO file_versions (profile, path, generation, deleted, provenance, created_at)
             VALUES ('git', '.old', 3, 1, 'local', 3);
         INSERT INTO qubes (name) VALUES ('work');
         INSERT INTO assignments (qube, profile) VALUES ('work', 'git');
         INSERT INTO proposal_batches (id, source_qube, kind, created_at)
             VALUES (1, 'work', 'spool', 5);
         INSERT INTO proposals (source_qube, profile, path, content, sha256, received_at, batch)
             VALUES ('work', 'git', '.gitconfig', x'63', '{}', 5, 1);
         INSERT INTO audit_log (at, action, qube, profile, path, proposal_id)
             VALUES (5, 'proposal-received', 'work', 'git', '.gitconfig', 1);",
        sha(b"a"),
        sha(b"b"),
        sha(b"c"),
    ))
    .unwrap();
}

fn has_template_column(conn: &rusqlite::Connection) -> bool {
    conn.query_row(
        "SELECT count(*) FROM pragma_table_info('file_versions') WHERE name = 'template'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

#[test]
fn the_templates_migration_keeps_every_file_and_proposal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    database_before_templates(&path);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), latest_schema_version());
    let git = pid("git");
    let history = store.file_history(&git, &rp(".gitconfig")).unwrap();
    assert_eq!(history.len(), 2);
    assert!(
        history
            .iter()
            .all(|v| !store.is_template_version(v.id).unwrap())
    );
    assert_eq!(
        store
            .current_file(&git, &rp(".gitconfig"))
            .unwrap()
            .unwrap()
            .bytes,
        b"b"
    );
    assert_eq!(store.file_history(&git, &rp(".old")).unwrap().len(), 1);
    assert!(store.variables().unwrap().is_empty());
    assert_eq!(store.pending_count().unwrap(), 1);
    // The history is still append-only, the new column included.
    let raw = rusqlite::Connection::open(&path).unwrap();
    assert!(has_template_column(&raw));
    assert!(
        raw.execute("UPDATE file_versions SET template = 1", [])
            .is_err()
    );
    // A tombstone can never be a template.
    assert!(
        raw.execute(
            "INSERT INTO file_versions (profile, path, generation, deleted, provenance, \
             created_at, template) VALUES ('git', '.x', 9, 1, 'local', 9, 1)",
            []
        )
        .is_err()
    );
    // The migrated store works: mark, set a variable, keep the flag on the next edit.
    store.set_template(&git, &rp(".gitconfig"), true).unwrap();
    store
        .set_variable(&VariableScope::Qube(vm("work")), "email", "w@x")
        .unwrap();
    store
        .put_file(&git, &rp(".gitconfig"), b"{{var.email}}", 0o644)
        .unwrap();
    assert!(store.is_template(&git, &rp(".gitconfig")).unwrap());
    assert_eq!(store.verify().unwrap(), Vec::<String>::new());
}

#[test]
fn a_failed_templates_migration_leaves_the_older_schema_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    database_before_templates(&path);
    // Something in the way of the migration, after its first statement would have run.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE qube_variables (x);")
        .unwrap();
    assert!(Store::open(&path).is_err());
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, templates_migration() as i64);
    assert!(!has_template_column(&raw));
    let versions: i64 = raw
        .query_row("SELECT count(*) FROM file_versions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(versions, 3);
    // Out of the way, the migration runs.
    raw.execute_batch("DROP TABLE qube_variables;").unwrap();
    drop(raw);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), latest_schema_version());
}

#[test]
fn export_and_import_keep_the_template_flag() {
    let (dir, mut store) = store();
    let git = pid("git");
    store
        .put_template_file(&git, &rp(".gitconfig"), Some(TEMPLATE), None, true)
        .unwrap();
    store
        .put_file(&git, &rp(".plain"), b"{{ not a template", 0o644)
        .unwrap();
    let out = dir.path().join("export");
    store.export_profiles(&out, &[]).unwrap();
    let manifest = std::fs::read_to_string(out.join("manifest.toml")).unwrap();
    assert_eq!(manifest.matches("template = true").count(), 1, "{manifest}");

    // Into a fresh store: the flag comes back, the plain file stays plain.
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = Store::open(other_dir.path().join("store.sqlite")).unwrap();
    other.import_profiles(&out).unwrap();
    assert!(other.is_template(&git, &rp(".gitconfig")).unwrap());
    assert!(!other.is_template(&git, &rp(".plain")).unwrap());
    // Into a store where the flags differ: the manifest wins, in one more generation.
    store.set_template(&git, &rp(".gitconfig"), false).unwrap();
    let before = store.profile(&git).unwrap().unwrap().generation;
    store.import_profiles(&out).unwrap();
    assert!(store.is_template(&git, &rp(".gitconfig")).unwrap());
    assert_eq!(store.profile(&git).unwrap().unwrap().generation, before + 1);
    // The same again changes nothing.
    store.import_profiles(&out).unwrap();
    assert_eq!(store.profile(&git).unwrap().unwrap().generation, before + 1);
    assert_eq!(store.verify().unwrap(), Vec::<String>::new());

    // A manifest that marks a file whose text does not parse is refused whole.
    let bad = manifest.replace(
        "[profiles.git.files.\".plain\"]",
        "[profiles.git.files.\".plain\"]\ntemplate = true",
    );
    assert_ne!(bad, manifest);
    std::fs::write(out.join("manifest.toml"), bad).unwrap();
    let generation = store.profile(&git).unwrap().unwrap().generation;
    assert!(store.import_profiles(&out).is_err());
    assert_eq!(store.profile(&git).unwrap().unwrap().generation, generation);
    assert!(!store.is_template(&git, &rp(".plain")).unwrap());
}

#[test]
fn an_edit_that_breaks_a_template_is_refused() {
    let (_dir, mut store) = store();
    let git = pid("git");
    let path = rp(".gitconfig");
    store
        .put_template_file(&git, &path, Some(TEMPLATE), None, true)
        .unwrap();
    let generation = store.profile(&git).unwrap().unwrap().generation;
    let err = store
        .put_file(&git, &path, b"[user]\n\temail = {{ var.email\n", 0o644)
        .unwrap_err();
    let TemplateRefusal::Syntax { source, .. } = refusal(err) else {
        panic!("not a syntax refusal")
    };
    assert_eq!((source.at.line, source.at.column), (2, 10));
    assert_eq!(store.profile(&git).unwrap().unwrap().generation, generation);
    assert_eq!(
        store.current_file(&git, &path).unwrap().unwrap().bytes,
        TEMPLATE
    );
    // A plain file may hold anything.
    store.set_template(&git, &path, false).unwrap();
    store.put_file(&git, &path, b"{{ broken", 0o644).unwrap();
}

#[test]
fn a_revert_restores_each_files_template_flag_of_that_generation() {
    let (_dir, mut store) = store();
    let git = pid("git");
    let path = rp(".gitconfig");
    let other = rp(".gitignore");
    // g1: a plain file; g2: marked (same content); g3: an unrelated plain file.
    let g1 = store.put_file(&git, &path, TEMPLATE, 0o644).unwrap();
    let g2 = store.set_template(&git, &path, true).unwrap();
    store.put_file(&git, &other, b"target/\n", 0o644).unwrap();
    assert!(g2 > g1);

    // Back to g1: the content is the same, only the flag differs — still a change, and
    // the file comes back plain (it was plain in g1).
    let r1 = store.rollback_profile(&git, g1).unwrap();
    assert!(!store.is_template(&git, &path).unwrap());
    assert!(store.current_file(&git, &other).unwrap().is_none());
    // Back to g2: a template again.
    let r2 = store.rollback_profile(&git, g2).unwrap();
    assert!(r2 > r1);
    assert!(store.is_template(&git, &path).unwrap());
    // Unmark, then remove the file: a revert to g2 brings it back as a template (a
    // re-added file would otherwise start plain).
    store.set_template(&git, &path, false).unwrap();
    store.remove_file(&git, &path).unwrap();
    assert!(store.current_file(&git, &path).unwrap().is_none());
    store.rollback_profile(&git, g2).unwrap();
    assert!(store.is_template(&git, &path).unwrap());
    assert_eq!(
        store.current_file(&git, &path).unwrap().unwrap().bytes,
        TEMPLATE
    );
    // A revert to the state it has already is refused as before.
    assert!(matches!(
        store.rollback_profile(&git, g2),
        Err(StoreError::SameContent { .. })
    ));
    // An edit after the revert keeps the restored flag.
    store
        .put_file(&git, &path, b"[user]\n\tname = {{ var.name }}\n", 0o644)
        .unwrap();
    assert!(store.is_template(&git, &path).unwrap());
    assert_eq!(store.verify().unwrap(), Vec::<String>::new());
}

#[test]
fn a_revert_keeps_a_plain_file_plain_when_the_template_came_later() {
    let (_dir, mut store) = store();
    let git = pid("git");
    let path = rp(".gitconfig");
    let g1 = store.put_file(&git, &path, b"plain {{\n", 0o644).unwrap();
    // Later the file became a template with new text.
    store
        .put_template_file(&git, &path, Some(TEMPLATE), None, true)
        .unwrap();
    // Back to g1: the old text is not a template (and would not even parse as one).
    store.rollback_profile(&git, g1).unwrap();
    assert!(!store.is_template(&git, &path).unwrap());
    assert_eq!(
        store.current_file(&git, &path).unwrap().unwrap().bytes,
        b"plain {{\n"
    );
    assert!(store.templated_files(&git).unwrap().is_empty());
}
