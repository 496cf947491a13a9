//! The commands that plan or run jobs in qubes: `push`, `diff` (read-only), `snapshot`
//! (`rollback` is `history.rs`, which pushes through `push`). Jobs are followed with the client crate's one job follower; the progress bar
//! is drawn only on a terminal.

use std::io::{BufRead, Write};

use qcs_client::types::{self, PlanAction, PushPlan, SnapshotResult};
use qcs_client::{Error as ApiError, job};

use super::args::{Common, JsonOpt, PushArgs};
use super::output::{self, colour, safe, sentence};
use super::remote::{RemoteError, Session, decode, print_json};
use super::{EXIT_CLEAN, EXIT_FINDINGS};

/// Follows a job with a progress bar on a terminal; returns its summary.
pub(crate) async fn follow<F>(s: &Session, start: F) -> Result<types::JobSummary, RemoteError>
where
    F: std::future::Future<Output = Result<u64, ApiError>>,
{
    use std::io::IsTerminal;
    let bar = indicatif::ProgressBar::new(0);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} qubes {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let summary = job::run(&s.proxy, start, |p| {
        bar.set_length(u64::from(p.total));
        bar.set_position(u64::from(p.done));
        bar.set_message(
            p.qube
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .collect::<String>(),
        );
    })
    .await;
    bar.finish_and_clear();
    Ok(summary?)
}

/// The exit code of a finished job: 0 only when every qube and file went through.
fn job_code(summary: &types::JobSummary) -> u8 {
    if summary.is_success() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    }
}

fn overwrite_pairs(args: &[String]) -> Result<Vec<(&str, &str)>, RemoteError> {
    args.iter()
        .map(|o| {
            o.split_once(':').ok_or_else(|| {
                RemoteError::Usage(format!(
                    "--overwrite {}: expected QUBE:PATH",
                    o.escape_debug()
                ))
            })
        })
        .collect()
}

pub(crate) async fn plan(
    s: &Session,
    qubes: &[String],
    profiles: &[String],
    overwrite: &[(&str, &str)],
) -> Result<PushPlan, RemoteError> {
    let qubes: Vec<&str> = qubes.iter().map(String::as_str).collect();
    let profiles: Vec<&str> = profiles.iter().map(String::as_str).collect();
    decode(&s.proxy.plan_push(&qubes, &profiles, overwrite).await?)
}

/// `push`: plan, show, ask, execute with a progress bar. Exit 1 when a qube could not
/// be planned or failed, or a file was not written (conflicts included).
pub(crate) async fn push(
    out: &mut impl Write,
    s: &Session,
    args: &PushArgs,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let overwrite = overwrite_pairs(&args.overwrite)?;
    let plan = plan(s, &args.qubes, &args.profiles, &overwrite).await?;
    let counts = output::print_plan(out, &plan, args.diff, opts)?;
    out.flush()?;
    let unclean = counts.conflicts > 0 || !counts.failed_qubes.is_empty();
    // Which halted qubes to start: named, all, or asked one by one (never with -y).
    if let Some(wrong) = args.start.iter().find(|q| !counts.halted.contains(q)) {
        return Err(RemoteError::Usage(format!(
            "--start {}: not a halted qube of this plan (only a halted qube can be started; see the plan above)",
            wrong.escape_debug()
        )));
    }
    let mut start: Vec<String> = if args.start_halted {
        counts.halted.clone()
    } else {
        args.start.clone()
    };
    if !args.yes {
        let unchosen: Vec<String> = counts
            .halted
            .iter()
            .filter(|q| !start.contains(q))
            .cloned()
            .collect();
        for qube in unchosen {
            if confirm(&format!(
                "{} is halted. Start it and push to it?",
                qube.escape_debug()
            ))? {
                start.push(qube);
            }
        }
    }
    let skipped: Vec<&str> = counts
        .halted
        .iter()
        .filter(|q| !start.contains(q))
        .map(String::as_str)
        .collect();
    if counts.writes == 0 && start.is_empty() {
        for qube in &skipped {
            writeln!(
                out,
                "{}: halted, skipped: nothing sent (--start {} starts it and pushes)",
                safe(qube, opts),
                safe(qube, opts)
            )?;
        }
        if counts.failed_qubes.is_empty() {
            writeln!(out, "nothing to write")?;
        } else {
            writeln!(
                out,
                "nothing written: {} qube(s) failed: {}",
                counts.failed_qubes.len(),
                safe(&counts.failed_qubes.join(", "), opts)
            )?;
        }
        return Ok(if unclean { EXIT_FINDINGS } else { EXIT_CLEAN });
    }
    if !args.yes && !confirm("Write these files?")? {
        writeln!(out, "not pushed")?;
        return Ok(EXIT_FINDINGS);
    }
    let summary = if start.is_empty() {
        follow(s, s.proxy.execute_plan(&plan.plan_id)).await?
    } else {
        let start: Vec<&str> = start.iter().map(String::as_str).collect();
        follow(s, s.proxy.execute_plan_starting(&plan.plan_id, &start)).await?
    };
    output::print_summary(out, &summary, opts)?;
    if !counts.failed_qubes.is_empty() {
        writeln!(
            out,
            "not planned: {}",
            safe(&counts.failed_qubes.join(", "), opts)
        )?;
    }
    Ok(if unclean {
        EXIT_FINDINGS
    } else {
        job_code(&summary)
    })
}

/// `diff [QUBES]`: what a push would change, per qube, with the diffs; never executes.
pub(crate) async fn diff(
    out: &mut impl Write,
    s: &Session,
    qubes: &[String],
    profiles: &[String],
    json: JsonOpt,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let plan = plan(s, qubes, profiles, &[]).await?;
    if json.json {
        print_json(out, &plan)?;
    } else {
        output::print_plan(out, &plan, true, opts)?;
    }
    let changes = plan.qubes.iter().any(|q| {
        q.error.is_some()
            || q.power != types::PlanPower::Running
            || q.items
                .iter()
                .any(|i| !matches!(i.action, PlanAction::Unchanged))
    });
    // Like diff(1): 1 when something differs (or cannot be compared).
    Ok(if changes { EXIT_FINDINGS } else { EXIT_CLEAN })
}

pub(crate) fn confirm(question: &str) -> Result<bool, RemoteError> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `snapshot QUBE [--profile P]`.
pub(crate) async fn snapshot(
    out: &mut impl Write,
    s: &Session,
    qube: &str,
    profiles: &[String],
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let profiles: Vec<&str> = profiles.iter().map(String::as_str).collect();
    let result: SnapshotResult = decode(&s.proxy.snapshot(qube, &profiles).await?)?;
    for (path, status) in &result.paths {
        writeln!(out, "  {:<40} {}", safe(path, opts), sentence(status, opts))?;
    }
    for id in &result.proposal_ids {
        writeln!(out, "proposal #{id} created")?;
    }
    Ok(EXIT_CLEAN)
}
