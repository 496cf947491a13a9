//! Client-side validation of every name and value sent to qubesd.
//!
//! The rules are those of qubesd itself (qubes-core-admin 4.3/4.4, see
//! reference qubes-internals §1.6/§1.7 and the golden recordings): a value this
//! module accepts is accepted by qubesd, and where qubesd rejects a value the
//! [`ValidationError`] displays **exactly** qubesd's own message, so that the
//! simulator can send it verbatim and a client error reads like the real one.
//! [`ValidationError::qubesd_exception`] names the exception class qubesd
//! raises for it.
//!
//! A few rules exist only on the client (qrexec argument charset, request
//! size); they say so in [`ValidationError::is_client_only`].
//!
//! Checks run in the same order as in qubesd, so the first failing rule is the
//! one qubesd would report.

/// Prefix of the features that declare custom-persist bind-dirs entries.
pub const CUSTOM_PERSIST_PREFIX: &str = "custom-persist.";

/// Longest custom-persist key: QubesDB key limit 63 minus `len("/persist/")`.
pub const CUSTOM_PERSIST_KEY_MAX: usize = 54;

/// Longest VM name qubesd accepts (`len(name) <= 31`).
pub const VM_NAME_MAX: usize = 31;

/// qubesd reads at most this many bytes of one request (header and payload)
/// and drops the connection without a reply beyond it.
pub const MAX_REQUEST_BYTES: usize = 65536;

/// Characters qubesd allows in a label name (`qubes.utils.validate_label_name`).
const LABEL_SAFE_SET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";

/// Why a name or value was refused. `Display` is qubesd's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// qubesd's API layer: a method that needs an argument got none.
    #[error("expected an argument")]
    ExpectedArgument,

    // --- VM names (qubes.vm.validate_name) ---
    #[error("VM name must be shorter than 32 characters")]
    VmNameTooLong,
    #[error("VM name cannot start with hyphen, underscore, dot or numbers")]
    VmNameBadStart,
    #[error("VM name contains illegal characters")]
    VmNameIllegalCharacters,
    #[error("VM name cannot be 'Domain-0'")]
    VmNameDomain0,
    #[error("VM name cannot be 'none' nor 'default'")]
    VmNameReserved,
    #[error("VM name cannot end with -dm")]
    VmNameEndsWithDm,

    // --- features (admin.vm.feature.Set, R4.3+) ---
    #[error("feature name contains illegal characters")]
    FeatureNameIllegalCharacters,
    #[error("Feature value contains non-ASCII characters")]
    FeatureValueNonAscii,
    /// Control characters (newline, TAB, DEL, …) in a value; R4.3+ only.
    #[error("{feature} value contains illegal characters")]
    FeatureValueIllegalCharacters { feature: String },

    // --- tags (qubes.vm.Tags.validate_tag) ---
    #[error("tag cannot be empty")]
    TagEmpty,
    #[error("disallowed characters")]
    TagDisallowedCharacters,

    // --- labels (qubes.utils.validate_label_name) ---
    #[error("Label name must be set")]
    LabelEmpty,
    #[error("Label must be in safe set: {LABEL_SAFE_SET}")]
    LabelUnsafeCharacters,

    // --- custom-persist (qubes.ext.custom_persist) ---
    #[error("custom-persist key cannot be empty")]
    CustomPersistKeyEmpty,
    #[error("custom-persist key is too long (max {CUSTOM_PERSIST_KEY_MAX}), ignoring: {key}")]
    CustomPersistKeyTooLong { key: String },
    #[error("invalid path '{path}'")]
    CustomPersistInvalidPath { path: String },
    #[error("invalid value format: '{value}'")]
    CustomPersistInvalidFormat { value: String },
    #[error("invalid resource type option '{resource_type}' in value '{value}'")]
    CustomPersistInvalidResourceType {
        resource_type: String,
        value: String,
    },
    #[error("invalid mode option '{mode}' in value '{value}'")]
    CustomPersistInvalidMode { mode: String, value: String },

    // --- client-only rules (qubesd has no message for them) ---
    /// qrexec-daemon would silently turn these characters into `_`; the client
    /// refuses instead, so a call never reaches a different object than meant.
    #[error("qrexec argument contains characters outside [A-Za-z0-9_.+-]: {arg:?}")]
    QrexecArgumentIllegalCharacters { arg: String },
    /// A method name outside the qrexec service charset `[A-Za-z0-9_.-]`.
    #[error("method name is empty or contains characters outside [A-Za-z0-9_.-]: {method:?}")]
    MethodIllegalCharacters { method: String },
    /// qubesd drops requests over 64 KiB without a reply.
    #[error("request of {size} bytes exceeds qubesd's limit of {MAX_REQUEST_BYTES} bytes")]
    RequestTooLarge { size: usize },
}

impl ValidationError {
    /// The exception class qubesd raises for this rule (the `<type>` field of
    /// a `2\0<type>\0…` reply). Client-only rules report the class qubesd would
    /// use for the nearest equivalent (`ProtocolError`).
    pub fn qubesd_exception(&self) -> &'static str {
        use ValidationError::*;
        match self {
            ExpectedArgument
            | FeatureNameIllegalCharacters
            | FeatureValueNonAscii
            | FeatureValueIllegalCharacters { .. } => "ProtocolError",
            VmNameTooLong
            | VmNameBadStart
            | VmNameIllegalCharacters
            | VmNameDomain0
            | VmNameReserved
            | VmNameEndsWithDm => "QubesValueError",
            TagEmpty | TagDisallowedCharacters => "QubesInvalidTagError",
            LabelEmpty | LabelUnsafeCharacters => "QubesInvalidLabelError",
            CustomPersistKeyEmpty
            | CustomPersistKeyTooLong { .. }
            | CustomPersistInvalidPath { .. }
            | CustomPersistInvalidFormat { .. }
            | CustomPersistInvalidResourceType { .. }
            | CustomPersistInvalidMode { .. } => "QubesValueError",
            QrexecArgumentIllegalCharacters { .. }
            | MethodIllegalCharacters { .. }
            | RequestTooLarge { .. } => "ProtocolError",
        }
    }

    /// True for rules qubesd does not have (its behaviour differs: qrexec
    /// rewrites the argument, an oversized request gets an empty reply).
    pub fn is_client_only(&self) -> bool {
        matches!(
            self,
            ValidationError::QrexecArgumentIllegalCharacters { .. }
                | ValidationError::MethodIllegalCharacters { .. }
                | ValidationError::RequestTooLarge { .. }
        )
    }
}

/// A syntactically valid VM name (`qubes.vm.validate_name`, without a property
/// holder). Lengths count characters, as Python's `len` does.
pub fn vm_name(name: &str) -> Result<(), ValidationError> {
    if name.chars().count() > VM_NAME_MAX {
        return Err(ValidationError::VmNameTooLong);
    }
    // Python: re.match(r"\A[0-9_.-].*\Z") — `.` does not match a newline.
    let mut chars = name.chars();
    if let Some(first) = chars.next()
        && matches!(first, '0'..='9' | '_' | '.' | '-')
        && !chars.as_str().contains('\n')
    {
        return Err(ValidationError::VmNameBadStart);
    }
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_with_letter
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(ValidationError::VmNameIllegalCharacters);
    }
    if name == "Domain-0" {
        return Err(ValidationError::VmNameDomain0);
    }
    if name == "none" || name == "default" {
        return Err(ValidationError::VmNameReserved);
    }
    if name.ends_with("-dm") {
        return Err(ValidationError::VmNameEndsWithDm);
    }
    Ok(())
}

/// A call destination: a VM name, or `uuid:<uuid>` (R4.3+), as qubesd's
/// `decode_vm` accepts. The uuid must be in the canonical lowercase
/// 8-4-4-4-12 hex form.
pub fn vm_designator(dest: &str) -> Result<(), ValidationError> {
    match dest.strip_prefix("uuid:") {
        Some(uuid) if is_canonical_uuid(uuid) => Ok(()),
        Some(_) => Err(ValidationError::VmNameIllegalCharacters),
        None => vm_name(dest),
    }
}

fn is_canonical_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(b),
        })
}

/// A feature name `admin.vm.feature.Set` accepts: `\A[a-zA-Z0-9_.-]+\Z`.
/// An empty name is refused by qubesd's API layer before that check.
pub fn feature_name(name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::ExpectedArgument);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(ValidationError::FeatureNameIllegalCharacters);
    }
    Ok(())
}

/// A feature value under the R4.3 rules: ASCII, then printable only
/// (`\x20-\x7E`, so no newline or TAB). An empty value is valid (= false).
pub fn feature_value(feature: &str, value: &[u8]) -> Result<(), ValidationError> {
    if !value.is_ascii() {
        return Err(ValidationError::FeatureValueNonAscii);
    }
    if !value.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(ValidationError::FeatureValueIllegalCharacters {
            feature: feature.to_owned(),
        });
    }
    Ok(())
}

/// Everything qubesd checks when a feature is set, in its order: the value's
/// encoding, the name, the value's characters, and for `custom-persist.*` the
/// key and the value format (which qubesd checks only *after* storing the
/// value — so a client must check it first, or an invalid value stays set).
pub fn feature_assignment(name: &str, value: &[u8]) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::ExpectedArgument);
    }
    if !value.is_ascii() {
        return Err(ValidationError::FeatureValueNonAscii);
    }
    feature_name(name)?;
    feature_value(name, value)?;
    if let Some(key) = name.strip_prefix(CUSTOM_PERSIST_PREFIX) {
        custom_persist_key(key)?;
        // Checked above: printable ASCII, hence valid UTF-8.
        let text = std::str::from_utf8(value).map_err(|_| ValidationError::FeatureValueNonAscii)?;
        custom_persist_value(text)?;
    }
    Ok(())
}

/// A tag (`Tags.validate_tag`): non-empty, `[A-Za-z0-9_-]`.
pub fn tag(tag: &str) -> Result<(), ValidationError> {
    if tag.is_empty() {
        return Err(ValidationError::TagEmpty);
    }
    if !tag
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        return Err(ValidationError::TagDisallowedCharacters);
    }
    Ok(())
}

/// A label name (`validate_label_name`): non-empty, `[A-Za-z0-9_.-]`.
pub fn label_name(label: &str) -> Result<(), ValidationError> {
    if label.is_empty() {
        return Err(ValidationError::LabelEmpty);
    }
    if !label.chars().all(|c| LABEL_SAFE_SET.contains(c)) {
        return Err(ValidationError::LabelUnsafeCharacters);
    }
    Ok(())
}

/// A qrexec service argument: `[A-Za-z0-9_.+-]*`. qrexec-daemon replaces any
/// other byte with `_`, which would address a different object, so the
/// client refuses such arguments instead.
pub fn qrexec_argument(arg: &str) -> Result<(), ValidationError> {
    if arg
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'))
    {
        Ok(())
    } else {
        Err(ValidationError::QrexecArgumentIllegalCharacters {
            arg: arg.to_owned(),
        })
    }
}

/// A custom-persist key (the part after `custom-persist.`): 1..=54 characters.
pub fn custom_persist_key(key: &str) -> Result<(), ValidationError> {
    if key.is_empty() {
        return Err(ValidationError::CustomPersistKeyEmpty);
    }
    if key.chars().count() > CUSTOM_PERSIST_KEY_MAX {
        return Err(ValidationError::CustomPersistKeyTooLong {
            key: key.to_owned(),
        });
    }
    Ok(())
}

/// One parsed `custom-persist.*` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomPersistEntry {
    /// `/absolute/path`: bind-mount an existing path.
    Path(String),
    /// `file:<owner>:<group>:<mode>:<path>`: pre-create a file, then bind it.
    File {
        owner: String,
        group: String,
        mode: u32,
        path: String,
    },
    /// `dir:<owner>:<group>:<mode>:<path>`: pre-create a directory, then bind it.
    Dir {
        owner: String,
        group: String,
        mode: u32,
        path: String,
    },
}

impl CustomPersistEntry {
    /// The absolute path the entry makes persistent.
    pub fn path(&self) -> &str {
        match self {
            CustomPersistEntry::Path(path)
            | CustomPersistEntry::File { path, .. }
            | CustomPersistEntry::Dir { path, .. } => path,
        }
    }

    /// The feature value for this entry. The mode is written as four octal
    /// digits (`0644`), the form the Qubes documentation uses.
    pub fn to_feature_value(&self) -> String {
        match self {
            CustomPersistEntry::Path(path) => path.clone(),
            CustomPersistEntry::File {
                owner,
                group,
                mode,
                path,
            } => format!("file:{owner}:{group}:{mode:04o}:{path}"),
            CustomPersistEntry::Dir {
                owner,
                group,
                mode,
                path,
            } => format!("dir:{owner}:{group}:{mode:04o}:{path}"),
        }
    }
}

/// Parse and check a custom-persist value in either form, exactly as
/// qubesd's `custom_persist._check_value` does: a plain absolute path, or
/// `(file|dir):owner:group:mode:/path` where the path may contain `:` and the
/// mode is parsed like Python's `int(mode, 8)` and must lie in 0..=0o7777.
/// Owner and group are not checked (dom0 does not check them either).
pub fn custom_persist_value(value: &str) -> Result<CustomPersistEntry, ValidationError> {
    if value.starts_with('/') {
        // os.path.isabs is true for anything starting with '/'.
        return Ok(CustomPersistEntry::Path(value.to_owned()));
    }
    let options: Vec<&str> = value.split(':').collect();
    if options.len() < 5 || !options[4].starts_with('/') {
        return Err(ValidationError::CustomPersistInvalidFormat {
            value: value.to_owned(),
        });
    }
    let resource_type = options[0];
    let mode_text = options[3];
    if resource_type != "file" && resource_type != "dir" {
        return Err(ValidationError::CustomPersistInvalidResourceType {
            resource_type: resource_type.to_owned(),
            value: value.to_owned(),
        });
    }
    let mode = python_int_base8(mode_text)
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| ValidationError::CustomPersistInvalidMode {
            mode: mode_text.to_owned(),
            value: value.to_owned(),
        })?;
    let path = options[4..].join(":");
    let owner = options[1].to_owned();
    let group = options[2].to_owned();
    Ok(if resource_type == "file" {
        CustomPersistEntry::File {
            owner,
            group,
            mode,
            path,
        }
    } else {
        CustomPersistEntry::Dir {
            owner,
            group,
            mode,
            path,
        }
    })
}

/// Python's `int(text, 8)` for ASCII input: surrounding whitespace, an
/// optional sign, an optional `0o` prefix, octal digits with single `_`
/// between them. `None` where Python raises `ValueError` (or on overflow,
/// which is out of range for a mode anyway).
fn python_int_base8(text: &str) -> Option<i64> {
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    let (negative, unsigned) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let (digits, underscore_may_lead) = match unsigned.get(..2) {
        Some("0o") | Some("0O") => (&unsigned[2..], true),
        _ => (unsigned, false),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    let mut previous_underscore = !underscore_may_lead;
    let mut saw_digit = false;
    for b in digits.bytes() {
        match b {
            b'_' if !previous_underscore => previous_underscore = true,
            b'0'..=b'7' => {
                value = value.checked_mul(8)?.checked_add(i64::from(b - b'0'))?;
                previous_underscore = false;
                saw_digit = true;
            }
            _ => return None,
        }
    }
    if previous_underscore || !saw_digit {
        return None;
    }
    Some(if negative { -value } else { value })
}

/// An Admin API method name (a qrexec service name): non-empty,
/// `[A-Za-z0-9_.-]`, so it can neither carry an argument (`+`) nor break the
/// request header (space, NUL).
pub fn method_name(method: &str) -> Result<(), ValidationError> {
    let ok = !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::MethodIllegalCharacters {
            method: method.to_owned(),
        })
    }
}

/// The whole request must stay within qubesd's buffer (64 KiB).
pub fn request_size(size: usize) -> Result<(), ValidationError> {
    if size > MAX_REQUEST_BYTES {
        Err(ValidationError::RequestTooLarge { size })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_names_follow_qubesd_order_and_wording() {
        for ok in ["work", "a", "sys-net", "Work_2.x-y", &"a".repeat(31)] {
            assert_eq!(vm_name(ok), Ok(()), "{ok}");
        }
        let cases: &[(&str, ValidationError)] = &[
            (&"a".repeat(32), ValidationError::VmNameTooLong),
            ("0invalid", ValidationError::VmNameBadStart),
            ("-x", ValidationError::VmNameBadStart),
            ("_x", ValidationError::VmNameBadStart),
            (".x", ValidationError::VmNameBadStart),
            ("", ValidationError::VmNameIllegalCharacters),
            ("a b", ValidationError::VmNameIllegalCharacters),
            ("a+b", ValidationError::VmNameIllegalCharacters),
            ("lost+found", ValidationError::VmNameIllegalCharacters),
            ("café", ValidationError::VmNameIllegalCharacters),
            ("a/../b", ValidationError::VmNameIllegalCharacters),
            ("work\n", ValidationError::VmNameIllegalCharacters),
            ("1\nx", ValidationError::VmNameIllegalCharacters),
            ("Domain-0", ValidationError::VmNameDomain0),
            ("none", ValidationError::VmNameReserved),
            ("default", ValidationError::VmNameReserved),
            ("work-dm", ValidationError::VmNameEndsWithDm),
        ];
        for (name, err) in cases {
            assert_eq!(vm_name(name).as_ref(), Err(err), "{name:?}");
        }
        // Python counts characters, not bytes: 31 × 'é' is too long only by
        // count; it fails on the charset, not the length.
        assert_eq!(
            vm_name(&"é".repeat(16)),
            Err(ValidationError::VmNameIllegalCharacters)
        );
        assert_eq!(
            ValidationError::VmNameBadStart.to_string(),
            "VM name cannot start with hyphen, underscore, dot or numbers"
        );
        assert_eq!(
            ValidationError::VmNameBadStart.qubesd_exception(),
            "QubesValueError"
        );
    }

    #[test]
    fn designators_accept_uuid_form() {
        assert_eq!(
            vm_designator("uuid:00000000-0000-0000-0000-0000000000ff"),
            Ok(())
        );
        assert!(vm_designator("uuid:00000000-0000-0000-0000-0000000000FF").is_err());
        assert!(vm_designator("uuid:../../etc").is_err());
        assert!(vm_designator("uuid:").is_err());
        assert_eq!(vm_designator("work"), Ok(()));
    }

    #[test]
    fn feature_names_and_values() {
        assert_eq!(feature_name("custom-persist.home"), Ok(()));
        assert_eq!(feature_name("service.custom-persist"), Ok(()));
        assert_eq!(feature_name(""), Err(ValidationError::ExpectedArgument));
        for bad in ["bad/name", "bad:name", "café", "a b", "a+b", "x\n"] {
            assert_eq!(
                feature_name(bad),
                Err(ValidationError::FeatureNameIllegalCharacters),
                "{bad:?}"
            );
        }
        assert_eq!(feature_value("f", b""), Ok(()));
        assert_eq!(feature_value("f", b" ~printable 123"), Ok(()));
        assert_eq!(
            feature_value("vm-config.greeting", "café".as_bytes()),
            Err(ValidationError::FeatureValueNonAscii)
        );
        for bad in [&b"line1\nline2"[..], b"tab\there", b"\x7f", b"\0", b"cr\r"] {
            let err = feature_value("vm-config.greeting", bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                "vm-config.greeting value contains illegal characters"
            );
            assert_eq!(err.qubesd_exception(), "ProtocolError");
        }
        assert_eq!(
            ValidationError::FeatureValueNonAscii.to_string(),
            "Feature value contains non-ASCII characters"
        );
    }

    #[test]
    fn feature_assignment_checks_in_qubesd_order() {
        // Non-ASCII value is reported before a bad name (qubesd decodes first).
        assert_eq!(
            feature_assignment("bad/name", "é".as_bytes()),
            Err(ValidationError::FeatureValueNonAscii)
        );
        assert_eq!(
            feature_assignment("bad/name", b"\n"),
            Err(ValidationError::FeatureNameIllegalCharacters)
        );
        assert_eq!(
            feature_assignment("custom-persist.", b"/home/user/empty"),
            Err(ValidationError::CustomPersistKeyEmpty)
        );
        assert_eq!(
            feature_assignment("custom-persist.rel", b"relative/path")
                .unwrap_err()
                .to_string(),
            "invalid value format: 'relative/path'"
        );
        assert_eq!(feature_assignment("custom-persist.home", b"/home"), Ok(()));
        assert_eq!(feature_assignment("x-anything", b"relative"), Ok(()));
    }

    #[test]
    fn tags_and_labels() {
        assert_eq!(tag("project_x-1"), Ok(()));
        assert_eq!(tag(""), Err(ValidationError::TagEmpty));
        for bad in ["bad.tag", "bad:tag", "bad/tag", "é", "a b"] {
            let err = tag(bad).unwrap_err();
            assert_eq!(err.to_string(), "disallowed characters");
            assert_eq!(err.qubesd_exception(), "QubesInvalidTagError");
        }
        assert_eq!(label_name("red"), Ok(()));
        assert_eq!(label_name("a.b-c_1"), Ok(()));
        assert_eq!(label_name(""), Err(ValidationError::LabelEmpty));
        let err = label_name("bad!label").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Label must be in safe set: abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
        );
        assert_eq!(err.qubesd_exception(), "QubesInvalidLabelError");
    }

    #[test]
    fn qrexec_arguments() {
        assert_eq!(qrexec_argument(""), Ok(()));
        assert_eq!(qrexec_argument("custom-persist.home"), Ok(()));
        assert_eq!(qrexec_argument("a+b_c.d-e"), Ok(()));
        for bad in ["a b", "a/b", "a\0b", "é", "a:b", "a\nb"] {
            let err = qrexec_argument(bad).unwrap_err();
            assert!(err.is_client_only());
        }
    }

    #[test]
    fn custom_persist_keys() {
        assert_eq!(custom_persist_key("k"), Ok(()));
        assert_eq!(custom_persist_key(&"k".repeat(54)), Ok(()));
        assert_eq!(
            custom_persist_key(""),
            Err(ValidationError::CustomPersistKeyEmpty)
        );
        let long = "k".repeat(55);
        assert_eq!(
            custom_persist_key(&long).unwrap_err().to_string(),
            format!("custom-persist key is too long (max 54), ignoring: {long}")
        );
    }

    #[test]
    fn custom_persist_values_both_forms() {
        assert_eq!(
            custom_persist_value("/home"),
            Ok(CustomPersistEntry::Path("/home".into()))
        );
        let entry =
            custom_persist_value("file:user:user:0600:/home/user/.ssh/known_hosts").expect("valid");
        assert_eq!(
            entry,
            CustomPersistEntry::File {
                owner: "user".into(),
                group: "user".into(),
                mode: 0o600,
                path: "/home/user/.ssh/known_hosts".into()
            }
        );
        assert_eq!(entry.path(), "/home/user/.ssh/known_hosts");
        assert_eq!(
            entry.to_feature_value(),
            "file:user:user:0600:/home/user/.ssh/known_hosts"
        );
        let dir = custom_persist_value("dir:user:user:0755:/home/user/a:b:c").expect("valid");
        assert_eq!(dir.path(), "/home/user/a:b:c");
        assert_eq!(
            dir.to_feature_value(),
            "dir:user:user:0755:/home/user/a:b:c"
        );
        // Python int(x, 8) accepts these.
        for mode in ["7777", "0", "-0", "0o755", " 755 ", "+7_5_5", "0O7"] {
            let value = format!("dir:u:g:{mode}:/x");
            assert!(custom_persist_value(&value).is_ok(), "{value}");
        }
        let cases: &[(&str, &str)] = &[
            ("relative/path", "invalid value format: 'relative/path'"),
            ("", "invalid value format: ''"),
            (
                "dir:user:user:0700:home/user/x",
                "invalid value format: 'dir:user:user:0700:home/user/x'",
            ),
            (
                "sock:user:user:0700:/run/x",
                "invalid resource type option 'sock' in value 'sock:user:user:0700:/run/x'",
            ),
            (
                "dir:user:user:0999:/home/user/m",
                "invalid mode option '0999' in value 'dir:user:user:0999:/home/user/m'",
            ),
            (
                "file:user:user:17777:/home/user/m",
                "invalid mode option '17777' in value 'file:user:user:17777:/home/user/m'",
            ),
            (
                "dir:user:user:0700",
                "invalid value format: 'dir:user:user:0700'",
            ),
            (
                "dir:u:g::/x",
                "invalid mode option '' in value 'dir:u:g::/x'",
            ),
            (
                "dir:u:g:-1:/x",
                "invalid mode option '-1' in value 'dir:u:g:-1:/x'",
            ),
            (
                "dir:u:g:7__7:/x",
                "invalid mode option '7__7' in value 'dir:u:g:7__7:/x'",
            ),
            (
                "dir:u:g:_7:/x",
                "invalid mode option '_7' in value 'dir:u:g:_7:/x'",
            ),
            (
                "dir:u:g:7_:/x",
                "invalid mode option '7_' in value 'dir:u:g:7_:/x'",
            ),
            (
                "dir:u:g:0o:/x",
                "invalid mode option '0o' in value 'dir:u:g:0o:/x'",
            ),
            (
                "dir:u:g:777777777777777777777777:/x",
                "invalid mode option '777777777777777777777777' in value 'dir:u:g:777777777777777777777777:/x'",
            ),
        ];
        for (value, message) in cases {
            let err = custom_persist_value(value).unwrap_err();
            assert_eq!(err.to_string(), *message, "{value:?}");
            assert_eq!(err.qubesd_exception(), "QubesValueError");
        }
        // "0o_7" is valid Python (underscore after the base prefix).
        assert!(custom_persist_value("dir:u:g:0o_7:/x").is_ok());
    }

    #[test]
    fn method_names() {
        assert_eq!(method_name("admin.vm.feature.Get"), Ok(()));
        for bad in ["", "admin.vm.List+x", "admin.vm.List dom0", "a\0b", "ä"] {
            let err = method_name(bad).unwrap_err();
            assert!(err.is_client_only(), "{bad:?}");
        }
    }

    #[test]
    fn request_size_limit() {
        assert_eq!(request_size(MAX_REQUEST_BYTES), Ok(()));
        assert!(
            request_size(MAX_REQUEST_BYTES + 1)
                .unwrap_err()
                .is_client_only()
        );
    }
}
