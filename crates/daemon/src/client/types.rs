//! The serde types carried as JSON strings over D-Bus (see the crate's `API.md`).
//!
//! Every JSON document a method returns is an object with `"version": 2`
//! ([`API_VERSION`]); a client that sees a higher version must refuse to interpret it.
//! Byte contents travel as base64 (`*_b64` fields) because file contents are arbitrary
//! bytes, not UTF-8; text that came from a qube is only ever shown through the
//! [`Segment`]s of the rendered diff, never raw.

use serde::{Deserialize, Serialize};

/// Version of the JSON documents below. Bumped on any incompatible change.
pub const API_VERSION: u32 = 2;

/// Result of `ListQubes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QubeList {
    pub version: u32,
    pub qubes: Vec<QubeView>,
    /// Set when the Admin API could not be reached; `qubes` then holds what the store
    /// knows (settings without live state).
    #[serde(default)]
    pub admin_error: Option<String>,
}

/// One qube as the backend sees it: live state from the Admin API plus the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QubeView {
    pub name: String,
    /// `AppVM`, `DispVM`, `TemplateVM`, `StandaloneVM`, `AdminVM`, … (`""` if unknown).
    pub class: String,
    /// `Running`, `Halted`, `Paused`, … (`""` if unknown).
    pub power_state: String,
    /// Label name (`red`, `blue`, …; `""` if unknown).
    pub label: String,
    pub template: Option<String>,
    pub auto_apply: bool,
    pub assigned: Vec<String>,
    pub may_propose: Vec<String>,
    /// Per assigned profile.
    pub profiles: Vec<ProfileSync>,
    /// Per path of the assigned profiles.
    pub persistence: Vec<PathPersistence>,
    pub pending_proposals: u32,
}

/// Sync state of one qube × profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncState {
    /// Every file is what we last pushed, from the current generation.
    InSync,
    /// Never pushed (or some file never pushed).
    NeverPushed,
    /// The store has a newer generation than what is in the qube.
    Outdated,
    /// The last snapshot saw a file that differs from what we pushed.
    Drifted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSync {
    pub profile: String,
    pub state: SyncState,
    /// Current generation in the store.
    pub generation: u64,
    /// Oldest generation among the files we pushed (`None` if nothing was pushed).
    pub pushed_generation: Option<u64>,
    /// Paths whose last snapshot differed from the last push.
    pub drifted_paths: Vec<String>,
}

/// Persistence verdict of one qube × path (DESIGN §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathPersistence {
    pub path: String,
    /// `persistent`, `volatile`, `lost-at-restart`, `not-supported` or `unknown`.
    pub verdict: String,
    /// Human-readable explanation.
    pub detail: String,
    /// The dom0 command that fixes a `lost-at-restart` path.
    pub fix_command: Option<String>,
}

/// Result of `GetProfile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileView {
    pub version: u32,
    pub id: String,
    pub description: String,
    pub generation: u64,
    pub files: Vec<FileSummary>,
    /// Qubes this profile is assigned to.
    pub assigned_to: Vec<String>,
    /// Globs of new paths a qube that may propose this profile may propose (empty: only
    /// the profile's files).
    #[serde(default)]
    pub new_path_globs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    pub path: String,
    /// Octal, e.g. `0644`.
    pub mode: String,
    pub sha256: String,
    pub size: u64,
    /// Generation the file last changed in.
    pub generation: u64,
    /// `local edit` or `accepted proposal from QUBE #ID`.
    pub provenance: String,
}

/// Result of `PlanPush`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushPlan {
    pub version: u32,
    /// Pass to `ExecutePlan`; valid until the backend restarts or the plan is executed.
    pub plan_id: String,
    pub qubes: Vec<QubePlanView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QubePlanView {
    pub qube: String,
    /// The qube could not be planned (snapshot failed, qube unknown…); no item then.
    pub error: Option<String>,
    pub items: Vec<PlanItemView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanAction {
    Create,
    Update,
    Unchanged,
    Conflict,
    Refused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanItemView {
    pub profile: String,
    pub path: String,
    pub action: PlanAction,
    /// Why it is a conflict or refused (human-readable), `None` otherwise.
    pub reason: Option<String>,
    /// Whether an overwrite decision may turn this conflict into an update.
    pub can_overwrite: bool,
    /// True when the user's overwrite decision turned a conflict into this update.
    pub forced: bool,
    pub new_sha256: String,
    pub new_mode: String,
    pub generation: u64,
    /// Current content → new content, when known.
    pub diff: Option<DiffView>,
    /// For a conflict whose last push is known: base = what we last pushed, ours = the
    /// store's content, theirs = the qube's current content.
    #[serde(default)]
    pub three_way: Option<ThreeWayView>,
}

/// A three-way view (diff3 over lines): the base and two sides that both changed it.
/// Every line is rendered as safe segments (hidden characters are tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreeWayView {
    /// What each side is, in English (a UI shows its own translated headings):
    /// `last pushed` / `store` / `qube` for a plan conflict, `the proposal's base` /
    /// `store` / `proposal` for a proposal.
    pub base_label: String,
    pub ours_label: String,
    pub theirs_label: String,
    /// Regions in file order; together they cover every line of the three versions.
    pub regions: Vec<ThreeWayRegionView>,
    /// Number of `conflict` regions.
    pub conflicts: u32,
}

/// One region of a [`ThreeWayView`]. All three sides are always filled (for an
/// `unchanged` region they are the same lines), so a client can render three columns
/// without knowing the kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreeWayRegionView {
    /// `unchanged`, `ours` (only the store changed it), `theirs` (only the qube or the
    /// proposal changed it), `both` (both changed it the same way), `conflict`.
    pub kind: String,
    pub base: ThreeWaySideView,
    pub ours: ThreeWaySideView,
    pub theirs: ThreeWaySideView,
}

/// The lines of one side of a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreeWaySideView {
    /// 1-based number of the first line in that version (where the region starts, even
    /// when the side has no line in it).
    pub first_line: u64,
    /// One entry per line, without the line terminator.
    pub lines: Vec<Vec<Segment>>,
}

/// A diff with its hunks (ids for per-hunk decisions) and its safe rendering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffView {
    pub hunks: Vec<HunkView>,
    /// Rendered lines (hunk headers, context, removed, added), every hidden character a
    /// token: what a UI shows.
    pub lines: Vec<RenderedLineView>,
    /// False when the diff deadline was hit (still correct, coarser).
    pub minimal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HunkView {
    pub id: String,
    /// 1-based first old line and count, as in `@@ -a,b +c,d @@`.
    pub old_start: u64,
    pub old_lines: u64,
    pub new_start: u64,
    pub new_lines: u64,
    pub whitespace_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderedLineView {
    /// `hunk-header`, `context`, `removed`, `added`.
    pub kind: String,
    pub old_number: Option<u64>,
    pub new_number: Option<u64>,
    pub segments: Vec<Segment>,
}

/// A piece of a rendered line (`qcs_core::render::Segment` on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Segment {
    /// Plain visible text (only characters known to display as themselves).
    Text { text: String, changed: bool },
    /// A visible stand-in for a hidden or confusing character; show `label`.
    Token {
        /// `bidi`, `invisible`, `tag`, `variation-selector`, `odd-space`, `control`,
        /// `invalid-byte`, `whitespace`, `other`, `marker`.
        class: String,
        label: String,
        changed: bool,
    },
    /// A finding applies at the end of this line: index into the findings list.
    FindingAnchor { finding: u32, severity: String },
}

/// A risk finding (`qcs_core::risk::Finding` on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingView {
    /// The finding's identity in a review, `{rule}@{path}:{p|b}{line|-}#{h8}`: what an
    /// acknowledgement names. Empty outside a review (e.g. findings stored at intake).
    #[serde(default)]
    pub id: String,
    pub rule: String,
    /// The file the finding is in (path relative to home).
    #[serde(default)]
    pub path: String,
    /// The other parts of a finding that depends on a combination of files.
    #[serde(default)]
    pub related: Vec<LocationView>,
    /// Ids of this proposal's hunks whose acceptance brings the finding into the store
    /// (its own hunk, every hunk for a file-level finding, plus its related parts').
    #[serde(default)]
    pub hunks: Vec<String>,
    /// True when accepting a hunk of `hunks` needs this finding acknowledged by `id`.
    #[serde(default)]
    pub gated: bool,
    /// `critical`, `high`, `medium`, `low`, `info`.
    pub severity: String,
    /// `proposed` or `base`.
    pub side: String,
    /// `added`, `changed`, `removed`.
    pub change: String,
    pub line: Option<u32>,
    pub span: Option<(u64, u64)>,
    pub message: String,
    pub why: String,
    pub reference: String,
}

/// A place in another file of the reviewed set (`qcs_core::risk::Location`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationView {
    pub path: String,
    /// `proposed` or `base`.
    pub side: String,
    pub line: Option<u32>,
}

/// The message of `org.qubes.ConfigSync1.Error.ReviewRefused` (a JSON object): why the
/// gate refused an accept, as a reason code and the ids it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRefusal {
    pub version: u32,
    /// `review.stale`, `review.unacknowledged`, `review.unknown-finding`,
    /// `review.unknown-hunk`, `review.duplicate-hunk`, `review.nothing-accepted`,
    /// `review.unreviewed`, `review.apply`.
    pub code: String,
    /// The finding ids (or hunks) concerned: the missing acknowledgements for
    /// `review.unacknowledged`, the unknown ids for `review.unknown-finding`, …
    pub ids: Vec<String>,
    /// The same in English, for a log.
    pub message: String,
}

impl ReviewRefusal {
    /// Decodes the message of a `ReviewRefused` error; a message that is not one
    /// becomes code `review.unknown` with the text as its message (fail closed: it is
    /// still a refusal).
    pub fn parse(message: &str) -> ReviewRefusal {
        serde_json::from_str(message).unwrap_or_else(|_| ReviewRefusal {
            version: API_VERSION,
            code: "review.unknown".to_owned(),
            ids: Vec::new(),
            message: message.chars().take(1024).collect(),
        })
    }
}

/// Result of `ListProposals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalList {
    pub version: u32,
    pub proposals: Vec<ProposalSummaryView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalSummaryView {
    pub id: i64,
    pub source_qube: String,
    pub profile: String,
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub received_at: i64,
    /// `pending`, `accepted`, `rejected`.
    pub status: String,
    /// The submission it came with (all files of one spooled request share it).
    #[serde(default)]
    pub batch: i64,
}

/// Result of `GetProposal`: everything the review pane shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposalView {
    pub version: u32,
    pub summary: ProposalSummaryView,
    /// Octal mode the file has in the qube, if it said.
    pub mode: Option<String>,
    /// The sender's note, rendered safely (it came from a qube).
    pub note: Vec<Segment>,
    /// The store's current content of this path (base64), `None` for a new file.
    pub base_b64: Option<String>,
    pub base_sha256: Option<String>,
    /// The proposed bytes (base64).
    pub proposed_b64: String,
    /// Base (or empty) → proposed.
    pub diff: DiffView,
    /// Findings of the state after accept (this file with the profile's other files),
    /// worst first.
    pub findings: Vec<FindingView>,
    /// Ids of the gated findings (severity high or critical): each one whose hunks are
    /// accepted must be acknowledged by its id.
    pub must_acknowledge: Vec<String>,
    /// Digest of exactly this review (version, base, hunks, findings, rules); an
    /// `AcceptProposal` must carry it, else it is refused with `review.stale`.
    pub digest: String,
    /// Set when the store changed since the qube's base (the proposal's base hash is an
    /// older version the store still has): base = that version, ours = the store's
    /// current content, theirs = the proposal.
    #[serde(default)]
    pub three_way: Option<ThreeWayView>,
}

/// `JobFinished`'s summary argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    pub version: u32,
    /// `push`, `rollback`, `auto-apply`.
    pub kind: String,
    pub cancelled: bool,
    pub qubes: Vec<QubeOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QubeOutcome {
    pub qube: String,
    /// The call failed as a whole (qrexec denied, agent missing, refused…).
    pub error: Option<String>,
    /// Stable reason code of `error` (e.g. `reply.invented`, `qrexec.denied`).
    #[serde(default)]
    pub error_code: Option<String>,
    pub files: Vec<FileOutcomeView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOutcomeView {
    pub profile: String,
    pub path: String,
    /// `written`, `unchanged`, `conflict`, `refused`, `skipped` (cancelled / not sent).
    pub outcome: String,
    pub detail: Option<String>,
}

/// Result of `Snapshot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotResult {
    pub version: u32,
    pub qube: String,
    /// Proposals created from files that differ from the store.
    pub proposal_ids: Vec<i64>,
    /// Per path: `same` (as in the store), `imported`, `missing`, `not-regular: …`,
    /// `too-large`, `refused: …`.
    pub paths: Vec<(String, String)>,
}

/// Result of `AuditLog`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub version: u32,
    pub entries: Vec<AuditEntryView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntryView {
    pub id: i64,
    pub at: i64,
    pub action: String,
    pub qube: Option<String>,
    pub profile: Option<String>,
    pub path: Option<String>,
    pub proposal_id: Option<i64>,
    pub generation: Option<u64>,
    pub sha256: Option<String>,
    pub detail: serde_json::Value,
}
