//! When the proposal or the store changes under the review pane: it says so, closes
//! the gate and offers to reload (or says there is nothing left to review). This file
//! must not keep decisions or acknowledgements across a changed review: a review that
//! is not the one shown starts over.

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::types::{ProposalStatus, ProposalView};

use super::QcsReviewPane;
use crate::i18n::gettext_f;

impl QcsReviewPane {
    /// Say that the shown review is out of date (`message`, in words), close the gate
    /// and offer to reload.
    pub fn mark_stale(&self, message: &str) {
        let imp = self.imp();
        imp.stale.set(true);
        imp.stale_label.set_label(message);
        imp.stale_revealer.set_reveal_child(true);
        imp.reload_button.set_visible(true);
        self.update_gate();
    }

    /// The proposal was decided elsewhere: say so; there is nothing to reload.
    pub fn mark_gone(&self, message: &str) {
        self.mark_stale(message);
        self.imp().reload_button.set_visible(false);
    }

    /// The stale message on show, if any.
    pub fn stale_message(&self) -> Option<String> {
        let imp = self.imp();
        imp.stale.get().then(|| imp.stale_label.label().to_string())
    }

    /// Fetch the proposal again and show it as it is now.
    pub fn reload(&self) {
        let imp = self.imp();
        let (Some(backend), Some(id)) = (imp.backend.borrow().clone(), self.proposal_id()) else {
            return;
        };
        imp.busy.set(true);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            async move {
                let result = backend.proposal(id).await;
                pane.imp().busy.set(false);
                match result {
                    Ok(view) if view.summary.status == ProposalStatus::Pending => pane.show(view),
                    Ok(_) => pane.mark_gone(&gettextrs::gettext(
                        "This proposal was decided elsewhere (accepted or rejected); there is nothing left to review.",
                    )),
                    Err(e) => pane.mark_gone(&gettext_f(
                        "This proposal cannot be opened any more: {error}",
                        &[("error", &e.to_string())],
                    )),
                }
            }
        ));
    }

    /// Whether `newer` (fetched now) is what the pane shows; when not, the pane says
    /// so and shows `newer` from its top (scroll positions and decisions reset).
    pub fn refresh_from(&self, newer: ProposalView) -> bool {
        let same = self
            .imp()
            .proposal
            .borrow()
            .as_ref()
            .is_some_and(|shown| same_review(shown, &newer));
        if !same && !self.imp().busy.get() {
            self.show(newer);
            self.mark_stale(&gettextrs::gettext(
                "The proposal or the store changed while you were reviewing: the review was opened again as it is now. Decisions and acknowledgements start over.",
            ));
            self.imp().reload_button.set_visible(false);
        }
        same
    }
}

/// Whether two fetches of a proposal show the same review: the backend's digest covers
/// the version, base, hunks, findings and rules; a decided proposal is no longer the
/// review that was open.
fn same_review(a: &ProposalView, b: &ProposalView) -> bool {
    a.summary.id == b.summary.id
        && a.summary.status == b.summary.status
        && !a.digest.is_empty()
        && a.digest == b.digest
}
