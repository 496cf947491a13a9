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

/// Where the app looks for its translations: [`LOCALEDIR`], except in a developer's build
/// (debug assertions on, no `QCS_LOCALEDIR`), which uses the translations `build.rs`
/// compiled into the build tree while they are there — so `cargo run` shows them without
/// installing anything. A release build never looks into the build tree.
pub fn localedir() -> &'static str {
    #[cfg(debug_assertions)]
    if option_env!("QCS_LOCALEDIR").is_none()
        && let Some(dir) = option_env!("QCS_BUILD_LOCALEDIR")
        && std::path::Path::new(dir).is_dir()
    {
        return dir;
    }
    LOCALEDIR
}
/// Base path of the embedded GResource.
pub const RESOURCE_BASE: &str = "/org/qubes/ConfigSync";
