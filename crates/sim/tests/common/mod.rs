//! Helpers shared by the simulator's integration tests: a dom0 client over
//! the real socket and an `admin.Events` reader.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use qcs_sim::qubesd::wire;
use qcs_sim::world::{QubeSpec, World};
use qcs_sim::{Server, ServerHandle};

/// One Admin API call with dom0 framing; returns every byte of the reply.
pub fn call(
    socket: &Path,
    src: &str,
    method: &str,
    dest: &str,
    arg: &str,
    payload: &[u8],
) -> Vec<u8> {
    let dest = if dest == "adminvm" { None } else { Some(dest) };
    let request = wire::encode_request(method, arg, src, dest, payload);
    qcs_sim::replay::call_raw(socket, &request).expect("connect to the simulator")
}

/// A dom0 call that must succeed; returns the body.
pub fn ok(socket: &Path, method: &str, dest: &str, arg: &str, payload: &[u8]) -> String {
    let reply = call(socket, "dom0", method, dest, arg, payload);
    assert!(
        reply.starts_with(b"0\0"),
        "{method} {dest} {arg}: {}",
        qcs_sim::replay::bytes_repr(&reply)
    );
    String::from_utf8(reply[2..].to_vec()).expect("ASCII body")
}

/// `(class, message)` of an error reply.
pub fn error_of(reply: &[u8]) -> (String, String) {
    assert!(
        reply.starts_with(b"2\0"),
        "not an error: {}",
        qcs_sim::replay::bytes_repr(reply)
    );
    let parts: Vec<&[u8]> = reply[2..].split(|b| *b == 0).collect();
    (
        String::from_utf8_lossy(parts[0]).into_owned(),
        String::from_utf8_lossy(parts[2]).into_owned(),
    )
}

/// A small world unlike the golden one (names, classes, tags of its own).
pub fn small_world() -> World {
    World::builder()
        .qube(
            QubeSpec::template_vm("tpl-a")
                .label("black")
                .feature("os", "Linux")
                .feature("vmexec", "1"),
        )
        .qube(
            QubeSpec::dvm_template("dvm-a", "tpl-a")
                .label("red")
                .feature("appmenus-dispvm", "1"),
        )
        .qube(QubeSpec::disposable("disp77", "dvm-a").label("red"))
        .qube(
            QubeSpec::app("alpha", "tpl-a")
                .label("blue")
                .tag("managed")
                .feature("service.custom-persist", "1")
                .feature("custom-persist.home", "/home/user")
                .property("memory", "1000"),
        )
        .qube(QubeSpec::app("beta", "tpl-a").label("green"))
        .qube(QubeSpec::app("mgr", "tpl-a").label("purple").tag("mgr-tag"))
        .qube(QubeSpec::standalone("solo").label("orange"))
        .kernel("6.1-test")
        .global_property("default_template", "tpl-a")
        .global_property("default_dispvm", "dvm-a")
        .policy_file(
            "30-filter.policy",
            "admin.vm.List  *  mgr  @adminvm      allow target=dom0\n\
             admin.vm.List  *  mgr  @tag:managed  allow target=dom0\n\
             admin.Events   *  mgr  @adminvm      allow target=dom0\n\
             admin.Events   *  mgr  @tag:managed  allow target=dom0\n",
        )
        .build()
        .expect("valid world")
}

/// Start a server on a fresh world directory inside `tmp`.
pub fn serve(world: World, tmp: &Path) -> ServerHandle {
    let world = world
        .create_dir(&tmp.join("world"))
        .expect("create world dir");
    Server::start_world(world, &tmp.join("qubesd.sock")).expect("start server")
}

/// An `admin.Events` connection.
pub struct EventStream {
    stream: UnixStream,
}

impl EventStream {
    /// Connect and wait until the server has registered it (its
    /// `connection-established` is written before registration).
    pub fn connect(server: &ServerHandle, src: &str, dest: &str) -> EventStream {
        let before = server.listener_count();
        let mut stream = UnixStream::connect(server.socket_path()).expect("connect");
        let request = wire::encode_request("admin.Events", "", src, Some(dest), b"");
        stream.write_all(&request).expect("send");
        stream.shutdown(Shutdown::Write).expect("half-close");
        // Bounded wait for registration; the test fails below if it never happens.
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.listener_count() <= before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        EventStream { stream }
    }

    /// Everything already received. Events of a call are written before the
    /// call's reply, so after a call returned this is complete.
    pub fn drain(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 8192];
        self.stream.set_nonblocking(true).expect("nonblocking");
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(_) => break,
            }
        }
        self.stream.set_nonblocking(false).expect("blocking");
        out
    }

    /// `(subject, event)` of each message already received.
    pub fn messages(&mut self) -> Vec<(String, String)> {
        parse_messages(&self.drain())
            .into_iter()
            .map(|(s, e, _)| (s, e))
            .collect()
    }

    /// Block until the server closes the stream; returns what arrived.
    pub fn read_to_close(mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = self.stream.read_to_end(&mut out);
        out
    }

    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// One received event: subject, event name, keyword arguments.
pub type Message = (String, String, Vec<(String, String)>);

/// Split an event stream into messages.
pub fn parse_messages(bytes: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    let fields: Vec<&[u8]> = bytes.split(|b| *b == 0).collect();
    let mut i = 0;
    while i + 2 < fields.len() {
        assert_eq!(fields[i], b"1", "event marker");
        let subject = String::from_utf8_lossy(fields[i + 1]).into_owned();
        let event = String::from_utf8_lossy(fields[i + 2]).into_owned();
        i += 3;
        let mut kwargs = Vec::new();
        while i < fields.len() && !fields[i].is_empty() {
            kwargs.push((
                String::from_utf8_lossy(fields[i]).into_owned(),
                String::from_utf8_lossy(fields.get(i + 1).copied().unwrap_or_default())
                    .into_owned(),
            ));
            i += 2;
        }
        i += 1;
        out.push((subject, event, kwargs));
    }
    out
}
