//! `qvm-config-sync`, the command line of qubes-config-sync in the style of the qvm-*
//! tools: one subcommand per verb. `scan` and `policy check` run in-process (the risk
//! engine and the policy checker, no store); everything else is a client of the D-Bus
//! backend through `qcs-client` — this crate links neither the backend nor SQLite.
//!
//! Messages are English sentences made from the backend's reason codes (the one table
//! in `qcs_client::reason`); a D-Bus error name is never shown.
//!
//! Exit codes are part of the stable interface: 0 = success / clean; 1 = the command ran
//! but the outcome is not clean (findings, a qube that failed in a push, conflicts, a
//! refused accept, a declined prompt); 2 = error (bad usage, unreadable input, backend
//! unreachable or refused the request).

mod args;
mod dirs;
mod history;
mod jobs;
mod names;
mod output;
mod policy;
mod remote;
mod review;
mod scan;
mod targets;
mod vars;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use args::{Common, JsonOpt, PolicyCommand, ProfileCommand, ProposalsCommand, PushArgs};
pub use remote::run;
pub use scan::{ScanArgs, run_scan};
pub use targets::RuleTarget;

/// Exit code: nothing found / success.
pub const EXIT_CLEAN: u8 = 0;
/// Exit code: at least one finding, or an outcome that is not clean.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: the command could not do its job.
pub const EXIT_ERROR: u8 = 2;

/// Command line of `qvm-config-sync`.
#[derive(Debug, Parser)]
#[command(
    name = "qvm-config-sync",
    version,
    about = "Review and sync configuration files between Qubes OS qubes"
)]
pub struct Cli {
    /// Talk to the backend on this D-Bus address (e.g. `unix:path=/run/user/1000/bus`,
    /// or the demo's bus) instead of the session bus.
    #[arg(long, value_name = "ADDRESS", global = true)]
    pub bus_address: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan a file with the risk rules, as if it were proposed for HOME_RELATIVE_PATH
    /// (works without the backend). Exit 0 when clean, 1 with findings, 2 on error.
    Scan(ScanArgs),
    /// Show every qube with its profiles' sync state and pending proposals.
    Status {
        #[command(flatten)]
        json: JsonOpt,
        #[command(flatten)]
        common: Common,
    },
    /// Manage profiles and their files.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
        #[command(flatten)]
        common: Common,
    },
    /// Print a file of a profile exactly as stored (bytes, no rendering).
    Cat {
        /// The profile (from `profile list`).
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        /// The file's path relative to the home directory, e.g. `.gitconfig`.
        #[arg(value_parser = crate::names::path)]
        path: String,
    },
    /// Show a qube's settings: assigned profiles, profiles it may propose, auto-apply.
    Settings {
        /// The qube.
        #[arg(value_parser = crate::names::qube)]
        qube: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Assign a profile to a qube: `assign QUBE PROFILE`; or to every qube with a tag,
    /// on a template, or of a class: `assign --tag TAG PROFILE` (a rule, evaluated live:
    /// a qube that gains the tag is covered at the next push; never dom0 nor the config
    /// qube). --unassign takes the assignment or the rule away (also for a qube that no
    /// longer exists).
    Assign {
        /// The qube (as `qvm-ls` names it); with --tag/--template/--class, the profile.
        #[arg(value_name = "QUBE")]
        qube: String,
        /// The profile (from `profile list`); left out with --tag/--template/--class.
        #[arg(value_name = "PROFILE")]
        profile: Option<String>,
        #[command(flatten)]
        rule: RuleTarget,
        /// Take the profile (or the rule) away instead.
        #[arg(long)]
        unassign: bool,
    },
    /// List the assignment rules (tag, template, class) and the qubes each covers now.
    Rules {
        #[command(flatten)]
        json: JsonOpt,
        #[command(flatten)]
        common: Common,
    },
    /// Adopt an existing file of a qube into a profile in one step: the file is read
    /// from the qube and becomes a proposal to review (`proposals show`); the profile is
    /// created when missing and assigned to the qube when nothing assigns it yet.
    Adopt {
        /// The qube to take the file from.
        #[arg(value_parser = crate::names::qube)]
        qube: String,
        /// The file's path relative to the home directory, e.g. `.gitconfig`.
        #[arg(value_parser = crate::names::path)]
        path: String,
        /// The profile to adopt it into (created when missing).
        #[arg(long, value_parser = crate::names::profile)]
        profile: String,
        #[command(flatten)]
        common: Common,
    },
    /// Let a qube propose changes to a profile (or --deny it; --deny also works for a
    /// qube that no longer exists).
    AllowPropose {
        /// The qube that may propose.
        #[arg(value_parser = crate::names::qube)]
        qube: String,
        /// The profile it may propose changes to.
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        /// Stop it from proposing instead.
        #[arg(long)]
        deny: bool,
    },
    /// Re-apply a qube's profiles whenever it starts (on/off).
    AutoApply {
        /// The qube.
        #[arg(value_parser = crate::names::qube)]
        qube: String,
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Push profiles into qubes: shows the plan, asks, writes with progress. Exit 1
    /// when a qube failed or a file was not written (each is named).
    Push {
        #[command(flatten)]
        args: PushArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Show what a push would change, per qube, with the diffs; writes nothing.
    Diff {
        /// Qubes to compare (default: every qube with an assigned profile).
        #[arg(value_parser = crate::names::qube)]
        qubes: Vec<String>,
        /// Only these profiles (repeat for several).
        #[arg(long = "profile", value_name = "PROFILE", value_parser = crate::names::profile)]
        profiles: Vec<String>,
        #[command(flatten)]
        json: JsonOpt,
        #[command(flatten)]
        common: Common,
    },
    /// Review proposals: list, show, accept, reject.
    Proposals {
        #[command(subcommand)]
        command: ProposalsCommand,
        #[command(flatten)]
        common: Common,
    },
    /// Import a qube's current files of its profiles as proposals.
    Snapshot {
        /// The qube to read.
        #[arg(value_parser = crate::names::qube)]
        qube: String,
        /// Only this profile (repeat for several; default: the qube's assigned ones).
        #[arg(long = "profile", value_name = "PROFILE", value_parser = crate::names::profile)]
        profiles: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// List a profile's generations: number, time, author (local edit, accepted
    /// proposal from QUBE #ID, rollback to N), files changed.
    Generations {
        /// The profile.
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        #[command(flatten)]
        json: JsonOpt,
        #[command(flatten)]
        common: Common,
    },
    /// Undo the last push of a profile into one qube, from the qube's backup: shows
    /// what it restores, asks, restores; the store keeps its generation (the qube then
    /// shows as drifted).
    Undo {
        /// The qube.
        #[arg(value_parser = crate::names::qube)]
        qube: String,
        /// The profile whose last push is undone.
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        /// Do not ask.
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Roll a profile back to an earlier generation (as a new generation), then push it
    /// like `push --profile PROFILE`: the plan is shown and confirmed.
    Rollback {
        #[command(flatten)]
        args: history::RollbackArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Show whether a qube's profile files survive a restart (or --fix PATH).
    Persistence {
        /// The qube.
        #[arg(value_parser = crate::names::qube)]
        qube: String,
        /// Make this path persist (custom-persist), through the Admin API if allowed.
        #[arg(long, value_name = "PATH", value_parser = crate::names::path)]
        fix: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Export profiles (all, or those named) with their template flags, the variables
    /// of every qube and tag, the profiles' defaults and their assignment rules into a
    /// directory that is missing or empty (`manifest.toml` plus one file per profile file).
    Export {
        /// The directory to write.
        dir: std::path::PathBuf,
        /// Only these profiles (default: all).
        #[arg(value_parser = crate::names::profile)]
        profiles: Vec<String>,
        #[command(flatten)]
        json: JsonOpt,
        #[command(flatten)]
        common: Common,
    },
    /// Import a directory written by `export`: all or nothing. Each profile becomes
    /// exactly its files (a new generation; history is kept); variables and rules are
    /// merged (set or added, none removed). A bad file is refused whole, naming why.
    Import {
        /// The directory to read.
        dir: std::path::PathBuf,
        #[command(flatten)]
        json: JsonOpt,
        #[command(flatten)]
        common: Common,
    },
    /// Variables of templates: set, unset, list, preview a template for a qube.
    Var {
        #[command(subcommand)]
        command: vars::VarCommand,
        #[command(flatten)]
        common: Common,
    },
    /// Print the generated qrexec policy, or check a dom0 policy directory.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

/// When to colour human output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColourChoice {
    /// When standard output is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// A failure reported with exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An input file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file as given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// An input is not a regular file.
    #[error("{path} is not a regular file ({kind})")]
    NotRegular {
        /// The file as given.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// An input is larger than the engine will parse.
    #[error("{path} is over the limit of {limit} bytes")]
    TooLarge {
        /// The file as given.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// `--as` is not a valid home-relative path.
    #[error("invalid --as path {path:?}: {reason}")]
    InvalidAs {
        /// The path as given (escaped for display).
        path: String,
        /// Why.
        reason: String,
    },
    /// Output could not be written.
    #[error("cannot write output: {0}")]
    Write(#[from] std::io::Error),
}

/// Parses the process arguments and runs the command; returns the exit code.
pub fn main() -> ExitCode {
    ExitCode::from(run_from(std::env::args_os()))
}

/// Runs the command line `args` (the first is the program name); returns the exit code.
pub fn run_from<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr.
            let code = if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_CLEAN
            };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Scan(args) => run_scan(&args, &mut std::io::stdout().lock()),
        other => return remote::run(other, cli.bus_address.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("qvm-config-sync: error: {e}");
            EXIT_ERROR
        }
    }
}
