//! Wire types of targeting: assignment rules (a profile for every qube with a tag, on a
//! template, or of a class) and what brought each profile to a qube.
//!
//! Closed sets are enums with the fail-closed fallback `Unknown`: a source this client
//! does not know is shown as unknown, never as a single assignment.
//!
//! It must not evaluate rules (the backend does, live from the Admin API).

use serde::{Deserialize, Serialize};

use crate::reason::Reason;

/// What brought a profile to a qube (and the kind of a rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// Assigned to the qube by name.
    Single,
    /// A rule: every qube with the tag.
    Tag,
    /// A rule: every qube whose `template` property names the value.
    Template,
    /// A rule: every qube of the class.
    Class,
    #[serde(other)]
    Unknown,
}

impl SourceKind {
    /// As on the wire (`unknown` for an unknown value).
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Single => "single",
            SourceKind::Tag => "tag",
            SourceKind::Template => "template",
            SourceKind::Class => "class",
            SourceKind::Unknown => "unknown",
        }
    }

    /// The rule kinds a user can name (`tag`, `template`, `class`).
    pub fn from_rule_kind(text: &str) -> Option<SourceKind> {
        match text {
            "tag" => Some(SourceKind::Tag),
            "template" => Some(SourceKind::Template),
            "class" => Some(SourceKind::Class),
            _ => None,
        }
    }
}

impl From<&str> for SourceKind {
    fn from(name: &str) -> SourceKind {
        serde_json::from_value(serde_json::Value::String(name.to_owned()))
            .unwrap_or(SourceKind::Unknown)
    }
}

/// One reason a profile is assigned to a qube.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AssignmentSource {
    pub kind: SourceKind,
    /// The tag, template or class of a rule; `""` for a single assignment.
    #[serde(default)]
    pub value: String,
}

impl AssignmentSource {
    /// `assigned`, `tag dev`, `template fedora-40`, `class DispVM` (English, for the CLI).
    pub fn english(&self) -> String {
        match self.kind {
            SourceKind::Single => "assigned".to_owned(),
            SourceKind::Unknown => format!("unknown source {}", self.value),
            kind => format!("{} {}", kind.as_str(), self.value),
        }
    }
}

/// One assignment rule and the qubes it covers now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleView {
    /// `tag`, `template` or `class` (never `single`).
    pub kind: SourceKind,
    pub value: String,
    pub profile: String,
    /// The qubes the rule covers at this moment (from the live Admin API view; never
    /// dom0 or the config qube).
    pub covers: Vec<String>,
}

/// Result of `ListAssignmentRules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleList {
    pub version: u32,
    pub rules: Vec<RuleView>,
    /// Set when the qubes could not be listed: `covers` is then empty.
    #[serde(default)]
    pub admin_error: Option<Reason>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_sources_fail_closed_and_known_ones_round_trip() {
        for kind in [
            SourceKind::Single,
            SourceKind::Tag,
            SourceKind::Template,
            SourceKind::Class,
        ] {
            assert_eq!(SourceKind::from(kind.as_str()), kind);
        }
        assert_eq!(SourceKind::from("owner"), SourceKind::Unknown);
        let source: AssignmentSource =
            serde_json::from_str(r#"{"kind":"label","value":"red"}"#).unwrap();
        assert_eq!(source.kind, SourceKind::Unknown);
        assert!(source.english().starts_with("unknown"));
        assert_eq!(SourceKind::from_rule_kind("single"), None);
    }
}
