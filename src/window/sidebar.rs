//! The sidebar's three lists (qubes, profiles, proposals inbox): filling them from
//! the window's last fetch, keeping the selection across refills, and turning a
//! selected row into navigation. Must not fetch anything: the inbox's risk markers come
//! with the proposal list (the backend's built reviews), never from whole proposals.

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;
use qcs_client::types::ProposalSummaryView;

use super::QcsWindow;
use crate::i18n::{gettext_f, ngettext_f};
use crate::model::markup::{self, Palette};
use crate::model::{Severity, SeverityExt};
use crate::widgets::{QcsQubeRow, QcsSidebarRow, SidebarItem};

impl QcsWindow {
    pub(super) fn setup_sidebar(&self) {
        let imp = self.imp();
        for list in [&*imp.qube_list, &*imp.profile_list, &*imp.proposal_list] {
            list.connect_row_selected(glib::clone!(
                #[weak(rename_to = window)]
                self,
                move |_, row| {
                    if window.imp().refilling.get() {
                        return;
                    }
                    if let Some(item) = row.and_then(SidebarItem::of_row) {
                        window.open_item(item);
                    }
                }
            ));
        }
    }

    /// Show what a sidebar item stands for.
    pub fn open_item(&self, item: SidebarItem) {
        match item {
            SidebarItem::Qube(name) => self.open_qube(&name),
            SidebarItem::Profile(id) => self.open_profile(&id),
            SidebarItem::Proposal(id) => self.open_proposal(id),
            SidebarItem::Batch(batch) => self.open_batch(batch),
        }
    }

    /// What the content shows, as a sidebar item (`None`: a push plan or nothing).
    pub fn selected_item(&self) -> Option<SidebarItem> {
        self.imp().selection.borrow().clone()
    }

    /// Make `item` the window's selection and mark its row (only its row) in the
    /// sidebar; refills keep marking it, also a row that appears only after a refresh
    /// (a profile just created).
    pub(super) fn select_item(&self, item: Option<SidebarItem>) {
        self.imp().selection.replace(item);
        let imp = self.imp();
        for list in [&*imp.qube_list, &*imp.profile_list, &*imp.proposal_list] {
            self.mark_selection(list);
        }
    }

    /// The items of the rows marked in the sidebar (at most one when all is well).
    pub fn marked_items(&self) -> Vec<SidebarItem> {
        let imp = self.imp();
        [&*imp.qube_list, &*imp.profile_list, &*imp.proposal_list]
            .iter()
            .filter_map(|list| list.selected_row())
            .filter_map(|row| SidebarItem::of_row(&row))
            .collect()
    }

    /// Select the row of `item` as a click does (false: no such row).
    pub fn click_in_sidebar(&self, item: &SidebarItem) -> bool {
        let imp = self.imp();
        for list in [&*imp.qube_list, &*imp.profile_list, &*imp.proposal_list] {
            let mut child = list.first_child();
            while let Some(widget) = child {
                if let Some(row) = widget.downcast_ref::<gtk::ListBoxRow>()
                    && SidebarItem::of_row(row).as_ref() == Some(item)
                {
                    list.select_row(Some(row));
                    return true;
                }
                child = widget.next_sibling();
            }
        }
        false
    }

    /// Select the row of the window's selection in `list`, or none.
    fn mark_selection(&self, list: &gtk::ListBox) {
        let imp = self.imp();
        let refilling = imp.refilling.replace(true);
        let selection = imp.selection.borrow().clone();
        let mut found = None;
        let mut child = list.first_child();
        while let Some(widget) = child {
            if let Some(row) = widget.downcast_ref::<gtk::ListBoxRow>()
                && selection.is_some()
                && SidebarItem::of_row(row) == selection
            {
                found = Some(row.clone());
                break;
            }
            child = widget.next_sibling();
        }
        match found {
            Some(row) => list.select_row(Some(&row)),
            None => list.unselect_all(),
        }
        imp.refilling.set(refilling);
    }

    fn clear(list: &gtk::ListBox) {
        while let Some(child) = list.first_child() {
            list.remove(&child);
        }
    }

    pub(super) fn refill_qubes(&self) {
        let imp = self.imp();
        imp.refilling.set(true);
        Self::clear(&imp.qube_list);
        let conflicts = imp.conflicts.borrow();
        for qube in imp.qubes.borrow().iter() {
            imp.qube_list
                .append(&QcsQubeRow::new(qube, conflicts.contains(&qube.name)));
        }
        self.mark_selection(&imp.qube_list);
        imp.refilling.set(false);
    }

    pub(super) fn refill_profiles(&self) {
        let imp = self.imp();
        imp.refilling.set(true);
        Self::clear(&imp.profile_list);
        for (id, description, generation) in imp.profiles.borrow().iter() {
            let row = QcsSidebarRow::new(Some(SidebarItem::Profile(id.clone())));
            row.set_title(id);
            row.set_subtitle(&format!(
                "{description} · {}",
                gettext_f(
                    "generation {generation}",
                    &[("generation", &generation.to_string())]
                )
            ));
            imp.profile_list.append(&row);
        }
        self.mark_selection(&imp.profile_list);
        imp.refilling.set(false);
    }

    pub(super) fn refill_proposals(&self) {
        let imp = self.imp();
        imp.refilling.set(true);
        Self::clear(&imp.proposal_list);
        let proposals = imp.proposals.borrow();
        let palette = Palette::for_dark(adw::StyleManager::default().is_dark());
        // The files of one submission are one row: reviewed as a unit.
        let mut batches: Vec<(i64, Vec<&ProposalSummaryView>)> = Vec::new();
        for proposal in proposals.iter() {
            match batches
                .iter_mut()
                .find(|(b, _)| *b == proposal.batch && *b != 0)
            {
                Some((_, files)) => files.push(proposal),
                None => batches.push((proposal.batch, vec![proposal])),
            }
        }
        for (batch, files) in &batches {
            let proposal = files[0];
            // Names from a qube: through the safe renderer (marks look-alikes), as markup.
            let row = QcsSidebarRow::new(Some(if files.len() == 1 {
                SidebarItem::Proposal(proposal.id)
            } else {
                SidebarItem::Batch(*batch)
            }));
            row.set_use_markup(true);
            row.set_title_lines(2);
            row.set_subtitle_lines(1);
            let from = gettext_f(
                "from {qube} · {profile}",
                &[
                    ("qube", &markup::name(&proposal.source_qube, palette)),
                    ("profile", &markup::name(&proposal.profile, palette)),
                ],
            );
            if files.len() == 1 {
                row.set_title(&format!(
                    "#{} · {}",
                    proposal.id,
                    markup::name(&proposal.path, palette)
                ));
                row.set_subtitle(&from);
            } else {
                let count = u32::try_from(files.len()).unwrap_or(u32::MAX);
                row.set_title(&markup::escape(&ngettext_f(
                    "#{id} · {n} file",
                    "#{id} · {n} files",
                    count,
                    &[("id", &proposal.id.to_string())],
                )));
                row.set_subtitle(&from);
                let risk = imp.risk.borrow();
                let known: Option<Vec<Option<Severity>>> = files
                    .iter()
                    .map(|f| match f.risk {
                        Some(r) => Some(r.worst),
                        None => risk.get(&f.id).copied(),
                    })
                    .collect();
                let marker = gtk::Label::new(None);
                marker.set_valign(gtk::Align::Center);
                match known {
                    Some(severities) => {
                        let worst = severities.into_iter().flatten().max_by_key(|s| s.order());
                        if let Some(worst) = worst {
                            marker.set_label(&format!("{} {}", worst.symbol(), worst.label()));
                            marker.add_css_class(worst.css_class());
                            marker.set_tooltip_text(Some(&gettextrs::gettext(
                                "The most severe finding among the files of this submission",
                            )));
                        }
                    }
                    // The backend is still building the reviews: it announces the
                    // inbox again when they are (then the list carries the markers).
                    None => {
                        marker.set_label("…");
                        marker.set_tooltip_text(Some(&gettextrs::gettext(
                            "The backend is still reviewing these files",
                        )));
                    }
                }
                marker.add_css_class("batch-risk");
                row.add_suffix(&marker);
            }
            imp.proposal_list.append(&row);
        }
        if proposals.is_empty() {
            let row = QcsSidebarRow::new(None);
            row.set_title(&gettextrs::gettext("Nothing to review"));
            row.set_activatable(false);
            row.set_selectable(false);
            row.add_css_class("dim-label");
            imp.proposal_list.append(&row);
        }
        let count = u32::try_from(proposals.len()).unwrap_or(u32::MAX);
        imp.proposal_count.set_label(&count.to_string());
        imp.proposal_count.set_tooltip_text(Some(&ngettext_f(
            "{n} proposal waits for review",
            "{n} proposals wait for review",
            count,
            &[],
        )));
        self.mark_selection(&imp.proposal_list);
        imp.refilling.set(false);
        drop(proposals);
        self.emit_by_name::<()>("pending-changed", &[]);
    }

    /// The qube rows in the sidebar.
    pub fn qube_rows(&self) -> Vec<QcsQubeRow> {
        let mut rows = Vec::new();
        let mut child = self.imp().qube_list.first_child();
        while let Some(widget) = child {
            if let Some(row) = widget.downcast_ref::<QcsQubeRow>() {
                rows.push(row.clone());
            }
            child = widget.next_sibling();
        }
        rows
    }

    /// The titles of the inbox rows as rendered on screen (the text of each row's
    /// title label, after any markup was applied).
    pub fn proposal_row_titles(&self) -> Vec<String> {
        fn title_label(widget: &gtk::Widget) -> Option<gtk::Label> {
            let mut child = widget.first_child();
            while let Some(c) = child {
                if let Some(label) = c.downcast_ref::<gtk::Label>()
                    && label.has_css_class("title")
                {
                    return Some(label.clone());
                }
                if let Some(found) = title_label(&c) {
                    return Some(found);
                }
                child = c.next_sibling();
            }
            None
        }
        let mut titles = Vec::new();
        let mut child = self.imp().proposal_list.first_child();
        while let Some(widget) = child {
            if let Some(label) = title_label(&widget) {
                titles.push(label.text().to_string());
            }
            child = widget.next_sibling();
        }
        titles
    }

    pub fn proposal_count_label(&self) -> String {
        self.imp().proposal_count.label().to_string()
    }
}
