//! The app's widgets, one per file, each with its `.ui` template in `resources/ui/`.

mod diff_view;
mod finding_row;
mod profile_editor;
mod push_plan;
mod qube_page;
mod qube_row;
mod qube_settings;
mod review_pane;

pub use diff_view::QcsDiffView;
pub use finding_row::QcsFindingRow;
pub use profile_editor::QcsProfileEditor;
pub use push_plan::{PlanEvent, QcsPushPlan};
pub use qube_page::QcsQubePage;
pub use qube_row::QcsQubeRow;
pub use qube_settings::QcsQubeSettings;
pub use review_pane::QcsReviewPane;
