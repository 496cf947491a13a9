//! The store's consistency check: SQLite's integrity check plus the store's cross-table
//! invariants, run after a crash and by tests.
//!
//! It must not repair anything: it reports the problems it finds.

use qcs_protocol::sha256_hex;

use super::{Result, Store};

impl Store {
    /// Checks the database and the store's cross-table invariants. Returns the problems
    /// found (empty when all is well). Used after a crash and by tests.
    pub fn verify(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let integrity: Vec<String> = self
            .conn
            .prepare("PRAGMA integrity_check")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if integrity != ["ok"] {
            problems.extend(integrity.into_iter().map(|m| format!("integrity: {m}")));
        }
        let fk: i64 =
            self.conn
                .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                    r.get(0)
                })?;
        if fk != 0 {
            problems.push(format!("{fk} foreign key violations"));
        }
        let checks: &[(&str, &str)] = &[
            (
                "accepted proposal without exactly its own file version",
                "SELECT p.id FROM proposals p WHERE p.status = 'accepted' AND \
                 (SELECT count(*) FROM file_versions v WHERE v.proposal_id = p.id) != 1 \
                 OR (p.status = 'accepted' AND NOT EXISTS (SELECT 1 FROM file_versions v \
                     WHERE v.id = p.accepted_version AND v.proposal_id = p.id))",
            ),
            (
                "undecided proposal with a file version",
                "SELECT p.id FROM proposals p WHERE p.status != 'accepted' AND \
                 EXISTS (SELECT 1 FROM file_versions v WHERE v.proposal_id = p.id)",
            ),
            (
                "accepted proposal without exactly one audit entry",
                "SELECT p.id FROM proposals p WHERE p.status = 'accepted' AND \
                 (SELECT count(*) FROM audit_log a WHERE a.action = 'proposal-accepted' \
                  AND a.proposal_id = p.id) != 1",
            ),
            (
                "rejected proposal without exactly one audit entry",
                "SELECT p.id FROM proposals p WHERE p.status = 'rejected' AND \
                 (SELECT count(*) FROM audit_log a WHERE a.action = 'proposal-rejected' \
                  AND a.proposal_id = p.id) != 1",
            ),
            (
                "proposal without its intake audit entry",
                "SELECT p.id FROM proposals p WHERE NOT EXISTS (SELECT 1 FROM audit_log a \
                 WHERE a.action = 'proposal-received' AND a.proposal_id = p.id)",
            ),
            (
                "pushed state that disagrees with the last push audit entry",
                "SELECT rowid FROM qube_files q WHERE q.pushed_sha256 IS NOT NULL AND \
                 coalesce((SELECT a.sha256 || ':' || a.generation FROM audit_log a \
                  WHERE a.qube = q.qube AND a.path = q.path AND a.action IN ('push', 'rollback') \
                  ORDER BY a.id DESC LIMIT 1), '') != q.pushed_sha256 || ':' || q.pushed_generation",
            ),
            (
                "profile generation behind its file versions",
                "SELECT rowid FROM profiles p WHERE p.generation < \
                 coalesce((SELECT max(generation) FROM file_versions v WHERE v.profile = p.id), 0)",
            ),
        ];
        for (what, sql) in checks {
            let ids: Vec<i64> = self
                .conn
                .prepare(sql)?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if !ids.is_empty() {
                problems.push(format!("{what}: {ids:?}"));
            }
        }
        // Hashes are checked in Rust (SQLite has no sha256).
        let mut stmt = self
            .conn
            .prepare("SELECT id, content, sha256 FROM file_versions WHERE deleted = 0")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (id, content, sha) = row?;
            if sha256_hex(&content) != sha {
                problems.push(format!("file version {id}: sha256 does not match content"));
            }
        }
        Ok(problems)
    }
}
