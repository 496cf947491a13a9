//! `qubes-config-syncd`: the D-Bus backend (see `qcs_daemon::daemon`).

fn main() -> std::process::ExitCode {
    use clap::Parser as _;
    qcs_daemon::daemon::run(qcs_daemon::daemon::DaemonArgs::parse())
}
