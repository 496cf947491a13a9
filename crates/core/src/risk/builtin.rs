//! Built-in content checks that a regex cannot express: encodings, line ends, long
//! and blank runs, continuations, mixed scripts, combining stacks, duplicate keys and
//! the ssh block-order checks. Pure functions of one document.

use std::borrow::Cow;

use super::matching::*;
use super::messages;
use super::schema::Check;
use super::sshconfig::Entry as SshEntry;
use crate::findings::Span;

impl Ctx<'_, '_> {
    pub(crate) fn builtin_content<'d>(
        &self,
        check: Check,
        doc: &'d Doc<'_>,
        skip: Option<&[bool]>,
        hits: &mut Vec<Hit<'d>>,
    ) {
        let limits = &self.engine.limits;
        // Lines whose hits are not wanted (line-local checks only, see
        // `Rule::is_line_local`).
        let skipped = |li: usize| skip.is_some_and(|s| s.get(li).is_some_and(|c| *c));
        match check {
            // Decoding borrowed the bytes: they are valid UTF-8.
            Check::InvalidUtf8 if matches!(doc.text, Cow::Borrowed(_)) => {}
            Check::InvalidUtf8 => {
                let mut offset = 0;
                let mut last_line = usize::MAX;
                // Count lines over the raw bytes: the decoded text has other offsets.
                let mut line = 0;
                let mut scanned = 0;
                for chunk in doc.raw.utf8_chunks() {
                    let len = chunk.valid().len() + chunk.invalid().len();
                    if !chunk.invalid().is_empty() {
                        let bad_at = offset + chunk.valid().len();
                        line += doc.raw[scanned..bad_at]
                            .iter()
                            .filter(|b| **b == b'\n')
                            .count();
                        scanned = bad_at;
                        if line != last_line {
                            last_line = line;
                            let bytes: Vec<String> = chunk
                                .invalid()
                                .iter()
                                .map(|b| format!("0x{b:02X}"))
                                .collect();
                            let mut hit = doc.line_hit_with(
                                line.min(doc.line_count().saturating_sub(1)),
                                None,
                                Detail::Note(
                                    messages::INVALID_UTF8,
                                    vec![
                                        ("bytes", bytes.join(" ")),
                                        ("line", (line + 1).to_string()),
                                    ],
                                ),
                            );
                            hit.line = Some(line as u32 + 1);
                            hits.push(hit);
                        }
                    }
                    offset += len;
                }
            }
            Check::LoneCr | Check::CrInLfFile => {
                // A CRLF file ends every terminated line in CR; anything else is LF.
                let terminated = doc.line_starts.len() - 1;
                let crlf_file =
                    terminated > 0 && (0..terminated).all(|i| doc.line(i).ends_with('\r'));
                // Only lines that hold a CR at all (from the index of unusual characters).
                for i in doc.lines_with(|c| c == '\r') {
                    if check == Check::LoneCr && skipped(i) {
                        continue;
                    }
                    let l = doc.line(i);
                    let has_cr = match check {
                        // A CR not directly before the line's LF.
                        Check::LoneCr => {
                            let before_lf = i < terminated;
                            let body = if before_lf {
                                l.strip_suffix('\r').unwrap_or(l)
                            } else {
                                l
                            };
                            body.contains('\r')
                        }
                        _ => !crlf_file && l.ends_with('\r') && i < terminated,
                    };
                    if has_cr {
                        let at = l.find('\r').unwrap_or(0);
                        hits.push(doc.line_hit(
                            i,
                            Some(Span {
                                start: at,
                                end: at + 1,
                            }),
                            messages::CARRIAGE_RETURN,
                        ));
                    }
                }
            }
            Check::LongLine | Check::VeryLongLine => {
                let limit = if check == Check::LongLine {
                    limits.warn_line
                } else {
                    limits.max_line
                };
                for (i, l) in doc.lines() {
                    if l.len() > limit && !skipped(i) {
                        let cols = l.chars().count();
                        if cols > limit {
                            let mut hit = doc.line_hit_with(
                                i,
                                None,
                                Detail::Note(
                                    messages::LONG_LINE,
                                    vec![("line", (i + 1).to_string()), ("cols", cols.to_string())],
                                ),
                            );
                            // Identity by length and hash-like prefix keeps the map small.
                            hit.subject = Cow::Owned(format!("{}:{}", cols, excerpt(l)));
                            hits.push(hit);
                        }
                    }
                }
            }
            Check::VerticalBlank => {
                let mut run = 0;
                for (i, l) in doc.lines() {
                    if l.trim().is_empty() {
                        run += 1;
                    } else {
                        if run >= 20 {
                            hits.push(doc.line_hit_with(
                                i,
                                None,
                                Detail::Note(
                                    messages::BLANK_LINES,
                                    vec![("count", run.to_string()), ("line", (i + 1).to_string())],
                                ),
                            ));
                        }
                        run = 0;
                    }
                }
            }
            Check::Continuation => {
                for (i, l) in doc.lines().filter(|(i, _)| !skipped(*i)) {
                    let t = l.trim_end_matches([' ', '\t', '\r']);
                    let backslashes = t.len() - t.trim_end_matches('\\').len();
                    if backslashes % 2 == 1 {
                        let template = if t.len() < l.trim_end_matches('\r').len() {
                            messages::CONTINUES_AFTER_BLANKS
                        } else {
                            messages::CONTINUES
                        };
                        hits.push(doc.line_hit(i, None, template));
                    }
                }
            }
            Check::TrailingBlanks => {
                for (i, l) in doc.lines().filter(|(i, _)| !skipped(*i)) {
                    let body = l.strip_suffix('\r').unwrap_or(l);
                    if body.ends_with([' ', '\t']) {
                        let start = body.trim_end_matches([' ', '\t']).len();
                        hits.push(doc.line_hit(
                            i,
                            Some(Span {
                                start,
                                end: body.len(),
                            }),
                            messages::TRAILING_BLANKS,
                        ));
                    }
                }
            }
            Check::MixedScript => {
                // A mixed word needs a letter of a confusable script: only lines that
                // hold one are split into words.
                for i in doc.lines_with(is_confusable_script_letter) {
                    if skipped(i) {
                        continue;
                    }
                    let l = doc.line(i);
                    let mixed = l
                        .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
                        .find(|tok| {
                            tok.chars().any(|c| c.is_ascii_alphabetic())
                                && tok.chars().any(is_confusable_script_letter)
                        });
                    if let Some(tok) = mixed {
                        let start = tok.as_ptr() as usize - l.as_ptr() as usize;
                        hits.push(doc.line_hit_with(
                            i,
                            Some(Span {
                                start,
                                end: start + tok.len(),
                            }),
                            Detail::Note(
                                messages::MIXED_SCRIPT,
                                vec![("word", excerpt(tok)), ("line", (i + 1).to_string())],
                            ),
                        ));
                    }
                }
            }
            Check::CombiningStack => {
                let mut last_line = usize::MAX;
                let mut run = 0;
                let mut prev_end = usize::MAX;
                for (&(offset, c), &li) in doc.unusual.iter().zip(&doc.unusual_line) {
                    if is_combining(c as u32) {
                        run = if offset == prev_end { run + 1 } else { 1 };
                        prev_end = offset + c.len_utf8();
                        let li = li as usize;
                        if run >= 3 && li != last_line && !skipped(li) {
                            last_line = li;
                            hits.push(doc.line_hit(li, None, messages::COMBINING_STACK));
                        }
                    } else {
                        run = 0;
                    }
                }
            }
            Check::DuplicateKey => self.duplicates(doc, hits),
            Check::SshEarlyCatchAll => {
                let Some(Ok(entries)) = &doc.ssh else { return };
                let blocks: Vec<&SshEntry> = entries
                    .iter()
                    .filter(|e| e.keyword == "host" || e.keyword == "match")
                    .collect();
                for (k, e) in blocks.iter().enumerate() {
                    let catch_all = (e.keyword == "host" && e.args == ["*"])
                        || (e.keyword == "match"
                            && e.args
                                .first()
                                .is_some_and(|a| a.eq_ignore_ascii_case("all")));
                    if catch_all && k + 1 < blocks.len() {
                        hits.push(Hit {
                            line: Some(e.line),
                            span: None,
                            subject: Cow::Owned(format!("{} {}", e.keyword, e.args_text())),
                            value: Cow::Borrowed(""),
                            detail: Detail::Note(
                                messages::EARLY_CATCH_ALL,
                                vec![
                                    (
                                        "block",
                                        excerpt(&format!("{} {}", e.keyword, e.args_text())),
                                    ),
                                    ("count", (blocks.len() - k - 1).to_string()),
                                ],
                            ),
                            subsection: None,
                            base: false,
                        });
                    }
                }
            }
            Check::SshHostnameRedirect => {
                let Some(Ok(entries)) = &doc.ssh else { return };
                for e in entries.iter().filter(|e| e.keyword == "hostname") {
                    let Some(b) = e.block else { continue };
                    let block = &entries[b];
                    if block.keyword != "host" {
                        continue;
                    }
                    let target = e.args_text();
                    let redirected = block.args.iter().find(|p| {
                        p.contains('.')
                            && !p.contains(['*', '?', '!'])
                            && !p.eq_ignore_ascii_case(&target)
                    });
                    if let Some(p) = redirected {
                        hits.push(Hit {
                            line: Some(e.line),
                            span: None,
                            subject: Cow::Owned(format!("{}|hostname", block.args_text())),
                            value: Cow::Owned(target.clone()),
                            detail: Detail::Note(
                                messages::HOST_REDIRECT,
                                vec![("host", excerpt(p)), ("target", excerpt(&target))],
                            ),
                            subsection: None,
                            base: false,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    pub(crate) fn duplicates<'d>(&self, doc: &'d Doc<'_>, hits: &mut Vec<Hit<'d>>) {
        const GIT_MULTI: [&str; 8] = [
            "path",
            "fetch",
            "push",
            "insteadof",
            "pushinsteadof",
            "helper",
            "extraheader",
            "directory",
        ];
        const SSH_MULTI: [&str; 11] = [
            "host",
            "match",
            "identityfile",
            "certificatefile",
            "localforward",
            "remoteforward",
            "dynamicforward",
            "sendenv",
            "setenv",
            "include",
            "canonicaldomains",
        ];
        if let Some(Ok(entries)) = &doc.git {
            let mut seen: FastMap<(&str, Option<&str>, &str), u32> = FastMap::default();
            for (i, e) in entries
                .iter()
                .enumerate()
                .filter(|(_, e)| !GIT_MULTI.contains(&e.name.as_str()))
            {
                let key = (&*e.section, e.subsection.as_deref(), e.name.as_str());
                let first = *seen.entry(key).or_insert(e.line);
                if first != e.line {
                    hits.push(Hit {
                        line: Some(e.line),
                        span: None,
                        subject: Cow::Borrowed(doc.git_key(i)),
                        value: Cow::Borrowed(doc.git_value(i).unwrap_or("")),
                        detail: Detail::Duplicate {
                            first,
                            last_wins: true,
                        },
                        subsection: None,
                        base: false,
                    });
                }
            }
        }
        if let Some(Ok(entries)) = &doc.ssh {
            let mut seen: FastMap<(Option<usize>, &str), u32> = FastMap::default();
            for e in entries
                .iter()
                .filter(|e| !SSH_MULTI.contains(&e.keyword.as_str()))
            {
                let first = *seen.entry((e.block, &e.keyword)).or_insert(e.line);
                if first != e.line {
                    hits.push(Hit {
                        line: Some(e.line),
                        span: None,
                        subject: Cow::Owned(e.keyword.clone()),
                        value: Cow::Owned(e.args_text()),
                        detail: Detail::Duplicate {
                            first,
                            last_wins: false,
                        },
                        subsection: None,
                        base: false,
                    });
                }
            }
        }
    }
}
