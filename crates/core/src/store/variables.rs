//! Templates and variables in the store (DESIGN §5, per-qube variation): which file
//! versions are templates, the user's variables per qube, per tag and as a profile's
//! default, and the rendered files last planned per qube × path (the base of drift and of
//! the three-way view of a templated file).
//!
//! A file becomes a template only by a local edit in the config qube: marking the current
//! version of a file that came from a qube's proposal is refused (its text was written by
//! that qube), and accepting a proposal for a templated file is refused (accepting would
//! write one qube's rendered text over the template). The template flag is kept by the
//! versions that follow (set by the store in `apply_edits`); a removal clears it; a revert
//! to generation N gives each file the flag it had in N (`apply_edits_flagged`). The flag is
//! a column of each file version, so it is versioned with the content.
//!
//! It must not render anything: rendering is `crate::template`, called by the backend
//! with the Admin API's facts.

use std::collections::{BTreeMap, BTreeSet};

use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_FILES};
use qcs_protocol::mode::validate_mode;
use qcs_protocol::path::RelativePath;
use qcs_protocol::profile::ProfileId;
use qcs_protocol::sha256_hex;
use qcs_protocol::vm_name::VmName;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    FileVersion, Provenance, Result, Store, StoreError, audit, check_hash, check_size,
    check_syncable_path, ensure_qube, latest_version, now, path_from_db, profile_from_db,
    qube_from_db, require_profile, to_u64,
};
use crate::template::{self, Template};

/// Audit actions of this module.
pub mod action {
    /// A file was written with its template flag set or cleared.
    pub const FILE_TEMPLATE: &str = "file-template";
    pub const VARIABLE_SET: &str = "variable-set";
    pub const VARIABLE_UNSET: &str = "variable-unset";
}

/// Most variables in one scope (a qube, a tag, a profile).
pub const MAX_VARIABLES_PER_SCOPE: usize = 256;

/// Why the store refused a template or variable operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateRefusal {
    #[error("{0}")]
    InvalidName(template::SyntaxError),
    #[error("invalid value of variable {name}: {source}")]
    InvalidValue {
        name: String,
        source: template::ValueError,
    },
    #[error("variable {name} is not set for {scope}")]
    NotSet { scope: String, name: String },
    #[error("{scope} would have more than {MAX_VARIABLES_PER_SCOPE} variables")]
    TooManyVariables { scope: String },
    #[error("{path} is not a valid template: {source}")]
    Syntax {
        path: String,
        source: template::ParseError,
    },
    #[error(
        "the current version of {path} was accepted from qube {qube} (proposal #{proposal}): \
         a template is written in the config qube — add it with `profile add-file --from FILE \
         --template`"
    )]
    FromProposal {
        path: String,
        qube: String,
        proposal: i64,
    },
    #[error(
        "{path} in profile {profile} is a template: a proposal cannot be accepted into it; \
         edit the template instead"
    )]
    TemplatedFile { profile: String, path: String },
}

/// Where a variable is set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum VariableScope {
    Qube(VmName),
    /// A Qubes tag (checked with [`template::validate_tag_name`]).
    Tag(String),
    ProfileDefault(ProfileId),
}

impl std::fmt::Display for VariableScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VariableScope::Qube(q) => write!(f, "qube {q}"),
            VariableScope::Tag(t) => write!(f, "tag {t}"),
            VariableScope::ProfileDefault(p) => write!(f, "profile {p}"),
        }
    }
}

/// One variable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VariableEntry {
    pub scope: VariableScope,
    pub name: String,
    pub value: String,
}

/// Refuses to accept a proposal into `profile`/`path` when its current version is a
/// template (inside the accept's transaction).
pub(super) fn refuse_templated(
    conn: &Connection,
    profile: &ProfileId,
    path: &RelativePath,
) -> Result<()> {
    if is_template_in(conn, profile, path)? {
        return Err(TemplateRefusal::TemplatedFile {
            profile: profile.to_string(),
            path: path.to_string(),
        }
        .into());
    }
    Ok(())
}

/// Sets the template flag of the current version of `path` inside `tx`: when it differs,
/// a new version with the same content and the flag in `generation` (the caller's next
/// generation, shared by the flags it sets; a template must parse). Nothing for a
/// removed or missing file. Returns whether it changed.
pub(super) fn set_flag_in(
    tx: &rusqlite::Transaction<'_>,
    profile: &ProfileId,
    path: &RelativePath,
    template: bool,
    generation: i64,
) -> Result<bool> {
    let Some(file) = latest_version(tx, profile, path)?.and_then(FileVersion::into_current) else {
        return Ok(false);
    };
    if is_template_in(tx, profile, path)? == template {
        return Ok(false);
    }
    if template {
        Template::parse_bytes(&file.bytes).map_err(|source| TemplateRefusal::Syntax {
            path: path.to_string(),
            source,
        })?;
    }
    tx.execute(
        "INSERT INTO file_versions (profile, path, generation, deleted, content, sha256, \
             mode, provenance, created_at, template) \
         VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, 'local', ?7, ?8)",
        params![
            profile.as_str(),
            path.as_str(),
            generation,
            file.bytes,
            file.sha256,
            file.mode.bits(),
            now(),
            template
        ],
    )?;
    tx.execute(
        "UPDATE profiles SET generation = ?2 WHERE id = ?1",
        params![profile.as_str(), generation],
    )?;
    audit(
        tx,
        action::FILE_TEMPLATE,
        None,
        Some(profile.as_str()),
        Some(path.as_str()),
        None,
        Some(to_u64(generation, "generation")?),
        Some(&file.sha256),
        serde_json::json!({ "mode": file.mode.to_string(), "template": template }),
    )?;
    Ok(true)
}

/// Refuses an edit of a templated file whose new text does not parse: the template would
/// fail every qube's plan. (An edit of a plain file is not checked.)
pub(super) fn check_template_edit(
    conn: &Connection,
    profile: &ProfileId,
    path: &RelativePath,
    content: &[u8],
) -> Result<()> {
    if is_template_in(conn, profile, path)? {
        Template::parse_bytes(content).map_err(|source| TemplateRefusal::Syntax {
            path: path.to_string(),
            source,
        })?;
    }
    Ok(())
}

pub(super) fn is_template_in(
    conn: &Connection,
    profile: &ProfileId,
    path: &RelativePath,
) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT template FROM file_versions WHERE profile = ?1 AND path = ?2 \
             ORDER BY generation DESC LIMIT 1",
            params![profile.as_str(), path.as_str()],
            |r| r.get::<_, bool>(0),
        )
        .optional()?
        .unwrap_or(false))
}

fn scope_key(scope: &VariableScope) -> Result<(&'static str, &'static str, String)> {
    Ok(match scope {
        VariableScope::Qube(q) => ("qube_variables", "qube", q.to_string()),
        VariableScope::Tag(t) => {
            template::validate_tag_name(t).map_err(TemplateRefusal::InvalidName)?;
            ("tag_variables", "tag", t.clone())
        }
        VariableScope::ProfileDefault(p) => ("profile_variables", "profile", p.to_string()),
    })
}

impl Store {
    /// Whether the current version of `path` in `profile` is a template.
    pub fn is_template(&self, profile: &ProfileId, path: &RelativePath) -> Result<bool> {
        is_template_in(&self.conn, profile, path)
    }

    /// Whether file version `version_id` is a template.
    pub fn is_template_version(&self, version_id: i64) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT template FROM file_versions WHERE id = ?1",
                [version_id],
                |r| r.get::<_, bool>(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    /// The current templated files of `profile`: path → sha256 of the template's text.
    pub fn templated_files(&self, profile: &ProfileId) -> Result<BTreeMap<RelativePath, String>> {
        self.templated_files_at(profile, u64::MAX)
    }

    /// The templated files of `profile` as it was at `generation` (what a rollback to
    /// that generation writes): path → sha256 of the template's text.
    pub fn templated_files_at(
        &self,
        profile: &ProfileId,
        generation: u64,
    ) -> Result<BTreeMap<RelativePath, String>> {
        let generation = i64::try_from(generation).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare(
            "SELECT path, sha256 FROM file_versions AS fv \
             WHERE profile = ?1 AND deleted = 0 AND template = 1 AND generation = \
                 (SELECT max(generation) FROM file_versions \
                  WHERE profile = fv.profile AND path = fv.path AND generation <= ?2)",
        )?;
        let rows = stmt.query_map(params![profile.as_str(), generation], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (path, sha) = row?;
            out.insert(path_from_db(&path)?, sha);
        }
        Ok(out)
    }

    /// Writes one file of a profile as a local edit and sets its template flag, as one
    /// new generation. `content: None` keeps the current content (marking or unmarking
    /// an existing file); `mode: None` keeps the current mode (0644 for a new file). A
    /// template must parse, and a file whose current version came from a proposal cannot
    /// be marked without new content from the config qube. Returns the generation (the
    /// current one when nothing changes).
    pub fn put_template_file(
        &mut self,
        profile: &ProfileId,
        path: &RelativePath,
        content: Option<&[u8]>,
        mode: Option<u32>,
        template: bool,
    ) -> Result<u64> {
        if let Some(bytes) = content {
            check_size("file", bytes.len(), MAX_FILE_BYTES)?;
        }
        let tx = self.write_tx()?;
        require_profile(&tx, profile)?;
        let current = latest_version(&tx, profile, path)?.and_then(FileVersion::into_current);
        let was_template = current.is_some() && is_template_in(&tx, profile, path)?;
        let bytes: Vec<u8> = match (content, &current) {
            (Some(bytes), _) => bytes.to_vec(),
            (None, Some(file)) => {
                if template
                    && let Provenance::AcceptedProposal { qube, proposal_id } = &file.provenance
                {
                    return Err(TemplateRefusal::FromProposal {
                        path: path.to_string(),
                        qube: qube.to_string(),
                        proposal: *proposal_id,
                    }
                    .into());
                }
                file.bytes.clone()
            }
            (None, None) => {
                return Err(StoreError::FileNotFound {
                    profile: profile.to_string(),
                    path: path.to_string(),
                });
            }
        };
        check_syncable_path(path)?;
        if template {
            Template::parse_bytes(&bytes).map_err(|source| TemplateRefusal::Syntax {
                path: path.to_string(),
                source,
            })?;
        }
        let mode = validate_mode(
            mode.or(current.as_ref().map(|f| f.mode.bits()))
                .unwrap_or(0o644),
        )?;
        let sha = sha256_hex(&bytes);
        let generation: i64 = tx.query_row(
            "SELECT generation FROM profiles WHERE id = ?1",
            [profile.as_str()],
            |r| r.get(0),
        )?;
        if let Some(file) = &current
            && file.sha256 == sha
            && file.mode == mode
            && was_template == template
        {
            return to_u64(generation, "generation");
        }
        if current.is_none() {
            let present: i64 = tx.query_row(
                "SELECT count(*) FROM file_versions AS fv WHERE profile = ?1 AND deleted = 0 \
                 AND generation = (SELECT max(generation) FROM file_versions \
                     WHERE profile = fv.profile AND path = fv.path)",
                [profile.as_str()],
                |r| r.get(0),
            )?;
            if usize::try_from(present).unwrap_or(usize::MAX) >= MAX_FILES {
                return Err(StoreError::TooManyFiles(profile.to_string()));
            }
        }
        let generation = generation + 1;
        tx.execute(
            "INSERT INTO file_versions (profile, path, generation, deleted, content, sha256, \
                 mode, provenance, created_at, template) \
             VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, 'local', ?7, ?8)",
            params![
                profile.as_str(),
                path.as_str(),
                generation,
                bytes,
                sha,
                mode.bits(),
                now(),
                template
            ],
        )?;
        tx.execute(
            "UPDATE profiles SET generation = ?2 WHERE id = ?1",
            params![profile.as_str(), generation],
        )?;
        let generation = to_u64(generation, "generation")?;
        audit(
            &tx,
            action::FILE_TEMPLATE,
            None,
            Some(profile.as_str()),
            Some(path.as_str()),
            None,
            Some(generation),
            Some(&sha),
            serde_json::json!({ "mode": mode.to_string(), "template": template }),
        )?;
        tx.commit()?;
        Ok(generation)
    }

    /// Marks (or unmarks) the current version of a file as a template, keeping its
    /// content (see [`Store::put_template_file`]).
    pub fn set_template(
        &mut self,
        profile: &ProfileId,
        path: &RelativePath,
        template: bool,
    ) -> Result<u64> {
        self.put_template_file(profile, path, None, None, template)
    }

    /// Sets a variable (replacing its value in that scope).
    pub fn set_variable(&mut self, scope: &VariableScope, name: &str, value: &str) -> Result<()> {
        template::validate_variable_name(name).map_err(TemplateRefusal::InvalidName)?;
        template::validate_variable_value(value).map_err(|source| {
            TemplateRefusal::InvalidValue {
                name: name.to_owned(),
                source,
            }
        })?;
        let tx = self.write_tx()?;
        match scope {
            VariableScope::Qube(q) => ensure_qube(&tx, q.as_str())?,
            VariableScope::ProfileDefault(p) => require_profile(&tx, p)?,
            VariableScope::Tag(_) => {}
        }
        upsert_variable(&tx, scope, name, value)?;
        audit_variable(&tx, action::VARIABLE_SET, scope, name, Some(value))?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a variable from a scope; not set there is an error.
    pub fn unset_variable(&mut self, scope: &VariableScope, name: &str) -> Result<()> {
        template::validate_variable_name(name).map_err(TemplateRefusal::InvalidName)?;
        let (table, column, key) = scope_key(scope)?;
        let tx = self.write_tx()?;
        let removed = tx.execute(
            &format!("DELETE FROM {table} WHERE {column} = ?1 AND name = ?2"),
            params![key, name],
        )?;
        if removed == 0 {
            return Err(TemplateRefusal::NotSet {
                scope: scope.to_string(),
                name: name.to_owned(),
            }
            .into());
        }
        audit_variable(&tx, action::VARIABLE_UNSET, scope, name, None)?;
        tx.commit()?;
        Ok(())
    }

    /// Every variable of every scope: qubes, then tags, then profiles, each by name.
    pub fn variables(&self) -> Result<Vec<VariableEntry>> {
        variables_in(&self.conn)
    }

    /// The variables `qube` sees when `profile` is rendered for it: its own, those of
    /// every tag (the renderer uses only the qube's tags) and the profile's defaults.
    pub fn variables_for(&self, qube: &VmName, profile: &ProfileId) -> Result<template::Variables> {
        let mut vars = template::Variables::default();
        for entry in self.variables()? {
            match entry.scope {
                VariableScope::Qube(q) if &q == qube => {
                    vars.qube.insert(entry.name, entry.value);
                }
                VariableScope::Tag(tag) => {
                    vars.tags
                        .entry(tag)
                        .or_default()
                        .insert(entry.name, entry.value);
                }
                VariableScope::ProfileDefault(p) if &p == profile => {
                    vars.defaults.insert(entry.name, entry.value);
                }
                _ => {}
            }
        }
        Ok(vars)
    }

    /// Keeps the rendered content planned for `qube` × `path`, and drops older renders of
    /// that path except the one last pushed there (so at most two per qube × path).
    pub fn remember_rendered(
        &mut self,
        qube: &VmName,
        path: &RelativePath,
        sha256: &str,
        content: &[u8],
    ) -> Result<()> {
        let sha256 = check_hash(sha256)?;
        check_size("rendered file", content.len(), MAX_FILE_BYTES)?;
        if sha256_hex(content) != sha256 {
            return Err(StoreError::InvalidHash(sha256));
        }
        let tx = self.write_tx()?;
        tx.execute(
            "INSERT INTO rendered_files (qube, path, sha256, content, rendered_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (qube, path, sha256) DO UPDATE SET rendered_at = ?5",
            params![qube.as_str(), path.as_str(), sha256, content, now()],
        )?;
        tx.execute(
            "DELETE FROM rendered_files WHERE qube = ?1 AND path = ?2 AND sha256 <> ?3 \
             AND sha256 IS NOT (SELECT pushed_sha256 FROM qube_files \
                 WHERE qube = ?1 AND path = ?2)",
            params![qube.as_str(), path.as_str(), sha256],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A rendered content remembered for `qube` × `path` with hash `sha256`.
    pub fn rendered_content(
        &self,
        qube: &VmName,
        path: &RelativePath,
        sha256: &str,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row(
                "SELECT content FROM rendered_files WHERE qube = ?1 AND path = ?2 AND sha256 = ?3",
                params![qube.as_str(), path.as_str(), sha256],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The tags any variable is set for (to list what a qube's tags could bring).
    pub fn variable_tags(&self) -> Result<BTreeSet<String>> {
        Ok(self
            .variables()?
            .into_iter()
            .filter_map(|e| match e.scope {
                VariableScope::Tag(t) => Some(t),
                _ => None,
            })
            .collect())
    }
}

/// Every variable of every scope, on `conn` (a transaction's snapshot for the export).
pub(super) fn variables_in(conn: &Connection) -> Result<Vec<VariableEntry>> {
    let mut out = Vec::new();

    for (table, column) in [
        ("qube_variables", "qube"),
        ("tag_variables", "tag"),
        ("profile_variables", "profile"),
    ] {
        let mut stmt = conn.prepare(&format!(
            "SELECT {column}, name, value FROM {table} ORDER BY {column}, name"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (key, name, value) = row?;
            let scope = match column {
                "qube" => VariableScope::Qube(qube_from_db(&key)?),
                "tag" => {
                    template::validate_tag_name(&key)
                        .map_err(|_| StoreError::Corrupt(format!("tag {key:?}")))?;
                    VariableScope::Tag(key)
                }
                _ => VariableScope::ProfileDefault(profile_from_db(&key)?),
            };
            out.push(VariableEntry { scope, name, value });
        }
    }
    Ok(out)
}

/// Sets `name` in `scope` inside `tx` (the scope's qube or profile must exist), refusing a
/// name or value `var set` refuses and more than [`MAX_VARIABLES_PER_SCOPE`] in the scope.
/// Returns whether the value changed; the caller audits.
fn upsert_variable(
    tx: &Connection,
    scope: &VariableScope,
    name: &str,
    value: &str,
) -> Result<bool> {
    template::validate_variable_name(name).map_err(TemplateRefusal::InvalidName)?;
    template::validate_variable_value(value).map_err(|source| TemplateRefusal::InvalidValue {
        name: name.to_owned(),
        source,
    })?;
    let (table, column, key) = scope_key(scope)?;
    let (count, current): (i64, Option<String>) = tx.query_row(
        &format!(
            "SELECT count(*), (SELECT value FROM {table} WHERE {column} = ?1 AND name = ?2) \
             FROM {table} WHERE {column} = ?1"
        ),
        params![key, name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if current.as_deref() == Some(value) {
        return Ok(false);
    }
    if current.is_none() && usize::try_from(count).unwrap_or(usize::MAX) >= MAX_VARIABLES_PER_SCOPE
    {
        return Err(TemplateRefusal::TooManyVariables {
            scope: scope.to_string(),
        }
        .into());
    }
    tx.execute(
        &format!(
            "INSERT INTO {table} ({column}, name, value) VALUES (?1, ?2, ?3) \
             ON CONFLICT ({column}, name) DO UPDATE SET value = ?3"
        ),
        params![key, name, value],
    )?;
    Ok(true)
}

/// [`upsert_variable`] for the import, audited when it changed something.
pub(super) fn set_variable_in(
    tx: &rusqlite::Transaction<'_>,
    scope: &VariableScope,
    name: &str,
    value: &str,
) -> Result<bool> {
    let changed = upsert_variable(tx, scope, name, value)?;
    if changed {
        audit_variable(tx, action::VARIABLE_SET, scope, name, Some(value))?;
    }
    Ok(changed)
}

fn audit_variable(
    tx: &rusqlite::Transaction<'_>,
    action_name: &str,
    scope: &VariableScope,
    name: &str,
    value: Option<&str>,
) -> Result<()> {
    let (qube, profile) = match scope {
        VariableScope::Qube(q) => (Some(q.as_str()), None),
        VariableScope::ProfileDefault(p) => (None, Some(p.as_str())),
        VariableScope::Tag(_) => (None, None),
    };
    let tag = match scope {
        VariableScope::Tag(t) => Some(t.as_str()),
        _ => None,
    };
    audit(
        tx,
        action_name,
        qube,
        profile,
        None,
        None,
        None,
        None,
        serde_json::json!({ "name": name, "tag": tag, "value": value }),
    )?;
    Ok(())
}
