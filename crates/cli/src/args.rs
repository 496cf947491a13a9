//! The arguments of the backend commands (clap): subcommands of `profile`, `proposals`,
//! `policy`, the `push` options and the shared `--color` / `--json`. Only declarations;
//! what each does is in the modules that run them.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::ColourChoice;

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
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        /// Print this file's content (safely rendered; `cat` prints the bytes).
        #[arg(long, value_name = "PATH", value_parser = crate::names::path)]
        content: Option<String>,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// List a profile's files (mode, size, generation, provenance).
    Files {
        /// The profile.
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Create a profile.
    Create {
        /// The new profile's name (lower-case letters, digits, `-`, `_`).
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        /// What the profile is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Change a profile's description.
    Describe {
        /// The profile.
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        /// The new description.
        description: String,
    },
    /// Add or replace a file (a local edit) from a local file.
    AddFile {
        /// The profile.
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        /// Path relative to the home directory, e.g. .gitconfig.
        #[arg(value_parser = crate::names::path)]
        path: String,
        /// Where to read the content from.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Mode (0600, 0644, 0700, 0755).
        #[arg(long, default_value = "0644")]
        mode: String,
    },
    /// Add or replace a directory entry (e.g. `.config/nvim/`) from a local directory:
    /// its regular files, each stored as a file of the profile; files no longer in the
    /// directory are removed from the entry. Symlinks, devices, FIFOs and sockets inside
    /// are refused; never-sync paths (such as `.git/`) are left out.
    AddDir {
        /// The profile.
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        /// The directory's path relative to the home directory, e.g. `.config/nvim/`.
        path: String,
        /// The local directory to read.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
    },
    /// Edit a file with $VISUAL/$EDITOR (a local edit).
    Edit {
        /// The profile.
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        /// The file's path relative to the home directory.
        #[arg(value_parser = crate::names::path)]
        path: String,
    },
    /// Remove a file from a profile (history is kept).
    RemoveFile {
        /// The profile.
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        /// The file's path relative to the home directory.
        #[arg(value_parser = crate::names::path)]
        path: String,
    },
    /// Make a profile's files what they were at GENERATION (as a new generation).
    Revert {
        /// The profile.
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        /// The generation to go back to (from `profile show`).
        generation: u64,
    },
    /// Let qubes that may propose PROFILE propose new files whose paths match GLOB
    /// (`*`, `?` within a component, `**` for any depth); with --remove, take globs
    /// off the list. Without globs, print the list.
    AllowNew {
        /// The profile.
        #[arg(value_parser = crate::names::profile)]
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
    #[arg(value_parser = crate::names::qube)]
    pub qubes: Vec<String>,
    /// Only these profiles.
    #[arg(long = "profile", value_name = "PROFILE", value_parser = crate::names::profile)]
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
    #[arg(long = "start", value_name = "QUBE", value_parser = crate::names::qube)]
    pub start: Vec<String>,
    /// Start every qube of the plan that is halted, and push to it.
    #[arg(long, conflicts_with = "start")]
    pub start_halted: bool,
}
