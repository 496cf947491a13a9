//! Proposals: the spool ingest (whitelist, quota and limits enforced, refusals audited,
//! findings stored), imports from snapshots, and the review decisions — which go
//! through `qcs_core::review` only (base selection, diff, findings and the gate live
//! there, shared with every client).
//!
//! Spool files are untrusted: each is opened without following a symlink, read with the
//! protocol's size cap and parsed with its limits; its directory must name the sending
//! qube the receiver recorded. A file is removed from the spool only after the store
//! committed it (or its refusal), so a proposal is never lost, even when the backend is
//! killed in between (it is then ingested again, and recognised as already pending).

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use qcs_core::diff::HunkId;
use qcs_core::plan::{Action, Actual, QubePlan};
use qcs_core::review;
use qcs_core::risk::{FileKind, Finding, ScanInput};
use qcs_core::store::{Acceptance, NewProposal, ProposalStatus};
use qcs_protocol::limits::MAX_REQUEST_BYTES;
use qcs_protocol::{ProfileId, SpooledProposal};

use super::{Backend, BackendError, Result, views};
use crate::client::types::{API_VERSION, ProposalList, ProposalView, SnapshotResult};

/// (source qube, profile, path, sha256) of pending proposals.
type PendingSet = std::collections::HashSet<(String, String, String, String)>;

/// Suffix of a complete spool file (the receiver writes others as temporary files).
const SPOOL_SUFFIX: &str = ".json";
/// Note stored with proposals the user imported from a snapshot.
const SNAPSHOT_NOTE: &str = "imported from a snapshot of the qube";

impl Backend {
    fn scan(
        &self,
        path: &str,
        content: &[u8],
        base: Option<&[u8]>,
        mode: Option<u32>,
    ) -> Vec<Finding> {
        self.engine.scan(&ScanInput {
            path,
            content,
            base,
            mode,
            kind: FileKind::Regular,
        })
    }

    /// Runs the risk engine on a new proposal and stores its findings (the scan runs
    /// without holding the store).
    fn store_findings(&self, id: i64) -> Result<()> {
        let (proposal, base) = {
            let store = self.store();
            let Some(p) = store.proposal(id)? else {
                return Ok(());
            };
            let base = store.current_file(p.profile.as_str(), p.path.as_str())?;
            (p, base)
        };
        let findings = self.scan(
            proposal.path.as_str(),
            &proposal.content,
            base.as_ref().map(|b| b.bytes.as_slice()),
            proposal.mode,
        );
        let json: Vec<_> = findings.iter().map(views::finding_view).collect();
        let value = serde_json::to_value(json)
            .map_err(|e| BackendError::Failed(format!("cannot encode findings: {e}")))?;
        self.store().set_findings(id, &value)?;
        Ok(())
    }

    /// True when the same bytes from the same qube for the same file are pending already
    /// (a spool file ingested again after a crash between commit and removal).
    fn already_pending(&self, qube: &str, profile: &str, path: &str, sha256: &str) -> Result<bool> {
        Ok(self
            .store()
            .proposals(Some(ProposalStatus::Pending))?
            .iter()
            .any(|p| {
                p.source_qube == qube
                    && p.profile.as_str() == profile
                    && p.path.as_str() == path
                    && p.sha256 == sha256
            }))
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
        let mut known: PendingSet = self
            .store()
            .proposals(Some(ProposalStatus::Pending))?
            .into_iter()
            .map(|p| {
                (
                    p.source_qube,
                    p.profile.to_string(),
                    p.path.to_string(),
                    p.sha256,
                )
            })
            .collect();
        for dir in dirs.flatten() {
            let Ok(kind) = dir.file_type() else { continue };
            if !kind.is_dir() {
                continue;
            }
            let qube = dir.file_name().to_string_lossy().into_owned();
            if qubesadmin::validate::vm_name(&qube).is_err() {
                continue;
            }
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
                    return Err(BackendError::Failed(format!(
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

    /// One spool file; `Err` only for a store failure (the file then stays).
    fn ingest_file(&self, qube: &str, path: &Path, known: &mut PendingSet) -> Result<u32> {
        let record = match read_spool_file(path) {
            Ok(record) => record,
            Err(reason) => {
                self.store().record_refused_proposal(qube, &reason)?;
                return Ok(0);
            }
        };
        if record.source_qube.as_str() != qube {
            self.store().record_refused_proposal(
                qube,
                &format!(
                    "spool file in {qube}'s directory names another sender ({})",
                    record.source_qube.as_str()
                ),
            )?;
            return Ok(0);
        }
        let note = record
            .request
            .note
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default();
        let mut accepted = 0;
        for file in &record.request.files {
            let content = file.content.as_bytes();
            let sha = file.sha256.as_str();
            let key = (
                qube.to_owned(),
                record.profile.to_string(),
                file.path.to_string(),
                sha.to_owned(),
            );
            if known.contains(&key) {
                continue;
            }
            let submitted = self.store().submit_proposal(&NewProposal {
                source_qube: qube,
                profile: record.profile.as_str(),
                path: file.path.as_str(),
                content,
                mode: Some(file.mode.bits()),
                base_sha256: file.base_sha256.as_ref().map(|h| h.as_str()),
                note: &note,
            });
            match submitted {
                Ok(id) => {
                    self.store_findings(id)?;
                    known.insert(key);
                    accepted += 1;
                }
                // Refusals (whitelist, quota, limits) are audited by the store.
                Err(qcs_core::store::StoreError::Sqlite(e)) => {
                    return Err(BackendError::Store(e.into()));
                }
                Err(_) => {}
            }
        }
        Ok(accepted)
    }

    /// Reads the qube's files of `profiles` (assigned ones when empty) and imports those
    /// that differ from the store as proposals from that qube.
    pub fn snapshot(&self, qube: &str, profiles: &[String]) -> Result<SnapshotResult> {
        let settings = self.store().qube_settings(qube)?;
        let chosen: Vec<ProfileId> = if profiles.is_empty() {
            settings.assigned.clone()
        } else {
            profiles
                .iter()
                .map(|p| views::profile_id(p))
                .collect::<Result<_>>()?
        };
        let mut result = SnapshotResult {
            version: API_VERSION,
            qube: qube.to_owned(),
            proposal_ids: Vec::new(),
            paths: Vec::new(),
        };
        for profile in &chosen {
            let map = self.snapshot_paths(qube, std::slice::from_ref(profile))?;
            for (path, actual) in map {
                let status =
                    self.import_actual(qube, profile, &path, &actual, &mut result.proposal_ids)?;
                result.paths.push((path, status));
            }
        }
        if !result.proposal_ids.is_empty() {
            self.announce_pending();
        }
        self.notifier().qube_changed(qube);
        Ok(result)
    }

    /// Imports the current content of a plan's conflicts as proposals; returns how many.
    pub(crate) fn import_conflicts(&self, plan: &QubePlan) -> Result<usize> {
        let mut ids = Vec::new();
        for item in &plan.items {
            if let (Action::Conflict(_), Some(actual)) = (&item.action, &item.current) {
                self.import_actual(&plan.qube, &item.profile, &item.path, actual, &mut ids)?;
            }
        }
        Ok(ids.len())
    }

    fn import_actual(
        &self,
        qube: &str,
        profile: &ProfileId,
        path: &str,
        actual: &Actual,
        ids: &mut Vec<i64>,
    ) -> Result<String> {
        let Actual::Regular {
            sha256,
            mode,
            content,
        } = actual
        else {
            return Ok(match actual {
                Actual::Absent => "missing".to_owned(),
                Actual::Other { kind } => format!("not imported: {kind}"),
                Actual::Regular { .. } => String::new(),
            });
        };
        let Some(content) = content else {
            return Ok("not imported: content over the snapshot budget".to_owned());
        };
        let current = self.store().current_file(profile.as_str(), path)?;
        if current.as_ref().is_some_and(|c| &c.sha256 == sha256) {
            return Ok("same".to_owned());
        }
        if self.already_pending(qube, profile.as_str(), path, sha256)? {
            return Ok("already pending".to_owned());
        }
        let pushed = self
            .store()
            .qube_file_states(qube)?
            .into_iter()
            .find(|s| s.path.as_str() == path)
            .and_then(|s| s.pushed)
            .map(|p| p.sha256);
        let imported = self.store().import_from_qube(&NewProposal {
            source_qube: qube,
            profile: profile.as_str(),
            path,
            content,
            mode: Some(*mode),
            base_sha256: pushed.as_deref(),
            note: SNAPSHOT_NOTE,
        });
        match imported {
            Ok(id) => {
                self.store_findings(id)?;
                ids.push(id);
                Ok("imported".to_owned())
            }
            Err(qcs_core::store::StoreError::Sqlite(e)) => Err(BackendError::Store(e.into())),
            Err(e) => Ok(format!("refused: {e}")),
        }
    }

    pub fn list_proposals(&self, status: &str) -> Result<ProposalList> {
        let status = match status {
            "" => None,
            "pending" => Some(ProposalStatus::Pending),
            "accepted" => Some(ProposalStatus::Accepted),
            "rejected" => Some(ProposalStatus::Rejected),
            other => {
                return Err(BackendError::InvalidArgument(format!(
                    "status {:?}: expected pending, accepted, rejected or empty",
                    other.chars().take(32).collect::<String>()
                )));
            }
        };
        let proposals = self
            .store()
            .proposals(status)?
            .iter()
            .map(views::proposal_summary)
            .collect();
        Ok(ProposalList {
            version: API_VERSION,
            proposals,
        })
    }

    /// The review of proposal `id` (core::review: the state after accept, against
    /// the store's current version), loaded while the caller holds the store.
    fn review_of<'e>(
        &'e self,
        store: &qcs_core::store::Store,
        id: i64,
    ) -> Result<review::Review<'e>> {
        review::load(store, &self.engine, &[id]).map_err(|e| match e {
            review::LoadError::Store(e) => BackendError::Store(e),
            review::LoadError::NotFound(_) => {
                BackendError::NotFound(format!("proposal #{id} does not exist"))
            }
            other => BackendError::InvalidArgument(other.to_string()),
        })
    }

    /// Everything the review shows, with the review's digest and each finding's id.
    /// Findings are computed again for the state after accept (the store may have
    /// changed since the proposal arrived).
    pub fn get_proposal(&self, id: i64) -> Result<ProposalView> {
        let store = self.store();
        let p = store
            .proposal(id)?
            .ok_or_else(|| BackendError::NotFound(format!("proposal #{id} does not exist")))?;
        let review = self.review_of(&store, id)?;
        drop(store);
        let file = review
            .file(id)
            .ok_or_else(|| BackendError::Failed(format!("review of #{id} lost its file")))?;
        let findings: Vec<&review::ReviewFinding> = review.findings_of(id).collect();
        // Anchors in the diff only for findings on this file's lines.
        let anchored: Vec<Finding> = findings
            .iter()
            .map(|f| {
                let mut f = f.finding.clone();
                if f.path != file.path {
                    f.line = None;
                }
                f
            })
            .collect();
        let summary = qcs_core::store::ProposalSummary {
            id: p.id,
            source_qube: p.source_qube.clone(),
            profile: p.profile.clone(),
            path: p.path.clone(),
            size: p.content.len(),
            sha256: p.sha256.clone(),
            received_at: p.received_at,
            status: p.status,
        };
        Ok(ProposalView {
            version: API_VERSION,
            summary: views::proposal_summary(&summary),
            mode: p.mode.map(views::mode_text),
            note: views::text_segments(p.note.as_bytes()),
            base_b64: file.base.as_ref().map(|b| views::b64(&b.bytes)),
            base_sha256: file.base.as_ref().map(|b| b.sha256.clone()),
            proposed_b64: views::b64(&file.proposed),
            diff: views::diff_view(&file.diff, &anchored),
            findings: findings
                .iter()
                .map(|f| views::review_finding_view(f, id))
                .collect(),
            must_acknowledge: findings
                .iter()
                .filter(|f| f.gated)
                .map(|f| f.id.clone())
                .collect(),
            digest: review.digest.clone(),
            three_way: file
                .three_way
                .as_ref()
                .map(|t| views::three_way_view(t, &views::PROPOSAL_THREE_WAY)),
        })
    }

    /// Accepts all hunks (`hunks` empty) or the chosen ones of the review with
    /// `digest`, through the gate of core::review: every gated finding in the accepted
    /// hunks must be acknowledged by its id. The review is built, checked and stored
    /// under one hold of the store, so what passed the gate is what is written.
    pub fn accept_proposal(
        &self,
        id: i64,
        digest: &str,
        hunks: &[String],
        acknowledged: &[String],
        note: &str,
    ) -> Result<u64> {
        let generation = {
            let mut store = self.store();
            let review = self.review_of(&store, id)?;
            let decision = review::Decision {
                digest: digest.to_owned(),
                hunks: (!hunks.is_empty())
                    .then(|| hunks.iter().map(|h| (id, HunkId(h.clone()))).collect()),
                acknowledged: acknowledged.to_vec(),
            };
            let accepted = review.check(&decision)?;
            let file = accepted
                .files
                .into_iter()
                .find(|f| f.proposal == id)
                .ok_or(review::GateError::NothingAccepted)?;
            let version = store.accept_proposal(
                id,
                Acceptance {
                    content: file.partial.then_some(file.content.as_slice()),
                    mode: None,
                    note: (!note.is_empty()).then_some(note),
                },
            )?;
            version.generation
        };
        self.announce_pending();
        self.notifier().qube_changed("");
        Ok(generation)
    }

    pub fn reject_proposal(&self, id: i64, note: &str) -> Result<()> {
        self.store().reject_proposal(id, note)?;
        self.announce_pending();
        Ok(())
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
