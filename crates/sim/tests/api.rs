//! The Admin API semantics on a world unlike the golden one, and hostile
//! input that must never crash or corrupt the server.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

use common::{call, error_of, ok, serve, small_world};
use qcs_sim::replay::call_raw;

#[test]
fn listing_and_lookup_by_name_uuid_and_keyword() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    let list = ok(sock, "admin.vm.List", "adminvm", "", b"");
    let names: Vec<&str> = list
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "dom0", "alpha", "beta", "disp77", "dvm-a", "mgr", "solo", "tpl-a"
        ]
    );
    assert!(list.starts_with(
        "dom0 class=AdminVM state=Running uuid=00000000-0000-0000-0000-000000000000\n"
    ));
    let uuid = server
        .world()
        .qube("beta")
        .and_then(|q| q.uuid.clone())
        .expect("uuid");
    let by_uuid = ok(sock, "admin.vm.List", &format!("uuid:{uuid}"), "", b"");
    assert_eq!(
        by_uuid,
        format!("beta class=AppVM state=Halted uuid={uuid}\n")
    );
    let missing = call(
        sock,
        "dom0",
        "admin.vm.List",
        "uuid:00000000-0000-0000-0000-0000000000aa",
        "",
        b"",
    );
    assert_eq!(
        error_of(&missing),
        (
            "QubesVMNotFoundError".into(),
            "No such domain: 'uuid:00000000-0000-0000-0000-0000000000aa'".into()
        )
    );
    let bad = call(sock, "dom0", "admin.vm.List", "uuid:nothex", "", b"");
    assert_eq!(
        error_of(&bad),
        (
            "QubesVMInvalidUUIDError".into(),
            "VM UUID is not valid: 'nothex'".into()
        )
    );
}

#[test]
fn features_with_template_chains() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    // disp77 -> dvm-a -> tpl-a
    assert_eq!(
        ok(
            sock,
            "admin.vm.feature.CheckWithTemplate",
            "disp77",
            "vmexec",
            b""
        ),
        "1"
    );
    assert_eq!(
        ok(
            sock,
            "admin.vm.feature.CheckWithTemplate",
            "disp77",
            "appmenus-dispvm",
            b""
        ),
        "1"
    );
    let r = call(
        sock,
        "dom0",
        "admin.vm.feature.CheckWithTemplate",
        "solo",
        "os",
        b"",
    );
    assert_eq!(
        error_of(&r),
        (
            "QubesFeatureNotFoundError".into(),
            "Feature not set for domain solo: os".into()
        )
    );
    ok(sock, "admin.vm.feature.Set", "dom0", "gui-default", b"x");
    assert_eq!(
        ok(
            sock,
            "admin.vm.feature.CheckWithAdminVM",
            "solo",
            "gui-default",
            b""
        ),
        "x"
    );
    assert_eq!(
        ok(
            sock,
            "admin.vm.feature.CheckWithTemplateAndAdminVM",
            "alpha",
            "gui-default",
            b""
        ),
        "x"
    );
    assert_eq!(
        ok(
            sock,
            "admin.vm.feature.CheckWithTemplateAndAdminVM",
            "alpha",
            "os",
            b""
        ),
        "Linux"
    );
}

#[test]
fn custom_persist_validation_keeps_invalid_values_like_qubesd() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "custom-persist.x1",
            b"dir:u:g:0700",
            "invalid value format: 'dir:u:g:0700'",
        ),
        (
            "custom-persist.x2",
            b"pipe:u:g:0700:/p",
            "invalid resource type option 'pipe' in value 'pipe:u:g:0700:/p'",
        ),
        (
            "custom-persist.x3",
            b"file:u:g:8:/p",
            "invalid mode option '8' in value 'file:u:g:8:/p'",
        ),
        (
            "custom-persist.",
            b"/p",
            "custom-persist key cannot be empty",
        ),
    ];
    for (key, value, message) in cases {
        let r = call(sock, "dom0", "admin.vm.feature.Set", "beta", key, value);
        assert_eq!(
            error_of(&r),
            ("QubesValueError".into(), message.into()),
            "{key}"
        );
        // The quirk: the value stayed set.
        assert_eq!(
            ok(sock, "admin.vm.feature.Get", "beta", key, b"").as_bytes(),
            value
        );
    }
    ok(
        sock,
        "admin.vm.feature.Set",
        "beta",
        "custom-persist.ok",
        b"file:user:user:0600:/home/user/.x",
    );
}

#[test]
fn properties_get_set_reset_and_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "alpha", "memory", b""),
        "default=False type=int 1000"
    );
    ok(sock, "admin.vm.property.Set", "beta", "autostart", b"YES");
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "beta", "autostart", b""),
        "default=False type=bool True"
    );
    ok(sock, "admin.vm.property.Set", "beta", "vcpus", b" +3 ");
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "beta", "vcpus", b""),
        "default=False type=int 3"
    );
    ok(sock, "admin.vm.property.Set", "beta", "template", b"tpl-a");
    let r = call(
        sock,
        "dom0",
        "admin.vm.property.Set",
        "beta",
        "template",
        b"solo",
    );
    assert_eq!(
        error_of(&r).1,
        "wrong VM class: domains['solo'] is of type StandaloneVM and not TemplateVM"
    );
    let r = call(
        sock,
        "dom0",
        "admin.vm.property.Set",
        "disp77",
        "template",
        b"tpl-a",
    );
    assert_eq!(
        error_of(&r).1,
        "template for disposable must have template_for_dispvms=True"
    );
    let r = call(
        sock,
        "dom0",
        "admin.vm.property.Set",
        "beta",
        "netvm",
        b"-bad",
    );
    assert_eq!(
        error_of(&r),
        (
            "QubesPropertyValueError".into(),
            "netvm cannot start with hyphen, underscore, dot or numbers".into()
        )
    );
    let r = call(
        sock,
        "dom0",
        "admin.vm.property.Set",
        "beta",
        "netvm",
        b"a!b",
    );
    assert_eq!(
        error_of(&r),
        (
            "QubesPropertyValueError".into(),
            "netvm value contains illegal characters".into()
        )
    );
    let r = call(
        sock,
        "dom0",
        "admin.vm.property.Set",
        "beta",
        "netvm",
        b"Domain-0",
    );
    assert_eq!(
        error_of(&r),
        (
            "QubesValueError".into(),
            "VM name cannot be 'Domain-0'".into()
        )
    );
    let r = call(
        sock,
        "dom0",
        "admin.vm.property.Set",
        "beta",
        "kernelopts",
        b"caf\xc3\xa9",
    );
    assert_eq!(
        error_of(&r),
        (
            "QubesValueError".into(),
            "Non-ASCII bytes in property value".into()
        )
    );
    let r = call(
        sock,
        "dom0",
        "admin.vm.property.Set",
        "beta",
        "kernelopts",
        b"a\x01b",
    );
    assert_eq!(error_of(&r).1, "Invalid characters in property value");
    let r = call(sock, "dom0", "admin.property.Get", "dom0", "nope", b"");
    assert_eq!(error_of(&r).1, "Invalid property 'nope' of Qubes");
    // Global property set reaches the qubes that follow it.
    ok(sock, "admin.property.Set", "adminvm", "default_dispvm", b"");
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "beta", "default_dispvm", b""),
        "default=True type=vm "
    );
    ok(
        sock,
        "admin.property.Set",
        "adminvm",
        "default_dispvm",
        b"dvm-a",
    );
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "beta", "default_dispvm", b""),
        "default=True type=vm dvm-a"
    );
    // Write-once properties: qubesd fails with a non-Qubes exception (no reply).
    assert_eq!(
        call(sock, "dom0", "admin.vm.property.Set", "beta", "qid", b"99"),
        b""
    );
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "beta", "qid", b""),
        "default=False type=int 5"
    );
}

#[test]
fn tags_and_created_by_protection() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    let r = call(
        sock,
        "mgr",
        "admin.vm.tag.Set",
        "beta",
        "created-by-mgr",
        b"",
    );
    assert_eq!(
        error_of(&r),
        (
            "PermissionDenied".into(),
            "changing this tag is prohibited by qubes.ext.admin.AdminExtension".into()
        )
    );
    let r = call(
        sock,
        "mgr",
        "admin.vm.tag.Remove",
        "beta",
        "created-by-dom0",
        b"",
    );
    assert_eq!(error_of(&r).0, "PermissionDenied");
    assert_eq!(
        ok(sock, "admin.vm.tag.Get", "beta", "created-by-dom0", b""),
        "1"
    );
    assert_eq!(
        call(sock, "mgr", "admin.vm.tag.Set", "beta", "ordinary", b""),
        b"0\0"
    );
    let r = call(sock, "dom0", "admin.vm.tag.Set", "beta", "", b"");
    assert_eq!(error_of(&r).1, "expected an argument");
    let r = call(sock, "dom0", "admin.vm.tag.Get", "beta", "dot.tag", b"");
    assert_eq!(
        error_of(&r),
        (
            "QubesInvalidTagError".into(),
            "disallowed characters".into()
        )
    );
}

#[test]
fn non_dom0_listing_is_filtered_by_the_world_policy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    let body =
        String::from_utf8(call(sock, "mgr", "admin.vm.List", "dom0", "", b"")).expect("ascii");
    let names: Vec<&str> = body[2..]
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(names, ["dom0", "alpha"]);
    assert_eq!(call(sock, "mgr", "admin.vm.List", "beta", "", b""), b"0\0");
    assert_eq!(call(sock, "beta", "admin.vm.List", "dom0", "", b""), b"0\0");
    // Tagging beta makes it visible: the policy is evaluated against the current world.
    ok(sock, "admin.vm.tag.Set", "beta", "managed", b"");
    let body =
        String::from_utf8(call(sock, "mgr", "admin.vm.List", "dom0", "", b"")).expect("ascii");
    assert!(body.contains("\nbeta class=AppVM"), "{body}");
    // A policy edited on disk is picked up; a broken one hides everything.
    let policy = tmp.path().join("world/policy/30-filter.policy");
    std::fs::write(&policy, "admin.vm.List * mgr @anyvm allow target=dom0\n").expect("write");
    let body =
        String::from_utf8(call(sock, "mgr", "admin.vm.List", "dom0", "", b"")).expect("ascii");
    assert_eq!(
        body[2..].lines().count(),
        7,
        "every qube but dom0 (@anyvm): {body}"
    );
    std::fs::write(&policy, "this is not a policy\n").expect("write");
    assert_eq!(
        call(sock, "mgr", "admin.vm.List", "dom0", "", b""),
        b"0\0",
        "fail closed"
    );
}

#[test]
fn create_and_remove_follow_qubesd() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    ok(
        sock,
        "admin.vm.Create.AppVM",
        "adminvm",
        "",
        b"name=fresh label=blue",
    );
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "fresh", "template", b""),
        "default=False type=vm tpl-a"
    );
    assert_eq!(
        ok(sock, "admin.vm.tag.List", "fresh", "", b""),
        "audiovm-dom0\ncreated-by-dom0\nguivm-dom0\n"
    );
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "fresh", "qid", b""),
        "default=False type=int 8"
    );
    let r = call(
        sock,
        "dom0",
        "admin.vm.Create.AppVM",
        "adminvm",
        "",
        b"name=fresh label=blue",
    );
    assert_eq!(
        error_of(&r),
        (
            "QubesVMAlreadyExistsError".into(),
            "Qube already exists: fresh".into()
        )
    );
    let r = call(
        sock,
        "dom0",
        "admin.vm.Create.AppVM",
        "adminvm",
        "",
        b"name=x2 label=pink",
    );
    assert_eq!(
        error_of(&r),
        (
            "QubesLabelNotFoundError".into(),
            "Label does not exist: untrusted label".into()
        )
    );
    let r = call(
        sock,
        "dom0",
        "admin.vm.Create.AppVM",
        "adminvm",
        "nosuch",
        b"name=x3 label=red",
    );
    assert_eq!(error_of(&r).0, "QubesVMNotFoundError");
    let r = call(
        sock,
        "dom0",
        "admin.vm.Create.TemplateVM",
        "adminvm",
        "tpl-a",
        b"name=x4 label=red",
    );
    assert_eq!(error_of(&r).1, "TemplateVM cannot be based on template");
    let r = call(
        sock,
        "dom0",
        "admin.vm.Create.AppVM",
        "adminvm",
        "",
        b"name=x5",
    );
    assert_eq!(error_of(&r).1, "Creation requested without key: label");
    let r = call(
        sock,
        "dom0",
        "admin.vm.Create.AppVM",
        "adminvm",
        "",
        b"name=x6 label=red color=1",
    );
    assert_eq!(
        error_of(&r).1,
        "Options does not match: name, label, pool, pool:"
    );
    assert_eq!(
        call(sock, "dom0", "admin.vm.Create.AppVM", "adminvm", "", b""),
        b"",
        "no '=': dropped"
    );
    let r = call(
        sock,
        "dom0",
        "admin.vm.Create.Nonsense",
        "adminvm",
        "",
        b"name=x7 label=red",
    );
    assert_eq!(error_of(&r).1, "no such method: 'admin.vm.Create.Nonsense'");
    // In use (template of others), dom0, running: refused.
    let r = call(sock, "dom0", "admin.vm.Remove", "tpl-a", "", b"");
    assert_eq!(error_of(&r).0, "QubesVMInUseError");
    let r = call(sock, "dom0", "admin.vm.Remove", "dom0", "", b"");
    assert_eq!(
        error_of(&r),
        (
            "QubesVMInUseError".into(),
            "'dom0' cannot be removed".into()
        )
    );
    ok(sock, "admin.vm.Start", "fresh", "", b"");
    let r = call(sock, "dom0", "admin.vm.Remove", "fresh", "", b"");
    assert_eq!(error_of(&r).0, "QubesVMNotHaltedError");
    ok(sock, "admin.vm.Shutdown", "fresh", "", b"");
    ok(sock, "admin.vm.Remove", "fresh", "", b"");
    let r = call(sock, "dom0", "admin.vm.List", "fresh", "", b"");
    assert_eq!(error_of(&r).0, "QubesVMNotFoundError");
}

#[test]
fn power_state_changes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    ok(sock, "admin.vm.Start", "beta", "", b"");
    assert_eq!(
        ok(sock, "admin.vm.CurrentState", "beta", "", b""),
        "mem=0 mem_static_max=0 cputime=0 power_state=Running"
    );
    ok(sock, "admin.vm.Start", "beta", "", b""); // already running: no error
    let r = call(sock, "dom0", "admin.vm.Shutdown", "beta", "now", b"");
    assert_eq!(error_of(&r).1, "Argument must match: force, wait");
    ok(sock, "admin.vm.Shutdown", "beta", "force+wait", b"");
    let r = call(sock, "dom0", "admin.vm.Shutdown", "beta", "", b"");
    assert_eq!(
        error_of(&r),
        (
            "QubesVMNotStartedError".into(),
            "Domain is powered off: 'beta'".into()
        )
    );
    assert!(ok(sock, "admin.vm.List", "beta", "", b"").contains("state=Halted"));
    ok(
        sock,
        "admin.vm.feature.Set",
        "beta",
        "prohibit-start",
        b"quarantined",
    );
    let r = call(sock, "dom0", "admin.vm.Start", "beta", "", b"");
    assert_eq!(
        error_of(&r),
        (
            "QubesException".into(),
            "Qube start is prohibited. Rationale: quarantined".into()
        )
    );
    assert!(ok(sock, "admin.vm.List", "beta", "", b"").contains("state=Halted"));
}

/// Raw bytes that must each get an empty reply and leave the server working.
#[test]
fn hostile_requests_never_crash_the_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    let mut hostile: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\0".to_vec(),
        b"\0\0\0\0".to_vec(),
        b"admin.vm.List+".to_vec(),
        b"admin.vm.List+ dom0\0".to_vec(),
        b"admin.vm.List+ dom0 name\0".to_vec(),
        b"admin.vm.List+ dom0 keyword dom0\0".to_vec(),
        b"admin.vm.List+ d\xffm0 name dom0\0".to_vec(),
        b"admin.vm.List+ dom0 name d\xc3\xa9\0".to_vec(),
        b"admin.vm.List+\xc3\xa9 dom0 name dom0\0".to_vec(),
        b"admin.vm.Li\xffst+ dom0 name dom0\0".to_vec(),
        b"admin.vm.feature.Set+x dom0 name beta\0\xff\xfe".to_vec(),
    ];
    let mut big = b"admin.vm.feature.Set+big dom0 name beta\0".to_vec();
    big.resize(70_000, b'x');
    hostile.push(big);
    for (i, request) in hostile.iter().enumerate() {
        let reply = call_raw(sock, request).expect("connect");
        assert!(
            reply.is_empty() || reply.starts_with(b"2\0"),
            "request {i}: {}",
            qcs_sim::replay::bytes_repr(&reply)
        );
    }
    // Exactly at the limit: handled (an unknown feature value is fine to set).
    let header = b"admin.vm.feature.Set+edge dom0 name beta\0";
    let mut edge = header.to_vec();
    edge.resize(65_536, b'y');
    assert_eq!(call_raw(sock, &edge).expect("connect"), b"0\0");
    // Structured garbage in every field.
    for field in [
        "",
        " ",
        "+",
        "uuid:",
        "dom0 name dom0",
        "..",
        "a/b",
        "-x",
        &"n".repeat(40),
    ] {
        for (src, dest) in [(field, "dom0"), ("dom0", field)] {
            let reply = call(sock, src, "admin.vm.List", dest, "", b"");
            assert!(
                reply.is_empty() || reply.starts_with(b"2\0"),
                "{src:?} {dest:?}"
            );
        }
    }
    // A client that connects and vanishes without sending anything.
    drop(UnixStream::connect(sock).expect("connect"));
    // A client that sends half a request and closes.
    let mut s = UnixStream::connect(sock).expect("connect");
    let _ = s.write_all(b"admin.vm.List+ do");
    let _ = s.shutdown(Shutdown::Both);
    // Still serving, and nothing was changed by any of it.
    assert!(ok(sock, "admin.vm.List", "adminvm", "", b"").starts_with("dom0 "));
    let features = ok(sock, "admin.vm.feature.List", "beta", "", b"");
    assert_eq!(features, "edge\n");
}

#[test]
fn latency_delays_each_call() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let latency = std::time::Duration::from_millis(150);
    server.set_latency(latency);
    assert_eq!(server.latency(), latency);
    // Lower bound only: the call cannot finish before the configured delay.
    let start = std::time::Instant::now();
    ok(server.socket_path(), "admin.vm.List", "beta", "", b"");
    assert!(start.elapsed() >= latency);
    server.set_latency(std::time::Duration::ZERO);
    assert_eq!(server.latency(), std::time::Duration::ZERO);
}

#[test]
fn stop_removes_the_socket_and_a_live_socket_is_not_stolen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    let second = qcs_sim::Server::start(&tmp.path().join("world"), &sock);
    assert!(second.is_err(), "a second server on a live socket");
    drop(server);
    assert!(!sock.exists());
    // A stale socket file is replaced.
    let stale = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    drop(stale);
    let server =
        qcs_sim::Server::start(&tmp.path().join("world"), &sock).expect("replaces stale socket");
    assert!(ok(server.socket_path(), "admin.vm.List", "beta", "", b"").starts_with("beta "));
}

#[test]
fn template_based_defaults_follow_the_template() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    ok(sock, "admin.vm.property.Set", "tpl-a", "vcpus", b"8");
    // beta (AppVM on tpl-a) and disp77 (via dvm-a) follow; solo does not.
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "beta", "vcpus", b""),
        "default=True type=int 8"
    );
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "disp77", "vcpus", b""),
        "default=True type=int 8"
    );
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "solo", "vcpus", b""),
        "default=True type=int 2"
    );
    assert_eq!(
        ok(sock, "admin.vm.property.GetDefault", "beta", "vcpus", b""),
        "type=int 8"
    );
    ok(sock, "admin.vm.property.Set", "beta", "vcpus", b"1");
    ok(sock, "admin.vm.property.Reset", "beta", "vcpus", b"");
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "beta", "vcpus", b""),
        "default=True type=int 8"
    );
    ok(sock, "admin.vm.property.Reset", "tpl-a", "vcpus", b"");
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "beta", "vcpus", b""),
        "default=True type=int 2"
    );
    // Global defaults: a qube without a template follows default_kernel.
    ok(
        sock,
        "admin.property.Set",
        "adminvm",
        "default_kernel",
        b"6.1-test",
    );
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "solo", "kernel", b""),
        "default=True type=str 6.1-test"
    );
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "beta", "kernel", b""),
        "default=True type=str 6.1-test"
    );
}

#[test]
fn property_setters_refuse_like_qubesd() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    let cases: [(&str, &[u8], &str, &str); 8] = [
        (
            "vcpus",
            b"0",
            "QubesPropertyValueError",
            "vcpus must be positive",
        ),
        (
            "memory",
            b"-5",
            "QubesPropertyValueError",
            "memory must be positive",
        ),
        (
            "maxmem",
            b"-1",
            "QubesPropertyValueError",
            "maxmem must be positive or zero",
        ),
        (
            "kernel",
            b"../x",
            "QubesPropertyValueError",
            "Kernel name cannot contain '/'",
        ),
        (
            "virt_mode",
            b"fast",
            "QubesPropertyValueError",
            "Invalid virtualization mode, supported values: hvm, pv, pvh",
        ),
        (
            "klass",
            b"TemplateVM",
            "QubesPropertyValueError",
            "property 'klass' on AppVM instance cannot be set",
        ),
        (
            "netvm",
            b"solo",
            "QubesValueError",
            "The solo qube does not provide network",
        ),
        (
            "label",
            b"pink",
            "QubesLabelNotFoundError",
            "Label does not exist: pink",
        ),
    ];
    let mut events = common::EventStream::connect(&server, "dom0", "beta");
    events.drain();
    for (prop, value, class, message) in cases {
        let r = call(sock, "dom0", "admin.vm.property.Set", "beta", prop, value);
        assert_eq!(
            error_of(&r),
            (class.to_owned(), message.to_owned()),
            "{prop}"
        );
    }
    assert!(events.messages().is_empty(), "refused before any event");
    ok(sock, "admin.vm.Start", "beta", "", b"");
    let r = call(
        sock,
        "dom0",
        "admin.vm.property.Set",
        "beta",
        "template",
        b"tpl-a",
    );
    assert_eq!(
        error_of(&r),
        (
            "QubesVMNotHaltedError".into(),
            "Cannot change template while qube is running".into()
        )
    );
    ok(sock, "admin.vm.Shutdown", "beta", "", b"");
    let r = call(
        sock,
        "dom0",
        "admin.vm.property.Set",
        "beta",
        "kernel",
        b"9.9",
    );
    assert_eq!(
        error_of(&r),
        (
            "QubesPropertyValueError".into(),
            "Kernel '9.9' not installed".into()
        )
    );
    let r = call(
        sock,
        "dom0",
        "admin.property.Set",
        "adminvm",
        "default_kernel",
        b"9.9",
    );
    assert_eq!(error_of(&r).1, "Kernel '9.9' not installed");
    ok(sock, "admin.vm.property.Set", "beta", "kernel", b"6.1-test");
    // Resetting a computed property is accepted and changes nothing.
    ok(sock, "admin.vm.property.Reset", "beta", "icon", b"");
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "beta", "icon", b""),
        "default=True type=str appvm-green"
    );
}

#[test]
fn labels_by_name_or_index_and_global_defaults() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path();
    assert_eq!(ok(sock, "admin.label.Get", "adminvm", "3", b""), "0xedd400");
    assert_eq!(ok(sock, "admin.label.Index", "adminvm", "yellow", b""), "3");
    ok(sock, "admin.vm.property.Set", "beta", "label", b"6");
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "beta", "label", b""),
        "default=False type=label blue"
    );
    ok(sock, "admin.vm.property.Set", "beta", "label", b"label-2");
    assert_eq!(
        ok(sock, "admin.vm.property.Get", "beta", "label", b""),
        "default=False type=label orange"
    );
    let r = call(
        sock,
        "dom0",
        "admin.vm.property.Set",
        "beta",
        "default_dispvm",
        b"solo",
    );
    assert_eq!(
        error_of(&r),
        (
            "QubesPropertyValueError".into(),
            "Cannot set invalid property to qube 'beta', default_dispvm 'solo' has template_for_dispvms set to False".into()
        )
    );
    let r = call(
        sock,
        "dom0",
        "admin.property.Set",
        "adminvm",
        "management_dispvm",
        b"beta",
    );
    assert_eq!(
        error_of(&r).1,
        "Cannot set invalid property to system, management_dispvm 'beta' has template_for_dispvms set to False"
    );
    ok(
        sock,
        "admin.vm.property.Set",
        "beta",
        "default_dispvm",
        b"dvm-a",
    );
    assert_eq!(
        ok(
            sock,
            "admin.property.GetDefault",
            "adminvm",
            "default_template",
            b""
        ),
        ""
    );
    assert_eq!(
        ok(
            sock,
            "admin.property.GetDefault",
            "adminvm",
            "default_dispvm",
            b""
        ),
        "type=vm "
    );
    assert_eq!(
        ok(
            sock,
            "admin.property.GetDefault",
            "adminvm",
            "default_qrexec_timeout",
            b""
        ),
        "type=int 60"
    );
    let all = ok(sock, "admin.property.GetAll", "adminvm", "", b"");
    assert!(
        all.contains("default_template default=False type=vm tpl-a\n"),
        "{all}"
    );
}

#[test]
fn a_world_without_uuids_lists_like_r4_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut world = small_world();
    for q in &mut world.data.vms {
        q.uuid = None;
    }
    let server = serve(world, tmp.path());
    let list = ok(server.socket_path(), "admin.vm.List", "adminvm", "", b"");
    assert!(
        list.starts_with("dom0 class=AdminVM state=Running\nalpha class=AppVM state=Halted\n"),
        "{list}"
    );
}

#[test]
fn parallel_clients_are_all_served_and_serialised() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    server.set_latency(std::time::Duration::from_millis(5));
    let sock = server.socket_path().to_owned();
    let workers: Vec<_> = (0..32)
        .map(|i| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                for j in 0..4 {
                    let reply = call(
                        &sock,
                        "dom0",
                        "admin.vm.feature.Set",
                        "beta",
                        &format!("p{i}-{j}"),
                        b"1",
                    );
                    assert_eq!(reply, b"0\0");
                    let list = call(&sock, "dom0", "admin.vm.List", "alpha", "", b"");
                    assert!(list.starts_with(b"0\0alpha class=AppVM"));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let features = ok(&sock, "admin.vm.feature.List", "beta", "", b"");
    assert_eq!(features.lines().count(), 128);
    server.stop();
    let saved = qcs_sim::World::load(&tmp.path().join("world")).expect("reload");
    assert_eq!(saved.qube("beta").expect("beta").features.len(), 128);
}

/// Owners often delete their temp directory (with the socket) before the
/// server handle is dropped: stopping must not depend on the socket file.
#[test]
fn stop_works_after_the_socket_file_is_gone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let _listener = common::EventStream::connect(&server, "dom0", "dom0");
    drop(tmp);
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(server);
        let _ = done.send(());
    });
    // A generous bound so a regression fails instead of hanging the suite.
    finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("server stopped although its socket file was deleted");
}
