//! Compiles `resources/` (UI templates, style sheet, shortcuts window) into the
//! GResource bundle the binary embeds (`gio::resources_register_include!`), and — in a
//! developer's build (debug assertions on) — the translations `po/LL.po` of `po/LINGUAS`
//! into `OUT_DIR/locale/LL/LC_MESSAGES/qubes-config-sync.mo`, so the app run from
//! `target/` shows them without installation (see `config::localedir`). Release builds
//! skip that step: packages install the `.mo` files with the Makefile.

use std::path::{Path, PathBuf};
use std::process::Command;

const DOMAIN: &str = "qubes-config-sync";

fn main() {
    glib_build_tools::compile_resources(
        &["resources"],
        "resources/resources.gresource.xml",
        "qubes-config-sync.gresource",
    );
    compile_translations();
}

fn compile_translations() {
    println!("cargo:rerun-if-changed=po/LINGUAS");
    println!("cargo:rerun-if-env-changed=MSGFMT");
    let linguas = std::fs::read_to_string("po/LINGUAS").expect("po/LINGUAS");
    let languages: Vec<&str> = linguas
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for lang in &languages {
        println!("cargo:rerun-if-changed=po/{lang}.po");
    }
    if std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("locale");
    let msgfmt = std::env::var_os("MSGFMT").unwrap_or_else(|| "msgfmt".into());
    for lang in &languages {
        let dir = out.join(lang).join("LC_MESSAGES");
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let po = Path::new("po").join(format!("{lang}.po"));
        let mo = dir.join(format!("{DOMAIN}.mo"));
        match Command::new(&msgfmt)
            .arg("--check")
            .arg("-o")
            .arg(&mo)
            .arg(&po)
            .status()
        {
            Ok(status) if status.success() => {}
            Ok(status) => panic!("msgfmt --check rejected {} ({status})", po.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Translations are optional in a developer's build; say why they are missing.
                println!(
                    "cargo:warning=msgfmt not found (Debian package gettext): the app run from \
                     target/ shows English only"
                );
                return;
            }
            Err(e) => panic!("cannot run msgfmt: {e}"),
        }
    }
    println!("cargo:rustc-env=QCS_BUILD_LOCALEDIR={}", out.display());
}
