//! Job wire types: the kind of a job, its summary per qube and file outcome, and a
//! snapshot's result.
//!
//! It must not treat an unknown outcome as success.

use serde::{Deserialize, Serialize};

use super::Reason;

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
