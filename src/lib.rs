//! The GTK4/libadwaita app of the config qube: qubes, profiles, push plans and the
//! review pane, plus the tray and the `--demo` launcher.
//!
//! Its one job is to show and to ask: it is a client of the D-Bus backend
//! `org.qubes.ConfigSync1` only. It must not open the store, call qrexec or the Admin
//! API, or render bytes from a qube itself — the backend does all of that, and sends
//! text from qubes as rendered segments in which every hidden character is a token.
//! The one exception is `--demo` (cargo feature `demo`, not in the packaged app), which
//! builds a simulated Qubes, starts a private bus and the real backend on it, and then
//! runs the same app against that bus. The wire types, reason codes and job following
//! are `qcs-client`'s; [`reasons`] translates the codes.
//!
//! Layout: [`model`] holds the GTK-free view models (tested without a display);
//! [`widgets`] one widget per file with its template in `resources/ui/`;
//! [`window`], [`application`] and [`tray`] tie them together.

pub mod application;
pub mod backend;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod i18n;
pub mod model;
pub mod reasons;
pub mod tray;
pub mod widgets;
pub mod window;

use gtk::{gio, glib};

/// Set up gettext and register the GResource. Call once, before any widget is made.
pub fn init() {
    // Translations are optional: without a locale or the .mo files the app shows the
    // English strings.
    gettextrs::setlocale(gettextrs::LocaleCategory::LcAll, "");
    let _ = gettextrs::bindtextdomain(config::GETTEXT_PACKAGE, config::localedir());
    let _ = gettextrs::bind_textdomain_codeset(config::GETTEXT_PACKAGE, "UTF-8");
    let _ = gettextrs::textdomain(config::GETTEXT_PACKAGE);
    register_resources();
    glib::set_application_name(&gettextrs::gettext("Config Sync"));
}

/// Register the embedded GResource (idempotent enough: registering twice only adds a
/// second lookup table with the same content).
pub fn register_resources() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        gio::resources_register_include!("qubes-config-sync.gresource")
            .unwrap_or_else(|e| panic!("the embedded GResource is invalid: {e}"))
    });
}
