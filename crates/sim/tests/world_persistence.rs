//! World directories: load/save round trips, persistence of API changes,
//! derived defaults, the builder.

mod common;

use common::{call, error_of, ok, serve, small_world};
use qcs_sim::world::{QubeSpec, World};

fn golden_world() -> World {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/world.json");
    World::from_json_file(&path)
        .unwrap_or_else(|e| panic!("golden world at {}: {e}", path.display()))
}

#[test]
fn golden_world_round_trips_through_a_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let original = golden_world();
    let dir = tmp.path().join("w");
    let created = original.clone().create_dir(&dir).expect("create");
    let loaded = World::load(&dir).expect("load");
    assert_eq!(loaded.data, created.data);
    // Nothing of the golden data is lost (defaults are an addition).
    for (a, b) in original.data.vms.iter().zip(&loaded.data.vms) {
        assert_eq!(a.features, b.features);
        assert_eq!(
            a.features.keys().collect::<Vec<_>>(),
            b.features.keys().collect::<Vec<_>>(),
            "feature order of {}",
            a.name
        );
        assert_eq!(a.properties_all, b.properties_all);
        assert_eq!(a.tags, b.tags);
    }
    // The policy directory was seeded from qubesd_policy.
    for (file, text) in &original.data.qubesd_policy {
        assert_eq!(
            &std::fs::read_to_string(dir.join("policy").join(file)).expect("policy"),
            text
        );
    }
}

#[test]
fn api_changes_persist_across_restarts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    ok(&sock, "admin.vm.feature.Set", "beta", "zeta", b"1");
    ok(&sock, "admin.vm.feature.Set", "beta", "alpha-first", b"2");
    ok(&sock, "admin.vm.feature.Set", "beta", "zeta", b"3"); // overwrite keeps position
    ok(&sock, "admin.vm.tag.Set", "beta", "new-tag", b"");
    ok(&sock, "admin.vm.property.Set", "beta", "vcpus", b"6");
    ok(&sock, "admin.vm.property.Set", "beta", "label", b"yellow");
    ok(&sock, "admin.vm.property.Reset", "alpha", "memory", b"");
    ok(
        &sock,
        "admin.vm.Create.AppVM",
        "adminvm",
        "tpl-a",
        b"name=gamma label=orange",
    );
    ok(&sock, "admin.vm.Remove", "solo", "", b"");
    // The invalid custom-persist value that qubesd keeps is persisted too.
    let reply = call(
        &sock,
        "dom0",
        "admin.vm.feature.Set",
        "beta",
        "custom-persist.bad",
        b"rel/path",
    );
    assert_eq!(error_of(&reply).0, "QubesValueError");
    server.stop();

    let world = World::load(&tmp.path().join("world")).expect("reload");
    let beta = world.qube("beta").expect("beta");
    assert_eq!(
        beta.features
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        [
            ("zeta", "3"),
            ("alpha-first", "2"),
            ("custom-persist.bad", "rel/path")
        ]
    );
    assert!(beta.tags.contains(&"new-tag".to_owned()));
    assert_eq!(beta.properties_all["vcpus"].value, "6");
    assert!(!beta.properties_all["vcpus"].default);
    assert_eq!(beta.label, "yellow");
    assert_eq!(beta.properties_all["icon"].value, "appvm-yellow");
    let alpha = world.qube("alpha").expect("alpha");
    assert_eq!(alpha.properties_all["memory"].value, "400");
    assert!(alpha.properties_all["memory"].default);
    assert!(world.qube("gamma").is_some());
    assert!(world.qube("solo").is_none());

    // And a server on the reloaded directory serves the same state.
    let server = qcs_sim::Server::start(&tmp.path().join("world"), &tmp.path().join("again.sock"))
        .expect("start");
    let body = ok(
        server.socket_path(),
        "admin.vm.feature.List",
        "beta",
        "",
        b"",
    );
    assert_eq!(body, "zeta\nalpha-first\ncustom-persist.bad\n");
    let body = ok(
        server.socket_path(),
        "admin.vm.property.Get",
        "gamma",
        "template",
        b"",
    );
    assert_eq!(body, "default=False type=vm tpl-a");
}

#[test]
fn reset_returns_to_the_default_even_after_a_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // alpha's memory is explicit from the start: its default comes from the class.
    let server = serve(small_world(), tmp.path());
    let sock = server.socket_path().to_owned();
    assert_eq!(
        ok(
            &sock,
            "admin.vm.property.GetDefault",
            "alpha",
            "memory",
            b""
        ),
        "type=int 400"
    );
    ok(
        &sock,
        "admin.vm.property.Set",
        "beta",
        "kernelopts",
        b"nopat",
    );
    server.stop();
    let server = qcs_sim::Server::start(&tmp.path().join("world"), &tmp.path().join("s2.sock"))
        .expect("start");
    let sock = server.socket_path().to_owned();
    ok(&sock, "admin.vm.property.Reset", "beta", "kernelopts", b"");
    assert_eq!(
        ok(&sock, "admin.vm.property.Get", "beta", "kernelopts", b""),
        "default=True type=str swiotlb=2048"
    );
}

#[test]
fn save_is_atomic_and_leaves_no_temp_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = serve(small_world(), tmp.path());
    for i in 0..20 {
        ok(
            server.socket_path(),
            "admin.vm.feature.Set",
            "beta",
            &format!("f{i}"),
            b"x",
        );
    }
    server.stop();
    let names: Vec<String> = std::fs::read_dir(tmp.path().join("world"))
        .expect("readdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    let world = World::load(&tmp.path().join("world")).expect("valid JSON after many saves");
    assert_eq!(world.qube("beta").expect("beta").features.len(), 20);
}

#[test]
fn broken_world_files_are_refused_with_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    assert!(World::load(dir).is_err(), "no world.json");
    std::fs::write(dir.join("world.json"), "{not json").expect("write");
    let e = World::load(dir).expect_err("garbage");
    assert!(e.to_string().contains("world.json"), "{e}");
    // Valid JSON, inconsistent content: a template that does not exist, a bad tag, no dom0.
    let mut data = small_world().data;
    data.vms[2].template = Some("nope".into());
    let e = World::from_data(data).expect_err("dangling template");
    assert!(e.to_string().contains("nope"), "{e}");
    let mut data = small_world().data;
    data.vms[1].tags.push("bad tag".into());
    assert!(World::from_data(data).is_err());
    let mut data = small_world().data;
    data.vms.retain(|q| q.class != "AdminVM");
    assert!(World::from_data(data).is_err());
    let mut data = small_world().data;
    data.vms[1].name = "../escape".into();
    assert!(
        World::from_data(data).is_err(),
        "a qube name that is a path"
    );
}

#[test]
fn per_qube_directories_are_created_on_demand() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let world = small_world()
        .create_dir(&tmp.path().join("w"))
        .expect("create");
    let home = world.qube_home("alpha").expect("home");
    let rpc = world.qube_rpc_dir("alpha").expect("rpc");
    assert!(home.is_dir() && home.ends_with("qubes/alpha/home"));
    assert!(rpc.is_dir() && rpc.ends_with("qubes/alpha/rpc"));
    assert!(world.qube_home("no-such-qube").is_err());
    assert!(
        small_world().qube_home("alpha").is_err(),
        "no directory, no home"
    );
}

#[test]
fn builder_makes_qubes_like_qubesd() {
    let world = World::builder()
        .qube(QubeSpec::template_vm("t1").label("gray"))
        .qube(
            QubeSpec::app("a1", "t1")
                .label("green")
                .feature("k", "v")
                .tag("x")
                .running(),
        )
        .qube(QubeSpec::dvm_template("d1", "t1"))
        .qube(QubeSpec::disposable("disp1", "d1"))
        .qube(QubeSpec::standalone("s1").property("vcpus", "4"))
        .global_property("default_dispvm", "d1")
        .build()
        .expect("build");
    assert_eq!(
        world.sorted_names(),
        ["dom0", "a1", "d1", "disp1", "s1", "t1"]
    );
    let a1 = world.qube("a1").expect("a1");
    assert_eq!(a1.power_state, "Running");
    assert_eq!(
        a1.tags,
        ["audiovm-dom0", "created-by-dom0", "guivm-dom0", "x"]
    );
    assert_eq!(a1.properties_all["template"].value, "t1");
    assert_eq!(a1.properties_all["default_dispvm"].value, "d1");
    assert_eq!(a1.properties_all["icon"].value, "appvm-green");
    assert_eq!(
        world.qube("d1").expect("d1").properties_all["icon"].value,
        "templatevm-red"
    );
    let s1 = world.qube("s1").expect("s1");
    assert_eq!(s1.properties_all["vcpus"].value, "4");
    assert_eq!(s1.property_defaults["vcpus"].as_deref(), Some("2"));
    assert!(!s1.properties_all.contains_key("template"));
    let uuids: std::collections::BTreeSet<_> =
        world.data.vms.iter().map(|q| q.uuid.clone()).collect();
    assert_eq!(uuids.len(), world.data.vms.len(), "unique uuids");
    // Mistakes are refused.
    assert!(
        World::builder()
            .qube(QubeSpec::app("a", "missing"))
            .build()
            .is_err()
    );
    assert!(
        World::builder()
            .qube(QubeSpec::standalone("a").label("pink"))
            .build()
            .is_err()
    );
    assert!(
        World::builder()
            .qube(QubeSpec::standalone("a").property("nonsense", "1"))
            .build()
            .is_err()
    );
    assert!(
        World::builder()
            .qube(QubeSpec::standalone("a"))
            .qube(QubeSpec::standalone("a"))
            .build()
            .is_err()
    );
}

#[test]
fn loading_a_recorded_world_changes_none_of_its_values() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/world.json");
    let raw: qcs_sim::world::WorldData =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("parse");
    let loaded = golden_world();
    for (a, b) in raw.vms.iter().zip(&loaded.data.vms) {
        assert_eq!(
            a.properties_all, b.properties_all,
            "{}: inherited defaults are consistent",
            a.name
        );
    }
}
