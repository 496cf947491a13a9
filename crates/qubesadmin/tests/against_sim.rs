//! The client against the simulated qubesd (`qcs-sim`) over a real unix
//! socket: every call of the typed API, and every error it can report.
//! The world is the golden one recorded from the real qubesd.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use qcs_sim::world::{QubeSpec, World};
use qcs_sim::{Server, ServerHandle};
use qubesadmin::events::{EventMessage, EventsOptions};
use qubesadmin::transport::StreamConnection;
use qubesadmin::validate::CustomPersistEntry;
use qubesadmin::{
    CountingTransport, DenyReason, Error, ExceptionKind, PowerState, Qubes, SocketTransport,
    Transport,
};

fn golden_world() -> World {
    let dir = std::env::var_os("QCS_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sim/tests/golden"));
    World::from_json_file(&dir.join("world.json")).expect("golden world.json")
}

/// Fields drop in order: the server stops before its directory goes away.
struct Sim {
    server: Option<ServerHandle>,
    socket: PathBuf,
    world_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sim {
    fn start(world: World) -> Sim {
        let dir = tempfile::tempdir().expect("tempdir");
        let world_dir = dir.path().join("world");
        world.create_dir(&world_dir).expect("world dir");
        let socket = dir.path().join("qubesd.sock");
        let server = Server::start(&world_dir, &socket).expect("sim starts");
        Sim {
            server: Some(server),
            socket,
            world_dir,
            _dir: dir,
        }
    }

    fn dom0(&self) -> Qubes {
        Qubes::new(SocketTransport::new(&self.socket))
    }

    fn as_source(&self, source: &str) -> Qubes {
        Qubes::new(SocketTransport::new(&self.socket).with_source(source))
    }

    fn restart(&mut self) {
        self.server = None; // drop stops it
        self.server = Some(Server::start(&self.world_dir, &self.socket).expect("sim restarts"));
    }
}

fn qubes_kind(err: &Error) -> Option<ExceptionKind> {
    err.kind().cloned()
}

#[test]
fn domains_and_single_domain() {
    let sim = Sim::start(golden_world());
    let app = sim.dom0();
    let vms = app.domains().unwrap();
    let names: Vec<&str> = vms.iter().map(|vm| vm.name()).collect();
    assert_eq!(
        names,
        [
            "dom0",
            "banking",
            "config-mgr",
            "debian-12-minimal",
            "dev-box",
            "disp4242",
            "dvm-web",
            "fedora-42-xfce",
            "personal",
            "work-email"
        ]
    );
    let dom0 = &vms[0];
    assert_eq!(dom0.class(), "AdminVM");
    assert_eq!(dom0.power_state(), &PowerState::Running);
    assert_eq!(dom0.uuid(), Some("00000000-0000-0000-0000-000000000000"));
    let dom0_alone = app.domain("dom0").unwrap().expect("dom0 listed");
    assert_eq!(dom0_alone.class(), "AdminVM");
    let personal = app.domain("personal").unwrap().expect("listed");
    assert_eq!(personal.class(), "AppVM");
    assert_eq!(personal.power_state(), &PowerState::Halted);
    assert_eq!(
        personal.info().attributes.get("state").map(String::as_str),
        Some("Halted")
    );
    let by_uuid = app
        .domain(&format!(
            "uuid:{}",
            personal.uuid().expect("R4.3 world has uuids")
        ))
        .unwrap()
        .expect("listed by uuid");
    assert_eq!(by_uuid.name(), "personal");

    let err = app.domain("no-such-vm").unwrap_err();
    assert_eq!(qubes_kind(&err), Some(ExceptionKind::VmNotFound));
    assert_eq!(
        err.to_string(),
        "QubesVMNotFoundError: No such domain: 'no-such-vm'"
    );
    assert!(err.is_not_found());
    assert!(matches!(app.domain("0invalid"), Err(Error::Validation(_))));

    // A non-dom0 caller sees the policy-filtered list; a filtered qube is None.
    let mgr = sim.as_source("config-mgr");
    let visible: Vec<String> = mgr
        .domains()
        .unwrap()
        .iter()
        .map(|vm| vm.name().to_owned())
        .collect();
    assert_eq!(visible, ["dom0", "personal", "work-email"]);
    assert_eq!(mgr.domain("banking").unwrap(), None);
    // An unknown source qube.
    let ghost = sim.as_source("ghost-vm").domains().unwrap_err();
    assert_eq!(qubes_kind(&ghost), Some(ExceptionKind::VmNotFound));
}

#[test]
fn features_every_call_and_error() {
    let sim = Sim::start(golden_world());
    let app = sim.dom0();
    let personal = app.vm_blind("personal");
    let features = personal.features();
    assert_eq!(
        features.list().unwrap(),
        [
            "custom-persist.home",
            "custom-persist.bashrc",
            "service.cups"
        ]
    );
    assert_eq!(
        features.get("custom-persist.home").unwrap().as_deref(),
        Some("/home/user")
    );
    assert_eq!(features.get("service.cups").unwrap().as_deref(), Some("0"));
    assert_eq!(features.get("no-such-feature").unwrap(), None);

    features.set("vm-config.color", "teal").unwrap();
    assert_eq!(
        features.get("vm-config.color").unwrap().as_deref(),
        Some("teal")
    );
    features.set_bool("vm-config.flag", false).unwrap();
    assert_eq!(features.get("vm-config.flag").unwrap().as_deref(), Some(""));
    features
        .set("custom-persist.ssh", "dir:user:user:0700:/home/user/.ssh")
        .unwrap();
    assert_eq!(
        features.items().unwrap().last().cloned(),
        Some((
            "custom-persist.ssh".to_owned(),
            "dir:user:user:0700:/home/user/.ssh".to_owned()
        ))
    );

    // Refused before sending; nothing changes on the server.
    for (name, value) in [
        ("bad/name", "1"),
        ("vm-config.x", "line1\nline2"),
        ("vm-config.x", "café"),
        ("custom-persist.rel", "relative/path"),
        ("custom-persist.mode", "dir:user:user:0999:/home/user/m"),
        ("custom-persist.", "/home/user/empty"),
        ("", "x"),
    ] {
        let err = features.set(name, value).unwrap_err();
        assert!(
            matches!(err, Error::Validation(_)),
            "{name:?}={value:?}: {err:?}"
        );
    }
    let names = features.list().unwrap();
    assert!(
        !names
            .iter()
            .any(|n| n == "custom-persist.rel" || n == "vm-config.x"),
        "{names:?}"
    );

    features.remove("custom-persist.ssh").unwrap();
    let err = features.remove("custom-persist.ssh").unwrap_err();
    assert_eq!(qubes_kind(&err), Some(ExceptionKind::FeatureNotFound));
    assert_eq!(
        err.to_string(),
        "QubesFeatureNotFoundError: Feature not set for domain personal: custom-persist.ssh"
    );

    // Inherited from the template, or absent on both.
    assert_eq!(
        features.check_with_template("os").unwrap().as_deref(),
        Some("Linux")
    );
    assert_eq!(
        features
            .check_with_template("service.cups")
            .unwrap()
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        features.check_with_template("no-such-feature").unwrap(),
        None
    );
    assert_eq!(
        app.vm_blind("dev-box")
            .features()
            .check_with_template("os")
            .unwrap(),
        None
    );

    // Prohibited feature: qubesd's PermissionDenied is "access denied".
    let err = features.set("preload-dispvm", "[]").unwrap_err();
    assert!(
        matches!(err, Error::AccessDenied(DenyReason::PermissionDenied(_))),
        "{err:?}"
    );

    // Unknown qube.
    let err = app.vm_blind("nosuch").features().list().unwrap_err();
    assert_eq!(qubes_kind(&err), Some(ExceptionKind::VmNotFound));
}

#[test]
fn tags_every_call_and_error() {
    let sim = Sim::start(golden_world());
    let app = sim.dom0();
    let personal = app.vm_blind("personal");
    let tags = personal.tags();
    assert_eq!(
        tags.list().unwrap(),
        [
            "audiovm-dom0",
            "config-managed",
            "created-by-dom0",
            "guivm-dom0"
        ]
    );
    assert!(tags.has("config-managed").unwrap());
    assert!(!tags.has("absent-tag").unwrap());
    tags.add("project_x-1").unwrap();
    tags.add("project_x-1").unwrap(); // already present: no error
    assert!(tags.has("project_x-1").unwrap());
    tags.remove("project_x-1").unwrap();
    let err = tags.remove("project_x-1").unwrap_err();
    assert_eq!(qubes_kind(&err), Some(ExceptionKind::TagNotFound));
    for bad in ["bad.tag", "bad:tag", ""] {
        assert!(
            matches!(tags.add(bad), Err(Error::Validation(_))),
            "{bad:?}"
        );
        assert!(
            matches!(tags.has(bad), Err(Error::Validation(_))),
            "{bad:?}"
        );
    }
    // created-by-* tags are refused for non-dom0 callers.
    let mgr = sim.as_source("config-mgr");
    let err = mgr
        .vm_blind("personal")
        .tags()
        .add("created-by-work-email")
        .unwrap_err();
    assert!(err.is_access_denied(), "{err:?}");
    mgr.vm_blind("personal").tags().add("from-mgr").unwrap();
    assert!(tags.has("from-mgr").unwrap());
}

#[test]
fn properties_labels_and_state() {
    let sim = Sim::start(golden_world());
    let app = sim.dom0();
    let personal = app.vm_blind("personal");
    let vcpus = personal.property("vcpus").unwrap();
    assert_eq!(
        (vcpus.is_default, vcpus.prop_type.as_str(), vcpus.as_int()),
        (false, "int", Some(4))
    );
    let netvm = personal.property("netvm").unwrap();
    assert!(netvm.is_default);
    assert_eq!((netvm.prop_type.as_str(), netvm.as_name()), ("vm", None));
    assert_eq!(
        personal.property("template").unwrap().as_name(),
        Some("fedora-42-xfce")
    );
    assert_eq!(personal.property("label").unwrap().prop_type, "label");
    assert_eq!(
        personal.property("autostart").unwrap().as_bool(),
        Some(false)
    );
    let err = personal.property("no_such_property").unwrap_err();
    assert_eq!(qubes_kind(&err), Some(ExceptionKind::NoSuchProperty));
    assert_eq!(
        err.to_string(),
        "QubesNoSuchPropertyError: Invalid property 'no_such_property' of personal"
    );
    assert!(matches!(personal.property(""), Err(Error::Validation(_))));

    let all = personal.properties().unwrap();
    assert_eq!(all["vcpus"], vcpus);
    assert_eq!(all["name"].value, "personal");
    assert!(all.len() > 20, "{}", all.len());
    assert_eq!(
        personal.property_default("vcpus").unwrap(),
        Some(("int".to_owned(), "2".to_owned()))
    );
    assert_eq!(personal.property_default("template").unwrap(), None);

    let default_template = app.property("default_template").unwrap();
    assert_eq!(default_template.as_name(), Some("fedora-42-xfce"));
    assert!(!default_template.is_default);
    let globals = app.properties().unwrap();
    assert_eq!(globals["default_template"], default_template);

    assert_eq!(
        app.labels().unwrap(),
        [
            "red", "orange", "yellow", "green", "gray", "blue", "purple", "black"
        ]
    );
    assert_eq!(app.label_color("red").unwrap(), "0xcc0000");
    assert_eq!(app.label_index("black").unwrap(), 8);
    let err = app.label_color("pink").unwrap_err();
    assert_eq!(qubes_kind(&err), Some(ExceptionKind::LabelNotFound));
    assert!(matches!(
        app.label_index("bad!label"),
        Err(Error::Validation(_))
    ));

    let state = personal.current_state().unwrap();
    assert_eq!(state.get("power_state").map(String::as_str), Some("Halted"));
    assert_eq!(personal.current_power_state().unwrap(), PowerState::Halted);
    let err = app.vm_blind("nosuch").current_state().unwrap_err();
    assert_eq!(qubes_kind(&err), Some(ExceptionKind::VmNotFound));

    // Raw calls reach qubesd's own protocol errors.
    let err = app
        .qubesd_call("dom0", "admin.vm.NoSuchMethod", "", b"")
        .unwrap_err();
    assert_eq!(qubes_kind(&err), Some(ExceptionKind::Protocol));
    assert_eq!(
        err.to_string(),
        "ProtocolError: no such method: 'admin.vm.NoSuchMethod'"
    );
}

/// What qrexec policy does when `admin.vm.property.GetAll` is denied (the
/// default policy denies it): the call fails with exit 126 before qubesd.
struct PolicyDenies<T> {
    inner: T,
    denied_suffix: &'static str,
}

impl<T: Transport> Transport for PolicyDenies<T> {
    fn call_raw(
        &self,
        dest: &str,
        method: &str,
        arg: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, Error> {
        if method.ends_with(self.denied_suffix) {
            return Err(Error::AccessDenied(DenyReason::QrexecPolicy(
                "Request refused".into(),
            )));
        }
        self.inner.call_raw(dest, method, arg, payload)
    }
    fn open_stream(&self, dest: &str, method: &str, arg: &str) -> Result<StreamConnection, Error> {
        self.inner.open_stream(dest, method, arg)
    }
}

#[test]
fn get_all_falls_back_to_list_and_get_when_denied() {
    let sim = Sim::start(golden_world());
    let direct = sim.dom0().vm_blind("work-email").properties().unwrap();
    let counting = Arc::new(CountingTransport::new(PolicyDenies {
        inner: SocketTransport::new(&sim.socket),
        denied_suffix: ".GetAll",
    }));
    let app = Qubes::from_arc(counting.clone());
    let fallback = app.vm_blind("work-email").properties().unwrap();
    assert_eq!(fallback, direct);
    // GetAll (denied) + List + one Get per property.
    assert_eq!(counting.calls(), 2 + direct.len() as u64);
    let globals = app.properties().unwrap();
    assert_eq!(globals, sim.dom0().properties().unwrap());
}

#[test]
fn custom_persist_state_in_exactly_n_plus_k_calls() {
    let world = World::builder()
        .qube(QubeSpec::template_vm("fedora").feature("os", "Linux"))
        .qube(
            QubeSpec::app("work", "fedora")
                .feature("service.custom-persist", "1")
                .feature("custom-persist.home", "/home")
                .feature(
                    "custom-persist.git",
                    "file:user:user:0644:/home/user/.gitconfig",
                )
                .feature("vm-config.other", "x"),
        )
        .qube(QubeSpec::app("plain", "fedora").feature("menu-items", "a.desktop"))
        .qube(QubeSpec::app("off", "fedora").feature("service.custom-persist", ""))
        .build()
        .expect("world");
    let sim = Sim::start(world);
    // An invalid value stays set in qubesd (it validates after storing):
    // put one there directly, as a real dom0 user could.
    sim.dom0()
        .qubesd_call(
            "work",
            "admin.vm.feature.Set",
            "custom-persist.bad",
            b"relative/path",
        )
        .unwrap_err();
    let counting = Arc::new(CountingTransport::new(SocketTransport::new(&sim.socket)));
    let app = Qubes::from_arc(counting.clone()).with_max_workers(4);
    let vms = app.domains().unwrap();
    let states = app.custom_persist_state(&vms);
    // 1 List + N feature.List + 5 Gets (work: service + 3, off: service).
    assert_eq!(counting.calls(), 1 + vms.len() as u64 + 5);
    let by_name: std::collections::BTreeMap<&str, _> =
        vms.iter().map(|vm| vm.name()).zip(states.iter()).collect();
    let work = by_name["work"].as_ref().unwrap();
    assert!(work.enabled());
    assert_eq!(work.features.len(), 3);
    assert_eq!(
        work.features[0].entry,
        Ok(CustomPersistEntry::Path("/home".into()))
    );
    assert_eq!(
        work.features[1].entry.as_ref().map(|e| e.path()),
        Ok("/home/user/.gitconfig")
    );
    assert_eq!(work.features[2].key, "bad");
    assert!(work.features[2].entry.is_err());
    let off = by_name["off"].as_ref().unwrap();
    assert!(!off.enabled());
    assert_eq!(off.service.as_deref(), Some(""));
    let plain = by_name["plain"].as_ref().unwrap();
    assert_eq!((plain.service.clone(), plain.features.len()), (None, 0));

    // A qube that vanished gets its own error; the others are unaffected.
    let ghost = app.vm_blind("ghost");
    let states = app.custom_persist_state(&[ghost, app.vm_blind("work")]);
    assert_eq!(
        qubes_kind(states[0].as_ref().unwrap_err()),
        Some(ExceptionKind::VmNotFound)
    );
    assert!(states[1].as_ref().unwrap().enabled());
}

fn next_message(messages: &std::sync::mpsc::Receiver<EventMessage>) -> EventMessage {
    messages
        .recv_timeout(Duration::from_secs(60))
        .expect("an event message")
}

fn wait_for_event(
    messages: &std::sync::mpsc::Receiver<EventMessage>,
    name: &str,
) -> qubesadmin::Event {
    loop {
        if let EventMessage::Event(event) = next_message(messages)
            && event.name == name
        {
            return event;
        }
    }
}

#[test]
fn events_refetch_changes_and_reconnect_after_restart() {
    let mut sim = Sim::start(golden_world());
    let app = sim.dom0();
    let (subscription, messages) = app.events_channel(EventsOptions::default());
    assert!(matches!(next_message(&messages), EventMessage::RefetchAll));

    app.vm_blind("personal")
        .features()
        .set(
            "custom-persist.vscode",
            "dir:user:user:0755:/home/user/.vscode",
        )
        .unwrap();
    let event = wait_for_event(&messages, "domain-feature-set:custom-persist.vscode");
    assert_eq!(event.subject.as_deref(), Some("personal"));
    assert_eq!(
        event.get("value"),
        Some("dir:user:user:0755:/home/user/.vscode")
    );
    app.vm_blind("personal").tags().add("sync-target").unwrap();
    let event = wait_for_event(&messages, "domain-tag-add:sync-target");
    assert_eq!(event.get("tag"), Some("sync-target"));

    // qubesd goes away: Disconnected, then after the 1 s delay a new
    // connection and a new RefetchAll.
    sim.restart();
    loop {
        match next_message(&messages) {
            EventMessage::Disconnected(_) => break,
            EventMessage::Event(_) => continue,
            EventMessage::RefetchAll => panic!("refetch before the disconnection was reported"),
        }
    }
    loop {
        match next_message(&messages) {
            EventMessage::RefetchAll => break,
            // A reconnect attempt may hit the moment of the restart.
            EventMessage::Disconnected(_) | EventMessage::Event(_) => continue,
        }
    }
    app.vm_blind("personal")
        .features()
        .remove("custom-persist.vscode")
        .unwrap();
    wait_for_event(&messages, "domain-feature-delete:custom-persist.vscode");

    subscription.stop();
    let server = sim.server.as_ref().expect("running");
    // The listener is gone once the server notices the closed connection.
    let mut polls = 0;
    while server.listener_count() > 0 && polls < 600 {
        std::thread::sleep(Duration::from_millis(100));
        polls += 1;
    }
    assert_eq!(server.listener_count(), 0);
}

#[test]
fn filtered_events_for_a_non_dom0_caller_and_a_single_qube() {
    let sim = Sim::start(golden_world());
    let mgr = sim.as_source("config-mgr");
    let (_mgr_events, mgr_messages) = mgr.events_channel(EventsOptions::default());
    let (_one, one_messages) = sim.dom0().events_channel(EventsOptions {
        dest: "work-email".into(),
        ..EventsOptions::default()
    });
    assert!(matches!(
        next_message(&mgr_messages),
        EventMessage::RefetchAll
    ));
    assert!(matches!(
        next_message(&one_messages),
        EventMessage::RefetchAll
    ));
    let app = sim.dom0();
    app.vm_blind("banking")
        .features()
        .set("vm-config.hidden", "1")
        .unwrap();
    app.vm_blind("work-email")
        .features()
        .set("vm-config.shown", "1")
        .unwrap();
    // banking is not visible to config-mgr, nor part of the work-email stream.
    let event = wait_for_event(&mgr_messages, "domain-feature-set:vm-config.shown");
    assert_eq!(event.subject.as_deref(), Some("work-email"));
    let event = wait_for_event(&one_messages, "domain-feature-set:vm-config.shown");
    assert_eq!(event.subject.as_deref(), Some("work-email"));
    while let Ok(message) = mgr_messages.try_recv() {
        if let EventMessage::Event(e) = message {
            assert_ne!(e.subject.as_deref(), Some("banking"), "{e:?}");
        }
    }
}

#[test]
fn unreachable_qubesd_is_a_transport_error() {
    let dir = tempfile::tempdir().unwrap();
    let app = Qubes::new(SocketTransport::new(dir.path().join("none.sock")));
    assert!(matches!(app.domains(), Err(Error::Transport(_))));
}
