#!/usr/bin/env python3
"""List the pending proposals of qubes-config-sync with their risk findings.

    list_pending_proposals.py [--bus ADDRESS] [--diff]

Everything that came from a qube (paths, notes, content quoted in findings) is printed
through the safe renderer: hidden, bidi and control characters appear as visible
tokens, never raw. Exit code: 0 when nothing critical is pending, 1 when some proposal
has a critical finding, 2 when the backend cannot be reached.
"""
import argparse
import datetime
import sys

import qubes_config_sync as qcs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bus", help="D-Bus address of the backend (default: session bus)")
    parser.add_argument("--diff", action="store_true", help="show each proposal's diff")
    args = parser.parse_args(argv)
    safe = qcs.render_safe
    try:
        backend = qcs.ConfigSync(args.bus) if args.bus else qcs.ConfigSync()
        summaries = backend.proposals("pending")
        proposals = [backend.proposal(s.id) for s in summaries]
    except qcs.QubesException as error:
        print(f"list_pending_proposals: {error}", file=sys.stderr)
        return 2
    if not proposals:
        print("no pending proposals")
        return 0
    critical = False
    for p in proposals:
        received = datetime.datetime.fromtimestamp(p.received_at).isoformat(timespec="seconds")
        print(f"#{p.id} {safe(p.path)} from {safe(p.source_qube)} "
              f"(profile {safe(p.profile)}, {received})")
        if p.note:
            print(f"  note: {p.note}")
        if not p.findings:
            print("  no findings")
        for f in p.findings:
            where = "file" if f.line is None else (
                f"base line {f.line}" if f.side == "base" else f"line {f.line}")
            print(f"  [{f.severity}] {where}: {safe(f.rule)}: {safe(f.message)}")
        if p.must_acknowledge:
            critical = True
            print(f"  must acknowledge to accept: {', '.join(p.must_acknowledge)}")
        if args.diff:
            print(p.diff_text, end="")
    return 1 if critical else 0


if __name__ == "__main__":
    sys.exit(main())
