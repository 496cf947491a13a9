//! The one table of hidden characters: walks every code point and checks that the
//! renderer draws it as a token exactly when a content rule reports it, and samples
//! the same through a full scan.

use qcs_core::characters::{self, TokenClass};
use qcs_core::render::{Raw, Segment, render_line};
use qcs_core::risk::{Engine, FileKind, ScanInput};

fn all_chars() -> impl Iterator<Item = char> {
    (0u32..=0x10FFFF).filter_map(char::from_u32)
}

/// Tokens other than layout (TAB, a line's LF) must be findings.
fn tokenised(c: char) -> bool {
    let line = format!("a{c}b");
    render_line(line.as_bytes()).iter().any(|s| {
        matches!(s, Segment::Token { raw: Raw::Char(t), class, .. }
            if *t == c && *class != TokenClass::Whitespace)
    })
}

#[test]
fn every_code_point_is_tokenised_iff_a_rule_reports_it() {
    let engine = Engine::shared();
    let mut mismatches = Vec::new();
    let mut hidden = 0;
    for c in all_chars() {
        if c == '\n' {
            continue;
        }
        // The renderer draws exactly what `classify` names (checked on a sample
        // through `render_line` below; the full walk uses the table directly).
        let token =
            characters::classify(c).is_some_and(|(class, _)| class != TokenClass::Whitespace);
        assert_eq!(token, characters::hidden(c).is_some(), "U+{:04X}", c as u32);
        if (c as u32).is_multiple_of(61) || token && (c as u32).is_multiple_of(7) {
            assert_eq!(
                tokenised(c),
                token,
                "renderer and table disagree on U+{:04X}",
                c as u32
            );
        }
        // CR is reported by the line-ending rules (content.lone-cr / cr-in-lf-file).
        let finding = c == '\r' || !engine.char_rules(c).is_empty();
        if token {
            hidden += 1;
        }
        if token != finding && mismatches.len() < 40 {
            mismatches.push(format!(
                "U+{:04X}: token={token} finding={finding} {:?}",
                c as u32,
                characters::classify(c)
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Sanity: the table is not empty and plain letters stay plain.
    assert!(hidden > 100_000, "{hidden}");
    for c in ['a', 'é', 'ß', 'Ж', '中', '😀', '→'] {
        assert!(characters::hidden(c).is_none(), "{c}");
    }
    for c in [
        '\u{202E}',
        '\u{200B}',
        '\u{E0041}',
        '\u{FE0F}',
        '\u{00A0}',
        '\u{2064}',
        '\u{180E}',
        '\u{FF41}',
    ] {
        assert!(characters::hidden(c).is_some(), "U+{:04X}", c as u32);
    }
}

#[test]
fn sampled_hidden_characters_are_findings_in_a_real_scan() {
    let engine = Engine::shared();
    let mut missed = Vec::new();
    let mut checked = 0;
    for c in all_chars()
        .filter(|c| characters::hidden(*c).is_some() && *c != '\r')
        .step_by(499)
    {
        let content = format!("key = a{c}b\n");
        let findings = engine.scan(&ScanInput {
            path: "notes/x.txt",
            content: content.as_bytes(),
            base: None,
            mode: None,
            kind: FileKind::Regular,
        });
        checked += 1;
        let rules = engine.char_rules(c);
        let hit = findings.iter().any(|f| {
            rules.contains(&f.rule.as_str())
                && f.line == Some(1)
                && f.span.is_some_and(|s| s.start == 7)
        });
        if !hit {
            missed.push(format!("U+{:04X}", c as u32));
        }
    }
    assert!(checked > 200);
    assert!(missed.is_empty(), "{missed:?}");
}
