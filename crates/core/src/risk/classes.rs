//! The three classes of a parsed setting (DESIGN §6, "is this known to be
//! harmless?"): `inert` (no finding), `dangerous` (critical, with a one-line reason)
//! and everything not listed, *unknown* (high, gated). An entry may be limited to
//! values (a regex); an entry for the value wins over one for the whole key, and
//! dangerous wins among equals. The data lives in
//! `rules/<type>.toml` as `[[setting]]` entries, each with a reference to the
//! program's documentation; a key a future release adds is therefore never
//! silently accepted. This module loads and looks up classes; it does not parse
//! files (that is `parse`) nor build findings (that is the engine).

use regex::Regex;
use serde::Deserialize;

use super::schema::RuleError;

/// Every embedded `rules/<type>.toml` (all but `default.toml`), by file name.
pub const SETTING_FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/setting_files.rs"));

/// One `[[setting]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingDef {
    /// The id of a `[[filetype]]`.
    pub filetype: String,
    /// Canonical key (see `parse::Setting::key`); `*` matches one key part: a middle
    /// `*` is a git subsection (which may itself contain dots), a first or last `*`
    /// any text without a dot.
    pub key: String,
    /// `inert` or `dangerous`.
    pub class: Class,
    /// One line a user understands (required for `dangerous`).
    #[serde(default)]
    pub message: Option<String>,
    /// The program's documentation for this key.
    pub reference: String,
    /// When set, the entry applies only to values matching this regex (whole value;
    /// a bare boolean key is matched as the empty string).
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingFile {
    #[serde(default, rename = "setting")]
    settings: Vec<SettingDef>,
}

/// What is known about a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Known to be harmless: no finding.
    Inert,
    /// Runs or loads code, redirects trust, credentials or network endpoints: critical.
    Dangerous,
}

/// The class of one setting after lookup; `Unknown` when no entry applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// No finding.
    Inert,
    /// Critical, with the entry's message and reference.
    Dangerous {
        /// Why it matters.
        message: &'a str,
        /// Documentation.
        reference: &'a str,
    },
    /// High: not known to be harmless.
    Unknown,
}

#[derive(Debug, Clone)]
struct Entry {
    filetype: String,
    /// The literal first key part of a pattern (`None` when it has a wildcard).
    head: Option<String>,
    key: KeyMatch,
    class: Class,
    message: String,
    reference: String,
    value: Option<Regex>,
}

#[derive(Debug, Clone)]
enum KeyMatch {
    Exact(String),
    Pattern(Regex),
}

impl KeyMatch {
    fn new(key: &str) -> Result<KeyMatch, String> {
        if !key.contains('*') {
            return Ok(KeyMatch::Exact(key.to_string()));
        }
        let count = key.split('.').count();
        let parts: Vec<String> = key
            .split('.')
            .enumerate()
            .map(|(i, p)| {
                if p == "*" && i + 1 < count && i > 0 {
                    // A middle part: a git subsection, which may contain dots.
                    ".+".to_string()
                } else if p == "*" {
                    "[^.]+".to_string()
                } else if p.contains('*') {
                    regex::escape(p).replace(r"\*", "[^.]*")
                } else {
                    regex::escape(p)
                }
            })
            .collect();
        Regex::new(&format!("^(?s:{})$", parts.join(r"\.")))
            .map(KeyMatch::Pattern)
            .map_err(|e| format!("bad key pattern {key:?}: {e}"))
    }

    fn matches(&self, key: &str) -> bool {
        match self {
            KeyMatch::Exact(k) => k == key,
            KeyMatch::Pattern(re) => re.is_match(key),
        }
    }
}

/// Maps of rule-file keys (foldhash: several times faster than SipHash on short keys;
/// the keys come from the rules, only lookups from files).
type Map<V> = std::collections::HashMap<String, V, foldhash::fast::RandomState>;
type Index = Map<Map<Vec<usize>>>;

/// All setting classes of a rule set, indexed by file type and key.
#[derive(Debug, Clone, Default)]
pub struct Classes {
    entries: Vec<Entry>,
    /// file type -> key -> entries for exactly that key (nested, so a lookup borrows
    /// the key instead of allocating a pair).
    by_key: Index,
    /// file type -> first key part -> pattern entries whose first part is literal.
    by_head: Index,
    /// file type -> entries whose first part has a wildcard.
    wild_head: Map<Vec<usize>>,
}

fn head(key: &str) -> &str {
    key.split('.').next().unwrap_or(key)
}

impl Classes {
    /// Loads `[[setting]]` files, checking every entry against the known file types.
    pub fn load(files: &[(&str, &str)], filetypes: &[&str]) -> Result<Classes, RuleError> {
        let mut entries = Vec::new();
        for (name, text) in files {
            let file: SettingFile = toml::from_str(text).map_err(|e| RuleError::Invalid {
                rule: (*name).to_string(),
                reason: e.to_string(),
            })?;
            for def in file.settings {
                entries.push(Self::compile(name, def, filetypes)?);
            }
        }
        let mut classes = Classes {
            entries,
            ..Classes::default()
        };
        for (i, e) in classes.entries.iter().enumerate() {
            let h = match &e.key {
                KeyMatch::Exact(k) => {
                    classes
                        .by_key
                        .entry(e.filetype.clone())
                        .or_default()
                        .entry(k.clone())
                        .or_default()
                        .push(i);
                    continue;
                }
                KeyMatch::Pattern(_) => e.head.clone(),
            };
            match h {
                Some(h) => classes
                    .by_head
                    .entry(e.filetype.clone())
                    .or_default()
                    .entry(h)
                    .or_default()
                    .push(i),
                None => classes
                    .wild_head
                    .entry(e.filetype.clone())
                    .or_default()
                    .push(i),
            }
        }
        Ok(classes)
    }

    fn compile(file: &str, def: SettingDef, filetypes: &[&str]) -> Result<Entry, RuleError> {
        let invalid = |reason: String| RuleError::Invalid {
            rule: format!("{file}: setting {} {}", def.filetype, def.key),
            reason,
        };
        if !filetypes.contains(&def.filetype.as_str()) {
            return Err(invalid(format!("unknown filetype {}", def.filetype)));
        }
        if def.reference.trim().is_empty() {
            return Err(invalid("a setting needs a reference".into()));
        }
        let message = match (def.class, def.message) {
            (Class::Dangerous, None) => {
                return Err(invalid("a dangerous setting needs a message".into()));
            }
            (_, m) => m.unwrap_or_default(),
        };
        let value = def
            .value
            .as_deref()
            .map(|v| Regex::new(&format!("^(?:{v})$")))
            .transpose()
            .map_err(|e| invalid(format!("bad value regex: {e}")))?;
        let first = head(&def.key);
        Ok(Entry {
            head: (!first.contains('*')).then(|| first.to_string()),
            key: KeyMatch::new(&def.key).map_err(invalid)?,
            filetype: def.filetype,
            class: def.class,
            message,
            reference: def.reference,
            value,
        })
    }

    /// The message of every entry that has one, with its file type and key pattern.
    pub fn messages(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .filter(|e| !e.message.is_empty())
            .map(|e| (e.filetype.as_str(), e.message.as_str()))
    }

    /// Number of entries of a file type.
    pub fn count(&self, filetype: &str) -> usize {
        self.entries
            .iter()
            .filter(|e| e.filetype == filetype)
            .count()
    }

    /// The class of `key = value` in a file of `filetype`: dangerous if any
    /// dangerous entry applies, else inert if an inert one does, else unknown.
    pub fn classify(&self, filetype: &str, key: &str, value: Option<&str>) -> Verdict<'_> {
        let v = value.unwrap_or("");
        fn list<'i>(index: &'i Index, filetype: &str, k: &str) -> &'i [usize] {
            index
                .get(filetype)
                .and_then(|m| m.get(k))
                .map_or(&[][..], Vec::as_slice)
        }
        let exact = list(&self.by_key, filetype, key);
        let literal = list(&self.by_head, filetype, head(key));
        let wild = self.wild_head.get(filetype).map_or(&[][..], Vec::as_slice);
        // Precedence: a dangerous entry for this value, then an inert entry for this
        // value (`core.editor = vim`), then a dangerous entry for the key whatever its
        // value, then an inert one for the key. Among equals, an entry whose first
        // key part is literal before one whose is a wildcard, then file order.
        // (rank, literal first part, earlier in the files)
        type Order = (u8, bool, std::cmp::Reverse<usize>);
        let mut best: Option<(Order, &Entry)> = None;
        let candidates = exact
            .iter()
            .chain(literal)
            .map(|i| (*i, true))
            .chain(wild.iter().map(|i| (*i, false)));
        for (i, literal_head) in candidates {
            let e = &self.entries[i];
            // The indexes are per file type: no need to compare it again.
            if !e.key.matches(key) || e.value.as_ref().is_some_and(|re| !re.is_match(v)) {
                continue;
            }
            let rank = match (e.class, e.value.is_some()) {
                (Class::Dangerous, true) => 3,
                (Class::Inert, true) => 2,
                (Class::Dangerous, false) => 1,
                (Class::Inert, false) => 0,
            };
            let order = (rank, literal_head, std::cmp::Reverse(i));
            if best.is_none_or(|(o, _)| order > o) {
                best = Some((order, e));
            }
        }
        match best {
            None => Verdict::Unknown,
            Some((_, e)) if e.class == Class::Inert => Verdict::Inert,
            Some((_, e)) => Verdict::Dangerous {
                message: &e.message,
                reference: &e.reference,
            },
        }
    }
}
