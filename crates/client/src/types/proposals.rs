//! Proposal wire types: a proposal's status, the list of pending proposals and one
//! proposal with its diff, findings and risk.
//!
//! It must not decide anything: acceptance is the backend's gate.

use serde::{Deserialize, Serialize};

use super::{DiffView, FindingView, Segment, Severity, ThreeWayView};

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
