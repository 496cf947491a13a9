//! A profile's history on the command line: `generations PROFILE [--json]` lists who
//! changed what when; `rollback PROFILE GENERATION` makes a new generation equal to an
//! earlier one (after asking, or `-y`) and then pushes it like `push --profile PROFILE`:
//! the plan is shown and confirmed, so the next push carries the rollback instead of
//! silently undoing it. `undo QUBE PROFILE` restores, in one qube, what the last push of
//! the profile replaced (the agent's backup): shown first (a dry run in the qube),
//! then asked (or `-y`); the store keeps its generation, so the qube shows as drifted.
//!
//! It must not write into a qube itself: the push is `jobs::push`'s, the undo the
//! backend's.

use std::io::Write;

use clap::Args;
use qcs_client::history::{FileChange, GenerationList, UndoPlan};
use qcs_client::types::{self, FileOutcome};

use super::args::{Common, JsonOpt, PushArgs};
use super::jobs;
use super::output::{self, colour, safe, sentence};
use super::remote::{RemoteError, Session, decode, print_json};
use super::{EXIT_CLEAN, EXIT_FINDINGS};

/// `rollback` arguments.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The profile to roll back.
    #[arg(value_parser = crate::names::profile)]
    pub profile: String,
    /// The generation whose files the profile gets again (see `generations PROFILE`).
    pub generation: u64,
    /// Push only to this qube (repeat for several; default: every qube with the profile).
    #[arg(long = "qube", value_name = "QUBE", value_parser = crate::names::qube)]
    pub qubes: Vec<String>,
    /// Do not ask: roll back and push.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show the diff of each file the push changes.
    #[arg(long)]
    pub diff: bool,
    /// Start this halted qube and push to it (repeat for several).
    #[arg(long = "start", value_name = "QUBE", value_parser = crate::names::qube)]
    pub start: Vec<String>,
    /// Start every qube of the plan that is halted, and push to it.
    #[arg(long, conflicts_with = "start")]
    pub start_halted: bool,
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` UTC (the civil calendar, no time zone data).
fn utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Days to civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn mark(change: FileChange) -> &'static str {
    match change {
        FileChange::Added => "+",
        FileChange::Changed => "~",
        FileChange::Removed => "-",
        FileChange::Unknown => "?",
    }
}

/// Prints a profile's generations, newest first.
fn print_generations(
    out: &mut impl Write,
    list: &GenerationList,
    opts: qcs_core::render::terminal::Options,
) -> std::io::Result<()> {
    if list.generations.is_empty() {
        writeln!(out, "{}: no generations yet", safe(&list.profile, opts))?;
        return Ok(());
    }
    for g in list.generations.iter().rev() {
        let current = if g.number == list.current {
            " (current)"
        } else {
            ""
        };
        writeln!(
            out,
            "{:>4}  {}  {}{current}",
            g.number,
            utc(g.at),
            safe(&g.author.english(), opts)
        )?;
        for file in &g.files {
            writeln!(
                out,
                "        {} {}",
                mark(file.change),
                safe(&file.path, opts)
            )?;
        }
    }
    Ok(())
}

/// `generations PROFILE [--json]`.
pub(crate) async fn generations(
    out: &mut impl Write,
    s: &Session,
    profile: &str,
    json: JsonOpt,
    common: &Common,
) -> Result<u8, RemoteError> {
    let list: GenerationList = decode(&s.proxy.generations(profile).await?)?;
    if json.json {
        return print_json(out, &list);
    }
    print_generations(out, &list, colour(common.color))?;
    Ok(EXIT_CLEAN)
}

/// `rollback PROFILE GENERATION`: the new generation, then the push of it.
pub(crate) async fn rollback(
    out: &mut impl Write,
    s: &Session,
    args: &RollbackArgs,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let list: GenerationList = decode(&s.proxy.generations(&args.profile).await?)?;
    // What the rollback undoes: the generations after the chosen one.
    let undone: Vec<_> = list
        .generations
        .iter()
        .filter(|g| g.number > args.generation)
        .collect();
    writeln!(
        out,
        "{}: roll back from generation {} to {} (as a new generation; undoes {} generation(s)):",
        safe(&args.profile, opts),
        list.current,
        args.generation,
        undone.len()
    )?;
    for g in undone.iter().rev() {
        writeln!(
            out,
            "  {:>4}  {}  {}",
            g.number,
            utc(g.at),
            safe(&g.author.english(), opts)
        )?;
    }
    out.flush()?;
    if !args.yes && !jobs::confirm("Roll the profile back, then plan the push?")? {
        writeln!(out, "not rolled back")?;
        return Ok(EXIT_FINDINGS);
    }
    let new = s
        .proxy
        .revert_profile(&args.profile, args.generation)
        .await?;
    writeln!(
        out,
        "{}: generation {new} (rollback to generation {}); pushing it:",
        safe(&args.profile, opts),
        args.generation
    )?;
    let push = PushArgs {
        qubes: args.qubes.clone(),
        profiles: vec![args.profile.clone()],
        overwrite: Vec::new(),
        yes: args.yes,
        diff: args.diff,
        start: args.start.clone(),
        start_halted: args.start_halted,
    };
    jobs::push(out, s, &push, common).await
}

/// `undo QUBE PROFILE [-y]`.
pub(crate) async fn undo(
    out: &mut impl Write,
    s: &Session,
    qube: &str,
    profile: &str,
    yes: bool,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let plan: UndoPlan = decode(&s.proxy.plan_undo(qube, profile).await?)?;
    writeln!(
        out,
        "{}: undo the last push of {} (restores what it replaced, from the qube's backup):",
        safe(&plan.qube, opts),
        safe(&plan.profile, opts)
    )?;
    let mut changes = 0;
    for file in &plan.files {
        let what = match file.outcome {
            FileOutcome::Written => "restore",
            FileOutcome::Removed => "remove",
            FileOutcome::Unchanged => "unchanged",
            FileOutcome::Conflict => "CONFLICT",
            _ => "refused",
        };
        changes += usize::from(matches!(
            file.outcome,
            FileOutcome::Written | FileOutcome::Removed
        ));
        write!(out, "  {what:<9} {}", safe(&file.path, opts))?;
        if let Some(reason) = &file.detail {
            write!(out, " ({})", sentence(reason, opts))?;
        }
        writeln!(out)?;
    }
    if changes == 0 {
        writeln!(out, "nothing to restore")?;
        return Ok(EXIT_FINDINGS);
    }
    writeln!(
        out,
        "The store keeps {}'s current generation: afterwards {} differs from it (drifted), \
         and the next push shows these files as conflicts.",
        safe(&plan.profile, opts),
        safe(&plan.qube, opts)
    )?;
    out.flush()?;
    if !yes && !jobs::confirm("Restore these files?")? {
        writeln!(out, "not undone")?;
        return Ok(EXIT_FINDINGS);
    }
    let summary: types::JobSummary = decode(&s.proxy.undo(qube, profile, &plan.backup).await?)?;
    output::print_summary(out, &summary, opts)?;
    Ok(if summary.is_success() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_796_300_000), "2026-12-03 12:13:20");
        assert_eq!(utc(-1), "1969-12-31 23:59:59");
    }
}
