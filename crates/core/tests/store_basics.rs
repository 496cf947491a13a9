//! The store against real SQLite files: migrations, profiles and history, settings,
//! the proposal quarantine, push state, and attempts to break its invariants.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use qcs_core::store::{
    Acceptance, FileEdit, MAX_PENDING_PROPOSALS_PER_QUBE, NewProposal, ProposalStatus, Provenance,
    PushedFile, QubeSettings, SeenState, Store, StoreError, action, latest_schema_version,
};
use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_FILES};
use qcs_protocol::literal::{pid, rp, vm};
use qcs_protocol::mode::validate_mode;
use qcs_protocol::path::validate_relative_path;
use qcs_protocol::profile::validate_profile_id;
use qcs_protocol::sha256_hex;

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store.sqlite")).unwrap();
    (dir, store)
}

fn proposal<'a>(qube: &str, profile: &str, path: &str, content: &'a [u8]) -> NewProposal<'a> {
    NewProposal {
        source_qube: vm(qube),
        profile: pid(profile),
        path: rp(path),
        content,
        mode: Some(0o644),
        base_sha256: None,
        note: "",
    }
}

/// A store with profile `git` (one file) that qube `work` may propose to.
fn git_store() -> (tempfile::TempDir, Store) {
    let (dir, mut store) = temp_store();
    store.create_profile(&pid("git"), "git settings").unwrap();
    store
        .put_file(
            &pid("git"),
            &rp(".gitconfig"),
            b"[user]\n\tname = A\n",
            0o644,
        )
        .unwrap();
    store.allow_proposals(&vm("work"), &pid("git")).unwrap();
    (dir, store)
}

fn raw(dir: &tempfile::TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap()
}

#[test]
fn fresh_file_is_migrated_in_wal_mode_and_reopen_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    {
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), latest_schema_version());
        assert_eq!(store.journal_mode().unwrap(), "wal");
        store.create_profile(&pid("git"), "").unwrap();
    }
    for _ in 0..3 {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), latest_schema_version());
        assert_eq!(store.profiles().unwrap().len(), 1);
        assert!(store.verify().unwrap().is_empty());
    }
}

#[test]
fn an_older_schema_is_migrated_forward_keeping_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    {
        // A database as version 1 of this program left it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA application_id = {};",
            qcs_core::store::APPLICATION_ID
        ))
        .unwrap();
        conn.execute_batch(qcs_core::store::MIGRATIONS[0]).unwrap();
        conn.execute_batch("PRAGMA user_version = 1;").unwrap();
        conn.execute(
            "INSERT INTO profiles (id, description, created_at) VALUES ('old', 'kept', 0)",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), latest_schema_version());
    assert_eq!(
        store.profile(&pid("old")).unwrap().unwrap().description,
        "kept"
    );
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_error() {
    let (dir, store) = temp_store();
    drop(store);
    raw(&dir)
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let error = Store::open(dir.path().join("store.sqlite")).unwrap_err();
    assert!(
        matches!(error, StoreError::SchemaTooNew { found: 99, supported } if supported == latest_schema_version())
    );
    assert!(error.to_string().contains("newer"), "{error}");
}

#[test]
fn a_foreign_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    assert!(matches!(
        Store::open(&path).unwrap_err(),
        StoreError::NotOurDatabase { .. }
    ));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 0);
}

#[test]
fn files_have_generations_and_history() {
    let mut store = Store::open_in_memory().unwrap();
    store.create_profile(&pid("git"), "").unwrap();
    assert!(matches!(
        store.create_profile(&pid("git"), ""),
        Err(StoreError::ProfileExists(_))
    ));
    assert_eq!(
        store
            .put_file(&pid("git"), &rp(".gitconfig"), b"a", 0o644)
            .unwrap(),
        1
    );
    // Same content and mode: no new generation.
    assert_eq!(
        store
            .put_file(&pid("git"), &rp(".gitconfig"), b"a", 0o644)
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .put_file(&pid("git"), &rp(".gitconfig"), b"a", 0o600)
            .unwrap(),
        2
    );
    let generation = store
        .put_files(
            &pid("git"),
            &[
                FileEdit {
                    path: &rp(".gitconfig"),
                    content: Some(b"b"),
                    mode: 0o600,
                },
                FileEdit {
                    path: &rp(".config/git/ignore"),
                    content: Some(b"*.o\n"),
                    mode: 0o644,
                },
            ],
        )
        .unwrap();
    assert_eq!(generation, 3);
    assert_eq!(store.profile(&pid("git")).unwrap().unwrap().generation, 3);
    let files = store.current_files(&pid("git")).unwrap();
    assert_eq!(
        files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
        [".config/git/ignore", ".gitconfig"]
    );
    assert_eq!(files[1].sha256, sha256_hex(b"b"));
    assert_eq!(files[1].provenance, Provenance::LocalEdit);

    assert_eq!(
        store.remove_file(&pid("git"), &rp(".gitconfig")).unwrap(),
        4
    );
    assert!(
        store
            .current_file(&pid("git"), &rp(".gitconfig"))
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.remove_file(&pid("git"), &rp(".gitconfig")),
        Err(StoreError::FileNotFound { .. })
    ));
    let history = store.file_history(&pid("git"), &rp(".gitconfig")).unwrap();
    assert_eq!(
        history.iter().map(|v| v.generation).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(history[3].content.is_none());
    // Any generation can be looked up again (store-side rollback).
    let at_1 = store.files_at_generation(&pid("git"), 1).unwrap();
    assert_eq!(at_1.len(), 1);
    assert_eq!(at_1[0].bytes, b"a");
    assert_eq!(at_1[0].mode, validate_mode(0o644).unwrap());
    assert_eq!(store.files_at_generation(&pid("git"), 4).unwrap().len(), 1);
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn hostile_paths_modes_and_sizes_are_refused_and_change_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    store.create_profile(&pid("git"), "").unwrap();
    for path in [
        "",
        "/etc/passwd",
        "../.bashrc",
        "a/../../b",
        "a//b",
        "./a",
        "a/",
        "-rf",
        "a\u{202e}b",
        "a\u{200b}b",
        "a\nb",
        "a\u{a0}b",
    ] {
        // The store takes only a `RelativePath`: such a path never gets that far.
        assert!(validate_relative_path(path).is_err(), "{path:?}");
    }
    for mode in [0o4755, 0o2755, 0o1777, 0o777, 0o666, 0o100644, 0] {
        assert!(
            matches!(
                store.put_file(&pid("git"), &rp(".x"), b"x", mode),
                Err(StoreError::ModeNotAllowed(_))
            ),
            "{mode:o}"
        );
    }
    let big = vec![b'x'; MAX_FILE_BYTES + 1];
    assert!(matches!(
        store.put_file(&pid("git"), &rp(".x"), &big, 0o644),
        Err(StoreError::TooLarge { .. })
    ));
    for id in ["", "Git", "a/b", "../x", &"a".repeat(32)] {
        assert!(validate_profile_id(id).is_err(), "{id:?}");
    }
    assert!(matches!(
        store.put_file(&pid("nope"), &rp(".x"), b"x", 0o644),
        Err(StoreError::ProfileNotFound(_))
    ));
    // A batch with one bad entry writes nothing at all.
    assert!(
        store
            .put_files(
                &pid("git"),
                &[
                    FileEdit {
                        path: &rp(".ok"),
                        content: Some(b"x"),
                        mode: 0o644
                    },
                    FileEdit {
                        path: &rp(".ssh/id_rsa"),
                        content: Some(b"x"),
                        mode: 0o644
                    },
                ],
            )
            .is_err()
    );
    assert!(store.current_files(&pid("git")).unwrap().is_empty());
    assert_eq!(store.profile(&pid("git")).unwrap().unwrap().generation, 0);
}

#[test]
fn a_profile_holds_at_most_one_push_worth_of_files() {
    let mut store = Store::open_in_memory().unwrap();
    store.create_profile(&pid("many"), "").unwrap();
    let names: Vec<_> = (0..MAX_FILES).map(|i| rp(&format!(".f{i}"))).collect();
    let edits: Vec<FileEdit<'_>> = names
        .iter()
        .map(|n| FileEdit {
            path: n,
            content: Some(b"x"),
            mode: 0o644,
        })
        .collect();
    store.put_files(&pid("many"), &edits).unwrap();
    assert!(matches!(
        store.put_file(&pid("many"), &rp(".one-too-many"), b"x", 0o644),
        Err(StoreError::TooManyFiles(_))
    ));
    assert_eq!(store.current_files(&pid("many")).unwrap().len(), MAX_FILES);
}

#[test]
fn qube_settings_round_trip_and_are_validated() {
    let mut store = Store::open_in_memory().unwrap();
    store.create_profile(&pid("git"), "").unwrap();
    store.create_profile(&pid("ssh"), "").unwrap();
    let settings = QubeSettings {
        qube: vm("work"),
        assigned: vec![
            validate_profile_id("git").unwrap(),
            validate_profile_id("ssh").unwrap(),
        ],
        may_propose: vec![validate_profile_id("git").unwrap()],
        auto_apply: true,
    };
    store.set_qube_settings(&settings).unwrap();
    assert_eq!(store.qube_settings(&vm("work")).unwrap(), settings);
    assert_eq!(store.qubes().unwrap(), vec![settings.clone()]);
    // Unknown qubes have empty defaults.
    assert_eq!(store.qube_settings(&vm("vault")).unwrap().assigned, vec![]);
    let mut bad = settings.clone();
    bad.assigned.push(validate_profile_id("nope").unwrap());
    assert!(matches!(
        store.set_qube_settings(&bad),
        Err(StoreError::ProfileNotFound(_))
    ));
    assert_eq!(store.qube_settings(&vm("work")).unwrap(), settings);
    for name in ["dom0x\n", "Domain-0", "1abc", "a/b", "", &"q".repeat(32)] {
        assert!(qcs_protocol::validate_vm_name(name).is_err(), "{name:?}");
    }
}

#[test]
fn whitelist_refuses_and_logs_proposals_for_other_profiles() {
    let (_dir, mut store) = git_store();
    store.create_profile(&pid("ssh"), "").unwrap();
    let before = store.audit_log(0, 10_000).unwrap().len();
    for (qube, profile) in [("work", "ssh"), ("personal", "git"), ("work", "nope")] {
        let error = store
            .submit_proposal(&proposal(qube, profile, ".x", b"evil"))
            .unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::NotAllowedToPropose { .. } | StoreError::ProfileNotFound(_)
            ),
            "{error}"
        );
    }
    assert!(store.proposals(None).unwrap().is_empty());
    let log = store.audit_log(0, 10_000).unwrap();
    let refused: Vec<_> = log[before..]
        .iter()
        .filter(|e| e.action == action::PROPOSAL_REFUSED)
        .collect();
    assert_eq!(refused.len(), 3);
    assert_eq!(refused[0].qube.as_deref(), Some("work"));
}

#[test]
fn proposals_are_validated_at_intake() {
    let (_dir, mut store) = git_store();
    let big = vec![0u8; MAX_FILE_BYTES + 1];
    let long_note = "n".repeat(qcs_protocol::limits::MAX_NOTE_BYTES + 1);
    // Names and paths a qube could send that are not valid never become the typed
    // values a proposal is made of (the protocol refuses them while parsing).
    for path in [
        "../../etc/passwd",
        "/home/user/.gitconfig",
        ".git\u{202e}config",
    ] {
        assert!(validate_relative_path(path).is_err(), "{path:?}");
    }
    assert!(qcs_protocol::validate_vm_name("work\n").is_err());
    assert!(validate_profile_id("GIT").is_err());
    // What only the store can check: never-sync, sizes, the base hash, the note.
    let cases: Vec<NewProposal<'_>> = vec![
        proposal("work", "git", ".ssh/id_ed25519", b"x"),
        proposal("work", "git", ".gitconfig", &big),
        NewProposal {
            base_sha256: Some("not-a-hash"),
            ..proposal("work", "git", ".gitconfig", b"x")
        },
        NewProposal {
            note: &long_note,
            ..proposal("work", "git", ".gitconfig", b"x")
        },
    ];
    for case in &cases {
        assert!(store.submit_proposal(case).is_err(), "{:?}", case.path);
    }
    assert!(store.proposals(None).unwrap().is_empty());
    // Exactly at the cap is fine.
    let at_cap = vec![b'x'; MAX_FILE_BYTES];
    store
        .submit_proposal(&proposal("work", "git", ".gitconfig", &at_cap))
        .unwrap();
}

#[test]
fn a_flood_of_proposals_is_capped_per_qube() {
    let (_dir, mut store) = git_store();
    store.allow_proposals(&vm("personal"), &pid("git")).unwrap();
    for i in 0..MAX_PENDING_PROPOSALS_PER_QUBE {
        let content = format!("{i}");
        store
            .submit_proposal(&proposal("work", "git", ".gitconfig", content.as_bytes()))
            .unwrap();
    }
    assert!(matches!(
        store.submit_proposal(&proposal("work", "git", ".gitconfig", b"more")),
        Err(StoreError::ProposalQuotaExceeded { .. })
    ));
    // Another qube is not affected, and deciding frees quota.
    store
        .submit_proposal(&proposal("personal", "git", ".gitconfig", b"p"))
        .unwrap();
    let oldest = store.proposals(Some(ProposalStatus::Pending)).unwrap();
    let first_work = oldest
        .iter()
        .rev()
        .find(|p| p.source_qube.as_str() == "work")
        .unwrap();
    store.reject_proposal(first_work.id, "spam").unwrap();
    store
        .submit_proposal(&proposal("work", "git", ".gitconfig", b"again"))
        .unwrap();
}

#[test]
fn accepting_writes_version_status_and_audit_together() {
    let (_dir, mut store) = git_store();
    let id = store
        .submit_proposal(&NewProposal {
            base_sha256: Some(&sha256_hex(b"[user]\n\tname = A\n")),
            note: "my name",
            ..proposal("work", "git", ".gitconfig", b"[user]\n\tname = B\n")
        })
        .unwrap();
    let pending = store.proposal(id).unwrap().unwrap();
    assert_eq!(pending.status, ProposalStatus::Pending);
    assert_eq!(pending.note, "my name");
    assert_eq!(store.pending_count().unwrap(), 1);

    let version = store.accept_proposal(id, Acceptance::default()).unwrap();
    assert_eq!(
        version.provenance,
        Provenance::AcceptedProposal {
            qube: vm("work"),
            proposal_id: id
        }
    );
    assert_eq!(version.generation, 2);
    let content = version.content.unwrap();
    assert_eq!(content.bytes, b"[user]\n\tname = B\n");
    let accepted = store.proposal(id).unwrap().unwrap();
    assert_eq!(accepted.status, ProposalStatus::Accepted);
    assert_eq!(accepted.accepted_version, Some(version.id));
    let log = store.audit_log(0, 1000).unwrap();
    let entries: Vec<_> = log
        .iter()
        .filter(|e| e.proposal_id == Some(id))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        entries,
        [action::PROPOSAL_RECEIVED, action::PROPOSAL_ACCEPTED]
    );
    assert_eq!(store.pending_count().unwrap(), 0);

    // A decision is final.
    assert!(matches!(
        store.accept_proposal(id, Acceptance::default()),
        Err(StoreError::ProposalNotPending { .. })
    ));
    assert!(matches!(
        store.reject_proposal(id, ""),
        Err(StoreError::ProposalNotPending { .. })
    ));
    assert!(matches!(
        store.accept_proposal(9999, Acceptance::default()),
        Err(StoreError::ProposalNotFound(9999))
    ));
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn partial_acceptance_stores_the_reviewed_content_and_mode() {
    let (_dir, mut store) = git_store();
    store
        .allow_new_paths(&pid("git"), &[".new-*", ".other"], true)
        .unwrap();
    let id = store
        .submit_proposal(&NewProposal {
            mode: Some(0o4755),
            ..proposal("work", "git", ".new-file", b"a\nb\n")
        })
        .unwrap();
    // The proposed mode is not on the allowlist, so the default 0644 is used.
    let version = store
        .accept_proposal(
            id,
            Acceptance {
                content: Some(b"a\n"),
                mode: None,
                note: Some("only the first hunk"),
                ..Acceptance::default()
            },
        )
        .unwrap();
    let content = version.content.unwrap();
    assert_eq!(content.bytes, b"a\n");
    assert_eq!(content.mode.bits(), 0o644);
    let id = store
        .submit_proposal(&proposal("work", "git", ".other", b"x"))
        .unwrap();
    assert!(matches!(
        store.accept_proposal(
            id,
            Acceptance {
                mode: Some(0o777),
                ..Acceptance::default()
            }
        ),
        Err(StoreError::ModeNotAllowed(_))
    ));
    assert_eq!(
        store.proposal(id).unwrap().unwrap().status,
        ProposalStatus::Pending
    );
}

#[test]
fn push_and_snapshot_state_per_qube_and_path() {
    let (_dir, mut store) = git_store();
    let file = store
        .current_file(&pid("git"), &rp(".gitconfig"))
        .unwrap()
        .unwrap();
    let path = validate_relative_path(".gitconfig").unwrap();
    store
        .record_snapshot(&vm("work"), &[(path.clone(), SeenState::Absent)])
        .unwrap();
    let states = store.qube_file_states(&vm("work")).unwrap();
    assert_eq!(states.len(), 1);
    assert!(states[0].pushed.is_none());
    assert_eq!(states[0].seen.as_ref().unwrap().0, SeenState::Absent);

    store
        .record_push(
            &vm("work"),
            &[PushedFile {
                profile: validate_profile_id("git").unwrap(),
                path: path.clone(),
                sha256: file.sha256.clone(),
                mode: file.mode,
                generation: 1,
            }],
            serde_json::json!({ "backup": "b1" }),
        )
        .unwrap();
    let states = store.qube_file_states(&vm("work")).unwrap();
    let pushed = states[0].pushed.as_ref().unwrap();
    assert_eq!(pushed.sha256, file.sha256);
    assert_eq!(pushed.generation, 1);
    assert_eq!(
        states[0].seen.as_ref().unwrap().0,
        SeenState::Regular {
            sha256: file.sha256.clone(),
            mode: 0o644
        }
    );
    // A later snapshot sees a local change; the pushed state stays.
    store
        .record_snapshot(
            &vm("work"),
            &[(
                path.clone(),
                SeenState::Regular {
                    sha256: sha256_hex(b"local"),
                    mode: 0o600,
                },
            )],
        )
        .unwrap();
    let states = store.qube_file_states(&vm("work")).unwrap();
    assert_eq!(states[0].pushed.as_ref().unwrap().sha256, file.sha256);
    assert!(matches!(
        states[0].seen.as_ref().unwrap().0,
        SeenState::Regular { mode: 0o600, .. }
    ));
    let log = store.audit_log(0, 1000).unwrap();
    let push = log.iter().find(|e| e.action == action::PUSH).unwrap();
    assert_eq!(push.sha256.as_deref(), Some(file.sha256.as_str()));
    assert_eq!(push.detail["job"]["backup"], "b1");
    // A bad hash is refused and nothing is recorded.
    assert!(
        store
            .record_push(
                &vm("work"),
                &[PushedFile {
                    profile: validate_profile_id("git").unwrap(),
                    path,
                    sha256: "XYZ".into(),
                    mode: file.mode,
                    generation: 2,
                }],
                serde_json::Value::Null,
            )
            .is_err()
    );
    assert_eq!(
        store.qube_file_states(&vm("work")).unwrap()[0]
            .pushed
            .as_ref()
            .unwrap()
            .generation,
        1
    );
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn audit_log_history_and_decisions_resist_direct_tampering() {
    let (dir, mut store) = git_store();
    let id = store
        .submit_proposal(&proposal("work", "git", ".gitconfig", b"x"))
        .unwrap();
    store.accept_proposal(id, Acceptance::default()).unwrap();
    drop(store);
    let conn = raw(&dir);
    let attacks = [
        "UPDATE audit_log SET action = 'nothing' WHERE id = 1",
        "DELETE FROM audit_log WHERE id = 1",
        "DELETE FROM audit_log",
        "INSERT OR REPLACE INTO audit_log (id, at, action) VALUES (1, 0, 'forged')",
        "REPLACE INTO audit_log (id, at, action) VALUES (2, 0, 'forged')",
        "UPDATE file_versions SET content = x'00' WHERE id = 1",
        "DELETE FROM file_versions",
        "UPDATE proposals SET status = 'pending', decided_at = NULL, accepted_version = NULL",
        "UPDATE proposals SET content = x'41'",
        "UPDATE proposals SET source_qube = 'vault'",
    ];
    let count = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
            .unwrap()
    };
    let before = count(&conn);
    for sql in attacks {
        let result = conn.execute(sql, []);
        assert!(result.is_err(), "{sql} succeeded");
    }
    assert_eq!(count(&conn), before);
    // recursive_triggers does not open a path either.
    conn.execute_batch("PRAGMA recursive_triggers = ON")
        .unwrap();
    assert!(
        conn.execute(
            "INSERT OR REPLACE INTO audit_log (id, at, action) VALUES (1, 0, 'x')",
            []
        )
        .is_err()
    );
    drop(conn);
    let store = Store::open(dir.path().join("store.sqlite")).unwrap();
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn verify_detects_a_broken_invariant() {
    let (dir, mut store) = git_store();
    let id = store
        .submit_proposal(&proposal("work", "git", ".gitconfig", b"x"))
        .unwrap();
    store.accept_proposal(id, Acceptance::default()).unwrap();
    drop(store);
    // Someone with raw access drops the guard and removes the acceptance audit entry.
    let conn = raw(&dir);
    conn.execute_batch(
        "DROP TRIGGER audit_log_no_delete; \
         DELETE FROM audit_log WHERE action = 'proposal-accepted';",
    )
    .unwrap();
    drop(conn);
    let store = Store::open(dir.path().join("store.sqlite")).unwrap();
    let problems = store.verify().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("audit"), "{problems:?}");
}

#[test]
fn never_sync_paths_cannot_enter_by_edit_or_proposal() {
    let (_dir, mut store) = git_store();
    for path in [
        ".ssh/id_ed25519",
        ".bash_history",
        ".git/config",
        "p/.git/hooks/post-checkout",
    ] {
        assert!(
            matches!(
                store.put_file(&pid("git"), &rp(path), b"secret", 0o600),
                Err(StoreError::NeverSync(_))
            ),
            "{path}"
        );
        assert!(
            matches!(
                store.submit_proposal(&proposal("work", "git", path, b"secret")),
                Err(StoreError::NeverSync(_))
            ),
            "{path}"
        );
    }
    assert!(store.proposals(None).unwrap().is_empty());
    // The public half of a key pair is fine.
    store
        .put_file(
            &pid("git"),
            &rp(".ssh/id_ed25519.pub"),
            b"ssh-ed25519 AAAA",
            0o644,
        )
        .unwrap();
}

#[test]
fn a_profile_can_be_reverted_to_any_generation() {
    let mut store = Store::open_in_memory().unwrap();
    store.create_profile(&pid("git"), "").unwrap();
    store
        .put_file(&pid("git"), &rp(".a"), b"a1", 0o644)
        .unwrap(); // 1
    store
        .put_file(&pid("git"), &rp(".b"), b"b1", 0o600)
        .unwrap(); // 2
    store
        .put_file(&pid("git"), &rp(".a"), b"a2", 0o644)
        .unwrap(); // 3
    store.remove_file(&pid("git"), &rp(".b")).unwrap(); // 4
    store
        .put_file(&pid("git"), &rp(".c"), b"c1", 0o644)
        .unwrap(); // 5

    assert_eq!(store.revert_to_generation(&pid("git"), 2).unwrap(), 6);
    let files: Vec<(String, Vec<u8>, u32)> = store
        .current_files(&pid("git"))
        .unwrap()
        .into_iter()
        .map(|f| (f.path.to_string(), f.bytes, f.mode.bits()))
        .collect();
    assert_eq!(
        files,
        vec![
            (".a".to_owned(), b"a1".to_vec(), 0o644),
            (".b".to_owned(), b"b1".to_vec(), 0o600)
        ]
    );
    // Reverting to the state we are in changes nothing; the revert itself is revertible.
    assert_eq!(store.revert_to_generation(&pid("git"), 6).unwrap(), 6);
    assert_eq!(store.revert_to_generation(&pid("git"), 5).unwrap(), 7);
    assert_eq!(store.current_files(&pid("git")).unwrap().len(), 2);
    assert!(
        store
            .current_file(&pid("git"), &rp(".c"))
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        store.revert_to_generation(&pid("git"), 99),
        Err(StoreError::NoSuchGeneration { .. })
    ));
    assert!(
        store
            .audit_log(0, 1000)
            .unwrap()
            .iter()
            .any(|e| e.action == action::REVERT)
    );
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn the_database_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, mut store) = temp_store();
    store.create_profile(&pid("git"), "").unwrap();
    for name in ["store.sqlite", "store.sqlite-wal", "store.sqlite-shm"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} is {mode:o}");
    }
}

#[test]
fn hostile_but_valid_names_are_data_not_sql() {
    let (_dir, mut store) = git_store();
    let path = ".x'); DROP TABLE audit_log; --";
    store.put_file(&pid("git"), &rp(path), b"x", 0o644).unwrap();
    let id = store
        .submit_proposal(&NewProposal {
            note: "'); DELETE FROM proposals; --",
            ..proposal("work", "git", path, b"y")
        })
        .unwrap();
    store.accept_proposal(id, Acceptance::default()).unwrap();
    assert_eq!(
        store
            .current_file(&pid("git"), &rp(path))
            .unwrap()
            .unwrap()
            .bytes,
        b"y"
    );
    assert!(store.audit_log(0, 1000).unwrap().len() > 3);
    assert!(store.verify().unwrap().is_empty());
}
