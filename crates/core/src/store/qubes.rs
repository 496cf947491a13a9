//! Per-qube settings (assigned profiles, who may propose, auto-apply) and the per qube ×
//! file state: what was last pushed, what was last seen there, and the plan input that
//! compares them with the profiles.
//!
//! It must not trust a qube: a push or snapshot is recorded only with what the backend
//! wrote or the agent's checked reply reported.

use qcs_protocol::mode::FileMode;
use qcs_protocol::path::RelativePath;
use qcs_protocol::profile::ProfileId;
use qcs_protocol::vm_name::VmName;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Result, Store, action, audit, check_hash, current_files_in, mode_from_db, now, path_from_db,
    profile_from_db, qube_from_db, require_profile, to_i64, to_u64, truncated,
};

/// The per-qube settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QubeSettings {
    pub qube: VmName,
    pub assigned: Vec<ProfileId>,
    pub may_propose: Vec<ProfileId>,
    pub auto_apply: bool,
}

/// What we last wrote to a qube × path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedState {
    pub profile: ProfileId,
    pub sha256: String,
    pub mode: FileMode,
    /// The profile generation that was pushed.
    pub generation: u64,
    pub at: i64,
}

/// What we last saw at a qube × path (from a snapshot or an apply reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeenState {
    Absent,
    Regular {
        sha256: String,
        mode: u32,
    },
    /// A directory, symlink, device, … or a path the agent refused to inspect.
    Other {
        kind: String,
    },
}

/// The three states of chezmoi's model, minus the desired one (that is the profile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QubeFileState {
    pub qube: VmName,
    pub path: RelativePath,
    pub pushed: Option<PushedState>,
    pub seen: Option<(SeenState, i64)>,
}

/// One file of a completed push, for [`Store::record_push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedFile {
    pub profile: ProfileId,
    pub path: RelativePath,
    pub sha256: String,
    pub mode: FileMode,
    pub generation: u64,
}

impl Store {
    /// The settings of a qube (defaults if it was never configured).
    pub fn qube_settings(&self, qube: &VmName) -> Result<QubeSettings> {
        qube_settings_in(&self.conn, qube)
    }

    /// Every configured qube, by name.
    pub fn qubes(&self) -> Result<Vec<QubeSettings>> {
        let names: Vec<String> = self
            .conn
            .prepare("SELECT name FROM qubes ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        names
            .iter()
            .map(|name| qube_settings_in(&self.conn, &qube_from_db(name)?))
            .collect()
    }

    /// Replaces a qube's settings as a whole.
    pub fn set_qube_settings(&mut self, settings: &QubeSettings) -> Result<()> {
        let qube = settings.qube.as_str();
        let tx = self.write_tx()?;
        for profile in settings.assigned.iter().chain(&settings.may_propose) {
            require_profile(&tx, profile)?;
        }
        ensure_qube(&tx, qube)?;
        tx.execute(
            "UPDATE qubes SET auto_apply = ?2 WHERE name = ?1",
            params![qube, settings.auto_apply],
        )?;
        tx.execute("DELETE FROM assignments WHERE qube = ?1", [qube])?;
        tx.execute("DELETE FROM propose_permissions WHERE qube = ?1", [qube])?;
        for profile in &settings.assigned {
            tx.execute(
                "INSERT OR IGNORE INTO assignments (qube, profile) VALUES (?1, ?2)",
                params![qube, profile.as_str()],
            )?;
        }
        for profile in &settings.may_propose {
            tx.execute(
                "INSERT OR IGNORE INTO propose_permissions (qube, profile) VALUES (?1, ?2)",
                params![qube, profile.as_str()],
            )?;
        }
        let ids =
            |list: &[ProfileId]| -> Vec<String> { list.iter().map(|p| p.to_string()).collect() };
        audit(
            &tx,
            action::SETTINGS,
            Some(qube),
            None,
            None,
            None,
            None,
            None,
            serde_json::json!({
                "assigned": ids(&settings.assigned),
                "may_propose": ids(&settings.may_propose),
                "auto_apply": settings.auto_apply,
            }),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Assigns a profile to a qube (keeps the other settings).
    pub fn assign(&mut self, qube: &VmName, profile: &ProfileId) -> Result<()> {
        let mut settings = self.qube_settings(qube)?;
        if !settings.assigned.contains(profile) {
            settings.assigned.push(profile.clone());
        }
        self.set_qube_settings(&settings)
    }

    /// Lets a qube propose changes to a profile (keeps the other settings).
    pub fn allow_proposals(&mut self, qube: &VmName, profile: &ProfileId) -> Result<()> {
        let mut settings = self.qube_settings(qube)?;
        if !settings.may_propose.contains(profile) {
            settings.may_propose.push(profile.clone());
        }
        self.set_qube_settings(&settings)
    }

    // ----- per qube × file state -----

    /// The pushed and seen state of every path we know in a qube.
    pub fn qube_file_states(&self, qube: &VmName) -> Result<Vec<QubeFileState>> {
        qube_file_states_in(&self.conn, qube)
    }

    /// Records what a snapshot saw in a qube.
    pub fn record_snapshot(
        &mut self,
        qube: &VmName,
        seen: &[(RelativePath, SeenState)],
    ) -> Result<()> {
        let tx = self.write_tx()?;
        ensure_qube(&tx, qube.as_str())?;
        let at = now();
        for (path, state) in seen {
            upsert_seen(&tx, qube.as_str(), path, state, at)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a completed push into `qube`: per file the pushed state (and, since we just
    /// wrote it, the seen state), plus one audit entry per file, atomically.
    pub fn record_push(
        &mut self,
        qube: &VmName,
        files: &[PushedFile],
        detail: serde_json::Value,
    ) -> Result<()> {
        self.record_written(qube, files, action::PUSH, detail)
    }

    /// Records a rollback into `qube` that restored `files` (same bookkeeping as a push).
    pub fn record_rollback(
        &mut self,
        qube: &VmName,
        files: &[PushedFile],
        detail: serde_json::Value,
    ) -> Result<()> {
        self.record_written(qube, files, action::ROLLBACK, detail)
    }

    fn record_written(
        &mut self,
        qube: &VmName,
        files: &[PushedFile],
        action_name: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let qube = qube.as_str();
        let tx = self.write_tx()?;
        ensure_qube(&tx, qube)?;
        let at = now();
        for file in files {
            let sha256 = check_hash(&file.sha256)?;
            require_profile(&tx, &file.profile)?;
            tx.execute(
                "INSERT INTO qube_files (qube, path, pushed_profile, pushed_sha256, pushed_mode, \
                     pushed_generation, pushed_at, seen_kind, seen_sha256, seen_mode, seen_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'file', ?4, ?5, ?7) \
                 ON CONFLICT (qube, path) DO UPDATE SET pushed_profile = ?3, pushed_sha256 = ?4, \
                     pushed_mode = ?5, pushed_generation = ?6, pushed_at = ?7, \
                     seen_kind = 'file', seen_sha256 = ?4, seen_mode = ?5, seen_detail = NULL, \
                     seen_at = ?7",
                params![
                    qube,
                    file.path.as_str(),
                    file.profile.as_str(),
                    sha256,
                    file.mode.bits(),
                    to_i64(file.generation)?,
                    at
                ],
            )?;
            audit(
                &tx,
                action_name,
                Some(qube),
                Some(file.profile.as_str()),
                Some(file.path.as_str()),
                None,
                Some(file.generation),
                Some(&sha256),
                serde_json::json!({ "mode": file.mode.to_string(), "job": detail }),
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The planner's input for one qube: the current files of its assigned profiles, what
    /// we last pushed to each path (with that content, while the history has it), and the
    /// snapshot the backend just took.
    pub fn plan_input(
        &self,
        qube: &VmName,
        snapshot: std::collections::BTreeMap<RelativePath, crate::plan::Actual>,
    ) -> Result<crate::plan::QubeInput> {
        let settings = qube_settings_in(&self.conn, qube)?;
        self.plan_input_for(qube, &settings.assigned, snapshot)
    }

    /// [`Store::plan_input`] for the given profiles (the backend's effective assignment:
    /// single assignments and the assignment rules that cover the qube).
    pub fn plan_input_for(
        &self,
        qube: &VmName,
        profiles: &[ProfileId],
        snapshot: std::collections::BTreeMap<RelativePath, crate::plan::Actual>,
    ) -> Result<crate::plan::QubeInput> {
        let mut desired = Vec::new();
        for profile in profiles {
            let generation: i64 = self.conn.query_row(
                "SELECT generation FROM profiles WHERE id = ?1",
                [profile.as_str()],
                |r| r.get(0),
            )?;
            let generation = to_u64(generation, "generation")?;
            for file in current_files_in(&self.conn, profile)? {
                desired.push(crate::plan::DesiredFile {
                    profile: profile.clone(),
                    path: file.path,
                    content: file.bytes,
                    sha256: file.sha256,
                    mode: file.mode,
                    generation,
                });
            }
        }
        let mut last_pushed = std::collections::BTreeMap::new();
        for state in qube_file_states_in(&self.conn, qube)? {
            let Some(pushed) = state.pushed else {
                continue;
            };
            let content: Option<Vec<u8>> = self
                .conn
                .query_row(
                    "SELECT content FROM file_versions WHERE profile = ?1 AND path = ?2 \
                     AND sha256 = ?3 AND deleted = 0 ORDER BY generation DESC LIMIT 1",
                    params![pushed.profile.as_str(), state.path.as_str(), pushed.sha256],
                    |r| r.get(0),
                )
                .optional()?;
            last_pushed.insert(
                state.path,
                crate::plan::LastPushed {
                    sha256: pushed.sha256,
                    mode: pushed.mode,
                    generation: pushed.generation,
                    content,
                },
            );
        }
        Ok(crate::plan::QubeInput {
            qube: qube.clone(),
            desired,
            last_pushed,
            snapshot,
            removed: self.removed_since_push(qube)?,
        })
    }
}

pub(super) fn ensure_qube(tx: &Connection, qube: &str) -> Result<()> {
    tx.execute("INSERT OR IGNORE INTO qubes (name) VALUES (?1)", [qube])?;
    Ok(())
}

pub(super) fn qube_settings_in(conn: &Connection, qube: &VmName) -> Result<QubeSettings> {
    let auto_apply: bool = conn
        .query_row(
            "SELECT auto_apply FROM qubes WHERE name = ?1",
            [qube.as_str()],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false);
    let list = |table: &str| -> Result<Vec<ProfileId>> {
        let ids: Vec<String> = conn
            .prepare(&format!(
                "SELECT profile FROM {table} WHERE qube = ?1 ORDER BY profile"
            ))?
            .query_map([qube.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.iter().map(|id| profile_from_db(id)).collect()
    };
    Ok(QubeSettings {
        qube: qube.clone(),
        assigned: list("assignments")?,
        may_propose: list("propose_permissions")?,
        auto_apply,
    })
}

pub(super) fn qube_file_states_in(conn: &Connection, qube: &VmName) -> Result<Vec<QubeFileState>> {
    let mut stmt = conn.prepare(
        "SELECT path, pushed_profile, pushed_sha256, pushed_mode, pushed_generation, pushed_at, \
             seen_kind, seen_sha256, seen_mode, seen_detail, seen_at \
         FROM qube_files WHERE qube = ?1 ORDER BY path",
    )?;
    let rows = stmt.query_map([qube.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, Option<i64>>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, Option<String>>(7)?,
            r.get::<_, Option<i64>>(8)?,
            r.get::<_, Option<String>>(9)?,
            r.get::<_, Option<i64>>(10)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (path, p_profile, p_sha, p_mode, p_gen, p_at, s_kind, s_sha, s_mode, s_detail, s_at) =
            row?;
        let pushed = match (p_profile, p_sha, p_mode, p_gen, p_at) {
            (Some(profile), Some(sha256), Some(mode), Some(generation), Some(at)) => {
                Some(PushedState {
                    profile: profile_from_db(&profile)?,
                    sha256,
                    mode: mode_from_db(mode)?,
                    generation: to_u64(generation, "generation")?,
                    at,
                })
            }
            _ => None,
        };
        let seen = match (s_kind.as_deref(), s_at) {
            (Some("absent"), Some(at)) => Some((SeenState::Absent, at)),
            (Some("file"), Some(at)) => Some((
                SeenState::Regular {
                    sha256: s_sha.unwrap_or_default(),
                    mode: s_mode.and_then(|m| u32::try_from(m).ok()).unwrap_or(0),
                },
                at,
            )),
            (Some("other"), Some(at)) => Some((
                SeenState::Other {
                    kind: s_detail.unwrap_or_default(),
                },
                at,
            )),
            _ => None,
        };
        out.push(QubeFileState {
            qube: qube.clone(),
            path: path_from_db(&path)?,
            pushed,
            seen,
        });
    }
    Ok(out)
}

pub(super) fn upsert_seen(
    tx: &Connection,
    qube: &str,
    path: &RelativePath,
    state: &SeenState,
    at: i64,
) -> Result<()> {
    let (kind, sha, mode, detail): (&str, Option<String>, Option<u32>, Option<&str>) = match state {
        SeenState::Absent => ("absent", None, None, None),
        SeenState::Regular { sha256, mode } => {
            ("file", Some(check_hash(sha256)?), Some(mode & 0o7777), None)
        }
        SeenState::Other { kind } => ("other", None, None, Some(kind.as_str())),
    };
    let detail = detail.map(truncated);
    tx.execute(
        "INSERT INTO qube_files (qube, path, seen_kind, seen_sha256, seen_mode, seen_detail, seen_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (qube, path) DO UPDATE SET seen_kind = ?3, seen_sha256 = ?4, seen_mode = ?5, \
             seen_detail = ?6, seen_at = ?7",
        params![qube, path.as_str(), kind, sha, mode, detail, at],
    )?;
    Ok(())
}
