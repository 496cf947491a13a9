//! Channels to qubesd: `qrexec-client-vm` from a qube, the socket in dom0.
//!
//! Both send one request and read one reply to EOF; both validate the
//! destination, method and argument before anything leaves the process, and
//! both read at most [`MAX_REPLY_BYTES`] + 1
//! bytes of a reply.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{DenyReason, Error, TransportError};
use crate::validate;
use crate::wire::{self, MAX_REPLY_BYTES};

/// Default qubesd socket in dom0.
pub const DEFAULT_SOCKET_PATH: &str = "/var/run/qubesd.sock";
/// Default `qrexec-client-vm` program.
pub const DEFAULT_QREXEC_CLIENT: &str = "qrexec-client-vm";
/// Exit code of `qrexec-client-vm` when the policy refused the call.
pub const QREXEC_EXIT_REFUSED: i32 = 126;
/// How much of `qrexec-client-vm`'s stderr is kept for an error message.
const MAX_STDERR_BYTES: usize = 16 * 1024;

/// An open `admin.Events` stream: read it until EOF; `interrupt` ends it from
/// another thread (the blocked reader then sees EOF or an error).
pub struct StreamConnection {
    pub reader: Box<dyn Read + Send>,
    pub interrupt: Box<dyn Fn() + Send + Sync>,
}

/// A channel to qubesd. Implementations only move bytes; [`Transport::qubesd_call`]
/// parses the reply.
pub trait Transport: Send + Sync {
    /// Send one request and return every byte of the reply (at most
    /// `MAX_REPLY_BYTES + 1`, so the parser can tell an oversized reply).
    fn call_raw(
        &self,
        dest: &str,
        method: &str,
        arg: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, Error>;

    /// Open a streaming call (`admin.Events`): the request is sent with an
    /// empty payload and the reply is read incrementally.
    fn open_stream(&self, dest: &str, method: &str, arg: &str) -> Result<StreamConnection, Error>;

    /// One Admin API call: the data of a `0\0<data>` reply, or the error.
    fn qubesd_call(
        &self,
        dest: &str,
        method: &str,
        arg: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let reply = self.call_raw(dest, method, arg, payload)?;
        wire::parse_reply(&reply).map(<[u8]>::to_vec)
    }
}

impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn call_raw(
        &self,
        dest: &str,
        method: &str,
        arg: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, Error> {
        (**self).call_raw(dest, method, arg, payload)
    }
    fn open_stream(&self, dest: &str, method: &str, arg: &str) -> Result<StreamConnection, Error> {
        (**self).open_stream(dest, method, arg)
    }
}

/// Check what goes into a request header. Methods use the qrexec service
/// charset; the argument the qrexec argument charset; the destination is a
/// VM name or `uuid:…`.
pub fn check_request(dest: &str, method: &str, arg: &str) -> Result<(), Error> {
    validate::vm_designator(dest)?;
    validate::method_name(method)?;
    validate::qrexec_argument(arg)?;
    Ok(())
}

/// Read to EOF, keeping at most `limit + 1` bytes (the extra byte tells the
/// caller the limit was exceeded). Stops reading once over the limit.
fn read_capped(reader: &mut impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)?;
    Ok(out)
}

/// dom0: qubesd's unix socket.
#[derive(Debug, Clone)]
pub struct SocketTransport {
    socket: PathBuf,
    source: String,
}

impl Default for SocketTransport {
    fn default() -> Self {
        Self::new(DEFAULT_SOCKET_PATH)
    }
}

impl SocketTransport {
    /// A transport to the socket at `socket`, calling as `dom0`.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        SocketTransport {
            socket: socket.into(),
            source: "dom0".to_owned(),
        }
    }

    /// Call as another source qube (what qrexec would put in the header);
    /// for simulators and tests of policy filtering.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    fn connect_and_send(
        &self,
        dest: &str,
        method: &str,
        arg: &str,
        payload: &[u8],
    ) -> Result<UnixStream, Error> {
        check_request(dest, method, arg)?;
        validate::vm_name(&self.source)?;
        let header = format!("{method}+{arg} {} name {dest}\0", self.source);
        validate::request_size(header.len().saturating_add(payload.len()))?;
        let mut stream =
            UnixStream::connect(&self.socket).map_err(|source| TransportError::Connect {
                path: self.socket.display().to_string(),
                source,
            })?;
        let mut request = header.into_bytes();
        request.extend_from_slice(payload);
        stream.write_all(&request).map_err(TransportError::Io)?;
        stream
            .shutdown(std::net::Shutdown::Write)
            .map_err(TransportError::Io)?;
        Ok(stream)
    }
}

impl Transport for SocketTransport {
    fn call_raw(
        &self,
        dest: &str,
        method: &str,
        arg: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let mut stream = self.connect_and_send(dest, method, arg, payload)?;
        Ok(read_capped(&mut stream, MAX_REPLY_BYTES).map_err(TransportError::Io)?)
    }

    fn open_stream(&self, dest: &str, method: &str, arg: &str) -> Result<StreamConnection, Error> {
        let stream = self.connect_and_send(dest, method, arg, b"")?;
        let closer = stream.try_clone().map_err(TransportError::Io)?;
        Ok(StreamConnection {
            reader: Box::new(stream),
            interrupt: Box::new(move || {
                // Wakes the blocked reader with EOF; errors mean it is closed.
                let _ = closer.shutdown(std::net::Shutdown::Both);
            }),
        })
    }
}

/// A qube: `qrexec-client-vm <dest> <method>+<arg>`.
#[derive(Debug, Clone)]
pub struct QrexecTransport {
    program: PathBuf,
}

impl Default for QrexecTransport {
    fn default() -> Self {
        Self::new(DEFAULT_QREXEC_CLIENT)
    }
}

impl QrexecTransport {
    /// Use `program` instead of `qrexec-client-vm` (e.g. the simulator's).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        QrexecTransport {
            program: program.into(),
        }
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    fn spawn(&self, dest: &str, method: &str, arg: &str, stdin: Stdio) -> Result<Child, Error> {
        check_request(dest, method, arg)?;
        Command::new(&self.program)
            .arg(dest)
            .arg(format!("{method}+{arg}"))
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| {
                TransportError::Spawn {
                    program: self.program.display().to_string(),
                    source,
                }
                .into()
            })
    }
}

/// Map the exit status of `qrexec-client-vm`.
fn check_exit(status: std::process::ExitStatus, stderr: &[u8]) -> Result<(), Error> {
    let stderr = String::from_utf8_lossy(stderr).trim().to_owned();
    match status.code() {
        Some(0) => Ok(()),
        Some(QREXEC_EXIT_REFUSED) => Err(Error::AccessDenied(DenyReason::QrexecPolicy(
            if stderr.is_empty() {
                "Request refused".to_owned()
            } else {
                stderr
            },
        ))),
        code => Err(TransportError::ServiceCall { code, stderr }.into()),
    }
}

impl Transport for QrexecTransport {
    fn call_raw(
        &self,
        dest: &str,
        method: &str,
        arg: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, Error> {
        validate::request_size(payload.len())?;
        let mut child = self.spawn(dest, method, arg, Stdio::piped())?;
        let (Some(mut stdin), Some(mut stdout_pipe), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TransportError::Io(std::io::Error::other("child pipes missing")).into());
        };
        // stdin, stdout and stderr are served at once so that no pipe can
        // fill up and block the child while we wait on another one.
        let (written, stdout, stderr) = std::thread::scope(|scope| {
            let writer = scope.spawn(move || {
                let result = stdin.write_all(payload);
                drop(stdin); // EOF ends the payload
                result
            });
            let errors = scope.spawn(move || {
                let mut stderr = stderr;
                let kept = read_capped(&mut stderr, MAX_STDERR_BYTES);
                // Drain the rest so the child never blocks on a full pipe.
                let _ = std::io::copy(&mut stderr, &mut std::io::sink());
                kept
            });
            let stdout = read_capped(&mut stdout_pipe, MAX_REPLY_BYTES);
            let oversized = stdout.as_ref().is_ok_and(|o| o.len() > MAX_REPLY_BYTES);
            if oversized {
                // Do not wait for the rest of an oversized reply: stop the
                // client and close our end, so any writer left gets EPIPE.
                let _ = child.kill();
            }
            drop(stdout_pipe);
            (writer.join(), stdout, errors.join())
        });
        let status = child.wait().map_err(TransportError::Io)?;
        let stderr = match stderr {
            Ok(Ok(bytes)) => bytes,
            _ => Vec::new(),
        };
        let stdout = stdout.map_err(TransportError::Io)?;
        if stdout.len() > MAX_REPLY_BYTES {
            return Ok(stdout); // the parser reports ReplyTooLarge
        }
        check_exit(status, &stderr)?;
        // A write error with a clean exit means the service did not want
        // the payload (e.g. closed early); the reply decides.
        let _ = written;
        Ok(stdout)
    }

    fn open_stream(&self, dest: &str, method: &str, arg: &str) -> Result<StreamConnection, Error> {
        let mut child = self.spawn(dest, method, arg, Stdio::null())?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TransportError::Io(std::io::Error::other("child stdout missing")).into());
        };
        // Drain stderr all along, so a chatty client never blocks on it.
        let stderr_reader = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let kept = read_capped(&mut pipe, MAX_STDERR_BYTES).unwrap_or_default();
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
                kept
            })
        });
        let child = Arc::new(std::sync::Mutex::new(ChildGuard {
            child,
            finished: None,
        }));
        let for_interrupt = Arc::clone(&child);
        Ok(StreamConnection {
            reader: Box::new(ChildReader {
                stdout,
                child,
                stderr_reader,
                checked: false,
            }),
            interrupt: Box::new(move || {
                if let Ok(mut guard) = for_interrupt.lock() {
                    let _ = guard.child.kill();
                }
            }),
        })
    }
}

struct ChildGuard {
    child: Child,
    finished: Option<std::process::ExitStatus>,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.finished.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// stdout of a streaming `qrexec-client-vm`; at EOF the exit status is
/// checked, so a policy refusal surfaces as an `AccessDenied` read error.
struct ChildReader {
    stdout: std::process::ChildStdout,
    child: Arc<std::sync::Mutex<ChildGuard>>,
    stderr_reader: Option<std::thread::JoinHandle<Vec<u8>>>,
    checked: bool,
}

impl Read for ChildReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.checked {
            self.checked = true;
            // Poll instead of a blocking wait: the lock must stay free so
            // that `interrupt` can kill a client that closed stdout but
            // keeps running.
            let status = loop {
                let mut guard = self
                    .child
                    .lock()
                    .map_err(|_| std::io::Error::other("child lock poisoned"))?;
                if let Some(status) = guard.child.try_wait()? {
                    guard.finished = Some(status);
                    break status;
                }
                drop(guard);
                std::thread::sleep(std::time::Duration::from_millis(10));
            };
            // stderr is only for the message: a grandchild that keeps it
            // open must not hold the stream up, so wait for it briefly.
            let mut stderr = Vec::new();
            if let Some(handle) = self.stderr_reader.take() {
                for _ in 0..50 {
                    if handle.is_finished() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                if handle.is_finished() {
                    stderr = handle.join().unwrap_or_default();
                }
            }
            if let Err(error) = check_exit(status, &stderr) {
                return Err(std::io::Error::other(StreamEnd(error)));
            }
        }
        Ok(n)
    }
}

/// Carries a typed [`Error`] through `io::Error` from a stream reader.
#[derive(Debug)]
pub struct StreamEnd(pub Error);

impl std::fmt::Display for StreamEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StreamEnd {}

/// Turn a read error of a stream back into the typed error it carries.
pub fn stream_error(error: std::io::Error) -> Error {
    if error.get_ref().is_some_and(|inner| inner.is::<StreamEnd>()) {
        match error
            .into_inner()
            .map(|inner| inner.downcast::<StreamEnd>())
        {
            Some(Ok(end)) => return end.0,
            Some(Err(other)) => return TransportError::Io(std::io::Error::other(other)).into(),
            None => return TransportError::Io(std::io::Error::other("stream error")).into(),
        }
    }
    TransportError::Io(error).into()
}

/// Wraps a transport and counts the calls made through it (for benchmarks
/// and tests that check call budgets).
#[derive(Debug, Default)]
pub struct CountingTransport<T> {
    inner: T,
    calls: AtomicU64,
    streams: AtomicU64,
}

impl<T: Transport> CountingTransport<T> {
    pub fn new(inner: T) -> Self {
        CountingTransport {
            inner,
            calls: AtomicU64::new(0),
            streams: AtomicU64::new(0),
        }
    }

    /// Admin API calls made so far (streams not included).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Streams opened so far.
    pub fn streams(&self) -> u64 {
        self.streams.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.calls.store(0, Ordering::Relaxed);
        self.streams.store(0, Ordering::Relaxed);
    }

    pub fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: Transport> Transport for CountingTransport<T> {
    fn call_raw(
        &self,
        dest: &str,
        method: &str,
        arg: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.call_raw(dest, method, arg, payload)
    }

    fn open_stream(&self, dest: &str, method: &str, arg: &str) -> Result<StreamConnection, Error> {
        self.streams.fetch_add(1, Ordering::Relaxed);
        self.inner.open_stream(dest, method, arg)
    }
}
