//! Push planning (invariant 4: no silent overwrite), as pure logic.
//!
//! Input per qube: the desired files (the current generation of each assigned profile), what
//! we last pushed to each path, and the qube's snapshot (what is there now). Output per
//! qube × file: create / update / unchanged / conflict / refused / remove, with the base hash
//! the push must carry and the diff the user reviews.
//!
//! The rule, after chezmoi's three states with its unsafe default removed: a file may be
//! written only if it is absent and we never wrote it (create), or if it is exactly what we
//! last wrote there (update: current == last pushed, content and mode). Anything else is a
//! conflict: a file changed locally since our push, a pre-existing file we never wrote, or a
//! non-regular file. Only an explicit per-item overwrite decision turns a conflict into a
//! (forced) update, and then the push carries the *current* hash as its base, so the agent
//! still refuses if the file changes again before the write.
//!
//! A file removed from a profile is planned as a removal in each qube we last pushed it to
//! (while the profile is assigned there): removed, with a backup in the qube, only if it is
//! still exactly what we wrote; a file the qube changed since is a conflict.
//!
//! It must not do I/O; the backend gathers the inputs and carries out the plan.

use std::collections::{BTreeMap, BTreeSet};

use qcs_protocol::mode::FileMode;
use qcs_protocol::path::RelativePath;
use qcs_protocol::profile::ProfileId;
use qcs_protocol::vm_name::VmName;

use crate::diff::{self, FileDiff, ThreeWay};

/// One file a qube should have: the current version in an assigned profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredFile {
    pub profile: ProfileId,
    /// Home-relative path.
    pub path: RelativePath,
    pub content: Vec<u8>,
    pub sha256: String,
    pub mode: FileMode,
    /// The profile generation being pushed.
    pub generation: u64,
}

/// What we last wrote to a path of this qube.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastPushed {
    pub sha256: String,
    pub mode: FileMode,
    pub generation: u64,
    /// The content we wrote, when the store still has it (for the three-way view).
    pub content: Option<Vec<u8>>,
}

/// A file that was removed from an assigned profile after we last pushed it to this qube.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedFile {
    pub profile: ProfileId,
    pub path: RelativePath,
    /// The profile generation that removed it (the one being pushed).
    pub generation: u64,
}

/// What the qube's snapshot reported for a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actual {
    Absent,
    Regular {
        sha256: String,
        /// Permission bits as observed (any value).
        mode: u32,
        /// `None` when the snapshot left it out (size budget).
        content: Option<Vec<u8>>,
    },
    /// Directory, symlink, FIFO, socket, device, a hard-linked file, or a path the agent
    /// refused to inspect: never written by a push.
    Other {
        kind: String,
    },
}

impl Actual {
    /// Converts an entry of a `qubes.ConfigSnapshot` reply.
    pub fn from_snapshot(state: &qcs_protocol::PathState) -> Actual {
        use qcs_protocol::PathState;
        match state {
            PathState::Missing => Actual::Absent,
            PathState::File {
                hardlinked: true, ..
            } => Actual::Other {
                kind: "hard-linked file".to_owned(),
            },
            PathState::File {
                mode,
                sha256,
                content,
                ..
            } => Actual::Regular {
                sha256: sha256.as_str().to_owned(),
                mode: mode.bits(),
                content: content.as_ref().map(|c| c.as_bytes().to_vec()),
            },
            PathState::Directory { .. } => Actual::Other {
                kind: "directory".to_owned(),
            },
            PathState::Symlink => Actual::Other {
                kind: "symlink".to_owned(),
            },
            PathState::Fifo => Actual::Other {
                kind: "FIFO".to_owned(),
            },
            PathState::Socket => Actual::Other {
                kind: "socket".to_owned(),
            },
            PathState::Device => Actual::Other {
                kind: "device".to_owned(),
            },
            PathState::Refused { reason, detail } => Actual::Other {
                kind: format!("not inspectable ({reason:?}: {detail})"),
            },
        }
    }
}

/// The snapshot map the planner takes, from the entries of a `qubes.ConfigSnapshot` reply.
pub fn snapshot_map(entries: &[qcs_protocol::SnapshotEntry]) -> BTreeMap<RelativePath, Actual> {
    entries
        .iter()
        .map(|e| (e.path.clone(), Actual::from_snapshot(&e.state)))
        .collect()
}

/// Everything the planner needs about one qube.
#[derive(Debug, Clone)]
pub struct QubeInput {
    pub qube: VmName,
    pub desired: Vec<DesiredFile>,
    /// By home-relative path.
    pub last_pushed: BTreeMap<RelativePath, LastPushed>,
    /// By home-relative path; a desired path missing here is a conflict (state unknown).
    pub snapshot: BTreeMap<RelativePath, Actual>,
    /// Files removed from an assigned profile that we last pushed here (their last push is
    /// in `last_pushed`); a path that is also desired is not removed.
    pub removed: Vec<RemovedFile>,
}

/// Why a file is in conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictReason {
    /// The file is not what we last wrote (content, mode, or it was deleted).
    ChangedSinceLastPush,
    /// A file is there that this tool never wrote.
    PreExisting,
    /// Something other than a regular file is at the path; never overwritten.
    NotRegularFile { kind: String },
    /// The snapshot did not report this path.
    StateUnknown,
}

impl ConflictReason {
    /// Whether an explicit overwrite decision may resolve this conflict. A non-regular file
    /// is never replaced (the agent refuses it too), and an unknown state has no base hash
    /// to carry.
    pub fn can_overwrite(&self) -> bool {
        matches!(
            self,
            ConflictReason::ChangedSinceLastPush | ConflictReason::PreExisting
        )
    }
}

/// Why a file is not pushed at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    /// On the never-sync list (`crate::risk::is_never_sync`, from the shipped rules).
    NeverSync,
    /// Two assigned profiles both provide this path.
    ProvidedByTwoProfiles { profiles: Vec<ProfileId> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Unchanged,
    Conflict(ConflictReason),
    Refused(RefusalReason),
    /// Removed from the profile: the file is removed in the qube (the agent keeps a
    /// backup), only if it still has `base_sha256`.
    Remove,
}

/// The plan for one qube × file.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanItem {
    pub qube: VmName,
    pub profile: ProfileId,
    pub path: RelativePath,
    pub action: Action,
    /// True when the user's overwrite decision turned a conflict into this update.
    pub forced: bool,
    /// The conflict that `forced` resolved.
    pub overridden: Option<ConflictReason>,
    /// What the push must carry as its base: `None` = the file must not exist (create),
    /// `Some(h)` = the file must still have hash `h`. Meaningful for create / update /
    /// remove (always `Some` for a removal).
    pub base_sha256: Option<String>,
    pub new_sha256: String,
    pub new_mode: FileMode,
    pub new_content: Vec<u8>,
    pub generation: u64,
    pub current: Option<Actual>,
    pub last_pushed_sha256: Option<String>,
    /// Current content → new content, when the current content is known (for a create:
    /// empty → new). `None` for unchanged and refused items.
    pub diff: Option<FileDiff>,
    /// base (last pushed) / ours (store) / theirs (qube), for a conflict where all three
    /// contents are known.
    pub three_way: Option<ThreeWay>,
}

impl PlanItem {
    /// Whether executing the plan changes this file in the qube (writes or removes it).
    pub fn writes(&self) -> bool {
        matches!(
            self.action,
            Action::Create | Action::Update | Action::Remove
        )
    }

    /// The write policy the push must use.
    pub fn write_policy(&self) -> qcs_protocol::WritePolicy {
        if self.forced {
            qcs_protocol::WritePolicy::Overwrite
        } else {
            qcs_protocol::WritePolicy::IfUnchanged
        }
    }
}

/// The plan for one qube.
#[derive(Debug, Clone, PartialEq)]
pub struct QubePlan {
    pub qube: VmName,
    pub items: Vec<PlanItem>,
}

impl QubePlan {
    /// The `qubes.ConfigApply` request for one profile: the items that write, with their
    /// base hashes and write policies, and the removals with theirs. `None` when nothing
    /// of that profile is written or removed.
    pub fn apply_request(
        &self,
        profile: &ProfileId,
    ) -> Result<Option<qcs_protocol::ApplyRequest>, qcs_protocol::Violation> {
        let mut files = Vec::new();
        let mut removals = Vec::new();
        for item in self
            .items
            .iter()
            .filter(|i| &i.profile == profile && i.writes())
        {
            if item.action == Action::Remove {
                let Some(base) = item.base_sha256.as_deref() else {
                    // A removal without a base would remove whatever is there.
                    return Err(qcs_protocol::Violation::Hash);
                };
                removals.push(qcs_protocol::ApplyRemoval {
                    path: item.path.clone(),
                    base_sha256: qcs_protocol::Sha256Hex::parse(base)
                        .map_err(|_| qcs_protocol::Violation::Hash)?,
                });
                continue;
            }
            let path = item.path.clone();
            let content = qcs_protocol::Content::new(item.new_content.clone())?;
            let sha256 = qcs_protocol::Sha256Hex::parse(&item.new_sha256)
                .map_err(|_| qcs_protocol::Violation::Hash)?;
            let base_sha256 = item
                .base_sha256
                .as_deref()
                .map(qcs_protocol::Sha256Hex::parse)
                .transpose()
                .map_err(|_| qcs_protocol::Violation::Hash)?;
            files.push(qcs_protocol::ApplyFile {
                path,
                mode: item.new_mode,
                content,
                sha256,
                base_sha256,
                write_policy: item.write_policy(),
            });
        }
        if files.is_empty() && removals.is_empty() {
            return Ok(None);
        }
        Ok(Some(qcs_protocol::ApplyRequest {
            version: qcs_protocol::Version,
            profile: profile.clone(),
            files,
            removals,
        }))
    }
}

/// Plans every qube. `overwrite` holds the (qube, path) pairs the user chose to overwrite.
pub fn plan(inputs: &[QubeInput], overwrite: &BTreeSet<(VmName, RelativePath)>) -> Vec<QubePlan> {
    inputs
        .iter()
        .map(|input| {
            let chosen: BTreeSet<RelativePath> = overwrite
                .iter()
                .filter(|(qube, _)| *qube == input.qube)
                .map(|(_, path)| path.clone())
                .collect();
            plan_qube(input, &chosen)
        })
        .collect()
}

/// Plans one qube. `overwrite` holds the paths the user chose to overwrite.
pub fn plan_qube(input: &QubeInput, overwrite: &BTreeSet<RelativePath>) -> QubePlan {
    let mut providers: BTreeMap<&RelativePath, Vec<ProfileId>> = BTreeMap::new();
    for file in &input.desired {
        providers
            .entry(&file.path)
            .or_default()
            .push(file.profile.clone());
    }
    let mut items: Vec<PlanItem> = input
        .desired
        .iter()
        .map(|file| {
            let profiles = providers
                .get(&file.path)
                .map(Vec::as_slice)
                .unwrap_or_default();
            plan_file(input, file, profiles, overwrite.contains(&file.path))
        })
        .collect();
    let mut removing = BTreeSet::new();
    for removed in &input.removed {
        // Still wanted by another assigned profile (planned above), or listed twice.
        if providers.contains_key(&removed.path) || !removing.insert(&removed.path) {
            continue;
        }
        if let Some(item) = plan_removal(input, removed, overwrite.contains(&removed.path)) {
            items.push(item);
        }
    }
    QubePlan {
        qube: input.qube.clone(),
        items,
    }
}

/// The removal of a file that left its profile; `None` when we never pushed it here.
fn plan_removal(input: &QubeInput, removed: &RemovedFile, overwrite: bool) -> Option<PlanItem> {
    let last = input.last_pushed.get(&removed.path)?;
    let current = input.snapshot.get(&removed.path).cloned();
    let mut item = PlanItem {
        qube: input.qube.clone(),
        profile: removed.profile.clone(),
        path: removed.path.clone(),
        action: Action::Remove,
        forced: false,
        overridden: None,
        base_sha256: Some(last.sha256.clone()),
        new_sha256: String::new(),
        new_mode: last.mode,
        new_content: Vec::new(),
        generation: removed.generation,
        current: current.clone(),
        last_pushed_sha256: Some(last.sha256.clone()),
        diff: None,
        three_way: None,
    };
    match &current {
        None => item.action = Action::Conflict(ConflictReason::StateUnknown),
        Some(Actual::Other { kind }) => {
            item.action = Action::Conflict(ConflictReason::NotRegularFile { kind: kind.clone() });
        }
        // Gone already: planned all the same, so the agent confirms it and the record of
        // our push there is cleared.
        Some(Actual::Absent) => {}
        Some(Actual::Regular {
            sha256,
            mode,
            content,
        }) => {
            item.diff = content.as_deref().map(|old| diff::diff(old, &[]));
            let ours = *sha256 == last.sha256 && *mode == last.mode.bits();
            if !ours {
                if overwrite {
                    // Removed anyway, as the user chose: only if it is still what was seen.
                    item.forced = true;
                    item.overridden = Some(ConflictReason::ChangedSinceLastPush);
                    item.base_sha256 = Some(sha256.clone());
                } else {
                    if let (Some(base), Some(theirs)) = (last.content.as_deref(), content) {
                        item.three_way = Some(diff::three_way(base, &[], theirs));
                    }
                    item.action = Action::Conflict(ConflictReason::ChangedSinceLastPush);
                }
            }
        }
    }
    Some(item)
}

fn plan_file(
    input: &QubeInput,
    file: &DesiredFile,
    providers: &[ProfileId],
    overwrite: bool,
) -> PlanItem {
    let last = input.last_pushed.get(&file.path);
    let current = input.snapshot.get(&file.path).cloned();
    let mut item = PlanItem {
        qube: input.qube.clone(),
        profile: file.profile.clone(),
        path: file.path.clone(),
        action: Action::Unchanged,
        forced: false,
        overridden: None,
        base_sha256: None,
        new_sha256: file.sha256.clone(),
        new_mode: file.mode,
        new_content: file.content.clone(),
        generation: file.generation,
        current: current.clone(),
        last_pushed_sha256: last.map(|l| l.sha256.clone()),
        diff: None,
        three_way: None,
    };
    if crate::risk::is_never_sync(file.path.as_str()) {
        item.action = Action::Refused(RefusalReason::NeverSync);
        return item;
    }
    if providers.len() > 1 {
        item.action = Action::Refused(RefusalReason::ProvidedByTwoProfiles {
            profiles: providers.to_vec(),
        });
        return item;
    }

    let (current_sha, current_mode, current_content) = match &current {
        None => {
            item.action = Action::Conflict(ConflictReason::StateUnknown);
            return item;
        }
        Some(Actual::Other { kind }) => {
            item.action = Action::Conflict(ConflictReason::NotRegularFile { kind: kind.clone() });
            return item;
        }
        Some(Actual::Absent) => (None, None, Some(&[][..])),
        Some(Actual::Regular {
            sha256,
            mode,
            content,
        }) => (Some(sha256.as_str()), Some(*mode), content.as_deref()),
    };

    if current_sha == Some(file.sha256.as_str()) && current_mode == Some(file.mode.bits()) {
        item.action = Action::Unchanged;
        item.base_sha256 = current_sha.map(str::to_owned);
        return item;
    }

    let matches_last_push = match (last, current_sha) {
        (Some(last), Some(sha)) => last.sha256 == sha && current_mode == Some(last.mode.bits()),
        _ => false,
    };
    let conflict = match (last, current_sha) {
        (None, None) => None,
        (Some(_), _) if matches_last_push => None,
        (Some(_), _) => Some(ConflictReason::ChangedSinceLastPush),
        (None, Some(_)) => Some(ConflictReason::PreExisting),
    };

    item.diff = current_content.map(|old| diff::diff(old, &file.content));
    match conflict {
        None => {
            item.action = if current_sha.is_none() {
                Action::Create
            } else {
                Action::Update
            };
            item.base_sha256 = current_sha.map(str::to_owned);
        }
        Some(reason) if overwrite && reason.can_overwrite() => {
            item.action = if current_sha.is_none() {
                Action::Create
            } else {
                Action::Update
            };
            item.forced = true;
            item.overridden = Some(reason);
            item.base_sha256 = current_sha.map(str::to_owned);
        }
        Some(reason) => {
            if let (Some(base), Some(theirs)) =
                (last.and_then(|l| l.content.as_deref()), current_content)
            {
                item.three_way = Some(diff::three_way(base, &file.content, theirs));
            }
            item.action = Action::Conflict(reason);
        }
    }
    item
}
