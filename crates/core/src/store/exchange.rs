//! Export and import of profiles as a plain directory tree, for backup and for editing
//! with ordinary tools:
//!
//! ```text
//! <dir>/manifest.toml          format, and per profile: description, files with mode, sha256
//!                              and the template flag, the profile's default variables;
//!                              the variables per qube and per tag; the assignment rules
//! <dir>/<profile>/<path>       the content of each file
//! ```
//!
//! Format 2 (written since variables and rules travel with the profiles) adds
//! `[profiles.P.variables]`, `[variables.qubes.Q]`, `[variables.tags.T]` and `[[rules]]`
//! (`kind`, `value`, `profile`); format 1 (without them) still imports. The variables of
//! every qube and tag are exported (they belong to no profile), the rules of the exported
//! profiles only.
//!
//! On import, variables and rules are merged: a variable in the file is set (replacing the
//! value of the same name in that scope), a rule is added when missing; nothing else is
//! removed. Every name and value is checked as `var set` and `assign --tag` check them —
//! variable and tag names, value sizes, a qube name (never `dom0`), rule values, a rule's
//! profile (imported or existing), the per-scope and rule limits — and one bad entry
//! refuses the whole import with nothing changed. Which qubes may be a variable's scope
//! (not the config qube, a qube the Admin API knows) is the backend's check, on
//! [`ImportSet::qubes`] before [`Store::apply_import`].
//!
//! Import treats the directory as untrusted input: every profile id, path and mode is
//! validated, each path component is opened with `O_NOFOLLOW` (a symlink anywhere is
//! refused), only regular files are read, sizes are capped, hashes must match the manifest,
//! and a file that the manifest does not list is refused rather than silently skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_FILES};
use qcs_protocol::mode::{parse_octal_mode, validate_mode};
use qcs_protocol::path::RelativePath;
use qcs_protocol::profile::ProfileId;
use qcs_protocol::sha256_hex;
use qcs_protocol::vm_name::VmName;
use rustix::fs::{FileType, Mode, OFlags};
use serde::{Deserialize, Serialize};

use super::{
    AssignmentRule, FileEdit, MAX_ASSIGNMENT_RULES, MAX_VARIABLES_PER_SCOPE, Result, RuleKind,
    Store, StoreError, VariableScope, action, apply_edits, audit, check_hash, check_path,
    check_profile, check_size, current_files_in, ensure_qube, to_u64, validate_rule_value,
};
use crate::template;

/// Name of the manifest at the top of an export.
pub const MANIFEST_FILE_NAME: &str = "manifest.toml";
/// The manifest format this build writes (2: with variables and rules).
const FORMAT: u32 = 2;
/// The oldest manifest format this build reads (1: profiles and files only).
const OLDEST_FORMAT: u32 = 1;
/// Largest manifest accepted, in bytes.
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Most directory entries an import looks at, so a hostile tree cannot keep it busy.
const MAX_TREE_ENTRIES: usize = 100_000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: u32,
    #[serde(default)]
    profiles: BTreeMap<String, ManifestProfile>,
    #[serde(default, skip_serializing_if = "ManifestVariables::is_empty")]
    variables: ManifestVariables,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rules: Vec<ManifestRule>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestProfile {
    #[serde(default)]
    description: String,
    #[serde(default)]
    files: BTreeMap<String, ManifestFile>,
    /// The profile's default variables (name → value).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    variables: BTreeMap<String, String>,
}

/// Variables per qube and per tag (scope → name → value).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestVariables {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    qubes: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, BTreeMap<String, String>>,
}

impl ManifestVariables {
    fn is_empty(&self) -> bool {
        self.qubes.is_empty() && self.tags.is_empty()
    }
}

/// One assignment rule: every qube with `kind` = `value` gets `profile`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestRule {
    kind: String,
    value: String,
    profile: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    mode: String,
    sha256: String,
    /// The file is a template (rendered per qube); absent for a plain file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    template: bool,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub profiles: usize,
    pub files: usize,
}

/// What an import changed: per profile, the generation after the import (unchanged when
/// the import matched the store) and the number of files; the variables set or changed
/// and the rules added (those the store had already are not counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub profiles: Vec<(ProfileId, u64, usize)>,
    pub variables: usize,
    pub rules: usize,
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

pub(super) fn export(store: &mut Store, dir: &Path, wanted: &[ProfileId]) -> Result<ExportSummary> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let mut entries = fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
            if entries.next().is_some() {
                return Err(StoreError::ExportRefused(format!(
                    "{} is not empty",
                    dir.display()
                )));
            }
        }
        Ok(_) => {
            return Err(StoreError::ExportRefused(format!(
                "{} exists and is not a directory",
                dir.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        }
        Err(e) => return Err(io_error(dir, e)),
    }
    let mut manifest = Manifest {
        format: FORMAT,
        profiles: BTreeMap::new(),
        variables: ManifestVariables::default(),
        rules: Vec::new(),
    };
    let mut file_count = 0;
    // Read everything in one transaction so the export is a consistent snapshot.
    let tx = store.conn.transaction()?;
    let mut profiles = Vec::new();
    {
        let mut stmt = tx.prepare("SELECT id, description FROM profiles ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (id, description) = row?;
            let id = super::profile_from_db(&id)?;
            if wanted.is_empty() || wanted.contains(&id) {
                profiles.push((id, description));
            }
        }
    }
    for id in wanted {
        if !profiles.iter().any(|(p, _)| p == id) {
            return Err(StoreError::ProfileNotFound(id.to_string()));
        }
    }
    let variables = store_variables(&tx)?;
    for (id, description) in &profiles {
        let profile_dir = dir.join(id.as_str());
        fs::create_dir(&profile_dir).map_err(|e| io_error(&profile_dir, e))?;
        let mut files = BTreeMap::new();
        for file in current_files_in(&tx, id)? {
            let target = profile_dir.join(file.path.as_str());
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
            }
            write_new_file(&target, &file.bytes, file.mode.bits())?;
            files.insert(
                file.path.to_string(),
                ManifestFile {
                    mode: file.mode.to_string(),
                    sha256: file.sha256.clone(),
                    template: super::variables::is_template_in(&tx, id, &file.path)?,
                },
            );
            file_count += 1;
        }
        let defaults = variables
            .iter()
            .filter(|e| e.scope == VariableScope::ProfileDefault(id.clone()))
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        manifest.profiles.insert(
            id.to_string(),
            ManifestProfile {
                description: description.clone(),
                files,
                variables: defaults,
            },
        );
    }
    for entry in variables {
        let scope = match entry.scope {
            VariableScope::Qube(q) => manifest.variables.qubes.entry(q.to_string()),
            VariableScope::Tag(t) => manifest.variables.tags.entry(t),
            VariableScope::ProfileDefault(_) => continue,
        };
        scope.or_default().insert(entry.name, entry.value);
    }
    for rule in store_rules(&tx)? {
        if profiles.iter().any(|(p, _)| *p == rule.profile) {
            manifest.rules.push(ManifestRule {
                kind: rule.kind.as_str().to_owned(),
                value: rule.value,
                profile: rule.profile.to_string(),
            });
        }
    }
    let text = toml::to_string(&manifest)
        .map_err(|e| StoreError::ExportRefused(format!("manifest: {e}")))?;
    // The manifest goes last, via rename: an export without one is visibly incomplete.
    let partial = dir.join(".manifest.toml.partial");
    write_new_file(&partial, text.as_bytes(), 0o644)?;
    let manifest_path = dir.join(MANIFEST_FILE_NAME);
    fs::rename(&partial, &manifest_path).map_err(|e| io_error(&manifest_path, e))?;
    audit(
        &tx,
        action::EXPORT,
        None,
        None,
        None,
        None,
        None,
        None,
        serde_json::json!({
            "directory": dir.display().to_string(),
            "profiles": profiles.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>(),
            "files": file_count,
            "rules": manifest.rules.len(),
        }),
    )?;
    tx.commit()?;
    Ok(ExportSummary {
        profiles: profiles.len(),
        files: file_count,
    })
}

fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    file.write_all(bytes).map_err(|e| io_error(path, e))?;
    // The umask may have cleared bits; the export must carry the exact mode.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| io_error(path, e))?;
    file.sync_all().map_err(|e| io_error(path, e))?;
    Ok(())
}

/// One validated file of an import.
struct ImportedFile {
    path: RelativePath,
    bytes: Vec<u8>,
    mode: u32,
    template: bool,
}

/// An export directory read and checked, not yet applied: what [`Store::apply_import`]
/// writes. Nothing of it has touched the store.
pub struct ImportSet {
    directory: String,
    profiles: Vec<(ProfileId, String, Vec<ImportedFile>)>,
    defaults: Vec<(ProfileId, BTreeMap<String, String>)>,
    qube_variables: BTreeMap<VmName, BTreeMap<String, String>>,
    tag_variables: BTreeMap<String, BTreeMap<String, String>>,
    rules: Vec<AssignmentRule>,
}

impl std::fmt::Debug for ImportSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportSet")
            .field("directory", &self.directory)
            .field("profiles", &self.profiles.len())
            .field("qubes", &self.qube_variables.len())
            .field("tags", &self.tag_variables.len())
            .field("rules", &self.rules.len())
            .finish()
    }
}

impl ImportSet {
    /// The qubes the file sets variables for (for the backend's target check).
    pub fn qubes(&self) -> impl Iterator<Item = &VmName> {
        self.qube_variables.keys()
    }

    /// The profiles of the file.
    pub fn profiles(&self) -> impl Iterator<Item = &ProfileId> {
        self.profiles.iter().map(|(id, _, _)| id)
    }
}

/// Checks one scope's variables as `var set` does; `what` names the scope in the error.
fn check_variables(what: &str, vars: &BTreeMap<String, String>) -> Result<()> {
    let refuse = |why: String| StoreError::ImportRefused(format!("{what}: {why}"));
    if vars.len() > MAX_VARIABLES_PER_SCOPE {
        return Err(refuse(format!(
            "more than {MAX_VARIABLES_PER_SCOPE} variables"
        )));
    }
    for (name, value) in vars {
        template::validate_variable_name(name).map_err(|e| refuse(e.to_string()))?;
        template::validate_variable_value(value)
            .map_err(|e| refuse(format!("variable {name}: {e}")))?;
    }
    Ok(())
}

/// Reads and checks an export directory (see the module's documentation); the store is
/// not touched.
pub fn read_import(dir: &Path) -> Result<ImportSet> {
    let refuse = |what: String| StoreError::ImportRefused(what);
    let root = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error(dir, e.into()))?;
    let manifest_bytes = read_regular_beneath(&root, &[MANIFEST_FILE_NAME], MAX_MANIFEST_BYTES)
        .map_err(|e| refuse(format!("{MANIFEST_FILE_NAME}: {e}")))?;
    let manifest_text = std::str::from_utf8(&manifest_bytes)
        .map_err(|_| refuse(format!("{MANIFEST_FILE_NAME} is not UTF-8")))?;
    let manifest: Manifest =
        toml::from_str(manifest_text).map_err(|e| refuse(format!("{MANIFEST_FILE_NAME}: {e}")))?;
    if !(OLDEST_FORMAT..=FORMAT).contains(&manifest.format) {
        return Err(refuse(format!(
            "manifest format {} is not one of the supported {OLDEST_FORMAT} to {FORMAT}",
            manifest.format
        )));
    }
    let has_variables = !manifest.variables.is_empty()
        || !manifest.rules.is_empty()
        || manifest.profiles.values().any(|p| !p.variables.is_empty());
    if manifest.format < 2 && has_variables {
        return Err(refuse(format!(
            "manifest format {} has no variables or rules (they came with format 2)",
            manifest.format
        )));
    }

    let mut profiles: Vec<(ProfileId, String, Vec<ImportedFile>)> = Vec::new();
    let mut defaults = Vec::new();
    for (id, entry) in &manifest.profiles {
        let id = check_profile(id)?;
        check_size(
            "description",
            entry.description.len(),
            super::MAX_DESCRIPTION_BYTES,
        )?;
        if entry.files.len() > MAX_FILES {
            return Err(StoreError::TooManyFiles(id.to_string()));
        }
        let mut files = Vec::new();
        for (path, meta) in &entry.files {
            let path = check_path(path)?;
            let mode = validate_mode(parse_octal_mode(&meta.mode)?)?.bits();
            let expected = check_hash(&meta.sha256)?;
            let components: Vec<&str> = std::iter::once(id.as_str())
                .chain(path.components())
                .collect();
            let bytes = read_regular_beneath(&root, &components, MAX_FILE_BYTES as u64)
                .map_err(|e| refuse(format!("{id}/{path}: {e}")))?;
            if sha256_hex(&bytes) != expected {
                return Err(refuse(format!(
                    "{id}/{path}: content does not match the manifest's sha256"
                )));
            }
            files.push(ImportedFile {
                path,
                bytes,
                mode,
                template: meta.template,
            });
        }
        check_variables(&format!("variables of profile {id}"), &entry.variables)?;
        defaults.push((id.clone(), entry.variables.clone()));
        profiles.push((id, entry.description.clone(), files));
    }
    let mut qube_variables = BTreeMap::new();
    for (qube, vars) in &manifest.variables.qubes {
        let shown: String = qube.chars().take(64).collect();
        let name = qcs_protocol::vm_name::validate_vm_name(qube)
            .map_err(|e| refuse(format!("variables of qube {shown:?}: {e}")))?;
        if name.as_str() == "dom0" {
            return Err(refuse(
                "variables of qube dom0: dom0 is never a target of a profile".to_owned(),
            ));
        }
        check_variables(&format!("variables of qube {name}"), vars)?;
        qube_variables.insert(name, vars.clone());
    }
    let mut tag_variables = BTreeMap::new();
    for (tag, vars) in &manifest.variables.tags {
        let shown: String = tag.chars().take(64).collect();
        template::validate_tag_name(tag)
            .map_err(|e| refuse(format!("variables of tag {shown:?}: {e}")))?;
        check_variables(&format!("variables of tag {tag}"), vars)?;
        tag_variables.insert(tag.clone(), vars.clone());
    }
    if manifest.rules.len() > MAX_ASSIGNMENT_RULES {
        return Err(StoreError::TooManyRules(MAX_ASSIGNMENT_RULES));
    }
    let mut rules = Vec::new();
    for rule in &manifest.rules {
        let kind = RuleKind::parse(&rule.kind).ok_or_else(|| {
            refuse(format!(
                "rule kind {:?} is not tag, template or class",
                rule.kind.chars().take(32).collect::<String>()
            ))
        })?;
        validate_rule_value(kind, &rule.value)?;
        rules.push(AssignmentRule {
            kind,
            value: rule.value.clone(),
            profile: check_profile(&rule.profile)?,
        });
    }
    check_tree(dir, &manifest)?;
    Ok(ImportSet {
        directory: dir.display().to_string(),
        profiles,
        defaults,
        qube_variables,
        tag_variables,
        rules,
    })
}

pub(super) fn import(store: &mut Store, dir: &Path) -> Result<ImportSummary> {
    let set = read_import(dir)?;
    apply_import(store, set)
}

/// Writes a checked [`ImportSet`] in one transaction: all or nothing.
pub(super) fn apply_import(store: &mut Store, set: ImportSet) -> Result<ImportSummary> {
    let ImportSet {
        directory,
        profiles,
        defaults,
        qube_variables,
        tag_variables,
        rules,
    } = set;
    let tx = store
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut summary = ImportSummary {
        profiles: Vec::new(),
        variables: 0,
        rules: 0,
    };
    for (id, description, files) in &profiles {
        tx.execute(
            "INSERT INTO profiles (id, description, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET description = ?2",
            rusqlite::params![id.as_str(), description, super::now()],
        )?;
        let listed: BTreeSet<&RelativePath> = files.iter().map(|f| &f.path).collect();
        let existing = current_files_in(&tx, id)?;
        let mut edits: Vec<FileEdit<'_>> = files
            .iter()
            .map(|f| FileEdit {
                path: &f.path,
                content: Some(&f.bytes),
                mode: f.mode,
            })
            .collect();
        let removed: Vec<&RelativePath> = existing
            .iter()
            .filter(|f| !listed.contains(&f.path))
            .map(|f| &f.path)
            .collect();
        edits.extend(removed.into_iter().map(|path| FileEdit {
            path,
            content: None,
            mode: 0o644,
        }));
        let after_edits = apply_edits(&tx, id, &edits, None, action::IMPORT)?;
        // Template flags as the manifest says: a flag change is a version of its own, all
        // in the next generation.
        let next = i64::try_from(after_edits)
            .map_err(|_| StoreError::Corrupt(format!("generation {after_edits}")))?
            + 1;
        for f in files {
            super::variables::set_flag_in(&tx, id, &f.path, f.template, next)?;
        }
        let generation: i64 = tx.query_row(
            "SELECT generation FROM profiles WHERE id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )?;
        summary
            .profiles
            .push((id.clone(), to_u64(generation, "generation")?, files.len()));
    }
    for (profile, vars) in &defaults {
        let scope = VariableScope::ProfileDefault(profile.clone());
        summary.variables += merge_variables(&tx, &scope, vars)?;
    }
    for (qube, vars) in &qube_variables {
        ensure_qube(&tx, qube.as_str())?;
        summary.variables += merge_variables(&tx, &VariableScope::Qube(qube.clone()), vars)?;
    }
    for (tag, vars) in &tag_variables {
        summary.variables += merge_variables(&tx, &VariableScope::Tag(tag.clone()), vars)?;
    }
    for rule in &rules {
        super::require_profile(&tx, &rule.profile).map_err(|_| {
            StoreError::ImportRefused(format!(
                "rule {}: profile {} is neither in the file nor in the store",
                super::rule_text(rule),
                rule.profile
            ))
        })?;
        if super::rules::add_rule_in(&tx, rule)? {
            summary.rules += 1;
        }
    }
    audit(
        &tx,
        action::IMPORT,
        None,
        None,
        None,
        None,
        None,
        None,
        serde_json::json!({
            "directory": directory,
            "profiles": summary.profiles.iter().map(|(p, g, n)| {
                serde_json::json!({ "profile": p.to_string(), "generation": g, "files": n })
            }).collect::<Vec<_>>(),
            "variables": summary.variables,
            "rules": summary.rules,
        }),
    )?;
    tx.commit()?;
    Ok(summary)
}

/// Opens `components` below `root` one at a time with `O_NOFOLLOW`, requires a regular
/// file at the end, and reads at most `limit` bytes of it (more is an error).
fn read_regular_beneath(
    root: &OwnedFd,
    components: &[&str],
    limit: u64,
) -> std::result::Result<Vec<u8>, String> {
    let Some((last, parents)) = components.split_last() else {
        return Err("empty path".to_owned());
    };
    let mut dir: Option<OwnedFd> = None;
    for component in parents {
        let base = dir.as_ref().unwrap_or(root);
        let next = rustix::fs::openat(
            base,
            *component,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| describe_open_error(component, e))?;
        dir = Some(next);
    }
    let base = dir.as_ref().unwrap_or(root);
    // NONBLOCK: opening a FIFO must not hang; it is refused below anyway.
    let fd = rustix::fs::openat(
        base,
        *last,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| describe_open_error(last, e))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| e.to_string())?;
    let file_type = FileType::from_raw_mode(stat.st_mode);
    if file_type != FileType::RegularFile {
        return Err(format!("{last} is a {file_type:?}, not a regular file"));
    }
    let mut bytes = Vec::new();
    fs::File::from(fd)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("larger than the limit of {limit} bytes"));
    }
    Ok(bytes)
}

fn describe_open_error(component: &str, error: rustix::io::Errno) -> String {
    if error == rustix::io::Errno::LOOP || error == rustix::io::Errno::NOTDIR {
        format!("{component:?} is a symlink or not a directory; refused")
    } else {
        format!("{component:?}: {error}")
    }
}

/// Refuses anything in the tree that the manifest does not list: symlinks, special files,
/// unlisted files and unlisted top-level entries.
fn check_tree(dir: &Path, manifest: &Manifest) -> Result<()> {
    let refuse = |what: String| StoreError::ImportRefused(what);
    let mut budget = MAX_TREE_ENTRIES;
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == MANIFEST_FILE_NAME {
            continue;
        }
        let Some(profile) = manifest.profiles.get(name.as_ref()) else {
            return Err(refuse(format!("{name:?} is not a profile of the manifest")));
        };
        let listed: BTreeSet<&str> = profile.files.keys().map(String::as_str).collect();
        walk(&entry.path(), "", &listed, &mut budget).map_err(|e| refuse(format!("{name}/{e}")))?;
    }
    Ok(())
}

fn walk(
    dir: &Path,
    prefix: &str,
    listed: &BTreeSet<&str>,
    budget: &mut usize,
) -> std::result::Result<(), String> {
    let meta = fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Err(format!("{prefix}: expected a directory"));
    }
    for entry in fs::read_dir(dir).map_err(|e| e.to_string())? {
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| "too many directory entries".to_owned())?;
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(format!(
                "{prefix}{}: name is not UTF-8",
                name.to_string_lossy()
            ));
        };
        let relative = format!("{prefix}{name}");
        let meta = fs::symlink_metadata(entry.path()).map_err(|e| format!("{relative}: {e}"))?;
        let file_type = meta.file_type();
        if file_type.is_symlink() {
            return Err(format!("{relative:?} is a symlink; refused"));
        } else if file_type.is_dir() {
            let child: PathBuf = entry.path();
            walk(&child, &format!("{relative}/"), listed, budget)?;
        } else if file_type.is_file() {
            if !listed.contains(relative.as_str()) {
                return Err(format!(
                    "{relative:?} is not listed in the manifest; refused"
                ));
            }
        } else {
            return Err(format!("{relative:?} is a special file; refused"));
        }
    }
    Ok(())
}

/// Sets the variables of one scope inside `tx` (existing names of the scope that the file
/// does not name stay), refusing more than [`MAX_VARIABLES_PER_SCOPE`] in the scope
/// afterwards. Returns how many were set or changed (each audited).
fn merge_variables(
    tx: &rusqlite::Transaction<'_>,
    scope: &VariableScope,
    vars: &BTreeMap<String, String>,
) -> Result<usize> {
    let mut changed = 0;
    for (name, value) in vars {
        if super::variables::set_variable_in(tx, scope, name, value)? {
            changed += 1;
        }
    }
    Ok(changed)
}

/// Every variable in the store, inside `tx` (the export's snapshot).
fn store_variables(tx: &rusqlite::Transaction<'_>) -> Result<Vec<super::VariableEntry>> {
    super::variables::variables_in(tx)
}

/// Every assignment rule, inside `tx`.
fn store_rules(tx: &rusqlite::Transaction<'_>) -> Result<Vec<AssignmentRule>> {
    super::rules::rules_in(tx)
}

impl Store {
    /// Exports profiles (all when `profiles` is empty) as `<dir>/<profile>/<path>` plus
    /// `<dir>/manifest.toml`. `dir` must not exist or be empty.
    pub fn export_profiles(&mut self, dir: &Path, profiles: &[ProfileId]) -> Result<ExportSummary> {
        export(self, dir, profiles)
    }

    /// Imports a directory written by [`Store::export_profiles`]: every path and mode is
    /// validated, symlinks and special files are refused, hashes are checked, and files not
    /// in the manifest are refused. Each imported profile is set to exactly the imported
    /// files (as a new generation; history is kept). All or nothing.
    pub fn import_profiles(&mut self, dir: &Path) -> Result<ImportSummary> {
        import(self, dir)
    }

    /// Applies an import read by [`read_import`] (the backend checks its qubes between
    /// the two). All or nothing.
    pub fn apply_import(&mut self, set: ImportSet) -> Result<ImportSummary> {
        apply_import(self, set)
    }
}
