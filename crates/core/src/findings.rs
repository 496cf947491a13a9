//! What the risk engine reports: a [`Finding`] with its [`Severity`], where it is
//! ([`Side`], line, [`Span`]) and the other parts of a combination ([`Location`]).
//! A leaf module: the renderer and the review use these types without depending
//! on the engine. It decides nothing.

use serde::Deserialize;

/// How bad a finding is (reference risk-catalog §0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Low risk on its own; shown.
    Info,
    /// Worth a look, not a danger on its own.
    Low,
    /// Weakens a protection or makes a later attack easier.
    Medium,
    /// Code execution or a leak after a less routine action; silent redirection of trust.
    High,
    /// Runs attacker-chosen code or leaks secrets with no further action.
    Critical,
}

impl Severity {
    /// The gate rule (DESIGN §6): a finding must be acknowledged before accept iff
    /// its severity is high (unknown, unparsed) or critical (dangerous).
    pub fn gates(self) -> bool {
        self >= Severity::High
    }

    /// `critical`, `high`, `medium`, `low` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Byte range inside a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start byte offset in the (decoded) line.
    pub start: usize,
    /// End byte offset, exclusive.
    pub end: usize,
}

/// Which content a finding's line number refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The proposed content (also used for file-level findings).
    Proposed,
    /// The base: the finding is about something the proposal removes.
    Base,
}

impl Side {
    /// `proposed` or `base`, as the CLI, D-Bus and Python report it.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Proposed => "proposed",
            Side::Base => "base",
        }
    }
}

/// How the matched content differs from the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Not in the base (or there is no base).
    #[serde(rename = "add")]
    Added,
    /// The same key or subject is in the base with another value.
    #[serde(rename = "change")]
    Changed,
    /// In the base, gone from the proposal.
    #[serde(rename = "remove")]
    Removed,
}

impl Change {
    /// `added`, `changed` or `removed`, as the CLI, D-Bus and Python report it.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Removed => "removed",
        }
    }
}

/// A place in one file of the reviewed set (the other part of a finding that depends
/// on a combination of files, e.g. an attributes file and the driver it selects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Path relative to home of the file.
    pub path: String,
    /// Whether `line` refers to the proposed content or to the base.
    pub side: Side,
    /// 1-based line, `None` for the whole file.
    pub line: Option<u32>,
}

/// A finding's message as a translatable template and its named arguments. The
/// template is verbatim a gettext msgid: a rule file's text or a constant of
/// `risk::messages` (every one is in `po/qubes-config-sync.pot`). An argument is
/// either text shown as it is (numbers, excerpts of the file, already made safe to
/// quote) or, with `translate`, a msgid itself (a rule's reason). `more` are
/// further sentences appended to this one (each with its own leading blank).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Text with `{name}` placeholders.
    pub template: String,
    /// The placeholders' values.
    pub args: Vec<MessageArg>,
    /// Appended sentences, in order.
    pub more: Vec<Message>,
}

/// One named argument of a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageArg {
    /// The placeholder's name, without braces.
    pub name: String,
    /// Its value.
    pub value: String,
    /// The value is a msgid to translate before filling (a rule's reason).
    pub translate: bool,
}

impl Message {
    /// A message of a template and plain-text arguments.
    pub fn new(template: impl Into<String>, args: &[(&str, String)]) -> Message {
        Message {
            template: template.into(),
            args: args
                .iter()
                .map(|(name, value)| MessageArg {
                    name: (*name).to_owned(),
                    value: value.clone(),
                    translate: false,
                })
                .collect(),
            more: Vec::new(),
        }
    }

    /// Adds an argument whose value is a msgid (translated before filling).
    pub fn with_msgid(mut self, name: &str, msgid: impl Into<String>) -> Message {
        self.args.push(MessageArg {
            name: name.to_owned(),
            value: msgid.into(),
            translate: true,
        });
        self
    }

    /// The English text (no translation).
    pub fn english(&self) -> String {
        self.fill(&|s: &str| s.to_owned())
    }

    /// The text with `translate` applied to the template and to every msgid argument.
    /// One pass over the template: a value is never scanned for placeholders again
    /// (text from a file cannot expand one), and an unknown placeholder stays as written.
    pub fn fill(&self, translate: &dyn Fn(&str) -> String) -> String {
        let template = translate(&self.template);
        let values: Vec<(&str, std::borrow::Cow<'_, str>)> = self
            .args
            .iter()
            .map(|a| {
                let v = if a.translate {
                    std::borrow::Cow::Owned(translate(&a.value))
                } else {
                    std::borrow::Cow::Borrowed(a.value.as_str())
                };
                (a.name.as_str(), v)
            })
            .collect();
        let mut out = String::with_capacity(template.len());
        let mut rest = template.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let value = after.find('}').and_then(|close| {
                let name = &after[..close];
                values
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (v, close))
            });
            match value {
                Some((v, close)) => {
                    out.push_str(v);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        for m in &self.more {
            out.push_str(&m.fill(translate));
        }
        out
    }
}

/// One risk found in a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Rule id, e.g. `git.core.fsmonitor`.
    pub rule: String,
    /// The file the finding is in (path relative to home).
    pub path: String,
    /// The other parts of a finding that depends on a combination of files; empty
    /// for a finding that stands on its own.
    pub related: Vec<Location>,
    /// Severity after escalation.
    pub severity: Severity,
    /// Whether `line` refers to the proposal or to the base.
    pub side: Side,
    /// Added, changed or removed.
    pub change: Change,
    /// 1-based line, `None` for file-level findings.
    pub line: Option<u32>,
    /// Where in the line, when known.
    pub span: Option<Span>,
    /// What was found and why it matters, in English (`text` filled).
    pub message: String,
    /// The same as a template and arguments, for translation.
    pub text: Message,
    /// Why the rule exists (the rule's `why`).
    pub why: String,
    /// References (CVE, manual section), comma-separated.
    pub reference: String,
}

impl Finding {
    /// Appends a sentence to the message (both the English text and the template).
    pub fn append(&mut self, more: Message) {
        self.message.push_str(&more.english());
        self.text.more.push(more);
    }

    /// Whether accept is blocked until this finding is acknowledged.
    pub fn gated(&self) -> bool {
        self.severity.gates()
    }
}
