//! `qubes-policy-eval`: evaluate one qrexec call against a policy directory, as dom0 would.
//!
//! ```text
//! qubes-policy-eval --policy-dir DIR --system-info FILE SERVICE[+ARG] SOURCE TARGET
//! ```
//! prints one line — `allow target=T`, `ask targets=A,B default_target=T` (default_target left
//! out when there is none) or `deny` — and exits 0. A malformed policy (syntax error, invalid
//! file name) prints `file:line: message` on stderr and exits 2; any other failure (unreadable
//! file, bad JSON) prints a message and exits 1; bad command-line usage exits 64.
//!
//! ```text
//! qubes-policy-eval check --policy-dir DIR [--system-info FILE]
//! ```
//! prints what each qube may do with the qubes-config-sync services (and the Admin API calls the
//! config qube gets) as a table, then every grant that exceeds the trust model. Exits 0 when
//! nothing exceeds it, 3 when something does, 2/1/64 as above.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qrexec::{Policy, SystemInfo, split_service_call};

const EXIT_MALFORMED_POLICY: u8 = 2;
const EXIT_OTHER: u8 = 1;
const EXIT_USAGE: u8 = 64;
const EXIT_OVER_GRANT: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "qubes-policy-eval",
    version,
    about = "Evaluate a qrexec call against a Qubes policy directory",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Prints one line: 'allow target=T', 'ask targets=A,B default_target=T' \
                  (default_target left out when there is none) or 'deny'.\n\
                  Exit codes: 0 decided; 2 malformed policy (file:line: message on stderr); \
                  1 other errors; 64 bad usage; 'check' exits 3 on grants beyond the trust model."
)]
struct Cli {
    /// The policy directory (a copy of dom0's /etc/qubes/policy.d)
    #[arg(long, value_name = "DIR")]
    policy_dir: Option<PathBuf>,
    /// JSON of qubesd's internal.GetSystemInfo
    #[arg(long, value_name = "FILE")]
    system_info: Option<PathBuf>,
    /// The call, SERVICE or SERVICE+ARG
    #[arg(value_name = "SERVICE+ARG", required = true)]
    call: Option<String>,
    /// The calling qube
    #[arg(value_name = "SOURCE", required = true)]
    source: Option<String>,
    /// The target the caller asked for (a qube, @default, @dispvm, @adminvm, ...)
    #[arg(value_name = "TARGET", required = true)]
    target: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print what each qube may do with our services and flag grants beyond the trust model
    Check {
        /// The policy directory (a copy of dom0's /etc/qubes/policy.d)
        #[arg(long, value_name = "DIR")]
        policy_dir: PathBuf,
        /// JSON of qubesd's internal.GetSystemInfo (default: sample qubes)
        #[arg(long, value_name = "FILE")]
        system_info: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match &cli.command {
        None => evaluate(&cli),
        Some(Command::Check {
            policy_dir,
            system_info,
        }) => check(policy_dir, system_info.as_deref()),
    }
}

fn check(policy_dir: &Path, system_info: Option<&Path>) -> ExitCode {
    let system = match system_info.map(read_system_info).transpose() {
        Ok(s) => s,
        Err(message) => {
            eprintln!("qubes-policy-eval: {message}");
            return ExitCode::from(EXIT_OTHER);
        }
    };
    let policy = match Policy::load_dir(policy_dir) {
        Ok(p) => p,
        Err(e) => return policy_error(&e),
    };
    for warning in policy.warnings() {
        eprintln!("qubes-policy-eval: {warning}");
    }
    let report = qrexec::check(&policy, system.as_ref());
    print!("{}", qrexec::render(&report));
    if report.has_over_grants() {
        ExitCode::from(EXIT_OVER_GRANT)
    } else {
        ExitCode::SUCCESS
    }
}

fn evaluate(cli: &Cli) -> ExitCode {
    let (Some(policy_dir), Some(system_info), Some(call), Some(source), Some(target)) = (
        &cli.policy_dir,
        &cli.system_info,
        &cli.call,
        &cli.source,
        &cli.target,
    ) else {
        eprintln!(
            "qubes-policy-eval: usage: qubes-policy-eval --policy-dir DIR --system-info FILE \
             SERVICE+ARG SOURCE TARGET"
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let system = match read_system_info(system_info) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("qubes-policy-eval: {message}");
            return ExitCode::from(EXIT_OTHER);
        }
    };
    let policy = match Policy::load_dir(policy_dir) {
        Ok(p) => p,
        Err(e) => return policy_error(&e),
    };
    let (service, argument) = split_service_call(call);
    println!(
        "{}",
        policy
            .evaluate(&system, service, &argument, source, target)
            .summary()
    );
    ExitCode::SUCCESS
}

fn policy_error(e: &qrexec::PolicyError) -> ExitCode {
    eprintln!("{e}");
    ExitCode::from(if e.is_malformed_policy() {
        EXIT_MALFORMED_POLICY
    } else {
        EXIT_OTHER
    })
}

fn read_system_info(path: &Path) -> Result<SystemInfo, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read system info {}: {e}", path.display()))?;
    SystemInfo::from_json(&text)
        .map_err(|e| format!("invalid system info JSON in {}: {e}", path.display()))
}
