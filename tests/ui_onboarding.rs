//! The first start, driven like a user: the app against the demo world with an empty
//! store shows what to do first (create a profile, adopt a file); "Adopt a File From a
//! Qube…" is one dialog — qube, path, profile — after which the qube's file waits in the
//! review pane as a proposal (nothing in the store until it is accepted), the profile
//! exists, the qube is assigned it, and the first-run page gives way to the usual one.
//!
//! GTK runs on one thread: one `harness = false` binary with one scenario; without a
//! display it runs itself again under `xvfb-run -a`.

mod common;

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::glib;
use qubes_config_sync::demo::Demo;
use qubes_config_sync::window::QcsWindow;

const INNER: &str = "QCS_UI_TEST_INNER";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        println!("ui_onboarding: test");
        return ExitCode::SUCCESS;
    }
    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !has_display && std::env::var_os(INNER).is_none() {
        let status = Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1280x860x24"])
            .arg(std::env::current_exe().expect("test executable"))
            .args(&args[1..])
            .env(INNER, "1")
            .status();
        return match status {
            Ok(s) if s.success() => ExitCode::SUCCESS,
            other => {
                eprintln!("ui_onboarding under xvfb-run failed: {other:?}");
                ExitCode::FAILURE
            }
        };
    }
    println!("running 1 test");
    scenario();
    println!("test ui_onboarding ... ok\n\ntest result: ok. 1 passed; 0 failed");
    ExitCode::SUCCESS
}

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

/// Every widget below `root` (depth first).
fn descendants(root: &gtk::Widget) -> Vec<gtk::Widget> {
    let mut out = Vec::new();
    let mut child = root.first_child();
    while let Some(widget) = child {
        out.push(widget.clone());
        out.extend(descendants(&widget));
        child = widget.next_sibling();
    }
    out
}

fn named(root: &gtk::Widget, name: &str) -> Option<gtk::Widget> {
    descendants(root)
        .into_iter()
        .find(|w| w.widget_name() == name)
}

fn status_page(window: &QcsWindow) -> adw::StatusPage {
    descendants(window.upcast_ref())
        .into_iter()
        .find_map(|w| w.downcast::<adw::StatusPage>().ok())
        .expect("the window's status page")
}

fn scenario() {
    common::build_workspace_programs();
    let world = tempfile::tempdir().expect("temp dir");
    let demo = Demo::start_empty(Some(world.path().to_owned())).expect("the demo starts");
    let address = demo.bus_address().to_owned();
    let home = world.path().join("qubes/work/home");
    std::fs::create_dir_all(&home).expect("work's home");
    std::fs::write(home.join(".tmux.conf"), "set -g mouse on\n").expect("a file in work");
    common::init_gtk_on(&address);
    adw::init().expect("libadwaita initialises");
    let (_app, window) = common::start_app(&address, true);

    println!("step: an empty store says what to do first");
    wait_until("the first-run page", || window.shows_onboarding());
    let page = status_page(&window);
    assert_eq!(page.title(), "Nothing is synced yet");
    let create = named(page.upcast_ref(), "onboarding-create").expect("create button");
    assert_eq!(
        create
            .downcast_ref::<gtk::Button>()
            .and_then(|b| b.action_name())
            .as_deref(),
        Some("win.new-profile")
    );
    let adopt = named(page.upcast_ref(), "onboarding-adopt")
        .and_then(|w| w.downcast::<gtk::Button>().ok())
        .expect("adopt button");
    assert_eq!(window.current_page().as_deref(), Some("empty"));

    println!("step: adopting a file is one dialog");
    adopt.emit_clicked();
    let dialog = {
        let mut found = None;
        wait_until("the adopt dialog", || {
            found = gtk::Window::list_toplevels()
                .into_iter()
                .filter_map(|w| w.downcast::<adw::MessageDialog>().ok())
                .find(|d| d.heading().as_deref() == Some("Adopt a File"));
            found.is_some()
        });
        found.expect("dialog")
    };
    let root: gtk::Widget = dialog.clone().upcast();
    let qube = named(&root, "adopt-qube")
        .and_then(|w| w.downcast::<gtk::DropDown>().ok())
        .expect("qube chooser");
    let names: Vec<String> = {
        let model = qube.model().expect("qube names");
        (0..model.n_items())
            .filter_map(|i| model.item(i))
            .filter_map(|o| o.downcast::<gtk::StringObject>().ok())
            .map(|s| s.string().to_string())
            .collect()
    };
    let work = names
        .iter()
        .position(|n| n == "work")
        .expect("work is offered");
    assert!(!names.iter().any(|n| n == "dom0"), "{names:?}");
    qube.set_selected(u32::try_from(work).expect("index"));
    let path = named(&root, "adopt-path")
        .and_then(|w| w.downcast::<adw::EntryRow>().ok())
        .expect("path entry");
    path.set_text(".tmux.conf");
    let profile = named(&root, "adopt-profile")
        .and_then(|w| w.downcast::<adw::EntryRow>().ok())
        .expect("profile entry");
    assert_eq!(
        profile.text(),
        "tmux",
        "the profile is suggested from the path"
    );
    dialog.response("adopt");

    println!("step: the qube's file waits for review, nothing entered the store");
    wait_until("the review of the adopted file", || {
        window.current_page().as_deref() == Some("review")
    });
    let pending = window.pending_proposals();
    wait_until("the proposal in the sidebar", || {
        !window.pending_proposals().is_empty()
    });
    let pending = if pending.is_empty() {
        window.pending_proposals()
    } else {
        pending
    };
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].source_qube.as_str(), pending[0].path.as_str()),
        ("work", ".tmux.conf")
    );
    zbus::block_on(async {
        let (_c, proxy) = qcs_client::connect_to(&address).await.expect("connect");
        let view: qcs_client::types::ProfileView =
            serde_json::from_str(&proxy.get_profile("tmux").await.expect("the profile exists"))
                .expect("ProfileView");
        assert!(view.files.is_empty(), "entered the store unreviewed");
        let (assigned, _, _) = proxy.get_qube_settings("work").await.expect("settings");
        assert_eq!(assigned, ["tmux"]);
    });
    wait_until("the usual status page again", || !window.shows_onboarding());

    println!("step: one profile is pushed to one qube from the qube's page");
    window.open_qube("work");
    wait_until("work's page with its profile", || {
        window.current_page().as_deref() == Some("qube")
            && named(window.upcast_ref(), "push-profile").is_some()
    });
    let push = named(window.upcast_ref(), "push-profile")
        .and_then(|w| w.downcast::<gtk::Button>().ok())
        .expect("push button");
    assert_eq!(push.tooltip_text().as_deref(), Some("Push tmux to work"));
    push.emit_clicked();
    wait_until("the plan of tmux for work", || {
        window.current_page().as_deref() == Some("plan")
    });
    window.close();
    drop(demo);
}
