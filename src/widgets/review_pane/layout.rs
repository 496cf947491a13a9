//! The review pane's layout: the findings sit above the diff in a vertical `GtkPaned`
//! (drag the handle; the pane keeps the height chosen for the next proposal, and
//! neither side can be dragged to nothing); control rows wrap onto more lines and
//! button labels wrap, so the pane fits a 360 px window with every control inside it.
//! This file only places and sizes: it must not change what is shown or decided.

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;

use super::QcsReviewPane;
use crate::widgets::QcsWrapBox;

impl QcsReviewPane {
    /// Let the control rows' button labels wrap, and take a move of the handle
    /// between findings and diff as the user's choice when it is one.
    pub(super) fn setup_layout(&self) {
        let imp = self.imp();
        // Long labels (and German ones) wrap inside their buttons rather than
        // widen the window.
        for button in [
            imp.unified_toggle.upcast_ref::<gtk::Button>(),
            imp.split_toggle.upcast_ref(),
            imp.three_way_toggle.upcast_ref(),
            imp.accept_all_button.upcast_ref(),
            imp.reject_all_button.upcast_ref(),
            imp.reject_button.upcast_ref(),
            imp.accept_button.upcast_ref(),
        ] {
            wrap_label_of(button);
        }
        // A move of the handle at an unchanged height is the user's choice (a
        // resize of the window clamps it without being one).
        imp.findings_paned.connect_position_notify(glib::clone!(
            #[weak(rename_to = obj)]
            self,
            move |paned| {
                let imp = obj.imp();
                let height = paned.height();
                let same = imp.paned_height.replace(height) == height;
                if same && height > 0 && !imp.placing.get() && paned.is_position_set() {
                    imp.findings_chosen.set(Some(paned.position()));
                }
            }
        ));
    }

    /// Give the findings their room above the diff: where the user put the handle, or
    /// else as much as the list needs up to its cap (GtkPaned alone would give them
    /// only their smallest height). Once laid out, in an idle turn.
    pub(super) fn place_findings(&self) {
        if self.imp().findings_chosen.get().is_some() {
            return;
        }
        glib::idle_add_local_once(glib::clone!(
            #[weak(rename_to = pane)]
            self,
            move || {
                let imp = pane.imp();
                if imp.findings_chosen.get().is_some() {
                    return;
                }
                let width = imp.findings_box.width();
                if width <= 0 {
                    return;
                }
                let (_, natural, _, _) =
                    imp.findings_box.measure(gtk::Orientation::Vertical, width);
                // Within what the paned allows, so it need not clamp (which would look
                // like a move by the user).
                let paned = &imp.findings_paned;
                let position = natural.min(paned.max_position()).max(paned.min_position());
                imp.placing.set(true);
                paned.set_position(position);
                imp.placing.set(false);
            }
        ));
    }

    /// The handle between the findings (above) and the diff (below).
    pub fn findings_paned(&self) -> gtk::Paned {
        self.imp().findings_paned.get()
    }

    /// The rows of controls that wrap in a narrow window: the view toggles with the
    /// "mark all" buttons, and the gate's words with Reject and Accept.
    pub fn wrapping_rows(&self) -> [QcsWrapBox; 2] {
        let imp = self.imp();
        [imp.diff_controls.get(), imp.decision_bar.get()]
    }

    /// The buttons of the pane's control rows, for checks: view toggles, mark all,
    /// Reject and Accept (the three-way toggle only when shown).
    pub fn controls(&self) -> Vec<gtk::Widget> {
        let imp = self.imp();
        let mut controls: Vec<gtk::Widget> = vec![
            imp.unified_toggle.get().upcast(),
            imp.split_toggle.get().upcast(),
            imp.accept_all_button.get().upcast(),
            imp.reject_all_button.get().upcast(),
            imp.reject_button.get().upcast(),
            imp.accept_button.get().upcast(),
            imp.path_button.get().upcast(),
        ];
        if imp.three_way_toggle.is_visible() {
            controls.push(imp.three_way_toggle.get().upcast());
        }
        controls
    }
}

/// Let a button's own label wrap between words (centred), so its narrowest width is
/// its longest word.
fn wrap_label_of(button: &gtk::Button) {
    if let Some(label) = button.child().and_downcast::<gtk::Label>() {
        label.set_wrap(true);
        label.set_wrap_mode(gtk::pango::WrapMode::WordChar);
        label.set_justify(gtk::Justification::Center);
        // Pango would draw a hyphen that is not in the text where it breaks a word.
        let attributes = gtk::pango::AttrList::new();
        attributes.insert(gtk::pango::AttrInt::new_insert_hyphens(false));
        label.set_attributes(Some(&attributes));
    }
}
