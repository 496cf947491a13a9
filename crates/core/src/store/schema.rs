//! The schema and its migrations, versioned with `PRAGMA user_version`.
//!
//! Each migration runs in the same transaction as the bump of `user_version`, so a crash
//! leaves the database at one version or the next, never between. Migrations are only ever
//! appended; an applied migration is never edited.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// `PRAGMA application_id` of our databases ("QCS1"), so a foreign SQLite file is refused
/// instead of being migrated.
pub const APPLICATION_ID: i64 = 0x5143_5331;

/// The migrations, in order; after migration `i` the schema version is `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: the base schema.
    r#"
CREATE TABLE profiles (
    id          TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    generation  INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
    created_at  INTEGER NOT NULL
) STRICT;

-- Every version of every file, never updated or deleted: a removal is a tombstone.
CREATE TABLE file_versions (
    id          INTEGER PRIMARY KEY,
    profile     TEXT NOT NULL REFERENCES profiles(id),
    path        TEXT NOT NULL,
    generation  INTEGER NOT NULL CHECK (generation >= 1),
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    content     BLOB,
    sha256      TEXT,
    mode        INTEGER,
    provenance  TEXT NOT NULL CHECK (provenance IN ('local', 'proposal')),
    proposal_id INTEGER REFERENCES proposals(id),
    source_qube TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (profile, path, generation),
    CHECK ((deleted = 1 AND content IS NULL AND sha256 IS NULL AND mode IS NULL)
        OR (deleted = 0 AND content IS NOT NULL AND length(sha256) = 64
            AND mode IN (384, 420, 448, 493))),
    CHECK ((provenance = 'proposal') = (proposal_id IS NOT NULL AND source_qube IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX file_versions_one_per_proposal ON file_versions(proposal_id)
    WHERE proposal_id IS NOT NULL;
CREATE TRIGGER file_versions_no_update BEFORE UPDATE ON file_versions
BEGIN SELECT RAISE(ABORT, 'file history is append-only'); END;
CREATE TRIGGER file_versions_no_delete BEFORE DELETE ON file_versions
BEGIN SELECT RAISE(ABORT, 'file history is append-only'); END;

CREATE TABLE qubes (
    name       TEXT PRIMARY KEY NOT NULL,
    auto_apply INTEGER NOT NULL DEFAULT 0 CHECK (auto_apply IN (0, 1))
) STRICT;
CREATE TABLE assignments (
    qube    TEXT NOT NULL REFERENCES qubes(name),
    profile TEXT NOT NULL REFERENCES profiles(id),
    PRIMARY KEY (qube, profile)
) STRICT;
CREATE TABLE propose_permissions (
    qube    TEXT NOT NULL REFERENCES qubes(name),
    profile TEXT NOT NULL REFERENCES profiles(id),
    PRIMARY KEY (qube, profile)
) STRICT;

-- Per qube × path: what we last wrote there, and what we last saw there.
CREATE TABLE qube_files (
    qube              TEXT NOT NULL REFERENCES qubes(name),
    path              TEXT NOT NULL,
    pushed_profile    TEXT REFERENCES profiles(id),
    pushed_sha256     TEXT,
    pushed_mode       INTEGER,
    pushed_generation INTEGER,
    pushed_at         INTEGER,
    seen_kind         TEXT CHECK (seen_kind IN ('absent', 'file', 'other')),
    seen_sha256       TEXT,
    seen_mode         INTEGER,
    seen_detail       TEXT,
    seen_at           INTEGER,
    PRIMARY KEY (qube, path),
    CHECK ((pushed_sha256 IS NULL) = (pushed_at IS NULL)),
    CHECK ((seen_kind IS NULL) = (seen_at IS NULL))
) STRICT;

-- Quarantine. Content and origin never change; a decision is final.
CREATE TABLE proposals (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    source_qube      TEXT NOT NULL,
    profile          TEXT NOT NULL REFERENCES profiles(id),
    path             TEXT NOT NULL,
    content          BLOB NOT NULL,
    sha256           TEXT NOT NULL CHECK (length(sha256) = 64),
    mode             INTEGER,
    base_sha256      TEXT,
    note             TEXT NOT NULL DEFAULT '',
    received_at      INTEGER NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'accepted', 'rejected')),
    findings         TEXT NOT NULL DEFAULT '[]',
    decided_at       INTEGER,
    decision_note    TEXT,
    accepted_version INTEGER REFERENCES file_versions(id),
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK ((status = 'accepted') = (accepted_version IS NOT NULL))
) STRICT;
CREATE TRIGGER proposals_origin_is_immutable
BEFORE UPDATE OF source_qube, profile, path, content, sha256, mode, base_sha256, note,
                 received_at ON proposals
BEGIN SELECT RAISE(ABORT, 'a proposal''s content and origin never change'); END;
CREATE TRIGGER proposals_decision_is_final BEFORE UPDATE ON proposals
WHEN OLD.status <> 'pending'
BEGIN SELECT RAISE(ABORT, 'a decided proposal is final'); END;
CREATE TRIGGER proposals_no_delete_while_pending BEFORE DELETE ON proposals
WHEN OLD.status = 'pending'
BEGIN SELECT RAISE(ABORT, 'a pending proposal cannot be deleted'); END;

-- Append-only: no UPDATE, no DELETE, and no INSERT that would replace a row
-- (INSERT OR REPLACE deletes without firing DELETE triggers).
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    action      TEXT NOT NULL,
    qube        TEXT,
    profile     TEXT,
    path        TEXT,
    proposal_id INTEGER,
    generation  INTEGER,
    sha256      TEXT,
    detail      TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    // 2: indexes for the inbox and for the per-qube views.
    r#"
CREATE INDEX proposals_by_status ON proposals(status, source_qube);
CREATE INDEX audit_log_by_qube_path ON audit_log(qube, path, id);
CREATE INDEX audit_log_by_proposal ON audit_log(proposal_id) WHERE proposal_id IS NOT NULL;
"#,
    // 3: the intake whitelist of new paths per profile, proposal batches (the files of one
    // submission, reviewed as a unit) and refusals aggregated per qube, reason and window.
    r#"
CREATE TABLE new_path_globs (
    profile TEXT NOT NULL REFERENCES profiles(id),
    glob    TEXT NOT NULL CHECK (length(glob) BETWEEN 1 AND 256),
    PRIMARY KEY (profile, glob)
) STRICT;

CREATE TABLE proposal_batches (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source_qube TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('spool', 'import', 'legacy')),
    created_at  INTEGER NOT NULL
) STRICT;
-- Proposals from before batches each form their own batch, numbered like the proposal.
INSERT INTO proposal_batches (id, source_qube, kind, created_at)
    SELECT id, source_qube, 'legacy', received_at FROM proposals;
ALTER TABLE proposals ADD COLUMN batch INTEGER REFERENCES proposal_batches(id);
-- Decided proposals are final: lift the triggers for this one backfill only.
DROP TRIGGER proposals_decision_is_final;
DROP TRIGGER proposals_origin_is_immutable;
UPDATE proposals SET batch = id;
CREATE TRIGGER proposals_origin_is_immutable
BEFORE UPDATE OF source_qube, profile, path, content, sha256, mode, base_sha256, note,
                 received_at, batch ON proposals
BEGIN SELECT RAISE(ABORT, 'a proposal''s content and origin never change'); END;
CREATE TRIGGER proposals_decision_is_final BEFORE UPDATE ON proposals
WHEN OLD.status <> 'pending'
BEGIN SELECT RAISE(ABORT, 'a decided proposal is final'); END;
CREATE TRIGGER proposals_have_a_batch BEFORE INSERT ON proposals
WHEN NEW.batch IS NULL
BEGIN SELECT RAISE(ABORT, 'a proposal belongs to a batch'); END;
CREATE INDEX proposals_by_batch ON proposals(batch);

-- One row per qube x reason x window: a flood of refusals updates a counter instead of
-- appending to the audit log (which gets the first refusal of each window only).
CREATE TABLE intake_refusals (
    qube         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL CHECK (count >= 1),
    first_at     INTEGER NOT NULL,
    last_at      INTEGER NOT NULL CHECK (last_at >= first_at),
    last_detail  TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (qube, reason, window_start)
) STRICT;
"#,
    // 4: proposals no longer keep findings. Findings are a function of the store's state
    // (the review computes them for the state after accept, which changes whenever the
    // profile does), so a copy taken at intake went stale and nothing read it.
    r#"
ALTER TABLE proposals DROP COLUMN findings;
"#,
    // 5: assignment rules — a profile assigned to every qube with a tag, on a template or
    // of a class, evaluated live from the Admin API (nothing per qube is stored).
    r#"
CREATE TABLE assignment_rules (
    kind       TEXT NOT NULL CHECK (kind IN ('tag', 'template', 'class')),
    value      TEXT NOT NULL CHECK (length(value) BETWEEN 1 AND 64),
    profile    TEXT NOT NULL REFERENCES profiles(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, value, profile)
) STRICT;
CREATE INDEX assignment_rules_by_profile ON assignment_rules(profile);
"#,
];

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings `conn` to the latest schema, or refuses a database that is newer than this build
/// or is not ours.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let app_id: i64 = tx.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    let has_tables: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table')",
        [],
        |row| row.get(0),
    )?;
    if (found > 0 || has_tables) && app_id != APPLICATION_ID {
        return Err(StoreError::NotOurDatabase {
            application_id: app_id,
        });
    }
    if found > latest_version() {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: latest_version(),
        });
    }
    if found == latest_version() {
        return Ok(());
    }
    if found == 0 {
        tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))?;
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))?;
    }
    tx.commit()?;
    Ok(())
}
