//! The ssh_config view the block-order and keyword rules use (`Entry` per keyword
//! line with its enclosing Host/Match block), built from `parse::ssh`, the one reader
//! of ssh_config that tokenises like OpenSSH. This module only reshapes its lines; it
//! must not tokenise anything itself.

use super::parse::ssh::{self, Kind};

/// One keyword line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Keyword, lower case, aliases resolved (an ignored unknown keyword as written).
    pub keyword: String,
    /// Arguments as ssh reads them (a command keyword's raw value as one argument;
    /// `Match` criteria and their arguments in order).
    pub args: Vec<String>,
    /// 1-based line.
    pub line: u32,
    /// Index of the enclosing `Host`/`Match` entry, `None` before the first one.
    pub block: Option<usize>,
}

impl Entry {
    /// Arguments joined by single spaces.
    pub fn args_text(&self) -> String {
        self.args.join(" ")
    }
}

/// Why an ssh_config does not parse the way OpenSSH reads it.
pub type ParseError = super::parse::ParseFailed;

/// Parses a whole ssh_config (see `parse::ssh`).
pub fn parse(content: &[u8]) -> Result<Vec<Entry>, ParseError> {
    let lines = ssh::parse_lines(content).map_err(|r| r.failed)?;
    Ok(lines
        .into_iter()
        .map(|l| {
            let keyword = if l.keyword.is_empty() {
                l.written.clone()
            } else {
                l.keyword.to_string()
            };
            let args = match l.kind {
                Kind::Command | Kind::Jump => vec![l.raw.unwrap_or_default()],
                Kind::Match => l
                    .criteria
                    .iter()
                    .flat_map(|c| {
                        let name = if c.negated {
                            format!("!{}", c.name)
                        } else {
                            c.name.clone()
                        };
                        std::iter::once(name).chain(c.arg.clone())
                    })
                    .collect(),
                _ => l.args,
            };
            Entry {
                keyword,
                args,
                line: l.line,
                block: l.block,
            }
        })
        .collect())
}
