//! Matching: a decoded document with its line index and parsed structure, the hits
//! each kind of matcher finds in it, and the pairing of hits in the proposal with
//! hits in the base into added, changed and removed. It reports hits; turning them
//! into findings is the engine's (`mod.rs`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use super::compiled::*;
use super::messages;
use super::parse::git::{self as gitconfig, Entry as GitEntry, ParseError as GitParseError};
use super::parse::{self, ParseFailed, Setting};
use super::schema::{Check, Where};
use super::sshconfig::{Entry as SshEntry, ParseError as SshParseError};
use super::{ScanInput, glob, settings, sshconfig};
use crate::findings::{Change, Message, Span};

// ------------------------------------------------------------------ matching

/// A hash map for keys taken from untrusted files: foldhash, seeded at random per
/// map (an attacker who writes the file cannot aim collisions at an unknown seed),
/// several times faster than SipHash on the short keys of a scan.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::quality::RandomState>;

/// Multiset matching of two lists by a key: for each item, whether an equal item on
/// the other side was paired with it (each item pairs at most once, in list order).
pub(crate) fn matched<K: Hash + Eq>(a: &[K], b: &[K]) -> (Vec<bool>, Vec<bool>) {
    fn count<K: Hash + Eq>(items: &[K]) -> FastMap<&K, usize> {
        let mut m: FastMap<&K, usize> = FastMap::default();
        m.reserve(items.len());
        for k in items {
            *m.entry(k).or_default() += 1;
        }
        m
    }
    let take = |m: &mut FastMap<&K, usize>, k: &K| match m.get_mut(k) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    };
    let (mut in_a, mut in_b) = (count(a), count(b));
    let ma = a.iter().map(|k| take(&mut in_b, k)).collect();
    let mb = b.iter().map(|k| take(&mut in_a, k)).collect();
    (ma, mb)
}

/// For each item of `a`: whether `b` has an item with the same key.
pub(crate) fn present_in<K: Hash + Eq>(a: &[K], b: &[K]) -> Vec<bool> {
    let mut set: FastMap<&K, ()> = FastMap::default();
    set.reserve(b.len());
    for k in b {
        set.insert(k, ());
    }
    a.iter().map(|k| set.contains_key(k)).collect()
}

/// Splits hits into those only in the proposal (added, or changed when the same
/// subject has another value in the base) and those only in the base (removed).
/// Hits on both sides with the same subject and value are unchanged: dropped.
pub(crate) fn pair_hits<'d>(
    new_hits: Vec<Hit<'d>>,
    old_hits: Vec<Hit<'d>>,
) -> (Vec<(Hit<'d>, Change)>, Vec<Hit<'d>>) {
    if old_hits.is_empty() {
        return (
            new_hits.into_iter().map(|h| (h, Change::Added)).collect(),
            Vec::new(),
        );
    }
    // Decide with borrowed keys first, then move the hits out.
    let (new_unchanged, old_unchanged, changed) = {
        fn id<'h>(h: &'h Hit<'_>) -> (&'h str, &'h str) {
            (h.subject.as_ref(), h.value.as_ref())
        }
        let new_ids: Vec<(&str, &str)> = new_hits.iter().map(id).collect();
        let old_ids: Vec<(&str, &str)> = old_hits.iter().map(id).collect();
        let (new_unchanged, old_unchanged) = matched(&new_ids, &old_ids);
        let new_subjects: Vec<&str> = new_ids.iter().map(|k| k.0).collect();
        let old_subjects: Vec<&str> = old_ids.iter().map(|k| k.0).collect();
        let changed = present_in(&new_subjects, &old_subjects);
        (new_unchanged, old_unchanged, changed)
    };
    let added = new_hits
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !new_unchanged[*i])
        .map(|(i, h)| {
            (
                h,
                if changed[i] {
                    Change::Changed
                } else {
                    Change::Added
                },
            )
        })
        .collect();
    let removed = old_hits
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !old_unchanged[*i])
        .map(|(_, h)| h)
        .collect();
    (added, removed)
}

pub(crate) enum Scope {
    Meta,
    File,
    Content,
}

/// Where a parsed key or keyword sits in its line (for anchors in the review pane),
/// found case-insensitively; only computed for hits that become findings.
pub(crate) fn key_span(rule: &Rule, hit: &Hit<'_>, doc: Option<&Doc<'_>>) -> Option<Span> {
    let name = match rule.matcher {
        Matcher::GitKey { .. } => hit.subject.rsplit('.').next()?,
        Matcher::SshKeyword { .. } => hit.subject.rsplit('|').next()?,
        _ => return None,
    };
    let line = doc?.line((hit.line? as usize).checked_sub(1)?);
    let start = line.to_ascii_lowercase().find(name)?;
    Some(Span {
        start,
        end: start + name.len(),
    })
}

/// For each line of `new` and of `old`: whether an identical line is on the other
/// side (multiset matching, so a duplicated line only matches once).
pub(crate) fn common_lines(new: &Doc<'_>, old: &Doc<'_>) -> (Vec<bool>, Vec<bool>) {
    let new_lines: Vec<&str> = new.lines().map(|(_, l)| l).collect();
    let old_lines: Vec<&str> = old.lines().map(|(_, l)| l).collect();
    matched(&new_lines, &old_lines)
}

impl Rule {
    /// Whether a hit in a file type that runs code is critical whatever the rule's
    /// base severity (the per-hunk review of files without a parser).
    pub(crate) fn escalates_for_code(&self) -> bool {
        matches!(self.matcher, Matcher::Builtin(Check::UnparsedChange))
    }

    /// Whether the rule matches parsed keys (git keys, ssh keywords).
    pub(crate) fn is_key_rule(&self) -> bool {
        matches!(
            self.matcher,
            Matcher::GitKey { .. } | Matcher::SshKeyword { .. }
        )
    }

    /// Whether the rule judges what a setting does (a git key, an ssh keyword, an
    /// environment variable, or a pattern written for one file type) as opposed to
    /// what a parser cannot see (characters, encodings, layout, tokens, metadata).
    /// In a parsed file the setting classes decide about settings: such a rule may
    /// explain a setting that is not known to be harmless, never flag one that is.
    pub(crate) fn judges_settings(&self) -> bool {
        match &self.matcher {
            Matcher::GitKey { .. } | Matcher::SshKeyword { .. } | Matcher::Env(_) => true,
            Matcher::Regex { place, .. } => *place == Where::Content && self.filetypes.is_some(),
            _ => false,
        }
    }

    /// Whether each hit depends only on its own line's text (not on other lines
    /// or on file-wide properties), so hits on lines common to both sides cancel.
    pub(crate) fn is_line_local(&self) -> bool {
        matches!(
            self.matcher,
            Matcher::Codepoint { .. }
                | Matcher::Regex { .. }
                | Matcher::Env(_)
                | Matcher::Builtin(
                    Check::LoneCr
                        | Check::LongLine
                        | Check::VeryLongLine
                        | Check::Continuation
                        | Check::TrailingBlanks
                        | Check::MixedScript
                        | Check::CombiningStack
                )
        )
    }

    pub(crate) fn scope(&self) -> Scope {
        match &self.matcher {
            Matcher::FileType(_) | Matcher::Mode { .. } => Scope::Meta,
            Matcher::Path(_) | Matcher::WholeFile => Scope::File,
            Matcher::Codepoint { place, .. } | Matcher::Regex { place, .. }
                if *place == Where::Path =>
            {
                Scope::File
            }
            Matcher::Builtin(
                Check::Size
                | Check::TooLargeToScan
                | Check::UnknownFileType
                | Check::Unparseable
                | Check::UnparsedChange
                | Check::NewPath
                | Check::NeverSync
                | Check::WideEncoding
                | Check::BomAtStart,
            ) => Scope::File,
            _ => Scope::Content,
        }
    }
}

impl Escalate {
    pub(crate) fn applies(&self, hit: &Hit, path: &str, doc: Option<&Doc<'_>>) -> bool {
        self.subsection
            .as_ref()
            .is_none_or(|re| hit.subsection.as_deref().is_some_and(|s| re.is_match(s)))
            && self.value.as_ref().is_none_or(|re| re.is_match(&hit.value))
            && self
                .path
                .as_ref()
                .is_none_or(|g| g.iter().any(|g| glob::matches(g, path)))
            && self
                .file_matches
                .as_ref()
                .is_none_or(|re| doc.is_some_and(|d| re.is_match(&d.text)))
    }
}

/// What a hit says, formatted only when it becomes a finding (most hits on
/// unchanged lines never do). Each kind names its template in `messages`.
#[derive(Debug, Clone)]
pub(crate) enum Detail<'d> {
    /// A template whose only argument (besides the reason) is the hit's `{line}`.
    Line(&'static str),
    /// A template and its arguments (besides the reason).
    Note(&'static str, Vec<(&'static str, String)>),
    /// A hidden character found in a line.
    Char(char),
    /// A line quoted as an excerpt.
    Excerpt(&'d str),
    /// `subject = value` (a parsed setting).
    KeyValue,
    /// The hit's subject is set again; `first` is the line of the first setting.
    Duplicate { first: u32, last_wins: bool },
}

#[derive(Debug, Clone)]
pub(crate) struct Hit<'d> {
    pub(crate) line: Option<u32>,
    pub(crate) span: Option<Span>,
    /// What the hit is about (key, keyword, line text); with `value` it is the
    /// identity used to tell added, changed and removed apart.
    pub(crate) subject: Cow<'d, str>,
    pub(crate) value: Cow<'d, str>,
    pub(crate) detail: Detail<'d>,
    pub(crate) subsection: Option<String>,
    /// The hit is about the base (lines the proposal removes).
    pub(crate) base: bool,
}

impl Hit<'_> {
    pub(crate) fn file(template: &'static str, args: Vec<(&'static str, String)>) -> Hit<'static> {
        Hit {
            line: None,
            span: None,
            subject: Cow::Borrowed(""),
            value: Cow::Borrowed(""),
            detail: Detail::Note(template, args),
            subsection: None,
            base: false,
        }
    }

    /// The finding's message: this hit's description and the rule's reason `why`
    /// (a msgid of the rule file).
    pub(crate) fn message(&self, why: &str) -> Message {
        let line = self.line.unwrap_or(0).to_string();
        let m = match &self.detail {
            Detail::Line(t) => Message::new(*t, &[("line", line)]),
            Detail::Note(t, args) => Message::new(*t, args),
            Detail::Char(c) => {
                let label = crate::render::classify(*c)
                    .map_or_else(|| format!("U+{:04X}", *c as u32), |(_, l)| l);
                Message::new(messages::CHAR_IN_LINE, &[("char", label), ("line", line)])
            }
            Detail::Excerpt(text) => Message::new(
                messages::LINE_EXCERPT,
                &[("line", line), ("text", excerpt(text))],
            ),
            Detail::KeyValue => Message::new(
                messages::KEY_VALUE,
                &[
                    ("setting", excerpt(&self.subject)),
                    ("value", excerpt(&self.value)),
                ],
            ),
            Detail::Duplicate { first, last_wins } => Message::new(
                if *last_wins {
                    messages::SET_AGAIN_LAST_WINS
                } else {
                    messages::SET_AGAIN_FIRST_WINS
                },
                &[
                    ("setting", excerpt(&self.subject)),
                    ("first", first.to_string()),
                ],
            ),
        };
        m.with_msgid("why", why)
    }
}

/// Decoded content with line index and (lazily) parsed structure.
pub(crate) struct Doc<'a> {
    pub(crate) raw: &'a [u8],
    pub(crate) text: Cow<'a, str>,
    pub(crate) line_starts: Vec<usize>,
    /// Non-ASCII or control characters (other than `\n`/`\t`) with byte offsets.
    pub(crate) unusual: Vec<(usize, char)>,
    /// The shared table's reason for each of `unusual` (looked up once per document,
    /// not once per code point rule).
    pub(crate) unusual_class: Vec<Option<crate::characters::Hidden>>,
    /// 0-based line of each of `unusual`.
    pub(crate) unusual_line: Vec<u32>,
    /// The git entries; their values were moved into `settings` (one per entry, in
    /// order): read them with [`Doc::git_value`].
    pub(crate) git: Option<Result<Vec<GitEntry>, GitParseError>>,
    /// Indices of git entries per section, so each key rule looks only at its sections.
    pub(crate) git_sections: FastMap<Arc<str>, Vec<usize>>,
    /// Indices of git entries per `section` NUL `name`, so a key rule naming its keys
    /// looks only at those.
    pub(crate) git_names: FastMap<Box<str>, Vec<usize>>,
    pub(crate) ssh: Option<Result<Vec<SshEntry>, SshParseError>>,
    /// The settings as the file type's parser reads them (`None`: no parser).
    pub(crate) settings: Option<Result<Vec<Setting>, ParseFailed>>,
}

impl<'a> Doc<'a> {
    pub(crate) fn new(raw: &'a [u8], parser: Option<&str>) -> Doc<'a> {
        // `from_utf8` checks ASCII a word at a time; the lossy decoder only when needed.
        let text = match std::str::from_utf8(raw) {
            Ok(t) => Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(raw),
        };
        // One pass over the bytes: line starts, and every character that is not
        // plain ASCII text (decoded only where a non-ASCII byte starts).
        let mut line_starts = Vec::with_capacity(raw.len() / 32 + 1);
        line_starts.push(0);
        let mut unusual = Vec::new();
        let mut unusual_line = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            // Eight bytes of printable ASCII (the usual case) at a time.
            if let Some(word) = bytes.get(i..i + 8)
                && let Ok(word) = <[u8; 8]>::try_from(word)
                && is_plain_ascii(u64::from_le_bytes(word))
            {
                i += 8;
                continue;
            }
            let b = bytes[i];
            if b < 0x80 {
                if b == b'\n' {
                    line_starts.push(i + 1);
                } else if (b < 0x20 && b != b'\t') || b == 0x7f {
                    unusual.push((i, b as char));
                    unusual_line.push((line_starts.len() - 1) as u32);
                }
                i += 1;
            } else {
                // `i` is always on a character boundary here.
                let Some(c) = text[i..].chars().next() else {
                    break;
                };
                unusual.push((i, c));
                unusual_line.push((line_starts.len() - 1) as u32);
                i += c.len_utf8();
            }
        }
        let (git, settings) = if parser == Some("git-config") {
            match gitconfig::parse_entries(raw) {
                Ok(mut entries) => {
                    let settings = gitconfig::take_settings(&mut entries);
                    (Some(Ok(entries)), Some(Ok(settings)))
                }
                Err(e) => {
                    let failed = e.clone();
                    (Some(Err(e)), Some(Err(failed)))
                }
            }
        } else {
            (None, parser.and_then(parse::parser).map(|p| p(raw)))
        };
        let mut git_sections: FastMap<Arc<str>, Vec<usize>> = FastMap::default();
        let mut git_names: FastMap<Box<str>, Vec<usize>> = FastMap::default();
        if let Some(Ok(entries)) = &git {
            let mut key = String::new();
            for (i, e) in entries.iter().enumerate() {
                match git_sections.get_mut(&e.section) {
                    Some(v) => v.push(i),
                    None => {
                        git_sections.insert(e.section.clone(), vec![i]);
                    }
                }
                key.clear();
                key.push_str(&e.section);
                key.push('\0');
                key.push_str(&e.name);
                match git_names.get_mut(key.as_str()) {
                    Some(v) => v.push(i),
                    None => {
                        git_names.insert(key.as_str().into(), vec![i]);
                    }
                }
            }
        }
        let unusual_class = unusual
            .iter()
            .map(|(_, c)| crate::characters::hidden(*c))
            .collect();
        Doc {
            unusual_class,
            unusual_line,
            settings,
            raw,
            git,
            git_sections,
            git_names,
            ssh: (parser == Some("ssh-config")).then(|| sshconfig::parse(raw)),
            text,
            line_starts,
            unusual,
        }
    }

    /// The value of git entry `i` (moved into the settings by the parse).
    pub(crate) fn git_value(&self, i: usize) -> Option<&str> {
        match &self.settings {
            Some(Ok(settings)) => settings.get(i).and_then(|s| s.value.as_deref()),
            _ => None,
        }
    }

    pub(crate) fn line_count(&self) -> usize {
        if self.text.ends_with('\n') || self.text.is_empty() {
            self.line_starts.len() - 1
        } else {
            self.line_starts.len()
        }
    }

    /// 0-based line index of a byte offset.
    pub(crate) fn line_index(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|s| *s <= offset) - 1
    }

    /// Line text without its `\n`.
    pub(crate) fn line(&self, index: usize) -> &str {
        let start = self.line_starts[index];
        let end = self
            .line_starts
            .get(index + 1)
            .map_or(self.text.len(), |e| e - 1);
        &self.text[start..end.max(start)]
    }

    pub(crate) fn lines(&self) -> impl Iterator<Item = (usize, &str)> {
        (0..self.line_count()).map(|i| (i, self.line(i)))
    }

    /// The full key of git entry `i` (`section.sub.name`), borrowed from the settings
    /// of the same parse (one per entry, in order) instead of formatted again.
    pub(crate) fn git_key(&self, i: usize) -> &str {
        match &self.settings {
            Some(Ok(settings)) => settings.get(i).map_or("", |s| s.key.as_str()),
            _ => "",
        }
    }

    /// 0-based indices of the lines holding an unusual character (see `unusual`) for
    /// which `pick` holds, in order, each once.
    pub(crate) fn lines_with(&self, pick: impl Fn(char) -> bool) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for (&(_, c), &li) in self.unusual.iter().zip(&self.unusual_line) {
            if pick(c) {
                let li = li as usize;
                if out.last() != Some(&li) {
                    out.push(li);
                }
            }
        }
        out
    }

    pub(crate) fn line_hit(
        &self,
        index: usize,
        span: Option<Span>,
        template: &'static str,
    ) -> Hit<'_> {
        self.line_hit_with(index, span, Detail::Line(template))
    }

    pub(crate) fn line_hit_with<'s>(
        &'s self,
        index: usize,
        span: Option<Span>,
        detail: Detail<'s>,
    ) -> Hit<'s> {
        Hit {
            line: Some(index as u32 + 1),
            span,
            subject: Cow::Borrowed(self.line(index)),
            value: Cow::Borrowed(""),
            detail,
            subsection: None,
            base: false,
        }
    }
}

/// Whether all eight bytes of `w` are printable ASCII (0x20..=0x7E): no line end,
/// tab, control character, DEL or byte of a multi-byte character.
fn is_plain_ascii(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below 0x20: subtracting 0x20 borrows into its high bit (exact as long as
    // no byte has its high bit set, which the last term checks).
    let below = w.wrapping_sub(0x20 * ONES) & !w;
    // A byte of 0x7F or above: adding 1 reaches the high bit.
    let above = w.wrapping_add(ONES) | w;
    (below | above) & HIGH == 0
}

/// One line, shortened and made safe to quote in a message.
pub(crate) fn excerpt(s: &str) -> String {
    let mut out = String::new();
    let s = s.trim();
    for c in s.chars().take(80) {
        if c.is_ascii_graphic() || c == ' ' || crate::render::classify(c).is_none() {
            out.push(c);
        } else {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        }
    }
    if s.chars().nth(80).is_some() {
        out.push('…');
    }
    out
}

pub(crate) struct Ctx<'e, 'i> {
    pub(crate) engine: &'e Engine,
    pub(crate) input: &'i ScanInput<'i>,
    pub(crate) filetype: Option<&'e str>,
    /// The file type has a parser (its settings are classified instead).
    pub(crate) parsed: bool,
}

pub(crate) fn is_combining(u: u32) -> bool {
    matches!(u, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Letters of scripts that contain look-alikes of Latin letters.
pub(crate) fn is_confusable_script_letter(c: char) -> bool {
    matches!(c as u32, 0x0370..=0x03FF | 0x0400..=0x052F | 0x0530..=0x058F | 0x13A0..=0x13FF | 0xFF21..=0xFF5A)
}

impl Ctx<'_, '_> {
    pub(crate) fn meta_hits(&self, rule: &Rule) -> Vec<Hit<'static>> {
        match &rule.matcher {
            Matcher::FileType(types) if types.contains(&self.input.kind) => {
                vec![Hit::file(
                    messages::ENTRY_KIND,
                    vec![("kind", format!("{:?}", self.input.kind).to_lowercase())],
                )]
            }
            Matcher::Mode {
                any_bits,
                globs,
                not_globs,
            } => {
                let path = self.input.path;
                let in_scope = globs
                    .as_ref()
                    .is_none_or(|g| g.iter().any(|g| glob::matches(g, path)))
                    && !not_globs
                        .as_ref()
                        .is_some_and(|g| g.iter().any(|g| glob::matches(g, path)));
                match self.input.mode {
                    Some(mode) if in_scope && mode & any_bits != 0 => {
                        vec![Hit::file(
                            messages::MODE,
                            vec![("mode", format!("{mode:04o}"))],
                        )]
                    }
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    pub(crate) fn file_hits(&self, rule: &Rule, doc: Option<&Doc<'_>>) -> Vec<Hit<'static>> {
        let path = self.input.path;
        let content = self.input.content;
        let limits = &self.engine.limits;
        match &rule.matcher {
            Matcher::Path(globs) => match globs.iter().find(|g| glob::matches(g, path)) {
                Some(g) => vec![Hit::file(
                    messages::PATH_MATCHES,
                    vec![("path", excerpt(path)), ("glob", g.clone())],
                )],
                None => Vec::new(),
            },
            Matcher::WholeFile => settings::hunk_hits(self.input, false),
            Matcher::Regex {
                re,
                place: Where::Path,
            } => match re.find(path) {
                Some(m) => vec![Hit::file(
                    messages::PATH_AT_BYTE,
                    vec![("path", excerpt(path)), ("byte", m.start().to_string())],
                )],
                None => Vec::new(),
            },
            Matcher::Codepoint {
                ranges,
                classes,
                place: Where::Path,
                ..
            } => match path.chars().find(|c| char_matches(ranges, classes, *c)) {
                Some(c) => vec![Hit::file(
                    messages::CODEPOINT_IN_PATH,
                    vec![("codepoint", format!("U+{:04X}", c as u32))],
                )],
                None => Vec::new(),
            },
            Matcher::Builtin(check) => match check {
                Check::Size => {
                    let lines = content.iter().filter(|b| **b == b'\n').count();
                    if content.len() > limits.max_bytes || lines > limits.max_lines {
                        vec![Hit::file(
                            messages::SIZE,
                            vec![
                                ("bytes", content.len().to_string()),
                                ("lines", lines.to_string()),
                            ],
                        )]
                    } else {
                        Vec::new()
                    }
                }
                Check::TooLargeToScan if content.len() > limits.max_scan_bytes => {
                    vec![Hit::file(
                        messages::TOO_LARGE,
                        vec![
                            ("bytes", content.len().to_string()),
                            ("limit", limits.max_scan_bytes.to_string()),
                        ],
                    )]
                }
                Check::NewPath if self.input.base.is_none() => {
                    vec![Hit::file(messages::NEW_PATH, vec![("path", excerpt(path))])]
                }
                Check::UnparsedChange if !self.parsed => settings::hunk_hits(self.input, true),
                Check::UnknownFileType if self.filetype.is_none() => {
                    vec![Hit::file(
                        messages::UNKNOWN_TYPE,
                        vec![("path", excerpt(path))],
                    )]
                }
                Check::Unparseable => {
                    // The parse error's own template (a code with arguments).
                    let err = doc.and_then(|d| match (&d.settings, &d.git, &d.ssh) {
                        (Some(Err(e)), _, _) | (_, Some(Err(e)), _) | (_, _, Some(Err(e))) => {
                            Some(e)
                        }
                        _ => None,
                    });
                    err.map(|e| {
                        let (template, args) = e.message();
                        vec![Hit::file(template, args)]
                    })
                    .unwrap_or_default()
                }
                Check::NeverSync if self.engine.is_never_sync(path) => {
                    vec![Hit::file(
                        messages::NEVER_SYNC,
                        vec![("path", excerpt(path))],
                    )]
                }
                Check::WideEncoding => {
                    let wide = [&b"\xFF\xFE"[..], b"\xFE\xFF", b"\x00\x00\xFE\xFF"];
                    if wide.iter().any(|bom| content.starts_with(bom)) {
                        vec![Hit::file(messages::WIDE_BOM, Vec::new())]
                    } else {
                        Vec::new()
                    }
                }
                Check::BomAtStart if content.starts_with(b"\xEF\xBB\xBF") => {
                    let mut hit = Hit::file(messages::UTF8_BOM, Vec::new());
                    hit.line = Some(1);
                    vec![hit]
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// The hits of a content rule in `doc`. `skip` (for line-local rules only): lines
    /// whose hits are not wanted (present unchanged on the other side).
    pub(crate) fn content_hits<'d>(
        &self,
        rule: &Rule,
        doc: &'d Doc<'_>,
        skip: Option<&[bool]>,
    ) -> Vec<Hit<'d>> {
        let skipped = |li: usize| skip.is_some_and(|s| s.get(li).is_some_and(|c| *c));
        let mut hits = Vec::new();
        match &rule.matcher {
            Matcher::Codepoint {
                ranges,
                classes,
                skip_offset0,
                unless_after,
                ..
            } => {
                let mut last_line = usize::MAX;
                for (k, &(offset, c)) in doc.unusual.iter().enumerate() {
                    let class = doc.unusual_class.get(k).copied().flatten();
                    if (*skip_offset0 && offset == 0)
                        || !(in_ranges(ranges, c as u32)
                            || class.is_some_and(|h| classes.contains(&h)))
                    {
                        continue;
                    }
                    // e.g. an emoji presentation selector right after an emoji
                    let after_allowed = doc.text[..offset]
                        .chars()
                        .next_back()
                        .is_some_and(|p| in_ranges(unless_after, p as u32));
                    if after_allowed {
                        continue;
                    }
                    let li = doc.unusual_line[k] as usize;
                    if li == last_line || skipped(li) {
                        continue;
                    }
                    last_line = li;
                    let start = offset - doc.line_starts[li];
                    let span = Span {
                        start,
                        end: start + c.len_utf8(),
                    };
                    hits.push(doc.line_hit_with(li, Some(span), Detail::Char(c)));
                }
            }
            Matcher::Regex { re, .. } | Matcher::Env(re) => {
                let mut last_line = usize::MAX;
                for m in re.find_iter(&doc.text) {
                    let li = doc.line_index(m.start());
                    if li == last_line || skipped(li) {
                        continue;
                    }
                    last_line = li;
                    let start = m.start() - doc.line_starts[li];
                    let end = (m.end() - doc.line_starts[li])
                        .min(doc.line(li).len())
                        .max(start);
                    hits.push(doc.line_hit_with(
                        li,
                        Some(Span { start, end }),
                        Detail::Excerpt(doc.line(li)),
                    ));
                }
            }
            Matcher::GitKey {
                keys,
                value,
                value_not,
            } => {
                let Some(Ok(entries)) = &doc.git else {
                    return hits;
                };
                // The entries the patterns can match: by section and name where a
                // pattern names its key, by section where it does not.
                let mut lists: Vec<&Vec<usize>> = Vec::new();
                let mut whole: Vec<&str> = Vec::new();
                let mut name_key = String::new();
                for k in keys {
                    match &k.name {
                        Some(n) => {
                            name_key.clear();
                            name_key.push_str(&k.section);
                            name_key.push('\0');
                            name_key.push_str(n);
                            if let Some(l) = doc.git_names.get(name_key.as_str()) {
                                lists.push(l);
                            }
                        }
                        None if !whole.contains(&k.section.as_str()) => {
                            whole.push(&k.section);
                            if let Some(l) = doc.git_sections.get(k.section.as_str()) {
                                lists.push(l);
                            }
                        }
                        None => {}
                    }
                }
                // One list (the usual case) is already in file order.
                let merged: Vec<usize>;
                let candidates: &[usize] = match lists.as_slice() {
                    [] => &[],
                    [one] => one,
                    many => {
                        let mut all: Vec<usize> =
                            many.iter().flat_map(|l| l.iter().copied()).collect();
                        all.sort_unstable();
                        all.dedup();
                        merged = all;
                        &merged
                    }
                };
                for (i, e) in candidates.iter().map(|i| (*i, &entries[*i])) {
                    if !keys
                        .iter()
                        .any(|k| *k.section == *e.section && k.matches(e))
                    {
                        continue;
                    }
                    let v = doc.git_value(i).unwrap_or("true");
                    if value.as_ref().is_some_and(|re| !re.is_match(v))
                        || value_not.as_ref().is_some_and(|re| re.is_match(v))
                    {
                        continue;
                    }
                    hits.push(Hit {
                        line: Some(e.line),
                        span: None,
                        subject: Cow::Borrowed(doc.git_key(i)),
                        value: Cow::Borrowed(v),
                        detail: Detail::KeyValue,
                        subsection: e.subsection.as_deref().map(str::to_owned),
                        base: false,
                    });
                }
            }
            Matcher::SshKeyword {
                keywords,
                args,
                args_not,
                requires,
            } => {
                let Some(Ok(entries)) = &doc.ssh else {
                    return hits;
                };
                if let Some((kw, re)) = requires {
                    let present = entries.iter().any(|e| {
                        &e.keyword == kw && re.as_ref().is_none_or(|re| re.is_match(&e.args_text()))
                    });
                    if !present {
                        return hits;
                    }
                }
                for e in entries {
                    if !keywords.contains(&e.keyword) {
                        continue;
                    }
                    let a = e.args_text();
                    if args.as_ref().is_some_and(|re| !re.is_match(&a))
                        || args_not.as_ref().is_some_and(|re| re.is_match(&a))
                    {
                        continue;
                    }
                    let block = e.block.map(|b| entries[b].args_text()).unwrap_or_default();
                    hits.push(Hit {
                        line: Some(e.line),
                        span: None,
                        subject: Cow::Owned(format!("{}|{}", block, e.keyword)),
                        value: Cow::Owned(a.clone()),
                        detail: Detail::Note(
                            messages::KEYWORD_ARGS,
                            vec![("keyword", e.keyword.clone()), ("args", excerpt(&a))],
                        ),
                        subsection: None,
                        base: false,
                    });
                }
            }
            Matcher::Builtin(check) => self.builtin_content(*check, doc, skip, &mut hits),
            _ => {}
        }
        hits
    }
}

pub(crate) fn in_ranges(ranges: &[(u32, u32)], u: u32) -> bool {
    ranges.iter().any(|(a, b)| *a <= u && u <= *b)
}

/// Whether a code point rule matches `c`: by range or by its reason in the shared
/// character table.
pub(crate) fn char_matches(
    ranges: &[(u32, u32)],
    classes: &[crate::characters::Hidden],
    c: char,
) -> bool {
    in_ranges(ranges, c as u32)
        || (!classes.is_empty()
            && crate::characters::hidden(c).is_some_and(|h| classes.contains(&h)))
}

#[cfg(test)]
mod tests {
    use super::is_plain_ascii;

    #[test]
    fn the_word_check_agrees_with_the_byte_check_for_every_byte_in_every_place() {
        let plain = |b: u8| (0x20..=0x7e).contains(&b);
        for fill in [b'a', b' ', b'~', b'!'] {
            for at in 0..8 {
                for b in 0..=255u8 {
                    let mut w = [fill; 8];
                    w[at] = b;
                    assert_eq!(
                        is_plain_ascii(u64::from_le_bytes(w)),
                        plain(b),
                        "byte {b:#04x} at {at} among {fill:#04x}"
                    );
                    // Two odd bytes: the borrow or carry of one must not hide the other.
                    w[(at + 3) % 8] = 0xff - b;
                    assert_eq!(
                        is_plain_ascii(u64::from_le_bytes(w)),
                        plain(b) && plain(0xff - b)
                    );
                }
            }
        }
    }
}
