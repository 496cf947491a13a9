//! Rendering model: hidden characters become tokens, whitespace stays visible, and
//! the terminal renderer never emits a control sequence that came from content.

use qcs_core::diff;
use qcs_core::render::{self, LineKind, Raw, Segment, TokenClass, terminal};
use qcs_core::risk::{self, FileKind, ScanInput};

fn tokens(segments: &[Segment]) -> Vec<String> {
    segments
        .iter()
        .filter_map(|s| match s {
            Segment::Token { label, .. } => Some(label.clone()),
            _ => None,
        })
        .collect()
}

fn text(segments: &[Segment]) -> String {
    segments
        .iter()
        .filter_map(|s| match s {
            Segment::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_hidden_class_becomes_a_token() {
    let cases: &[(&str, TokenClass)] = &[
        ("\u{202E}", TokenClass::Bidi),
        ("\u{2066}", TokenClass::Bidi),
        ("\u{061C}", TokenClass::Bidi),
        ("\u{200B}", TokenClass::Invisible),
        ("\u{FEFF}", TokenClass::Invisible),
        ("\u{00AD}", TokenClass::Invisible),
        ("\u{3164}", TokenClass::Invisible),
        ("\u{E0041}", TokenClass::Tag),
        ("\u{FE0F}", TokenClass::VariationSelector),
        ("\u{E0100}", TokenClass::VariationSelector),
        ("\u{00A0}", TokenClass::OddSpace),
        ("\u{2028}", TokenClass::OddSpace),
        ("\u{3000}", TokenClass::OddSpace),
        ("\u{1B}", TokenClass::Control),
        ("\u{9B}", TokenClass::Control),
        ("\u{0}", TokenClass::Control),
        ("\u{7F}", TokenClass::Control),
        ("\r", TokenClass::Control),
        ("\u{E000}", TokenClass::Other),
        ("\u{0301}", TokenClass::Other),
    ];
    for (s, class) in cases {
        let line = format!("a{s}b\n");
        let segs = render::render_line(line.as_bytes());
        let found = segs.iter().find_map(|seg| match seg {
            Segment::Token { class, .. } => Some(*class),
            _ => None,
        });
        assert_eq!(found, Some(*class), "{s:?} → {segs:?}");
        assert_eq!(text(&segs), "ab", "{s:?}");
    }
}

#[test]
fn invalid_bytes_are_tokens_and_nothing_is_lost() {
    let segs = render::render_line(b"ok\xff\xc0\xafend");
    assert_eq!(tokens(&segs), ["0xFF", "0xC0", "0xAF"]);
    assert!(segs.iter().any(|s| matches!(
        s,
        Segment::Token {
            raw: Raw::Byte(0xFF),
            class: TokenClass::InvalidByte,
            ..
        }
    )));
    assert_eq!(text(&segs), "okend");
}

#[test]
fn whitespace_is_visible() {
    let segs = render::render_line(b"a\tb  \n");
    assert_eq!(tokens(&segs), ["TAB", "SP", "SP"]);
    let segs = render::render_line(b"a\r\n");
    assert_eq!(tokens(&segs), ["CR"]);
    let segs = render::render_line(b"a\rb\n");
    assert_eq!(tokens(&segs), ["CR"]);
    // Ordinary letters in other scripts stay text.
    let segs = render::render_line("Zoë Привет 東京 — ✓".as_bytes());
    assert!(tokens(&segs).is_empty(), "{segs:?}");
}

#[test]
fn changed_blanks_are_tokens() {
    let d = diff::diff(b"key = a b\n", b"key = a  b\n");
    let lines = render::render_diff(&d, &[]);
    let added = lines.iter().find(|l| l.kind == LineKind::Added).unwrap();
    assert!(
        added.segments.iter().any(|s| matches!(
            s,
            Segment::Token {
                class: TokenClass::Whitespace,
                changed: true,
                ..
            }
        )),
        "{:?}",
        added.segments
    );
}

#[test]
fn file_and_diff_rendering_carry_anchors_and_markers() {
    let base = b"[user]\n\tname = A\n";
    let new = "[user]\n\tname = A\u{202E}B\n[core]\n\tpager = x".as_bytes();
    let findings = risk::scan(&ScanInput {
        path: ".gitconfig",
        content: new,
        base: Some(base),
        mode: None,
        kind: FileKind::Regular,
    });
    let d = diff::diff(base, new);
    let lines = render::render_diff(&d, &findings);
    assert_eq!(lines[0].kind, LineKind::HunkHeader);
    let added: Vec<_> = lines.iter().filter(|l| l.kind == LineKind::Added).collect();
    assert_eq!(added.len(), 3);
    // The bidi finding is anchored on new line 2, the pager one on line 4.
    let anchored = |n: usize| {
        lines.iter().any(|l| {
            l.new_number == Some(n)
                && l.segments
                    .iter()
                    .any(|s| matches!(s, Segment::FindingAnchor { .. }))
        })
    };
    assert!(anchored(2));
    assert!(anchored(4));
    // The last line has no final newline: marked.
    let last = added.last().unwrap();
    assert!(last.segments.iter().any(|s| matches!(
        s,
        Segment::Token {
            raw: Raw::NoFinalNewline,
            ..
        }
    )));
    // Word-level change: only the changed part of line 2 is marked.
    let changed_text: String = added[0]
        .segments
        .iter()
        .filter_map(|s| match s {
            Segment::Text {
                text,
                changed: true,
            } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(!changed_text.contains("name"), "{:?}", added[0].segments);

    let full = render::render_file(new, &findings);
    assert_eq!(full.len(), 4);
}

/// Strips our own SGR sequences (only the fixed table), then checks what is left.
fn assert_terminal_safe(out: &str) {
    let mut rest = out.to_string();
    for sgr in terminal::SGR {
        rest = rest.replace(sgr, "");
    }
    for c in rest.chars() {
        let u = c as u32;
        let bad = (u < 0x20 && c != '\n')
            || u == 0x7F
            || (0x80..=0x9F).contains(&u)
            || matches!(u, 0x061C | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF)
            || matches!(
                u,
                0x00A0 | 0x00AD | 0x2028 | 0x2029 | 0x1680 | 0x2000..=0x200A | 0x3000 | 0x3164
            )
            || (0xE0000..=0xE01EF).contains(&u)
            || (0xFE00..=0xFE0F).contains(&u)
            || (0xE000..=0xF8FF).contains(&u)
            || u >= 0xF0000;
        assert!(!bad, "dangerous U+{u:04X} in terminal output {rest:?}");
    }
    // Newlines only as our own line ends: never more lines than rendered.
}

/// xorshift64, reproducible from its seed (one copy for the workspace, in qcs-test-support).
use qcs_test_support::XorShift64 as Rng;

#[test]
fn terminal_output_never_carries_content_control_sequences() {
    let mut rng = Rng(0x00c0_ffee_1234_5678);
    let nasty: &[&str] = &[
        "\u{1b}[2J",
        "\u{1b}]52;c;aGk=\u{7}",
        "\u{9b}31m",
        "\u{9d}8;;http://x\u{9c}",
        "\u{202e}",
        "\u{2066}",
        "\u{200b}",
        "\u{feff}",
        "\u{e0041}",
        "\u{fe0f}",
        "\u{a0}",
        "\u{2028}",
        "\r",
        "\u{8}",
        "\u{0}",
        "\u{7f}",
        "\t",
        " ",
        "a",
        "é",
        "\u{0301}",
        "\u{e000}",
        "\u{10ffff}",
    ];
    for round in 0..2000_u32 {
        let mut line: Vec<u8> = Vec::new();
        for _ in 0..(rng.next() % 40) {
            if rng.next().is_multiple_of(3) {
                // Raw random bytes, including invalid UTF-8 and C1 bytes.
                line.push((rng.next() & 0xff) as u8);
            } else {
                line.extend_from_slice(
                    nasty[(rng.next() % nasty.len() as u64) as usize].as_bytes(),
                );
            }
        }
        let colour = round % 2 == 0;
        let out = terminal::line(&line, terminal::Options { colour });
        assert!(!out.contains('\n'), "content produced a newline: {out:?}");
        assert_terminal_safe(&out);
        // Whole diffs too (with a base that differs).
        if round.is_multiple_of(10) {
            let mut old = line.clone();
            old.reverse();
            old.push(b'\n');
            let d = diff::diff(&old, &line);
            let rendered =
                terminal::lines(&render::render_diff(&d, &[]), terminal::Options { colour });
            assert_terminal_safe(&rendered);
        }
    }
}

#[test]
fn hand_built_text_segments_are_sanitised_too() {
    let segs = vec![Segment::Text {
        text: "a\u{1b}[31mb\u{202e}".into(),
        changed: false,
    }];
    let out = terminal::segments(&segs, terminal::Options { colour: false });
    assert_terminal_safe(&out);
    assert!(!out.contains('\u{1b}'));
}
