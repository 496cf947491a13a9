//! File-type parsers: each reads one kind of dotfile the way its program does and
//! returns the settings that program would see, or [`ParseFailed`] where the
//! program would read the file differently or refuse it (the critical finding
//! `parse.failed`). Pure functions of the bytes: they never run the program, never
//! expand variables, never follow includes on disk.
//!
//! # Adding a parser (for the `parsers` branch and later file types)
//!
//! 1. Write `parse/<name>.rs` with `pub fn parse(content: &[u8]) -> Result<Vec<Setting>,
//!    ParseFailed>` and document its key scheme at the top of that file (what
//!    [`Setting::key`] holds for this type, what goes into [`Setting::context`]).
//! 2. Add `mod <name>;` below and one arm to [`parser`]: the parser id (the
//!    `parser = "…"` of a `[[filetype]]` in `rules/default.toml`) to the function.
//!    The ids already named by the shipped file types are in [`PARSER_IDS`]; an id
//!    there without an arm in [`parser`] means "no parser yet": every changed line
//!    of such a file is a gated finding (`file.unparsed-change`).
//! 3. Put the setting classes of the type in `crates/core/rules/<type>.toml`
//!    (`[[setting]]` entries, schema in `risk/classes.rs`): the build script embeds
//!    every `rules/*.toml` other than `default.toml` automatically, and
//!    `Engine::from_parts` checks each entry (known file type, class, reference).
//!    Any key not listed is *unknown* (high, gated); `inert` raises nothing;
//!    `dangerous` is critical with the entry's `message`.
//! 4. Tests: `cargo test -p qcs-core --test risk_settings` loads the shipped class
//!    files through the engine; add the type's cases there or in its own test file.

mod attributes;
pub mod desktop;
pub mod envd;
pub(crate) mod git;
pub mod inputrc;
pub mod shell;
pub mod ssh;
mod ssh_addr;
mod ssh_check;
pub mod systemd;
pub mod tmux;
pub mod vim;

use crate::findings::Span;

/// One setting as the consuming program reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Canonical key the rules match on: git `section.subsection.name` with section and
    /// name lower-cased and the subsection as written; ssh: lower-case keyword; shell:
    /// the command word or `VAR=`; vim: option name after `set`; … (each parser
    /// documents its key scheme).
    pub key: String,
    /// The value after the program's unquoting/unescaping (`None` for a bare boolean key).
    pub value: Option<String>,
    /// 1-based line where the setting starts (continuations belong to it).
    pub line: u32,
    /// Where the key and value stand in that line, when known.
    pub span: Option<Span>,
    /// Context the rules may match on: git include condition, ssh Host/Match block
    /// header, …
    pub context: Option<String>,
}

/// Why a file does not parse the way its program reads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseFailed {
    /// 1-based line of the problem.
    pub line: u32,
    /// What is wrong, in words.
    pub reason: String,
}

/// A file-type parser.
pub type ParseFn = fn(&[u8]) -> Result<Vec<Setting>, ParseFailed>;

/// Parser ids a `[[filetype]]` may name. `lines` means "no parser": the file is
/// reviewed line by line.
pub const PARSER_IDS: &[&str] = &[
    "git-config",
    "git-attributes",
    "ssh-config",
    "shell",
    "vim",
    "tmux",
    "inputrc",
    "desktop",
    "systemd",
    "envd",
    "lines",
];

/// The parser for a parser id, `None` when the type has none (yet).
pub fn parser(id: &str) -> Option<ParseFn> {
    match id {
        "git-config" => Some(git::parse),
        "git-attributes" => Some(attributes::parse),
        "ssh-config" => Some(ssh::parse),
        "shell" => Some(shell::parse),
        "vim" => Some(vim::parse),
        "tmux" => Some(tmux::parse),
        "inputrc" => Some(inputrc::parse),
        "desktop" => Some(desktop::parse),
        "systemd" => Some(systemd::parse),
        "envd" => Some(envd::parse),
        _ => None,
    }
}
