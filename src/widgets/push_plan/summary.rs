//! The sentence about a finished push: files per outcome and every failed qube, named.
//!
//! It must not touch a widget: a pure function of the job summary.

use std::collections::BTreeMap;

use crate::i18n::{gettext_f, ngettext_f};
use crate::model::plan;
use qcs_client::types::JobSummary;

pub(super) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// About a finished push: files per outcome, then every qube that failed — by its
/// error, by the files it did not write, or because it could not be planned
/// (`unplanned`: qube and translated reason) — each named.
pub fn describe(summary: &JobSummary, unplanned: &[(String, String)]) -> String {
    let mut outcomes: BTreeMap<qcs_client::types::FileOutcome, usize> = BTreeMap::new();
    let mut errors = Vec::new();
    for qube in &summary.qubes {
        // Skipped on purpose (halted, not chosen): not a failure, but named.
        if let Some(why) = &qube.skipped {
            errors.push(gettext_f(
                "{qube}: {reason}",
                &[("qube", &qube.qube), ("reason", &crate::reasons::text(why))],
            ));
        }
        if let Some(error) = &qube.error {
            errors.push(gettext_f(
                "{qube}: {reason}",
                &[
                    ("qube", &qube.qube),
                    ("reason", &crate::reasons::text(error)),
                ],
            ));
        } else if !qube.is_success() {
            let files: Vec<&str> = qube
                .files
                .iter()
                .filter(|f| !f.outcome.is_success())
                .map(|f| f.path.as_str())
                .collect();
            errors.push(gettext_f(
                "{qube}: not written: {files}",
                &[("qube", &qube.qube), ("files", &files.join(", "))],
            ));
        }
        for file in &qube.files {
            *outcomes.entry(file.outcome).or_default() += 1;
        }
    }
    for (qube, reason) in unplanned {
        errors.push(gettext_f(
            "{qube}: {reason}",
            &[("qube", qube), ("reason", reason)],
        ));
    }
    // What the backend says happened: a cancel that stopped no qube came too late, and
    // the push is described as finished.
    let stopped = plan::cancelled_qubes(summary).len();
    let failed = (summary.failed_qubes().len() + unplanned.len()).saturating_sub(stopped);
    let mut text = if stopped > 0 {
        ngettext_f(
            "Push cancelled: {n} qube was not pushed to.",
            "Push cancelled: {n} qubes were not pushed to.",
            count(stopped),
            &[],
        )
    } else if summary.cancelled {
        gettextrs::gettext("The cancel came too late: the push had reached every qube.")
    } else {
        gettextrs::gettext("Push finished.")
    };
    if failed > 0 {
        text.push(' ');
        text.push_str(&ngettext_f(
            "{n} qube failed.",
            "{n} qubes failed.",
            count(failed),
            &[],
        ));
    }
    for (outcome, n) in outcomes {
        text.push(' ');
        text.push_str(&plan::outcome_count(outcome, n));
    }
    for error in errors {
        text.push('\n');
        text.push_str(&error);
    }
    text
}

#[cfg(test)]
mod tests {
    use qcs_client::types::{
        API_VERSION, FileOutcome, FileOutcomeView, JobKind, JobSummary, QubeOutcome,
    };
    use qcs_client::{Code, Reason};

    use super::describe;

    #[test]
    fn the_summary_names_every_failed_qube_also_those_not_planned() {
        let summary = JobSummary {
            version: API_VERSION,
            kind: JobKind::Push,
            cancelled: false,
            qubes: vec![
                QubeOutcome {
                    qube: "work".into(),
                    error: None,
                    skipped: None,
                    files: vec![FileOutcomeView {
                        profile: "git".into(),
                        path: ".gitconfig".into(),
                        outcome: FileOutcome::Written,
                        detail: None,
                    }],
                },
                QubeOutcome {
                    qube: "noapply".into(),
                    error: Some(
                        Reason::new(Code::QrexecNoService)
                            .arg("qube", "noapply")
                            .arg("service", "qubes.ConfigApply"),
                    ),
                    skipped: None,
                    files: Vec::new(),
                },
                QubeOutcome {
                    qube: "odd".into(),
                    error: None,
                    skipped: None,
                    files: vec![FileOutcomeView {
                        profile: "git".into(),
                        path: ".vimrc".into(),
                        outcome: FileOutcome::from("teleported"),
                        detail: None,
                    }],
                },
            ],
        };
        let text = describe(&summary, &[("noagent".into(), "no agent".into())]);
        assert!(text.starts_with("Push finished. 3 qubes failed."), "{text}");
        assert!(
            text.contains("noapply: noapply does not offer qubes.ConfigApply"),
            "{text}"
        );
        assert!(text.contains("odd: not written: .vimrc"), "{text}");
        assert!(text.contains("noagent: no agent"), "{text}");
        assert!(text.contains("1 file written."), "{text}");
    }

    #[test]
    fn a_cancel_is_reported_as_what_it_stopped() {
        let written = |qube: &str| QubeOutcome {
            qube: qube.into(),
            error: None,
            skipped: None,
            files: vec![FileOutcomeView {
                profile: "vim".into(),
                path: ".vimrc".into(),
                outcome: FileOutcome::Written,
                detail: None,
            }],
        };
        // The cancel came after the only qube had started: everything was written.
        let mut summary = JobSummary {
            version: API_VERSION,
            kind: JobKind::Push,
            cancelled: true,
            qubes: vec![written("untrusted")],
        };
        let text = describe(&summary, &[]);
        assert!(
            text.starts_with("The cancel came too late: the push had reached every qube."),
            "{text}"
        );
        assert!(
            !text.contains("cancelled") && !text.contains("failed"),
            "{text}"
        );
        assert!(text.contains("1 file written."), "{text}");
        // A cancel that kept two qubes from being pushed to: named, and not failures.
        summary.qubes.push(QubeOutcome {
            qube: "mail".into(),
            error: None,
            skipped: Some(Reason::new(Code::JobCancelled)),
            files: Vec::new(),
        });
        summary.qubes.push(QubeOutcome {
            qube: "work".into(),
            error: None,
            skipped: None,
            files: vec![FileOutcomeView {
                profile: "git".into(),
                path: ".gitconfig".into(),
                outcome: FileOutcome::Skipped,
                detail: Some(Reason::new(Code::JobCancelled)),
            }],
        });
        let text = describe(&summary, &[]);
        assert!(
            text.starts_with("Push cancelled: 2 qubes were not pushed to."),
            "{text}"
        );
        assert!(!text.contains("failed"), "{text}");
        assert!(
            text.contains("mail: Cancelled before this qube was started"),
            "{text}"
        );
    }
}
