//! The sim's `qrexec-client-vm` with dom0 in the loop: Admin API calls
//! through a running simulated qubesd, autostart of halted targets (state
//! and events seen by an `admin.Events` listener), and scripted `ask`
//! answers.

mod common;
mod qrexec_common;

use std::path::Path;

use common::{EventStream, call};
use qcs_sim::qrexec_client::AskAnswers;
use qcs_sim::world::{QubeSpec, World};
use qcs_sim::{Server, ServerHandle};
use qrexec_common::{DUMP, client, env_value, qrexec, run};

const POLICY: &str = "\
admin.vm.List          *  mgmt  @adminvm      allow target=dom0
admin.vm.List          *  mgmt  @tag:managed  allow target=dom0
admin.vm.property.Get  *  mgmt  @tag:managed  allow target=dom0
admin.vm.feature.Set   *  mgmt  @anyvm        deny
test.Dump              *  mgmt  work          allow
test.Dump              *  mgmt  vault         allow autostart=no
test.Ask               *  mgmt  @default      ask target=work
test.Ask               *  mgmt  @anyvm        ask default_target=work
";

/// `mgmt` running, `work` (managed) and `vault` halted.
fn world(tmp: &Path) -> World {
    let world = World::builder()
        .qube(QubeSpec::template_vm("fedora").label("black"))
        .qube(QubeSpec::app("mgmt", "fedora").label("purple").running())
        .qube(QubeSpec::app("work", "fedora").label("blue").tag("managed"))
        .qube(QubeSpec::app("vault", "fedora").label("black"))
        .policy_file("30-test.policy", POLICY)
        .create(&tmp.join("world"))
        .expect("world");
    for qube in ["work", "vault"] {
        for service in ["test.Dump", "test.Ask"] {
            world
                .install_rpc_service(qube, service, DUMP.as_bytes())
                .expect("install");
        }
    }
    world
}

/// The simulated qubesd on the default socket of the world directory.
fn serve(dir: &Path) -> ServerHandle {
    Server::start(dir, &dir.join("qubesd.sock")).expect("start qubesd")
}

#[test]
fn admin_calls_reach_qubesd_with_dom0_framing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = world(tmp.path());
    let dir = world.dir().expect("dir");
    let server = serve(dir);
    let sock = server.socket_path().to_owned();
    // Through qrexec the reply is exactly what qubesd answers the caller
    // directly with dom0 framing (policy-filtered list for mgmt).
    for target in ["@adminvm", "dom0"] {
        let o = qrexec(dir, "mgmt", &[target, "admin.vm.List"], b"");
        assert_eq!(o.rc, 0, "{target}: {}", o.err());
        assert_eq!(
            o.stdout,
            call(&sock, "mgmt", "admin.vm.List", "adminvm", "", b"")
        );
        assert!(o.out().contains("work class=AppVM"), "{}", o.out());
        assert!(!o.out().contains("vault"), "{}", o.out());
    }
    let o = qrexec(dir, "mgmt", &["work", "admin.vm.property.Get+label"], b"");
    assert_eq!(
        (o.rc, o.out()),
        (0, "0\0default=False type=label blue".into())
    );
    // A Qubes error is a reply like any other: exit 0, the error on stdout.
    let o = qrexec(dir, "mgmt", &["work", "admin.vm.property.Get+nosuch"], b"");
    assert_eq!(o.rc, 0);
    assert!(o.stdout.starts_with(b"2\0"), "{}", o.out());
}

#[test]
fn local_program_talks_to_qubesd() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = world(tmp.path());
    let dir = world.dir().expect("dir");
    let server = serve(dir);
    let direct = call(
        server.socket_path(),
        "mgmt",
        "admin.vm.List",
        "adminvm",
        "",
        b"",
    );
    // The local program ends the request (closes its stdout), then copies
    // qubesd's reply from its stdin to stderr; its exit code is the client's.
    let o = qrexec(
        dir,
        "mgmt",
        &[
            "@adminvm",
            "admin.vm.List",
            "/bin/sh",
            "-c",
            "exec 1>&-; cat >&2; exit 3",
        ],
        b"",
    );
    assert_eq!((o.rc, o.stdout.as_slice()), (3, &b""[..]));
    assert_eq!(o.stderr, direct);
}

#[test]
fn denied_admin_calls_are_refused_and_change_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = world(tmp.path());
    let dir = world.dir().expect("dir");
    let server = serve(dir);
    for (source, target, call) in [
        ("mgmt", "work", "admin.vm.feature.Set+evil"),
        ("mgmt", "vault", "admin.vm.property.Get+label"),
        ("work", "@adminvm", "admin.vm.List"),
        ("mgmt", "@adminvm", "admin.vm.Kill"),
    ] {
        let o = qrexec(dir, source, &[target, call], b"1");
        assert_eq!(
            (o.rc, o.out(), o.err()),
            (126, String::new(), "Request refused\n".into()),
            "{source} {target} {call}"
        );
    }
    let now = server.world();
    let work = now.qube("work").expect("work");
    assert!(!work.features.contains_key("evil"));
}

#[test]
fn halted_target_is_started_through_qubesd() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = world(tmp.path());
    let dir = world.dir().expect("dir");
    let server = serve(dir);
    let mut events = EventStream::connect(&server, "dom0", "dom0");
    events.drain();
    assert_eq!(
        server.world().qube("work").expect("work").power_state,
        "Halted"
    );
    let o = qrexec(dir, "mgmt", &["work", "test.Dump+x"], b"");
    assert_eq!(o.rc, 0, "{}", o.err());
    assert_eq!(
        env_value(&o.out(), "QREXEC_SERVICE_ARGUMENT").as_deref(),
        Some("x")
    );
    assert_eq!(
        server.world().qube("work").expect("work").power_state,
        "Running"
    );
    let seen = events.messages();
    for event in ["domain-pre-start", "domain-start"] {
        assert!(
            seen.contains(&("work".to_owned(), event.to_owned())),
            "{event} missing from {seen:?}"
        );
    }
    // Already running: no second start.
    let o = qrexec(dir, "mgmt", &["work", "test.Dump"], b"");
    assert_eq!(o.rc, 0);
    assert!(events.messages().is_empty());
}

#[test]
fn autostart_no_refuses_a_halted_target() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = world(tmp.path());
    let dir = world.dir().expect("dir");
    let server = serve(dir);
    let mut events = EventStream::connect(&server, "dom0", "dom0");
    events.drain();
    let o = qrexec(dir, "mgmt", &["vault", "test.Dump"], b"");
    assert_eq!((o.rc, o.err()), (126, "Request refused\n".into()));
    assert_eq!(
        server.world().qube("vault").expect("vault").power_state,
        "Halted"
    );
    assert!(events.messages().is_empty());
    // Once it runs, the same rule lets the call through.
    common::ok(server.socket_path(), "admin.vm.Start", "vault", "", b"");
    let o = qrexec(dir, "mgmt", &["vault", "test.Dump"], b"");
    assert_eq!(o.rc, 0, "{}", o.err());
}

#[test]
fn without_qubesd_a_start_only_changes_the_world_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = world(tmp.path());
    let dir = world.dir().expect("dir");
    let o = qrexec(dir, "mgmt", &["work", "test.Dump"], b"");
    assert_eq!(o.rc, 0, "{}", o.err());
    let after = World::load(dir).expect("load");
    assert_eq!(after.qube("work").expect("work").power_state, "Running");
    // Admin calls need qubesd: refused when it does not run.
    let o = qrexec(dir, "mgmt", &["@adminvm", "admin.vm.List"], b"");
    assert_eq!((o.rc, o.err()), (126, "Request refused\n".into()));
}

#[test]
fn ask_is_answered_from_the_script_and_denies_by_default() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = world(tmp.path());
    let dir = world.dir().expect("dir");
    let ran_in = |o: &qrexec_common::Outcome| env_value(&o.out(), "HOME");
    let home = |q: &str| Some(world.qube_home(q).expect("home").display().to_string());
    // No answer: denied, as a closed prompt.
    let o = qrexec(dir, "mgmt", &["@default", "test.Ask+p"], b"");
    assert_eq!((o.rc, o.err()), (126, "Request refused\n".into()));

    let mut answers = AskAnswers::default();
    answers.set("test.Ask+p", "mgmt", "@default", "allow");
    answers.set("test.Ask+p", "mgmt", "vault", "vault");
    answers.set("test.Ask+q", "mgmt", "*", "deny");
    answers.set("test.Ask+r", "mgmt", "vault", "dom0");
    answers.set("test.Ask+s", "mgmt", "*", "allow");
    answers.save(dir).expect("save answers");

    let o = qrexec(dir, "mgmt", &["@default", "test.Ask+p"], b"");
    assert_eq!((o.rc, ran_in(&o)), (0, home("work")), "{}", o.err());
    let o = qrexec(dir, "mgmt", &["vault", "test.Ask+p"], b"");
    assert_eq!((o.rc, ran_in(&o)), (0, home("vault")), "{}", o.err());
    for target in ["work", "@default"] {
        let o = qrexec(dir, "mgmt", &[target, "test.Ask+q"], b"");
        assert_eq!(o.rc, 126, "{target}");
    }
    // A choice the prompt did not offer denies.
    let o = qrexec(dir, "mgmt", &["vault", "test.Ask+r"], b"");
    assert_eq!(o.rc, 126);
    // `allow` picks the rule's default target.
    let o = qrexec(dir, "mgmt", &["vault", "test.Ask+s"], b"");
    assert_eq!((o.rc, ran_in(&o)), (0, home("work")), "{}", o.err());
    // Another caller gets no answer.
    let o = qrexec(dir, "work", &["@default", "test.Ask+p"], b"");
    assert_eq!(o.rc, 126);

    // A broken answer file denies everything that asks.
    std::fs::write(dir.join("asks.json"), "[\"allow\"]").expect("write");
    let o = run(client(dir, "mgmt", &["@default", "test.Ask+p"]), b"");
    assert_eq!((o.rc, o.err()), (126, "Request refused\n".into()));
    let log = std::fs::read_to_string(dir.join("qrexec.log")).expect("log");
    assert!(log.contains("asks.json"), "{log}");
}
