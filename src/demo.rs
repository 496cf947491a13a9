//! `--demo`: a simulated Qubes with the real backend on a private bus.
//!
//! [`Demo::start`] builds the demo world (qubes of every class, one with
//! custom-persist), serves it with the simulated qubesd, starts a private
//! `dbus-daemon` and `qubes-config-syncd` on it, seeds sample profiles and settings
//! through the backend's D-Bus API, and spools a risky proposal (bidi controls, a
//! zero-width space, `core.fsmonitor`, a URL rewrite) from `work` through the agent's
//! own `qubes.ConfigPropose` receiver. Dropping the [`Demo`] stops everything.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qcs_client::{BUS_NAME, ConfigSyncProxy};
use qcs_sim::qubesd::{Server, ServerHandle};
use qcs_sim::world::{QubeSpec, World, WorldBuilder};

/// The tag the shipped dom0 policy uses for qubes whose configuration we manage.
const MANAGED_TAG: &str = "qubes-config-sync-managed";
/// The tag that marks the config qube in the shipped dom0 policy.
const MANAGER_TAG: &str = "qubes-config-sync-manager";
/// The config qube of the demo world.
pub const CONFIG_QUBE: &str = "config";
/// How long the backend may take to appear on the bus.
const BACKEND_START: Duration = Duration::from_secs(30);

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot create a directory for the demo world: {0}")]
    TempDir(std::io::Error),
    #[error("cannot build the demo world in {dir}: {error}")]
    World { dir: PathBuf, error: String },
    #[error("cannot start the simulated qubesd: {0}")]
    Qubesd(String),
    #[error("cannot start {program}: {error}")]
    Spawn {
        program: String,
        error: std::io::Error,
    },
    #[error(
        "{0} not found next to this program nor in PATH; build the workspace (cargo build --workspace)"
    )]
    Missing(&'static str),
    #[error("dbus-daemon did not print its address")]
    BusAddress,
    #[error("the backend did not start: {0}")]
    Backend(String),
    #[error("seeding the demo through the backend failed: {0}")]
    Seed(String),
    #[error("spooling the demo proposal failed: {0}")]
    Spool(String),
}

/// The qubes of the demo: a template, a disposable template and one of its disposables,
/// a standalone, the config qube, and managed AppVMs — one of them (`vault`) with
/// custom-persist on, so part of its home does not survive a restart.
pub fn world() -> WorldBuilder {
    World::builder()
        .global_property("default_template", "fedora-42-xfce")
        .global_property("default_dispvm", "default-dvm")
        .qube(
            QubeSpec::template_vm("fedora-42-xfce")
                .label("black")
                .feature("os", "Linux"),
        )
        .qube(
            QubeSpec::template_vm("debian-12-minimal")
                .label("gray")
                .feature("os", "Linux"),
        )
        .qube(QubeSpec::dvm_template("default-dvm", "fedora-42-xfce").label("red"))
        .qube(
            QubeSpec::disposable("disp1234", "default-dvm")
                .label("red")
                .tag(MANAGED_TAG)
                .running(),
        )
        .qube(
            QubeSpec::app(CONFIG_QUBE, "debian-12-minimal")
                .label("purple")
                .tag(MANAGER_TAG)
                .running(),
        )
        .qube(
            QubeSpec::app("work", "fedora-42-xfce")
                .label("blue")
                .tag(MANAGED_TAG)
                .tag(DEV_TAG)
                .running(),
        )
        .qube(
            QubeSpec::app("personal", "fedora-42-xfce")
                .label("green")
                .tag(MANAGED_TAG)
                .tag(DEV_TAG),
        )
        .qube(
            QubeSpec::app("vault", "debian-12-minimal")
                .label("black")
                .tag(MANAGED_TAG)
                .feature("service.custom-persist", "1")
                .feature(
                    "custom-persist.gnupg",
                    "dir:user:user:0700:/home/user/.gnupg",
                )
                .feature(
                    "custom-persist.gitconfig",
                    "file:user:user:0644:/home/user/.gitconfig",
                ),
        )
        .qube(
            QubeSpec::app("untrusted", "fedora-42-xfce")
                .label("red")
                .tag(MANAGED_TAG),
        )
        .qube(QubeSpec::standalone("dev-box").label("orange"))
        // The dom0 policy the project ships: the config qube may snapshot and apply in
        // managed qubes, read the Admin API, and nothing else.
        .policy_file(
            "70-config-sync.policy",
            include_str!("../policy/policy.d/70-config-sync.policy"),
        )
        .policy_file(
            "80-config-sync-default.policy",
            include_str!("../policy/policy.d/80-config-sync-default.policy"),
        )
        .policy_file(
            "include/config-sync-admin-write",
            include_str!("../policy/policy.d/include/config-sync-admin-write"),
        )
}

/// The tag of the demo's assignment rules: every qube carrying it gets profiles `nvim`
/// and `git-identity` (tag another qube `dev` in the demo world and it is covered at
/// the next push).
pub const DEV_TAG: &str = "dev";

/// Managed qubes of the demo: they get the agent's services.
const MANAGED: [&str; 5] = ["work", "personal", "vault", "disp1234", "untrusted"];

/// Install the agent as the managed qubes' qrexec services, as its package does in a
/// template.
fn install_agent(world: &World, agent: &Path) -> Result<(), DemoError> {
    let quoted = format!("'{}'", agent.display().to_string().replace('\'', r"'\''"));
    for qube in MANAGED {
        for (service, command) in [
            ("qubes.ConfigApply", "apply"),
            ("qubes.ConfigSnapshot", "snapshot"),
            ("qubes.ConfigRollback", "rollback"),
        ] {
            let script = format!("#!/bin/sh\nexec {quoted} {command}\n");
            world
                .install_rpc_service(qube, service, script.as_bytes())
                .map_err(|e| DemoError::World {
                    dir: world.dir().map(Path::to_owned).unwrap_or_default(),
                    error: e.to_string(),
                })?;
        }
    }
    Ok(())
}

/// The store's `.gitconfig` of the demo.
pub const GITCONFIG: &str = "[user]\n\tname = Alice\n\temail = alice@example.org\n\tsigningkey = 4AEE18F83AFDEB23\n[init]\n\tdefaultBranch = main\n[color]\n\tui = auto\n[core]\n\teditor = vim\n\tautocrlf = input\n[push]\n\tdefault = simple\n[merge]\n\tconflictstyle = diff3\n[diff]\n\talgorithm = histogram\n[fetch]\n\tprune = true\n[pull]\n\trebase = true\n[alias]\n\tst = status --short\n\tlg = log --graph --abbrev-commit --decorate --format=format:'%C(bold blue)%h%C(reset) - %C(bold green)(%ar)%C(reset) %C(white)%s%C(reset) %C(dim white)- %an%C(reset)%C(bold yellow)%d%C(reset)' --all\n";

/// The demo's template: git's second config file (`~/.config/git/config`, read besides
/// `~/.gitconfig`) with each qube's own email, from variables (see `seed_backend`).
pub const GIT_IDENTITY_TEMPLATE: &str = "# Written for {{ qube.name }} by qubes-config-sync from a template.\n[user]\n\temail = {{ var.email }}\n{{#if var.signingkey}}\n\tsigningkey = {{ var.signingkey }}\n{{/if}}\n";

/// The risky `.gitconfig` `work` proposes: a name with bidi controls (the text after
/// them displays reversed), a zero-width space, `core.fsmonitor` running a program on
/// every `git status`, and a URL rewrite for github.com.
pub fn risky_gitconfig() -> String {
    GITCONFIG
        .replace(
            "\tname = Alice\n",
            "\tname = Alice\u{202E}\u{2066} ]dmc[\u{2069}\u{202C}\n",
        )
        .replace(
            "\teditor = vim\n",
            "\teditor = vim\n\tfsmonitor = /home/user/.cache/x.sh\n",
        )
        .replace(
            "[pull]\n",
            "[url \"https://git.example.net/\"]\n\tinsteadOf = https://github\u{200B}.com/\n[pull]\n",
        )
}

/// A sample file: (path, mode, content).
type SampleFile = (&'static str, u32, String);

/// Sample profiles: (id, description, files).
fn profiles() -> Vec<(&'static str, &'static str, Vec<SampleFile>)> {
    vec![
        (
            "git",
            "Git identity and aliases",
            vec![
                (".gitconfig", 0o644, GITCONFIG.to_owned()),
                (
                    ".config/git/ignore",
                    0o644,
                    "*.swp\n.direnv/\ntarget/\n".to_owned(),
                ),
            ],
        ),
        (
            "ssh",
            "SSH client settings (no keys)",
            vec![(
                ".ssh/config",
                0o600,
                "Host *\n\tHashKnownHosts yes\n\tStrictHostKeyChecking ask\n\tForwardAgent no\n"
                    .to_owned(),
            )],
        ),
        (
            "nvim",
            "Neovim settings (a directory entry), for every qube tagged dev",
            vec![
                (
                    ".config/nvim/init.lua",
                    0o644,
                    "vim.o.number = true\nvim.o.modeline = false\nrequire('keys')\n".to_owned(),
                ),
                (
                    ".config/nvim/lua/keys.lua",
                    0o644,
                    "vim.keymap.set('n', '<leader>w', ':write<CR>')\n".to_owned(),
                ),
            ],
        ),
        (
            "vim",
            "Vim basics",
            vec![(
                ".vimrc",
                0o644,
                "set nocompatible\nset modelines=0\nset nomodeline\nsyntax on\nset number\n"
                    .to_owned(),
            )],
        ),
    ]
}

/// Per qube: (assigned, may propose, auto-apply).
fn settings() -> Vec<(
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    bool,
)> {
    vec![
        ("work", &["git", "ssh", "vim"], &["git"], false),
        ("personal", &["git", "vim"], &["vim"], false),
        ("vault", &["git"], &[], true),
        ("disp1234", &["vim"], &[], true),
        ("untrusted", &["vim"], &[], false),
    ]
}

/// A running demo. Dropping it stops the backend, the bus and the simulator.
pub struct Demo {
    _temporary: Option<tempfile::TempDir>,
    dir: PathBuf,
    bus_address: String,
    bus: Child,
    backend: Child,
    server: Option<ServerHandle>,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("dir", &self.dir)
            .field("bus_address", &self.bus_address)
            .finish_non_exhaustive()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        for child in [&mut self.backend, &mut self.bus] {
            // Already gone is fine; nothing else can be done about a kill error.
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }
}

/// A program of the workspace: next to this executable (`target/debug/`, also from
/// `target/debug/deps/` for tests), else in PATH.
pub fn find_program(name: &'static str) -> Result<PathBuf, DemoError> {
    if let Some(dir) = std::env::var_os("QCS_BIN_DIR") {
        let path = Path::new(&dir).join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        for dir in [Some(dir), dir.parent()].into_iter().flatten() {
            let path = dir.join(name);
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let path = dir.join(name);
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    Err(DemoError::Missing(name))
}

/// The workspace programs the demo runs besides this one.
const PROGRAMS: [&str; 3] = [
    "qubes-config-syncd",
    "qubes-config-agent",
    "qrexec-client-vm",
];

/// Under `cargo run` (the README's demo command), build the workspace programs the
/// demo needs when they are missing: cargo builds only this package's binaries.
fn build_missing_programs() -> Result<(), DemoError> {
    if PROGRAMS.iter().all(|p| find_program(p).is_ok()) {
        return Ok(());
    }
    let (Some(cargo), Some(manifest_dir), Ok(exe)) = (
        std::env::var_os("CARGO"),
        std::env::var_os("CARGO_MANIFEST_DIR"),
        std::env::current_exe(),
    ) else {
        return Ok(());
    };
    let Some(profile_dir) = exe.parent() else {
        return Ok(());
    };
    let Some(target_dir) = profile_dir.parent() else {
        return Ok(());
    };
    eprintln!("qubes-config-sync: building the backend, agent and simulator for the demo…");
    let mut command = Command::new(&cargo);
    command
        .args([
            "build",
            "-p",
            "qcs-daemon",
            "-p",
            "qcs-sim",
            "-p",
            "qcs-agent",
            "--bins",
        ])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(manifest_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    let status = command.status().map_err(|error| DemoError::Spawn {
        program: "cargo".into(),
        error,
    })?;
    if !status.success() {
        return Err(DemoError::Backend(format!(
            "building the workspace programs failed ({status})"
        )));
    }
    Ok(())
}

fn spawn(command: &mut Command, program: &Path) -> Result<Child, DemoError> {
    use std::os::unix::process::CommandExt as _;
    // The bus and the backend must not outlive the demo, even when it crashes.
    // SAFETY: the closure runs between fork and exec; it makes one prctl system call,
    // which is async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
    command.spawn().map_err(|error| DemoError::Spawn {
        program: program.display().to_string(),
        error,
    })
}

impl Demo {
    /// Build and start everything; `world_dir` keeps the world (default: a temporary
    /// directory removed on drop).
    pub fn start(world_dir: Option<PathBuf>) -> Result<Demo, DemoError> {
        Demo::start_with(world_dir, true)
    }

    /// The demo world and backend with an empty store (no profile, no rule, no
    /// proposal): what a first start looks like.
    pub fn start_empty(world_dir: Option<PathBuf>) -> Result<Demo, DemoError> {
        Demo::start_with(world_dir, false)
    }

    fn start_with(world_dir: Option<PathBuf>, seeded: bool) -> Result<Demo, DemoError> {
        build_missing_programs()?;
        let (temporary, dir) = match world_dir {
            Some(dir) => (None, dir),
            None => {
                let temporary = tempfile::Builder::new()
                    .prefix("qubes-config-sync-demo-")
                    .tempdir()
                    .map_err(DemoError::TempDir)?;
                let dir = temporary.path().to_owned();
                (Some(temporary), dir)
            }
        };
        let built = world().create(&dir).map_err(|e| DemoError::World {
            dir: dir.clone(),
            error: e.to_string(),
        })?;
        install_agent(&built, &find_program("qubes-config-agent")?)?;
        let socket = dir.join("qubesd.sock");
        let server = Server::start(&dir, &socket).map_err(|e| DemoError::Qubesd(e.to_string()))?;

        let (bus, bus_address) = start_bus(&dir)?;
        let syncd = find_program("qubes-config-syncd")?;
        let qrexec = find_program("qrexec-client-vm").ok();
        let spool = dir.join("spool");
        let mut command = Command::new(&syncd);
        command
            .arg("--store")
            .arg(dir.join("store.sqlite"))
            .arg("--spool")
            .arg(&spool)
            .arg("--admin-socket")
            .arg(&socket)
            .arg("--config-qube")
            .arg(CONFIG_QUBE)
            .arg("--bus-address")
            .arg(&bus_address)
            .env("QUBES_SIM_WORLD", &dir)
            .env("QUBES_SIM_SOURCE", CONFIG_QUBE)
            .stdin(Stdio::null());
        if let Some(qrexec) = &qrexec {
            command.arg("--qrexec-program").arg(qrexec);
        }
        let backend = spawn(&mut command, &syncd)?;
        let mut demo = Demo {
            _temporary: temporary,
            dir,
            bus_address,
            bus,
            backend,
            server: Some(server),
        };
        demo.wait_for_backend()?;
        if seeded {
            demo.seed()?;
        }
        Ok(demo)
    }

    pub fn world_dir(&self) -> &Path {
        &self.dir
    }

    pub fn bus_address(&self) -> &str {
        &self.bus_address
    }

    fn wait_for_backend(&mut self) -> Result<(), DemoError> {
        let address = self.bus_address.clone();
        let deadline = Instant::now() + BACKEND_START;
        loop {
            if let Ok(Some(status)) = self.backend.try_wait() {
                return Err(DemoError::Backend(format!("it exited ({status})")));
            }
            let owned = zbus::block_on(async {
                let connection = zbus::connection::Builder::address(address.as_str())?
                    .build()
                    .await?;
                let dbus = zbus::fdo::DBusProxy::new(&connection).await?;
                let name = zbus::names::BusName::try_from(BUS_NAME)?;
                dbus.name_has_owner(name).await.map_err(zbus::Error::from)
            });
            match owned {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) if Instant::now() > deadline => {
                    return Err(DemoError::Backend(e.to_string()));
                }
                Err(_) => {}
            }
            if Instant::now() > deadline {
                return Err(DemoError::Backend(format!(
                    "{BUS_NAME} did not appear within {} s",
                    BACKEND_START.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Profiles and settings through the backend, then the risky proposal.
    fn seed(&self) -> Result<(), DemoError> {
        let address = self.bus_address.clone();
        zbus::block_on(async {
            let (_connection, proxy) = qcs_client::connect_to(&address)
                .await
                .map_err(|e| DemoError::Seed(e.to_string()))?;
            seed_backend(&proxy)
                .await
                .map_err(|e| DemoError::Seed(e.to_string()))?;
            spool_risky_proposal(&self.dir.join("spool"))?;
            proxy
                .ingest_spool()
                .await
                .map_err(|e| DemoError::Seed(e.to_string()))?;
            Ok(())
        })
    }
}

async fn seed_backend(proxy: &ConfigSyncProxy<'_>) -> Result<(), qcs_client::Error> {
    for (id, description, files) in profiles() {
        proxy.create_profile(id, description).await?;
        for (path, mode, content) in files {
            proxy.put_file(id, path, content.as_bytes(), mode).await?;
        }
    }
    for (qube, assigned, may_propose, auto_apply) in settings() {
        proxy
            .set_qube_settings(qube, assigned, may_propose, auto_apply)
            .await?;
    }
    proxy
        .set_assignment_rule("tag", DEV_TAG, "nvim", true)
        .await?;
    seed_template(proxy).await
}

/// One template with a different email per qube: a profile default, per-qube values and
/// a value only work has, assigned by the tag rule `dev` (work and personal): a push
/// writes each its own `~/.config/git/config` (the profile editor previews it); tag
/// another qube `dev` and the next push covers it with the default email.
async fn seed_template(proxy: &ConfigSyncProxy<'_>) -> Result<(), qcs_client::Error> {
    let templates = qcs_client::variables::templates_proxy(proxy)
        .await
        .map_err(qcs_client::Error::ZBus)?;
    proxy
        .create_profile("git-identity", "Each qube's git email (a template)")
        .await?;
    templates
        .put_template_file(
            "git-identity",
            ".config/git/config",
            GIT_IDENTITY_TEMPLATE.as_bytes(),
            0o644,
        )
        .await?;
    for (scope, target, name, value) in [
        ("profile", "git-identity", "email", "alice@example.org"),
        ("qube", "work", "email", "alice@work.example"),
        ("qube", "work", "signingkey", "4AEE18F83AFDEB23"),
        ("qube", "personal", "email", "alice@home.example"),
    ] {
        templates.set_variable(scope, target, name, value).await?;
    }
    proxy
        .set_assignment_rule("tag", DEV_TAG, "git-identity", true)
        .await?;
    Ok(())
}

/// Spool the risky proposal from `work` with the agent's own receiver (the code the
/// `qubes.ConfigPropose` service runs in the config qube).
pub fn spool_risky_proposal(spool: &Path) -> Result<(), DemoError> {
    spool_proposal(
        spool,
        "work",
        "git",
        ".gitconfig",
        risky_gitconfig().as_bytes(),
        "fixed my name\u{202E} and sped up git status",
    )
}

/// Spool a proposal of one file from `source`, as `qubes.ConfigPropose+PROFILE` does.
pub fn spool_proposal(
    spool: &Path,
    source: &str,
    profile: &str,
    path: &str,
    content: &[u8],
    note: &str,
) -> Result<(), DemoError> {
    use qcs_protocol::{
        Content, Note, ObservedMode, ProposeRequest, ProposedFile, Version,
        path::validate_relative_path, profile::validate_profile_id, validate_vm_name,
    };
    let fail = |e: &dyn std::fmt::Display| DemoError::Spool(e.to_string());
    let content = Content::new(content.to_vec()).map_err(|e| fail(&e))?;
    let request = ProposeRequest {
        version: Version,
        profile: validate_profile_id(profile).map_err(|e| fail(&e))?,
        files: vec![ProposedFile {
            path: validate_relative_path(path).map_err(|e| fail(&e))?,
            mode: ObservedMode::new(0o644),
            sha256: content.sha256(),
            content,
            base_sha256: None,
        }],
        note: Some(Note::new(note.to_owned()).map_err(|e| fail(&e))?),
    };
    let config = qcs_agent::spool::SpoolConfig {
        dir: spool.to_owned(),
        max_count: qcs_agent::spool::DEFAULT_MAX_COUNT,
        max_bytes: qcs_agent::spool::DEFAULT_MAX_BYTES,
    };
    std::fs::create_dir_all(spool).map_err(|e| fail(&e))?;
    let source = validate_vm_name(source).map_err(|e| fail(&e))?;
    let profile = validate_profile_id(profile).map_err(|e| fail(&e))?;
    qcs_agent::spool::receive(&config, &source, &profile, request)
        .map_err(|refusal| DemoError::Spool(refusal.message))?;
    Ok(())
}

/// A private `dbus-daemon` listening on a socket in `dir`; returns it and its address.
fn start_bus(dir: &Path) -> Result<(Child, String), DemoError> {
    let program = find_program("dbus-daemon")?;
    let config = dir.join("bus.conf");
    let socket = dir.join("bus");
    std::fs::write(
        &config,
        format!(
            "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
             \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
             <busconfig>\n  <type>session</type>\n  <listen>unix:path={}</listen>\n  \
             <auth>EXTERNAL</auth>\n  <policy context=\"default\">\n    \
             <allow send_destination=\"*\" eavesdrop=\"true\"/>\n    <allow eavesdrop=\"true\"/>\n    \
             <allow own=\"*\"/>\n  </policy>\n</busconfig>\n",
            socket.display()
        ),
    )
    .map_err(|error| DemoError::Spawn {
        program: program.display().to_string(),
        error,
    })?;
    let mut child = spawn(
        Command::new(&program)
            .arg("--nofork")
            .arg("--nopidfile")
            .arg(format!("--config-file={}", config.display()))
            .arg("--print-address=1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Its only message here is that it may not raise its fd limit; a failure
            // to start shows as no address.
            .stderr(Stdio::null()),
        &program,
    )?;
    let Some(stdout) = child.stdout.take() else {
        return Err(DemoError::BusAddress);
    };
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line);
    let address = line.trim().to_owned();
    if read.is_err() || address.is_empty() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(DemoError::BusAddress);
    }
    Ok((child, address))
}
