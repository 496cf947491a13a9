//! The `qvm-config-sync` commands that talk to the backend over D-Bus
//! (`DBUS_SESSION_BUS_ADDRESS`), in the style of the qvm-* tools.
//!
//! Everything printed that came from a qube (paths, notes, contents, rule messages about
//! them) goes through the safe terminal renderer: hidden characters become visible
//! tokens, no escape sequence from the data reaches the terminal.
//!
//! Exit codes: 0 success; 1 the command ran but the outcome is not clean (push with
//! conflicts or failures, refused accept, declined prompt); 2 error (backend
//! unreachable, bad usage, backend error).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use base64::Engine as _;
use clap::{Args, Subcommand};
use futures_lite::StreamExt;
use qcs_core::render::{self, terminal};
use qcs_core::risk::Severity;

use super::{ColourChoice, EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};
use crate::client::types::{
    self, JobSummary, PlanAction, ProposalList, ProposalView, PushPlan, QubeList, ReviewRefusal,
    SnapshotResult,
};
use crate::client::{ConfigSyncProxy, Error as ApiError};

/// Failure of a backend command (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot reach the backend (is qubes-config-syncd running?): {0}")]
    Connect(zbus::Error),
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("D-Bus: {0}")]
    Bus(#[from] zbus::Error),
    #[error("the backend sent a reply this client cannot read: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Options common to the backend commands.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// Colour human output.
    #[arg(long, value_enum, default_value_t = ColourChoice::Auto, value_name = "WHEN", global = true)]
    pub color: ColourChoice,
}

/// `profile` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List profiles.
    List,
    /// Show a profile's files (and with --content, a file's content).
    Show {
        profile: String,
        /// Print this file's content (safely rendered).
        #[arg(long, value_name = "PATH")]
        content: Option<String>,
    },
    /// Create a profile.
    Create {
        profile: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Change a profile's description.
    Describe {
        profile: String,
        description: String,
    },
    /// Add or replace a file (a local edit) from a local file.
    AddFile {
        profile: String,
        /// Path relative to the home directory, e.g. .gitconfig.
        path: String,
        /// Where to read the content from.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Mode (0600, 0644, 0700, 0755).
        #[arg(long, default_value = "0644")]
        mode: String,
    },
    /// Edit a file with $VISUAL/$EDITOR (a local edit).
    Edit { profile: String, path: String },
    /// Remove a file from a profile (history is kept).
    RemoveFile { profile: String, path: String },
    /// Make a profile's files what they were at GENERATION (as a new generation).
    Revert { profile: String, generation: u64 },
    /// Let qubes that may propose PROFILE propose new files whose paths match GLOB
    /// (`*`, `?` within a component, `**` for any depth); with --remove, take globs
    /// off the list. Without globs, print the list.
    AllowNew {
        profile: String,
        globs: Vec<String>,
        /// Remove the globs instead of adding them.
        #[arg(long)]
        remove: bool,
    },
}

/// `proposals` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProposalsCommand {
    /// List proposals (pending by default).
    List {
        /// pending, accepted, rejected or all.
        #[arg(long, default_value = "pending")]
        status: String,
    },
    /// Show a proposal: findings with their ids, the review digest and the diff against
    /// the store, safely rendered.
    Show {
        /// The proposal's number (from `proposals list`).
        id: i64,
    },
    /// Accept a proposal (all hunks, or only the --hunk ones). Every high or critical
    /// finding in the accepted hunks must be acknowledged with --ack; a finding only in
    /// hunks left out needs none.
    Accept {
        /// The proposal's number (from `proposals list`).
        id: i64,
        /// Accept only this hunk (an id from `proposals show`); repeat for several.
        /// Without any, every hunk is accepted.
        #[arg(long = "hunk", value_name = "HUNK")]
        hunks: Vec<String>,
        /// Acknowledge a finding by its id (`RULE@PATH:LINE#HASH` from `proposals
        /// show`), or by a bare rule id when exactly one gated finding of that rule is
        /// in the accepted hunks (otherwise the matching ids are listed). Repeat for
        /// each finding.
        #[arg(long = "ack", value_name = "FINDING")]
        acknowledged: Vec<String>,
        /// The digest `proposals show` printed: the accept is refused (review.stale)
        /// unless the review is still exactly what was shown. Without it, the digest of
        /// the review fetched just before accepting is used.
        #[arg(long, value_name = "DIGEST")]
        digest: Option<String>,
        /// A note stored with the decision.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reject a proposal.
    Reject {
        id: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
}

/// `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the generated per-profile policy for the store's whitelist.
    Print,
    /// Check a dom0 policy directory (e.g. /etc/qubes/policy.d) for over-grants
    /// (works without the backend). Exit 1 when it over-grants.
    Check { dir: PathBuf },
}

/// `push` arguments.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Qubes to push to (default: every qube with an assigned profile).
    pub qubes: Vec<String>,
    /// Only these profiles.
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// Overwrite a conflicting file: QUBE:PATH (the qube's current content is replaced).
    #[arg(long = "overwrite", value_name = "QUBE:PATH")]
    pub overwrite: Vec<String>,
    /// Do not ask before writing.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show the diff of each file that will be written.
    #[arg(long)]
    pub diff: bool,
}

fn colour(choice: ColourChoice) -> terminal::Options {
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
fn safe(text: &str, opts: terminal::Options) -> String {
    terminal::segments(&render::render_line(text.as_bytes()), opts)
}

fn severity(text: &str) -> Severity {
    match text {
        "critical" => Severity::Critical,
        "high" => Severity::High,
        "medium" => Severity::Medium,
        _ => Severity::Info,
    }
}

/// Wire segments back to the renderer's, so the one terminal renderer (with its own
/// second line of defence) prints them.
fn core_segments(segments: &[types::Segment]) -> Vec<render::Segment> {
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
                let class = match class.as_str() {
                    "bidi" => TokenClass::Bidi,
                    "invisible" => TokenClass::Invisible,
                    "tag" => TokenClass::Tag,
                    "variation-selector" => TokenClass::VariationSelector,
                    "odd-space" => TokenClass::OddSpace,
                    "control" => TokenClass::Control,
                    "invalid-byte" => TokenClass::InvalidByte,
                    "whitespace" => TokenClass::Whitespace,
                    "marker" => TokenClass::Marker,
                    _ => TokenClass::Other,
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
                severity: severity(s),
            },
        })
        .collect()
}

fn print_diff(
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
        let (sign, col) = match line.kind.as_str() {
            "hunk-header" => {
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
            "removed" => ('-', RED),
            "added" => ('+', GREEN),
            _ => (' ', ""),
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

fn job_success_code(success: bool) -> u8 {
    if success { EXIT_CLEAN } else { EXIT_FINDINGS }
}

async fn proxy() -> Result<(zbus::Connection, ConfigSyncProxy<'static>), RemoteError> {
    crate::client::connect().await.map_err(RemoteError::Connect)
}

fn mode_bits(text: &str) -> Result<u32, RemoteError> {
    u32::from_str_radix(text.trim_start_matches("0o"), 8)
        .map_err(|_| RemoteError::Usage(format!("invalid mode {text:?} (octal, e.g. 0644)")))
}

/// `status`: the qube × profile matrix.
pub async fn status(out: &mut impl Write, common: &Common) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let (_c, proxy) = proxy().await?;
    let list: QubeList = serde_json::from_str(&proxy.list_qubes().await?)?;
    let pending: u32 = proxy.pending_proposals().await?;
    if let Some(e) = &list.admin_error {
        writeln!(out, "warning: Admin API unavailable: {}", safe(e, opts))?;
    }
    let mut profiles: Vec<String> = list
        .qubes
        .iter()
        .flat_map(|q| q.assigned.iter().cloned())
        .collect();
    profiles.sort();
    profiles.dedup();
    let name_width = list
        .qubes
        .iter()
        .map(|q| q.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    write!(
        out,
        "{:<name_width$}  {:<12} {:<8}",
        "QUBE", "CLASS", "STATE"
    )?;
    for p in &profiles {
        write!(out, "  {p:<12}")?;
    }
    writeln!(out, "  PROPOSALS")?;
    for qube in &list.qubes {
        write!(
            out,
            "{:<name_width$}  {:<12} {:<8}",
            safe(&qube.name, opts),
            safe(&qube.class, opts),
            safe(&qube.power_state, opts)
        )?;
        for p in &profiles {
            let cell = match qube.profiles.iter().find(|s| &s.profile == p) {
                Some(s) => match s.state {
                    types::SyncState::InSync => "in-sync",
                    types::SyncState::NeverPushed => "never-pushed",
                    types::SyncState::Outdated => "outdated",
                    types::SyncState::Drifted => "DRIFTED",
                },
                None => "-",
            };
            write!(out, "  {cell:<12}")?;
        }
        let lost = qube
            .persistence
            .iter()
            .filter(|p| p.verdict == "lost-at-restart")
            .count();
        write!(out, "  {}", qube.pending_proposals)?;
        if lost > 0 {
            write!(out, "  ({lost} file(s) lost at restart)")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{pending} pending proposal(s)")?;
    Ok(EXIT_CLEAN)
}

/// `profile …`.
pub async fn profile(
    out: &mut impl Write,
    command: &ProfileCommand,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let (_c, proxy) = proxy().await?;
    match command {
        ProfileCommand::List => {
            for (id, description, generation) in proxy.list_profiles().await? {
                writeln!(
                    out,
                    "{id:<20} gen {generation:<5} {}",
                    safe(&description, opts)
                )?;
            }
        }
        ProfileCommand::Show { profile, content } => {
            if let Some(path) = content {
                let (bytes, mode, generation) = proxy.get_file(profile, path).await?;
                writeln!(
                    out,
                    "# {} mode {mode:04o} generation {generation}",
                    safe(path, opts)
                )?;
                let lines = render::render_file(&bytes, &[]);
                out.write_all(terminal::lines(&lines, opts).as_bytes())?;
            } else {
                let view: types::ProfileView =
                    serde_json::from_str(&proxy.get_profile(profile).await?)?;
                writeln!(
                    out,
                    "{} (generation {}): {}",
                    view.id,
                    view.generation,
                    safe(&view.description, opts)
                )?;
                writeln!(out, "assigned to: {}", view.assigned_to.join(", "))?;
                writeln!(
                    out,
                    "new paths allowed: {}",
                    allowlist_text(&view.new_path_globs, opts)
                )?;
                for f in &view.files {
                    writeln!(
                        out,
                        "  {} {:>7} gen {:<4} {}  ({})",
                        f.mode,
                        f.size,
                        f.generation,
                        safe(&f.path, opts),
                        safe(&f.provenance, opts)
                    )?;
                }
            }
        }
        ProfileCommand::Create {
            profile,
            description,
        } => proxy.create_profile(profile, description).await?,
        ProfileCommand::Describe {
            profile,
            description,
        } => proxy.set_profile_description(profile, description).await?,
        ProfileCommand::AddFile {
            profile,
            path,
            from,
            mode,
        } => {
            let content = std::fs::read(from)?;
            let generation = proxy
                .put_file(profile, path, &content, mode_bits(mode)?)
                .await?;
            writeln!(out, "{profile}: generation {generation}")?;
        }
        ProfileCommand::Edit { profile, path } => {
            let (bytes, mode, _) = proxy.get_file(profile, path).await?;
            let edited = edit_in_editor(&bytes)?;
            if edited == bytes {
                writeln!(out, "no change")?;
            } else {
                let generation = proxy.put_file(profile, path, &edited, mode).await?;
                writeln!(out, "{profile}: generation {generation}")?;
            }
        }
        ProfileCommand::RemoveFile { profile, path } => {
            let generation = proxy.remove_file(profile, path).await?;
            writeln!(out, "{profile}: generation {generation}")?;
        }
        ProfileCommand::Revert {
            profile,
            generation,
        } => {
            let new = proxy.revert_profile(profile, *generation).await?;
            writeln!(out, "{profile}: now at generation {new} (as {generation})")?;
        }
        ProfileCommand::AllowNew {
            profile,
            globs,
            remove,
        } => {
            let list = if globs.is_empty() {
                let view: types::ProfileView =
                    serde_json::from_str(&proxy.get_profile(profile).await?)?;
                view.new_path_globs
            } else {
                let globs: Vec<&str> = globs.iter().map(String::as_str).collect();
                proxy.allow_new_paths(profile, &globs, !remove).await?
            };
            writeln!(
                out,
                "{profile}: new paths allowed: {}",
                allowlist_text(&list, opts)
            )?;
        }
    }
    Ok(EXIT_CLEAN)
}

/// A profile's allowlist of new paths for people.
fn allowlist_text(globs: &[String], opts: terminal::Options) -> String {
    if globs.is_empty() {
        "none (only the profile's files may be proposed)".to_owned()
    } else {
        globs
            .iter()
            .map(|g| safe(g, opts))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Opens the content in the user's editor (a private temporary file in the config qube:
/// the content is the store's, already trusted).
fn edit_in_editor(content: &[u8]) -> Result<Vec<u8>, RemoteError> {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let editor = set("VISUAL")
        .or_else(|| set("EDITOR"))
        .unwrap_or_else(|| "vi".to_owned());
    let dir = std::env::temp_dir();
    let path = dir.join(format!("qvm-config-sync-edit-{}", std::process::id()));
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(content)?;
    }
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status();
    let result = match status {
        Ok(s) if s.success() => std::fs::read(&path).map_err(RemoteError::from),
        Ok(s) => Err(RemoteError::Usage(format!("the editor exited with {s}"))),
        Err(e) => Err(RemoteError::Usage(format!("cannot run the editor: {e}"))),
    };
    let _ = std::fs::remove_file(&path);
    result
}

/// `assign QUBE PROFILE [--unassign]`, `allow-propose`, `auto-apply`.
pub async fn assign(qube: &str, profile: &str, assigned: bool) -> Result<u8, RemoteError> {
    let (_c, proxy) = proxy().await?;
    proxy.assign(qube, profile, assigned).await?;
    Ok(EXIT_CLEAN)
}

pub async fn allow_propose(qube: &str, profile: &str, allowed: bool) -> Result<u8, RemoteError> {
    let (_c, proxy) = proxy().await?;
    proxy.allow_proposals(qube, profile, allowed).await?;
    Ok(EXIT_CLEAN)
}

pub async fn auto_apply(qube: &str, on: bool) -> Result<u8, RemoteError> {
    let (_c, proxy) = proxy().await?;
    let (assigned, may, _) = proxy.get_qube_settings(qube).await?;
    let assigned: Vec<&str> = assigned.iter().map(String::as_str).collect();
    let may: Vec<&str> = may.iter().map(String::as_str).collect();
    proxy.set_qube_settings(qube, &assigned, &may, on).await?;
    Ok(EXIT_CLEAN)
}

fn print_plan(
    out: &mut impl Write,
    plan: &PushPlan,
    show_diff: bool,
    opts: terminal::Options,
) -> std::io::Result<(usize, usize)> {
    let mut writes = 0;
    let mut conflicts = 0;
    for qube in &plan.qubes {
        writeln!(out, "{}:", safe(&qube.qube, opts))?;
        if let Some(e) = &qube.error {
            writeln!(out, "  error: {}", safe(e, opts))?;
            continue;
        }
        for item in &qube.items {
            let action = match item.action {
                PlanAction::Create => "create",
                PlanAction::Update => "update",
                PlanAction::Unchanged => "unchanged",
                PlanAction::Conflict => "CONFLICT",
                PlanAction::Refused => "refused",
            };
            match item.action {
                PlanAction::Create | PlanAction::Update => writes += 1,
                PlanAction::Conflict => conflicts += 1,
                _ => {}
            }
            write!(
                out,
                "  {action:<9} {:<8} {}",
                item.profile,
                safe(&item.path, opts)
            )?;
            if let Some(reason) = &item.reason {
                write!(out, " ({})", safe(reason, opts))?;
            }
            if item.action == PlanAction::Conflict && item.can_overwrite {
                write!(
                    out,
                    " [--overwrite {}:{}]",
                    qube.qube,
                    safe(&item.path, opts)
                )?;
            }
            writeln!(out)?;
            if show_diff
                && matches!(
                    item.action,
                    PlanAction::Create | PlanAction::Update | PlanAction::Conflict
                )
                && let Some(diff) = &item.diff
            {
                print_diff(out, diff, opts)?;
            }
        }
    }
    writeln!(out, "{writes} file(s) to write, {conflicts} conflict(s)")?;
    Ok((writes, conflicts))
}

/// Waits for `JobFinished` of `job`, showing progress; returns the summary.
async fn follow_job(
    mut progress: crate::client::JobProgressStream,
    mut finished: crate::client::JobFinishedStream,
    job: u64,
) -> Result<(bool, JobSummary), RemoteError> {
    let bar = indicatif::ProgressBar::new(0);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} qubes {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    loop {
        let next = futures_lite::future::or(async { progress.next().await.map(Ok) }, async {
            finished.next().await.map(Err)
        })
        .await;
        match next {
            Some(Ok(signal)) => {
                let args = signal.args()?;
                if args.job == job {
                    bar.set_length(u64::from(args.total));
                    bar.set_position(u64::from(args.done));
                    bar.set_message(
                        args.qube
                            .chars()
                            .filter(|c| c.is_ascii_graphic())
                            .collect::<String>(),
                    );
                }
            }
            Some(Err(signal)) => {
                let args = signal.args()?;
                if args.job == job {
                    bar.finish_and_clear();
                    let summary: JobSummary = serde_json::from_str(args.summary_json)?;
                    return Ok((args.success, summary));
                }
            }
            None => {
                return Err(RemoteError::Usage(
                    "the backend went away before the job finished".to_owned(),
                ));
            }
        }
    }
}

fn print_summary(
    out: &mut impl Write,
    summary: &JobSummary,
    opts: terminal::Options,
) -> std::io::Result<()> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for qube in &summary.qubes {
        if let Some(e) = &qube.error {
            let code = qube
                .error_code
                .as_deref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            writeln!(
                out,
                "{}: error{}: {}",
                safe(&qube.qube, opts),
                safe(&code, opts),
                safe(e, opts)
            )?;
        }
        for f in &qube.files {
            *counts.entry(f.outcome.as_str()).or_default() += 1;
            if !matches!(f.outcome.as_str(), "written" | "unchanged") {
                write!(
                    out,
                    "{}: {} {}",
                    safe(&qube.qube, opts),
                    f.outcome,
                    safe(&f.path, opts)
                )?;
                if let Some(d) = &f.detail {
                    write!(out, " ({})", safe(d, opts))?;
                }
                writeln!(out)?;
            }
        }
    }
    let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    writeln!(
        out,
        "{}{}",
        parts.join(", "),
        if summary.cancelled {
            " (cancelled)"
        } else {
            ""
        }
    )
}

/// `push`: plan, show, ask, execute with a progress bar.
pub async fn push(
    out: &mut impl Write,
    args: &PushArgs,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let (_c, proxy) = proxy().await?;
    let mut overwrite = Vec::new();
    for o in &args.overwrite {
        let (q, p) = o
            .split_once(':')
            .ok_or_else(|| RemoteError::Usage(format!("--overwrite {o:?}: expected QUBE:PATH")))?;
        overwrite.push((q, p));
    }
    let qubes: Vec<&str> = args.qubes.iter().map(String::as_str).collect();
    let profiles: Vec<&str> = args.profiles.iter().map(String::as_str).collect();
    let plan: PushPlan =
        serde_json::from_str(&proxy.plan_push(&qubes, &profiles, &overwrite).await?)?;
    let (writes, conflicts) = print_plan(out, &plan, args.diff, opts)?;
    out.flush()?;
    if writes == 0 {
        writeln!(out, "nothing to write")?;
        return Ok(if conflicts > 0 {
            EXIT_FINDINGS
        } else {
            EXIT_CLEAN
        });
    }
    if !args.yes && !confirm("Write these files?")? {
        writeln!(out, "not pushed")?;
        return Ok(EXIT_FINDINGS);
    }
    let progress = proxy.receive_job_progress().await?;
    let finished = proxy.receive_job_finished().await?;
    let job = proxy.execute_plan(&plan.plan_id).await?;
    let (success, summary) = follow_job(progress, finished, job).await?;
    print_summary(out, &summary, opts)?;
    Ok(job_success_code(success && conflicts == 0))
}

fn confirm(question: &str) -> Result<bool, RemoteError> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `rollback QUBE PROFILE GENERATION`.
pub async fn rollback(
    out: &mut impl Write,
    qube: &str,
    profile: &str,
    generation: u64,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let (_c, proxy) = proxy().await?;
    let progress = proxy.receive_job_progress().await?;
    let finished = proxy.receive_job_finished().await?;
    let job = proxy.rollback(qube, profile, generation).await?;
    let (success, summary) = follow_job(progress, finished, job).await?;
    print_summary(out, &summary, opts)?;
    Ok(job_success_code(success))
}

/// `snapshot QUBE [--profile P]`.
pub async fn snapshot(
    out: &mut impl Write,
    qube: &str,
    profiles: &[String],
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let (_c, proxy) = proxy().await?;
    let profiles: Vec<&str> = profiles.iter().map(String::as_str).collect();
    let result: SnapshotResult = serde_json::from_str(&proxy.snapshot(qube, &profiles).await?)?;
    for (path, status) in &result.paths {
        writeln!(out, "  {:<40} {}", safe(path, opts), safe(status, opts))?;
    }
    for id in &result.proposal_ids {
        writeln!(out, "proposal #{id} created")?;
    }
    Ok(EXIT_CLEAN)
}

/// `proposals …`.
pub async fn proposals(
    out: &mut impl Write,
    command: &ProposalsCommand,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let (_c, proxy) = proxy().await?;
    match command {
        ProposalsCommand::List { status } => {
            let status = if status == "all" { "" } else { status.as_str() };
            let list: ProposalList = serde_json::from_str(&proxy.list_proposals(status).await?)?;
            for p in &list.proposals {
                writeln!(
                    out,
                    "#{:<6} {:<9} {:<16} {:<10} {} ({} bytes)",
                    p.id,
                    p.status,
                    safe(&p.source_qube, opts),
                    p.profile,
                    safe(&p.path, opts),
                    p.size
                )?;
            }
            Ok(EXIT_CLEAN)
        }
        ProposalsCommand::Show { id } => {
            let view: ProposalView = serde_json::from_str(&proxy.get_proposal(*id).await?)?;
            print_proposal(out, &view, opts)?;
            Ok(EXIT_CLEAN)
        }
        ProposalsCommand::Accept {
            id,
            hunks,
            acknowledged,
            digest,
            note,
        } => {
            let view: ProposalView = serde_json::from_str(&proxy.get_proposal(*id).await?)?;
            let acks = match resolve_acks(&view, hunks, acknowledged) {
                Ok(acks) => acks,
                Err(message) => {
                    writeln!(out, "not accepted: {}", safe(&message, opts))?;
                    return Ok(EXIT_ERROR);
                }
            };
            let digest = digest.as_deref().unwrap_or(&view.digest);
            let hunks: Vec<&str> = hunks.iter().map(String::as_str).collect();
            let acks: Vec<&str> = acks.iter().map(String::as_str).collect();
            match proxy
                .accept_proposal(*id, digest, &hunks, &acks, note)
                .await
            {
                Ok(generation) => {
                    writeln!(out, "proposal #{id} accepted: generation {generation}")?;
                    Ok(EXIT_CLEAN)
                }
                Err(ApiError::ReviewRefused(message)) => {
                    let refusal = ReviewRefusal::parse(&message);
                    writeln!(
                        out,
                        "not accepted ({}): {}",
                        safe(&refusal.code, opts),
                        safe(&refusal.message, opts)
                    )?;
                    match refusal.code.as_str() {
                        "review.unacknowledged" => {
                            for finding in &refusal.ids {
                                writeln!(out, "  --ack {}", safe(finding, opts))?;
                            }
                            writeln!(
                                out,
                                "review with `qvm-config-sync proposals show {id}`, then repeat with --ack for each"
                            )?;
                            Ok(EXIT_FINDINGS)
                        }
                        "review.unreviewed" => Ok(EXIT_FINDINGS),
                        "review.stale" => {
                            writeln!(
                                out,
                                "the review changed: look at it again with `qvm-config-sync proposals show {id}`"
                            )?;
                            Ok(EXIT_ERROR)
                        }
                        _ => Ok(EXIT_ERROR),
                    }
                }
                Err(e) => Err(e.into()),
            }
        }
        ProposalsCommand::Reject { id, note } => {
            proxy.reject_proposal(*id, note).await?;
            writeln!(out, "proposal #{id} rejected")?;
            Ok(EXIT_CLEAN)
        }
    }
}

/// The finding ids to acknowledge for `--ack` arguments: a finding id stays as it is; a
/// bare rule id becomes the id of the one gated finding of that rule in the accepted
/// hunks (`hunks`, all when empty), and is an error listing the ids when there are
/// none or several. Anything else is passed on (the backend refuses an unknown id).
fn resolve_acks(
    view: &ProposalView,
    hunks: &[String],
    acknowledged: &[String],
) -> Result<Vec<String>, String> {
    let accepted = |f: &crate::client::types::FindingView| {
        hunks.is_empty() || f.hunks.iter().any(|h| hunks.contains(h))
    };
    let mut ids = Vec::with_capacity(acknowledged.len());
    for ack in acknowledged {
        if view.findings.iter().any(|f| &f.id == ack) {
            ids.push(ack.clone());
            continue;
        }
        let of_rule: Vec<&str> = view
            .findings
            .iter()
            .filter(|f| &f.rule == ack && f.gated)
            .map(|f| f.id.as_str())
            .collect();
        if of_rule.is_empty() {
            ids.push(ack.clone());
            continue;
        }
        let in_part: Vec<&str> = view
            .findings
            .iter()
            .filter(|f| &f.rule == ack && f.gated && accepted(f))
            .map(|f| f.id.as_str())
            .collect();
        match in_part.as_slice() {
            [one] => ids.push((*one).to_owned()),
            [] => {
                return Err(format!(
                    "--ack {ack}: no gated finding of this rule is in the accepted hunks (its findings: {})",
                    of_rule.join(", ")
                ));
            }
            several => {
                return Err(format!(
                    "--ack {ack}: {} findings of this rule are in the accepted hunks; name each by its id: {}",
                    several.len(),
                    several.join(", ")
                ));
            }
        }
    }
    Ok(ids)
}

fn print_proposal(
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
        s.status,
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
            f.severity,
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
                r.side
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

/// `persistence QUBE [--fix PATH]`.
pub async fn persistence(
    out: &mut impl Write,
    qube: &str,
    fix: Option<&str>,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let (_c, proxy) = proxy().await?;
    if let Some(path) = fix {
        let (applied, command) = proxy.fix_persistence(qube, path).await?;
        if applied {
            writeln!(
                out,
                "set through the Admin API (takes effect at the next start of {qube}); the same in dom0:"
            )?;
        } else {
            writeln!(out, "not allowed to set it from here; run in dom0:")?;
        }
        writeln!(out, "  {}", safe(&command, opts))?;
        return Ok(EXIT_CLEAN);
    }
    let list: QubeList = serde_json::from_str(&proxy.get_qube(qube).await?)?;
    let mut lost = false;
    for q in &list.qubes {
        for p in &q.persistence {
            writeln!(out, "{:<40} {}", safe(&p.path, opts), safe(&p.detail, opts))?;
            if p.verdict == "lost-at-restart" {
                lost = true;
            }
        }
    }
    Ok(if lost { EXIT_FINDINGS } else { EXIT_CLEAN })
}

/// `policy print` / `policy check DIR`.
pub async fn policy(out: &mut impl Write, command: &PolicyCommand) -> Result<u8, RemoteError> {
    match command {
        PolicyCommand::Print => {
            let (_c, proxy) = proxy().await?;
            out.write_all(proxy.generate_policy().await?.as_bytes())?;
            Ok(EXIT_CLEAN)
        }
        PolicyCommand::Check { dir } => {
            let policy = qrexec::Policy::load_dir(dir)
                .map_err(|e| RemoteError::Usage(format!("cannot load {}: {e}", dir.display())))?;
            let report = qrexec::checker::check(&policy, None);
            out.write_all(qrexec::checker::render(&report).as_bytes())?;
            Ok(if report.has_over_grants() {
                EXIT_FINDINGS
            } else {
                EXIT_CLEAN
            })
        }
    }
}

/// Runs an async command and maps its error to exit code 2.
pub fn block<F: std::future::Future<Output = Result<u8, RemoteError>>>(future: F) -> u8 {
    match zbus::block_on(future) {
        Ok(code) => code,
        Err(e) => {
            // The message may quote a backend error, which may quote untrusted text.
            let text = safe(&e.to_string(), terminal::Options::default());
            eprintln!("qvm-config-sync: error: {text}");
            EXIT_ERROR
        }
    }
}

/// Runs a backend command; returns the exit code.
pub fn run(command: super::Command) -> u8 {
    use super::Command;
    let mut out = std::io::stdout().lock();
    match command {
        Command::Scan(_) => EXIT_ERROR,
        Command::Status(common) => block(status(&mut out, &common)),
        Command::Profile { command, common } => block(profile(&mut out, &command, &common)),
        Command::Assign {
            qube,
            profile,
            unassign,
        } => block(assign(&qube, &profile, !unassign)),
        Command::AllowPropose {
            qube,
            profile,
            deny,
        } => block(allow_propose(&qube, &profile, !deny)),
        Command::AutoApply { qube, state } => block(auto_apply(&qube, state == "on")),
        Command::Push { args, common } => block(push(&mut out, &args, &common)),
        Command::Proposals { command, common } => block(proposals(&mut out, &command, &common)),
        Command::Snapshot {
            qube,
            profiles,
            common,
        } => block(snapshot(&mut out, &qube, &profiles, &common)),
        Command::Rollback {
            qube,
            profile,
            generation,
            common,
        } => block(rollback(&mut out, &qube, &profile, generation, &common)),
        Command::Persistence { qube, fix, common } => {
            block(persistence(&mut out, &qube, fix.as_deref(), &common))
        }
        Command::Policy { command } => block(policy(&mut out, &command)),
    }
}
