//! The risk engine: rules as data (`rules/default.toml`, shipped inside the
//! binary), bounded in-process parsers for git config, ssh_config and line-based
//! files (shell rc, authorized_keys, known_hosts), content rules for every file and
//! metadata rules (mode, type, name, never-sync paths).
//!
//! Every rule is evaluated on the proposed content and, when there is one, on the
//! base (what was accepted before): a hit only in the proposal is an *added* or
//! *changed* setting, a hit only in the base is a *removed* one — removing a
//! protection is a finding like adding a danger. Fail closed: an unknown file
//! type, a file that does not parse, or a file over the limits is a finding, never
//! a silent pass. This module never runs git, ssh, a shell or an editor on
//! content, and never executes or expands anything it reads.

mod gitconfig;
mod glob;
pub mod parse;
mod sshconfig;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;

pub use gitconfig::{Entry as GitEntry, ParseError as GitParseError, parse as parse_git_config};
pub use glob::matches as glob_matches;
pub use sshconfig::{Entry as SshEntry, ParseError as SshParseError, parse as parse_ssh_config};

/// Findings listed per rule and file; further ones are summarised in one finding.
pub const MAX_FINDINGS_PER_RULE: usize = 50;

/// The rule file shipped with the application.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

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

/// Type of the proposed file system entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// Regular file.
    #[default]
    Regular,
    /// Symbolic link.
    Symlink,
    /// Regular file with more than one link.
    Hardlink,
    /// Directory.
    Directory,
    /// Named pipe.
    Fifo,
    /// Unix socket.
    Socket,
    /// Block or character device.
    Device,
}

/// What to scan: a proposed file, and the base it replaces when there is one.
#[derive(Debug, Clone, Copy)]
pub struct ScanInput<'a> {
    /// Path relative to the home directory (e.g. `.gitconfig`).
    pub path: &'a str,
    /// Proposed content.
    pub content: &'a [u8],
    /// Content accepted before (last pushed / store version), if any.
    pub base: Option<&'a [u8]>,
    /// Proposed mode bits, if known.
    pub mode: Option<u32>,
    /// Proposed entry type.
    pub kind: FileKind,
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
    /// What was found and why it matters.
    pub message: String,
    /// Why the rule exists (the rule's `why`).
    pub why: String,
    /// References (CVE, manual section), comma-separated.
    pub reference: String,
}

/// A rule file that could not be loaded.
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
struct RuleFile {
    schema: u32,
    limits: Limits,
    never_sync: NeverSync,
    #[serde(rename = "filetype")]
    filetypes: Vec<FileTypeDef>,
    #[serde(rename = "rule")]
    rules: Vec<RuleDef>,
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
struct NeverSync {
    globs: Vec<String>,
    #[serde(default)]
    except: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Parser {
    GitConfig,
    SshConfig,
    Lines,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTypeDef {
    id: String,
    globs: Vec<String>,
    parser: Parser,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum Where {
    #[default]
    Content,
    Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Check {
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
    NeverSync,
    SshEarlyCatchAll,
    SshHostnameRedirect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequiresDef {
    keyword: String,
    args: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum MatchDef {
    Codepoint {
        ranges: Vec<String>,
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
struct EscalateDef {
    to: Severity,
    subsection: Option<String>,
    value: Option<String>,
    path: Option<Vec<String>>,
    file_matches: Option<String>,
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
struct RuleDef {
    id: String,
    /// Catalog row(s) this rule implements, e.g. `§1 U-BIDI`.
    rows: Vec<String>,
    severity: Severity,
    why: String,
    refs: Vec<String>,
    filetype: Option<Vec<String>>,
    on: Option<Vec<Change>>,
    #[serde(rename = "match")]
    matcher: MatchDef,
    #[serde(default)]
    escalate: Vec<EscalateDef>,
    #[serde(default)]
    case: Vec<RuleCase>,
}

// ------------------------------------------------------------ compiled rules

#[derive(Debug, Clone)]
struct KeyPattern {
    section: String,
    /// `None`: no subsection; `Some(None)`: any or none; `Some(Some(s))`: exactly s.
    subsection: Option<Option<String>>,
    /// `None`: any name.
    name: Option<String>,
}

impl KeyPattern {
    fn parse(key: &str) -> Option<Self> {
        let parts: Vec<&str> = key.split('.').collect();
        let name = |n: &str| (n != "*").then(|| n.to_ascii_lowercase());
        match parts.as_slice() {
            [s, n] => Some(KeyPattern {
                section: s.to_ascii_lowercase(),
                subsection: None,
                name: name(n),
            }),
            [s, sub, n] => Some(KeyPattern {
                section: s.to_ascii_lowercase(),
                subsection: Some((*sub != "*").then(|| sub.to_string())),
                name: name(n),
            }),
            _ => None,
        }
    }

    fn matches(&self, e: &GitEntry) -> bool {
        let sub_ok = match (&self.subsection, &e.subsection) {
            (None, None) | (Some(None), _) => true,
            (Some(Some(want)), Some(have)) => want == have,
            _ => false,
        };
        sub_ok && self.name.as_ref().is_none_or(|n| *n == e.name)
    }
}

#[derive(Debug, Clone)]
enum Matcher {
    Codepoint {
        ranges: Vec<(u32, u32)>,
        place: Where,
        skip_offset0: bool,
        unless_after: Vec<(u32, u32)>,
    },
    Regex {
        re: Regex,
        place: Where,
    },
    GitKey {
        keys: Vec<KeyPattern>,
        value: Option<Regex>,
        value_not: Option<Regex>,
    },
    SshKeyword {
        keywords: Vec<String>,
        args: Option<Regex>,
        args_not: Option<Regex>,
        requires: Option<(String, Option<Regex>)>,
    },
    Path(Vec<String>),
    FileType(Vec<FileKind>),
    Mode {
        any_bits: u32,
        globs: Option<Vec<String>>,
        not_globs: Option<Vec<String>>,
    },
    WholeFile,
    Env(Regex),
    Builtin(Check),
}

#[derive(Debug, Clone)]
struct Escalate {
    to: Severity,
    subsection: Option<Regex>,
    value: Option<Regex>,
    path: Option<Vec<String>>,
    file_matches: Option<Regex>,
}

#[derive(Debug, Clone)]
struct Rule {
    id: String,
    rows: Vec<String>,
    severity: Severity,
    why: String,
    /// `refs` joined, as findings carry them.
    reference: String,
    filetypes: Option<Vec<String>>,
    on: Vec<Change>,
    matcher: Matcher,
    escalate: Vec<Escalate>,
    cases: Vec<RuleCase>,
}

#[derive(Debug, Clone)]
struct FileType {
    id: String,
    globs: Vec<String>,
    parser: Parser,
}

/// A loaded rule set.
#[derive(Debug, Clone)]
pub struct Engine {
    limits: Limits,
    never_sync: Vec<String>,
    never_sync_except: Vec<String>,
    filetypes: Vec<FileType>,
    rules: Vec<Rule>,
}

/// A rule's identity and test cases, for listing and for the rule test.
#[derive(Debug, Clone)]
pub struct RuleInfo<'a> {
    /// Rule id.
    pub id: &'a str,
    /// Catalog rows it implements.
    pub rows: &'a [String],
    /// Base severity.
    pub severity: Severity,
    /// File types it applies to (`None` = every file).
    pub filetypes: Option<&'a [String]>,
    /// Stored cases.
    pub cases: &'a [RuleCase],
}

fn parse_ranges(ranges: &[String]) -> Result<Vec<(u32, u32)>, String> {
    let mut parsed = Vec::new();
    for r in ranges {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        match (parse_codepoint(a), parse_codepoint(b)) {
            (Some(a), Some(b)) if a <= b => parsed.push((a, b)),
            _ => return Err(format!("bad code point range {r}")),
        }
    }
    Ok(parsed)
}

fn parse_codepoint(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim().strip_prefix("U+")?, 16).ok()
}

/// Makes `\b` and `\B` ASCII word boundaries: a Unicode boundary forces the
/// regex crate off its DFA onto a slow NFA whenever the text is not pure ASCII,
/// which a hostile file can always arrange.
fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(b @ ('b' | 'B')) => {
                    out.push_str("(?-u:\\");
                    out.push(b);
                    out.push(')');
                }
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn regex(rule: &str, pattern: &str) -> Result<Regex, RuleError> {
    // Size limits keep a rule file from building a huge automaton.
    regex::RegexBuilder::new(&ascii_word_boundaries(pattern))
        .size_limit(4 << 20)
        .build()
        .map_err(|e| RuleError::Invalid {
            rule: rule.to_string(),
            reason: format!("bad regex {pattern:?}: {e}"),
        })
}

fn env_regex(rule: &str, names: &[String]) -> Result<Regex, RuleError> {
    let alternatives: Vec<String> = names
        .iter()
        .map(|n| regex::escape(n).replace(r"\*", "[A-Za-z0-9_]*"))
        .collect();
    regex(
        rule,
        &format!(
            r"(?m)^[ \t]*(?:export[ \t]+|declare[ \t]+-[a-zA-Z]*x[a-zA-Z]*[ \t]+|typeset[ \t]+-x[ \t]+|set[ \t]+-[a-zA-Z]*x[a-zA-Z]*[ \t]+|setenv[ \t]+|Environment=[\x22']?|DefaultEnvironment=[\x22']?)?(?:{})(?:=|[ \t]+\S)",
            alternatives.join("|")
        ),
    )
}

impl Engine {
    /// The rules shipped with the application (a copy of [`Engine::shared`]).
    pub fn load_default() -> Engine {
        Engine::shared().clone()
    }

    /// The shipped rules, parsed once per process.
    pub fn shared() -> &'static Engine {
        static DEFAULT: OnceLock<Engine> = OnceLock::new();
        DEFAULT.get_or_init(|| {
            // The file is compiled in and its every rule is exercised by
            // `cargo test`; failing here is a build defect, not bad input.
            #[allow(clippy::expect_used)]
            Engine::from_toml(DEFAULT_RULES).expect("the shipped rule file is valid")
        })
    }

    /// Loads a rule file in the format of `rules/default.toml`.
    pub fn from_toml(text: &str) -> Result<Engine, RuleError> {
        let file: RuleFile = toml::from_str(text)?;
        if file.schema != 1 {
            return Err(RuleError::Invalid {
                rule: "schema".into(),
                reason: format!("unsupported schema {}", file.schema),
            });
        }
        let filetypes: Vec<FileType> = file
            .filetypes
            .into_iter()
            .map(|f| FileType {
                id: f.id,
                globs: f.globs,
                parser: f.parser,
            })
            .collect();
        let mut rules = Vec::with_capacity(file.rules.len());
        for def in file.rules {
            let id = def.id.clone();
            let invalid = |reason: String| RuleError::Invalid {
                rule: id.clone(),
                reason,
            };
            if let Some(fts) = &def.filetype
                && let Some(unknown) = fts.iter().find(|f| !filetypes.iter().any(|t| &t.id == *f))
            {
                return Err(invalid(format!("unknown filetype {unknown}")));
            }
            if rules.iter().any(|r: &Rule| r.id == def.id) {
                return Err(invalid("duplicate rule id".into()));
            }
            let opt_re = |p: &Option<String>| p.as_deref().map(|p| regex(&id, p)).transpose();
            let matcher = match def.matcher {
                MatchDef::Codepoint {
                    ranges,
                    place,
                    skip_offset0,
                    unless_after,
                } => Matcher::Codepoint {
                    ranges: parse_ranges(&ranges).map_err(invalid)?,
                    place,
                    skip_offset0,
                    unless_after: parse_ranges(&unless_after).map_err(invalid)?,
                },
                MatchDef::Regex { pattern, place } => Matcher::Regex {
                    re: regex(&id, &pattern)?,
                    place,
                },
                MatchDef::GitKey {
                    key,
                    value,
                    value_not,
                } => Matcher::GitKey {
                    keys: key
                        .iter()
                        .map(|k| {
                            KeyPattern::parse(k).ok_or_else(|| invalid(format!("bad key {k}")))
                        })
                        .collect::<Result<_, _>>()?,
                    value: opt_re(&value)?,
                    value_not: opt_re(&value_not)?,
                },
                MatchDef::SshKeyword {
                    keyword,
                    args,
                    args_not,
                    requires,
                } => Matcher::SshKeyword {
                    keywords: keyword.iter().map(|k| k.to_ascii_lowercase()).collect(),
                    args: opt_re(&args)?,
                    args_not: opt_re(&args_not)?,
                    requires: match requires {
                        Some(r) => Some((r.keyword.to_ascii_lowercase(), opt_re(&r.args)?)),
                        None => None,
                    },
                },
                MatchDef::Path { globs } => Matcher::Path(globs),
                MatchDef::FileType { types } => Matcher::FileType(types),
                MatchDef::Mode {
                    any_bits,
                    globs,
                    not_globs,
                } => Matcher::Mode {
                    any_bits,
                    globs,
                    not_globs,
                },
                MatchDef::WholeFile {} => Matcher::WholeFile,
                MatchDef::Env { names } => Matcher::Env(env_regex(&id, &names)?),
                MatchDef::Builtin { check } => Matcher::Builtin(check),
            };
            let mut escalate = Vec::new();
            for e in &def.escalate {
                escalate.push(Escalate {
                    to: e.to,
                    subsection: opt_re(&e.subsection)?,
                    value: opt_re(&e.value)?,
                    path: e.path.clone(),
                    file_matches: opt_re(&e.file_matches)?,
                });
            }
            if def.refs.is_empty() {
                return Err(invalid("a rule needs at least one reference".into()));
            }
            rules.push(Rule {
                id: def.id,
                rows: def.rows,
                severity: def.severity,
                why: def.why,
                reference: def.refs.join(", "),
                filetypes: def.filetype,
                on: def
                    .on
                    .unwrap_or_else(|| vec![Change::Added, Change::Changed]),
                matcher,
                escalate,
                cases: def.case,
            });
        }
        Ok(Engine {
            limits: file.limits,
            never_sync: file.never_sync.globs,
            never_sync_except: file.never_sync.except,
            filetypes,
            rules,
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// All rules with their cases.
    pub fn rules(&self) -> impl Iterator<Item = RuleInfo<'_>> {
        self.rules.iter().map(|r| RuleInfo {
            id: &r.id,
            rows: &r.rows,
            severity: r.severity,
            filetypes: r.filetypes.as_deref(),
            cases: &r.cases,
        })
    }

    /// Globs of a file type (for building case paths and listings).
    pub fn filetype_globs(&self, id: &str) -> Option<&[String]> {
        self.filetypes
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.globs.as_slice())
    }

    /// The id of the file type of a home-relative path, if known.
    pub fn filetype_of(&self, path: &str) -> Option<&str> {
        self.filetype(path).map(|f| f.id.as_str())
    }

    fn filetype(&self, path: &str) -> Option<&FileType> {
        self.filetypes
            .iter()
            .find(|f| f.globs.iter().any(|g| glob::matches(g, path)))
    }

    /// True when the path must never be synced (secrets, histories, derived files).
    pub fn is_never_sync(&self, path: &str) -> bool {
        self.never_sync.iter().any(|g| glob::matches(g, path))
            && !self
                .never_sync_except
                .iter()
                .any(|g| glob::matches(g, path))
    }

    /// Scans the files of one proposal (or push) together: each like [`Engine::scan`],
    /// then two cross-file adjustments. An include (`git.include`, `ssh.include`) whose
    /// every target is another file of the same proposal drops from critical/high to
    /// high/medium, since that content is reviewed alongside. A git diff, filter or
    /// merge driver that a global attributes file of the proposal maps to every file
    /// (`* filter=x`) becomes critical: it then runs in every repository.
    /// Returns the findings per input, in order.
    pub fn scan_proposal(&self, files: &[ScanInput<'_>]) -> Vec<Vec<Finding>> {
        let paths: std::collections::HashSet<&str> = files.iter().map(|f| f.path).collect();
        let broad_drivers = self.broad_attribute_drivers(files);
        files
            .iter()
            .map(|file| {
                let mut findings = self.scan(file);
                let includes_reviewed = |line: u32| -> bool {
                    let targets = include_targets(file, line);
                    !targets.is_empty()
                        && targets
                            .iter()
                            .all(|t| t.as_deref().is_some_and(|t| paths.contains(t)))
                };
                for f in &mut findings {
                    let driver_kind = match f.rule.as_str() {
                        "git.diff.driver" => Some("diff"),
                        "git.filter.driver" => Some("filter"),
                        "git.merge.driver" => Some("merge"),
                        _ => None,
                    };
                    if let (Some(kind), Some(line), Side::Proposed) = (driver_kind, f.line, f.side)
                        && let Some(name) = git_subsection_at(file, line)
                        && broad_drivers.contains(&(kind, name.clone()))
                    {
                        f.severity = Severity::Critical;
                        f.message.push_str(&format!(
                            " (an attributes file of this proposal selects {kind}={name} for every file)"
                        ));
                    }
                    let lowered = match f.rule.as_str() {
                        "git.include" | "ssh.include" if f.side == Side::Proposed => {
                            f.line.is_some_and(&includes_reviewed)
                        }
                        _ => false,
                    };
                    if lowered {
                        f.severity = match f.severity {
                            Severity::Critical => Severity::High,
                            _ => Severity::Medium,
                        };
                        f.message
                            .push_str(" (the included file is part of this proposal)");
                    }
                }
                findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.line.cmp(&b.line)));
                findings
            })
            .collect()
    }

    /// Scans one proposed file; findings are sorted by severity (worst first),
    /// then by line.
    pub fn scan(&self, input: &ScanInput<'_>) -> Vec<Finding> {
        let ft = self.filetype(input.path);
        let content_changed = input.base != Some(input.content);
        let too_big = |b: &[u8]| b.len() > self.limits.max_scan_bytes;
        let parse_content = content_changed && !too_big(input.content);
        let new_doc = parse_content.then(|| Doc::new(input.content, ft.map(|f| f.parser)));
        let old_doc = match input.base {
            Some(b) if parse_content && !too_big(b) => Some(Doc::new(b, ft.map(|f| f.parser))),
            _ => None,
        };
        let ctx = Ctx {
            engine: self,
            input,
            filetype: ft.map(|f| f.id.as_str()),
        };
        // Lines present on both sides (as a multiset) cannot carry a new or removed
        // line-local hit: computed once here instead of pairing those hits per rule.
        let common = match (&new_doc, &old_doc) {
            (Some(n), Some(o)) => Some(common_lines(n, o)),
            _ => None,
        };
        let mut findings = Vec::new();
        for rule in &self.rules {
            if let Some(fts) = &rule.filetypes
                && !ft.is_some_and(|f| fts.contains(&f.id))
            {
                continue;
            }
            let file_change = if input.base.is_some() {
                Change::Changed
            } else {
                Change::Added
            };
            let first_of_rule = findings.len();
            // Beyond MAX_FINDINGS_PER_RULE a rule's findings are summarised in one,
            // at the worst severity seen: bounded memory and a reviewable list.
            let mut overflow: Option<(usize, Severity, Option<u32>, Side, Change)> = None;
            let mut emit = |hit: Hit, side: Side, change: Change, doc: Option<&Doc<'_>>| {
                if !rule.on.contains(&change) {
                    return;
                }
                let severity = rule
                    .escalate
                    .iter()
                    .filter(|e| e.applies(&hit, input.path, doc))
                    .map(|e| e.to)
                    .fold(rule.severity, Severity::max);
                if findings.len() - first_of_rule >= MAX_FINDINGS_PER_RULE {
                    let o = overflow.get_or_insert((0, severity, hit.line, side, change));
                    o.0 += 1;
                    o.1 = o.1.max(severity);
                    return;
                }
                let why = rule.why.clone();
                findings.push(Finding {
                    rule: rule.id.clone(),
                    path: input.path.to_owned(),
                    related: Vec::new(),
                    severity,
                    side,
                    change,
                    line: hit.line,
                    span: hit.span.or_else(|| key_span(rule, &hit, doc)),
                    message: match hit.detail_text() {
                        d if d.is_empty() => why.clone(),
                        d => format!("{d}: {why}"),
                    },
                    why,
                    reference: rule.reference.clone(),
                });
            };
            match rule.scope() {
                Scope::Meta => {
                    for hit in ctx.meta_hits(rule) {
                        emit(hit, Side::Proposed, file_change, new_doc.as_ref());
                    }
                }
                Scope::File => {
                    if !content_changed {
                        continue;
                    }
                    for hit in ctx.file_hits(rule, new_doc.as_ref()) {
                        emit(hit, Side::Proposed, file_change, new_doc.as_ref());
                    }
                }
                Scope::Content => {
                    let Some(new_doc) = &new_doc else { continue };
                    let mut new_hits = ctx.content_hits(rule, new_doc);
                    let mut old_hits = old_doc
                        .as_ref()
                        .map(|d| ctx.content_hits(rule, d))
                        .unwrap_or_default();
                    if let Some((new_common, old_common)) = &common
                        && rule.is_line_local()
                    {
                        let keep = |common: &[bool], h: &Hit<'_>| {
                            !h.line
                                .and_then(|l| common.get(l as usize - 1))
                                .is_some_and(|c| *c)
                        };
                        new_hits.retain(|h| keep(new_common, h));
                        old_hits.retain(|h| keep(old_common, h));
                    }
                    let (added, removed) = pair_hits(new_hits, old_hits);
                    for (h, change) in added {
                        emit(h, Side::Proposed, change, Some(new_doc));
                    }
                    for h in removed {
                        emit(h, Side::Base, Change::Removed, old_doc.as_ref());
                    }
                }
            }
            if let Some((count, severity, first_line, side, change)) = overflow {
                let plural = if count == 1 { "" } else { "s" };
                findings.push(Finding {
                    rule: rule.id.clone(),
                    path: input.path.to_owned(),
                    related: Vec::new(),
                    severity,
                    side,
                    change,
                    line: None,
                    span: None,
                    message: format!(
                        "{count} more finding{plural} of this rule not listed (from line {}): {}",
                        first_line.map_or_else(|| "?".to_string(), |l| l.to_string()),
                        rule.why
                    ),
                    why: rule.why.clone(),
                    reference: rule.reference.clone(),
                });
            }
        }
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.line.cmp(&b.line)));
        findings
    }
}

impl Engine {
    /// `(kind, driver)` pairs that a git attributes file among `files` selects for
    /// every path (`*`, `**`, `**/*`, `*.*` patterns).
    fn broad_attribute_drivers(
        &self,
        files: &[ScanInput<'_>],
    ) -> std::collections::HashSet<(&'static str, String)> {
        let mut drivers = std::collections::HashSet::new();
        for f in files {
            if self.filetype_of(f.path) != Some("git-attributes") {
                continue;
            }
            let text = String::from_utf8_lossy(f.content);
            for line in text.lines() {
                let mut words = line.split_whitespace();
                let Some(pattern) = words.next() else {
                    continue;
                };
                if !matches!(pattern, "*" | "**" | "**/*" | "*.*" | "/*" | "/**") {
                    continue;
                }
                for attr in words {
                    for kind in ["diff", "filter", "merge"] {
                        if let Some(name) =
                            attr.strip_prefix(kind).and_then(|r| r.strip_prefix('='))
                        {
                            drivers.insert((kind, name.to_string()));
                        }
                    }
                }
            }
        }
        drivers
    }
}

/// The subsection of the git setting on `line` (the driver name of `diff.<name>.*`).
fn git_subsection_at(file: &ScanInput<'_>, line: u32) -> Option<String> {
    gitconfig::parse(file.content)
        .ok()?
        .into_iter()
        .find(|e| e.line == line)?
        .subsection
}

/// Home-relative targets of the include setting on `line` of a git config or
/// ssh_config; `None` for a target that cannot be resolved (absolute outside a
/// home, a glob, a variable).
fn include_targets(file: &ScanInput<'_>, line: u32) -> Vec<Option<String>> {
    let dir = file.path.rsplit_once('/').map_or("", |(d, _)| d);
    let resolve = |raw: &str, relative_to: &str| -> Option<String> {
        if raw.contains(['*', '?', '[', '$', '%']) || raw.split('/').any(|c| c == "..") {
            return None;
        }
        let rel = if let Some(r) = raw.strip_prefix("~/") {
            r.to_string()
        } else if let Some(rest) = raw.strip_prefix("/home/") {
            rest.split_once('/')?.1.to_string()
        } else if raw.starts_with('/') || raw.starts_with('~') {
            return None;
        } else if relative_to.is_empty() {
            raw.to_string()
        } else {
            format!("{relative_to}/{raw}")
        };
        Some(rel.trim_start_matches("./").to_string())
    };
    let Ok(text) = std::str::from_utf8(file.content) else {
        return Vec::new();
    };
    if let Ok(entries) = gitconfig::parse(file.content)
        && let Some(e) = entries.iter().find(|e| {
            e.line == line
                && e.name == "path"
                && matches!(e.section.as_str(), "include" | "includeif")
        })
    {
        return vec![e.value.as_deref().and_then(|v| resolve(v, dir))];
    }
    if let Ok(entries) = sshconfig::parse(text.as_bytes())
        && let Some(e) = entries
            .iter()
            .find(|e| e.line == line && e.keyword == "include")
    {
        // Relative ssh includes are relative to ~/.ssh.
        return e.args.iter().map(|a| resolve(a, ".ssh")).collect();
    }
    Vec::new()
}

/// Scans with the shipped rules.
pub fn scan(input: &ScanInput<'_>) -> Vec<Finding> {
    Engine::shared().scan(input)
}

/// True when the shipped rules say this home-relative path must never be synced.
pub fn is_never_sync(path: &str) -> bool {
    Engine::shared().is_never_sync(path)
}

// ------------------------------------------------------------------ matching

/// Splits hits into those only in the proposal (added, or changed when the same
/// subject has another value in the base) and those only in the base (removed).
/// Hits on both sides with the same subject and value are unchanged: dropped.
fn pair_hits<'d>(
    new_hits: Vec<Hit<'d>>,
    old_hits: Vec<Hit<'d>>,
) -> (Vec<(Hit<'d>, Change)>, Vec<Hit<'d>>) {
    if old_hits.is_empty() {
        return (
            new_hits.into_iter().map(|h| (h, Change::Added)).collect(),
            Vec::new(),
        );
    }
    // Decide with borrowed keys first, then move the hits out.
    let (new_unchanged, old_unchanged, changed) = {
        let mut old_ids: HashMap<(&str, &str), usize> = HashMap::with_capacity(old_hits.len());
        let mut old_subjects: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for h in &old_hits {
            *old_ids.entry((&h.subject, &h.value)).or_default() += 1;
            old_subjects.insert(&h.subject);
        }
        let mut new_ids: HashMap<(&str, &str), usize> = HashMap::with_capacity(new_hits.len());
        for h in &new_hits {
            *new_ids.entry((&h.subject, &h.value)).or_default() += 1;
        }
        fn take<'a>(ids: &mut HashMap<(&'a str, &'a str), usize>, h: &'a Hit<'_>) -> bool {
            match ids.get_mut(&(h.subject.as_ref(), h.value.as_str())) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            }
        }
        let old_unchanged: Vec<bool> = old_hits.iter().map(|h| take(&mut new_ids, h)).collect();
        let new_unchanged: Vec<bool> = new_hits.iter().map(|h| take(&mut old_ids, h)).collect();
        let changed: Vec<bool> = new_hits
            .iter()
            .map(|h| old_subjects.contains(h.subject.as_ref()))
            .collect();
        (new_unchanged, old_unchanged, changed)
    };
    let added = new_hits
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !new_unchanged[*i])
        .map(|(i, h)| {
            (
                h,
                if changed[i] {
                    Change::Changed
                } else {
                    Change::Added
                },
            )
        })
        .collect();
    let removed = old_hits
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !old_unchanged[*i])
        .map(|(_, h)| h)
        .collect();
    (added, removed)
}

enum Scope {
    Meta,
    File,
    Content,
}

/// Where a parsed key or keyword sits in its line (for anchors in the review pane),
/// found case-insensitively; only computed for hits that become findings.
fn key_span(rule: &Rule, hit: &Hit<'_>, doc: Option<&Doc<'_>>) -> Option<Span> {
    let name = match rule.matcher {
        Matcher::GitKey { .. } => hit.subject.rsplit('.').next()?,
        Matcher::SshKeyword { .. } => hit.subject.rsplit('|').next()?,
        _ => return None,
    };
    let line = doc?.line((hit.line? as usize).checked_sub(1)?);
    let start = line.to_ascii_lowercase().find(name)?;
    Some(Span {
        start,
        end: start + name.len(),
    })
}

/// For each line of `new` and of `old`: whether an identical line is on the other
/// side (multiset matching, so a duplicated line only matches once).
fn common_lines(new: &Doc<'_>, old: &Doc<'_>) -> (Vec<bool>, Vec<bool>) {
    let mut old_index: HashMap<&str, Vec<usize>> = HashMap::with_capacity(old.line_count());
    for (i, l) in old.lines() {
        old_index.entry(l).or_default().push(i);
    }
    let mut old_common = vec![false; old.line_count()];
    let new_common = new
        .lines()
        .map(|(_, l)| match old_index.get_mut(l).and_then(Vec::pop) {
            Some(j) => {
                old_common[j] = true;
                true
            }
            None => false,
        })
        .collect();
    (new_common, old_common)
}

impl Rule {
    /// Whether each hit depends only on its own line's text (not on other lines
    /// or on file-wide properties), so hits on lines common to both sides cancel.
    fn is_line_local(&self) -> bool {
        matches!(
            self.matcher,
            Matcher::Codepoint { .. } | Matcher::Regex { .. } | Matcher::Env(_)
        )
    }

    fn scope(&self) -> Scope {
        match &self.matcher {
            Matcher::FileType(_) | Matcher::Mode { .. } => Scope::Meta,
            Matcher::Path(_) | Matcher::WholeFile => Scope::File,
            Matcher::Codepoint { place, .. } | Matcher::Regex { place, .. }
                if *place == Where::Path =>
            {
                Scope::File
            }
            Matcher::Builtin(
                Check::Size
                | Check::TooLargeToScan
                | Check::UnknownFileType
                | Check::Unparseable
                | Check::NeverSync
                | Check::WideEncoding
                | Check::BomAtStart,
            ) => Scope::File,
            _ => Scope::Content,
        }
    }
}

impl Escalate {
    fn applies(&self, hit: &Hit, path: &str, doc: Option<&Doc<'_>>) -> bool {
        self.subsection
            .as_ref()
            .is_none_or(|re| hit.subsection.as_deref().is_some_and(|s| re.is_match(s)))
            && self.value.as_ref().is_none_or(|re| re.is_match(&hit.value))
            && self
                .path
                .as_ref()
                .is_none_or(|g| g.iter().any(|g| glob::matches(g, path)))
            && self
                .file_matches
                .as_ref()
                .is_none_or(|re| doc.is_some_and(|d| re.is_match(&d.text)))
    }
}

/// What a hit says, formatted only when it becomes a finding (most hits on
/// unchanged lines never do).
#[derive(Debug, Clone)]
enum Detail<'d> {
    Text(String),
    /// A hidden character found in a line.
    Char(char),
    /// A line quoted as an excerpt.
    Excerpt(&'d str),
    /// `subject = value` (a parsed setting).
    KeyValue,
    /// The hit's subject is set again; `first` is the line of the first setting.
    Duplicate {
        first: u32,
        winner: &'static str,
    },
}

#[derive(Debug, Clone)]
struct Hit<'d> {
    line: Option<u32>,
    span: Option<Span>,
    /// What the hit is about (key, keyword, line text); with `value` it is the
    /// identity used to tell added, changed and removed apart.
    subject: Cow<'d, str>,
    value: String,
    detail: Detail<'d>,
    subsection: Option<String>,
}

impl Hit<'_> {
    fn file(detail: impl Into<String>) -> Hit<'static> {
        Hit {
            line: None,
            span: None,
            subject: Cow::Borrowed(""),
            value: String::new(),
            detail: Detail::Text(detail.into()),
            subsection: None,
        }
    }

    fn detail_text(&self) -> String {
        let line = self.line.unwrap_or(0);
        match &self.detail {
            Detail::Text(t) => t.clone(),
            Detail::Char(c) => {
                let label = crate::render::classify(*c)
                    .map_or_else(|| format!("U+{:04X}", *c as u32), |(_, l)| l);
                format!("{label} in line {line}")
            }
            Detail::Excerpt(text) => format!("line {line}: {}", excerpt(text)),
            Detail::KeyValue => format!("{} = {}", excerpt(&self.subject), excerpt(&self.value)),
            Detail::Duplicate { first, winner } => format!(
                "{} set again (first in line {first}); the {winner} one wins",
                excerpt(&self.subject)
            ),
        }
    }
}

/// Decoded content with line index and (lazily) parsed structure.
struct Doc<'a> {
    raw: &'a [u8],
    text: Cow<'a, str>,
    line_starts: Vec<usize>,
    /// Non-ASCII or control characters (other than `\n`/`\t`) with byte offsets.
    unusual: Vec<(usize, char)>,
    git: Option<Result<Vec<GitEntry>, GitParseError>>,
    /// Indices of git entries per section, so each key rule looks only at its sections.
    git_sections: HashMap<String, Vec<usize>>,
    ssh: Option<Result<Vec<SshEntry>, SshParseError>>,
}

impl<'a> Doc<'a> {
    fn new(raw: &'a [u8], parser: Option<Parser>) -> Doc<'a> {
        let text = String::from_utf8_lossy(raw);
        // One pass over the bytes: line starts, and every character that is not
        // plain ASCII text (decoded only where a non-ASCII byte starts).
        let mut line_starts = vec![0];
        let mut unusual = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                if b == b'\n' {
                    line_starts.push(i + 1);
                } else if (b < 0x20 && b != b'\t') || b == 0x7f {
                    unusual.push((i, b as char));
                }
                i += 1;
            } else {
                // `i` is always on a character boundary here.
                let Some(c) = text[i..].chars().next() else {
                    break;
                };
                unusual.push((i, c));
                i += c.len_utf8();
            }
        }
        let git = (parser == Some(Parser::GitConfig)).then(|| gitconfig::parse(raw));
        let mut git_sections: HashMap<String, Vec<usize>> = HashMap::new();
        if let Some(Ok(entries)) = &git {
            for (i, e) in entries.iter().enumerate() {
                match git_sections.get_mut(&e.section) {
                    Some(v) => v.push(i),
                    None => {
                        git_sections.insert(e.section.clone(), vec![i]);
                    }
                }
            }
        }
        Doc {
            raw,
            git,
            git_sections,
            ssh: (parser == Some(Parser::SshConfig)).then(|| sshconfig::parse(raw)),
            text,
            line_starts,
            unusual,
        }
    }

    fn line_count(&self) -> usize {
        if self.text.ends_with('\n') || self.text.is_empty() {
            self.line_starts.len() - 1
        } else {
            self.line_starts.len()
        }
    }

    /// 0-based line index of a byte offset.
    fn line_index(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|s| *s <= offset) - 1
    }

    /// Line text without its `\n`.
    fn line(&self, index: usize) -> &str {
        let start = self.line_starts[index];
        let end = self
            .line_starts
            .get(index + 1)
            .map_or(self.text.len(), |e| e - 1);
        &self.text[start..end.max(start)]
    }

    fn lines(&self) -> impl Iterator<Item = (usize, &str)> {
        (0..self.line_count()).map(|i| (i, self.line(i)))
    }

    fn line_hit(&self, index: usize, span: Option<Span>, detail: String) -> Hit<'_> {
        self.line_hit_with(index, span, Detail::Text(detail))
    }

    fn line_hit_with<'s>(
        &'s self,
        index: usize,
        span: Option<Span>,
        detail: Detail<'s>,
    ) -> Hit<'s> {
        Hit {
            line: Some(index as u32 + 1),
            span,
            subject: Cow::Borrowed(self.line(index)),
            value: String::new(),
            detail,
            subsection: None,
        }
    }
}

/// One line, shortened and made safe to quote in a message.
fn excerpt(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars().take(80) {
        if crate::render::classify(c).is_none() || c == ' ' {
            out.push(c);
        } else {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        }
    }
    if s.trim().chars().count() > 80 {
        out.push('…');
    }
    out
}

struct Ctx<'e, 'i> {
    engine: &'e Engine,
    input: &'i ScanInput<'i>,
    filetype: Option<&'e str>,
}

fn is_combining(u: u32) -> bool {
    matches!(u, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Letters of scripts that contain look-alikes of Latin letters.
fn is_confusable_script_letter(c: char) -> bool {
    matches!(c as u32, 0x0370..=0x03FF | 0x0400..=0x052F | 0x0530..=0x058F | 0x13A0..=0x13FF | 0xFF21..=0xFF5A)
}

impl Ctx<'_, '_> {
    fn meta_hits(&self, rule: &Rule) -> Vec<Hit<'static>> {
        match &rule.matcher {
            Matcher::FileType(types) if types.contains(&self.input.kind) => {
                vec![Hit::file(
                    format!("entry is a {:?}", self.input.kind).to_lowercase(),
                )]
            }
            Matcher::Mode {
                any_bits,
                globs,
                not_globs,
            } => {
                let path = self.input.path;
                let in_scope = globs
                    .as_ref()
                    .is_none_or(|g| g.iter().any(|g| glob::matches(g, path)))
                    && !not_globs
                        .as_ref()
                        .is_some_and(|g| g.iter().any(|g| glob::matches(g, path)));
                match self.input.mode {
                    Some(mode) if in_scope && mode & any_bits != 0 => {
                        vec![Hit::file(format!("mode {mode:04o}"))]
                    }
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn file_hits(&self, rule: &Rule, doc: Option<&Doc<'_>>) -> Vec<Hit<'static>> {
        let path = self.input.path;
        let content = self.input.content;
        let limits = &self.engine.limits;
        match &rule.matcher {
            Matcher::Path(globs) => match globs.iter().find(|g| glob::matches(g, path)) {
                Some(g) => vec![Hit::file(format!("path {} matches {g}", excerpt(path)))],
                None => Vec::new(),
            },
            Matcher::WholeFile => {
                let first_changed = doc.map(|d| {
                    let base = self
                        .input
                        .base
                        .map(|b| String::from_utf8_lossy(b).into_owned());
                    let base_lines: Vec<&str> = base
                        .as_deref()
                        .map_or(Vec::new(), |b| b.split('\n').collect());
                    d.lines()
                        .find(|(i, l)| base_lines.get(*i) != Some(l))
                        .map(|(i, _)| i as u32 + 1)
                });
                let mut hit = Hit::file(format!("{} is executed as code", excerpt(path)));
                hit.line = first_changed.flatten();
                vec![hit]
            }
            Matcher::Regex {
                re,
                place: Where::Path,
            } => match re.find(path) {
                Some(m) => vec![Hit::file(format!(
                    "path {} at byte {}",
                    excerpt(path),
                    m.start()
                ))],
                None => Vec::new(),
            },
            Matcher::Codepoint {
                ranges,
                place: Where::Path,
                ..
            } => match path.chars().find(|c| in_ranges(ranges, *c as u32)) {
                Some(c) => vec![Hit::file(format!("U+{:04X} in the path", c as u32))],
                None => Vec::new(),
            },
            Matcher::Builtin(check) => match check {
                Check::Size => {
                    let lines = content.iter().filter(|b| **b == b'\n').count();
                    if content.len() > limits.max_bytes || lines > limits.max_lines {
                        vec![Hit::file(format!("{} bytes, {lines} lines", content.len()))]
                    } else {
                        Vec::new()
                    }
                }
                Check::TooLargeToScan if content.len() > limits.max_scan_bytes => {
                    vec![Hit::file(format!(
                        "{} bytes, over the {} byte scan limit: not parsed",
                        content.len(),
                        limits.max_scan_bytes
                    ))]
                }
                Check::UnknownFileType if self.filetype.is_none() => {
                    vec![Hit::file(format!("no rules know {}", excerpt(path)))]
                }
                Check::Unparseable => {
                    let err = doc.and_then(|d| match (&d.git, &d.ssh) {
                        (Some(Err(e)), _) => Some(e.to_string()),
                        (_, Some(Err(e))) => Some(e.to_string()),
                        _ => None,
                    });
                    err.map(|e| vec![Hit::file(format!("does not parse: {e}"))])
                        .unwrap_or_default()
                }
                Check::NeverSync if self.engine.is_never_sync(path) => {
                    vec![Hit::file(format!(
                        "{} is on the never-sync list",
                        excerpt(path)
                    ))]
                }
                Check::WideEncoding => {
                    let wide = [&b"\xFF\xFE"[..], b"\xFE\xFF", b"\x00\x00\xFE\xFF"];
                    if wide.iter().any(|bom| content.starts_with(bom)) {
                        vec![Hit::file("UTF-16/32 byte order mark")]
                    } else {
                        Vec::new()
                    }
                }
                Check::BomAtStart if content.starts_with(b"\xEF\xBB\xBF") => {
                    let mut hit = Hit::file("UTF-8 byte order mark at the start");
                    hit.line = Some(1);
                    vec![hit]
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    fn content_hits<'d>(&self, rule: &Rule, doc: &'d Doc<'_>) -> Vec<Hit<'d>> {
        let mut hits = Vec::new();
        match &rule.matcher {
            Matcher::Codepoint {
                ranges,
                skip_offset0,
                unless_after,
                ..
            } => {
                let mut last_line = usize::MAX;
                for &(offset, c) in &doc.unusual {
                    if (*skip_offset0 && offset == 0) || !in_ranges(ranges, c as u32) {
                        continue;
                    }
                    // e.g. an emoji presentation selector right after an emoji
                    let after_allowed = doc.text[..offset]
                        .chars()
                        .next_back()
                        .is_some_and(|p| in_ranges(unless_after, p as u32));
                    if after_allowed {
                        continue;
                    }
                    let li = doc.line_index(offset);
                    if li == last_line {
                        continue;
                    }
                    last_line = li;
                    let start = offset - doc.line_starts[li];
                    let span = Span {
                        start,
                        end: start + c.len_utf8(),
                    };
                    hits.push(doc.line_hit_with(li, Some(span), Detail::Char(c)));
                }
            }
            Matcher::Regex { re, .. } | Matcher::Env(re) => {
                let mut last_line = usize::MAX;
                for m in re.find_iter(&doc.text) {
                    let li = doc.line_index(m.start());
                    if li == last_line {
                        continue;
                    }
                    last_line = li;
                    let start = m.start() - doc.line_starts[li];
                    let end = (m.end() - doc.line_starts[li])
                        .min(doc.line(li).len())
                        .max(start);
                    hits.push(doc.line_hit_with(
                        li,
                        Some(Span { start, end }),
                        Detail::Excerpt(doc.line(li)),
                    ));
                }
            }
            Matcher::GitKey {
                keys,
                value,
                value_not,
            } => {
                let Some(Ok(entries)) = &doc.git else {
                    return hits;
                };
                let mut sections: Vec<&str> = keys.iter().map(|k| k.section.as_str()).collect();
                sections.sort_unstable();
                sections.dedup();
                let lists: Vec<&Vec<usize>> = sections
                    .iter()
                    .filter_map(|s| doc.git_sections.get(*s))
                    .collect();
                // One section (the usual case) is already in file order.
                let merged: Vec<usize>;
                let candidates: &[usize] = match lists.as_slice() {
                    [] => &[],
                    [one] => one,
                    many => {
                        let mut all: Vec<usize> =
                            many.iter().flat_map(|l| l.iter().copied()).collect();
                        all.sort_unstable();
                        merged = all;
                        &merged
                    }
                };
                for e in candidates.iter().map(|i| &entries[*i]) {
                    if !keys.iter().any(|k| k.section == e.section && k.matches(e)) {
                        continue;
                    }
                    let v = e.value.as_deref().unwrap_or("true");
                    if value.as_ref().is_some_and(|re| !re.is_match(v))
                        || value_not.as_ref().is_some_and(|re| re.is_match(v))
                    {
                        continue;
                    }
                    hits.push(Hit {
                        line: Some(e.line),
                        span: None,
                        subject: Cow::Owned(e.full_key()),
                        value: v.to_string(),
                        detail: Detail::KeyValue,
                        subsection: e.subsection.clone(),
                    });
                }
            }
            Matcher::SshKeyword {
                keywords,
                args,
                args_not,
                requires,
            } => {
                let Some(Ok(entries)) = &doc.ssh else {
                    return hits;
                };
                if let Some((kw, re)) = requires {
                    let present = entries.iter().any(|e| {
                        &e.keyword == kw && re.as_ref().is_none_or(|re| re.is_match(&e.args_text()))
                    });
                    if !present {
                        return hits;
                    }
                }
                for e in entries {
                    if !keywords.contains(&e.keyword) {
                        continue;
                    }
                    let a = e.args_text();
                    if args.as_ref().is_some_and(|re| !re.is_match(&a))
                        || args_not.as_ref().is_some_and(|re| re.is_match(&a))
                    {
                        continue;
                    }
                    let block = e.block.map(|b| entries[b].args_text()).unwrap_or_default();
                    hits.push(Hit {
                        line: Some(e.line),
                        span: None,
                        subject: Cow::Owned(format!("{}|{}", block, e.keyword)),
                        value: a.clone(),
                        detail: Detail::Text(format!("{} {}", e.keyword, excerpt(&a))),
                        subsection: None,
                    });
                }
            }
            Matcher::Builtin(check) => self.builtin_content(*check, doc, &mut hits),
            _ => {}
        }
        hits
    }

    fn builtin_content<'d>(&self, check: Check, doc: &'d Doc<'_>, hits: &mut Vec<Hit<'d>>) {
        let limits = &self.engine.limits;
        match check {
            Check::InvalidUtf8 => {
                let mut offset = 0;
                let mut last_line = usize::MAX;
                // Count lines over the raw bytes: the decoded text has other offsets.
                let mut line = 0;
                let mut scanned = 0;
                for chunk in doc.raw.utf8_chunks() {
                    let len = chunk.valid().len() + chunk.invalid().len();
                    if !chunk.invalid().is_empty() {
                        let bad_at = offset + chunk.valid().len();
                        line += doc.raw[scanned..bad_at]
                            .iter()
                            .filter(|b| **b == b'\n')
                            .count();
                        scanned = bad_at;
                        if line != last_line {
                            last_line = line;
                            let bytes: Vec<String> = chunk
                                .invalid()
                                .iter()
                                .map(|b| format!("0x{b:02X}"))
                                .collect();
                            let mut hit = doc.line_hit(
                                line.min(doc.line_count().saturating_sub(1)),
                                None,
                                format!("invalid UTF-8 {} in line {}", bytes.join(" "), line + 1),
                            );
                            hit.line = Some(line as u32 + 1);
                            hits.push(hit);
                        }
                    }
                    offset += len;
                }
            }
            Check::LoneCr | Check::CrInLfFile => {
                // A CRLF file ends every terminated line in CR; anything else is LF.
                let terminated = doc.line_starts.len() - 1;
                let crlf_file =
                    terminated > 0 && (0..terminated).all(|i| doc.line(i).ends_with('\r'));
                for (i, l) in doc.lines() {
                    let has_cr = match check {
                        // A CR not directly before the line's LF.
                        Check::LoneCr => {
                            let before_lf = i < terminated;
                            let body = if before_lf {
                                l.strip_suffix('\r').unwrap_or(l)
                            } else {
                                l
                            };
                            body.contains('\r')
                        }
                        _ => !crlf_file && l.ends_with('\r') && i < terminated,
                    };
                    if has_cr {
                        let at = l.find('\r').unwrap_or(0);
                        hits.push(doc.line_hit(
                            i,
                            Some(Span {
                                start: at,
                                end: at + 1,
                            }),
                            format!("carriage return in line {}", i + 1),
                        ));
                    }
                }
            }
            Check::LongLine | Check::VeryLongLine => {
                let limit = if check == Check::LongLine {
                    limits.warn_line
                } else {
                    limits.max_line
                };
                for (i, l) in doc.lines() {
                    if l.len() > limit {
                        let cols = l.chars().count();
                        if cols > limit {
                            let mut hit = doc.line_hit(
                                i,
                                None,
                                format!("line {} has {cols} characters", i + 1),
                            );
                            // Identity by length and hash-like prefix keeps the map small.
                            hit.subject = Cow::Owned(format!("{}:{}", cols, excerpt(l)));
                            hits.push(hit);
                        }
                    }
                }
            }
            Check::VerticalBlank => {
                let mut run = 0;
                for (i, l) in doc.lines() {
                    if l.trim().is_empty() {
                        run += 1;
                    } else {
                        if run >= 20 {
                            hits.push(doc.line_hit(
                                i,
                                None,
                                format!("{run} blank lines before line {}", i + 1),
                            ));
                        }
                        run = 0;
                    }
                }
            }
            Check::Continuation => {
                for (i, l) in doc.lines() {
                    let t = l.trim_end_matches([' ', '\t', '\r']);
                    let backslashes = t.len() - t.trim_end_matches('\\').len();
                    if backslashes % 2 == 1 {
                        let hint = if t.len() < l.trim_end_matches('\r').len() {
                            " (followed by blanks)"
                        } else {
                            ""
                        };
                        hits.push(doc.line_hit(
                            i,
                            None,
                            format!("line {} continues onto the next{hint}", i + 1),
                        ));
                    }
                }
            }
            Check::TrailingBlanks => {
                for (i, l) in doc.lines() {
                    let body = l.strip_suffix('\r').unwrap_or(l);
                    if body.ends_with([' ', '\t']) {
                        let start = body.trim_end_matches([' ', '\t']).len();
                        hits.push(doc.line_hit(
                            i,
                            Some(Span {
                                start,
                                end: body.len(),
                            }),
                            format!("trailing blanks in line {}", i + 1),
                        ));
                    }
                }
            }
            Check::MixedScript => {
                for (i, l) in doc.lines() {
                    let mixed = l
                        .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
                        .find(|tok| {
                            tok.chars().any(|c| c.is_ascii_alphabetic())
                                && tok.chars().any(is_confusable_script_letter)
                        });
                    if let Some(tok) = mixed {
                        let start = tok.as_ptr() as usize - l.as_ptr() as usize;
                        hits.push(doc.line_hit(
                            i,
                            Some(Span {
                                start,
                                end: start + tok.len(),
                            }),
                            format!("mixed-script word {} in line {}", excerpt(tok), i + 1),
                        ));
                    }
                }
            }
            Check::CombiningStack => {
                let mut last_line = usize::MAX;
                let mut run = 0;
                let mut prev_end = usize::MAX;
                for &(offset, c) in &doc.unusual {
                    if is_combining(c as u32) {
                        run = if offset == prev_end { run + 1 } else { 1 };
                        prev_end = offset + c.len_utf8();
                        let li = doc.line_index(offset);
                        if run >= 3 && li != last_line {
                            last_line = li;
                            hits.push(doc.line_hit(
                                li,
                                None,
                                format!("stacked combining marks in line {}", li + 1),
                            ));
                        }
                    } else {
                        run = 0;
                    }
                }
            }
            Check::DuplicateKey => self.duplicates(doc, hits),
            Check::SshEarlyCatchAll => {
                let Some(Ok(entries)) = &doc.ssh else { return };
                let blocks: Vec<&SshEntry> = entries
                    .iter()
                    .filter(|e| e.keyword == "host" || e.keyword == "match")
                    .collect();
                for (k, e) in blocks.iter().enumerate() {
                    let catch_all = (e.keyword == "host" && e.args == ["*"])
                        || (e.keyword == "match"
                            && e.args
                                .first()
                                .is_some_and(|a| a.eq_ignore_ascii_case("all")));
                    if catch_all && k + 1 < blocks.len() {
                        hits.push(Hit {
                            line: Some(e.line),
                            span: None,
                            subject: Cow::Owned(format!("{} {}", e.keyword, e.args_text())),
                            value: String::new(),
                            detail: Detail::Text(format!(
                                "{} {} comes before {} more specific block(s)",
                                e.keyword,
                                e.args_text(),
                                blocks.len() - k - 1
                            )),
                            subsection: None,
                        });
                    }
                }
            }
            Check::SshHostnameRedirect => {
                let Some(Ok(entries)) = &doc.ssh else { return };
                for e in entries.iter().filter(|e| e.keyword == "hostname") {
                    let Some(b) = e.block else { continue };
                    let block = &entries[b];
                    if block.keyword != "host" {
                        continue;
                    }
                    let target = e.args_text();
                    let redirected = block.args.iter().find(|p| {
                        p.contains('.')
                            && !p.contains(['*', '?', '!'])
                            && !p.eq_ignore_ascii_case(&target)
                    });
                    if let Some(p) = redirected {
                        hits.push(Hit {
                            line: Some(e.line),
                            span: None,
                            subject: Cow::Owned(format!("{}|hostname", block.args_text())),
                            value: target.clone(),
                            detail: Detail::Text(format!(
                                "host {} connects to {}",
                                excerpt(p),
                                excerpt(&target)
                            )),
                            subsection: None,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    fn duplicates(&self, doc: &Doc<'_>, hits: &mut Vec<Hit<'_>>) {
        const GIT_MULTI: [&str; 8] = [
            "path",
            "fetch",
            "push",
            "insteadof",
            "pushinsteadof",
            "helper",
            "extraheader",
            "directory",
        ];
        const SSH_MULTI: [&str; 11] = [
            "host",
            "match",
            "identityfile",
            "certificatefile",
            "localforward",
            "remoteforward",
            "dynamicforward",
            "sendenv",
            "setenv",
            "include",
            "canonicaldomains",
        ];
        if let Some(Ok(entries)) = &doc.git {
            let mut seen: HashMap<(&str, Option<&str>, &str), u32> = HashMap::new();
            for e in entries
                .iter()
                .filter(|e| !GIT_MULTI.contains(&e.name.as_str()))
            {
                let key = (e.section.as_str(), e.subsection.as_deref(), e.name.as_str());
                let first = *seen.entry(key).or_insert(e.line);
                if first != e.line {
                    hits.push(Hit {
                        line: Some(e.line),
                        span: None,
                        subject: Cow::Owned(e.full_key()),
                        value: e.value.clone().unwrap_or_default(),
                        detail: Detail::Duplicate {
                            first,
                            winner: "last",
                        },
                        subsection: None,
                    });
                }
            }
        }
        if let Some(Ok(entries)) = &doc.ssh {
            let mut seen: HashMap<(Option<usize>, &str), u32> = HashMap::new();
            for e in entries
                .iter()
                .filter(|e| !SSH_MULTI.contains(&e.keyword.as_str()))
            {
                let first = *seen.entry((e.block, &e.keyword)).or_insert(e.line);
                if first != e.line {
                    hits.push(Hit {
                        line: Some(e.line),
                        span: None,
                        subject: Cow::Owned(e.keyword.clone()),
                        value: e.args_text(),
                        detail: Detail::Duplicate {
                            first,
                            winner: "first",
                        },
                        subsection: None,
                    });
                }
            }
        }
    }
}

fn in_ranges(ranges: &[(u32, u32)], u: u32) -> bool {
    ranges.iter().any(|(a, b)| *a <= u && u <= *b)
}

impl RuleCase {
    /// The proposed bytes of this case.
    pub fn content_bytes(&self) -> Result<Vec<u8>, String> {
        match (&self.content, &self.content_hex) {
            (Some(text), None) => Ok(text.repeat(self.repeat.unwrap_or(1)).into_bytes()),
            (None, Some(hex)) => {
                let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
                if !digits.len().is_multiple_of(2) {
                    return Err("odd number of hex digits".into());
                }
                digits
                    .chunks(2)
                    .map(|p| {
                        std::str::from_utf8(p)
                            .ok()
                            .and_then(|s| u8::from_str_radix(s, 16).ok())
                            .ok_or_else(|| format!("bad hex {:?}", String::from_utf8_lossy(p)))
                    })
                    .collect()
            }
            (None, None) => Ok(Vec::new()),
            (Some(_), Some(_)) => Err("both content and content_hex".into()),
        }
    }
}
