//! `qubes-config-sync`: the app of the config qube. See the library's crate doc.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gtk::prelude::*;
use qubes_config_sync::application::{Options, QcsApplication};
#[cfg(feature = "demo")]
use qubes_config_sync::demo::Demo;

#[derive(Parser)]
#[command(
    version,
    about = "Keep dotfiles in sync across qubes, with review of every change"
)]
struct Cli {
    /// Run on a simulated Qubes: a demo world, a private bus with the real backend on
    /// it, sample profiles and a pending risky proposal.
    #[arg(long)]
    demo: bool,
    /// With --demo: build the demo world in this directory and keep it (default: a
    /// temporary one).
    #[arg(long, requires = "demo", value_name = "DIR")]
    world: Option<PathBuf>,
    /// Talk to the backend on this D-Bus address instead of the session bus.
    #[arg(long, value_name = "ADDRESS", conflicts_with = "demo")]
    bus_address: Option<String>,
    /// Start without a window: only the tray and notifications (autostart).
    #[arg(long)]
    tray: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    qubes_config_sync::init();
    let mut options = Options {
        bus_address: cli.bus_address,
        start_hidden: cli.tray,
        no_tray: false,
    };
    #[cfg(not(feature = "demo"))]
    let demo: Option<()> = if cli.demo {
        let _ = cli.world;
        eprintln!(
            "qubes-config-sync: this build has no demo (build with the cargo feature `demo`, \
             or run `tools/dev demo`)"
        );
        return ExitCode::FAILURE;
    } else {
        None
    };
    #[cfg(feature = "demo")]
    let demo = if cli.demo {
        match Demo::start(cli.world) {
            Ok(demo) => {
                eprintln!(
                    "qubes-config-sync: demo world in {}, backend on {}",
                    demo.world_dir().display(),
                    demo.bus_address()
                );
                options.bus_address = Some(demo.bus_address().to_owned());
                Some(demo)
            }
            Err(e) => {
                eprintln!("qubes-config-sync: cannot start the demo: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    // A demo must not hand its window to (or take one from) a real running instance.
    let app = QcsApplication::new(options, demo.is_none());
    // Our options are parsed already; GApplication sees only the program name.
    let status = app.run_with_args(&std::env::args().take(1).collect::<Vec<_>>());
    drop(demo);
    if status == gtk::glib::ExitCode::SUCCESS {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
