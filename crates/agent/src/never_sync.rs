//! The agent's own, compiled-in never-sync list: paths it refuses to write, read or
//! restore whatever the config qube asks (defence in depth, DESIGN §2). The config
//! qube has its own, longer list (`crates/core/rules/default.toml`) and is the first
//! line; this one is the second and need not agree with it: it holds only what must
//! never leave or enter a qube through this tool even if the config qube is wrong —
//! private keys and key stores, credentials, shell histories, VCS internals and the
//! agent's own state. See `SECURITY.md` beside this crate.
//!
//! Matching is done on a folded form of the path, so a case-insensitive home (a
//! casefold ext4 directory, vfat) cannot reach a protected file under another
//! spelling: each character is lower-cased (Unicode), the non-ASCII characters whose
//! full case folding is ASCII (`ß`/`ẞ` → `ss`, long `ſ` → `s`, Kelvin `K` → `k`, the
//! `ﬀ`…`ﬆ` ligatures) are expanded, and trailing dots and spaces of each component,
//! which vfat ignores, are dropped. A component shaped like a vfat 8.3 short-name alias
//! (`GNUPG~1`, `ID_ED2~1`) is refused too, since it may name any long name.
//!
//! It must not read the file system, and it must not depend on `qcs-core`.

use qcs_protocol::RelativePath;

/// Why a path is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// The pattern (as written in [`RULES`]) or rule that matched.
    pub pattern: &'static str,
    /// What it protects, for the reply's detail.
    pub what: &'static str,
}

impl std::fmt::Display for Protected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "on the agent's never-sync list ({}: {})",
            self.what, self.pattern
        )
    }
}

/// Glob patterns over the folded path, grouped by what they protect. `*` matches
/// within one component, `**` any number of components (zero included).
pub const RULES: &[(&str, &[&str])] = &[
    (
        "private key",
        &[
            ".ssh/id_*",
            ".ssh/*_rsa",
            ".ssh/*_dsa",
            ".ssh/*_ecdsa",
            ".ssh/*_ed25519",
            ".ssh/*_ecdsa_sk",
            ".ssh/*_ed25519_sk",
            "**/*.pem",
            "**/*.key",
            "**/*.p12",
            "**/*.pfx",
            "**/*.kdbx",
        ],
    ),
    (
        "key store",
        &[
            ".gnupg",
            ".gnupg/**",
            ".pki/**",
            ".password-store/**",
            ".local/share/keyrings/**",
            ".gnome2/keyrings/**",
            ".local/share/kwalletd/**",
            ".kde/share/apps/kwallet/**",
            ".kde4/share/apps/kwallet/**",
        ],
    ),
    (
        "credentials",
        &[
            ".netrc",
            ".pgpass",
            ".git-credentials",
            ".config/git/credentials",
            ".pypirc",
            ".cargo/credentials",
            ".cargo/credentials.toml",
            ".aws/credentials",
            ".docker/config.json",
            ".kube/config",
            ".config/gh/hosts.yml",
            ".config/gcloud/**",
        ],
    ),
    (
        "browser or mail profile (passwords, cookies)",
        &[
            ".mozilla/**",
            ".thunderbird/**",
            ".config/chromium/**",
            ".config/google-chrome/**",
            ".config/bravesoftware/**",
        ],
    ),
    (
        "history",
        &[
            ".bash_history",
            ".zsh_history",
            ".histfile",
            ".python_history",
            ".psql_history",
            ".mysql_history",
            ".sqlite_history",
            ".node_repl_history",
            ".lesshst",
            ".local/share/fish/fish_history",
        ],
    ),
    (
        "version control internals (hooks and config run code)",
        &["**/.git", "**/.git/**", "**/.hg", "**/.hg/**"],
    ),
    (
        "qubes-config-sync state (backups, spool, store)",
        &[
            ".local",
            ".local/state",
            ".local/share",
            ".local/state/qubes-config-sync",
            ".local/state/qubes-config-sync/**",
            ".local/share/qubes-config-sync",
            ".local/share/qubes-config-sync/**",
        ],
    ),
];

/// Public halves and plain configuration inside protected places: allowed although a
/// rule above matches. They name direct children of `.ssh` and `.gnupg` only, so they
/// can never open a state path (a unit test checks), and the 8.3 rule comes first.
pub const EXCEPTIONS: &[&str] = &[".ssh/*.pub", ".gnupg/*.conf"];

const SHORT_NAME: Protected = Protected {
    pattern: "NAME~N.EXT",
    what: "possible vfat 8.3 short-name alias of a protected name",
};

/// `Err` if `path` must never be written, read or restored.
pub fn check(path: &RelativePath) -> Result<(), Protected> {
    check_str(path.as_str())
}

fn check_str(path: &str) -> Result<(), Protected> {
    let folded: Vec<String> = path.split('/').map(fold_component).collect();
    let parts: Vec<&str> = folded.iter().map(String::as_str).collect();
    if path.split('/').any(is_short_name_alias) {
        return Err(SHORT_NAME);
    }
    let matches = |pattern: &str| {
        let pattern: Vec<&str> = pattern.split('/').collect();
        match_components(&pattern, &parts)
    };
    if EXCEPTIONS.iter().any(|e| matches(e)) {
        return Ok(());
    }
    for (what, patterns) in RULES {
        if let Some(pattern) = patterns.iter().find(|p| matches(p)) {
            return Err(Protected { pattern, what });
        }
    }
    Ok(())
}

/// The folded form of one component (see the module documentation).
pub fn fold_component(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for c in component.chars() {
        match c {
            'ß' | 'ẞ' => out.push_str("ss"),
            'ſ' => out.push('s'),
            'ﬀ' => out.push_str("ff"),
            'ﬁ' => out.push_str("fi"),
            'ﬂ' => out.push_str("fl"),
            'ﬃ' => out.push_str("ffi"),
            'ﬄ' => out.push_str("ffl"),
            'ﬅ' | 'ﬆ' => out.push_str("st"),
            // Covers ASCII and Unicode upper case, Kelvin sign included.
            c => out.extend(c.to_lowercase()),
        }
    }
    let kept = out.trim_end_matches(['.', ' ']).len();
    out.truncate(kept);
    out
}

/// A component vfat could resolve as the 8.3 alias of another, long name: a base of
/// 1–6 characters, `~`, 1–6 digits (base and tail at most 8), an optional extension
/// of 1–3 characters.
fn is_short_name_alias(component: &str) -> bool {
    let (stem, ext) = match component.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, Some(ext)),
        _ => (component, None),
    };
    if ext.is_some_and(|e| e.is_empty() || e.chars().count() > 3) {
        return false;
    }
    let Some((base, digits)) = stem.rsplit_once('~') else {
        return false;
    };
    !base.is_empty()
        && !base.contains('.')
        && base.chars().count() + 1 + digits.len() <= 8
        && (1..=6).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Glob match of pattern components against path components.
fn match_components(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| match_components(rest, &path[skip..])),
        Some((first, rest)) => match path.split_first() {
            Some((name, path_rest)) => {
                match_one(
                    &first.chars().collect::<Vec<_>>(),
                    &name.chars().collect::<Vec<_>>(),
                ) && match_components(rest, path_rest)
            }
            None => false,
        },
    }
}

/// `*` (any run) and `?` (one character) within one component.
fn match_one(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|skip| match_one(rest, &name[skip..])),
        Some(('?', rest)) => !name.is_empty() && match_one(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && match_one(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(p: &str) -> bool {
        check_str(p).is_err()
    }

    #[test]
    fn refuses_private_keys_in_any_case() {
        for p in [
            ".ssh/id_ed25519",
            ".ssh/id_rsa",
            ".SSH/ID_ED25519",
            ".Ssh/Id_Rsa",
            ".ssh/github_ed25519",
            ".ssh/work_ecdsa_sk",
            "certs/server.KEY",
            "a/b/client.Pem",
            ".gnupg/private-keys-v1.d/ABCDEF.key",
            ".GnuPG/pubring.kbx",
            ".gnupg",
            ".local/share/keyrings/login.keyring",
            ".password-store/mail.gpg",
        ] {
            assert!(refused(p), "{p}");
        }
    }

    #[test]
    fn allows_public_halves_and_ordinary_config() {
        for p in [
            ".ssh/id_ed25519.pub",
            ".SSH/ID_ED25519.PUB",
            ".ssh/config",
            ".ssh/known_hosts",
            ".ssh/authorized_keys",
            ".gnupg/gpg.conf",
            ".GNUPG/GPG-AGENT.CONF",
            ".gitconfig",
            ".config/git/config",
            ".config/git/attributes",
            ".gitignore",
            ".bashrc",
            ".local/bin/tool",
            ".local/share/applications/x.desktop",
            ".config/autostart/x.desktop",
            "notes~",
            "keys.txt",
        ] {
            assert!(!refused(p), "{p}: {:?}", check_str(p));
        }
    }

    #[test]
    fn exceptions_do_not_open_the_key_store_below_gnupg() {
        assert!(refused(".gnupg/private-keys-v1.d/x.conf"));
        assert!(refused(".gnupg/pubring.kbx"));
        assert!(refused(".ssh/keys/id_rsa.pub.key"));
    }

    #[test]
    fn unicode_folds_that_reach_ascii_are_refused() {
        for p in [
            ".\u{17F}sh/id_ed25519",             // long s
            ".\u{df}h/id_ed25519",               // sharp s folds to "ss"
            ".\u{1E9E}h/ID_ED25519",             // capital sharp s
            ".gnupg/private-\u{212A}eys-v1.d/x", // Kelvin sign
            ".password-\u{FB06}ore/x",           // st ligature
            ".config/gh/ho\u{FB06}s.yml",
            ".CONFIG/GIT/CREDENTIALS",
        ] {
            assert!(refused(p), "{p}");
        }
        // Unicode upper case of non-ASCII letters folds too (no effect on ASCII rules).
        assert_eq!(fold_component("ÄÖÜ"), "äöü");
    }

    #[test]
    fn vfat_spellings_are_refused() {
        for p in [
            ".ssh./id_rsa",
            ".netrc.",
            ".netrc ",
            ".git./config",
            "GNUPG~1/pubring.kbx",
            ".ssh/ID_ED2~1",
            "PASSWO~1/x.gpg",
            "dir/PRIVAT~1.D/key",
        ] {
            assert!(refused(p), "{p}");
        }
        assert!(!refused("backup~"));
        assert!(!refused("file~0"));
        assert!(!refused("a.b~1"), "a dot in the base is not an 8.3 alias");
        assert!(!refused("verylongname~1"));
    }

    #[test]
    fn vcs_internals_and_own_state_are_refused() {
        for p in [
            ".git",
            "src/proj/.git",
            "src/proj/.git/hooks/pre-commit",
            "src/proj/.GIT/config",
            ".hg/hgrc",
            ".local",
            ".local/state",
            ".local/state/qubes-config-sync",
            ".local/state/qubes-config-sync/backups/1-2-0/manifest.json",
            ".LOCAL/STATE/Qubes-Config-Sync/backups/x",
            ".local/share/qubes-config-sync/spool/work/p.json",
        ] {
            assert!(refused(p), "{p}");
        }
        assert!(!refused(".gitmodules"));
        assert!(!refused("src/proj/.gitignore"));
        let why = check_str(".local/state/qubes-config-sync/backups/x").unwrap_err();
        assert!(why.what.starts_with("qubes-config-sync"), "{why}");
        for exception in EXCEPTIONS {
            assert!(
                exception.starts_with(".ssh/") || exception.starts_with(".gnupg/"),
                "{exception} could open a state path"
            );
        }
    }

    #[test]
    fn globs() {
        let m = |p: &str, s: &str| {
            match_components(
                &p.split('/').collect::<Vec<_>>(),
                &s.split('/').collect::<Vec<_>>(),
            )
        };
        assert!(m("**/.git", ".git"));
        assert!(m("**/.git/**", "a/.git/b/c"));
        assert!(m("**/.git/**", ".git/x"));
        assert!(!m("**/.git/**", "a/.gitx/b"));
        assert!(m(".ssh/id_*", ".ssh/id_"));
        assert!(!m(".ssh/id_*", ".ssh/sub/id_rsa"));
        assert!(m("a/?", "a/b"));
        assert!(!m("a/?", "a/bc"));
    }
}
