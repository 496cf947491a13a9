//! Replaying golden qubesd recordings against the simulator, byte for byte.
//!
//! What is *not* compared, and why:
//! * records marked `offline_artifact`: the recording's qubesd ran without
//!   Xen/libvirt; the simulator answers as a real dom0 does (e.g.
//!   `admin.vm.CurrentState` of dom0), so these bytes differ by design;
//! * uuids that are not in the golden world (qubes created during the
//!   recording get random uuids in qubesd and in the simulator): both sides
//!   have such uuids masked before comparing.
//!
//! Everything else must be identical.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use crate::error::SimError;
use crate::qubesd::{Server, ServerHandle, wire};
use crate::world::World;

/// Outcome of a replay.
#[derive(Debug, Default, Clone)]
pub struct ReplayReport {
    pub passed: usize,
    pub failed: usize,
    /// One line per difference.
    pub differences: Vec<String>,
    /// Records not compared (offline artefacts), with the reason.
    pub skipped: Vec<String>,
}

impl ReplayReport {
    /// The stable last line: `N passed, M failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }

    fn check(&mut self, what: &str, expected: &[u8], actual: &[u8], mask: &UuidMask) {
        if expected == actual || mask.apply(expected) == mask.apply(actual) {
            self.passed += 1;
        } else {
            self.failed += 1;
            self.differences.push(format!(
                "{what}: expected {} got {}",
                bytes_repr(expected),
                bytes_repr(actual)
            ));
        }
    }
}

#[derive(Deserialize)]
struct TranscriptRecord {
    seq: u64,
    #[serde(default)]
    method: String,
    request_b64: String,
    response_b64: String,
    #[serde(default)]
    offline_artifact: bool,
}

#[derive(Deserialize)]
struct EventStreamRecord {
    stream: String,
    request_b64: String,
    actions: Vec<EventAction>,
    bytes_per_step: Vec<StepSlice>,
}

#[derive(Deserialize)]
struct EventAction {
    step: u64,
    src: String,
    method: String,
    dest: String,
    #[serde(default)]
    arg: String,
    #[serde(default)]
    payload_b64: String,
    response_b64: String,
}

#[derive(Deserialize)]
struct StepSlice {
    #[serde(default)]
    after_step: Option<u64>,
    bytes_b64: String,
}

/// Masks uuids that the golden world does not contain.
struct UuidMask {
    known: Vec<String>,
}

impl UuidMask {
    fn new(world: &World) -> UuidMask {
        UuidMask {
            known: world
                .data
                .vms
                .iter()
                .filter_map(|q| q.uuid.clone())
                .collect(),
        }
    }

    fn apply(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if i + 36 <= bytes.len() && looks_like_uuid(&bytes[i..i + 36]) {
                let text = String::from_utf8_lossy(&bytes[i..i + 36]).into_owned();
                if !self.known.contains(&text) {
                    out.extend_from_slice(b"<uuid>");
                    i += 36;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        out
    }
}

fn looks_like_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    })
}

/// Python-`repr`-like rendering of bytes for difference lines.
pub fn bytes_repr(bytes: &[u8]) -> String {
    let mut out = String::from("b'");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('\'');
    out
}

fn decode(path: &Path, field: &str, text: &str) -> Result<Vec<u8>, SimError> {
    B64.decode(text).map_err(|e| SimError::Golden {
        path: path.to_owned(),
        message: format!("{field} is not base64: {e}"),
    })
}

/// Longest silence tolerated while reading one reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Send one request, half-close, read everything until the server closes.
/// A server that drops the connection yields what arrived (often nothing).
pub fn call_raw(socket: &Path, request: &[u8]) -> Result<Vec<u8>, SimError> {
    let mut stream = UnixStream::connect(socket).map_err(|source| SimError::Socket {
        path: socket.to_owned(),
        source,
    })?;
    // A reply that never ends (e.g. an event stream) must not hang a replay:
    // after this long without data, what arrived so far is the reply.
    let _ = stream.set_read_timeout(Some(REPLY_TIMEOUT));
    // The server may close early (oversized request): write errors are part
    // of the behaviour under test, not a failure of the replay.
    let _ = stream.write_all(request);
    let _ = stream.shutdown(Shutdown::Write);
    let mut reply = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    Ok(reply)
}

/// A scratch directory for one replay, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, SimError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir =
            std::env::temp_dir().join(format!("qubes-sim-replay-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| SimError::io("creating", &dir, e))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fresh_server(
    world_json: &Path,
    scratch: &Scratch,
    name: &str,
) -> Result<(ServerHandle, UuidMask), SimError> {
    let world = World::from_json_file(world_json)?;
    let mask = UuidMask::new(&world);
    let dir = scratch.0.join(name);
    let world = world.create_dir(&dir)?;
    let server = Server::start_world(world, &scratch.0.join(format!("{name}.sock")))?;
    Ok((server, mask))
}

/// Replay `transcripts` (and optionally `events`) against fresh simulators
/// started from `world_json`.
pub fn replay(
    world_json: &Path,
    transcripts: &Path,
    events: Option<&Path>,
) -> Result<ReplayReport, SimError> {
    // Fail early, with the world's own error, before any server starts.
    World::from_json_file(world_json)?;
    let mut report = ReplayReport::default();
    let scratch = Scratch::new()?;
    replay_transcripts(world_json, transcripts, &scratch, &mut report)?;
    if let Some(events) = events {
        replay_events(world_json, events, &scratch, &mut report)?;
    }
    Ok(report)
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, SimError> {
    let text = std::fs::read_to_string(path).map_err(|e| SimError::io("reading", path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| SimError::Golden {
                path: path.to_owned(),
                message: format!("line {}: {e}", i + 1),
            })
        })
        .collect()
}

fn replay_transcripts(
    world_json: &Path,
    transcripts: &Path,
    scratch: &Scratch,
    report: &mut ReplayReport,
) -> Result<(), SimError> {
    let records: Vec<TranscriptRecord> = read_jsonl(transcripts)?;
    let (server, mask) = fresh_server(world_json, scratch, "transcripts")?;
    for r in records {
        let request = decode(transcripts, "request_b64", &r.request_b64)?;
        let expected = decode(transcripts, "response_b64", &r.response_b64)?;
        let actual = call_raw(server.socket_path(), &request)?;
        if r.offline_artifact {
            if expected != actual {
                report.skipped.push(format!(
                    "seq {} {}: offline artefact, not compared (recorded {}, simulator {})",
                    r.seq,
                    r.method,
                    bytes_repr(&expected),
                    bytes_repr(&actual)
                ));
            }
            report.passed += 1;
            continue;
        }
        report.check(
            &format!("seq {} {}", r.seq, r.method),
            &expected,
            &actual,
            &mask,
        );
    }
    server.stop();
    Ok(())
}

/// Read whatever is already in the socket buffer (the server writes events
/// before it replies to the call that caused them).
fn drain(stream: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    if stream.set_nonblocking(true).is_err() {
        return out;
    }
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = stream.set_nonblocking(false);
    out
}

fn replay_events(
    world_json: &Path,
    events: &Path,
    scratch: &Scratch,
    report: &mut ReplayReport,
) -> Result<(), SimError> {
    let streams: Vec<EventStreamRecord> = read_jsonl(events)?;
    let Some(first) = streams.first() else {
        return Ok(());
    };
    let (server, mask) = fresh_server(world_json, scratch, "events")?;
    let mut conns = Vec::new();
    for s in &streams {
        let request = decode(events, "request_b64", &s.request_b64)?;
        let mut stream =
            UnixStream::connect(server.socket_path()).map_err(|source| SimError::Socket {
                path: server.socket_path().to_owned(),
                source,
            })?;
        let _ = stream.write_all(&request);
        let _ = stream.shutdown(Shutdown::Write);
        conns.push(stream);
    }
    // Wait until every stream is registered; its connection-established
    // message is written before registration.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.listener_count() < streams.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let check_step = |report: &mut ReplayReport,
                      after: Option<u64>,
                      conns: &mut Vec<UnixStream>|
     -> Result<(), SimError> {
        for (s, conn) in streams.iter().zip(conns.iter_mut()) {
            let actual = drain(conn);
            let slice = s.bytes_per_step.iter().find(|b| b.after_step == after);
            let expected = match slice {
                Some(b) => decode(events, "bytes_b64", &b.bytes_b64)?,
                None => Vec::new(),
            };
            let label = match after {
                None => format!("events {} after connect", s.stream),
                Some(n) => format!("events {} after step {n}", s.stream),
            };
            report.check(&label, &expected, &actual, &mask);
        }
        Ok(())
    };
    check_step(report, None, &mut conns)?;
    for a in &first.actions {
        let payload = decode(events, "payload_b64", &a.payload_b64)?;
        let expected = decode(events, "response_b64", &a.response_b64)?;
        let dest = if a.dest == "adminvm" {
            None
        } else {
            Some(a.dest.as_str())
        };
        let request = wire::encode_request(&a.method, &a.arg, &a.src, dest, &payload);
        let actual = call_raw(server.socket_path(), &request)?;
        report.check(
            &format!("events action {} {}", a.step, a.method),
            &expected,
            &actual,
            &mask,
        );
        check_step(report, Some(a.step), &mut conns)?;
    }
    for c in &conns {
        let _ = c.shutdown(Shutdown::Both);
    }
    server.stop();
    Ok(())
}
