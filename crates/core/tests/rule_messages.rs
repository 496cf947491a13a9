//! Every text a finding's message is made of — the risk engine's templates, each
//! rule's `why`, each setting class's `message` — is in the translation template
//! `po/qubes-config-sync.pot` (written by `make pot` through `tools/rule-messages`) and
//! translated in every language of `po/LINGUAS`, with the same placeholders.

use std::collections::{BTreeSet, HashMap};

use qcs_core::risk::{Engine, Message};

/// msgid -> msgstr of a PO file (singular entries; obsolete `#~` entries skipped).
fn po_entries(text: &str) -> HashMap<String, String> {
    fn unquote(s: &str) -> String {
        let inner = s.trim().trim_start_matches('"').trim_end_matches('"');
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    }
    let mut map = HashMap::new();
    let (mut id, mut s, mut field) = (String::new(), String::new(), 0);
    let mut flush = |id: &mut String, s: &mut String| {
        if !id.is_empty() {
            map.insert(std::mem::take(id), std::mem::take(s));
        }
        id.clear();
        s.clear();
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("msgid ") {
            flush(&mut id, &mut s);
            id = unquote(rest);
            field = 1;
        } else if let Some(rest) = line.strip_prefix("msgstr ") {
            s = unquote(rest);
            field = 2;
        } else if line.starts_with("msgid_plural") || line.starts_with("msgstr[") {
            field = 0;
        } else if line.starts_with('"') {
            match field {
                1 => id.push_str(&unquote(line)),
                2 => s.push_str(&unquote(line)),
                _ => {}
            }
        } else if line.trim().is_empty() {
            field = 0;
        }
    }
    flush(&mut id, &mut s);
    map
}

fn po_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../po")
}

fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.insert(after[..close].to_owned());
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

#[test]
fn every_finding_text_is_in_the_translation_template() {
    let pot = std::fs::read_to_string(po_dir().join("qubes-config-sync.pot")).unwrap_or_default();
    let entries = po_entries(&pot);
    let catalog = Engine::shared().message_catalog();
    assert!(catalog.len() > 400, "{} texts", catalog.len());
    let missing: Vec<&str> = catalog
        .iter()
        .map(|(t, _)| t.as_str())
        .filter(|t| !entries.contains_key(*t))
        .collect();
    assert!(
        missing.is_empty(),
        "{} finding texts missing from po/qubes-config-sync.pot (run `make pot`): {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn every_finding_text_is_translated_with_the_same_placeholders() {
    let linguas = std::fs::read_to_string(po_dir().join("LINGUAS")).unwrap_or_default();
    let langs: Vec<&str> = linguas
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(langs.contains(&"de"), "{langs:?}");
    for lang in langs {
        let po = std::fs::read_to_string(po_dir().join(format!("{lang}.po"))).unwrap_or_default();
        let entries = po_entries(&po);
        let mut untranslated = Vec::new();
        for (text, origin) in Engine::shared().message_catalog() {
            match entries.get(&text) {
                Some(t) if !t.is_empty() => assert_eq!(
                    placeholders(t),
                    placeholders(&text),
                    "{lang}: placeholders of {text:?} ({origin})"
                ),
                _ => untranslated.push(text),
            }
        }
        assert!(
            untranslated.is_empty(),
            "{lang}: {} finding texts untranslated, e.g. {:?}",
            untranslated.len(),
            &untranslated[..untranslated.len().min(3)]
        );
    }
}

#[test]
fn a_message_fills_its_arguments_once_and_translates_only_msgids() {
    let m = Message::new(
        "{setting} = {value}: {why}",
        &[
            ("setting", "core.pager".to_owned()),
            // Text from a qube that looks like a placeholder stays as it is.
            ("value", "{why}".to_owned()),
        ],
    )
    .with_msgid("why", "runs a command");
    assert_eq!(m.english(), "core.pager = {why}: runs a command");
    let german = |s: &str| match s {
        "{setting} = {value}: {why}" => "{setting} = {value}: {why}".to_owned(),
        "runs a command" => "führt einen Befehl aus".to_owned(),
        // Arguments from the file are never looked up.
        other => panic!("translated {other:?}"),
    };
    assert_eq!(
        m.fill(&german),
        "core.pager = {why}: führt einen Befehl aus"
    );
}

#[test]
fn a_scan_finding_carries_its_template_and_the_english_text_is_its_fill() {
    let findings = qcs_core::risk::scan(&qcs_core::risk::ScanInput {
        path: ".gitconfig",
        content: b"[core]\n\tfsmonitor = /tmp/x\n\tpager = less\n\tfoo = bar\n",
        base: None,
        mode: Some(0o644),
        kind: qcs_core::risk::FileKind::Regular,
    });
    assert!(!findings.is_empty());
    let catalog: BTreeSet<String> = Engine::shared()
        .message_catalog()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for f in &findings {
        assert_eq!(f.message, f.text.english(), "{f:?}");
        assert!(catalog.contains(&f.text.template), "{:?}", f.text.template);
        for a in f.text.args.iter().filter(|a| a.translate) {
            assert!(catalog.contains(&a.value), "{:?}", a.value);
        }
    }
}
