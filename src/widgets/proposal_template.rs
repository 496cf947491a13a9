//! The template side of a proposal's review: when the proposed file is a template, the
//! review pane's diff is against what the template renders for the proposing qube, and
//! this box shows the template source beside it, why the proposal cannot be accepted
//! (`proposal.templated-file`: a qube's text never becomes a template) and what to do
//! instead (edit the template in the profile editor, then reject the proposal).
//!
//! It only shows the backend's `GetProposalTemplate` (lines as safe segments, never
//! markup) and renders nothing itself. `QcsProposalTemplate` is built from
//! resources/ui/proposal_template.ui.

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::types::Segment;
use qcs_client::variables::{ProposalTemplate, templates_proxy};

use crate::backend::{Backend, BackendError};
use crate::i18n::gettext_f;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/proposal_template.ui")]
    pub struct QcsProposalTemplate {
        #[template_child]
        pub error_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub banner: TemplateChild<gtk::Label>,
        #[template_child]
        pub render_error: TemplateChild<gtk::Label>,
        #[template_child]
        pub expander: TemplateChild<gtk::Expander>,
        #[template_child]
        pub source: TemplateChild<gtk::TextView>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsProposalTemplate {
        const NAME: &'static str = "QcsProposalTemplate";
        type Type = super::QcsProposalTemplate;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsProposalTemplate {}
    impl WidgetImpl for QcsProposalTemplate {}
    impl BoxImpl for QcsProposalTemplate {}
}

glib::wrapper! {
    /// The template side of one proposal (one per review pane, replaced per proposal).
    pub struct QcsProposalTemplate(ObjectSubclass<imp::QcsProposalTemplate>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Default for QcsProposalTemplate {
    fn default() -> Self {
        glib::Object::new()
    }
}

/// Shows the template side of proposal `id` after `anchor` (the pane's note), replacing
/// the one shown for the previous proposal; nothing for a file that is not a template.
pub fn attach(anchor: &impl IsA<gtk::Widget>, backend: Option<Backend>, id: i64) {
    let Some(parent) = anchor.parent().and_then(|p| p.downcast::<gtk::Box>().ok()) else {
        return;
    };
    let mut child = parent.first_child();
    while let Some(widget) = child {
        child = widget.next_sibling();
        if widget.is::<QcsProposalTemplate>() {
            parent.remove(&widget);
        }
    }
    let Some(backend) = backend else {
        return;
    };
    // A placeholder now, filled when the answer comes: a newer proposal removes it, and
    // an answer for a removed placeholder is dropped.
    let holder = QcsProposalTemplate::default();
    parent.insert_child_after(&holder, Some(anchor));
    glib::spawn_future_local(async move {
        let view: Result<ProposalTemplate, BackendError> = async {
            let proxy = templates_proxy(backend.proxy())
                .await
                .map_err(|e| BackendError::Reason(qcs_client::error::bus_reason(&e)))?;
            let json = proxy.get_proposal_template(id).await?;
            Ok(serde_json::from_str(&json)?)
        }
        .await;
        if holder.parent().is_none() {
            return;
        }
        match view {
            Ok(view) if view.template => holder.fill(&view),
            Ok(_) => {}
            Err(e) => holder.show_error(&e.to_string()),
        }
    });
}

/// The template side shown next to `anchor`'s, if any.
pub fn shown(anchor: &impl IsA<gtk::Widget>) -> Option<QcsProposalTemplate> {
    let parent = anchor.parent()?;
    let mut child = parent.first_child();
    while let Some(widget) = child {
        if let Ok(found) = widget.clone().downcast::<QcsProposalTemplate>() {
            return Some(found);
        }
        child = widget.next_sibling();
    }
    None
}

/// A line of safe segments as plain text (tabs as tabs, other tokens as ⟦NAME⟧).
fn line_text(line: &[Segment]) -> String {
    line.iter()
        .map(|s| match s {
            Segment::Text { text, .. } => text.clone(),
            Segment::Token { label, .. } if label == "TAB" => "\t".to_owned(),
            Segment::Token { label, .. } => format!("⟦{label}⟧"),
            Segment::FindingAnchor { .. } => String::new(),
        })
        .collect()
}

impl QcsProposalTemplate {
    fn show_error(&self, text: &str) {
        let imp = self.imp();
        imp.error_label.set_label(text);
        imp.error_label.set_visible(true);
        self.set_visible(true);
    }

    fn fill(&self, view: &ProposalTemplate) {
        let imp = self.imp();
        imp.banner.set_label(&gettext_f(
            "{path} is a template: the diff below is against what it renders for {qube}. A qube's text never becomes a template, so this proposal cannot be accepted: edit the template in the profile editor, then reject the proposal.",
            &[("path", &view.path), ("qube", &view.qube)],
        ));
        imp.banner.set_visible(true);
        if let Some(error) = &view.render_error {
            imp.render_error.set_label(&gettext_f(
                "It cannot be rendered for the qube now: {reason}",
                &[("reason", &crate::reasons::text(error))],
            ));
            imp.render_error.set_visible(true);
        }
        let text: Vec<String> = view
            .template_lines
            .iter()
            .enumerate()
            .map(|(i, line)| format!("{:>4}  {}", i + 1, line_text(line)))
            .collect();
        imp.source.buffer().set_text(&text.join("\n"));
        imp.expander.set_visible(true);
        self.set_visible(true);
    }

    /// The banner (why it cannot be accepted, what to do), `None` when not shown.
    pub fn banner_text(&self) -> Option<String> {
        let banner = &self.imp().banner;
        banner.is_visible().then(|| banner.label().to_string())
    }

    /// The template source as shown (numbered lines).
    pub fn source_text(&self) -> String {
        let buffer = self.imp().source.buffer();
        buffer
            .text(&buffer.start_iter(), &buffer.end_iter(), false)
            .to_string()
    }
}
