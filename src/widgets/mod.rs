//! The app's widgets, one per file, each with its `.ui` template in `resources/ui/`.

mod diff_view;
mod finding_row;
mod history;
mod profile_dirs;
mod profile_editor;
mod profile_rules;
pub mod proposal_template;
mod push_plan;
pub mod push_selection;
mod qube_page;
mod qube_row;
mod qube_settings;
mod review_pane;
mod sidebar_row;
pub mod targets;
pub mod template_preview;
mod three_way_view;
pub mod variables;
mod wrap_box;

pub use diff_view::QcsDiffView;
pub use finding_row::QcsFindingRow;
pub use history::QcsHistory;
pub use profile_editor::QcsProfileEditor;
pub use push_plan::QcsPushPlan;
pub use qube_page::QcsQubePage;
pub use qube_row::QcsQubeRow;
pub use qube_settings::QcsQubeSettings;
pub use review_pane::{BatchFile, QcsReviewPane, riskiest, riskiest_first};
pub use sidebar_row::{QcsSidebarRow, SidebarItem};
pub use three_way_view::QcsThreeWayView;
pub use wrap_box::QcsWrapBox;

/// An action row whose title and subtitle are plain text. Rows show qube names, paths
/// and descriptions, and a path from a qube may contain `<` or `&`: never markup.
pub fn plain_action_row() -> adw::ActionRow {
    use adw::prelude::*;
    let row = adw::ActionRow::new();
    row.set_use_markup(false);
    row
}

/// An expander row with plain-text title and subtitle (see [`plain_action_row`]).
pub fn plain_expander_row() -> adw::ExpanderRow {
    use adw::prelude::*;
    let row = adw::ExpanderRow::new();
    row.set_use_markup(false);
    row
}

/// A toast whose text is shown as it is (toast titles are markup).
pub fn plain_toast(text: &str) -> adw::Toast {
    adw::Toast::new(&gtk::glib::markup_escape_text(text))
}
