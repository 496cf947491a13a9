//! The wire types of a profile's history (`Generations`, see `API.md`): each generation
//! with its time, its author and the files it changed. Closed sets are enums with one
//! fail-closed fallback, like everything in [`crate::types`].
//!
//! It must not contain backend logic: it is the wire.

use serde::{Deserialize, Serialize};

/// JSON of `Generations(profile)`: oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationList {
    pub version: u32,
    pub profile: String,
    /// The profile's current generation (the last one listed, 0 when it has none).
    pub current: u64,
    pub generations: Vec<GenerationView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationView {
    pub number: u64,
    /// Unix seconds.
    pub at: i64,
    pub author: GenerationAuthor,
    pub files: Vec<GenerationFile>,
}

/// Who made a generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum GenerationAuthor {
    /// Edited (or a file removed) in the config qube.
    LocalEdit,
    /// Imported from an exported directory.
    Import,
    /// Accepted from a proposal of `qube`.
    Proposal { qube: String, proposal_id: i64 },
    /// A rollback: its content equals generation `to`.
    Rollback { to: u64 },
    /// An author this client does not know.
    #[serde(other)]
    Unknown,
}

impl GenerationAuthor {
    /// English, for the CLI (the app translates its own).
    pub fn english(&self) -> String {
        match self {
            GenerationAuthor::LocalEdit => "local edit".to_owned(),
            GenerationAuthor::Import => "import".to_owned(),
            GenerationAuthor::Proposal { qube, proposal_id } => {
                format!("accepted proposal from {qube} #{proposal_id}")
            }
            GenerationAuthor::Rollback { to } => format!("rollback to generation {to}"),
            GenerationAuthor::Unknown => "unknown".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationFile {
    pub path: String,
    pub change: FileChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileChange {
    Added,
    Changed,
    Removed,
    #[serde(other)]
    Unknown,
}

impl FileChange {
    pub fn as_str(self) -> &'static str {
        match self {
            FileChange::Added => "added",
            FileChange::Changed => "changed",
            FileChange::Removed => "removed",
            FileChange::Unknown => "unknown",
        }
    }
}

/// JSON of `PlanUndo(qube, profile)`: what undoing the last apply into the qube would do,
/// per file (`written` = restored to the version before that apply, `removed` = the
/// apply created it, `unchanged`, `conflict` = changed in the qube since, `refused`).
/// Nothing has been changed when it is returned; `Undo` with the same `backup` does it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UndoPlan {
    pub version: u32,
    pub qube: String,
    pub profile: String,
    /// The agent-side backup of that apply.
    pub backup: String,
    pub files: Vec<crate::types::FileOutcomeView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_authors_and_changes_fail_closed() {
        let a: GenerationAuthor = serde_json::from_str(r#"{"kind":"merge","by":"x"}"#).unwrap();
        assert_eq!(a, GenerationAuthor::Unknown);
        let a: GenerationAuthor =
            serde_json::from_str(r#"{"kind":"proposal","qube":"work","proposal_id":3}"#).unwrap();
        assert_eq!(a.english(), "accepted proposal from work #3");
        let c: FileChange = serde_json::from_str(r#""renamed""#).unwrap();
        assert_eq!(c, FileChange::Unknown);
        assert_eq!(
            serde_json::to_string(&GenerationAuthor::Rollback { to: 2 }).unwrap(),
            r#"{"kind":"rollback","to":2}"#
        );
    }
}
