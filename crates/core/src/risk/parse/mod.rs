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

/// Why a file does not parse the way its program reads it: where, and a code with its
/// arguments ([`ParseError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFailed {
    /// 1-based line of the problem.
    pub line: u32,
    /// What is wrong.
    pub error: ParseError,
}

impl ParseFailed {
    pub fn new(line: u32, error: ParseError) -> ParseFailed {
        ParseFailed { line, error }
    }

    /// Not UTF-8: the line and column (1-based, in bytes) of the first bad byte.
    pub fn not_utf8(content: &[u8], error: &std::str::Utf8Error) -> ParseFailed {
        let (line, column) = position(content, error.valid_up_to());
        ParseFailed::new(line, ParseError::NotUtf8 { column })
    }

    /// The finding's message: the code's template (a gettext msgid with `{why}` for
    /// the rule's reason) and its arguments, `line` first.
    pub fn message(&self) -> (&'static str, Vec<(&'static str, String)>) {
        let mut args = vec![("line", self.line.to_string())];
        args.extend(self.error.args());
        (self.error.template(), args)
    }
}

/// In English, without the rule's reason: `line 3: bad port "x"`.
impl std::fmt::Display for ParseFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut args = vec![("line", self.line.to_string())];
        args.extend(self.error.args());
        let template = format!("line {{line}}: {}", self.error.text());
        f.write_str(&crate::findings::Message::new(template, &args).english())
    }
}

impl std::error::Error for ParseFailed {}

/// The 1-based (line, column) of byte `at`.
pub(crate) fn position(content: &[u8], at: usize) -> (u32, u32) {
    let before = &content[..at.min(content.len())];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(before.len() - start + 1).unwrap_or(u32::MAX),
    )
}

/// A value from the file (a keyword, a token), quoted as it is in a message: shortened,
/// hidden characters as code points. Never translated.
fn quoted(value: &str) -> String {
    format!("\"{}\"", crate::risk::matching::excerpt(value))
}

/// One argument of a parse error, as text.
trait Arg {
    fn arg(&self) -> String;
}

impl Arg for u32 {
    fn arg(&self) -> String {
        self.to_string()
    }
}

impl Arg for usize {
    fn arg(&self) -> String {
        self.to_string()
    }
}

/// A byte, written as `0x1f`.
impl Arg for u8 {
    fn arg(&self) -> String {
        format!("{self:#04x}")
    }
}

/// Text from the file.
impl Arg for String {
    fn arg(&self) -> String {
        quoted(self)
    }
}

/// The parse errors: each a variant with its English text (a part of the finding's
/// template, a gettext msgid) and its arguments.
macro_rules! parse_errors {
    ($(
        $(#[$doc:meta])*
        $name:ident $({ $($field:ident : $ty:ty),* $(,)? })? => $text:literal
    ),* $(,)?) => {
        /// Why a file does not parse, as a code with arguments: the finding
        /// `parse.failed` says it through a message template of its own (translated),
        /// with values from the file quoted as they are (never translated).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ParseError {
            $( $(#[$doc])* $name $({ $($field: $ty),* })? ),*
        }

        impl ParseError {
            /// Every finding template of a parse error (for the translation template).
            pub const TEMPLATES: &'static [&'static str] = &[
                $( concat!("does not parse: line {line}: ", $text, ": {why}") ),*
            ];

            /// The English text, with `{name}` placeholders.
            pub fn text(&self) -> &'static str {
                match self {
                    $( ParseError::$name { .. } => $text ),*
                }
            }

            /// The finding's template: `does not parse: line {line}: … : {why}`.
            pub fn template(&self) -> &'static str {
                match self {
                    $( ParseError::$name { .. } => concat!("does not parse: line {line}: ", $text, ": {why}") ),*
                }
            }

            /// The arguments (not the line).
            pub fn args(&self) -> Vec<(&'static str, String)> {
                match self {
                    $( ParseError::$name $({ $($field),* })? => vec![$($( (stringify!($field), Arg::arg($field)) ),*)?] ),*
                }
            }
        }
    };
}

parse_errors! {
    // Any file type.
    /// A byte sequence that is not UTF-8 (column: of its first byte).
    NotUtf8 { column: u32 } => "not UTF-8 at column {column}: the program would read bytes the review cannot show",
    /// A NUL byte: the program cuts the line there.
    NulByte => "a NUL byte, where the program stops reading the line",
    TooManyLines { limit: usize } => "more than {limit} lines",
    TooManySettings { limit: usize } => "more than {limit} settings",
    TooManyCommands => "too many commands",
    UnterminatedQuote => "unterminated quote",
    UnterminatedSingleQuote => "unterminated single quote",
    UnterminatedDoubleQuote => "unterminated double quote",
    UnterminatedSubstitution => "unterminated command substitution",
    TextAfterClosingQuote => "text after the closing quote",
    InvalidKeyName => "invalid key name",
    MissingEquals => "no “=” in the line (the program ignores it)",
    // git config and attributes.
    IncompleteBom => "incomplete UTF-8 byte order mark",
    BadSectionHeader => "bad section header",
    EmptySectionName => "empty section name",
    BadLineStart { byte: u8 } => "bad character {byte} at the start of a line",
    KeyWithoutEquals => "a key must be followed by “=” or the end of the line",
    BadValue => "bad value (unknown escape or unterminated quote)",
    IncludeWithoutValue => "an include path without a value",
    LongLine { bytes: usize } => "a line of {bytes} bytes, which git ignores",
    InvalidMacroName { name: String } => "invalid macro name {name}, which git ignores",
    InvalidAttribute { attribute: String } => "invalid attribute {attribute}, which git ignores",
    // Desktop entries, systemd units, environment.d.
    MalformedGroupHeader => "malformed group header",
    InvalidGroupName => "invalid group name",
    NoGroupFirst => "the file does not start with a group",
    NotKeyValueGroupOrComment => "neither a key-value pair, a group nor a comment",
    MalformedSectionHeader => "malformed section header",
    InvalidSectionName => "invalid section name",
    OutsideSection => "an assignment outside of a section (systemd ignores it)",
    NotKeyValue => "not a KEY=VALUE line",
    InvalidVariableName => "invalid variable name",
    // inputrc, tmux.
    UnterminatedKeySequence => "unterminated key sequence",
    NoColonAfterKeySequence => "no “:” after the key sequence",
    NotInputrcLine => "neither a setting, a directive nor a key binding",
    UnterminatedMacro => "unterminated macro",
    UnterminatedBlock => "unterminated command block in braces",
    UnterminatedFormat => "unterminated format",
    // ssh_config (OpenSSH's own refusals).
    NoArgument { keyword: String } => "no argument after keyword {keyword}",
    UnknownForSomeHosts { keyword: String } => "{keyword} is unknown to OpenSSH and hidden only for some hosts by a conditional IgnoreUnknown",
    BadOption { keyword: String } => "bad configuration option {keyword}",
    InvalidQuotes => "invalid quotes",
    InvalidProxyJump { value: String } => "invalid ProxyJump {value}",
    EmptyArgument { keyword: String } => "keyword {keyword} has an empty argument",
    ExtraArguments { keyword: String } => "keyword {keyword} has extra arguments at the end of the line",
    NoneNotAlone { keyword: String } => "keyword {keyword}: “none” must appear alone",
    MatchAllCombined => "“all” cannot be combined with other Match attributes",
    MissingMatchCriteria { attribute: String } => "missing Match criteria for {attribute}",
    UnsupportedMatchAttribute { attribute: String } => "unsupported Match attribute {attribute}",
    MatchWithoutAttributes => "one or more attributes required for Match",
    MissingArgument => "missing argument",
    InvalidTime => "invalid time value",
    InvalidInteger => "invalid integer value",
    BadNumber => "bad number",
    BadPort => "bad port",
    UnsupportedLogLevel => "unsupported log level",
    UnsupportedLogFacility => "unsupported log facility",
    MissingTarget => "missing target argument",
    BadForwarding => "bad forwarding specification",
    MissingPermitRemoteOpen => "missing PermitRemoteOpen specification",
    NoneOrAnyNotAlone => "“none” or “any” must appear alone",
    BadPermitRemoteOpen => "bad PermitRemoteOpen host or port",
    BadEscapeChar => "bad escape character",
    InvalidEnvironmentName => "invalid environment name",
    InvalidSetEnv => "invalid SetEnv",
    BadControlPersist => "bad ControlPersist argument",
    BadTunDevice => "bad tun device",
    BadIpQos => "bad IPQoS value",
    InvalidDomain => "invalid domain",
    InvalidPermittedCname => "invalid permitted CNAME",
    BadMask => "bad mask",
    InvalidHashAlgorithm => "invalid hash algorithm",
    UnsupportedOption => "unsupported option",
    UnsupportedOptionValue { value: String } => "unsupported option {value}",
    InvalidEnvironmentExpansion => "invalid environment expansion",
    RekeyLimitTooSmall => "RekeyLimit too small",
    BadAlgorithmList => "bad algorithm list",
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The `{names}` of a template.
    fn placeholders(template: &str) -> Vec<&str> {
        template
            .split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(n, _)| n))
            .collect()
    }

    #[test]
    fn every_parse_error_has_its_own_template_with_line_and_reason() {
        let mut seen = std::collections::HashSet::new();
        for template in ParseError::TEMPLATES {
            assert!(seen.insert(*template), "twice: {template}");
            let names = placeholders(template);
            assert_eq!(names.first(), Some(&"line"), "{template}");
            assert_eq!(names.last(), Some(&"why"), "{template}");
        }
        // The engine lists them for the translation template.
        let catalog = crate::risk::Engine::shared().message_catalog();
        for template in ParseError::TEMPLATES {
            assert!(catalog.iter().any(|(t, _)| t == template), "{template}");
        }
    }

    #[test]
    fn errors_are_codes_with_the_offending_token_quoted_as_it_is() {
        // ssh: an unknown keyword with a hidden character in it.
        let failed = ssh::parse(b"Host x\n  Bad\xE2\x80\xAEOption yes\n").unwrap_err();
        assert_eq!(failed.line, 2);
        assert!(
            matches!(&failed.error, ParseError::BadOption { keyword } if keyword.contains('\u{202E}'))
        );
        let (template, args) = failed.message();
        assert_eq!(template, failed.error.template());
        assert!(ParseError::TEMPLATES.contains(&template));
        assert_eq!(args[0], ("line", "2".to_owned()));
        // Quoted, the hidden character as its code point, never raw.
        assert_eq!(args[1], ("keyword", "\"bad<U+202E>option\"".to_owned()));
        for name in placeholders(template) {
            assert!(
                name == "why" || args.iter().any(|(n, _)| *n == name),
                "{name} unfilled"
            );
        }
        assert_eq!(
            failed.to_string(),
            "line 2: bad configuration option \"bad<U+202E>option\""
        );
        // A byte: its value, not a character.
        let failed = git::parse(b"[core]\n\x01x = y\n").unwrap_err();
        assert_eq!(failed.error, ParseError::BadLineStart { byte: 1 });
        assert_eq!(
            failed.to_string(),
            "line 2: bad character 0x01 at the start of a line"
        );
        // Not UTF-8: line and column of the first bad byte.
        let failed = shell::parse(b"echo ok\nexport A=\xFF\n").unwrap_err();
        assert_eq!(failed.line, 2);
        assert_eq!(failed.error, ParseError::NotUtf8 { column: 10 });
        // Placeholders in a token are not expanded (one pass).
        let failed = ssh::parse(b"{line}{why} yes\n").unwrap_err();
        assert_eq!(
            failed.to_string(),
            "line 1: bad configuration option \"{line}{why}\""
        );
    }
}
