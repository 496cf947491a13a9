//! The classification step: each setting a file type's parser reads in the
//! proposal (and did not read, with the same value, in the base) is looked up in
//! the setting classes: inert raises nothing, dangerous is critical with the
//! entry's reason, anything else is unknown (high, gated). A setting that was in the
//! base and is gone is unknown-removed when its class is not inert (it may have
//! been a protection). Also the per-hunk hits of files that have no parser: every
//! changed line range is a finding of its own, never one blanket file finding.

use std::borrow::Cow;
use std::collections::HashMap;

use super::classes::{Classes, Verdict};
use super::matching::{Detail, Doc, Hit, excerpt, matched, present_in};
use super::messages;
use super::parse::Setting;
use super::{MAX_FINDINGS_PER_RULE, ScanInput};
use crate::findings::{Change, Finding, Message, Severity, Side};

/// Rule id of a setting the classes call dangerous.
pub const RULE_DANGEROUS: &str = "setting.dangerous";
/// Rule id of a setting not known to be harmless.
pub const RULE_UNKNOWN: &str = "setting.unknown";

/// One hit per changed hunk between the base (or nothing) and the proposal: on the
/// proposal's first line of the hunk, or on the base when the hunk only removes.
/// `unparsed`: the lines are not read by any parser (else: changed).
pub(crate) fn hunk_hits(input: &ScanInput<'_>, unparsed: bool) -> Vec<Hit<'static>> {
    let diff = crate::diff::diff(input.base.unwrap_or(b""), input.content);
    diff.hunks
        .iter()
        .map(|h| {
            let (range, base, (one, many)) = if h.new_range.is_empty() {
                (
                    &h.old_range,
                    true,
                    (messages::LINE_REMOVED, messages::LINES_REMOVED),
                )
            } else if unparsed {
                (
                    &h.new_range,
                    false,
                    (messages::LINE_UNPARSED, messages::LINES_UNPARSED),
                )
            } else {
                (
                    &h.new_range,
                    false,
                    (messages::LINE_CHANGED, messages::LINES_CHANGED),
                )
            };
            let (a, b) = (range.start + 1, range.end);
            let detail = if a == b {
                Detail::Note(one, vec![("line", a.to_string())])
            } else {
                Detail::Note(many, vec![("from", a.to_string()), ("to", b.to_string())])
            };
            Hit {
                line: Some(a as u32),
                span: None,
                subject: Cow::Owned(format!("{}:{a}-{b}", if base { "b" } else { "p" })),
                value: Cow::Borrowed(""),
                detail,
                subsection: None,
                base,
            }
        })
        .collect()
}

/// Findings of the classification step for one file of type `filetype`.
pub(crate) fn classify(
    classes: &Classes,
    filetype: &str,
    input: &ScanInput<'_>,
    new_doc: &Doc<'_>,
    old_doc: Option<&Doc<'_>>,
) -> Vec<Finding> {
    let Some(Ok(new)) = &new_doc.settings else {
        return Vec::new();
    };
    let empty = Vec::new();
    let old: &Vec<Setting> = match old_doc.and_then(|d| d.settings.as_ref()) {
        Some(Ok(s)) => s,
        _ => &empty,
    };
    // Settings present on both sides (same key, context and value, as a multiset)
    // are unchanged; a new one whose key and context are in the base is changed.
    type Id<'s> = (&'s str, Option<&'s str>, Option<&'s str>);
    fn id(s: &Setting) -> Id<'_> {
        (s.key.as_str(), s.context.as_deref(), s.value.as_deref())
    }
    let new_ids: Vec<Id<'_>> = new.iter().map(id).collect();
    let old_ids: Vec<Id<'_>> = old.iter().map(id).collect();
    let (new_unchanged, old_unchanged) = matched(&new_ids, &old_ids);
    let new_slots: Vec<(&str, Option<&str>)> = new_ids.iter().map(|k| (k.0, k.1)).collect();
    let old_slots: Vec<(&str, Option<&str>)> = old_ids.iter().map(|k| (k.0, k.1)).collect();
    let in_base = present_in(&new_slots, &old_slots);
    let mut out = Sink::new(input.path);
    for (i, s) in new.iter().enumerate() {
        if new_unchanged[i] {
            continue;
        }
        let change = if in_base[i] {
            Change::Changed
        } else {
            Change::Added
        };
        match classes.classify(filetype, &s.key, s.value.as_deref()) {
            Verdict::Inert => {}
            Verdict::Dangerous { message, reference } => out.push(
                RULE_DANGEROUS,
                Severity::Critical,
                s,
                Side::Proposed,
                change,
                message,
                reference,
            ),
            Verdict::Unknown => out.push(
                RULE_UNKNOWN,
                Severity::High,
                s,
                Side::Proposed,
                change,
                messages::UNKNOWN_SETTING,
                "DESIGN §6 (whitelist: unknown settings are gated)",
            ),
        }
    }
    for (i, s) in old.iter().enumerate() {
        if old_unchanged[i] {
            continue;
        }
        if classes.classify(filetype, &s.key, s.value.as_deref()) == Verdict::Unknown {
            out.push(
                RULE_UNKNOWN,
                Severity::High,
                s,
                Side::Base,
                Change::Removed,
                messages::UNKNOWN_REMOVED,
                "DESIGN §6 (removing a protection is a finding)",
            );
        }
    }
    out.finish()
}

/// Which lines of a parsed file hold only settings the classes know to be harmless.
/// A line belongs to the nearest setting that starts on it or above it (a setting's
/// continuation lines, a here-document's body); lines above the first setting hold
/// nothing the program reads. Verdicts are looked up on demand, once per group of
/// settings that start on the same line.
pub(crate) struct InertLines<'a> {
    classes: &'a Classes,
    filetype: &'a str,
    settings: &'a [Setting],
    /// Per 1-based line (index 0 unused): 1 + the index of the first setting of the
    /// nearest line at or above it that starts settings, 0 for none. Lines past the
    /// end of the table belong to the last group.
    group: Vec<u32>,
    /// Per setting that starts a group: 0 not looked up yet, 1 inert, 2 not inert.
    memo: std::cell::RefCell<Vec<u8>>,
}

impl<'a> InertLines<'a> {
    /// `settings` must be sorted by line.
    pub(crate) fn new(classes: &'a Classes, filetype: &'a str, settings: &'a [Setting]) -> Self {
        let last_line = settings.last().map_or(0, |s| s.line as usize);
        let mut group = vec![0u32; last_line + 1];
        let mut first = 0usize;
        let mut line = 0usize;
        for (i, s) in settings.iter().enumerate() {
            let l = s.line as usize;
            if l != line {
                // Lines line..l belong to the group that started at `line`.
                for g in group.iter_mut().take(l).skip(line.max(1)) {
                    *g = if line == 0 { 0 } else { first as u32 + 1 };
                }
                first = i;
                line = l;
            }
        }
        if line > 0 {
            group[line] = first as u32 + 1;
        }
        InertLines {
            classes,
            filetype,
            settings,
            group,
            memo: std::cell::RefCell::new(vec![0; settings.len()]),
        }
    }

    /// True when every setting of `line` (1-based) is inert.
    pub(crate) fn is_inert(&self, line: u32) -> bool {
        let g = match self.group.get(line as usize) {
            Some(g) => *g,
            None => self.group.last().copied().unwrap_or(0),
        };
        let Some(first) = (g as usize).checked_sub(1) else {
            return true;
        };
        if let Some(known) = self.memo.borrow().get(first).filter(|m| **m != 0) {
            return *known == 1;
        }
        let start = self.settings[first].line;
        let inert = self.settings[first..]
            .iter()
            .take_while(|s| s.line == start)
            .all(|s| {
                self.classes
                    .classify(self.filetype, &s.key, s.value.as_deref())
                    == Verdict::Inert
            });
        if let Some(m) = self.memo.borrow_mut().get_mut(first) {
            *m = if inert { 1 } else { 2 };
        }
        inert
    }
}

/// Collects findings with the per-rule cap of the engine.
struct Sink<'p> {
    path: &'p str,
    findings: Vec<Finding>,
    /// Per rule: (listed, overflowed, worst overflow severity, first overflow line).
    counts: HashMap<&'static str, (usize, usize, Severity, Option<u32>)>,
}

impl<'p> Sink<'p> {
    fn new(path: &'p str) -> Self {
        Sink {
            path,
            findings: Vec::new(),
            counts: HashMap::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        rule: &'static str,
        severity: Severity,
        s: &Setting,
        side: Side,
        change: Change,
        why: &str,
        reference: &str,
    ) {
        let c = self
            .counts
            .entry(rule)
            .or_insert((0, 0, Severity::Info, None));
        if c.0 >= MAX_FINDINGS_PER_RULE {
            c.1 += 1;
            c.2 = c.2.max(severity);
            c.3 = c.3.or(Some(s.line));
            return;
        }
        c.0 += 1;
        let mut args = vec![("setting", excerpt(&s.key))];
        if let Some(v) = &s.value {
            args.push(("value", excerpt(v)));
        }
        if let Some(c) = &s.context {
            args.push(("context", excerpt(c)));
        }
        let template = match (&s.value, &s.context) {
            (Some(_), None) => messages::SETTING_VALUE,
            (Some(_), Some(_)) => messages::SETTING_VALUE_IN,
            (None, None) => messages::SETTING,
            (None, Some(_)) => messages::SETTING_IN,
        };
        let text = Message::new(template, &args).with_msgid("why", why);
        self.findings.push(Finding {
            rule: rule.to_string(),
            path: self.path.to_string(),
            related: Vec::new(),
            severity,
            side,
            change,
            line: Some(s.line),
            span: s.span,
            message: text.english(),
            text,
            why: why.to_string(),
            reference: reference.to_string(),
        });
    }

    fn finish(mut self) -> Vec<Finding> {
        let mut over: Vec<_> = self.counts.into_iter().filter(|(_, c)| c.1 > 0).collect();
        over.sort_by_key(|(r, _)| *r);
        for (rule, (_, count, severity, first)) in over {
            let text = Message::new(
                if count == 1 {
                    messages::ONE_MORE_SETTING
                } else {
                    messages::MORE_SETTINGS
                },
                &[
                    ("count", count.to_string()),
                    (
                        "line",
                        first.map_or_else(|| "?".to_string(), |l| l.to_string()),
                    ),
                ],
            );
            self.findings.push(Finding {
                rule: rule.to_string(),
                path: self.path.to_string(),
                related: Vec::new(),
                severity,
                side: Side::Proposed,
                change: Change::Changed,
                line: None,
                span: None,
                message: text.english(),
                text,
                why: messages::TOO_MANY_SETTINGS.to_string(),
                reference: "DESIGN §6".to_string(),
            });
        }
        self.findings
    }
}
