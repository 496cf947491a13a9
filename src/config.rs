//! Build-time configuration, overridable by the packager through the environment at
//! build time (`option_env!`), with defaults for a plain `cargo build`.

/// Application id (D-Bus name of the GApplication, desktop file name).
pub const APP_ID: &str = "org.qubes.ConfigSync";
/// gettext text domain.
pub const GETTEXT_PACKAGE: &str = "qubes-config-sync";
/// Where the `.mo` files are installed.
pub const LOCALEDIR: &str = match option_env!("QCS_LOCALEDIR") {
    Some(dir) => dir,
    None => "/usr/share/locale",
};
/// Base path of the embedded GResource.
pub const RESOURCE_BASE: &str = "/org/qubes/ConfigSync";
