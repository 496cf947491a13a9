"""Offline review helpers: risk scan, safe rendering, persistence analysis."""
import pytest

import qubes_config_sync as qcs

HOSTILE_GITCONFIG = "[user]\n\tname = Alice\u202e\n[core]\n\tfsmonitor = /home/user/.cache/x.sh\n"


def test_scan_finds_fsmonitor_and_bidi():
    findings = qcs.scan(HOSTILE_GITCONFIG, ".gitconfig")
    rules = {f.rule for f in findings}
    assert "git.core.fsmonitor" in rules
    fsmonitor = next(f for f in findings if f.rule == "git.core.fsmonitor")
    assert fsmonitor.severity == "critical"
    assert fsmonitor.line == 4
    assert fsmonitor.side == "proposed" and fsmonitor.change == "added"
    assert "fsmonitor" in fsmonitor.message and fsmonitor.why
    assert isinstance(fsmonitor.reference, str)
    assert any(f.line == 2 and f.severity == "critical" for f in findings if f.rule != fsmonitor.rule)
    # Worst first.
    order = ["critical", "high", "medium", "info"]
    assert [order.index(f.severity) for f in findings] == sorted(order.index(f.severity) for f in findings)
    # The repr leads with the finding's identity (rule, file, side and line), then the rule.
    assert repr(fsmonitor).startswith('Finding(id="git.core.fsmonitor@.gitconfig:p4#')
    assert 'rule="git.core.fsmonitor"' in repr(fsmonitor)


def test_scan_accepts_bytes_and_reports_invalid_utf8():
    assert qcs.scan(HOSTILE_GITCONFIG.encode(), ".gitconfig") == qcs.scan(HOSTILE_GITCONFIG, ".gitconfig")
    findings = qcs.scan(b"[user]\n\tname = \xff\xfe\n", ".gitconfig")
    assert findings, "invalid UTF-8 must be a finding"


def test_scan_with_base_reports_only_changes():
    assert qcs.scan(HOSTILE_GITCONFIG, ".gitconfig", base=HOSTILE_GITCONFIG) == []
    changed = qcs.scan("[core]\n\tfsmonitor = /b\n", ".gitconfig", base="[core]\n\tfsmonitor = /a\n")
    assert [(f.rule, f.change, f.side, f.line) for f in changed] == [
        ("git.core.fsmonitor", "changed", "proposed", 2)
    ]
    weakened = qcs.scan("Host *\n\tStrictHostKeyChecking no\n", ".ssh/config",
                        base="Host *\n\tStrictHostKeyChecking yes\n")
    assert [f.rule for f in weakened] == ["ssh.stricthostkeychecking"]


def test_scan_removed_protection_is_a_finding():
    base = "[transfer]\n\tfsckObjects = true\n"
    findings = qcs.scan("[user]\n\tname = A\n", ".gitconfig", base=base)
    removed = [f for f in findings if f.change == "removed"]
    assert removed and all(f.side == "base" for f in removed)


def test_scan_metadata_and_unknown_types():
    symlink = qcs.scan("", ".bashrc", kind="symlink")
    assert symlink and symlink[0].line is None
    setuid = qcs.scan("echo hi\n", ".local/bin/x", mode=0o4755)
    assert setuid, "a setuid mode must be a finding"
    assert qcs.scan("x", ".some/unknown-file"), "an unknown file type is never a silent pass"
    with pytest.raises(ValueError) as info:
        qcs.scan("x", ".bashrc", kind="pipe")
    assert isinstance(info.value, qcs.QubesValueError)
    with pytest.raises(qcs.QubesValueError):
        qcs.scan(42, ".bashrc")


def test_scan_survives_hostile_input():
    # Large, deeply odd content: findings come back, nothing crashes.
    blob = ("A" * 100_000 + "\n") * 3 + "\x00\x1b[2J" + "\u202e" * 1000
    assert qcs.scan(blob, ".bashrc")
    assert isinstance(qcs.scan("\ud800 lone surrogate", ".bashrc"), list)


def test_never_sync():
    assert qcs.is_never_sync(".ssh/id_ed25519")
    assert not qcs.is_never_sync(".gitconfig")


def test_render_safe_makes_hidden_characters_visible():
    text = "name = Alice\u202e\u2066 ]dmc[\n\tx \r\nnul\x00 esc\x1b[31m nbsp\u00a0z\u200b\n"
    out = qcs.render_safe(text)
    for hidden in ("\u202e", "\u2066", "\x00", "\x1b", "\r", "\u00a0", "\u200b", "\t"):
        assert hidden not in out, repr(hidden)
    assert "⟦U+202E RLO⟧" in out
    assert "⟦NUL⟧" in out and "⟦ESC⟧" in out and "⟦CR⟧" in out
    assert "→" in out  # the tab
    assert out.count("\n") == 3 and out.endswith("\n")
    assert qcs.render_safe("plain\n") == "plain\n"
    assert qcs.render_safe("no newline") == "no newline"
    assert qcs.render_safe("trailing  \n") == "trailing··\n"


def test_render_safe_bytes():
    out = qcs.render_safe(b"a\xffb\n")
    assert "⟦0xFF⟧" in out
    assert qcs.render_safe(b"") == ""


def test_analyse_persistence_verdicts():
    a = qcs.analyse_persistence("work", "AppVM", ".gitconfig", {})
    assert (a.verdict, a.persistent, a.reason) == ("persistent", True, "home-is-private")
    assert a.fix is None and a.custom_persist_enabled is False
    assert qcs.analyse_persistence("t", "TemplateVM", ".x", {}).reason == "fully-persistent-class"
    d = qcs.analyse_persistence("disp1", "DispVM", ".x", {})
    assert (d.verdict, d.persistent) == ("volatile", False)
    lost = qcs.analyse_persistence("work", "AppVM", ".gitconfig", {"service.custom-persist": "1"})
    assert lost.verdict == "lost-at-restart" and not lost.persistent
    assert lost.fix.feature.startswith("custom-persist.")
    assert lost.fix.value == "file:user:user:0644:/home/user/.gitconfig"
    assert "qvm-features" in lost.fix.dom0_command and "work" in lost.fix.dom0_command
    assert "lost at restart" in lost.description
    covered = qcs.analyse_persistence(
        "work", "AppVM", ".config/git/ignore",
        {"service.custom-persist": "1", "custom-persist.cfg": "dir:user:user:0755:/home/user/.config"},
    )
    assert covered.persistent and covered.reason == "covered-by" and covered.covered_by == "custom-persist.cfg"
    home = qcs.analyse_persistence("w", "AppVM", ".x", {"service.custom-persist": "1", "custom-persist.h": "/home"})
    assert home.reason == "home-re-enabled"
    r42 = qcs.analyse_persistence("w", "AppVM", ".x", {"service.custom-persist": "1"}, release="4.2")
    assert r42.verdict == "not-supported" and r42.persistent


def test_analyse_persistence_reports_ignored_entries_and_refuses_bad_input():
    a = qcs.analyse_persistence(
        "w", "AppVM", ".x", {"service.custom-persist": "1", "custom-persist.bad": "nonsense:x"}
    )
    assert a.ignored_entries and a.ignored_entries[0][0] == "custom-persist.bad"
    with pytest.raises(qcs.QubesValueError):
        qcs.analyse_persistence("w", "AdminVM", ".x", {})
    with pytest.raises(qcs.QubesValueError):
        qcs.analyse_persistence("w", "AppVM", "../etc/passwd", {})
    with pytest.raises(qcs.QubesValueError):
        qcs.analyse_persistence("w", "AppVM", "/home/user/.x", {})
    with pytest.raises(qcs.QubesValueError):
        qcs.analyse_persistence("w", "AppVM", ".x", {}, release="5.0")
    # A path that cannot be written as a feature value has no fix, and says why.
    odd = qcs.analyse_persistence("w", "AppVM", ".caf\u00e9", {"service.custom-persist": "1"})
    assert odd.fix is None and odd.why_no_fix
