//! Push planning and the jobs that write into qubes: execute a plan, roll a qube ×
//! profile back to an earlier generation, re-apply on start (auto-apply).
//!
//! Transfers run with at most `max_parallel` qubes at once, one `qubes.ConfigApply+P`
//! per qube × profile. Every write carries its base hash, so the agent refuses a file
//! that changed since the plan (invariant 4); such files come back as conflicts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use qcs_core::plan::{self, Action, Actual, ConflictReason, QubePlan, RefusalReason};
use qcs_core::store::{PushedFile, SeenState};
use qcs_protocol::{
    ApplyReply, ApplyRequest, FileOutcome, ProfileId, SnapshotRequest, Version, service,
};

use super::replies::{self, ReplyViolation};
use super::services::{ServiceError, printable};
use super::{Backend, BackendError, MAX_KEPT_PLANS, Result, StoredPlan, lock, views};
use crate::client::types::{
    API_VERSION, FileOutcomeView, JobSummary, PlanAction, PlanItemView, PushPlan, QubeOutcome,
    QubePlanView,
};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Push,
    Rollback,
    AutoApply,
}

impl JobKind {
    fn as_str(self) -> &'static str {
        match self {
            JobKind::Push => "push",
            JobKind::Rollback => "rollback",
            JobKind::AutoApply => "auto-apply",
        }
    }
}

fn conflict_text(reason: &ConflictReason) -> String {
    match reason {
        ConflictReason::ChangedSinceLastPush => "changed in the qube since the last push".into(),
        ConflictReason::PreExisting => "a file this tool never wrote is there".into(),
        ConflictReason::NotRegularFile { kind } => format!("not a regular file ({kind})"),
        ConflictReason::StateUnknown => "the qube did not report this file".into(),
    }
}

fn refusal_text(reason: &RefusalReason) -> String {
    match reason {
        RefusalReason::InvalidPath(e) => format!("invalid path: {e}"),
        RefusalReason::NeverSync => "on the never-sync list".into(),
        RefusalReason::ProvidedByTwoProfiles { profiles } => format!(
            "provided by several assigned profiles: {}",
            profiles
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn plan_view(plans: &[QubePlan], errors: &BTreeMap<String, String>, id: u64) -> PushPlan {
    let mut qubes: Vec<QubePlanView> = plans
        .iter()
        .map(|qp| QubePlanView {
            qube: qp.qube.clone(),
            error: None,
            items: qp
                .items
                .iter()
                .map(|item| {
                    let (action, reason, can_overwrite) = match &item.action {
                        Action::Create => (PlanAction::Create, None, false),
                        Action::Update => (
                            PlanAction::Update,
                            item.overridden.as_ref().map(conflict_text),
                            false,
                        ),
                        Action::Unchanged => (PlanAction::Unchanged, None, false),
                        Action::Conflict(r) => (
                            PlanAction::Conflict,
                            Some(conflict_text(r)),
                            r.can_overwrite(),
                        ),
                        Action::Refused(r) => (PlanAction::Refused, Some(refusal_text(r)), false),
                    };
                    PlanItemView {
                        profile: item.profile.to_string(),
                        path: item.path.clone(),
                        action,
                        reason,
                        can_overwrite,
                        forced: item.forced,
                        new_sha256: item.new_sha256.clone(),
                        new_mode: item.new_mode.to_string(),
                        generation: item.generation,
                        diff: item.diff.as_ref().map(|d| views::diff_view(d, &[])),
                        three_way: item
                            .three_way
                            .as_ref()
                            .map(|t| views::three_way_view(t, &views::PLAN_THREE_WAY)),
                    }
                })
                .collect(),
        })
        .collect();
    for (qube, error) in errors {
        qubes.push(QubePlanView {
            qube: qube.clone(),
            error: Some(error.clone()),
            items: Vec::new(),
        });
    }
    qubes.sort_by(|a, b| a.qube.cmp(&b.qube));
    PushPlan {
        version: API_VERSION,
        plan_id: id.to_string(),
        qubes,
    }
}

fn seen_from(actual: &Actual) -> SeenState {
    match actual {
        Actual::Absent => SeenState::Absent,
        Actual::Regular { sha256, mode, .. } => SeenState::Regular {
            sha256: sha256.clone(),
            mode: *mode,
        },
        Actual::Other { kind } => SeenState::Other { kind: kind.clone() },
    }
}

impl Backend {
    /// Snapshots the paths of `profiles` in `qube` (one call per profile), records what
    /// it saw, and returns the snapshot map.
    pub(crate) fn snapshot_paths(
        &self,
        qube: &str,
        profiles: &[ProfileId],
    ) -> Result<BTreeMap<String, Actual>> {
        let mut map = BTreeMap::new();
        for profile in profiles {
            let paths: Vec<_> = self
                .store()
                .current_files(profile.as_str())?
                .into_iter()
                .map(|f| f.path)
                .collect();
            map.extend(self.snapshot_of(qube, profile, paths)?);
        }
        Ok(map)
    }

    /// One `qubes.ConfigSnapshot+P` of `paths`; records what it saw.
    fn snapshot_of(
        &self,
        qube: &str,
        profile: &ProfileId,
        paths: Vec<qcs_protocol::RelativePath>,
    ) -> Result<BTreeMap<String, Actual>> {
        if paths.is_empty() {
            return Ok(BTreeMap::new());
        }
        let request = SnapshotRequest {
            version: Version,
            profile: profile.clone(),
            paths,
        };
        let reply = self.checked_call(
            qube,
            service::SNAPSHOT,
            profile,
            &request,
            replies::check_snapshot,
        )?;
        let seen: Vec<_> = reply
            .entries
            .iter()
            .map(|e| (e.path.clone(), seen_from(&Actual::from_snapshot(&e.state))))
            .collect();
        self.store().record_snapshot(qube, &seen)?;
        Ok(plan::snapshot_map(&reply.entries))
    }

    fn plan_one(
        &self,
        qube: &str,
        profiles: &BTreeSet<String>,
        overwrite: &BTreeSet<String>,
    ) -> Result<QubePlan> {
        let settings = self.store().qube_settings(qube)?;
        let chosen: Vec<ProfileId> = settings
            .assigned
            .iter()
            .filter(|p| profiles.is_empty() || profiles.contains(p.as_str()))
            .cloned()
            .collect();
        let snapshot = self.snapshot_paths(qube, &chosen)?;
        let mut input = self.store().plan_input(qube, snapshot)?;
        input
            .desired
            .retain(|d| profiles.is_empty() || profiles.contains(d.profile.as_str()));
        Ok(plan::plan_qube(&input, overwrite))
    }

    /// Plans a push (see the API's `PlanPush`) and keeps it for [`Backend::execute_plan`].
    pub fn plan_push(
        &self,
        qubes: &[String],
        profiles: &[String],
        overwrite: &[(String, String)],
    ) -> Result<PushPlan> {
        for p in profiles {
            views::profile_id(p)?;
        }
        let targets: Vec<String> = if qubes.is_empty() {
            self.store()
                .qubes()?
                .into_iter()
                .filter(|s| !s.assigned.is_empty())
                .map(|s| s.qube)
                .collect()
        } else {
            for q in qubes {
                qubesadmin::validate::vm_name(q).map_err(|e| {
                    BackendError::InvalidArgument(format!(
                        "invalid qube name {:?}: {e}",
                        q.chars().take(64).collect::<String>()
                    ))
                })?;
            }
            qubes.to_vec()
        };
        let profiles: BTreeSet<String> = profiles.iter().cloned().collect();
        let results =
            qubesadmin::parallel::map_bounded(&targets, self.config.max_parallel.max(1), |qube| {
                let chosen: BTreeSet<String> = overwrite
                    .iter()
                    .filter(|(q, _)| q == qube)
                    .map(|(_, p)| p.clone())
                    .collect();
                self.plan_one(qube, &profiles, &chosen)
            });
        let mut plans = Vec::new();
        let mut errors = BTreeMap::new();
        for (qube, result) in targets.iter().zip(results) {
            match result {
                Ok(plan) => plans.push(plan),
                // A store failure is the backend's own problem: report it as such.
                Err(BackendError::Store(e)) => return Err(BackendError::Store(e)),
                Err(e) => {
                    errors.insert(qube.clone(), e.to_string());
                }
            }
        }
        let id = self.next_id();
        let view = plan_view(&plans, &errors, id);
        let mut kept = lock(&self.plans);
        kept.insert(id, StoredPlan { plans });
        while kept.len() > MAX_KEPT_PLANS {
            kept.pop_first();
        }
        Ok(view)
    }

    /// Starts a job carrying out a kept plan; returns its id at once.
    pub fn execute_plan(self: &Arc<Self>, plan_id: &str) -> Result<u64> {
        let id: u64 = plan_id
            .parse()
            .map_err(|_| BackendError::InvalidArgument(format!("invalid plan id {plan_id:?}")))?;
        let stored = lock(&self.plans).remove(&id).ok_or_else(|| {
            BackendError::NotFound(format!(
                "no plan {id} (plans are kept until executed, at most {MAX_KEPT_PLANS}, \
                 and not across a restart): plan again"
            ))
        })?;
        Ok(self.start_job(JobKind::Push, stored.plans))
    }

    /// Asks a job to stop after the qubes it is talking to.
    pub fn cancel_job(&self, job: u64) -> Result<()> {
        match lock(&self.jobs).get(&job) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                Ok(())
            }
            None => Err(BackendError::NotFound(format!(
                "no running job {job} (it may have finished)"
            ))),
        }
    }

    fn start_job(self: &Arc<Self>, kind: JobKind, plans: Vec<QubePlan>) -> u64 {
        let job = self.next_id();
        let cancel = Arc::new(AtomicBool::new(false));
        lock(&self.jobs).insert(job, Arc::clone(&cancel));
        let backend = Arc::clone(self);
        let run = move || {
            let summary = backend.run_push(job, kind, &plans, &cancel);
            lock(&backend.jobs).remove(&job);
            let success = !summary.cancelled
                && summary.qubes.iter().all(|q| {
                    q.error.is_none()
                        && q.files
                            .iter()
                            .all(|f| matches!(f.outcome.as_str(), "written" | "unchanged"))
                });
            backend.notifier().job_finished(job, success, &summary);
        };
        if let Err(e) = std::thread::Builder::new()
            .name(format!("job-{job}"))
            .spawn(run)
        {
            lock(&self.jobs).remove(&job);
            let summary = JobSummary {
                version: API_VERSION,
                kind: kind.as_str().to_owned(),
                cancelled: false,
                qubes: vec![QubeOutcome {
                    qube: String::new(),
                    error: Some(format!("cannot start the job: {e}")),
                    error_code: Some("job.spawn".to_owned()),
                    files: Vec::new(),
                }],
            };
            self.notifier().job_finished(job, false, &summary);
        }
        job
    }

    /// Carries out `plans`, bounded, reporting progress; never panics on a reply.
    fn run_push(
        &self,
        job: u64,
        kind: JobKind,
        plans: &[QubePlan],
        cancel: &AtomicBool,
    ) -> JobSummary {
        let total = u32::try_from(plans.len()).unwrap_or(u32::MAX);
        let done = AtomicU32::new(0);
        let outcomes = qubesadmin::parallel::map_bounded(
            plans,
            self.config.max_parallel.max(1),
            |qube_plan| {
                let outcome = if cancel.load(Ordering::Relaxed) {
                    skipped(qube_plan, "cancelled")
                } else {
                    self.push_qube(job, kind, qube_plan)
                };
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                self.notifier().job_progress(job, n, total, &qube_plan.qube);
                self.notifier().qube_changed(&qube_plan.qube);
                outcome
            },
        );
        JobSummary {
            version: API_VERSION,
            kind: kind.as_str().to_owned(),
            cancelled: cancel.load(Ordering::Relaxed),
            qubes: outcomes,
        }
    }

    /// One qube: one apply per profile that writes; records what was written.
    fn push_qube(&self, job: u64, kind: JobKind, qube_plan: &QubePlan) -> QubeOutcome {
        let mut files = Vec::new();
        let mut error = None;
        let mut error_code = None;
        // Set when a reply broke its request: nothing more is sent to this qube, and
        // nothing of this push is recorded for it.
        let mut refused_reply = false;
        let mut recorded = Vec::new();
        let mut backups = Vec::new();
        let profiles: BTreeSet<&ProfileId> = qube_plan.items.iter().map(|i| &i.profile).collect();
        for profile in profiles {
            let items: Vec<_> = qube_plan
                .items
                .iter()
                .filter(|i| &i.profile == profile)
                .collect();
            if refused_reply {
                for item in items.iter().filter(|i| i.writes()) {
                    files.push(outcome(
                        item,
                        "skipped",
                        Some("not sent: an earlier reply of this qube was refused".into()),
                    ));
                }
                continue;
            }
            // What the plan already found in place is ours now too.
            for item in items.iter().filter(|i| i.action == Action::Unchanged) {
                if let Ok(path) = qcs_protocol::path::validate_relative_path(&item.path) {
                    recorded.push(PushedFile {
                        profile: profile.clone(),
                        path,
                        sha256: item.new_sha256.clone(),
                        mode: item.new_mode,
                        generation: item.generation,
                    });
                }
                files.push(outcome(item, "unchanged", None));
            }
            for item in items
                .iter()
                .filter(|i| matches!(i.action, Action::Conflict(_) | Action::Refused(_)))
            {
                let (what, detail) = match &item.action {
                    Action::Conflict(r) => ("conflict", conflict_text(r)),
                    Action::Refused(r) => ("refused", refusal_text(r)),
                    _ => continue,
                };
                files.push(outcome(item, what, Some(detail)));
            }
            let request = match qube_plan.apply_request(profile) {
                Ok(Some(request)) => request,
                Ok(None) => continue,
                Err(e) => {
                    error = Some(format!("cannot build the request for {profile}: {e}"));
                    continue;
                }
            };
            match self.apply(&qube_plan.qube, profile, &request) {
                Ok(reply) => {
                    for result in &reply.files {
                        let Some(item) = items.iter().find(|i| i.path == result.path.as_str())
                        else {
                            continue;
                        };
                        let (what, detail) = match &result.outcome {
                            FileOutcome::Written { sha256, mode, .. } => {
                                recorded.push(PushedFile {
                                    profile: profile.clone(),
                                    path: result.path.clone(),
                                    sha256: sha256.as_str().to_owned(),
                                    mode: *mode,
                                    generation: item.generation,
                                });
                                ("written", None)
                            }
                            FileOutcome::Unchanged { sha256 } => {
                                recorded.push(PushedFile {
                                    profile: profile.clone(),
                                    path: result.path.clone(),
                                    sha256: sha256.as_str().to_owned(),
                                    mode: item.new_mode,
                                    generation: item.generation,
                                });
                                ("unchanged", None)
                            }
                            FileOutcome::Conflict { .. } => (
                                "conflict",
                                Some("changed in the qube since the plan; not overwritten".into()),
                            ),
                            FileOutcome::Removed => ("refused", Some("removed".into())),
                            FileOutcome::Refused { reason, detail } => (
                                "refused",
                                Some(format!(
                                    "{reason:?}: {}",
                                    super::services::printable(detail.as_bytes())
                                )),
                            ),
                        };
                        files.push(outcome(item, what, detail));
                    }
                    if let Some(backup) = &reply.backup_id {
                        // In the audit detail, so the agent-side backup can be found.
                        backups.push(format!("{profile}:{}", backup.as_str()));
                    }
                }
                Err(e) => {
                    for item in items.iter().filter(|i| i.writes()) {
                        files.push(outcome(item, "skipped", Some(e.to_string())));
                    }
                    refused_reply |=
                        matches!(e, BackendError::Service(ServiceError::InvalidReply { .. }));
                    error_code = Some(error_code_of(&e).to_owned());
                    error = Some(e.to_string());
                }
            }
        }
        if refused_reply {
            recorded.clear();
        }
        if !recorded.is_empty() {
            let detail =
                serde_json::json!({ "job": job, "kind": kind.as_str(), "backups": backups });
            let result = match kind {
                JobKind::Rollback => {
                    self.store()
                        .record_rollback(&qube_plan.qube, &recorded, detail)
                }
                _ => self.store().record_push(&qube_plan.qube, &recorded, detail),
            };
            if let Err(e) = result {
                error = Some(format!("written, but the store could not record it: {e}"));
                error_code = Some("store".to_owned());
            }
        }
        QubeOutcome {
            qube: qube_plan.qube.clone(),
            error,
            error_code,
            files,
        }
    }

    /// One `qubes.ConfigApply+P`; a reply that breaks the request is refused whole.
    fn apply(&self, qube: &str, profile: &ProfileId, request: &ApplyRequest) -> Result<ApplyReply> {
        Ok(self.checked_call(qube, service::APPLY, profile, request, replies::check_apply)?)
    }

    /// Calls a service and passes its reply only when it parses and keeps to the request
    /// (`check`); otherwise audits what the qube sent (bounded, escaped) and refuses the
    /// reply whole, before anything of it is recorded.
    fn checked_call<Req: serde::Serialize, Ans: serde::de::DeserializeOwned + serde::Serialize>(
        &self,
        qube: &str,
        service_name: &str,
        profile: &ProfileId,
        request: &Req,
        check: fn(&Req, &Ans) -> std::result::Result<(), ReplyViolation>,
    ) -> std::result::Result<Ans, ServiceError> {
        let refused = |code: &str, message: &str, sent: &str| {
            if let Err(e) = self.store().record_refused_reply(
                qube,
                service_name,
                profile.as_str(),
                code,
                message,
                sent,
            ) {
                // The reply is refused all the same.
                eprintln!("qubes-config-syncd: cannot audit a refused reply from {qube}: {e}");
            }
        };
        let reply: Ans = match self.services.call(qube, service_name, profile, request) {
            Ok(reply) => reply,
            Err(error @ ServiceError::BadReply { .. }) => {
                if let ServiceError::BadReply { detail, sent, .. } = &error {
                    refused(error.code(), &printable(detail.as_bytes()), sent);
                }
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        match check(request, &reply) {
            Ok(()) => Ok(reply),
            Err(violation) => {
                let sent = printable(&qcs_protocol::to_json(&reply));
                refused(violation.code(), &violation.to_string(), &sent);
                Err(ServiceError::InvalidReply {
                    service: service_name.to_owned(),
                    qube: qube.to_owned(),
                    violation,
                })
            }
        }
    }

    /// Starts a job writing `profile` as at `generation` into `qube`. The qube is
    /// snapshotted first and planned like a push: a file is written only if it is what we
    /// last pushed there (or absent and never pushed), so a local change is a conflict.
    pub fn rollback(self: &Arc<Self>, qube: &str, profile: &str, generation: u64) -> Result<u64> {
        let profile_id = views::profile_id(profile)?;
        let (files, states) = {
            let store = self.store();
            let current = store.profile(profile)?.ok_or_else(|| {
                BackendError::NotFound(format!("profile {profile} does not exist"))
            })?;
            if generation > current.generation {
                return Err(BackendError::NotFound(format!(
                    "profile {profile} has no generation {generation} (current: {})",
                    current.generation
                )));
            }
            (
                store.files_at_generation(profile, generation)?,
                store.qube_file_states(qube)?,
            )
        };
        let snapshot = self.snapshot_of(
            qube,
            &profile_id,
            files.iter().map(|f| f.path.clone()).collect(),
        )?;
        let mut input = plan::QubeInput {
            qube: qube.to_owned(),
            snapshot,
            ..Default::default()
        };
        for file in files {
            let path = file.path.to_string();
            if let Some(p) = states
                .iter()
                .find(|s| s.path == file.path)
                .and_then(|s| s.pushed.clone())
            {
                input.last_pushed.insert(
                    path.clone(),
                    plan::LastPushed {
                        sha256: p.sha256,
                        mode: p.mode,
                        generation: p.generation,
                        content: None,
                    },
                );
            }
            input.desired.push(plan::DesiredFile {
                profile: profile_id.clone(),
                path,
                content: file.bytes,
                sha256: file.sha256,
                mode: file.mode,
                generation,
            });
        }
        let plan = plan::plan_qube(&input, &BTreeSet::new());
        Ok(self.start_job(JobKind::Rollback, vec![plan]))
    }

    /// Re-applies a qube's profiles after it started; conflicts are imported as proposals
    /// for review, never overwritten. Runs on its own thread.
    pub(crate) fn auto_apply(self: &Arc<Self>, qube: &str) {
        let plan = match self.plan_one(qube, &BTreeSet::new(), &BTreeSet::new()) {
            Ok(plan) => plan,
            Err(e) => {
                eprintln!("qubes-config-syncd: auto-apply to {qube}: {e}");
                return;
            }
        };
        let conflicts: Vec<(ProfileId, String)> = plan
            .items
            .iter()
            .filter(|i| matches!(i.action, Action::Conflict(_)))
            .map(|i| (i.profile.clone(), i.path.clone()))
            .collect();
        if !conflicts.is_empty() {
            match self.import_conflicts(&plan) {
                Ok(n) if n > 0 => self.announce_pending(),
                Ok(_) => {}
                Err(e) => eprintln!("qubes-config-syncd: auto-apply to {qube}: {e}"),
            }
        }
        self.start_job(JobKind::AutoApply, vec![plan]);
    }
}

fn outcome(item: &plan::PlanItem, what: &str, detail: Option<String>) -> FileOutcomeView {
    FileOutcomeView {
        profile: item.profile.to_string(),
        path: item.path.clone(),
        outcome: what.to_owned(),
        detail,
    }
}

/// The reason code of a failure, for job summaries.
fn error_code_of(error: &BackendError) -> &'static str {
    match error {
        BackendError::Service(e) => e.code(),
        BackendError::Store(_) => "store",
        BackendError::Admin(_) => "admin-api",
        _ => "failed",
    }
}

fn skipped(plan: &QubePlan, why: &str) -> QubeOutcome {
    QubeOutcome {
        qube: plan.qube.clone(),
        error: None,
        error_code: None,
        files: plan
            .items
            .iter()
            .map(|i| outcome(i, "skipped", Some(why.to_owned())))
            .collect(),
    }
}
