//! A multi-file submission in the review pane: its files listed riskiest first in a
//! drop-down above the proposal, and another file of it opened on choice. Paths come
//! from a qube and are cut to fit, shown through the safe renderer's plain form. This
//! file must not decide anything: each file is still reviewed and accepted by itself.

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::types::ProposalView;

use super::QcsReviewPane;
use crate::model::markup;
use crate::model::{Severity, SeverityExt};

/// One file of a multi-file submission, as the pane lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFile {
    pub id: i64,
    pub path: String,
    /// The most severe finding of the file, if any.
    pub severity: Option<Severity>,
}

/// The most severe finding of a proposal, if any.
pub fn riskiest(proposal: &ProposalView) -> Option<Severity> {
    proposal
        .findings
        .iter()
        .map(|f| f.severity)
        .max_by_key(|s| s.order())
}

/// Order a submission's files for review: most severe first, then by id.
pub fn riskiest_first(files: &mut [BatchFile]) {
    files.sort_by_key(|f| (std::cmp::Reverse(f.severity.map(Severity::order)), f.id));
}

impl QcsReviewPane {
    pub(super) fn setup_batch_dropdown(&self) {
        let imp = self.imp();
        // Paths may be 4 000 bytes: the list and the button cut them to fit.
        let factory = gtk::SignalListItemFactory::new();
        factory.connect_setup(|_, item| {
            if let Some(item) = item.downcast_ref::<gtk::ListItem>() {
                let label = gtk::Label::new(None);
                label.set_xalign(0.0);
                label.set_ellipsize(gtk::pango::EllipsizeMode::Middle);
                label.set_max_width_chars(40);
                label.set_width_chars(12);
                item.set_child(Some(&label));
            }
        });
        factory.connect_bind(|_, item| {
            if let Some(item) = item.downcast_ref::<gtk::ListItem>()
                && let (Some(label), Some(text)) = (
                    item.child().and_downcast::<gtk::Label>(),
                    item.item().and_downcast::<gtk::StringObject>(),
                )
            {
                label.set_label(&text.string());
            }
        });
        imp.batch_dropdown.set_factory(Some(&factory));
        imp.batch_dropdown.connect_selected_notify(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            move |dropdown| {
                if pane.imp().batch_syncing.get() {
                    return;
                }
                let id = pane
                    .imp()
                    .batch
                    .borrow()
                    .get(dropdown.selected() as usize)
                    .map(|f| f.id);
                if let Some(id) = id
                    && Some(id) != pane.proposal_id()
                {
                    pane.open_file(id);
                }
            }
        ));
    }

    /// Review the files of one submission as a unit: `files` riskiest first (see
    /// [`riskiest_first`]); fewer than two hide the list.
    pub fn set_batch(&self, files: Vec<BatchFile>) {
        let imp = self.imp();
        let labels: Vec<String> = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let marker = f.severity.map_or("·", Severity::symbol);
                format!(
                    "{}/{} {marker} #{} · {}",
                    i + 1,
                    files.len(),
                    f.id,
                    markup::name_plain(&f.path)
                )
            })
            .collect();
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        imp.batch_syncing.set(true);
        imp.batch_dropdown
            .set_model(Some(&gtk::StringList::new(&refs)));
        imp.batch_dropdown.set_visible(files.len() > 1);
        imp.batch.replace(files);
        self.sync_batch_selection();
        imp.batch_syncing.set(false);
    }

    /// The submission's files as listed, riskiest first.
    pub fn batch(&self) -> Vec<BatchFile> {
        self.imp().batch.borrow().clone()
    }

    pub(super) fn sync_batch_selection(&self) {
        let imp = self.imp();
        let id = self.proposal_id();
        if let Some(index) = imp.batch.borrow().iter().position(|f| Some(f.id) == id) {
            let was = imp.batch_syncing.replace(true);
            imp.batch_dropdown
                .set_selected(u32::try_from(index).unwrap_or(u32::MAX));
            imp.batch_syncing.set(was);
        }
    }

    /// Open another file of the submission on show.
    pub fn open_file(&self, id: i64) {
        let Some(backend) = self.imp().backend.borrow().clone() else {
            return;
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            async move {
                match backend.proposal(id).await {
                    Ok(view) => pane.show(view),
                    Err(e) => pane.done(Err(e.to_string())),
                }
            }
        ));
    }
}
