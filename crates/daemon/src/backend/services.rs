//! Calls of the agent's qrexec services (`qubes.ConfigApply+P`, `qubes.ConfigSnapshot+P`,
//! `qubes.ConfigRollback+P`) through `qrexec-client-vm` (or a compatible program, e.g.
//! the simulator's).
//!
//! The reply comes from the target qube and is untrusted: it is read with the protocol's
//! cap (never more than [`qcs_protocol::limits::MAX_REQUEST_BYTES`] is buffered) and
//! parsed with every protocol limit.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use qcs_protocol::{ProfileId, Refusal, ServiceReply};
use serde::de::DeserializeOwned;

/// Exit status of `qrexec-client-vm` when dom0 policy denied the call.
pub const EXIT_DENIED: i32 = 126;
/// Most bytes of the helper's stderr kept for an error message.
const MAX_STDERR_BYTES: u64 = 4096;
/// Default limit for one service call: a qube that never answers must not hold a
/// transfer slot (and so other qubes' pushes) forever.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a service call failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{service} to {qube} denied by dom0 policy")]
    Denied { service: String, qube: String },
    #[error("{service} in {qube} failed (exit status {status}): {stderr}")]
    Failed {
        service: String,
        qube: String,
        status: String,
        stderr: String,
    },
    #[error("{service} in {qube} sent an invalid reply (reply.unparsable): {detail}")]
    BadReply {
        service: String,
        qube: String,
        detail: String,
        /// What the qube sent, bounded and escaped (empty when nothing was kept).
        sent: String,
    },
    #[error("{service} in {qube} refused the request: {code:?}: {message}")]
    Refused {
        service: String,
        qube: String,
        code: qcs_protocol::RefusalCode,
        message: String,
    },
    #[error("{service} in {qube} sent a reply that breaks its request, refused whole: {violation}")]
    InvalidReply {
        service: String,
        qube: String,
        violation: super::replies::ReplyViolation,
    },
    #[error("{service} in {qube} did not answer within {seconds} s; stopped")]
    TimedOut {
        service: String,
        qube: String,
        seconds: u64,
    },
    #[error("I/O with the qrexec client: {0}")]
    Io(#[from] std::io::Error),
}

impl ServiceError {
    /// Stable reason code (job summaries carry it next to the message).
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Spawn { .. } | ServiceError::Io(_) => "qrexec.io",
            ServiceError::Denied { .. } => "qrexec.denied",
            ServiceError::Failed { .. } => "service.failed",
            ServiceError::BadReply { .. } => "reply.unparsable",
            ServiceError::Refused { .. } => "service.refused",
            ServiceError::InvalidReply { violation, .. } => violation.code(),
            ServiceError::TimedOut { .. } => "service.timeout",
        }
    }
}

/// Runs service calls with one program; counts them (for the benchmark's "one call
/// per qube").
#[derive(Debug)]
pub struct ServiceCaller {
    program: PathBuf,
    calls: AtomicU64,
    timeout: Duration,
}

impl ServiceCaller {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        ServiceCaller {
            program: program.into(),
            calls: AtomicU64::new(0),
            timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// Limits each call to `timeout` (the qrexec client and everything it started is
    /// killed after it).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Number of service calls started so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls `service+profile` in `qube` with `request`, returns the parsed answer.
    pub fn call<Req: serde::Serialize, Ans: DeserializeOwned>(
        &self,
        qube: &str,
        service: &str,
        profile: &ProfileId,
        request: &Req,
    ) -> Result<Ans, ServiceError> {
        // Qube names come from the Admin API or the store, both validated; a name that
        // is not valid never reaches the command line.
        if qubesadmin::validate::vm_name(qube).is_err() {
            return Err(ServiceError::BadReply {
                service: service.to_owned(),
                qube: qube.chars().take(64).collect(),
                detail: "invalid qube name".to_owned(),
                sent: String::new(),
            });
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let payload = qcs_protocol::to_json(request);
        let mut child = Command::new(&self.program)
            .arg(qube)
            .arg(format!("{service}+{}", profile.as_str()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout stops whatever it started too.
            .process_group(0)
            .spawn()
            .map_err(|source| ServiceError::Spawn {
                program: self.program.display().to_string(),
                source,
            })?;
        // Write stdin on its own thread: a service may answer (or fail) before reading it
        // all, and a full stdout pipe must not deadlock against a full stdin pipe.
        let stdin = child.stdin.take();
        let writer = std::thread::spawn(move || {
            if let Some(mut stdin) = stdin {
                // A broken pipe means the service stopped reading; its reply says why.
                let _ = stdin.write_all(&payload);
            }
        });
        let stderr = child.stderr.take();
        let stderr_reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(stderr) = stderr {
                let mut limited = stderr.take(MAX_STDERR_BYTES);
                let _ = limited.read_to_end(&mut text);
                // Drain the rest so the child never blocks on a full stderr pipe.
                let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
            }
            text
        });
        let stdout = child.stdout.take();
        let child = Arc::new(Mutex::new(child));
        let timed_out = Arc::new(AtomicBool::new(false));
        let (finished, wait_finish) = mpsc::channel::<()>();
        let watchdog = {
            let child = Arc::clone(&child);
            let timed_out = Arc::clone(&timed_out);
            let timeout = self.timeout;
            std::thread::spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = wait_finish.recv_timeout(timeout) {
                    timed_out.store(true, Ordering::Relaxed);
                    stop(&child);
                }
            })
        };
        let reply = match stdout {
            Some(stdout) => qcs_protocol::read_capped(stdout),
            None => Ok(Vec::new()),
        };
        if reply.is_err() {
            // Oversized: stop the sender instead of reading it to the end.
            stop(&child);
        }
        drop(finished);
        let _ = watchdog.join();
        let status = child
            .lock()
            .map_err(|_| std::io::Error::other("qrexec client state lost"))?
            .wait()?;
        let _ = writer.join();
        let stderr = stderr_reader.join().unwrap_or_default();
        let bad = |detail: String, sent: &[u8]| ServiceError::BadReply {
            service: service.to_owned(),
            qube: qube.to_owned(),
            detail,
            sent: printable(sent),
        };
        if timed_out.load(Ordering::Relaxed) {
            return Err(ServiceError::TimedOut {
                service: service.to_owned(),
                qube: qube.to_owned(),
                seconds: self.timeout.as_secs(),
            });
        }
        let reply = reply.map_err(|e| bad(e.to_string(), b""))?;
        match status.code() {
            Some(0) => {}
            Some(EXIT_DENIED) => {
                return Err(ServiceError::Denied {
                    service: service.to_owned(),
                    qube: qube.to_owned(),
                });
            }
            _ if !reply.is_empty() => {
                // Services answer refusals with a non-zero exit too; the reply says more.
            }
            _ => {
                return Err(ServiceError::Failed {
                    service: service.to_owned(),
                    qube: qube.to_owned(),
                    status: status.to_string(),
                    stderr: printable(&stderr),
                });
            }
        }
        let parsed: ServiceReply<Ans> =
            qcs_protocol::parse_message(&reply).map_err(|e| bad(e.to_string(), &reply))?;
        match parsed {
            ServiceReply::Ok(answer) => Ok(answer),
            ServiceReply::Refused(Refusal { code, message, .. }) => Err(ServiceError::Refused {
                service: service.to_owned(),
                qube: qube.to_owned(),
                code,
                message: printable(message.as_bytes()),
            }),
        }
    }
}

/// Kills the call's process group while its leader is not reaped yet (so the group id
/// cannot have been reused).
fn stop(child: &Mutex<Child>) {
    if let Ok(mut child) = child.lock()
        && let Ok(None) = child.try_wait()
    {
        let group = rustix::process::Pid::from_child(&child);
        if rustix::process::kill_process_group(group, rustix::process::Signal::KILL).is_err() {
            let _ = child.kill();
        }
    }
}

/// Untrusted text for a log or error message: bounded, control characters escaped.
pub fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for c in text.trim().chars().take(512) {
        // U+FFFD stands for bytes that were not UTF-8: shown escaped, never as a glyph.
        if c.is_control()
            || c == char::REPLACEMENT_CHARACTER
            || qcs_core::render::classify(c).is_some() && c != ' '
        {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn untrusted_text_in_messages_is_escaped_and_bounded() {
        let shown = printable("evil\u{1b}[2J\u{202e}txt\r\n".as_bytes());
        assert!(!shown.contains('\u{1b}') && !shown.contains('\u{202e}') && !shown.contains('\r'));
        assert!(
            shown.contains("\\u{1b}") && shown.contains("\\u{202e}"),
            "{shown}"
        );
        assert_eq!(printable(&vec![b'a'; 10_000]).chars().count(), 512);
        // Invalid UTF-8 becomes U+FFFD, itself shown escaped (not a plain character).
        assert_eq!(printable(b"\xff ok"), "\\u{fffd} ok");
    }
}
