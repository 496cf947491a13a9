//! `QcsWindow`: the main window — the sidebar (qubes, profiles, proposals inbox) and
//! the content stack (qube page, profile editor, push plan, review pane). The actions
//! live in actions.rs, the sidebar's lists in sidebar.rs.
//!
//! Narrow windows (down to 360 px) fold the sidebar away (`AdwLeaflet`): the content
//! then has a back button. Leaving the profile editor with unsaved edits asks first
//! (save / discard / cancel), whatever the way out: another sidebar item, Push…, a
//! notification's Review, or closing the window. Without a backend the window shows
//! why and every action that needs one is off. It tells the application through its
//! `pending-changed` signal (read [`QcsWindow::pending_proposals`]).

mod actions;
mod sidebar;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::sync::OnceLock;

use adw::prelude::*;
use adw::subclass::prelude::*;
use futures_util::StreamExt;
use gtk::glib::subclass::Signal;
use gtk::{gio, glib};
use qcs_client::types::{ProposalSummaryView, QubeView};

use crate::backend::Backend;
use crate::i18n::{gettext_f, ngettext_f};
use crate::model::Severity;
use crate::model::markup;
use crate::widgets::{
    QcsProfileEditor, QcsPushPlan, QcsQubePage, QcsQubeSettings, QcsReviewPane, SidebarItem,
};

/// The actions that need a backend (off until one is connected).
const BACKEND_ACTIONS: &[&str] = &[
    "refresh",
    "plan-push",
    "plan-push-qube",
    "snapshot-qube",
    "new-profile",
    "qube-settings",
    "save-file",
    "execute-plan",
    "cancel-job",
    "next-proposal",
    "primary",
];

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/org/qubes/ConfigSync/ui/window.ui")]
    pub struct QcsWindow {
        #[template_child]
        pub toasts: TemplateChild<adw::ToastOverlay>,
        #[template_child]
        pub leaflet: TemplateChild<adw::Leaflet>,
        #[template_child]
        pub sidebar: TemplateChild<gtk::Box>,
        #[template_child]
        pub content: TemplateChild<gtk::Box>,
        #[template_child]
        pub back_button: TemplateChild<gtk::Button>,
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
        /// The status page shows the first-run guide (the store is empty).
        pub onboarding: Cell<bool>,
        /// Number of refreshes in flight (tests wait for 0).
        pub busy: Cell<u32>,
        /// What the content shows, as a sidebar item (the row marked in the sidebar).
        pub selection: RefCell<Option<SidebarItem>>,
        /// Why no backend could be reached (shown instead of any page).
        pub backend_error: RefCell<Option<String>>,
        /// The window may close although the editor had unsaved edits (the user chose).
        pub closing: Cell<bool>,
        pub toasts_shown: RefCell<Vec<adw::Toast>>,
        /// The most severe finding per proposal of a multi-file submission opened in
        /// the pane (`None`: no finding), for the sidebar's risk markers until the
        /// proposal list carries them.
        pub risk: RefCell<std::collections::HashMap<i64, Option<Severity>>>,
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
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![Signal::builder("pending-changed").build()])
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.setup_actions();
            obj.setup_sidebar();
            obj.setup_pages();
            obj.setup_leaflet();
            obj.set_backend_actions(false);
        }
    }
    impl WidgetImpl for QcsWindow {}
    impl WindowImpl for QcsWindow {
        /// Unsaved edits in the profile editor: ask before the window goes.
        fn close_request(&self) -> glib::Propagation {
            let obj = self.obj();
            if self.closing.get() || !self.profile_editor.has_unsaved() {
                return self.parent_close_request();
            }
            self.profile_editor.leave(glib::clone!(
                #[weak]
                obj,
                move |go| {
                    if go {
                        obj.imp().closing.set(true);
                        obj.close();
                    }
                }
            ));
            glib::Propagation::Stop
        }
    }
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

    fn setup_pages(&self) {
        let imp = self.imp();
        imp.review_pane.connect_failed(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, error| window.report(Err(error))
        ));
        imp.review_pane.connect_decided(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, message| {
                window.report(Ok(message));
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
                window.select_item(None);
                window.show_page("empty", &gettextrs::gettext("Config Sync"), None);
                window.refresh();
                if batch.len() > 1
                    && let Some(batch_id) = batch_id
                {
                    window.open_batch(batch_id);
                }
            }
        ));
        imp.profile_editor.connect_stored(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, message| {
                window.report(Ok(message));
                window.refresh();
            }
        ));
        imp.profile_editor.connect_failed(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, error| window.report(Err(error))
        ));
        imp.push_plan.connect_planned(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, conflicts| {
                window
                    .imp()
                    .conflicts
                    .replace(conflicts.into_iter().collect());
                window.refill_qubes();
            }
        ));
        imp.push_plan.connect_finished(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, text, success| {
                window.report(if success { Ok(text) } else { Err(text) });
                window.refresh();
            }
        ));
        imp.push_plan.connect_failed(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, error| window.report(Err(error))
        ));
        imp.push_plan.connect_notify_local(
            Some("running"),
            glib::clone!(
                #[weak(rename_to = window)]
                self,
                move |plan, _| {
                    let running = plan.property::<bool>("running");
                    window.action_set_enabled_state("plan-push", !running);
                    window.action_set_enabled_state("plan-push-qube", !running);
                }
            ),
        );
    }

    /// The back button and the folding: a folded window shows the lists or the
    /// content, and choosing an item shows the content.
    fn setup_leaflet(&self) {
        let imp = self.imp();
        imp.back_button.connect_clicked(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_| window.show_sidebar()
        ));
    }

    /// In a folded window: show the lists (the back button's job).
    pub fn show_sidebar(&self) {
        let imp = self.imp();
        imp.leaflet.set_visible_child(&*imp.sidebar);
    }

    /// In a folded window: show the content.
    fn show_content(&self) {
        let imp = self.imp();
        imp.leaflet.set_visible_child(&*imp.content);
    }

    /// Whether the sidebar is folded away (narrow window).
    pub fn is_folded(&self) -> bool {
        self.imp().leaflet.is_folded()
    }

    /// Whether the content (not the lists) is what a folded window shows.
    pub fn shows_content(&self) -> bool {
        let imp = self.imp();
        !imp.leaflet.is_folded()
            || imp.leaflet.visible_child().as_ref() == Some(imp.content.upcast_ref())
    }

    /// The back button of the content's header bar (shown when folded).
    pub fn back_button(&self) -> gtk::Button {
        self.imp().back_button.get()
    }

    /// The buttons of both header bars (for the layout checks of narrow windows).
    pub fn header_buttons(&self) -> Vec<gtk::Widget> {
        fn buttons(widget: &gtk::Widget, out: &mut Vec<gtk::Widget>) {
            if widget.is::<gtk::Button>() || widget.is::<gtk::MenuButton>() {
                out.push(widget.clone());
                return;
            }
            let mut child = widget.first_child();
            while let Some(c) = child {
                buttons(&c, out);
                child = c.next_sibling();
            }
        }
        let imp = self.imp();
        let mut out = Vec::new();
        for pane in [&*imp.sidebar, &*imp.content] {
            if let Some(bar) = pane.first_child() {
                buttons(&bar, &mut out);
            }
        }
        out
    }

    /// The editor has unsaved edits and another page is wanted: ask first. Returns
    /// true when it asked (`go` runs if the user saved or discarded); false when
    /// nothing stands in the way (the caller goes on at once).
    fn ask_before_leaving_editor(&self, go: impl FnOnce(&QcsWindow) + 'static) -> bool {
        let imp = self.imp();
        if self.visible_page().as_deref() != Some("profile") || !imp.profile_editor.has_unsaved() {
            return false;
        }
        // The sidebar keeps marking the open profile until the user answered.
        let kept = self.selected_item();
        self.select_item(kept.clone());
        imp.profile_editor.leave(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |leave| {
                if leave {
                    go(&window);
                } else {
                    window.select_item(kept);
                }
            }
        ));
        true
    }

    fn set_backend_actions(&self, enabled: bool) {
        for name in BACKEND_ACTIONS {
            self.action_set_enabled_state(name, enabled);
        }
    }

    /// Connect to the backend on `bus_address` (`None`: the session bus); without
    /// one, the window says why.
    pub fn connect(&self, bus_address: Option<String>) {
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                match Backend::connect(bus_address.as_deref()).await {
                    Ok(backend) => window.set_backend(backend),
                    Err(e) => {
                        eprintln!("qubes-config-sync: {e}");
                        window.show_backend_error(&e.to_string());
                    }
                }
            }
        ));
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

    /// `pending-changed`: the inbox was refilled (tray, notifications); read
    /// [`QcsWindow::pending_proposals`].
    pub fn connect_pending_changed<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "pending-changed",
            false,
            glib::closure_local!(move |window: &Self| f(window)),
        )
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
        imp.backend_error.replace(None);
        self.set_backend_actions(true);
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
        imp.backend_error.replace(Some(error.to_owned()));
        self.set_backend_actions(false);
        self.select_item(None);
        imp.content_title
            .set_title(&gettextrs::gettext("Config Sync"));
        imp.content_title.set_subtitle("");
        imp.empty_page.set_icon_name(Some("dialog-error-symbolic"));
        imp.empty_page.set_title(&gettextrs::gettext(
            "The Config Sync backend is not running",
        ));
        imp.empty_page
            .set_description(Some(&glib::markup_escape_text(error)));
        imp.stack.set_visible_child_name("empty");
    }

    /// Why no backend could be reached, while the window says so.
    pub fn backend_error(&self) -> Option<String> {
        self.imp().backend_error.borrow().clone()
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
        if imp.backend_error.borrow().is_some() {
            // Without a backend, the page that says why stays.
            return;
        }
        imp.stack.set_visible_child_name(name);
        if name != "empty" {
            self.show_content();
        }
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
                let store_is_empty =
                    imp.profiles.borrow().is_empty() && imp.proposals.borrow().is_empty();
                crate::widgets::targets::show_onboarding(
                    &imp.empty_page,
                    &imp.onboarding,
                    store_is_empty,
                );
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

    /// Show a qube's page.
    pub fn open_qube(&self, name: &str) {
        let imp = self.imp();
        let Some(view) = imp.qubes.borrow().iter().find(|q| q.name == name).cloned() else {
            return;
        };
        let wanted = name.to_owned();
        if self.ask_before_leaving_editor(move |w| w.open_qube(&wanted)) {
            return;
        }
        self.select_item(Some(SidebarItem::Qube(name.to_owned())));
        imp.qube_page.show(view);
        self.show_page("qube", name, Some(&gettextrs::gettext("Qube")));
    }

    /// Show a profile in the editor; `file` opens one of its files.
    pub fn open_profile_file(&self, id: &str, file: Option<&str>) {
        let Some(backend) = self.backend() else {
            return;
        };
        let imp = self.imp();
        let (id, file) = (id.to_owned(), file.map(str::to_owned));
        let wanted = (id.clone(), file.clone());
        if self.ask_before_leaving_editor(move |w| {
            w.open_profile_file(&wanted.0, wanted.1.as_deref());
        }) {
            return;
        }
        self.select_item(Some(SidebarItem::Profile(id.clone())));
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
        if self.ask_before_leaving_editor(move |w| w.open_proposal(id)) {
            return;
        }
        self.select_item(Some(SidebarItem::Proposal(id)));
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

    /// Open a multi-file submission as one unit: its riskiest file first, the others
    /// listed in the pane (riskiest first).
    pub fn open_batch(&self, batch: i64) {
        let Some(backend) = self.backend() else {
            return;
        };
        let imp = self.imp();
        if self.ask_before_leaving_editor(move |w| w.open_batch(batch)) {
            return;
        }
        self.select_item(Some(SidebarItem::Batch(batch)));
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
        let no_backend = imp.backend_error.borrow().clone();
        if let Some(error) = no_backend {
            // No backend: the page that says so stays, nothing is planned.
            self.show_backend_error(&error);
            return;
        }
        if self.backend().is_none() {
            return;
        }
        let wanted = qubes.clone();
        if self.ask_before_leaving_editor(move |w| w.plan_push(wanted)) {
            return;
        }
        let subtitle = if qubes.is_empty() {
            gettextrs::gettext("every qube with an assigned profile")
        } else {
            qubes.join(", ")
        };
        self.select_item(None);
        imp.push_plan.plan(qubes);
        self.show_page("plan", &gettextrs::gettext("Push"), Some(&subtitle));
    }

    /// Whether the status page shows the first-run guide (the store is empty).
    pub fn shows_onboarding(&self) -> bool {
        self.imp().onboarding.get()
    }

    /// "Push to Qubes…": choose several qubes, then plan one push into them.
    pub fn push_selection(&self) -> Option<adw::MessageDialog> {
        if self.imp().backend_error.borrow().is_some() || self.backend().is_none() {
            return None;
        }
        let qubes = self.imp().qubes.borrow().clone();
        Some(crate::widgets::push_selection::present(self, &qubes))
    }

    /// Plan a push of one profile, into one qube (`qube` empty: every qube it goes to).
    pub fn plan_push_profile(&self, qube: String, profile: String) {
        if self.imp().backend_error.borrow().is_some() || self.backend().is_none() {
            return;
        }
        let (wanted_qube, wanted_profile) = (qube.clone(), profile.clone());
        if self.ask_before_leaving_editor(move |w| w.plan_push_profile(wanted_qube, wanted_profile))
        {
            return;
        }
        let qubes: Vec<String> = if qube.is_empty() {
            Vec::new()
        } else {
            vec![qube]
        };
        let subtitle = match qubes.first() {
            Some(qube) => format!("{profile} → {qube}"),
            None => profile.clone(),
        };
        self.select_item(None);
        self.imp().push_plan.plan_profiles(qubes, vec![profile]);
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
            move |_| window.refresh()
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

    pub fn pending_proposals(&self) -> Vec<ProposalSummaryView> {
        self.imp().proposals.borrow().clone()
    }
}
