//! The simulated qrexec transport behind the `qrexec-client-vm` binary: one
//! service call from a qube of a world, decided by the world's dom0 policy
//! (crates/qrexec) and carried out the way qrexec-daemon and qrexec-agent do
//! it. What a service sees and what the caller gets follow the recordings in
//! `golden/qubesd/qrexec.md`.
//!
//! It must not grant anything the policy does not: every call is sanitised
//! and evaluated first, an `ask` is answered only from the world's scripted
//! answers (none = deny), and a failure after the policy allowed the call
//! looks to the caller like a denial (`Request refused`, exit 126).
//!
//! Environment of the caller:
//!
//! | variable | meaning |
//! |---|---|
//! | `QUBES_SIM_WORLD` | the world directory (required) |
//! | `QUBES_SIM_SOURCE` | the calling qube (required) |
//! | `QUBES_SIM_QUBESD_SOCKET` | the simulated qubesd (default `WORLD/qubesd.sock`) |
//! | `QUBES_SIM_QREXEC_LATENCY_MS` | delay every call by this many milliseconds |
//!
//! Files of the world used here: `policy/` (the dom0 policy), `asks.json`
//! (scripted answers to `ask` prompts, see [`AskAnswers`]),
//! `qubes/NAME/rpc/` (services), `qubes/NAME/home/` (the service's home and
//! working directory); every decision is appended to `qrexec.log`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use qrexec::{Policy, Resolution, ServiceCall};

use crate::qubesd::filter::system_info;
use crate::qubesd::wire;
use crate::world::{POLICY_DIR, World};

/// Environment variable naming the world directory.
pub const WORLD_ENV: &str = "QUBES_SIM_WORLD";
/// Environment variable naming the calling qube.
pub const SOURCE_ENV: &str = "QUBES_SIM_SOURCE";
/// Environment variable overriding the qubesd socket path.
pub const QUBESD_SOCKET_ENV: &str = "QUBES_SIM_QUBESD_SOCKET";
/// Environment variable: latency added to every call, in milliseconds.
pub const LATENCY_ENV: &str = "QUBES_SIM_QREXEC_LATENCY_MS";
/// The qubesd socket inside a world directory when none is given.
pub const QUBESD_SOCKET_FILE: &str = "qubesd.sock";
/// Scripted answers to `ask` prompts inside a world directory.
pub const ASKS_FILE: &str = "asks.json";
/// Log of decisions inside a world directory (one line per call).
pub const LOG_FILE: &str = "qrexec.log";

/// Refused by policy, or failed after the policy allowed it.
pub const EXIT_REFUSED: i32 = 126;
/// The service does not exist in the target.
pub const EXIT_SERVICE_MISSING: i32 = 127;
/// The service file exists but cannot be executed.
pub const EXIT_SERVICE_NOT_EXECUTABLE: i32 = 125;

/// What the caller sees on stderr when a call is refused.
pub const REFUSED_MESSAGE: &str = "Request refused\n";

/// PATH of a service in a qube: what the login shell qrexec-agent starts
/// services with sets (golden qrexec.md §1a).
pub const SERVICE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// PATH of a dom0 service: qrexec-daemon's own (golden qrexec.md §1f).
pub const DOM0_SERVICE_PATH: &str = "/usr/bin:/bin";
/// The user services run as when the rule names none.
pub const DEFAULT_USER: &str = "user";

/// Errors setting up a call (before any policy decision).
#[derive(Debug, thiserror::Error)]
pub enum QrexecError {
    #[error("{0} is not set (it names the {1})")]
    MissingEnv(&'static str, &'static str),
    #[error("{var}={value:?} is not a number of milliseconds")]
    BadLatency { var: &'static str, value: String },
    #[error("{WORLD_ENV}: {0}")]
    World(#[from] crate::SimError),
    #[error("{SOURCE_ENV}: the calling qube {0:?} does not exist in the world")]
    UnknownSource(String),
}

/// Who calls and in which world.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The world directory (absolute).
    pub world_dir: PathBuf,
    /// The calling qube.
    pub source: String,
    /// Socket of the simulated qubesd.
    pub qubesd_socket: PathBuf,
    /// Added before every call.
    pub latency: Duration,
}

impl Caller {
    /// A caller in `world_dir` with the default socket and no latency.
    pub fn new(world_dir: &Path, source: &str) -> Caller {
        let world_dir = std::path::absolute(world_dir).unwrap_or_else(|_| world_dir.to_owned());
        Caller {
            qubesd_socket: world_dir.join(QUBESD_SOCKET_FILE),
            world_dir,
            source: source.to_owned(),
            latency: Duration::ZERO,
        }
    }

    /// From `QUBES_SIM_WORLD`, `QUBES_SIM_SOURCE`, `QUBES_SIM_QUBESD_SOCKET`
    /// and `QUBES_SIM_QREXEC_LATENCY_MS`. The world must load and the calling
    /// qube must be one of its qubes: anything else is a mistake in the setup,
    /// not a call the policy should see.
    pub fn from_env() -> Result<Caller, QrexecError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let world = var(WORLD_ENV).ok_or(QrexecError::MissingEnv(WORLD_ENV, "world directory"))?;
        let source = var(SOURCE_ENV)
            .ok_or(QrexecError::MissingEnv(SOURCE_ENV, "calling qube"))?
            .to_string_lossy()
            .into_owned();
        let mut caller = Caller::new(Path::new(&world), &source);
        if let Some(socket) = var(QUBESD_SOCKET_ENV) {
            caller.qubesd_socket = PathBuf::from(socket);
        }
        if let Some(ms) = var(LATENCY_ENV) {
            let text = ms.to_string_lossy().into_owned();
            let ms: u64 = text.trim().parse().map_err(|_| QrexecError::BadLatency {
                var: LATENCY_ENV,
                value: text.clone(),
            })?;
            caller.latency = Duration::from_millis(ms);
        }
        let world = World::load(&caller.world_dir)?;
        if world.qube(&caller.source).is_none() {
            return Err(QrexecError::UnknownSource(caller.source));
        }
        Ok(caller)
    }
}

/// Scripted answers to `ask` prompts: `WORLD/asks.json`, a JSON object
/// mapping `"SERVICE+ARG SOURCE TARGET"` to `"allow"` (the rule's default
/// target, or the only offered one), `"deny"`, or a target name to pick.
/// TARGET is the target as the caller asked for it (e.g. `@default`); a key
/// with `*` as TARGET answers for any target. No answer means deny, as a
/// user closing the prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct AskAnswers(pub BTreeMap<String, String>);

impl AskAnswers {
    /// Reads `WORLD/asks.json`; a missing file is no answers. An unreadable
    /// or malformed file is an error (the caller then denies).
    pub fn load(world_dir: &Path) -> Result<AskAnswers, String> {
        let path = world_dir.join(ASKS_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: not a JSON object of strings: {e}", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(AskAnswers::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Writes `WORLD/asks.json` (atomically).
    pub fn save(&self, world_dir: &Path) -> Result<(), crate::SimError> {
        let text =
            serde_json::to_vec_pretty(self).map_err(|source| crate::SimError::WorldFormat {
                path: world_dir.join(ASKS_FILE),
                source,
            })?;
        crate::world::write_atomic(&world_dir.join(ASKS_FILE), &text)
    }

    /// Sets the answer for `SERVICE+ARG SOURCE TARGET`.
    pub fn set(&mut self, full_name: &str, source: &str, target: &str, answer: &str) {
        self.0
            .insert(format!("{full_name} {source} {target}"), answer.to_owned());
    }

    /// The scripted answer for a call, if any.
    pub fn lookup(&self, full_name: &str, source: &str, target: &str) -> Option<&str> {
        self.0
            .get(&format!("{full_name} {source} {target}"))
            .or_else(|| self.0.get(&format!("{full_name} {source} *")))
            .map(String::as_str)
    }
}

/// The target name as qrexec-daemon passes it on: bytes outside
/// `[A-Za-z0-9_.-]`, `@` and `:` become `_`.
pub fn sanitize_target(raw: &[u8]) -> String {
    raw.iter()
        .map(|&b| {
            let c = b as char;
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// How an allowed call is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Refused (exit 126); the reason is for the log only.
    Refuse(String),
    /// Run an executable service file.
    Exec(ExecPlan),
    /// Connect to a socket-based service (e.g. qubesd for `admin.*`) and
    /// write `header` before the caller's stdin.
    Socket { path: PathBuf, header: Vec<u8> },
    /// No such service in the target (exit 127, silent).
    Missing,
    /// The service file is not executable (exit 125, silent).
    NotExecutable,
}

/// An executable service and how to start it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecPlan {
    /// Absolute path of the service file (`$0`).
    pub program: PathBuf,
    /// `$1`, when the call has an argument.
    pub argument: Option<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// The complete environment of the service.
    pub env: Vec<(String, String)>,
}

/// A request after sanitising: what the policy and the service see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub call: ServiceCall,
    /// The target as requested, sanitised (`""` = `@default`).
    pub target: String,
}

impl Request {
    /// Sanitises a request as qrexec-daemon does; `None` when qrexec refuses
    /// it outright (empty service name, or one starting with `+`).
    pub fn from_untrusted(target: &[u8], service_call: &[u8]) -> Option<Request> {
        let call = ServiceCall::from_untrusted(service_call).ok()?;
        Some(Request {
            call,
            target: sanitize_target(target),
        })
    }
}

/// Decide a call: policy, `ask` answers, autostart of a halted target, and
/// where the service is. Starting a halted target happens here (through the
/// simulated qubesd when it runs), because qrexec starts it before the
/// service is looked up.
pub fn plan(caller: &Caller, request: &Request) -> Plan {
    let world = match World::load(&caller.world_dir) {
        Ok(w) => w,
        Err(e) => return Plan::Refuse(format!("world: {e}")),
    };
    if world.qube(&caller.source).is_none() {
        return Plan::Refuse(format!("source {:?} is not a qube", caller.source));
    }
    let policy = match Policy::load_dir(&caller.world_dir.join(POLICY_DIR)) {
        Ok(p) => p,
        Err(e) => return Plan::Refuse(format!("policy does not load: {e}")),
    };
    // qrexec's policy daemon asks qubesd for the system info before every
    // evaluation (which also makes qubesd register its cache handlers, see
    // crates/sim/src/qubesd/filter.rs); without a running qubesd, the world
    // file says the same.
    let system = fetch_system_info(caller).unwrap_or_else(|| system_info(&world));
    let call = &request.call;
    let decision = policy.decide(
        &system,
        &call.service,
        &call.argument,
        &caller.source,
        &request.target,
    );
    let resolution = match &decision.resolution {
        ask @ Resolution::Ask {
            targets,
            default_target,
            ..
        } => {
            let answers = match AskAnswers::load(&caller.world_dir) {
                Ok(a) => a,
                Err(e) => return Plan::Refuse(format!("ask answers: {e}")),
            };
            let requested = if request.target.is_empty() {
                "@default"
            } else {
                request.target.as_str()
            };
            let choice = match answers.lookup(&call.full_name(), &caller.source, requested) {
                Some("allow") => default_target
                    .clone()
                    .or_else(|| (targets.len() == 1).then(|| targets[0].clone())),
                Some("deny") | None => None,
                Some(target) => Some(target.to_owned()),
            };
            ask.answer(choice.as_deref())
        }
        other => other.clone(),
    };
    let (target, user, autostart) = match resolution {
        Resolution::Allow {
            target,
            user,
            autostart,
            ..
        } => (target, user, autostart),
        Resolution::Ask { .. } | Resolution::Deny { .. } if decision.resolution.is_deny() => {
            return Plan::Refuse(format!("denied: {}", decision.reason));
        }
        Resolution::Ask { .. } | Resolution::Deny { .. } => {
            return Plan::Refuse(format!(
                "ask not answered with an offered target ({ASKS_FILE}): {}",
                decision.reason
            ));
        }
    };
    if target == caller.source {
        return Plan::Refuse("loopback qrexec connection not supported".into());
    }
    if target.starts_with("@dispvm") {
        // Like the recorded setup: the policy allows, the disposable cannot
        // be started, and the caller sees a refusal.
        return Plan::Refuse(format!("disposables are not simulated ({target})"));
    }
    // A target named by uuid (`uuid:…`) is that qube.
    let found = match target.strip_prefix("uuid:") {
        Some(uuid) => world.qube_by_uuid(uuid),
        None => world.qube(&target),
    };
    let Some(qube) = found else {
        return Plan::Refuse(format!("target {target:?} does not exist"));
    };
    let target = qube.name.clone();
    if target == caller.source {
        return Plan::Refuse("loopback qrexec connection not supported".into());
    }
    let is_dom0 = qube.class == "AdminVM";
    if !is_dom0 && qube.power_state == "Halted" {
        if !autostart {
            return Plan::Refuse(format!("target {target} is halted and autostart=no"));
        }
        if let Err(e) = start_qube(caller, &target) {
            return Plan::Refuse(format!("starting {target}: {e}"));
        }
    }
    let user = user.unwrap_or_else(|| DEFAULT_USER.to_owned());
    if is_dom0 {
        plan_dom0(caller, &world, request, &user)
    } else {
        plan_qube(caller, &world, request, &target, &user)
    }
}

fn plan_dom0(caller: &Caller, world: &World, request: &Request, user: &str) -> Plan {
    let call = &request.call;
    // What the requested target looks like to a dom0 service.
    let (target_type, target_value) = match request.target.strip_prefix('@') {
        Some(keyword) => ("keyword", keyword.to_owned()),
        None => ("name", request.target.clone()),
    };
    let header = format!(
        "{} {} {target_type} {target_value}\0",
        call.full_name(),
        caller.source
    )
    .into_bytes();
    if call.service.starts_with("admin.") {
        return Plan::Socket {
            path: caller.qubesd_socket.clone(),
            header,
        };
    }
    let Ok(rpc) = world.qube_rpc_dir(&world_admin_name(world)) else {
        return Plan::Missing;
    };
    let Ok(home) = world.qube_home(&world_admin_name(world)) else {
        return Plan::Missing;
    };
    match find_service(&rpc, call) {
        Found::Exec(program) => {
            let mut env = common_env(caller, call, &home, user, DOM0_SERVICE_PATH);
            env.push(("QREXEC_REQUESTED_TARGET_TYPE".into(), target_type.into()));
            let var = if target_type == "keyword" {
                "QREXEC_REQUESTED_TARGET_KEYWORD"
            } else {
                "QREXEC_REQUESTED_TARGET"
            };
            env.push((var.into(), target_value));
            env.push((SOURCE_ENV.into(), world_admin_name(world)));
            env.sort();
            Plan::Exec(ExecPlan {
                program,
                argument: (!call.argument.is_empty()).then(|| call.argument.clone()),
                cwd: home,
                env,
            })
        }
        Found::Socket(path) => Plan::Socket { path, header },
        Found::Missing => Plan::Missing,
        Found::NotExecutable => Plan::NotExecutable,
    }
}

fn world_admin_name(world: &World) -> String {
    world
        .data
        .vms
        .iter()
        .find(|q| q.class == "AdminVM")
        .map(|q| q.name.clone())
        .unwrap_or_else(|| "dom0".to_owned())
}

fn plan_qube(caller: &Caller, world: &World, request: &Request, target: &str, user: &str) -> Plan {
    let call = &request.call;
    let (Ok(rpc), Ok(home)) = (world.qube_rpc_dir(target), world.qube_home(target)) else {
        return Plan::Refuse(format!("no directories for {target}"));
    };
    match find_service(&rpc, call) {
        Found::Exec(program) => {
            let mut env = common_env(caller, call, &home, user, SERVICE_PATH);
            // A qube service cannot tell what the caller asked for (§1a).
            env.push(("QREXEC_REQUESTED_TARGET_TYPE".into(), String::new()));
            env.push(("QREXEC_AGENT_PID".into(), std::process::id().to_string()));
            env.push((SOURCE_ENV.into(), target.to_owned()));
            env.sort();
            Plan::Exec(ExecPlan {
                program,
                argument: (!call.argument.is_empty()).then(|| call.argument.clone()),
                cwd: home,
                env,
            })
        }
        Found::Socket(path) => Plan::Socket {
            path,
            header: format!("{} {}\0", call.full_name(), caller.source).into_bytes(),
        },
        Found::Missing => Plan::Missing,
        Found::NotExecutable => Plan::NotExecutable,
    }
}

fn common_env(
    caller: &Caller,
    call: &ServiceCall,
    home: &Path,
    user: &str,
    path: &str,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("HOME".into(), home.display().to_string()),
        ("PWD".into(), home.display().to_string()),
        ("USER".into(), user.to_owned()),
        ("LOGNAME".into(), user.to_owned()),
        ("SHELL".into(), "/bin/sh".into()),
        ("PATH".into(), path.to_owned()),
        ("QREXEC_REMOTE_DOMAIN".into(), caller.source.clone()),
        ("QREXEC_SERVICE_ARGUMENT".into(), call.argument.clone()),
        ("QREXEC_SERVICE_FULL_NAME".into(), call.full_name()),
        (WORLD_ENV.into(), caller.world_dir.display().to_string()),
        (
            QUBESD_SOCKET_ENV.into(),
            caller.qubesd_socket.display().to_string(),
        ),
    ];
    if !caller.latency.is_zero() {
        env.push((LATENCY_ENV.into(), caller.latency.as_millis().to_string()));
    }
    env
}

enum Found {
    Exec(PathBuf),
    Socket(PathBuf),
    Missing,
    NotExecutable,
}

/// `SERVICE+ARG` (always with `+`) is preferred over `SERVICE`, as
/// qrexec-agent looks them up.
fn find_service(rpc_dir: &Path, call: &ServiceCall) -> Found {
    if matches!(call.service.as_str(), "." | "..") {
        return Found::Missing;
    }
    for name in [call.full_name(), call.service.clone()] {
        let path = rpc_dir.join(&name);
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.file_type().is_socket() {
            return Found::Socket(path);
        }
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Found::NotExecutable;
        }
        return Found::Exec(path);
    }
    Found::Missing
}

/// `internal.GetSystemInfo` from the simulated qubesd's internal socket;
/// `None` when it does not run or answers something unusable.
fn fetch_system_info(caller: &Caller) -> Option<qrexec::SystemInfo> {
    let path = crate::qubesd::internal_socket_path(&caller.qubesd_socket);
    let mut stream = UnixStream::connect(path).ok()?;
    let request = wire::encode_request("internal.GetSystemInfo", "", "dom0", None, b"");
    stream.write_all(&request).ok()?;
    stream.shutdown(Shutdown::Write).ok()?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).ok()?;
    let body = reply.strip_prefix(b"0\0")?;
    qrexec::SystemInfo::from_json(std::str::from_utf8(body).ok()?).ok()
}

/// Start a halted qube as dom0 would: `admin.vm.Start` through the running
/// simulated qubesd (power state and events). Without a running qubesd the
/// power state is changed in `world.json` directly (no events to send).
pub fn start_qube(caller: &Caller, name: &str) -> Result<(), String> {
    let request = wire::encode_request("admin.vm.Start", "", "dom0", Some(name), b"");
    match UnixStream::connect(&caller.qubesd_socket) {
        Ok(mut stream) => {
            stream
                .write_all(&request)
                .and_then(|()| stream.shutdown(Shutdown::Write))
                .map_err(|e| format!("qubesd: {e}"))?;
            let mut reply = Vec::new();
            stream
                .read_to_end(&mut reply)
                .map_err(|e| format!("qubesd: {e}"))?;
            if reply.starts_with(b"0\0") {
                Ok(())
            } else {
                Err(format!(
                    "admin.vm.Start failed: {}",
                    String::from_utf8_lossy(&reply).replace('\0', " ")
                ))
            }
        }
        Err(_) => {
            let mut world = World::load(&caller.world_dir).map_err(|e| e.to_string())?;
            let qube = world
                .qube_mut(name)
                .ok_or_else(|| format!("no qube {name:?}"))?;
            qube.power_state = "Running".into();
            world.save().map_err(|e| e.to_string())
        }
    }
}

/// A local program connected to the service (`LOCAL_PROGRAM [ARGS]`).
#[derive(Debug, Clone)]
pub struct LocalProgram {
    pub program: OsString,
    pub args: Vec<OsString>,
}

/// Make one call with the process's own stdin/stdout/stderr, as
/// `qrexec-client-vm` does, and return its exit code. The stdin relay may
/// still be blocked on the caller's stdin when this returns (a service that
/// exits without reading it): the caller should exit at once.
pub fn call(
    caller: &Caller,
    target: &[u8],
    service_call: &[u8],
    local: Option<LocalProgram>,
) -> i32 {
    if !caller.latency.is_zero() {
        std::thread::sleep(caller.latency);
    }
    let request = Request::from_untrusted(target, service_call);
    let plan = match &request {
        Some(r) => plan(caller, r),
        None => Plan::Refuse("invalid service name".into()),
    };
    log_decision(caller, target, service_call, &plan);
    match plan {
        Plan::Refuse(_) => refuse(),
        Plan::Missing => EXIT_SERVICE_MISSING,
        Plan::NotExecutable => EXIT_SERVICE_NOT_EXECUTABLE,
        Plan::Socket { path, header } => match run_socket(&path, &header, local) {
            Ok(code) => code,
            Err(_) => refuse(),
        },
        Plan::Exec(exec) => match run_exec(&exec, local) {
            Ok(code) => code,
            Err(e) if e.kind() == io::ErrorKind::NotFound => EXIT_SERVICE_MISSING,
            Err(_) => EXIT_SERVICE_NOT_EXECUTABLE,
        },
    }
}

fn refuse() -> i32 {
    let _ = io::stderr().write_all(REFUSED_MESSAGE.as_bytes());
    EXIT_REFUSED
}

fn log_decision(caller: &Caller, target: &[u8], service_call: &[u8], plan: &Plan) {
    let outcome = match plan {
        Plan::Refuse(reason) => format!("refused: {reason}"),
        Plan::Exec(e) => format!("exec {}", e.program.display()),
        Plan::Socket { path, .. } => format!("socket {}", path.display()),
        Plan::Missing => "service missing".into(),
        Plan::NotExecutable => "service not executable".into(),
    };
    let line = format!(
        "{} -> {} {}: {outcome}\n",
        caller.source,
        sanitize_target(target),
        qrexec::sanitize_service_call(service_call)
    );
    // The log is a debugging aid: failing to write it does not fail the call.
    if let Ok(mut f) = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(caller.world_dir.join(LOG_FILE))
    {
        let _ = f.write_all(line.as_bytes());
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(EXIT_REFUSED)
}

fn spawn_service(exec: &ExecPlan) -> io::Result<Child> {
    let mut cmd = Command::new(&exec.program);
    cmd.args(exec.argument.iter())
        .env_clear()
        .envs(exec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&exec.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn()
}

/// Copy `from` into `to` until EOF; a write error (the reader went away)
/// ends the copy quietly.
fn relay(mut from: impl Read, mut to: impl Write) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

fn run_exec(exec: &ExecPlan, local: Option<LocalProgram>) -> io::Result<i32> {
    let mut child = spawn_service(exec)?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(io::Error::other("service pipes missing"));
    };
    let stderr_relay = std::thread::spawn(move || relay(stderr, io::stderr()));
    if let Some(local) = local {
        // The local program talks to the service; its exit code is ours.
        let spawned = Command::new(&local.program)
            .args(&local.args)
            .stdin(Stdio::from(stdout))
            .stdout(Stdio::from(stdin))
            .spawn();
        let code = match spawned {
            Ok(mut program) => exit_code(program.wait()?),
            Err(_) => EXIT_SERVICE_MISSING,
        };
        let _ = child.wait();
        let _ = stderr_relay.join();
        return Ok(code);
    }
    // Detached: the service may exit without reading the caller's stdin.
    std::thread::spawn(move || relay(io::stdin(), stdin));
    relay(stdout, io::stdout());
    let status = child.wait()?;
    let _ = stderr_relay.join();
    Ok(exit_code(status))
}

fn run_socket(path: &Path, header: &[u8], local: Option<LocalProgram>) -> io::Result<i32> {
    let mut stream = UnixStream::connect(path)?;
    stream.write_all(header)?;
    let reader = stream.try_clone()?;
    if let Some(local) = local {
        let writer = stream.try_clone()?;
        let mut program = Command::new(&local.program)
            .args(&local.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let (Some(pin), Some(pout)) = (program.stdin.take(), program.stdout.take()) else {
            return Err(io::Error::other("local program pipes missing"));
        };
        let to_socket = std::thread::spawn(move || {
            relay(pout, &writer);
            let _ = writer.shutdown(Shutdown::Write);
        });
        relay(reader, pin);
        let code = exit_code(program.wait()?);
        let _ = to_socket.join();
        return Ok(code);
    }
    std::thread::spawn(move || {
        relay(io::stdin(), &stream);
        let _ = stream.shutdown(Shutdown::Write);
    });
    relay(reader, io::stdout());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_keep_only_qrexecs_charset() {
        assert_eq!(sanitize_target(b"work"), "work");
        assert_eq!(
            sanitize_target(b"@dispvm:default-dvm"),
            "@dispvm:default-dvm"
        );
        assert_eq!(sanitize_target(b"../etc"), ".._etc");
        assert_eq!(sanitize_target(b"a b\n\xc3\xa9"), "a_b___");
        assert_eq!(sanitize_target(b""), "");
    }

    #[test]
    fn exact_ask_answers_win_over_wildcards() {
        let mut answers = AskAnswers::default();
        answers.set("s+a", "src", "*", "deny");
        answers.set("s+a", "src", "@default", "allow");
        assert_eq!(answers.lookup("s+a", "src", "@default"), Some("allow"));
        assert_eq!(answers.lookup("s+a", "src", "other"), Some("deny"));
        assert_eq!(answers.lookup("s+a", "else", "@default"), None);
        assert_eq!(answers.lookup("s+b", "src", "@default"), None);
    }

    #[test]
    fn service_files_are_found_as_qrexec_agent_does() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let rpc = tmp.path();
        let call = |name: &[u8]| ServiceCall::from_untrusted(name).expect("valid");
        let write = |name: &str, mode: u32| {
            let path = rpc.join(name);
            fs::write(&path, "#!/bin/sh\n").expect("write");
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            path
        };
        assert!(matches!(find_service(rpc, &call(b"t.S")), Found::Missing));
        let generic = write("t.S", 0o755);
        let specific = write("t.S+x", 0o755);
        assert!(matches!(find_service(rpc, &call(b"t.S+x")), Found::Exec(p) if p == specific));
        assert!(matches!(find_service(rpc, &call(b"t.S+y")), Found::Exec(p) if p == generic));
        assert!(matches!(find_service(rpc, &call(b"t.S")), Found::Exec(p) if p == generic));
        write("t.N", 0o644);
        assert!(matches!(
            find_service(rpc, &call(b"t.N")),
            Found::NotExecutable
        ));
        fs::create_dir(rpc.join("t.D")).expect("mkdir");
        assert!(matches!(
            find_service(rpc, &call(b"t.D")),
            Found::NotExecutable
        ));
        // The directory itself and its parent are never services.
        assert!(matches!(find_service(rpc, &call(b"..")), Found::Missing));
        assert!(matches!(find_service(rpc, &call(b".")), Found::Missing));
    }
}
