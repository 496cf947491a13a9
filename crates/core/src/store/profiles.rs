//! Profiles and their file history: creating and describing profiles, editing, removing
//! and reverting files (each change one new generation of versions, append-only), and
//! reading the current files or those of any generation.
//!
//! It must not talk to qubes: accepted proposals reach here through `proposals.rs`, and
//! everything written is checked (never-sync, sizes, modes) before the transaction commits.

use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_FILES};
use qcs_protocol::mode::{FileMode, validate_mode};
use qcs_protocol::path::RelativePath;
use qcs_protocol::profile::ProfileId;
use qcs_protocol::sha256_hex;
use qcs_protocol::vm_name::VmName;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::{
    MAX_DESCRIPTION_BYTES, Result, Store, StoreError, action, audit, check_size,
    check_syncable_path, mode_from_db, now, path_from_db, profile_from_db, qube_from_db, to_i64,
    to_u64, variables,
};

/// A profile: a named set of files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: ProfileId,
    pub description: String,
    /// Bumped by every change of the profile's files; 0 for a profile without any.
    pub generation: u64,
    pub created_at: i64,
}

/// Where a file version came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Edited (or imported) by the user in the config qube.
    LocalEdit,
    /// Accepted from proposal `proposal_id`, sent by `qube`.
    AcceptedProposal { qube: VmName, proposal_id: i64 },
}

/// One version of one file of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    pub id: i64,
    pub profile: ProfileId,
    pub path: RelativePath,
    /// The profile generation this version was created in.
    pub generation: u64,
    /// `None` for a removal (tombstone).
    pub content: Option<FileContent>,
    pub provenance: Provenance,
    pub created_at: i64,
}

/// Content, hash and mode of a present file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub mode: FileMode,
}

/// A current (present) file of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentFile {
    pub version_id: i64,
    pub path: RelativePath,
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub mode: FileMode,
    /// The generation the file last changed in.
    pub generation: u64,
    pub provenance: Provenance,
}

/// One file to write with [`Store::put_files`].
#[derive(Debug, Clone, Copy)]
pub struct FileEdit<'a> {
    pub path: &'a RelativePath,
    /// `None` removes the file.
    pub content: Option<&'a [u8]>,
    pub mode: u32,
}

const FILE_VERSION_COLUMNS: &str = "id, profile, path, generation, deleted, content, sha256, \
                                    mode, provenance, proposal_id, source_qube, created_at";

fn file_version_from_row(row: &Row<'_>) -> rusqlite::Result<RawVersion> {
    Ok(RawVersion {
        id: row.get(0)?,
        profile: row.get(1)?,
        path: row.get(2)?,
        generation: row.get(3)?,
        deleted: row.get(4)?,
        content: row.get(5)?,
        sha256: row.get(6)?,
        mode: row.get(7)?,
        provenance: row.get(8)?,
        proposal_id: row.get(9)?,
        source_qube: row.get(10)?,
        created_at: row.get(11)?,
    })
}

struct RawVersion {
    id: i64,
    profile: String,
    path: String,
    generation: i64,
    deleted: bool,
    content: Option<Vec<u8>>,
    sha256: Option<String>,
    mode: Option<i64>,
    provenance: String,
    proposal_id: Option<i64>,
    source_qube: Option<String>,
    created_at: i64,
}

impl RawVersion {
    fn into_version(self) -> Result<FileVersion> {
        let provenance = match (self.provenance.as_str(), self.proposal_id, self.source_qube) {
            ("local", _, _) => Provenance::LocalEdit,
            ("proposal", Some(proposal_id), Some(qube)) => Provenance::AcceptedProposal {
                qube: qube_from_db(&qube)?,
                proposal_id,
            },
            (other, _, _) => return Err(StoreError::Corrupt(format!("provenance {other:?}"))),
        };
        let content = match (self.deleted, self.content, self.sha256, self.mode) {
            (true, _, _, _) => None,
            (false, Some(bytes), Some(sha256), Some(mode)) => Some(FileContent {
                bytes,
                sha256,
                mode: mode_from_db(mode)?,
            }),
            _ => return Err(StoreError::Corrupt(format!("file version {}", self.id))),
        };
        Ok(FileVersion {
            id: self.id,
            profile: profile_from_db(&self.profile)?,
            path: path_from_db(&self.path)?,
            generation: to_u64(self.generation, "generation")?,
            content,
            provenance,
            created_at: self.created_at,
        })
    }
}

impl FileVersion {
    pub(super) fn into_current(self) -> Option<CurrentFile> {
        let content = self.content?;
        Some(CurrentFile {
            version_id: self.id,
            path: self.path,
            bytes: content.bytes,
            sha256: content.sha256,
            mode: content.mode,
            generation: self.generation,
            provenance: self.provenance,
        })
    }
}

impl Store {
    /// Creates an empty profile.
    pub fn create_profile(&mut self, id: &ProfileId, description: &str) -> Result<Profile> {
        check_size("description", description.len(), MAX_DESCRIPTION_BYTES)?;
        let tx = self.write_tx()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM profiles WHERE id = ?1)",
            [id.as_str()],
            |r| r.get(0),
        )?;
        if exists {
            return Err(StoreError::ProfileExists(id.to_string()));
        }
        tx.execute(
            "INSERT INTO profiles (id, description, created_at) VALUES (?1, ?2, ?3)",
            params![id.as_str(), description, now()],
        )?;
        audit(
            &tx,
            action::PROFILE_CREATE,
            None,
            Some(id.as_str()),
            None,
            None,
            Some(0),
            None,
            serde_json::json!({ "description": description }),
        )?;
        tx.commit()?;
        self.profile(id)?
            .ok_or_else(|| StoreError::ProfileNotFound(id.to_string()))
    }

    /// Changes a profile's description.
    pub fn set_profile_description(&mut self, id: &ProfileId, description: &str) -> Result<()> {
        check_size("description", description.len(), MAX_DESCRIPTION_BYTES)?;
        let tx = self.write_tx()?;
        let changed = tx.execute(
            "UPDATE profiles SET description = ?2 WHERE id = ?1",
            params![id.as_str(), description],
        )?;
        if changed == 0 {
            return Err(StoreError::ProfileNotFound(id.to_string()));
        }
        audit(
            &tx,
            action::PROFILE_DESCRIBE,
            None,
            Some(id.as_str()),
            None,
            None,
            None,
            None,
            serde_json::json!({ "description": description }),
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn profile(&self, id: &ProfileId) -> Result<Option<Profile>> {
        self.conn
            .query_row(
                "SELECT id, description, generation, created_at FROM profiles WHERE id = ?1",
                [id.as_str()],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                },
            )
            .optional()?
            .map(|(id, description, generation, created_at)| {
                Ok(Profile {
                    id: profile_from_db(&id)?,
                    description,
                    generation: to_u64(generation, "generation")?,
                    created_at,
                })
            })
            .transpose()
    }

    /// All profiles, by id.
    pub fn profiles(&self) -> Result<Vec<Profile>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, description, generation, created_at FROM profiles ORDER BY id")?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, description, generation, created_at) = row?;
            out.push(Profile {
                id: profile_from_db(&id)?,
                description,
                generation: to_u64(generation, "generation")?,
                created_at,
            });
        }
        Ok(out)
    }

    // ----- files -----

    /// Writes one file of a profile as a local edit. Returns the new generation, or the
    /// current one if the file already had this content and mode (no new version then).
    pub fn put_file(
        &mut self,
        profile: &ProfileId,
        path: &RelativePath,
        content: &[u8],
        mode: u32,
    ) -> Result<u64> {
        // An edit of a template must still parse (variables.rs).
        variables::check_template_edit(&self.conn, profile, path, content)?;
        self.put_files(
            profile,
            &[FileEdit {
                path,
                content: Some(content),
                mode,
            }],
        )
    }

    /// Removes a file from a profile (a tombstone in the history; older versions stay).
    pub fn remove_file(&mut self, profile: &ProfileId, path: &RelativePath) -> Result<u64> {
        if self.current_file(profile, path)?.is_none() {
            return Err(StoreError::FileNotFound {
                profile: profile.to_string(),
                path: path.to_string(),
            });
        }
        self.put_files(
            profile,
            &[FileEdit {
                path,
                content: None,
                mode: 0o644,
            }],
        )
    }

    /// Applies several local edits to one profile as one generation, atomically.
    pub fn put_files(&mut self, profile: &ProfileId, edits: &[FileEdit<'_>]) -> Result<u64> {
        let tx = self.write_tx()?;
        let generation = apply_edits(&tx, profile, edits, None, action::FILE_EDIT)?;
        tx.commit()?;
        Ok(generation)
    }

    /// The current (present) files of a profile, by path.
    pub fn current_files(&self, profile: &ProfileId) -> Result<Vec<CurrentFile>> {
        current_files_in(&self.conn, profile)
    }

    pub fn current_file(
        &self,
        profile: &ProfileId,
        path: &RelativePath,
    ) -> Result<Option<CurrentFile>> {
        Ok(latest_version(&self.conn, profile, path)?.and_then(FileVersion::into_current))
    }

    /// Every version of one file, oldest first (tombstones included).
    pub fn file_history(
        &self,
        profile: &ProfileId,
        path: &RelativePath,
    ) -> Result<Vec<FileVersion>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {FILE_VERSION_COLUMNS} FROM file_versions \
             WHERE profile = ?1 AND path = ?2 ORDER BY generation"
        ))?;
        let rows = stmt.query_map(
            params![profile.as_str(), path.as_str()],
            file_version_from_row,
        )?;
        rows.map(|r| r?.into_version()).collect()
    }

    /// The files of a profile as they were at `generation` (for store-side rollback).
    pub fn files_at_generation(
        &self,
        profile: &ProfileId,
        generation: u64,
    ) -> Result<Vec<CurrentFile>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {FILE_VERSION_COLUMNS} FROM file_versions AS fv \
             WHERE profile = ?1 AND generation = (SELECT max(generation) FROM file_versions \
                 WHERE profile = fv.profile AND path = fv.path AND generation <= ?2) \
             ORDER BY path"
        ))?;
        let rows = stmt.query_map(
            params![profile.as_str(), to_i64(generation)?],
            file_version_from_row,
        )?;
        let mut out = Vec::new();
        for row in rows {
            if let Some(file) = row?.into_version()?.into_current() {
                out.push(file);
            }
        }
        Ok(out)
    }

    /// Store-side rollback: makes the profile's files what they were at `generation`, as a
    /// new generation (history is kept, so the revert itself can be reverted). Returns the
    /// new generation, or the current one if nothing differs.
    pub fn revert_to_generation(&mut self, profile: &ProfileId, generation: u64) -> Result<u64> {
        let target = self.files_at_generation(profile, generation)?;
        let templates: std::collections::BTreeSet<RelativePath> = self
            .templated_files_at(profile, generation)?
            .into_keys()
            .collect();
        let tx = self.write_tx()?;
        let current_generation = {
            let g: i64 = tx
                .query_row(
                    "SELECT generation FROM profiles WHERE id = ?1",
                    [profile.as_str()],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::ProfileNotFound(profile.to_string()))?;
            to_u64(g, "generation")?
        };
        if generation > current_generation {
            return Err(StoreError::NoSuchGeneration {
                profile: profile.to_string(),
                generation,
                current: current_generation,
            });
        }
        let current = current_meta_in(&tx, profile)?;
        let wanted: std::collections::BTreeSet<&RelativePath> =
            target.iter().map(|f| &f.path).collect();
        let removed: Vec<&RelativePath> = current.keys().filter(|p| !wanted.contains(p)).collect();
        let mut edits: Vec<FileEdit<'_>> = target
            .iter()
            .map(|f| FileEdit {
                path: &f.path,
                content: Some(&f.bytes),
                mode: f.mode.bits(),
            })
            .collect();
        edits.extend(removed.into_iter().map(|path| FileEdit {
            path,
            content: None,
            mode: 0o644,
        }));
        // Each file comes back with the template flag it had in `generation`.
        let new_generation =
            apply_edits_flagged(&tx, profile, &edits, None, action::REVERT, Some(&templates))?;
        if new_generation == current_generation {
            // Nothing differed: no generation was made, so none is labelled a rollback.
            return Ok(new_generation);
        }
        audit(
            &tx,
            action::REVERT,
            None,
            Some(profile.as_str()),
            None,
            None,
            Some(new_generation),
            None,
            serde_json::json!({ "to_generation": generation }),
        )?;
        tx.commit()?;
        Ok(new_generation)
    }
}

pub(super) fn require_profile(tx: &Connection, profile: &ProfileId) -> Result<()> {
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM profiles WHERE id = ?1)",
        [profile.as_str()],
        |r| r.get(0),
    )?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::ProfileNotFound(profile.to_string()))
    }
}

pub(super) fn latest_version(
    conn: &Connection,
    profile: &ProfileId,
    path: &RelativePath,
) -> Result<Option<FileVersion>> {
    conn.query_row(
        &format!(
            "SELECT {FILE_VERSION_COLUMNS} FROM file_versions WHERE profile = ?1 AND path = ?2 \
             ORDER BY generation DESC LIMIT 1"
        ),
        params![profile.as_str(), path.as_str()],
        file_version_from_row,
    )
    .optional()?
    .map(RawVersion::into_version)
    .transpose()
}

pub(super) fn current_files_in(conn: &Connection, profile: &ProfileId) -> Result<Vec<CurrentFile>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {FILE_VERSION_COLUMNS} FROM file_versions AS fv \
         WHERE profile = ?1 AND deleted = 0 AND generation = (SELECT max(generation) \
             FROM file_versions WHERE profile = fv.profile AND path = fv.path) \
         ORDER BY path"
    ))?;
    let rows = stmt.query_map([profile.as_str()], file_version_from_row)?;
    let mut out = Vec::new();
    for row in rows {
        if let Some(file) = row?.into_version()?.into_current() {
            out.push(file);
        }
    }
    Ok(out)
}

/// Path → (sha256, mode) of the current files of a profile, without their contents.
pub(super) fn current_meta_in(
    conn: &Connection,
    profile: &ProfileId,
) -> Result<std::collections::BTreeMap<RelativePath, (String, FileMode)>> {
    let mut stmt = conn.prepare(
        "SELECT path, sha256, mode FROM file_versions AS fv \
         WHERE profile = ?1 AND deleted = 0 AND generation = (SELECT max(generation) \
             FROM file_versions WHERE profile = fv.profile AND path = fv.path)",
    )?;
    let rows = stmt.query_map([profile.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut out = std::collections::BTreeMap::new();
    for row in rows {
        let (path, sha256, mode) = row?;
        out.insert(path_from_db(&path)?, (sha256, mode_from_db(mode)?));
    }
    Ok(out)
}

/// Writes `edits` to `profile` as one new generation inside `tx`, with one audit entry per
/// changed file (unless `accepted_from` is set: the caller audits the acceptance). Edits
/// that change nothing are skipped; if none changes anything the generation stays. A new
/// version keeps the template flag of the version before it.
pub(super) fn apply_edits(
    tx: &Transaction<'_>,
    profile: &ProfileId,
    edits: &[FileEdit<'_>],
    accepted_from: Option<(&str, i64)>,
    action_name: &str,
) -> Result<u64> {
    apply_edits_flagged(tx, profile, edits, accepted_from, action_name, None)
}

/// [`apply_edits`], with the template flag of every written file given: a file is a
/// template exactly when its path is in `templates` (a revert restores the flags of the
/// generation it goes back to). A flag change alone is a change (a new version with the
/// same content), and a file that becomes a template must parse.
pub(super) fn apply_edits_flagged(
    tx: &Transaction<'_>,
    profile: &ProfileId,
    edits: &[FileEdit<'_>],
    accepted_from: Option<(&str, i64)>,
    action_name: &str,
    templates: Option<&std::collections::BTreeSet<RelativePath>>,
) -> Result<u64> {
    require_profile(tx, profile)?;
    let current_generation: i64 = tx.query_row(
        "SELECT generation FROM profiles WHERE id = ?1",
        [profile.as_str()],
        |r| r.get(0),
    )?;
    let mut current = current_meta_in(tx, profile)?;
    // Validate everything first, so a bad edit changes nothing.
    let mut checked = Vec::with_capacity(edits.len());
    let mut seen_paths = std::collections::BTreeSet::new();
    for edit in edits {
        // Removing a never-sync file that got in somehow must stay possible.
        let path = edit.path;
        if edit.content.is_some() {
            check_syncable_path(path)?;
        }
        if !seen_paths.insert(path) {
            return Err(StoreError::DuplicatePath(path.to_string()));
        }
        let content = match edit.content {
            Some(bytes) => {
                check_size("file", bytes.len(), MAX_FILE_BYTES)?;
                Some((bytes, validate_mode(edit.mode)?))
            }
            None => None,
        };
        // The flag this edit sets: `None` keeps the flag of the version before.
        let flag = match (templates, content) {
            (Some(set), Some((bytes, _))) => {
                let template = set.contains(path);
                if template {
                    crate::template::Template::parse_bytes(bytes).map_err(|source| {
                        super::TemplateRefusal::Syntax {
                            path: path.to_string(),
                            source,
                        }
                    })?;
                }
                Some(template)
            }
            _ => None,
        };
        checked.push((path, content, flag));
    }
    let generation = current_generation + 1;
    let mut changed = false;
    let at = now();
    for (path, content, flag) in checked {
        let before = current.get(path);
        let (sha, mode) = match content {
            Some((bytes, mode)) => {
                let sha = sha256_hex(bytes);
                let same_flag = match flag {
                    Some(template) => variables::is_template_in(tx, profile, path)? == template,
                    None => true,
                };
                if accepted_from.is_none()
                    && same_flag
                    && before.is_some_and(|(s, m)| *s == sha && *m == mode)
                {
                    continue;
                }
                (Some(sha), Some(mode))
            }
            None => {
                if before.is_none() {
                    continue;
                }
                (None, None)
            }
        };
        let (provenance, proposal_id, source_qube) = match accepted_from {
            Some((qube, id)) => ("proposal", Some(id), Some(qube)),
            None => ("local", None, None),
        };
        // A new version keeps the template flag of the one before it (variables.rs), unless
        // the caller gave it (?12).
        tx.execute(
            "INSERT INTO file_versions (profile, path, generation, deleted, content, sha256, mode, \
                 provenance, proposal_id, source_qube, created_at, template) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
                 CASE WHEN ?4 THEN 0 ELSE coalesce(?12, (SELECT template FROM file_versions \
                     WHERE profile = ?1 AND path = ?2 ORDER BY generation DESC LIMIT 1), 0) END)",
            params![
                profile.as_str(),
                path.as_str(),
                generation,
                content.is_none(),
                content.map(|(bytes, _)| bytes),
                sha,
                mode.map(FileMode::bits),
                provenance,
                proposal_id,
                source_qube,
                at,
                flag
            ],
        )?;
        changed = true;
        if accepted_from.is_none() {
            let name = if content.is_some() {
                action_name
            } else {
                action::FILE_REMOVE
            };
            audit(
                tx,
                name,
                None,
                Some(profile.as_str()),
                Some(path.as_str()),
                None,
                Some(to_u64(generation, "generation")?),
                sha.as_deref(),
                serde_json::json!({ "mode": mode.map(|m| m.to_string()) }),
            )?;
        }
        match content {
            Some((bytes, mode)) => {
                current.insert(path.clone(), (sha256_hex(bytes), mode));
            }
            None => {
                current.remove(path);
            }
        }
    }
    if current.len() > MAX_FILES {
        return Err(StoreError::TooManyFiles(profile.to_string()));
    }
    if !changed {
        return to_u64(current_generation, "generation");
    }
    tx.execute(
        "UPDATE profiles SET generation = ?2 WHERE id = ?1",
        params![profile.as_str(), generation],
    )?;
    to_u64(generation, "generation")
}
