//! The rule file's schema as serde reads it (`rules/default.toml`): file types,
//! limits, the never-sync list, rules with their matchers, escalations and stored
//! cases. It only describes the data; compiling it is `compiled`, using it `matching`.

use serde::Deserialize;

use super::FileKind;
use crate::findings::{Change, Severity};

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// Not valid TOML or not of the rule schema.
    #[error("rule file: {0}")]
    Toml(#[from] toml::de::Error),
    /// A rule is inconsistent.
    #[error("rule {rule}: {reason}")]
    Invalid {
        /// Rule id.
        rule: String,
        /// What is wrong.
        reason: String,
    },
}

// ---------------------------------------------------------------- rule schema

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFile {
    pub(crate) schema: u32,
    pub(crate) limits: Limits,
    pub(crate) never_sync: NeverSync,
    #[serde(rename = "filetype")]
    pub(crate) filetypes: Vec<FileTypeDef>,
    #[serde(rename = "rule")]
    pub(crate) rules: Vec<RuleDef>,
}

/// Size limits from the rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Above this many bytes a file is flagged as too large to review comfortably.
    pub max_bytes: usize,
    /// Above this many lines likewise.
    pub max_lines: usize,
    /// Lines longer than this (in characters) are flagged.
    pub warn_line: usize,
    /// Lines longer than this are flagged as hiding content.
    pub max_line: usize,
    /// Above this many bytes content is not parsed at all (a critical finding).
    pub max_scan_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NeverSync {
    pub(crate) globs: Vec<String>,
    #[serde(default)]
    pub(crate) except: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileTypeDef {
    pub(crate) id: String,
    pub(crate) globs: Vec<String>,
    pub(crate) parser: String,
    /// The program runs this file as code (every unparsed change is critical).
    #[serde(default)]
    pub(crate) runs_code: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Where {
    #[default]
    Content,
    Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Check {
    InvalidUtf8,
    WideEncoding,
    LoneCr,
    CrInLfFile,
    LongLine,
    VeryLongLine,
    VerticalBlank,
    Continuation,
    TrailingBlanks,
    Size,
    TooLargeToScan,
    MixedScript,
    CombiningStack,
    DuplicateKey,
    BomAtStart,
    #[serde(rename = "unknown-filetype")]
    UnknownFileType,
    Unparseable,
    UnparsedChange,
    NewPath,
    NeverSync,
    SshEarlyCatchAll,
    SshHostnameRedirect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequiresDef {
    pub(crate) keyword: String,
    pub(crate) args: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum MatchDef {
    Codepoint {
        #[serde(default)]
        ranges: Vec<String>,
        /// Reasons from the shared character table (`characters::Hidden`).
        #[serde(default)]
        classes: Vec<crate::characters::Hidden>,
        #[serde(default, rename = "where")]
        place: Where,
        #[serde(default)]
        skip_offset0: bool,
        #[serde(default)]
        unless_after: Vec<String>,
    },
    Regex {
        pattern: String,
        #[serde(default, rename = "where")]
        place: Where,
    },
    GitKey {
        key: Vec<String>,
        value: Option<String>,
        value_not: Option<String>,
    },
    SshKeyword {
        keyword: Vec<String>,
        args: Option<String>,
        args_not: Option<String>,
        requires: Option<RequiresDef>,
    },
    Path {
        globs: Vec<String>,
    },
    FileType {
        types: Vec<FileKind>,
    },
    Mode {
        any_bits: u32,
        globs: Option<Vec<String>>,
        not_globs: Option<Vec<String>>,
    },
    WholeFile {},
    Env {
        names: Vec<String>,
    },
    Builtin {
        check: Check,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EscalateDef {
    pub(crate) to: Severity,
    pub(crate) subsection: Option<String>,
    pub(crate) value: Option<String>,
    pub(crate) path: Option<Vec<String>>,
    pub(crate) file_matches: Option<String>,
}

/// A test case stored next to its rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCase {
    /// Home-relative path (defaults to a path of the rule's file type).
    pub path: Option<String>,
    /// Proposed content as text.
    pub content: Option<String>,
    /// Proposed content as hex bytes (for invalid UTF-8).
    pub content_hex: Option<String>,
    /// Repeat `content` this many times (for size and length rules).
    pub repeat: Option<usize>,
    /// Base content, if the case is about a change.
    pub base: Option<String>,
    /// Mode bits.
    pub mode: Option<u32>,
    /// Entry type.
    pub kind: Option<FileKind>,
    /// Whether the rule must fire.
    pub expect: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDef {
    pub(crate) id: String,
    /// Catalog row(s) this rule implements, e.g. `§1 U-BIDI`.
    pub(crate) rows: Vec<String>,
    pub(crate) severity: Severity,
    pub(crate) why: String,
    pub(crate) refs: Vec<String>,
    pub(crate) filetype: Option<Vec<String>>,
    pub(crate) on: Option<Vec<Change>>,
    #[serde(rename = "match")]
    pub(crate) matcher: MatchDef,
    #[serde(default)]
    pub(crate) escalate: Vec<EscalateDef>,
    #[serde(default)]
    pub(crate) case: Vec<RuleCase>,
}

// ------------------------------------------------------------ compiled rules
