//! The repository is self-contained and its documents say true things about the code:
//! no file reaches outside the repository (the design, its references and the golden
//! recordings live inside it), every local link of a Markdown document resolves inside the
//! repository, and every file and function `docs/architecture.md` names exists.
//!
//! It reads the working tree as text (no git needed, so a source tarball passes too) and
//! skips what a build adds: `target/`, virtual environments, `.git`, the vendored crates
//! and cargo configuration of a package build (`vendor/`, `.cargo/`) and the Debian
//! packaging's staging directories (`debian/*/` but `debian/source/`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

const SKIPPED: &[&str] = &[
    "target",
    ".git",
    ".venv",
    "__pycache__",
    "node_modules",
    "vendor",
    ".cargo",
];

/// Every text file of the repository (not under a skipped directory).
fn text_files(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if SKIPPED.contains(&name.as_str()) {
            continue; // `.git` is a file in a worktree
        }
        if kind.is_dir() {
            if dir.file_name().is_some_and(|d| d == "debian") && name != "source" {
                continue;
            }
            text_files(&path, out);
        } else if kind.is_file()
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            out.push((path, text));
        }
    }
}

fn all_text_files() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    text_files(&repo(), &mut files);
    assert!(
        files.len() > 100,
        "only {} files found: wrong root?",
        files.len()
    );
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Places in `text` where it names a path outside the repository: the session's shared
/// directory (by a relative path or by name) or the machine's work tree.
fn outside_references(text: &str) -> Vec<String> {
    // Built from pieces so this file does not name them itself.
    let needles = [
        concat!("..", "/shared"),
        concat!("shared", "/DESIGN"),
        concat!("shared", "/reference"),
        concat!("shared", "/golden"),
    ];
    let mut found: Vec<String> = needles
        .iter()
        .filter(|n| text.contains(*n))
        .map(|n| (*n).to_owned())
        .collect();
    // An absolute path into the machine's work tree (the root directory `work`) not preceded
    // by a path character
    // (`~/work/`, `spool/work/` and `qubes/work/` name qubes and directories of tests).
    let absolute = concat!("/", "work/");
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices(absolute) {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let path_char = |b: u8| b.is_ascii_alphanumeric() || b"~_-./".contains(&b);
        if before.is_none_or(|b| !path_char(b)) {
            let end = (at + 40).min(text.len());
            let end = (end..=text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(text.len());
            found.push(text[at..end].lines().next().unwrap_or("").to_owned());
        }
    }
    found
}

#[test]
fn the_outside_reference_detector_detects() {
    assert!(!outside_references(&format!("see {}/x", concat!("..", "/shared"))).is_empty());
    assert!(!outside_references(concat!("read ", "/work", "/shared/x")).is_empty());
    assert!(outside_references("includeIf \"gitdir:~/work/\" qubes/work/home").is_empty());
}

#[test]
fn no_file_reaches_outside_the_repository() {
    let offenders: Vec<String> = all_text_files()
        .iter()
        .filter_map(|(path, text)| {
            let found = outside_references(text);
            (!found.is_empty()).then(|| format!("{}: {}", relative(path), found.join(", ")))
        })
        .collect();
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

/// The targets of the inline links `[text](target)` of a Markdown text.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
    }
    targets
}

#[test]
fn every_local_markdown_link_resolves_inside_the_repository() {
    let root = repo();
    let mut broken = Vec::new();
    let mut checked = 0;
    for (path, text) in all_text_files() {
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let dir = path.parent().expect("a file has a directory");
        for target in link_targets(&text) {
            let local = target.split('#').next().unwrap_or("");
            if local.is_empty() || local.contains("://") || local.starts_with("mailto:") {
                continue;
            }
            // Drop an optional link title: `(path "title")`.
            let local = local.split_whitespace().next().unwrap_or(local);
            checked += 1;
            let resolved = dir.join(local);
            match resolved.canonicalize() {
                Ok(p) if p.starts_with(&root) => {}
                Ok(p) => broken.push(format!(
                    "{}: {target} leaves the repository ({})",
                    relative(&path),
                    p.display()
                )),
                Err(_) => broken.push(format!("{}: {target} does not exist", relative(&path))),
            }
        }
    }
    assert!(checked > 10, "only {checked} links checked: parser broken?");
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// The code spans of a paragraph.
fn code_spans(paragraph: &str) -> Vec<&str> {
    paragraph.split('`').skip(1).step_by(2).collect()
}

/// A repository file a code span names (`crates/…`, `src/…`, …), if it looks like one.
fn cited_file(span: &str) -> Option<&str> {
    let roots = ["crates/", "src/", "policy/", "docs/", "tests/", "tools/"];
    (roots.iter().any(|r| span.starts_with(r)) && !span.contains(' ')).then_some(span)
}

/// A function a code span names: `name()` or `Type::name()`, as (type, name).
fn cited_function(span: &str) -> Option<(Option<&str>, &str)> {
    let call = span.strip_suffix("()")?;
    let (ty, name) = match call.rsplit_once("::") {
        Some((ty, name)) => (Some(ty), name),
        None => (None, call),
    };
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !s.starts_with(|c: char| c.is_ascii_digit())
    };
    (ident(name) && ty.is_none_or(ident)).then_some((ty, name))
}

#[test]
fn architecture_names_only_files_and_functions_that_exist() {
    let root = repo();
    let text = std::fs::read_to_string(root.join("docs/architecture.md")).expect("architecture.md");
    let mut problems = Vec::new();
    let mut files_seen = BTreeSet::new();
    let mut functions_seen = 0;
    for paragraph in text.split("\n\n") {
        let spans = code_spans(paragraph);
        let files: Vec<&str> = spans.iter().filter_map(|s| cited_file(s)).collect();
        let mut sources = Vec::new();
        for file in &files {
            let path = root.join(file);
            if !path.exists() {
                problems.push(format!("no file {file}"));
                continue;
            }
            files_seen.insert(file.to_string());
            if path.is_file() && file.ends_with(".rs") {
                sources.push((file, std::fs::read_to_string(&path).expect("read source")));
            }
        }
        for span in &spans {
            let Some((ty, name)) = cited_function(span) else {
                continue;
            };
            functions_seen += 1;
            let defines = |source: &str| {
                let declared = source.contains(&format!("fn {name}("))
                    || source.contains(&format!("fn {name}<"));
                declared
                    && ty.is_none_or(|t| {
                        source.contains(&format!("struct {t}"))
                            || source.contains(&format!("enum {t}"))
                            || source.contains(&format!("impl {t}"))
                            || source.contains(&format!("impl<'e> {t}"))
                            || source.contains(&format!("trait {t}"))
                    })
            };
            if !sources.iter().any(|(_, source)| defines(source)) {
                problems.push(format!(
                    "`{span}` is not defined in the Rust files its paragraph names ({})",
                    files.join(", ")
                ));
            }
        }
    }
    assert!(
        files_seen.len() >= 20 && functions_seen >= 50,
        "only {} files and {functions_seen} functions found: parser broken?",
        files_seen.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_citation_parser_reads_what_the_page_writes() {
    assert_eq!(
        cited_function("Review::check()"),
        Some((Some("Review"), "check"))
    );
    assert_eq!(cited_function("load()"), Some((None, "load")));
    assert_eq!(cited_function("qubes.ConfigApply"), None);
    assert_eq!(cited_function("a b()"), None);
    assert_eq!(
        cited_file("crates/core/src/plan.rs"),
        Some("crates/core/src/plan.rs")
    );
    assert_eq!(cited_file("qubes-config-agent apply"), None);
}

/// The section a line of a Cargo manifest is in (`dependencies`, `dev-dependencies`,
/// `target.'cfg(unix)'.dependencies`, …), for each line naming `crate_name`.
fn sections_naming(manifest: &str, crate_name: &str) -> Vec<String> {
    let mut section = String::new();
    let mut found = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = header.trim_matches(['[', ']']).to_owned();
        } else if !line.starts_with('#') && line.contains(crate_name) {
            found.push(section.clone());
        }
    }
    found
}

#[test]
fn test_support_is_only_ever_a_dev_dependency() {
    let mut manifests = 0;
    let mut uses = 0;
    let mut wrong = Vec::new();
    for (path, text) in all_text_files() {
        if path.file_name().is_none_or(|n| n != "Cargo.toml") {
            continue;
        }
        manifests += 1;
        let own = path
            .parent()
            .is_some_and(|d| d.ends_with("crates/test-support"));
        for section in sections_naming(&text, "qcs-test-support") {
            let allowed = section == "dev-dependencies"
                || section.ends_with(".dev-dependencies")
                || section == "workspace.dependencies"
                || (own && section == "package");
            uses += 1;
            if !allowed {
                wrong.push(format!("{}: in [{section}]", relative(&path)));
            }
        }
    }
    assert!(
        manifests >= 8 && uses >= 6,
        "{manifests} manifests, {uses} uses"
    );
    assert!(
        wrong.is_empty(),
        "qcs-test-support outside [dev-dependencies] would be linked into a shipped binary:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_manifest_reader_sees_a_normal_dependency() {
    let manifest = "[package]\nname = \"x\"\n\n[dependencies]\nqcs-test-support.workspace = true\n\n[dev-dependencies]\nqcs-test-support.workspace = true\n";
    assert_eq!(
        sections_naming(manifest, "qcs-test-support"),
        ["dependencies", "dev-dependencies"]
    );
}
