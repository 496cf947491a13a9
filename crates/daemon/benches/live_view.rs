//! Benchmark of issue 16 item 3: from the backend's start to a complete view of 100
//! qubes (class, state, label, template, the features persistence depends on, per-path
//! persistence of an assigned 3-file profile) through the simulated qubesd at 20 ms
//! per Admin API call, against a sequential qubesadmin-style baseline on the same
//! world in the same run (what `qvm-features` over every qube does: `admin.vm.List`,
//! then per qube `admin.vm.feature.List` and each feature's `Get`, one call at a time).
//! The backend is measured twice: with `admin.vm.property.GetAll` answered, and with
//! it refused by qrexec policy (as the shipped dom0 policy does; the refusal still
//! takes a call's latency). Then the cost of keeping the view current: one feature
//! changed elsewhere, the calls and time until the next view shows it.
//!
//! Prints a markdown table (wall times, Admin API calls, ratio). Figures only: no
//! timed assertion. `cargo bench -p qcs-daemon --bench live_view` (release).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qcs_daemon::backend::{Backend, BackendConfig};
use qcs_protocol::literal::{pid, rp, vm};
use qcs_sim::Server;
use qcs_sim::world::{QubeSpec, World};
use qubesadmin::transport::{StreamConnection, Transport};
use qubesadmin::{CountingTransport, DenyReason, Error, Qubes, SocketTransport};

const QUBES: usize = 100;
const LATENCY: Duration = Duration::from_millis(20);
const PROFILE_FILES: [&str; 3] = [".gitconfig", ".bashrc", ".config/nvim/init.lua"];

/// dom0 + 2 templates + 97 AppVMs with varied features (custom-persist and others).
fn world() -> World {
    let mut builder = World::builder()
        .qube(QubeSpec::template_vm("fedora").feature("os", "Linux"))
        .qube(QubeSpec::template_vm("debian").feature("os", "Linux"));
    for i in 0..QUBES - 3 {
        let template = if i % 2 == 0 { "fedora" } else { "debian" };
        let mut spec = QubeSpec::app(&format!("app-{i:03}"), template)
            .label(if i % 3 == 0 { "red" } else { "blue" })
            .feature("menu-items", "org.gnome.Terminal.desktop")
            .feature("vm-config.note", "unrelated");
        spec = match i % 5 {
            0 => spec,
            1 => spec
                .feature("service.custom-persist", "1")
                .feature("custom-persist.home", "/home"),
            2 => spec
                .feature("service.custom-persist", "1")
                .feature(
                    "custom-persist.git",
                    "file:user:user:0644:/home/user/.gitconfig",
                )
                .feature("custom-persist.ssh", "dir:user:user:0700:/home/user/.ssh"),
            3 => spec.feature("service.custom-persist", "").feature(
                "custom-persist.downloads",
                "dir:user:user:0755:/home/user/Downloads",
            ),
            _ => spec.feature("custom-persist.cache", "/var/cache/app"),
        };
        builder = builder.qube(spec);
    }
    builder.build().expect("benchmark world")
}

fn counting_app(socket: &Path) -> (Arc<CountingTransport<SocketTransport>>, Qubes) {
    let counting = Arc::new(CountingTransport::new(SocketTransport::new(socket)));
    (Arc::clone(&counting), Qubes::from_arc(counting))
}

/// qrexec refusing `admin.vm.property.GetAll` (exit 126 after the call's latency).
struct RefuseGetAll(SocketTransport);

impl Transport for RefuseGetAll {
    fn call_raw(
        &self,
        dest: &str,
        method: &str,
        arg: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, Error> {
        if method == "admin.vm.property.GetAll" {
            std::thread::sleep(LATENCY);
            return Err(Error::AccessDenied(DenyReason::QrexecPolicy(
                "Request refused".to_owned(),
            )));
        }
        self.0.call_raw(dest, method, arg, payload)
    }

    fn open_stream(&self, dest: &str, method: &str, arg: &str) -> Result<StreamConnection, Error> {
        self.0.open_stream(dest, method, arg)
    }
}

/// Backend start to the first complete `list_qubes` with GetAll refused.
fn start_without_get_all(socket: &Path, store: &Path, dir: &Path) -> (Duration, u64) {
    let counting = Arc::new(CountingTransport::new(RefuseGetAll(SocketTransport::new(
        socket,
    ))));
    let admin = Qubes::from_arc(Arc::clone(&counting) as Arc<dyn Transport>);
    let started = Instant::now();
    let backend = Arc::new(Backend::open(config(store, dir), admin).expect("open"));
    let subscription = backend.watch_events();
    let list = backend.list_qubes(None).expect("list_qubes");
    let wall = started.elapsed();
    assert!(list.admin_error.is_none());
    assert!(
        list.qubes
            .iter()
            .all(|q| q.class != "AppVM" || !q.label.is_empty() && q.template.is_some())
    );
    drop(subscription);
    (wall, counting.calls())
}

/// What the qvm-* tools do, one call at a time.
fn baseline(socket: &Path) -> (Duration, u64, usize) {
    let (counting, app) = counting_app(socket);
    let app = app.with_max_workers(1);
    let started = Instant::now();
    let mut features = 0;
    for vm in app.domains().expect("admin.vm.List") {
        for name in vm.features().list().expect("feature.List") {
            vm.features().get(&name).expect("feature.Get");
            features += 1;
        }
    }
    (started.elapsed(), counting.calls(), features)
}

fn config(store: &Path, dir: &Path) -> BackendConfig {
    BackendConfig {
        store_path: store.to_owned(),
        spool_dir: None,
        qrexec_program: dir.join("no-qrexec"),
        max_parallel: 8,
        config_qube: "sys-config".to_owned(),
        call_timeout: Duration::from_secs(30),
    }
}

fn main() -> std::process::ExitCode {
    let dir = tempfile::tempdir().expect("tempdir");
    let world_dir = dir.path().join("world");
    world().create_dir(&world_dir).expect("world dir");
    let socket = dir.path().join("qubesd.sock");
    let server = Server::start(&world_dir, &socket).expect("qubes-sim starts");
    server.set_latency(LATENCY);

    // The store: one profile of 3 files assigned to every AppVM (prepared untimed).
    let store_path = dir.path().join("store.sqlite");
    {
        let mut store = qcs_core::store::Store::open(&store_path).expect("store");
        store
            .create_profile(&pid("dotfiles"), "bench")
            .expect("profile");
        for path in PROFILE_FILES {
            store
                .put_file(&pid("dotfiles"), &rp(path), b"# bench\n", 0o644)
                .expect("file");
        }
        for i in 0..QUBES - 3 {
            store
                .assign(&vm(&format!("app-{i:03}")), &pid("dotfiles"))
                .expect("assign");
        }
    }

    let (base_wall, base_calls, base_features) = baseline(&socket);

    // The backend as the daemon starts it: open, subscribe to events (which starts
    // fetching the view), then the first client request.
    let (counting, admin) = counting_app(&socket);
    let started = Instant::now();
    let backend = Arc::new(Backend::open(config(&store_path, dir.path()), admin).expect("open"));
    let subscription = backend.watch_events();
    let list = backend.list_qubes(None).expect("list_qubes");
    let first_view = started.elapsed();
    let first_calls = counting.calls();
    let persistence: usize = list.qubes.iter().map(|q| q.persistence.len()).sum();
    let unknown = list
        .qubes
        .iter()
        .flat_map(|q| &q.persistence)
        .filter(|p| p.verdict.as_str() == "unknown")
        .count();
    assert!(list.admin_error.is_none(), "{:?}", list.admin_error);
    assert_eq!(list.qubes.len(), QUBES - 1);
    assert_eq!(persistence, (QUBES - 3) * PROFILE_FILES.len());
    assert_eq!(unknown, 0, "every path has a verdict");

    // Kept current: a change made elsewhere, then the next view.
    let other = Qubes::new(SocketTransport::new(&socket));
    let before = counting.calls();
    let changed_at = Instant::now();
    other
        .vm_blind("app-000")
        .features()
        .set("service.custom-persist", "1")
        .expect("set");
    let verdict = |backend: &Backend| {
        backend
            .list_qubes(Some(&vm("app-000")))
            .expect("list")
            .qubes
            .first()
            .and_then(|q| q.persistence.first().map(|p| p.verdict.as_str().to_owned()))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while verdict(&backend).as_deref() != Some("lost-at-restart") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let update = changed_at.elapsed();
    let update_calls = counting.calls() - before;
    assert_eq!(verdict(&backend).as_deref(), Some("lost-at-restart"));
    drop(subscription);
    let (refused_wall, refused_calls) = start_without_get_all(&socket, &store_path, dir.path());
    server.stop();

    println!(
        "{QUBES} qubes via qubes-sim, {} ms per Admin API call (release build)\n",
        LATENCY.as_millis()
    );
    println!("| what | wall | Admin API calls |");
    println!("|---|---:|---:|");
    println!(
        "| baseline: qubesadmin-style, sequential (list, per qube feature.List + {base_features} feature.Get) | {} ms | {base_calls} |",
        base_wall.as_millis()
    );
    println!(
        "| backend start to complete view ({} qubes, {persistence} path verdicts) | {} ms | {first_calls} |",
        list.qubes.len(),
        first_view.as_millis()
    );
    println!(
        "| the same, `admin.vm.property.GetAll` refused by policy (two `property.Get` per qube) | {} ms | {refused_calls} |",
        refused_wall.as_millis()
    );
    println!(
        "| one feature changed elsewhere to the view showing it (events) | {} ms | {update_calls} |",
        update.as_millis()
    );
    println!(
        "\nratio baseline / backend: {:.1}x",
        base_wall.as_secs_f64() / first_view.as_secs_f64()
    );
    std::process::ExitCode::SUCCESS
}
