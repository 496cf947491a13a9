//! The backend's live view of the qubes against the simulated qubesd: the fewest
//! Admin API calls for a complete view, `GetAll` refused falls back to `Get`, and
//! events keep the view current by refetching only what changed (states, added and
//! removed qubes, one qube's label or custom-persist features).

use std::sync::Arc;
use std::time::{Duration, Instant};

use qcs_daemon::backend::{Backend, BackendConfig};
use qcs_protocol::literal::{pid, rp, vm};
use qcs_sim::world::{QubeSpec, World};
use qcs_sim::{Server, ServerHandle};
use qubesadmin::transport::{StreamConnection, Transport};
use qubesadmin::{CountingTransport, DenyReason, Error, Qubes, SocketTransport};

fn world() -> World {
    World::builder()
        .qube(QubeSpec::template_vm("fedora").label("black"))
        .qube(
            QubeSpec::app("work", "fedora")
                .label("blue")
                .feature("service.custom-persist", "1")
                .feature(
                    "custom-persist.git",
                    "file:user:user:0644:/home/user/.gitconfig",
                )
                .feature("menu-items", "x.desktop"),
        )
        .qube(QubeSpec::app("personal", "fedora").label("green"))
        .qube(
            QubeSpec::standalone("solo")
                .label("red")
                .feature("gui", "1"),
        )
        .build()
        .expect("world")
}

struct Setup {
    _dir: tempfile::TempDir,
    server: ServerHandle,
    backend: Arc<Backend>,
}

fn start<T: Transport + 'static>(
    wrap: impl FnOnce(SocketTransport) -> T,
) -> (Setup, Arc<CountingTransport<T>>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let world_dir = dir.path().join("world");
    world().create_dir(&world_dir).expect("world dir");
    let socket = dir.path().join("qubesd.sock");
    let server = Server::start(&world_dir, &socket).expect("sim");
    let store = dir.path().join("store.sqlite");
    {
        let mut s = qcs_core::store::Store::open(&store).expect("store");
        s.create_profile(&pid("git"), "t").expect("profile");
        s.put_file(&pid("git"), &rp(".gitconfig"), b"[user]\n", 0o644)
            .expect("file");
        s.put_file(&pid("git"), &rp(".vimrc"), b"set nu\n", 0o644)
            .expect("file");
        for q in ["work", "personal", "solo"] {
            s.assign(&vm(q), &pid("git")).expect("assign");
        }
    }
    let counting = Arc::new(CountingTransport::new(wrap(SocketTransport::new(&socket))));
    let admin = Qubes::from_arc(Arc::clone(&counting) as Arc<dyn Transport>);
    let config = BackendConfig {
        store_path: store,
        spool_dir: None,
        qrexec_program: dir.path().join("no-qrexec"),
        max_parallel: 4,
        config_qube: "sys-config".to_owned(),
        call_timeout: Duration::from_secs(30),
    };
    let backend = Arc::new(Backend::open(config, admin).expect("backend"));
    (
        Setup {
            _dir: dir,
            server,
            backend,
        },
        counting,
    )
}

fn verdicts(backend: &Backend, qube: &str) -> Vec<(String, String)> {
    let list = backend.list_qubes(Some(&vm(qube))).expect("list");
    list.qubes[0]
        .persistence
        .iter()
        .map(|p| (p.path.clone(), p.verdict.as_str().to_owned()))
        .collect()
}

/// Wait (bounded) until `check` holds; the events arrive on another thread.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn complete_view_with_the_fewest_calls() {
    let (setup, counting) = start(|t| t);
    let list = setup.backend.list_qubes(None).expect("list");
    // 1 List + per qube GetAll, tag.List and (AppVMs only) feature.List + the 2
    // custom-persist Gets of work: 1 + 4 + 4 + 2 + 2.
    assert_eq!(counting.calls(), 13);
    let work = list.qubes.iter().find(|q| q.name == "work").expect("work");
    assert_eq!(
        (work.class.as_str(), work.label.as_str()),
        ("AppVM", "blue")
    );
    assert_eq!(work.template.as_deref(), Some("fedora"));
    assert_eq!(
        verdicts(&setup.backend, "work"),
        [
            (".gitconfig".to_owned(), "persistent".to_owned()),
            (".vimrc".to_owned(), "lost-at-restart".to_owned())
        ]
    );
    assert_eq!(verdicts(&setup.backend, "solo")[0].1, "persistent");
    let solo = list.qubes.iter().find(|q| q.name == "solo").expect("solo");
    assert_eq!(
        (solo.label.as_str(), solo.template.as_deref()),
        ("red", None)
    );
    // Cached: no more calls without events.
    setup.backend.list_qubes(None).expect("list");
    assert_eq!(counting.calls(), 13);
}

/// qrexec refusing `admin.vm.property.GetAll`, as the shipped policy does.
struct RefuseGetAll(SocketTransport);

impl Transport for RefuseGetAll {
    fn call_raw(
        &self,
        dest: &str,
        method: &str,
        arg: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, Error> {
        if method == "admin.vm.property.GetAll" {
            return Err(Error::AccessDenied(DenyReason::QrexecPolicy(
                "Request refused".into(),
            )));
        }
        self.0.call_raw(dest, method, arg, payload)
    }

    fn open_stream(&self, dest: &str, method: &str, arg: &str) -> Result<StreamConnection, Error> {
        self.0.open_stream(dest, method, arg)
    }
}

#[test]
fn refused_get_all_falls_back_to_get() {
    let (setup, _) = start(RefuseGetAll);
    let list = setup.backend.list_qubes(None).expect("list");
    assert!(list.admin_error.is_none());
    let work = list.qubes.iter().find(|q| q.name == "work").expect("work");
    assert_eq!(
        (work.label.as_str(), work.template.as_deref()),
        ("blue", Some("fedora"))
    );
    let tpl = list
        .qubes
        .iter()
        .find(|q| q.name == "fedora")
        .expect("fedora");
    assert_eq!(
        (tpl.label.as_str(), tpl.template.as_deref()),
        ("black", None)
    );
}

#[test]
fn events_refetch_only_what_changed() {
    let (setup, counting) = start(|t| t);
    let _events = setup.backend.watch_events();
    // The start-up fetch runs in the background; the first request waits for it.
    setup.backend.list_qubes(None).expect("list");
    let other = Qubes::new(SocketTransport::new(setup.server.socket_path()));

    // A custom-persist feature of one qube: that qube's details again.
    let before = counting.calls();
    other
        .vm_blind("work")
        .features()
        .set(
            "custom-persist.vim",
            "file:user:user:0644:/home/user/.vimrc",
        )
        .expect("set");
    eventually("work's .vimrc persists", || {
        verdicts(&setup.backend, "work")[1].1 == "persistent"
    });
    let spent = counting.calls() - before;
    // List + GetAll + tag.List + feature.List + 3 Gets (possibly twice if the poll
    // raced the set's two events): never the whole world again.
    assert!(spent <= 14, "{spent} calls");

    // A label: the qube's details again.
    other
        .qubesd_call("personal", "admin.vm.property.Set", "label", b"red")
        .expect("label");
    eventually("personal is red", || {
        setup
            .backend
            .list_qubes(Some(&vm("personal")))
            .expect("list")
            .qubes[0]
            .label
            == "red"
    });

    // A tag (assignment rules by tag): that qube's details again, the tag seen.
    let before = counting.calls();
    other
        .qubesd_call("personal", "admin.vm.tag.Set", "dev", b"")
        .expect("tag");
    let tagged = |backend: &Backend| {
        backend.live_view().expect("view").qubes.iter().any(|q| {
            q.name == "personal"
                && q.tags
                    .as_ref()
                    .is_some_and(|t| t.iter().any(|t| t == "dev"))
        })
    };
    eventually("personal's new tag is seen", || tagged(&setup.backend));
    // GetAll + tag.List + feature.List of personal (twice at most, if the poll raced).
    assert!(
        counting.calls() - before <= 6,
        "{} calls",
        counting.calls() - before
    );
    other
        .qubesd_call("personal", "admin.vm.tag.Remove", "dev", b"")
        .expect("untag");
    eventually("personal's tag is gone", || !tagged(&setup.backend));

    // A power state: the list only.
    let before = counting.calls();
    other
        .qubesd_call("solo", "admin.vm.Start", "", b"")
        .expect("start");
    eventually("solo runs", || {
        setup
            .backend
            .list_qubes(Some(&vm("solo")))
            .expect("list")
            .qubes[0]
            .power_state
            == "Running"
    });
    assert!(
        counting.calls() - before <= 3,
        "{} calls",
        counting.calls() - before
    );

    // A qube added and one removed.
    other
        .qubesd_call(
            "dom0",
            "admin.vm.Create.AppVM",
            "fedora",
            b"name=newbie label=orange",
        )
        .expect("create");
    eventually("newbie listed", || {
        setup
            .backend
            .list_qubes(None)
            .expect("list")
            .qubes
            .iter()
            .any(|q| q.name == "newbie" && q.label == "orange")
    });
    other
        .qubesd_call("newbie", "admin.vm.Remove", "", b"")
        .expect("remove");
    eventually("newbie gone", || {
        !setup
            .backend
            .list_qubes(None)
            .expect("list")
            .qubes
            .iter()
            .any(|q| q.name == "newbie")
    });
}

#[test]
fn a_value_qubesd_refuses_but_keeps_is_refetched() {
    // qubesd stores an invalid custom-persist value and refuses the call: no
    // domain-feature-set event, only the pre-set. That is enough to refetch.
    let (setup, counting) = start(|t| t);
    let _events = setup.backend.watch_events();
    setup.backend.list_qubes(None).expect("list");
    let other = Qubes::new(SocketTransport::new(setup.server.socket_path()));
    let r = other.qubesd_call(
        "work",
        "admin.vm.feature.Set",
        "custom-persist.bad",
        b"relative",
    );
    assert!(r.is_err(), "qubesd refuses the value");
    // List + work's GetAll + feature.List + its custom-persist Gets.
    eventually("work's details are fetched again", || {
        let before = counting.calls();
        setup.backend.list_qubes(Some(&vm("work"))).expect("list");
        counting.calls() - before >= 4
    });
    // And a feature that does not matter to persistence refetches nothing.
    other
        .qubesd_call("work", "admin.vm.feature.Set", "menu-items", b"y.desktop")
        .expect("set");
    std::thread::sleep(Duration::from_millis(300));
    let before = counting.calls();
    setup.backend.list_qubes(Some(&vm("work"))).expect("list");
    assert_eq!(counting.calls() - before, 0);
}
