//! The template side of a proposal's review: when the proposed file is a template, the
//! review pane's diff is against what the template renders for the proposing qube, and
//! this box shows the template source beside it, why the proposal cannot be accepted
//! (`proposal.templated-file`: a qube's text never becomes a template) and what to do
//! instead (edit the template in the profile editor, then reject the proposal).
//!
//! It only shows the backend's `GetProposalTemplate` (lines as safe segments, never
//! markup) and renders nothing itself.

use adw::prelude::*;
use gtk::glib;
use qcs_client::types::Segment;
use qcs_client::variables::{ProposalTemplate, templates_proxy};

use crate::backend::{Backend, BackendError};
use crate::i18n::gettext_f;

/// Widget name of the box (one per review pane, replaced per proposal).
pub const WIDGET_NAME: &str = "proposal-template";

/// Shows the template side of proposal `id` after `anchor` (the pane's note), replacing
/// the one shown for the previous proposal; nothing for a file that is not a template.
pub fn attach(anchor: &impl IsA<gtk::Widget>, backend: Option<Backend>, id: i64) {
    let Some(parent) = anchor.parent().and_then(|p| p.downcast::<gtk::Box>().ok()) else {
        return;
    };
    let mut child = parent.first_child();
    while let Some(widget) = child {
        child = widget.next_sibling();
        if widget.widget_name() == WIDGET_NAME {
            parent.remove(&widget);
        }
    }
    let Some(backend) = backend else {
        return;
    };
    // A placeholder now, filled when the answer comes: a newer proposal removes it, and
    // an answer for a removed placeholder is dropped.
    let holder = gtk::Box::new(gtk::Orientation::Vertical, 4);
    holder.set_widget_name(WIDGET_NAME);
    holder.set_visible(false);
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
            Ok(view) if view.template => fill(&holder, &view),
            Ok(_) => {}
            Err(e) => {
                let label = gtk::Label::new(Some(&e.to_string()));
                label.set_use_markup(false);
                label.set_wrap(true);
                label.set_xalign(0.0);
                holder.append(&label);
                holder.set_visible(true);
            }
        }
    });
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

fn fill(holder: &gtk::Box, view: &ProposalTemplate) {
    let banner = gtk::Label::new(Some(&gettext_f(
        "{path} is a template: the diff below is against what it renders for {qube}. A qube's text never becomes a template, so this proposal cannot be accepted: edit the template in the profile editor, then reject the proposal.",
        &[("path", &view.path), ("qube", &view.qube)],
    )));
    banner.set_use_markup(false);
    banner.set_wrap(true);
    banner.set_wrap_mode(gtk::pango::WrapMode::WordChar);
    banner.set_xalign(0.0);
    banner.add_css_class("warning");
    holder.append(&banner);
    if let Some(error) = &view.render_error {
        let label = gtk::Label::new(Some(&gettext_f(
            "It cannot be rendered for the qube now: {reason}",
            &[("reason", &crate::reasons::text(error))],
        )));
        label.set_use_markup(false);
        label.set_wrap(true);
        label.set_xalign(0.0);
        label.add_css_class("dim-label");
        holder.append(&label);
    }
    let expander = gtk::Expander::with_mnemonic(&gettextrs::gettext("_Template source"));
    let text: Vec<String> = view
        .template_lines
        .iter()
        .enumerate()
        .map(|(i, line)| format!("{:>4}  {}", i + 1, line_text(line)))
        .collect();
    let source = gtk::TextView::new();
    source.set_editable(false);
    source.set_monospace(true);
    source.set_widget_name("proposal-template-source");
    source.buffer().set_text(&text.join("\n"));
    let scroller = gtk::ScrolledWindow::new();
    scroller.set_child(Some(&source));
    scroller.set_propagate_natural_height(true);
    scroller.set_max_content_height(200);
    expander.set_child(Some(&scroller));
    holder.append(&expander);
    holder.set_visible(true);
}
