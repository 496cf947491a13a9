//! The tray without a tray host: no session bus at all here. Showing a count then
//! fails; the app logs it once, never crashes, and keeps trying on later counts.

use std::time::{Duration, Instant};

use gtk::glib;
use qubes_config_sync::tray::TrayController;

#[test]
fn without_a_tray_host_the_tray_logs_once_and_carries_on() {
    let world = tempfile::tempdir().unwrap();
    // SAFETY: the only test of this binary; nothing else runs yet.
    unsafe {
        std::env::set_var(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", world.path().join("no-bus").display()),
        );
    }
    let context = glib::MainContext::new();
    context
        .with_thread_default(|| {
            let (tray, _commands) = TrayController::start();
            let settle = |applied: u32| {
                let limit = Instant::now() + Duration::from_secs(60);
                while tray.applied() < applied {
                    assert!(Instant::now() < limit, "the tray task is stuck");
                    context.iteration(false);
                    std::thread::sleep(Duration::from_millis(2));
                }
            };
            tray.set_count(1);
            settle(1);
            assert!(!tray.is_shown());
            assert_eq!(tray.warnings(), 1);
            for (n, count) in [3, 0, 2].into_iter().enumerate() {
                tray.set_count(count);
                settle(2 + u32::try_from(n).unwrap());
                assert!(!tray.is_shown());
            }
            // Every later attempt failed the same way: still one log line.
            assert_eq!(tray.warnings(), 1);
        })
        .unwrap();
}
