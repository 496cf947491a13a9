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
//!
//! The steps live in modules by concern (sidebar, qube, editor, push, review, trust,
//! window); this file holds the entry point and the scenario's order.

#[path = "../common/mod.rs"]
mod common;
mod editor;
mod fake_desktop;
mod harness;
mod history;
mod push;
mod qube;
mod review;
mod review_layout;
mod sidebar;
mod targeting;
mod trust;
mod window;

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

use harness::*;
use trust::TrustGate;

/// What every step needs: the app, its window, the backend's bus and the demo world.
pub(crate) struct Ui<'a> {
    pub app: QcsApplication,
    pub window: QcsWindow,
    pub address: &'a str,
    pub world: &'a std::path::Path,
    pub seen: &'a fake_desktop::Seen,
    pub can_push: bool,
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

    let ui = Ui {
        app: app.clone(),
        window: window.clone(),
        address: &address,
        world: world.path(),
        seen: &seen,
        can_push,
    };

    let s = begin("no backend: the error page stays, Push is off");
    window::no_backend(&app);
    s.end();

    let s = begin("the sidebar fills from the backend, with badges");
    sidebar::sidebar_fills(&ui);
    s.end();

    let s = begin("a new proposal: notification and count");
    let second = sidebar::new_proposal(&ui);
    s.end();

    let s = begin("the shortcuts window: Ctrl+, and Ctrl+. tell themselves apart");
    window::shortcuts_window(&ui);
    s.end();

    let s = begin("a qube's page: files and their state");
    qube::qube_page(&ui);
    s.end();

    let s = begin("qube settings: stored, and the persistence tab stays current");
    qube::qube_settings(&ui);
    s.end();

    let s = begin("a new profile: created, opened and marked in the sidebar");
    editor::new_profile(&ui);
    s.end();

    let s = begin("unsaved edits: save, discard or cancel, never lost silently");
    editor::unsaved_edits(&window, &address);
    s.end();

    let s = begin("edit a profile: save, and its allowlist of new files");
    editor::edit_profile(&ui);
    s.end();

    let s = begin("plan and push, conflicts, three-way, overwrite, cancel");
    push::plan_and_push(&ui);
    s.end();

    let s = begin("review: findings, acknowledgements, one hunk accepted");
    review::review(&ui);
    s.end();

    let s = begin("side by side, reject, hostile names");
    let id = review::side_by_side(&ui, second);
    s.end();

    let review = window.review_pane();
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
        push::start_and_push_a_halted_qube(&window, &address, world.path(), can_push);
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
        || window::narrow_windows(&window),
    );
    step(
        "history: generations listed, a rollback asked, confirmed and seen",
        || history::history_and_rollback(&ui),
    );
    step(
        "assignment rules from the profile editor: added, refused in words, removed",
        || targeting::assignment_rules(&ui),
    );
    step(
        "add a folder to a profile: one generation, symlinks and FIFOs refused in words",
        || targeting::add_a_folder(&ui),
    );
    step(
        "push to a selection of qubes: one plan, each qube named, the failed one too",
        || push::push_to_a_selection(&ui),
    );
    step(
        "a proposal against a template: its source beside the diff, not acceptable",
        || review::proposal_against_a_template(&ui),
    );
    step(
        "variables of a qube: shown with their sources, set, refused in words, removed",
        || qube::qube_variables(&ui),
    );
    step(
        "a template's preview in the editor: offered for the qubes a rule covers, rendered for each",
        || editor::template_preview(&ui),
    );

    window.close();
    settle();
    drop(app);
    drop(demo);
}
