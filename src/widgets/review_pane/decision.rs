//! The review pane's decisions: per-hunk marks, the gate and Accept/Reject. Nothing
//! can be decided before the whole diff is laid out; Accept then waits for every gated
//! finding to be acknowledged, each by itself, and one accepted hunk. The backend
//! decides again: a refusal is told in words from its reason code (never its English
//! message). This file must not let a shortcut or a button pass a closed gate.

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;

use super::QcsReviewPane;
use crate::backend::BackendError;
use crate::i18n::gettext_f;
use crate::model::review::{HunkDecision, refusal_words};

impl QcsReviewPane {
    /// Mark every hunk; refused (false) until the diff is laid out, so "mark all" can
    /// never decide hunks no row shows yet.
    pub fn decide_all(&self, decision: HunkDecision) -> bool {
        let imp = self.imp();
        if imp.stale.get() || imp.three_way_toggle.is_active() {
            return false;
        }
        imp.diff_view.decide_all(decision)
    }

    /// Whether the pane takes decisions now: the diff laid out, the review current.
    pub(super) fn decisions_open(&self) -> bool {
        let imp = self.imp();
        imp.diff_view.laid_out() && !imp.stale.get() && imp.proposal.borrow().is_some()
    }

    fn gate(&self) -> Option<Result<(), crate::model::review::Blocked>> {
        let imp = self.imp();
        let laid_out = self.decisions_open();
        let decisions = imp.diff_view.decisions();
        imp.state
            .borrow()
            .as_ref()
            .map(|s| s.accept_gate(laid_out, &decisions))
    }

    pub(super) fn update_gate(&self) {
        let imp = self.imp();
        let open = self.decisions_open();
        let per_hunk = open && !imp.three_way_toggle.is_active();
        imp.accept_all_button.set_sensitive(per_hunk);
        imp.reject_all_button.set_sensitive(per_hunk);
        for row in imp.finding_rows.borrow().values() {
            row.ack_check().set_sensitive(open);
        }
        let gate = self.gate();
        match gate {
            Some(Ok(())) => {
                let decisions = imp.diff_view.decisions();
                let accepted = decisions
                    .iter()
                    .filter(|d| **d == HunkDecision::Accept)
                    .count();
                imp.gate_label.set_label(&gettext_f(
                    "{accepted} of {total} changes marked to accept",
                    &[
                        ("accepted", &accepted.to_string()),
                        ("total", &decisions.len().to_string()),
                    ],
                ));
                imp.accept_button.set_sensitive(!imp.busy.get());
                imp.accept_button.set_tooltip_text(None);
            }
            Some(Err(blocked)) => {
                let why = if imp.stale.get() {
                    gettextrs::gettext("Reload the proposal first")
                } else {
                    blocked.explain()
                };
                imp.gate_label.set_label(&why);
                imp.accept_button.set_sensitive(false);
                imp.accept_button.set_tooltip_text(Some(&why));
            }
            None => {
                imp.gate_label.set_label("");
                imp.accept_button.set_sensitive(false);
            }
        }
        imp.reject_button
            .set_sensitive(gate.is_some() && !imp.stale.get() && !imp.busy.get());
    }

    /// Whether Accept is enabled.
    pub fn can_accept(&self) -> bool {
        self.imp().accept_button.is_sensitive()
    }

    /// Accept the marked hunks (no-op while the gate is closed: the shortcut and the
    /// button check the same gate).
    pub fn accept(&self) {
        let imp = self.imp();
        if imp.busy.get() || !matches!(self.gate(), Some(Ok(()))) {
            return;
        }
        let (Some(backend), Some(id)) = (imp.backend.borrow().clone(), self.proposal_id()) else {
            return;
        };
        let decisions = imp.diff_view.decisions();
        let (digest, hunks, acknowledged) = match imp.state.borrow().as_ref() {
            Some(state) => (
                state.digest().to_owned(),
                state.accepted_hunks(&decisions),
                state.acknowledgements(),
            ),
            None => return,
        };
        imp.busy.set(true);
        self.update_gate();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            async move {
                let result = backend
                    .accept_proposal(id, &digest, &hunks, &acknowledged)
                    .await;
                pane.imp().busy.set(false);
                match result {
                    Ok(generation) => pane.done(Ok(gettext_f(
                        "Proposal #{id} accepted: the profile is now at generation {generation}",
                        &[
                            ("id", &id.to_string()),
                            ("generation", &generation.to_string()),
                        ],
                    ))),
                    Err(e) => pane.refused(&e),
                }
                pane.update_gate();
            }
        ));
    }

    /// The backend refused an accept: say why in words (from its reason code, never
    /// its English message), close the gate and offer to reload.
    fn refused(&self, error: &BackendError) {
        let words = match error {
            BackendError::Review(refusal) => {
                refusal_words(refusal.code.as_str(), refusal.ids.len())
            }
            other => gettext_f(
                "Not accepted: {error}. Reload to review the proposal again.",
                &[("error", &other.to_string())],
            ),
        };
        self.mark_stale(&words);
        self.done(Err(words));
    }

    /// Reject the whole proposal.
    pub fn reject(&self) {
        let imp = self.imp();
        if imp.busy.get() {
            return;
        }
        let (Some(backend), Some(id)) = (imp.backend.borrow().clone(), self.proposal_id()) else {
            return;
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            async move {
                let result = backend.reject_proposal(id).await;
                pane.done(match result {
                    Ok(()) => Ok(gettext_f(
                        "Proposal #{id} rejected",
                        &[("id", &id.to_string())],
                    )),
                    Err(e) => Err(e.to_string()),
                });
            }
        ));
    }
}
