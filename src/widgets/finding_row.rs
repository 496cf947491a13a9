//! `QcsFindingRow`: one risk finding — severity, message, why, the line it points
//! at, and (for blocking findings) the acknowledgement check box.

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
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsFindingRow {
        const NAME: &'static str = "QcsFindingRow";
        type Type = super::QcsFindingRow;
        type ParentType = gtk::ListBoxRow;

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
    impl ListBoxRowImpl for QcsFindingRow {}
}

glib::wrapper! {
    pub struct QcsFindingRow(ObjectSubclass<imp::QcsFindingRow>)
        @extends gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl QcsFindingRow {
    /// A row for `finding`; `blocking` shows the acknowledgement box, `has_line` the
    /// "line N" link.
    pub fn new(finding: &FindingView, blocking: bool, has_line: bool) -> QcsFindingRow {
        let row: QcsFindingRow = glib::Object::new();
        let imp = row.imp();
        let severity = finding.severity;
        imp.severity_label
            .set_label(&format!("{} {}", severity.symbol(), severity.label()));
        imp.severity_label.add_css_class(severity.css_class());
        // Finding messages are made by our rules; they may quote the file, so they are
        // set as plain text (never markup).
        imp.message_label.set_label(&finding.message);
        imp.why_label.set_label(&finding.why);
        // Some messages already end with the rule's reason; say it once.
        imp.why_label
            .set_visible(!finding.why.is_empty() && !finding.message.contains(&finding.why));
        match finding.line {
            Some(line) if has_line => {
                let line = line.to_string();
                imp.line_button
                    .set_label(&gettext_f("Line {line}", &[("line", &line)]));
            }
            Some(line) => {
                let line = line.to_string();
                imp.line_button
                    .set_label(&gettext_f("Line {line}", &[("line", &line)]));
                imp.line_button.set_sensitive(false);
            }
            None => {
                imp.line_button.set_label(&gettextrs::gettext("Whole file"));
                imp.line_button.set_sensitive(false);
            }
        }
        imp.ack_check.set_visible(blocking);
        if blocking {
            row.add_css_class("finding-blocking");
        }
        row
    }

    pub fn ack_check(&self) -> gtk::CheckButton {
        self.imp().ack_check.get()
    }

    pub fn line_button(&self) -> gtk::Button {
        self.imp().line_button.get()
    }
}
