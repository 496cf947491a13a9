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


# ----- a private D-Bus backend -----

FAKE_SERVICES = HERE / "fake_qrexec_services.py"
# The qubes whose agent the fake qrexec lets the backend call.
SERVICE_QUBES = "work,personal,vault"


class Backend:
    """`dbus-daemon` on a private socket and `qubes-config-syncd` on it, against `sim`."""

    def __init__(self, sim: Sim, root: Path):
        self.sim = sim
        self.root = root
        self.spool = root / "spool"
        self.spool.mkdir()
        bus_socket = root / "bus"
        self.address = f"unix:path={bus_socket}"
        self.env = dict(
            os.environ,
            QCS_TEST_AGENT=str(binary("qubes-config-agent")),
            QCS_TEST_WORLD=str(sim.world),
            QCS_TEST_SERVICE_QUBES=SERVICE_QUBES,
            QCS_TEST_CONFIG_QUBE="sys-config",
            QCS_TEST_SPOOL=str(self.spool),
        )
        self.bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address={self.address}"],
            stdout=subprocess.DEVNULL,
            stderr=open(root / "dbus.log", "wb"),
        )
        self.daemon = None
        # Planning never starts a qube: the qubes the tests push to run, as they would
        # for a user pushing to them (personal stays halted).
        admin = qcs.Qubes.socket(str(sim.socket))
        for qube in ("work", "vault", "untrusted"):
            admin.qubesd_call(qube, "admin.vm.Start")
        try:
            wait_for_path(bus_socket, self.bus, "dbus-daemon")
            self.daemon = subprocess.Popen(
                [
                    binary("qubes-config-syncd"),
                    "--store", str(root / "store.sqlite"),
                    "--spool", str(self.spool),
                    "--admin-socket", str(sim.socket),
                    "--qrexec-program", str(FAKE_SERVICES),
                    "--config-qube", "sys-config",
                    "--bus-address", self.address,
                    "--no-events",
                ],
                env=self.env,
                stderr=open(root / "daemon.log", "wb"),
            )
            self.client = self.connect()
        except BaseException:
            self.stop()
            raise

    def connect(self):
        """A client, once the backend owns its name."""
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while True:
            if self.daemon.poll() is not None:
                log = (self.root / "daemon.log").read_text(errors="replace")
                raise RuntimeError(f"qubes-config-syncd exited with {self.daemon.returncode}: {log}")
            try:
                client = qcs.ConfigSync(self.address)
                client.profiles()
                return client
            except qcs.ConfigSyncConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def home(self, qube: str) -> Path:
        path = self.sim.world / "qubes" / qube / "home"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def propose(self, qube: str, profile: str, *relative_paths: str) -> None:
        """`qubes-config-propose` run by the user in `qube`: the real agent, through the
        fake qrexec, into the backend's spool."""
        env = dict(
            self.env,
            HOME=str(self.home(qube)),
            QCS_TEST_PROPOSER=qube,
            QUBES_CONFIG_SYNC_QREXEC_CLIENT=str(FAKE_SERVICES),
        )
        subprocess.run(
            [binary("qubes-config-agent"), "propose", profile, *relative_paths],
            cwd=self.home(qube),
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.daemon is not None:
            stop(self.daemon)
        stop(self.bus)


@pytest.fixture
def backend(sim, tmp_path):
    root = tmp_path / "backend"
    root.mkdir()
    b = Backend(sim, root)
    yield b
    b.stop()
