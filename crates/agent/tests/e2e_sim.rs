//! End to end through the simulator (issue 4, item 5): the agent installed as
//! the qrexec services of simulated qubes (the shipped `qubes-rpc/` scripts,
//! pointed at the built binary), the shipped dom0 policy plus the generated
//! per-profile file, and every call made with the simulator's
//! `qrexec-client-vm` as the calling qube would make it: apply, snapshot and
//! rollback from the config qube; refusals for everyone else; propose from a
//! managed qube into the config qube's spool through a scripted `ask`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use qcs_protocol::{SpooledProposal, parse_message};
use qcs_sim::qrexec_client::AskAnswers;
use qcs_sim::world::{QubeSpec, World};
use qcs_sim::{Server, ServerHandle};
use qrexec::trust::{GENERATED_POLICY_FILE, MANAGED_TAG, MANAGER_TAG};
use serde_json::{Value, json};

const AGENT: &str = env!("CARGO_BIN_EXE_qubes-config-agent");
const PROPOSE: &str = env!("CARGO_BIN_EXE_qubes-config-propose");
/// Where the shipped service scripts expect the agent.
const INSTALLED_AGENT: &str = "/usr/bin/qubes-config-agent";

/// The simulator's `qrexec-client-vm`. Another package's binary is not built
/// for this crate's tests: the one in this target directory is used when it is
/// newer than the sources it is built from (a workspace build made it),
/// otherwise it is built here once with cargo. `QCS_SIM_QREXEC_CLIENT_VM`
/// names a prebuilt one instead.
fn qrexec_client_vm() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os("QCS_SIM_QREXEC_CLIENT_VM") {
            return PathBuf::from(path);
        }
        // target/<profile>/deps/<this test> → target/<profile>
        let exe = std::env::current_exe().expect("test executable");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
        let target_dir = profile_dir.parent().expect("target dir");
        let binary = profile_dir.join("qrexec-client-vm");
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let sources = ["sim", "qrexec", "qubesadmin"]
            .iter()
            .filter_map(|c| newest_mtime(&crates.join(c).join("src")))
            .max();
        let built = std::fs::metadata(&binary).and_then(|m| m.modified()).ok();
        if built.is_some() && built >= sources {
            return binary;
        }
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("profile name");
        let cargo_profile = if profile == "debug" { "dev" } else { profile };
        let manifest = crates.join("../Cargo.toml");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "qcs-sim",
                "--bin",
                "qrexec-client-vm",
            ])
            .arg("--profile")
            .arg(cargo_profile)
            .arg("--manifest-path")
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", target_dir)
            .status()
            .expect("run cargo build for qrexec-client-vm");
        assert!(status.success(), "building qrexec-client-vm failed");
        binary
    })
}

/// The newest modification time of the files below `dir`.
fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let meta = entry.metadata().ok()?;
        let time = if meta.is_dir() {
            newest_mtime(&entry.path())
        } else {
            meta.modified().ok()
        };
        newest = newest.max(time);
    }
    newest
}

fn sha(bytes: &[u8]) -> String {
    qcs_protocol::sha256_hex(bytes)
}

fn file(path: &str, content: &[u8], base: Option<&[u8]>) -> Value {
    let mut f = json!({
        "path": path,
        "mode": "0644",
        "content": {"encoding": "utf-8", "data": String::from_utf8_lossy(content)},
        "sha256": sha(content),
    });
    if let Some(base) = base {
        f["base_sha256"] = json!(sha(base));
    }
    f
}

/// A world with the config qube `cfg`, managed qubes `work` (halted) and
/// `personal`, an unmanaged `untrusted`; the shipped policy plus the policy
/// generated for: `git` assigned to `work` and `personal`, `work` may
/// propose `git`. The agent is the qrexec service of every qube.
struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    world: World,
    server: ServerHandle,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let world = World::builder()
            .qube(QubeSpec::template_vm("fedora").label("black"))
            .qube(
                QubeSpec::app("cfg", "fedora")
                    .label("purple")
                    .tag(MANAGER_TAG)
                    .running(),
            )
            .qube(
                QubeSpec::app("work", "fedora")
                    .label("blue")
                    .tag(MANAGED_TAG),
            )
            .qube(
                QubeSpec::app("personal", "fedora")
                    .label("green")
                    .tag(MANAGED_TAG)
                    .running(),
            )
            .qube(QubeSpec::app("untrusted", "fedora").label("red").running())
            .create(&tmp.path().join("world"))
            .unwrap();
        let dir = world.dir().unwrap().to_owned();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        copy_dir(&repo.join("policy/policy.d"), &dir.join("policy"));
        let whitelist = qrexec::Whitelist {
            config_qube: "cfg".into(),
            assigned: BTreeSet::from([
                ("work".into(), "git".into()),
                ("personal".into(), "git".into()),
            ]),
            may_propose: BTreeSet::from([("work".into(), "git".into())]),
        };
        let generated = qrexec::generate_profile_policy(&whitelist).unwrap();
        std::fs::write(dir.join("policy").join(GENERATED_POLICY_FILE), generated).unwrap();
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("qubes-rpc");
        for qube in ["cfg", "work", "personal", "untrusted"] {
            for entry in std::fs::read_dir(&scripts).unwrap() {
                let entry = entry.unwrap();
                let text = std::fs::read_to_string(entry.path()).unwrap();
                assert!(text.contains(INSTALLED_AGENT), "{text}");
                let name = entry.file_name().into_string().unwrap();
                world
                    .install_rpc_service(
                        qube,
                        &name,
                        text.replace(INSTALLED_AGENT, AGENT).as_bytes(),
                    )
                    .unwrap();
            }
        }
        let server = Server::start(&dir, &dir.join("qubesd.sock")).unwrap();
        Setup {
            _tmp: tmp,
            dir,
            world,
            server,
        }
    }

    fn home(&self, qube: &str) -> PathBuf {
        self.world.qube_home(qube).unwrap()
    }

    /// `qrexec-client-vm TARGET SERVICE+ARG` as `source` with `request` on stdin.
    fn call(&self, source: &str, target: &str, call: &str, request: &Value) -> Reply {
        let mut cmd = Command::new(qrexec_client_vm());
        cmd.args([target, call])
            .env("QUBES_SIM_WORLD", &self.dir)
            .env("QUBES_SIM_SOURCE", source);
        let (code, stdout, stderr) = run(cmd, request.to_string().as_bytes());
        Reply {
            code,
            json: serde_json::from_slice(&stdout).unwrap_or(Value::Null),
            stderr,
        }
    }

    /// `qubes-config-propose ARGS` inside `qube` (its home as HOME and cwd).
    fn propose(&self, qube: &str, args: &[&str]) -> (i32, String, String) {
        let home = self.home(qube);
        let mut cmd = Command::new(PROPOSE);
        cmd.args(args)
            .current_dir(&home)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .env("QUBES_CONFIG_SYNC_QREXEC_CLIENT", qrexec_client_vm())
            .env("QUBES_SIM_WORLD", &self.dir)
            .env("QUBES_SIM_SOURCE", qube);
        let (code, out, err) = run(cmd, b"");
        (code, String::from_utf8_lossy(&out).into_owned(), err)
    }

    fn spool(&self, source: &str) -> Vec<PathBuf> {
        let dir = self
            .home("cfg")
            .join(".local/share/qubes-config-sync/spool")
            .join(source);
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
    }
}

struct Reply {
    code: i32,
    json: Value,
    stderr: String,
}

fn run(cmd: Command, stdin: &[u8]) -> (i32, Vec<u8>, String) {
    let output = qcs_test_support::run_with_stdin(cmd, stdin);
    (
        output.status.code().unwrap_or(-1),
        output.stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn config_qube_applies_snapshots_and_rolls_back() {
    let s = Setup::new();
    let gitconfig = s.home("work").join(".gitconfig");
    assert_eq!(s.server.world().qube("work").unwrap().power_state, "Halted");

    let apply = |content: &[u8], base: Option<&[u8]>| {
        s.call(
            "cfg",
            "work",
            "qubes.ConfigApply+git",
            &json!({"version": 1, "profile": "git", "files": [file(".gitconfig", content, base)]}),
        )
    };
    // The shipped policy never autostarts a qube for our services: an apply into the
    // halted qube is refused and it stays halted.
    let r = apply(b"[user]\n\tname = v1\n", None);
    assert_eq!(r.code, 126, "{} {}", r.json, r.stderr);
    assert_eq!(s.server.world().qube("work").unwrap().power_state, "Halted");
    assert!(!gitconfig.exists());
    // The config qube starts it explicitly (admin.vm.Start, granted for managed qubes).
    let mut start = Command::new(qrexec_client_vm());
    start
        .args(["work", "admin.vm.Start"])
        .env("QUBES_SIM_WORLD", &s.dir)
        .env("QUBES_SIM_SOURCE", "cfg");
    let (code, _, stderr) = run(start, b"");
    assert_eq!(code, 0, "{stderr}");

    // Apply v1: the file lands in its home.
    let r = apply(b"[user]\n\tname = v1\n", None);
    assert_eq!(r.code, 0, "{} {}", r.json, r.stderr);
    assert_eq!(
        r.json["ok"]["files"][0]["outcome"]["status"], "written",
        "{}",
        r.json
    );
    assert_eq!(std::fs::read(&gitconfig).unwrap(), b"[user]\n\tname = v1\n");
    assert_eq!(
        s.server.world().qube("work").unwrap().power_state,
        "Running"
    );
    // Nothing landed anywhere else.
    assert!(!s.home("personal").join(".gitconfig").exists());
    assert!(!s.home("cfg").join(".gitconfig").exists());

    // Snapshot reports what is there.
    let r = s.call(
        "cfg",
        "work",
        "qubes.ConfigSnapshot+git",
        &json!({"version": 1, "profile": "git", "paths": [".gitconfig", ".vimrc"]}),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let entries = r.json["ok"]["entries"].as_array().unwrap();
    assert_eq!(entries[0]["state"]["type"], "file");
    assert_eq!(entries[0]["state"]["sha256"], sha(b"[user]\n\tname = v1\n"));
    assert_eq!(entries[1]["state"]["type"], "missing");

    // Apply v2 over v1, then roll back to v1 with the backup id.
    let r = apply(b"[user]\n\tname = v2\n", Some(b"[user]\n\tname = v1\n"));
    assert_eq!(
        r.json["ok"]["files"][0]["outcome"]["status"], "written",
        "{}",
        r.json
    );
    let backup = r.json["ok"]["backup_id"].as_str().unwrap().to_owned();
    assert_eq!(std::fs::read(&gitconfig).unwrap(), b"[user]\n\tname = v2\n");
    let r = s.call(
        "cfg",
        "work",
        "qubes.ConfigRollback+git",
        &json!({"version": 1, "profile": "git", "backup_ids": [backup]}),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.json["ok"]["files"][0]["outcome"]["status"], "written",
        "{}",
        r.json
    );
    assert_eq!(std::fs::read(&gitconfig).unwrap(), b"[user]\n\tname = v1\n");

    // A local edit in the qube is a conflict, not overwritten.
    std::fs::write(&gitconfig, b"local\n").unwrap();
    let r = apply(b"[user]\n\tname = v3\n", Some(b"[user]\n\tname = v1\n"));
    assert_eq!(
        r.json["ok"]["files"][0]["outcome"]["status"], "conflict",
        "{}",
        r.json
    );
    assert_eq!(std::fs::read(&gitconfig).unwrap(), b"local\n");
}

#[test]
fn nobody_else_reaches_the_agent() {
    let s = Setup::new();
    let request =
        json!({"version": 1, "profile": "git", "files": [file(".bashrc", b"evil\n", None)]});
    let snapshot = json!({"version": 1, "profile": "git", "paths": [".ssh/id_ed25519"]});
    let calls: [(&str, &str, &str, &Value); 9] = [
        // A managed qube writing into another managed qube.
        ("personal", "work", "qubes.ConfigApply+git", &request),
        ("work", "personal", "qubes.ConfigApply+git", &request),
        // An unmanaged qube.
        ("untrusted", "work", "qubes.ConfigApply+git", &request),
        ("untrusted", "@default", "qubes.ConfigApply+git", &request),
        // Reading or rolling back another qube.
        ("personal", "work", "qubes.ConfigSnapshot+git", &snapshot),
        ("untrusted", "work", "qubes.ConfigRollback+git", &snapshot),
        // Writing into the config qube.
        ("work", "cfg", "qubes.ConfigApply+git", &request),
        // The config qube, with a profile not assigned to the qube.
        ("cfg", "work", "qubes.ConfigApply+vim", &request),
        // The config qube into an unmanaged qube.
        ("cfg", "untrusted", "qubes.ConfigApply+git", &request),
    ];
    for (source, target, call, body) in calls {
        let r = s.call(source, target, call, body);
        assert_eq!(
            (r.code, r.stderr.as_str(), &r.json),
            (126, "Request refused\n", &Value::Null),
            "{source} -> {target} {call}"
        );
    }
    for qube in ["work", "personal", "cfg", "untrusted"] {
        let home = s.home(qube);
        assert!(!home.join(".bashrc").exists(), "{qube}");
    }
    // No managed qube reaches the Admin API.
    for (source, target, call) in [
        ("work", "@adminvm", "admin.vm.List"),
        ("personal", "work", "admin.vm.property.Get+label"),
        ("work", "work", "admin.vm.feature.Set+custom-persist.x"),
    ] {
        let mut cmd = Command::new(qrexec_client_vm());
        cmd.args([target, call])
            .env("QUBES_SIM_WORLD", &s.dir)
            .env("QUBES_SIM_SOURCE", source);
        let (code, out, err) = run(cmd, b"");
        assert_eq!(
            (code, out.as_slice(), err.as_str()),
            (126, &b""[..], "Request refused\n")
        );
    }
    // ... while the config qube does, read-only.
    let mut cmd = Command::new(qrexec_client_vm());
    cmd.args(["work", "admin.vm.property.Get+label"])
        .env("QUBES_SIM_WORLD", &s.dir)
        .env("QUBES_SIM_SOURCE", "cfg");
    let (code, out, _) = run(cmd, b"");
    assert_eq!(
        (code, out.as_slice()),
        (0, &b"0\0default=False type=label blue"[..])
    );
}

#[test]
fn propose_reaches_the_spool_only_when_the_ask_is_allowed() {
    let s = Setup::new();
    let home = s.home("work");
    std::fs::write(home.join(".gitconfig"), b"[user]\n\tname = proposed\n").unwrap();

    // No scripted answer: the prompt is refused; nothing is spooled.
    let (code, out, err) = s.propose("work", &["git", ".gitconfig"]);
    assert_eq!(code, 4, "{out} {err}");
    assert!(err.contains("Request refused"), "{err}");
    assert!(s.spool("work").is_empty());

    // The user denies.
    let mut answers = AskAnswers::default();
    answers.set("qubes.ConfigPropose+git", "work", "@default", "deny");
    answers.save(&s.dir).unwrap();
    let (code, _, _) = s.propose("work", &["git", ".gitconfig"]);
    assert_eq!(code, 4);
    assert!(s.spool("work").is_empty());

    // The user allows: the proposal lands in the config qube's spool.
    answers.set("qubes.ConfigPropose+git", "work", "@default", "allow");
    answers.save(&s.dir).unwrap();
    let (code, out, err) = s.propose("work", &["git", ".gitconfig"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.starts_with("proposal accepted by the config qube: "),
        "{out}"
    );
    let spooled = s.spool("work");
    assert_eq!(spooled.len(), 1, "{spooled:?}");
    let proposal: SpooledProposal = parse_message(&std::fs::read(&spooled[0]).unwrap()).unwrap();
    assert_eq!(proposal.source_qube.as_str(), "work");
    assert_eq!(proposal.profile.as_str(), "git");
    assert_eq!(proposal.request.files[0].path.as_str(), ".gitconfig");
    assert_eq!(
        proposal.request.files[0].content.as_bytes(),
        b"[user]\n\tname = proposed\n"
    );
    assert!(
        out.trim_end().ends_with(proposal.proposal_id.as_str()),
        "{out}"
    );

    // Not whitelisted: a profile work may not propose, and a qube that may
    // propose nothing, are denied by policy even with an answer scripted.
    answers.set("qubes.ConfigPropose+vim", "work", "*", "allow");
    answers.set("qubes.ConfigPropose+git", "personal", "*", "allow");
    answers.save(&s.dir).unwrap();
    std::fs::write(home.join(".vimrc"), b"set nu\n").unwrap();
    let (code, _, err) = s.propose("work", &["vim", ".vimrc"]);
    assert_eq!(code, 4, "{err}");
    std::fs::write(s.home("personal").join(".gitconfig"), b"x\n").unwrap();
    let (code, _, err) = s.propose("personal", &["git", ".gitconfig"]);
    assert_eq!(code, 4, "{err}");
    assert_eq!(s.spool("work").len(), 1);
    assert!(s.spool("personal").is_empty());
}

#[test]
fn propose_cannot_reach_anything_but_the_config_qube() {
    let s = Setup::new();
    // Even with every prompt answered "allow" and asked for by name, the
    // proposal service of another managed qube or of dom0 is never reached.
    let mut answers = AskAnswers::default();
    for target in ["personal", "untrusted", "@adminvm", "dom0"] {
        answers.set("qubes.ConfigPropose+git", "work", target, target);
    }
    answers.save(&s.dir).unwrap();
    let request =
        json!({"version": 1, "profile": "git", "files": [file(".gitconfig", b"x\n", None)]});
    for target in ["personal", "untrusted", "@adminvm", "dom0"] {
        let r = s.call("work", target, "qubes.ConfigPropose+git", &request);
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (126, "Request refused\n"),
            "{target}"
        );
    }
    // Asked for by name, the config qube is reached through the same ask.
    answers.set("qubes.ConfigPropose+git", "work", "cfg", "allow");
    answers.save(&s.dir).unwrap();
    let r = s.call("work", "cfg", "qubes.ConfigPropose+git", &request);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.json["ok"]["proposal_id"].is_string(), "{}", r.json);
    assert_eq!(s.spool("work").len(), 1);
    for qube in ["personal", "untrusted"] {
        assert!(!s.home(qube).join(".local/share/qubes-config-sync").exists());
    }
}

/// A compromised (or mistaken) config qube, allowed by policy, asks a managed
/// qube's agent for its private key, to plant one, to plant a git hook and to
/// overwrite the agent's own backups: every path is refused `never-sync` by the
/// agent itself, in any spelling, and no reply carries the key.
#[test]
fn config_qube_cannot_read_or_plant_keys_through_the_agent() {
    let s = Setup::new();
    let home = s.home("personal");
    let key =
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nE2E-SECRET\n-----END OPENSSH PRIVATE KEY-----\n";
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), key).unwrap();
    std::fs::create_dir_all(home.join("src/p/.git/hooks")).unwrap();

    let r = s.call(
        "cfg",
        "personal",
        "qubes.ConfigSnapshot+git",
        &json!({"version": 1, "profile": "git",
                "paths": [".ssh/id_ed25519", ".SSH/ID_ED25519", ".ssh/ID_ED2~1", ".gitconfig"]}),
    );
    assert_eq!(r.code, 0, "{} {}", r.json, r.stderr);
    let text = r.json.to_string();
    assert!(
        !text.contains("E2E-SECRET") && !text.contains(&sha(key)),
        "{text}"
    );
    let entries = r.json["ok"]["entries"].as_array().unwrap();
    for entry in &entries[..3] {
        assert_eq!(entry["state"]["reason"], "never-sync", "{entry}");
    }
    assert_eq!(entries[3]["state"]["type"], "missing");

    let mut files = Vec::new();
    for path in [
        ".ssh/id_ed25519",
        ".Ssh/Id_Ed25519",
        "src/p/.git/hooks/post-checkout",
        ".local/state/qubes-config-sync/backups/1-1-0/manifest.json",
    ] {
        let mut f = file(path, b"planted\n", None);
        f["write_policy"] = json!("overwrite");
        files.push(f);
    }
    let r = s.call(
        "cfg",
        "personal",
        "qubes.ConfigApply+git",
        &json!({"version": 1, "profile": "git", "files": files}),
    );
    assert_eq!(r.code, 0, "{} {}", r.json, r.stderr);
    for result in r.json["ok"]["files"].as_array().unwrap() {
        assert_eq!(result["outcome"]["reason"], "never-sync", "{result}");
    }
    assert!(r.json["ok"]["backup_id"].is_null());
    assert_eq!(std::fs::read(home.join(".ssh/id_ed25519")).unwrap(), key);
    assert!(!home.join(".Ssh").exists());
    assert_eq!(
        std::fs::read_dir(home.join("src/p/.git/hooks"))
            .unwrap()
            .count(),
        0
    );
    assert!(!home.join(".local/state").exists());
}
