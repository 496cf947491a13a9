//! `qubes-config-agent SERVICE [PROFILE]`: the qrexec services of qubes-config-sync
//! (see [`qcs_agent::cli::AGENT_USAGE`]).

fn main() {
    std::process::exit(qcs_agent::cli::agent_main(std::env::args_os().collect()));
}
