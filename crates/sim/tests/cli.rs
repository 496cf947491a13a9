//! The `qubes-sim` command: init, serve (until SIGTERM/SIGINT), latency.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::ok;

fn qubes_sim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_qubes-sim"))
}

fn golden_world_json() -> std::path::PathBuf {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/world.json");
    assert!(p.is_file(), "golden world missing at {}", p.display());
    p
}

/// Start `serve`, wait for its banner, return the child and the banner lines.
fn start_serve(args: &[&std::ffi::OsStr]) -> (Child, Vec<String>) {
    let mut child = qubes_sim()
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn qubes-sim serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout);
    // The banner is printed once the socket is bound; read up to the qube list.
    let mut line = String::new();
    while reader.read_line(&mut line).expect("read banner") > 0 {
        lines.push(line.trim_end().to_owned());
        line.clear();
        if lines.len() >= 2
            && lines
                .last()
                .is_some_and(|l| l.trim_start().starts_with("dom0 "))
        {
            break;
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    (child, lines)
}

fn signal(child: &Child, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::kill_process(pid, sig).expect("kill");
}

#[test]
fn init_from_golden_then_serve_until_sigterm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = tmp.path().join("w");
    let out = qubes_sim()
        .arg("init")
        .arg("--world")
        .arg(&world)
        .arg("--from")
        .arg(golden_world_json())
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(world.join("world.json").is_file() && world.join("policy").is_dir());
    // A second init does not overwrite the world.
    let again = qubes_sim()
        .arg("init")
        .arg("--world")
        .arg(&world)
        .output()
        .expect("init");
    assert_eq!(again.status.code(), Some(2));

    let (mut child, banner) = start_serve(&[std::ffi::OsStr::new("--world"), world.as_os_str()]);
    let socket = world.join("qubesd.sock");
    assert!(
        banner[0].contains(&socket.display().to_string()),
        "{banner:?}"
    );
    assert!(
        banner.iter().any(|l| l.trim_start().starts_with("dom0 ")),
        "{banner:?}"
    );
    let list = ok(&socket, "admin.vm.List", "adminvm", "", b"");
    assert!(list.starts_with("dom0 class=AdminVM"));
    ok(
        &socket,
        "admin.vm.feature.Set",
        "dom0",
        "from-cli-test",
        b"1",
    );
    signal(&child, rustix::process::Signal::TERM);
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists(), "socket removed on exit");
    // The change made through the served API was persisted.
    let saved = qcs_sim::World::load(&world).expect("load");
    assert_eq!(
        saved
            .qube("dom0")
            .and_then(|q| q.features.get("from-cli-test"))
            .map(String::as_str),
        Some("1")
    );
}

#[test]
fn init_default_world_and_serve_with_latency_until_sigint() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = tmp.path().join("w");
    let socket = tmp.path().join("custom.sock");
    let out = qubes_sim()
        .arg("init")
        .arg("--world")
        .arg(&world)
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut child, _) = start_serve(&[
        std::ffi::OsStr::new("--world"),
        world.as_os_str(),
        std::ffi::OsStr::new("--socket"),
        socket.as_os_str(),
        std::ffi::OsStr::new("--latency-ms"),
        std::ffi::OsStr::new("100"),
    ]);
    let start = std::time::Instant::now();
    let list = ok(&socket, "admin.vm.List", "adminvm", "", b"");
    assert!(
        start.elapsed() >= std::time::Duration::from_millis(100),
        "latency applied"
    );
    let names: Vec<&str> = list
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(names[0], "dom0");
    assert!(names.len() >= 5, "{names:?}");
    signal(&child, rustix::process::Signal::INT);
    assert!(child.wait().expect("wait").success());
    assert!(!socket.exists());
}

#[test]
fn serve_refuses_a_missing_world() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = qubes_sim()
        .arg("serve")
        .arg("--world")
        .arg(tmp.path().join("nothing"))
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("world.json"));
}
