//! Persistence analysis (DESIGN §7): will a file written into a qube's home survive a
//! restart of that qube?
//!
//! A pure function of the qube's class, the Qubes release, the qube's own features
//! (`service.custom-persist` and `custom-persist.*`) and a home-relative path. It does no
//! I/O: the backend fetches the features through the Admin API and shows the verdict and,
//! for a path that would be lost, the exact fix (the feature to set, or the `qvm-features`
//! command for dom0).
//!
//! Facts it encodes (reference `qubes-internals.md` §3):
//! * TemplateVM and StandaloneVM are fully persistent; bind-dirs (and so custom-persist)
//!   do not apply to them.
//! * A DispVM keeps nothing: its files are re-applied at every start.
//! * A template-based AppVM keeps `/home` unless `service.custom-persist` is on; then only
//!   what a `custom-persist.*` entry covers persists. Only the plain value `/home` re-enables
//!   the whole home (a `dir:…:/home` entry is skipped by the agent); a `file:` entry covers
//!   exactly that file, a plain path or `dir:` entry covers everything below it.
//! * custom-persist exists from Qubes R4.3 on; on R4.2 such features have no effect.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use qcs_protocol::path::RelativePath;
use qubesadmin::validate::{CustomPersistEntry, custom_persist_value, feature_assignment};

/// The feature that switches custom-persist on (set by `qvm-service -e QUBE custom-persist`).
pub const SERVICE_FEATURE: &str = "service.custom-persist";
/// Prefix of the features that list the persistent paths.
pub const ENTRY_PREFIX: &str = "custom-persist.";
/// The home directory of the user our files are written for.
pub const USER_HOME: &str = "/home/user";
/// Prefix of the keys this tool derives for its fixes, so they are recognisable in
/// `qvm-features` output.
pub const FIX_KEY_PREFIX: &str = "qcs-";

/// The qube classes files can be pushed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QubeClass {
    AppVM,
    DispVM,
    TemplateVM,
    StandaloneVM,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown or unsupported qube class {0:?}")]
pub struct UnknownClass(pub String);

impl FromStr for QubeClass {
    type Err = UnknownClass;
    /// Parses the `klass` of `admin.vm.List` (e.g. `AppVM`).
    fn from_str(text: &str) -> Result<Self, UnknownClass> {
        match text {
            "AppVM" => Ok(QubeClass::AppVM),
            "DispVM" => Ok(QubeClass::DispVM),
            "TemplateVM" => Ok(QubeClass::TemplateVM),
            "StandaloneVM" => Ok(QubeClass::StandaloneVM),
            other => Err(UnknownClass(other.chars().take(64).collect())),
        }
    }
}

/// The Qubes releases we know the behaviour of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QubesRelease {
    R4_2,
    R4_3,
}

impl QubesRelease {
    /// custom-persist arrived with R4.3 (core-admin `qubes/ext/custom_persist.py`).
    pub fn has_custom_persist(self) -> bool {
        self >= QubesRelease::R4_3
    }
}

/// Why a path persists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistentBecause {
    /// TemplateVM or StandaloneVM: every volume persists.
    FullyPersistentClass,
    /// Template-based AppVM without custom-persist: `/home` lives on the private volume.
    HomeIsPrivate,
    /// custom-persist is on and the plain `custom-persist.<key> = /home` re-enables `/home`.
    HomeReEnabled { key: String },
    /// custom-persist is on and this entry covers the path.
    CoveredBy { key: String, value: String },
}

/// The fix for a path that would be lost at restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistFix {
    /// Full feature name, `custom-persist.<key>`.
    pub feature: String,
    /// The key alone (valid per `qubesadmin::validate::custom_persist_key`).
    pub key: String,
    /// `file:user:user:<mode>:/home/user/<path>`.
    pub value: String,
    /// The same change as a dom0 command, quoted for a POSIX shell.
    pub dom0_command: String,
}

/// The verdict for one qube × path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Persistent(PersistentBecause),
    /// A DispVM: nothing survives, the file must be re-applied at every start.
    Volatile,
    /// custom-persist is on and nothing covers the path. `fix` is `None` only when the path
    /// cannot be written as a feature value (non-ASCII or control characters); `why_no_fix`
    /// says so. The fix takes effect after the qube's next restart.
    LostAtRestart {
        fix: Option<PersistFix>,
        why_no_fix: Option<String>,
    },
    /// The qube has custom-persist features but the release (R4.2) has no custom-persist:
    /// they have no effect. `path_persists` tells what happens instead.
    NotSupported {
        path_persists: bool,
    },
}

/// A `custom-persist.*` feature that was ignored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredEntry {
    pub feature: String,
    pub value: String,
    pub reason: String,
}

/// The result of [`analyse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub verdict: Verdict,
    /// Whether `service.custom-persist` is on (a non-empty value, as core-admin's services
    /// extension reads it).
    pub custom_persist_enabled: bool,
    /// Entries that are invalid or have no effect on a home file.
    pub ignored_entries: Vec<IgnoredEntry>,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Persistent(PersistentBecause::FullyPersistentClass) => {
                f.write_str("persistent (the whole qube persists)")
            }
            Verdict::Persistent(PersistentBecause::HomeIsPrivate) => {
                f.write_str("persistent (/home is on the private volume)")
            }
            Verdict::Persistent(PersistentBecause::HomeReEnabled { key }) => {
                write!(f, "persistent (custom-persist.{key} re-enables /home)")
            }
            Verdict::Persistent(PersistentBecause::CoveredBy { key, value }) => {
                write!(f, "persistent (covered by custom-persist.{key} = {value})")
            }
            Verdict::Volatile => f.write_str("volatile (disposable: re-applied at every start)"),
            Verdict::LostAtRestart { fix: Some(fix), .. } => write!(
                f,
                "lost at restart (custom-persist is on and no entry covers it); fix in dom0: {}",
                fix.dom0_command
            ),
            Verdict::LostAtRestart {
                fix: None,
                why_no_fix,
            } => write!(
                f,
                "lost at restart (custom-persist is on and no entry covers it); no fix: {}",
                why_no_fix.as_deref().unwrap_or("unknown")
            ),
            Verdict::NotSupported { path_persists } => write!(
                f,
                "custom-persist is not supported before Qubes R4.3, its features have no \
                 effect; the file {}",
                if *path_persists {
                    "persists as usual"
                } else {
                    "does not persist"
                }
            ),
        }
    }
}

/// Decides whether `path` (relative to `/home/user`) persists in a qube.
///
/// `features` are the qube's own features (name → value); only `service.custom-persist`
/// and `custom-persist.*` are read. `mode` is used for the pre-creation mode of a fix.
pub fn analyse(
    qube: &str,
    class: QubeClass,
    release: QubesRelease,
    features: &BTreeMap<String, String>,
    path: &RelativePath,
    mode: u32,
) -> Analysis {
    // core-admin exports a service as '1' for any non-empty value, '0' for ''.
    let custom_persist_enabled = features
        .get(SERVICE_FEATURE)
        .is_some_and(|value| !value.is_empty());
    let (entries, mut ignored_entries) = parse_entries(features);
    let verdict = match class {
        QubeClass::TemplateVM | QubeClass::StandaloneVM => {
            Verdict::Persistent(PersistentBecause::FullyPersistentClass)
        }
        QubeClass::DispVM => Verdict::Volatile,
        QubeClass::AppVM if !release.has_custom_persist() => {
            let configured = custom_persist_enabled
                || features.keys().any(|name| name.starts_with(ENTRY_PREFIX));
            if configured {
                Verdict::NotSupported {
                    path_persists: true,
                }
            } else {
                Verdict::Persistent(PersistentBecause::HomeIsPrivate)
            }
        }
        QubeClass::AppVM if !custom_persist_enabled => {
            Verdict::Persistent(PersistentBecause::HomeIsPrivate)
        }
        QubeClass::AppVM => app_vm_with_custom_persist(qube, &entries, path, mode),
    };
    // A `dir:`/`file:` entry for exactly /home is skipped by the agent's bind-dirs.sh.
    for (key, entry) in &entries {
        if entry.path() == "/home" && !matches!(entry, CustomPersistEntry::Path(_)) {
            ignored_entries.push(IgnoredEntry {
                feature: format!("{ENTRY_PREFIX}{key}"),
                value: entry.to_feature_value(),
                reason: "only the plain value '/home' re-enables /home; the agent skips a \
                         prefixed /home entry"
                    .to_owned(),
            });
        }
    }
    Analysis {
        verdict,
        custom_persist_enabled,
        ignored_entries,
    }
}

fn parse_entries(
    features: &BTreeMap<String, String>,
) -> (Vec<(String, CustomPersistEntry)>, Vec<IgnoredEntry>) {
    let mut entries = Vec::new();
    let mut ignored = Vec::new();
    for (name, value) in features {
        let Some(key) = name.strip_prefix(ENTRY_PREFIX) else {
            continue;
        };
        let checked = qubesadmin::validate::custom_persist_key(key)
            .and_then(|()| custom_persist_value(value));
        match checked {
            Ok(entry) if normalised_components(entry.path()).is_some() => {
                entries.push((key.to_owned(), entry));
            }
            Ok(_) => ignored.push(IgnoredEntry {
                feature: name.clone(),
                value: value.clone(),
                reason: "path has a '..' component; not analysed".to_owned(),
            }),
            Err(error) => ignored.push(IgnoredEntry {
                feature: name.clone(),
                value: value.clone(),
                reason: error.to_string(),
            }),
        }
    }
    (entries, ignored)
}

/// Components of an absolute path, without empty and `.` components (the kernel resolves
/// `/home//user/./x` like `/home/user/x`). `None` for a `..` component, which we do not try
/// to resolve.
fn normalised_components(path: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn app_vm_with_custom_persist(
    qube: &str,
    entries: &[(String, CustomPersistEntry)],
    path: &RelativePath,
    mode: u32,
) -> Verdict {
    // mount-dirs.sh matches `= /home$` exactly: only the literal plain value.
    if let Some((key, _)) = entries
        .iter()
        .find(|(_, entry)| matches!(entry, CustomPersistEntry::Path(p) if p == "/home"))
    {
        return Verdict::Persistent(PersistentBecause::HomeReEnabled { key: key.clone() });
    }
    let target: Vec<&str> = ["home", "user"]
        .into_iter()
        .chain(path.components())
        .collect();
    for (key, entry) in entries {
        let Some(covered) = normalised_components(entry.path()) else {
            continue;
        };
        if covered == ["home"] {
            // Skipped by bind-dirs.sh unless it is the plain form handled above.
            continue;
        }
        let covers = match entry {
            CustomPersistEntry::File { .. } => covered == target,
            CustomPersistEntry::Dir { .. } | CustomPersistEntry::Path(_) => {
                target.starts_with(&covered)
            }
        };
        if covers {
            return Verdict::Persistent(PersistentBecause::CoveredBy {
                key: key.clone(),
                value: entry.to_feature_value(),
            });
        }
    }
    match fix_for(qube, path, mode) {
        Ok(fix) => Verdict::LostAtRestart {
            fix: Some(fix),
            why_no_fix: None,
        },
        Err(reason) => Verdict::LostAtRestart {
            fix: None,
            why_no_fix: Some(reason),
        },
    }
}

/// The custom-persist key derived from a path: `qcs-` + a readable slug of the path +
/// `-` + 8 hex digits of its SHA-256, within the 54-character limit. The hash keeps two
/// paths with the same slug (`.a-b` and `.a/b`) apart; the same path always gives the
/// same key, so applying the fix twice sets the same feature.
pub fn fix_key(path: &RelativePath) -> String {
    const HASH_LEN: usize = 8;
    let max_slug =
        qubesadmin::validate::CUSTOM_PERSIST_KEY_MAX - FIX_KEY_PREFIX.len() - 1 - HASH_LEN;
    let mut slug = String::new();
    let mut last_dash = true;
    for c in path.as_str().chars() {
        let keep = c.is_ascii_alphanumeric() || c == '_';
        if keep {
            slug.push(c.to_ascii_lowercase());
            last_dash = false;
        } else if !last_dash {
            slug.push('-');
            last_dash = true;
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(max_slug).collect();
    let slug = slug.trim_end_matches('-');
    let hash = qcs_protocol::sha256_hex(path.as_str().as_bytes());
    let hash = &hash[..HASH_LEN];
    if slug.is_empty() {
        format!("{FIX_KEY_PREFIX}{hash}")
    } else {
        format!("{FIX_KEY_PREFIX}{slug}-{hash}")
    }
}

/// The fix for one path: a `file:` entry for exactly that file, owned by `user`.
pub fn fix_for(qube: &str, path: &RelativePath, mode: u32) -> Result<PersistFix, String> {
    let key = fix_key(path);
    let feature = format!("{ENTRY_PREFIX}{key}");
    let value = CustomPersistEntry::File {
        owner: "user".to_owned(),
        group: "user".to_owned(),
        mode,
        path: format!("{USER_HOME}/{}", path.as_str()),
    }
    .to_feature_value();
    feature_assignment(&feature, value.as_bytes()).map_err(|e| {
        format!("the path cannot be expressed as a custom-persist feature value: {e}")
    })?;
    // A valid qube name needs no quoting ([a-zA-Z][a-zA-Z0-9_.-]*); anything else is quoted.
    let qube_word = match qubesadmin::validate::vm_name(qube) {
        Ok(()) => qube.to_owned(),
        Err(_) => shell_quote(qube),
    };
    let dom0_command = format!("qvm-features {qube_word} {feature} {}", shell_quote(&value));
    Ok(PersistFix {
        feature,
        key,
        value,
        dom0_command,
    })
}

/// Single-quotes `text` for a POSIX shell (`'` becomes `'\''`).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
