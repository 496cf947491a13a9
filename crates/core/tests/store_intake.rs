//! The store's intake whitelist against real SQLite files: new paths only through the
//! profile's allowlist of globs, imports only of the profile's files, batches, refusals
//! aggregated per qube × reason × window, and migration 3 (forward with data, and
//! atomic when it fails).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use qcs_core::store::{
    Acceptance, NewProposal, ProposalStatus, Store, StoreError, action, latest_schema_version,
    refusal,
};
use qcs_protocol::literal::{pid, rp, vm};

fn proposal<'a>(qube: &str, path: &str, content: &'a [u8]) -> NewProposal<'a> {
    NewProposal {
        source_qube: vm(qube),
        profile: pid("git"),
        path: rp(path),
        content,
        mode: Some(0o644),
        base_sha256: None,
        note: "",
    }
}

/// Profile `git` with `.gitconfig`; `work` may propose it, `other` may not.
fn git_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("store.sqlite")).unwrap();
    store.create_profile(&pid("git"), "").unwrap();
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

fn audit_rows(store: &Store, what: &str) -> usize {
    store
        .audit_log(0, 1_000_000)
        .unwrap()
        .iter()
        .filter(|e| e.action == what)
        .count()
}

#[test]
fn a_new_path_is_refused_unless_the_profile_allowlists_it() {
    let (_dir, mut store) = git_store();
    assert!(store.new_path_globs(&pid("git")).unwrap().is_empty());
    for path in [".ssh/config", ".mailcap", ".config/git/attributes"] {
        let error = store
            .submit_proposal(&proposal("work", path, b"x\n"))
            .unwrap_err();
        assert!(
            matches!(&error, StoreError::NewPathNotAllowed { path: p, .. } if p == path),
            "{error}"
        );
        assert_eq!(error.refusal_code(), refusal::NEW_PATH);
    }
    assert_eq!(store.pending_count().unwrap(), 0);
    // A file the profile has may be proposed.
    store
        .submit_proposal(&proposal("work", ".gitconfig", b"[user]\n"))
        .unwrap();

    let globs = store
        .allow_new_paths(&pid("git"), &[".config/git/*"], true)
        .unwrap();
    assert_eq!(globs, vec![".config/git/*".to_owned()]);
    let id = store
        .submit_proposal(&proposal("work", ".config/git/attributes", b"* text\n"))
        .unwrap();
    assert_eq!(
        store.proposal(id).unwrap().unwrap().status,
        ProposalStatus::Pending
    );
    // `*` stays inside one component, and the allowlist never reaches never-sync paths.
    for path in [".config/git/sub/x", ".ssh/config"] {
        assert!(matches!(
            store.submit_proposal(&proposal("work", path, b"x")),
            Err(StoreError::NewPathNotAllowed { .. })
        ));
    }
    store
        .allow_new_paths(&pid("git"), &[".ssh/*"], true)
        .unwrap();
    assert!(matches!(
        store.submit_proposal(&proposal("work", ".ssh/id_ed25519", b"key")),
        Err(StoreError::NeverSync(_))
    ));
    // A qube without may-propose is refused before its path is even looked at.
    assert!(matches!(
        store.submit_proposal(&proposal("other", ".config/git/ignore", b"x")),
        Err(StoreError::NotAllowedToPropose { .. })
    ));
    // Removing the glob closes the door again.
    let globs = store
        .allow_new_paths(&pid("git"), &[".config/git/*"], false)
        .unwrap();
    assert_eq!(globs, vec![".ssh/*".to_owned()]);
    assert!(matches!(
        store.submit_proposal(&proposal("work", ".config/git/ignore", b"x")),
        Err(StoreError::NewPathNotAllowed { .. })
    ));
    assert_eq!(audit_rows(&store, action::NEW_PATH_GLOBS), 3);
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn a_removed_file_is_a_new_path_again() {
    let (_dir, mut store) = git_store();
    store
        .put_file(&pid("git"), &rp(".gitignore"), b"*.o\n", 0o644)
        .unwrap();
    store
        .submit_proposal(&proposal("work", ".gitignore", b"*.a\n"))
        .unwrap();
    store.remove_file(&pid("git"), &rp(".gitignore")).unwrap();
    assert!(matches!(
        store.submit_proposal(&proposal("work", ".gitignore", b"*.b\n")),
        Err(StoreError::NewPathNotAllowed { .. })
    ));
}

#[test]
fn globs_are_checked_and_bounded() {
    let (_dir, mut store) = git_store();
    for bad in [
        "",
        "/etc/*",
        "../x",
        ".config/../x",
        "a//b",
        "**",
        "**/**",
        "a**b/c",
        "x\n",
        "a\0b",
    ] {
        assert!(
            matches!(
                store.allow_new_paths(&pid("git"), &[bad], true),
                Err(StoreError::InvalidGlob { .. })
            ),
            "{bad:?} accepted"
        );
    }
    let long = "a".repeat(qcs_core::store::MAX_GLOB_BYTES + 1);
    assert!(store.allow_new_paths(&pid("git"), &[&long], true).is_err());
    assert!(matches!(
        store.allow_new_paths(&pid("nope"), &[".x"], true),
        Err(StoreError::ProfileNotFound(_))
    ));
    let many: Vec<String> = (0..=qcs_core::store::MAX_NEW_PATH_GLOBS)
        .map(|i| format!(".f{i}"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(matches!(
        store.allow_new_paths(&pid("git"), &many, true),
        Err(StoreError::TooManyGlobs { .. })
    ));
    // Nothing of a refused change was kept.
    assert!(store.new_path_globs(&pid("git")).unwrap().is_empty());
    assert_eq!(audit_rows(&store, action::NEW_PATH_GLOBS), 0);
    // `**` as a component below a fixed directory is fine.
    store
        .allow_new_paths(&pid("git"), &[".config/git/**"], true)
        .unwrap();
    store
        .submit_proposal(&proposal("work", ".config/git/a/b/c", b"x"))
        .unwrap();
}

#[test]
fn imports_take_only_the_profiles_files_even_with_an_allowlist() {
    let (_dir, mut store) = git_store();
    store.allow_new_paths(&pid("git"), &[".*"], true).unwrap();
    // `other` may not propose, but an import is the user's choice: the profile's file
    // is taken, a path it does not have is not, allowlist or not.
    let outcome = store
        .import_batch(&[
            proposal("other", ".gitconfig", b"[core]\n"),
            proposal("other", ".gdbinit", b"shell rm -rf ~\n"),
        ])
        .unwrap();
    assert!(outcome.results[0].is_ok());
    let error = outcome.results[1].as_ref().unwrap_err();
    assert!(matches!(error, StoreError::NotInProfile { .. }), "{error}");
    assert_eq!(error.refusal_code(), refusal::NOT_IN_PROFILE);
    assert_eq!(store.pending_count().unwrap(), 1);
}

#[test]
fn the_files_of_one_submission_share_a_batch_and_imports_get_their_own() {
    let (_dir, mut store) = git_store();
    store
        .allow_new_paths(&pid("git"), &[".config/git/*"], true)
        .unwrap();
    let first = store
        .submit_batch(&[
            proposal("work", ".gitconfig", b"a"),
            proposal("work", ".mailcap", b"refused"),
            proposal("work", ".config/git/ignore", b"b"),
        ])
        .unwrap();
    let batch = first.batch.unwrap();
    let ids: Vec<i64> = first
        .results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .copied()
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(first.results[1].is_err());
    for id in &ids {
        assert_eq!(store.proposal(*id).unwrap().unwrap().batch, batch);
    }
    let second = store
        .submit_batch(&[proposal("work", ".gitconfig", b"c")])
        .unwrap();
    let imported = store
        .import_from_qube(&proposal("work", ".gitconfig", b"d"))
        .unwrap();
    let import_batch = store.proposal(imported).unwrap().unwrap().batch;
    let batches = [batch, second.batch.unwrap(), import_batch];
    assert!(batches[0] != batches[1] && batches[1] != batches[2] && batches[0] != batches[2]);
    assert!(
        store
            .proposals(None)
            .unwrap()
            .iter()
            .all(|p| batches.contains(&p.batch))
    );
    // All refused: no batch at all.
    let refused = store
        .submit_batch(&[proposal("work", ".mailcap", b"x")])
        .unwrap();
    assert_eq!(refused.batch, None);
    // One batch, one qube.
    assert!(matches!(
        store.submit_batch(&[
            proposal("work", ".gitconfig", b"e"),
            proposal("other", ".gitconfig", b"f")
        ]),
        Err(StoreError::MixedBatch)
    ));
    // The batch is part of the proposal's origin: it never changes.
    let raw = rusqlite::Connection::open(_dir.path().join("store.sqlite")).unwrap();
    assert!(
        raw.execute("UPDATE proposals SET batch = 1 WHERE id = ?1", [ids[0]])
            .is_err()
    );
    store
        .accept_proposal(ids[0], Acceptance::default())
        .unwrap();
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn a_flood_of_refusals_is_counted_not_logged_row_by_row() {
    let (_dir, mut store) = git_store();
    let audit_before = store.audit_log(0, 1_000_000).unwrap().len();
    let content = vec![b'x'; 100];
    let files: Vec<String> = (0..64).map(|i| format!(".planted/{i}")).collect();
    for _ in 0..50 {
        let batch: Vec<NewProposal<'_>> = files
            .iter()
            .map(|p| proposal("work", p, &content))
            .collect();
        let outcome = store.submit_batch(&batch).unwrap();
        assert!(outcome.results.iter().all(Result::is_err));
        // And from a qube without may-propose.
        let batch: Vec<NewProposal<'_>> = files
            .iter()
            .map(|p| proposal("other", p, &content))
            .collect();
        store.submit_batch(&batch).unwrap();
    }
    for _ in 0..10 {
        store
            .record_refused_proposal(&vm("work"), "invalid spool file: junk\u{1b}[2J")
            .unwrap();
    }
    let log = store.audit_log(0, 1_000_000).unwrap();
    let new_rows = &log[audit_before..];
    // One row per qube × reason × window (a window boundary may split one in two).
    assert!(
        (3..=6).contains(&new_rows.len()),
        "{} audit rows for 6 410 refusals",
        new_rows.len()
    );
    assert!(
        new_rows
            .iter()
            .all(|e| e.action == action::PROPOSAL_REFUSED)
    );
    let first = new_rows
        .iter()
        .find(|e| e.qube.as_deref() == Some("work"))
        .unwrap();
    assert_eq!(first.detail["code"], refusal::NEW_PATH);
    assert_eq!(first.path.as_deref(), Some(".planted/0"));
    let counts = store.intake_refusals(None).unwrap();
    let total = |qube: &str, reason: &str| -> u64 {
        counts
            .iter()
            .filter(|r| r.qube.as_str() == qube && r.reason == reason)
            .map(|r| r.count)
            .sum()
    };
    assert_eq!(total("work", refusal::NEW_PATH), 50 * 64);
    assert_eq!(total("other", refusal::NOT_ALLOWED), 50 * 64);
    assert_eq!(total("work", refusal::SPOOL_UNREADABLE), 10);
    for r in &counts {
        assert!(r.first_at <= r.last_at && r.window_start <= r.first_at);
    }
    assert_eq!(store.intake_refusals(Some(&vm("nobody"))).unwrap().len(), 0);
    // An unknown code is kept as `other`, so the set of reasons stays closed.
    store
        .record_intake_refusal(&vm("work"), "made-up", serde_json::json!({}))
        .unwrap();
    assert_eq!(
        store
            .intake_refusals(Some(&vm("work")))
            .unwrap()
            .iter()
            .filter(|r| r.reason == refusal::OTHER)
            .count(),
        1
    );
    assert_eq!(store.pending_count().unwrap(), 0);
}

/// A database as version 2 of the schema left it, with a decided and a pending proposal.
fn version_2_database(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA application_id = {};",
        qcs_core::store::APPLICATION_ID
    ))
    .unwrap();
    for sql in &qcs_core::store::MIGRATIONS[..2] {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch(
        "PRAGMA user_version = 2;
         INSERT INTO profiles (id, created_at) VALUES ('git', 0);
         INSERT INTO proposals (source_qube, profile, path, content, sha256, received_at)
             VALUES ('work', 'git', '.gitconfig', x'61',
                     'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb', 5);
         INSERT INTO proposals (source_qube, profile, path, content, sha256, received_at,
                                status, decided_at)
             VALUES ('work', 'git', '.gitconfig', x'61',
                     'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb', 6,
                     'rejected', 7);",
    )
    .unwrap();
}

#[test]
fn migration_3_keeps_proposals_each_in_its_own_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    version_2_database(&path);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), latest_schema_version());
    let all = store.proposals(None).unwrap();
    assert_eq!(all.len(), 2);
    for p in &all {
        assert_eq!(p.batch, p.id);
    }
    assert_eq!(all[0].status, ProposalStatus::Rejected);
    assert!(store.new_path_globs(&pid("git")).unwrap().is_empty());
    // The triggers are back: a decided proposal is still final.
    let raw = rusqlite::Connection::open(&path).unwrap();
    assert!(
        raw.execute(
            "UPDATE proposals SET decision_note = 'x' WHERE status = 'rejected'",
            []
        )
        .is_err()
    );
    assert!(
        raw.execute(
            "UPDATE proposals SET note = 'x' WHERE status = 'pending'",
            []
        )
        .is_err()
    );
    // A new batch does not collide with the numbers given to the old proposals.
    store
        .put_file(&pid("git"), &rp(".gitconfig"), b"a", 0o644)
        .unwrap();
    store.allow_proposals(&vm("work"), &pid("git")).unwrap();
    let id = store
        .submit_proposal(&proposal("work", ".gitconfig", b"b"))
        .unwrap();
    let batch = store.proposal(id).unwrap().unwrap().batch;
    assert!(all.iter().all(|p| p.batch != batch));
}

#[test]
fn a_failed_migration_3_leaves_version_2_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    version_2_database(&path);
    // Something in the way of migration 3, after its first statements would have run.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE intake_refusals (x);")
        .unwrap();
    assert!(Store::open(&path).is_err());
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    let tables: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name IN ('new_path_globs', 'proposal_batches')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "half of migration 3 was kept");
    let columns: i64 = raw
        .query_row(
            "SELECT count(*) FROM pragma_table_info('proposals') WHERE name = 'batch'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(columns, 0);
    // Out of the way, the migration then runs and keeps the data.
    raw.execute_batch("DROP TABLE intake_refusals;").unwrap();
    drop(raw);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.proposals(None).unwrap().len(), 2);
}

#[test]
fn an_adopt_authorises_its_one_path_and_nothing_else() {
    let (_dir, mut store) = git_store();
    // `other` may not propose `git`, and `.config/git/ignore` is not a file of it: an
    // import refuses it, an adopt (the user named this path) takes it into quarantine.
    assert!(matches!(
        store.import_from_qube(&proposal("other", ".config/git/ignore", b"*.o\n")),
        Err(StoreError::NotInProfile { .. })
    ));
    let id = store
        .adopt_from_qube(&proposal("other", ".config/git/ignore", b"*.o\n"))
        .unwrap();
    let adopted = store.proposal(id).unwrap().unwrap();
    assert_eq!(adopted.status, ProposalStatus::Pending);
    assert_eq!(adopted.source_qube, vm("other"));
    // Still a proposal: the profile has no such file until it is accepted.
    assert!(
        store
            .current_file(&pid("git"), &rp(".config/git/ignore"))
            .unwrap()
            .is_none()
    );
    // The authorisation was that request only: a spooled submission of the path from
    // the qube is still refused.
    assert!(matches!(
        store.submit_proposal(&proposal("other", ".config/git/ignore", b"evil\n")),
        Err(StoreError::NotAllowedToPropose { .. })
    ));
    // Never-sync and the limits hold for adopts as for everything else.
    assert!(matches!(
        store.adopt_from_qube(&proposal("other", ".ssh/id_ed25519", b"key\n")),
        Err(StoreError::NeverSync(_))
    ));
    let huge = vec![b'a'; qcs_protocol::limits::MAX_FILE_BYTES + 1];
    assert!(matches!(
        store.adopt_from_qube(&proposal("other", ".vimrc", &huge)),
        Err(StoreError::TooLarge { .. })
    ));
    let received = store
        .audit_log(0, 1000)
        .unwrap()
        .into_iter()
        .find(|e| e.action == action::PROPOSAL_RECEIVED && e.proposal_id == Some(id))
        .unwrap();
    assert_eq!(received.detail["origin"], "adopt");
    store
        .accept_proposal(id, Acceptance::default())
        .expect("an adopted file is accepted like every proposal");
    assert_eq!(
        store
            .current_file(&pid("git"), &rp(".config/git/ignore"))
            .unwrap()
            .unwrap()
            .bytes,
        b"*.o\n"
    );
}
