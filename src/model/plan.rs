//! The push plan page: counts per action, what a push would write, and job progress.

use gettextrs::pgettext;

use crate::i18n::ngettext_f;
use qcs_client::Code;
use qcs_client::types::{FileOutcome, JobSummary, PlanAction, PushPlan, QubeOutcome};

/// Translated action name.
pub fn action_label(action: PlanAction) -> String {
    match action {
        PlanAction::Create => pgettext("plan action", "Create"),
        PlanAction::Update => pgettext("plan action", "Update"),
        PlanAction::Unchanged => pgettext("plan action", "Unchanged"),
        PlanAction::Conflict => pgettext("plan action", "Conflict"),
        PlanAction::Refused => pgettext("plan action", "Refused"),
        PlanAction::Unknown => pgettext("plan action", "Unknown"),
    }
}

/// CSS class of an action.
pub fn action_css_class(action: PlanAction) -> &'static str {
    match action {
        PlanAction::Create | PlanAction::Update => "plan-write",
        PlanAction::Unchanged => "plan-unchanged",
        PlanAction::Conflict => "plan-conflict",
        PlanAction::Refused | PlanAction::Unknown => "plan-refused",
    }
}

/// "N written." and the like for a finished push; an outcome this app does not know is
/// a failure, counted as such.
pub fn outcome_count(outcome: FileOutcome, n: usize) -> String {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    match outcome {
        FileOutcome::Written => ngettext_f("{n} file written.", "{n} files written.", n, &[]),
        FileOutcome::Unchanged => ngettext_f("{n} file unchanged.", "{n} files unchanged.", n, &[]),
        FileOutcome::Conflict => ngettext_f(
            "{n} conflict left for review.",
            "{n} conflicts left for review.",
            n,
            &[],
        ),
        FileOutcome::Refused => ngettext_f("{n} file refused.", "{n} files refused.", n, &[]),
        FileOutcome::Skipped => ngettext_f("{n} file skipped.", "{n} files skipped.", n, &[]),
        FileOutcome::Unknown => ngettext_f(
            "{n} file with an unknown outcome (not written).",
            "{n} files with an unknown outcome (not written).",
            n,
            &[],
        ),
    }
}

/// Totals of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanTotals {
    pub writes: usize,
    pub unchanged: usize,
    pub conflicts: usize,
    pub refused: usize,
    /// Qubes that could not be planned at all.
    pub failed_qubes: usize,
}

impl PlanTotals {
    pub fn of(plan: &PushPlan) -> PlanTotals {
        let mut totals = PlanTotals::default();
        for qube in &plan.qubes {
            if qube.error.is_some() {
                totals.failed_qubes += 1;
            }
            for item in &qube.items {
                match item.action {
                    PlanAction::Create | PlanAction::Update => totals.writes += 1,
                    PlanAction::Unchanged => totals.unchanged += 1,
                    PlanAction::Conflict => totals.conflicts += 1,
                    PlanAction::Refused | PlanAction::Unknown => totals.refused += 1,
                }
            }
        }
        totals
    }

    /// A push is worth starting only when it writes something.
    pub fn can_push(&self) -> bool {
        self.writes > 0
    }
}

/// Qubes in the plan that have a conflict (for the sidebar badge).
pub fn qubes_with_conflicts(plan: &PushPlan) -> Vec<String> {
    plan.qubes
        .iter()
        .filter(|q| q.items.iter().any(|i| i.action == PlanAction::Conflict))
        .map(|q| q.qube.clone())
        .collect()
}

/// What a conflict in the plan leaves to the user. With an Overwrite button on its row
/// the user chooses a side; without one there is nothing to choose here, and the text
/// says what the push does instead.
pub fn conflict_hint(can_overwrite: bool) -> String {
    if can_overwrite {
        gettextrs::gettext(
            "Choose a side: Overwrite puts the store's version into the qube (the qube keeps a backup); without it, the push leaves the qube's version and skips this file.",
        )
    } else {
        gettextrs::gettext(
            "The push leaves the qube's version of this file as it is. To keep it, import it from the qube's page (Import Changes) and review it.",
        )
    }
}

/// Whether the cancel kept this qube from being pushed to: the backend skipped it (or
/// its files) because of the cancel, not for another reason.
pub fn stopped_by_cancel(qube: &QubeOutcome) -> bool {
    let cancelled = |r: &qcs_client::Reason| r.code == Code::JobCancelled;
    qube.skipped.as_ref().is_some_and(cancelled)
        || (!qube.files.is_empty()
            && qube.files.iter().all(|f| {
                f.outcome == FileOutcome::Skipped && f.detail.as_ref().is_some_and(cancelled)
            }))
}

/// The qubes a cancel kept from being pushed to. A cancel that came after every qube
/// had started stopped nothing: the summary then says the push finished, whatever the
/// job's `cancelled` flag says.
pub fn cancelled_qubes(summary: &JobSummary) -> Vec<&QubeOutcome> {
    if !summary.cancelled {
        return Vec::new();
    }
    summary
        .qubes
        .iter()
        .filter(|q| stopped_by_cancel(q))
        .collect()
}

/// Progress fraction for the progress bar, clamped to 0..=1 (the backend's numbers
/// are trusted, but a bar never runs backwards or past its end).
pub fn fraction(done: u32, total: u32) -> f64 {
    if total == 0 {
        return 0.0;
    }
    (f64::from(done) / f64::from(total)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcs_client::types::{PlanItemView, QubePlanView};

    fn item(action: PlanAction) -> PlanItemView {
        PlanItemView {
            profile: "git".into(),
            path: ".gitconfig".into(),
            action,
            reason: None,
            can_overwrite: false,
            forced: false,
            new_sha256: String::new(),
            new_mode: "0644".into(),
            generation: 1,
            diff: None,
            three_way: None,
        }
    }

    #[test]
    fn totals_and_conflicted_qubes() {
        let plan = PushPlan {
            version: 1,
            plan_id: "p".into(),
            qubes: vec![
                QubePlanView {
                    qube: "work".into(),
                    power: qcs_client::types::PlanPower::Running,
                    error: None,
                    items: vec![item(PlanAction::Create), item(PlanAction::Conflict)],
                },
                QubePlanView {
                    qube: "vault".into(),
                    power: qcs_client::types::PlanPower::Running,
                    error: None,
                    items: vec![item(PlanAction::Unchanged), item(PlanAction::Update)],
                },
                QubePlanView {
                    qube: "gone".into(),
                    power: qcs_client::types::PlanPower::Unknown,
                    error: Some(
                        qcs_client::Reason::new(qcs_client::Code::QubeUnknown).arg("qube", "x"),
                    ),
                    items: vec![],
                },
            ],
        };
        let totals = PlanTotals::of(&plan);
        assert_eq!(
            totals,
            PlanTotals {
                writes: 2,
                unchanged: 1,
                conflicts: 1,
                refused: 0,
                failed_qubes: 1
            }
        );
        assert!(totals.can_push());
        assert_eq!(qubes_with_conflicts(&plan), ["work"]);
    }

    #[test]
    fn outcomes_read_as_sentences() {
        assert_eq!(outcome_count(FileOutcome::Written, 1), "1 file written.");
        assert_eq!(outcome_count(FileOutcome::Skipped, 3), "3 files skipped.");
        assert_eq!(
            outcome_count(FileOutcome::from("exploded"), 2),
            "2 files with an unknown outcome (not written)."
        );
    }

    #[test]
    fn only_qubes_skipped_by_the_cancel_count_as_cancelled() {
        use qcs_client::Reason;
        use qcs_client::types::{API_VERSION, FileOutcomeView, JobKind};
        let file = |outcome, detail: Option<Reason>| FileOutcomeView {
            profile: "git".into(),
            path: ".gitconfig".into(),
            outcome,
            detail,
        };
        let qube = |name: &str, skipped: Option<Reason>, files| QubeOutcome {
            qube: name.into(),
            error: None,
            skipped,
            files,
        };
        let mut summary = JobSummary {
            version: API_VERSION,
            kind: JobKind::Push,
            cancelled: true,
            qubes: vec![
                qube("work", None, vec![file(FileOutcome::Written, None)]),
                qube("vault", Some(Reason::new(Code::JobHaltedSkipped)), vec![]),
                qube(
                    "mail",
                    None,
                    vec![file(
                        FileOutcome::Skipped,
                        Some(Reason::new(Code::JobCancelled)),
                    )],
                ),
                qube("untrusted", Some(Reason::new(Code::JobCancelled)), vec![]),
                qube(
                    "odd",
                    None,
                    vec![file(
                        FileOutcome::Skipped,
                        Some(Reason::new(Code::QrexecNoService)),
                    )],
                ),
            ],
        };
        let names = |s: &JobSummary| -> Vec<String> {
            cancelled_qubes(s).iter().map(|q| q.qube.clone()).collect()
        };
        assert_eq!(names(&summary), ["mail", "untrusted"]);
        // A late cancel: every qube had started, nothing was stopped.
        summary.qubes.truncate(2);
        assert!(names(&summary).is_empty());
        // Not cancelled at all: nothing counts as cancelled.
        summary.cancelled = false;
        summary
            .qubes
            .push(qube("x", Some(Reason::new(Code::JobCancelled)), vec![]));
        assert!(names(&summary).is_empty());
    }

    #[test]
    fn progress_is_clamped() {
        assert_eq!(fraction(0, 0), 0.0);
        assert_eq!(fraction(1, 4), 0.25);
        assert_eq!(fraction(9, 4), 1.0);
    }
}
