//! `QcsFindingRow`: one risk finding — severity, message, why, the line it points
//! at, and (for blocking findings) the acknowledgement check box. A row of the
//! pane's findings list (a `GtkListView`): made for the rows on screen and bound to
//! another finding as the list scrolls; it holds no decision (the pane's review
//! state does, and the row shows it).

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::types::FindingView;

use crate::i18n::gettext_f;
use crate::model::SeverityExt;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/finding_row.ui")]
    pub struct QcsFindingRow {
        #[template_child]
        pub severity_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub message_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub why_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub line_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub ack_check: TemplateChild<gtk::CheckButton>,
        /// The finding shown (its index in the proposal) and its rendered line.
        pub finding: std::cell::Cell<Option<(usize, Option<usize>)>>,
        /// The severity class set on the severity label.
        pub severity_class: std::cell::Cell<Option<&'static str>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsFindingRow {
        const NAME: &'static str = "QcsFindingRow";
        type Type = super::QcsFindingRow;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            crate::widgets::QcsWrapBox::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsFindingRow {}
    impl WidgetImpl for QcsFindingRow {}
    impl BoxImpl for QcsFindingRow {}
}

glib::wrapper! {
    pub struct QcsFindingRow(ObjectSubclass<imp::QcsFindingRow>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Default for QcsFindingRow {
    fn default() -> Self {
        Self::new()
    }
}

impl QcsFindingRow {
    /// A row showing nothing yet (the list binds it to a finding).
    pub fn new() -> QcsFindingRow {
        glib::Object::new()
    }

    /// Show `finding` (of index `index` in the proposal, pointing at rendered line
    /// `line` when known); everything a previous finding set is replaced.
    pub fn bind(&self, finding: &FindingView, index: usize, blocking: bool, line: Option<usize>) {
        self.set_finding(finding, blocking, line.is_some());
        self.imp().finding.set(Some((index, line)));
    }

    /// The finding shown: its index in the proposal and its rendered line.
    pub fn finding(&self) -> Option<(usize, Option<usize>)> {
        self.imp().finding.get()
    }

    fn set_finding(&self, finding: &FindingView, blocking: bool, has_line: bool) {
        let imp = self.imp();
        let severity = finding.severity;
        imp.severity_label
            .set_label(&format!("{} {}", severity.symbol(), severity.label()));
        if let Some(class) = imp.severity_class.replace(Some(severity.css_class())) {
            imp.severity_label.remove_css_class(class);
        }
        imp.severity_label.add_css_class(severity.css_class());
        // Finding messages are made by our rules; they may quote the file, so they are
        // set as plain text (never markup).
        imp.message_label.set_label(&finding.message);
        imp.why_label.set_label(&finding.why);
        // Some messages already end with the rule's reason; say it once.
        imp.why_label
            .set_visible(!finding.why.is_empty() && !finding.message.contains(&finding.why));
        imp.line_button.set_sensitive(true);
        match finding.line {
            Some(line) => {
                let line = line.to_string();
                imp.line_button
                    .set_label(&gettext_f("Line {line}", &[("line", &line)]));
                imp.line_button.set_sensitive(has_line);
            }
            None => {
                imp.line_button.set_label(&gettextrs::gettext("Whole file"));
                imp.line_button.set_sensitive(false);
            }
        }
        imp.ack_check.set_visible(blocking);
        if blocking {
            self.add_css_class("finding-blocking");
        } else {
            self.remove_css_class("finding-blocking");
        }
    }

    pub fn ack_check(&self) -> gtk::CheckButton {
        self.imp().ack_check.get()
    }

    pub fn line_button(&self) -> gtk::Button {
        self.imp().line_button.get()
    }
}
