//! Translation helpers: gettext with named placeholders.
//!
//! gettext-rs has no formatting macro, and positional `format!` strings cannot be
//! reordered by translators, so translatable strings carry `{name}` placeholders that
//! are filled after translation (the Fractal/Mousai convention; xgettext is run with
//! `--keyword=gettext_f --keyword=ngettext_f:1,2`).

use gettextrs::{gettext, ngettext};

/// Translate `msgid` and replace each `{key}` with its value.
pub fn gettext_f(msgid: &str, args: &[(&str, &str)]) -> String {
    fill(gettext(msgid), args)
}

/// Plural-aware [`gettext_f`]; `{n}` is always available as the count.
pub fn ngettext_f(singular: &str, plural: &str, n: u32, args: &[(&str, &str)]) -> String {
    let count = n.to_string();
    let mut all = vec![("n", count.as_str())];
    all.extend_from_slice(args);
    fill(ngettext(singular, plural, n), &all)
}

/// One pass over the translated text, so a value that itself contains `{…}` is never
/// expanded again; unknown placeholders stay as they are.
fn fill(text: String, args: &[(&str, &str)]) -> String {
    qcs_client::reason::fill_with(&text, |name| {
        args.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_by_name_in_any_order() {
        assert_eq!(
            gettext_f("{b} then {a}", &[("a", "x"), ("b", "y")]),
            "y then x"
        );
        assert_eq!(ngettext_f("{n} file", "{n} files", 3, &[]), "3 files");
        assert_eq!(ngettext_f("{n} file", "{n} files", 1, &[]), "1 file");
    }

    #[test]
    fn a_value_with_braces_is_not_expanded_again() {
        // Values are data (a qube name cannot hold braces, but a path can).
        assert_eq!(
            gettext_f("{path} in {qube}", &[("path", "{qube}"), ("qube", "work")]),
            "{qube} in work"
        );
    }
}
