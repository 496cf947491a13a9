//! Cross-file analysis of the state after accept (`Engine::scan_proposal`): which
//! files are read as which type (a file a git config of the set includes is read
//! as git config, an ssh `Include` target as ssh_config), and the findings that only
//! a combination of files has — a git attributes file selecting a diff, filter or
//! merge driver that a git config of the set defines (in either order of arrival),
//! and includes of another file of the set. A combination finding stands on the
//! changed file's line and names the other part(s) in `related`. Unchanged files
//! raise nothing of their own. Nothing here reads the disk or runs anything.

use std::collections::HashMap;

use super::ScanInput;
use super::compiled::{Engine, FileType};
use super::matching::excerpt;
use super::messages;
use super::parse::{self, Setting};
use crate::findings::{Change, Finding, Location, Message, Severity, Side};

/// Rule id of an attributes line and a driver definition that together run a command.
pub const RULE_DRIVER: &str = "git.attributes-driver";

/// A parsed setting and whether it is new in the proposal (not in the base).
struct Parsed {
    setting: Setting,
    new: bool,
}

fn parse_with_change(ft: &FileType, input: &ScanInput<'_>) -> Vec<Parsed> {
    let Some(parser) = parse::parser(&ft.parser) else {
        return Vec::new();
    };
    let Ok(new) = parser(input.content) else {
        return Vec::new();
    };
    let old = match input.base {
        Some(b) if b == input.content => {
            return new
                .into_iter()
                .map(|setting| Parsed {
                    setting,
                    new: false,
                })
                .collect();
        }
        Some(b) => parser(b).unwrap_or_default(),
        None => Vec::new(),
    };
    let mut old_ids: HashMap<(String, Option<String>, Option<String>), usize> = HashMap::new();
    for s in old {
        *old_ids.entry((s.key, s.context, s.value)).or_default() += 1;
    }
    new.into_iter()
        .map(|setting| {
            let id = (
                setting.key.clone(),
                setting.context.clone(),
                setting.value.clone(),
            );
            let new = match old_ids.get_mut(&id) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            };
            Parsed { setting, new }
        })
        .collect()
}

/// Home-relative path of an include target, `None` when it cannot be resolved to
/// a file of the home (a glob, a variable, `..`, another user's home).
pub(crate) fn resolve_include(raw: &str, relative_to: &str) -> Option<String> {
    if raw.contains(['*', '?', '[', '$', '%']) || raw.split('/').any(|c| c == "..") {
        return None;
    }
    let rel = if let Some(r) = raw.strip_prefix("~/") {
        r.to_string()
    } else if let Some(rest) = raw.strip_prefix("/home/") {
        rest.split_once('/')?.1.to_string()
    } else if raw.starts_with('/') || raw.starts_with('~') {
        return None;
    } else if relative_to.is_empty() {
        raw.to_string()
    } else {
        format!("{relative_to}/{raw}")
    };
    Some(rel.trim_start_matches("./").to_string())
}

/// Include targets of one parsed setting: (target, line) for git `include.path` /
/// `includeif.*.path` and ssh `include`.
fn include_targets(ft_id: &str, path: &str, s: &Setting) -> Vec<String> {
    let Some(v) = &s.value else { return Vec::new() };
    match ft_id {
        "git-config" => {
            let is_include = s.key == "include.path"
                || (s.key.starts_with("includeif.") && s.key.ends_with(".path"));
            if !is_include {
                return Vec::new();
            }
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            resolve_include(v, dir).into_iter().collect()
        }
        // Relative ssh includes are relative to ~/.ssh.
        "ssh-config" if s.key == "include" => v
            .split_whitespace()
            .filter_map(|a| resolve_include(a.trim_matches('"'), ".ssh"))
            .collect(),
        _ => Vec::new(),
    }
}

/// The findings of every file of the set after accept (see `Engine::scan_proposal`).
pub(crate) fn scan_set(engine: &Engine, files: &[ScanInput<'_>]) -> Vec<Vec<Finding>> {
    let own: Vec<Option<&FileType>> = files
        .iter()
        .map(|f| engine.filetype_by_path(f.path))
        .collect();
    let parsed: Vec<Vec<Parsed>> = files
        .iter()
        .zip(&own)
        .map(|(f, ft)| ft.map(|ft| parse_with_change(ft, f)).unwrap_or_default())
        .collect();
    let index: HashMap<&str, usize> = files.iter().enumerate().map(|(i, f)| (f.path, i)).collect();
    // Includes: target index -> (type the includer gives it, includer, line, new).
    let mut effective = own.clone();
    let mut includes: Vec<(usize, u32, bool, usize)> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let Some(ft) = own[i] else { continue };
        for p in &parsed[i] {
            for target in include_targets(&ft.id, f.path, &p.setting) {
                if let Some(&t) = index.get(target.as_str())
                    && t != i
                {
                    includes.push((i, p.setting.line, p.new, t));
                    if effective[t].is_none() {
                        effective[t] = Some(ft);
                    }
                }
            }
        }
    }
    let mut out: Vec<Vec<Finding>> = files
        .iter()
        .zip(&effective)
        .map(|(f, ft)| {
            if f.base == Some(f.content) {
                Vec::new()
            } else {
                engine.scan_typed(f, *ft)
            }
        })
        .collect();
    for &(i, line, new, t) in &includes {
        let target = Location {
            path: files[t].path.to_string(),
            side: Side::Proposed,
            line: None,
        };
        let changed_target = files[t].base != Some(files[t].content);
        let mut attached = false;
        if new {
            for f in out[i].iter_mut().filter(|f| {
                f.side == Side::Proposed && f.line == Some(line) && f.severity >= Severity::High
            }) {
                if !f.related.contains(&target) {
                    f.related.push(target.clone());
                    f.append(Message::new(
                        messages::INCLUDES,
                        &[("path", excerpt(&target.path))],
                    ));
                }
                attached = true;
            }
        }
        // An unchanged include whose target changes: the target's own findings name
        // the include that loads it.
        if !attached && changed_target {
            let includer = Location {
                path: files[i].path.to_string(),
                side: Side::Proposed,
                line: Some(line),
            };
            for f in out[t].iter_mut() {
                if !f.related.contains(&includer) {
                    f.related.push(includer.clone());
                }
            }
        }
    }
    drivers(files, &own, &parsed, &mut out);
    for findings in &mut out {
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.line.cmp(&b.line)));
    }
    out
}

/// A driver command defined in a git config: (kind, driver name) -> (file, line, new, key, value).
type Drivers<'a> = HashMap<(&'a str, &'a str), Vec<(usize, u32, bool, &'a str, &'a str)>>;

fn drivers(
    files: &[ScanInput<'_>],
    own: &[Option<&FileType>],
    parsed: &[Vec<Parsed>],
    out: &mut [Vec<Finding>],
) {
    let mut defined: Drivers<'_> = HashMap::new();
    for (i, list) in parsed.iter().enumerate() {
        if own[i].is_none_or(|ft| ft.id != "git-config") {
            continue;
        }
        for p in list {
            let key = p.setting.key.as_str();
            let Some((section, rest)) = key.split_once('.') else {
                continue;
            };
            let Some((name, var)) = rest.rsplit_once('.') else {
                continue;
            };
            let runs = matches!(
                (section, var),
                ("diff", "command" | "textconv")
                    | ("filter", "clean" | "smudge" | "process")
                    | ("merge", "driver")
            );
            if runs {
                defined.entry((section, name)).or_default().push((
                    i,
                    p.setting.line,
                    p.new,
                    key,
                    p.setting.value.as_deref().unwrap_or(""),
                ));
            }
        }
    }
    if defined.is_empty() {
        return;
    }
    for (a, list) in parsed.iter().enumerate() {
        if own[a].is_none_or(|ft| ft.id != "git-attributes") {
            continue;
        }
        for p in list {
            let kind = p.setting.key.as_str();
            if !matches!(kind, "diff" | "filter" | "merge") {
                continue;
            }
            let Some(name) = p.setting.value.as_deref() else {
                continue;
            };
            let Some(defs) = defined.get(&(kind, name)) else {
                continue;
            };
            let pattern = p.setting.context.as_deref().unwrap_or("");
            for &(g, line, new_def, key, value) in defs {
                if !(p.new || new_def) {
                    continue;
                }
                let (at, at_line, other, other_line) = if p.new {
                    (a, p.setting.line, g, line)
                } else {
                    (g, line, a, p.setting.line)
                };
                let text = Message::new(
                    messages::DRIVER,
                    &[
                        ("attributes", excerpt(files[a].path)),
                        ("kind", kind.to_string()),
                        ("driver", excerpt(name)),
                        ("pattern", excerpt(pattern)),
                        ("config", excerpt(files[g].path)),
                        ("line", line.to_string()),
                        ("key", excerpt(key)),
                        ("value", excerpt(value)),
                    ],
                );
                out[at].push(Finding {
                    rule: RULE_DRIVER.to_string(),
                    path: files[at].path.to_string(),
                    related: vec![Location {
                        path: files[other].path.to_string(),
                        side: Side::Proposed,
                        line: Some(other_line),
                    }],
                    severity: Severity::Critical,
                    side: Side::Proposed,
                    change: if files[at].base.is_some() {
                        Change::Changed
                    } else {
                        Change::Added
                    },
                    line: Some(at_line),
                    span: p.new.then_some(p.setting.span).flatten(),
                    message: text.english(),
                    text,
                    why: messages::DRIVER_WHY.to_string(),
                    reference:
                        "gitattributes(5) filter, diff, merge; git-config(1) diff.<driver>.textconv"
                            .to_string(),
                });
            }
        }
    }
}
