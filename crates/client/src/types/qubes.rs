//! Qube and profile wire types: the qube list (sync state per profile, persistence
//! verdicts), a profile with its files.
//!
//! It must not compute states: the backend does; unknown values need attention.

use serde::{Deserialize, Serialize};

use super::Reason;

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
