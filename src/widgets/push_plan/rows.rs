//! The rows of a plan on show — per qube (an error, or a halted qube's "Start and push"
//! switch) and per item — and the diff or three-way view of the chosen item.
//!
//! It must not plan or push: the plan comes from `mod.rs`, the push from `job`.

use adw::prelude::*;
use gtk::glib;
use gtk::subclass::prelude::*;
use qcs_client::types::{PlanAction, PlanPower, PushPlan, QubePlanView};

use super::QcsPushPlan;
use super::summary::count;
use crate::i18n::{gettext_f, ngettext_f};
use crate::model::plan::{self, PlanTotals};
use crate::model::review::ThreeWayContext;
use crate::widgets::QcsThreeWayView;

impl QcsPushPlan {
    pub(super) fn show(&self, plan: PushPlan) {
        let imp = self.imp();
        self.clear_items();
        imp.start.borrow_mut().clear();
        let totals = PlanTotals::of(&plan);
        let mut parts = vec![
            ngettext_f(
                "{n} file to write",
                "{n} files to write",
                count(totals.writes),
                &[],
            ),
            ngettext_f(
                "{n} unchanged",
                "{n} unchanged",
                count(totals.unchanged),
                &[],
            ),
        ];
        if totals.conflicts > 0 {
            parts.push(ngettext_f(
                "{n} conflict",
                "{n} conflicts",
                count(totals.conflicts),
                &[],
            ));
        }
        if totals.refused > 0 {
            parts.push(ngettext_f(
                "{n} refused",
                "{n} refused",
                count(totals.refused),
                &[],
            ));
        }
        if totals.failed_qubes > 0 {
            parts.push(ngettext_f(
                "{n} qube not reachable",
                "{n} qubes not reachable",
                count(totals.failed_qubes),
                &[],
            ));
        }
        let halted = plan.qubes.iter().filter(|q| q.can_start()).count();
        if halted > 0 {
            parts.push(ngettext_f(
                "{n} halted qube",
                "{n} halted qubes",
                count(halted),
                &[],
            ));
        }
        imp.totals_label.set_label(&parts.join(" · "));
        imp.execute_button.set_sensitive(totals.can_push());

        for qube in &plan.qubes {
            if let Some(error) = &qube.error {
                let row = crate::widgets::plain_action_row();
                row.set_title(&qube.qube);
                row.set_subtitle(&crate::reasons::text(error));
                row.add_css_class("plan-refused");
                imp.item_list.append(&row);
            } else if qube.power == PlanPower::Halted {
                imp.item_list.append(&self.halted_row(&qube.qube));
            } else if qube.power != PlanPower::Running {
                let row = crate::widgets::plain_action_row();
                row.set_title(&qube.qube);
                row.set_subtitle(&gettextrs::gettext(
                    "Power state unknown: not planned, not pushed.",
                ));
                row.add_css_class("plan-refused");
                imp.item_list.append(&row);
            }
            for item in &qube.items {
                let row = crate::widgets::plain_action_row();
                row.set_title(&format!("{} — {}", qube.qube, item.path));
                let mut subtitle = gettext_f("profile {profile}", &[("profile", &item.profile)]);
                if let Some(reason) = &item.reason {
                    subtitle.push_str(" · ");
                    subtitle.push_str(&crate::reasons::text(reason));
                }
                if item.forced {
                    subtitle.push_str(" · ");
                    subtitle.push_str(&gettextrs::gettext("overwrite chosen"));
                }
                row.set_subtitle(&subtitle);
                row.set_subtitle_lines(3);
                row.set_activatable(true);
                if item.action == PlanAction::Conflict && item.can_overwrite {
                    let overwrite = gtk::Button::with_mnemonic(&gettextrs::gettext("_Overwrite"));
                    overwrite.set_valign(gtk::Align::Center);
                    overwrite.set_tooltip_text(Some(&gettextrs::gettext(
                        "Replace the qube's version with the store's (the qube keeps a backup)",
                    )));
                    let pair = (qube.qube.clone(), item.path.clone());
                    overwrite.connect_clicked(glib::clone!(
                        #[weak(rename_to = page)]
                        self,
                        move |_| page.choose_overwrite(&pair.0, &pair.1)
                    ));
                    row.add_suffix(&overwrite);
                }
                let action = gtk::Label::new(Some(&plan::action_label(item.action)));
                action.add_css_class(plan::action_css_class(item.action));
                action.add_css_class("heading");
                row.add_suffix(&action);
                imp.item_list.append(&row);
            }
        }
        let conflicts = plan::qubes_with_conflicts(&plan);
        imp.plan.replace(Some(plan));
        // Show the first item that writes something.
        let first_write = self.items().iter().position(|(_, action)| {
            matches!(
                action,
                PlanAction::Create | PlanAction::Update | PlanAction::Conflict | PlanAction::Remove
            )
        });
        if let Some(row) = first_write
            .and_then(|i| i32::try_from(i).ok())
            .and_then(|i| imp.item_list.row_at_index(i + self.error_rows_before(i)))
        {
            imp.item_list.select_row(Some(&row));
        }
        self.emit_by_name::<()>("planned", &[&conflicts]);
    }

    /// The row of a qube that was halted when planned: nothing was read from it, and
    /// its switch decides whether the push starts it (off by default: skipped).
    pub(super) fn halted_row(&self, qube: &str) -> adw::ActionRow {
        let row = crate::widgets::plain_action_row();
        row.set_title(qube);
        row.set_subtitle(&gettextrs::gettext(
            "Halted. Planning never starts a qube, so its files are not known yet. Switch on to start it and push to it; otherwise it is skipped.",
        ));
        row.set_subtitle_lines(3);
        let label = gtk::Label::new(Some(&gettextrs::gettext("Start and push")));
        label.add_css_class("dim-label");
        let switch = gtk::Switch::new();
        switch.set_valign(gtk::Align::Center);
        switch.set_tooltip_text(Some(&gettext_f(
            "Start {qube} and push to it",
            &[("qube", qube)],
        )));
        let name = qube.to_owned();
        switch.connect_active_notify(glib::clone!(
            #[weak(rename_to = page)]
            self,
            move |switch| page.choose_start(&name, switch.is_active())
        ));
        row.add_suffix(&label);
        row.add_suffix(&switch);
        row.set_activatable_widget(Some(&switch));
        row.add_css_class("plan-halted");
        row
    }

    /// Records the user's "Start and push" choice for a halted qube.
    pub fn choose_start(&self, qube: &str, start: bool) {
        let imp = self.imp();
        {
            let mut chosen = imp.start.borrow_mut();
            if start {
                chosen.insert(qube.to_owned());
            } else {
                chosen.remove(qube);
            }
        }
        if !self.is_running() {
            imp.execute_button.set_sensitive(self.can_execute());
        }
    }

    /// The "Start and push" switch in the row of a halted qube, if the plan has one.
    pub fn start_switch(&self, qube: &str) -> Option<gtk::Switch> {
        let mut child = self.imp().item_list.first_child();
        while let Some(widget) = child {
            if let Some(row) = widget.downcast_ref::<adw::ActionRow>()
                && row.title() == qube
                && let Some(switch) = find_switch(&widget)
            {
                return Some(switch);
            }
            child = widget.next_sibling();
        }
        None
    }

    /// Whether "Push Now" can be pressed.
    pub fn can_execute_now(&self) -> bool {
        self.imp().execute_button.is_sensitive()
    }

    /// The halted qubes switched to "Start and push".
    pub fn chosen_starts(&self) -> Vec<String> {
        self.imp().start.borrow().iter().cloned().collect()
    }

    /// Something to do: files to write, or a halted qube to start and push.
    pub(super) fn can_execute(&self) -> bool {
        self.plan_data()
            .is_some_and(|plan| PlanTotals::of(&plan).can_push())
            || !self.imp().start.borrow().is_empty()
    }

    /// (qube, action) per plan item, in list order (without qube error rows).
    pub(super) fn items(&self) -> Vec<(String, PlanAction)> {
        self.imp()
            .plan
            .borrow()
            .as_ref()
            .map(|plan| {
                plan.qubes
                    .iter()
                    .flat_map(|q| q.items.iter().map(|i| (q.qube.clone(), i.action)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Rows are errors and items interleaved per qube; map a list index to an item.
    pub(super) fn row_to_item(&self, row: i32) -> Option<(usize, usize)> {
        let plan = self.imp().plan.borrow();
        let plan = plan.as_ref()?;
        let mut index = 0;
        for (q, qube) in plan.qubes.iter().enumerate() {
            if has_qube_row(qube) {
                if index == row {
                    return None;
                }
                index += 1;
            }
            for i in 0..qube.items.len() {
                if index == row {
                    return Some((q, i));
                }
                index += 1;
            }
        }
        None
    }

    pub(super) fn error_rows_before(&self, item: i32) -> i32 {
        let plan = self.imp().plan.borrow();
        let Some(plan) = plan.as_ref() else { return 0 };
        let mut seen_items = 0;
        let mut errors = 0;
        for qube in &plan.qubes {
            if has_qube_row(qube) {
                errors += 1;
            }
            for _ in &qube.items {
                if seen_items == item {
                    return errors;
                }
                seen_items += 1;
            }
        }
        errors
    }

    pub(super) fn select_item(&self, row: Option<i32>) {
        let imp = self.imp();
        let item = row
            .and_then(|row| self.row_to_item(row))
            .and_then(|(q, i)| {
                imp.plan
                    .borrow()
                    .as_ref()
                    .and_then(|p| p.qubes.get(q)?.items.get(i).cloned())
            });
        // A conflict says what the user can do about it — choosing a side only where
        // the row has the control for it (Overwrite).
        let hint = item
            .as_ref()
            .filter(|i| i.action == PlanAction::Conflict)
            .map(|i| plan::conflict_hint(i.can_overwrite));
        imp.conflict_hint.set_visible(hint.is_some());
        imp.conflict_hint.set_label(hint.as_deref().unwrap_or(""));
        let (diff, three_way) = match item {
            Some(item) => (item.diff, item.three_way),
            None => (None, None),
        };
        // A conflict opens on its three-way view; the switch is there only for one.
        let has_three_way = three_way.is_some();
        imp.view_switch.set_visible(has_three_way);
        if has_three_way {
            imp.three_way_toggle.set_active(true);
        }
        imp.three_way_view
            .set_view(three_way, ThreeWayContext::PlanConflict);
        imp.diff_view.set_diff(diff, false);
        self.show_chosen_view();
    }

    pub(super) fn show_chosen_view(&self) {
        let imp = self.imp();
        let three_way = imp.view_switch.is_visible() && imp.three_way_toggle.is_active();
        imp.view_stack
            .set_visible_child_name(if three_way { "three-way" } else { "diff" });
    }

    /// The three-way view shown for a selected conflict.
    pub fn three_way_view(&self) -> QcsThreeWayView {
        self.imp().three_way_view.get()
    }

    /// The line above a selected conflict's view (what the user can do), when shown.
    pub fn conflict_hint(&self) -> Option<String> {
        let label = &self.imp().conflict_hint;
        label.is_visible().then(|| label.label().to_string())
    }

    /// Whether the three-way view (rather than the diff) is what is shown.
    pub fn shows_three_way(&self) -> bool {
        self.imp().view_stack.visible_child_name().as_deref() == Some("three-way")
    }

    /// Select the plan row of `qube` × `path`, as a click would.
    pub fn select_path(&self, qube: &str, path: &str) -> bool {
        let imp = self.imp();
        let position = {
            let plan = imp.plan.borrow();
            let Some(plan) = plan.as_ref() else {
                return false;
            };
            (0..).take(4096).find(|row: &i32| {
                self.row_to_item(*row).is_some_and(|(q, i)| {
                    plan.qubes.get(q).is_some_and(|qp| {
                        qp.qube == qube && qp.items.get(i).is_some_and(|it| it.path == path)
                    })
                })
            })
        };
        match position.and_then(|p| imp.item_list.row_at_index(p)) {
            Some(row) => {
                imp.item_list.select_row(Some(&row));
                true
            }
            None => false,
        }
    }
}

/// Whether a qube has a row of its own before its items: an error, or a power state
/// other than running (halted, with its switch; or unknown).
fn has_qube_row(qube: &QubePlanView) -> bool {
    qube.error.is_some() || qube.power != PlanPower::Running
}

fn find_switch(widget: &gtk::Widget) -> Option<gtk::Switch> {
    if let Some(switch) = widget.downcast_ref::<gtk::Switch>() {
        return Some(switch.clone());
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        if let Some(switch) = find_switch(&c) {
            return Some(switch);
        }
        child = c.next_sibling();
    }
    None
}
