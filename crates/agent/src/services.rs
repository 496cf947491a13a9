//! The three services that run in a managed qube: apply (writes and removals), snapshot
//! and rollback.
//! Each takes the parsed request and the opened home directory and returns the reply;
//! reading the request, the environment and exit codes are `main`'s business.
//! A path on the agent's never-sync list ([`never_sync`]) is refused by all three
//! before anything is opened, whatever the request says.

use std::collections::HashSet;
use std::os::fd::OwnedFd;

use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_SNAPSHOT_CONTENT_BYTES};
use qcs_protocol::{
    ApplyFile, ApplyRemoval, ApplyReply, ApplyRequest, BackupId, Content, FileMode, FileOutcome,
    FileRefusal, FileResult, ObservedMode, PathState, ProfileId, RelativePath, RollbackReply,
    RollbackRequest, RollbackResult, Sha256Hex, SnapshotEntry, SnapshotReply, SnapshotRequest,
    Version, WritePolicy,
};
use rustix::fs::FileType;
use rustix::io::Errno;

use crate::backup::{self, Backup, BackupWriter, ManifestEntry};
use crate::fsafe::{self, FsRefusal, Home, RegularFile, Target};
use crate::never_sync;

/// The refusal of a path on the agent's never-sync list, before anything is opened.
fn protected(path: &RelativePath) -> Result<(), FileOutcome> {
    never_sync::check(path).map_err(|why| FileOutcome::Refused {
        reason: FileRefusal::NeverSync,
        detail: why.to_string(),
    })
}

fn refused(error: &FsRefusal) -> FileOutcome {
    FileOutcome::Refused {
        reason: error.reason(),
        detail: error.to_string(),
    }
}

/// A file the apply (or rollback) decided to write, with what it found there.
struct PlannedWrite {
    index: usize,
    path: RelativePath,
    /// `None` if a parent directory is missing and must be created.
    dir: Option<OwnedFd>,
    existing: Option<RegularFile>,
    /// `None`: remove the file (rollback of a created file).
    content: Option<Vec<u8>>,
    mode: FileMode,
}

/// Opens the parent of `path` without creating anything and inspects the target.
fn look(
    home: &Home,
    path: &RelativePath,
) -> Result<(Option<OwnedFd>, Option<RegularFile>), FsRefusal> {
    let dir = match home.open_parent(path, false) {
        Ok(dir) => dir,
        Err(FsRefusal::Missing(_)) => return Ok((None, None)),
        Err(e) => return Err(e),
    };
    match fsafe::inspect(&dir, path.file_name(), false)? {
        Target::Missing => Ok((Some(dir), None)),
        Target::Regular(file) => Ok((Some(dir), Some(file))),
    }
}

/// `qubes.ConfigApply`: checks every file and removal first, saves the previous
/// versions of those it will write or remove in one backup, then writes and removes
/// them. The reply answers the files, then the removals, in request order.
pub fn apply(home: &Home, request: ApplyRequest) -> ApplyReply {
    let entries = request.files.len() + request.removals.len();
    let mut outcomes: Vec<Option<FileOutcome>> = vec![None; entries];
    let mut writes = Vec::new();
    for (index, file) in request.files.iter().enumerate() {
        match plan_apply(home, index, file) {
            Ok(Some(write)) => writes.push(write),
            Ok(None) => {
                outcomes[index] = Some(FileOutcome::Unchanged {
                    sha256: file.sha256.clone(),
                })
            }
            Err(outcome) => outcomes[index] = Some(outcome),
        }
    }
    for (offset, removal) in request.removals.iter().enumerate() {
        let index = request.files.len() + offset;
        match plan_removal(home, index, removal) {
            Ok(write) => writes.push(write),
            Err(outcome) => outcomes[index] = Some(outcome),
        }
    }
    let backup_id = execute(home, &request.profile, writes, &mut outcomes, &[]);
    let paths = request.files.iter().map(|f| &f.path);
    ApplyReply {
        version: Version,
        backup_id,
        files: paths
            .chain(request.removals.iter().map(|r| &r.path))
            .zip(outcomes)
            .map(|(path, outcome)| FileResult {
                path: path.clone(),
                outcome: outcome.unwrap_or(FileOutcome::Refused {
                    reason: FileRefusal::Io,
                    detail: "not processed".into(),
                }),
            })
            .collect(),
    }
}

/// `Ok(None)`: unchanged; `Err`: the final outcome (conflict or refusal).
fn plan_apply(
    home: &Home,
    index: usize,
    file: &ApplyFile,
) -> Result<Option<PlannedWrite>, FileOutcome> {
    protected(&file.path)?;
    if file.content.sha256() != file.sha256 {
        return Err(FileOutcome::Refused {
            reason: FileRefusal::HashMismatch,
            detail: format!("content hashes to {}", file.content.sha256()),
        });
    }
    let (dir, existing) = look(home, &file.path).map_err(|e| refused(&e))?;
    let overwrite = file.write_policy == WritePolicy::Overwrite;
    let current = existing.as_ref().map(|f| f.sha256.clone());
    if let Some(existing) = &existing
        && existing.sha256 == file.sha256
        && existing.mode == file.mode.bits()
    {
        return Ok(None);
    }
    // Invariant 4: the file must be what the config qube last wrote (or absent if it
    // never wrote it); content already equal to the request is not a conflict.
    let already_wanted = current.as_ref() == Some(&file.sha256);
    if !overwrite && !already_wanted && current != file.base_sha256 {
        return Err(FileOutcome::Conflict {
            current_sha256: current,
        });
    }
    Ok(Some(PlannedWrite {
        index,
        path: file.path.clone(),
        dir,
        existing,
        content: Some(file.content.as_bytes().to_vec()),
        mode: file.mode,
    }))
}

/// A removal: `Err` is the final outcome. Nothing there is already the wanted state; a
/// file that is not what the config qube said (`base_sha256`) is a conflict, never
/// removed; a symlink, special file, hard-linked file or a bind-mounted file (which
/// cannot be unlinked, and whose removal would not survive a restart anyway) is refused.
fn plan_removal(
    home: &Home,
    index: usize,
    removal: &ApplyRemoval,
) -> Result<PlannedWrite, FileOutcome> {
    protected(&removal.path)?;
    let (dir, existing) = look(home, &removal.path).map_err(|e| refused(&e))?;
    let Some(existing) = existing else {
        return Err(FileOutcome::Removed);
    };
    if existing.sha256 != removal.base_sha256 {
        return Err(FileOutcome::Conflict {
            current_sha256: Some(existing.sha256),
        });
    }
    if existing.mount_root {
        return Err(FileOutcome::Refused {
            reason: FileRefusal::Io,
            detail: "a bind-mounted file (custom-persist) is not removed".into(),
        });
    }
    Ok(PlannedWrite {
        index,
        path: removal.path.clone(),
        dir,
        mode: backup::restorable_mode(ObservedMode::new(existing.mode)),
        existing: Some(existing),
        content: None,
    })
}

/// Backs up then performs `writes`, filling `outcomes`. Returns the backup id if a
/// backup was committed and something was changed. `keep`: backups that must not be
/// removed to make room (those a rollback is restoring).
fn execute(
    home: &Home,
    profile: &ProfileId,
    mut writes: Vec<PlannedWrite>,
    outcomes: &mut [Option<FileOutcome>],
    keep: &[BackupId],
) -> Option<BackupId> {
    if writes.is_empty() {
        return None;
    }
    let backup = loop {
        match write_backup(home, profile, &mut writes, keep) {
            // A full disk: make room by dropping the oldest backup, then try again
            // (the partial one is already gone).
            Err(e) if e.out_of_space() && backup::drop_oldest(home, keep).unwrap_or(false) => {}
            other => break other,
        }
    };
    let backup_id = match backup {
        Ok(id) => id,
        Err(e) => {
            // Without a backup nothing is written (invariant 5).
            for write in &writes {
                outcomes[write.index] = Some(FileOutcome::Refused {
                    reason: FileRefusal::Io,
                    detail: format!("could not save the previous version: {e}"),
                });
            }
            return None;
        }
    };
    let mut changed = false;
    let mut keep_now = keep.to_vec();
    keep_now.push(backup_id.clone());
    for mut write in writes {
        let outcome = loop {
            match perform(home, &mut write) {
                Ok(outcome) => break outcome,
                Err(e)
                    if e.out_of_space()
                        && !write.existing.as_ref().is_some_and(|f| f.mount_root)
                        && backup::drop_oldest(home, &keep_now).unwrap_or(false) => {}
                Err(e) => break refused(&e),
            }
        };
        changed |= matches!(outcome, FileOutcome::Written { .. } | FileOutcome::Removed);
        outcomes[write.index] = Some(outcome);
    }
    if changed {
        Some(backup_id)
    } else {
        // Every write failed: the backup describes nothing that happened.
        let _ = backup::discard(home, &backup_id);
        None
    }
}

/// One complete, committed backup of what `writes` will replace; a failure leaves
/// no partial backup (see [`BackupWriter`]).
fn write_backup(
    home: &Home,
    profile: &ProfileId,
    writes: &mut [PlannedWrite],
    keep: &[BackupId],
) -> Result<BackupId, FsRefusal> {
    let mut writer = BackupWriter::create(home, profile, keep)?;
    for write in writes.iter_mut() {
        let written = write.content.as_deref().map(Sha256Hex::of);
        writer.add(&write.path, write.existing.as_mut(), written.as_ref())?;
    }
    writer.commit()
}

/// Performs one planned write; `Err` is a refusal (the caller may retry an
/// out-of-space one after making room: nothing visible has changed then, except for
/// in-place writes, which are never retried).
fn perform(home: &Home, write: &mut PlannedWrite) -> Result<FileOutcome, FsRefusal> {
    let name = write.path.file_name();
    let backed_up = write.existing.is_some();
    let Some(bytes) = write.content.as_deref() else {
        // A removal: nothing to do (and no directory to create) if nothing is there.
        return match (&write.dir, &write.existing) {
            (Some(dir), Some(existing)) => {
                fsafe::remove_checked(dir, name, existing).map(|()| FileOutcome::Removed)
            }
            _ => Ok(FileOutcome::Removed),
        };
    };
    if write.dir.is_none() {
        write.dir = Some(home.open_parent(&write.path, true)?);
    }
    let Some(dir) = write.dir.as_ref() else {
        return Err(FsRefusal::Missing(write.path.to_string()));
    };
    let mode = write.mode;
    let in_place = write.existing.as_ref().is_some_and(|f| f.mount_root);
    match write.existing.as_mut() {
        Some(checked) if checked.mount_root => {
            fsafe::write_in_place(dir, name, bytes, mode.bits(), checked)
        }
        checked => fsafe::replace_atomically(dir, name, bytes, mode.bits(), checked),
    }?;
    Ok(FileOutcome::Written {
        sha256: Sha256Hex::of(bytes),
        mode,
        in_place,
        backed_up,
    })
}

/// `qubes.ConfigSnapshot`: reports each path without changing anything.
pub fn snapshot(home: &Home, request: SnapshotRequest) -> SnapshotReply {
    let mut budget = MAX_SNAPSHOT_CONTENT_BYTES;
    let entries = request
        .paths
        .into_iter()
        .map(|path| {
            let state = snapshot_one(home, &path, &mut budget);
            SnapshotEntry { path, state }
        })
        .collect();
    SnapshotReply {
        version: Version,
        entries,
    }
}

fn snapshot_one(home: &Home, path: &RelativePath, budget: &mut usize) -> PathState {
    // Not even whether it exists: a protected path is never looked at.
    if let Err(why) = never_sync::check(path) {
        return PathState::Refused {
            reason: FileRefusal::NeverSync,
            detail: why.to_string(),
        };
    }
    let refused_state = |e: FsRefusal| PathState::Refused {
        reason: e.reason(),
        detail: e.to_string(),
    };
    let dir = match home.open_parent(path, false) {
        Ok(dir) => dir,
        Err(FsRefusal::Missing(_)) => return PathState::Missing,
        Err(e) => return refused_state(e),
    };
    let name = path.file_name();
    let st = match fsafe::lstat_at(&dir, name) {
        Ok(st) => st,
        Err(Errno::NOENT) => return PathState::Missing,
        Err(errno) => {
            return refused_state(FsRefusal::Io {
                context: "inspecting the path",
                errno,
            });
        }
    };
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        FileType::Directory => {
            return PathState::Directory {
                mode: ObservedMode::new(st.st_mode),
            };
        }
        FileType::Symlink => return PathState::Symlink,
        FileType::Fifo => return PathState::Fifo,
        FileType::Socket => return PathState::Socket,
        _ => return PathState::Device,
    }
    let mut file = match fsafe::inspect(&dir, name, true) {
        Ok(Target::Regular(file)) => file,
        Ok(Target::Missing) => return PathState::Missing,
        Err(e) => return refused_state(e),
    };
    let mut sha256 = file.sha256.clone();
    let mut size = file.size;
    let mut content = None;
    let limit = MAX_FILE_BYTES.min(*budget);
    if (file.size as usize) <= limit
        && let Ok(Some(bytes)) = fsafe::read_up_to(&mut file.file, limit)
    {
        // Hash and size describe exactly the bytes returned.
        sha256 = Sha256Hex::of(&bytes);
        size = bytes.len() as u64;
        *budget -= bytes.len();
        content = Content::new(bytes).ok();
    }
    PathState::File {
        mode: ObservedMode::new(file.mode),
        size,
        sha256,
        hardlinked: st.st_nlink > 1,
        content,
    }
}

/// `qubes.ConfigRollback`: restores each backup in order, itself backed up. With
/// `dry_run`, reports what it would do and changes nothing.
pub fn rollback(home: &Home, request: RollbackRequest) -> RollbackReply {
    let mut files = Vec::new();
    let mut backup_ids = Vec::new();
    for id in &request.backup_ids {
        let backup = match Backup::open(home, id) {
            Ok(b) if b.manifest.profile == request.profile => b,
            Ok(b) => {
                files.push(unknown_backup(
                    id,
                    format!("backup belongs to profile '{}'", b.manifest.profile),
                ));
                continue;
            }
            Err(e) => {
                files.push(unknown_backup(id, e.to_string()));
                continue;
            }
        };
        let entries = backup.manifest.entries.clone();
        let mut outcomes: Vec<Option<FileOutcome>> = vec![None; entries.len()];
        let mut writes = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match plan_restore(home, &backup, index, entry, request.write_policy) {
                Ok(write) => writes.push(write),
                Err(outcome) => outcomes[index] = Some(outcome),
            }
        }
        if request.dry_run {
            for write in writes {
                outcomes[write.index] = Some(would_do(&write));
            }
        } else {
            let keep = &request.backup_ids;
            if let Some(new_id) = execute(home, &request.profile, writes, &mut outcomes, keep) {
                backup_ids.push(new_id);
            }
        }
        for (entry, outcome) in entries.into_iter().zip(outcomes) {
            files.push(RollbackResult {
                backup_id: id.clone(),
                path: Some(entry.path),
                outcome: outcome.unwrap_or(FileOutcome::Refused {
                    reason: FileRefusal::Io,
                    detail: "not processed".into(),
                }),
            });
        }
    }
    RollbackReply {
        version: Version,
        backup_ids,
        files,
    }
}

/// What a planned restore would report, for a dry run.
fn would_do(write: &PlannedWrite) -> FileOutcome {
    match &write.content {
        Some(bytes) => FileOutcome::Written {
            sha256: Sha256Hex::of(bytes),
            mode: write.mode,
            in_place: write.existing.as_ref().is_some_and(|f| f.mount_root),
            backed_up: write.existing.is_some(),
        },
        None => FileOutcome::Removed,
    }
}

fn unknown_backup(id: &BackupId, detail: String) -> RollbackResult {
    RollbackResult {
        backup_id: id.clone(),
        path: None,
        outcome: FileOutcome::Refused {
            reason: FileRefusal::UnknownBackup,
            detail,
        },
    }
}

fn plan_restore(
    home: &Home,
    backup: &Backup,
    index: usize,
    entry: &ManifestEntry,
    policy: WritePolicy,
) -> Result<PlannedWrite, FileOutcome> {
    // A manifest lives in the user's home: one naming a protected path (edited, or
    // written by an older agent) restores nothing there.
    protected(&entry.path)?;
    let (dir, existing) = look(home, &entry.path).map_err(|e| refused(&e))?;
    let current = existing.as_ref().map(|f| f.sha256.clone());
    let (content, mode) = match &entry.previous {
        Some(previous) => {
            let bytes = backup
                .read_blob(previous)
                .map_err(|e| FileOutcome::Refused {
                    reason: FileRefusal::UnknownBackup,
                    detail: e.to_string(),
                })?;
            (Some(bytes), backup::restorable_mode(previous.mode))
        }
        None => (None, backup::restorable_mode(ObservedMode::new(0o600))),
    };
    let wanted = content.as_deref().map(Sha256Hex::of);
    if current == wanted && existing.as_ref().is_none_or(|f| f.mode == mode.bits()) {
        return Err(match wanted {
            Some(sha256) => FileOutcome::Unchanged { sha256 },
            None => FileOutcome::Removed,
        });
    }
    if policy == WritePolicy::IfUnchanged && current != entry.written_sha256 {
        return Err(FileOutcome::Conflict {
            current_sha256: current,
        });
    }
    Ok(PlannedWrite {
        index,
        path: entry.path.clone(),
        dir,
        existing,
        content,
        mode,
    })
}

/// Refuses a request naming the same path twice (the second write would silently
/// win over the first).
pub fn find_duplicate<'a>(
    paths: impl Iterator<Item = &'a RelativePath>,
) -> Option<&'a RelativePath> {
    let mut seen = HashSet::new();
    paths.into_iter().find(|p| !seen.insert(p.as_str()))
}
