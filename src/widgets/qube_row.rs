//! `QcsQubeRow`: a qube in the sidebar — label colour, name, class and power state,
//! and its badges.

use std::cell::RefCell;

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::types::QubeView;

use crate::model::qube::{self, Badge};

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/qube_row.ui")]
    pub struct QcsQubeRow {
        #[template_child]
        pub label_swatch: TemplateChild<gtk::Box>,
        #[template_child]
        pub name_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub detail_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub badge_box: TemplateChild<gtk::Box>,
        pub name: RefCell<String>,
        pub badges: RefCell<Vec<Badge>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsQubeRow {
        const NAME: &'static str = "QcsQubeRow";
        type Type = super::QcsQubeRow;
        type ParentType = gtk::ListBoxRow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsQubeRow {}
    impl WidgetImpl for QcsQubeRow {}
    impl ListBoxRowImpl for QcsQubeRow {}
}

glib::wrapper! {
    pub struct QcsQubeRow(ObjectSubclass<imp::QcsQubeRow>)
        @extends gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl QcsQubeRow {
    pub fn new(view: &QubeView, has_conflict: bool) -> QcsQubeRow {
        let row: QcsQubeRow = glib::Object::new();
        let imp = row.imp();
        imp.name.replace(view.name.clone());
        imp.name_label.set_label(&view.name);
        imp.label_swatch
            .add_css_class(qube::label_css_class(&view.label));
        imp.label_swatch.set_tooltip_text(Some(&view.label));
        imp.detail_label.set_label(&format!(
            "{} · {}",
            qube::class_label(&view.class),
            qube::power_state_label(&view.power_state)
        ));
        let badges = qube::badges(view, has_conflict);
        for badge in &badges {
            let icon = gtk::Image::from_icon_name(badge.icon_name());
            icon.add_css_class(badge.css_class());
            icon.set_tooltip_text(Some(&badge.label()));
            imp.badge_box.append(&icon);
        }
        if view.pending_proposals > 0 {
            let count = gtk::Label::new(Some(&view.pending_proposals.to_string()));
            count.add_css_class("count-pill");
            imp.badge_box.append(&count);
        }
        let description: Vec<String> = badges.iter().map(|b| b.label()).collect();
        row.set_tooltip_text(Some(&description.join(", ")));
        imp.badges.replace(badges);
        row
    }

    pub fn qube_name(&self) -> String {
        self.imp().name.borrow().clone()
    }

    pub fn badges(&self) -> Vec<Badge> {
        self.imp().badges.borrow().clone()
    }
}
