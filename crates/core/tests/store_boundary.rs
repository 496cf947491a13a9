//! The store's typed boundary: rows that do not parse as the protocol's types come back as
//! a typed error (never a panic, never an unchecked string); migration 4 drops the stale
//! `proposals.findings` column (forward with data, and atomic when it fails); the audit
//! entry of an accept records the review it was decided on.

#![allow(clippy::unwrap_used)]

use qcs_core::store::{
    Acceptance, NewProposal, ProposalStatus, ReviewRecord, Store, StoreError, action,
    latest_schema_version,
};
use qcs_protocol::literal::{pid, rp, vm};

fn proposal<'a>(path: &str, content: &'a [u8]) -> NewProposal<'a> {
    NewProposal {
        source_qube: vm("work"),
        profile: pid("git"),
        path: rp(path),
        content,
        mode: Some(0o644),
        base_sha256: None,
        note: "",
    }
}

/// Profile `git` with `.gitconfig`, proposable by `work`, in a file store.
fn git_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("store.sqlite")).unwrap();
    store.create_profile(&pid("git"), "").unwrap();
    store
        .put_file(&pid("git"), &rp(".gitconfig"), b"[user]\n", 0o644)
        .unwrap();
    store.allow_proposals(&vm("work"), &pid("git")).unwrap();
    (dir, store)
}

/// A connection that bypasses the store, as another program (or a damaged disk) would.
fn raw(dir: &tempfile::TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap()
}

fn is_corrupt<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Corrupt(message)) => {
            assert!(message.contains(what), "{message}");
        }
        other => panic!("expected a Corrupt error naming {what}, got {other:?}"),
    }
}

#[test]
fn rows_that_do_not_parse_are_a_typed_error_not_a_panic() {
    let (dir, mut store) = git_store();
    let id = store
        .submit_proposal(&proposal(".gitconfig", b"[user]\n\tname = B\n"))
        .unwrap();
    drop(store);
    // Values no API of the store would write, put there behind its back. The append-only
    // triggers and the immutability of a proposal's origin are lifted for the test.
    let conn = raw(&dir);
    conn.execute_batch(
        "DROP TRIGGER proposals_origin_is_immutable;
         INSERT INTO qubes (name) VALUES ('bad name');",
    )
    .unwrap();
    conn.execute(
        "UPDATE proposals SET source_qube = 'x/../y', path = '../escape' WHERE id = ?1",
        [id],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO file_versions (profile, path, generation, deleted, content, sha256, mode, \
             provenance, created_at) \
         VALUES ('git', '/etc/passwd', 9, 0, x'61', \
             'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb', 420, 'local', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let mut store = Store::open(dir.path().join("store.sqlite")).unwrap();
    is_corrupt(store.qubes(), "qube name");
    is_corrupt(store.proposals(None), "qube name");
    is_corrupt(store.proposal(id), "qube name");
    is_corrupt(store.current_files(&pid("git")), "path");
    is_corrupt(
        store.accept_proposal(id, Acceptance::default()),
        "qube name",
    );
    is_corrupt(store.reject_proposal(id, ""), "qube name");
    // Nothing was decided on the damaged row.
    let status: String = raw(&dir)
        .query_row("SELECT status FROM proposals WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(status, "pending");
    // The error is reported as such, and `verify` still runs.
    assert!(store.verify().is_ok());
}

/// A database as version 3 of the schema left it, with findings stored on a pending and a
/// decided proposal.
fn version_3_database(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA application_id = {};",
        qcs_core::store::APPLICATION_ID
    ))
    .unwrap();
    for sql in &qcs_core::store::MIGRATIONS[..3] {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch(
        "PRAGMA user_version = 3;
         INSERT INTO profiles (id, created_at) VALUES ('git', 0);
         INSERT INTO proposal_batches (id, source_qube, kind, created_at)
             VALUES (1, 'work', 'spool', 5);
         INSERT INTO proposals (source_qube, profile, path, content, sha256, received_at,
                                findings, batch)
             VALUES ('work', 'git', '.gitconfig', x'61',
                     'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb', 5,
                     '[{\"rule\":\"git.core.pager\",\"severity\":\"high\"}]', 1);
         INSERT INTO proposals (source_qube, profile, path, content, sha256, received_at,
                                status, decided_at, findings, batch)
             VALUES ('work', 'git', '.gitconfig', x'61',
                     'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb', 6,
                     'rejected', 7, '[]', 1);
         INSERT INTO audit_log (at, action, qube, profile, path, proposal_id)
             VALUES (5, 'proposal-received', 'work', 'git', '.gitconfig', 1),
                    (6, 'proposal-received', 'work', 'git', '.gitconfig', 2),
                    (7, 'proposal-rejected', 'work', 'git', '.gitconfig', 2);",
    )
    .unwrap();
}

fn has_findings_column(conn: &rusqlite::Connection) -> bool {
    conn.query_row(
        "SELECT count(*) FROM pragma_table_info('proposals') WHERE name = 'findings'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

#[test]
fn migration_4_drops_the_findings_column_and_keeps_every_proposal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    version_3_database(&path);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), latest_schema_version());
    let raw = rusqlite::Connection::open(&path).unwrap();
    assert!(!has_findings_column(&raw));
    let all = store.proposals(None).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].status, ProposalStatus::Rejected);
    assert_eq!(all[1].status, ProposalStatus::Pending);
    let pending = store.proposal(all[1].id).unwrap().unwrap();
    assert_eq!(pending.content, b"a");
    assert_eq!(pending.source_qube, vm("work"));
    assert_eq!(pending.batch, 1);
    // The triggers survived the rewrite: a decided proposal is still final, an origin
    // still immutable, a proposal still needs a batch.
    assert!(
        raw.execute(
            "UPDATE proposals SET decision_note = 'x' WHERE status = 'rejected'",
            []
        )
        .is_err()
    );
    assert!(
        raw.execute(
            "UPDATE proposals SET path = '.x' WHERE status = 'pending'",
            []
        )
        .is_err()
    );
    assert!(
        raw.execute(
            "INSERT INTO proposals (source_qube, profile, path, content, sha256, received_at) \
             VALUES ('work', 'git', '.x', x'61', \
             'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb', 8)",
            []
        )
        .is_err()
    );
    // The migrated store works: the pending proposal can be decided.
    store
        .put_file(&pid("git"), &rp(".gitconfig"), b"b", 0o644)
        .unwrap();
    store.reject_proposal(pending.id, "old").unwrap();
    assert_eq!(store.verify().unwrap(), Vec::<String>::new());
}

#[test]
fn a_failed_migration_4_leaves_version_3_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    version_3_database(&path);
    // Something that still reads the column is in the way of dropping it.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE VIEW old_findings AS SELECT id, findings FROM proposals;")
        .unwrap();
    assert!(Store::open(&path).is_err());
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
    assert!(has_findings_column(&raw), "half of migration 4 was kept");
    let kept: String = raw
        .query_row(
            "SELECT findings FROM proposals WHERE status = 'pending'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(kept.contains("git.core.pager"));
    // Out of the way, the migration then runs and keeps the data.
    raw.execute_batch("DROP VIEW old_findings;").unwrap();
    drop(raw);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), latest_schema_version());
    assert_eq!(store.proposals(None).unwrap().len(), 2);
}

#[test]
fn the_audit_entry_of_an_accept_records_the_review_it_was_decided_on() {
    let (_dir, mut store) = git_store();
    let id = store
        .submit_proposal(&proposal(".gitconfig", b"[core]\n\tpager = x\n"))
        .unwrap();
    let acknowledged = vec!["git.core.pager@.gitconfig:p2#0011aabb".to_owned()];
    store
        .accept_proposal(
            id,
            Acceptance {
                note: Some("checked"),
                review: ReviewRecord {
                    digest: "d1gest",
                    acknowledged: &acknowledged,
                    by: "D-Bus AcceptProposal from :1.7 (uid 1000)",
                },
                ..Acceptance::default()
            },
        )
        .unwrap();
    let log = store.audit_log(0, 1000).unwrap();
    let entry = log
        .iter()
        .find(|e| e.action == action::PROPOSAL_ACCEPTED && e.proposal_id == Some(id))
        .unwrap();
    assert_eq!(entry.detail["digest"], "d1gest");
    assert_eq!(
        entry.detail["acknowledged"],
        serde_json::json!(["git.core.pager@.gitconfig:p2#0011aabb"])
    );
    assert_eq!(
        entry.detail["by"],
        "D-Bus AcceptProposal from :1.7 (uid 1000)"
    );
    assert_eq!(entry.detail["note"], "checked");
    assert_eq!(entry.qube.as_deref(), Some("work"));

    // The record is bounded: an absurd number of ids is refused before anything is
    // written, a long text is cut.
    let id = store
        .submit_proposal(&proposal(".gitconfig", b"[user]\n\tname = C\n"))
        .unwrap();
    let many = vec!["x".to_owned(); qcs_core::store::MAX_RECORDED_ACKNOWLEDGEMENTS + 1];
    assert!(matches!(
        store.accept_proposal(
            id,
            Acceptance {
                review: ReviewRecord {
                    acknowledged: &many,
                    ..ReviewRecord::default()
                },
                ..Acceptance::default()
            },
        ),
        Err(StoreError::TooLarge { .. })
    ));
    assert_eq!(
        store.proposal(id).unwrap().unwrap().status,
        ProposalStatus::Pending
    );
    let long = "b".repeat(10_000);
    store
        .accept_proposal(
            id,
            Acceptance {
                review: ReviewRecord {
                    by: &long,
                    ..ReviewRecord::default()
                },
                ..Acceptance::default()
            },
        )
        .unwrap();
    let log = store.audit_log(0, 1000).unwrap();
    let entry = log
        .iter()
        .find(|e| e.action == action::PROPOSAL_ACCEPTED && e.proposal_id == Some(id))
        .unwrap();
    assert_eq!(entry.detail["by"].as_str().unwrap().len(), 512);
    assert!(store.verify().unwrap().is_empty());
}
