//! Proposals: the inbox and the review decisions (how proposals arrive is in
//! `intake.rs`).

use std::collections::BTreeSet;

use qcs_core::diff::{self, HunkId};
use qcs_core::risk::{FileKind, Finding, ScanInput, Severity};
use qcs_core::store::{Acceptance, ProposalStatus};

use super::{Backend, BackendError, Result, views};
use crate::client::types::{API_VERSION, ProposalList, ProposalView};

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

    /// Everything the review shows. Findings are computed again against the store's
    /// current version (it may have changed since the proposal arrived).
    pub fn get_proposal(&self, id: i64) -> Result<ProposalView> {
        let store = self.store();
        let p = store
            .proposal(id)?
            .ok_or_else(|| BackendError::NotFound(format!("proposal #{id} does not exist")))?;
        let base = store.current_file(p.profile.as_str(), p.path.as_str())?;
        let qube_base = match &p.base_sha256 {
            Some(hash) if base.as_ref().map(|b| &b.sha256) != Some(hash) => {
                older_version(&store, &p, hash)?
            }
            _ => None,
        };
        drop(store);
        let base_bytes = base.as_ref().map(|b| b.bytes.as_slice());
        let three_way = qube_base.map(|qube_base| {
            views::three_way_view(
                &diff::three_way(&qube_base, base_bytes.unwrap_or_default(), &p.content),
                &views::PROPOSAL_THREE_WAY,
            )
        });
        let findings = self.scan(p.path.as_str(), &p.content, base_bytes, p.mode);
        let file_diff = diff::diff(base_bytes.unwrap_or_default(), &p.content);
        let must_acknowledge = critical_rules(&findings);
        let summary = qcs_core::store::ProposalSummary {
            id: p.id,
            source_qube: p.source_qube.clone(),
            profile: p.profile.clone(),
            path: p.path.clone(),
            size: p.content.len(),
            sha256: p.sha256.clone(),
            received_at: p.received_at,
            status: p.status,
            batch: p.batch,
        };
        Ok(ProposalView {
            version: API_VERSION,
            summary: views::proposal_summary(&summary),
            mode: p.mode.map(views::mode_text),
            note: views::text_segments(p.note.as_bytes()),
            base_b64: base.as_ref().map(|b| views::b64(&b.bytes)),
            base_sha256: base.as_ref().map(|b| b.sha256.clone()),
            proposed_b64: views::b64(&p.content),
            diff: views::diff_view(&file_diff, &findings),
            findings: findings.iter().map(views::finding_view).collect(),
            must_acknowledge,
            three_way,
        })
    }

    /// Accepts all hunks (`hunks` empty) or the chosen ones; every critical finding of
    /// the content to be stored must be acknowledged by rule id.
    pub fn accept_proposal(
        &self,
        id: i64,
        hunks: &[String],
        acknowledged: &[String],
        note: &str,
    ) -> Result<u64> {
        let generation = {
            let mut store = self.store();
            let p = store
                .proposal(id)?
                .ok_or_else(|| BackendError::NotFound(format!("proposal #{id} does not exist")))?;
            if p.status != ProposalStatus::Pending {
                return Err(BackendError::Refused(format!(
                    "proposal #{id} is already {}",
                    p.status
                )));
            }
            let base = store.current_file(p.profile.as_str(), p.path.as_str())?;
            let base_bytes = base.as_ref().map(|b| b.bytes.as_slice());
            let partial = if hunks.is_empty() {
                None
            } else {
                let old = base_bytes.unwrap_or_default();
                let file_diff = diff::diff(old, &p.content);
                let chosen: Vec<HunkId> = hunks.iter().map(|h| HunkId(h.clone())).collect();
                let unique: BTreeSet<&HunkId> = chosen.iter().collect();
                if unique.len() != chosen.len() {
                    return Err(BackendError::InvalidArgument(
                        "a hunk id is given twice".to_owned(),
                    ));
                }
                Some(
                    diff::apply_hunks(old, &p.content, &file_diff, &chosen)
                        .map_err(|e| BackendError::InvalidArgument(e.to_string()))?,
                )
            };
            let content = partial.as_deref().unwrap_or(&p.content);
            let findings = self.scan(p.path.as_str(), content, base_bytes, p.mode);
            let acknowledged: BTreeSet<&str> = acknowledged.iter().map(String::as_str).collect();
            let missing: Vec<String> = critical_rules(&findings)
                .into_iter()
                .filter(|rule| !acknowledged.contains(rule.as_str()))
                .collect();
            if !missing.is_empty() {
                return Err(BackendError::Unacknowledged(missing));
            }
            let version = store.accept_proposal(
                id,
                Acceptance {
                    content: partial.as_deref(),
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

/// Rule ids of the critical findings, each once, in order.
fn critical_rules(findings: &[Finding]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    findings
        .iter()
        .filter(|f| f.severity == Severity::Critical)
        .filter(|f| seen.insert(f.rule.clone()))
        .map(|f| f.rule.clone())
        .collect()
}

/// The content of the newest version of the proposal's file whose hash is `hash` (the
/// version the qube based its change on), if the store still has it.
fn older_version(
    store: &qcs_core::store::Store,
    proposal: &qcs_core::store::Proposal,
    hash: &str,
) -> Result<Option<Vec<u8>>> {
    let history = store.file_history(proposal.profile.as_str(), proposal.path.as_str())?;
    Ok(history
        .into_iter()
        .rev()
        .filter_map(|v| v.content)
        .find(|c| c.sha256 == hash)
        .map(|c| c.bytes))
}
