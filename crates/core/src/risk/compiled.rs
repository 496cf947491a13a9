//! Compiled rules: the rule file turned into matchers (regexes built once, key
//! patterns, code point ranges) and the loaded [`Engine`]. It checks a rule file's
//! consistency at load time; it does not scan anything.

use std::sync::OnceLock;

use regex::Regex;

use super::schema::*;
use super::{DEFAULT_RULES, FileKind, GitEntry, classes};
use crate::findings::{Change, Severity};

#[derive(Debug, Clone)]
pub(crate) struct KeyPattern {
    pub(crate) section: String,
    /// `None`: no subsection; `Some(None)`: any or none; `Some(Some(s))`: exactly s.
    pub(crate) subsection: Option<Option<String>>,
    /// `None`: any name.
    pub(crate) name: Option<String>,
}

impl KeyPattern {
    pub(crate) fn parse(key: &str) -> Option<Self> {
        let parts: Vec<&str> = key.split('.').collect();
        let name = |n: &str| (n != "*").then(|| n.to_ascii_lowercase());
        match parts.as_slice() {
            [s, n] => Some(KeyPattern {
                section: s.to_ascii_lowercase(),
                subsection: None,
                name: name(n),
            }),
            [s, sub, n] => Some(KeyPattern {
                section: s.to_ascii_lowercase(),
                subsection: Some((*sub != "*").then(|| sub.to_string())),
                name: name(n),
            }),
            _ => None,
        }
    }

    pub(crate) fn matches(&self, e: &GitEntry) -> bool {
        let sub_ok = match (&self.subsection, &e.subsection) {
            (None, None) | (Some(None), _) => true,
            (Some(Some(want)), Some(have)) => want.as_str() == &**have,
            _ => false,
        };
        sub_ok && self.name.as_ref().is_none_or(|n| *n == e.name)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Codepoint {
        ranges: Vec<(u32, u32)>,
        classes: Vec<crate::characters::Hidden>,
        place: Where,
        skip_offset0: bool,
        unless_after: Vec<(u32, u32)>,
    },
    Regex {
        re: Regex,
        place: Where,
    },
    GitKey {
        keys: Vec<KeyPattern>,
        value: Option<Regex>,
        value_not: Option<Regex>,
    },
    SshKeyword {
        keywords: Vec<String>,
        args: Option<Regex>,
        args_not: Option<Regex>,
        requires: Option<(String, Option<Regex>)>,
    },
    Path(Vec<String>),
    FileType(Vec<FileKind>),
    Mode {
        any_bits: u32,
        globs: Option<Vec<String>>,
        not_globs: Option<Vec<String>>,
    },
    WholeFile,
    Env(Regex),
    Builtin(Check),
}

#[derive(Debug, Clone)]
pub(crate) struct Escalate {
    pub(crate) to: Severity,
    pub(crate) subsection: Option<Regex>,
    pub(crate) value: Option<Regex>,
    pub(crate) path: Option<Vec<String>>,
    pub(crate) file_matches: Option<Regex>,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) id: String,
    pub(crate) rows: Vec<String>,
    pub(crate) severity: Severity,
    pub(crate) why: String,
    /// `refs` joined, as findings carry them.
    pub(crate) reference: String,
    pub(crate) filetypes: Option<Vec<String>>,
    pub(crate) on: Vec<Change>,
    pub(crate) matcher: Matcher,
    pub(crate) escalate: Vec<Escalate>,
    pub(crate) cases: Vec<RuleCase>,
}

#[derive(Debug, Clone)]
pub(crate) struct FileType {
    pub(crate) id: String,
    pub(crate) globs: Vec<String>,
    pub(crate) parser: String,
    pub(crate) runs_code: bool,
}

/// A loaded rule set.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) limits: Limits,
    pub(crate) never_sync: Vec<String>,
    pub(crate) never_sync_except: Vec<String>,
    pub(crate) filetypes: Vec<FileType>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) classes: classes::Classes,
}

/// A rule's identity and test cases, for listing and for the rule test.
#[derive(Debug, Clone)]
pub struct RuleInfo<'a> {
    /// Rule id.
    pub id: &'a str,
    /// Catalog rows it implements.
    pub rows: &'a [String],
    /// Base severity.
    pub severity: Severity,
    /// File types it applies to (`None` = every file).
    pub filetypes: Option<&'a [String]>,
    /// Stored cases.
    pub cases: &'a [RuleCase],
}

pub(crate) fn parse_ranges(ranges: &[String]) -> Result<Vec<(u32, u32)>, String> {
    let mut parsed = Vec::new();
    for r in ranges {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        match (parse_codepoint(a), parse_codepoint(b)) {
            (Some(a), Some(b)) if a <= b => parsed.push((a, b)),
            _ => return Err(format!("bad code point range {r}")),
        }
    }
    Ok(parsed)
}

pub(crate) fn parse_codepoint(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim().strip_prefix("U+")?, 16).ok()
}

/// Makes `\b` and `\B` ASCII word boundaries: a Unicode boundary forces the
/// regex crate off its DFA onto a slow NFA whenever the text is not pure ASCII,
/// which a hostile file can always arrange.
pub(crate) fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(b @ ('b' | 'B')) => {
                    out.push_str("(?-u:\\");
                    out.push(b);
                    out.push(')');
                }
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn regex(rule: &str, pattern: &str) -> Result<Regex, RuleError> {
    // Size limits keep a rule file from building a huge automaton.
    regex::RegexBuilder::new(&ascii_word_boundaries(pattern))
        .size_limit(4 << 20)
        .build()
        .map_err(|e| RuleError::Invalid {
            rule: rule.to_string(),
            reason: format!("bad regex {pattern:?}: {e}"),
        })
}

pub(crate) fn env_regex(rule: &str, names: &[String]) -> Result<Regex, RuleError> {
    let alternatives: Vec<String> = names
        .iter()
        .map(|n| regex::escape(n).replace(r"\*", "[A-Za-z0-9_]*"))
        .collect();
    regex(
        rule,
        &format!(
            r"(?m)^[ \t]*(?:export[ \t]+|declare[ \t]+-[a-zA-Z]*x[a-zA-Z]*[ \t]+|typeset[ \t]+-x[ \t]+|set[ \t]+-[a-zA-Z]*x[a-zA-Z]*[ \t]+|setenv[ \t]+|Environment=[\x22']?|DefaultEnvironment=[\x22']?)?(?:{})(?:=|[ \t]+\S)",
            alternatives.join("|")
        ),
    )
}

impl Engine {
    /// The rules shipped with the application (a copy of [`Engine::shared`]).
    pub fn load_default() -> Engine {
        Engine::shared().clone()
    }

    /// The shipped rules, parsed once per process.
    pub fn shared() -> &'static Engine {
        static DEFAULT: OnceLock<Engine> = OnceLock::new();
        DEFAULT.get_or_init(|| {
            // The file is compiled in and its every rule is exercised by
            // `cargo test`; failing here is a build defect, not bad input.
            #[allow(clippy::expect_used)]
            Engine::from_toml(DEFAULT_RULES).expect("the shipped rule file is valid")
        })
    }

    /// Loads a rule file in the format of `rules/default.toml`, with the shipped
    /// setting classes (`rules/<type>.toml`).
    pub fn from_toml(text: &str) -> Result<Engine, RuleError> {
        Engine::from_parts(text, classes::SETTING_FILES)
    }

    /// Loads a rule file and the given setting class files (`(name, text)` pairs in
    /// the format of `rules/<type>.toml`); every class entry must name a file type
    /// of the rule file.
    pub fn from_parts(text: &str, setting_files: &[(&str, &str)]) -> Result<Engine, RuleError> {
        let file: RuleFile = toml::from_str(text)?;
        if file.schema != 1 {
            return Err(RuleError::Invalid {
                rule: "schema".into(),
                reason: format!("unsupported schema {}", file.schema),
            });
        }
        let filetypes: Vec<FileType> = file
            .filetypes
            .into_iter()
            .map(|f| FileType {
                id: f.id,
                globs: f.globs,
                parser: f.parser,
                runs_code: f.runs_code,
            })
            .collect();
        for f in &filetypes {
            if !super::parse::PARSER_IDS.contains(&f.parser.as_str()) {
                return Err(RuleError::Invalid {
                    rule: format!("filetype {}", f.id),
                    reason: format!("unknown parser {}", f.parser),
                });
            }
        }
        let ids: Vec<&str> = filetypes.iter().map(|f| f.id.as_str()).collect();
        let classes = classes::Classes::load(setting_files, &ids)?;
        let mut rules = Vec::with_capacity(file.rules.len());
        for def in file.rules {
            let id = def.id.clone();
            let invalid = |reason: String| RuleError::Invalid {
                rule: id.clone(),
                reason,
            };
            if let Some(fts) = &def.filetype
                && let Some(unknown) = fts.iter().find(|f| !filetypes.iter().any(|t| &t.id == *f))
            {
                return Err(invalid(format!("unknown filetype {unknown}")));
            }
            if rules.iter().any(|r: &Rule| r.id == def.id) {
                return Err(invalid("duplicate rule id".into()));
            }
            let opt_re = |p: &Option<String>| p.as_deref().map(|p| regex(&id, p)).transpose();
            let matcher = match def.matcher {
                MatchDef::Codepoint {
                    ranges,
                    classes,
                    place,
                    skip_offset0,
                    unless_after,
                } => Matcher::Codepoint {
                    ranges: parse_ranges(&ranges).map_err(invalid)?,
                    classes,
                    place,
                    skip_offset0,
                    unless_after: parse_ranges(&unless_after).map_err(invalid)?,
                },
                MatchDef::Regex { pattern, place } => Matcher::Regex {
                    re: regex(&id, &pattern)?,
                    place,
                },
                MatchDef::GitKey {
                    key,
                    value,
                    value_not,
                } => Matcher::GitKey {
                    keys: key
                        .iter()
                        .map(|k| {
                            KeyPattern::parse(k).ok_or_else(|| invalid(format!("bad key {k}")))
                        })
                        .collect::<Result<_, _>>()?,
                    value: opt_re(&value)?,
                    value_not: opt_re(&value_not)?,
                },
                MatchDef::SshKeyword {
                    keyword,
                    args,
                    args_not,
                    requires,
                } => Matcher::SshKeyword {
                    keywords: keyword.iter().map(|k| k.to_ascii_lowercase()).collect(),
                    args: opt_re(&args)?,
                    args_not: opt_re(&args_not)?,
                    requires: match requires {
                        Some(r) => Some((r.keyword.to_ascii_lowercase(), opt_re(&r.args)?)),
                        None => None,
                    },
                },
                MatchDef::Path { globs } => Matcher::Path(globs),
                MatchDef::FileType { types } => Matcher::FileType(types),
                MatchDef::Mode {
                    any_bits,
                    globs,
                    not_globs,
                } => Matcher::Mode {
                    any_bits,
                    globs,
                    not_globs,
                },
                MatchDef::WholeFile {} => Matcher::WholeFile,
                MatchDef::Env { names } => Matcher::Env(env_regex(&id, &names)?),
                MatchDef::Builtin { check } => Matcher::Builtin(check),
            };
            let mut escalate = Vec::new();
            for e in &def.escalate {
                escalate.push(Escalate {
                    to: e.to,
                    subsection: opt_re(&e.subsection)?,
                    value: opt_re(&e.value)?,
                    path: e.path.clone(),
                    file_matches: opt_re(&e.file_matches)?,
                });
            }
            if def.refs.is_empty() {
                return Err(invalid("a rule needs at least one reference".into()));
            }
            rules.push(Rule {
                id: def.id,
                rows: def.rows,
                severity: def.severity,
                why: def.why,
                reference: def.refs.join(", "),
                filetypes: def.filetype,
                on: def
                    .on
                    .unwrap_or_else(|| vec![Change::Added, Change::Changed]),
                matcher,
                escalate,
                cases: def.case,
            });
        }
        Ok(Engine {
            limits: file.limits,
            never_sync: file.never_sync.globs,
            never_sync_except: file.never_sync.except,
            filetypes,
            rules,
            classes,
        })
    }
}
