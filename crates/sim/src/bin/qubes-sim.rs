//! `qubes-sim`: serve a simulated qubesd, create world directories, replay
//! golden recordings.
//!
//! Exit codes: 0 success; 1 replay found differences; 2 usage or setup error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use qcs_sim::world::{QubeSpec, WORLD_FILE, World};
use qcs_sim::{Server, SimError};

#[derive(Parser)]
#[command(
    name = "qubes-sim",
    about = "Simulated Qubes dom0 (qubesd Admin API) in a directory"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Admin API of a world directory until SIGINT/SIGTERM.
    Serve {
        /// The world directory.
        #[arg(long)]
        world: PathBuf,
        /// Socket path (default: WORLD/qubesd.sock).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Delay every call by this many milliseconds (models qrexec).
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// Create a world directory, from a golden-format world.json or a small default world.
    Init {
        /// The world directory to create (must not hold a world yet).
        #[arg(long)]
        world: PathBuf,
        /// A world.json in the golden format to start from.
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Replay golden qubesd recordings and compare every reply byte for byte.
    Replay {
        /// The golden world.json.
        #[arg(long)]
        world: PathBuf,
        /// The golden transcripts.jsonl.
        #[arg(long)]
        transcripts: PathBuf,
        /// The golden events.jsonl.
        #[arg(long)]
        events: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            world,
            socket,
            latency_ms,
        } => serve(&world, socket, latency_ms),
        Command::Init { world, from } => init(&world, from.as_deref()),
        Command::Replay {
            world,
            transcripts,
            events,
        } => replay(&world, &transcripts, events.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("qubes-sim: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(world_dir: &Path, socket: Option<PathBuf>, latency_ms: u64) -> Result<ExitCode, SimError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let socket = socket.unwrap_or_else(|| world_dir.join("qubesd.sock"));
    // Register before serving so an early signal is not lost.
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(|source| SimError::Io {
            action: "installing signal handlers for",
            path: socket.clone(),
            source,
        })?;
    let server = Server::start(world_dir, &socket)?;
    server.set_latency(Duration::from_millis(latency_ms));
    let world = server.world();
    println!(
        "qubes-sim: serving {} on {}",
        world_dir.display(),
        socket.display()
    );
    for name in world.sorted_names() {
        if let Some(q) = world.qube(&name) {
            println!(
                "  {:<31} {:<12} {:<8} label={}{}",
                q.name,
                q.class,
                q.power_state,
                q.label,
                q.template
                    .as_deref()
                    .map(|t| format!(" template={t}"))
                    .unwrap_or_default()
            );
        }
    }
    if latency_ms > 0 {
        println!("qubes-sim: latency {latency_ms} ms per call");
    }
    if let Some(signal) = signals.forever().next() {
        eprintln!("qubes-sim: signal {signal}, stopping");
    }
    if let Some(e) = server.save_error() {
        eprintln!("qubes-sim: warning: the last save of the world failed: {e}");
    }
    server.stop();
    Ok(ExitCode::SUCCESS)
}

fn init(dir: &Path, from: Option<&Path>) -> Result<ExitCode, SimError> {
    if dir.join(WORLD_FILE).exists() {
        return Err(SimError::WorldInvalid(format!(
            "{} already holds a world",
            dir.display()
        )));
    }
    let world = match from {
        Some(file) => World::from_json_file(file)?,
        None => default_world()?,
    };
    let world = world.create_dir(dir)?;
    println!(
        "qubes-sim: created world {} with {} qubes",
        dir.display(),
        world.data.vms.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// A small world: a template, a disposable template, a few app qubes.
fn default_world() -> Result<World, SimError> {
    World::builder()
        .qube(
            QubeSpec::template_vm("debian-12-xfce")
                .label("black")
                .feature("os", "Linux"),
        )
        .qube(QubeSpec::dvm_template("default-dvm", "debian-12-xfce").label("red"))
        .qube(
            QubeSpec::app("work", "debian-12-xfce")
                .label("blue")
                .tag("config-managed"),
        )
        .qube(
            QubeSpec::app("personal", "debian-12-xfce")
                .label("green")
                .tag("config-managed")
                .feature("service.custom-persist", "1")
                .feature("custom-persist.home", "/home/user"),
        )
        .qube(QubeSpec::app("vault", "debian-12-xfce").label("black"))
        .qube(QubeSpec::app("untrusted", "debian-12-xfce").label("red"))
        .global_property("default_template", "debian-12-xfce")
        .global_property("default_dispvm", "default-dvm")
        .build()
}

fn replay(world: &Path, transcripts: &Path, events: Option<&Path>) -> Result<ExitCode, SimError> {
    let report = qcs_sim::replay::replay(world, transcripts, events)?;
    for skipped in &report.skipped {
        eprintln!("note: {skipped}");
    }
    for diff in &report.differences {
        println!("{diff}");
    }
    println!("{}", report.summary());
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
