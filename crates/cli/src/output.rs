//! Human output of the backend commands: plans, diffs, job summaries, proposals,
//! reasons — everything that came from a qube or the backend goes through the safe
//! terminal renderer (hidden characters become visible tokens, no escape sequence from
//! the data reaches the terminal). Reasons become English sentences from their code.

use std::io::{IsTerminal, Write};

use base64::Engine as _;
use qcs_client::Reason;
use qcs_client::types::{
    self, FileOutcome, JobSummary, LineKind, PlanAction, PlanPower, ProposalView, PushPlan,
    Severity,
};
use qcs_core::render::{self, terminal};

use super::ColourChoice;

pub fn colour(choice: ColourChoice) -> terminal::Options {
    let colour = match choice {
        ColourChoice::Always => true,
        ColourChoice::Never => false,
        ColourChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
        }
    };
    terminal::Options { colour }
}

/// Text from a qube or the backend, rendered safely for a terminal.
pub fn safe(text: &str, opts: terminal::Options) -> String {
    terminal::segments(&render::render_line(text.as_bytes()), opts)
}

/// A reason as an English sentence, safe for a terminal.
pub fn sentence(reason: &Reason, opts: terminal::Options) -> String {
    safe(&reason.english(), opts)
}

/// A wire severity for the renderer's anchors: an unknown one shows as critical.
fn severity(s: Severity) -> qcs_core::risk::Severity {
    use qcs_core::risk::Severity as C;
    match s {
        Severity::Info => C::Info,
        Severity::Low => C::Low,
        Severity::Medium => C::Medium,
        Severity::High => C::High,
        Severity::Critical | Severity::Unknown => C::Critical,
    }
}

/// Wire segments back to the renderer's, so the one terminal renderer (with its own
/// second line of defence) prints them.
pub fn core_segments(segments: &[types::Segment]) -> Vec<render::Segment> {
    use render::{Raw, TokenClass};
    segments
        .iter()
        .map(|s| match s {
            types::Segment::Text { text, changed } => render::Segment::Text {
                text: text.clone(),
                changed: *changed,
            },
            types::Segment::Token {
                class,
                label,
                changed,
            } => {
                use types::TokenClass as W;
                let class = match class {
                    W::Bidi => TokenClass::Bidi,
                    W::Invisible => TokenClass::Invisible,
                    W::Tag => TokenClass::Tag,
                    W::VariationSelector => TokenClass::VariationSelector,
                    W::OddSpace => TokenClass::OddSpace,
                    W::Control => TokenClass::Control,
                    W::InvalidByte => TokenClass::InvalidByte,
                    W::Whitespace => TokenClass::Whitespace,
                    W::Marker => TokenClass::Marker,
                    // Shown as a token, never as text.
                    W::Other | W::Unknown => TokenClass::Other,
                };
                let raw = if label == "TAB" {
                    Raw::Char('\t')
                } else {
                    Raw::Char('\u{FFFD}')
                };
                render::Segment::Token {
                    raw,
                    class,
                    label: label.clone(),
                    changed: *changed,
                }
            }
            types::Segment::FindingAnchor {
                finding,
                severity: s,
            } => render::Segment::FindingAnchor {
                finding: *finding as usize,
                severity: severity(*s),
            },
        })
        .collect()
}

pub fn print_diff(
    out: &mut impl Write,
    diff: &types::DiffView,
    opts: terminal::Options,
) -> std::io::Result<()> {
    const RED: &str = "\x1b[31m";
    const GREEN: &str = "\x1b[32m";
    const CYAN: &str = "\x1b[36m";
    const RESET: &str = "\x1b[0m";
    let mut hunk = 0;
    for line in &diff.lines {
        let body = terminal::segments(&core_segments(&line.segments), opts);
        let (sign, col) = match line.kind {
            LineKind::HunkHeader => {
                let id = diff.hunks.get(hunk).map(|h| h.id.as_str()).unwrap_or("");
                let ws = if diff.hunks.get(hunk).is_some_and(|h| h.whitespace_only) {
                    " [whitespace only]"
                } else {
                    ""
                };
                hunk += 1;
                let text = format!("{body}  hunk {}{ws}", safe(id, opts));
                if opts.colour {
                    writeln!(out, "{CYAN}{text}{RESET}")?;
                } else {
                    writeln!(out, "{text}")?;
                }
                continue;
            }
            LineKind::Removed => ('-', RED),
            // A kind this CLI does not know is shown as a change, not as context.
            LineKind::Added | LineKind::Unknown => ('+', GREEN),
            LineKind::Context => (' ', ""),
        };
        let number = line
            .new_number
            .or(line.old_number)
            .map(|n| n.to_string())
            .unwrap_or_default();
        if opts.colour && !col.is_empty() {
            writeln!(out, "{number:>5} {col}{sign}{RESET} {body}")?;
        } else {
            writeln!(out, "{number:>5} {sign} {body}")?;
        }
    }
    Ok(())
}

/// Counts of a plan: (files to write, conflicts, qubes that cannot be planned).
pub struct PlanCounts {
    pub writes: usize,
    pub conflicts: usize,
    pub failed_qubes: Vec<String>,
    /// Qubes halted when planned: not looked into; pushed only when chosen.
    pub halted: Vec<String>,
}

/// Prints a plan (with the diffs of what changes when `show_diff`).
pub fn print_plan(
    out: &mut impl Write,
    plan: &PushPlan,
    show_diff: bool,
    opts: terminal::Options,
) -> std::io::Result<PlanCounts> {
    let mut counts = PlanCounts {
        writes: 0,
        conflicts: 0,
        failed_qubes: Vec::new(),
        halted: Vec::new(),
    };
    for qube in &plan.qubes {
        writeln!(out, "{}:", safe(&qube.qube, opts))?;
        if let Some(e) = &qube.error {
            writeln!(out, "  error: {}", sentence(e, opts))?;
            counts.failed_qubes.push(qube.qube.clone());
            continue;
        }
        match qube.power {
            PlanPower::Running => {}
            PlanPower::Halted => {
                writeln!(
                    out,
                    "  halted: not looked into (planning never starts a qube); its files are \
                     planned and written only if you start it (--start {})",
                    safe(&qube.qube, opts)
                )?;
                counts.halted.push(qube.qube.clone());
                continue;
            }
            PlanPower::NotRunning | PlanPower::Unknown => {
                writeln!(
                    out,
                    "  error: power state {}: not planned, not pushed",
                    qube.power.as_str()
                )?;
                counts.failed_qubes.push(qube.qube.clone());
                continue;
            }
        }
        if qube.items.is_empty() {
            writeln!(out, "  (no files)")?;
        }
        for item in &qube.items {
            let action = match item.action {
                PlanAction::Create => "create",
                PlanAction::Update => "update",
                PlanAction::Unchanged => "unchanged",
                PlanAction::Conflict => "CONFLICT",
                PlanAction::Refused => "refused",
                PlanAction::Remove => "remove",
                PlanAction::Unknown => "UNKNOWN",
            };
            match item.action {
                PlanAction::Create | PlanAction::Update | PlanAction::Remove => counts.writes += 1,
                PlanAction::Conflict | PlanAction::Unknown => counts.conflicts += 1,
                _ => {}
            }
            write!(
                out,
                "  {action:<9} {:<8} {}",
                safe(&item.profile, opts),
                safe(&item.path, opts)
            )?;
            if let Some(reason) = &item.reason {
                write!(out, " ({})", sentence(reason, opts))?;
            }
            if item.action == PlanAction::Conflict && item.can_overwrite {
                write!(
                    out,
                    " [--overwrite {}:{}]",
                    safe(&qube.qube, opts),
                    safe(&item.path, opts)
                )?;
            }
            writeln!(out)?;
            if show_diff
                && matches!(
                    item.action,
                    PlanAction::Create
                        | PlanAction::Update
                        | PlanAction::Conflict
                        | PlanAction::Remove
                )
                && let Some(diff) = &item.diff
            {
                print_diff(out, diff, opts)?;
            }
        }
    }
    writeln!(
        out,
        "{} file(s) to write, {} conflict(s){}{}",
        counts.writes,
        counts.conflicts,
        if counts.halted.is_empty() {
            String::new()
        } else {
            format!(
                ", {} halted qube(s): {}",
                counts.halted.len(),
                safe(&counts.halted.join(", "), opts)
            )
        },
        if counts.failed_qubes.is_empty() {
            String::new()
        } else {
            format!(
                ", {} qube(s) cannot be planned: {}",
                counts.failed_qubes.len(),
                safe(&counts.failed_qubes.join(", "), opts)
            )
        }
    )?;
    Ok(counts)
}

/// Prints a job summary: each failed qube and each file not written, then the counts
/// and, when any qube failed, the line naming them.
pub fn print_summary(
    out: &mut impl Write,
    summary: &JobSummary,
    opts: terminal::Options,
) -> std::io::Result<()> {
    let mut counts: std::collections::BTreeMap<FileOutcome, usize> = Default::default();
    for qube in &summary.qubes {
        if let Some(why) = &qube.skipped {
            writeln!(
                out,
                "{}: skipped: {}",
                safe(&qube.qube, opts),
                sentence(why, opts)
            )?;
        }
        if let Some(e) = &qube.error {
            writeln!(
                out,
                "{}: error [{}]: {}",
                safe(&qube.qube, opts),
                safe(e.code.as_str(), opts),
                sentence(e, opts)
            )?;
        }
        for f in &qube.files {
            *counts.entry(f.outcome).or_default() += 1;
            if !f.outcome.is_success() && qube.error.is_none() {
                write!(
                    out,
                    "{}: {} {}",
                    safe(&qube.qube, opts),
                    f.outcome.as_str(),
                    safe(&f.path, opts)
                )?;
                if let Some(d) = &f.detail {
                    write!(out, " ({})", sentence(d, opts))?;
                }
                writeln!(out)?;
            }
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(k, v)| format!("{v} {}", k.as_str()))
        .collect();
    let parts = if parts.is_empty() {
        "no files".to_owned()
    } else {
        parts.join(", ")
    };
    writeln!(
        out,
        "{parts}{}",
        if summary.cancelled {
            " (cancelled)"
        } else {
            ""
        }
    )?;
    let failed: Vec<&str> = summary
        .failed_qubes()
        .iter()
        .map(|q| q.qube.as_str())
        .collect();
    if !failed.is_empty() {
        writeln!(
            out,
            "failed: {} of {} qube(s): {}",
            failed.len(),
            summary.qubes.len(),
            safe(&failed.join(", "), opts)
        )?;
    }
    Ok(())
}

pub fn print_proposal(
    out: &mut impl Write,
    view: &ProposalView,
    opts: terminal::Options,
) -> std::io::Result<()> {
    let s = &view.summary;
    writeln!(
        out,
        "proposal #{} · {} · profile {} · from {} · {} · {} bytes",
        s.id,
        safe(&s.path, opts),
        s.profile,
        safe(&s.source_qube, opts),
        s.status.as_str(),
        s.size
    )?;
    if let Some(mode) = &view.mode {
        writeln!(out, "mode in the qube: {mode}")?;
    }
    if !view.note.is_empty() {
        writeln!(
            out,
            "note: {}",
            terminal::segments(&core_segments(&view.note), opts)
        )?;
    }
    if view.base_b64.is_none() {
        writeln!(out, "new file (not in the profile yet)")?;
    }
    if view.findings.is_empty() {
        writeln!(out, "no findings")?;
    }
    for (i, f) in view.findings.iter().enumerate() {
        let line = f.line.map(|l| format!(" line {l}")).unwrap_or_default();
        let place = if f.path.is_empty() || f.path == s.path {
            String::new()
        } else {
            format!(" in {}", safe(&f.path, opts))
        };
        writeln!(
            out,
            "  [{}] {:<8} {}{place}{line}: {}",
            i + 1,
            f.severity.as_str(),
            safe(&f.rule, opts),
            safe(&f.message, opts)
        )?;
        if !f.why.is_empty() && !f.message.contains(&f.why) {
            writeln!(out, "             {}", safe(&f.why, opts))?;
        }
        for r in &f.related {
            let line = r.line.map(|l| format!(" line {l}")).unwrap_or_default();
            writeln!(
                out,
                "             together with {} ({}){line}",
                safe(&r.path, opts),
                r.side.as_str()
            )?;
        }
        let gate = if f.gated {
            "acknowledge to accept its hunks"
        } else {
            "shown"
        };
        let hunks = if f.hunks.is_empty() {
            String::new()
        } else {
            format!(" · hunks {}", f.hunks.join(" "))
        };
        writeln!(out, "             id {} · {gate}{hunks}", safe(&f.id, opts))?;
    }
    if !view.must_acknowledge.is_empty() {
        writeln!(
            out,
            "findings to acknowledge when accepting their hunks: {}",
            view.must_acknowledge
                .iter()
                .map(|r| format!("--ack {}", safe(r, opts)))
                .collect::<Vec<_>>()
                .join(" ")
        )?;
    }
    writeln!(out, "review digest: {}", safe(&view.digest, opts))?;
    print_diff(out, &view.diff, opts)?;
    // Make sure the proposal decodes (a client that cannot read the bytes must say so).
    if base64::engine::general_purpose::STANDARD
        .decode(&view.proposed_b64)
        .is_err()
    {
        writeln!(out, "warning: the proposed content could not be decoded")?;
    }
    Ok(())
}
