//! Prints every text a finding's message is made of (the built-in templates, each
//! rule's `why`, each setting class's `message`) as gettext template entries, for
//! `make pot`: the rule files are TOML, which xgettext cannot read.
//!
//! Run: `cargo run -q -p qcs-core --example rule-messages > rule-messages.pot`.

use std::io::Write;

/// A PO string literal: backslash, quote and control characters escaped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn main() -> std::io::Result<()> {
    let engine = qcs_core::risk::Engine::shared();
    let mut out = std::io::stdout().lock();
    writeln!(out, "msgid \"\"")?;
    writeln!(out, "msgstr \"\"")?;
    writeln!(out, "\"Content-Type: text/plain; charset=UTF-8\\n\"")?;
    for (text, origin) in engine.message_catalog() {
        writeln!(out)?;
        writeln!(out, "#. {origin}")?;
        // Placeholders in braces are filled in by the program: keep them as written.
        if text.contains('{') {
            writeln!(out, "#, no-c-format")?;
        }
        writeln!(out, "msgid {}", quoted(&text))?;
        writeln!(out, "msgstr \"\"")?;
    }
    Ok(())
}
