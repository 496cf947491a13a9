//! Behaviours of qubesd's event handlers that the golden recordings do not
//! cover, reproduced from qubes-core-admin v4.4 (qubes/vm/mix/dvmtemplate.py,
//! qubes/vm/adminvm.py, qubes/features.py, qubes/ext/admin.py,
//! qubes/api/internal.py): the preloaded-disposable feature checks, the
//! pre-delete of a missing feature, the `created-by-*` tag naming no qube,
//! and when the config qube's filtered stream sees a qube become managed.

mod common;
mod qrexec_common;

use std::path::Path;

use common::{EventStream, call, error_of, ok, serve, small_world};
use qcs_sim::world::World;
use qcs_sim::{Server, ServerHandle};

fn ev(subject: &str, event: &str) -> (String, String) {
    (subject.to_owned(), event.to_owned())
}

fn set(sock: &Path, dest: &str, key: &str, value: &str) -> Vec<u8> {
    call(
        sock,
        "dom0",
        "admin.vm.feature.Set",
        dest,
        key,
        value.as_bytes(),
    )
}

fn get(sock: &Path, dest: &str, key: &str) -> Vec<u8> {
    call(sock, "dom0", "admin.vm.feature.Get", dest, key, b"")
}

#[test]
fn preload_dispvm_max_needs_qrexec_and_the_preload_rpcs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    let mut all = EventStream::connect(&server, "dom0", "dom0");
    all.drain();

    // `qvm-features alpha preload-dispvm-max 2`: alpha and its template
    // have no `qrexec` feature.
    let r = set(&sock, "alpha", "preload-dispvm-max", "2");
    assert_eq!(
        error_of(&r),
        (
            "QubesValueError".into(),
            "Qube does not support qrexec".into()
        )
    );
    // The pre-event reached listeners before the check refused; nothing
    // was stored (the check runs before the value is).
    assert_eq!(
        all.messages(),
        [ev("alpha", "domain-feature-pre-set:preload-dispvm-max")]
    );
    assert_eq!(
        error_of(&get(&sock, "alpha", "preload-dispvm-max")).0,
        "QubesFeatureNotFoundError"
    );

    // `qrexec` found on the template; both RPCs missing, then one.
    ok(&sock, "admin.vm.feature.Set", "tpl-a", "qrexec", b"1");
    let r = set(&sock, "alpha", "preload-dispvm-max", "2");
    assert_eq!(
        error_of(&r).1,
        "Qube does not support the RPC(s) 'qubes.WaitForRunningSystem, qubes.WaitForSession'"
    );
    ok(
        &sock,
        "admin.vm.feature.Set",
        "tpl-a",
        "supported-rpc.qubes.WaitForRunningSystem",
        b"1",
    );
    let r = set(&sock, "alpha", "preload-dispvm-max", "2");
    assert_eq!(
        error_of(&r).1,
        "Qube does not support the RPC(s) 'qubes.WaitForSession'"
    );
    // An empty value on the qube itself hides the template's (falsy).
    ok(
        &sock,
        "admin.vm.feature.Set",
        "tpl-a",
        "supported-rpc.qubes.WaitForSession",
        b"1",
    );
    ok(&sock, "admin.vm.feature.Set", "alpha", "qrexec", b"");
    assert_eq!(
        error_of(&set(&sock, "alpha", "preload-dispvm-max", "2")).1,
        "Qube does not support qrexec"
    );
    call(
        &sock,
        "dom0",
        "admin.vm.feature.Remove",
        "alpha",
        "qrexec",
        b"",
    );

    // Supported: digits only (empty counts as 0).
    for bad in ["-1", "2.0", " 2", "two"] {
        assert_eq!(
            error_of(&set(&sock, "alpha", "preload-dispvm-max", bad)),
            (
                "QubesValueError".into(),
                "Invalid preload-dispvm-max value: not a digit".into()
            ),
            "{bad:?}"
        );
    }
    all.drain();
    assert_eq!(set(&sock, "alpha", "preload-dispvm-max", "2"), b"0\0");
    assert_eq!(get(&sock, "alpha", "preload-dispvm-max"), b"0\x002");
    assert_eq!(set(&sock, "alpha", "preload-dispvm-max", ""), b"0\0");
    assert_eq!(
        all.messages(),
        [
            ev("alpha", "domain-feature-pre-set:preload-dispvm-max"),
            ev("alpha", "domain-feature-set:preload-dispvm-max"),
            ev("alpha", "domain-feature-pre-set:preload-dispvm-max"),
            ev("alpha", "domain-feature-set:preload-dispvm-max"),
        ]
    );
    // Qube classes without DVMTemplateMixin do not check at all.
    assert_eq!(set(&sock, "tpl-a", "preload-dispvm-max", "many"), b"0\0");
    assert_eq!(set(&sock, "disp77", "preload-dispvm-max", "many"), b"0\0");
}

#[test]
fn preload_delay_and_threshold_values() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    let delay_err = (
        "QubesValueError".to_owned(),
        "Invalid preload-dispvm-delay value: not an integer or float".to_owned(),
    );
    for dest in ["dom0", "alpha", "solo"] {
        for good in ["5", "0.5", " 1e3 ", "-2", "inf", ""] {
            assert_eq!(
                set(&sock, dest, "preload-dispvm-delay", good),
                b"0\0",
                "{dest} {good:?}"
            );
        }
        for bad in ["soon", "1,5", "1_", "0x10"] {
            assert_eq!(
                error_of(&set(&sock, dest, "preload-dispvm-delay", bad)),
                delay_err,
                "{dest} {bad:?}"
            );
        }
    }
    // The threshold is dom0's only.
    assert_eq!(
        error_of(&set(&sock, "dom0", "preload-dispvm-threshold", "1.5")).1,
        "Invalid preload-dispvm-threshold value: not a digit"
    );
    assert_eq!(
        set(&sock, "dom0", "preload-dispvm-threshold", "1024"),
        b"0\0"
    );
    assert_eq!(set(&sock, "alpha", "preload-dispvm-threshold", "x"), b"0\0");
}

#[test]
fn global_preload_max_is_checked_on_the_default_disposable_template() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    let mut all = EventStream::connect(&server, "dom0", "dom0");
    all.drain();
    // dom0's own pre-set, then the one AdminVM fires on default_dispvm
    // (dvm-a), whose class check refuses.
    let r = set(&sock, "dom0", "preload-dispvm-max", "3");
    assert_eq!(error_of(&r).1, "Qube does not support qrexec");
    let bytes = all.drain();
    let msgs = common::parse_messages(&bytes);
    let names: Vec<(String, String)> = msgs.iter().map(|m| (m.0.clone(), m.1.clone())).collect();
    assert_eq!(
        names,
        [
            ev("dom0", "domain-feature-pre-set:preload-dispvm-max"),
            ev("dvm-a", "domain-feature-pre-set:preload-dispvm-max"),
        ]
    );
    let kw = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    assert_eq!(
        msgs[1].2,
        kw(&[
            ("feature", "preload-dispvm-max"),
            ("value", "3"),
            ("oldvalue", "None")
        ])
    );
    // Without a default disposable template nothing else is checked.
    ok(
        &sock,
        "admin.property.Set",
        "adminvm",
        "default_dispvm",
        b"",
    );
    all.drain();
    assert_eq!(set(&sock, "dom0", "preload-dispvm-max", "3"), b"0\0");
    assert_eq!(
        all.messages(),
        [
            ev("dom0", "domain-feature-pre-set:preload-dispvm-max"),
            ev("dom0", "domain-feature-set:preload-dispvm-max"),
        ]
    );
}

#[test]
fn removing_a_missing_feature_announces_the_pre_delete_first() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    let mut all = EventStream::connect(&server, "dom0", "dom0");
    let mut only_alpha = EventStream::connect(&server, "dom0", "alpha");
    let mut filtered = EventStream::connect(&server, "mgr", "dom0");
    for s in [&mut all, &mut only_alpha, &mut filtered] {
        s.drain();
    }
    let before = server.world();
    let r = call(
        &sock,
        "dom0",
        "admin.vm.feature.Remove",
        "alpha",
        "never-set",
        b"",
    );
    assert_eq!(
        error_of(&r),
        (
            "QubesFeatureNotFoundError".into(),
            "Feature not set for domain alpha: never-set".into()
        )
    );
    let expected = [ev("alpha", "domain-feature-pre-delete:never-set")];
    assert_eq!(all.messages(), expected);
    assert_eq!(only_alpha.messages(), expected);
    assert_eq!(filtered.messages(), expected);
    assert_eq!(server.world().data.vms, before.data.vms, "nothing changed");
    // A prohibited feature is refused before anything is announced.
    let r = call(
        &sock,
        "dom0",
        "admin.vm.feature.Remove",
        "alpha",
        "preload-dispvm",
        b"",
    );
    assert_eq!(error_of(&r).0, "PermissionDenied");
    assert!(all.messages().is_empty());
}

#[test]
fn created_by_tag_naming_no_qube_drops_the_connection_and_the_tag_stays() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    let mut all = EventStream::connect(&server, "dom0", "dom0");
    all.drain();
    for tag in ["created-by-ghost", "created-by-"] {
        let r = call(&sock, "dom0", "admin.vm.tag.Set", "beta", tag, b"");
        assert!(r.is_empty(), "{tag}: no reply at all, got {r:?}");
        // AdminExtension.on_tag_add raised KeyError after the tag was added:
        // no listener heard of it, but it is set.
        assert!(all.messages().is_empty(), "{tag}");
        assert_eq!(
            call(&sock, "dom0", "admin.vm.tag.Get", "beta", tag, b""),
            b"0\x001",
            "{tag}"
        );
    }
    // Not saved by that call; the next change saves it with everything else.
    let saved = World::load(&tmp.path().join("world")).expect("load");
    assert!(
        !saved
            .qube("beta")
            .expect("beta")
            .tags
            .iter()
            .any(|t| t == "created-by-ghost")
    );
    ok(&sock, "admin.vm.tag.Set", "beta", "later", b"");
    let saved = World::load(&tmp.path().join("world")).expect("load");
    assert!(
        saved
            .qube("beta")
            .expect("beta")
            .tags
            .iter()
            .any(|t| t == "created-by-ghost")
    );
    // Naming a qube works as before (and from a qube it is refused first).
    assert_eq!(
        call(
            &sock,
            "dom0",
            "admin.vm.tag.Set",
            "beta",
            "created-by-mgr",
            b""
        ),
        b"0\0"
    );
    assert_eq!(
        all.messages().last(),
        Some(&ev("beta", "domain-tag-add:created-by-mgr"))
    );
    let r = call(
        &sock,
        "mgr",
        "admin.vm.tag.Set",
        "beta",
        "created-by-ghost2",
        b"",
    );
    assert_eq!(error_of(&r).0, "PermissionDenied");
}

#[test]
fn creators_features_naming_no_qube_or_a_bad_tag_drop_the_connection_too() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    ok(
        &sock,
        "admin.vm.feature.Set",
        "mgr",
        "tag-created-vm-with",
        b"ok-tag bad.tag",
    );
    let r = call(
        &sock,
        "dom0",
        "admin.vm.tag.Set",
        "beta",
        "created-by-mgr",
        b"",
    );
    assert!(r.is_empty(), "ValueError from Tags.add: {r:?}");
    assert_eq!(
        call(&sock, "dom0", "admin.vm.tag.Get", "beta", "ok-tag", b""),
        b"0\x001"
    );
    ok(
        &sock,
        "admin.vm.feature.Set",
        "mgr",
        "tag-created-vm-with",
        b"",
    );
    ok(
        &sock,
        "admin.vm.feature.Set",
        "mgr",
        "set-created-guivm",
        b"no-such-guivm",
    );
    let r = call(
        &sock,
        "dom0",
        "admin.vm.tag.Set",
        "solo",
        "created-by-mgr",
        b"",
    );
    assert!(
        r.is_empty(),
        "KeyError in gui.set_guivm_on_created_by: {r:?}"
    );
}

/// The config qube `mgr` listens to a filtered stream; `beta` becomes managed.
fn managed_visibility(server: &ServerHandle, filtered: &mut EventStream) -> (bool, bool) {
    let sock = server.socket_path().to_owned();
    filtered.drain();
    ok(&sock, "admin.vm.tag.Set", "beta", "managed", b"");
    let add_seen = filtered.messages() == [ev("beta", "domain-tag-add:managed")];
    // Something else happens in between (the filter rebuilds its view).
    ok(&sock, "admin.vm.feature.Set", "alpha", "k", b"v");
    assert_eq!(filtered.messages().len(), 2, "alpha is managed all along");
    ok(&sock, "admin.vm.tag.Remove", "beta", "managed", b"");
    let delete_seen = filtered.messages() == [ev("beta", "domain-tag-delete:managed")];
    (add_seen, delete_seen)
}

#[test]
fn becoming_managed_is_visible_when_the_policy_daemon_asked_first() {
    // A deployment: qrexec's policy daemon asks qubesd for system info
    // before the config qube's admin.Events call reaches qubesd.
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let info: serde_json::Value = serde_json::from_str(&server.get_system_info()).expect("json");
    let alpha_tags = info["domains"]["alpha"]["tags"].as_array().expect("tags");
    assert!(
        alpha_tags.contains(&serde_json::json!("managed")),
        "{alpha_tags:?}"
    );
    assert_eq!(info["domains"]["mgr"]["type"], "AppVM");
    let mut filtered = EventStream::connect(&server, "mgr", "dom0");
    // The tag that makes beta managed is judged with the new view; the
    // one that ends it, too (so that one is not delivered).
    assert_eq!(managed_visibility(&server, &mut filtered), (true, false));
    // A dom0 listener connecting later changes nothing for existing qubes.
    let _all = EventStream::connect(&server, "dom0", "dom0");
    assert_eq!(managed_visibility(&server, &mut filtered), (true, false));
}

#[test]
fn becoming_managed_is_not_visible_when_the_stream_came_first() {
    // The golden recording's order: streams straight to qubesd's socket,
    // no policy daemon; the cache registers later, behind the dispatcher.
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let mut filtered = EventStream::connect(&server, "mgr", "dom0");
    server.get_system_info();
    assert_eq!(managed_visibility(&server, &mut filtered), (false, true));
}

#[test]
fn qrexec_calls_ask_qubesd_for_system_info_over_the_internal_socket() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = small_world()
        .create_dir(&tmp.path().join("world"))
        .expect("dir");
    let dir = world.dir().expect("dir").to_owned();
    let server = Server::start(&dir, &dir.join("qubesd.sock")).expect("start");
    assert!(
        server
            .internal_socket_path()
            .ends_with("qubesd.internal.sock")
    );
    // The internal socket answers GetSystemInfo and nothing else.
    let raw = |req: &[u8]| {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(server.internal_socket_path())
            .expect("connect");
        s.write_all(req).expect("write");
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("read");
        out
    };
    let r = raw(b"internal.GetSystemInfo+ dom0 name dom0\0");
    assert!(r.starts_with(b"0\0{\"domains\":"), "{r:?}");
    let r = raw(b"admin.vm.List+ dom0 name dom0\0");
    assert_eq!(error_of(&r).1, "no such method: 'admin.vm.List'");
    drop(server);

    // A fresh qubesd: a qrexec call from mgr (its policy evaluation asked
    // for system info) makes the later filtered stream see beta become
    // managed.
    let server = Server::start(&dir, &dir.join("qubesd.sock")).expect("restart");
    let o = qrexec_common::qrexec(&dir, "mgr", &["@adminvm", "admin.vm.List"], b"");
    assert_eq!(o.rc, 0, "{}", o.err());
    let mut filtered = EventStream::connect(&server, "mgr", "dom0");
    assert_eq!(managed_visibility(&server, &mut filtered), (true, false));
}
