//! Test and benchmark harness: a private `dbus-daemon`, a simulated dom0 (the sim's
//! qubesd on a unix socket, a world directory with one home per qube), the agent's
//! services installed in each qube, and the real `qubes-config-syncd` process.
//!
//! The test binary doubles as the agent (`EXE agent SERVICE…`, so the qubes run the real
//! `qcs_agent` code) — see [`dispatch`], which each harness-less `main` calls first.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qcs_daemon::client::ConfigSyncProxy;
use qcs_sim::world::{QubeSpec, World};

/// Generous upper bound for waiting on a process or a signal; only reached when
/// something is broken (never a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(120);

/// If this process was started as a qube's service (`EXE agent …`) or as
/// `qrexec-client-vm` (`EXE qrexec-client TARGET SERVICE+ARG`), runs that and exits;
/// otherwise returns. The qrexec client is the simulator's (`qcs_sim::qrexec_client`):
/// dom0 policy of the world, scripted `ask` answers, Admin API calls to the sim's
/// qubesd, services run from the target qube's rpc directory.
pub fn dispatch() {
    use std::os::unix::ffi::OsStrExt;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match args.get(1).and_then(|a| a.to_str()) {
        Some("agent") => std::process::exit(qcs_agent::cli::agent_main(args[1..].to_vec())),
        // The CLI is its own crate (it links no backend); the test binary runs its code.
        Some("qvm-config-sync") => {
            std::process::exit(i32::from(qcs_cli::run_from(args[1..].to_vec())))
        }
        Some("qrexec-client") => {
            let (Some(target), Some(service)) = (args.get(2), args.get(3)) else {
                eprintln!("usage: EXE qrexec-client TARGET SERVICE+ARG");
                std::process::exit(2);
            };
            let caller = match qcs_sim::qrexec_client::Caller::from_env() {
                Ok(caller) => caller,
                Err(e) => {
                    eprintln!("qrexec-client-vm: {e}");
                    std::process::exit(2);
                }
            };
            let code =
                qcs_sim::qrexec_client::call(&caller, target.as_bytes(), service.as_bytes(), None);
            std::process::exit(code);
        }
        _ => {}
    }
}

/// Tag of the config qube in the shipped policy.
pub const MANAGER_TAG: &str = "qubes-config-sync-manager";
/// Tag of the qubes the config qube may write into.
pub const MANAGED_TAG: &str = "qubes-config-sync-managed";

/// A qube the config qube manages (tagged as the shipped policy wants).
pub fn managed(spec: QubeSpec) -> QubeSpec {
    spec.tag(MANAGED_TAG)
}

/// A private bus: `dbus-daemon` with a throw-away configuration.
pub struct Bus {
    child: Child,
    pub address: String,
}

impl Bus {
    pub fn start(dir: &Path) -> Bus {
        let socket = dir.join("bus");
        let config = dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .expect("write bus config");
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            .arg("--print-address=1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (package dbus-daemon) must be installed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the bus address");
        Bus {
            child,
            address: line.trim().to_owned(),
        }
    }
}

impl Bus {
    /// Stops the bus daemon.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the qubes of a world need: the agent's services in each one's rpc dir.
pub fn install_agent(world_dir: &Path, qube: &str, spool: Option<&Path>) {
    let exe = std::env::current_exe().expect("current exe");
    let rpc = world_dir.join("qubes").join(qube).join("rpc");
    let home = world_dir.join("qubes").join(qube).join("home");
    std::fs::create_dir_all(&rpc).expect("rpc dir");
    std::fs::create_dir_all(&home).expect("home dir");
    for (service, command) in [
        ("qubes.ConfigApply", "apply"),
        ("qubes.ConfigSnapshot", "snapshot"),
        ("qubes.ConfigRollback", "rollback"),
        ("qubes.ConfigPropose", "propose-receive"),
    ] {
        let spool_env = match spool {
            Some(s) => format!("QUBES_CONFIG_SYNC_SPOOL='{}' ", s.display()),
            None => String::new(),
        };
        let script = format!(
            "#!/bin/sh\n{spool_env}exec '{}' agent {command} \"$@\"\n",
            exe.display()
        );
        let path = rpc.join(service);
        std::fs::write(&path, script).expect("write service");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

/// A `qrexec-client-vm` for `source`: a script that logs each call (for counting) and
/// runs the simulator's client with the world, the calling qube, qubesd's socket and
/// the per-call latency in its environment.
pub fn qrexec_program(
    dir: &Path,
    world_dir: &Path,
    socket: &Path,
    source: &str,
    latency_ms: u64,
) -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().expect("current exe");
    let log = dir.join(format!("qrexec-calls-{source}.log"));
    let script = dir.join(format!("qrexec-client-vm-{source}"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1 $2\" >> '{log}'\nQUBES_SIM_WORLD='{world}' QUBES_SIM_SOURCE='{source}' QUBES_SIM_QUBESD_SOCKET='{socket}' QUBES_SIM_QREXEC_LATENCY_MS={latency_ms} exec '{exe}' qrexec-client \"$@\"\n",
            log = log.display(),
            world = world_dir.display(),
            socket = socket.display(),
            exe = exe.display()
        ),
    )
    .expect("write qrexec client");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, log)
}

/// A whole setup: world + qubesd + bus + backend.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub world_dir: PathBuf,
    pub spool: PathBuf,
    pub store: PathBuf,
    pub qrexec: PathBuf,
    pub calls_log: PathBuf,
    pub server: Option<qcs_sim::ServerHandle>,
    pub bus: Bus,
    pub daemon: Option<Child>,
    pub config_qube: String,
    pub max_parallel: usize,
    pub call_timeout_secs: u64,
}

pub struct EnvOptions {
    /// Latency of every qrexec call (service and Admin API), in milliseconds.
    pub latency_ms: u64,
    pub max_parallel: usize,
    /// Directory to create the temporary tree in (e.g. /dev/shm for heavy I/O).
    pub tmp_in: Option<PathBuf>,
    /// The backend's `--call-timeout`.
    pub call_timeout_secs: u64,
}

impl Default for EnvOptions {
    fn default() -> Self {
        EnvOptions {
            latency_ms: 0,
            max_parallel: 8,
            tmp_in: None,
            call_timeout_secs: 300,
        }
    }
}

pub const CONFIG_QUBE: &str = "cfg";

impl Env {
    /// `qubes`: the managed qubes (plus a template `fedora` and the config qube `cfg`,
    /// added here).
    pub fn start(qubes: Vec<QubeSpec>, options: EnvOptions) -> Env {
        let dir = match &options.tmp_in {
            Some(base) => tempfile::tempdir_in(base).expect("tempdir"),
            None => tempfile::tempdir().expect("tempdir"),
        };
        let world_dir = dir.path().join("world");
        let spool = dir.path().join("spool");
        let mut builder = World::builder()
            .qube(QubeSpec::template_vm("fedora").label("black"))
            .qube(
                QubeSpec::app(CONFIG_QUBE, "fedora")
                    .label("gray")
                    .tag(MANAGER_TAG)
                    .running(),
            )
            .policy_file(
                "70-config-sync.policy",
                include_str!("../../../../policy/policy.d/70-config-sync.policy"),
            )
            .policy_file(
                "80-config-sync-default.policy",
                include_str!("../../../../policy/policy.d/80-config-sync-default.policy"),
            )
            .policy_file(
                "include/config-sync-admin-write",
                include_str!("../../../../policy/policy.d/include/config-sync-admin-write"),
            );
        let mut names = vec![CONFIG_QUBE.to_owned()];
        for spec in qubes {
            builder = builder.qube(spec);
        }
        let world = builder.create(&world_dir).expect("create world");
        for name in world.sorted_names() {
            if name != "dom0" && !names.contains(&name) {
                names.push(name);
            }
        }
        for name in &names {
            install_agent(&world_dir, name, Some(&spool));
        }
        let server = qcs_sim::Server::start_world(world, &dir.path().join("qubesd.sock"))
            .expect("start sim qubesd");
        let bus = Bus::start(dir.path());
        let socket = dir.path().join("qubesd.sock");
        let (qrexec, calls_log) = qrexec_program(
            dir.path(),
            &world_dir,
            &socket,
            CONFIG_QUBE,
            options.latency_ms,
        );
        let mut env = Env {
            store: dir.path().join("store.sqlite"),
            world_dir,
            spool,
            qrexec,
            calls_log,
            server: Some(server),
            bus,
            daemon: None,
            config_qube: CONFIG_QUBE.to_owned(),
            max_parallel: options.max_parallel,
            call_timeout_secs: options.call_timeout_secs,
            dir,
        };
        env.start_daemon();
        env
    }

    pub fn home(&self, qube: &str) -> PathBuf {
        self.world_dir.join("qubes").join(qube).join("home")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("qubesd.sock")
    }

    /// Starts the backend and waits until it owns its name.
    pub fn start_daemon(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_qubes-config-syncd"))
            .arg("--store")
            .arg(&self.store)
            .arg("--spool")
            .arg(&self.spool)
            .arg("--admin-qrexec")
            .arg(&self.qrexec)
            .arg("--qrexec-program")
            .arg(&self.qrexec)
            .arg("--max-parallel")
            .arg(self.max_parallel.to_string())
            .arg("--config-qube")
            .arg(&self.config_qube)
            .arg("--call-timeout")
            .arg(self.call_timeout_secs.to_string())
            .arg("--bus-address")
            .arg(&self.bus.address)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start qubes-config-syncd");
        self.daemon = Some(child);
        let started = Instant::now();
        loop {
            let owned = zbus::block_on(async {
                let conn = zbus::connection::Builder::address(self.bus.address.as_str())?
                    .build()
                    .await?;
                let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
                dbus.name_has_owner(qcs_daemon::client::BUS_NAME.try_into()?)
                    .await
                    .map_err(zbus::Error::from)
            });
            if let Ok(true) = owned {
                return;
            }
            if let Some(Ok(Some(status))) = self.daemon.as_mut().map(|c| c.try_wait()) {
                panic!("qubes-config-syncd exited early: {status}");
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the backend never took its name"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the backend with SIGKILL (no clean-up at all).
    pub fn kill_daemon(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the backend exits by itself; its exit code.
    pub fn wait_daemon_exit(&mut self) -> Option<i32> {
        let child = self.daemon.as_mut()?;
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.daemon = None;
                return status.code();
            }
            assert!(started.elapsed() < PATIENCE, "the backend did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// A client connection and proxy.
    pub fn client(&self) -> (zbus::Connection, ConfigSyncProxy<'static>) {
        zbus::block_on(qcs_daemon::client::connect_to(&self.bus.address)).expect("connect")
    }

    /// Runs `qvm-config-sync ARGS` against this backend.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        self.cli_env(args, &[])
    }

    /// [`Env::cli`] with extra environment variables (they win over the bus address).
    pub fn cli_env(&self, args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
        let out = Command::new(std::env::current_exe().expect("the test binary"))
            .arg("qvm-config-sync")
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus.address)
            .envs(vars.iter().copied())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run qvm-config-sync");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Service calls made so far, per target qube (from the qrexec client's log).
    pub fn calls_per_qube(&self) -> BTreeMap<String, Vec<String>> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(&self.calls_log) {
            for line in text.lines() {
                if let Some((qube, call)) = line.split_once(' ')
                    && call.starts_with("qubes.Config")
                {
                    map.entry(qube.to_owned())
                        .or_default()
                        .push(call.to_owned());
                }
            }
        }
        map
    }

    /// Installs the policy the backend generates from its store in the world's dom0
    /// (as a user does with `qvm-config-sync policy print` in dom0).
    pub fn install_generated_policy(&self, proxy: &ConfigSyncProxy<'static>) {
        let text = zbus::block_on(proxy.generate_policy()).expect("GeneratePolicy");
        std::fs::write(
            self.world_dir
                .join("policy")
                .join("50-config-sync-profiles.policy"),
            text,
        )
        .expect("install the generated policy");
    }

    /// Answers dom0's `ask` prompt for `SERVICE+ARG SOURCE TARGET` (as the user would).
    pub fn answer_ask(&self, key: &str, answer: &str) {
        let mut answers =
            qcs_sim::qrexec_client::AskAnswers::load(&self.world_dir).expect("asks.json");
        answers.0.insert(key.to_owned(), answer.to_owned());
        answers.save(&self.world_dir).expect("save asks.json");
    }

    pub fn clear_calls(&self) {
        let _ = std::fs::remove_file(&self.calls_log);
    }

    /// Starts a qube in the simulator through the Admin API (fires `domain-start`).
    pub fn start_qube(&self, name: &str) {
        let app = qubesadmin::Qubes::new(qubesadmin::SocketTransport::new(self.socket()));
        app.qubesd_call(name, "admin.vm.Start", "", b"")
            .expect("admin.vm.Start");
    }
}

impl Env {
    /// Shuts a qube down in the simulator through the Admin API.
    pub fn shutdown_qube(&self, name: &str) {
        let app = qubesadmin::Qubes::new(qubesadmin::SocketTransport::new(self.socket()));
        app.qubesd_call(name, "admin.vm.Shutdown", "", b"")
            .expect("admin.vm.Shutdown");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.kill_daemon();
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }
}

/// Waits for `JobFinished` of `job` on `stream`; returns (success, summary).
pub fn wait_job(
    stream: &mut qcs_daemon::client::JobFinishedStream,
    job: u64,
) -> (bool, qcs_daemon::client::types::JobSummary) {
    use futures_lite::StreamExt;
    zbus::block_on(async {
        loop {
            let signal = futures_lite::future::or(async { stream.next().await }, async {
                async_io::Timer::after(PATIENCE).await;
                None
            })
            .await
            .expect("JobFinished never came");
            let args = signal.args().expect("JobFinished args");
            if args.job == job {
                let summary = serde_json::from_str(args.summary_json).expect("summary JSON");
                return (args.success, summary);
            }
        }
    })
}

/// Runs named scenarios, catching panics; prints a cargo-like summary; returns the exit
/// code. Arguments that do not start with `-` filter by name.
pub fn run_all(tests: &[(&str, fn())]) -> std::process::ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected: Vec<_> = tests
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let mut passed = 0;
    let mut failed = Vec::new();
    for (name, test) in selected {
        let started = Instant::now();
        let result = std::panic::catch_unwind(test);
        match result {
            Ok(()) => {
                passed += 1;
                println!(
                    "test {name} ... ok ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            Err(_) => {
                failed.push(*name);
                println!("test {name} ... FAILED");
            }
        }
    }
    let status = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {status}. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out\n",
        failed.len()
    );
    if failed.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// Writes `count` distinct proposals from `qube` into the spool in the receiver's
/// format (`qcs_protocol::SpooledProposal`, one file each), as if they had arrived while
/// the backend was down with the spool quota lifted.
pub fn spool_flood(spool: &std::path::Path, qube: &str, count: usize) {
    spool_flood_profile(spool, qube, "git", ".gitconfig", count);
}

/// [`spool_flood`] for any profile and path.
pub fn spool_flood_profile(
    spool: &std::path::Path,
    qube: &str,
    profile: &str,
    path: &str,
    count: usize,
) {
    use qcs_protocol::{
        Content, ObservedMode, ProposalId, ProposeRequest, ProposedFile, SpooledProposal, Version,
    };
    let dir = spool.join(qube);
    std::fs::create_dir_all(&dir).expect("flood setup");
    let source = qcs_protocol::validate_vm_name(qube).expect("flood setup");
    let profile = qcs_protocol::profile::validate_profile_id(profile).expect("flood setup");
    for i in 0..count {
        let bytes = format!("[user]\n\tname = flood {i}\n").into_bytes();
        let content = Content::new(bytes).expect("flood setup");
        let id = format!("{i:020}-1");
        let record = SpooledProposal {
            version: Version,
            proposal_id: ProposalId::parse(&id).expect("flood setup"),
            source_qube: source.clone(),
            profile: profile.clone(),
            received_unix: 1,
            request: ProposeRequest {
                version: Version,
                profile: profile.clone(),
                files: vec![ProposedFile {
                    path: qcs_protocol::path::validate_relative_path(path).expect("flood setup"),
                    mode: ObservedMode::new(0o644),
                    sha256: content.sha256(),
                    content,
                    base_sha256: None,
                }],
                note: None,
            },
        };
        std::fs::write(
            dir.join(format!("{id}.json")),
            qcs_protocol::to_json(&record),
        )
        .expect("flood setup");
    }
}
