//! Push planning and the jobs that write into qubes: execute a plan, roll a qube ×
//! profile back to an earlier generation, re-apply on start (auto-apply).
//!
//! Transfers run with at most `max_parallel` qubes at once, one `qubes.ConfigApply+P`
//! per qube × profile. Every write carries its base hash, so the agent refuses a file
//! that changed since the plan (invariant 4); such files come back as conflicts.
//!
//! Planning never starts a qube: the power states are read from the Admin API first
//! and only running qubes are called; a halted qube is planned as halted, its items
//! unknown. A push starts (`admin.vm.Start`) only the halted qubes the user chose, then
//! plans and writes them; the others are reported as skipped. The shipped policy backs
//! this with `autostart=no` on every service of ours, so no call of this backend can
//! start a qube through qrexec's autostart.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use qcs_core::plan::{self, Action, Actual, ConflictReason, QubePlan, RefusalReason};
use qcs_core::store::{PushedFile, SeenState};
use qcs_protocol::{
    ApplyReply, ApplyRequest, FileOutcome, ProfileId, RelativePath, SnapshotRequest, Version,
    VmName, service,
};
use qubesadmin::PowerState;

use super::replies::{self, ReplyViolation};
use super::services::{ServiceError, printable};
use super::{Backend, BackendError, MAX_KEPT_PLANS, Result, StoredPlan, lock, views};
use crate::client::types::FileOutcome as FileOutcome_;
use crate::client::types::{
    self, API_VERSION, FileOutcomeView, JobSummary, PlanAction, PlanItemView, PlanPower, PushPlan,
    QubeOutcome, QubePlanView,
};
use crate::client::{Code, Reason};

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

    fn wire(self) -> types::JobKind {
        match self {
            JobKind::Push => types::JobKind::Push,
            JobKind::Rollback => types::JobKind::Rollback,
            JobKind::AutoApply => types::JobKind::AutoApply,
        }
    }
}

fn conflict_reason(reason: &ConflictReason) -> Reason {
    match reason {
        ConflictReason::ChangedSinceLastPush => Reason::new(Code::PlanChangedSincePush),
        ConflictReason::PreExisting => Reason::new(Code::PlanPreExisting),
        ConflictReason::NotRegularFile { kind } => {
            Reason::new(Code::PlanNotRegular).arg("kind", kind)
        }
        ConflictReason::StateUnknown => Reason::new(Code::PlanStateUnknown),
    }
}

fn refusal_reason(path: &RelativePath, reason: &RefusalReason) -> Reason {
    match reason {
        RefusalReason::NeverSync => Reason::new(Code::PathNeverSync).arg("path", path),
        RefusalReason::ProvidedByTwoProfiles { profiles } => Reason::new(Code::PlanTwoProfiles)
            .arg(
                "profiles",
                profiles
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
    }
}

/// One qube of a push job.
#[derive(Debug)]
enum JobTarget {
    /// Planned while running: write what the plan says.
    Planned(QubePlan),
    /// Halted when planned and chosen by the user: start it, plan it, write.
    StartThenPush(VmName),
    /// Halted when planned and not chosen: nothing is sent, reported as skipped.
    HaltedSkipped(VmName),
}

impl JobTarget {
    fn qube(&self) -> &str {
        match self {
            JobTarget::Planned(plan) => plan.qube.as_str(),
            JobTarget::StartThenPush(qube) | JobTarget::HaltedSkipped(qube) => qube.as_str(),
        }
    }
}

/// Where planning stands with one qube, from its power state.
enum PowerGate {
    Plan,
    Halted,
    NotRunning(Reason),
}

fn power_gate(qube: &VmName, state: Option<&PowerState>) -> PowerGate {
    match state {
        Some(PowerState::Running) => PowerGate::Plan,
        Some(PowerState::Halted) => PowerGate::Halted,
        Some(other) => PowerGate::NotRunning(
            Reason::new(Code::QubeNotRunning)
                .arg("qube", qube)
                .arg("state", format!("{other:?}")),
        ),
        // Listed by check_target a moment ago, gone now: not called.
        None => PowerGate::NotRunning(Reason::new(Code::QubeUnknown).arg("qube", qube)),
    }
}

fn plan_view(
    plans: &[QubePlan],
    halted: &[VmName],
    errors: &BTreeMap<VmName, (PlanPower, Reason)>,
    id: u64,
) -> PushPlan {
    let mut qubes: Vec<QubePlanView> = plans
        .iter()
        .map(|qp| QubePlanView {
            qube: qp.qube.to_string(),
            power: PlanPower::Running,
            error: None,
            items: qp
                .items
                .iter()
                .map(|item| {
                    let (action, reason, can_overwrite) = match &item.action {
                        Action::Create => (PlanAction::Create, None, false),
                        Action::Update => (
                            PlanAction::Update,
                            item.overridden.as_ref().map(conflict_reason),
                            false,
                        ),
                        Action::Unchanged => (PlanAction::Unchanged, None, false),
                        Action::Conflict(r) => (
                            PlanAction::Conflict,
                            Some(conflict_reason(r)),
                            r.can_overwrite(),
                        ),
                        Action::Refused(r) => (
                            PlanAction::Refused,
                            Some(refusal_reason(&item.path, r)),
                            false,
                        ),
                    };
                    PlanItemView {
                        profile: item.profile.to_string(),
                        path: item.path.to_string(),
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
    for qube in halted {
        qubes.push(QubePlanView {
            qube: qube.to_string(),
            power: PlanPower::Halted,
            error: None,
            items: Vec::new(),
        });
    }
    for (qube, (power, error)) in errors {
        qubes.push(QubePlanView {
            qube: qube.to_string(),
            power: *power,
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
        qube: &VmName,
        profiles: &[ProfileId],
    ) -> Result<BTreeMap<RelativePath, Actual>> {
        let mut map = BTreeMap::new();
        for profile in profiles {
            let paths: Vec<_> = self
                .store()
                .current_files(profile)?
                .into_iter()
                .map(|f| f.path)
                .collect();
            map.extend(self.snapshot_of(qube, profile, paths)?);
        }
        Ok(map)
    }

    /// One `qubes.ConfigSnapshot+P` of `paths`; records what it saw.
    pub(super) fn snapshot_of(
        &self,
        qube: &VmName,
        profile: &ProfileId,
        paths: Vec<RelativePath>,
    ) -> Result<BTreeMap<RelativePath, Actual>> {
        if paths.is_empty() {
            return Ok(BTreeMap::new());
        }
        let request = SnapshotRequest {
            version: Version,
            profile: profile.clone(),
            paths,
        };
        let reply = match self.checked_call(
            qube,
            service::SNAPSHOT,
            profile,
            &request,
            replies::check_snapshot,
        ) {
            Ok(reply) => reply,
            // Refused by the policy's autostart=no (an import or a rollback of a halted
            // qube): say so, rather than "denied by policy".
            Err(e @ ServiceError::Denied { .. }) => {
                let e = BackendError::Service(e);
                let reason = self.reason_for(qube, &e);
                return Err(if reason.code == Code::QubeHalted {
                    BackendError::Refused(reason)
                } else {
                    e
                });
            }
            Err(e) => return Err(e.into()),
        };
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
        qube: &VmName,
        profiles: &BTreeSet<ProfileId>,
        overwrite: &BTreeSet<RelativePath>,
    ) -> Result<QubePlan> {
        // Single assignments and the rules that cover the qube now.
        let chosen: Vec<ProfileId> = self
            .effective_profiles(qube)?
            .into_iter()
            .filter(|p| profiles.is_empty() || profiles.contains(p))
            .collect();
        let snapshot = self.snapshot_paths(qube, &chosen)?;
        let mut input = self.store().plan_input_for(qube, &chosen, snapshot)?;
        input
            .desired
            .retain(|d| profiles.is_empty() || profiles.contains(&d.profile));
        Ok(plan::plan_qube(&input, overwrite))
    }

    /// Plans a push (see the API's `PlanPush`) and keeps it for [`Backend::execute_plan`].
    pub fn plan_push(
        &self,
        qubes: &[VmName],
        profiles: &[ProfileId],
        overwrite: &[(VmName, RelativePath)],
    ) -> Result<PushPlan> {
        let targets: Vec<VmName> = if qubes.is_empty() {
            // Every qube with an effective assignment (rules evaluated now); without
            // the live view, the single assignments only.
            let live = self.live_view().unwrap_or_default();
            self.effective_all(&live)?.into_keys().collect()
        } else {
            qubes.to_vec()
        };
        if targets.is_empty() {
            return Err(BackendError::Refused(Reason::new(Code::PushNoTargets)));
        }
        // Every target must be a qube the Admin API knows, not dom0, not this qube.
        let mut errors = BTreeMap::new();
        let mut checked = Vec::new();
        for qube in targets {
            match self.check_target(&qube) {
                Ok(()) => checked.push(qube),
                Err(BackendError::Refused(reason) | BackendError::NotFound(reason)) => {
                    errors.insert(qube, (PlanPower::Unknown, reason));
                }
                Err(e) => return Err(e),
            }
        }
        // Power states now, from the Admin API (not the cached view): only running
        // qubes are called. When they cannot be read, no qube is called (fail closed).
        let states: BTreeMap<String, PowerState> = match self.admin.domains() {
            Ok(vms) => vms
                .iter()
                .map(|vm| (vm.name().to_owned(), vm.power_state().clone()))
                .collect(),
            Err(e) => {
                let reason = Reason::new(Code::QubeListUnavailable).arg("detail", e);
                for qube in checked.drain(..) {
                    errors.insert(qube, (PlanPower::Unknown, reason.clone()));
                }
                BTreeMap::new()
            }
        };
        let mut targets = Vec::new();
        let mut halted = Vec::new();
        for qube in checked {
            match power_gate(&qube, states.get(qube.as_str())) {
                PowerGate::Plan => targets.push(qube),
                PowerGate::Halted => halted.push(qube),
                PowerGate::NotRunning(reason) => {
                    errors.insert(qube, (PlanPower::NotRunning, reason));
                }
            }
        }
        let profiles: BTreeSet<ProfileId> = profiles.iter().cloned().collect();
        let results =
            qubesadmin::parallel::map_bounded(&targets, self.config.max_parallel.max(1), |qube| {
                let chosen: BTreeSet<RelativePath> = overwrite
                    .iter()
                    .filter(|(q, _)| q == qube)
                    .map(|(_, p)| p.clone())
                    .collect();
                self.plan_one(qube, &profiles, &chosen)
            });
        let mut plans = Vec::new();
        for (qube, result) in targets.iter().zip(results) {
            match result {
                Ok(plan) => plans.push(plan),
                // A store failure is the backend's own problem: report it as such.
                Err(BackendError::Store(e)) => return Err(BackendError::Store(e)),
                Err(e) => {
                    errors.insert(
                        qube.clone(),
                        (PlanPower::Running, self.reason_for(qube, &e)),
                    );
                }
            }
        }
        let id = self.next_id();
        let view = plan_view(&plans, &halted, &errors, id);
        let mut kept = lock(&self.plans);
        kept.insert(id, StoredPlan { plans, halted });
        while kept.len() > MAX_KEPT_PLANS {
            kept.pop_first();
        }
        Ok(view)
    }

    /// Starts a job carrying out a kept plan; returns its id at once. Of the qubes that
    /// were halted when planned, those in `start` are started and pushed, the others
    /// skipped; a name in `start` that is not one of them is refused and nothing runs.
    pub fn execute_plan(self: &Arc<Self>, plan_id: &str, start: &[String]) -> Result<u64> {
        let id: u64 = plan_id.parse().map_err(|_| {
            BackendError::InvalidArgument(
                Reason::new(Code::PlanInvalid)
                    .arg("plan", plan_id.chars().take(64).collect::<String>()),
            )
        })?;
        // Plans are kept until executed, at most MAX_KEPT_PLANS, not across a restart.
        let stored = {
            let mut kept = lock(&self.plans);
            let stored = kept.get(&id).ok_or_else(|| {
                BackendError::NotFound(Reason::new(Code::PlanUnknown).arg("plan", id))
            })?;
            // Checked before the plan is taken: a wrong choice loses nothing.
            if let Some(wrong) = start
                .iter()
                .find(|q| !stored.halted.iter().any(|h| h.as_str() == q.as_str()))
            {
                return Err(BackendError::InvalidArgument(
                    Reason::new(Code::PlanStartNotHalted)
                        .arg("qube", wrong.chars().take(64).collect::<String>()),
                ));
            }
            kept.remove(&id).ok_or_else(|| {
                BackendError::NotFound(Reason::new(Code::PlanUnknown).arg("plan", id))
            })?
        };
        let mut targets: Vec<JobTarget> =
            stored.plans.into_iter().map(JobTarget::Planned).collect();
        for qube in stored.halted {
            targets.push(if start.iter().any(|s| s == qube.as_str()) {
                JobTarget::StartThenPush(qube)
            } else {
                JobTarget::HaltedSkipped(qube)
            });
        }
        Ok(self.start_job(JobKind::Push, targets))
    }

    /// Asks a job to stop after the qubes it is talking to.
    pub fn cancel_job(&self, job: u64) -> Result<()> {
        match lock(&self.jobs).get(&job) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                Ok(())
            }
            None => Err(BackendError::NotFound(
                Reason::new(Code::JobUnknown).arg("job", job),
            )),
        }
    }

    fn start_job(self: &Arc<Self>, kind: JobKind, plans: Vec<JobTarget>) -> u64 {
        let job = self.next_id();
        let cancel = Arc::new(AtomicBool::new(false));
        lock(&self.jobs).insert(job, Arc::clone(&cancel));
        let backend = Arc::clone(self);
        let run = move || {
            let summary = backend.run_push(job, kind, &plans, &cancel);
            lock(&backend.jobs).remove(&job);
            let success = summary.is_success();
            backend.notifier().job_finished(job, success, &summary);
        };
        if let Err(e) = std::thread::Builder::new()
            .name(format!("job-{job}"))
            .spawn(run)
        {
            lock(&self.jobs).remove(&job);
            let summary = JobSummary {
                version: API_VERSION,
                kind: kind.wire(),
                cancelled: false,
                qubes: vec![QubeOutcome {
                    qube: String::new(),
                    error: Some(Reason::new(Code::JobSpawn).arg("detail", e)),
                    skipped: None,
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
        plans: &[JobTarget],
        cancel: &AtomicBool,
    ) -> JobSummary {
        let total = u32::try_from(plans.len()).unwrap_or(u32::MAX);
        let done = AtomicU32::new(0);
        let outcomes =
            qubesadmin::parallel::map_bounded(plans, self.config.max_parallel.max(1), |target| {
                let outcome = match target {
                    JobTarget::HaltedSkipped(qube) => QubeOutcome {
                        qube: qube.to_string(),
                        error: None,
                        skipped: Some(Reason::new(Code::JobHaltedSkipped).arg("qube", qube)),
                        files: Vec::new(),
                    },
                    JobTarget::Planned(plan) if cancel.load(Ordering::Relaxed) => {
                        skipped(plan, Reason::new(Code::JobCancelled))
                    }
                    JobTarget::StartThenPush(qube) if cancel.load(Ordering::Relaxed) => {
                        QubeOutcome {
                            qube: qube.to_string(),
                            error: None,
                            skipped: Some(Reason::new(Code::JobCancelled)),
                            files: Vec::new(),
                        }
                    }
                    JobTarget::Planned(plan) => self.push_qube(job, kind, plan),
                    JobTarget::StartThenPush(qube) => self.start_and_push(job, kind, qube),
                };
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                self.notifier().job_progress(job, n, total, target.qube());
                self.notifier().qube_changed(target.qube());
                outcome
            });
        JobSummary {
            version: API_VERSION,
            kind: kind.wire(),
            cancelled: cancel.load(Ordering::Relaxed),
            qubes: outcomes,
        }
    }

    /// A qube that was halted when planned and that the user chose: started through
    /// the Admin API (unless it runs by now), planned like a push (conflicts stay
    /// conflicts: the user saw none of its items), then written.
    fn start_and_push(&self, job: u64, kind: JobKind, qube: &VmName) -> QubeOutcome {
        let failed = |error: Reason| QubeOutcome {
            qube: qube.to_string(),
            error: Some(error),
            skipped: None,
            files: Vec::new(),
        };
        // This job applies the profiles; an auto-apply on the start event would race it.
        lock(&self.starting).insert(qube.to_string());
        let outcome = match self.start_qube(qube.as_str()) {
            Err(e) => failed(e),
            Ok(()) => match self.plan_one(qube, &BTreeSet::new(), &BTreeSet::new()) {
                Ok(plan) => self.push_qube(job, kind, &plan),
                Err(e) => failed(self.reason_for(qube, &e)),
            },
        };
        lock(&self.starting).remove(qube.as_str());
        outcome
    }

    /// Whether a push job is starting `qube` and writing it itself.
    pub(super) fn push_is_starting(&self, qube: &str) -> bool {
        lock(&self.starting).contains(qube)
    }

    /// `admin.vm.Start` of a qube the user chose to start; a qube that runs already is
    /// left as it is.
    fn start_qube(&self, qube: &str) -> std::result::Result<(), Reason> {
        let failed = |detail: &dyn std::fmt::Display| {
            Reason::new(Code::JobStartFailed)
                .arg("qube", qube)
                .arg("detail", detail)
        };
        let vms = self.admin.domains().map_err(|e| failed(&e))?;
        match vms
            .iter()
            .find(|vm| vm.name() == qube)
            .map(|vm| vm.power_state())
        {
            Some(PowerState::Running) => return Ok(()),
            Some(PowerState::Halted) => {}
            Some(other) => return Err(failed(&format!("{other:?}"))),
            None => return Err(Reason::new(Code::QubeUnknown).arg("qube", qube)),
        }
        self.admin
            .qubesd_call(qube, "admin.vm.Start", "", b"")
            .map_err(|e| failed(&e))?;
        self.mark_live(None);
        Ok(())
    }

    /// One qube: one apply per profile that writes; records what was written.
    fn push_qube(&self, job: u64, kind: JobKind, qube_plan: &QubePlan) -> QubeOutcome {
        let mut files = Vec::new();
        let mut error: Option<Reason> = None;
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
                        FileOutcome_::Skipped,
                        Some(Reason::new(Code::JobEarlierReplyRefused)),
                    ));
                }
                continue;
            }
            // What the plan already found in place is ours now too.
            for item in items.iter().filter(|i| i.action == Action::Unchanged) {
                recorded.push(PushedFile {
                    profile: profile.clone(),
                    path: item.path.clone(),
                    sha256: item.new_sha256.clone(),
                    mode: item.new_mode,
                    generation: item.generation,
                });
                files.push(outcome(item, FileOutcome_::Unchanged, None));
            }
            for item in items
                .iter()
                .filter(|i| matches!(i.action, Action::Conflict(_) | Action::Refused(_)))
            {
                let (what, detail) = match &item.action {
                    Action::Conflict(r) => (FileOutcome_::Conflict, conflict_reason(r)),
                    Action::Refused(r) => (FileOutcome_::Refused, refusal_reason(&item.path, r)),
                    _ => continue,
                };
                files.push(outcome(item, what, Some(detail)));
            }
            let request = match qube_plan.apply_request(profile) {
                Ok(Some(request)) => request,
                Ok(None) => continue,
                Err(e) => {
                    error = Some(
                        Reason::new(Code::JobRequest)
                            .arg("profile", profile)
                            .arg("detail", e),
                    );
                    continue;
                }
            };
            match self.apply(&qube_plan.qube, profile, &request) {
                Ok(reply) => {
                    for result in &reply.files {
                        let Some(item) = items.iter().find(|i| i.path == result.path) else {
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
                                (FileOutcome_::Written, None)
                            }
                            FileOutcome::Unchanged { sha256 } => {
                                recorded.push(PushedFile {
                                    profile: profile.clone(),
                                    path: result.path.clone(),
                                    sha256: sha256.as_str().to_owned(),
                                    mode: item.new_mode,
                                    generation: item.generation,
                                });
                                (FileOutcome_::Unchanged, None)
                            }
                            FileOutcome::Conflict { .. } => (
                                FileOutcome_::Conflict,
                                Some(Reason::new(Code::ApplyChangedSincePlan)),
                            ),
                            FileOutcome::Removed => {
                                (FileOutcome_::Refused, Some(Reason::new(Code::ApplyRemoved)))
                            }
                            FileOutcome::Refused { reason, detail } => (
                                FileOutcome_::Refused,
                                Some(
                                    Reason::new(Code::ApplyRefused)
                                        .arg("code", format!("{reason:?}"))
                                        .arg("detail", printable(detail.as_bytes())),
                                ),
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
                    let reason = self.reason_for(&qube_plan.qube, &e);
                    for item in items.iter().filter(|i| i.writes()) {
                        files.push(outcome(item, FileOutcome_::Skipped, Some(reason.clone())));
                    }
                    refused_reply |=
                        matches!(e, BackendError::Service(ServiceError::InvalidReply { .. }));
                    error = Some(reason);
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
                error = Some(Reason::new(Code::JobNotRecorded).arg("detail", e));
            }
        }
        QubeOutcome {
            qube: qube_plan.qube.to_string(),
            error,
            skipped: None,
            files,
        }
    }

    /// One `qubes.ConfigApply+P`; a reply that breaks the request is refused whole.
    fn apply(
        &self,
        qube: &VmName,
        profile: &ProfileId,
        request: &ApplyRequest,
    ) -> Result<ApplyReply> {
        Ok(self.checked_call(qube, service::APPLY, profile, request, replies::check_apply)?)
    }

    /// Calls a service and passes its reply only when it parses and keeps to the request
    /// (`check`); otherwise audits what the qube sent (bounded, escaped) and refuses the
    /// reply whole, before anything of it is recorded.
    fn checked_call<Req: serde::Serialize, Ans: serde::de::DeserializeOwned + serde::Serialize>(
        &self,
        qube: &VmName,
        service_name: &str,
        profile: &ProfileId,
        request: &Req,
        check: fn(&Req, &Ans) -> std::result::Result<(), ReplyViolation>,
    ) -> std::result::Result<Ans, ServiceError> {
        let refused = |code: &str, message: &str, sent: &str| {
            if let Err(e) =
                self.store()
                    .record_refused_reply(qube, service_name, profile, code, message, sent)
            {
                // The reply is refused all the same.
                eprintln!("qubes-config-syncd: cannot audit a refused reply from {qube}: {e}");
            }
        };
        let reply: Ans = match self
            .services
            .call(qube.as_str(), service_name, profile, request)
        {
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
                    qube: qube.to_string(),
                    violation,
                })
            }
        }
    }

    /// Starts a job writing `profile` as at `generation` into `qube`. The qube is
    /// snapshotted first and planned like a push: a file is written only if it is what we
    /// last pushed there (or absent and never pushed), so a local change is a conflict.
    pub fn rollback(
        self: &Arc<Self>,
        qube: &VmName,
        profile: &ProfileId,
        generation: u64,
    ) -> Result<u64> {
        self.check_target(qube)?;
        let (files, states) = {
            let store = self.store();
            let current = store.profile(profile)?.ok_or_else(|| {
                BackendError::NotFound(Reason::new(Code::ProfileUnknown).arg("profile", profile))
            })?;
            if generation > current.generation {
                return Err(BackendError::NotFound(
                    Reason::new(Code::GenerationUnknown)
                        .arg("profile", profile)
                        .arg("generation", generation)
                        .arg("current", current.generation),
                ));
            }
            (
                store.files_at_generation(profile, generation)?,
                store.qube_file_states(qube)?,
            )
        };
        let snapshot = self.snapshot_of(
            qube,
            profile,
            files.iter().map(|f| f.path.clone()).collect(),
        )?;
        let mut input = plan::QubeInput {
            qube: qube.clone(),
            snapshot,
            desired: Vec::new(),
            last_pushed: BTreeMap::new(),
        };
        for file in files {
            let path = file.path.clone();
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
                profile: profile.clone(),
                path,
                content: file.bytes,
                sha256: file.sha256,
                mode: file.mode,
                generation,
            });
        }
        let plan = plan::plan_qube(&input, &BTreeSet::new());
        Ok(self.start_job(JobKind::Rollback, vec![JobTarget::Planned(plan)]))
    }

    /// Re-applies a qube's profiles after it started; conflicts are imported as proposals
    /// for review, never overwritten. Runs on its own thread.
    pub(crate) fn auto_apply(self: &Arc<Self>, qube: &VmName) {
        let plan = match self.plan_one(qube, &BTreeSet::new(), &BTreeSet::new()) {
            Ok(plan) => plan,
            Err(e) => {
                eprintln!("qubes-config-syncd: auto-apply to {qube}: {e}");
                return;
            }
        };
        let conflicts: Vec<(ProfileId, RelativePath)> = plan
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
        self.start_job(JobKind::AutoApply, vec![JobTarget::Planned(plan)]);
    }
}

fn outcome(item: &plan::PlanItem, what: FileOutcome_, detail: Option<Reason>) -> FileOutcomeView {
    FileOutcomeView {
        profile: item.profile.to_string(),
        path: item.path.to_string(),
        outcome: what,
        detail,
    }
}

fn skipped(plan: &QubePlan, why: Reason) -> QubeOutcome {
    QubeOutcome {
        qube: plan.qube.to_string(),
        error: None,
        skipped: None,
        files: plan
            .items
            .iter()
            .map(|i| outcome(i, FileOutcome_::Skipped, Some(why.clone())))
            .collect(),
    }
}
