//! `po/POTFILES.in` must list every file with translatable strings, or the strings of a
//! forgotten file silently never reach translators.
//!
//! A file has translatable strings when it is
//! * a Rust source under `src/` with a gettext call on a string literal (`gettext`,
//!   `pgettext`, `ngettext`, `npgettext`, and the app's `gettext_f`/`ngettext_f`),
//! * a GtkBuilder file under `resources/` with `translatable="yes"`,
//! * a desktop entry or AppStream metainfo under `data/` (translatable keys such as
//!   `Name=` or `<summary>`).
//!
//! Files that match but hold no strings for users (e.g. the unit tests of the i18n
//! helpers) are listed in `po/POTFILES.skip` instead. The check also runs `xgettext` the
//! way `make pot` does and fails when a gettext call sits on a line that xgettext's C
//! lexer warns about (a Rust lifetime such as `&'static str` opens a "character
//! constant", and what follows on that line may be misread).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The gettext functions whose first string arguments are extracted (see the Makefile's
/// `XGETTEXT_KEYWORDS`).
const KEYWORDS: &[&str] = &[
    "gettext",
    "pgettext",
    "ngettext",
    "npgettext",
    "gettext_f",
    "ngettext_f",
];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The non-comment lines of a POTFILES-style list.
fn read_list(path: &Path) -> BTreeSet<String> {
    match fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

/// Every file below `dir` (recursively), as paths relative to `root` with `/`.
fn files_below(root: &Path, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.join(dir)];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry.expect("readable directory entry");
            let path = entry.path();
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                todo.push(path);
            } else if kind.is_file() {
                let rel = path.strip_prefix(root).expect("below root");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Byte offsets of gettext calls whose first argument is a string literal.
fn gettext_calls(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut calls = Vec::new();
    for keyword in KEYWORDS {
        let mut from = 0;
        while let Some(found) = text[from..].find(keyword) {
            let start = from + found;
            let end = start + keyword.len();
            from = end;
            if start > 0 && is_ident_byte(bytes[start - 1]) {
                continue;
            }
            if end < bytes.len() && is_ident_byte(bytes[end]) {
                continue;
            }
            let rest = text[end..].trim_start();
            let Some(args) = rest.strip_prefix('(') else {
                continue;
            };
            if args.trim_start().starts_with('"') {
                calls.push(start);
            }
        }
    }
    calls.sort_unstable();
    calls
}

/// Why `rel` (a file below `root`) needs to be in POTFILES.in, or `None`.
fn translatable_reason(root: &Path, rel: &str) -> Option<&'static str> {
    let is_rust = rel.starts_with("src/") && rel.ends_with(".rs");
    let is_ui = rel.starts_with("resources/") && rel.ends_with(".ui");
    let is_desktop =
        rel.starts_with("data/") && (rel.ends_with(".desktop") || rel.ends_with(".desktop.in"));
    let is_metainfo = rel.starts_with("data/")
        && (rel.ends_with(".metainfo.xml") || rel.ends_with(".metainfo.xml.in"));
    if !(is_rust || is_ui || is_desktop || is_metainfo) {
        return None;
    }
    let text = fs::read_to_string(root.join(rel)).unwrap_or_default();
    if is_rust && !gettext_calls(&text).is_empty() {
        return Some("gettext call");
    }
    if is_ui && text.contains("translatable=\"yes\"") {
        return Some("translatable=\"yes\"");
    }
    if is_desktop
        && text.lines().any(|line| {
            ["Name=", "GenericName=", "Comment=", "Keywords="]
                .iter()
                .any(|key| line.starts_with(key))
        })
    {
        return Some("translatable desktop key");
    }
    if is_metainfo && (text.contains("<summary>") || text.contains("<description>")) {
        return Some("translatable metainfo element");
    }
    None
}

/// Problems with `po/POTFILES.in` in the tree at `root`: translatable files it does not
/// list (and that are not skipped), and listed files that do not exist.
fn potfiles_problems(root: &Path) -> Vec<String> {
    let listed = read_list(&root.join("po/POTFILES.in"));
    let skipped = read_list(&root.join("po/POTFILES.skip"));
    let mut problems = Vec::new();
    for rel in listed.iter().chain(&skipped) {
        if !root.join(rel).is_file() {
            problems.push(format!("{rel}: listed in po/POTFILES.* but does not exist"));
        }
    }
    for dir in ["src", "resources", "data"] {
        for rel in files_below(root, dir) {
            if let Some(reason) = translatable_reason(root, &rel)
                && !listed.contains(&rel)
                && !skipped.contains(&rel)
            {
                problems.push(format!(
                    "{rel}: has a {reason} but is not in po/POTFILES.in"
                ));
            }
        }
    }
    problems
}

#[test]
fn potfiles_in_lists_every_file_with_translatable_strings() {
    let problems = potfiles_problems(&repo_root());
    assert!(
        problems.is_empty(),
        "po/POTFILES.in is out of date:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn potfiles_in_lists_each_kind_of_source() {
    // Guards the check itself: if the walk found nothing (wrong root, renamed folders)
    // the test above would pass vacuously.
    let listed = read_list(&repo_root().join("po/POTFILES.in"));
    for prefix in ["src/", "resources/", "data/"] {
        assert!(
            listed.iter().any(|f| f.starts_with(prefix)),
            "po/POTFILES.in lists nothing under {prefix}"
        );
    }
}

#[test]
fn an_unlisted_file_with_translatable_strings_is_reported() {
    let tree = tempfile::tempdir().expect("temp dir");
    let root = tree.path();
    for dir in ["po", "src/widgets", "resources/ui", "data"] {
        fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    let write = |rel: &str, text: &str| fs::write(root.join(rel), text).expect("write");
    write(
        "po/POTFILES.in",
        "# listed\nsrc/listed.rs\nresources/ui/listed.ui\n",
    );
    write("po/POTFILES.skip", "src/skipped.rs\n");
    write(
        "src/listed.rs",
        "fn a() -> String { gettext(\"Listed\") }\n",
    );
    write("src/skipped.rs", "fn b() { gettext_f(\"{x}\", &[]); }\n");
    write(
        "src/no_strings.rs",
        "fn c(id: &str) -> String { gettext(id) }\n",
    );
    write(
        "src/widgets/forgotten.rs",
        "fn d() -> String {\n    gettextrs::pgettext(\n        \"ctx\", \"Forgotten\")\n}\n",
    );
    write(
        "src/not_a_call.rs",
        "fn e() { let ngettext_helper = \"x\"; mygettext(\"y\"); }\n",
    );
    write(
        "resources/ui/listed.ui",
        "<interface><object class=\"GtkLabel\"><property name=\"label\" translatable=\"yes\">A</property></object></interface>",
    );
    write(
        "resources/ui/forgotten.ui",
        "<interface><object class=\"GtkLabel\"><property name=\"label\" translatable=\"yes\">B</property></object></interface>",
    );
    write(
        "resources/ui/untranslated.ui",
        "<interface><object class=\"GtkBox\"/></interface>",
    );
    write(
        "data/app.desktop.in",
        "[Desktop Entry]\nType=Application\nName=App\n",
    );
    write(
        "data/app.metainfo.xml.in",
        "<component><summary>S</summary></component>",
    );

    let mut problems = potfiles_problems(root);
    problems.sort();
    let files: Vec<&str> = problems
        .iter()
        .map(|p| p.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        files,
        [
            "data/app.desktop.in",
            "data/app.metainfo.xml.in",
            "resources/ui/forgotten.ui",
            "src/widgets/forgotten.rs",
        ],
        "{problems:#?}"
    );

    // A listed file that no longer exists is reported too.
    fs::remove_file(root.join("src/listed.rs")).expect("remove");
    assert!(
        potfiles_problems(root)
            .iter()
            .any(|p| p.starts_with("src/listed.rs: listed")),
    );
}

/// Runs xgettext over the listed Rust files as `make pot` does and returns its warnings
/// as (file, line).
fn xgettext_warnings(root: &Path, rust_files: &[String]) -> Vec<(String, usize)> {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new("xgettext");
    command
        .current_dir(root)
        .args(["--language=C", "--from-code=UTF-8"])
        .args(KEYWORDS.iter().map(|k| match *k {
            "pgettext" => "--keyword=pgettext:1c,2".to_owned(),
            "ngettext" | "ngettext_f" => format!("--keyword={k}:1,2"),
            "npgettext" => "--keyword=npgettext:1c,2,3".to_owned(),
            _ => format!("--keyword={k}"),
        }))
        .arg("-o")
        .arg(out_dir.path().join("check.pot"))
        .args(rust_files);
    let output = command
        .output()
        .expect("xgettext runs (Debian package gettext)");
    assert!(
        output.status.success(),
        "xgettext failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains("warning"))
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let file = parts.next()?.to_owned();
            let line_no = parts.next()?.trim().parse().ok()?;
            Some((file, line_no))
        })
        .collect()
}

#[test]
fn xgettext_reads_every_line_with_a_gettext_call() {
    let root = repo_root();
    let rust_files: Vec<String> = read_list(&root.join("po/POTFILES.in"))
        .into_iter()
        .filter(|f| f.ends_with(".rs"))
        .collect();
    let warnings = xgettext_warnings(&root, &rust_files);
    let mut unreadable = Vec::new();
    for file in &rust_files {
        let text = fs::read_to_string(root.join(file)).expect("listed file");
        for offset in gettext_calls(&text) {
            // The call and the first line of its string literal.
            let first = text[..offset].matches('\n').count() + 1;
            let call_text = &text[offset..];
            let quote = call_text.find('"').unwrap_or(0);
            let last = first + call_text[..quote].matches('\n').count();
            for line in first..=last {
                if warnings.contains(&(file.clone(), line)) {
                    unreadable.push(format!("{file}:{line}"));
                }
            }
        }
    }
    assert!(
        unreadable.is_empty(),
        "xgettext warns on lines with gettext calls (move lifetimes or char literals \
         off these lines): {unreadable:?}"
    );
}

#[test]
fn xgettext_warning_on_a_gettext_line_is_detected() {
    let tree = tempfile::tempdir().expect("temp dir");
    fs::write(
        tree.path().join("bad.rs"),
        "fn a(x: &'static str) -> String { gettext(\"Risky\") }\n",
    )
    .expect("write");
    let warnings = xgettext_warnings(tree.path(), &["bad.rs".to_owned()]);
    assert!(warnings.contains(&("bad.rs".to_owned(), 1)), "{warnings:?}");
}
