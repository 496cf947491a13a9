//! `qvm-config-sync`: the command-line client (see `qcs_daemon::cli`).

fn main() -> std::process::ExitCode {
    qcs_daemon::cli::main()
}
