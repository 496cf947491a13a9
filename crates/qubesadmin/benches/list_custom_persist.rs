//! Benchmark (DESIGN §10): list 100 qubes with their custom-persist state
//! through the simulated qubesd at 20 ms latency per call.
//!
//! Budget: `1 + N + (number of custom-persist features)` Admin API calls and
//! at most 1 s wall. Prints a markdown table, one row per worker bound; the
//! row of the default bound is marked.
//!
//! Run: `cargo bench -p qubesadmin --bench list_custom_persist`

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qcs_sim::Server;
use qcs_sim::world::{QubeSpec, World};
use qubesadmin::app::DEFAULT_MAX_WORKERS;
use qubesadmin::{CountingTransport, Qubes, SocketTransport};

const QUBES: usize = 100;
const LATENCY: Duration = Duration::from_millis(20);
const WALL_BUDGET: Duration = Duration::from_secs(1);

/// dom0 + 2 templates + 97 AppVMs with varied custom-persist features.
/// Returns the world and the number of custom-persist features in it.
fn world() -> (World, usize) {
    let mut builder = World::builder()
        .qube(QubeSpec::template_vm("fedora").feature("os", "Linux"))
        .qube(QubeSpec::template_vm("debian").feature("os", "Linux"));
    let mut custom_persist_features = 0;
    for i in 0..QUBES - 3 {
        let template = if i % 2 == 0 { "fedora" } else { "debian" };
        let mut spec = QubeSpec::app(&format!("app-{i:03}"), template)
            .feature("menu-items", "org.gnome.Terminal.desktop")
            .feature("vm-config.note", "unrelated");
        match i % 5 {
            0 => {} // no custom-persist at all
            1 => {
                spec = spec
                    .feature("service.custom-persist", "1")
                    .feature("custom-persist.home", "/home");
                custom_persist_features += 2;
            }
            2 => {
                spec = spec
                    .feature("service.custom-persist", "1")
                    .feature(
                        "custom-persist.git",
                        "file:user:user:0644:/home/user/.gitconfig",
                    )
                    .feature("custom-persist.ssh", "dir:user:user:0700:/home/user/.ssh")
                    .feature(
                        "custom-persist.vim",
                        "file:user:user:0644:/home/user/.vimrc",
                    );
                custom_persist_features += 4;
            }
            3 => {
                // Entries left over with the service turned off.
                spec = spec.feature("service.custom-persist", "").feature(
                    "custom-persist.downloads",
                    "dir:user:user:0755:/home/user/Downloads",
                );
                custom_persist_features += 2;
            }
            _ => {
                spec = spec.feature("custom-persist.cache", "/var/cache/app");
                custom_persist_features += 1;
            }
        }
        builder = builder.qube(spec);
    }
    (
        builder.build().expect("benchmark world"),
        custom_persist_features,
    )
}

struct Run {
    workers: usize,
    qubes: usize,
    calls: u64,
    wall: Duration,
    enabled: usize,
}

fn run(socket: &std::path::Path, workers: usize) -> Run {
    let counting = Arc::new(CountingTransport::new(SocketTransport::new(socket)));
    let app = Qubes::from_arc(counting.clone()).with_max_workers(workers);
    let started = Instant::now();
    let vms = app.domains().expect("admin.vm.List");
    let states = app.custom_persist_state(&vms);
    let wall = started.elapsed();
    let enabled = states
        .iter()
        .map(|s| s.as_ref().expect("custom-persist state"))
        .filter(|s| s.enabled())
        .count();
    Run {
        workers,
        qubes: vms.len(),
        calls: counting.calls(),
        wall,
        enabled,
    }
}

fn main() -> ExitCode {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, features) = world();
    let world_dir = dir.path().join("world");
    world.create_dir(&world_dir).expect("world dir");
    let socket = dir.path().join("qubesd.sock");
    let server = Server::start(&world_dir, &socket).expect("qubes-sim starts");
    server.set_latency(LATENCY);

    println!(
        "list {QUBES} qubes with custom-persist state via qubes-sim, {} ms latency per call\n",
        LATENCY.as_millis()
    );
    println!(
        "| workers | qubes (N) | custom-persist features | Admin API calls | budget 1+N+F | wall | within 1 s |"
    );
    println!("|---:|---:|---:|---:|---:|---:|:---:|");
    let mut default_ok = false;
    for workers in [4, 8, DEFAULT_MAX_WORKERS, 32] {
        let run = run(&socket, workers);
        let budget = 1 + run.qubes as u64 + features as u64;
        let ok = run.calls <= budget && run.wall <= WALL_BUDGET;
        if workers == DEFAULT_MAX_WORKERS {
            default_ok = ok;
        }
        println!(
            "| {}{} | {} | {} | {} | {} | {} ms | {} |",
            run.workers,
            if workers == DEFAULT_MAX_WORKERS {
                " (default)"
            } else {
                ""
            },
            run.qubes,
            features,
            run.calls,
            budget,
            run.wall.as_millis(),
            if ok { "yes" } else { "no" },
        );
        assert!(run.enabled > 0);
    }
    server.stop();
    if default_ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("the default worker bound misses the budget");
        ExitCode::FAILURE
    }
}
