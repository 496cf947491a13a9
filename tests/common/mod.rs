//! Shared by the root package's tests: the workspace programs the demo runs, and the
//! start of GTK and the app on a test's private bus.

use std::path::PathBuf;
use std::process::Command;

/// The programs `--demo` starts, from other packages of the workspace. Cargo builds
/// only this package's binaries for its tests, so build theirs (incrementally: a no-op
/// when they are current) into the same target directory, and point the demo at them.
pub fn build_workspace_programs() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable in target/<profile>/deps")
        .to_owned();
    let target_dir = profile_dir.parent().expect("target directory").to_owned();
    // The same profile as this test: its directory is named after it ("debug" is dev).
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(name) => name.to_owned(),
    };
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--profile",
            &profile,
            "-p",
            "qcs-daemon",
            "-p",
            "qcs-sim",
            "-p",
            "qcs-agent",
            "--bins",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build for the workspace programs");
    assert!(status.success(), "building the workspace programs failed");
    // SAFETY-free: set before any thread of the test starts.
    unsafe { std::env::set_var("QCS_BIN_DIR", &profile_dir) };
    profile_dir
}

/// Prepares this process for GTK on the private bus `address`: the environment the app
/// reads (session bus, in-memory settings, no accessibility bus, C locale, cairo), then the
/// app's own init and GTK's. Call before any other thread reads the environment.
#[allow(dead_code)] // tests/demo.rs shares this module and runs no GTK
pub fn init_gtk_on(address: &str) {
    // SAFETY: GTK is not initialised yet; the threads running now (zbus executors) do
    // not read the environment.
    unsafe {
        std::env::set_var("DBUS_SESSION_BUS_ADDRESS", address);
        std::env::set_var("GSETTINGS_BACKEND", "memory");
        std::env::set_var("NO_AT_BRIDGE", "1");
        std::env::set_var("GTK_A11Y", "none");
        std::env::set_var("LANG", "C.UTF-8");
        std::env::set_var("GSK_RENDERER", "cairo");
    }
    qubes_config_sync::init();
    gtk::init().expect("GTK initialises on the display");
}

/// Registers and activates the app on `address` and returns it with its main window.
#[allow(dead_code)] // tests/demo.rs shares this module and runs no GTK
pub fn start_app(
    address: &str,
    no_tray: bool,
) -> (
    qubes_config_sync::application::QcsApplication,
    qubes_config_sync::window::QcsWindow,
) {
    use gtk::gio;
    use gtk::prelude::*;
    let app = qubes_config_sync::application::QcsApplication::new(
        qubes_config_sync::application::Options {
            bus_address: Some(address.to_owned()),
            start_hidden: false,
            no_tray,
        },
        false,
    );
    app.register(None::<&gio::Cancellable>)
        .expect("the application registers");
    app.activate();
    let window = app.main_window();
    (app, window)
}
