//! `qubes-config-syncd`: options, start-up and the long-running parts (D-Bus service,
//! `admin.Events` subscription, spool watcher).
//!
//! Exit codes: 0 after a clean stop, 1 when the backend could not start (store, bus
//! name taken, bus unreachable), 2 for bad usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use qubesadmin::{QrexecTransport, Qubes, SocketTransport};

use crate::backend::{Backend, BackendConfig, Notifier};
use crate::client::{BUS_NAME, OBJECT_PATH};
use crate::dbus::server::{ConfigSync, DbusNotifier};

/// How often the spool directory is looked at for new proposals.
const SPOOL_POLL: Duration = Duration::from_millis(500);
/// Every this many spool polls, the bus is pinged; a backend that lost its bus exits
/// (status 1) so the session's service manager can start it again.
const BUS_CHECK_EVERY: u32 = 10;

/// Command line of `qubes-config-syncd`.
#[derive(Debug, Parser)]
#[command(
    name = "qubes-config-syncd",
    version,
    about = "qubes-config-sync backend: owns the store, serves org.qubes.ConfigSync1 on D-Bus"
)]
pub struct DaemonArgs {
    /// The store (SQLite). Default: $XDG_DATA_HOME/qubes-config-sync/store.sqlite.
    #[arg(long, value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// The proposal spool written by qubes.ConfigPropose. Default: as the agent's
    /// receiver ($QUBES_CONFIG_SYNC_SPOOL, else $XDG_DATA_HOME/qubes-config-sync/spool).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// Talk to qubesd through this socket (in dom0 or with the simulator) instead of
    /// qrexec.
    #[arg(long, value_name = "PATH", conflicts_with = "admin_qrexec")]
    pub admin_socket: Option<PathBuf>,
    /// Program for Admin API calls over qrexec (default: qrexec-client-vm).
    #[arg(long, value_name = "PROGRAM")]
    pub admin_qrexec: Option<PathBuf>,
    /// Program for the agent's services in qubes (default: qrexec-client-vm).
    #[arg(long, value_name = "PROGRAM", default_value = "qrexec-client-vm")]
    pub qrexec_program: PathBuf,
    /// Most qubes talked to at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_parallel: usize,
    /// This qube's name (target of proposals in the generated policy). Default: the
    /// host name.
    #[arg(long, value_name = "NAME")]
    pub config_qube: Option<String>,
    /// Longest a qrexec service call into a qube may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub call_timeout: u64,
    /// D-Bus address to serve on instead of the session bus.
    #[arg(long, value_name = "ADDRESS")]
    pub bus_address: Option<String>,
    /// Do not subscribe to admin.Events (no live updates, no auto-apply).
    #[arg(long)]
    pub no_events: bool,
}

fn data_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(data) = var("XDG_DATA_HOME") {
        Some(Path::new(&data).join("qubes-config-sync"))
    } else {
        var("HOME").map(|home| Path::new(&home).join(".local/share/qubes-config-sync"))
    }
}

fn host_name() -> String {
    let uname = rustix::system::uname();
    uname.nodename().to_string_lossy().into_owned()
}

/// The backend's configuration from the options and the environment.
pub fn config_from(args: &DaemonArgs) -> Result<BackendConfig, String> {
    let store_path = match &args.store {
        Some(path) => path.clone(),
        None => data_dir()
            .map(|d| d.join("store.sqlite"))
            .ok_or("neither --store, XDG_DATA_HOME nor HOME is set")?,
    };
    let spool_dir = match &args.spool {
        Some(path) => Some(path.clone()),
        None => std::env::var_os("QUBES_CONFIG_SYNC_SPOOL")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| data_dir().map(|d| d.join("spool"))),
    };
    if args.max_parallel == 0 {
        return Err("--max-parallel must be at least 1".to_owned());
    }
    if args.call_timeout == 0 {
        return Err("--call-timeout must be at least 1".to_owned());
    }
    Ok(BackendConfig {
        store_path,
        spool_dir,
        qrexec_program: args.qrexec_program.clone(),
        max_parallel: args.max_parallel,
        config_qube: args.config_qube.clone().unwrap_or_else(host_name),
        call_timeout: Duration::from_secs(args.call_timeout),
    })
}

fn admin_from(args: &DaemonArgs) -> Qubes {
    match (&args.admin_socket, &args.admin_qrexec) {
        (Some(socket), _) => Qubes::new(SocketTransport::new(socket)),
        (None, Some(program)) => Qubes::new(QrexecTransport::new(program)),
        (None, None) => Qubes::from_environment(),
    }
}

/// Runs the backend until the process is stopped.
pub fn run(args: DaemonArgs) -> ExitCode {
    let config = match config_from(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("qubes-config-syncd: {e}");
            return ExitCode::from(2);
        }
    };
    let backend = match Backend::open(config, admin_from(&args)) {
        Ok(backend) => Arc::new(backend),
        Err(e) => {
            eprintln!("qubes-config-syncd: cannot open the store: {e}");
            return ExitCode::from(1);
        }
    };
    // Proposals that arrived while the backend was down enter quarantine before the
    // name is taken, so the first client already sees them.
    if let Err(e) = backend.ingest_spool() {
        eprintln!("qubes-config-syncd: spool: {e}");
    }
    let conn = match zbus::block_on(connect(&args, Arc::clone(&backend))) {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("qubes-config-syncd: cannot serve {BUS_NAME} on D-Bus: {e}");
            return ExitCode::from(1);
        }
    };
    let notifier: Arc<dyn Notifier> = Arc::new(DbusNotifier::new(conn.clone()));
    backend.set_notifier(notifier);
    backend.start_review_warmer();
    let _events = (!args.no_events).then(|| backend.watch_events());
    spool_watcher(&backend, &conn);
    eprintln!("qubes-config-syncd: lost the bus connection or the name {BUS_NAME}; exiting");
    ExitCode::from(1)
}

async fn connect(args: &DaemonArgs, backend: Arc<Backend>) -> zbus::Result<zbus::Connection> {
    let builder = match &args.bus_address {
        Some(address) => zbus::connection::Builder::address(address.as_str())?,
        None => zbus::connection::Builder::session()?,
    };
    builder
        .serve_at(OBJECT_PATH, ConfigSync::new(Arc::clone(&backend)))?
        .serve_at(OBJECT_PATH, crate::dbus::templates::Templates::new(backend))?
        .name(BUS_NAME)?
        .build()
        .await
}

/// Polls the spool and ingests what arrives, until the bus connection or the name is
/// gone.
fn spool_watcher(backend: &Arc<Backend>, conn: &zbus::Connection) {
    let mut polls = 0u32;
    loop {
        std::thread::sleep(SPOOL_POLL);
        if let Err(e) = backend.ingest_spool() {
            eprintln!("qubes-config-syncd: spool: {e}");
        }
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(BUS_CHECK_EVERY) && !still_serving(conn) {
            return;
        }
    }
}

/// True while the bus answers and our name is still ours.
fn still_serving(conn: &zbus::Connection) -> bool {
    zbus::block_on(async {
        let dbus = zbus::fdo::DBusProxy::new(conn).await?;
        let owner = dbus
            .get_name_owner(zbus::names::BusName::try_from(BUS_NAME)?)
            .await?;
        Ok::<bool, zbus::Error>(
            conn.unique_name()
                .is_some_and(|ours| owner.as_str() == ours.as_str()),
        )
    })
    .unwrap_or(false)
}
