//! `qrexec-client-vm` for the simulator: call a qrexec service from a qube of
//! a world, with the real command line
//! `qrexec-client-vm [OPTIONS] TARGET SERVICE[+ARG] [LOCAL_PROGRAM [ARGS]]`.
//!
//! The world and the calling qube come from the environment
//! (`QUBES_SIM_WORLD`, `QUBES_SIM_SOURCE`; see [`qcs_sim::qrexec_client`]).
//! Exit codes: the service's (or, with LOCAL_PROGRAM, the local program's);
//! 126 refused (`Request refused` on stderr); 127 no such service; 125 the
//! service is not executable; 2 usage or setup error.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use qcs_sim::qrexec_client::{Caller, LocalProgram, call};

const USAGE: &str = "usage: qrexec-client-vm [--buffer-size=N] [--filter-escape-chars-stdout] \
[--filter-escape-chars-stderr] [--no-filter-escape-chars-stdout] [--no-filter-escape-chars-stderr] \
[-t] [-T] [--] TARGET SERVICE[+ARG] [LOCAL_PROGRAM [ARGS]]\n\
environment: QUBES_SIM_WORLD=WORLD_DIR QUBES_SIM_SOURCE=CALLING_QUBE \
[QUBES_SIM_QUBESD_SOCKET=PATH] [QUBES_SIM_QREXEC_LATENCY_MS=N]";

fn usage_error(message: &str) -> ! {
    eprintln!("qrexec-client-vm: {message}\n{USAGE}");
    std::process::exit(2);
}

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // Options of the real client that only change terminal handling and
    // buffering here; accepted so callers written for Qubes run unchanged.
    let mut first = 0;
    while let Some(arg) = args.get(first) {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            first += 1;
            break;
        }
        if bytes == b"--help" || bytes == b"-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let known = matches!(
            bytes,
            b"-t"
                | b"-T"
                | b"--filter-escape-chars-stdout"
                | b"--filter-escape-chars-stderr"
                | b"--no-filter-escape-chars-stdout"
                | b"--no-filter-escape-chars-stderr"
        ) || bytes.starts_with(b"--buffer-size=");
        if known {
            first += 1;
        } else if bytes.starts_with(b"-") && bytes.len() > 1 {
            usage_error(&format!("unknown option {}", arg.to_string_lossy()));
        } else {
            break;
        }
    }
    let mut rest = args.split_off(first).into_iter();
    let (Some(target), Some(service)) = (rest.next(), rest.next()) else {
        usage_error("TARGET and SERVICE are required");
    };
    let local = rest.next().map(|program| LocalProgram {
        program,
        args: rest.collect(),
    });
    let caller = match Caller::from_env() {
        Ok(c) => c,
        Err(e) => usage_error(&e.to_string()),
    };
    let code = call(&caller, target.as_bytes(), service.as_bytes(), local);
    // Exit at once: the stdin relay may still wait on our stdin (a service
    // that ended without reading it), and the real client does not wait.
    std::process::exit(code);
}
