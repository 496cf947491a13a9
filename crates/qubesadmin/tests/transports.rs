//! Both transports against real processes and a real unix socket: exact
//! request bytes, EOF after the payload, exit codes, caps, and refusals
//! before anything is sent.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use qubesadmin::events::{EventMessage, EventsOptions};
use qubesadmin::{
    DenyReason, Error, QrexecTransport, Qubes, SocketTransport, Transport, TransportError,
};

/// Write an executable shell script standing in for `qrexec-client-vm`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn qrexec_sends_dest_service_and_payload_then_eof() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // `cat` returns only at EOF: the reply proves stdin was closed.
    let program = script(
        dir.path(),
        "qcv",
        &format!(
            "printf '%s|' \"$@\" > '{log}'; cat > '{log}.stdin'; printf '0\\000value'",
            log = log.display()
        ),
    );
    let transport = QrexecTransport::new(&program);
    let data = transport
        .qubesd_call(
            "work",
            "admin.vm.feature.Set",
            "vm-config.x",
            b"payload bytes",
        )
        .unwrap();
    assert_eq!(data, b"value");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "work|admin.vm.feature.Set+vm-config.x|"
    );
    assert_eq!(
        std::fs::read(dir.path().join("log.stdin")).unwrap(),
        b"payload bytes"
    );

    // No argument: the `+` is still sent.
    transport
        .qubesd_call("dom0", "admin.vm.List", "", b"")
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "dom0|admin.vm.List+|"
    );
}

#[test]
fn qrexec_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let refused = script(
        dir.path(),
        "refused",
        "echo 'Request refused' >&2; exit 126",
    );
    let err = QrexecTransport::new(refused)
        .qubesd_call("dom0", "admin.vm.List", "", b"")
        .unwrap_err();
    assert!(
        matches!(err, Error::AccessDenied(DenyReason::QrexecPolicy(ref m)) if m == "Request refused"),
        "{err:?}"
    );

    let problem = script(dir.path(), "problem", "echo 'qrexec problem' >&2; exit 125");
    let err = QrexecTransport::new(problem)
        .qubesd_call("dom0", "admin.vm.List", "", b"")
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::ServiceCall { code: Some(125), ref stderr }) if stderr == "qrexec problem"),
        "{err:?}"
    );

    // Exit 0 with nothing on stdout: qubesd's empty reply, a denial.
    let empty = script(dir.path(), "empty", "cat > /dev/null");
    let err = QrexecTransport::new(empty)
        .qubesd_call("dom0", "admin.vm.List", "", b"")
        .unwrap_err();
    assert!(
        matches!(err, Error::AccessDenied(DenyReason::EmptyReply)),
        "{err:?}"
    );

    let missing = QrexecTransport::new(dir.path().join("does-not-exist"))
        .qubesd_call("dom0", "admin.vm.List", "", b"")
        .unwrap_err();
    assert!(
        matches!(missing, Error::Transport(TransportError::Spawn { .. })),
        "{missing:?}"
    );
}

#[test]
fn qrexec_caps_the_reply_and_survives_a_chatty_stderr() {
    let dir = tempfile::tempdir().unwrap();
    // 17 MiB of reply: refused as too large, without reading it all.
    let flood = script(
        dir.path(),
        "flood",
        "printf '0\\000'; head -c 17825792 /dev/zero",
    );
    let err = QrexecTransport::new(flood)
        .qubesd_call("dom0", "admin.vm.List", "", b"")
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(qubesadmin::ProtocolError::ReplyTooLarge { .. })
        ),
        "{err:?}"
    );
    // 1 MiB on stderr before the reply: no pipe deadlock, stderr is not data.
    let chatty = script(
        dir.path(),
        "chatty",
        "head -c 1048576 /dev/zero >&2; printf '0\\000ok'",
    );
    let data = QrexecTransport::new(chatty)
        .qubesd_call("dom0", "admin.vm.List", "", b"")
        .unwrap();
    assert_eq!(data, b"ok");
}

#[test]
fn invalid_requests_never_spawn_anything() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let program = script(
        dir.path(),
        "qcv",
        &format!("touch '{}'; printf '0\\000'", marker.display()),
    );
    let transport = QrexecTransport::new(&program);
    let attempts: &[(&str, &str, &str)] = &[
        ("work; rm -rf /", "admin.vm.List", ""),
        ("-work", "admin.vm.List", ""),
        ("work", "admin.vm.List extra", ""),
        ("work", "", ""),
        ("work", "admin.vm.feature.Get", "a b"),
        ("work", "admin.vm.feature.Get", "../x"),
        ("work", "admin.vm.feature.Get", "x\0y"),
        ("uuid:not-a-uuid", "admin.vm.List", ""),
    ];
    for (dest, method, arg) in attempts {
        let err = transport.qubesd_call(dest, method, arg, b"").unwrap_err();
        assert!(
            matches!(err, Error::Validation(_)),
            "{dest:?} {method:?} {arg:?}: {err:?}"
        );
    }
    let too_big = vec![b'x'; 70_000];
    assert!(matches!(
        transport.qubesd_call("work", "admin.vm.feature.Set", "f", &too_big),
        Err(Error::Validation(_))
    ));
    assert!(!marker.exists(), "the program ran for an invalid request");
}

/// A one-shot fake qubesd: records the request (read to EOF, which proves
/// the half-close) and answers with `reply`.
fn fake_qubesd(socket: &Path, replies: Vec<Vec<u8>>) -> mpsc::Receiver<Vec<u8>> {
    let listener = UnixListener::bind(socket).expect("bind fake qubesd");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for reply in replies {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut request = Vec::new();
            stream.read_to_end(&mut request).expect("read request");
            stream.write_all(&reply).expect("write reply");
            drop(stream);
            let _ = sender.send(request);
        }
    });
    receiver
}

#[test]
fn socket_request_framing_and_half_close() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qubesd.sock");
    let requests = fake_qubesd(
        &socket,
        vec![b"0\0done".to_vec(), b"0\0".to_vec(), b"".to_vec()],
    );
    let transport = SocketTransport::new(&socket);
    assert_eq!(
        transport
            .qubesd_call(
                "work",
                "admin.vm.feature.Set",
                "custom-persist.x",
                b"/home/user/x"
            )
            .unwrap(),
        b"done"
    );
    assert_eq!(
        requests.recv().unwrap(),
        b"admin.vm.feature.Set+custom-persist.x dom0 name work\0/home/user/x"
    );
    let as_mgr = SocketTransport::new(&socket).with_source("config-mgr");
    as_mgr
        .qubesd_call("dom0", "admin.vm.List", "", b"")
        .unwrap();
    assert_eq!(
        requests.recv().unwrap(),
        b"admin.vm.List+ config-mgr name dom0\0"
    );
    let err = transport
        .qubesd_call("dom0", "admin.vm.List", "", b"")
        .unwrap_err();
    assert!(matches!(err, Error::AccessDenied(DenyReason::EmptyReply)));

    let gone = SocketTransport::new(dir.path().join("nothing-here"))
        .qubesd_call("dom0", "admin.vm.List", "", b"")
        .unwrap_err();
    assert!(
        matches!(gone, Error::Transport(TransportError::Connect { .. })),
        "{gone:?}"
    );
}

#[test]
fn events_over_qrexec_with_policy_refusal_and_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("count");
    // First connection: two events, then qubesd goes away. Second: refused.
    // Third and later: one event and an endless wait (until stopped).
    let program = script(
        dir.path(),
        "qcv",
        &format!(
            "n=$(cat '{c}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{c}'
case $n in
1) printf '1\\000\\000connection-established\\000\\0001\\000work\\000domain-start\\000\\000' ;;
2) echo 'Request refused' >&2; exit 126 ;;
*) printf '1\\000\\000connection-established\\000\\000'; exec sleep 600 ;;
esac",
            c = count.display()
        ),
    );
    let qubes = Qubes::new(QrexecTransport::new(program));
    let options = EventsOptions {
        reconnect_delay: Duration::from_millis(10),
        ..EventsOptions::default()
    };
    let (subscription, messages) = qubes.events_channel(options);
    let mut seen = Vec::new();
    for _ in 0..6 {
        let message = messages
            .recv_timeout(Duration::from_secs(60))
            .expect("message");
        seen.push(match message {
            EventMessage::RefetchAll => "refetch".to_owned(),
            EventMessage::Event(e) => format!("{}:{}", e.subject.unwrap_or_default(), e.name),
            EventMessage::Disconnected(Error::AccessDenied(DenyReason::QrexecPolicy(_))) => {
                "denied".to_owned()
            }
            EventMessage::Disconnected(Error::Transport(TransportError::StreamClosed)) => {
                "closed".to_owned()
            }
            EventMessage::Disconnected(other) => format!("disconnected: {other}"),
        });
        if seen.len() == 5 {
            break;
        }
    }
    assert_eq!(
        seen,
        vec![
            "refetch",
            "work:domain-start",
            "closed",
            "denied",
            "refetch"
        ]
    );
    // Stopping kills the waiting client and joins the thread.
    subscription.stop();
    assert!(messages.recv_timeout(Duration::from_secs(5)).is_err());
}

/// A hostile qubesd: answers every connection by running `answer` on the
/// stream (write errors are ignored: the client may hang up first).
fn hostile_qubesd(socket: &Path, answer: fn(&mut std::os::unix::net::UnixStream)) {
    let listener = UnixListener::bind(socket).expect("bind hostile qubesd");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut request = Vec::new();
                let _ = stream.read_to_end(&mut request);
                answer(&mut stream);
            });
        }
    });
}

#[test]
fn hostile_replies_are_bounded_and_typed() {
    let dir = tempfile::tempdir().unwrap();
    // An endless reply: the client stops at the cap.
    let endless = dir.path().join("endless.sock");
    hostile_qubesd(&endless, |stream| {
        let _ = stream.write_all(b"0\0");
        let chunk = vec![b'a'; 1 << 16];
        while stream.write_all(&chunk).is_ok() {}
    });
    let err = Qubes::new(SocketTransport::new(&endless))
        .domains()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(qubesadmin::ProtocolError::ReplyTooLarge { .. })
        ),
        "{err:?}"
    );

    // Listings with names that are not qube names, or not key=value.
    let lying = dir.path().join("lying.sock");
    hostile_qubesd(&lying, |stream| {
        let _ = stream.write_all(b"0\0../../etc class=AppVM state=Running\n");
    });
    let err = Qubes::new(SocketTransport::new(&lying))
        .domains()
        .unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    let binary = dir.path().join("binary.sock");
    hostile_qubesd(&binary, |stream| {
        let _ = stream.write_all(b"0\0work class=\xff state=Running\n");
    });
    let err = Qubes::new(SocketTransport::new(&binary))
        .domains()
        .unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");

    // An event that never ends: refused at the frame cap, then disconnected.
    let flood = dir.path().join("flood.sock");
    hostile_qubesd(&flood, |stream| {
        let _ = stream.write_all(b"1\0\0connection-established\0\0\x31\0work\0domain-start\0key\0");
        let chunk = vec![b'v'; 1 << 16];
        while stream.write_all(&chunk).is_ok() {}
    });
    let options = EventsOptions {
        reconnect: false,
        ..EventsOptions::default()
    };
    let (subscription, messages) = Qubes::new(SocketTransport::new(&flood)).events_channel(options);
    assert!(matches!(
        messages.recv_timeout(Duration::from_secs(60)),
        Ok(EventMessage::RefetchAll)
    ));
    let end = messages
        .recv_timeout(Duration::from_secs(60))
        .expect("disconnect");
    assert!(
        matches!(
            end,
            EventMessage::Disconnected(Error::Protocol(
                qubesadmin::ProtocolError::EventTooLarge { .. }
            ))
        ),
        "{end:?}"
    );
    subscription.stop();
}

#[test]
fn default_transport_follows_the_qubes_release_file() {
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("qubes-release");
    // No release file: a qube, so qrexec-client-vm is spawned (absent here, or
    // present and refusing outside Qubes: either way not the dom0 socket).
    let err = Qubes::for_release_file(&release).domains().unwrap_err();
    assert!(
        !matches!(err, Error::Transport(TransportError::Connect { .. })),
        "used the socket without a release file: {err:?}"
    );
    std::fs::write(&release, "Qubes release 4.3\n").unwrap();
    match Qubes::for_release_file(&release).domains() {
        // dom0: the socket path is the one qubesd uses.
        Err(Error::Transport(TransportError::Connect { path, .. })) => {
            assert_eq!(path, qubesadmin::transport::DEFAULT_SOCKET_PATH);
        }
        other => panic!("expected the dom0 socket, got {other:?}"),
    }
}

#[test]
fn stop_ends_a_stream_whose_client_closed_stdout_but_lingers() {
    let dir = tempfile::tempdir().unwrap();
    // One event, then stdout closed while the client keeps running.
    let program = script(
        dir.path(),
        "qcv",
        "printf '1\\000\\000connection-established\\000\\000'; exec >&-; exec sleep 30",
    );
    let qubes = Qubes::new(QrexecTransport::new(program));
    let (subscription, messages) = qubes.events_channel(EventsOptions {
        reconnect: false,
        ..EventsOptions::default()
    });
    assert!(matches!(
        messages.recv_timeout(Duration::from_secs(60)),
        Ok(EventMessage::RefetchAll)
    ));
    let (done, stopped) = mpsc::channel();
    std::thread::spawn(move || {
        subscription.stop();
        let _ = done.send(());
    });
    stopped
        .recv_timeout(Duration::from_secs(60))
        .expect("stop() returned while the client still ran");
}
