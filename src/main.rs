//! `qubes-config-sync`: the app of the config qube.
//!
//! Until the GTK window lands (see the issues), the binary lists the qubes it would manage
//! — from the real Admin API, or with `--demo` from a simulated Qubes — through the same
//! `qubesadmin` client the app will use.

mod demo;

use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use qcs_sim::qubesd::Server;
use qubesadmin::{Qubes, SocketTransport, Vm};

#[derive(Parser)]
#[command(
    version,
    about = "Keep dotfiles in sync across qubes, with review of every change"
)]
struct Cli {
    /// Run on a simulated Qubes (a demo world in a temporary directory) instead of the real one.
    #[arg(long)]
    demo: bool,
    /// With --demo: build the demo world in this directory and keep it (default: a temporary one).
    #[arg(long, requires = "demo", value_name = "DIR")]
    world: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = if cli.demo {
        run_demo(cli.world)
    } else {
        print_qubes(&Qubes::from_environment())
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("qubes-config-sync: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_demo(world_dir: Option<PathBuf>) -> Result<(), String> {
    let temporary;
    let dir = match world_dir {
        Some(dir) => dir,
        None => {
            temporary = tempfile::Builder::new()
                .prefix("qubes-config-sync-demo-")
                .tempdir()
                .map_err(|e| format!("cannot create a directory for the demo world: {e}"))?;
            temporary.path().to_owned()
        }
    };
    demo::world()
        .create(&dir)
        .map_err(|e| format!("cannot build the demo world in {}: {e}", dir.display()))?;
    let socket = dir.join("qubesd.sock");
    let server = Server::start(&dir, &socket)
        .map_err(|e| format!("cannot start the simulated qubesd: {e}"))?;
    println!("Simulated Qubes in {}", dir.display());
    println!("Admin API socket: {}", socket.display());
    println!();
    print_qubes(&Qubes::new(SocketTransport::new(&socket)))?;
    println!();
    println!("The simulator keeps serving; press Enter (or close stdin) to stop it.");
    io::stdout().flush().ok();
    let mut line = String::new();
    // EOF and errors end the demo as well as Enter does.
    let _ = io::stdin().lock().read_line(&mut line);
    server.stop();
    Ok(())
}

/// One row per qube: what the qube list of the app shows.
fn print_qubes(app: &Qubes) -> Result<(), String> {
    let vms = app
        .domains()
        .map_err(|e| format!("cannot list the qubes: {e}"))?;
    let vms: Vec<Vm> = vms.into_iter().filter(|vm| vm.name() != "dom0").collect();
    let labels = app.map_parallel(&vms, |vm| vm.property("label"));
    let persistence = app.custom_persist_state(&vms);
    println!(
        "{:<20} {:<13} {:<8} {:<7} PERSISTENCE",
        "NAME", "CLASS", "STATE", "LABEL"
    );
    for ((vm, label), persist) in vms.iter().zip(labels).zip(persistence) {
        let label = label.map(|p| p.value).unwrap_or_else(|_| "?".into());
        let persist = match persist {
            Ok(state) if state.enabled() => format!(
                "custom-persist: {}",
                state
                    .features
                    .iter()
                    .map(|f| f.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Ok(_) => "default".to_owned(),
            Err(e) => format!("unknown ({e})"),
        };
        println!(
            "{:<20} {:<13} {:<8} {:<7} {persist}",
            vm.name(),
            vm.class(),
            vm.info()
                .attributes
                .get("state")
                .map_or("?", String::as_str),
            label
        );
    }
    Ok(())
}
