//! `qubes-config-propose [--note TEXT] PROFILE FILE...`: propose files of a profile
//! from this qube to the config qube (see [`qcs_agent::propose_client`]).

fn main() {
    let args = std::env::args_os().skip(1).collect();
    std::process::exit(qcs_agent::cli::propose_main(args));
}
