"""The backend client against a real private backend: dbus-daemon + qubes-config-syncd,
the simulator for the Admin API, and the real agent behind a fake qrexec."""
import pytest

import qubes_config_sync as qcs

GITCONFIG = "[user]\n\tname = Alice\n"
HOSTILE = "[core]\n\tfsmonitor = /home/user/.cache/x.sh\n[user]\n\tname = Alice\u202e\u2066 ]dmc[\n"


@pytest.fixture
def client(backend):
    c = backend.client
    c.create_profile("git", "git configuration")
    c.put_file("git", ".gitconfig", GITCONFIG)
    c.assign("work", "git")
    c.allow_proposals("work", "git")
    return c


def test_connection_errors(tmp_path):
    with pytest.raises(qcs.ConfigSyncConnectionError):
        qcs.ConfigSync(f"unix:path={tmp_path / 'no-bus'}")
    with pytest.raises(qcs.ConfigSyncConnectionError):
        qcs.ConfigSync("not an address")


def test_no_backend_on_the_bus(backend):
    backend.daemon.terminate()
    backend.daemon.wait()
    client = qcs.ConfigSync(backend.address)
    with pytest.raises(qcs.ConfigSyncConnectionError) as info:
        client.profiles()
    assert info.value.dbus_error.startswith("org.freedesktop.DBus.Error.")


def test_profiles_and_files(backend):
    c = backend.client
    assert c.profiles() == []
    c.create_profile("ssh", "ssh client")
    assert c.profiles() == [("ssh", "ssh client", 0)]
    g1 = c.put_file("ssh", ".ssh/config", "Host *\n\tServerAliveInterval 30\n", 0o600)
    g2 = c.put_file("ssh", ".ssh/known_hosts", b"example.org ssh-ed25519 AAAA\n")
    assert g2 > g1
    content, mode, generation = c.get_file("ssh", ".ssh/config")
    assert content == b"Host *\n\tServerAliveInterval 30\n" and mode == 0o600 and generation == g1
    profile = c.profile("ssh")
    assert (profile.id, profile.description, profile.generation) == ("ssh", "ssh client", g2)
    assert {f.path for f in profile.files} == {".ssh/config", ".ssh/known_hosts"}
    f = next(f for f in profile.files if f.path == ".ssh/config")
    assert f.mode == "0600" and f.size == len(b"Host *\n\tServerAliveInterval 30\n") and len(f.sha256) == 64 and f.provenance == "local edit"
    g3 = c.remove_file("ssh", ".ssh/known_hosts")
    assert g3 > g2 and [f.path for f in c.profile("ssh").files] == [".ssh/config"]


def test_profile_errors(backend):
    c = backend.client
    with pytest.raises(KeyError) as info:
        c.profile("nope")
    assert isinstance(info.value, qcs.ConfigSyncNotFoundError)
    assert info.value.dbus_error == "org.qubes.ConfigSync1.Error.NotFound"
    with pytest.raises(ValueError):
        c.create_profile("Bad Name")
    c.create_profile("p")
    # Never-sync paths and paths outside the home are refused, and nothing is stored.
    with pytest.raises(qcs.ConfigSyncError):
        c.put_file("p", ".ssh/id_ed25519", "PRIVATE KEY")
    with pytest.raises(qcs.QubesException):
        c.put_file("p", "../outside", "x")
    assert c.profile("p").files == []


def test_qubes_with_settings_and_sync_state(client):
    qubes = {q.name: q for q in client.qubes()}
    assert {"work", "personal", "vault"} <= set(qubes)
    work = qubes["work"]
    assert (work.klass, work.power_state, work.label) == ("AppVM", "Running", "blue")
    assert work.template == "debian-12-xfce"
    assert work.assigned == ["git"] and work.may_propose == ["git"]
    assert work.sync_states() == {"git": "never-pushed"}
    assert [p.profile for p in work.profiles] == ["git"]
    assert work.profiles[0].pushed_generation is None
    assert [p.path for p in work.persistence] == [".gitconfig"]
    assert work.persistence[0].verdict == "persistent"
    assert work.pending_proposals == 0
    assert client.qube("work").name == "work"
    with pytest.raises(qcs.ConfigSyncError):
        client.qube("no-such-qube")


def test_qube_settings(client):
    assert client.qube_settings("work") == (["git"], ["git"], False)
    client.set_qube_settings("vault", ["git"], [], True)
    assert client.qube_settings("vault") == (["git"], [], True)
    client.assign("vault", "git", False)
    client.allow_proposals("work", "git", False)
    # Unassigning the last profile turns auto-apply off: there is nothing to apply.
    assert client.qube_settings("vault") == ([], [], False)
    assert client.qube_settings("work") == (["git"], [], False)
    with pytest.raises(qcs.QubesException):
        client.assign("work", "no-such-profile")


def test_push_writes_into_the_qube(backend, client):
    result = client.push("git", ["work"])
    assert result.success and result.kind == "push" and not result.cancelled
    assert [(f.qube, f.path, f.outcome) for f in result.files] == [("work", ".gitconfig", "written")]
    assert (backend.home("work") / ".gitconfig").read_text() == GITCONFIG
    assert client.qube("work").sync_states() == {"git": "in-sync"}
    # Unchanged on the second push.
    again = client.push("git", ["work"])
    assert [f.outcome for f in again.files] == ["unchanged"]


def test_plan_then_execute_and_conflicts_are_never_overwritten(backend, client):
    client.push("git", ["work"])
    # The user changes the file in the qube; then the store changes too.
    local = "[user]\n\tname = Changed in the qube\n"
    (backend.home("work") / ".gitconfig").write_text(local)
    client.put_file("git", ".gitconfig", "[user]\n\tname = Bob\n")
    plan = client.plan_push(["work"], ["git"])
    assert plan.plan_id and plan.errors == []
    assert [(i.qube, i.path, i.action) for i in plan.items] == [("work", ".gitconfig", "conflict")]
    assert plan.has_conflicts() and plan.items[0].can_overwrite
    result = client.execute_plan(plan.plan_id)
    assert not result.success
    assert (backend.home("work") / ".gitconfig").read_text() == local
    # Only an explicit overwrite decision replaces it.
    plan = client.plan_push(["work"], ["git"], [("work", ".gitconfig")])
    assert plan.items[0].action == "update" and plan.items[0].forced
    assert "Bob" in (plan.items[0].diff_text or "")
    assert client.execute_plan(plan.plan_id, timeout=300).success
    assert "Bob" in (backend.home("work") / ".gitconfig").read_text()


def test_push_to_a_qube_the_policy_refuses(client):
    client.assign("untrusted", "git")
    result = client.push("git", ["untrusted"])
    assert not result.success
    assert [q for q, _ in result.errors] == ["untrusted"]
    # Told apart: the qube exists but lacks the tag the shipped policy needs.
    assert "does not carry the tag qubes-config-sync-managed" in result.errors[0][1]
    plan = client.plan_push(["untrusted"], ["git"])
    assert plan.items == [] and [q for q, _ in plan.errors] == ["untrusted"]


def test_push_argument_errors(client):
    with pytest.raises(qcs.QubesValueError):
        client.push("git", [])
    with pytest.raises(qcs.QubesValueError):
        client.execute_plan("x", timeout=-1)
    with pytest.raises(qcs.ConfigSyncNotFoundError):
        client.execute_plan("999999")
    with pytest.raises(qcs.QubesValueError):
        client.execute_plan("not a plan id")
    with pytest.raises(qcs.ConfigSyncNotFoundError):
        client.cancel_job(987654)


def store_rows(backend):
    """Every row a client call could add, read beside the backend (SQLite, WAL)."""
    import sqlite3

    db = sqlite3.connect(f"file:{backend.root / 'store.sqlite'}?mode=ro", uri=True)
    try:
        return {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("profiles", "file_versions", "qubes", "assignments",
                          "propose_permissions", "new_path_globs", "proposals", "audit_log")
        }
    finally:
        db.close()


def test_invalid_names_and_paths_are_refused_before_the_backend(backend, client):
    """Issue 12 item 5: a name, id or path is parsed where the caller hands it over; an
    invalid one is QubesValueError (a ValueError) naming the rule, and nothing is stored."""
    before = store_rows(backend)
    long_qube, long_profile, long_path = "q" * 32, "p" * 32, "a/" * 2048 + "b"
    cases = [
        ("invalid profile id", lambda: client.create_profile("Git")),
        ("the limit is 31", lambda: client.create_profile(long_profile)),
        ("'..' component", lambda: client.put_file("git", "../.bashrc", "x")),
        ("U+0000", lambda: client.put_file("git", ".git\0config", "x")),
        ("U+0001", lambda: client.put_file("git", ".git\x01config", "x")),
        ("U+202E", lambda: client.put_file("git", ".gitconfig\u202e", "x")),
        ("the limit is", lambda: client.put_file("git", long_path, "x")),
        ("absolute", lambda: client.get_file("git", "/etc/shadow")),
        ("'..' component", lambda: client.remove_file("git", "../.gitconfig")),
        ("invalid profile id", lambda: client.put_file("GIT", ".gitconfig", "x")),
        ("invalid qube name", lambda: client.assign("../work", "git")),
        ("invalid qube name", lambda: client.allow_proposals(long_qube, "git")),
        ("invalid qube name", lambda: client.allow_proposals("work\0", "git")),
        ("invalid profile id", lambda: client.assign("work", "../git")),
        ("invalid profile id", lambda: client.set_qube_settings("work", ["git", "Git"], [], False)),
        ("invalid qube name", lambda: client.qube_settings("-work")),
        ("invalid qube name", lambda: client.qube("work/..")),
        ("invalid profile id", lambda: client.profile("git/..")),
        ("invalid qube name", lambda: client.plan_push([long_qube])),
        ("invalid profile id", lambda: client.plan_push([], ["Git"])),
        ("'..' component", lambda: client.plan_push(["work"], [], [("work", "../.bashrc")])),
        ("invalid profile id", lambda: client.push("../git", ["work"])),
        ("invalid profile id", lambda: client.snapshot("work", ["../git"])),
        ("'..' component", lambda: client.fix_persistence("work", "../.bashrc")),
    ]
    for words, call in cases:
        with pytest.raises(qcs.QubesValueError) as info:
            call()
        assert isinstance(info.value, ValueError)
        message = str(info.value)
        assert words in message, message
        assert "\n" not in message and len(message) < 400, repr(message)
    assert store_rows(backend) == before


def test_hostile_proposal_is_shown_safely_and_needs_acknowledgement(backend, client):
    client.push("git", ["work"])
    (backend.home("work") / ".gitconfig").write_text(HOSTILE)
    assert client.pending_proposals == 0
    backend.propose("work", "git", ".gitconfig")
    # The backend polls the spool as well: whichever pass comes first ingests it.
    assert client.ingest_spool() in (0, 1)
    assert client.pending_proposals == 1
    [summary] = client.proposals()
    assert (summary.source_qube, summary.profile, summary.path, summary.status) == (
        "work", "git", ".gitconfig", "pending")
    assert summary.size == len(HOSTILE.encode())
    proposal = client.proposal(summary.id)
    assert proposal.proposed == HOSTILE.encode()
    assert proposal.base == GITCONFIG.encode()
    assert proposal.has_critical()
    assert any(i.startswith("git.core.fsmonitor@.gitconfig:p") for i in proposal.must_acknowledge)
    assert {f.id for f in proposal.findings if f.gated} == set(proposal.must_acknowledge)
    assert proposal.digest
    # What a tool shows is safe: hidden characters are tokens, never raw.
    for hidden in ("\u202e", "\u2066", "\x1b", "\r"):
        assert hidden not in proposal.diff_text and hidden not in proposal.note
    assert "⟦U+202E RLO⟧" in proposal.diff_text and "◀ finding" in proposal.diff_text
    assert proposal.hunks and proposal.hunks[0][0]
    # Accepting without acknowledging every critical finding is refused; the store keeps
    # the old content.
    with pytest.raises(qcs.ConfigSyncRefusedError) as info:
        client.accept_proposal(summary.id, acknowledged=proposal.must_acknowledge[:-1])
    assert info.value.dbus_error == "org.qubes.ConfigSync1.Error.ReviewRefused"
    assert info.value.code == "review.unacknowledged"
    assert info.value.ids == proposal.must_acknowledge[-1:]
    assert client.get_file("git", ".gitconfig")[0] == GITCONFIG.encode()
    generation = client.accept_proposal(summary.id, acknowledged=proposal.must_acknowledge,
                                        note="reviewed")
    assert client.get_file("git", ".gitconfig") [0] == HOSTILE.encode()
    assert client.get_file("git", ".gitconfig")[2] == generation
    assert client.proposals() == [] and client.pending_proposals == 0
    assert [p.status for p in client.proposals("accepted")] == ["accepted"]
    with pytest.raises(qcs.ConfigSyncError):
        client.accept_proposal(summary.id, acknowledged=proposal.must_acknowledge)


def test_gate_binds_to_the_digest_and_to_finding_ids(backend, client):
    # Two fsmonitor settings in two hunks: each is its own finding.
    filler = "".join(f"\t# {i}\n" for i in range(8))
    base = f"[user]\n\tname = A\n[core]\n\teditor = vim\n{filler}\tpager = less\n"
    client.put_file("git", ".gitconfig", base)
    hostile = base.replace("editor = vim", "fsmonitor = /tmp/a").replace("pager = less", "fsmonitor = /tmp/b")
    (backend.home("work") / ".gitconfig").write_text(hostile)
    backend.propose("work", "git", ".gitconfig")
    client.ingest_spool()
    [summary] = client.proposals()
    proposal = client.proposal(summary.id)
    monitors = [f for f in proposal.findings if f.rule == "git.core.fsmonitor"]
    assert len(monitors) == 2 and all(f.gated for f in monitors)
    others = [i for i in proposal.must_acknowledge if i not in {f.id for f in monitors}]
    # One acknowledgement does not cover the second finding of the same rule.
    with pytest.raises(qcs.ConfigSyncRefusedError) as info:
        client.accept_proposal(summary.id, digest=proposal.digest,
                               acknowledged=others + [monitors[0].id])
    assert (info.value.code, info.value.ids) == ("review.unacknowledged", [monitors[1].id])
    # A rule id is not a finding id.
    with pytest.raises(qcs.ConfigSyncRefusedError) as info:
        client.accept_proposal(summary.id, digest=proposal.digest,
                               acknowledged=others + ["git.core.fsmonitor"])
    assert info.value.code == "review.unknown-finding"
    # A digest that is not the current review's is stale; nothing is stored.
    with pytest.raises(qcs.ConfigSyncRefusedError) as info:
        client.accept_proposal(summary.id, digest="0" * 32, acknowledged=proposal.must_acknowledge)
    assert info.value.code == "review.stale"
    assert client.get_file("git", ".gitconfig")[0] == base.encode()
    # The findings only in hunks left out need no acknowledgement.
    first = monitors[0].hunks
    assert len(first) == 1 and first != monitors[1].hunks
    needed = [f.id for f in proposal.findings if f.gated and set(f.hunks) & set(first)]
    client.accept_proposal(summary.id, digest=proposal.digest, hunks=first, acknowledged=needed)
    stored = client.get_file("git", ".gitconfig")[0].decode()
    assert "/tmp/a" in stored and "/tmp/b" not in stored


def test_reject_and_whitelist(backend, client):
    (backend.home("work") / ".gitconfig").write_text("[user]\n\tname = W\n")
    backend.propose("work", "git", ".gitconfig")
    client.ingest_spool()
    [p] = client.proposals()
    client.reject_proposal(p.id, note="no")
    assert client.proposals() == []
    assert [x.id for x in client.proposals("rejected")] == [p.id]
    assert client.get_file("git", ".gitconfig")[0] == GITCONFIG.encode()
    # A qube that may not propose this profile gets nothing into quarantine.
    (backend.home("vault") / ".gitconfig").write_text("[user]\n\tname = V\n")
    try:
        backend.propose("vault", "git", ".gitconfig")
    except Exception:
        pass  # refused at intake: the agent reports it
    client.ingest_spool()
    assert client.proposals() == []
    assert len(client.proposals("")) == 1
    with pytest.raises(qcs.ConfigSyncNotFoundError):
        client.proposal(424242)


def test_snapshot_imports_changed_files_as_proposals(backend, client):
    client.push("git", ["work"])
    (backend.home("work") / ".gitconfig").write_text("[user]\n\tname = Snap\n")
    ids, paths = client.snapshot("work")
    assert len(ids) == 1 and dict(paths)[".gitconfig"] == "imported"
    assert client.proposal(ids[0]).proposed == b"[user]\n\tname = Snap\n"
    ids, paths = client.snapshot("work", ["git"])
    assert dict(paths)[".gitconfig"] in ("imported", "same") or ids == []


def test_fix_persistence(backend, client):
    app = qcs.Qubes.socket(str(backend.sim.socket))
    app.domains["work"].features["service.custom-persist"] = "1"
    assert app.domains["work"].persistence(".gitconfig").verdict == "lost-at-restart"
    applied, command = client.fix_persistence("work", ".gitconfig")
    assert "qvm-features" in command
    if applied:
        assert app.domains["work"].persistence(".gitconfig").persistent


def test_push_never_silently_skips(backend, client):
    with pytest.raises(qcs.ConfigSyncNotFoundError):
        client.push("no-such-profile", ["work"])
    result = client.push("git", ["work", "vault"])  # git is not assigned to vault
    assert not result.success
    assert [(f.qube, f.outcome) for f in result.files] == [("work", "written")]
    assert [q for q, _ in result.errors] == ["vault"] and "not assigned" in result.errors[0][1]
    assert not (backend.home("vault") / ".gitconfig").exists()


def test_accept_only_chosen_hunks(backend, client):
    base = "".join(f"line {i}\n" for i in range(1, 31))
    client.put_file("git", ".gitconfig", base)
    client.push("git", ["work"])
    # Two changes far apart: two hunks.
    changed = base.replace("line 2\n", "line two\n").replace("line 29\n", "line twenty-nine\n")
    (backend.home("work") / ".gitconfig").write_text(changed)
    backend.propose("work", "git", ".gitconfig")
    client.ingest_spool()
    [summary] = client.proposals()
    proposal = client.proposal(summary.id)
    assert len(proposal.hunks) == 2
    first_hunk_id = proposal.hunks[0][0]
    client.accept_proposal(summary.id, hunks=[first_hunk_id], acknowledged=proposal.must_acknowledge)
    stored = client.get_file("git", ".gitconfig")[0].decode()
    assert "line two\n" in stored and "line 29\n" in stored and "twenty-nine" not in stored
    with pytest.raises(qcs.QubesException):
        client.accept_proposal(summary.id, hunks=["no-such-hunk"])


def test_signals(backend, client):
    guard = 60  # only against a hang

    def next_named(stream, name):
        while True:
            signal = stream.next_signal(timeout=guard)
            assert signal is not None, f"no {name} signal"
            if signal.name == name:
                return signal

    with client.signals() as signals:
        result = client.push("git", ["work"])
        progress = next_named(signals, "JobProgress")
        assert progress.args == {"job": result.job, "done": 1, "total": 1, "qube": "work"}
        finished = next_named(signals, "JobFinished")
        assert finished.args["job"] == result.job and finished.args["success"] is True
        assert '"version":3' in finished.args["summary_json"].replace(" ", "")
        (backend.home("work") / ".gitconfig").write_text("[user]\n\tname = S\n")
        backend.propose("work", "git", ".gitconfig")
        client.ingest_spool()
        assert next_named(signals, "ProposalsChanged").args == {"pending": 1}
        client.set_qube_settings("vault", ["git"], [], False)
        assert next_named(signals, "QubeChanged").args == {"qube": "vault"}
        assert "Signal(" in repr(progress)
        assert signals.next_signal(timeout=0.01) is None
    assert signals.next_signal(timeout=0) is None and list(signals) == []
    with pytest.raises(qcs.QubesValueError):
        client.signals().next_signal(timeout=-1)


def test_unknown_dom0_and_config_qube_names_are_refused_with_a_code(client):
    for qube, error, code in [
        ("nosuchqube", qcs.ConfigSyncNotFoundError, "qube.unknown"),
        ("dom0", qcs.ConfigSyncRefusedError, "qube.dom0"),
        ("sys-config", qcs.ConfigSyncRefusedError, "qube.config-qube"),
    ]:
        with pytest.raises(error) as info:
            client.assign(qube, "git")
        assert info.value.code == code and info.value.reason_args["qube"] == qube
        # A sentence for people; the D-Bus name only in dbus_error.
        assert "org.qubes" not in str(info.value) and qube in str(info.value)
        assert client.qube_settings(qube) == ([], [], False)


def test_a_halted_qube_is_not_started_by_a_push(backend, client):
    client.assign("personal", "git")
    result = client.push("git", ["personal"])
    assert not result.success
    assert [q for q, _ in result.errors] == ["personal"]
    assert "halted" in result.errors[0][1]
    assert client.qube("personal").power_state == "Halted"
    assert not (backend.home("personal") / ".gitconfig").exists()


def test_a_halted_qube_is_started_and_pushed_when_chosen(backend, client):
    client.assign("personal", "git")
    plan = client.plan_push(["personal", "work"], ["git"])
    assert plan.halted == ["personal"]
    # Only a halted qube of the push can be chosen; nothing runs otherwise.
    with pytest.raises(qcs.QubesValueError):
        client.push("git", ["personal", "work"], start=["work"])
    with pytest.raises(qcs.QubesValueError):
        client.push("git", ["personal"], start=["personal"], start_halted=True)
    assert client.qube("personal").power_state == "Halted"
    # The backend refuses a name that is not a halted qube of the plan as well.
    with pytest.raises(qcs.QubesValueError) as info:
        client.execute_plan(plan.plan_id, start=["work"])
    assert info.value.code == "plan.start-not-halted"
    result = client.push("git", ["personal"], start=["personal"])
    assert result.success, result.errors
    assert client.qube("personal").power_state == "Running"
    assert (backend.home("personal") / ".gitconfig").exists()


def test_start_halted_starts_every_halted_qube_of_the_push(backend, client):
    client.assign("personal", "git")
    result = client.push("git", ["personal", "work"], start_halted=True)
    assert result.success, result.errors
    assert client.qube("personal").power_state == "Running"
    for qube in ("personal", "work"):
        assert (backend.home(qube) / ".gitconfig").exists()
