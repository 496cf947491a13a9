//! Push plan wire types: per qube, its power state and the planned action per file.
//!
//! It must not plan: an unknown plan action is a failure, never silently skipped.

use serde::{Deserialize, Serialize};

use super::{DiffView, Reason, ThreeWayView};

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
