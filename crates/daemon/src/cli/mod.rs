//! The `qvm-config-sync` command line: one subcommand per verb. Commands that
//! need no backend (`scan`) run in-process; the D-Bus client commands will be
//! added as further variants of [`Command`].
//!
//! Exit codes are part of the stable interface: 0 = clean / success, 1 = findings,
//! 2 = error (bad usage, unreadable input, input over the limits).

mod args;
mod remote;
mod scan;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use remote::{Common, PolicyCommand, ProfileCommand, ProposalsCommand, PushArgs};
pub use scan::{ScanArgs, run_scan};

/// Exit code: nothing found.
pub const EXIT_CLEAN: u8 = 0;
/// Exit code: at least one finding.
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
    Status(Common),
    /// Manage profiles and their files.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
        #[command(flatten)]
        common: Common,
    },
    /// Assign a profile to a qube (or --unassign it).
    Assign {
        #[arg(value_parser = args::qube)]
        qube: String,
        #[arg(value_parser = args::profile)]
        profile: String,
        #[arg(long)]
        unassign: bool,
    },
    /// Let a qube propose changes to a profile (or --deny it).
    AllowPropose {
        #[arg(value_parser = args::qube)]
        qube: String,
        #[arg(value_parser = args::profile)]
        profile: String,
        #[arg(long)]
        deny: bool,
    },
    /// Re-apply a qube's profiles whenever it starts (on/off).
    AutoApply {
        #[arg(value_parser = args::qube)]
        qube: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Push profiles into qubes: shows the plan, asks, writes with progress.
    Push {
        #[command(flatten)]
        args: PushArgs,
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
        #[arg(value_parser = args::qube)]
        qube: String,
        #[arg(long = "profile", value_name = "PROFILE", value_parser = args::profile)]
        profiles: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Write a profile as at an earlier generation into a qube.
    Rollback {
        #[arg(value_parser = args::qube)]
        qube: String,
        #[arg(value_parser = args::profile)]
        profile: String,
        generation: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Show whether a qube's profile files survive a restart (or --fix PATH).
    Persistence {
        #[arg(value_parser = args::qube)]
        qube: String,
        #[arg(long, value_name = "PATH", value_parser = args::path)]
        fix: Option<String>,
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr.
            let code = if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_CLEAN
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Scan(args) => run_scan(&args, &mut std::io::stdout().lock()),
        other => return ExitCode::from(remote::run(other)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("qvm-config-sync: error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
