#!/usr/bin/env python3
"""A stand-in for the backend's `qrexec-client-vm` in tests: `fake_qrexec_services.py QUBE
SERVICE+PROFILE`, payload on stdin, reply on stdout, as qrexec does.

It runs the real agent (`qubes-config-agent`, QCS_TEST_AGENT) the way qrexec would run the
service in the target qube: HOME is the qube's home in the simulator's world
(QCS_TEST_WORLD/qubes/QUBE/home), QREXEC_SERVICE_ARGUMENT the profile, QREXEC_REMOTE_DOMAIN
the calling (config) qube. Policy: only the qubes in QCS_TEST_SERVICE_QUBES
(comma-separated) may be called; anything else is refused with exit code 126.

`qubes.ConfigPropose` goes the other way (a qube proposes to the config qube): the agent's
receiver runs with QUBES_CONFIG_SYNC_SPOOL=QCS_TEST_SPOOL and the proposing qube
QCS_TEST_PROPOSER as QREXEC_REMOTE_DOMAIN.
"""
import os
import sys

SERVICES = {
    "qubes.ConfigApply": "apply",
    "qubes.ConfigSnapshot": "snapshot",
    "qubes.ConfigRollback": "rollback",
    "qubes.ConfigPropose": "propose-receive",
}


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: qrexec-client-vm DEST SERVICE", file=sys.stderr)
        return 2
    target, call = sys.argv[1], sys.argv[2]
    service, _, profile = call.partition("+")
    command = SERVICES.get(service)
    env = dict(os.environ, QREXEC_SERVICE_ARGUMENT=profile)
    if command == "propose-receive":
        env["QREXEC_REMOTE_DOMAIN"] = os.environ["QCS_TEST_PROPOSER"]
        env["QUBES_CONFIG_SYNC_SPOOL"] = os.environ["QCS_TEST_SPOOL"]
    else:
        allowed = os.environ.get("QCS_TEST_SERVICE_QUBES", "").split(",")
        if command is None or target not in allowed:
            print("Request refused", file=sys.stderr)
            return 126
        home = os.path.join(os.environ["QCS_TEST_WORLD"], "qubes", target, "home")
        os.makedirs(home, exist_ok=True)
        env["HOME"] = home
        env["QREXEC_REMOTE_DOMAIN"] = os.environ.get("QCS_TEST_CONFIG_QUBE", "sys-config")
    agent = os.environ["QCS_TEST_AGENT"]
    os.execve(agent, [agent, command], env)
    return 127


if __name__ == "__main__":
    sys.exit(main())
