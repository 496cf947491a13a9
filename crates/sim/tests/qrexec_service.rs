//! The sim's `qrexec-client-vm` against the recordings of the real qrexec
//! (`golden/qubesd/qrexec.md`): what a service sees (§1), what the caller
//! gets (§2), stdin/EOF (§3), 1 MiB payloads (§4), sanitising (§5).

mod qrexec_common;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::process::Stdio;

use qrexec_common::*;

fn home_of(world: &qcs_sim::World, qube: &str) -> String {
    world.qube_home(qube).expect("home").display().to_string()
}

fn rpc_of(world: &qcs_sim::World, qube: &str) -> String {
    world.qube_rpc_dir(qube).expect("rpc").display().to_string()
}

#[test]
fn call_with_argument_matches_golden_1a() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    let o = qrexec(dir, "mgmt", &["work", "test.Dump+myarg"], b"hi\n");
    assert_eq!((o.rc, o.err()), (0, String::new()));
    let dump = o.out();
    assert_eq!(
        argv(&dump),
        [
            format!("[{}/test.Dump]", rpc_of(&world, "work")),
            "[myarg]".to_owned()
        ]
    );
    assert!(dump.contains("== argc-1: 1\n"), "{dump}");
    let home = home_of(&world, "work");
    assert!(dump.contains(&format!("== pwd: {home}\n")), "{dump}");
    let pid = env_value(&dump, "QREXEC_AGENT_PID").expect("agent pid");
    assert!(pid.parse::<u32>().is_ok(), "{pid}");
    assert_eq!(
        qrexec_env(&dump),
        [
            format!("QREXEC_AGENT_PID={pid}"),
            "QREXEC_REMOTE_DOMAIN=mgmt".to_owned(),
            "QREXEC_REQUESTED_TARGET_TYPE=".to_owned(),
            "QREXEC_SERVICE_ARGUMENT=myarg".to_owned(),
            "QREXEC_SERVICE_FULL_NAME=test.Dump+myarg".to_owned(),
        ]
    );
    // The login-shell PATH of a qube service, and the qube's user and home.
    assert_eq!(
        env_value(&dump, "PATH").as_deref(),
        Some("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    );
    assert_eq!(env_value(&dump, "HOME"), Some(home));
    assert_eq!(env_value(&dump, "USER").as_deref(), Some("user"));
    assert_eq!(env_value(&dump, "LOGNAME").as_deref(), Some("user"));
    // A service can call out as its own qube.
    assert_eq!(
        env_value(&dump, "QUBES_SIM_SOURCE").as_deref(),
        Some("work")
    );
    assert_eq!(
        env_value(&dump, "QUBES_SIM_WORLD"),
        Some(dir.display().to_string())
    );
    // Nothing of the caller's own environment leaks into the service.
    assert_eq!(env_value(&dump, "CARGO_MANIFEST_DIR"), None);
}

#[test]
fn call_without_argument_matches_golden_1b() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    for call in ["test.Dump", "test.Dump+"] {
        let o = qrexec(dir, "mgmt", &["work", call], b"");
        assert_eq!(o.rc, 0, "{call}: {}", o.err());
        let dump = o.out();
        assert_eq!(
            argv(&dump),
            [format!("[{}/test.Dump]", rpc_of(&world, "work"))],
            "{call}"
        );
        assert!(dump.contains("== argc-1: 0\n"), "{call}: {dump}");
        let env = qrexec_env(&dump);
        assert!(
            env.contains(&"QREXEC_SERVICE_ARGUMENT=".to_owned()),
            "{env:?}"
        );
        assert!(
            env.contains(&"QREXEC_SERVICE_FULL_NAME=test.Dump+".to_owned()),
            "{env:?}"
        );
    }
}

#[test]
fn service_file_per_argument_golden_1c() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    let o = qrexec(dir, "mgmt", &["work", "test.Dump+special"], b"");
    assert_eq!(
        o.out(),
        "specific service file test.Dump+special ran; argv1=[special] QREXEC_SERVICE_ARGUMENT=[special]\n"
    );
    let o = qrexec(dir, "mgmt", &["work", "test.Dump+specialx"], b"");
    assert_eq!(
        argv(&o.out()),
        [
            format!("[{}/test.Dump]", rpc_of(&world, "work")),
            "[specialx]".to_owned()
        ]
    );
}

#[test]
fn default_unknown_and_empty_targets_golden_1d() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    let direct = qrexec(dir, "mgmt", &["work", "test.Dump+viadefault"], b"");
    let via_default = qrexec(dir, "mgmt", &["@default", "test.Dump+viadefault"], b"");
    assert_eq!(via_default.rc, 0, "{}", via_default.err());
    let strip_pid = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("QREXEC_AGENT_PID="))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Nothing reveals @default to the service.
    assert_eq!(strip_pid(&via_default.out()), strip_pid(&direct.out()));
    let plain = qrexec(dir, "mgmt", &["work", "test.Dump"], b"");
    // A qube named by its uuid is that qube.
    let uuid = world
        .qube("work")
        .and_then(|q| q.uuid.clone())
        .expect("uuid");
    let o = qrexec(dir, "mgmt", &[&format!("uuid:{uuid}"), "test.Dump"], b"");
    assert_eq!(o.rc, 0, "{}", o.err());
    assert_eq!(strip_pid(&o.out()), strip_pid(&plain.out()));
    for target in ["nosuchvm", ""] {
        let o = qrexec(dir, "mgmt", &[target, "test.Dump"], b"");
        assert_eq!(o.rc, 0, "{target:?}: {}", o.err());
        assert_eq!(strip_pid(&o.out()), strip_pid(&plain.out()), "{target:?}");
    }
}

#[test]
fn disposable_target_is_refused_like_golden_1e() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let o = qrexec(
        world.dir().expect("dir"),
        "mgmt",
        &["@dispvm", "test.Dump+viadispvm"],
        b"",
    );
    assert_eq!(
        (o.rc, o.out(), o.err()),
        (126, String::new(), "Request refused\n".into())
    );
}

#[test]
fn dom0_executable_service_golden_1f() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    let o = qrexec(dir, "mgmt", &["dom0", "test.Dump+todom0"], b"");
    assert_eq!(o.rc, 0, "{}", o.err());
    let dump = o.out();
    assert_eq!(
        argv(&dump),
        [
            format!("[{}/test.Dump]", rpc_of(&world, "dom0")),
            "[todom0]".to_owned()
        ]
    );
    assert_eq!(
        qrexec_env(&dump),
        [
            "QREXEC_REMOTE_DOMAIN=mgmt",
            "QREXEC_REQUESTED_TARGET=dom0",
            "QREXEC_REQUESTED_TARGET_TYPE=name",
            "QREXEC_SERVICE_ARGUMENT=todom0",
            "QREXEC_SERVICE_FULL_NAME=test.Dump+todom0",
        ]
    );
    assert_eq!(env_value(&dump, "PATH").as_deref(), Some("/usr/bin:/bin"));
    let o = qrexec(dir, "mgmt", &["@adminvm", "test.Dump+toadminvm"], b"");
    assert_eq!(
        qrexec_env(&o.out()),
        [
            "QREXEC_REMOTE_DOMAIN=mgmt",
            "QREXEC_REQUESTED_TARGET_KEYWORD=adminvm",
            "QREXEC_REQUESTED_TARGET_TYPE=keyword",
            "QREXEC_SERVICE_ARGUMENT=toadminvm",
            "QREXEC_SERVICE_FULL_NAME=test.Dump+toadminvm",
        ]
    );
}

/// A socket-based service that records the bytes of each connection and
/// answers `sockdump-reply\n`.
fn sock_dump(path: &std::path::Path, connections: usize) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
    let listener = UnixListener::bind(path).expect("bind socket service");
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut bytes = Vec::new();
            stream.read_to_end(&mut bytes).expect("read request");
            stream.write_all(b"sockdump-reply\n").expect("reply");
            seen.push(bytes);
        }
        seen
    })
}

#[test]
fn socket_services_get_the_golden_framing_1g() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    let dom0 = sock_dump(
        &world
            .qube_rpc_dir("dom0")
            .expect("rpc")
            .join("test.SockDump"),
        3,
    );
    let work = sock_dump(
        &world
            .qube_rpc_dir("work")
            .expect("rpc")
            .join("test.SockDump"),
        2,
    );
    let calls: [(&str, &str, &[u8]); 5] = [
        ("dom0", "test.SockDump+abc", b"PAYLOAD-1"),
        ("@adminvm", "test.SockDump+abc", b"PAYLOAD-2"),
        ("dom0", "test.SockDump", b""),
        ("work", "test.SockDump+abc", b"PAYLOAD-3"),
        ("work", "test.SockDump", b"PAYLOAD-4"),
    ];
    for (target, call, stdin) in calls {
        let o = qrexec(dir, "mgmt", &[target, call], stdin);
        assert_eq!(
            (o.rc, o.out()),
            (0, "sockdump-reply\n".into()),
            "{target} {call}"
        );
    }
    assert_eq!(
        dom0.join().expect("dom0 socket"),
        [
            b"test.SockDump+abc mgmt name dom0\x00PAYLOAD-1".to_vec(),
            b"test.SockDump+abc mgmt keyword adminvm\x00PAYLOAD-2".to_vec(),
            b"test.SockDump+ mgmt name dom0\x00".to_vec(),
        ]
    );
    assert_eq!(
        work.join().expect("work socket"),
        [
            b"test.SockDump+abc mgmt\x00PAYLOAD-3".to_vec(),
            b"test.SockDump+ mgmt\x00PAYLOAD-4".to_vec(),
        ]
    );
}

#[test]
fn what_the_caller_gets_golden_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    let refused = "Request refused\n";
    let table: [(&str, &str, i32, &str, &str); 9] = [
        ("vault", "test.Dump+x", 126, "", refused),
        ("work", "test.Undefined", 126, "", refused),
        ("work", "test/Dump", 126, "", refused),
        ("@dispvm", "test.Dump+viadispvm", 126, "", refused),
        ("work", "test.Missing", 127, "", ""),
        ("work", "test.NoExec", 125, "", ""),
        ("work", "test.Fail", 3, "test.Fail: about to exit 3\n", ""),
        ("work", "test.Fail+7", 7, "test.Fail: about to exit 7\n", ""),
        (
            "work",
            "test.Stderr",
            0,
            "to-stdout-1\nto-stdout-2\n",
            "to-stderr-1\nto-stderr-2\n",
        ),
    ];
    for (target, call, rc, out, err) in table {
        let o = qrexec(dir, "mgmt", &[target, call], b"");
        assert_eq!(
            (o.rc, o.out().as_str(), o.err().as_str()),
            (rc, out, err),
            "{target} {call}"
        );
    }
}

#[test]
fn service_exit_codes_pass_through() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    for code in [0, 1, 2, 42, 124, 125, 126, 127, 255] {
        let o = qrexec(dir, "mgmt", &["work", &format!("test.Fail+{code}")], b"");
        assert_eq!(o.rc, code);
        assert_eq!(o.out(), format!("test.Fail: about to exit {code}\n"));
    }
}

#[test]
fn stdin_eof_reaches_the_service_golden_3() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    let o = qrexec(dir, "mgmt", &["work", "test.Cat"], b"abc");
    assert_eq!(
        o.out(),
        "test.Cat: read 3 bytes then EOF; sha256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
    );
    let o = qrexec(dir, "mgmt", &["work", "test.Cat"], b"");
    assert!(
        o.out().starts_with("test.Cat: read 0 bytes then EOF"),
        "{}",
        o.out()
    );
}

#[test]
fn caller_does_not_wait_for_its_stdin_when_the_service_ends() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    for (call, rc, out) in [
        ("test.EarlyExit", 0, "early\n"),
        ("test.Fail+5", 5, "test.Fail: about to exit 5\n"),
    ] {
        let mut child = client(dir, "mgmt", &["work", call])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        // Keep our end of its stdin open (and unwritten) until it exited.
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut stdout)
            .expect("read");
        let status = child.wait().expect("wait");
        drop(stdin);
        assert_eq!((status.code(), stdout.as_str()), (Some(rc), out), "{call}");
    }
}

#[test]
fn service_waits_for_the_callers_eof() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let mut child = client(world.dir().expect("dir"), "mgmt", &["work", "test.Cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"abc").expect("write");
    stdin.flush().expect("flush");
    // Give the service time to read "abc": it must still be waiting for EOF.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut stdout = child.stdout.take().expect("stdout");
    assert_eq!(
        child.try_wait().expect("try_wait"),
        None,
        "exited before EOF"
    );
    drop(stdin);
    let mut out = String::new();
    stdout.read_to_string(&mut out).expect("read");
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    assert!(out.starts_with("test.Cat: read 3 bytes then EOF"), "{out}");
}

#[test]
fn one_mebibyte_each_way_golden_4() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    // Deterministic pseudo-random bytes; sha256 computed by the service and
    // compared with sha256sum's over the same data written to a file.
    let mut x: u32 = 0x1234_5678;
    let data: Vec<u8> = (0..1_048_576)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    let reference = tmp.path().join("sent");
    std::fs::write(&reference, &data).expect("write reference");
    let sum = std::process::Command::new("sha256sum")
        .arg(&reference)
        .output()
        .expect("sha256sum");
    let expected = String::from_utf8_lossy(&sum.stdout)
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    let o = qrexec(dir, "mgmt", &["work", "test.Cat"], &data);
    assert_eq!(
        o.out(),
        format!("test.Cat: read 1048576 bytes then EOF; sha256={expected}\n")
    );
    let o = qrexec(dir, "mgmt", &["work", "test.Big"], b"");
    assert_eq!(o.rc, 0);
    assert_eq!(o.stdout.len(), 1_048_576);
    assert!(o.stdout.iter().all(|b| *b == b'Q'));
}

#[test]
fn service_names_and_arguments_are_sanitised_golden_5() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    let table = [
        ("a/b", "a_b"),
        ("a b", "a_b"),
        ("a@b", "a_b"),
        ("a:b", "a_b"),
        ("a*b", "a_b"),
        ("a=b", "a_b"),
        ("a;b", "a_b"),
        ("é", "__"),
        ("..", ".."),
        ("a.b-c_d", "a.b-c_d"),
        ("x+y", "x+y"),
    ];
    for (sent, seen) in table {
        let o = qrexec(dir, "mgmt", &["work", &format!("test.Dump+{sent}")], b"");
        assert_eq!(o.rc, 0, "{sent}: {}", o.err());
        let dump = o.out();
        assert_eq!(argv(&dump)[1..], [format!("[{seen}]")], "{sent}");
        assert_eq!(
            env_value(&dump, "QREXEC_SERVICE_FULL_NAME"),
            Some(format!("test.Dump+{seen}")),
            "{sent}"
        );
    }
    for len in [31, 32, 54, 55, 63, 64, 65, 100, 1000] {
        let arg = "a".repeat(len);
        let o = qrexec(dir, "mgmt", &["work", &format!("test.Dump+{arg}")], b"");
        assert_eq!(
            env_value(&o.out(), "QREXEC_SERVICE_ARGUMENT"),
            Some(arg),
            "length {len}"
        );
    }
    // Names qrexec refuses before the policy: empty, or no service before '+'.
    for call in ["", "+arg"] {
        let o = qrexec(dir, "mgmt", &["work", call], b"");
        assert_eq!(
            (o.rc, o.err()),
            (126, "Request refused\n".into()),
            "{call:?}"
        );
    }
}

#[test]
fn local_program_is_connected_to_the_service() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    // The local program writes the service's stdin and reads its stdout;
    // its exit code is the client's.
    let o = qrexec(
        dir,
        "mgmt",
        &[
            "work",
            "test.Cat",
            "/bin/sh",
            "-c",
            "printf abc; exec 1>&-; read line; echo \"got: $line\" >&2; exit 9",
        ],
        b"ignored",
    );
    assert_eq!(o.rc, 9);
    assert_eq!(o.out(), "");
    assert!(
        o.err()
            .starts_with("got: test.Cat: read 3 bytes then EOF; sha256=ba7816bf"),
        "{}",
        o.err()
    );
    // Refused calls do not start the local program.
    let marker = tmp.path().join("ran");
    let o = qrexec(
        dir,
        "mgmt",
        &[
            "vault",
            "test.Dump",
            "/bin/sh",
            "-c",
            &format!("touch {}", marker.display()),
        ],
        b"",
    );
    assert_eq!((o.rc, o.err()), (126, "Request refused\n".into()));
    assert!(!marker.exists());
}

#[test]
fn a_service_can_call_out_as_its_qube() {
    let policy = format!("{}test.Nested * work vault allow\n", golden_policy());
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world_with(tmp.path(), &policy);
    let dir = world.dir().expect("dir");
    world
        .install_rpc_service(
            "work",
            "test.Relay",
            format!(
                "#!/bin/sh\nexec {} vault test.Nested+from-work\n",
                client_path().display()
            )
            .as_bytes(),
        )
        .expect("install");
    world
        .install_rpc_service("vault", "test.Nested", DUMP.as_bytes())
        .expect("install");
    let policy = format!("{policy}test.Relay * mgmt work allow\n");
    std::fs::write(dir.join("policy/30-test.policy"), policy).expect("policy");
    let o = qrexec(dir, "mgmt", &["work", "test.Relay"], b"");
    assert_eq!(o.rc, 0, "{}", o.err());
    assert_eq!(
        env_value(&o.out(), "QREXEC_REMOTE_DOMAIN").as_deref(),
        Some("work")
    );
    // mgmt itself may not call it.
    let o = qrexec(dir, "mgmt", &["vault", "test.Nested"], b"");
    assert_eq!(o.rc, 126);
}

#[test]
fn refusals_without_a_matching_decision() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world_with(
        tmp.path(),
        &format!("{}test.Self * work @anyvm allow\n", golden_policy()),
    );
    let dir = world.dir().expect("dir");
    world
        .install_rpc_service("work", "test.Self", DUMP.as_bytes())
        .expect("install");
    // A qube cannot call itself (qrexec refuses loopback).
    let o = qrexec(dir, "work", &["work", "test.Self"], b"");
    assert_eq!((o.rc, o.err()), (126, "Request refused\n".into()));
    // A policy that does not load denies everything.
    std::fs::write(dir.join("policy/10-broken.policy"), "test.Dump * mgmt\n").expect("write");
    let o = qrexec(dir, "mgmt", &["work", "test.Dump"], b"");
    assert_eq!(
        (o.rc, o.out(), o.err()),
        (126, String::new(), "Request refused\n".into())
    );
    let log = std::fs::read_to_string(dir.join("qrexec.log")).expect("log");
    assert!(log.contains("policy does not load"), "{log}");
}

#[test]
fn setup_errors_are_usage_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = golden_world(tmp.path());
    let dir = world.dir().expect("dir");
    let mut cmd = client(dir, "mgmt", &["work", "test.Dump"]);
    cmd.env_remove("QUBES_SIM_SOURCE");
    let o = run(cmd, b"");
    assert_eq!(o.rc, 2);
    assert!(
        o.err().contains("QUBES_SIM_SOURCE is not set"),
        "{}",
        o.err()
    );
    let o = qrexec(dir, "mgmt", &["work"], b"");
    assert_eq!(o.rc, 2);
    // An unknown calling qube, or no world there, is a setup error.
    let o = qrexec(dir, "ghost", &["work", "test.Dump"], b"");
    assert_eq!(o.rc, 2);
    assert!(
        o.err()
            .contains("QUBES_SIM_SOURCE: the calling qube \"ghost\" does not exist"),
        "{}",
        o.err()
    );
    let o = qrexec(&dir.join("nowhere"), "mgmt", &["work", "test.Dump"], b"");
    assert_eq!(o.rc, 2);
    assert!(o.err().contains("QUBES_SIM_WORLD: "), "{}", o.err());
    let mut cmd = client(dir, "mgmt", &["work", "test.Dump"]);
    cmd.env("QUBES_SIM_QREXEC_LATENCY_MS", "soon");
    assert_eq!(run(cmd, b"").rc, 2);
    // Options of the real client are accepted.
    let o = qrexec(
        dir,
        "mgmt",
        &["--buffer-size=4096", "-T", "--", "work", "test.Fail+4"],
        b"",
    );
    assert_eq!(o.rc, 4);
    let mut cmd = client(dir, "mgmt", &["work", "test.Fail+0"]);
    cmd.env("QUBES_SIM_QREXEC_LATENCY_MS", "5");
    assert_eq!(run(cmd, b"").rc, 0);
}
