//! Agent-side backups: before a file is replaced, its previous version is saved under
//! `~/.local/state/qubes-config-sync/backups/<id>/` (a `manifest.json` and one blob per
//! file), reached with the same no-symlink discipline as everything below home.
//! Only the newest [`RETAINED_BACKUPS`] are kept.

use std::io::Write;
use std::os::fd::OwnedFd;

use qcs_protocol::limits::MAX_FILES;
use qcs_protocol::{BackupId, FileMode, ObservedMode, ProfileId, RelativePath, Sha256Hex, Version};
use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, RenameFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::fsafe::{self, FsRefusal, Home, RegularFile};

/// Where backups live, relative to home.
pub const BACKUP_DIR: [&str; 4] = [".local", "state", "qubes-config-sync", "backups"];
/// How many backups are kept; older ones are removed before a new one is made.
pub const RETAINED_BACKUPS: usize = 20;
/// Largest backed-up file read back by a rollback.
pub const MAX_BLOB_BYTES: usize = 64 * 1024 * 1024;
const MANIFEST: &str = "manifest.json";

/// What one backup holds: for each path, the version before the write (or that
/// there was none) and the hash the write put there.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: Version,
    pub profile: ProfileId,
    pub created_unix: u64,
    pub entries: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    pub path: RelativePath,
    /// `None`: the file did not exist before.
    pub previous: Option<PreviousVersion>,
    /// `None`: the call removed the file.
    pub written_sha256: Option<Sha256Hex>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousVersion {
    /// Name of the blob file in the backup directory (decimal index).
    pub blob: u32,
    pub mode: ObservedMode,
    pub sha256: Sha256Hex,
}

/// The backups directory, created on demand.
pub fn open_root(home: &Home, create: bool) -> Result<OwnedFd, FsRefusal> {
    home.open_dir(&BACKUP_DIR, create)
}

fn now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// A backup being written: blobs and manifest go into `.partial-<id>` and the
/// directory is renamed to `<id>` only when complete ([`BackupWriter::commit`]).
/// Dropped before that (any error), the partial directory is removed, so a failed
/// apply leaves no partial backup behind. The backups lock is held from creation to
/// commit, so a `.partial-*` seen by a lock holder is stale (a killed agent's).
pub struct BackupWriter {
    pub id: BackupId,
    root: OwnedFd,
    partial: String,
    dir: OwnedFd,
    manifest: Manifest,
    committed: bool,
    _lock: OwnedFd,
}

impl BackupWriter {
    /// Prunes first (stale partial backups, then the oldest complete ones down to
    /// `RETAINED_BACKUPS - 1`, never one of `keep`), so the new backup has room
    /// even on a full disk, then creates the partial directory.
    pub fn create(
        home: &Home,
        profile: &ProfileId,
        keep: &[BackupId],
    ) -> Result<BackupWriter, FsRefusal> {
        let root = open_root(home, true)?;
        let lock = lock(&root)?;
        prune_locked(&root, RETAINED_BACKUPS - 1, keep)?;
        // Zero-padded nanoseconds sort in creation order; the pid keeps parallel
        // calls apart.
        for attempt in 0..100u32 {
            let id_text = format!("{:020}-{}-{attempt}", now().as_nanos(), std::process::id());
            let id = BackupId::parse(&id_text).map_err(|_| FsRefusal::Io {
                context: "forming a backup id",
                errno: Errno::INVAL,
            })?;
            if fsafe::lstat_at(&root, id_text.as_str()).is_ok() {
                continue;
            }
            let partial = format!("{PARTIAL_PREFIX}{id_text}");
            match rustix::fs::mkdirat(&root, partial.as_str(), Mode::from_raw_mode(0o700)) {
                Ok(()) => {}
                Err(Errno::EXIST) => continue,
                Err(errno) => {
                    return Err(FsRefusal::Io {
                        context: "creating a backup",
                        errno,
                    });
                }
            }
            let dir = match fsafe::open_dir_component(&root, &partial, false) {
                Ok(dir) => dir,
                Err(e) => {
                    let _ = rustix::fs::unlinkat(&root, partial.as_str(), AtFlags::REMOVEDIR);
                    return Err(e);
                }
            };
            return Ok(BackupWriter {
                id,
                root,
                partial,
                dir,
                manifest: Manifest {
                    version: Version,
                    profile: profile.clone(),
                    created_unix: now().as_secs(),
                    entries: Vec::new(),
                },
                committed: false,
                _lock: lock,
            });
        }
        Err(FsRefusal::Io {
            context: "choosing a backup id",
            errno: Errno::EXIST,
        })
    }

    /// Records `path`: its current version (copied from the checked, open file) or
    /// its absence, and the hash about to be written (`None`: it will be removed).
    pub fn add(
        &mut self,
        path: &RelativePath,
        previous: Option<&mut RegularFile>,
        written_sha256: Option<&Sha256Hex>,
    ) -> Result<(), FsRefusal> {
        let previous = match previous {
            None => None,
            Some(file) => {
                let blob = self.manifest.entries.len() as u32;
                self.copy_blob(blob, file)?;
                Some(PreviousVersion {
                    blob,
                    mode: ObservedMode::new(file.mode),
                    sha256: file.sha256.clone(),
                })
            }
        };
        self.manifest.entries.push(ManifestEntry {
            path: path.clone(),
            previous,
            written_sha256: written_sha256.cloned(),
        });
        Ok(())
    }

    fn copy_blob(&self, blob: u32, source: &mut RegularFile) -> Result<(), FsRefusal> {
        use std::io::Seek;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(
            &self.dir,
            blob.to_string().as_str(),
            flags,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|errno| FsRefusal::Io {
            context: "creating a backup blob",
            errno,
        })?;
        let mut out = std::fs::File::from(fd);
        source
            .file
            .rewind()
            .map_err(|e| fsafe::io_err("rewinding the target", e))?;
        std::io::copy(&mut source.file, &mut out)
            .map_err(|e| fsafe::io_err("copying to the backup", e))?;
        out.flush()
            .map_err(|e| fsafe::io_err("writing the backup", e))?;
        rustix::fs::fsync(&out).map_err(|errno| FsRefusal::Io {
            context: "syncing a backup blob",
            errno,
        })
    }

    /// Writes the manifest, then renames the complete directory into place; from
    /// now on the backup can be rolled back.
    pub fn commit(mut self) -> Result<BackupId, FsRefusal> {
        let bytes = qcs_protocol::to_json(&self.manifest);
        fsafe::create_file_atomically(&self.dir, MANIFEST, &bytes)?;
        rustix::fs::fsync(&self.dir).map_err(|errno| FsRefusal::Io {
            context: "syncing a backup",
            errno,
        })?;
        let (from, to) = (self.partial.as_str(), self.id.as_str());
        match rustix::fs::renameat_with(&self.root, from, &self.root, to, RenameFlags::NOREPLACE) {
            // No RENAME_NOREPLACE on this file system: under the lock, `create`
            // checked that nothing has this name.
            Err(Errno::INVAL | Errno::NOSYS) => {
                rustix::fs::renameat(&self.root, from, &self.root, to)
            }
            other => other,
        }
        .map_err(|errno| FsRefusal::Io {
            context: "publishing a backup",
            errno,
        })?;
        // From here on the directory has its final name; if it cannot be made
        // durable, Drop removes it under that name.
        self.partial = self.id.as_str().to_owned();
        rustix::fs::fsync(&self.root).map_err(|errno| FsRefusal::Io {
            context: "syncing the backups directory",
            errno,
        })?;
        self.committed = true;
        Ok(self.id.clone())
    }
}

impl Drop for BackupWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = remove_backup_dir(&self.root, &self.partial);
        }
    }
}

/// Name prefix of a backup being written (never a valid [`BackupId`]).
const PARTIAL_PREFIX: &str = ".partial-";
const LOCK_NAME: &str = ".lock";

/// An exclusive `flock` on the backups directory's lock file, held while a backup is
/// written or backups are removed.
fn lock(root: &OwnedFd) -> Result<OwnedFd, FsRefusal> {
    let flags =
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(root, LOCK_NAME, flags, Mode::from_raw_mode(0o600)).map_err(
        |errno| FsRefusal::Io {
            context: "opening the backups lock",
            errno,
        },
    )?;
    rustix::fs::flock(&fd, FlockOperation::LockExclusive).map_err(|errno| FsRefusal::Io {
        context: "locking the backups",
        errno,
    })?;
    Ok(fd)
}

/// A committed backup, read back for a rollback. The manifest is parsed with the
/// protocol's limits: it lives in the user's home and is not trusted more than that.
pub struct Backup {
    pub manifest: Manifest,
    dir: OwnedFd,
}

impl Backup {
    pub fn open(home: &Home, id: &BackupId) -> Result<Backup, FsRefusal> {
        let root = open_root(home, false)?;
        let dir = fsafe::open_dir_component(&root, id.as_str(), false)?;
        let bytes = fsafe::read_own_file(&dir, MANIFEST, qcs_protocol::limits::MAX_REQUEST_BYTES)?;
        let manifest: Manifest =
            qcs_protocol::parse_message(&bytes).map_err(|_| FsRefusal::Io {
                context: "backup manifest is damaged",
                errno: Errno::INVAL,
            })?;
        if manifest.entries.len() > MAX_FILES {
            return Err(FsRefusal::Io {
                context: "backup manifest is damaged",
                errno: Errno::INVAL,
            });
        }
        Ok(Backup { manifest, dir })
    }

    /// The saved content of `previous`, verified against its hash.
    pub fn read_blob(&self, previous: &PreviousVersion) -> Result<Vec<u8>, FsRefusal> {
        let bytes = fsafe::read_own_file(&self.dir, &previous.blob.to_string(), MAX_BLOB_BYTES)?;
        if Sha256Hex::of(&bytes) != previous.sha256 {
            return Err(FsRefusal::Io {
                context: "backup blob does not match its hash",
                errno: Errno::INVAL,
            });
        }
        Ok(bytes)
    }
}

/// Removes the oldest complete backup that is not one of `keep`, to make room on a
/// full disk. `Ok(false)`: there was none.
pub fn drop_oldest(home: &Home, keep: &[BackupId]) -> Result<bool, FsRefusal> {
    let root = open_root(home, false)?;
    let _lock = lock(&root)?;
    let complete = complete_backups(&root, keep)?;
    match complete.first() {
        Some(oldest) => remove_backup_dir(&root, oldest).map(|()| true),
        None => Ok(false),
    }
}

/// Removes a committed backup again (the call it was made for changed nothing).
pub fn discard(home: &Home, id: &BackupId) -> Result<(), FsRefusal> {
    let root = open_root(home, false)?;
    let _lock = lock(&root)?;
    remove_backup_dir(&root, id.as_str())
}

/// With the lock held: every `.partial-*` (stale), every id-named directory without
/// a manifest (left by an older agent), and the oldest complete backups beyond
/// `retain`, except those in `keep`.
fn prune_locked(root: &OwnedFd, retain: usize, keep: &[BackupId]) -> Result<usize, FsRefusal> {
    let mut removed = 0;
    for name in list_names(root)? {
        let stale = name.starts_with(PARTIAL_PREFIX)
            || (BackupId::parse(&name).is_ok()
                && fsafe::open_dir_component(root, &name, false)
                    .is_ok_and(|dir| matches!(fsafe::lstat_at(&dir, MANIFEST), Err(Errno::NOENT))));
        if stale && remove_backup_dir(root, &name).is_ok() {
            removed += 1;
        }
    }
    // Kept backups count towards `retain` but are never removed.
    let excess = complete_backups(root, &[])?.len().saturating_sub(retain);
    for name in complete_backups(root, keep)?.iter().take(excess) {
        if remove_backup_dir(root, name).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Names of the complete backups (valid id, not in `keep`), oldest first.
fn complete_backups(root: &OwnedFd, keep: &[BackupId]) -> Result<Vec<String>, FsRefusal> {
    let mut names = list_names(root)?;
    names.retain(|n| BackupId::parse(n).is_ok() && !keep.iter().any(|k| k.as_str() == n));
    names.sort();
    Ok(names)
}

fn list_names(dir: &OwnedFd) -> Result<Vec<String>, FsRefusal> {
    let entries = rustix::fs::Dir::read_from(dir).map_err(|errno| FsRefusal::Io {
        context: "listing a directory",
        errno,
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|errno| FsRefusal::Io {
            context: "listing a directory",
            errno,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    Ok(names)
}

fn remove_backup_dir(root: &OwnedFd, name: &str) -> Result<(), FsRefusal> {
    let dir = fsafe::open_dir_component(root, name, false)?;
    for entry in list_names(&dir)? {
        let st = fsafe::lstat_at(&dir, &entry).map_err(|errno| FsRefusal::Io {
            context: "inspecting a backup entry",
            errno,
        })?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(FsRefusal::Directory);
        }
        rustix::fs::unlinkat(&dir, entry.as_str(), AtFlags::empty()).map_err(|errno| {
            FsRefusal::Io {
                context: "removing a backup entry",
                errno,
            }
        })?;
    }
    rustix::fs::unlinkat(root, name, AtFlags::REMOVEDIR).map_err(|errno| FsRefusal::Io {
        context: "removing a backup",
        errno,
    })
}

/// The mode used when restoring a backed-up file: its old mode if it is on the
/// allowlist, otherwise the nearest allowlisted one (setuid/setgid/sticky and
/// group/other write bits are never restored).
pub fn restorable_mode(observed: ObservedMode) -> FileMode {
    let bits = observed.bits();
    let nearest = if qcs_protocol::mode::ALLOWED.contains(&bits) {
        bits
    } else {
        let exec = bits & 0o100 != 0;
        let shared = bits & 0o044 != 0;
        match (exec, shared) {
            (true, true) => 0o755,
            (true, false) => 0o700,
            (false, true) => 0o644,
            (false, false) => 0o600,
        }
    };
    // Every value above is on the allowlist.
    qcs_protocol::mode::validate_mode(nearest).unwrap_or(FileMode::PRIVATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(root: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != LOCK_NAME)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn only_committed_backups_get_their_name_and_prune_keeps_what_it_is_told() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"previous").unwrap();
        let home = Home::open(dir.path()).unwrap();
        let root = dir.path().join(BACKUP_DIR.join("/"));
        let profile = qcs_protocol::profile::validate_profile_id("git").unwrap();
        let path = qcs_protocol::path::validate_relative_path("f").unwrap();
        let fd = home.open_dir(&[], false).unwrap();
        let Ok(crate::fsafe::Target::Regular(mut file)) = crate::fsafe::inspect(&fd, "f", false)
        else {
            panic!("regular file expected")
        };

        // Dropped before commit: nothing is left, not even under the temporary name.
        let mut writer = BackupWriter::create(&home, &profile, &[]).unwrap();
        writer.add(&path, Some(&mut file), None).unwrap();
        assert_eq!(names(&root).len(), 1);
        assert!(names(&root)[0].starts_with(PARTIAL_PREFIX));
        drop(writer);
        assert_eq!(names(&root), Vec::<String>::new());

        // Committed: under its id, complete, readable.
        let mut ids = Vec::new();
        for _ in 0..RETAINED_BACKUPS + 3 {
            let mut writer =
                BackupWriter::create(&home, &profile, &ids[..1.min(ids.len())]).unwrap();
            writer.add(&path, Some(&mut file), None).unwrap();
            ids.push(writer.commit().unwrap());
        }
        let kept = names(&root);
        assert_eq!(kept.len(), RETAINED_BACKUPS);
        // The first one was kept as asked; the next oldest went.
        assert!(kept.contains(&ids[0].as_str().to_owned()));
        assert!(!kept.contains(&ids[1].as_str().to_owned()));
        let backup = Backup::open(&home, ids.last().unwrap()).unwrap();
        let previous = backup.manifest.entries[0].previous.as_ref().unwrap();
        assert_eq!(backup.read_blob(previous).unwrap(), b"previous");
        // Making room on a full disk never drops what must be kept.
        while drop_oldest(&home, &ids[..1]).unwrap() {}
        assert_eq!(names(&root), vec![ids[0].as_str().to_owned()]);
    }

    #[test]
    fn restorable_modes_are_allowlisted() {
        assert_eq!(restorable_mode(ObservedMode::new(0o644)).bits(), 0o644);
        assert_eq!(restorable_mode(ObservedMode::new(0o4755)).bits(), 0o755);
        assert_eq!(restorable_mode(ObservedMode::new(0o664)).bits(), 0o644);
        assert_eq!(restorable_mode(ObservedMode::new(0o2711)).bits(), 0o700);
        assert_eq!(restorable_mode(ObservedMode::new(0o400)).bits(), 0o600);
        for m in 0..=0o7777 {
            assert!(
                qcs_protocol::mode::ALLOWED.contains(&restorable_mode(ObservedMode::new(m)).bits())
            );
        }
    }
}
