//! Offline review helpers: the risk scan, the safe (visible-token) rendering and
//! the persistence analysis of `qcs-core`. No I/O with qubes, except
//! `QubesVM.persistence()`, which reads the custom-persist features it needs.

use std::collections::BTreeMap;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use qcs_core::persistence::{self, Analysis, PersistentBecause, QubeClass, QubesRelease, Verdict};
use qcs_core::render::terminal;
use qcs_core::review;
use qcs_core::risk::{self, Engine, FileKind, Finding, ScanInput};
use qcs_protocol::path::validate_relative_path;

use crate::errors::{admin_error, new_err};

/// Text given as `str` (encoded UTF-8) or `bytes` (taken as is).
pub fn text_bytes(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(text) = value.cast::<PyString>() {
        // `surrogatepass` keeps lone surrogates (e.g. from a lossy decode) visible
        // to the scan instead of failing on them.
        let encoded = text.call_method1("encode", ("utf-8", "surrogatepass"))?;
        return Ok(encoded.cast::<PyBytes>()?.as_bytes().to_vec());
    }
    Err(new_err(
        "QubesValueError",
        format!("{what} must be str or bytes"),
    ))
}

fn parse_kind(kind: &str) -> PyResult<FileKind> {
    Ok(match kind {
        "regular" => FileKind::Regular,
        "symlink" => FileKind::Symlink,
        "hardlink" => FileKind::Hardlink,
        "directory" => FileKind::Directory,
        "fifo" => FileKind::Fifo,
        "socket" => FileKind::Socket,
        "device" => FileKind::Device,
        other => {
            return Err(new_err(
                "QubesValueError",
                format!(
                    "unknown file kind {other:?} (expected regular, symlink, hardlink, \
                     directory, fifo, socket or device)"
                ),
            ));
        }
    })
}

/// One risk found by `scan()`.
#[pyclass(module = "qubes_config_sync", name = "Finding", frozen, get_all)]
#[derive(Clone)]
pub struct PyFinding {
    /// Identity `{rule}@{path}:{p|b}{line|-}#{h8}`: what an acknowledgement names.
    id: String,
    /// Rule id, e.g. `git.core.fsmonitor`.
    rule: String,
    /// The file the finding is in (relative to home).
    path: String,
    /// For a proposal's finding: the ids of its hunks whose acceptance brings it into
    /// the store (empty for `scan()`).
    hunks: Vec<String>,
    /// True when it must be acknowledged (by `id`) to accept a hunk of `hunks`.
    gated: bool,
    /// `critical`, `high`, `medium` or `info`.
    severity: String,
    /// 1-based line (of the side below); `None` for file-level findings.
    line: Option<u32>,
    /// What was found and why it matters.
    message: String,
    /// `proposed`, or `base` for something the proposal removes.
    side: String,
    /// `added`, `changed` or `removed`.
    change: String,
    /// Byte range `(start, end)` in the line, when known.
    span: Option<(usize, usize)>,
    /// Why the rule exists.
    why: String,
    /// References (CVE, manual section), comma-separated.
    reference: String,
}

impl PyFinding {
    /// A finding of `scan()`: its id from the side's content (`proposed` or `base`).
    fn scanned(f: Finding, proposed: &[u8], base: Option<&[u8]>) -> Self {
        let content = match f.side {
            risk::Side::Proposed => proposed,
            risk::Side::Base => base.unwrap_or_default(),
        };
        PyFinding {
            id: review::finding_id(&f, content),
            path: f.path.clone(),
            hunks: Vec::new(),
            gated: f.severity >= review::GATE_SEVERITY,
            rule: f.rule,
            severity: f.severity.as_str().to_owned(),
            line: f.line,
            message: f.message,
            side: f.side.as_str().to_owned(),
            change: f.change.as_str().to_owned(),
            span: f.span.map(|s| (s.start, s.end)),
            why: f.why,
            reference: f.reference,
        }
    }
}

impl PyFinding {
    /// A finding as the backend reports it (already computed there).
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        id: String,
        path: String,
        hunks: Vec<String>,
        gated: bool,
        rule: String,
        severity: String,
        line: Option<u32>,
        message: String,
        side: String,
        change: String,
        span: Option<(usize, usize)>,
        why: String,
        reference: String,
    ) -> Self {
        PyFinding {
            id,
            path,
            hunks,
            gated,
            rule,
            severity,
            line,
            message,
            side,
            change,
            span,
            why,
            reference,
        }
    }

    pub fn severity(&self) -> &str {
        &self.severity
    }
}

#[pymethods]
impl PyFinding {
    fn __repr__(&self) -> String {
        format!(
            "Finding(id={:?}, rule={:?}, severity={:?}, line={}, message={:?})",
            self.id,
            self.rule,
            self.severity,
            self.line.map_or("None".to_owned(), |l| l.to_string()),
            self.message
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyFinding>().is_ok_and(|o| {
            let o = o.get();
            (
                &o.id,
                &o.rule,
                &o.severity,
                o.line,
                &o.message,
                &o.side,
                &o.change,
                o.span,
            ) == (
                &self.id,
                &self.rule,
                &self.severity,
                self.line,
                &self.message,
                &self.side,
                &self.change,
                self.span,
            )
        })
    }
}

/// Scans one file with the shipped risk rules, as the review pane does.
///
/// `text` and `base` are `str` or `bytes`; `path` is relative to the home
/// directory and chooses the file type (`.gitconfig`, `.ssh/config`, …). With a
/// `base` (what was accepted before) only changes are reported: added, changed
/// and removed settings. Findings come worst first, then by line.
#[pyfunction]
#[pyo3(signature = (text, path, base = None, *, mode = None, kind = "regular"))]
pub fn scan(
    py: Python<'_>,
    text: &Bound<'_, PyAny>,
    path: String,
    base: Option<&Bound<'_, PyAny>>,
    mode: Option<u32>,
    kind: &str,
) -> PyResult<Vec<PyFinding>> {
    let content = text_bytes(text, "text")?;
    let base = base.map(|b| text_bytes(b, "base")).transpose()?;
    let kind = parse_kind(kind)?;
    let findings = py.detach(|| {
        Engine::load_default().scan(&ScanInput {
            path: &path,
            content: &content,
            base: base.as_deref(),
            mode,
            kind,
        })
    });
    Ok(findings
        .into_iter()
        .map(|f| PyFinding::scanned(f, &content, base.as_deref()))
        .collect())
}

/// True when the shipped rules say this home-relative path must never be synced
/// (private keys, shell history, …).
#[pyfunction]
pub fn is_never_sync(path: &str) -> bool {
    risk::is_never_sync(path)
}

/// The text with every hidden or confusing character shown as a visible token:
/// bidi controls (`⟦U+202E RLO⟧`), zero-width and format characters, controls
/// (`⟦NUL⟧`, `⟦CR⟧`, `⟦ESC⟧`), odd spaces, invalid UTF-8 bytes (`⟦0xFF⟧`), tabs
/// (`→   `) and trailing blanks (`·`). Line breaks are kept; the result never
/// contains a character a terminal or text widget would hide or interpret.
#[pyfunction]
pub fn render_safe(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<String> {
    let content = text_bytes(text, "text")?;
    Ok(py.detach(|| render_lines(&content)))
}

fn render_lines(content: &[u8]) -> String {
    let opts = terminal::Options::default();
    let mut out = String::with_capacity(content.len());
    // Split after each '\n' so a CR before it stays in its line (shown as a token).
    for line in content.split_inclusive(|b| *b == b'\n') {
        out.push_str(&terminal::line(line, opts));
        if line.ends_with(b"\n") {
            out.push('\n');
        }
    }
    out
}

/// The fix for a file that would be lost at the qube's restart.
#[pyclass(module = "qubes_config_sync", name = "PersistFix", frozen, get_all)]
#[derive(Clone)]
pub struct PyPersistFix {
    /// Full feature name, `custom-persist.<key>`.
    feature: String,
    /// The key alone.
    key: String,
    /// The feature value, `file:user:user:<mode>:/home/user/<path>`.
    value: String,
    /// The same change as a dom0 command (`qvm-features …`), shell-quoted.
    dom0_command: String,
}

#[pymethods]
impl PyPersistFix {
    fn __repr__(&self) -> String {
        format!(
            "PersistFix(feature={:?}, value={:?})",
            self.feature, self.value
        )
    }
}

/// Whether a file written into a qube's home survives the qube's restart.
#[pyclass(
    module = "qubes_config_sync",
    name = "PersistenceAnalysis",
    frozen,
    get_all
)]
pub struct PyAnalysis {
    /// `persistent`, `volatile`, `lost-at-restart` or `not-supported`.
    verdict: String,
    /// True when the file survives a restart.
    persistent: bool,
    /// For `persistent`: `fully-persistent-class`, `home-is-private`,
    /// `home-re-enabled` or `covered-by`; else `None`.
    reason: Option<String>,
    /// The `custom-persist.<key>` that makes the file persist, when one does.
    covered_by: Option<String>,
    /// The verdict as a sentence for a user.
    description: String,
    /// For `lost-at-restart`: the feature to set (or `None`, see `why_no_fix`).
    fix: Option<PyPersistFix>,
    /// Why there is no fix, when there is none.
    why_no_fix: Option<String>,
    /// Whether `service.custom-persist` is on.
    custom_persist_enabled: bool,
    /// `(feature, value, reason)` of entries that are invalid or have no effect.
    ignored_entries: Vec<(String, String, String)>,
}

#[pymethods]
impl PyAnalysis {
    fn __repr__(&self) -> String {
        format!(
            "PersistenceAnalysis(verdict={:?}, persistent={})",
            self.verdict,
            if self.persistent { "True" } else { "False" }
        )
    }
}

impl From<Analysis> for PyAnalysis {
    fn from(a: Analysis) -> Self {
        let description = a.verdict.to_string();
        let (verdict, persistent, reason, covered_by, fix, why_no_fix) = match a.verdict {
            Verdict::Persistent(because) => {
                let (reason, key) = match because {
                    PersistentBecause::FullyPersistentClass => ("fully-persistent-class", None),
                    PersistentBecause::HomeIsPrivate => ("home-is-private", None),
                    PersistentBecause::HomeReEnabled { key } => ("home-re-enabled", Some(key)),
                    PersistentBecause::CoveredBy { key, .. } => ("covered-by", Some(key)),
                };
                let key = key.map(|k| format!("{}{k}", persistence::ENTRY_PREFIX));
                ("persistent", true, Some(reason.to_owned()), key, None, None)
            }
            Verdict::Volatile => ("volatile", false, None, None, None, None),
            Verdict::LostAtRestart { fix, why_no_fix } => (
                "lost-at-restart",
                false,
                None,
                None,
                fix.map(|f| PyPersistFix {
                    feature: f.feature,
                    key: f.key,
                    value: f.value,
                    dom0_command: f.dom0_command,
                }),
                why_no_fix,
            ),
            Verdict::NotSupported { path_persists } => {
                ("not-supported", path_persists, None, None, None, None)
            }
        };
        PyAnalysis {
            verdict: verdict.to_owned(),
            persistent,
            reason,
            covered_by,
            description,
            fix,
            why_no_fix,
            custom_persist_enabled: a.custom_persist_enabled,
            ignored_entries: a
                .ignored_entries
                .into_iter()
                .map(|e| (e.feature, e.value, e.reason))
                .collect(),
        }
    }
}

fn parse_release(release: &str) -> PyResult<QubesRelease> {
    match release.trim_start_matches(['R', 'r']) {
        "4.2" => Ok(QubesRelease::R4_2),
        "4.3" => Ok(QubesRelease::R4_3),
        other => Err(new_err(
            "QubesValueError",
            format!("unknown Qubes release {other:?} (expected 4.2 or 4.3)"),
        )),
    }
}

fn analyse_inner(
    qube: &str,
    klass: &str,
    path: &str,
    features: &BTreeMap<String, String>,
    release: &str,
    mode: u32,
) -> PyResult<PyAnalysis> {
    let class: QubeClass = klass
        .parse()
        .map_err(|e: persistence::UnknownClass| new_err("QubesValueError", e.to_string()))?;
    let release = parse_release(release)?;
    let path = validate_relative_path(path)
        .map_err(|e| new_err("QubesValueError", format!("path {path:?}: {e}")))?;
    Ok(persistence::analyse(qube, class, release, features, &path, mode).into())
}

/// Decides whether `path` (relative to `/home/user`) persists in a qube of class
/// `klass` with these `features` (only `service.custom-persist` and
/// `custom-persist.*` are read) on a Qubes `release` (`"4.2"` or `"4.3"`); for a
/// file that would be lost it gives the fix. `mode` is the file's mode, used
/// in the fix.
#[pyfunction]
#[pyo3(signature = (qube, klass, path, features, *, release = "4.3", mode = 0o644))]
pub fn analyse_persistence(
    qube: &str,
    klass: &str,
    path: &str,
    features: BTreeMap<String, String>,
    release: &str,
    mode: u32,
) -> PyResult<PyAnalysis> {
    analyse_inner(qube, klass, path, &features, release, mode)
}

/// The persistence analysis of one qube: reads its custom-persist features
/// through the Admin API (one `feature.List` plus one `Get` per custom-persist
/// feature).
pub fn vm_persistence(
    py: Python<'_>,
    vm: &qubesadmin::Vm,
    klass: &str,
    path: &str,
    release: &str,
    mode: u32,
) -> PyResult<PyAnalysis> {
    let state = py
        .detach(|| vm.app().custom_persist_state(std::slice::from_ref(vm)))
        .pop()
        .ok_or_else(|| new_err("QubesException", "no custom-persist state returned"))?
        .map_err(admin_error)?;
    let mut features = BTreeMap::new();
    if let Some(service) = state.service {
        features.insert(persistence::SERVICE_FEATURE.to_owned(), service);
    }
    for entry in state.features {
        features.insert(
            format!("{}{}", persistence::ENTRY_PREFIX, entry.key),
            entry.value,
        );
    }
    analyse_inner(vm.name(), klass, path, &features, release, mode)
}

/// Registers the functions and classes of this module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(scan, module)?)?;
    module.add_function(wrap_pyfunction!(render_safe, module)?)?;
    module.add_function(wrap_pyfunction!(is_never_sync, module)?)?;
    module.add_function(wrap_pyfunction!(analyse_persistence, module)?)?;
    module.add_class::<PyFinding>()?;
    module.add_class::<PyAnalysis>()?;
    module.add_class::<PyPersistFix>()?;
    Ok(())
}
