//! The built-in message templates of findings: every text the engine writes itself
//! (the rule files' `why` and `message` texts are the others). Each constant is
//! verbatim a gettext msgid with `{name}` placeholders; [`BUILTIN`] lists them all for
//! the translation template (`tools/rule-messages`, `make pot`). A file that does not
//! parse is said by its parse error's own template (`risk::parse::ParseError`, listed
//! in its `TEMPLATES`). This module only holds text; it decides nothing.

// Per-hit descriptions, each followed by the rule's reason.
pub const ENTRY_KIND: &str = "entry is a {kind}: {why}";
pub const MODE: &str = "mode {mode}: {why}";
pub const PATH_MATCHES: &str = "path {path} matches {glob}: {why}";
pub const PATH_AT_BYTE: &str = "path {path} at byte {byte}: {why}";
pub const CODEPOINT_IN_PATH: &str = "{codepoint} in the path: {why}";
pub const SIZE: &str = "{bytes} bytes, {lines} lines: {why}";
pub const TOO_LARGE: &str = "{bytes} bytes, over the {limit} byte scan limit: not parsed: {why}";
pub const NEW_PATH: &str = "{path} is new to the profile: {why}";
pub const UNKNOWN_TYPE: &str = "no rules know {path}: {why}";
pub const NEVER_SYNC: &str = "{path} is on the never-sync list: {why}";
pub const WIDE_BOM: &str = "UTF-16/32 byte order mark: {why}";
pub const UTF8_BOM: &str = "UTF-8 byte order mark at the start: {why}";
pub const CHAR_IN_LINE: &str = "{char} in line {line}: {why}";
pub const LINE_EXCERPT: &str = "line {line}: {text}: {why}";
pub const KEY_VALUE: &str = "{setting} = {value}: {why}";
pub const KEYWORD_ARGS: &str = "{keyword} {args}: {why}";
pub const SET_AGAIN_LAST_WINS: &str =
    "{setting} set again (first in line {first}); the last one wins: {why}";
pub const SET_AGAIN_FIRST_WINS: &str =
    "{setting} set again (first in line {first}); the first one wins: {why}";
pub const INVALID_UTF8: &str = "invalid UTF-8 {bytes} in line {line}: {why}";
pub const CARRIAGE_RETURN: &str = "carriage return in line {line}: {why}";
pub const LONG_LINE: &str = "line {line} has {cols} characters: {why}";
pub const BLANK_LINES: &str = "{count} blank lines before line {line}: {why}";
pub const CONTINUES: &str = "line {line} continues onto the next: {why}";
pub const CONTINUES_AFTER_BLANKS: &str =
    "line {line} continues onto the next (followed by blanks): {why}";
pub const TRAILING_BLANKS: &str = "trailing blanks in line {line}: {why}";
pub const MIXED_SCRIPT: &str = "mixed-script word {word} in line {line}: {why}";
pub const COMBINING_STACK: &str = "stacked combining marks in line {line}: {why}";
pub const EARLY_CATCH_ALL: &str = "{block} comes before {count} more specific block(s): {why}";
pub const HOST_REDIRECT: &str = "host {host} connects to {target}: {why}";
pub const LINE_CHANGED: &str = "line {line} changed: {why}";
pub const LINES_CHANGED: &str = "lines {from}–{to} changed: {why}";
pub const LINE_UNPARSED: &str = "line {line} not read by any parser: {why}";
pub const LINES_UNPARSED: &str = "lines {from}–{to} not read by any parser: {why}";
pub const LINE_REMOVED: &str = "line {line} removed: {why}";
pub const LINES_REMOVED: &str = "lines {from}–{to} removed: {why}";

// Summaries past the per-rule cap.
pub const ONE_MORE_FINDING: &str =
    "{count} more finding of this rule not listed (from line {line}): {why}";
pub const MORE_FINDINGS: &str =
    "{count} more findings of this rule not listed (from line {line}): {why}";
pub const ONE_MORE_SETTING: &str =
    "{count} more setting of this class not listed (from line {line})";
pub const MORE_SETTINGS: &str = "{count} more settings of this class not listed (from line {line})";
pub const TOO_MANY_SETTINGS: &str = "too many settings to list one by one";

// Confusable paths.
pub const CONFUSABLE: &str = "path {path} imitates {imitated} ({tricks}); scanned as {filetype}";
pub const CONFUSABLE_UNKNOWN: &str =
    "path {path} imitates {imitated} ({tricks}); scanned as an unknown type";
pub const CONFUSABLE_WHY: &str = "A path that looks like a known file but is another one: the review and the sidebar show what you expect, the program reads something else (or the file waits to be renamed).";

// Setting classes.
pub const SETTING_VALUE: &str = "{setting} = {value}: {why}";
pub const SETTING_VALUE_IN: &str = "{setting} = {value} (in {context}): {why}";
pub const SETTING: &str = "{setting}: {why}";
pub const SETTING_IN: &str = "{setting} (in {context}): {why}";
pub const UNKNOWN_SETTING: &str =
    "not known to be harmless: check what this setting does before accepting";
pub const UNKNOWN_REMOVED: &str =
    "removed, and not known to be harmless: it may have been a protection";

// Sentences appended to another finding's message.
pub const ALSO: &str = " ({why})";
pub const INCLUDES: &str = " (includes {path}, a file of this profile)";

// Combinations of files.
pub const DRIVER: &str = "{attributes} selects {kind}={driver} for {pattern}, and {config} line {line} defines {key} = {value}: git runs this command for every matching file";
pub const DRIVER_WHY: &str =
    "An attributes file and a git config together make git run a command on file contents.";

/// Every built-in template, for the translation template and its test.
pub const BUILTIN: &[&str] = &[
    ENTRY_KIND,
    MODE,
    PATH_MATCHES,
    PATH_AT_BYTE,
    CODEPOINT_IN_PATH,
    SIZE,
    TOO_LARGE,
    NEW_PATH,
    UNKNOWN_TYPE,
    NEVER_SYNC,
    WIDE_BOM,
    UTF8_BOM,
    CHAR_IN_LINE,
    LINE_EXCERPT,
    KEY_VALUE,
    KEYWORD_ARGS,
    SET_AGAIN_LAST_WINS,
    SET_AGAIN_FIRST_WINS,
    INVALID_UTF8,
    CARRIAGE_RETURN,
    LONG_LINE,
    BLANK_LINES,
    CONTINUES,
    CONTINUES_AFTER_BLANKS,
    TRAILING_BLANKS,
    MIXED_SCRIPT,
    COMBINING_STACK,
    EARLY_CATCH_ALL,
    HOST_REDIRECT,
    LINE_CHANGED,
    LINES_CHANGED,
    LINE_UNPARSED,
    LINES_UNPARSED,
    LINE_REMOVED,
    LINES_REMOVED,
    ONE_MORE_FINDING,
    MORE_FINDINGS,
    ONE_MORE_SETTING,
    MORE_SETTINGS,
    TOO_MANY_SETTINGS,
    CONFUSABLE,
    CONFUSABLE_UNKNOWN,
    CONFUSABLE_WHY,
    SETTING_VALUE,
    SETTING_VALUE_IN,
    SETTING,
    SETTING_IN,
    UNKNOWN_SETTING,
    UNKNOWN_REMOVED,
    ALSO,
    INCLUDES,
    DRIVER,
    DRIVER_WHY,
];
