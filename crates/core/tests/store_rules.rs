//! Assignment rules in the store against real SQLite files: the migration that adds them
//! (forward from the schema before it, keeping data; all-or-nothing when it fails), the
//! rules' validation, bounds, audit, and attempts to smuggle bad rows past the API.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use qcs_core::store::{
    AssignmentRule, MAX_ASSIGNMENT_RULES, MIGRATIONS, RuleKind, Store, StoreError, action,
    latest_schema_version,
};
use qcs_protocol::literal::pid;

/// The index of the migration that creates the rules table (found, not assumed: the
/// order of migrations is decided when branches merge).
fn rules_migration() -> usize {
    MIGRATIONS
        .iter()
        .position(|sql| sql.contains("CREATE TABLE assignment_rules"))
        .unwrap()
}

/// A database file left by a build whose schema ended just before the rules migration.
fn database_before_rules(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA application_id = {};",
        qcs_core::store::APPLICATION_ID
    ))
    .unwrap();
    let before = rules_migration();
    for sql in &MIGRATIONS[..before] {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch(&format!("PRAGMA user_version = {before};"))
        .unwrap();
    conn.execute(
        "INSERT INTO profiles (id, description, created_at) VALUES ('git', 'kept', 0)",
        [],
    )
    .unwrap();
}

fn rule(kind: RuleKind, value: &str, profile: &str) -> AssignmentRule {
    AssignmentRule {
        kind,
        value: value.to_owned(),
        profile: pid(profile),
    }
}

#[test]
fn the_rules_migration_runs_forward_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    database_before_rules(&path);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), latest_schema_version());
    assert_eq!(
        store.profile(&pid("git")).unwrap().unwrap().description,
        "kept"
    );
    assert!(store.assignment_rules().unwrap().is_empty());
    store
        .add_assignment_rule(&rule(RuleKind::Tag, "dev", "git"))
        .unwrap();
    drop(store);
    // Reopening is idempotent and the rule is durable.
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.assignment_rules().unwrap(),
        [rule(RuleKind::Tag, "dev", "git")]
    );
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn a_failing_rules_migration_leaves_the_old_schema_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    database_before_rules(&path);
    // Something in the way (as a crash half-way would leave, were it not one
    // transaction): the migration fails, and must leave nothing of itself behind.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE INDEX assignment_rules_by_profile ON profiles(id);")
            .unwrap();
    }
    let error = Store::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::Sqlite(_)), "{error}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, rules_migration() as i64);
    let table: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'assignment_rules')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!table, "the table of a failed migration was left behind");
    let kept: String = conn
        .query_row(
            "SELECT description FROM profiles WHERE id = 'git'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, "kept");
    // Once the obstacle is gone, the same file migrates.
    conn.execute_batch("DROP INDEX assignment_rules_by_profile;")
        .unwrap();
    drop(conn);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), latest_schema_version());
}

#[test]
fn rules_are_validated_unique_bounded_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("store.sqlite")).unwrap();
    store.create_profile(&pid("git"), "").unwrap();
    store.create_profile(&pid("vim"), "").unwrap();
    store
        .add_assignment_rule(&rule(RuleKind::Tag, "dev", "git"))
        .unwrap();
    store
        .add_assignment_rule(&rule(RuleKind::Template, "fedora-40", "git"))
        .unwrap();
    store
        .add_assignment_rule(&rule(RuleKind::Class, "DispVM", "vim"))
        .unwrap();
    // The same tag for another profile is another rule.
    store
        .add_assignment_rule(&rule(RuleKind::Tag, "dev", "vim"))
        .unwrap();
    assert!(matches!(
        store.add_assignment_rule(&rule(RuleKind::Tag, "dev", "git")),
        Err(StoreError::RuleExists(_))
    ));
    assert!(matches!(
        store.add_assignment_rule(&rule(RuleKind::Tag, "dev", "nope")),
        Err(StoreError::ProfileNotFound(_))
    ));
    for bad in [
        rule(RuleKind::Class, "AdminVM", "git"),
        rule(RuleKind::Tag, "x y", "git"),
        rule(RuleKind::Template, "dom0\n", "git"),
        rule(RuleKind::Tag, "", "git"),
    ] {
        assert!(
            matches!(
                store.add_assignment_rule(&bad),
                Err(StoreError::InvalidRule { .. })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(store.assignment_rules().unwrap().len(), 4);
    store
        .remove_assignment_rule(&rule(RuleKind::Tag, "dev", "vim"))
        .unwrap();
    assert!(matches!(
        store.remove_assignment_rule(&rule(RuleKind::Tag, "dev", "vim")),
        Err(StoreError::RuleNotFound(_))
    ));
    let rules = store.assignment_rules().unwrap();
    assert_eq!(
        rules,
        [
            rule(RuleKind::Class, "DispVM", "vim"),
            rule(RuleKind::Tag, "dev", "git"),
            rule(RuleKind::Template, "fedora-40", "git"),
        ]
    );
    let audited: Vec<(String, bool)> = store
        .audit_log(0, 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action::ASSIGNMENT_RULE)
        .map(|e| {
            (
                e.detail["value"].as_str().unwrap().to_owned(),
                e.detail["added"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(audited.len(), 5);
    assert_eq!(audited[4], ("dev".to_owned(), false));
    // Bounded.
    for i in store.assignment_rules().unwrap().len()..MAX_ASSIGNMENT_RULES {
        store
            .add_assignment_rule(&rule(RuleKind::Tag, &format!("t{i}"), "git"))
            .unwrap();
    }
    assert!(matches!(
        store.add_assignment_rule(&rule(RuleKind::Tag, "one-more", "git")),
        Err(StoreError::TooManyRules(_))
    ));
}

#[test]
fn a_bad_row_written_past_the_api_is_corrupt_not_a_rule() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let mut store = Store::open(&path).unwrap();
    store.create_profile(&pid("git"), "").unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    // The schema refuses kinds it does not know and empty or long values …
    for (kind, value) in [("owner", "x"), ("tag", ""), ("tag", &"a".repeat(65)[..])] {
        assert!(
            conn.execute(
                "INSERT INTO assignment_rules (kind, value, profile, created_at) \
                 VALUES (?1, ?2, 'git', 0)",
                [kind, value],
            )
            .is_err(),
            "{kind} {value:?}"
        );
    }
    // … and a value that fits the schema but not the kind is reported as corrupt.
    conn.execute(
        "INSERT INTO assignment_rules (kind, value, profile, created_at) \
         VALUES ('class', 'AdminVM', 'git', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let store = Store::open(&path).unwrap();
    assert!(matches!(
        store.assignment_rules(),
        Err(StoreError::Corrupt(_))
    ));
}
