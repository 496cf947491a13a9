//! The German translation: complete, valid, and actually shown by the app's own string
//! lookup.
//!
//! `po/de.po` is compiled with `msgfmt` into a temporary
//! `LOCALEDIR/de/LC_MESSAGES/qubes-config-sync.mo`; then this test binary runs itself
//! again (the ignored test `lookup_in_child`) with `LANG=C.UTF-8 LANGUAGE=de`, calls the
//! app's `init()` (setlocale, text domain, codeset), binds the text domain to the
//! temporary directory (the app binds the compile-time `QCS_LOCALEDIR`, which a test
//! cannot move), and looks strings up through `qubes_config_sync::i18n` and gettext.
//! The expected German comes from `de.po` itself, so the test follows the strings.
//!
//! Needs `msgfmt`/`msgcmp` (Debian package gettext) and the built-in `C.UTF-8` locale:
//! glibc ignores LANGUAGE in the plain C locale.
//!
//! The dev build's own translations: `build.rs` compiles `po/` into the build tree and a
//! developer's build binds that (`config::localedir`), so the binary run from `target/`
//! without installation shows German — checked on the real binary's window title under
//! Xvfb (`xvfb-run`, `xwininfo`: Debian packages xvfb and x11-utils).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

const DOMAIN: &str = "qubes-config-sync";
const CHILD_LOCALEDIR: &str = "QCS_TEST_I18N_LOCALEDIR";
const CHILD_QUERIES: &str = "QCS_TEST_I18N_QUERIES";
const RESULT_MARK: &str = "QCS-I18N-RESULT ";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One entry of a .po file (only what the test needs).
#[derive(Debug, Default, Clone)]
struct PoEntry {
    context: Option<String>,
    id: String,
    plural: Option<String>,
    translations: Vec<String>,
    fuzzy: bool,
}

/// Decodes one C-style quoted .po string.
fn unquote(text: &str) -> String {
    let inner = text
        .trim()
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a quoted .po string: {text}"));
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// A small .po reader: contexts, plurals, continuation lines, fuzzy flags.
fn parse_po(text: &str) -> Vec<PoEntry> {
    #[derive(Clone, Copy)]
    enum Field {
        Context,
        Id,
        Plural,
        Translation(usize),
    }
    let mut entries = Vec::new();
    let mut current = PoEntry::default();
    let mut field = None;
    let mut started = false;
    let mut finish = |entry: &mut PoEntry, started: &mut bool| {
        if *started {
            entries.push(std::mem::take(entry));
        }
        *started = false;
    };
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            finish(&mut current, &mut started);
            field = None;
            continue;
        }
        if let Some(flags) = line.strip_prefix("#,") {
            current.fuzzy |= flags.split(',').any(|f| f.trim() == "fuzzy");
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, value) = if line.starts_with('"') {
            (None, line)
        } else {
            let (name, value) = line.split_once(' ').expect("keyword and string");
            (Some(name), value)
        };
        if let Some(name) = name {
            started = true;
            field = Some(match name {
                "msgctxt" => Field::Context,
                "msgid" => Field::Id,
                "msgid_plural" => Field::Plural,
                "msgstr" => Field::Translation(0),
                other => {
                    let index = other
                        .strip_prefix("msgstr[")
                        .and_then(|i| i.strip_suffix(']'))
                        .and_then(|i| i.parse().ok())
                        .unwrap_or_else(|| panic!("unknown .po keyword {other}"));
                    Field::Translation(index)
                }
            });
        }
        let value = unquote(value);
        match field.expect("a string belongs to a keyword") {
            Field::Context => current.context.get_or_insert_default().push_str(&value),
            Field::Id => current.id.push_str(&value),
            Field::Plural => current.plural.get_or_insert_default().push_str(&value),
            Field::Translation(i) => {
                if current.translations.len() <= i {
                    current.translations.resize(i + 1, String::new());
                }
                current.translations[i].push_str(&value);
            }
        }
    }
    finish(&mut current, &mut started);
    entries
}

fn german_entries() -> Vec<PoEntry> {
    let text = fs::read_to_string(repo_root().join("po/de.po")).expect("po/de.po");
    parse_po(&text)
        .into_iter()
        .filter(|e| !e.id.is_empty())
        .collect()
}

fn run_ok(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?} (Debian package gettext): {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{stderr}{}",
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

/// Compiles `po` into `<dir>/de/LC_MESSAGES/qubes-config-sync.mo`.
fn compile_german(po: &Path, dir: &Path) {
    let messages = dir.join("de/LC_MESSAGES");
    fs::create_dir_all(&messages).expect("mkdir");
    run_ok(
        Command::new("msgfmt")
            .arg("--check")
            .arg("-o")
            .arg(messages.join(format!("{DOMAIN}.mo")))
            .arg(po),
    );
}

/// Runs `lookup_in_child` in a new process of this test binary with `env` and returns
/// what it looked up, in the order of `queries`.
fn lookup(localedir: &Path, language: Option<&str>, queries: &Value) -> Vec<String> {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args(["--exact", "lookup_in_child", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C.UTF-8")
        .env(CHILD_LOCALEDIR, localedir)
        .env(CHILD_QUERIES, queries.to_string());
    match language {
        Some(language) => command.env("LANGUAGE", language),
        None => command.env_remove("LANGUAGE"),
    };
    let output = command.output().expect("run the child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find(RESULT_MARK).map(|at| &l[at + RESULT_MARK.len()..]))
        .unwrap_or_else(|| panic!("no result from the child:\n{stdout}"));
    serde_json::from_str(line).expect("child result is JSON")
}

/// The child: the app's initialisation, then lookups. Ignored in normal runs; the tests
/// below run it in a fresh process with the locale environment they want.
#[test]
#[ignore = "run by the other tests in a child process with LANG/LANGUAGE set"]
fn lookup_in_child() {
    let dir = std::env::var_os(CHILD_LOCALEDIR).expect("run by german_is_shown_*");
    let queries: Vec<Value> =
        serde_json::from_str(&std::env::var(CHILD_QUERIES).expect("queries for the child"))
            .expect("queries are JSON");

    qubes_config_sync::init();
    gettextrs::bindtextdomain(DOMAIN, PathBuf::from(dir)).expect("bindtextdomain");

    let results: Vec<String> = queries
        .iter()
        .map(|q| {
            let id = q["id"].as_str().expect("id");
            match (q["context"].as_str(), q["plural"].as_str()) {
                (Some(context), None) => gettextrs::pgettext(context, id),
                (None, Some(plural)) => {
                    let n = q["n"].as_u64().expect("n") as u32;
                    qubes_config_sync::i18n::ngettext_f(id, plural, n, &[])
                }
                (Some(context), Some(plural)) => {
                    let n = q["n"].as_u64().expect("n") as u32;
                    gettextrs::npgettext(context, id, plural, n)
                }
                (None, None) => qubes_config_sync::i18n::gettext_f(id, &[]),
            }
        })
        .collect();
    // On a line of its own: the harness prints "test lookup_in_child ... " before it.
    println!(
        "\n{RESULT_MARK}{}",
        serde_json::to_string(&results).expect("json")
    );
}

/// Queries for every entry of `de.po` (plurals with n = 1 and n = 7) and the German the
/// app must show for them.
fn queries_and_expected(entries: &[PoEntry]) -> (Value, Vec<String>) {
    let mut queries = Vec::new();
    let mut expected = Vec::new();
    for e in entries {
        match &e.plural {
            None => {
                queries.push(json!({"context": e.context, "id": e.id}));
                expected.push(e.translations[0].clone());
            }
            Some(plural) => {
                for (n, form) in [(1u32, 0usize), (7, 1)] {
                    queries
                        .push(json!({"context": e.context, "id": e.id, "plural": plural, "n": n}));
                    // ngettext_f fills {n}; npgettext returns the raw form.
                    let text = e.translations[form].clone();
                    expected.push(if e.context.is_none() {
                        text.replace("{n}", &n.to_string())
                    } else {
                        text
                    });
                }
            }
        }
    }
    (Value::Array(queries), expected)
}

#[test]
fn german_is_shown_with_language_de() {
    let entries = german_entries();
    let localedir = tempfile::tempdir().expect("temp dir");
    compile_german(&repo_root().join("po/de.po"), localedir.path());

    let (queries, expected) = queries_and_expected(&entries);
    let shown = lookup(localedir.path(), Some("de"), &queries);
    assert_eq!(shown.len(), expected.len());
    let wrong: Vec<String> = shown
        .iter()
        .zip(&expected)
        .filter(|(s, e)| s != e)
        .map(|(s, e)| format!("shown {s:?}, de.po says {e:?}"))
        .collect();
    assert!(wrong.is_empty(), "not German: {wrong:#?}");

    // The lookup really went through the catalogue: most entries differ from English.
    let different = entries
        .iter()
        .filter(|e| e.translations.first() != Some(&e.id))
        .count();
    assert!(
        different * 2 > entries.len(),
        "{different} of {} entries differ from English",
        entries.len()
    );
    // The application name the app sets in init().
    let name = entries
        .iter()
        .find(|e| e.id == "Config Sync" && e.context.is_none())
        .expect("the app name is translated");
    assert_ne!(name.translations[0], "Config Sync");
}

#[test]
fn english_is_shown_without_language() {
    // Same catalogue, no LANGUAGE: C.UTF-8 means English, so the lookup above is not a
    // coincidence of the test setup.
    let entries = german_entries();
    let localedir = tempfile::tempdir().expect("temp dir");
    compile_german(&repo_root().join("po/de.po"), localedir.path());
    let (queries, _) = queries_and_expected(&entries);
    let shown = lookup(localedir.path(), None, &queries);
    let english: Vec<String> = entries
        .iter()
        .flat_map(|e| match &e.plural {
            None => vec![e.id.clone()],
            Some(plural) if e.context.is_none() => {
                vec![e.id.replace("{n}", "1"), plural.replace("{n}", "7")]
            }
            Some(plural) => vec![e.id.clone(), plural.clone()],
        })
        .collect();
    assert_eq!(shown, english);
}

#[test]
fn de_po_is_complete_and_valid() {
    let root = repo_root();
    let po = root.join("po/de.po");
    // Syntax, format strings, plural forms, header.
    let stats = run_ok(
        Command::new("msgfmt")
            .args(["--check", "--statistics", "-o", "/dev/null"])
            .arg(&po),
    );
    assert!(
        !stats.contains("fuzzy") && !stats.contains("untranslated"),
        "de.po is not complete: {stats}"
    );
    // Every string of the template has a translation.
    run_ok(
        Command::new("msgcmp")
            .arg(&po)
            .arg(root.join("po/qubes-config-sync.pot")),
    );
    let entries = german_entries();
    assert!(entries.iter().all(|e| !e.fuzzy));
    for e in &entries {
        for t in &e.translations {
            assert!(!t.is_empty(), "untranslated: {:?}", e.id);
        }
        // Placeholders survive translation: the same {names} in both.
        let names = |s: &str| {
            let mut v: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_owned()))
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let source = names(e.plural.as_deref().unwrap_or(&e.id));
        for t in &e.translations {
            let mut translated = names(t);
            // A singular form may spell out the count instead of {n}.
            if e.plural.is_some() && !translated.contains(&"n".to_owned()) {
                translated.push("n".to_owned());
                translated.sort();
            }
            assert_eq!(
                translated, source,
                "placeholders differ in {:?} → {t:?}",
                e.id
            );
        }
    }
    // po/LINGUAS names German.
    let linguas = fs::read_to_string(root.join("po/LINGUAS")).expect("po/LINGUAS");
    assert!(linguas.split_whitespace().any(|l| l == "de"));
}

#[test]
fn a_broken_translation_is_caught() {
    // The checks above can fail: a catalogue with a fuzzy and an empty entry.
    let dir = tempfile::tempdir().expect("temp dir");
    let po = dir.path().join("broken.po");
    fs::write(
        &po,
        "msgid \"\"\nmsgstr \"Content-Type: text/plain; charset=UTF-8\\n\"\n\n\
         #, fuzzy\nmsgid \"Push\"\nmsgstr \"Übertragen\"\n\n\
         msgid \"Qube\"\nmsgstr \"\"\n",
    )
    .expect("write");
    let output = Command::new("msgfmt")
        .args(["--check", "--statistics", "-o", "/dev/null"])
        .arg(&po)
        .output()
        .expect("msgfmt");
    let stats = String::from_utf8_lossy(&output.stderr);
    assert!(
        stats.contains("fuzzy") && stats.contains("untranslated"),
        "{stats}"
    );
    let entries = parse_po(&fs::read_to_string(&po).expect("read"));
    assert!(entries.iter().any(|e| e.fuzzy && e.id == "Push"));
    assert!(
        entries
            .iter()
            .any(|e| e.id == "Qube" && e.translations == [String::new()])
    );
}

/// The title of the window the dev binary (`target/debug/qubes-config-sync`, not
/// installed) opens under Xvfb with `language`, read with `xwininfo` as a window manager
/// would. The app gets an address where no backend listens, so it shows its error page
/// and talks to nothing.
fn dev_binary_window_title(language: Option<&str>) -> String {
    const SCRIPT: &str = r#"
"$1" --bus-address "$2" >"$3" 2>&1 &
app=$!
i=0
while [ $i -lt 120 ]; do
    if xwininfo -root -tree | grep -q '("qubes-config-sync"'; then break; fi
    sleep 0.25; i=$((i + 1))
done
xwininfo -root -tree | grep '("qubes-config-sync"'
kill $app; wait $app
exit 0
"#;
    let scratch = tempfile::tempdir().expect("temp dir");
    let log = scratch.path().join("app.log");
    let mut command = Command::new("xvfb-run");
    command
        .args(["-a", "sh", "-c", SCRIPT, "sh"])
        .arg(env!("CARGO_BIN_EXE_qubes-config-sync"))
        .arg(format!(
            "unix:path={}",
            scratch.path().join("no-bus").display()
        ))
        .arg(&log)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("WAYLAND_DISPLAY")
        .env("GDK_BACKEND", "x11")
        .env("LANG", "C.UTF-8");
    match language {
        Some(language) => command.env("LANGUAGE", language),
        None => command.env_remove("LANGUAGE"),
    };
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run xvfb-run (Debian packages xvfb, x11-utils): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let app_log = fs::read_to_string(&log).unwrap_or_default();
    // `0x200004 "Title": ("qubes-config-sync" "qubes-config-sync")  1280x800+0+0 …`
    stdout
        .lines()
        .filter_map(|l| {
            l.split_once(" \"")
                .and_then(|(_, rest)| rest.split_once("\": ("))
        })
        .map(|(title, _)| title.to_owned())
        .next()
        .unwrap_or_else(|| {
            panic!(
                "the app opened no window:\n{stdout}\n{}\napp: {app_log}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

#[test]
fn the_dev_binary_shows_the_build_trees_translations() {
    // The build tree holds the compiled de.po, and a developer's build binds it.
    let localedir = PathBuf::from(qubes_config_sync::config::localedir());
    assert!(
        localedir
            .join(format!("de/LC_MESSAGES/{DOMAIN}.mo"))
            .is_file(),
        "no compiled de.po in {} (is msgfmt installed?)",
        localedir.display()
    );
    assert_ne!(
        localedir,
        Path::new(qubes_config_sync::config::LOCALEDIR),
        "a developer's build must not depend on installed translations"
    );

    let german = german_entries()
        .into_iter()
        .find(|e| e.id == "Config Sync" && e.context.is_none())
        .expect("the window title is translated")
        .translations[0]
        .clone();
    assert_eq!(dev_binary_window_title(Some("de")), german);
    // And English without LANGUAGE, so the German above came from the catalogue.
    assert_eq!(dev_binary_window_title(None), "Config Sync");
}
