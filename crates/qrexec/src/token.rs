//! Qube designators in policy columns (`work`, `@anyvm`, `@tag:T`, …) and where each may appear.

use std::fmt;

use crate::error::py_repr;

/// The domain of a qube designator, as written in a policy or a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Token {
    /// A qube name or `uuid:UUID`, taken literally (qrexec does not check its charset).
    Name(String),
    /// `*`: any qube including dom0 (source and destination columns only).
    Wildcard,
    /// `@adminvm`: dom0.
    AdminVm,
    /// `@anyvm`: any qube except dom0; as a destination it also matches `@default`, `@dispvm`, ….
    AnyVm,
    /// `@default`: the caller left the choice to the policy.
    Default,
    /// `@dispvm`: a new disposable from the caller's `default_dispvm`.
    DispVm,
    /// `@dispvm:NAME`: a new disposable from the template NAME.
    DispVmTemplate(String),
    /// `@dispvm:@tag:TAG`: a new disposable from any template carrying TAG.
    DispVmTag(String),
    /// `@tag:TAG`: any qube with TAG.
    Tag(String),
    /// `@type:TYPE`: any qube of class TYPE.
    Type(String),
}

/// The places a designator can appear; each allows a different set of tokens
/// (qubes-internals.md §5.1 and qrexec's `Source`/`Target`/`Redirect`/`IntendedTarget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The third column: who calls.
    Source,
    /// The fourth column: what the caller asked for.
    Target,
    /// `target=` and `default_target=` parameters.
    Redirect,
    /// The target a caller requested (what `qrexec-client-vm` was given).
    IntendedTarget,
}

impl Column {
    /// The class name qrexec uses in its messages (`invalid source token: …`).
    fn word(self) -> &'static str {
        match self {
            Column::Source => "source",
            Column::Target => "target",
            Column::Redirect => "redirect",
            Column::IntendedTarget => "intendedtarget",
        }
    }
}

/// Exact keywords in the order qrexec registers them, with the columns that accept each.
const EXACTS: &[(&str, &[Column])] = &[
    ("*", &[Column::Source, Column::Target]),
    (
        "@adminvm",
        &[
            Column::Source,
            Column::Target,
            Column::Redirect,
            Column::IntendedTarget,
        ],
    ),
    ("@anyvm", &[Column::Source, Column::Target]),
    ("@default", &[Column::Target, Column::IntendedTarget]),
    (
        "@dispvm",
        &[Column::Target, Column::Redirect, Column::IntendedTarget],
    ),
];

/// Prefixed keywords in qrexec's order; a value starting with `@` falls through to a longer prefix.
const PREFIXES: &[(&str, &[Column])] = &[
    ("@type:", &[Column::Source, Column::Target]),
    ("@tag:", &[Column::Source, Column::Target]),
    (
        "@dispvm:",
        &[
            Column::Source,
            Column::Target,
            Column::Redirect,
            Column::IntendedTarget,
        ],
    ),
    ("@dispvm:@tag:", &[Column::Source, Column::Target]),
];

const DOM0_UUID: &str = "uuid:00000000-0000-0000-0000-000000000000";

/// True for the three spellings of dom0 (`@adminvm`, `dom0`, the all-zero uuid).
pub fn is_dom0(designator: &str) -> bool {
    designator == "@adminvm" || designator == "dom0" || designator == DOM0_UUID
}

impl Token {
    /// Parses `text` for `column`, with qrexec's exact error messages (without file:line).
    pub fn parse_in(text: &str, column: Column) -> Result<Token, String> {
        if text.is_empty() {
            return Err(format!("invalid empty {} token", column.word()));
        }
        if !(text.starts_with('@') || text == "*") {
            return Ok(Token::Name(text.to_owned()));
        }
        for (exact, columns) in EXACTS {
            if columns.contains(&column) && text == *exact {
                return Ok(match *exact {
                    "*" => Token::Wildcard,
                    "@adminvm" => Token::AdminVm,
                    "@anyvm" => Token::AnyVm,
                    "@default" => Token::Default,
                    _ => Token::DispVm,
                });
            }
        }
        for (prefix, columns) in PREFIXES {
            if !columns.contains(&column) {
                continue;
            }
            let Some(value) = text.strip_prefix(prefix) else {
                continue;
            };
            if value.is_empty() {
                return Err(format!("invalid empty {prefix} token: {}", py_repr(text)));
            }
            if value.starts_with('@') {
                continue;
            }
            let value = value.to_owned();
            return Ok(match *prefix {
                "@type:" => Token::Type(value),
                "@tag:" => Token::Tag(value),
                "@dispvm:" => Token::DispVmTemplate(value),
                _ => Token::DispVmTag(value),
            });
        }
        Err(format!(
            "invalid {} token: {}",
            column.word(),
            py_repr(text)
        ))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Name(n) => f.write_str(n),
            Token::Wildcard => f.write_str("*"),
            Token::AdminVm => f.write_str("@adminvm"),
            Token::AnyVm => f.write_str("@anyvm"),
            Token::Default => f.write_str("@default"),
            Token::DispVm => f.write_str("@dispvm"),
            Token::DispVmTemplate(t) => write!(f, "@dispvm:{t}"),
            Token::DispVmTag(t) => write!(f, "@dispvm:@tag:{t}"),
            Token::Tag(t) => write!(f, "@tag:{t}"),
            Token::Type(t) => write!(f, "@type:{t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_table_matches_reference() {
        use Column::*;
        // token, source, target, redirect, intended target
        let table: &[(&str, [bool; 4])] = &[
            ("work", [true, true, true, true]),
            ("uuid:1234", [true, true, true, true]),
            ("*", [true, true, false, false]),
            ("@adminvm", [true, true, true, true]),
            ("@anyvm", [true, true, false, false]),
            ("@default", [false, true, false, true]),
            ("@dispvm", [false, true, true, true]),
            ("@dispvm:dvm", [true, true, true, true]),
            ("@dispvm:@tag:t", [true, true, false, false]),
            ("@tag:t", [true, true, false, false]),
            ("@type:AppVM", [true, true, false, false]),
        ];
        for (text, allowed) in table {
            for (col, ok) in [Source, Target, Redirect, IntendedTarget]
                .iter()
                .zip(allowed)
            {
                assert_eq!(
                    Token::parse_in(text, *col).is_ok(),
                    *ok,
                    "{text} in {col:?}"
                );
            }
        }
    }

    #[test]
    fn messages_match_qrexec() {
        use Column::*;
        assert_eq!(
            Token::parse_in("@tag:", Source).unwrap_err(),
            "invalid empty @tag: token: '@tag:'"
        );
        assert_eq!(
            Token::parse_in("@dispvm:@tag:", Target).unwrap_err(),
            "invalid empty @dispvm:@tag: token: '@dispvm:@tag:'"
        );
        assert_eq!(
            Token::parse_in("@dispvm:@foo", Target).unwrap_err(),
            "invalid target token: '@dispvm:@foo'"
        );
        assert_eq!(
            Token::parse_in("@default", Source).unwrap_err(),
            "invalid source token: '@default'"
        );
        assert_eq!(
            Token::parse_in("@tag:x", Redirect).unwrap_err(),
            "invalid redirect token: '@tag:x'"
        );
        assert_eq!(
            Token::parse_in("", Redirect).unwrap_err(),
            "invalid empty redirect token"
        );
        assert_eq!(
            Token::parse_in("@dispvm:@tag:x", Source).unwrap(),
            Token::DispVmTag("x".into())
        );
    }
}
