//! Every reply from a qube checked against the request that caused it (DESIGN §2.2b),
//! before anything of it is recorded: exactly the requested paths (or backups), none
//! twice, none invented, the protocol's limits, and outcomes consistent with what was
//! asked. One typed function per service; a violation refuses the reply whole.
//!
//! It must not record, log or repair anything: callers refuse the reply and audit it.
//! The parse already enforced types and per-message limits; this is the part a parser
//! cannot know.

use std::collections::{BTreeMap, BTreeSet};

use qcs_protocol::limits::{MAX_PATH_BYTES, MAX_SNAPSHOT_CONTENT_BYTES};
use qcs_protocol::{
    ApplyReply, ApplyRequest, FileOutcome, PathState, RelativePath, RollbackReply, RollbackRequest,
    SnapshotReply, SnapshotRequest, WritePolicy,
};

use super::services::printable;

/// Longest free-text `detail` a reply may carry for one file.
pub const MAX_DETAIL_BYTES: usize = MAX_PATH_BYTES + 1024;

/// How a reply broke its request. [`ReplyViolation::code`] is the stable reason code
/// (job summaries and the audit log carry it); the display is for people, with any
/// text from the qube escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyViolation {
    /// A path (or backup) that was not asked for.
    Invented { what: String },
    /// The same path (or backup × path) twice.
    Duplicate { what: String },
    /// A requested path (or backup) without an answer.
    Missing { what: String },
    /// A file's content disagrees with its own size or hash.
    ContentMismatch { path: String },
    /// More content than the protocol allows in one reply.
    OverBudget { bytes: usize },
    /// An outcome that cannot follow from the request (e.g. `written` with another hash
    /// than was sent).
    Inconsistent { path: String, why: &'static str },
    /// A free-text detail over [`MAX_DETAIL_BYTES`].
    DetailTooLong { path: String },
}

impl ReplyViolation {
    /// Stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            ReplyViolation::Invented { .. } => "reply.invented",
            ReplyViolation::Duplicate { .. } => "reply.duplicate",
            ReplyViolation::Missing { .. } => "reply.missing",
            ReplyViolation::ContentMismatch { .. } => "reply.content-mismatch",
            ReplyViolation::OverBudget { .. } => "reply.over-budget",
            ReplyViolation::Inconsistent { .. } => "reply.inconsistent",
            ReplyViolation::DetailTooLong { .. } => "reply.detail-too-long",
        }
    }
}

impl std::fmt::Display for ReplyViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = self.code();
        let show = |s: &str| printable(s.as_bytes());
        match self {
            ReplyViolation::Invented { what } => {
                write!(f, "{code}: answers {} it was not asked for", show(what))
            }
            ReplyViolation::Duplicate { what } => write!(f, "{code}: answers {} twice", show(what)),
            ReplyViolation::Missing { what } => {
                write!(f, "{code}: does not answer {}", show(what))
            }
            ReplyViolation::ContentMismatch { path } => write!(
                f,
                "{code}: the content of {} does not match its size or hash",
                show(path)
            ),
            ReplyViolation::OverBudget { bytes } => write!(
                f,
                "{code}: {bytes} bytes of content, over the {MAX_SNAPSHOT_CONTENT_BYTES} of one reply"
            ),
            ReplyViolation::Inconsistent { path, why } => {
                write!(f, "{code}: {}: {why}", show(path))
            }
            ReplyViolation::DetailTooLong { path } => write!(
                f,
                "{code}: the detail for {} is over {MAX_DETAIL_BYTES} bytes",
                show(path)
            ),
        }
    }
}

type Checked = Result<(), ReplyViolation>;

fn path_text(path: &RelativePath) -> String {
    path.as_str().to_owned()
}

/// Each answered path once, and only requested ones; then every requested one answered.
fn same_paths<'a>(
    requested: impl Iterator<Item = &'a RelativePath>,
    answered: impl Iterator<Item = &'a RelativePath>,
) -> Checked {
    let requested: BTreeSet<&str> = requested.map(RelativePath::as_str).collect();
    let mut seen = BTreeSet::new();
    for path in answered {
        if !requested.contains(path.as_str()) {
            return Err(ReplyViolation::Invented {
                what: path_text(path),
            });
        }
        if !seen.insert(path.as_str()) {
            return Err(ReplyViolation::Duplicate {
                what: path_text(path),
            });
        }
    }
    match requested.iter().find(|p| !seen.contains(*p)) {
        Some(missing) => Err(ReplyViolation::Missing {
            what: (*missing).to_owned(),
        }),
        None => Ok(()),
    }
}

fn detail_bounded(path: &RelativePath, detail: &str) -> Checked {
    if detail.len() > MAX_DETAIL_BYTES {
        return Err(ReplyViolation::DetailTooLong {
            path: path_text(path),
        });
    }
    Ok(())
}

/// `qubes.ConfigSnapshot`: one entry per requested path; content (when sent) is exactly
/// `size` bytes hashing to `sha256`, all of it within the reply's content budget.
pub fn check_snapshot(request: &SnapshotRequest, reply: &SnapshotReply) -> Checked {
    same_paths(request.paths.iter(), reply.entries.iter().map(|e| &e.path))?;
    let mut budget = 0usize;
    for entry in &reply.entries {
        match &entry.state {
            PathState::File {
                size,
                sha256,
                content: Some(content),
                ..
            } => {
                // (The parse already held each file to the protocol's size limit.)
                let bytes = content.as_bytes();
                if bytes.len() as u64 != *size || content.sha256() != *sha256 {
                    return Err(ReplyViolation::ContentMismatch {
                        path: path_text(&entry.path),
                    });
                }
                budget = budget.saturating_add(bytes.len());
                if budget > MAX_SNAPSHOT_CONTENT_BYTES {
                    return Err(ReplyViolation::OverBudget { bytes: budget });
                }
            }
            PathState::Refused { detail, .. } => detail_bounded(&entry.path, detail)?,
            _ => {}
        }
    }
    Ok(())
}

/// `qubes.ConfigApply`: one result per requested file and removal; `written` and
/// `unchanged` carry the hash (and `written` the mode) that was sent; a conflict only
/// where the request allowed one (policy `if-unchanged`, and the file neither the base
/// nor the new content); `removed` only for a removal, and a removal only `removed`, a
/// conflict with another file there, or refused; a write without a backup id is
/// impossible.
pub fn check_apply(request: &ApplyRequest, reply: &ApplyReply) -> Checked {
    same_paths(
        request
            .files
            .iter()
            .map(|f| &f.path)
            .chain(request.removals.iter().map(|r| &r.path)),
        reply.files.iter().map(|f| &f.path),
    )?;
    let sent: BTreeMap<&str, &qcs_protocol::ApplyFile> =
        request.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let removals: BTreeMap<&str, &qcs_protocol::ApplyRemoval> = request
        .removals
        .iter()
        .map(|r| (r.path.as_str(), r))
        .collect();
    for result in &reply.files {
        let inconsistent = |why| {
            Err(ReplyViolation::Inconsistent {
                path: path_text(&result.path),
                why,
            })
        };
        if let Some(removal) = removals.get(result.path.as_str()) {
            match &result.outcome {
                FileOutcome::Removed => {}
                FileOutcome::Conflict {
                    current_sha256: Some(current),
                } if *current != removal.base_sha256 => {}
                FileOutcome::Conflict { .. } => {
                    return inconsistent(
                        "a conflict for a removal although the file is gone or what was last written",
                    );
                }
                FileOutcome::Refused { detail, .. } => detail_bounded(&result.path, detail)?,
                FileOutcome::Written { .. } | FileOutcome::Unchanged { .. } => {
                    return inconsistent("written or unchanged, but a removal was asked for");
                }
            }
            continue;
        }
        let Some(file) = sent.get(result.path.as_str()) else {
            return Err(ReplyViolation::Invented {
                what: path_text(&result.path),
            });
        };
        match &result.outcome {
            FileOutcome::Written { sha256, mode, .. } => {
                if *sha256 != file.sha256 {
                    return inconsistent("written with another hash than was sent");
                }
                if *mode != file.mode {
                    return inconsistent("written with another mode than was sent");
                }
                if reply.backup_id.is_none() {
                    return inconsistent("written without a backup of the previous version");
                }
            }
            FileOutcome::Unchanged { sha256 } => {
                if *sha256 != file.sha256 {
                    return inconsistent("unchanged, but its hash is not what was sent");
                }
            }
            FileOutcome::Conflict { current_sha256 } => {
                if file.write_policy == WritePolicy::Overwrite {
                    return inconsistent("a conflict although overwriting was asked for");
                }
                if current_sha256.as_ref() == file.base_sha256.as_ref() {
                    return inconsistent("a conflict although the file is what was last written");
                }
                if current_sha256.as_ref() == Some(&file.sha256) {
                    return inconsistent("a conflict although the file has the new content");
                }
            }
            FileOutcome::Removed => {
                return inconsistent("removed, but this file was to be written");
            }
            FileOutcome::Refused { detail, .. } => detail_bounded(&result.path, detail)?,
        }
    }
    Ok(())
}

/// `qubes.ConfigRollback`: results only for requested backups, each requested backup
/// answered, no backup × path twice, a result without a path only as the refusal of the
/// whole backup (and then alone), no conflict under `overwrite`; the new backup ids are
/// distinct, new, and at most one per requested backup (none for a dry run).
pub fn check_rollback(request: &RollbackRequest, reply: &RollbackReply) -> Checked {
    let requested: BTreeSet<&str> = request.backup_ids.iter().map(|b| b.as_str()).collect();
    let mut per_backup: BTreeMap<&str, (usize, bool)> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for result in &reply.files {
        let backup = result.backup_id.as_str();
        if !requested.contains(backup) {
            return Err(ReplyViolation::Invented {
                what: format!("backup {backup}"),
            });
        }
        let what = match &result.path {
            Some(path) => format!("{backup}:{}", path.as_str()),
            None => format!("backup {backup}"),
        };
        if !seen.insert(what.clone()) {
            return Err(ReplyViolation::Duplicate { what });
        }
        let entry = per_backup.entry(backup).or_default();
        entry.0 += 1;
        entry.1 |= result.path.is_none();
        let inconsistent = |why| {
            Err(ReplyViolation::Inconsistent {
                path: what.clone(),
                why,
            })
        };
        match (&result.path, &result.outcome) {
            (None, FileOutcome::Refused { .. }) => {}
            (None, _) => return inconsistent("an outcome other than a refusal without a path"),
            (Some(_), FileOutcome::Conflict { .. })
                if request.write_policy == WritePolicy::Overwrite =>
            {
                return inconsistent("a conflict although overwriting was asked for");
            }
            _ => {}
        }
        if let FileOutcome::Refused { detail, .. } = &result.outcome
            && detail.len() > MAX_DETAIL_BYTES
        {
            return Err(ReplyViolation::DetailTooLong { path: what });
        }
    }
    for backup in &requested {
        match per_backup.get(backup) {
            None => {
                return Err(ReplyViolation::Missing {
                    what: format!("backup {backup}"),
                });
            }
            Some((count, true)) if *count > 1 => {
                return Err(ReplyViolation::Inconsistent {
                    path: format!("backup {backup}"),
                    why: "refused as a whole and restored in part",
                });
            }
            _ => {}
        }
    }
    let mut new_ids = BTreeSet::new();
    for id in &reply.backup_ids {
        if requested.contains(id.as_str()) {
            return Err(ReplyViolation::Inconsistent {
                path: format!("backup {id}"),
                why: "a backup id that was asked for comes back as a new one",
            });
        }
        if !new_ids.insert(id.as_str()) {
            return Err(ReplyViolation::Duplicate {
                what: format!("new backup {id}"),
            });
        }
    }
    if request.dry_run && !reply.backup_ids.is_empty() {
        return Err(ReplyViolation::Inconsistent {
            path: "new backups".to_owned(),
            why: "a dry run made a backup",
        });
    }
    if new_ids.len() > requested.len() {
        return Err(ReplyViolation::Inconsistent {
            path: "new backups".to_owned(),
            why: "more new backups than backups restored",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use qcs_protocol::{
        ApplyFile, BackupId, Content, FileRefusal, FileResult, ObservedMode, RollbackResult,
        SnapshotEntry, Version,
    };

    use super::*;

    fn path(p: &str) -> RelativePath {
        qcs_protocol::path::validate_relative_path(p).unwrap()
    }

    fn profile() -> qcs_protocol::ProfileId {
        qcs_protocol::profile::validate_profile_id("git").unwrap()
    }

    fn snapshot_request(paths: &[&str]) -> SnapshotRequest {
        SnapshotRequest {
            version: Version,
            profile: profile(),
            paths: paths.iter().map(|p| path(p)).collect(),
        }
    }

    fn file_state(bytes: &[u8]) -> PathState {
        PathState::File {
            mode: ObservedMode::new(0o100644),
            size: bytes.len() as u64,
            sha256: qcs_protocol::Sha256Hex::of(bytes),
            hardlinked: false,
            content: Some(Content::new(bytes.to_vec()).unwrap()),
        }
    }

    fn snapshot_reply(entries: &[(&str, PathState)]) -> SnapshotReply {
        SnapshotReply {
            version: Version,
            entries: entries
                .iter()
                .map(|(p, s)| SnapshotEntry {
                    path: path(p),
                    state: s.clone(),
                })
                .collect(),
        }
    }

    fn code(result: Checked) -> &'static str {
        result.err().map(|v| v.code()).unwrap_or("ok")
    }

    #[test]
    fn snapshot_exactly_the_requested_paths() {
        let request = snapshot_request(&[".gitconfig", ".bashrc"]);
        let ok = snapshot_reply(&[
            (".bashrc", PathState::Missing),
            (".gitconfig", file_state(b"x")),
        ]);
        assert_eq!(code(check_snapshot(&request, &ok)), "ok");
        let invented = snapshot_reply(&[
            (".bashrc", PathState::Missing),
            (".gitconfig", file_state(b"x")),
            (".gdbinit", file_state(b"shell id")),
        ]);
        assert_eq!(code(check_snapshot(&request, &invented)), "reply.invented");
        let duplicate = snapshot_reply(&[
            (".bashrc", PathState::Missing),
            (".gitconfig", file_state(b"x")),
            (".gitconfig", file_state(b"y")),
        ]);
        assert_eq!(
            code(check_snapshot(&request, &duplicate)),
            "reply.duplicate"
        );
        let missing = snapshot_reply(&[(".gitconfig", file_state(b"x"))]);
        assert_eq!(code(check_snapshot(&request, &missing)), "reply.missing");
        assert_eq!(
            code(check_snapshot(&request, &snapshot_reply(&[]))),
            "reply.missing"
        );
    }

    #[test]
    fn snapshot_content_must_match_its_size_and_hash() {
        let request = snapshot_request(&[".gitconfig"]);
        let mut lying = file_state(b"harmless");
        if let PathState::File { content, .. } = &mut lying {
            *content = Some(Content::new(b"[core]\n\tpager = evil\n".to_vec()).unwrap());
        }
        assert_eq!(
            code(check_snapshot(
                &request,
                &snapshot_reply(&[(".gitconfig", lying)])
            )),
            "reply.content-mismatch"
        );
        let mut short = file_state(b"abc");
        if let PathState::File { size, .. } = &mut short {
            *size = 2;
        }
        assert_eq!(
            code(check_snapshot(
                &request,
                &snapshot_reply(&[(".gitconfig", short)])
            )),
            "reply.content-mismatch"
        );
        // Without content, size and hash are only reported.
        let hashed = PathState::File {
            mode: ObservedMode::new(0o100644),
            size: 10_000_000,
            sha256: qcs_protocol::Sha256Hex::of(b"big"),
            hardlinked: false,
            content: None,
        };
        assert_eq!(
            code(check_snapshot(
                &request,
                &snapshot_reply(&[(".gitconfig", hashed)])
            )),
            "ok"
        );
        let chatty = PathState::Refused {
            reason: FileRefusal::Io,
            detail: "x".repeat(MAX_DETAIL_BYTES + 1),
        };
        assert_eq!(
            code(check_snapshot(
                &request,
                &snapshot_reply(&[(".gitconfig", chatty)])
            )),
            "reply.detail-too-long"
        );
    }

    #[test]
    fn snapshot_content_within_the_reply_budget() {
        let names: Vec<String> = (0..21).map(|i| format!(".f{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let request = snapshot_request(&refs);
        let big = vec![b'a'; qcs_protocol::limits::MAX_FILE_BYTES];
        let entries: Vec<(&str, PathState)> = refs.iter().map(|p| (*p, file_state(&big))).collect();
        assert_eq!(
            code(check_snapshot(&request, &snapshot_reply(&entries))),
            "reply.over-budget"
        );
        assert_eq!(
            code(check_snapshot(
                &snapshot_request(&refs[..20]),
                &snapshot_reply(&entries[..20])
            )),
            "ok"
        );
    }

    fn apply_request(policy: WritePolicy) -> ApplyRequest {
        let content = Content::new(b"new\n".to_vec()).unwrap();
        ApplyRequest {
            version: Version,
            profile: profile(),
            removals: Vec::new(),
            files: vec![ApplyFile {
                path: path(".gitconfig"),
                mode: qcs_protocol::mode::validate_mode(0o644).unwrap(),
                sha256: content.sha256(),
                content,
                base_sha256: Some(qcs_protocol::Sha256Hex::of(b"old\n")),
                write_policy: policy,
            }],
        }
    }

    fn apply_reply(outcomes: &[(&str, FileOutcome)], backup: bool) -> ApplyReply {
        ApplyReply {
            version: Version,
            backup_id: backup.then(|| BackupId::parse("b-1").unwrap()),
            files: outcomes
                .iter()
                .map(|(p, o)| FileResult {
                    path: path(p),
                    outcome: o.clone(),
                })
                .collect(),
        }
    }

    fn written(bytes: &[u8], mode: u32) -> FileOutcome {
        FileOutcome::Written {
            sha256: qcs_protocol::Sha256Hex::of(bytes),
            mode: qcs_protocol::mode::validate_mode(mode).unwrap(),
            in_place: false,
            backed_up: true,
        }
    }

    #[test]
    fn apply_outcomes_follow_from_the_request() {
        let request = apply_request(WritePolicy::IfUnchanged);
        let check = |outcomes: &[(&str, FileOutcome)], backup| {
            code(check_apply(&request, &apply_reply(outcomes, backup)))
        };
        assert_eq!(
            check(&[(".gitconfig", written(b"new\n", 0o644))], true),
            "ok"
        );
        assert_eq!(
            check(&[(".gitconfig", written(b"other\n", 0o644))], true),
            "reply.inconsistent"
        );
        assert_eq!(
            check(&[(".gitconfig", written(b"new\n", 0o755))], true),
            "reply.inconsistent"
        );
        assert_eq!(
            check(&[(".gitconfig", written(b"new\n", 0o644))], false),
            "reply.inconsistent"
        );
        let unchanged = |b: &[u8]| FileOutcome::Unchanged {
            sha256: qcs_protocol::Sha256Hex::of(b),
        };
        assert_eq!(check(&[(".gitconfig", unchanged(b"new\n"))], false), "ok");
        assert_eq!(
            check(&[(".gitconfig", unchanged(b"evil\n"))], false),
            "reply.inconsistent"
        );
        let conflict = |b: Option<&[u8]>| FileOutcome::Conflict {
            current_sha256: b.map(qcs_protocol::Sha256Hex::of),
        };
        assert_eq!(
            check(&[(".gitconfig", conflict(Some(b"local\n")))], false),
            "ok"
        );
        assert_eq!(check(&[(".gitconfig", conflict(None))], false), "ok");
        assert_eq!(
            check(&[(".gitconfig", conflict(Some(b"old\n")))], false),
            "reply.inconsistent"
        );
        assert_eq!(
            check(&[(".gitconfig", conflict(Some(b"new\n")))], false),
            "reply.inconsistent"
        );
        assert_eq!(
            check(&[(".gitconfig", FileOutcome::Removed)], false),
            "reply.inconsistent"
        );
        let refused = FileOutcome::Refused {
            reason: FileRefusal::Symlink,
            detail: "a symlink".into(),
        };
        assert_eq!(check(&[(".gitconfig", refused)], false), "ok");
        // Overwrite asked for: a conflict cannot be the answer.
        let overwrite = apply_request(WritePolicy::Overwrite);
        assert_eq!(
            code(check_apply(
                &overwrite,
                &apply_reply(&[(".gitconfig", conflict(Some(b"local\n")))], false)
            )),
            "reply.inconsistent"
        );
    }

    #[test]
    fn apply_exactly_the_requested_files() {
        let request = apply_request(WritePolicy::IfUnchanged);
        let ok = (".gitconfig", written(b"new\n", 0o644));
        let check = |outcomes: &[(&str, FileOutcome)]| {
            code(check_apply(&request, &apply_reply(outcomes, true)))
        };
        assert_eq!(check(&[]), "reply.missing");
        assert_eq!(check(&[ok.clone(), ok.clone()]), "reply.duplicate");
        assert_eq!(
            check(&[ok.clone(), (".bashrc", written(b"new\n", 0o644))]),
            "reply.invented"
        );
    }

    #[test]
    fn a_removal_is_answered_as_a_removal_of_exactly_the_requested_paths() {
        let mut request = apply_request(WritePolicy::IfUnchanged);
        request.removals.push(qcs_protocol::ApplyRemoval {
            path: path(".vimrc"),
            base_sha256: qcs_protocol::Sha256Hex::of(b"ours\n"),
        });
        let ok = (".gitconfig", written(b"new\n", 0o644));
        let check = |outcomes: &[(&str, FileOutcome)]| {
            code(check_apply(&request, &apply_reply(outcomes, true)))
        };
        let conflict = |b: Option<&[u8]>| FileOutcome::Conflict {
            current_sha256: b.map(qcs_protocol::Sha256Hex::of),
        };
        assert_eq!(check(&[ok.clone(), (".vimrc", FileOutcome::Removed)]), "ok");
        assert_eq!(
            check(&[ok.clone(), (".vimrc", conflict(Some(b"theirs\n")))]),
            "ok"
        );
        // A hostile agent claiming it removed other paths, or left the removal out.
        assert_eq!(
            check(&[
                ok.clone(),
                (".vimrc", FileOutcome::Removed),
                (".bashrc", FileOutcome::Removed)
            ]),
            "reply.invented"
        );
        assert_eq!(
            check(&[ok.clone(), (".bashrc", FileOutcome::Removed)]),
            "reply.invented"
        );
        assert_eq!(check(std::slice::from_ref(&ok)), "reply.missing");
        assert_eq!(
            check(&[
                ok.clone(),
                (".vimrc", FileOutcome::Removed),
                (".vimrc", FileOutcome::Removed)
            ]),
            "reply.duplicate"
        );
        // Outcomes that cannot follow from a removal.
        assert_eq!(
            check(&[ok.clone(), (".vimrc", written(b"new\n", 0o644))]),
            "reply.inconsistent"
        );
        assert_eq!(
            check(&[ok.clone(), (".vimrc", conflict(Some(b"ours\n")))]),
            "reply.inconsistent"
        );
        assert_eq!(
            check(&[ok.clone(), (".vimrc", conflict(None))]),
            "reply.inconsistent"
        );
    }

    fn backup(id: &str) -> BackupId {
        BackupId::parse(id).unwrap()
    }

    fn rollback_request(ids: &[&str], policy: WritePolicy) -> RollbackRequest {
        RollbackRequest {
            version: Version,
            profile: profile(),
            backup_ids: ids.iter().map(|i| backup(i)).collect(),
            write_policy: policy,
            dry_run: false,
        }
    }

    fn restored(id: &str, p: Option<&str>, outcome: FileOutcome) -> RollbackResult {
        RollbackResult {
            backup_id: backup(id),
            path: p.map(path),
            outcome,
        }
    }

    #[test]
    fn rollback_answers_only_the_requested_backups() {
        let request = rollback_request(&["b-1", "b-2"], WritePolicy::IfUnchanged);
        let reply = |files: Vec<RollbackResult>, new: &[&str]| RollbackReply {
            version: Version,
            backup_ids: new.iter().map(|i| backup(i)).collect(),
            files,
        };
        let refused_whole = |id: &str| {
            restored(
                id,
                None,
                FileOutcome::Refused {
                    reason: FileRefusal::UnknownBackup,
                    detail: "no such backup".into(),
                },
            )
        };
        let good = vec![
            restored("b-1", Some(".gitconfig"), written(b"old\n", 0o644)),
            refused_whole("b-2"),
        ];
        assert_eq!(
            code(check_rollback(&request, &reply(good.clone(), &["b-3"]))),
            "ok"
        );
        let mut invented = good.clone();
        invented.push(restored("b-9", Some(".bashrc"), written(b"x", 0o644)));
        assert_eq!(
            code(check_rollback(&request, &reply(invented, &[]))),
            "reply.invented"
        );
        let mut twice = good.clone();
        twice.push(restored("b-1", Some(".gitconfig"), FileOutcome::Removed));
        assert_eq!(
            code(check_rollback(&request, &reply(twice, &[]))),
            "reply.duplicate"
        );
        assert_eq!(
            code(check_rollback(&request, &reply(good[..1].to_vec(), &[]))),
            "reply.missing"
        );
        let mut mixed = good.clone();
        mixed.push(restored("b-2", Some(".x"), FileOutcome::Removed));
        assert_eq!(
            code(check_rollback(&request, &reply(mixed, &[]))),
            "reply.inconsistent"
        );
        let pathless = vec![
            restored("b-1", None, FileOutcome::Removed),
            refused_whole("b-2"),
        ];
        assert_eq!(
            code(check_rollback(&request, &reply(pathless, &[]))),
            "reply.inconsistent"
        );
        // New backup ids: new, distinct, at most one per requested backup.
        assert_eq!(
            code(check_rollback(&request, &reply(good.clone(), &["b-1"]))),
            "reply.inconsistent"
        );
        assert_eq!(
            code(check_rollback(
                &request,
                &reply(good.clone(), &["b-3", "b-3"])
            )),
            "reply.duplicate"
        );
        assert_eq!(
            code(check_rollback(
                &request,
                &reply(good.clone(), &["b-3", "b-4", "b-5"])
            )),
            "reply.inconsistent"
        );
        let overwrite = rollback_request(&["b-1"], WritePolicy::Overwrite);
        let conflict = vec![restored(
            "b-1",
            Some(".gitconfig"),
            FileOutcome::Conflict {
                current_sha256: None,
            },
        )];
        assert_eq!(
            code(check_rollback(&overwrite, &reply(conflict, &[]))),
            "reply.inconsistent"
        );
    }

    #[test]
    fn the_message_escapes_what_the_qube_named() {
        let violation = ReplyViolation::Invented {
            what: ".x\u{1b}[2J\u{202e}".to_owned(),
        };
        let text = violation.to_string();
        assert!(text.starts_with("reply.invented: "), "{text}");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text}"
        );
    }
}
