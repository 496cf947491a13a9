//! A profile's history for the API (`Generations`) and its rollback (`RevertProfile`):
//! the store's generations as wire types, and a rollback as a new generation that a
//! push then carries to the qubes, planned and confirmed like any push.
//!
//! And the undo of the last apply into one qube from the agent's backup of it
//! (`PlanUndo`, then `Undo`): `qubes.ConfigRollback` first as a dry run (the plan the
//! user confirms), then for real; a file changed in the qube since is a conflict, kept.
//! The store keeps its generation and records what the qube has afterwards (a snapshot
//! of the known paths), so the qube shows as drifted and the next push shows the
//! restored files as conflicts instead of silently rewriting them. A reply naming a
//! path that apply did not write is refused whole, whatever the backup manifest in the
//! qube's home says.
//!
//! The rollback changes the store only; the undo writes into the one qube it names, only
//! when the caller confirmed the plan of it.

use qcs_core::store::{FileChange, GenerationAuthor};
use qcs_protocol::{
    BackupId, FileOutcome, ProfileId, RelativePath, RollbackReply, RollbackRequest, Version,
    VmName, WritePolicy, service,
};

use super::replies::{self, ReplyViolation};
use super::services::{ServiceError, printable};
use super::{Backend, BackendError, Result};
use crate::client::history::{
    FileChange as WireChange, GenerationAuthor as WireAuthor, GenerationFile, GenerationList,
    GenerationView, UndoPlan,
};
use crate::client::types::{
    self, API_VERSION, FileOutcome as WireOutcome, FileOutcomeView, JobSummary, QubeOutcome,
};
use crate::client::{Code, Reason};

impl Backend {
    /// Every generation of `profile`, oldest first.
    pub fn generations(&self, profile: &ProfileId) -> Result<GenerationList> {
        let store = self.store();
        let generations = store.generations(profile)?;
        let current = store.profile(profile)?.map_or(0, |p| p.generation);
        Ok(GenerationList {
            version: API_VERSION,
            profile: profile.to_string(),
            current,
            generations: generations
                .into_iter()
                .map(|g| GenerationView {
                    number: g.number,
                    at: g.at,
                    author: match g.author {
                        GenerationAuthor::LocalEdit => WireAuthor::LocalEdit,
                        GenerationAuthor::Import => WireAuthor::Import,
                        GenerationAuthor::AcceptedProposal { qube, proposal_id } => {
                            WireAuthor::Proposal {
                                qube: qube.to_string(),
                                proposal_id,
                            }
                        }
                        GenerationAuthor::Rollback { to } => WireAuthor::Rollback { to },
                    },
                    files: g
                        .files
                        .into_iter()
                        .map(|(path, change)| GenerationFile {
                            path: path.to_string(),
                            change: match change {
                                FileChange::Added => WireChange::Added,
                                FileChange::Changed => WireChange::Changed,
                                FileChange::Removed => WireChange::Removed,
                            },
                        })
                        .collect(),
                })
                .collect(),
        })
    }

    /// Rolls `profile` back to `generation` as a new generation (refused when nothing
    /// would change); the qubes get it with the next push, which the caller plans.
    pub fn rollback_profile(&self, profile: &ProfileId, generation: u64) -> Result<u64> {
        let new = self.store().rollback_profile(profile, generation)?;
        self.profile_changed();
        Ok(new)
    }
}

/// The summary entries of a (dry-run or real) rollback reply, and a whole-backup refusal.
fn outcomes(profile: &ProfileId, reply: &RollbackReply) -> (Vec<FileOutcomeView>, Option<Reason>) {
    let mut files = Vec::new();
    let mut error = None;
    for result in &reply.files {
        let (outcome, detail) = match &result.outcome {
            FileOutcome::Written { .. } => (WireOutcome::Written, None),
            FileOutcome::Removed => (WireOutcome::Removed, None),
            FileOutcome::Unchanged { .. } => (WireOutcome::Unchanged, None),
            FileOutcome::Conflict { .. } => {
                (WireOutcome::Conflict, Some(Reason::new(Code::UndoChanged)))
            }
            FileOutcome::Refused { reason, detail } => (
                WireOutcome::Refused,
                Some(
                    Reason::new(Code::ApplyRefused)
                        .arg("code", format!("{reason:?}"))
                        .arg("detail", printable(detail.as_bytes())),
                ),
            ),
        };
        match &result.path {
            Some(path) => files.push(FileOutcomeView {
                profile: profile.to_string(),
                path: path.to_string(),
                outcome,
                detail,
            }),
            // The whole backup was refused (unknown or damaged in the qube).
            None => error = detail,
        }
    }
    (files, error)
}

impl Backend {
    /// The apply to undo, or `undo.nothing`.
    fn undoable(&self, qube: &VmName, profile: &ProfileId) -> Result<(String, Vec<RelativePath>)> {
        self.store().undoable_apply(qube, profile)?.ok_or_else(|| {
            BackendError::NotFound(
                Reason::new(Code::UndoNothing)
                    .arg("qube", qube)
                    .arg("profile", profile),
            )
        })
    }

    /// One `qubes.ConfigRollback+P` of `backup`, checked against its request and against
    /// the paths that apply wrote (`known`).
    fn restore_call(
        &self,
        qube: &VmName,
        profile: &ProfileId,
        backup: &str,
        known: &[RelativePath],
        dry_run: bool,
    ) -> std::result::Result<RollbackReply, ServiceError> {
        let backup_id = BackupId::parse(backup).map_err(|_| ServiceError::InvalidReply {
            service: service::ROLLBACK.to_owned(),
            qube: qube.to_string(),
            violation: ReplyViolation::Invented {
                what: format!("backup {}", printable(backup.as_bytes())),
            },
        })?;
        let request = RollbackRequest {
            version: Version,
            profile: profile.clone(),
            backup_ids: vec![backup_id],
            write_policy: WritePolicy::IfUnchanged,
            dry_run,
        };
        let reply = self.checked_call(
            qube,
            service::ROLLBACK,
            profile,
            &request,
            replies::check_rollback,
        )?;
        // The manifest lives in the qube's home: it may name any path. Only those the
        // backed-up apply wrote are believed.
        if let Some(path) = reply
            .files
            .iter()
            .filter_map(|f| f.path.as_ref())
            .find(|p| !known.contains(p))
        {
            let violation = ReplyViolation::Invented {
                what: path.to_string(),
            };
            let sent = printable(&qcs_protocol::to_json(&reply));
            if let Err(e) = self.store().record_refused_reply(
                qube,
                service::ROLLBACK,
                profile,
                violation.code(),
                &violation.to_string(),
                &sent,
            ) {
                eprintln!("qubes-config-syncd: cannot audit a refused reply from {qube}: {e}");
            }
            return Err(ServiceError::InvalidReply {
                service: service::ROLLBACK.to_owned(),
                qube: qube.to_string(),
                violation,
            });
        }
        Ok(reply)
    }

    /// What undoing the last apply of `profile` into `qube` would do (a dry run in the
    /// qube: nothing changes).
    pub fn plan_undo(&self, qube: &VmName, profile: &ProfileId) -> Result<UndoPlan> {
        self.check_target(qube)?;
        let (backup, known) = self.undoable(qube, profile)?;
        let reply = self
            .restore_call(qube, profile, &backup, &known, true)
            .map_err(|e| {
                let e = BackendError::Service(e);
                BackendError::Refused(self.reason_for(qube, &e))
            })?;
        let (files, error) = outcomes(profile, &reply);
        if let Some(error) = error {
            return Err(BackendError::Refused(error));
        }
        Ok(UndoPlan {
            version: API_VERSION,
            qube: qube.to_string(),
            profile: profile.to_string(),
            backup,
            files,
        })
    }

    /// Undoes the last apply of `profile` into `qube` from `backup` (the planned one),
    /// then records what the qube has now.
    pub fn undo(&self, qube: &VmName, profile: &ProfileId, backup: &str) -> Result<JobSummary> {
        self.check_target(qube)?;
        let (current, known) = self.undoable(qube, profile)?;
        if current != backup {
            return Err(BackendError::Refused(
                Reason::new(Code::UndoStale)
                    .arg("qube", qube)
                    .arg("profile", profile),
            ));
        }
        let mut outcome = QubeOutcome {
            qube: qube.to_string(),
            error: None,
            skipped: None,
            files: Vec::new(),
        };
        match self.restore_call(qube, profile, &current, &known, false) {
            Ok(reply) => {
                let (files, error) = outcomes(profile, &reply);
                let record: Vec<serde_json::Value> = files
                    .iter()
                    .map(|f| serde_json::json!({ "path": f.path, "outcome": f.outcome.as_str() }))
                    .collect();
                outcome.files = files;
                outcome.error = error;
                if let Err(e) =
                    self.store()
                        .record_undo(qube, profile, &current, serde_json::json!(record))
                {
                    outcome.error = Some(Reason::new(Code::JobNotRecorded).arg("detail", e));
                }
                // What is there now, from a checked snapshot (never the reply's word):
                // the qube differs from the store, which keeps its generation.
                if let Err(e) = self.snapshot_of(qube, profile, known) {
                    eprintln!("qubes-config-syncd: snapshot after an undo in {qube}: {e}");
                }
            }
            Err(e) => {
                outcome.error = Some(self.reason_for(qube, &BackendError::Service(e)));
            }
        }
        self.notifier().qube_changed(qube.as_str());
        Ok(JobSummary {
            version: API_VERSION,
            kind: types::JobKind::Rollback,
            cancelled: false,
            qubes: vec![outcome],
        })
    }
}
