//! `QcsSidebarRow`: a profile or a proposal (or a multi-file submission) in the
//! sidebar — an action row that carries what it stands for as a typed
//! [`SidebarItem`], never as an id in its widget name. Qube rows are `QcsQubeRow`.
//! Must not navigate or fetch: the window reads the item of a selected row.

use std::cell::RefCell;

use adw::subclass::prelude::*;
use gtk::glib;
use gtk::prelude::*;

use crate::widgets::QcsQubeRow;

/// What a sidebar row stands for (and what the window shows when it is chosen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SidebarItem {
    Qube(String),
    Profile(String),
    /// One proposal (a single-file submission).
    Proposal(i64),
    /// A multi-file submission, reviewed as a unit.
    Batch(i64),
}

impl SidebarItem {
    /// The item of a row of any sidebar list (`None`: a placeholder row).
    pub fn of_row(row: &gtk::ListBoxRow) -> Option<SidebarItem> {
        if let Some(qube) = row.downcast_ref::<QcsQubeRow>() {
            return Some(SidebarItem::Qube(qube.qube_name()));
        }
        row.downcast_ref::<QcsSidebarRow>()
            .and_then(QcsSidebarRow::item)
    }
}

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct QcsSidebarRow {
        pub item: RefCell<Option<SidebarItem>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsSidebarRow {
        const NAME: &'static str = "QcsSidebarRow";
        type Type = super::QcsSidebarRow;
        type ParentType = adw::ActionRow;
    }

    impl ObjectImpl for QcsSidebarRow {}
    impl WidgetImpl for QcsSidebarRow {}
    impl ListBoxRowImpl for QcsSidebarRow {}
    impl PreferencesRowImpl for QcsSidebarRow {}
    impl ActionRowImpl for QcsSidebarRow {}
}

glib::wrapper! {
    pub struct QcsSidebarRow(ObjectSubclass<imp::QcsSidebarRow>)
        @extends adw::ActionRow, adw::PreferencesRow, gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl QcsSidebarRow {
    /// A row for `item` (`None`: a placeholder that stands for nothing). Its title and
    /// subtitle are plain text unless the caller turns markup on.
    pub fn new(item: Option<SidebarItem>) -> QcsSidebarRow {
        let row: QcsSidebarRow = glib::Object::builder()
            .property("use-markup", false)
            .build();
        row.imp().item.replace(item);
        row
    }

    pub fn item(&self) -> Option<SidebarItem> {
        self.imp().item.borrow().clone()
    }
}
