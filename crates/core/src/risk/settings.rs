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
use super::matching::{Detail, Doc, Hit, excerpt};
use super::parse::Setting;
use super::{MAX_FINDINGS_PER_RULE, ScanInput};
use crate::findings::{Change, Finding, Severity, Side};

/// Rule id of a setting the classes call dangerous.
pub const RULE_DANGEROUS: &str = "setting.dangerous";
/// Rule id of a setting not known to be harmless.
pub const RULE_UNKNOWN: &str = "setting.unknown";

/// One hit per changed hunk between the base (or nothing) and the proposal: on the
/// proposal's first line of the hunk, or on the base when the hunk only removes.
pub(crate) fn hunk_hits(input: &ScanInput<'_>, what: &str) -> Vec<Hit<'static>> {
    let diff = crate::diff::diff(input.base.unwrap_or(b""), input.content);
    diff.hunks
        .iter()
        .map(|h| {
            let (range, base, verb) = if h.new_range.is_empty() {
                (&h.old_range, true, "removed")
            } else {
                (&h.new_range, false, what)
            };
            let (a, b) = (range.start + 1, range.end);
            let lines = if a == b {
                format!("line {a}")
            } else {
                format!("lines {a}–{b}")
            };
            Hit {
                line: Some(a as u32),
                span: None,
                subject: Cow::Owned(format!("{}:{a}-{b}", if base { "b" } else { "p" })),
                value: String::new(),
                detail: Detail::Text(format!("{lines} {verb}")),
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
    type Id<'s> = (&'s str, Option<&'s str>, Option<&'s str>);
    let mut old_ids: HashMap<Id<'_>, usize> = HashMap::new();
    let mut old_keys: HashMap<(&str, Option<&str>), ()> = HashMap::new();
    for s in old {
        *old_ids
            .entry((&s.key, s.context.as_deref(), s.value.as_deref()))
            .or_default() += 1;
        old_keys.insert((&s.key, s.context.as_deref()), ());
    }
    let mut new_ids: HashMap<Id<'_>, usize> = HashMap::new();
    for s in new {
        *new_ids
            .entry((&s.key, s.context.as_deref(), s.value.as_deref()))
            .or_default() += 1;
    }
    let mut out = Sink::new(input.path);
    for s in new {
        let key = (s.key.as_str(), s.context.as_deref(), s.value.as_deref());
        if let Some(n) = old_ids.get_mut(&key)
            && *n > 0
        {
            *n -= 1;
            continue;
        }
        let change = if old_keys.contains_key(&(s.key.as_str(), s.context.as_deref())) {
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
                "not known to be harmless: check what this setting does before accepting",
                "DESIGN §6 (whitelist: unknown settings are gated)",
            ),
        }
    }
    for s in old {
        let key = (s.key.as_str(), s.context.as_deref(), s.value.as_deref());
        if let Some(n) = new_ids.get_mut(&key)
            && *n > 0
        {
            *n -= 1;
            continue;
        }
        if classes.classify(filetype, &s.key, s.value.as_deref()) == Verdict::Unknown {
            out.push(
                RULE_UNKNOWN,
                Severity::High,
                s,
                Side::Base,
                Change::Removed,
                "removed, and not known to be harmless: it may have been a protection",
                "DESIGN §6 (removing a protection is a finding)",
            );
        }
    }
    out.finish()
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
        let shown = match (&s.value, &s.context) {
            (Some(v), _) => format!("{} = {}", excerpt(&s.key), excerpt(v)),
            (None, _) => excerpt(&s.key),
        };
        let context = s
            .context
            .as_deref()
            .map(|c| format!(" (in {})", excerpt(c)))
            .unwrap_or_default();
        self.findings.push(Finding {
            rule: rule.to_string(),
            path: self.path.to_string(),
            related: Vec::new(),
            severity,
            side,
            change,
            line: Some(s.line),
            span: s.span,
            message: format!("{shown}{context}: {why}"),
            why: why.to_string(),
            reference: reference.to_string(),
        });
    }

    fn finish(mut self) -> Vec<Finding> {
        let mut over: Vec<_> = self.counts.into_iter().filter(|(_, c)| c.1 > 0).collect();
        over.sort_by_key(|(r, _)| *r);
        for (rule, (_, count, severity, first)) in over {
            let plural = if count == 1 { "" } else { "s" };
            self.findings.push(Finding {
                rule: rule.to_string(),
                path: self.path.to_string(),
                related: Vec::new(),
                severity,
                side: Side::Proposed,
                change: Change::Changed,
                line: None,
                span: None,
                message: format!(
                    "{count} more setting{plural} of this class not listed (from line {})",
                    first.map_or_else(|| "?".to_string(), |l| l.to_string())
                ),
                why: "too many settings to list one by one".to_string(),
                reference: "DESIGN §6".to_string(),
            });
        }
        self.findings
    }
}
