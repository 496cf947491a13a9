//! Adopting: taking an existing file of a qube into a profile in one step. The file is
//! read with one `qubes.ConfigSnapshot` of that one path and enters the inbox as a
//! proposal from that qube, reviewed and accepted like every other — the qube is as
//! untrusted as ever. The user's adopt request is what authorises the path (once), in
//! place of the qube's may-propose permission and the profile's allowlist of new paths;
//! never-sync, the limits and the quota still apply.
//!
//! The profile is created when it is missing and the user asked for that, and the qube is
//! assigned the profile when nothing assigns it yet — both only once the qube answered
//! with a file to adopt, so a failed adopt leaves the store as it was.
//!
//! It must not store the qube's bytes anywhere but the quarantine, nor accept anything.

use qcs_core::plan::Actual;
use qcs_core::store::{NewProposal, ProposalStatus, StoreError};
use qcs_protocol::{ProfileId, RelativePath, VmName};

use super::{Backend, BackendError, Result};
use crate::client::types::{API_VERSION, SnapshotResult};
use crate::client::{Code, Reason};

/// Note stored with adopted proposals.
const ADOPT_NOTE: &str = "adopted from the qube at the user's request";

impl Backend {
    /// Adopts `path` of `qube` into `profile` (see the module doc). Returns the proposal
    /// (or why none was needed: the same content is in the profile, or pending).
    pub fn adopt(
        &self,
        qube: &VmName,
        path: &RelativePath,
        profile: &ProfileId,
        create: bool,
    ) -> Result<SnapshotResult> {
        self.check_target(qube)?;
        if qcs_core::risk::is_never_sync(path.as_str()) {
            return Err(BackendError::Refused(
                Reason::new(Code::PathNeverSync).arg("path", path),
            ));
        }
        let exists = self.store().profile(profile)?.is_some();
        if !exists && !create {
            return Err(BackendError::NotFound(
                Reason::new(Code::ProfileUnknown).arg("profile", profile),
            ));
        }
        let snapshot = self.snapshot_of(qube, profile, vec![path.clone()])?;
        let refused = |code: Code| Reason::new(code).arg("qube", qube).arg("path", path);
        let (sha256, mode, content) = match snapshot.get(path) {
            Some(Actual::Regular {
                sha256,
                mode,
                content: Some(content),
            }) => (sha256.clone(), *mode, content.clone()),
            Some(Actual::Regular { content: None, .. }) => {
                return Err(BackendError::Refused(refused(Code::AdoptTooLarge)));
            }
            Some(Actual::Other { kind }) => {
                return Err(BackendError::Refused(
                    refused(Code::AdoptNotRegular).arg("kind", kind),
                ));
            }
            Some(Actual::Absent) | None => {
                return Err(BackendError::Refused(refused(Code::AdoptMissing)));
            }
        };
        if !exists {
            match self.store().create_profile(profile, "") {
                // Created meanwhile by another client: adopt into it.
                Ok(_) | Err(StoreError::ProfileExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut result = SnapshotResult {
            version: API_VERSION,
            qube: qube.to_string(),
            proposal_ids: Vec::new(),
            paths: Vec::new(),
        };
        let same = self
            .store()
            .current_file(profile, path)?
            .is_some_and(|c| c.sha256 == sha256);
        let pending = self
            .store()
            .proposals(Some(ProposalStatus::Pending))?
            .into_iter()
            .any(|p| {
                p.source_qube == *qube
                    && p.profile == *profile
                    && p.path == *path
                    && p.sha256 == sha256
            });
        let status = if same {
            Reason::new(Code::SnapshotSame)
        } else if pending {
            Reason::new(Code::SnapshotPending)
        } else {
            let id = self.store().adopt_from_qube(&NewProposal {
                source_qube: qube.clone(),
                profile: profile.clone(),
                path: path.clone(),
                content: &content,
                mode: Some(mode),
                base_sha256: None,
                note: ADOPT_NOTE,
            })?;
            result.proposal_ids.push(id);
            Reason::new(Code::SnapshotImported)
        };
        result.paths.push((path.to_string(), status));
        if !self.effective_profiles(qube)?.contains(profile) {
            self.assign(qube, profile, true)?;
        }
        if !result.proposal_ids.is_empty() {
            self.announce_pending();
        }
        self.notifier().qube_changed(qube.as_str());
        Ok(result)
    }
}
