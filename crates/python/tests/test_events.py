"""admin.Events through app.events(), against the simulator."""
import threading

import pytest

import qubes_config_sync as qcs

# Only a guard against a hang: every wait ends as soon as the event is there.
GUARD_S = 60


def next_named(stream, name):
    while True:
        event = stream.next_event(timeout=GUARD_S)
        assert event is not None, f"no {name} event"
        if event.name == name:
            return event


def test_events_stream(app):
    with app.events() as stream:
        first = stream.next_event(timeout=GUARD_S)
        assert (first.subject, first.name, first.kwargs) == (None, "connection-established", {})
        app.domains["work"].features["qcs-event"] = "1"
        event = next_named(stream, "domain-feature-set:qcs-event")
        assert event.subject == "work"
        assert event.kwargs["feature"] == "qcs-event" and event.kwargs["value"] == "1"
        assert "Event(" in repr(event)
        app.domains["work"].tags.add("qcs-tag")
        assert next_named(stream, "domain-tag-add:qcs-tag").subject == "work"
    # Closed: iteration ends.
    assert stream.next_event(timeout=0) is None
    assert list(stream) == []


def test_events_of_one_qube(app):
    stream = app.events("work")
    assert stream.next_event(timeout=GUARD_S).name == "connection-established"
    app.domains["vault"].features["qcs-other"] = "1"
    app.domains["work"].features["qcs-mine"] = "1"
    event = next_named(stream, "domain-feature-set:qcs-mine")
    assert event.subject == "work"
    stream.close()


def test_iteration_and_close_from_another_thread(app):
    stream = app.events()
    seen = []
    connected = threading.Event()

    def consume():
        for event in stream:
            seen.append(event.name)
            connected.set()

    consumer = threading.Thread(target=consume)
    consumer.start()
    assert connected.wait(GUARD_S)
    # close() from this thread ends the other thread's iteration.
    stream.close()
    consumer.join(GUARD_S)
    assert not consumer.is_alive()
    assert seen[0] == "connection-established"


def test_timeout_and_errors(app, tmp_path):
    with app.events() as stream:
        assert stream.next_event(timeout=GUARD_S).name == "connection-established"
        assert stream.next_event(timeout=0.01) is None
        with pytest.raises(qcs.QubesValueError):
            stream.next_event(timeout=-1)
    dead = qcs.Qubes.socket(str(tmp_path / "missing.sock"))
    with dead.events(reconnect=False) as stream:
        with pytest.raises(qcs.QubesDaemonCommunicationError):
            stream.next_event(timeout=GUARD_S)
