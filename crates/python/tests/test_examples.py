"""The examples in examples/python/, run against a real private backend."""
import importlib.util
import subprocess
import sys

import pytest

import qubes_config_sync as qcs
from conftest import REPO

EXAMPLES = REPO / "examples" / "python"
HOSTILE = "[core]\n\tfsmonitor = /tmp/x\n[user]\n\tname = A\u202e\x1b[2J\n"


def load_salt_module():
    path = EXAMPLES / "salt" / "_modules" / "qubes_config_sync.py"
    spec = importlib.util.spec_from_file_location("salt_qubes_config_sync", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def store(backend):
    c = backend.client
    c.create_profile("git")
    c.put_file("git", ".gitconfig", "[user]\n\tname = A\n")
    c.assign("work", "git")
    c.assign("personal", "git")
    c.allow_proposals("work", "git")
    return c


def test_salt_module_virtual_and_push(backend, store):
    salt = load_salt_module()
    assert salt.__virtual__() == "qubes_config_sync"
    # Salt injects __opts__: the bus address comes from the minion options.
    salt.__opts__ = {"qubes_config_sync.bus_address": backend.address}
    # personal is halted: planning never starts a qube, so it is named as failed and
    # nothing is written there.
    result = salt.push("git", "work,personal")
    assert result["result"] is False
    assert result["changes"] == {"work:.gitconfig": "written"}
    assert [e["qube"] for e in result["errors"]] == ["personal"]
    assert "halted" in result["errors"][0]["error"]
    assert not (backend.home("personal") / ".gitconfig").exists()
    assert (backend.home("work") / ".gitconfig").read_text() == "[user]\n\tname = A\n"
    assert salt.sync_state("work") == {"git": "in-sync"}
    again = salt.push("git", ["work"])
    assert again["result"] is True and again["changes"] == {}
    assert salt.pending_proposals() == []


def test_salt_module_reports_conflicts_and_failures(backend, store):
    salt = load_salt_module()
    salt.__opts__ = {"qubes_config_sync.bus_address": backend.address}
    salt.push("git", ["work"])
    (backend.home("work") / ".gitconfig").write_text("local change\n")
    store.put_file("git", ".gitconfig", "[user]\n\tname = B\n")
    result = salt.push("git", ["work"])
    assert result["result"] is False
    assert (backend.home("work") / ".gitconfig").read_text() == "local change\n"
    forced = salt.push("git", ["work"], overwrite=[["work", ".gitconfig"]])
    assert forced["result"] is True
    with pytest.raises(salt.CommandExecutionError):
        salt.push("no-such-profile", ["work"])
    with pytest.raises(salt.CommandExecutionError):
        salt.push("git", ["work"], bus_address="unix:path=/nonexistent/bus")


def test_salt_module_without_the_library(monkeypatch):
    monkeypatch.setitem(sys.modules, "qubes_config_sync", None)
    salt = load_salt_module()
    ok, reason = salt.__virtual__()
    assert ok is False and "not installed" in reason


def run_lister(backend, *args):
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "list_pending_proposals.py"), "--bus", backend.address, *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_list_pending_proposals(backend, store):
    out = run_lister(backend)
    assert (out.returncode, out.stdout) == (0, "no pending proposals\n")
    (backend.home("work") / ".gitconfig").write_text(HOSTILE)
    backend.propose("work", "git", ".gitconfig")
    store.ingest_spool()
    out = run_lister(backend, "--diff")
    assert out.returncode == 1, out.stderr
    assert ".gitconfig from work (profile git" in out.stdout
    assert "[critical] line 2: git.core.fsmonitor" in out.stdout
    assert "must acknowledge to accept:" in out.stdout
    assert "⟦U+202E RLO⟧" in out.stdout
    for hidden in ("\u202e", "\x1b"):
        assert hidden not in out.stdout


def test_list_pending_proposals_without_backend(tmp_path):
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "list_pending_proposals.py"), "--bus",
         f"unix:path={tmp_path / 'none'}"],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 2 and "list_pending_proposals:" in out.stderr
