//! The append-only audit log: the actions the store records, appending one entry inside a
//! mutation's transaction, and reading entries back.
//!
//! It must not update or delete entries (SQLite triggers refuse that too), and it keeps
//! recorded texts bounded.

use rusqlite::{Transaction, params};

use super::{Result, Store, StoreError, now, to_i64, to_u64};

/// Longest digest or `by` text kept in an audit entry, in characters.
const MAX_RECORD_CHARS: usize = 512;

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub action: String,
    pub qube: Option<String>,
    pub profile: Option<String>,
    pub path: Option<String>,
    pub proposal_id: Option<i64>,
    pub generation: Option<u64>,
    pub sha256: Option<String>,
    pub detail: serde_json::Value,
}

/// Audit actions written by the store.
pub mod action {
    pub const PROFILE_CREATE: &str = "profile-create";
    pub const PROFILE_DESCRIBE: &str = "profile-describe";
    pub const FILE_EDIT: &str = "file-edit";
    pub const FILE_REMOVE: &str = "file-remove";
    pub const IMPORT: &str = "import";
    pub const EXPORT: &str = "export";
    pub const SETTINGS: &str = "qube-settings";
    pub const PROPOSAL_RECEIVED: &str = "proposal-received";
    pub const PROPOSAL_REFUSED: &str = "proposal-refused";
    pub const PROPOSAL_ACCEPTED: &str = "proposal-accepted";
    pub const PROPOSAL_REJECTED: &str = "proposal-rejected";
    pub const REVERT: &str = "revert";
    pub const PUSH: &str = "push";
    pub const ROLLBACK: &str = "rollback";
    /// A push removed a file (removed from its profile) from a qube.
    pub const PUSH_REMOVE: &str = "push-remove";
    /// The last apply into a qube was undone from its agent-side backup.
    pub const UNDO: &str = "undo";
    /// A profile's allowlist of globs for new paths changed.
    pub const NEW_PATH_GLOBS: &str = "new-path-globs";
    /// A qube's reply to a service call broke its request; nothing of it was recorded.
    pub const REPLY_REFUSED: &str = "reply-refused";
    /// An assignment rule (tag, template or class → profile) was added or removed.
    pub const ASSIGNMENT_RULE: &str = "assignment-rule";
}

/// A text of a [`ReviewRecord`] as the audit entry keeps it.
pub(super) fn bounded_record(text: &str) -> String {
    text.chars().take(MAX_RECORD_CHARS).collect()
}

/// Appends one audit entry inside `tx`.
#[allow(clippy::too_many_arguments)]
pub(super) fn audit(
    tx: &Transaction<'_>,
    action: &str,
    qube: Option<&str>,
    profile: Option<&str>,
    path: Option<&str>,
    proposal_id: Option<i64>,
    generation: Option<u64>,
    sha256: Option<&str>,
    detail: serde_json::Value,
) -> Result<i64> {
    let generation = generation.map(to_i64).transpose()?;
    tx.execute(
        "INSERT INTO audit_log (at, action, qube, profile, path, proposal_id, generation, \
         sha256, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            now(),
            action,
            qube,
            profile,
            path,
            proposal_id,
            generation,
            sha256,
            detail.to_string()
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

impl Store {
    /// Audit entries with id > `after`, oldest first, at most `limit`.
    pub fn audit_log(&self, after: i64, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, action, qube, profile, path, proposal_id, generation, sha256, detail \
             FROM audit_log WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![after, limit], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<i64>>(6)?,
                row.get::<_, Option<i64>>(7)?,
                row.get::<_, Option<String>>(8)?,
                row.get::<_, String>(9)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, action, qube, profile, path, proposal_id, generation, sha256, detail) =
                row?;
            out.push(AuditEntry {
                id,
                at,
                action,
                qube,
                profile,
                path,
                proposal_id,
                generation: generation.map(|g| to_u64(g, "generation")).transpose()?,
                sha256,
                detail: serde_json::from_str(&detail)
                    .map_err(|e| StoreError::Corrupt(format!("audit detail of {id}: {e}")))?,
            });
        }
        Ok(out)
    }
}
