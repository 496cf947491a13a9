//! Compiles `resources/` (UI templates, style sheet, shortcuts window) into the
//! GResource bundle the binary embeds (`gio::resources_register_include!`).

fn main() {
    glib_build_tools::compile_resources(
        &["resources"],
        "resources/resources.gresource.xml",
        "qubes-config-sync.gresource",
    );
}
