//! A profile's generations as the user sees them (who, when, which files), and the push
//! bookkeeping of files removed from a profile: which qubes still have them, and the
//! record that a push removed them there.
//!
//! It reads the append-only file history and audit log; it must not rewrite either, and
//! it trusts no qube: a removal is recorded only for paths the backend asked to remove
//! and the agent's checked reply confirmed.

use std::collections::{BTreeMap, BTreeSet};

use qcs_protocol::path::RelativePath;
use qcs_protocol::profile::ProfileId;
use qcs_protocol::vm_name::VmName;
use rusqlite::params;

use super::{
    Result, Store, StoreError, action, audit, ensure_qube, now, path_from_db, qube_from_db,
    qube_settings_in, to_u64,
};

/// Who made a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenerationAuthor {
    /// Edited (or removed) by the user in the config qube.
    LocalEdit,
    /// Imported from an exported directory.
    Import,
    /// Accepted from proposal `proposal_id`, sent by `qube`.
    AcceptedProposal { qube: VmName, proposal_id: i64 },
    /// Made by rolling the profile back to generation `to`: its content equals `to`'s.
    Rollback { to: u64 },
}

/// How one file changed in a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileChange {
    Added,
    Changed,
    Removed,
}

/// One generation of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub number: u64,
    /// Unix seconds.
    pub at: i64,
    pub author: GenerationAuthor,
    /// The files this generation changed, by path.
    pub files: Vec<(RelativePath, FileChange)>,
}

/// One file a push removed from a qube (its profile no longer has it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedInQube {
    pub profile: ProfileId,
    pub path: RelativePath,
    /// The profile generation whose push removed it.
    pub generation: u64,
}

impl Store {
    /// Every generation of a profile, oldest first: its number, time, author and the
    /// files it changed.
    pub fn generations(&self, profile: &ProfileId) -> Result<Vec<Generation>> {
        if self.profile(profile)?.is_none() {
            return Err(StoreError::ProfileNotFound(profile.to_string()));
        }
        // Rollbacks: the revert's own entry (no path) names the generation it restored.
        // The earliest entry of a generation is the one written with its versions.
        let mut rollbacks: BTreeMap<i64, u64> = BTreeMap::new();
        let mut imported: BTreeSet<i64> = BTreeSet::new();
        let mut edited: BTreeSet<i64> = BTreeSet::new();
        {
            let mut stmt = self.conn.prepare(
                "SELECT generation, action, path IS NULL, detail FROM audit_log \
                 WHERE profile = ?1 AND generation IS NOT NULL AND action IN (?2, ?3, ?4) \
                 ORDER BY id",
            )?;
            let rows = stmt.query_map(
                params![
                    profile.as_str(),
                    action::REVERT,
                    action::IMPORT,
                    action::FILE_EDIT
                ],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )?;
            for row in rows {
                let (generation, action_name, whole, detail) = row?;
                match action_name.as_str() {
                    action::REVERT if whole => {
                        let to = serde_json::from_str::<serde_json::Value>(&detail)
                            .ok()
                            .and_then(|d| d.get("to_generation").and_then(|g| g.as_u64()));
                        if let Some(to) = to {
                            rollbacks.entry(generation).or_insert(to);
                        }
                    }
                    action::IMPORT => {
                        imported.insert(generation);
                    }
                    action::FILE_EDIT => {
                        edited.insert(generation);
                    }
                    _ => {}
                }
            }
        }
        let mut stmt = self.conn.prepare(
            "SELECT generation, path, deleted, proposal_id, source_qube, created_at \
             FROM file_versions WHERE profile = ?1 ORDER BY generation, path",
        )?;
        type Row = (i64, String, bool, Option<i64>, Option<String>, i64);
        let rows = stmt.query_map([profile.as_str()], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
        let mut present: BTreeSet<RelativePath> = BTreeSet::new();
        let mut out: Vec<Generation> = Vec::new();
        for row in rows {
            let (generation, path, deleted, proposal_id, source_qube, created_at): Row = row?;
            let path = path_from_db(&path)?;
            let number = to_u64(generation, "generation")?;
            if out.last().is_none_or(|g| g.number != number) {
                let author = match (proposal_id, source_qube) {
                    (Some(proposal_id), Some(qube)) => GenerationAuthor::AcceptedProposal {
                        qube: qube_from_db(&qube)?,
                        proposal_id,
                    },
                    _ if imported.contains(&generation) => GenerationAuthor::Import,
                    _ => match rollbacks.get(&generation) {
                        Some(to) if !edited.contains(&generation) => {
                            GenerationAuthor::Rollback { to: *to }
                        }
                        _ => GenerationAuthor::LocalEdit,
                    },
                };
                out.push(Generation {
                    number,
                    at: created_at,
                    author,
                    files: Vec::new(),
                });
            }
            let change = if deleted {
                present.remove(&path);
                FileChange::Removed
            } else if present.insert(path.clone()) {
                FileChange::Added
            } else {
                FileChange::Changed
            };
            if let Some(current) = out.last_mut() {
                current.at = current.at.max(created_at);
                current.files.push((path, change));
            }
        }
        Ok(out)
    }

    /// The files we last pushed to `qube` from a profile still assigned there that the
    /// profile no longer has: a push plans their removal.
    pub fn removed_since_push(&self, qube: &VmName) -> Result<Vec<crate::plan::RemovedFile>> {
        let assigned = qube_settings_in(&self.conn, qube)?.assigned;
        let mut out = Vec::new();
        let mut stmt = self.conn.prepare(
            "SELECT qf.path, p.generation FROM qube_files AS qf \
             JOIN profiles AS p ON p.id = qf.pushed_profile \
             WHERE qf.qube = ?1 AND qf.pushed_profile = ?2 AND qf.pushed_sha256 IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM file_versions AS fv WHERE fv.profile = ?2 \
                 AND fv.path = qf.path AND fv.deleted = 0 AND fv.generation = \
                 (SELECT max(generation) FROM file_versions WHERE profile = ?2 AND path = qf.path)) \
             ORDER BY qf.path",
        )?;
        for profile in assigned {
            let rows = stmt.query_map(params![qube.as_str(), profile.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (path, generation) = row?;
                out.push(crate::plan::RemovedFile {
                    profile: profile.clone(),
                    path: path_from_db(&path)?,
                    generation: to_u64(generation, "generation")?,
                });
            }
        }
        Ok(out)
    }

    /// Records that a push removed `files` from `qube` (or found them gone): the path is
    /// no longer ours there and was seen absent; one audit entry per file, atomically.
    pub fn record_removed(
        &mut self,
        qube: &VmName,
        files: &[RemovedInQube],
        detail: serde_json::Value,
    ) -> Result<()> {
        let tx = self.write_tx()?;
        ensure_qube(&tx, qube.as_str())?;
        let at = now();
        for file in files {
            tx.execute(
                "UPDATE qube_files SET pushed_profile = NULL, pushed_sha256 = NULL, \
                     pushed_mode = NULL, pushed_generation = NULL, pushed_at = NULL, \
                     seen_kind = 'absent', seen_sha256 = NULL, seen_mode = NULL, \
                     seen_detail = NULL, seen_at = ?3 \
                 WHERE qube = ?1 AND path = ?2",
                params![qube.as_str(), file.path.as_str(), at],
            )?;
            audit(
                &tx,
                action::PUSH_REMOVE,
                Some(qube.as_str()),
                Some(file.profile.as_str()),
                Some(file.path.as_str()),
                None,
                Some(file.generation),
                None,
                serde_json::json!({ "job": detail }),
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The newest apply into `qube` for `profile` that can be undone from its agent-side
    /// backup: the backup id and the paths that apply wrote or removed (a reply naming
    /// any other path is not believed). `None` when no push of it left a backup, or the
    /// newest one was undone already.
    pub fn undoable_apply(
        &self,
        qube: &VmName,
        profile: &ProfileId,
    ) -> Result<Option<(String, Vec<RelativePath>)>> {
        let mut stmt = self.conn.prepare(
            "SELECT action, path, detail FROM audit_log \
             WHERE qube = ?1 AND profile = ?2 AND action IN (?3, ?4, ?5) \
             ORDER BY id DESC LIMIT 10000",
        )?;
        let rows = stmt.query_map(
            params![
                qube.as_str(),
                profile.as_str(),
                action::PUSH,
                action::PUSH_REMOVE,
                action::UNDO
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )?;
        let prefix = format!("{profile}:");
        let mut undone: BTreeSet<String> = BTreeSet::new();
        let mut chosen: Option<String> = None;
        let mut paths: BTreeSet<RelativePath> = BTreeSet::new();
        for row in rows {
            let (action_name, path, detail) = row?;
            let detail: serde_json::Value = serde_json::from_str(&detail).unwrap_or_default();
            if action_name == action::UNDO {
                if let Some(backup) = detail.get("backup").and_then(|b| b.as_str()) {
                    undone.insert(backup.to_owned());
                }
                continue;
            }
            let backups: Vec<String> = detail
                .pointer("/job/backups")
                .and_then(|b| b.as_array())
                .map(|list| {
                    list.iter()
                        .filter_map(|b| b.as_str()?.strip_prefix(&prefix))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let Some(backup) = backups.into_iter().next() else {
                continue;
            };
            match &chosen {
                // The newest apply with a backup decides: an undone one is not undone
                // twice, and older ones are not reached past it.
                None if undone.contains(&backup) => return Ok(None),
                None => chosen = Some(backup.clone()),
                Some(c) if *c != backup => break,
                Some(_) => {}
            }
            if let Some(path) = path {
                paths.insert(path_from_db(&path)?);
            }
        }
        Ok(chosen.map(|backup| (backup, paths.into_iter().collect())))
    }

    /// Records that the last apply into `qube` for `profile` was undone from `backup`,
    /// with the outcome per path (what the agent's checked reply said).
    pub fn record_undo(
        &mut self,
        qube: &VmName,
        profile: &ProfileId,
        backup: &str,
        outcomes: serde_json::Value,
    ) -> Result<()> {
        let tx = self.write_tx()?;
        ensure_qube(&tx, qube.as_str())?;
        audit(
            &tx,
            action::UNDO,
            Some(qube.as_str()),
            Some(profile.as_str()),
            None,
            None,
            None,
            None,
            serde_json::json!({ "backup": backup, "files": outcomes }),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Rolls a profile back to `generation`: a new generation whose content equals it
    /// (audited as a rollback), which a push then carries to the qubes. Refused when the
    /// profile already has that content (nothing would change).
    pub fn rollback_profile(&mut self, profile: &ProfileId, generation: u64) -> Result<u64> {
        let current = self
            .profile(profile)?
            .ok_or_else(|| StoreError::ProfileNotFound(profile.to_string()))?
            .generation;
        let new = self.revert_to_generation(profile, generation)?;
        if new == current {
            return Err(StoreError::SameContent {
                profile: profile.to_string(),
                generation,
            });
        }
        Ok(new)
    }
}
