//! Review wire types: a finding's severity (the gate), its side and change, the finding
//! itself with its message as a [`Reason`]-like code, and the refusal the gate answers
//! with.
//!
//! It must not carry prose: messages are codes with arguments, translated by the caller.

use serde::{Deserialize, Serialize};

use super::{API_VERSION, Code, Reason};

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
