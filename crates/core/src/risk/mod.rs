//! The risk engine: rules as data (`rules/default.toml` and the per-type setting
//! classes `rules/<type>.toml`, shipped inside the binary), in-process parsers that
//! read each supported file type the way its program does (`parse`), the three
//! classes of every parsed setting (inert, dangerous, unknown: `classes`), content
//! rules for every file and metadata rules (mode, type, name, never-sync paths).
//!
//! Every rule is evaluated on the proposed content and, when there is one, on the
//! base (what was accepted before): a hit only in the proposal is an *added* or
//! *changed* setting, a hit only in the base is a *removed* one — removing a
//! protection is a finding like adding a danger. Fail closed: an unknown file
//! type, a file that does not parse, a setting not known to be harmless or a file
//! over the limits is a finding, never a silent pass. This module never runs git,
//! ssh, a shell or an editor on content, and never executes or expands anything it
//! reads.

mod builtin;
mod classes;
mod combine;
mod compiled;
pub mod confusable;
mod glob;
mod matching;
pub mod messages;
pub mod parse;
mod schema;
mod selftest;
mod settings;
mod sshconfig;

use std::collections::HashMap;

use serde::Deserialize;

use compiled::*;
use matching::*;

pub use crate::findings::{Change, Finding, Location, Message, MessageArg, Severity, Side, Span};
pub use classes::{Class, SETTING_FILES, Verdict};
pub use compiled::{Engine, RuleInfo};
pub use glob::matches as glob_matches;
pub use parse::git::{
    Entry as GitEntry, ParseError as GitParseError, parse_entries as parse_git_config,
};
pub use schema::{Limits, RuleCase, RuleError};
pub use sshconfig::{Entry as SshEntry, ParseError as SshParseError, parse as parse_ssh_config};

/// Findings listed per rule and file; further ones are summarised in one finding.
pub const MAX_FINDINGS_PER_RULE: usize = 50;

/// The rule file shipped with the application.
pub const DEFAULT_RULES: &str = include_str!("../../rules/default.toml");

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

impl Engine {
    /// The class of `key = value` in a file of type `filetype` (as the scan judges a
    /// parsed setting).
    pub fn classify_setting(&self, filetype: &str, key: &str, value: Option<&str>) -> Verdict<'_> {
        self.classes.classify(filetype, key, value)
    }

    /// Number of `[[setting]]` entries loaded for a file type.
    pub fn setting_count(&self, filetype: &str) -> usize {
        self.classes.count(filetype)
    }

    /// The parser id of a file type (`lines` for none).
    pub fn filetype_parser(&self, id: &str) -> Option<&str> {
        self.filetypes
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.parser.as_str())
    }

    /// Ids of the content code point rules that fire on `c` standing alone inside a
    /// line (after a letter): the other half of the shared character table's
    /// promise that every hidden character is a finding.
    pub fn char_rules(&self, c: char) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|r| match &r.matcher {
                Matcher::Codepoint {
                    ranges,
                    classes,
                    place,
                    unless_after,
                    ..
                } => {
                    *place == schema::Where::Content
                        && char_matches(ranges, classes, c)
                        && !in_ranges(unless_after, 'a' as u32)
                }
                _ => false,
            })
            .map(|r| r.id.as_str())
            .collect()
    }

    /// Every text a finding's message is made of, once each, with where it comes from:
    /// the built-in templates (`risk::messages`), each rule's `why` and each setting
    /// class's `message`. Each is verbatim a gettext msgid (`tools/rule-messages`
    /// writes them into the translation template).
    pub fn message_catalog(&self) -> Vec<(String, String)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut add = |text: &str, origin: String| {
            if seen.insert(text.to_owned()) {
                out.push((text.to_owned(), origin));
            }
        };
        for t in messages::BUILTIN {
            add(t, "crates/core/src/risk/messages.rs".to_owned());
        }
        for t in parse::ParseError::TEMPLATES {
            add(t, "crates/core/src/risk/parse/mod.rs".to_owned());
        }
        for r in &self.rules {
            add(
                &r.why,
                format!("crates/core/rules/default.toml rule {}", r.id),
            );
        }
        for (filetype, message) in self.classes.messages() {
            add(message, format!("crates/core/rules setting of {filetype}"));
        }
        out
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

    /// The file type a path is scanned as: its own, or that of the path it imitates.
    pub(crate) fn filetype_by_path(&self, path: &str) -> Option<&FileType> {
        self.filetype(path).or_else(|| {
            let (skeleton, _) = confusable::skeleton(path)?;
            self.filetype(&skeleton)
        })
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

    /// Scans the state after accept: `files` is every file of the profile as it
    /// would be after the accept (proposed files with `base` = the store's current
    /// content or `None`; unchanged store files with `content == base`). Changed
    /// files are scanned like [`Engine::scan`] (files a git config of the set
    /// includes are read as git config); unchanged files raise nothing of their own
    /// but take part in the cross-file analysis (`combine`): attributes and the
    /// driver they select, includes of another file of the set. Returns the findings
    /// per input, in order.
    pub fn scan_proposal(&self, files: &[ScanInput<'_>]) -> Vec<Vec<Finding>> {
        combine::scan_set(self, files)
    }

    /// Scans one proposed file; findings are sorted by severity (worst first),
    /// then by line.
    pub fn scan(&self, input: &ScanInput<'_>) -> Vec<Finding> {
        self.scan_typed(input, self.filetype_by_path(input.path))
    }

    /// The path a confusable path imitates: its skeleton, when that differs from the
    /// path and names a known file type or a never-sync path.
    pub fn imitated_path(&self, path: &str) -> Option<(String, Vec<confusable::Trick>)> {
        let (skeleton, tricks) = confusable::skeleton(path)?;
        (self.filetype(&skeleton).is_some() || self.is_never_sync(&skeleton))
            .then_some((skeleton, tricks))
    }

    /// Scans one file as the given file type (`None`: unknown type).
    pub(crate) fn scan_typed(&self, input: &ScanInput<'_>, ft: Option<&FileType>) -> Vec<Finding> {
        let content_changed = input.base != Some(input.content);
        let too_big = |b: &[u8]| b.len() > self.limits.max_scan_bytes;
        let parse_content = content_changed && !too_big(input.content);
        let new_doc = parse_content.then(|| Doc::new(input.content, ft.map(|f| f.parser.as_str())));
        let old_doc = match input.base {
            Some(b) if parse_content && !too_big(b) => {
                Some(Doc::new(b, ft.map(|f| f.parser.as_str())))
            }
            _ => None,
        };
        let ctx = Ctx {
            engine: self,
            input,
            filetype: ft.map(|f| f.id.as_str()),
            parsed: ft.is_some_and(|f| parse::parser(&f.parser).is_some()),
        };
        // Lines present on both sides (as a multiset) cannot carry a new or removed
        // line-local hit: computed once here instead of pairing those hits per rule.
        let common = match (&new_doc, &old_doc) {
            (Some(n), Some(o)) => Some(common_lines(n, o)),
            _ => None,
        };
        // In a parsed file the classes decide about settings (see `judges_settings`).
        let inert_lines = match (ft, &new_doc) {
            (Some(f), Some(doc)) => match &doc.settings {
                Some(Ok(s)) if s.is_sorted_by_key(|s| s.line) => {
                    Some(settings::InertLines::new(&self.classes, &f.id, s))
                }
                _ => None,
            },
            _ => None,
        };
        let mut findings = Vec::new();
        for rule in &self.rules {
            let judges_settings = rule.judges_settings();
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
                // A setting the classes know to be harmless is not flagged by a rule
                // that judges settings (medium and below stay: notices, not gates).
                if judges_settings
                    && side == Side::Proposed
                    && severity > Severity::Medium
                    && let (Some(lines), Some(line)) = (&inert_lines, hit.line)
                    && lines.is_inert(line)
                {
                    return;
                }
                let runs_code = ft.is_some_and(|f| f.runs_code);
                let severity = if runs_code && rule.escalates_for_code() {
                    Severity::Critical
                } else {
                    severity
                };
                if findings.len() - first_of_rule >= MAX_FINDINGS_PER_RULE {
                    let o = overflow.get_or_insert((0, severity, hit.line, side, change));
                    o.0 += 1;
                    o.1 = o.1.max(severity);
                    return;
                }
                let why = rule.why.clone();
                let text = hit.message(&why);
                findings.push(Finding {
                    rule: rule.id.clone(),
                    path: input.path.to_owned(),
                    related: Vec::new(),
                    severity,
                    side,
                    change,
                    line: hit.line,
                    span: hit.span.or_else(|| key_span(rule, &hit, doc)),
                    message: text.english(),
                    text,
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
                        if hit.base {
                            emit(hit, Side::Base, Change::Removed, old_doc.as_ref());
                        } else {
                            emit(hit, Side::Proposed, file_change, new_doc.as_ref());
                        }
                    }
                }
                Scope::Content => {
                    let Some(new_doc) = &new_doc else { continue };
                    let (added, removed) = match &common {
                        Some((new_common, old_common)) if rule.is_line_local() => {
                            // Hits on lines common to both sides cancel: not even
                            // collected. A line-local hit's identity is its line's
                            // text, and no line left on one side has an identical line
                            // left on the other (that is what `common_lines` matched):
                            // nothing pairs, so the remaining hits are added and
                            // removed.
                            let new_hits = ctx.content_hits(rule, new_doc, Some(new_common));
                            let old_hits = old_doc
                                .as_ref()
                                .map(|d| ctx.content_hits(rule, d, Some(old_common)))
                                .unwrap_or_default();
                            (
                                new_hits.into_iter().map(|h| (h, Change::Added)).collect(),
                                old_hits,
                            )
                        }
                        _ => {
                            let new_hits = ctx.content_hits(rule, new_doc, None);
                            let old_hits = old_doc
                                .as_ref()
                                .map(|d| ctx.content_hits(rule, d, None))
                                .unwrap_or_default();
                            pair_hits(new_hits, old_hits)
                        }
                    };
                    for (h, change) in added {
                        emit(h, Side::Proposed, change, Some(new_doc));
                    }
                    for h in removed {
                        emit(h, Side::Base, Change::Removed, old_doc.as_ref());
                    }
                }
            }
            if let Some((count, severity, first_line, side, change)) = overflow {
                let text = Message::new(
                    if count == 1 {
                        messages::ONE_MORE_FINDING
                    } else {
                        messages::MORE_FINDINGS
                    },
                    &[
                        ("count", count.to_string()),
                        (
                            "line",
                            first_line.map_or_else(|| "?".to_string(), |l| l.to_string()),
                        ),
                    ],
                )
                .with_msgid("why", rule.why.clone());
                findings.push(Finding {
                    rule: rule.id.clone(),
                    path: input.path.to_owned(),
                    related: Vec::new(),
                    severity,
                    side,
                    change,
                    line: None,
                    span: None,
                    message: text.english(),
                    text,
                    why: rule.why.clone(),
                    reference: rule.reference.clone(),
                });
            }
        }
        if content_changed && let Some((imitated, tricks)) = self.imitated_path(input.path) {
            let how: Vec<&str> = tricks.iter().map(|t| t.as_str()).collect();
            let mut args = vec![
                ("path", excerpt(input.path)),
                ("imitated", excerpt(&imitated)),
                ("tricks", how.join(", ")),
            ];
            let template = match ft {
                Some(f) => {
                    args.push(("filetype", f.id.clone()));
                    messages::CONFUSABLE
                }
                None => messages::CONFUSABLE_UNKNOWN,
            };
            let text = Message::new(template, &args);
            findings.push(Finding {
                rule: "path.confusable".to_string(),
                path: input.path.to_owned(),
                related: Vec::new(),
                severity: Severity::Critical,
                side: Side::Proposed,
                change: if input.base.is_some() {
                    Change::Changed
                } else {
                    Change::Added
                },
                line: None,
                span: None,
                message: text.english(),
                text,
                why: messages::CONFUSABLE_WHY.to_string(),
                reference: "UTS39 confusables; issue 17.3".to_string(),
            });
        }
        if let (Some(ft), Some(new_doc)) = (ft, &new_doc) {
            let classified =
                settings::classify(&self.classes, &ft.id, input, new_doc, old_doc.as_ref());
            self.merge_classified(&mut findings, classified);
        }
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.line.cmp(&b.line)));
        findings
    }

    /// Adds the classification findings, folding each into a key rule's finding on
    /// the same line (raised to the class's severity) instead of reporting twice.
    fn merge_classified(&self, findings: &mut Vec<Finding>, classified: Vec<Finding>) {
        if classified.is_empty() {
            return;
        }
        let key_rules: std::collections::HashSet<&str> = self
            .rules
            .iter()
            .filter(|r| r.is_key_rule())
            .map(|r| r.id.as_str())
            .collect();
        let mut at: HashMap<(bool, u32), usize> = HashMap::new();
        for (i, f) in findings.iter().enumerate() {
            if let Some(line) = f.line
                && key_rules.contains(f.rule.as_str())
            {
                at.entry((f.side == Side::Base, line)).or_insert(i);
            }
        }
        for c in classified {
            let same = c
                .line
                .and_then(|l| at.get(&(c.side == Side::Base, l)))
                .map(|i| &mut findings[*i]);
            match same {
                Some(f) if f.severity >= c.severity => {}
                Some(f) => {
                    f.severity = c.severity;
                    f.append(Message::new(messages::ALSO, &[]).with_msgid("why", c.why));
                }
                None => findings.push(c),
            }
        }
    }
}

/// Scans with the shipped rules.
pub fn scan(input: &ScanInput<'_>) -> Vec<Finding> {
    Engine::shared().scan(input)
}

/// True when the shipped rules say this home-relative path must never be synced.
pub fn is_never_sync(path: &str) -> bool {
    Engine::shared().is_never_sync(path)
}
