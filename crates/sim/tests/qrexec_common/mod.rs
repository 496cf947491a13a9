//! Shared by the `qrexec_*` tests: the golden setup of `golden/qubesd/qrexec.md`
//! (callers `mgmt`, target `work`, `vault`, dom0) as a world directory with
//! its services, and a runner for the `qrexec-client-vm` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use qcs_sim::world::{QubeSpec, World};

/// The policy of the golden recording without its final catch-all deny, so the sim's
/// own tests can append rules.
pub fn golden_policy() -> String {
    let recorded = qcs_test_support::recorded_qrexec_policy();
    let mut lines: Vec<&str> = recorded.lines().collect();
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with('*') && l.ends_with("deny")),
        "the recorded policy no longer ends with its catch-all deny:\n{recorded}"
    );
    lines.pop();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// `test.Dump`: `$0` and each argument in `[...]`, the argument count, `pwd`,
/// the sorted environment, then stdin.
pub const DUMP: &str = r#"#!/bin/sh
echo '== argv ($0 then each argument, one per line, in [])'
echo "[$0]"
for a in "$@"; do echo "[$a]"; done
echo "== argc-1: $#"
echo "== pwd: $(pwd)"
echo '== env (sorted)'
env | LC_ALL=C sort
echo '== end'
"#;

pub const DUMP_SPECIAL: &str = r#"#!/bin/sh
echo "specific service file test.Dump+special ran; argv1=[$1] QREXEC_SERVICE_ARGUMENT=[$QREXEC_SERVICE_ARGUMENT]"
"#;

pub const FAIL: &str = r#"#!/bin/sh
code=${1:-3}
echo "test.Fail: about to exit $code"
exit "$code"
"#;

pub const STDERR: &str = r#"#!/bin/sh
echo to-stdout-1
echo to-stderr-1 >&2
echo to-stdout-2
echo to-stderr-2 >&2
"#;

pub const CAT: &str = r#"#!/bin/sh
tmp=$(mktemp)
cat > "$tmp"
n=$(wc -c < "$tmp" | tr -d ' ')
sum=$(sha256sum < "$tmp" | cut -d' ' -f1)
rm -f "$tmp"
echo "test.Cat: read $n bytes then EOF; sha256=$sum"
"#;

pub const BIG: &str = "#!/bin/sh\nhead -c 1048576 /dev/zero | tr '\\000' Q\n";

pub const EARLY_EXIT: &str = "#!/bin/sh\necho early\nexit 0\n";

/// A golden-like world in `tmp/world`: qubes `mgmt`, `work` (running),
/// `vault`, `default-dvm`, and the services of the recording.
pub fn golden_world(tmp: &Path) -> World {
    golden_world_with(tmp, &golden_policy())
}

pub fn golden_world_with(tmp: &Path, policy: &str) -> World {
    let world = World::builder()
        .qube(QubeSpec::template_vm("fedora").label("black"))
        .qube(QubeSpec::dvm_template("default-dvm", "fedora").label("red"))
        .qube(QubeSpec::app("mgmt", "fedora").label("purple").running())
        .qube(QubeSpec::app("work", "fedora").label("blue").running())
        .qube(QubeSpec::app("vault", "fedora").label("black").running())
        .policy_file("30-test.policy", policy)
        .create(&tmp.join("world"))
        .expect("create world");
    for (name, body) in [
        ("test.Dump", DUMP),
        ("test.Dump+special", DUMP_SPECIAL),
        ("test.Fail", FAIL),
        ("test.Stderr", STDERR),
        ("test.Cat", CAT),
        ("test.Big", BIG),
        ("test.EarlyExit", EARLY_EXIT),
    ] {
        world
            .install_rpc_service("work", name, body.as_bytes())
            .expect("install service");
    }
    world
        .install_rpc_service("dom0", "test.Dump", DUMP.as_bytes())
        .expect("install dom0 service");
    // Exists without the executable bit.
    let noexec = world
        .qube_rpc_dir("work")
        .expect("rpc dir")
        .join("test.NoExec");
    std::fs::write(&noexec, "#!/bin/sh\necho never\n").expect("write NoExec");
    world
}

/// What one call of the client produced.
#[derive(Debug)]
pub struct Outcome {
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Outcome {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

pub fn client_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_qrexec-client-vm"))
}

/// The client as `source` of the world in `world_dir`, with `extra_env`.
pub fn client(world_dir: &Path, source: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(client_path());
    cmd.args(args)
        .env_remove("QUBES_SIM_QUBESD_SOCKET")
        .env_remove("QUBES_SIM_QREXEC_LATENCY_MS")
        .env("QUBES_SIM_WORLD", world_dir)
        .env("QUBES_SIM_SOURCE", source);
    cmd
}

/// Run `cmd` with `stdin` written then closed; collect everything.
pub fn run(cmd: Command, stdin: &[u8]) -> Outcome {
    // The client may exit without reading everything (early-exit services).
    let output = qcs_test_support::run_with_stdin(cmd, stdin);
    Outcome {
        rc: output.status.code().expect("exit code, not a signal"),
        stdout: output.stdout,
        stderr: output.stderr,
    }
}

/// `qrexec-client-vm ARGS` as `source`, stdin given and closed.
pub fn qrexec(world_dir: &Path, source: &str, args: &[&str], stdin: &[u8]) -> Outcome {
    run(client(world_dir, source, args), stdin)
}

/// The `QREXEC_*` lines of a dump, in order.
pub fn qrexec_env(dump: &str) -> Vec<String> {
    dump.lines()
        .filter(|l| l.starts_with("QREXEC_"))
        .map(str::to_owned)
        .collect()
}

/// The value of `VAR=` in a dump.
pub fn env_value(dump: &str, var: &str) -> Option<String> {
    let prefix = format!("{var}=");
    dump.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_owned)
}

/// The `[...]` argv lines of a dump.
pub fn argv(dump: &str) -> Vec<String> {
    dump.lines()
        .skip_while(|l| !l.starts_with("== argv"))
        .skip(1)
        .take_while(|l| l.starts_with('['))
        .map(str::to_owned)
        .collect()
}
