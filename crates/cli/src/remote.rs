//! The `qvm-config-sync` commands that talk to the backend over D-Bus (the session bus,
//! or `--bus-address`), in the style of the qvm-* tools. Human output is in
//! [`super::output`]; `--json` prints the backend's document as it is (after decoding
//! it, so a document this client cannot read is an error, not passed on).
//!
//! Exit codes: 0 success; 1 the command ran but the outcome is not clean (a qube failed
//! in a push, conflicts, refused accept, declined prompt, files lost at restart); 2 error
//! (backend unreachable, bad usage, the backend refused the request).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use qcs_client::types::{
    self, API_VERSION, PlanAction, ProfileView, ProposalList, ProposalView, PushPlan, QubeList,
    ReviewRefusal, SnapshotResult, SyncState, Verdict,
};
use qcs_client::{Code, ConfigSyncProxy, Error as ApiError, Reason, job};
use qcs_core::render::{self, terminal};
use serde::Serialize;

use super::output::{self, colour, safe, sentence};
use super::{ColourChoice, EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};

/// Failure of a backend command (exit code 2), always shown as a sentence.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The backend (or the bus) said why, as a reason.
    #[error("{0}")]
    Reason(Reason),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<ApiError> for RemoteError {
    fn from(e: ApiError) -> RemoteError {
        RemoteError::Reason(e.reason())
    }
}

impl From<zbus::Error> for RemoteError {
    fn from(e: zbus::Error) -> RemoteError {
        RemoteError::Reason(Reason::new(Code::BusFailed).arg("detail", e))
    }
}

impl From<serde_json::Error> for RemoteError {
    fn from(e: serde_json::Error) -> RemoteError {
        RemoteError::Reason(Reason::new(Code::ReplyUnreadable).arg("detail", e))
    }
}

impl From<job::JobError> for RemoteError {
    fn from(e: job::JobError) -> RemoteError {
        RemoteError::Reason(e.reason())
    }
}

/// Options common to the backend commands.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// Colour human output.
    #[arg(long, value_enum, default_value_t = ColourChoice::Auto, value_name = "WHEN", global = true)]
    pub color: ColourChoice,
}

/// `--json` of the list and show commands.
#[derive(Debug, Args, Clone, Copy)]
pub struct JsonOpt {
    /// Print the result as JSON (the backend's document, API version in `version`).
    #[arg(long)]
    pub json: bool,
}

/// `profile` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List profiles.
    List {
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Show a profile: its files, the qubes it is assigned to, its allowlist of new
    /// paths (and with --content, a file's content, safely rendered).
    Show {
        /// The profile.
        profile: String,
        /// Print this file's content (safely rendered; `cat` prints the bytes).
        #[arg(long, value_name = "PATH")]
        content: Option<String>,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// List a profile's files (mode, size, generation, provenance).
    Files {
        /// The profile.
        profile: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Create a profile.
    Create {
        /// The new profile's name (lower-case letters, digits, `-`, `_`).
        profile: String,
        /// What the profile is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Change a profile's description.
    Describe {
        /// The profile.
        profile: String,
        /// The new description.
        description: String,
    },
    /// Add or replace a file (a local edit) from a local file.
    AddFile {
        /// The profile.
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
    Edit {
        /// The profile.
        profile: String,
        /// The file's path relative to the home directory.
        path: String,
    },
    /// Remove a file from a profile (history is kept).
    RemoveFile {
        /// The profile.
        profile: String,
        /// The file's path relative to the home directory.
        path: String,
    },
    /// Make a profile's files what they were at GENERATION (as a new generation).
    Revert {
        /// The profile.
        profile: String,
        /// The generation to go back to (from `profile show`).
        generation: u64,
    },
    /// Let qubes that may propose PROFILE propose new files whose paths match GLOB
    /// (`*`, `?` within a component, `**` for any depth); with --remove, take globs
    /// off the list. Without globs, print the list.
    AllowNew {
        /// The profile.
        profile: String,
        /// Globs of home-relative paths, e.g. `.config/git/*`.
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
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Show a proposal: findings with their ids, the review digest and the diff against
    /// the store, safely rendered.
    Show {
        /// The proposal's number (from `proposals list`).
        id: i64,
        #[command(flatten)]
        json: JsonOpt,
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
        /// The proposal's number (from `proposals list`).
        id: i64,
        /// A note stored with the decision.
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
    /// (works without the backend): one line per problem and a summary. Exit 1 when
    /// it over-grants.
    Check {
        /// The policy directory.
        dir: PathBuf,
        /// Print the full report (every rule with the requests it decides).
        #[arg(long)]
        verbose: bool,
    },
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
    /// Start this halted qube and push to it (repeat for several). Planning never
    /// starts a qube: without this (or a "y" to the question) a halted qube is skipped.
    #[arg(long = "start", value_name = "QUBE")]
    pub start: Vec<String>,
    /// Start every qube of the plan that is halted, and push to it.
    #[arg(long, conflicts_with = "start")]
    pub start_halted: bool,
}

/// The connection of one command.
struct Session {
    _connection: zbus::Connection,
    proxy: ConfigSyncProxy<'static>,
}

async fn session(address: Option<&str>) -> Result<Session, RemoteError> {
    let (connection, proxy) = qcs_client::connect_any(address)
        .await
        .map_err(|e| RemoteError::Reason(Reason::new(Code::BusUnreachable).arg("detail", e)))?;
    Ok(Session {
        _connection: connection,
        proxy,
    })
}

/// Decodes a JSON document of the backend and refuses a newer API version.
fn decode<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, RemoteError> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: u32,
    }
    let v: Versioned = serde_json::from_str(json)?;
    if v.version > API_VERSION {
        return Err(RemoteError::Reason(
            Reason::new(Code::ClientTooOld).arg("version", v.version),
        ));
    }
    Ok(serde_json::from_str(json)?)
}

/// Prints a value as one JSON document.
fn print_json(out: &mut impl Write, value: &impl Serialize) -> Result<u8, RemoteError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(EXIT_CLEAN)
}

fn mode_bits(text: &str) -> Result<u32, RemoteError> {
    u32::from_str_radix(text.trim_start_matches("0o"), 8)
        .map_err(|_| RemoteError::Reason(Reason::new(Code::ModeInvalid).arg("mode", text)))
}

fn sync_text(state: SyncState) -> &'static str {
    match state {
        SyncState::InSync => "in-sync",
        SyncState::NeverPushed => "never-pushed",
        SyncState::Outdated => "outdated",
        SyncState::Drifted => "DRIFTED",
        SyncState::Unknown => "UNKNOWN",
    }
}

/// `status`: the qube × profile matrix.
async fn status(
    out: &mut impl Write,
    s: &Session,
    json: JsonOpt,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let list: QubeList = decode(&s.proxy.list_qubes().await?)?;
    if json.json {
        return print_json(out, &list);
    }
    let pending: u32 = s.proxy.pending_proposals().await?;
    if let Some(e) = &list.admin_error {
        writeln!(out, "warning: {}", sentence(e, opts))?;
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
        write!(out, "  {:<12}", safe(p, opts))?;
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
                Some(s) => sync_text(s.state),
                None => "-",
            };
            write!(out, "  {cell:<12}")?;
        }
        let lost = qube
            .persistence
            .iter()
            .filter(|p| matches!(p.verdict, Verdict::LostAtRestart | Verdict::Unknown))
            .count();
        write!(out, "  {}", qube.pending_proposals)?;
        if lost > 0 {
            write!(out, "  ({lost} file(s) lost at restart or unknown)")?;
        }
        if qube.class.is_empty() {
            write!(out, "  (not reported by the Admin API)")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{pending} pending proposal(s)")?;
    Ok(EXIT_CLEAN)
}

/// `settings QUBE`.
async fn settings(
    out: &mut impl Write,
    s: &Session,
    qube: &str,
    json: JsonOpt,
) -> Result<u8, RemoteError> {
    let (assigned, may_propose, auto_apply) = s.proxy.get_qube_settings(qube).await?;
    if json.json {
        #[derive(Serialize)]
        struct Settings<'a> {
            version: u32,
            qube: &'a str,
            assigned: Vec<String>,
            may_propose: Vec<String>,
            auto_apply: bool,
        }
        return print_json(
            out,
            &Settings {
                version: API_VERSION,
                qube,
                assigned,
                may_propose,
                auto_apply,
            },
        );
    }
    let opts = terminal::Options::default();
    let list = |l: &[String]| {
        if l.is_empty() {
            "none".to_owned()
        } else {
            safe(&l.join(", "), opts)
        }
    };
    writeln!(out, "qube:        {}", safe(qube, opts))?;
    writeln!(out, "assigned:    {}", list(&assigned))?;
    writeln!(out, "may propose: {}", list(&may_propose))?;
    writeln!(
        out,
        "auto-apply:  {}",
        if auto_apply { "on" } else { "off" }
    )?;
    Ok(EXIT_CLEAN)
}

/// `profile …`.
async fn profile(
    out: &mut impl Write,
    s: &Session,
    command: &ProfileCommand,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let proxy = &s.proxy;
    match command {
        ProfileCommand::List { json } => {
            let profiles = proxy.list_profiles().await?;
            if json.json {
                #[derive(Serialize)]
                struct Entry {
                    id: String,
                    description: String,
                    generation: u64,
                }
                #[derive(Serialize)]
                struct Profiles {
                    version: u32,
                    profiles: Vec<Entry>,
                }
                return print_json(
                    out,
                    &Profiles {
                        version: API_VERSION,
                        profiles: profiles
                            .into_iter()
                            .map(|(id, description, generation)| Entry {
                                id,
                                description,
                                generation,
                            })
                            .collect(),
                    },
                );
            }
            for (id, description, generation) in profiles {
                writeln!(
                    out,
                    "{:<20} gen {generation:<5} {}",
                    safe(&id, opts),
                    safe(&description, opts)
                )?;
            }
        }
        ProfileCommand::Show {
            profile,
            content,
            json,
        } => {
            if let Some(path) = content {
                let (bytes, mode, generation) = proxy.get_file(profile, path).await?;
                writeln!(
                    out,
                    "# {} mode {mode:04o} generation {generation}",
                    safe(path, opts)
                )?;
                let lines = render::render_file(&bytes, &[]);
                out.write_all(terminal::lines(&lines, opts).as_bytes())?;
                return Ok(EXIT_CLEAN);
            }
            let view: ProfileView = decode(&proxy.get_profile(profile).await?)?;
            if json.json {
                return print_json(out, &view);
            }
            writeln!(
                out,
                "{} (generation {}): {}",
                safe(&view.id, opts),
                view.generation,
                safe(&view.description, opts)
            )?;
            writeln!(
                out,
                "assigned to: {}",
                safe(&view.assigned_to.join(", "), opts)
            )?;
            writeln!(
                out,
                "new paths allowed: {}",
                allowlist_text(&view.new_path_globs, opts)
            )?;
            print_files(out, &view, opts)?;
        }
        ProfileCommand::Files { profile, json } => {
            let view: ProfileView = decode(&proxy.get_profile(profile).await?)?;
            if json.json {
                #[derive(Serialize)]
                struct Files<'a> {
                    version: u32,
                    profile: &'a str,
                    generation: u64,
                    files: &'a [types::FileSummary],
                }
                return print_json(
                    out,
                    &Files {
                        version: view.version,
                        profile: &view.id,
                        generation: view.generation,
                        files: &view.files,
                    },
                );
            }
            print_files(out, &view, opts)?;
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
            let content = std::fs::read(from)
                .map_err(|e| RemoteError::Usage(format!("cannot read {}: {e}", from.display())))?;
            let generation = proxy
                .put_file(profile, path, &content, mode_bits(mode)?)
                .await?;
            writeln!(out, "{}: generation {generation}", safe(profile, opts))?;
        }
        ProfileCommand::Edit { profile, path } => {
            let (bytes, mode, _) = proxy.get_file(profile, path).await?;
            let edited = edit_in_editor(&bytes)?;
            if edited == bytes {
                writeln!(out, "no change")?;
            } else {
                let generation = proxy.put_file(profile, path, &edited, mode).await?;
                writeln!(out, "{}: generation {generation}", safe(profile, opts))?;
            }
        }
        ProfileCommand::RemoveFile { profile, path } => {
            let generation = proxy.remove_file(profile, path).await?;
            writeln!(out, "{}: generation {generation}", safe(profile, opts))?;
        }
        ProfileCommand::Revert {
            profile,
            generation,
        } => {
            let new = proxy.revert_profile(profile, *generation).await?;
            writeln!(
                out,
                "{}: now at generation {new} (as {generation})",
                safe(profile, opts)
            )?;
        }
        ProfileCommand::AllowNew {
            profile,
            globs,
            remove,
        } => {
            let list = if globs.is_empty() {
                let view: ProfileView = decode(&proxy.get_profile(profile).await?)?;
                view.new_path_globs
            } else {
                let globs: Vec<&str> = globs.iter().map(String::as_str).collect();
                proxy.allow_new_paths(profile, &globs, !remove).await?
            };
            writeln!(
                out,
                "{}: new paths allowed: {}",
                safe(profile, opts),
                allowlist_text(&list, opts)
            )?;
        }
    }
    Ok(EXIT_CLEAN)
}

fn print_files(
    out: &mut impl Write,
    view: &ProfileView,
    opts: terminal::Options,
) -> std::io::Result<()> {
    for f in &view.files {
        writeln!(
            out,
            "  {} {:>7} gen {:<4} {}  ({})",
            safe(&f.mode, opts),
            f.size,
            f.generation,
            safe(&f.path, opts),
            sentence(&f.provenance, opts)
        )?;
    }
    Ok(())
}

/// `cat PROFILE PATH`: the stored bytes, exactly (a file of the store, already
/// reviewed; to see hidden characters use `profile show --content`).
async fn cat(
    out: &mut impl Write,
    s: &Session,
    profile: &str,
    path: &str,
) -> Result<u8, RemoteError> {
    let (bytes, _mode, _generation) = s.proxy.get_file(profile, path).await?;
    out.write_all(&bytes)?;
    out.flush()?;
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

/// `auto-apply QUBE on|off`: a change that would change nothing is an error.
async fn auto_apply(s: &Session, qube: &str, on: bool) -> Result<u8, RemoteError> {
    let (assigned, may, current) = s.proxy.get_qube_settings(qube).await?;
    if current == on {
        return Err(RemoteError::Reason(
            Reason::new(Code::SettingsAutoApplyUnchanged)
                .arg("qube", qube)
                .arg("state", if on { "on" } else { "off" }),
        ));
    }
    let assigned: Vec<&str> = assigned.iter().map(String::as_str).collect();
    let may: Vec<&str> = may.iter().map(String::as_str).collect();
    s.proxy.set_qube_settings(qube, &assigned, &may, on).await?;
    Ok(EXIT_CLEAN)
}

/// Follows a job with a progress bar on a terminal; returns its summary.
async fn follow<F>(s: &Session, start: F) -> Result<types::JobSummary, RemoteError>
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

async fn plan(
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
async fn push(
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
async fn diff(
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
    // A halted qube was not read (planning never starts one): it cannot be compared.
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

fn confirm(question: &str) -> Result<bool, RemoteError> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `rollback QUBE PROFILE GENERATION`.
async fn rollback(
    out: &mut impl Write,
    s: &Session,
    qube: &str,
    profile: &str,
    generation: u64,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let summary = follow(s, s.proxy.rollback(qube, profile, generation)).await?;
    output::print_summary(out, &summary, opts)?;
    Ok(job_code(&summary))
}

/// `snapshot QUBE [--profile P]`.
async fn snapshot(
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

/// `proposals …`.
async fn proposals(
    out: &mut impl Write,
    s: &Session,
    command: &ProposalsCommand,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let proxy = &s.proxy;
    match command {
        ProposalsCommand::List { status, json } => {
            let status = if status == "all" { "" } else { status.as_str() };
            let list: ProposalList = decode(&proxy.list_proposals(status).await?)?;
            if json.json {
                return print_json(out, &list);
            }
            for p in &list.proposals {
                writeln!(
                    out,
                    "#{:<6} {:<9} {:<16} {:<10} {} ({} bytes)",
                    p.id,
                    p.status.as_str(),
                    safe(&p.source_qube, opts),
                    safe(&p.profile, opts),
                    safe(&p.path, opts),
                    p.size
                )?;
            }
            Ok(EXIT_CLEAN)
        }
        ProposalsCommand::Show { id, json } => {
            let view: ProposalView = decode(&proxy.get_proposal(*id).await?)?;
            if json.json {
                return print_json(out, &view);
            }
            output::print_proposal(out, &view, opts)?;
            Ok(EXIT_CLEAN)
        }
        ProposalsCommand::Accept {
            id,
            hunks,
            acknowledged,
            digest,
            note,
        } => {
            let view: ProposalView = decode(&proxy.get_proposal(*id).await?)?;
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
                        safe(refusal.code.as_str(), opts),
                        sentence(&refusal.reason(), opts)
                    )?;
                    match refusal.code {
                        Code::ReviewUnacknowledged => {
                            for finding in &refusal.ids {
                                writeln!(out, "  --ack {}", safe(finding, opts))?;
                            }
                            writeln!(
                                out,
                                "review with `qvm-config-sync proposals show {id}`, then repeat with --ack for each"
                            )?;
                            Ok(EXIT_FINDINGS)
                        }
                        Code::ReviewUnreviewed => Ok(EXIT_FINDINGS),
                        Code::ReviewStale => {
                            writeln!(
                                out,
                                "look at it again with `qvm-config-sync proposals show {id}`"
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
    let accepted =
        |f: &types::FindingView| hunks.is_empty() || f.hunks.iter().any(|h| hunks.contains(h));
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

/// `persistence QUBE [--fix PATH]`.
async fn persistence(
    out: &mut impl Write,
    s: &Session,
    qube: &str,
    fix: Option<&str>,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    if let Some(path) = fix {
        let (applied, command) = s.proxy.fix_persistence(qube, path).await?;
        if applied {
            writeln!(
                out,
                "set through the Admin API (takes effect at the next start of {}); the same in dom0:",
                safe(qube, opts)
            )?;
        } else {
            writeln!(out, "not allowed to set it from here; run in dom0:")?;
        }
        writeln!(out, "  {}", safe(&command, opts))?;
        return Ok(EXIT_CLEAN);
    }
    let list: QubeList = decode(&s.proxy.get_qube(qube).await?)?;
    let mut lost = false;
    for q in &list.qubes {
        for p in &q.persistence {
            writeln!(
                out,
                "{:<40} {}",
                safe(&p.path, opts),
                sentence(&p.detail, opts)
            )?;
            if let Some(command) = &p.fix_command {
                writeln!(out, "{:<40} fix in dom0: {}", "", safe(command, opts))?;
            }
            if matches!(p.verdict, Verdict::LostAtRestart | Verdict::Unknown) {
                lost = true;
            }
        }
    }
    Ok(if lost { EXIT_FINDINGS } else { EXIT_CLEAN })
}

/// `policy check DIR`: one line per problem, then a summary (`--verbose`: the full
/// report).
fn policy_check(
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

/// Runs an async command and maps its error to exit code 2 (a sentence, never a
/// D-Bus error name).
fn block<F: std::future::Future<Output = Result<u8, RemoteError>>>(future: F) -> u8 {
    match zbus::block_on(future) {
        Ok(code) => code,
        Err(e) => {
            let text = match &e {
                RemoteError::Reason(r) => sentence(r, terminal::Options::default()),
                other => safe(&other.to_string(), terminal::Options::default()),
            };
            eprintln!("qvm-config-sync: error: {text}");
            EXIT_ERROR
        }
    }
}

/// Runs a command other than `scan`; returns the exit code.
pub fn run(command: super::Command, address: Option<&str>) -> u8 {
    use super::Command;
    let mut out = std::io::stdout().lock();
    if let Command::Policy {
        command: PolicyCommand::Check { dir, verbose },
    } = &command
    {
        return block(async { policy_check(&mut out, dir, *verbose) });
    }
    block(async {
        let s = session(address).await?;
        match command {
            Command::Scan(_) => Ok(EXIT_ERROR),
            Command::Status { json, common } => status(&mut out, &s, json, &common).await,
            Command::Profile { command, common } => profile(&mut out, &s, &command, &common).await,
            Command::Cat { profile, path } => cat(&mut out, &s, &profile, &path).await,
            Command::Settings { qube, json } => settings(&mut out, &s, &qube, json).await,
            Command::Assign {
                qube,
                profile,
                unassign,
            } => {
                s.proxy.assign(&qube, &profile, !unassign).await?;
                Ok(EXIT_CLEAN)
            }
            Command::AllowPropose {
                qube,
                profile,
                deny,
            } => {
                s.proxy.allow_proposals(&qube, &profile, !deny).await?;
                Ok(EXIT_CLEAN)
            }
            Command::AutoApply { qube, state } => auto_apply(&s, &qube, state == "on").await,
            Command::Push { args, common } => push(&mut out, &s, &args, &common).await,
            Command::Diff {
                qubes,
                profiles,
                json,
                common,
            } => diff(&mut out, &s, &qubes, &profiles, json, &common).await,
            Command::Proposals { command, common } => {
                proposals(&mut out, &s, &command, &common).await
            }
            Command::Snapshot {
                qube,
                profiles,
                common,
            } => snapshot(&mut out, &s, &qube, &profiles, &common).await,
            Command::Rollback {
                qube,
                profile,
                generation,
                common,
            } => rollback(&mut out, &s, &qube, &profile, generation, &common).await,
            Command::Persistence { qube, fix, common } => {
                persistence(&mut out, &s, &qube, fix.as_deref(), &common).await
            }
            Command::Policy { command } => match command {
                PolicyCommand::Print => {
                    out.write_all(s.proxy.generate_policy().await?.as_bytes())?;
                    Ok(EXIT_CLEAN)
                }
                PolicyCommand::Check { dir, verbose } => policy_check(&mut out, &dir, verbose),
            },
        }
    })
}
