//! The serde types carried as JSON strings over D-Bus (see the crate's `API.md`).
//!
//! Every JSON document a method returns is an object with `"version": 2`
//! ([`API_VERSION`]); a client that sees a higher version must refuse to interpret it.
//! Byte contents travel as base64 (`*_b64` fields) because file contents are arbitrary
//! bytes, not UTF-8; text that came from a qube is only ever shown through the
//! [`Segment`]s of the rendered diff, never raw.
//!
//! Every closed set of values is an enum with one fail-closed fallback (`Unknown`): an
//! unknown severity gates like a critical one, an unknown file outcome or plan action is
//! a failure, an unknown sync state or persistence verdict needs attention. Messages are
//! [`Reason`]s (codes with arguments), never prose.

use serde::{Deserialize, Serialize};

pub use crate::reason::{Code, Reason};

/// Version of the JSON documents below. Bumped on any incompatible change (3: reasons
/// as codes, outcomes and states as enums).
pub const API_VERSION: u32 = 3;

/// Severity of a finding. `Unknown` (a value this client does not know) gates like
/// `Critical`: it must be acknowledged, everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
    #[serde(other)]
    Unknown,
}

impl Severity {
    /// Order for sorting and the gate: `Unknown` ranks with `Critical`.
    pub fn rank(self) -> u8 {
        match self {
            Severity::Info => 0,
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 3,
            Severity::Critical | Severity::Unknown => 4,
        }
    }

    /// Whether a finding of this severity must be acknowledged (high, critical, unknown).
    pub fn gates(self) -> bool {
        self.rank() >= Severity::High.rank()
    }

    /// As on the wire (`unknown` for an unknown value).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
            Severity::Unknown => "unknown",
        }
    }
}

/// What happened to one file of a job. Only `Written` and `Unchanged` are success; an
/// unknown outcome is a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileOutcome {
    Written,
    Unchanged,
    Conflict,
    Refused,
    /// Not sent (cancelled, or the qube failed before).
    Skipped,
    /// Removed from the qube (it left its profile); the agent kept a backup.
    Removed,
    #[serde(other)]
    Unknown,
}

impl FileOutcome {
    pub fn is_success(self) -> bool {
        matches!(
            self,
            FileOutcome::Written | FileOutcome::Unchanged | FileOutcome::Removed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FileOutcome::Written => "written",
            FileOutcome::Unchanged => "unchanged",
            FileOutcome::Conflict => "conflict",
            FileOutcome::Refused => "refused",
            FileOutcome::Skipped => "skipped",
            FileOutcome::Removed => "removed",
            FileOutcome::Unknown => "unknown",
        }
    }
}

/// Persistence verdict of one qube × path (DESIGN §7). `Unknown` is not persistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Persistent,
    Volatile,
    LostAtRestart,
    NotSupported,
    #[serde(other)]
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Persistent => "persistent",
            Verdict::Volatile => "volatile",
            Verdict::LostAtRestart => "lost-at-restart",
            Verdict::NotSupported => "not-supported",
            Verdict::Unknown => "unknown",
        }
    }
}

/// State of a proposal. `Unknown` is treated as not decidable here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProposalStatus {
    Pending,
    Accepted,
    Rejected,
    #[serde(other)]
    Unknown,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Pending => "pending",
            ProposalStatus::Accepted => "accepted",
            ProposalStatus::Rejected => "rejected",
            ProposalStatus::Unknown => "unknown",
        }
    }
}

/// What one version of a three-way view is. `Unknown` is shown without a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThreeWaySide {
    /// What we last pushed into the qube.
    LastPushed,
    /// The store's current content.
    Store,
    /// The qube's current content.
    Qube,
    /// The version a proposal was made against.
    ProposalBase,
    /// The proposed content.
    Proposal,
    #[serde(other)]
    Unknown,
}

impl ThreeWaySide {
    pub fn as_str(self) -> &'static str {
        match self {
            ThreeWaySide::LastPushed => "last-pushed",
            ThreeWaySide::Store => "store",
            ThreeWaySide::Qube => "qube",
            ThreeWaySide::ProposalBase => "proposal-base",
            ThreeWaySide::Proposal => "proposal",
            ThreeWaySide::Unknown => "unknown",
        }
    }
}

/// The kind of a rendered diff line. `Unknown` is drawn as a change (added): a line
/// this client cannot place must draw attention, not pass as context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineKind {
    HunkHeader,
    Context,
    Removed,
    Added,
    #[serde(other)]
    Unknown,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::HunkHeader => "hunk-header",
            LineKind::Context => "context",
            LineKind::Removed => "removed",
            LineKind::Added => "added",
            LineKind::Unknown => "unknown",
        }
    }
}

/// What happened to a region of a three-way view since the base. `Unknown` is shown
/// as a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegionKind {
    /// No side changed it.
    Unchanged,
    /// Only the store changed it.
    Ours,
    /// Only the qube (or the proposal) changed it.
    Theirs,
    /// Both changed it the same way.
    Both,
    /// Both changed it differently.
    Conflict,
    #[serde(other)]
    Unknown,
}

impl RegionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RegionKind::Unchanged => "unchanged",
            RegionKind::Ours => "ours",
            RegionKind::Theirs => "theirs",
            RegionKind::Both => "both",
            RegionKind::Conflict => "conflict",
            RegionKind::Unknown => "unknown",
        }
    }
}

/// The version of a file a finding is in. `Unknown` is treated as the proposed side
/// (the untrusted one under review).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingSide {
    /// The proposed (incoming) content.
    Proposed,
    /// The store's content the proposal is compared with.
    Base,
    #[serde(other)]
    Unknown,
}

impl FindingSide {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingSide::Proposed => "proposed",
            FindingSide::Base => "base",
            FindingSide::Unknown => "unknown",
        }
    }

    /// Whether the finding is on the base side; `Unknown` is not (it is shown, and
    /// gated, with the proposal).
    pub fn is_base(self) -> bool {
        self == FindingSide::Base
    }
}

/// What a proposal does to the text a finding is about. `Unknown` is treated as added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingChange {
    Added,
    Changed,
    Removed,
    #[serde(other)]
    Unknown,
}

impl FindingChange {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingChange::Added => "added",
            FindingChange::Changed => "changed",
            FindingChange::Removed => "removed",
            FindingChange::Unknown => "unknown",
        }
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    Push,
    Rollback,
    AutoApply,
    #[serde(other)]
    Unknown,
}

/// Result of `ListQubes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QubeList {
    pub version: u32,
    pub qubes: Vec<QubeView>,
    /// Set when the Admin API could not be reached; `qubes` then holds what the store
    /// knows (settings without live state).
    #[serde(default)]
    pub admin_error: Option<Reason>,
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
    /// A state this client does not know: shown as needing attention.
    #[serde(other)]
    Unknown,
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
    /// What brought the profile to the qube: a single assignment and/or rules.
    #[serde(default)]
    pub sources: Vec<crate::rules::AssignmentSource>,
}

/// Persistence verdict of one qube × path (DESIGN §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathPersistence {
    pub path: String,
    pub verdict: Verdict,
    /// Why, as a reason (`persistence.*`).
    pub detail: Reason,
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
    /// `provenance.local-edit` or `provenance.accepted` (args qube, id).
    pub provenance: Reason,
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
    /// The qube's power state when it was planned (read from the Admin API before any
    /// qrexec call: planning never starts a qube). Missing or unknown: `Unknown`.
    #[serde(default)]
    pub power: PlanPower,
    /// The qube could not be planned (snapshot failed, qube unknown…); no item then.
    pub error: Option<Reason>,
    /// Empty for a halted qube: what it holds is unknown until it runs.
    pub items: Vec<PlanItemView>,
}

impl QubePlanView {
    /// Whether the user may choose to start this qube and push to it
    /// (`ExecutePlanStarting`): halted, and no error.
    pub fn can_start(&self) -> bool {
        self.power == PlanPower::Halted && self.error.is_none()
    }
}

/// What planning found about a qube's power state, and so what a push does with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanPower {
    /// Running: snapshotted and planned; the items are what the push does.
    Running,
    /// Halted: not looked into (no qrexec call was made, so nothing started it); its
    /// items are unknown. The push starts it, plans it and writes only when the user
    /// chose it (`ExecutePlanStarting`); otherwise it is skipped and reported so.
    Halted,
    /// Neither (paused, suspended, starting, crashed…): `error` says which; never
    /// started, never pushed.
    NotRunning,
    /// A state this client does not know, or none sent: never started, never pushed.
    #[default]
    #[serde(other)]
    Unknown,
}

impl PlanPower {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanPower::Running => "running",
            PlanPower::Halted => "halted",
            PlanPower::NotRunning => "not-running",
            PlanPower::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanAction {
    Create,
    Update,
    Unchanged,
    Conflict,
    Refused,
    /// Removed from its profile: removed in the qube, with a backup kept there.
    Remove,
    /// An action this client does not know: not a write, shown as refused.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanItemView {
    pub profile: String,
    pub path: String,
    pub action: PlanAction,
    /// Why it is a conflict or refused (`plan.*`, `path.*`), `None` otherwise.
    pub reason: Option<Reason>,
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
    /// Set when the file is a template: the hash of the template's text. The item's
    /// content, hash and diff are then those rendered for this qube.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_sha256: Option<String>,
}

/// A three-way view (diff3 over lines): the base and two sides that both changed it.
/// Every line is rendered as safe segments (hidden characters are tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreeWayView {
    /// What each side is (a UI shows its own translated headings): `last-pushed` /
    /// `store` / `qube` for a plan conflict, `proposal-base` / `store` / `proposal` for a
    /// proposal.
    pub base_label: ThreeWaySide,
    pub ours_label: ThreeWaySide,
    pub theirs_label: ThreeWaySide,
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
    pub kind: RegionKind,
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
    pub kind: LineKind,
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
    FindingAnchor { finding: u32, severity: Severity },
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
    pub severity: Severity,
    pub side: FindingSide,
    pub change: FindingChange,
    pub line: Option<u32>,
    pub span: Option<(u64, u64)>,
    /// The message in English (`text` filled).
    pub message: String,
    /// The message as a template and named arguments, to translate (absent from an
    /// older backend: then only `message` is known).
    #[serde(default)]
    pub text: Option<MessageView>,
    pub why: String,
    pub reference: String,
}

impl FindingView {
    /// The message with `translate` (gettext) applied to its template and to the
    /// arguments that are texts of the rules; the English `message` when the backend
    /// sent no template.
    pub fn message_with(&self, translate: &dyn Fn(&str) -> String) -> String {
        match &self.text {
            Some(text) if !text.template.is_empty() => text.fill(translate),
            _ => self.message.clone(),
        }
    }
}

/// A finding's message as a template with `{name}` placeholders and their values
/// (`qcs_core::risk::Message`). The template and the arguments marked `translate` are
/// gettext msgids (rule texts and the engine's own templates); the other arguments are
/// text from the file, already made safe to quote, shown as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub template: String,
    #[serde(default)]
    pub args: Vec<MessageArgView>,
    /// Sentences appended to this one, in order (each with its own leading blank).
    #[serde(default)]
    pub more: Vec<MessageView>,
}

/// One named argument of a [`MessageView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageArgView {
    pub name: String,
    pub value: String,
    /// The value is a msgid: translate it before filling.
    #[serde(default)]
    pub translate: bool,
}

impl MessageView {
    /// The text with `translate` applied to the template and to the msgid arguments,
    /// filled in one pass ([`crate::reason::fill_with`]: a value is never expanded
    /// again, so text from a qube cannot pull in another argument).
    pub fn fill(&self, translate: &dyn Fn(&str) -> String) -> String {
        let values: Vec<(&str, String)> = self
            .args
            .iter()
            .map(|a| {
                let v = if a.translate {
                    translate(&a.value)
                } else {
                    a.value.clone()
                };
                (a.name.as_str(), v)
            })
            .collect();
        let mut out = crate::reason::fill_with(&translate(&self.template), |name| {
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        });
        for m in &self.more {
            out.push_str(&m.fill(translate));
        }
        out
    }
}

/// A place in another file of the reviewed set (`qcs_core::risk::Location`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationView {
    pub path: String,
    pub side: FindingSide,
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
    pub code: Code,
    /// The finding ids (or hunks) concerned: the missing acknowledgements for
    /// `review.unacknowledged`, the unknown ids for `review.unknown-finding`, …
    pub ids: Vec<String>,
}

impl ReviewRefusal {
    /// Decodes the message of a `ReviewRefused` error; a message that is not one
    /// becomes code `review.unknown` (fail closed: it is still a refusal).
    pub fn parse(message: &str) -> ReviewRefusal {
        serde_json::from_str(message).unwrap_or_else(|_| ReviewRefusal {
            version: API_VERSION,
            code: Code::ReviewUnknown,
            ids: Vec::new(),
        })
    }

    /// As a reason (`ids` joined by `, `; `code` for an unknown one).
    pub fn reason(&self) -> Reason {
        let reason = Reason::new(self.code.clone()).arg("ids", self.ids.join(", "));
        match &self.code {
            Code::ReviewUnknown => reason.arg("code", "?"),
            _ => reason,
        }
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
    pub status: ProposalStatus,
    /// The submission it came with (all files of one spooled request share it).
    #[serde(default)]
    pub batch: i64,
    /// What the review of the state after accept found, for the inbox's marker; `None`
    /// while the backend has not built the review for the store's current state.
    #[serde(default)]
    pub risk: Option<ProposalRisk>,
}

/// The inbox's risk marker of a proposal (from the backend's built review).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalRisk {
    /// The most severe finding, `None` when there is none.
    pub worst: Option<Severity>,
    /// How many findings must be acknowledged.
    pub gated: u32,
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
    pub kind: JobKind,
    pub cancelled: bool,
    pub qubes: Vec<QubeOutcome>,
}

impl JobSummary {
    /// Whether everything went through: not cancelled, no qube failed, every file
    /// written or unchanged (an unknown outcome is a failure).
    pub fn is_success(&self) -> bool {
        !self.cancelled && self.qubes.iter().all(QubeOutcome::is_success)
    }

    /// The qubes that failed as a whole or have a file that was not written.
    pub fn failed_qubes(&self) -> Vec<&QubeOutcome> {
        self.qubes.iter().filter(|q| !q.is_success()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QubeOutcome {
    pub qube: String,
    /// The call failed as a whole (qrexec denied, agent missing, reply refused…).
    pub error: Option<Reason>,
    /// Not pushed on purpose, not a failure: a qube that was halted when planned and
    /// that the user did not choose to start (`job.halted-skipped`). Nothing was sent.
    #[serde(default)]
    pub skipped: Option<Reason>,
    pub files: Vec<FileOutcomeView>,
}

impl QubeOutcome {
    pub fn is_success(&self) -> bool {
        self.error.is_none() && self.files.iter().all(|f| f.outcome.is_success())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOutcomeView {
    pub profile: String,
    pub path: String,
    pub outcome: FileOutcome,
    pub detail: Option<Reason>,
}

/// Result of `Snapshot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotResult {
    pub version: u32,
    pub qube: String,
    /// Proposals created from files that differ from the store.
    pub proposal_ids: Vec<i64>,
    /// Per path what was found (`snapshot.*`, or why it was refused).
    pub paths: Vec<(String, Reason)>,
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

/// Wire names into the enums, with the same fail-closed fallback as decoding (for
/// tests and for values that arrive outside a JSON document).
macro_rules! from_wire_name {
    ($($t:ty),*) => {$(
        impl From<&str> for $t {
            fn from(name: &str) -> $t {
                serde_json::from_value(serde_json::Value::String(name.to_owned()))
                    .unwrap_or(<$t>::Unknown)
            }
        }
    )*};
}
from_wire_name!(
    Severity,
    FileOutcome,
    Verdict,
    ProposalStatus,
    JobKind,
    PlanAction,
    SyncState,
    ThreeWaySide,
    LineKind,
    RegionKind,
    FindingSide,
    FindingChange
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_wire_values_fail_closed() {
        // An unknown severity gates like a critical one.
        let s: Severity = serde_json::from_str("\"catastrophic\"").unwrap();
        assert_eq!(s, Severity::Unknown);
        assert!(s.gates() && s.rank() == Severity::Critical.rank());
        assert!(Severity::High.gates() && !Severity::Medium.gates());
        assert_eq!(Severity::from("CRITICAL"), Severity::Unknown);
        // An unknown file outcome is a failure, and so is the job.
        let f: FileOutcome = serde_json::from_str("\"teleported\"").unwrap();
        assert_eq!(f, FileOutcome::Unknown);
        assert!(!f.is_success());
        let summary: JobSummary = serde_json::from_str(
            r#"{"version":3,"kind":"push","cancelled":false,"qubes":[
                {"qube":"work","error":null,"files":[
                    {"profile":"git","path":".gitconfig","outcome":"teleported","detail":null}]}]}"#,
        )
        .unwrap();
        assert!(!summary.is_success());
        assert_eq!(summary.failed_qubes()[0].qube, "work");
        // An unknown plan action is not a write; unknown states need attention.
        assert_eq!(PlanAction::from("merge"), PlanAction::Unknown);
        assert_eq!(SyncState::from("fine"), SyncState::Unknown);
        assert_eq!(Verdict::from("forever"), Verdict::Unknown);
        assert_eq!(JobKind::from("migrate"), JobKind::Unknown);
        assert_eq!(ProposalStatus::from("maybe"), ProposalStatus::Unknown);
        // A job error with an unknown reason code stays an error with the code shown.
        let q: QubeOutcome = serde_json::from_str(
            r#"{"qube":"work","error":{"code":"qrexec.exploded","args":{"qube":"work"}},"files":[]}"#,
        )
        .unwrap();
        assert!(!q.is_success());
        assert!(q.error.unwrap().english().contains("qrexec.exploded"));
    }

    #[test]
    fn an_unknown_line_kind_decodes_as_unknown_and_known_ones_round_trip() {
        let k: LineKind = serde_json::from_str("\"moved\"").unwrap();
        assert_eq!(k, LineKind::Unknown);
        assert_eq!(LineKind::from("hunk-header"), LineKind::HunkHeader);
        assert_eq!(
            serde_json::to_string(&LineKind::HunkHeader).unwrap(),
            "\"hunk-header\""
        );
        let line: RenderedLineView = serde_json::from_str(
            r#"{"kind":"Added","old_number":null,"new_number":1,"segments":[]}"#,
        )
        .unwrap();
        assert_eq!(line.kind, LineKind::Unknown);
    }

    #[test]
    fn an_unknown_region_kind_decodes_as_unknown() {
        let k: RegionKind = serde_json::from_str("\"merged\"").unwrap();
        assert_eq!(k, RegionKind::Unknown);
        assert_eq!(RegionKind::from("conflict"), RegionKind::Conflict);
        assert_eq!(RegionKind::from(""), RegionKind::Unknown);
    }

    #[test]
    fn an_unknown_finding_side_is_not_the_base_and_an_unknown_change_is_unknown() {
        let s: FindingSide = serde_json::from_str("\"theirs\"").unwrap();
        assert_eq!(s, FindingSide::Unknown);
        assert!(!s.is_base() && FindingSide::Base.is_base());
        let c: FindingChange = serde_json::from_str("\"renamed\"").unwrap();
        assert_eq!(c, FindingChange::Unknown);
        assert_eq!(FindingChange::from("removed"), FindingChange::Removed);
        let l: LocationView =
            serde_json::from_str(r#"{"path":"a","side":"BASE","line":null}"#).unwrap();
        assert_eq!(l.side, FindingSide::Unknown);
    }

    #[test]
    fn a_review_refusal_that_is_not_json_is_still_a_refusal() {
        let r = ReviewRefusal::parse("org.qubes.ConfigSync1.Error.ReviewRefused: nope");
        assert_eq!(r.code, Code::ReviewUnknown);
        let ok =
            ReviewRefusal::parse(r#"{"version":3,"code":"review.unacknowledged","ids":["a"]}"#);
        assert_eq!(ok.code, Code::ReviewUnacknowledged);
        assert_eq!(ok.reason().get("ids"), "a");
    }

    #[test]
    fn a_finding_message_is_translated_and_filled_once_with_the_qubes_text_as_it_is() {
        let wire = r#"{"rule":"git.core.pager","severity":"critical","side":"proposed",
            "change":"added","line":2,"span":null,"message":"core.pager = {why}<b>: runs",
            "text":{"template":"{setting} = {value}: {why}","args":[
                {"name":"setting","value":"core.pager"},
                {"name":"value","value":"{why}<b>"},
                {"name":"why","value":"runs","translate":true}],
              "more":[{"template":" ({why})","args":[{"name":"why","value":"also","translate":true}]}]},
            "why":"runs","reference":"r"}"#;
        let f: FindingView = serde_json::from_str(wire).unwrap_or_else(|e| panic!("{e}"));
        let de = |s: &str| match s {
            "runs" => "führt aus".to_owned(),
            "also" => "auch".to_owned(),
            other => other.to_owned(),
        };
        assert_eq!(
            f.message_with(&de),
            "core.pager = {why}<b>: führt aus (auch)"
        );
        // An older backend without a template: the English message.
        let old: FindingView = serde_json::from_str(&wire.replace("\"text\"", "\"unknown\""))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old.message_with(&de), "core.pager = {why}<b>: runs");
    }

    #[test]
    fn a_dbus_error_message_that_is_prose_fails_closed() {
        let e = crate::Error::NotFound("profile git does not exist".into());
        let reason = e.reason();
        assert!(matches!(reason.code, Code::Unknown(_)));
        assert_eq!(reason.get("detail"), "profile git does not exist");
        let e = crate::Error::of(
            crate::ErrorKind::Refused,
            &Reason::new(Code::QubeConfig).arg("qube", "config"),
        );
        assert_eq!(e.reason().code, Code::QubeConfig);
        assert!(!e.reason().english().contains("org.qubes"));
    }
}
