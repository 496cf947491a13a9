"""The Admin API client in qubesadmin's shape, against the simulator (a real process)
on both transports."""
import os
import threading

import pytest

import qubes_config_sync as qcs


# ----- the app and its transports -----


def test_qubes_default_constructor_picks_qrexec_outside_dom0(
    qrexec_env, path_with_qrexec_client
):
    if os.path.exists("/etc/qubes-release"):
        pytest.skip("this machine looks like dom0")
    app = qcs.Qubes()
    assert "qrexec qrexec-client-vm" in repr(app)
    # It really goes through `qrexec-client-vm` from PATH.
    assert "work" in [vm.name for vm in app.domains]
    assert "dom0 admin.vm.List+" in qrexec_env.read_text()


def test_socket_and_qrexec_transports_agree(app, qrexec_app):
    assert [vm.name for vm in app.domains] == [vm.name for vm in qrexec_app.domains]
    assert qrexec_app.domains["work"].features.keys() == app.domains["work"].features.keys()
    assert "socket" in repr(app) and "qrexec" in repr(qrexec_app)


def test_qubesd_call_returns_raw_reply_data(app):
    data = app.qubesd_call("dom0", "admin.vm.List")
    assert isinstance(data, bytes)
    assert b"work class=AppVM" in data
    assert app.qubesd_call("work", "admin.vm.tag.Get", "config-managed") == b"1"


def test_max_workers_keyword(sim):
    app = qcs.Qubes.socket(str(sim.socket), max_workers=1)
    assert dict(app.domains["personal"].features.items())["service.custom-persist"] == "1"


def test_source_qube_in_header(sim):
    # A call made as another qube: the simulator applies qubesd's rules to it.
    everything = {vm.name for vm in qcs.Qubes.socket(str(sim.socket)).domains}
    as_work = {vm.name for vm in qcs.Qubes.socket(str(sim.socket), source="work").domains}
    assert as_work < everything


# ----- app.domains -----


def test_domains_iterate_contain_and_index(app):
    vms = list(app.domains)
    names = [vm.name for vm in vms]
    assert names == sorted(names, key=lambda n: (n != "dom0", n))
    assert {"dom0", "work", "personal", "vault", "untrusted", "debian-12-xfce"} <= set(names)
    assert len(app.domains) == len(vms)
    assert app.domains.keys() == names
    assert "work" in app.domains
    assert vms[names.index("work")] in app.domains
    assert "no-such-qube" not in app.domains
    assert "not a name!" not in app.domains
    assert 42 not in app.domains


def test_domains_getitem_missing_is_keyerror(app):
    # As qubesadmin's VMCollection: the name is looked up in the full list,
    # a missing one is a plain KeyError(name).
    with pytest.raises(KeyError) as info:
        app.domains["no-such-qube"]
    assert type(info.value) is KeyError
    assert info.value.args == ("no-such-qube",)
    with pytest.raises(KeyError):
        app.domains["../etc"]


def test_domains_get_and_get_blind(app):
    assert app.domains.get("no-such-qube") is None
    assert app.domains.get("no-such-qube", "x") == "x"
    assert app.domains.get("work").klass == "AppVM"
    blind = app.domains.get_blind("work")
    assert blind.name == "work"
    # Class and state of a blind handle are fetched when read.
    assert blind.klass == "AppVM"
    assert blind.power_state == "Halted"
    with pytest.raises(qcs.QubesVMNotFoundError):
        app.domains.get_blind("no-such-qube").klass


def test_vm_attributes(app):
    vm = app.domains["work"]
    assert vm.name == "work"
    assert vm.klass == "AppVM"
    assert vm.power_state == "Halted"
    assert vm.get_power_state() == "Halted"
    assert vm.is_running() is False
    assert len(vm.uuid) == 36
    assert app.domains["dom0"].klass == "AdminVM"
    assert app.domains["dom0"].power_state == "Running"
    assert app.domains["debian-12-xfce"].klass == "TemplateVM"
    state = vm.current_state()
    assert state["power_state"] == "Halted"
    assert str(vm) == "work" and repr(vm) == "<QubesVM work>"
    assert vm == "work" and vm == app.domains["work"] and vm != "vault"
    assert hash(vm) == hash("work")
    assert sorted([app.domains["work"], app.domains["vault"]])[0].name == "vault"


# ----- properties -----


def test_properties_as_attributes(app):
    vm = app.domains["work"]
    template = vm.template
    assert isinstance(template, qcs.QubesVM) and template == "debian-12-xfce"
    assert template.klass == "TemplateVM"
    label = vm.label
    assert isinstance(label, qcs.Label) and label == "blue"
    assert label.color.startswith("0x")
    assert vm.netvm is None  # an empty vm-typed value
    assert isinstance(vm.memory, int)
    assert isinstance(vm.include_in_backups, bool)
    assert isinstance(vm.kernelopts, str)
    assert app.default_template == "debian-12-xfce"
    assert app.default_dispvm == "default-dvm"


def test_property_objects(app):
    vm = app.domains["work"]
    p = vm.property("label")
    assert (p.is_default, p.type, p.value) == (False, "label", "blue")
    assert repr(p).startswith("Property(")
    props = vm.properties()
    assert props["label"] == p
    assert props["template"].value == "debian-12-xfce"
    assert vm.property_is_default("label") is False
    assert app.property("default_template").type == "vm"
    assert app.properties()["default_template"].value == "debian-12-xfce"


def test_property_default(app):
    vm = app.domains["work"]
    default = vm.property_get_default("memory")
    assert isinstance(default, int)


def test_missing_property_is_attribute_error(app):
    vm = app.domains["work"]
    with pytest.raises(AttributeError) as info:
        vm.no_such_property
    assert isinstance(info.value, qcs.QubesNoSuchPropertyError)
    assert info.value.qubesd_class == "QubesNoSuchPropertyError"
    assert not hasattr(vm, "no_such_property")
    assert not hasattr(vm, "_private")
    with pytest.raises(qcs.QubesNoSuchPropertyError):
        vm.property("no_such_property")
    with pytest.raises(AttributeError):
        app.no_such_global


# ----- features -----


def test_features_mapping(app):
    vm = app.domains["personal"]
    f = vm.features
    assert f["service.custom-persist"] == "1"
    assert "service.custom-persist" in f
    assert "nope" not in f
    assert "bad name!" not in f
    assert 1 not in f
    assert f.get("nope") is None
    assert f.get("nope", "d") == "d"
    assert f.get("custom-persist.home") == "/home/user"
    assert set(f) == set(f.keys()) == {"service.custom-persist", "custom-persist.home"}
    assert len(f) == 2
    assert dict(f.items()) == {"service.custom-persist": "1", "custom-persist.home": "/home/user"}
    assert sorted(f.values()) == ["/home/user", "1"]


def test_features_missing_is_keyerror(app):
    f = app.domains["work"].features
    with pytest.raises(KeyError) as info:
        f["nope"]
    assert isinstance(info.value, qcs.QubesFeatureNotFoundError)
    assert str(info.value) == "Feature not set for domain work: nope"
    with pytest.raises(qcs.QubesFeatureNotFoundError):
        del f["nope"]


def test_features_set_and_delete(app):
    f = app.domains["work"].features
    f["qcs-test"] = "value"
    f["qcs-true"] = True
    f["qcs-false"] = False
    f["qcs-int"] = 7
    assert f["qcs-test"] == "value"
    assert f["qcs-true"] == "1"
    assert f["qcs-false"] == ""
    assert f["qcs-int"] == "7"
    del f["qcs-test"]
    assert "qcs-test" not in f
    # Really stored: a second app sees it.
    assert "qcs-true" in app.domains["work"].features


def test_features_are_checked_by_qubesd_not_by_the_client(app):
    f = app.domains["work"].features
    # A name no qrexec argument can carry cannot be sent at all.
    with pytest.raises(qcs.QubesValueError):
        f["bad name"] = "x"
    # Everything else goes to qubesd, whose answer is raised as qubesadmin does.
    with pytest.raises(qcs.ProtocolError) as info:
        f["ok"] = "line\nbreak"
    assert isinstance(info.value, AssertionError)
    assert str(info.value) == "ok value contains illegal characters"
    assert "ok" not in f
    with pytest.raises(qcs.QubesValueError) as info:
        f["custom-persist.x"] = "file:user:user:0644:relative"
    assert str(info.value) == "invalid value format: 'file:user:user:0644:relative'"
    # qubesd checks custom-persist values after storing them: it stays set.
    assert f["custom-persist.x"] == "file:user:user:0644:relative"
    del f["custom-persist.x"]


def test_features_check_with_template(app):
    work = app.domains["work"]
    # `os` is set on the template only.
    assert "os" not in work.features
    assert work.features.check_with_template("os") == "Linux"
    assert work.features.check_with_template("nope") is None
    assert work.features.check_with_template("nope", "dflt") == "dflt"


# ----- tags -----


def test_tags_set(app):
    tags = app.domains["work"].tags
    assert "config-managed" in tags
    assert "nope" not in tags
    assert None not in tags
    # qubesd refuses a name a tag cannot have (qubesadmin raises its answer).
    with pytest.raises(qcs.QubesException) as info:
        "bad.tag" in tags
    assert info.value.qubesd_class == "QubesInvalidTagError"
    before = set(tags)
    tags.add("qcs-test")
    tags.add("qcs-test")  # adding a present tag is no error
    assert set(tags) == before | {"qcs-test"}
    assert len(tags) == len(before) + 1
    tags.remove("qcs-test")
    assert "qcs-test" not in tags
    with pytest.raises(KeyError) as info:
        tags.remove("qcs-test")
    assert isinstance(info.value, qcs.QubesTagNotFoundError)
    tags.discard("qcs-test")  # no error
    with pytest.raises(qcs.QubesValueError):
        tags.add("bad tag!")


# ----- labels -----


def test_labels(app):
    labels = list(app.labels)
    names = [label.name for label in labels]
    assert "red" in names and "black" in names
    assert app.labels.keys() == names
    assert len(app.labels) == len(names)
    assert "red" in app.labels and labels[0] in app.labels and "nope" not in app.labels
    red = app.labels["red"]
    assert red.name == "red" and str(red) == "red" and red == "red"
    assert red.color == "0xcc0000"
    assert red.index == 1
    assert red.icon == "appvm-red"
    with pytest.raises(KeyError) as info:
        app.labels["nope"]
    assert isinstance(info.value, qcs.QubesLabelNotFoundError)


# ----- persistence through the Admin API -----


def test_vm_persistence(app):
    assert app.domains["work"].persistence(".gitconfig").reason == "home-is-private"
    personal = app.domains["personal"].persistence(".gitconfig")
    assert personal.persistent and personal.reason == "covered-by"
    assert personal.covered_by == "custom-persist.home"
    work = app.domains["work"]
    work.features["service.custom-persist"] = "1"
    lost = work.persistence(".config/git/ignore", mode=0o600)
    assert lost.verdict == "lost-at-restart" and not lost.persistent
    assert lost.fix.value == "file:user:user:0600:/home/user/.config/git/ignore"
    # Applying the fix through the Admin API makes the path persist.
    work.features[lost.fix.feature] = lost.fix.value
    assert work.persistence(".config/git/ignore").persistent
    assert work.persistence(".bashrc", release="4.2").verdict == "not-supported"
    assert app.domains["debian-12-xfce"].persistence(".x").reason == "fully-persistent-class"


# ----- errors at the boundary -----


def test_no_qubesd_is_communication_error(tmp_path):
    app = qcs.Qubes.socket(str(tmp_path / "missing.sock"))
    with pytest.raises(qcs.QubesDaemonCommunicationError) as info:
        list(app.domains)
    assert str(info.value).startswith("Failed to connect to qubesd service: ")
    app = qcs.Qubes.qrexec(str(tmp_path / "no-such-program"))
    with pytest.raises(qcs.QubesDaemonCommunicationError):
        list(app.domains)


def test_policy_refusal_is_access_error(qrexec_app, monkeypatch):
    monkeypatch.setenv("QCS_TEST_DENY", "admin.vm.List,admin.vm.property.Get,admin.vm.feature.Set")
    with pytest.raises(qcs.QubesDaemonAccessError) as info:
        list(qrexec_app.domains)
    assert isinstance(info.value, qcs.QubesDaemonCommunicationError)
    assert qcs.QubesDaemonNoResponseError is qcs.QubesDaemonAccessError
    vm = qrexec_app.domains.get_blind("work")
    with pytest.raises(qcs.QubesPropertyAccessError) as info:
        vm.label
    assert isinstance(info.value, AttributeError)
    assert str(info.value) == "Failed to access 'label' property"
    with pytest.raises(qcs.QubesDaemonAccessError) as info:
        vm.features["x"] = "1"
    assert str(info.value) == "Service call error: Request refused"


def test_properties_fall_back_when_getall_is_denied(qrexec_app, monkeypatch):
    monkeypatch.setenv("QCS_TEST_DENY", "admin.vm.property.GetAll")
    props = qrexec_app.domains["work"].properties()
    assert props["label"].value == "blue"


@pytest.mark.parametrize(
    "reply",
    [
        b"",  # empty reply = denied
        b"garbage",
        b"0\0work class=AppVM\n",  # no state
        b"0\0../etc class=AppVM state=Running\n",  # not a qube name
        b"0\0work class=AppVM state=Running\xff\n",  # not UTF-8
        b"2\0QubesVMNotFoundError\0\0No such domain\0",
        b"2\0QubesException\0",  # truncated exception
        b"1\0work\0domain-start\0",  # an event where a reply was expected
        b"0\0" + b"x" * (9 * 1024 * 1024),  # over the reply size cap
    ],
    ids=["empty", "garbage", "no-state", "bad-name", "not-utf8", "exception", "truncated",
         "event", "oversized"],
)
def test_hostile_replies_raise_never_crash(qrexec_app, monkeypatch, tmp_path, reply):
    reply_file = tmp_path / "reply"
    reply_file.write_bytes(reply)
    monkeypatch.setenv("QCS_TEST_REPLY_FILE", str(reply_file))
    with pytest.raises(qcs.QubesException):
        list(qrexec_app.domains)


def test_hostile_feature_value_is_returned_verbatim(qrexec_app, monkeypatch, tmp_path):
    # A value with bidi and escape characters is data: returned as is, never interpreted.
    reply_file = tmp_path / "reply"
    reply_file.write_bytes("0\0a\u202eb\x1b[31m".encode())
    monkeypatch.setenv("QCS_TEST_REPLY_FILE", str(reply_file))
    value = qrexec_app.domains.get_blind("work").features["x"]
    assert value == "a\u202eb\x1b[31m"
    assert "\u202e" not in qcs.render_safe(value) and "\x1b" not in qcs.render_safe(value)


def test_calls_release_the_gil(app):
    # Several threads calling at once all finish with the right results.
    results = {}

    def worker(name):
        results[name] = app.domains[name].klass

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("work", "vault", "dom0")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"work": "AppVM", "vault": "AppVM", "dom0": "AdminVM"}


def test_exception_hierarchy_matches_qubesadmin():
    assert issubclass(qcs.QubesVMNotFoundError, KeyError)
    assert issubclass(qcs.QubesFeatureNotFoundError, (qcs.QubesException, KeyError))
    assert issubclass(qcs.QubesTagNotFoundError, KeyError)
    assert issubclass(qcs.QubesLabelNotFoundError, KeyError)
    assert issubclass(qcs.QubesValueError, ValueError)
    assert issubclass(qcs.QubesPropertyValueError, qcs.QubesValueError)
    assert issubclass(qcs.QubesNoSuchPropertyError, AttributeError)
    assert issubclass(qcs.QubesVMNotRunningError, qcs.QubesVMNotStartedError)
    assert issubclass(qcs.QubesVMNotStartedError, qcs.QubesVMError)
    assert issubclass(qcs.QubesNotImplementedError, NotImplementedError)
    assert issubclass(qcs.QubesMemoryError, MemoryError)
    assert issubclass(qcs.QubesDaemonAccessError, qcs.QubesDaemonCommunicationError)
    assert issubclass(qcs.QubesPropertyAccessError, (qcs.QubesDaemonAccessError, AttributeError))
    assert issubclass(qcs.ConfigSyncNotFoundError, (qcs.ConfigSyncError, KeyError))
    for name in ("QubesException", "QubesVMNotFoundError", "ConfigSyncError"):
        cls = getattr(qcs, name)
        assert cls.__module__ == "qubes_config_sync" and cls.__doc__
    assert str(qcs.QubesFeatureNotFoundError("plain message")) == "plain message"
    assert qcs.QubesException("x").qubesd_class is None
    assert qcs.ConfigSyncError("x").dbus_error is None
