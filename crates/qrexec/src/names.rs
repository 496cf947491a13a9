//! qrexec's character rules for service names, arguments and policy file names, and the
//! argument sanitising qrexec-daemon applies to every call coming from a qube.

use crate::error::py_repr_seq;

/// Characters qrexec allows in service names and arguments (`RPCNAME_ALLOWED_CHARSET`):
/// ASCII letters, digits and `+-._`.
pub fn is_rpcname_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_')
}

/// Characters allowed in a policy file name (`[0-9a-z_.-]`).
pub fn is_policy_filename_char(c: char) -> bool {
    c.is_ascii_digit() || c.is_ascii_lowercase() || matches!(c, '_' | '.' | '-')
}

/// What qrexec-daemon does to `SERVICE+ARG` sent by a qube before the policy sees it: every byte
/// outside `[A-Za-z0-9_.-]` and `+` becomes `_` (so a 2-byte UTF-8 character becomes `__`).
/// Nothing is rejected here; an empty name or one starting with `+` is refused separately
/// ([`validate_call_name`]).
pub fn sanitize_service_call(raw: &[u8]) -> String {
    raw.iter()
        .map(|&b| {
            let c = b as char;
            if b.is_ascii() && is_rpcname_char(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Refuses what qrexec-daemon refuses outright: an empty service name, or one that starts with
/// `+` (no service before the argument).
pub fn validate_call_name(sanitized: &str) -> Result<(), &'static str> {
    if sanitized.is_empty() {
        return Err("empty service name");
    }
    if sanitized.starts_with('+') {
        return Err("service name starts with '+'");
    }
    Ok(())
}

/// A service call as qrexec-daemon passes it on after sanitising what a qube sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCall {
    /// The service name (before the first `+`).
    pub service: String,
    /// The argument without its `+` (empty when none was given).
    pub argument: String,
}

impl ServiceCall {
    /// Sanitises `SERVICE[+ARG]` from a qube ([`sanitize_service_call`]) and refuses what qrexec
    /// refuses ([`validate_call_name`]).
    pub fn from_untrusted(raw: &[u8]) -> Result<ServiceCall, &'static str> {
        let sanitized = sanitize_service_call(raw);
        validate_call_name(&sanitized)?;
        let (service, argument) = sanitized.split_once('+').unwrap_or((&sanitized, ""));
        Ok(ServiceCall {
            service: service.to_owned(),
            argument: argument.to_owned(),
        })
    }

    /// `SERVICE+ARG`, with the `+` even for an empty argument (`QREXEC_SERVICE_FULL_NAME`).
    pub fn full_name(&self) -> String {
        format!("{}+{}", self.service, self.argument)
    }

    /// The argument as the policy matches it: `+ARG` (`+` when empty).
    pub fn policy_argument(&self) -> String {
        format!("+{}", self.argument)
    }
}

/// Splits `SERVICE+ARG` at the first `+`; no `+` means an empty argument. The returned argument
/// keeps its `+` (`"+"` when empty), as the policy matches it.
pub fn split_service_call(call: &str) -> (&str, String) {
    match call.split_once('+') {
        Some((service, arg)) => (service, format!("+{arg}")),
        None => (call, "+".to_owned()),
    }
}

/// The sorted, distinct characters of `s` outside the rpc-name charset, minus `also_disallowed`.
pub(crate) fn invalid_chars(s: &str, also_disallowed: &[char]) -> Vec<String> {
    let mut bad: Vec<char> = s
        .chars()
        .filter(|c| !is_rpcname_char(*c) || also_disallowed.contains(c))
        .collect();
    bad.sort_unstable();
    bad.dedup();
    bad.into_iter().map(String::from).collect()
}

/// Validates the service and argument columns of a rule (or an `!include-service` line) with
/// qrexec's messages. `*` becomes `None` (= any).
pub(crate) fn validate_service_and_argument(
    service: &str,
    argument: &str,
) -> Result<(Option<String>, Option<String>), String> {
    let service = (service != "*").then(|| service.to_owned());
    if let Some(s) = &service {
        let bad = invalid_chars(s, &['+']);
        if !bad.is_empty() {
            return Err(format!(
                "service {} contains invalid characters: {}",
                crate::error::py_repr(s),
                py_repr_seq(bad.iter().map(String::as_str), true)
            ));
        }
    }
    let argument = (argument != "*").then(|| argument.to_owned());
    if let Some(a) = &argument {
        let bad = invalid_chars(a, &[]);
        if !bad.is_empty() {
            return Err(format!(
                "argument {} contains invalid characters: {}",
                crate::error::py_repr(a),
                py_repr_seq(bad.iter().map(String::as_str), true)
            ));
        }
        if !a.starts_with('+') {
            return Err(format!(
                "argument {} does not start with +",
                crate::error::py_repr(a)
            ));
        }
        if service.is_none() {
            return Err("only * argument allowed for * service".to_owned());
        }
    }
    Ok((service, argument))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitising_matches_recorded_qrexec() {
        // golden/qubesd/qrexec.md §5
        for sent in ["a/b", "a b", "a@b", "a:b", "a*b", "a=b", "a;b"] {
            assert_eq!(sanitize_service_call(sent.as_bytes()), "a_b", "{sent}");
        }
        assert_eq!(sanitize_service_call("é".as_bytes()), "__");
        assert_eq!(sanitize_service_call(b".."), "..");
        assert_eq!(sanitize_service_call(b"a.b-c_d"), "a.b-c_d");
        assert_eq!(sanitize_service_call(b"x+y"), "x+y");
        assert_eq!(sanitize_service_call(b"test/Dump"), "test_Dump");
        assert_eq!(sanitize_service_call(b"\0\n"), "__");
    }

    #[test]
    fn service_calls_from_qubes() {
        let c = ServiceCall::from_untrusted(b"qubes.ConfigPropose+git").unwrap();
        assert_eq!(
            (c.service.as_str(), c.argument.as_str()),
            ("qubes.ConfigPropose", "git")
        );
        assert_eq!(c.full_name(), "qubes.ConfigPropose+git");
        assert_eq!(c.policy_argument(), "+git");
        let c = ServiceCall::from_untrusted(b"test.Dump").unwrap();
        assert_eq!(c.full_name(), "test.Dump+");
        assert_eq!(c.policy_argument(), "+");
        let c = ServiceCall::from_untrusted("t/x+a b+é".as_bytes()).unwrap();
        assert_eq!(c.full_name(), "t_x+a_b+__");
        assert_eq!(c.argument, "a_b+__");
        assert!(ServiceCall::from_untrusted(b"").is_err());
        assert!(ServiceCall::from_untrusted(b"+arg").is_err());
    }

    #[test]
    fn call_names() {
        assert!(validate_call_name("").is_err());
        assert!(validate_call_name("+x").is_err());
        assert!(validate_call_name("a+").is_ok());
        assert_eq!(split_service_call("svc+a+b"), ("svc", "+a+b".to_owned()));
        assert_eq!(split_service_call("svc"), ("svc", "+".to_owned()));
        assert_eq!(split_service_call("svc+"), ("svc", "+".to_owned()));
    }
}
