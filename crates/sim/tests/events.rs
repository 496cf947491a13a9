//! `admin.Events`: several listeners at once, per-qube and policy-filtered
//! streams, qubesd's cached-system-info quirk, disconnects.

mod common;

use std::time::{Duration, Instant};

use common::{EventStream, call, ok, parse_messages, serve, small_world};

fn ev(subject: &str, event: &str) -> (String, String) {
    (subject.to_owned(), event.to_owned())
}

#[test]
fn every_listener_gets_its_share_in_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    let mut all = EventStream::connect(&server, "dom0", "dom0");
    let mut all2 = EventStream::connect(&server, "dom0", "dom0");
    let mut only_alpha = EventStream::connect(&server, "dom0", "alpha");
    let mut filtered = EventStream::connect(&server, "mgr", "dom0");
    for s in [&mut all, &mut all2, &mut only_alpha, &mut filtered] {
        assert_eq!(s.drain(), b"1\0\0connection-established\0\0");
    }

    ok(&sock, "admin.vm.feature.Set", "alpha", "k", b"v");
    let expected = [
        ev("alpha", "domain-feature-pre-set:k"),
        ev("alpha", "domain-feature-set:k"),
    ];
    assert_eq!(all.messages(), expected);
    assert_eq!(all2.messages(), expected);
    assert_eq!(only_alpha.messages(), expected);
    assert_eq!(filtered.messages(), expected, "alpha is tagged 'managed'");

    ok(&sock, "admin.vm.feature.Set", "beta", "k", b"v");
    assert_eq!(all.messages().len(), 2);
    assert_eq!(all2.messages().len(), 2);
    assert!(only_alpha.messages().is_empty());
    assert!(filtered.messages().is_empty(), "beta is not visible to mgr");

    // Overwrite: oldvalue is passed; kwargs in qubesd's order.
    ok(&sock, "admin.vm.feature.Set", "alpha", "k", b"w");
    let bytes = all.drain();
    assert_eq!(all2.drain(), bytes);
    let msgs = parse_messages(&bytes);
    assert_eq!(
        msgs[1].2,
        [("feature", "k"), ("value", "w"), ("oldvalue", "v")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .to_vec()
    );
    only_alpha.drain();
    filtered.drain();

    // An invalid custom-persist value: pre-set, but never set.
    let r = call(
        &sock,
        "dom0",
        "admin.vm.feature.Set",
        "alpha",
        "custom-persist.bad",
        b"x",
    );
    assert!(r.starts_with(b"2\0QubesValueError\0"));
    assert_eq!(
        all.messages(),
        [ev("alpha", "domain-feature-pre-set:custom-persist.bad")]
    );
    assert_eq!(
        only_alpha.messages(),
        [ev("alpha", "domain-feature-pre-set:custom-persist.bad")]
    );
    assert_eq!(
        filtered.messages(),
        [ev("alpha", "domain-feature-pre-set:custom-persist.bad")]
    );

    // A global property: pre-set, the per-qube resets (dom0 first), set.
    ok(
        &sock,
        "admin.property.Set",
        "adminvm",
        "default_dispvm",
        b"",
    );
    let got = all.messages();
    assert_eq!(
        got.first(),
        Some(&ev("", "property-pre-set:default_dispvm"))
    );
    assert_eq!(
        got.get(1),
        Some(&ev("dom0", "property-reset:default_dispvm"))
    );
    assert_eq!(got.last(), Some(&ev("", "property-set:default_dispvm")));
    assert_eq!(
        got.len(),
        2 + 8,
        "every qube follows the global default: {got:?}"
    );
    assert_eq!(
        only_alpha.messages(),
        [ev("alpha", "property-reset:default_dispvm")]
    );
    assert_eq!(
        filtered.messages(),
        [
            ev("", "property-pre-set:default_dispvm"),
            ev("dom0", "property-reset:default_dispvm"),
            ev("alpha", "property-reset:default_dispvm"),
            ev("", "property-set:default_dispvm"),
        ]
    );

    // Start and shutdown.
    ok(&sock, "admin.vm.Start", "alpha", "", b"");
    assert_eq!(
        only_alpha.messages(),
        [
            ev("alpha", "domain-pre-start"),
            ev("alpha", "domain-spawn"),
            ev("alpha", "domain-start")
        ]
    );
    ok(&sock, "admin.vm.Shutdown", "alpha", "", b"");
    assert_eq!(
        only_alpha.messages(),
        [
            ev("alpha", "domain-pre-shutdown"),
            ev("alpha", "domain-stopped"),
            ev("alpha", "domain-shutdown")
        ]
    );
}

#[test]
fn filtered_stream_sees_new_qubes_only_after_the_cache_refresh() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    let mut all = EventStream::connect(&server, "dom0", "dom0");
    let mut filtered = EventStream::connect(&server, "mgr", "dom0");
    all.drain();
    filtered.drain();
    // As in the golden recording, qubesd's system-info cache was built (and
    // registered its handlers) after the streams connected and before the
    // qube is created (see the filter module for what differs otherwise).
    server.get_system_info();

    ok(
        &sock,
        "admin.vm.Create.AppVM",
        "adminvm",
        "tpl-a",
        b"name=newbie label=red",
    );
    assert_eq!(
        all.messages(),
        [
            ev("", "domain-add"),
            ev("newbie", "domain-tag-add:created-by-dom0"),
            ev("newbie", "domain-create-on-disk")
        ]
    );
    assert!(filtered.messages().is_empty());
    // The tag that makes it visible is filtered with the stale view.
    ok(&sock, "admin.vm.tag.Set", "newbie", "managed", b"");
    assert_eq!(all.messages(), [ev("newbie", "domain-tag-add:managed")]);
    assert!(
        filtered.messages().is_empty(),
        "qubesd's cached system info quirk"
    );
    // The next event uses the refreshed view.
    ok(&sock, "admin.vm.feature.Set", "newbie", "k", b"1");
    assert_eq!(filtered.messages().len(), 2);
    all.drain();
    ok(&sock, "admin.vm.Remove", "newbie", "", b"");
    let expected = [ev("", "domain-pre-delete"), ev("", "domain-delete")];
    assert_eq!(all.messages(), expected);
    assert_eq!(filtered.messages(), expected);
    // A qube source other than the configured one sees nothing but the greeting.
    let mut stranger = EventStream::connect(&server, "beta", "dom0");
    ok(&sock, "admin.vm.feature.Set", "alpha", "z", b"1");
    assert_eq!(stranger.messages(), [ev("", "connection-established")]);
}

#[test]
fn listeners_that_leave_are_forgotten_and_stop_closes_the_rest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let gone = EventStream::connect(&server, "dom0", "dom0");
    let staying = EventStream::connect(&server, "dom0", "beta");
    assert_eq!(server.listener_count(), 2);
    gone.close();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.listener_count() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.listener_count(), 1);
    // Events still flow to the remaining listener after the other left.
    ok(server.socket_path(), "admin.vm.tag.Set", "beta", "t1", b"");
    server.stop();
    let rest = staying.read_to_close();
    let msgs: Vec<String> = parse_messages(&rest).into_iter().map(|m| m.1).collect();
    assert_eq!(msgs, ["connection-established", "domain-tag-add:t1"]);
}

#[test]
fn events_request_errors_are_plain_replies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    let r = call(sock, "dom0", "admin.Events", "dom0", "x", b"");
    assert_eq!(r, b"2\0ProtocolError\0\0unexpected argument\0");
    let r = call(sock, "ghost", "admin.Events", "dom0", "", b"");
    assert_eq!(r, b"2\0QubesVMNotFoundError\0\0No such domain: 'ghost'\0");
    assert_eq!(server.listener_count(), 0);
}

#[test]
fn netvm_changes_announce_the_effective_value() {
    use qcs_sim::world::{QubeSpec, World};
    let world = World::builder()
        .qube(QubeSpec::template_vm("t").label("black"))
        .qube(
            QubeSpec::app("net", "t")
                .label("red")
                .property("provides_network", "True"),
        )
        .qube(QubeSpec::app("web", "t").label("blue"))
        .qube(
            QubeSpec::app("offline", "t")
                .label("gray")
                .property("netvm", ""),
        )
        .build()
        .expect("world");
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(world, tmp.path());
    let sock = server.socket_path().to_owned();
    let mut web = EventStream::connect(&server, "dom0", "web");
    let mut offline = EventStream::connect(&server, "dom0", "offline");
    web.drain();
    offline.drain();
    ok(
        &sock,
        "admin.property.Set",
        "adminvm",
        "default_netvm",
        b"net",
    );
    let got = parse_messages(&web.drain());
    let names: Vec<&str> = got.iter().map(|m| m.1.as_str()).collect();
    assert_eq!(
        names,
        [
            "property-pre-set:netvm",
            "property-set:netvm",
            "property-reset:netvm"
        ]
    );
    assert_eq!(got[1].2[1], ("newvalue".to_owned(), "net".to_owned()));
    assert_eq!(got[1].2[2], ("oldvalue".to_owned(), "None".to_owned()));
    assert!(
        offline.messages().is_empty(),
        "explicit netvm does not follow the default"
    );
    assert_eq!(
        ok(&sock, "admin.vm.property.Get", "web", "netvm", b""),
        "default=True type=vm net"
    );
    // Resetting an explicit netvm to a different default announces the set.
    ok(&sock, "admin.vm.property.Reset", "offline", "netvm", b"");
    let names: Vec<String> = offline.messages().into_iter().map(|m| m.1).collect();
    assert_eq!(
        names,
        [
            "property-pre-reset:netvm",
            "property-pre-set:netvm",
            "property-pre-del:netvm",
            "property-set:netvm",
            "property-reset:netvm",
            "property-del:netvm"
        ]
    );
    assert_eq!(
        ok(&sock, "admin.vm.property.Get", "offline", "netvm", b""),
        "default=True type=vm net"
    );
}

#[test]
fn pre_events_reach_listeners_before_handlers_refuse() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    let mut all = EventStream::connect(&server, "dom0", "dom0");
    all.drain();

    // services: a bad service name is refused after the pre-set, and not stored.
    let long = format!("service.{}", "s".repeat(49));
    let r = call(&sock, "dom0", "admin.vm.feature.Set", "beta", &long, b"1");
    assert_eq!(
        r,
        b"2\0QubesValueError\0\0Service name must not exceed 48 bytes\0"
    );
    assert_eq!(
        all.messages(),
        [ev("beta", &format!("domain-feature-pre-set:{long}"))]
    );
    let r = call(
        &sock,
        "dom0",
        "admin.vm.feature.Set",
        "beta",
        "service.",
        b"1",
    );
    assert_eq!(r, b"2\0QubesValueError\0\0Service name cannot be empty\0");
    all.drain();
    assert!(!ok(&sock, "admin.vm.feature.List", "beta", "", b"").contains("service."));

    // vm-config: refused after storing, like custom-persist; the value stays.
    let r = call(
        &sock,
        "dom0",
        "admin.vm.feature.Set",
        "beta",
        "vm-config.9lives",
        b"x",
    );
    assert_eq!(
        r,
        b"2\0QubesValueError\0\0Config name must start with an ASCII letter\0"
    );
    assert_eq!(
        all.messages(),
        [ev("beta", "domain-feature-pre-set:vm-config.9lives")]
    );
    assert_eq!(
        ok(
            &sock,
            "admin.vm.feature.Get",
            "beta",
            "vm-config.9lives",
            b""
        ),
        "x"
    );

    // Removing a qube in use: the pre-delete is announced, then refused.
    let r = call(&sock, "dom0", "admin.vm.Remove", "tpl-a", "", b"");
    assert!(r.starts_with(b"2\0QubesVMInUseError\0"));
    assert_eq!(all.messages(), [ev("", "domain-pre-delete")]);
    assert!(ok(&sock, "admin.vm.List", "tpl-a", "", b"").starts_with("tpl-a "));

    // A kernel that is not installed: pre-set announced, then refused.
    let r = call(
        &sock,
        "dom0",
        "admin.vm.property.Set",
        "solo",
        "kernel",
        b"0.0.1",
    );
    assert!(r.starts_with(b"2\0QubesPropertyValueError\0"));
    assert_eq!(all.messages(), [ev("solo", "property-pre-set:kernel")]);
}

#[test]
fn extension_handlers_announce_their_changes_first() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    let mut all = EventStream::connect(&server, "dom0", "dom0");
    all.drain();
    // A creator's tag-created-vm-with tags come before created-by-CREATOR.
    ok(
        &sock,
        "admin.vm.feature.Set",
        "dom0",
        "tag-created-vm-with",
        b"made-here extra",
    );
    all.drain();
    ok(
        &sock,
        "admin.vm.Create.AppVM",
        "adminvm",
        "",
        b"name=kid label=red",
    );
    assert_eq!(
        all.messages(),
        [
            ev("", "domain-add"),
            ev("kid", "domain-tag-add:made-here"),
            ev("kid", "domain-tag-add:extra"),
            ev("kid", "domain-tag-add:created-by-dom0"),
            ev("kid", "domain-create-on-disk"),
        ]
    );
    // meminfo-writer: maxmem changes and the feature removes itself.
    ok(
        &sock,
        "admin.vm.feature.Set",
        "beta",
        "service.meminfo-writer",
        b"",
    );
    let names: Vec<String> = all.messages().into_iter().map(|m| m.1).collect();
    assert_eq!(
        names,
        [
            "domain-feature-pre-set:service.meminfo-writer",
            "property-pre-set:maxmem",
            "property-set:maxmem",
            "domain-feature-pre-delete:service.meminfo-writer",
            "domain-feature-delete:service.meminfo-writer",
            "domain-feature-set:service.meminfo-writer",
        ]
    );
    assert_eq!(
        ok(&sock, "admin.vm.property.Get", "beta", "maxmem", b""),
        "default=False type=int 0"
    );
    assert!(!ok(&sock, "admin.vm.feature.List", "beta", "", b"").contains("meminfo-writer"));
    // The GuiVM tag follows the guivm property.
    ok(&sock, "admin.vm.property.Set", "beta", "guivm", b"solo");
    let names: Vec<String> = all.messages().into_iter().map(|m| m.1).collect();
    assert_eq!(
        names,
        [
            "property-pre-set:guivm",
            "domain-tag-delete:guivm-dom0",
            "domain-tag-add:guivm-solo",
            "property-set:guivm",
        ]
    );
    assert!(ok(&sock, "admin.vm.tag.List", "beta", "", b"").contains("guivm-solo\n"));
    // A creator's set-created-guivm gives new qubes that GuiVM.
    ok(
        &sock,
        "admin.vm.feature.Remove",
        "dom0",
        "tag-created-vm-with",
        b"",
    );
    ok(
        &sock,
        "admin.vm.feature.Set",
        "dom0",
        "set-created-guivm",
        b"solo",
    );
    all.drain();
    ok(
        &sock,
        "admin.vm.Create.AppVM",
        "adminvm",
        "",
        b"name=kid2 label=red",
    );
    let names: Vec<String> = all.messages().into_iter().map(|m| m.1).collect();
    assert_eq!(
        names,
        [
            "domain-add",
            "property-pre-set:guivm",
            "domain-tag-delete:guivm-dom0",
            "domain-tag-add:guivm-solo",
            "property-set:guivm",
            "domain-tag-add:created-by-dom0",
            "domain-create-on-disk",
        ]
    );
    assert_eq!(
        ok(&sock, "admin.vm.property.Get", "kid2", "guivm", b""),
        "default=False type=vm solo"
    );
}

#[test]
fn changes_from_outside_the_api_reach_listeners_and_disk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let mut all = EventStream::connect(&server, "dom0", "dom0");
    all.drain();
    let before = server.with_world(|world| {
        let q = world.qube_mut("beta").expect("beta");
        let before = q.power_state.clone();
        q.power_state = "Running".into();
        (
            before,
            vec![qcs_sim::qubesd::Event::vm(
                "beta",
                "domain-start",
                &[("start_guid", "True")],
            )],
        )
    });
    assert_eq!(before, "Halted");
    assert_eq!(all.messages(), [ev("beta", "domain-start")]);
    assert!(ok(server.socket_path(), "admin.vm.List", "beta", "", b"").contains("state=Running"));
    assert!(server.save_error().is_none());
    let saved = qcs_sim::World::load(&tmp.path().join("world")).expect("load");
    assert_eq!(saved.qube("beta").expect("beta").power_state, "Running");
}
