//! Pure file-type parsers: each reads one file the way its program does and returns
//! the settings it found, or `ParseFailed` where the program would refuse the file or
//! read it differently. They never classify (that is the rules' job) and never run
//! or open anything.

use super::Span;

pub mod desktop;
pub mod envd;
pub mod inputrc;
pub mod shell;
pub mod ssh;
mod ssh_check;
pub mod systemd;
pub mod tmux;
pub mod vim;

/// One setting as the consuming program reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Canonical key the rules match on: git `section.subsection.name` with section and name
    /// lower-cased and the subsection as written; ssh: lower-case keyword; shell: the command word
    /// or `VAR=`; vim: option name after `set`; …  (each parser documents its key scheme)
    pub key: String,
    /// The value after the program's unquoting/unescaping (None for a bare boolean key).
    pub value: Option<String>,
    /// 1-based line where the setting starts (continuations belong to it).
    pub line: u32,
    /// Where the key and value stand in that line, when known.
    pub span: Option<Span>,
    /// Context the rules may match on: git include condition, ssh Host/Match block header, …
    pub context: Option<String>,
}

/// Why a file does not parse the way its program reads it (→ critical `parse.failed`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseFailed {
    /// 1-based line.
    pub line: u32,
    /// What the program would object to, or why it would read the line differently.
    pub reason: String,
}
