//! Reading a policy: the top-level files in C-locale order, `!include`, `!include-dir`,
//! `!include-service` (3-column files) and `!compat-4.0`, from a directory or from memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{PolicyError, PolicyErrorKind, py_repr};
use crate::names::{is_policy_filename_char, is_rpcname_char, validate_service_and_argument};
use crate::rule::{Action, Rule, RuleRef, py_split, py_strip};
use crate::token::Token;

/// Where dom0 keeps the policy; absolute includes below it are read from the loaded directory,
/// so a copy of dom0's `/etc/qubes/policy.d` is self-contained.
pub const DOM0_POLICY_DIR: &str = "/etc/qubes/policy.d";

/// How deep `!include*` may nest before the policy is refused (qrexec itself would recurse until
/// Python's recursion limit on a loop).
const MAX_INCLUDE_DEPTH: usize = 32;

/// Suffixes `!compat-4.0` skips in the legacy directory.
const LEGACY_IGNORED_SUFFIXES: &[&str] = &[".rpmsave", ".rpmnew", ".swp"];

/// One entry of a directory listing: `(key, file name, is a regular file)`.
pub(crate) type DirEntry = (String, String, bool);

/// A place policy files are read from.
pub(crate) trait Store {
    /// The name a file is shown with in errors and rule references.
    fn label(&self, key: &str) -> String;
    /// `Ok(None)` when `key` is not a regular file.
    fn read(&self, key: &str) -> Result<Option<String>, String>;
    /// Entries of a directory: `(key, name, is_file)`; `Ok(None)` when not a directory.
    fn list(&self, key: &str) -> Result<Option<Vec<DirEntry>>, String>;
    /// The message for an include that does not name a file.
    fn not_a_file(&self, key: &str) -> String;
    /// Whether `\r` alone ends a line (files are read with universal newlines, in-memory text
    /// is split at `\n` only, as qrexec's `open()` and `StringIO` do).
    fn universal_newlines(&self) -> bool;
}

/// A policy directory on disk.
pub(crate) struct DirStore {
    pub root: PathBuf,
}

impl DirStore {
    fn path(&self, key: &str) -> PathBuf {
        if key.starts_with('/') {
            PathBuf::from(key)
        } else if key.is_empty() {
            self.root.clone()
        } else {
            self.root.join(key)
        }
    }
}

impl Store for DirStore {
    fn label(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    fn read(&self, key: &str) -> Result<Option<String>, String> {
        let path = self.path(key);
        // is_file() follows symlinks, as pathlib's does; anything else is "not a file"
        if !path.is_file() {
            return Ok(None);
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read: {e}"))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| "file is not valid UTF-8".to_owned())
    }

    fn list(&self, key: &str) -> Result<Option<Vec<DirEntry>>, String> {
        let path = self.path(key);
        if !path.is_dir() {
            return Ok(None);
        }
        let entries = std::fs::read_dir(&path).map_err(|e| format!("cannot list: {e}"))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list: {e}"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = join_key(key, &name);
            let is_file = entry.path().is_file();
            out.push((child, name, is_file));
        }
        Ok(Some(out))
    }

    fn not_a_file(&self, key: &str) -> String {
        format!("not a file: {}", self.label(key))
    }

    fn universal_newlines(&self) -> bool {
        true
    }
}

/// Policy files held in memory, keyed by their path relative to the policy directory
/// (`30-user.policy`, `include/admin-local-rwx`).
pub(crate) struct MemStore {
    pub files: BTreeMap<String, String>,
}

impl Store for MemStore {
    fn label(&self, key: &str) -> String {
        key.to_owned()
    }

    fn read(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.files.get(key).cloned())
    }

    fn list(&self, key: &str) -> Result<Option<Vec<DirEntry>>, String> {
        let prefix = if key.is_empty() {
            String::new()
        } else {
            format!("{key}/")
        };
        let mut out = Vec::new();
        let mut is_dir = key.is_empty();
        for name in self.files.keys() {
            if let Some(rest) = name.strip_prefix(&prefix) {
                is_dir = true;
                match rest.split_once('/') {
                    None => out.push((name.clone(), rest.to_owned(), true)),
                    Some((sub, _)) => {
                        let child = format!("{prefix}{sub}");
                        if !out.iter().any(|(k, _, _)| *k == child) {
                            out.push((child, sub.to_owned(), false));
                        }
                    }
                }
            }
        }
        Ok(is_dir.then_some(out))
    }

    fn not_a_file(&self, key: &str) -> String {
        format!("no such policy file: {}", py_repr(key))
    }

    fn universal_newlines(&self) -> bool {
        false
    }
}

fn join_key(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

/// Turns an include path into a store key: relative paths are relative to the policy directory
/// (not to the including file, as in qrexec), normalised lexically.
fn resolve_include(included: &str) -> String {
    let (absolute, rest) = match included.strip_prefix(DOM0_POLICY_DIR) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => (false, rest),
        _ => (included.starts_with('/'), included),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(p) if *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Splits file text into lines the way qrexec iterates over a file.
fn split_lines(text: &str, universal: bool) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' if universal => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < bytes.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Which files of a directory listing qrexec reads (`filter_filepaths`): regular files whose name
/// ends in `.policy` and does not start with `.`, sorted by name (C locale); any such name with a
/// character outside `[0-9a-z_.-]` refuses the whole policy.
pub(crate) fn filter_policy_files(
    store: &dyn Store,
    entries: Vec<DirEntry>,
) -> Result<Vec<String>, PolicyError> {
    let mut picked: Vec<(String, String)> = entries
        .into_iter()
        .filter(|(_, name, is_file)| *is_file && is_policy_file_name(name))
        .map(|(key, name, _)| (name, key))
        .collect();
    for (name, key) in &picked {
        if !name.chars().all(is_policy_filename_char) {
            let label = store.label(key);
            return Err(PolicyError {
                message: format!("invalid filename: {label}"),
                file: label,
                line: 0,
                kind: PolicyErrorKind::InvalidFileName,
            });
        }
    }
    picked.sort();
    Ok(picked.into_iter().map(|(_, key)| key).collect())
}

/// True for a name qrexec considers a policy file (before the charset check).
pub fn is_policy_file_name(name: &str) -> bool {
    name.ends_with(".policy") && !name.starts_with('.')
}

/// Python's `PurePath.suffix`.
fn py_suffix(name: &str) -> &str {
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => &name[i..],
        _ => "",
    }
}

pub(crate) struct Loader<'a> {
    store: &'a dyn Store,
    legacy: Option<&'a dyn Store>,
    pub rules: Vec<Rule>,
    pub warnings: Vec<String>,
    depth: usize,
}

impl<'a> Loader<'a> {
    pub fn new(store: &'a dyn Store, legacy: Option<&'a dyn Store>) -> Self {
        Loader {
            store,
            legacy,
            rules: Vec::new(),
            warnings: Vec::new(),
            depth: 0,
        }
    }

    /// Loads every top-level policy file of the store, in order.
    pub fn load_top(&mut self) -> Result<(), PolicyError> {
        let entries = self
            .store
            .list("")
            .map_err(|m| PolicyError::io(&self.store.label(""), m))?
            .ok_or_else(|| PolicyError::io(&self.store.label(""), "not a directory"))?;
        for key in filter_policy_files(self.store, entries)? {
            self.load_listed_file(self.store, &key)?;
        }
        Ok(())
    }

    /// Loads a file found in a directory listing.
    fn load_listed_file(&mut self, store: &'a dyn Store, key: &str) -> Result<(), PolicyError> {
        let Some(text) = self.read(store, key)? else {
            // listed as a regular file a moment ago: it vanished or changed type meanwhile
            return Err(PolicyError::io(&store.label(key), "not a file"));
        };
        self.load_text(store, key, &text)
    }

    fn read(&self, store: &dyn Store, key: &str) -> Result<Option<String>, PolicyError> {
        store
            .read(key)
            .map_err(|m| PolicyError::io(&store.label(key), m))
    }

    fn enter(&mut self, file: &str, line: u32) -> Result<(), PolicyError> {
        self.depth += 1;
        if self.depth > MAX_INCLUDE_DEPTH {
            return Err(PolicyError {
                file: file.to_owned(),
                line,
                message: format!(
                    "includes nested deeper than {MAX_INCLUDE_DEPTH} levels (circular include?)"
                ),
                kind: PolicyErrorKind::Io,
            });
        }
        Ok(())
    }

    /// Reads an included file or fails with qrexec's message at the directive.
    fn read_included(
        &self,
        store: &dyn Store,
        key: &str,
        file: &str,
        line: u32,
    ) -> Result<String, PolicyError> {
        self.read(store, key)?
            .ok_or_else(|| PolicyError::syntax(file, line, store.not_a_file(key)))
    }

    fn load_text(
        &mut self,
        store: &'a dyn Store,
        key: &str,
        text: &str,
    ) -> Result<(), PolicyError> {
        let file = store.label(key);
        for (index, raw) in split_lines(text, store.universal_newlines())
            .into_iter()
            .enumerate()
        {
            let lineno = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let line = py_strip(raw);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('!') {
                self.directive(store, line, &file, lineno)?;
                continue;
            }
            self.rules.push(Rule::from_line(line, &file, lineno)?);
        }
        Ok(())
    }

    fn directive(
        &mut self,
        store: &'a dyn Store,
        line: &str,
        file: &str,
        lineno: u32,
    ) -> Result<(), PolicyError> {
        let words = py_split(line);
        let (directive, params) = words.split_first().unwrap_or((&"", &[]));
        let bad_params = || PolicyError::syntax(file, lineno, "invalid number of params");
        match *directive {
            "!include" => {
                let [path] = params else {
                    return Err(bad_params());
                };
                let key = resolve_include(path);
                let text = self.read_included(store, &key, file, lineno)?;
                self.enter(file, lineno)?;
                self.load_text(store, &key, &text)?;
                self.depth -= 1;
            }
            "!include-dir" => {
                let [path] = params else {
                    return Err(bad_params());
                };
                let key = resolve_include(path);
                let entries = store
                    .list(&key)
                    .map_err(|m| PolicyError::io(&store.label(&key), m))?
                    .ok_or_else(|| {
                        PolicyError::syntax(
                            file,
                            lineno,
                            format!("not a directory: {}", store.label(&key)),
                        )
                    })?;
                self.enter(file, lineno)?;
                for child in filter_policy_files(store, entries)? {
                    self.load_listed_file(store, &child)?;
                }
                self.depth -= 1;
            }
            "!include-service" => {
                let [service, argument, path] = params else {
                    return Err(bad_params());
                };
                let (service, argument) = validate_service_and_argument(service, argument)
                    .map_err(|m| PolicyError::syntax(file, lineno, m))?;
                let key = resolve_include(path);
                self.enter(file, lineno)?;
                self.load_service_file(
                    store,
                    service.as_deref().unwrap_or("*"),
                    argument.as_deref().unwrap_or("*"),
                    &key,
                    file,
                    lineno,
                )?;
                self.depth -= 1;
            }
            "!compat-4.0" => {
                if !params.is_empty() {
                    return Err(bad_params());
                }
                self.warnings.push(format!(
                    "warning: !compat-4.0 directive in file {file} line {lineno} is transitional \
                     and will be deprecated"
                ));
                self.compat40(file, lineno)?;
            }
            _ => return Err(PolicyError::syntax(file, lineno, "invalid directive")),
        }
        Ok(())
    }

    /// Loads a 3-column file for `service`/`argument` (`*` for any), as `!include-service` does.
    fn load_service_file(
        &mut self,
        store: &'a dyn Store,
        service: &str,
        argument: &str,
        key: &str,
        including_file: &str,
        including_line: u32,
    ) -> Result<(), PolicyError> {
        let text = self.read_included(store, key, including_file, including_line)?;
        let file = store.label(key);
        for (index, raw) in split_lines(&text, store.universal_newlines())
            .into_iter()
            .enumerate()
        {
            let lineno = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let line = py_strip(raw);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // qrexec's compatibility substitutions, applied to the whole line
            let line = line
                .replace("$include:", "!include ")
                .replace('$', "@")
                .replace(',', " ");
            if line.starts_with('!') {
                let words = py_split(&line);
                match words.as_slice() {
                    ["!include", path] => {
                        let included = resolve_include(path);
                        self.enter(&file, lineno)?;
                        self.load_service_file(store, service, argument, &included, &file, lineno)?;
                        self.depth -= 1;
                        continue;
                    }
                    ["!include", ..] => {
                        return Err(PolicyError::syntax(
                            &file,
                            lineno,
                            "invalid number of params",
                        ));
                    }
                    _ => return Err(PolicyError::syntax(&file, lineno, "invalid directive")),
                }
            }
            self.rules.push(Rule::from_service_line(
                service, argument, &line, &file, lineno,
            )?);
        }
        Ok(())
    }

    /// `!compat-4.0`: the R4.0 per-service files of the legacy directory, each as an
    /// `!include-service`, with the implicit deny rules after argument-specific files.
    fn compat40(&mut self, file: &str, lineno: u32) -> Result<(), PolicyError> {
        let Some(legacy) = self.legacy else {
            self.warnings.push(format!(
                "{file}:{lineno}: !compat-4.0: no legacy policy directory, nothing included"
            ));
            return Ok(());
        };
        let entries = legacy
            .list("")
            .map_err(|m| PolicyError::io(&legacy.label(""), m))?
            .unwrap_or_default();
        // service -> (argument -> key); argument "*" for files without '+'
        let mut services: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (key, name, is_file) in entries {
            if !is_file
                || LEGACY_IGNORED_SUFFIXES.contains(&py_suffix(&name))
                || name.starts_with('.')
                || !name.chars().all(is_rpcname_char)
            {
                continue;
            }
            let (service, argument) = match name.split_once('+') {
                Some((s, a)) => (s.to_owned(), format!("+{a}")),
                None => (name.clone(), "*".to_owned()),
            };
            services.entry(service).or_default().push((argument, key));
        }
        for (service, mut arguments) in services {
            // specific arguments first (sorted), the generic "*" file last
            arguments.sort_by(|(a, _), (b, _)| (a == "*", a).cmp(&(b == "*", b)));
            for (argument, key) in arguments {
                validate_service_and_argument(&service, &argument)
                    .map_err(|m| PolicyError::syntax(file, lineno, m))?;
                self.enter(file, lineno)?;
                self.load_service_file(legacy, &service, &argument, &key, file, lineno)?;
                self.depth -= 1;
                if argument != "*" {
                    for target in [Token::AnyVm, Token::AdminVm] {
                        self.rules.push(Rule {
                            service: Some(service.clone()),
                            argument: Some(argument.clone()),
                            source: Token::AnyVm,
                            target: target.clone(),
                            action: Action::Deny { notify: true },
                            origin: RuleRef {
                                file: legacy.label(&key),
                                line: 0,
                                text: format!("{service} {argument} @anyvm {target} deny"),
                            },
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// The legacy (R4.0) policy directory beside a policy directory laid out as dom0's
/// (`…/qubes/policy.d` → `…/qubes-rpc/policy`, as `/etc/qubes/policy.d` → `/etc/qubes-rpc/policy`),
/// if it exists.
pub(crate) fn legacy_dir_for(dir: &Path) -> Option<PathBuf> {
    let qubes = dir.parent()?;
    if dir.file_name()? != "policy.d" || qubes.file_name()? != "qubes" {
        return None;
    }
    let candidate = qubes.parent()?.join("qubes-rpc").join("policy");
    candidate.is_dir().then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_paths_resolve_like_qrexec() {
        assert_eq!(resolve_include("include/x"), "include/x");
        assert_eq!(resolve_include("./include//x"), "include/x");
        assert_eq!(resolve_include("include/../y"), "y");
        assert_eq!(
            resolve_include("/etc/qubes/policy.d/include/x"),
            "include/x"
        );
        assert_eq!(resolve_include("/etc/other/x"), "/etc/other/x");
        assert_eq!(
            resolve_include("/etc/qubes/policy.dx/a"),
            "/etc/qubes/policy.dx/a"
        );
    }

    #[test]
    fn lines_split_like_python() {
        assert_eq!(split_lines("a\r\nb\rc\n", true), vec!["a", "b", "c"]);
        assert_eq!(split_lines("a\r\nb\rc\n", false), vec!["a\r", "b\rc"]);
        assert_eq!(split_lines("", true), Vec::<&str>::new());
    }

    #[test]
    fn suffixes() {
        assert_eq!(py_suffix("a.rpmsave"), ".rpmsave");
        assert_eq!(py_suffix(".swp"), "");
        assert_eq!(py_suffix("a."), "");
        assert!(is_policy_file_name("30-user.policy"));
        assert!(!is_policy_file_name(".30-user.policy"));
        assert!(!is_policy_file_name("30-user.policy.rpmnew"));
    }
}
