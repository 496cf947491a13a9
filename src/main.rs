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

/// Starts the demo when asked (`--demo`); the returned guard keeps it running.
#[cfg(feature = "demo")]
fn start_demo(cli: &mut Cli, options: &mut Options) -> Result<Option<Demo>, ExitCode> {
    if !cli.demo {
        return Ok(None);
    }
    match Demo::start(cli.world.take()) {
        Ok(demo) => {
            eprintln!(
                "qubes-config-sync: demo world in {}, backend on {}",
                demo.world_dir().display(),
                demo.bus_address()
            );
            options.bus_address = Some(demo.bus_address().to_owned());
            Ok(Some(demo))
        }
        Err(e) => {
            eprintln!("qubes-config-sync: cannot start the demo: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// A build without the `demo` feature (the packaged app) has no demo.
#[cfg(not(feature = "demo"))]
fn start_demo(
    cli: &mut Cli,
    _options: &mut Options,
) -> Result<Option<std::convert::Infallible>, ExitCode> {
    if cli.demo || cli.world.is_some() {
        eprintln!(
            "qubes-config-sync: this build has no demo (it is the cargo feature `demo`; \
             `tools/dev demo` builds and starts it)"
        );
        return Err(ExitCode::FAILURE);
    }
    Ok(None)
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    qubes_config_sync::init();
    let mut options = Options {
        bus_address: cli.bus_address.take(),
        start_hidden: cli.tray,
        no_tray: false,
    };
    let demo = match start_demo(&mut cli, &mut options) {
        Ok(demo) => demo,
        Err(code) => return code,
    };
    // A demo must not hand its window to (or take one from) a real running instance.
    let app = QcsApplication::new(options, demo.is_none());
    // Our options are parsed already; GApplication sees only the program name.
    let status = app.run_with_args(&std::env::args().take(1).collect::<Vec<_>>());
    let code = if status == gtk::glib::ExitCode::SUCCESS {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    // The demo (its backend, bus and world) stops only after the app is gone.
    drop(app);
    #[cfg(feature = "demo")]
    drop(demo);
    code
}
