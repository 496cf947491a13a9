"""Where the module claims qubesadmin's shape, it behaves as qubesadmin does. Each test
names the qubesadmin test (qubes-core-admin-client, qubesadmin/tests/...) it mirrors:
there a mocked qubesd answers with fixed bytes; here the fake qrexec-client-vm returns
those bytes (QCS_TEST_REPLY_FILE), or the simulator answers as qubesd does."""
import pytest

import qubes_config_sync as qcs


@pytest.fixture
def reply(qrexec_app, monkeypatch, tmp_path):
    """`reply(b"...")`: every call of `qrexec_app` gets these bytes from "qubesd"."""

    def set_reply(data: bytes):
        path = tmp_path / "reply"
        path.write_bytes(data)
        monkeypatch.setenv("QCS_TEST_REPLY_FILE", str(path))
        return qrexec_app

    return set_reply


# ----- errors.py: TC_00_Errors -----


def test_000_exception(reply):
    app = reply(b"2\x00QubesException\x00\x00An error occurred\x00")
    with pytest.raises(qcs.QubesException) as info:
        list(app.domains)
    assert str(info.value) == "An error occurred"


def test_001_exception_with_fields(reply):
    app = reply(b"2\x00QubesException\x00\x00An error occurred: %s, %s\x00string\x00other\x00")
    with pytest.raises(qcs.QubesException) as info:
        list(app.domains)
    assert str(info.value) == "An error occurred: string, other"


def test_002_exception_with_numbers(reply):
    app = reply(b"2\x00QubesException\x00\x00An error occurred: %d, %d\x001\x002\x00")
    with pytest.raises(qcs.QubesException) as info:
        list(app.domains)
    assert str(info.value) == "An error occurred: 1, 2"


def test_010_empty(reply):
    app = reply(b"")
    with pytest.raises(qcs.QubesDaemonNoResponseError) as info:
        list(app.domains)
    assert str(info.value) == "Got empty response from qubesd. See journalctl in dom0 for details."


def test_exception_class_is_chosen_by_name_like_parse_qubesd_response(reply):
    # A class of qubesadmin.exc by its name (also those outside QubesException) ...
    cases = [
        (b"QubesVMInvalidUUIDError", qcs.QubesVMInvalidUUIDError),
        (b"QubesVMNotPausedError", qcs.QubesVMNotPausedError),
        (b"QubesPoolInUseError", qcs.QubesPoolInUseError),
        (b"ProtocolError", qcs.ProtocolError),
        (b"PermissionDenied", qcs.PermissionDenied),
        # ... a built-in exception when the name ends in "Error" ...
        (b"ValueError", ValueError),
        # ... else the base class.
        (b"QubesInvalidTagError", qcs.QubesException),
        (b"SomethingNew", qcs.QubesException),
    ]
    for name, cls in cases:
        app = reply(b"2\x00" + name + b"\x00\x00message text\x00")
        with pytest.raises(Exception) as info:
            list(app.domains)
        assert type(info.value) is cls, name
        assert str(info.value) == "message text"
    assert not issubclass(qcs.PermissionDenied, qcs.QubesException)
    assert issubclass(qcs.ProtocolError, AssertionError)
    assert issubclass(qcs.QubesMemoryError, (qcs.QubesVMError, MemoryError))


def test_message_with_percent_is_formatted_as_qubesadmin_does(reply):
    # QubesException formats the message with its fields, also with none.
    app = reply(b"2\x00QubesValueError\x00\x00invalid value format: '100%%'\x00")
    with pytest.raises(qcs.QubesValueError) as info:
        list(app.domains)
    assert str(info.value) == "invalid value format: '100%'"
    # A stray '%' makes qubesadmin's own formatting fail (Python's error for
    # `message % ()`); so it does here.
    app = reply(b"2\x00QubesValueError\x00\x00invalid value format: '100%'\x00")
    with pytest.raises(TypeError) as info:
        list(app.domains)
    assert str(info.value) == "not enough arguments for format string"


def test_hostile_exception_replies_stay_harmless(reply):
    # A class name may not pick anything but a qubesadmin.exc class or a built-in
    # `...Error`: not this project's own classes, not other built-ins, not attributes.
    for name in (b"SystemExit", b"KeyboardInterrupt", b"os.system", b"__class__",
                 b"ConfigSyncError", b"ConfigSyncRefusedError"):
        app = reply(b"2\x00" + name + b"\x00\x00boom\x00")
        with pytest.raises(qcs.QubesException) as info:
            list(app.domains)
        assert type(info.value) is qcs.QubesException, name
    # A conversion asking for a huge field is refused before Python formats it.
    for message in (b"%2000000000s", b"%.99999d", b"%*s", b"%-0100000x"):
        app = reply(b"2\x00QubesException\x00\x00" + message + b"\x00x\x00")
        with pytest.raises(qcs.QubesDaemonCommunicationError) as info:
            list(app.domains)
        assert "malformed exception message" in str(info.value)
    app = reply(b"2\x00QubesException\x00\x00%10s|\x00x\x00")
    with pytest.raises(qcs.QubesException) as info:
        list(app.domains)
    assert str(info.value) == "         x|"


def test_permission_denied_is_qubesds_class_not_an_access_error(app):
    # qubesd 4.4 refuses prohibited features for every source with PermissionDenied.
    with pytest.raises(qcs.PermissionDenied) as info:
        app.domains["work"].features["preload-dispvm"] = "1"
    assert str(info.value) == (
        "changing this feature is prohibited by qubes.ext.admin.AdminExtension"
    )
    assert not isinstance(info.value, qcs.QubesDaemonAccessError)


# ----- vm/properties.py: TC_00_Properties -----


@pytest.mark.parametrize(
    "answer, expected",
    [
        (b"default=False type=str value", "value"),  # test_001_get_str
        (b"default=False type=int 123", 123),  # test_002_get_int
        (b"default=False type=bool True", True),  # test_003_get_bool
        (b"default=False type=bool False", False),
        (b"default=False type=vm ", None),  # test_005_get_none_vm
        (b"default=False type=str ", ""),  # test_008_get_none_str
        (b"default=False type=label ", None),
    ],
)
def test_00x_get(reply, answer, expected):
    vm = reply(b"0\x00" + answer).domains.get_blind("test-vm")
    assert vm.prop1 == expected


@pytest.mark.parametrize("prop_type", [b"bool", b"int"])
def test_006_007_get_none_bool_and_int_raise_attribute_error(reply, prop_type):
    vm = reply(b"0\x00default=True type=" + prop_type + b" ").domains.get_blind("test-vm")
    with pytest.raises(AttributeError) as info:
        vm.prop1
    assert type(info.value) is AttributeError
    assert not hasattr(vm, "prop1")


def test_empty_property_values_of_a_real_qube(app):
    # backup_timestamp (int) has no value until the first backup.
    vm = app.domains["work"]
    assert vm.property("backup_timestamp").value == ""
    with pytest.raises(AttributeError):
        vm.backup_timestamp
    assert not hasattr(vm, "backup_timestamp")


def test_012_get_invalid(reply):
    vm = reply(
        b"2\x00QubesNoSuchPropertyError\x00\x00Invalid property 'invalid' on test-vm\x00"
    ).domains.get_blind("test-vm")
    with pytest.raises(qcs.QubesNoSuchPropertyError):
        vm.invalid
    assert not hasattr(vm, "invalid")


def test_unknown_property_type_is_a_communication_error(reply):
    vm = reply(b"0\x00default=False type=float 1.5").domains.get_blind("test-vm")
    with pytest.raises(qcs.QubesDaemonCommunicationError) as info:
        vm.prop1
    assert str(info.value) == "Received invalid value type: float"


def test_042_get_default_none(reply):
    vm = reply(b"0\x00").domains.get_blind("test-vm")
    with pytest.raises(AttributeError) as info:
        vm.property_get_default("prop1")
    assert str(info.value) == "prop1 has no default"


def test_property_access_error_only_for_no_response_or_vm_not_found(reply):
    for answer in (b"", b"2\x00QubesVMNotFoundError\x00\x00No such domain: 'test-vm'\x00"):
        vm = reply(answer).domains.get_blind("test-vm")
        with pytest.raises(qcs.QubesPropertyAccessError) as info:
            vm.prop1
        assert str(info.value) == "Failed to access 'prop1' property"
    vm = reply(b"2\x00PermissionDenied\x00\x00no\x00").domains.get_blind("test-vm")
    with pytest.raises(qcs.PermissionDenied):
        vm.prop1


# ----- vm/properties.py: power state (TC_01_SpecialCases) and VMCollection -----


def test_power_state_is_na_when_policy_refuses_current_state(qrexec_app, monkeypatch):
    # In a qube whose policy allows listing but not admin.vm.CurrentState:
    # iterating every qube and asking its state works, and says 'NA'.
    monkeypatch.setenv("QCS_TEST_DENY", "admin.vm.CurrentState")
    states = {vm.name: vm.get_power_state() for vm in qrexec_app.domains}
    assert "dom0" in states and "work" in states
    assert set(states.values()) == {"NA"}
    work = qrexec_app.domains["work"]
    assert work.is_running() is False and work.is_halted() is False


def test_power_state_na_for_empty_reply_and_missing_qube_but_not_permission_denied(reply):
    assert reply(b"").domains.get_blind("test-vm").get_power_state() == "NA"
    not_found = b"2\x00QubesVMNotFoundError\x00\x00No such domain: 'test-vm'\x00"
    assert reply(not_found).domains.get_blind("test-vm").get_power_state() == "NA"
    vm = reply(b"2\x00PermissionDenied\x00\x00refused\x00").domains.get_blind("test-vm")
    with pytest.raises(qcs.PermissionDenied):
        vm.get_power_state()
    running = reply(b"0\x00mem=1 mem_static_max=2 cputime=3 power_state=Paused")
    vm = running.domains.get_blind("test-vm")
    assert vm.get_power_state() == "Paused" and vm.is_running() is True


def test_invisible_qube_is_a_key_error_up_front(sim):
    # A source qube whose qubesd-side filter shows it only managed qubes.
    (sim.world / "policy").mkdir(exist_ok=True)
    (sim.world / "policy" / "30-work.policy").write_text(
        "admin.vm.List * work @adminvm allow target=dom0\n"
        "admin.vm.List * work @tag:config-managed allow target=dom0\n"
    )
    app = qcs.Qubes.socket(str(sim.socket), source="work")
    assert {vm.name for vm in app.domains} == {"dom0", "work", "personal"}
    # test_001_getitem: a name not in the list is a KeyError at once, not an
    # error on first use of the object.
    with pytest.raises(KeyError) as info:
        app.domains["vault"]
    assert type(info.value) is KeyError and info.value.args == ("vault",)
    assert "vault" not in app.domains  # test_002_in
    assert app.domains.get("vault") is None
    assert app.domains["personal"].klass == "AppVM"


# ----- features.py / tags.py -----


def test_features_000_get_missing_and_get_default(app):
    f = app.domains["work"].features
    with pytest.raises(KeyError) as info:
        f["feature1"]
    assert type(info.value) is qcs.QubesFeatureNotFoundError
    assert f.get("feature1") is None and f.get("feature1", "dflt") == "dflt"
    # get() returns the default for a missing qube too (any KeyError).
    ghost = app.domains.get_blind("ghost").features
    assert ghost.get("feature1", "dflt") == "dflt"
    with pytest.raises(qcs.QubesVMNotFoundError):
        ghost["feature1"]


def test_features_custom_persist_value_qubesd_stores_is_stored(app):
    # qubesd stores an invalid custom-persist value, then refuses: the client
    # sends it (no check of its own) and raises qubesd's error; it stays set.
    f = app.domains["personal"].features
    for key, value, message in [
        ("custom-persist.rel", "relative/path", "invalid value format: 'relative/path'"),
        ("custom-persist.", "/home/user/x", "custom-persist key cannot be empty"),
        (
            "custom-persist.mode",
            "dir:user:user:0999:/home/user/m",
            "invalid mode option '0999' in value 'dir:user:user:0999:/home/user/m'",
        ),
    ]:
        with pytest.raises(qcs.QubesValueError) as info:
            f[key] = value
        assert str(info.value) == message
        assert info.value.qubesd_class == "QubesValueError"
        assert f[key] == value
    # A valid value is simply set.
    f["custom-persist.ok"] = "dir:user:user:0700:/home/user/.ok"
    assert f["custom-persist.ok"] == "dir:user:user:0700:/home/user/.ok"


def test_tags_discard_and_contains(reply):
    tags = reply(b"0\x000").domains.get_blind("test-vm").tags
    assert "tag1" not in tags
    tags = reply(b"0\x001").domains.get_blind("test-vm").tags
    assert "tag1" in tags
    missing = b"2\x00QubesTagNotFoundError\x00\x00Tag not set for domain test-vm: tag1\x00"
    tags = reply(missing).domains.get_blind("test-vm").tags
    tags.discard("tag1")  # a KeyError is swallowed
    with pytest.raises(KeyError):
        tags.remove("tag1")
