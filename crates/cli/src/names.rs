//! Parsers of the command line's qube names, profile ids and paths (clap
//! `value_parser`s): a value that breaks the protocol's rules is refused by clap with the
//! rule (exit code 2) before anything is sent to the backend. The backend parses them
//! again at its own edge (D-Bus is a separate boundary); this is the user's early, clear
//! error.
//!
//! They return the text unchanged: the D-Bus API carries strings.

use qcs_protocol::path::validate_relative_path;
use qcs_protocol::profile::validate_profile_id;
use qcs_protocol::validate_vm_name;

/// A qube name (`[A-Za-z][A-Za-z0-9_.-]{0,30}`, not a reserved name).
pub fn qube(text: &str) -> Result<String, String> {
    validate_vm_name(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("not a qube name: {e}"))
}

/// A profile id (`[a-z0-9][a-z0-9-]{0,30}`).
pub fn profile(text: &str) -> Result<String, String> {
    validate_profile_id(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("not a profile id: {e}"))
}

/// A path relative to the home directory (no `..`, no control characters, …).
pub fn path(text: &str) -> Result<String, String> {
    validate_relative_path(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("not a home-relative path: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_parser_refuses_with_the_rule_and_keeps_a_valid_value() {
        assert_eq!(super::qube("work").as_deref(), Ok("work"));
        assert_eq!(super::profile("git").as_deref(), Ok("git"));
        assert_eq!(super::path(".ssh/config").as_deref(), Ok(".ssh/config"));
        let qube = super::qube("../work").unwrap_err();
        assert!(qube.starts_with("not a qube name"), "{qube}");
        let profile = super::profile(&"g".repeat(32)).unwrap_err();
        assert!(profile.contains("the limit is 31"), "{profile}");
        let path = super::path("../.bashrc").unwrap_err();
        assert!(path.contains("'..'"), "{path}");
        assert!(super::path("a\0b").unwrap_err().contains("U+0000"));
    }
}
