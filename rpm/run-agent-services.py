#!/usr/bin/env python3
"""Run the packaged qrexec services of an unpacked agent package, as qrexec would.

    rpm/run-agent-services.py ROOT LABEL

ROOT is a scratch root into which a package (deb or rpm) was unpacked. Each service script
ROOT/etc/qubes-rpc/qubes.Config{Apply,Snapshot,Rollback} is run with `sh`, the profile as
$1 and in QREXEC_SERVICE_ARGUMENT, the request on stdin — with /usr/bin/qubes-config-agent
in the script pointed at ROOT's agent, so the packaged service runs the packaged agent.
In a scratch home: apply a new .gitconfig over the old one (base = the old sha256), snapshot
sees the new one, rollback of the apply's backup restores the old one, snapshot sees it.

Used by tools/check-packages; it must not touch anything outside ROOT and its scratch home.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile


def sha(data):
    return hashlib.sha256(data).hexdigest()


def main():
    root, label = sys.argv[1], sys.argv[2]
    agent = os.path.join(root, "usr/bin/qubes-config-agent")
    home = tempfile.mkdtemp(prefix="qcs-agent-home-")
    scratch = tempfile.mkdtemp(prefix="qcs-agent-services-")
    try:
        old = b"[user]\n\tname = check\n"
        new = b"[user]\n\tname = check-packages\n"
        target = os.path.join(home, ".gitconfig")
        with open(target, "wb") as f:
            f.write(old)
        os.chmod(target, 0o644)

        def call(service, request):
            script = os.path.join(root, "etc/qubes-rpc", service)
            with open(script) as f:
                text = f.read()
            if "/usr/bin/qubes-config-agent" not in text:
                raise SystemExit(f"{label}: {service} does not name /usr/bin/qubes-config-agent")
            local = os.path.join(scratch, service)
            with open(local, "w") as f:
                f.write(text.replace("/usr/bin/qubes-config-agent", agent))
            env = {
                "PATH": "/usr/bin:/bin",
                "HOME": home,
                "QREXEC_SERVICE_ARGUMENT": "git",
                "QREXEC_REMOTE_DOMAIN": "config-mgr",
            }
            out = subprocess.run(
                ["sh", local, "git"],
                input=json.dumps(request).encode(),
                capture_output=True,
                env=env,
                cwd=home,
                timeout=60,
            )
            try:
                reply = json.loads(out.stdout)
            except ValueError:
                raise SystemExit(
                    f"{label}: {service} replied no JSON (exit {out.returncode}): "
                    f"{out.stdout[:300]!r} {out.stderr[:300]!r}"
                )
            if "ok" not in reply:
                raise SystemExit(f"{label}: {service} refused: {reply}")
            return reply["ok"]

        def snapshot_sha():
            ok = call("qubes.ConfigSnapshot", {"version": 1, "profile": "git", "paths": [".gitconfig"]})
            text = json.dumps(ok)
            for want in (old, new):
                if sha(want) in text:
                    return sha(want)
            raise SystemExit(f"{label}: qubes.ConfigSnapshot saw neither version: {ok}")

        if snapshot_sha() != sha(old):
            raise SystemExit(f"{label}: qubes.ConfigSnapshot did not see the file as it is")
        applied = call(
            "qubes.ConfigApply",
            {
                "version": 1,
                "profile": "git",
                "files": [
                    {
                        "path": ".gitconfig",
                        "mode": "0644",
                        "content": {"encoding": "utf-8", "data": new.decode()},
                        "sha256": sha(new),
                        "base_sha256": sha(old),
                    }
                ],
            },
        )
        status = applied["files"][0]["outcome"]["status"]
        with open(target, "rb") as f:
            if status != "written" or f.read() != new:
                raise SystemExit(f"{label}: qubes.ConfigApply did not write the file: {applied}")
        if snapshot_sha() != sha(new):
            raise SystemExit(f"{label}: qubes.ConfigSnapshot did not see the applied file")
        backup = applied.get("backup_id")
        if not backup:
            raise SystemExit(f"{label}: qubes.ConfigApply kept no backup: {applied}")
        rolled = call("qubes.ConfigRollback", {"version": 1, "profile": "git", "backup_ids": [backup]})
        with open(target, "rb") as f:
            if f.read() != old:
                raise SystemExit(f"{label}: qubes.ConfigRollback did not restore the file: {rolled}")
        if snapshot_sha() != sha(old):
            raise SystemExit(f"{label}: qubes.ConfigSnapshot did not see the restored file")
        print(
            f"==> {label}: qubes.ConfigApply, qubes.ConfigSnapshot and qubes.ConfigRollback ran the "
            "packaged agent (apply, snapshot, rollback, snapshot in a scratch home)",
            file=sys.stderr,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


main()
