"""Fixtures: a simulated qubesd (`qubes-sim serve`) as a real process per test, apps on
both transports, and (in test_backend.py) a private D-Bus backend.

The binaries come from QCS_BIN_DIR (set by run-tests.sh), else <repo>/target/debug.
"""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import qubes_config_sync as qcs

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
FAKE_QREXEC = HERE / "fake_qrexec_client_vm.py"
# Generous: only a guard against a hang, never a measurement.
STARTUP_DEADLINE_S = 60


def bin_dir() -> Path:
    return Path(os.environ.get("QCS_BIN_DIR", REPO / "target" / "debug"))


def binary(name: str) -> Path:
    path = bin_dir() / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: build it (run-tests.sh does) or set QCS_BIN_DIR")
    return path


def wait_for_path(path: Path, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before creating {path}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not create {path}")
        time.sleep(0.02)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STARTUP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Sim:
    """A world directory served by `qubes-sim serve` on its own socket."""

    def __init__(self, world: Path):
        self.world = world
        self.socket = world / "qubesd.sock"
        subprocess.run(
            [binary("qubes-sim"), "init", "--world", str(world)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.proc = subprocess.Popen(
            [binary("qubes-sim"), "serve", "--world", str(world), "--socket", str(self.socket)],
            stdout=subprocess.DEVNULL,
        )
        wait_for_path(self.socket, self.proc, "qubes-sim")

    def stop(self) -> None:
        stop(self.proc)


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path / "world")
    yield s
    s.stop()


@pytest.fixture
def app(sim):
    """An app on the simulator's socket, as in dom0."""
    return qcs.Qubes.socket(str(sim.socket))


@pytest.fixture
def qrexec_env(sim, tmp_path, monkeypatch):
    """Environment of the fake qrexec-client-vm: forwards to the simulator."""
    monkeypatch.setenv("QCS_TEST_QUBESD_SOCKET", str(sim.socket))
    log = tmp_path / "calls.log"
    monkeypatch.setenv("QCS_TEST_CALL_LOG", str(log))
    monkeypatch.delenv("QCS_TEST_DENY", raising=False)
    monkeypatch.delenv("QCS_TEST_REPLY_FILE", raising=False)
    return log


@pytest.fixture
def qrexec_app(qrexec_env):
    """An app calling through a qrexec-client-vm compatible program (a real process)."""
    return qcs.Qubes.qrexec(str(FAKE_QREXEC))


@pytest.fixture
def path_with_qrexec_client(tmp_path, monkeypatch):
    """A PATH whose `qrexec-client-vm` is the fake one, as in a qube."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(FAKE_QREXEC, bindir / "qrexec-client-vm")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return bindir
