//! The simulated qubesd: the Admin API on a real unix socket.
//!
//! One thread accepts connections; each connection gets a thread that reads
//! the request until the client half-closes, waits the configured latency,
//! and handles it under one state lock (qubesd is single-threaded too, so
//! calls are serialised exactly as there). `admin.Events` connections stay
//! open: events are written to them while the change that caused them is
//! being made, so a listener has received every event of a call before the
//! call's own reply is sent.
//!
//! Beside the Admin API socket, the internal socket (`qubesd.internal.sock`
//! beside `qubesd.sock`, see [`internal_socket_path`]) answers
//! `internal.GetSystemInfo`, which qrexec's policy daemon calls before it
//! evaluates any call; the simulated `qrexec-client-vm` does the same.

mod api;
pub mod events;
pub mod filter;
pub mod wire;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::SimError;
use crate::world::World;
use api::{Outcome, State};
pub use events::Event;

/// How often an idle `admin.Events` connection checks whether its client
/// left or the server stops.
const LISTENER_POLL: Duration = Duration::from_millis(100);

/// At most this many connections are served at once (one thread each);
/// beyond it a connection is closed at once, which a client sees as an
/// empty reply. Bounds what a flood of idle connections can cost.
pub const MAX_CONNECTIONS: usize = 1024;

struct Shared {
    state: Mutex<State>,
    latency_nanos: AtomicU64,
    stopping: AtomicBool,
    connections: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in one connection thread must not take the server down.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The internal socket of a server on `socket`: `NAME.internal.EXT` beside it
/// (`/run/qubesd.sock` → `/run/qubesd.internal.sock`, as in dom0).
pub fn internal_socket_path(socket: &Path) -> PathBuf {
    let stem = socket
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match socket.extension() {
        Some(ext) => format!("{stem}.internal.{}", ext.to_string_lossy()),
        None => format!("{stem}.internal"),
    };
    socket.with_file_name(name)
}

/// Entry point of the simulated qubesd.
pub struct Server;

impl Server {
    /// Load the world directory `world_dir` and serve it on `socket`
    /// (a stale socket file is replaced; a live one is an error).
    pub fn start(world_dir: &Path, socket: &Path) -> Result<ServerHandle, SimError> {
        let world = World::load(world_dir)?;
        Server::start_world(world, socket)
    }

    /// Serve an already loaded world (with or without a directory; without
    /// one, changes are kept in memory only).
    pub fn start_world(world: World, socket: &Path) -> Result<ServerHandle, SimError> {
        let sock_err = |source| SimError::Socket {
            path: socket.to_owned(),
            source,
        };
        if socket.exists() {
            match UnixStream::connect(socket) {
                Ok(_) => {
                    return Err(sock_err(std::io::Error::new(
                        std::io::ErrorKind::AddrInUse,
                        "another server is listening on this socket",
                    )));
                }
                Err(_) => std::fs::remove_file(socket).map_err(sock_err)?,
            }
        }
        let listener = UnixListener::bind(socket).map_err(sock_err)?;
        let internal_path = internal_socket_path(socket);
        let _ = std::fs::remove_file(&internal_path);
        let internal = UnixListener::bind(&internal_path).map_err(|source| SimError::Socket {
            path: internal_path.clone(),
            source,
        })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(world)),
            latency_nanos: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            connections: std::sync::atomic::AtomicUsize::new(0),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("qubesd-accept".into())
            .spawn(move || accept_loop(listener, internal, accept_shared))
            .map_err(sock_err)?;
        Ok(ServerHandle {
            socket: socket.to_owned(),
            shared,
            accept: Some(accept),
        })
    }
}

/// A running simulated qubesd; stops when dropped.
pub struct ServerHandle {
    socket: PathBuf,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The socket clients connect to.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The internal socket (`internal.GetSystemInfo`).
    pub fn internal_socket_path(&self) -> PathBuf {
        internal_socket_path(&self.socket)
    }

    /// What qrexec's policy daemon does before it evaluates a call: ask for
    /// the (cached) system info. Besides returning it, this registers
    /// qubesd's cache handlers the first time (see `filter`).
    pub fn get_system_info(&self) -> String {
        let mut state = self.shared.lock();
        let State { world, filter, .. } = &mut *state;
        filter.system_info_answer(world)
    }

    /// Delay every call by `latency` before it is handled (models qrexec).
    pub fn set_latency(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.shared.latency_nanos.store(nanos, Ordering::Relaxed);
    }

    /// The configured per-call latency.
    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.shared.latency_nanos.load(Ordering::Relaxed))
    }

    /// A copy of the current world.
    pub fn world(&self) -> World {
        self.shared.lock().world.clone()
    }

    /// Number of connected `admin.Events` listeners.
    pub fn listener_count(&self) -> usize {
        self.shared.lock().listeners.len()
    }

    /// The last error saving the world, if any (the call itself succeeded,
    /// as qubesd's would; the world file is then behind).
    pub fn save_error(&self) -> Option<String> {
        self.shared.lock().last_save_error.clone()
    }

    /// Make a change from outside the API (tests, the demo) and tell the
    /// listeners: `change` gets the world and returns the events to fire.
    pub fn with_world<R>(&self, change: impl FnOnce(&mut World) -> (R, Vec<Event>)) -> R {
        let mut state = self.shared.lock();
        let (result, events) = change(&mut state.world);
        for e in events {
            state.fire(e);
        }
        if let Err(e) = state.world.save() {
            state.last_save_error = Some(e.to_string());
        }
        result
    }

    /// Stop serving: no new connections, listeners are disconnected, the
    /// socket file is removed.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        // The accept loop polls this flag; it does not depend on the socket
        // file, which its owner may already have deleted.
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = accept.join();
        {
            let mut state = self.shared.lock();
            for l in state.listeners.drain(..) {
                let _ = l.stream.shutdown(Shutdown::Both);
            }
        }
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(internal_socket_path(&self.socket));
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How often the accept loop checks whether the server stops.
const ACCEPT_POLL: Duration = Duration::from_millis(50);

fn accept_loop(listener: UnixListener, internal: UnixListener, shared: Arc<Shared>) {
    use rustix::event::{PollFd, PollFlags, poll};
    let timeout = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: i64::try_from(ACCEPT_POLL.as_nanos()).unwrap_or(50_000_000),
    };
    // Non-blocking, so a connection that vanished between poll and accept
    // cannot block the loop.
    if listener.set_nonblocking(true).is_err() || internal.set_nonblocking(true).is_err() {
        return;
    }
    while !shared.stopping.load(Ordering::SeqCst) {
        let mut fds = [
            PollFd::new(&listener, PollFlags::IN),
            PollFd::new(&internal, PollFlags::IN),
        ];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        let ready = [!fds[0].revents().is_empty(), !fds[1].revents().is_empty()];
        for (is_internal, source) in [(false, &listener), (true, &internal)] {
            if !ready[usize::from(is_internal)] {
                continue;
            }
            let stream = match source.accept() {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            };
            if stream.set_nonblocking(false).is_err() {
                continue;
            }
            if shared.connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                shared.connections.fetch_sub(1, Ordering::SeqCst);
                continue; // dropped: the client sees an empty reply
            }
            let worker = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name("qubesd-conn".into())
                .spawn(move || {
                    if is_internal {
                        serve_internal(stream, &worker);
                    } else {
                        serve_connection(stream, &worker);
                    }
                    worker.connections.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                // Out of threads: the connection was dropped with the closure.
                shared.connections.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// One request on the internal socket (qubes.api.internal.QubesInternalAPI):
/// only `internal.GetSystemInfo` is simulated.
fn serve_internal(mut stream: UnixStream, shared: &Shared) {
    let Some(request) = read_request(&mut stream) else {
        let _ = stream.shutdown(Shutdown::Both);
        return;
    };
    let reply = match wire::parse_request(&request) {
        None => None,
        Some(raw) if raw.method == b"internal.GetSystemInfo" => {
            let mut state = shared.lock();
            let State { world, filter, .. } = &mut *state;
            Some(wire::ok_reply(filter.system_info_answer(world).as_bytes()))
        }
        Some(raw) => Some(wire::error_reply(
            "ProtocolError",
            &format!(
                "no such method: {}",
                wire::py_repr(&String::from_utf8_lossy(&raw.method))
            ),
        )),
    };
    if let Some(reply) = reply {
        let _ = stream.write_all(&reply);
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Read until EOF, at most `MAX_REQUEST` bytes; `None` = over the limit.
fn read_request(stream: &mut UnixStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Some(buf),
            Ok(n) => {
                if buf.len() + n > wire::MAX_REQUEST {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // A broken connection is treated like a truncated request.
            Err(_) => return Some(buf),
        }
    }
}

fn serve_connection(mut stream: UnixStream, shared: &Shared) {
    if shared.stopping.load(Ordering::SeqCst) {
        return;
    }
    let Some(request) = read_request(&mut stream) else {
        // qubesd aborts the transport: no reply at all.
        let _ = stream.shutdown(Shutdown::Both);
        return;
    };
    let latency = Duration::from_nanos(shared.latency_nanos.load(Ordering::Relaxed));
    if !latency.is_zero() {
        std::thread::sleep(latency);
    }
    let mut state = shared.lock();
    match api::handle(&mut state, &request) {
        Outcome::Reply(bytes) => {
            drop(state);
            let _ = stream.write_all(&bytes);
            let _ = stream.shutdown(Shutdown::Both);
        }
        Outcome::Close => {
            drop(state);
            let _ = stream.shutdown(Shutdown::Both);
        }
        Outcome::Subscribe {
            src,
            dest,
            dest_is_admin,
        } => {
            let Ok(writer) = stream.try_clone() else {
                return;
            };
            let _ = writer.set_write_timeout(Some(events::LISTENER_WRITE_TIMEOUT));
            let id = state.next_listener;
            state.next_listener += 1;
            let mut listener = events::Listener {
                id,
                stream: writer,
                src,
                dest,
                dest_is_admin,
            };
            // The confirmation qubesd sends first, unfiltered.
            if !listener.send(&Event::app("connection-established", &[]).encode()) {
                return;
            }
            state.add_listener(listener);
            drop(state);
            watch_listener(&stream, id, shared);
        }
    }
}

/// Wait until the listener's client hangs up (or the server stops), then
/// forget the listener.
fn watch_listener(stream: &UnixStream, id: u64, shared: &Shared) {
    use rustix::event::{PollFd, PollFlags, poll};
    let timeout = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: i64::try_from(LISTENER_POLL.as_nanos()).unwrap_or(100_000_000),
    };
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let mut fds = [PollFd::new(stream, PollFlags::empty())];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => {}
            Ok(_) => {
                let revents = fds[0].revents();
                if revents.intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
                    break;
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
        // Removed elsewhere (write failure, server stop).
        if !shared.lock().listeners.iter().any(|l| l.id == id) {
            return;
        }
    }
    let mut state = shared.lock();
    state.listeners.retain(|l| l.id != id);
    drop(state);
    let _ = stream.shutdown(Shutdown::Both);
}
