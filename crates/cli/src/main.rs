//! `qvm-config-sync`: the command-line client (see `qcs_cli`).

fn main() -> std::process::ExitCode {
    qcs_cli::main()
}
