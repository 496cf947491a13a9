//! The review pane's findings list: most severe first, each linked to its line, its
//! check box the acknowledgement of that finding by itself. A `GtkListView` over a
//! lazy `IndexModel` (one position per finding) with `QcsFindingRow`s made only for
//! the findings on screen and bound per position. This file must not decide whether
//! Accept opens (decision.rs does, from the review state) nor place the list's room
//! (layout.rs).

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::types::ProposalView;

use super::QcsReviewPane;
use crate::i18n::{gettext_f, ngettext_f};
use crate::model::review::{ReviewState, lines_of_findings};
use crate::model::{Severity, SeverityExt};
use crate::widgets::QcsFindingRow;
use crate::widgets::diff_view::IndexModel;

impl QcsReviewPane {
    pub(super) fn fill_findings(&self, proposal: &ProposalView, state: &ReviewState) {
        let imp = self.imp();
        let mut order: Vec<usize> = (0..proposal.findings.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(proposal.findings[i].severity.order()));
        // Every finding is in the list's model at once, the most severe first; the list
        // makes rows for the findings on screen only, so thousands of findings (a
        // hidden character on every line) cost no widget each.
        let lines = lines_of_findings(&proposal.diff, &proposal.findings);
        let rows: Vec<(usize, bool, Option<usize>)> = order
            .into_iter()
            .map(|index| (index, state.is_blocking(index), lines[index]))
            .collect();
        // The rows read the proposal and the review state: the model takes the
        // findings once both are the new ones (`list_findings`).
        if let Some(model) = imp.findings_model.borrow().as_ref() {
            model.set_len(0);
        }
        imp.finding_rows.borrow_mut().clear();
        imp.finding_order.replace(rows);

        let mut counts = [0u32; 5];
        for finding in &proposal.findings {
            counts[usize::from(finding.severity.order())] += 1;
        }
        let parts: Vec<String> = [
            (Severity::Critical, "{n} critical", "{n} critical"),
            (Severity::High, "{n} high", "{n} high"),
            (Severity::Medium, "{n} medium", "{n} medium"),
            (Severity::Low, "{n} low", "{n} low"),
            (Severity::Info, "{n} info", "{n} info"),
        ]
        .into_iter()
        .filter(|(s, _, _)| counts[usize::from(s.order())] > 0)
        .map(|(s, one, many)| ngettext_f(one, many, counts[usize::from(s.order())], &[]))
        .collect();
        imp.findings_heading.set_label(&if parts.is_empty() {
            gettextrs::gettext("No findings")
        } else {
            gettext_f("Findings: {list}", &[("list", &parts.join(" · "))])
        });
    }

    /// Put every finding into the findings list's model (the proposal and its review
    /// state are the pane's).
    pub(super) fn list_findings(&self) {
        let imp = self.imp();
        let count = u32::try_from(imp.finding_order.borrow().len()).unwrap_or(u32::MAX);
        if let Some(model) = imp.findings_model.borrow().as_ref() {
            model.set_len(count);
        }
    }

    /// The findings list: a `GtkListView` over one position per finding, its rows
    /// made for the findings on screen and bound to the finding at their position.
    pub(super) fn setup_findings_list(&self) {
        let imp = self.imp();
        let model = IndexModel::default();
        imp.findings_list
            .set_model(Some(&gtk::NoSelection::new(Some(model.clone()))));
        imp.findings_model.replace(Some(model));
        let factory = gtk::SignalListItemFactory::new();
        factory.connect_setup(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            move |_, item| {
                if let Some(item) = item.downcast_ref::<gtk::ListItem>() {
                    item.set_child(Some(&pane.finding_row()));
                    item.set_activatable(false);
                    item.set_selectable(false);
                }
            }
        ));
        factory.connect_bind(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            move |_, item| {
                if let Some(item) = item.downcast_ref::<gtk::ListItem>() {
                    pane.bind_finding_row(item);
                }
            }
        ));
        factory.connect_unbind(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            move |_, item| {
                if let Some(row) = item
                    .downcast_ref::<gtk::ListItem>()
                    .and_then(|item| item.child().and_downcast::<QcsFindingRow>())
                {
                    pane.imp()
                        .finding_rows
                        .borrow_mut()
                        .retain(|_, r| *r != row);
                }
            }
        ));
        imp.findings_list.set_factory(Some(&factory));
    }

    /// A finding row (bound to a finding later): its check box acknowledges the
    /// finding it shows, its line button shows that finding's line.
    fn finding_row(&self) -> QcsFindingRow {
        let row = QcsFindingRow::new();
        row.ack_check().connect_toggled(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            #[weak]
            row,
            move |check| {
                if pane.imp().acks_syncing.get() {
                    return;
                }
                let Some((index, _)) = row.finding() else {
                    check.set_active(false);
                    return;
                };
                let taken = pane
                    .imp()
                    .state
                    .borrow_mut()
                    .as_mut()
                    .is_some_and(|state| state.set_acknowledged(index, check.is_active()));
                if check.is_active() && !taken {
                    // Refused (not shown yet): the box shows the state.
                    pane.sync_finding_row(&row);
                    return;
                }
                pane.sync_finding_row(&row);
                pane.update_gate();
            }
        ));
        row.line_button().connect_clicked(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            #[weak]
            row,
            move |_| {
                if let Some((_, Some(line))) = row.finding() {
                    pane.imp().diff_view.show_line(line);
                }
            }
        ));
        row
    }

    fn bind_finding_row(&self, item: &gtk::ListItem) {
        let imp = self.imp();
        let Some(row) = item.child().and_downcast::<QcsFindingRow>() else {
            return;
        };
        let position = item.position();
        let Some((index, blocking, line)) = usize::try_from(position)
            .ok()
            .and_then(|p| imp.finding_order.borrow().get(p).copied())
        else {
            return;
        };
        {
            let proposal = imp.proposal.borrow();
            let Some(finding) = proposal.as_ref().and_then(|p| p.findings.get(index)) else {
                return;
            };
            row.bind(finding, index, blocking, line);
        }
        self.sync_finding_row(&row);
        imp.finding_rows.borrow_mut().insert(position, row);
    }

    /// Set a finding row's check box from the review state and whether decisions are
    /// open now.
    pub(super) fn sync_finding_row(&self, row: &QcsFindingRow) {
        let imp = self.imp();
        let acknowledged = row.finding().is_some_and(|(index, _)| {
            imp.state
                .borrow()
                .as_ref()
                .is_some_and(|state| state.is_acknowledged(index))
        });
        imp.acks_syncing.set(true);
        row.ack_check().set_active(acknowledged);
        row.ack_check().set_sensitive(self.decisions_open());
        imp.acks_syncing.set(false);
        if acknowledged {
            row.add_css_class("finding-acknowledged");
        } else {
            row.remove_css_class("finding-acknowledged");
        }
    }

    /// The finding rows in display order, with the finding index each shows.
    pub fn finding_rows(&self) -> Vec<(usize, QcsFindingRow)> {
        self.imp()
            .finding_rows
            .borrow()
            .values()
            .filter_map(|row| row.finding().map(|(index, _)| (index, row.clone())))
            .collect()
    }

    pub fn findings_heading(&self) -> String {
        self.imp().findings_heading.label().to_string()
    }

    pub fn findings_scroller(&self) -> gtk::ScrolledWindow {
        self.imp().findings_scroller.get()
    }
}
