//! `QcsWindow`: the main window — the sidebar (qubes, profiles, proposals inbox) and
//! the content stack (qube page, profile editor, push plan, review pane).

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

use adw::prelude::*;
use adw::subclass::prelude::*;
use futures_util::StreamExt;
use gtk::{gio, glib};
use qcs_client::types::{ProposalSummaryView, QubeView};

use crate::backend::Backend;
use crate::i18n::{gettext_f, ngettext_f};
use crate::model::Severity;
use crate::model::markup::{self, Palette};
use crate::widgets::{
    PlanEvent, QcsProfileEditor, QcsPushPlan, QcsQubePage, QcsQubeRow, QcsQubeSettings,
    QcsReviewPane,
};

type PendingHandler = Box<dyn Fn(&[ProposalSummaryView])>;

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/window.ui")]
    pub struct QcsWindow {
        #[template_child]
        pub toasts: TemplateChild<adw::ToastOverlay>,
        #[template_child]
        pub qube_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub profile_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub proposal_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub proposal_count: TemplateChild<gtk::Label>,
        #[template_child]
        pub content_title: TemplateChild<adw::WindowTitle>,
        #[template_child]
        pub stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub empty_page: TemplateChild<adw::StatusPage>,
        #[template_child]
        pub qube_page: TemplateChild<QcsQubePage>,
        #[template_child]
        pub profile_editor: TemplateChild<QcsProfileEditor>,
        #[template_child]
        pub push_plan: TemplateChild<QcsPushPlan>,
        #[template_child]
        pub review_pane: TemplateChild<QcsReviewPane>,
        pub backend: RefCell<Option<Backend>>,
        pub qubes: RefCell<Vec<QubeView>>,
        pub profiles: RefCell<Vec<(String, String, u64)>>,
        pub proposals: RefCell<Vec<ProposalSummaryView>>,
        pub conflicts: RefCell<BTreeSet<String>>,
        /// Set while lists are refilled: selection changes then are not navigation.
        pub refilling: Cell<bool>,
        /// Number of refreshes in flight (tests wait for 0).
        pub busy: Cell<u32>,
        pub on_pending: RefCell<Option<PendingHandler>>,
        pub toasts_shown: RefCell<Vec<adw::Toast>>,
        /// The most severe finding per proposal of a multi-file submission (`None`:
        /// no finding), for the sidebar's risk markers.
        pub risk: RefCell<std::collections::HashMap<i64, Option<Severity>>>,
        /// A risk fetch is running.
        pub fetching_risk: Cell<bool>,
    }

    impl std::fmt::Debug for QcsWindow {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("QcsWindow").finish_non_exhaustive()
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsWindow {
        const NAME: &'static str = "QcsWindow";
        type Type = super::QcsWindow;
        type ParentType = adw::ApplicationWindow;

        fn class_init(klass: &mut Self::Class) {
            QcsQubePage::ensure_type();
            QcsProfileEditor::ensure_type();
            QcsPushPlan::ensure_type();
            QcsReviewPane::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for QcsWindow {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.setup_actions();
            obj.setup_sidebar();
            obj.setup_pages();
        }
    }
    impl WidgetImpl for QcsWindow {}
    impl WindowImpl for QcsWindow {}
    impl ApplicationWindowImpl for QcsWindow {}
    impl AdwApplicationWindowImpl for QcsWindow {}
}

glib::wrapper! {
    pub struct QcsWindow(ObjectSubclass<imp::QcsWindow>)
        @extends adw::ApplicationWindow, gtk::ApplicationWindow, gtk::Window, gtk::Widget,
        @implements gio::ActionGroup, gio::ActionMap, gtk::Buildable, gtk::ConstraintTarget,
            gtk::Native, gtk::Root, gtk::ShortcutManager;
}

impl QcsWindow {
    pub fn new(app: &impl IsA<gtk::Application>) -> QcsWindow {
        glib::Object::builder().property("application", app).build()
    }

    fn setup_actions(&self) {
        let action = |name: &str, handler: fn(&QcsWindow)| {
            let action = gio::SimpleAction::new(name, None);
            action.connect_activate(glib::clone!(
                #[weak(rename_to = window)]
                self,
                move |_, _| handler(&window)
            ));
            self.add_action(&action);
        };
        action("refresh", |w| w.refresh());
        action("plan-push", |w| w.plan_push(Vec::new()));
        action("plan-push-qube", |w| {
            if let Some(qube) = w.imp().qube_page.qube_name() {
                w.plan_push(vec![qube]);
            }
        });
        action("snapshot-qube", |w| w.snapshot_qube());
        action("new-profile", |w| {
            w.new_profile();
        });
        action("qube-settings", |w| {
            w.open_settings();
        });
        action("save-file", |w| {
            if w.visible_page().as_deref() == Some("profile") {
                w.imp().profile_editor.save();
            }
        });
        action("execute-plan", |w| w.imp().push_plan.execute());
        action("cancel-job", |w| w.imp().push_plan.cancel());
        action("next-proposal", |w| {
            let next = w.imp().proposals.borrow().first().map(|p| p.id);
            if let Some(id) = next {
                w.open_proposal(id);
            }
        });
        action("toggle-diff-layout", |w| {
            if w.visible_page().as_deref() == Some("review") {
                w.imp().review_pane.toggle_layout();
            }
        });
        action("primary", |w| match w.visible_page().as_deref() {
            Some("review") => w.imp().review_pane.accept(),
            Some("plan") => w.imp().push_plan.execute(),
            _ => {}
        });
    }

    fn setup_sidebar(&self) {
        let imp = self.imp();
        imp.qube_list.connect_row_selected(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, row| {
                if window.imp().refilling.get() {
                    return;
                }
                if let Some(row) = row.and_then(|r| r.downcast_ref::<QcsQubeRow>().cloned()) {
                    window.open_qube(&row.qube_name());
                }
            }
        ));
        imp.profile_list.connect_row_selected(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, row| {
                if window.imp().refilling.get() {
                    return;
                }
                if let Some(row) = row {
                    window.open_profile(&row.widget_name());
                }
            }
        ));
        imp.proposal_list.connect_row_selected(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, row| {
                if window.imp().refilling.get() {
                    return;
                }
                let Some(name) = row.map(|r| r.widget_name()) else {
                    return;
                };
                if let Some(batch) = name.strip_prefix("batch:").and_then(|b| b.parse().ok()) {
                    window.open_batch(batch);
                } else if let Ok(id) = name.parse::<i64>() {
                    window.open_proposal(id);
                }
            }
        ));
    }

    fn setup_pages(&self) {
        let imp = self.imp();
        imp.review_pane.connect_done(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |result| {
                let ok = result.is_ok();
                window.report(result);
                if ok {
                    // A submission is one unit: go on with its next riskiest file.
                    let pane = window.review_pane();
                    let batch = pane.batch();
                    let done = pane.proposal_id();
                    let batch_id = window
                        .imp()
                        .proposals
                        .borrow()
                        .iter()
                        .find(|p| Some(p.id) == done)
                        .map(|p| p.batch);
                    window.show_page("empty", &gettextrs::gettext("Config Sync"), None);
                    window.refresh();
                    if batch.len() > 1
                        && let Some(batch_id) = batch_id
                    {
                        window.open_batch(batch_id);
                    }
                }
            }
        ));
        imp.profile_editor.connect_changed(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |result| {
                let ok = result.is_ok();
                window.report(result);
                if ok {
                    window.refresh();
                }
            }
        ));
        imp.push_plan.connect_event(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |event| match event {
                PlanEvent::Planned { conflicts } => {
                    window
                        .imp()
                        .conflicts
                        .replace(conflicts.into_iter().collect());
                    window.refill_qubes();
                }
                PlanEvent::Finished(result) => {
                    window.report(result);
                    window.refresh();
                }
                PlanEvent::Failed(error) => window.report(Err(error)),
                PlanEvent::Running(running) => {
                    window.action_set_enabled_state("plan-push", !running);
                }
            }
        ));
    }

    fn action_set_enabled_state(&self, name: &str, enabled: bool) {
        if let Some(action) = self
            .lookup_action(name)
            .and_then(|a| a.downcast::<gio::SimpleAction>().ok())
        {
            action.set_enabled(enabled);
        }
    }

    /// Show a toast for a success message (empty: none) or an error.
    pub fn report(&self, result: Result<String, String>) {
        let message = match result {
            Ok(message) if message.is_empty() => return,
            Ok(message) => message,
            Err(error) => {
                eprintln!("qubes-config-sync: {error}");
                error
            }
        };
        let toast = crate::widgets::plain_toast(&message);
        toast.set_timeout(6);
        // Count the toasts on show (`adw::Toast::dismiss` is not used: on libadwaita
        // 1.2 it can crash in the hide animation).
        toast.connect_dismissed(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |toast| window
                .imp()
                .toasts_shown
                .borrow_mut()
                .retain(|t| t != toast)
        ));
        self.imp().toasts_shown.borrow_mut().push(toast.clone());
        self.imp().toasts.add_toast(toast);
    }

    /// How many toasts are on show (they time out after a few seconds).
    pub fn toasts_on_show(&self) -> usize {
        self.imp().toasts_shown.borrow().len()
    }

    /// Told with the pending proposals after every refresh (tray, notifications).
    pub fn connect_pending<F: Fn(&[ProposalSummaryView]) + 'static>(&self, handler: F) {
        self.imp().on_pending.replace(Some(Box::new(handler)));
    }

    pub fn backend(&self) -> Option<Backend> {
        self.imp().backend.borrow().clone()
    }

    /// Start using the backend: pages get it, signals trigger refreshes.
    pub fn set_backend(&self, backend: Backend) {
        let imp = self.imp();
        imp.qube_page.set_backend(backend.clone());
        imp.profile_editor.set_backend(backend.clone());
        imp.push_plan.set_backend(backend.clone());
        imp.review_pane.set_backend(backend.clone());
        imp.backend.replace(Some(backend.clone()));
        let proxy = backend.proxy().clone();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                let (Ok(proposals), Ok(qubes)) = (
                    proxy.receive_proposals_changed().await,
                    proxy.receive_qube_changed().await,
                ) else {
                    window.report(Err(gettextrs::gettext(
                        "Cannot follow the backend's changes; use Refresh.",
                    )));
                    return;
                };
                let mut changes =
                    futures_util::stream::select(proposals.map(|_| ()), qubes.map(|_| ()));
                while changes.next().await.is_some() {
                    // Coalesce a burst of signals into one refresh.
                    while let Some(Some(())) = futures_util::FutureExt::now_or_never(changes.next())
                    {
                    }
                    window.refresh();
                }
            }
        ));
        self.refresh();
    }

    /// Show that no backend could be reached.
    pub fn show_backend_error(&self, error: &str) {
        let imp = self.imp();
        imp.empty_page.set_icon_name(Some("dialog-error-symbolic"));
        imp.empty_page.set_title(&gettextrs::gettext(
            "The Config Sync backend is not running",
        ));
        imp.empty_page
            .set_description(Some(&glib::markup_escape_text(error)));
        imp.stack.set_visible_child_name("empty");
    }

    /// Whether a refresh is in flight.
    pub fn is_busy(&self) -> bool {
        self.imp().busy.get() > 0
    }

    fn visible_page(&self) -> Option<String> {
        self.imp().stack.visible_child_name().map(|s| s.to_string())
    }

    fn show_page(&self, name: &str, title: &str, subtitle: Option<&str>) {
        let imp = self.imp();
        imp.stack.set_visible_child_name(name);
        imp.content_title.set_title(title);
        imp.content_title.set_subtitle(subtitle.unwrap_or(""));
    }

    /// Fetch qubes, profiles and pending proposals again.
    pub fn refresh(&self) {
        let Some(backend) = self.backend() else {
            return;
        };
        let imp = self.imp();
        imp.busy.set(imp.busy.get() + 1);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                let (qubes, profiles, proposals) = futures_util::join!(
                    backend.qubes(),
                    backend.profiles(),
                    backend.pending_proposals()
                );
                let imp = window.imp();
                match qubes {
                    Ok(list) => {
                        if let Some(error) = list.admin_error {
                            window.report(Err(gettext_f(
                                "The Admin API could not be reached: {error}",
                                &[("error", &crate::reasons::text(&error))],
                            )));
                        }
                        imp.qubes.replace(list.qubes);
                        window.refill_qubes();
                    }
                    Err(e) => window.report(Err(e.to_string())),
                }
                match profiles {
                    Ok(profiles) => {
                        imp.profiles.replace(profiles);
                        window.refill_profiles();
                    }
                    Err(e) => window.report(Err(e.to_string())),
                }
                match proposals {
                    Ok(list) => {
                        imp.proposals.replace(list.proposals);
                        window.refill_proposals();
                        window.check_open_review().await;
                    }
                    Err(e) => window.report(Err(e.to_string())),
                }
                // Keep the open qube page current.
                if window.visible_page().as_deref() == Some("qube")
                    && let Some(name) = imp.qube_page.qube_name()
                    && let Some(view) = imp.qubes.borrow().iter().find(|q| q.name == name).cloned()
                {
                    imp.qube_page.show(view);
                }
                imp.busy.set(imp.busy.get().saturating_sub(1));
            }
        ));
    }

    /// The store or the proposals changed: the open review must still be what the
    /// backend would accept, or the pane says so at once and re-opens it.
    async fn check_open_review(&self) {
        let imp = self.imp();
        if self.visible_page().as_deref() != Some("review") {
            return;
        }
        let (Some(backend), Some(id)) = (self.backend(), imp.review_pane.proposal_id()) else {
            return;
        };
        if imp.review_pane.stale_message().is_some()
            && !imp.proposals.borrow().iter().any(|p| p.id == id)
        {
            return;
        }
        if !imp.proposals.borrow().iter().any(|p| p.id == id) {
            imp.review_pane.mark_gone(&gettextrs::gettext(
                "This proposal was decided elsewhere (accepted or rejected); there is nothing left to review.",
            ));
            return;
        }
        match backend.proposal(id).await {
            Ok(view) if imp.review_pane.proposal_id() == Some(id) => {
                imp.review_pane.refresh_from(view);
            }
            Ok(_) => {}
            Err(e) => imp.review_pane.mark_gone(&gettext_f(
                "This proposal cannot be opened any more: {error}",
                &[("error", &e.to_string())],
            )),
        }
    }

    fn selected_name(list: &gtk::ListBox) -> Option<String> {
        list.selected_row()
            .map(|row| match row.downcast_ref::<QcsQubeRow>() {
                Some(qube) => qube.qube_name(),
                None => row.widget_name().to_string(),
            })
    }

    fn reselect(list: &gtk::ListBox, name: Option<String>) {
        let Some(name) = name else { return };
        let mut child = list.first_child();
        while let Some(widget) = child {
            if let Some(row) = widget.downcast_ref::<gtk::ListBoxRow>() {
                let row_name = match row.downcast_ref::<QcsQubeRow>() {
                    Some(qube) => qube.qube_name(),
                    None => row.widget_name().to_string(),
                };
                if row_name == name {
                    list.select_row(Some(row));
                    return;
                }
            }
            child = widget.next_sibling();
        }
    }

    fn clear(list: &gtk::ListBox) {
        while let Some(child) = list.first_child() {
            list.remove(&child);
        }
    }

    fn refill_qubes(&self) {
        let imp = self.imp();
        imp.refilling.set(true);
        let selected = Self::selected_name(&imp.qube_list);
        Self::clear(&imp.qube_list);
        let conflicts = imp.conflicts.borrow();
        for qube in imp.qubes.borrow().iter() {
            imp.qube_list
                .append(&QcsQubeRow::new(qube, conflicts.contains(&qube.name)));
        }
        Self::reselect(&imp.qube_list, selected);
        imp.refilling.set(false);
    }

    fn refill_profiles(&self) {
        let imp = self.imp();
        imp.refilling.set(true);
        let selected = Self::selected_name(&imp.profile_list);
        Self::clear(&imp.profile_list);
        for (id, description, generation) in imp.profiles.borrow().iter() {
            let row = crate::widgets::plain_action_row();
            row.set_title(id);
            row.set_subtitle(&format!(
                "{description} · {}",
                gettext_f(
                    "generation {generation}",
                    &[("generation", &generation.to_string())]
                )
            ));
            row.set_widget_name(id);
            imp.profile_list.append(&row);
        }
        Self::reselect(&imp.profile_list, selected);
        imp.refilling.set(false);
    }

    fn refill_proposals(&self) {
        let imp = self.imp();
        imp.refilling.set(true);
        let selected = Self::selected_name(&imp.proposal_list);
        Self::clear(&imp.proposal_list);
        let proposals = imp.proposals.borrow();
        let palette = Palette::for_dark(adw::StyleManager::default().is_dark());
        // The files of one submission are one row: reviewed as a unit.
        let mut batches: Vec<(i64, Vec<&ProposalSummaryView>)> = Vec::new();
        for proposal in proposals.iter() {
            match batches
                .iter_mut()
                .find(|(b, _)| *b == proposal.batch && *b != 0)
            {
                Some((_, files)) => files.push(proposal),
                None => batches.push((proposal.batch, vec![proposal])),
            }
        }
        let mut unknown_risk = Vec::new();
        for (batch, files) in &batches {
            let proposal = files[0];
            // Names from a qube: through the safe renderer (marks look-alikes), as markup.
            let row = adw::ActionRow::new();
            row.set_use_markup(true);
            row.set_title_lines(2);
            row.set_subtitle_lines(1);
            let from = gettext_f(
                "from {qube} · {profile}",
                &[
                    ("qube", &markup::name(&proposal.source_qube, palette)),
                    ("profile", &markup::name(&proposal.profile, palette)),
                ],
            );
            if files.len() == 1 {
                row.set_title(&format!(
                    "#{} · {}",
                    proposal.id,
                    markup::name(&proposal.path, palette)
                ));
                row.set_subtitle(&from);
                row.set_widget_name(&proposal.id.to_string());
            } else {
                let count = u32::try_from(files.len()).unwrap_or(u32::MAX);
                row.set_title(&markup::escape(&ngettext_f(
                    "#{id} · {n} file",
                    "#{id} · {n} files",
                    count,
                    &[("id", &proposal.id.to_string())],
                )));
                row.set_subtitle(&from);
                row.set_widget_name(&format!("batch:{batch}"));
                let risk = imp.risk.borrow();
                let known: Option<Vec<Option<Severity>>> =
                    files.iter().map(|f| risk.get(&f.id).copied()).collect();
                let marker = gtk::Label::new(None);
                marker.set_valign(gtk::Align::Center);
                match known {
                    Some(severities) => {
                        let worst = severities.into_iter().flatten().max();
                        if let Some(worst) = worst {
                            marker.set_label(&format!("{} {}", worst.symbol(), worst.label()));
                            marker.add_css_class(worst.css_class());
                            marker.set_tooltip_text(Some(&gettextrs::gettext(
                                "The most severe finding among the files of this submission",
                            )));
                        }
                    }
                    None => {
                        marker.set_label("…");
                        unknown_risk.extend(files.iter().map(|f| f.id));
                    }
                }
                marker.add_css_class("batch-risk");
                row.add_suffix(&marker);
            }
            imp.proposal_list.append(&row);
        }
        if proposals.is_empty() {
            let row = crate::widgets::plain_action_row();
            row.set_title(&gettextrs::gettext("Nothing to review"));
            row.set_activatable(false);
            row.set_selectable(false);
            row.add_css_class("dim-label");
            imp.proposal_list.append(&row);
        }
        let count = u32::try_from(proposals.len()).unwrap_or(u32::MAX);
        imp.proposal_count.set_label(&count.to_string());
        imp.proposal_count.set_tooltip_text(Some(&ngettext_f(
            "{n} proposal waits for review",
            "{n} proposals wait for review",
            count,
            &[],
        )));
        Self::reselect(&imp.proposal_list, selected);
        imp.refilling.set(false);
        if let Some(handler) = imp.on_pending.borrow().as_ref() {
            handler(&proposals);
        }
        drop(proposals);
        if !unknown_risk.is_empty() {
            self.fetch_risk(unknown_risk);
        }
    }

    /// Unselect every sidebar list but `keep` (`None`: all of them).
    fn unselect_others(&self, keep: Option<&gtk::ListBox>) {
        let imp = self.imp();
        imp.refilling.set(true);
        for list in [&*imp.qube_list, &*imp.profile_list, &*imp.proposal_list] {
            if Some(list) != keep {
                list.unselect_all();
            }
        }
        imp.refilling.set(false);
    }

    /// Show a qube's page.
    pub fn open_qube(&self, name: &str) {
        let imp = self.imp();
        let Some(view) = imp.qubes.borrow().iter().find(|q| q.name == name).cloned() else {
            return;
        };
        self.unselect_others(Some(&imp.qube_list));
        imp.refilling.set(true);
        Self::reselect(&imp.qube_list, Some(name.to_owned()));
        imp.refilling.set(false);
        imp.qube_page.show(view);
        self.show_page("qube", name, Some(&gettextrs::gettext("Qube")));
    }

    /// Show a profile in the editor; `file` opens one of its files.
    pub fn open_profile_file(&self, id: &str, file: Option<&str>) {
        let Some(backend) = self.backend() else {
            return;
        };
        let imp = self.imp();
        self.unselect_others(Some(&imp.profile_list));
        imp.refilling.set(true);
        Self::reselect(&imp.profile_list, Some(id.to_owned()));
        imp.refilling.set(false);
        let (id, file) = (id.to_owned(), file.map(str::to_owned));
        imp.busy.set(imp.busy.get() + 1);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                match backend.profile(&id).await {
                    Ok(view) => {
                        window.imp().profile_editor.show(view, file.as_deref());
                        window.show_page("profile", &id, Some(&gettextrs::gettext("Profile")));
                    }
                    Err(e) => window.report(Err(e.to_string())),
                }
                let imp = window.imp();
                imp.busy.set(imp.busy.get().saturating_sub(1));
            }
        ));
    }

    pub fn open_profile(&self, id: &str) {
        self.open_profile_file(id, None);
    }

    /// Open a proposal in the review pane.
    pub fn open_proposal(&self, id: i64) {
        let Some(backend) = self.backend() else {
            return;
        };
        let imp = self.imp();
        self.unselect_others(Some(&imp.proposal_list));
        imp.refilling.set(true);
        Self::reselect(&imp.proposal_list, Some(id.to_string()));
        imp.refilling.set(false);
        imp.busy.set(imp.busy.get() + 1);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                match backend.proposal(id).await {
                    Ok(view) => {
                        let subtitle = gettext_f(
                            "from {qube}",
                            &[("qube", &markup::name_plain(&view.summary.source_qube))],
                        );
                        let pane = &window.imp().review_pane;
                        pane.show(view);
                        pane.set_batch(Vec::new());
                        window.show_page("review", &gettextrs::gettext("Review"), Some(&subtitle));
                    }
                    Err(e) => window.report(Err(e.to_string())),
                }
                let imp = window.imp();
                imp.busy.set(imp.busy.get().saturating_sub(1));
            }
        ));
    }

    /// Learn the riskiest finding of each of `ids` (for the sidebar's markers).
    fn fetch_risk(&self, ids: Vec<i64>) {
        let Some(backend) = self.backend() else {
            return;
        };
        if self.imp().fetching_risk.replace(true) {
            return;
        }
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                for id in ids {
                    if window.imp().risk.borrow().contains_key(&id) {
                        continue;
                    }
                    if let Ok(view) = backend.proposal(id).await {
                        let worst = crate::widgets::riskiest(&view);
                        window.imp().risk.borrow_mut().insert(id, worst);
                    }
                }
                window.imp().fetching_risk.set(false);
                window.refill_proposals();
            }
        ));
    }

    /// Open a multi-file submission as one unit: its riskiest file first, the others
    /// listed in the pane (riskiest first).
    pub fn open_batch(&self, batch: i64) {
        let Some(backend) = self.backend() else {
            return;
        };
        let imp = self.imp();
        self.unselect_others(Some(&imp.proposal_list));
        imp.refilling.set(true);
        Self::reselect(&imp.proposal_list, Some(format!("batch:{batch}")));
        imp.refilling.set(false);
        imp.busy.set(imp.busy.get() + 1);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                window.show_batch(&backend, batch).await;
                let imp = window.imp();
                imp.busy.set(imp.busy.get().saturating_sub(1));
            }
        ));
    }

    async fn show_batch(&self, backend: &Backend, batch: i64) {
        let ids: Vec<i64> = match backend.pending_proposals().await {
            Ok(list) => list
                .proposals
                .into_iter()
                .filter(|p| p.batch == batch)
                .map(|p| p.id)
                .collect(),
            Err(e) => return self.report(Err(e.to_string())),
        };
        let mut files = Vec::new();
        let mut views = Vec::new();
        for id in ids {
            match backend.proposal(id).await {
                Ok(view) => {
                    let severity = crate::widgets::riskiest(&view);
                    self.imp().risk.borrow_mut().insert(id, severity);
                    files.push(crate::widgets::BatchFile {
                        id,
                        path: view.summary.path.clone(),
                        severity,
                    });
                    views.push(view);
                }
                Err(e) => return self.report(Err(e.to_string())),
            }
        }
        crate::widgets::riskiest_first(&mut files);
        let Some(first) = files.first().map(|f| f.id) else {
            self.show_page("empty", &gettextrs::gettext("Config Sync"), None);
            return;
        };
        let Some(view) = views.into_iter().find(|v| v.summary.id == first) else {
            return;
        };
        let subtitle = gettext_f(
            "from {qube}",
            &[("qube", &markup::name_plain(&view.summary.source_qube))],
        );
        let pane = &self.imp().review_pane;
        pane.show(view);
        pane.set_batch(files);
        self.show_page("review", &gettextrs::gettext("Review"), Some(&subtitle));
    }

    /// Plan a push (empty: every qube with an assignment) and show the plan.
    pub fn plan_push(&self, qubes: Vec<String>) {
        let imp = self.imp();
        let subtitle = if qubes.is_empty() {
            gettextrs::gettext("every qube with an assigned profile")
        } else {
            qubes.join(", ")
        };
        self.unselect_others(None);
        imp.push_plan.plan(qubes);
        self.show_page("plan", &gettextrs::gettext("Push"), Some(&subtitle));
    }

    fn snapshot_qube(&self) {
        let (Some(backend), Some(qube)) = (self.backend(), self.imp().qube_page.qube_name()) else {
            return;
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                match backend.snapshot(&qube).await {
                    Ok(result) => {
                        window.report(Ok(ngettext_f(
                            "{n} difference imported as a proposal",
                            "{n} differences imported as proposals",
                            u32::try_from(result.proposal_ids.len()).unwrap_or(u32::MAX),
                            &[],
                        )));
                        window.refresh();
                    }
                    Err(e) => window.report(Err(e.to_string())),
                }
            }
        ));
    }

    /// Ask for a new profile's id and description, then create it in the store.
    pub fn new_profile(&self) -> adw::MessageDialog {
        let dialog = adw::MessageDialog::new(
            Some(self),
            Some(&gettextrs::gettext("New Profile")),
            Some(&gettextrs::gettext(
                "A profile is a named set of files, such as git or ssh. Its id is lowercase letters, digits and dashes.",
            )),
        );
        let fields = gtk::Box::new(gtk::Orientation::Vertical, 6);
        let id = gtk::Entry::new();
        id.set_placeholder_text(Some(&gettextrs::gettext("Id, e.g. bash")));
        id.set_widget_name("profile-id");
        let description = gtk::Entry::new();
        description.set_placeholder_text(Some(&gettextrs::gettext("Description")));
        description.set_widget_name("profile-description");
        fields.append(&id);
        fields.append(&description);
        dialog.set_extra_child(Some(&fields));
        dialog.add_response("cancel", &gettextrs::gettext("_Cancel"));
        dialog.add_response("create", &gettextrs::gettext("C_reate"));
        dialog.set_response_appearance("create", adw::ResponseAppearance::Suggested);
        dialog.set_default_response(Some("create"));
        dialog.set_close_response("cancel");
        dialog.connect_response(
            None,
            glib::clone!(
                #[weak(rename_to = window)]
                self,
                #[weak]
                id,
                #[weak]
                description,
                move |_, response| {
                    if response == "create" {
                        window.create_profile(id.text().trim(), description.text().trim());
                    }
                }
            ),
        );
        dialog.present();
        dialog
    }

    fn create_profile(&self, id: &str, description: &str) {
        let Some(backend) = self.backend() else {
            return;
        };
        let (id, description) = (id.to_owned(), description.to_owned());
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                match backend.create_profile(&id, &description).await {
                    Ok(()) => {
                        window.refresh();
                        window.open_profile(&id);
                    }
                    Err(e) => window.report(Err(e.to_string())),
                }
            }
        ));
    }

    /// Open the settings dialog of the qube on show.
    pub fn open_settings(&self) -> Option<QcsQubeSettings> {
        let imp = self.imp();
        let backend = self.backend()?;
        let name = imp.qube_page.qube_name()?;
        let view = imp
            .qubes
            .borrow()
            .iter()
            .find(|q| q.name == name)
            .cloned()?;
        let dialog = QcsQubeSettings::new(self, backend, &view, &imp.profiles.borrow());
        dialog.connect_changed(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |result| {
                if result.is_ok() {
                    window.refresh();
                }
            }
        ));
        dialog.present();
        Some(dialog)
    }

    pub fn qube_page(&self) -> QcsQubePage {
        self.imp().qube_page.get()
    }

    pub fn profile_editor(&self) -> QcsProfileEditor {
        self.imp().profile_editor.get()
    }

    pub fn push_plan(&self) -> QcsPushPlan {
        self.imp().push_plan.get()
    }

    pub fn review_pane(&self) -> QcsReviewPane {
        self.imp().review_pane.get()
    }

    pub fn current_page(&self) -> Option<String> {
        self.visible_page()
    }

    /// The qube rows in the sidebar.
    pub fn qube_rows(&self) -> Vec<QcsQubeRow> {
        let mut rows = Vec::new();
        let mut child = self.imp().qube_list.first_child();
        while let Some(widget) = child {
            if let Some(row) = widget.downcast_ref::<QcsQubeRow>() {
                rows.push(row.clone());
            }
            child = widget.next_sibling();
        }
        rows
    }

    pub fn pending_proposals(&self) -> Vec<ProposalSummaryView> {
        self.imp().proposals.borrow().clone()
    }

    /// The titles of the inbox rows as rendered on screen (the text of each row's
    /// title label, after any markup was applied).
    pub fn proposal_row_titles(&self) -> Vec<String> {
        fn title_label(widget: &gtk::Widget) -> Option<gtk::Label> {
            let mut child = widget.first_child();
            while let Some(c) = child {
                if let Some(label) = c.downcast_ref::<gtk::Label>()
                    && label.has_css_class("title")
                {
                    return Some(label.clone());
                }
                if let Some(found) = title_label(&c) {
                    return Some(found);
                }
                child = c.next_sibling();
            }
            None
        }
        let mut titles = Vec::new();
        let mut child = self.imp().proposal_list.first_child();
        while let Some(widget) = child {
            if let Some(label) = title_label(&widget) {
                titles.push(label.text().to_string());
            }
            child = widget.next_sibling();
        }
        titles
    }

    pub fn proposal_count_label(&self) -> String {
        self.imp().proposal_count.label().to_string()
    }
}
