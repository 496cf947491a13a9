#!/usr/bin/env python3
"""Inspect the three built RPMs (called by tools/check-packages, which builds them).

    rpm/check-rpms.py RPMDIR EXPECTED_JSON [DEB…]

Checks, printing one line per failure on stderr and exiting 1 if any failed:
  * the three packages exist: -dom0 noarch, -manager and -agent for the build arch;
  * each file list (`rpm -qlp`, directories aside, /usr/lib/.build-id links aside) equals
    the expected list tools/check-packages derives from the Debian packages' lists;
  * no path is in two packages (directories aside, which rpm lets packages share);
  * -dom0 holds only the policy (and its license), owns no directory of
    qubes-core-qrexec-dom0 and contains nothing executable;
  * every file under /etc is %config(noreplace), as Debian's conffiles;
  * modes: programs and qrexec services 0755, everything else 0644, all root:root;
  * every Requires is satisfied by our own packages (the manager needs the agent of the
    same version-release) or listed in rpm/known-requires for where the package goes;
  * no scriptlet or trigger in -dom0; none in any package that enables, starts or
    presets a unit, touches tags or the policy (the user guide: nothing is enabled or
    started at install, the backend starts by D-Bus activation only);
  * and, for each DEB given, that every alternative group of its Depends has a name listed
    in rpm/known-requires for `debian` (or is one of our packages).

It must not build anything: it only reads the packages (`rpm -qp`, `dpkg-deb -f`).
"""

import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KNOWN = os.path.join(HERE, "known-requires")
# Directories that qubes-core-qrexec-dom0 owns (0775 root:qubes); -dom0 must not own them.
QREXEC_DOM0_DIRS = {"/etc/qubes/policy.d", "/etc/qubes/policy.d/include"}
# What no scriptlet may do (user guide sections 2 and 3).
FORBIDDEN_SCRIPTLET = re.compile(
    r"systemctl\b[^\n]*\b(enable|start|restart|preset|unmask|reenable)\b"
    r"|\bdeb-systemd-(helper|invoke)\b[^\n]*\b(enable|start)\b"
    r"|\bqvm-[a-z-]+|\bqubes-prefs\b|\bqubesd\b"
    r"|/etc/qubes/policy\.d"
    r"|\bdbus-send\b|\bgdbus\b"
)

failures = []


def fail(msg):
    failures.append(msg)
    print(f"check-rpms: FAIL: {msg}", file=sys.stderr)


def rpm_q(path, *args):
    return subprocess.run(
        ["rpm", "-qp", "--nosignature", "--nodigest", *args, path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def load_known(path):
    """`requirement where…` lines; `#` starts a comment. Returns [(pattern, {where})]."""
    entries = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            words = line.split()
            if len(words) < 3:
                raise SystemExit(f"{path}:{n}: want `requirement where package`, got {line!r}")
            where = set(words[1].split(","))
            if not where <= {"dom0", "fedora", "debian"}:
                raise SystemExit(f"{path}:{n}: `where` is dom0, fedora or debian (or a list), not {words[1]}")
            entries.append((words[0], where))
    return entries


def version_tuple(text):
    return tuple(int(p) for p in re.findall(r"\d+", text))


def known(req, where, entries):
    """True if `req` (a requirement name) is listed for `where`. An entry
    `lib.so.6(GLIBC_<=2.40)(64bit)` accepts lib.so.6(GLIBC_x.y)(64bit) for x.y <= 2.40."""
    for pattern, places in entries:
        if where not in places:
            continue
        if pattern == req:
            return True
        m = re.fullmatch(r"(.*)\(([A-Z_]+)<=([0-9.]+)\)(.*)", pattern)
        if m:
            head, tag, limit, tail = m.groups()
            r = re.fullmatch(re.escape(head) + r"\(" + tag + r"([0-9.]+)\)" + re.escape(tail), req)
            if r and version_tuple(r.group(1)) <= version_tuple(limit):
                return True
    return False


def check_deb_depends(deb, entries):
    """Each `a | b (>= 1)` group of Depends needs one alternative that is ours or known."""
    depends = subprocess.run(
        ["dpkg-deb", "-f", deb, "Depends"], check=True, capture_output=True, text=True
    ).stdout
    groups = [g.strip() for g in depends.replace("\n", " ").split(",") if g.strip()]
    for group in groups:
        names = [re.sub(r"\s*[(\[].*$", "", alt.strip()) for alt in group.split("|")]
        if not any(n.startswith("qubes-config-sync-") or known(n, "debian", entries) for n in names):
            fail(
                f"{os.path.basename(deb)}: Depends {group!r} names nothing listed in rpm/known-requires "
                "for debian (list a name only once it is checked to exist in Debian / the Qubes repository)"
            )
    print(f"==> deb {os.path.basename(deb)}: {len(groups)} Depends checked against rpm/known-requires",
          file=sys.stderr)


def main():
    rpmdir, expected_path = sys.argv[1], sys.argv[2]
    for deb in sys.argv[3:]:
        check_deb_depends(deb, load_known(KNOWN))
    with open(expected_path) as f:
        expected = json.load(f)
    version, release, arch = expected["version"], expected["release"], expected["arch"]
    entries = load_known(KNOWN)

    rpms = {}
    for sub, a in (("dom0", "noarch"), ("manager", arch), ("agent", arch)):
        name = f"qubes-config-sync-{sub}"
        path = os.path.join(rpmdir, a, f"{name}-{version}-{release}.{a}.rpm")
        if not os.path.isfile(path):
            fail(f"{name}: {os.path.relpath(path, rpmdir)} was not built")
            continue
        rpms[sub] = path
        got_arch = rpm_q(path, "--qf", "%{ARCH}")
        if got_arch != a:
            fail(f"{name}: arch {got_arch}, not {a}")
    if len(rpms) != 3:
        return

    files = {}
    owners = {}
    provides = {}
    for sub, path in rpms.items():
        rows = rpm_q(
            path,
            "--qf",
            "[%{FILEMODES:perms}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\t%{FILENAMES}\n]",
        ).splitlines()
        entries_ = [r.split("\t", 4) for r in rows if r]
        files[sub] = entries_
        for perms, _, _, _, name in entries_:
            if not perms.startswith("d"):
                owners.setdefault(name, []).append(sub)
        provides[sub] = [p.split()[0] for p in rpm_q(path, "--provides").splitlines() if p]

    # File lists.
    for sub, entries_ in files.items():
        listed = sorted(
            n for perms, _, _, _, n in entries_
            if not perms.startswith("d") and not n.startswith("/usr/lib/.build-id/")
        )
        want = sorted(expected["files"][sub])
        if listed != want:
            missing = sorted(set(want) - set(listed))
            extra = sorted(set(listed) - set(want))
            fail(f"qubes-config-sync-{sub}: file list differs: missing {missing}, not expected {extra}")
        else:
            print(f"==> rpm {sub}: file list as expected ({len(want)} files)", file=sys.stderr)
    for name, subs in sorted(owners.items()):
        if len(subs) > 1:
            fail(f"{name} is in more than one package: {', '.join(subs)}")

    # Metadata of every file.
    for sub, entries_ in files.items():
        for perms, user, group, flags, name in entries_:
            if perms.startswith("d"):
                if sub == "dom0" and name in QREXEC_DOM0_DIRS:
                    fail(f"-dom0 owns {name}, which belongs to qubes-core-qrexec-dom0 (0775 root:qubes)")
                continue
            if (user, group) != ("root", "root"):
                fail(f"{sub}: {name} is owned by {user}:{group}, not root:root")
            executable = name.startswith(("/usr/bin/", "/etc/qubes-rpc/"))
            if perms.startswith("l"):
                if not name.startswith("/usr/lib/.build-id/"):
                    fail(f"{sub}: {name} is a symbolic link")
                continue
            want_perms = "-rwxr-xr-x" if executable else "-rw-r--r--"
            if perms != want_perms:
                fail(f"{sub}: {name} has mode {perms}, not {want_perms}")
            is_config = "c" in flags and "n" in flags
            if name.startswith("/etc/") and not is_config:
                fail(f"{sub}: {name} is in /etc but not %config(noreplace) (flags {flags!r})")
            if not name.startswith("/etc/") and "c" in flags:
                fail(f"{sub}: {name} is %config outside /etc")

    # dom0: only the policy, noarch (checked above), nothing executable.
    for perms, _, _, _, name in files["dom0"]:
        if perms.startswith("d"):
            continue
        if not (name.startswith("/etc/qubes/policy.d/") or name.startswith("/usr/share/licenses/")):
            fail(f"-dom0 contains {name}, which is not policy")
        if "x" in perms:
            fail(f"-dom0 contains an executable: {name}")

    # Requires.
    own = {p for subs in provides.values() for p in subs}
    evr = f"{version}-{release}"
    for sub, path in rpms.items():
        where = "dom0" if sub == "dom0" else "fedora"
        reqs = [r for r in rpm_q(path, "--requires").splitlines() if r.strip()]
        for req in reqs:
            name = req.split()[0]
            if name.startswith("rpmlib("):
                continue
            if name in own:
                if name.startswith("qubes-config-sync-") and not req.endswith(f"= {evr}"):
                    fail(f"{sub}: Requires {req}: not pinned to {evr}")
                continue
            if not known(name, where, entries):
                fail(
                    f"qubes-config-sync-{sub}: Requires {req!r} is not in rpm/known-requires for {where} "
                    "(list it only once it is checked to exist in Fedora / a Qubes dom0 by that name)"
                )
        print(f"==> rpm {sub}: {len(reqs)} Requires checked against rpm/known-requires ({where})",
              file=sys.stderr)
    manager_reqs = rpm_q(rpms["manager"], "--requires")
    if f"qubes-config-sync-agent = {evr}" not in manager_reqs:
        fail(f"-manager does not require qubes-config-sync-agent = {evr}")

    # Scriptlets and triggers.
    for sub, path in rpms.items():
        scripts = rpm_q(path, "--scripts", "--triggers", "--filetriggers").strip()
        if not scripts:
            print(f"==> rpm {sub}: no scriptlets, no triggers", file=sys.stderr)
            continue
        if sub == "dom0":
            fail(f"-dom0 has scriptlets (the guide: it installs the static policy only):\n{scripts}")
        for m in FORBIDDEN_SCRIPTLET.finditer(scripts):
            fail(f"{sub}: a scriptlet runs `{m.group(0)}`, which the user guide says never happens at install")


main()
if failures:
    sys.exit(1)
