//! Intake: the spool ingest (proposals a qube submitted through `qubes.ConfigPropose`)
//! and imports the user started (a snapshot, the conflicts of a push). What enters the
//! inbox passed the store's whitelist — may-propose, and a path the profile has or its
//! allowlist of new paths names (imports: only the profile's paths) — plus quota and
//! limits; the rest is refused here, before the inbox, and audited (aggregated).
//!
//! Spool files are untrusted: each is opened without following a symlink, read with the
//! protocol's size cap and parsed with its limits; its directory must name the sending
//! qube the receiver recorded. A file is removed from the spool only after the store
//! committed it (or its refusal), so a proposal is never lost, even when the backend is
//! killed in between (it is then ingested again, and recognised as already pending).
//!
//! It must not decide about content (the review does) nor accept anything.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use qcs_core::plan::{Action, Actual, QubePlan};
use qcs_core::store::{NewProposal, ProposalStatus, StoreError, refusal};
use qcs_protocol::limits::MAX_REQUEST_BYTES;
use qcs_protocol::{ProfileId, RelativePath, SpooledProposal, VmName, validate_vm_name};

use super::{Backend, BackendError, Result};
use crate::client::types::{API_VERSION, SnapshotResult};
use crate::client::{Code, Reason};

/// (source qube, profile, path, sha256) of pending proposals.
type PendingSet = HashSet<(VmName, ProfileId, RelativePath, String)>;

/// Suffix of a complete spool file (the receiver writes others as temporary files).
const SPOOL_SUFFIX: &str = ".json";
/// Note stored with proposals the user imported from a snapshot.
const SNAPSHOT_NOTE: &str = "imported from a snapshot of the qube";

/// A file of the qube that differs from the store, to import.
struct Candidate {
    path: RelativePath,
    content: Vec<u8>,
    mode: u32,
    base_sha256: Option<String>,
}

impl Backend {
    /// What is pending already, keyed by origin, path and content.
    fn pending_set(&self) -> Result<PendingSet> {
        Ok(self
            .store()
            .proposals(Some(ProposalStatus::Pending))?
            .into_iter()
            .map(|p| (p.source_qube, p.profile, p.path, p.sha256))
            .collect())
    }

    /// Ingests every complete proposal file of the spool; returns how many proposals
    /// entered quarantine. Refused ones are in the audit log; both leave the spool.
    pub fn ingest_spool(&self) -> Result<u32> {
        let Some(spool) = self.config.spool_dir.clone() else {
            return Ok(0);
        };
        let _one_pass = super::lock(&self.ingest);
        let Ok(dirs) = std::fs::read_dir(&spool) else {
            return Ok(0);
        };
        let mut accepted = 0u32;
        // What is pending already, to recognise a file ingested again after a crash;
        // loaded once per pass, not once per file (a flood has thousands).
        let mut known = self.pending_set()?;
        for dir in dirs.flatten() {
            let Ok(kind) = dir.file_type() else { continue };
            if !kind.is_dir() {
                continue;
            }
            let Ok(qube) = validate_vm_name(&dir.file_name().to_string_lossy()) else {
                continue;
            };
            let Ok(files) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            let mut names: Vec<_> = files
                .flatten()
                .map(|f| f.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(SPOOL_SUFFIX) && !n.starts_with('.'))
                .collect();
            names.sort();
            for name in names {
                let path = dir.path().join(&name);
                accepted += self.ingest_file(&qube, &path, &mut known)?;
                if let Err(e) = std::fs::remove_file(&path)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    return Err(BackendError::failed(format!(
                        "cannot remove {} from the spool: {e}",
                        path.display()
                    )));
                }
            }
        }
        if accepted > 0 {
            self.announce_pending();
        }
        Ok(accepted)
    }

    /// One spool file, one batch; `Err` only for a store failure (the file then stays).
    fn ingest_file(&self, qube: &VmName, path: &Path, known: &mut PendingSet) -> Result<u32> {
        let record = match read_spool_file(path) {
            Ok(record) => record,
            Err(reason) => {
                self.store().record_refused_proposal(qube, &reason)?;
                return Ok(0);
            }
        };
        if &record.source_qube != qube {
            self.store().record_intake_refusal(
                qube,
                refusal::SENDER_MISMATCH,
                serde_json::json!({
                    "reason": "a spool file in this qube's directory names another sender",
                    "named": record.source_qube.as_str(),
                }),
            )?;
            return Ok(0);
        }
        let note = record
            .request
            .note
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default();
        let profile = &record.profile;
        let fresh: Vec<_> = record
            .request
            .files
            .iter()
            .filter(|file| {
                !known.contains(&(
                    qube.clone(),
                    profile.clone(),
                    file.path.clone(),
                    file.sha256.as_str().to_owned(),
                ))
            })
            .collect();
        if fresh.is_empty() {
            return Ok(0);
        }
        let proposals: Vec<NewProposal<'_>> = fresh
            .iter()
            .map(|file| NewProposal {
                source_qube: qube.clone(),
                profile: profile.clone(),
                path: file.path.clone(),
                content: file.content.as_bytes(),
                mode: Some(file.mode.bits()),
                base_sha256: file.base_sha256.as_ref().map(|h| h.as_str()),
                note: &note,
            })
            .collect();
        // Refusals (whitelist, new paths, quota, limits) are audited by the store.
        let outcome = self.store().submit_batch(&proposals)?;
        let mut accepted = 0;
        for (file, result) in fresh.iter().zip(outcome.results) {
            if result.is_ok() {
                known.insert((
                    qube.clone(),
                    profile.clone(),
                    file.path.clone(),
                    file.sha256.as_str().to_owned(),
                ));
                accepted += 1;
            }
        }
        Ok(accepted)
    }

    /// Reads the qube's files of `profiles` (assigned ones when empty) and imports those
    /// that differ from the store as proposals from that qube, one batch per profile.
    /// Only the profile's paths are asked for, and a reply naming others is refused.
    pub fn snapshot(&self, qube: &VmName, profiles: &[ProfileId]) -> Result<SnapshotResult> {
        self.check_target(qube)?;
        let assigned = self.effective_profiles(qube)?;
        if profiles.is_empty() && assigned.is_empty() {
            return Err(BackendError::Refused(
                Reason::new(Code::SnapshotNothingAssigned).arg("qube", qube),
            ));
        }
        let chosen: Vec<ProfileId> = if profiles.is_empty() {
            assigned
        } else {
            profiles.to_vec()
        };
        let mut result = SnapshotResult {
            version: API_VERSION,
            qube: qube.to_string(),
            proposal_ids: Vec::new(),
            paths: Vec::new(),
        };
        for profile in &chosen {
            let map = self.snapshot_paths(qube, std::slice::from_ref(profile))?;
            let statuses = self.import_actuals(
                qube,
                profile,
                map.into_iter().collect(),
                &mut result.proposal_ids,
            )?;
            result.paths.extend(statuses);
        }
        if !result.proposal_ids.is_empty() {
            self.announce_pending();
        }
        self.notifier().qube_changed(qube.as_str());
        Ok(result)
    }

    /// Imports the current content of a plan's conflicts as proposals; returns how many.
    pub(crate) fn import_conflicts(&self, plan: &QubePlan) -> Result<usize> {
        let mut ids = Vec::new();
        let profiles: std::collections::BTreeSet<&ProfileId> =
            plan.items.iter().map(|i| &i.profile).collect();
        for profile in profiles {
            let conflicts: Vec<(RelativePath, Actual)> = plan
                .items
                .iter()
                .filter(|i| &i.profile == profile)
                .filter_map(|item| match (&item.action, &item.current) {
                    (Action::Conflict(_), Some(actual)) => {
                        Some((item.path.clone(), actual.clone()))
                    }
                    _ => None,
                })
                .collect();
            self.import_actuals(&plan.qube, profile, conflicts, &mut ids)?;
        }
        Ok(ids.len())
    }

    /// Imports what differs from the store as one batch; returns a status per path.
    fn import_actuals(
        &self,
        qube: &VmName,
        profile: &ProfileId,
        actuals: Vec<(RelativePath, Actual)>,
        ids: &mut Vec<i64>,
    ) -> Result<Vec<(String, Reason)>> {
        let known = self.pending_set()?;
        let pushed: std::collections::BTreeMap<RelativePath, String> = self
            .store()
            .qube_file_states(qube)?
            .into_iter()
            .filter_map(|s| s.pushed.map(|p| (s.path, p.sha256)))
            .collect();
        let mut statuses = Vec::new();
        let mut candidates = Vec::new();
        for (path, actual) in actuals {
            let status = match actual {
                Actual::Absent => Reason::new(Code::SnapshotMissing),
                Actual::Other { kind } => Reason::new(Code::SnapshotNotRegular).arg("kind", kind),
                Actual::Regular { content: None, .. } => Reason::new(Code::SnapshotTooLarge),
                Actual::Regular {
                    sha256,
                    mode,
                    content: Some(content),
                } => {
                    let current = self.store().current_file(profile, &path)?;
                    if current.as_ref().is_some_and(|c| c.sha256 == sha256) {
                        Reason::new(Code::SnapshotSame)
                    } else if known.contains(&(
                        qube.clone(),
                        profile.clone(),
                        path.clone(),
                        sha256.clone(),
                    )) {
                        Reason::new(Code::SnapshotPending)
                    } else {
                        candidates.push(Candidate {
                            base_sha256: pushed.get(&path).cloned(),
                            path,
                            content,
                            mode,
                        });
                        continue;
                    }
                }
            };
            statuses.push((path.to_string(), status));
        }
        if candidates.is_empty() {
            return Ok(statuses);
        }
        let proposals: Vec<NewProposal<'_>> = candidates
            .iter()
            .map(|c| NewProposal {
                source_qube: qube.clone(),
                profile: profile.clone(),
                path: c.path.clone(),
                content: &c.content,
                mode: Some(c.mode),
                base_sha256: c.base_sha256.as_deref(),
                note: SNAPSHOT_NOTE,
            })
            .collect();
        let outcome = self.store().import_batch(&proposals)?;
        for (candidate, result) in candidates.iter().zip(outcome.results) {
            let status = match result {
                Ok(id) => {
                    ids.push(id);
                    Reason::new(Code::SnapshotImported)
                }
                Err(StoreError::Sqlite(e)) => return Err(BackendError::Store(e.into())),
                Err(e) => super::errors::store_reason(&e),
            };
            statuses.push((candidate.path.to_string(), status));
        }
        statuses.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(statuses)
    }
}

/// Opens a spool file without following a symlink, checks it is a regular file within
/// the size cap, and parses it with the protocol's limits.
fn read_spool_file(path: &Path) -> Result<SpooledProposal, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(
            rustix::fs::OFlags::NOFOLLOW.bits() as i32 | rustix::fs::OFlags::NONBLOCK.bits() as i32,
        )
        .open(path)
        .map_err(|e| format!("cannot open the spool file: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat the spool file: {e}"))?;
    if !meta.file_type().is_file() {
        return Err("the spool entry is not a regular file".to_owned());
    }
    if meta.len() > MAX_REQUEST_BYTES as u64 {
        return Err(format!(
            "the spool file has {} bytes, over the limit of {MAX_REQUEST_BYTES}",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_REQUEST_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the spool file: {e}"))?;
    qcs_protocol::parse_message::<SpooledProposal>(&bytes)
        .map_err(|e| format!("invalid spool file: {e}"))
}
