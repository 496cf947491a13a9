#!/usr/bin/env python3
"""A stand-in for `qrexec-client-vm` in tests: `fake_qrexec_client_vm.py DEST METHOD+ARG`.

It forwards the call to the simulated qubesd socket named by QCS_TEST_QUBESD_SOCKET,
the way qrexec would for a qube (source QCS_TEST_SOURCE, default `dom0`), and copies the
raw reply to stdout. Policy is modelled by QCS_TEST_DENY (comma-separated methods): a
denied call exits 126 like the real client. QCS_TEST_REPLY_FILE replaces the reply by
that file's bytes (a hostile or broken qubesd). It logs every call to QCS_TEST_CALL_LOG.
"""
import os
import socket
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: qrexec-client-vm DEST SERVICE", file=sys.stderr)
        return 2
    dest, service = sys.argv[1], sys.argv[2]
    method, _, arg = service.partition("+")
    payload = sys.stdin.buffer.read()
    log = os.environ.get("QCS_TEST_CALL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{dest} {service}\n")
    if method in os.environ.get("QCS_TEST_DENY", "").split(","):
        print("Request refused", file=sys.stderr)
        return 126
    reply_file = os.environ.get("QCS_TEST_REPLY_FILE")
    if reply_file:
        with open(reply_file, "rb") as f:
            sys.stdout.buffer.write(f.read())
        return 0
    source = os.environ.get("QCS_TEST_SOURCE", "dom0")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(os.environ["QCS_TEST_QUBESD_SOCKET"])
        s.sendall(f"{method}+{arg} {source} name {dest}\0".encode() + payload)
        s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            sys.stdout.buffer.write(chunk)
    return 0


if __name__ == "__main__":
    sys.exit(main())
