//! `policy check DIR`: the dom0 policy checker, locally (no backend): one line per rule
//! that causes a problem and a summary, or the full report with `--verbose`.

use std::io::Write;

use qcs_core::render::terminal;

use super::output::safe;
use super::remote::RemoteError;
use super::{EXIT_CLEAN, EXIT_FINDINGS};

/// `policy check DIR`: one line per problem, then a summary (`--verbose`: the full
/// report).
pub(crate) fn policy_check(
    out: &mut impl Write,
    dir: &std::path::Path,
    verbose: bool,
) -> Result<u8, RemoteError> {
    let policy = qrexec::Policy::load_dir(dir)
        .map_err(|e| RemoteError::Usage(format!("cannot load {}: {e}", dir.display())))?;
    let report = qrexec::checker::check(&policy, None);
    if verbose {
        out.write_all(qrexec::checker::render(&report).as_bytes())?;
    } else {
        write_problems(out, &report)?;
    }
    Ok(if report.has_over_grants() {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    })
}

/// One line per rule that causes a problem (its first finding, and how many requests
/// it concerns), then a summary line.
fn write_problems(out: &mut impl Write, report: &qrexec::checker::Report) -> std::io::Result<()> {
    use qrexec::checker::Severity;
    // (rule, severity) -> (first message, count), in order of first appearance.
    let mut groups: Vec<(String, Severity, String, usize)> = Vec::new();
    for f in &report.findings {
        let rule = f
            .rule
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "(no rule)".to_owned());
        match groups
            .iter_mut()
            .find(|(r, s, _, _)| *r == rule && *s == f.severity)
        {
            Some(group) => group.3 += 1,
            None => groups.push((rule, f.severity, f.message.clone(), 1)),
        }
    }
    let opts = terminal::Options::default();
    for (rule, severity, message, count) in &groups {
        let more = if *count > 1 {
            format!(" (and {} more like it)", count - 1)
        } else {
            String::new()
        };
        writeln!(
            out,
            "{}: {severity}: {}{more}",
            safe(rule, opts),
            safe(message, opts)
        )?;
    }
    let over = groups.iter().filter(|g| g.1 == Severity::OverGrant).count();
    let warnings = groups.len() - over;
    if groups.is_empty() {
        writeln!(
            out,
            "no problem: no grant exceeds the qubes-config-sync trust model"
        )?;
    } else {
        writeln!(
            out,
            "{} problem(s): {over} rule(s) over-grant, {warnings} rule(s) with a warning ({} finding(s) in all; --verbose for the full report)",
            groups.len(),
            report.findings.len()
        )?;
    }
    Ok(())
}
