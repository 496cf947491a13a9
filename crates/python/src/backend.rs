//! The client of the backend `qubes-config-syncd` (`org.qubes.ConfigSync1` on
//! D-Bus), built on the daemon crate's zbus proxy and serde types.
//!
//! Every call blocks on the proxy with the GIL released. JSON documents are
//! decoded with the shared serde types and turned into plain Python objects; a
//! document with a newer `version` than this client knows is refused, never
//! guessed at. Content that came from a qube is offered raw (`bytes`) for
//! programs, and for display only through the backend's rendered segments
//! (`Proposal.diff_text`, `Proposal.note`), in which every hidden character is a
//! visible token.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use base64::Engine as _;
use qcs_client::types::{
    LineKind,
    API_VERSION, DiffView, FindingView, JobSummary, PlanAction, ProfileView, ProposalList,
    ProposalSummaryView, ProposalView, PushPlan, QubeList, QubeView, ReviewRefusal, Segment,
    SnapshotResult, SyncState, TokenClass,
};
use qcs_client::{ConfigSyncProxy, Error as DaemonError, Reason};

use crate::errors::new_err;
use crate::review::PyFinding;

/// Maps a backend error onto the exception classes: the message is the English
/// sentence of the error's reason (`qcs_client`'s one table), its code is in the
/// attribute `code` and its arguments in `reason_args`; the D-Bus error name stays in the
/// attribute `dbus_error` (for programs, never the message).
fn backend_error(error: DaemonError) -> PyErr {
    let reason = error.reason();
    let (class, name) = match error {
        DaemonError::NotFound(_) => ("ConfigSyncNotFoundError", "NotFound"),
        DaemonError::InvalidArgument(_) => ("QubesValueError", "InvalidArgument"),
        DaemonError::Refused(_) => ("ConfigSyncRefusedError", "Refused"),
        DaemonError::ReviewRefused(m) => return review_refused(&m),
        DaemonError::AdminApi(_) => ("ConfigSyncError", "AdminApi"),
        DaemonError::Qrexec(_) => ("ConfigSyncError", "Qrexec"),
        DaemonError::Store(_) => ("ConfigSyncError", "Store"),
        DaemonError::Failed(_) => ("ConfigSyncError", "Failed"),
        DaemonError::ZBus(e) => return zbus_error(e),
    };
    with_reason(
        with_dbus_name(
            new_err(class, reason.english()),
            &format!("org.qubes.ConfigSync1.Error.{name}"),
        ),
        &reason,
    )
}

/// Sets `code` and `args` of an exception from a reason.
fn with_reason(err: PyErr, reason: &Reason) -> PyErr {
    Python::attach(|py| {
        let value = err.value(py);
        match value
            .setattr("code", reason.code.as_str())
            .and_then(|()| value.setattr("reason_args", reason.args.clone()))
        {
            Ok(()) => err,
            Err(e) => e,
        }
    })
}

/// A refusal of the review gate: `ConfigSyncRefusedError` with the reason code in
/// `code` (`review.stale`, `review.unacknowledged`, …) and the finding ids (or hunks)
/// it concerns in `ids`.
fn review_refused(message: &str) -> PyErr {
    let refusal = ReviewRefusal::parse(message);
    let err = with_dbus_name(
        new_err("ConfigSyncRefusedError", refusal.reason().english()),
        "org.qubes.ConfigSync1.Error.ReviewRefused",
    );
    Python::attach(|py| {
        let value = err.value(py);
        match value
            .setattr("code", refusal.code.as_str())
            .and_then(|()| value.setattr("ids", refusal.ids))
        {
            Ok(()) => err,
            Err(e) => e,
        }
    })
}

/// D-Bus level failures: the backend is not there, the bus is gone, or it
/// answered with an error name this client does not know.
fn zbus_error(error: zbus::Error) -> PyErr {
    match &error {
        zbus::Error::MethodError(name, message, _) => with_dbus_name(
            new_err(
                "ConfigSyncConnectionError",
                format!(
                    "{}: {}",
                    name.as_str(),
                    message.as_deref().unwrap_or("no message")
                ),
            ),
            name.as_str(),
        ),
        _ => new_err(
            "ConfigSyncConnectionError",
            format!("cannot talk to the backend: {error}"),
        ),
    }
}

fn with_dbus_name(err: PyErr, name: &str) -> PyErr {
    Python::attach(|py| match err.value(py).setattr("dbus_error", name) {
        Ok(()) => err,
        Err(e) => e,
    })
}

// The names, ids and paths a caller passes are parsed with the protocol's rules before
// anything is sent: an invalid one is `QubesValueError` naming the value (escaped,
// bounded) and the rule it broke, and never reaches the backend.

/// A caller's text in an error message: at most 64 characters, escaped.
fn shown(text: &str) -> String {
    format!("{:?}", text.chars().take(64).collect::<String>())
}

fn qube_arg(name: &str) -> PyResult<qcs_protocol::VmName> {
    qcs_protocol::validate_vm_name(name).map_err(|e| {
        new_err(
            "QubesValueError",
            format!("invalid qube name {}: {e}", shown(name)),
        )
    })
}

fn profile_arg(id: &str) -> PyResult<qcs_protocol::ProfileId> {
    qcs_protocol::profile::validate_profile_id(id).map_err(|e| {
        new_err(
            "QubesValueError",
            format!("invalid profile id {}: {e}", shown(id)),
        )
    })
}

fn path_arg(path: &str) -> PyResult<qcs_protocol::RelativePath> {
    qcs_protocol::path::validate_relative_path(path).map_err(|e| {
        new_err(
            "QubesValueError",
            format!("invalid path {}: {e}", shown(path)),
        )
    })
}

fn profile_args(ids: &[String]) -> PyResult<Vec<qcs_protocol::ProfileId>> {
    ids.iter().map(|id| profile_arg(id)).collect()
}

/// Decodes a JSON document of the backend, refusing a newer version.
fn decode<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> PyResult<T> {
    decode_document(json, what).map_err(|message| new_err("ConfigSyncError", message))
}

/// [`decode`] without Python: the message of the error, if any.
fn decode_document<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T, String> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: u32,
    }
    let malformed = |e: serde_json::Error| format!("malformed {what} from the backend: {e}");
    let versioned: Versioned = serde_json::from_str(json).map_err(malformed)?;
    if versioned.version > API_VERSION {
        return Err(format!(
            "the backend sent {what} version {} but this client understands only up to \
             {API_VERSION}: update qubes_config_sync",
            versioned.version
        ));
    }
    serde_json::from_str(json).map_err(malformed)
}

fn b64(data: &str, what: &str) -> PyResult<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| {
            new_err(
                "ConfigSyncError",
                format!("malformed {what} from the backend: {e}"),
            )
        })
}

fn sync_state_name(state: SyncState) -> &'static str {
    match state {
        SyncState::InSync => "in-sync",
        SyncState::NeverPushed => "never-pushed",
        SyncState::Outdated => "outdated",
        SyncState::Drifted => "drifted",
        SyncState::Unknown => "unknown",
    }
}

fn plan_action_name(action: PlanAction) -> &'static str {
    match action {
        PlanAction::Create => "create",
        PlanAction::Update => "update",
        PlanAction::Unchanged => "unchanged",
        PlanAction::Conflict => "conflict",
        PlanAction::Refused => "refused",
        PlanAction::Remove => "remove",
        PlanAction::Unknown => "unknown",
    }
}

/// Labels of tokens come from the backend: keep them printable even if it was
/// compromised or buggy (a second line of defence, as the terminal renderer).
fn safe_label(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Text segments are already filtered by the backend; anything a terminal would
/// hide or interpret is replaced all the same.
fn safe_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == ' ' || qcs_core::render::classify(c).is_none() {
                c
            } else {
                '\u{FFFD}'
            }
        })
        .collect()
}

/// Renders segments as one line of text with `⟦label⟧` tokens.
fn segments_text(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Text { text, .. } => out.push_str(&safe_text(text)),
            Segment::Token { class, label, .. } => match (class, label.as_str()) {
                (TokenClass::Whitespace, "TAB") => out.push_str("→   "),
                (TokenClass::Whitespace, _) => out.push('·'),
                _ => {
                    out.push('⟦');
                    out.push_str(&safe_label(label));
                    out.push('⟧');
                }
            },
            Segment::FindingAnchor { finding, severity } => {
                out.push_str(&format!(
                    "  ◀ finding {} ({})",
                    u64::from(*finding) + 1,
                    severity.as_str()
                ));
            }
        }
    }
    out
}

/// A rendered diff as text: a gutter (`-`, `+`, space; line number) per line.
fn diff_text(diff: &DiffView) -> String {
    let mut out = String::new();
    for line in &diff.lines {
        let (mark, number) = match line.kind {
            LineKind::HunkHeader => ("", None),
            LineKind::Removed => ("-", line.old_number),
            // A kind this module does not know is shown as a change, not as context.
            LineKind::Added | LineKind::Unknown => ("+", line.new_number),
            LineKind::Context => (" ", line.new_number),
        };
        if line.kind != LineKind::HunkHeader {
            out.push_str(&format!(
                "{:>6} ",
                number.map(|n| n.to_string()).unwrap_or_default()
            ));
        }
        out.push_str(mark);
        out.push_str(&segments_text(&line.segments));
        out.push('\n');
    }
    out
}

fn finding_from(view: FindingView) -> PyFinding {
    PyFinding::from_parts(
        view.id,
        view.path,
        view.hunks,
        view.gated,
        view.rule,
        view.severity.as_str().to_owned(),
        view.line,
        view.message,
        view.side.as_str().to_owned(),
        view.change.as_str().to_owned(),
        view.span.map(|(a, b)| {
            (
                usize::try_from(a).unwrap_or(usize::MAX),
                usize::try_from(b).unwrap_or(usize::MAX),
            )
        }),
        view.why,
        view.reference,
    )
}

// ----- result classes -----

/// Sync state of one qube × profile.
#[pyclass(module = "qubes_config_sync", name = "ProfileSync", frozen, get_all)]
pub struct PyProfileSync {
    profile: String,
    /// `in-sync`, `never-pushed`, `outdated` or `drifted`.
    state: String,
    generation: u64,
    pushed_generation: Option<u64>,
    drifted_paths: Vec<String>,
}

/// Persistence of one path of a qube's assigned profiles.
#[pyclass(
    module = "qubes_config_sync",
    name = "PathPersistence",
    frozen,
    get_all
)]
pub struct PyPathPersistence {
    path: String,
    /// `persistent`, `volatile`, `lost-at-restart`, `not-supported` or `unknown`.
    verdict: String,
    detail: String,
    fix_command: Option<String>,
}

/// A qube as the backend sees it: live state plus the store's view.
#[pyclass(module = "qubes_config_sync", name = "QubeState", frozen, get_all)]
pub struct PyQubeState {
    name: String,
    klass: String,
    power_state: String,
    label: String,
    template: Option<String>,
    auto_apply: bool,
    assigned: Vec<String>,
    may_propose: Vec<String>,
    profiles: Vec<Py<PyProfileSync>>,
    persistence: Vec<Py<PyPathPersistence>>,
    pending_proposals: u32,
}

#[pymethods]
impl PyQubeState {
    /// The sync state per assigned profile, as a dict.
    fn sync_states(&self, py: Python<'_>) -> std::collections::BTreeMap<String, String> {
        self.profiles
            .iter()
            .map(|p| {
                let p = p.bind(py).get();
                (p.profile.clone(), p.state.clone())
            })
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "<QubeState {} {} {}>",
            self.name, self.klass, self.power_state
        )
    }
}

fn qube_state(py: Python<'_>, view: QubeView) -> PyResult<PyQubeState> {
    Ok(PyQubeState {
        name: view.name,
        klass: view.class,
        power_state: view.power_state,
        label: view.label,
        template: view.template,
        auto_apply: view.auto_apply,
        assigned: view.assigned,
        may_propose: view.may_propose,
        profiles: view
            .profiles
            .into_iter()
            .map(|p| {
                Py::new(
                    py,
                    PyProfileSync {
                        profile: p.profile,
                        state: sync_state_name(p.state).to_owned(),
                        generation: p.generation,
                        pushed_generation: p.pushed_generation,
                        drifted_paths: p.drifted_paths,
                    },
                )
            })
            .collect::<PyResult<_>>()?,
        persistence: view
            .persistence
            .into_iter()
            .map(|p| {
                Py::new(
                    py,
                    PyPathPersistence {
                        path: p.path,
                        verdict: p.verdict.as_str().to_owned(),
                        detail: p.detail.english(),
                        fix_command: p.fix_command,
                    },
                )
            })
            .collect::<PyResult<_>>()?,
        pending_proposals: view.pending_proposals,
    })
}

/// A profile with its files.
#[pyclass(module = "qubes_config_sync", name = "Profile", frozen, get_all)]
pub struct PyProfile {
    id: String,
    description: String,
    generation: u64,
    files: Vec<Py<PyProfileFile>>,
    assigned_to: Vec<String>,
}

#[pymethods]
impl PyProfile {
    fn __repr__(&self) -> String {
        format!("<Profile {} generation {}>", self.id, self.generation)
    }
}

/// One file of a profile (metadata; `ConfigSync.get_file` gives the content).
#[pyclass(module = "qubes_config_sync", name = "ProfileFile", frozen, get_all)]
pub struct PyProfileFile {
    path: String,
    /// Octal, e.g. `0644`.
    mode: String,
    sha256: String,
    size: u64,
    generation: u64,
    /// `local edit` or `accepted proposal #ID from QUBE` (English, from its reason code).
    provenance: String,
}

fn profile(py: Python<'_>, view: ProfileView) -> PyResult<PyProfile> {
    Ok(PyProfile {
        id: view.id,
        description: view.description,
        generation: view.generation,
        files: view
            .files
            .into_iter()
            .map(|f| {
                Py::new(
                    py,
                    PyProfileFile {
                        path: f.path,
                        mode: f.mode,
                        sha256: f.sha256,
                        size: f.size,
                        generation: f.generation,
                        provenance: f.provenance.english(),
                    },
                )
            })
            .collect::<PyResult<_>>()?,
        assigned_to: view.assigned_to,
    })
}

/// A proposal in the list.
#[pyclass(
    module = "qubes_config_sync",
    name = "ProposalSummary",
    frozen,
    get_all
)]
pub struct PyProposalSummary {
    id: i64,
    source_qube: String,
    profile: String,
    path: String,
    size: u64,
    sha256: String,
    /// Unix time.
    received_at: i64,
    /// `pending`, `accepted` or `rejected`.
    status: String,
}

#[pymethods]
impl PyProposalSummary {
    fn __repr__(&self) -> String {
        format!(
            "<ProposalSummary #{} {} from {} ({})>",
            self.id, self.path, self.source_qube, self.status
        )
    }
}

fn summary(view: ProposalSummaryView) -> PyProposalSummary {
    PyProposalSummary {
        id: view.id,
        source_qube: view.source_qube,
        profile: view.profile,
        path: view.path,
        size: view.size,
        sha256: view.sha256,
        received_at: view.received_at,
        status: view.status.as_str().to_owned(),
    }
}

/// Everything the review pane shows about one proposal.
#[pyclass(module = "qubes_config_sync", name = "Proposal", frozen)]
pub struct PyProposal {
    #[pyo3(get)]
    id: i64,
    #[pyo3(get)]
    source_qube: String,
    #[pyo3(get)]
    profile: String,
    #[pyo3(get)]
    path: String,
    /// `pending`, `accepted` or `rejected`.
    #[pyo3(get)]
    status: String,
    #[pyo3(get)]
    received_at: i64,
    /// Octal mode the file has in the qube, if it said.
    #[pyo3(get)]
    mode: Option<String>,
    /// The sender's note, safely rendered (it came from a qube).
    #[pyo3(get)]
    note: String,
    base: Option<Vec<u8>>,
    proposed: Vec<u8>,
    #[pyo3(get)]
    base_sha256: Option<String>,
    #[pyo3(get)]
    sha256: String,
    /// Base (or empty) → proposed, rendered with every hidden character as a
    /// visible token and finding anchors.
    #[pyo3(get)]
    diff_text: String,
    /// `(id, old_start, old_lines, new_start, new_lines, whitespace_only)`.
    #[pyo3(get)]
    hunks: Vec<(String, u64, u64, u64, u64, bool)>,
    #[pyo3(get)]
    findings: Vec<PyFinding>,
    /// Ids of the gated findings (high and critical): each one in an accepted hunk
    /// must be acknowledged by its id.
    #[pyo3(get)]
    must_acknowledge: Vec<String>,
    /// Digest of this review; `accept_proposal(digest=…)` binds the accept to it.
    #[pyo3(get)]
    digest: String,
}

#[pymethods]
impl PyProposal {
    /// The store's current content of this path (untrusted bytes are never in
    /// it: it is what was accepted before); `None` for a new file.
    #[getter]
    fn base<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.base.as_deref().map(|b| PyBytes::new(py, b))
    }

    /// The proposed bytes, exactly as the qube sent them: untrusted. Show them
    /// only through `render_safe()` or `diff_text`.
    #[getter]
    fn proposed<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.proposed)
    }

    /// True when any finding is critical.
    fn has_critical(&self) -> bool {
        self.findings.iter().any(|f| f.severity() == "critical")
    }

    fn __repr__(&self) -> String {
        format!(
            "<Proposal #{} {} from {}: {} findings>",
            self.id,
            self.path,
            self.source_qube,
            self.findings.len()
        )
    }
}

fn proposal(view: ProposalView) -> PyResult<PyProposal> {
    Ok(PyProposal {
        id: view.summary.id,
        source_qube: view.summary.source_qube,
        profile: view.summary.profile,
        path: view.summary.path,
        status: view.summary.status.as_str().to_owned(),
        received_at: view.summary.received_at,
        sha256: view.summary.sha256,
        mode: view.mode,
        note: segments_text(&view.note),
        base: view
            .base_b64
            .as_deref()
            .map(|b| b64(b, "base content"))
            .transpose()?,
        proposed: b64(&view.proposed_b64, "proposed content")?,
        base_sha256: view.base_sha256,
        diff_text: diff_text(&view.diff),
        hunks: view
            .diff
            .hunks
            .iter()
            .map(|h| {
                (
                    h.id.clone(),
                    h.old_start,
                    h.old_lines,
                    h.new_start,
                    h.new_lines,
                    h.whitespace_only,
                )
            })
            .collect(),
        findings: view.findings.into_iter().map(finding_from).collect(),
        must_acknowledge: view.must_acknowledge,
        digest: view.digest,
    })
}

/// One planned file.
#[pyclass(module = "qubes_config_sync", name = "PlanItem", frozen, get_all)]
pub struct PyPlanItem {
    qube: String,
    profile: String,
    path: String,
    /// `create`, `update`, `unchanged`, `conflict` or `refused`.
    action: String,
    reason: Option<String>,
    can_overwrite: bool,
    forced: bool,
    generation: u64,
    /// The current → new diff, safely rendered (`None` when unknown).
    diff_text: Option<String>,
}

/// A push plan: pass `plan_id` to `ConfigSync.execute_plan`.
#[pyclass(module = "qubes_config_sync", name = "PushPlan", frozen, get_all)]
pub struct PyPushPlan {
    plan_id: String,
    items: Vec<Py<PyPlanItem>>,
    /// `(qube, error)` for qubes that could not be planned (a halted qube included).
    errors: Vec<(String, String)>,
    /// Qubes that were halted when planned: nothing was read from them; name them in
    /// `execute_plan(start=...)` to start them and push to them.
    halted: Vec<String>,
}

#[pymethods]
impl PyPushPlan {
    /// True when some file is a conflict (it will not be overwritten).
    fn has_conflicts(&self, py: Python<'_>) -> bool {
        self.items
            .iter()
            .any(|i| i.bind(py).get().action == "conflict")
    }

    fn __repr__(&self) -> String {
        format!(
            "<PushPlan {} with {} items>",
            self.plan_id,
            self.items.len()
        )
    }
}

fn push_plan(py: Python<'_>, plan: PushPlan) -> PyResult<PyPushPlan> {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut halted = Vec::new();
    for qube in plan.qubes {
        if let Some(error) = qube.error {
            errors.push((qube.qube.clone(), error.english()));
        } else if qube.power != qcs_client::types::PlanPower::Running {
            if qube.power == qcs_client::types::PlanPower::Halted {
                halted.push(qube.qube.clone());
            }
            // Planning never starts a qube: a halted one is not planned (this module
            // does not start qubes), and says so.
            let reason =
                qcs_client::Reason::new(qcs_client::Code::QubeHalted).arg("qube", &qube.qube);
            errors.push((qube.qube.clone(), reason.english()));
        }
        for item in qube.items {
            items.push(Py::new(
                py,
                PyPlanItem {
                    qube: qube.qube.clone(),
                    profile: item.profile,
                    path: item.path,
                    action: plan_action_name(item.action).to_owned(),
                    reason: item.reason.map(|r| r.english()),
                    can_overwrite: item.can_overwrite,
                    forced: item.forced,
                    generation: item.generation,
                    diff_text: item.diff.as_ref().map(diff_text),
                },
            )?);
        }
    }
    Ok(PyPushPlan {
        plan_id: plan.plan_id,
        items,
        errors,
        halted,
    })
}

/// The outcome of one file of a job.
#[pyclass(module = "qubes_config_sync", name = "FileOutcome", frozen, get_all)]
pub struct PyFileOutcome {
    qube: String,
    profile: String,
    path: String,
    /// `written`, `unchanged`, `conflict`, `refused` or `skipped`.
    outcome: String,
    detail: Option<String>,
}

/// The end of a push or rollback job.
#[pyclass(module = "qubes_config_sync", name = "JobResult", frozen, get_all)]
pub struct PyJobResult {
    job: u64,
    /// False when any qube failed, a conflict was met or the job was cancelled.
    success: bool,
    /// `push`, `rollback`, `auto-apply`.
    kind: String,
    cancelled: bool,
    files: Vec<Py<PyFileOutcome>>,
    /// `(qube, error)` for qubes whose call failed as a whole.
    errors: Vec<(String, String)>,
}

#[pymethods]
impl PyJobResult {
    fn __repr__(&self) -> String {
        format!(
            "<JobResult {} {} success={} files={}>",
            self.job,
            self.kind,
            if self.success { "True" } else { "False" },
            self.files.len()
        )
    }
}

fn job_result(
    py: Python<'_>,
    job: u64,
    success: bool,
    summary: JobSummary,
) -> PyResult<PyJobResult> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for qube in summary.qubes {
        if let Some(error) = qube.error {
            errors.push((qube.qube.clone(), error.english()));
        }
        for f in qube.files {
            files.push(Py::new(
                py,
                PyFileOutcome {
                    qube: qube.qube.clone(),
                    profile: f.profile,
                    path: f.path,
                    outcome: f.outcome.as_str().to_owned(),
                    detail: f.detail.map(|d| d.english()),
                },
            )?);
        }
    }
    Ok(PyJobResult {
        job,
        success,
        kind: match summary.kind {
            qcs_client::types::JobKind::Push => "push",
            qcs_client::types::JobKind::Rollback => "rollback",
            qcs_client::types::JobKind::AutoApply => "auto-apply",
            qcs_client::types::JobKind::Unknown => "unknown",
        }
        .to_owned(),
        cancelled: summary.cancelled,
        files,
        errors,
    })
}

// ----- the client -----

/// How long `push()`/`execute_plan()` wait for the job by default.
const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(600);

/// A client of the qubes-config-sync backend (`org.qubes.ConfigSync1`).
///
/// `ConfigSync()` uses the session bus; `ConfigSync(address)` a given bus
/// (e.g. `unix:path=/run/user/1000/bus`).
#[pyclass(module = "qubes_config_sync", name = "ConfigSync", frozen)]
pub struct ConfigSync {
    // Kept so the connection lives as long as the proxy.
    _connection: zbus::Connection,
    proxy: ConfigSyncProxy<'static>,
}

impl ConfigSync {
    /// Runs one async call on the proxy with the GIL released.
    fn call<T, F>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(ConfigSyncProxy<'static>) -> F + Send,
    ) -> PyResult<T>
    where
        F: std::future::Future<Output = Result<T, DaemonError>>,
        T: Send,
    {
        let proxy = self.proxy.clone();
        py.detach(|| zbus::block_on(f(proxy)))
            .map_err(backend_error)
    }
}

#[pymethods]
impl ConfigSync {
    /// Connects to the backend on the session bus, or on the bus at `address`.
    #[new]
    #[pyo3(signature = (address = None))]
    fn new(py: Python<'_>, address: Option<String>) -> PyResult<Self> {
        let (connection, proxy) = py
            .detach(|| {
                zbus::block_on(async {
                    let (connection, _) = match &address {
                        Some(address) => qcs_client::connect_to(address).await?,
                        None => qcs_client::connect().await?,
                    };
                    // No property cache: a cached `PendingProposals` lags behind the
                    // call that changed it until the PropertiesChanged signal arrives.
                    let proxy = ConfigSyncProxy::builder(&connection)
                        .cache_properties(zbus::proxy::CacheProperties::No)
                        .build()
                        .await?;
                    Ok::<_, zbus::Error>((connection, proxy))
                })
            })
            .map_err(zbus_error)?;
        Ok(ConfigSync {
            _connection: connection,
            proxy,
        })
    }

    // ----- qubes -----

    /// Every qube with class, power state, label, settings, sync state per
    /// profile and persistence per path.
    fn qubes(&self, py: Python<'_>) -> PyResult<Vec<PyQubeState>> {
        let json = self.call(py, |p| async move { p.list_qubes().await })?;
        let list: QubeList = decode(&json, "qube list")?;
        list.qubes.into_iter().map(|q| qube_state(py, q)).collect()
    }

    /// One qube; `ConfigSyncNotFoundError` when the backend does not know it.
    fn qube(&self, py: Python<'_>, name: String) -> PyResult<PyQubeState> {
        let name = qube_arg(&name)?;
        let json = self.call(py, |p| async move { p.get_qube(name.as_str()).await })?;
        let list: QubeList = decode(&json, "qube")?;
        let qube = list
            .qubes
            .into_iter()
            .next()
            .ok_or_else(|| new_err("ConfigSyncError", "the backend returned no qube"))?;
        qube_state(py, qube)
    }

    /// `(assigned profiles, may-propose profiles, auto-apply on start)`.
    fn qube_settings(
        &self,
        py: Python<'_>,
        qube: String,
    ) -> PyResult<(Vec<String>, Vec<String>, bool)> {
        let qube = qube_arg(&qube)?;
        self.call(
            py,
            |p| async move { p.get_qube_settings(qube.as_str()).await },
        )
    }

    /// Replaces a qube's settings as a whole.
    fn set_qube_settings(
        &self,
        py: Python<'_>,
        qube: String,
        assigned: Vec<String>,
        may_propose: Vec<String>,
        auto_apply: bool,
    ) -> PyResult<()> {
        let qube = qube_arg(&qube)?;
        let (assigned, may_propose) = (profile_args(&assigned)?, profile_args(&may_propose)?);
        self.call(py, |p| async move {
            let assigned: Vec<&str> = assigned.iter().map(|id| id.as_str()).collect();
            let may_propose: Vec<&str> = may_propose.iter().map(|id| id.as_str()).collect();
            p.set_qube_settings(qube.as_str(), &assigned, &may_propose, auto_apply)
                .await
        })
    }

    /// Assigns a profile to a qube (or unassigns it with `assigned=False`).
    #[pyo3(signature = (qube, profile, assigned = true))]
    fn assign(
        &self,
        py: Python<'_>,
        qube: String,
        profile: String,
        assigned: bool,
    ) -> PyResult<()> {
        let (qube, profile) = (qube_arg(&qube)?, profile_arg(&profile)?);
        self.call(py, |p| async move {
            p.assign(qube.as_str(), profile.as_str(), assigned).await
        })
    }

    /// Lets a qube propose changes to a profile (or stops it).
    #[pyo3(signature = (qube, profile, allowed = true))]
    fn allow_proposals(
        &self,
        py: Python<'_>,
        qube: String,
        profile: String,
        allowed: bool,
    ) -> PyResult<()> {
        let (qube, profile) = (qube_arg(&qube)?, profile_arg(&profile)?);
        self.call(py, |p| async move {
            p.allow_proposals(qube.as_str(), profile.as_str(), allowed)
                .await
        })
    }

    // ----- profiles -----

    /// `(id, description, generation)` of every profile.
    fn profiles(&self, py: Python<'_>) -> PyResult<Vec<(String, String, u64)>> {
        self.call(py, |p| async move { p.list_profiles().await })
    }

    /// A profile with its files.
    fn profile(&self, py: Python<'_>, profile_id: String) -> PyResult<PyProfile> {
        let profile_id = profile_arg(&profile_id)?;
        let json = self.call(
            py,
            |p| async move { p.get_profile(profile_id.as_str()).await },
        )?;
        profile(py, decode(&json, "profile")?)
    }

    /// Creates an empty profile (id `[a-z0-9][a-z0-9-]{0,30}`).
    #[pyo3(signature = (profile_id, description = String::new()))]
    fn create_profile(
        &self,
        py: Python<'_>,
        profile_id: String,
        description: String,
    ) -> PyResult<()> {
        let profile_id = profile_arg(&profile_id)?;
        self.call(py, |p| async move {
            p.create_profile(profile_id.as_str(), &description).await
        })
    }

    /// `(content, mode, generation)` of a file in the store.
    fn get_file<'py>(
        &self,
        py: Python<'py>,
        profile_id: String,
        path: String,
    ) -> PyResult<(Bound<'py, PyBytes>, u32, u64)> {
        let (profile_id, path) = (profile_arg(&profile_id)?, path_arg(&path)?);
        let (content, mode, generation) = self.call(py, |p| async move {
            p.get_file(profile_id.as_str(), path.as_str()).await
        })?;
        Ok((PyBytes::new(py, &content), mode, generation))
    }

    /// Adds or edits a file as a local edit; returns the new generation.
    #[pyo3(signature = (profile_id, path, content, mode = 0o644))]
    fn put_file(
        &self,
        py: Python<'_>,
        profile_id: String,
        path: String,
        content: &Bound<'_, PyAny>,
        mode: u32,
    ) -> PyResult<u64> {
        let (profile_id, path) = (profile_arg(&profile_id)?, path_arg(&path)?);
        let content = crate::review::text_bytes(content, "content")?;
        self.call(py, |p| async move {
            p.put_file(profile_id.as_str(), path.as_str(), &content, mode)
                .await
        })
    }

    /// Removes a file; returns the new generation.
    fn remove_file(&self, py: Python<'_>, profile_id: String, path: String) -> PyResult<u64> {
        let (profile_id, path) = (profile_arg(&profile_id)?, path_arg(&path)?);
        self.call(py, |p| async move {
            p.remove_file(profile_id.as_str(), path.as_str()).await
        })
    }

    // ----- push -----

    /// Plans a push: snapshots the qubes (every qube with an assignment when
    /// `qubes` is empty) and plans their assigned profiles (only `profiles` when
    /// given). `overwrite` lists `(qube, path)` conflicts to overwrite.
    #[pyo3(signature = (qubes = Vec::new(), profiles = Vec::new(), overwrite = Vec::new()))]
    fn plan_push(
        &self,
        py: Python<'_>,
        qubes: Vec<String>,
        profiles: Vec<String>,
        overwrite: Vec<(String, String)>,
    ) -> PyResult<PyPushPlan> {
        let qubes = qubes
            .iter()
            .map(|q| qube_arg(q))
            .collect::<PyResult<Vec<_>>>()?;
        let profiles = profile_args(&profiles)?;
        let overwrite = overwrite
            .iter()
            .map(|(q, f)| Ok((qube_arg(q)?, path_arg(f)?)))
            .collect::<PyResult<Vec<_>>>()?;
        let json = self.call(py, |p| async move {
            let qubes: Vec<&str> = qubes.iter().map(|q| q.as_str()).collect();
            let profiles: Vec<&str> = profiles.iter().map(|id| id.as_str()).collect();
            let overwrite: Vec<(&str, &str)> = overwrite
                .iter()
                .map(|(q, f)| (q.as_str(), f.as_str()))
                .collect();
            p.plan_push(&qubes, &profiles, &overwrite).await
        })?;
        push_plan(py, decode(&json, "push plan")?)
    }

    /// Carries out a plan and waits for the job to finish (at most `timeout`
    /// seconds, default 600); conflicts are reported, never overwritten. Qubes that
    /// were halted when planned are skipped, except those named in `start`: they are
    /// started, planned and written (a name that is not a halted qube of the plan
    /// raises `QubesValueError` (`plan.start-not-halted`) and nothing runs).
    #[pyo3(signature = (plan_id, *, start = Vec::new(), timeout = None))]
    fn execute_plan(
        &self,
        py: Python<'_>,
        plan_id: String,
        start: Vec<String>,
        timeout: Option<f64>,
    ) -> PyResult<PyJobResult> {
        let timeout = job_timeout(timeout)?;
        let start = start
            .iter()
            .map(|q| qube_arg(q))
            .collect::<PyResult<Vec<_>>>()?;
        let proxy = self.proxy.clone();
        let (job, summary) = py
            .detach(|| {
                zbus::block_on(async move {
                    // The client crate's one job follower: subscribed before the job
                    // starts, so its end cannot be missed.
                    let watch = qcs_client::job::JobWatch::subscribe(&proxy)
                        .await
                        .map_err(|e| JobWaitError::Daemon(DaemonError::ZBus(e)))?;
                    let start: Vec<&str> = start.iter().map(|q| q.as_str()).collect();
                    let job = if start.is_empty() {
                        proxy.execute_plan(&plan_id).await
                    } else {
                        proxy.execute_plan_starting(&plan_id, &start).await
                    }
                    .map_err(JobWaitError::Daemon)?;
                    let wait = async {
                        watch
                            .follow(job, |_| {})
                            .await
                            .map(|summary| (job, summary))
                            .map_err(|e| match e {
                                qcs_client::job::JobError::Lost => JobWaitError::Lost(job),
                                other => JobWaitError::Job(other),
                            })
                    };
                    futures_lite::future::or(wait, async {
                        async_io::Timer::after(timeout).await;
                        Err(JobWaitError::Timeout(job))
                    })
                    .await
                })
            })
            .map_err(|e| match e {
                JobWaitError::Daemon(e) => backend_error(e),
                JobWaitError::Job(e) => new_err("ConfigSyncError", e.reason().english()),
                JobWaitError::Lost(job) => new_err(
                    "ConfigSyncConnectionError",
                    format!("the connection to the backend ended before job {job} finished"),
                ),
                JobWaitError::Timeout(job) => new_err(
                    "ConfigSyncError",
                    format!(
                        "job {job} did not finish within {} s",
                        timeout.as_secs_f64()
                    ),
                ),
            })?;
        let success = summary.is_success();
        job_result(py, job, success, summary)
    }

    /// Pushes one profile to the given qubes: plan, then execute, then wait for
    /// the job. Files changed in a qube since the last push are conflicts and
    /// are not overwritten unless listed in `overwrite` as `(qube, path)`. Qubes
    /// that could not be planned (e.g. refused by policy) or that have nothing
    /// to do (profile not assigned to them) are in `errors` and make `success`
    /// false; an unknown profile raises `ConfigSyncNotFoundError`. Planning never
    /// starts a qube: a halted qube is in `errors` unless named in `start` (or
    /// `start_halted=True` for every halted one), which starts it, plans it and
    /// pushes to it — like the CLI's `push --start QUBE` / `--start-halted`.
    #[pyo3(signature = (profile_id, qubes, *, overwrite = Vec::new(), start = Vec::new(),
                        start_halted = false, timeout = None))]
    #[allow(clippy::too_many_arguments)]
    fn push(
        &self,
        py: Python<'_>,
        profile_id: String,
        qubes: Vec<String>,
        overwrite: Vec<(String, String)>,
        start: Vec<String>,
        start_halted: bool,
        timeout: Option<f64>,
    ) -> PyResult<PyJobResult> {
        if qubes.is_empty() {
            return Err(new_err(
                "QubesValueError",
                "push needs at least one qube (plan_push() with no qubes plans every assigned qube)",
            ));
        }
        if start_halted && !start.is_empty() {
            return Err(new_err(
                "QubesValueError",
                "start and start_halted exclude each other",
            ));
        }
        // An unknown profile is an error, not an empty plan.
        self.profile(py, profile_id.clone())?;
        let plan = self.plan_push(py, qubes.clone(), vec![profile_id.clone()], overwrite)?;
        // Which halted qubes to start: the named ones (each must be a halted qube of
        // this plan, checked before anything runs) or all of them.
        if let Some(wrong) = start.iter().find(|q| !plan.halted.contains(q)) {
            return Err(new_err(
                "QubesValueError",
                format!(
                    "start: {wrong} is not a halted qube of this push (only a halted qube can be started)"
                ),
            ));
        }
        let start = if start_halted {
            plan.halted.clone()
        } else {
            start
        };
        // Qubes that could not be planned, or got nothing to do because the profile is
        // not assigned to them, are not silently left out; a halted qube chosen to be
        // started is planned when it runs.
        let mut errors: Vec<(String, String)> = plan
            .errors
            .iter()
            .filter(|(q, _)| !start.contains(q))
            .cloned()
            .collect();
        for qube in &qubes {
            let planned =
                start.contains(qube) || plan.items.iter().any(|i| &i.bind(py).get().qube == qube);
            if !planned && !errors.iter().any(|(q, _)| q == qube) {
                errors.push((
                    qube.clone(),
                    format!("nothing planned: profile {profile_id} is not assigned to {qube} or has no files"),
                ));
            }
        }
        let mut result = self.execute_plan(py, plan.plan_id.clone(), start, timeout)?;
        if !errors.is_empty() {
            result.success = false;
            errors.append(&mut result.errors);
            result.errors = errors;
        }
        Ok(result)
    }

    /// Cancels a job: qubes not started yet are skipped.
    fn cancel_job(&self, py: Python<'_>, job: u64) -> PyResult<()> {
        self.call(py, |p| async move { p.cancel_job(job).await })
    }

    // ----- proposals -----

    /// Proposals with the given status (`pending`, `accepted`, `rejected`, or
    /// `""` for all).
    #[pyo3(signature = (status = "pending".to_owned()))]
    fn proposals(&self, py: Python<'_>, status: String) -> PyResult<Vec<PyProposalSummary>> {
        let json = self.call(py, |p| async move { p.list_proposals(&status).await })?;
        let list: ProposalList = decode(&json, "proposal list")?;
        Ok(list.proposals.into_iter().map(summary).collect())
    }

    /// One proposal with its diff, findings and what must be acknowledged.
    fn proposal(&self, py: Python<'_>, id: i64) -> PyResult<PyProposal> {
        let json = self.call(py, |p| async move { p.get_proposal(id).await })?;
        proposal(decode(&json, "proposal")?)
    }

    /// Accepts a proposal (all hunks, or only `hunks`) through the backend's review
    /// gate: every gated finding in the accepted hunks must have its id in
    /// `acknowledged`. `digest` is the `Proposal.digest` the decision was taken on;
    /// when `None`, the review is fetched again and its digest used. A refusal raises
    /// `ConfigSyncRefusedError` with `code` (`review.stale`, `review.unacknowledged`,
    /// `review.unknown-finding`, …) and `ids`. Returns the profile's new generation.
    #[pyo3(signature = (id, *, digest = None, acknowledged = Vec::new(), hunks = Vec::new(), note = String::new()))]
    fn accept_proposal(
        &self,
        py: Python<'_>,
        id: i64,
        digest: Option<String>,
        acknowledged: Vec<String>,
        hunks: Vec<String>,
        note: String,
    ) -> PyResult<u64> {
        let digest = match digest {
            Some(digest) => digest,
            None => {
                let json = self.call(py, |p| async move { p.get_proposal(id).await })?;
                decode::<ProposalView>(&json, "proposal")?.digest
            }
        };
        self.call(py, |p| async move {
            let hunks: Vec<&str> = hunks.iter().map(String::as_str).collect();
            let acknowledged: Vec<&str> = acknowledged.iter().map(String::as_str).collect();
            p.accept_proposal(id, &digest, &hunks, &acknowledged, &note)
                .await
        })
    }

    /// Rejects a proposal.
    #[pyo3(signature = (id, *, note = String::new()))]
    fn reject_proposal(&self, py: Python<'_>, id: i64, note: String) -> PyResult<()> {
        self.call(py, |p| async move { p.reject_proposal(id, &note).await })
    }

    /// Ingests the proposal spool now; returns how many proposals entered quarantine.
    fn ingest_spool(&self, py: Python<'_>) -> PyResult<u32> {
        self.call(py, |p| async move { p.ingest_spool().await })
    }

    /// Reads the qube's files of `profiles` (its assigned ones when empty);
    /// files that differ from the store become proposals. Returns
    /// `(proposal ids, [(path, state)])`.
    #[pyo3(signature = (qube, profiles = Vec::new()))]
    fn snapshot(
        &self,
        py: Python<'_>,
        qube: String,
        profiles: Vec<String>,
    ) -> PyResult<(Vec<i64>, Vec<PathState>)> {
        let (qube, profiles) = (qube_arg(&qube)?, profile_args(&profiles)?);
        let json = self.call(py, |p| async move {
            let profiles: Vec<&str> = profiles.iter().map(|id| id.as_str()).collect();
            p.snapshot(qube.as_str(), &profiles).await
        })?;
        let result: SnapshotResult = decode(&json, "snapshot result")?;
        Ok((
            result.proposal_ids,
            result
                .paths
                .into_iter()
                .map(|(path, state)| (path, path_state(&state)))
                .collect(),
        ))
    }

    // ----- persistence -----

    /// Makes `path` persist in `qube`: `(applied through the Admin API, the
    /// dom0 command that does the same)`.
    fn fix_persistence(
        &self,
        py: Python<'_>,
        qube: String,
        path: String,
    ) -> PyResult<(bool, String)> {
        let (qube, path) = (qube_arg(&qube)?, path_arg(&path)?);
        self.call(py, |p| async move {
            p.fix_persistence(qube.as_str(), path.as_str()).await
        })
    }

    /// Follows the backend's signals (`ProposalsChanged`, `QubeChanged`,
    /// `JobProgress`, `JobFinished`): every signal emitted after this returns
    /// is delivered.
    fn signals(&self, py: Python<'_>) -> PyResult<crate::signals::SignalStream> {
        let proxy = self.proxy.clone();
        py.detach(|| crate::signals::SignalStream::open(&proxy))
            .map_err(zbus_error)
    }

    /// Number of pending proposals.
    #[getter]
    fn pending_proposals(&self, py: Python<'_>) -> PyResult<u32> {
        self.call(py, |p| async move {
            p.pending_proposals().await.map_err(DaemonError::ZBus)
        })
    }

    fn __repr__(&self) -> String {
        "<qubes_config_sync.ConfigSync>".to_owned()
    }
}

/// `(path, state)` of a snapshot: `same`, `imported`, `missing`, …
type PathState = (String, String);

/// A snapshot path's state: the short name of a `snapshot.*` code (`same`, `imported`,
/// `missing`, `not-regular`, `too-large`, `pending`), otherwise why it was refused (the
/// English sentence of its reason).
fn path_state(state: &Reason) -> String {
    match state.code.as_str().strip_prefix("snapshot.") {
        Some(short) => short.to_owned(),
        None => format!("refused: {}", state.english()),
    }
}

enum JobWaitError {
    Daemon(DaemonError),
    Job(qcs_client::job::JobError),
    Lost(u64),
    Timeout(u64),
}

fn job_timeout(timeout: Option<f64>) -> PyResult<Duration> {
    match timeout {
        None => Ok(DEFAULT_JOB_TIMEOUT),
        Some(s) => Duration::try_from_secs_f64(s)
            .map_err(|_| new_err("QubesValueError", format!("invalid timeout {s}"))),
    }
}

/// Registers the client and its result classes.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<ConfigSync>()?;
    module.add_class::<PyQubeState>()?;
    module.add_class::<PyProfileSync>()?;
    module.add_class::<PyPathPersistence>()?;
    module.add_class::<PyProfile>()?;
    module.add_class::<PyProfileFile>()?;
    module.add_class::<PyProposalSummary>()?;
    module.add_class::<PyProposal>()?;
    module.add_class::<PyPushPlan>()?;
    module.add_class::<PyPlanItem>()?;
    module.add_class::<PyJobResult>()?;
    module.add_class::<PyFileOutcome>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_of_a_newer_version_are_refused_not_guessed() {
        let v1 = r#"{"version":1,"proposals":[]}"#;
        let list: ProposalList =
            decode_document(v1, "proposal list").unwrap_or_else(|e| panic!("{e}"));
        assert!(list.proposals.is_empty());
        let newer = format!(r#"{{"version":{},"proposals":[]}}"#, API_VERSION + 1);
        let err = decode_document::<ProposalList>(&newer, "proposal list").err();
        assert!(err.is_some_and(|e| e.contains(&format!("version {}", API_VERSION + 1))));
        for bad in [
            "",
            "{}",
            "[]",
            r#"{"version":"1"}"#,
            r#"{"version":1}"#,
            "{\"version\":1,",
        ] {
            assert!(
                decode_document::<ProposalList>(bad, "x").is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rendered_segments_stay_printable_even_from_a_broken_backend() {
        let segments = vec![
            Segment::Text {
                text: "a\u{202E}b\x1b[2Jc\u{0}".to_owned(),
                changed: false,
            },
            Segment::Token {
                class: TokenClass::Bidi,
                label: "U+202E RLO\u{202E}\x1b".to_owned(),
                changed: false,
            },
            Segment::Token {
                class: TokenClass::Whitespace,
                label: "TAB".to_owned(),
                changed: false,
            },
            Segment::FindingAnchor {
                finding: 0,
                // A hostile name decodes as Unknown (fail closed), shown as such.
                severity: qcs_client::types::Severity::from("critical\x1b"),
            },
        ];
        let text = segments_text(&segments);
        assert_eq!(
            text,
            "a\u{FFFD}b\u{FFFD}[2Jc\u{FFFD}⟦U+202E RLO??⟧→     ◀ finding 1 (unknown)"
        );
    }
}
