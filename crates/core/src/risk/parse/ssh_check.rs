//! The value half of the ssh_config reader: OpenSSH 9.2's keyword table and the
//! checks `process_config_line_depth` applies to each keyword's arguments (flags and
//! multistate tables, times, integers, ports, lists, forwards, algorithms, …), and the
//! C number parsers they rely on. It only says whether ssh accepts a value; it does
//! not tokenise lines (that is `ssh`) and does not classify risk (the rules do).

use super::ParseError;
use super::ssh::Kind;
use super::ssh_addr::{forward_ok, split_fwd};

/// Value checks, one per family of `process_config_line_depth` cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    Flag,
    Multi(&'static [&'static str]),
    Time,
    Int,
    Port,
    Str,
    /// `parse_char_array` / LogVerbose: any number, none empty, `none` alone.
    List,
    LogLevel,
    LogFacility,
    Forward(Fwd),
    PermitRemoteOpen,
    EscapeChar,
    SendEnv,
    SetEnv,
    ControlPersist,
    TunnelDevice,
    IpQos,
    CanonicalDomains,
    PermittedCnames,
    StreamMask,
    FingerprintHash,
    AddKeys,
    AgentPath,
    ForwardAgent,
    RekeyLimit,
    /// Ciphers/MACs/Kex/key algorithms: one comma list.
    Algorithms,
    /// Debian's GSSAPIKexAlgorithms and other distribution keywords: one argument.
    Distro,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fwd {
    Local,
    Remote,
    Dynamic,
}

const FLAG: &[&str] = &["true", "false", "yes", "no"];
const YESNOASK: &[&str] = &["true", "false", "yes", "no", "ask"];
const STRICT: &[&str] = &["true", "false", "yes", "no", "ask", "off", "accept-new"];
const ADDRFAMILY: &[&str] = &["inet", "inet6", "any"];
const CONTROLMASTER: &[&str] = &["true", "yes", "false", "no", "auto", "ask", "autoask"];
const TUNNEL: &[&str] = &["ethernet", "point-to-point", "true", "yes", "false", "no"];
const REQUESTTTY: &[&str] = &["true", "yes", "false", "no", "force", "auto"];
const SESSIONTYPE: &[&str] = &["none", "subsystem", "default"];
const CANONHOST: &[&str] = &["true", "false", "yes", "no", "always"];
const PUBKEYAUTH: &[&str] = &["true", "false", "yes", "no", "unbound", "host-bound"];
const COMPRESSION: &[&str] = &["yes", "no"];

/// The `keywords[]` table of OpenSSH 9.2 (GSSAPI and PKCS#11 enabled, as distributions
/// build it) plus the GSSAPI key-exchange keywords of the Debian/Fedora patches.
/// (written name, stored name, kind, check)
#[rustfmt::skip]
pub(super) const KEYWORDS: &[(&str, &str, Kind, Check)] = &[
    ("protocol", "protocol", Kind::Ignored, Check::None),
    ("cipher", "cipher", Kind::Ignored, Check::None),
    ("fallbacktorsh", "fallbacktorsh", Kind::Ignored, Check::None),
    ("globalknownhostsfile2", "globalknownhostsfile2", Kind::Ignored, Check::None),
    ("rhostsauthentication", "rhostsauthentication", Kind::Ignored, Check::None),
    ("userknownhostsfile2", "userknownhostsfile2", Kind::Ignored, Check::None),
    ("useroaming", "useroaming", Kind::Ignored, Check::None),
    ("usersh", "usersh", Kind::Ignored, Check::None),
    ("useprivilegedport", "useprivilegedport", Kind::Ignored, Check::None),
    ("afstokenpassing", "afstokenpassing", Kind::Unsupported, Check::None),
    ("kerberosauthentication", "kerberosauthentication", Kind::Unsupported, Check::None),
    ("kerberostgtpassing", "kerberostgtpassing", Kind::Unsupported, Check::None),
    ("rsaauthentication", "rsaauthentication", Kind::Unsupported, Check::None),
    ("rhostsrsaauthentication", "rhostsrsaauthentication", Kind::Unsupported, Check::None),
    ("compressionlevel", "compressionlevel", Kind::Unsupported, Check::None),
    ("gssapiauthentication", "gssapiauthentication", Kind::Option, Check::Flag),
    ("gssapidelegatecredentials", "gssapidelegatecredentials", Kind::Option, Check::Flag),
    ("gssapikeyexchange", "gssapikeyexchange", Kind::Option, Check::Flag),
    ("gssapitrustdns", "gssapitrustdns", Kind::Option, Check::Flag),
    ("gssapirenewalforcesrekey", "gssapirenewalforcesrekey", Kind::Option, Check::Flag),
    ("gssapiclientidentity", "gssapiclientidentity", Kind::Option, Check::Str),
    ("gssapiserveridentity", "gssapiserveridentity", Kind::Option, Check::Str),
    ("gssapikexalgorithms", "gssapikexalgorithms", Kind::Option, Check::Distro),
    ("pkcs11provider", "pkcs11provider", Kind::Option, Check::Str),
    ("smartcarddevice", "pkcs11provider", Kind::Option, Check::Str),
    ("forwardagent", "forwardagent", Kind::Option, Check::ForwardAgent),
    ("forwardx11", "forwardx11", Kind::Option, Check::Flag),
    ("forwardx11trusted", "forwardx11trusted", Kind::Option, Check::Flag),
    ("forwardx11timeout", "forwardx11timeout", Kind::Option, Check::Time),
    ("exitonforwardfailure", "exitonforwardfailure", Kind::Option, Check::Flag),
    ("xauthlocation", "xauthlocation", Kind::Option, Check::Str),
    ("gatewayports", "gatewayports", Kind::Option, Check::Flag),
    ("passwordauthentication", "passwordauthentication", Kind::Option, Check::Flag),
    ("kbdinteractiveauthentication", "kbdinteractiveauthentication", Kind::Option, Check::Flag),
    ("kbdinteractivedevices", "kbdinteractivedevices", Kind::Option, Check::Str),
    ("challengeresponseauthentication", "kbdinteractiveauthentication", Kind::Option, Check::Flag),
    ("skeyauthentication", "kbdinteractiveauthentication", Kind::Option, Check::Flag),
    ("tisauthentication", "kbdinteractiveauthentication", Kind::Option, Check::Flag),
    ("pubkeyauthentication", "pubkeyauthentication", Kind::Option, Check::Multi(PUBKEYAUTH)),
    ("dsaauthentication", "pubkeyauthentication", Kind::Option, Check::Multi(PUBKEYAUTH)),
    ("hostbasedauthentication", "hostbasedauthentication", Kind::Option, Check::Flag),
    ("identityfile", "identityfile", Kind::Option, Check::Str),
    ("identityfile2", "identityfile", Kind::Option, Check::Str),
    ("identitiesonly", "identitiesonly", Kind::Option, Check::Flag),
    ("certificatefile", "certificatefile", Kind::Option, Check::Str),
    ("addkeystoagent", "addkeystoagent", Kind::Option, Check::AddKeys),
    ("identityagent", "identityagent", Kind::Option, Check::AgentPath),
    ("hostname", "hostname", Kind::Option, Check::Str),
    ("hostkeyalias", "hostkeyalias", Kind::Option, Check::Str),
    ("proxycommand", "proxycommand", Kind::Command, Check::None),
    ("port", "port", Kind::Option, Check::Port),
    ("ciphers", "ciphers", Kind::Option, Check::Algorithms),
    ("macs", "macs", Kind::Option, Check::Algorithms),
    (
        "remoteforward",
        "remoteforward",
        Kind::Option,
        Check::Forward(Fwd::Remote),
    ),
    (
        "localforward",
        "localforward",
        Kind::Option,
        Check::Forward(Fwd::Local),
    ),
    ("permitremoteopen", "permitremoteopen", Kind::Option, Check::PermitRemoteOpen),
    ("user", "user", Kind::Option, Check::Str),
    ("host", "host", Kind::Host, Check::None),
    ("match", "match", Kind::Match, Check::None),
    ("escapechar", "escapechar", Kind::Option, Check::EscapeChar),
    ("globalknownhostsfile", "globalknownhostsfile", Kind::Option, Check::List),
    ("userknownhostsfile", "userknownhostsfile", Kind::Option, Check::List),
    ("connectionattempts", "connectionattempts", Kind::Option, Check::Int),
    ("batchmode", "batchmode", Kind::Option, Check::Flag),
    ("checkhostip", "checkhostip", Kind::Option, Check::Flag),
    ("stricthostkeychecking", "stricthostkeychecking", Kind::Option, Check::Multi(STRICT)),
    ("compression", "compression", Kind::Option, Check::Multi(COMPRESSION)),
    ("tcpkeepalive", "tcpkeepalive", Kind::Option, Check::Flag),
    ("keepalive", "tcpkeepalive", Kind::Option, Check::Flag),
    ("numberofpasswordprompts", "numberofpasswordprompts", Kind::Option, Check::Int),
    ("syslogfacility", "syslogfacility", Kind::Option, Check::LogFacility),
    ("loglevel", "loglevel", Kind::Option, Check::LogLevel),
    ("logverbose", "logverbose", Kind::Option, Check::List),
    (
        "dynamicforward",
        "dynamicforward",
        Kind::Option,
        Check::Forward(Fwd::Dynamic),
    ),
    ("preferredauthentications", "preferredauthentications", Kind::Option, Check::Str),
    ("hostkeyalgorithms", "hostkeyalgorithms", Kind::Option, Check::Algorithms),
    ("casignaturealgorithms", "casignaturealgorithms", Kind::Option, Check::Algorithms),
    ("bindaddress", "bindaddress", Kind::Option, Check::Str),
    ("bindinterface", "bindinterface", Kind::Option, Check::Str),
    ("clearallforwardings", "clearallforwardings", Kind::Option, Check::Flag),
    ("enablesshkeysign", "enablesshkeysign", Kind::Option, Check::Flag),
    ("verifyhostkeydns", "verifyhostkeydns", Kind::Option, Check::Multi(YESNOASK)),
    ("nohostauthenticationforlocalhost", "nohostauthenticationforlocalhost", Kind::Option, Check::Flag),
    ("rekeylimit", "rekeylimit", Kind::Option, Check::RekeyLimit),
    ("connecttimeout", "connecttimeout", Kind::Option, Check::Time),
    ("addressfamily", "addressfamily", Kind::Option, Check::Multi(ADDRFAMILY)),
    ("serveraliveinterval", "serveraliveinterval", Kind::Option, Check::Time),
    ("serveralivecountmax", "serveralivecountmax", Kind::Option, Check::Int),
    ("sendenv", "sendenv", Kind::Option, Check::SendEnv),
    ("setenv", "setenv", Kind::Option, Check::SetEnv),
    ("controlpath", "controlpath", Kind::Option, Check::Str),
    ("controlmaster", "controlmaster", Kind::Option, Check::Multi(CONTROLMASTER)),
    ("controlpersist", "controlpersist", Kind::Option, Check::ControlPersist),
    ("hashknownhosts", "hashknownhosts", Kind::Option, Check::Flag),
    ("include", "include", Kind::Include, Check::None),
    ("tunnel", "tunnel", Kind::Option, Check::Multi(TUNNEL)),
    ("tunneldevice", "tunneldevice", Kind::Option, Check::TunnelDevice),
    ("localcommand", "localcommand", Kind::Command, Check::None),
    ("permitlocalcommand", "permitlocalcommand", Kind::Option, Check::Flag),
    ("remotecommand", "remotecommand", Kind::Command, Check::None),
    ("visualhostkey", "visualhostkey", Kind::Option, Check::Flag),
    ("kexalgorithms", "kexalgorithms", Kind::Option, Check::Algorithms),
    ("ipqos", "ipqos", Kind::Option, Check::IpQos),
    ("requesttty", "requesttty", Kind::Option, Check::Multi(REQUESTTTY)),
    ("sessiontype", "sessiontype", Kind::Option, Check::Multi(SESSIONTYPE)),
    ("stdinnull", "stdinnull", Kind::Option, Check::Flag),
    ("forkafterauthentication", "forkafterauthentication", Kind::Option, Check::Flag),
    ("proxyusefdpass", "proxyusefdpass", Kind::Option, Check::Flag),
    ("canonicaldomains", "canonicaldomains", Kind::Option, Check::CanonicalDomains),
    ("canonicalizefallbacklocal", "canonicalizefallbacklocal", Kind::Option, Check::Flag),
    ("canonicalizehostname", "canonicalizehostname", Kind::Option, Check::Multi(CANONHOST)),
    ("canonicalizemaxdots", "canonicalizemaxdots", Kind::Option, Check::Int),
    ("canonicalizepermittedcnames", "canonicalizepermittedcnames", Kind::Option, Check::PermittedCnames),
    ("streamlocalbindmask", "streamlocalbindmask", Kind::Option, Check::StreamMask),
    ("streamlocalbindunlink", "streamlocalbindunlink", Kind::Option, Check::Flag),
    ("revokedhostkeys", "revokedhostkeys", Kind::Option, Check::Str),
    ("fingerprinthash", "fingerprinthash", Kind::Option, Check::FingerprintHash),
    ("updatehostkeys", "updatehostkeys", Kind::Option, Check::Multi(YESNOASK)),
    ("hostbasedacceptedalgorithms", "hostbasedacceptedalgorithms", Kind::Option, Check::Algorithms),
    ("hostbasedkeytypes", "hostbasedacceptedalgorithms", Kind::Option, Check::Algorithms),
    ("pubkeyacceptedalgorithms", "pubkeyacceptedalgorithms", Kind::Option, Check::Algorithms),
    ("pubkeyacceptedkeytypes", "pubkeyacceptedalgorithms", Kind::Option, Check::Algorithms),
    ("ignoreunknown", "ignoreunknown", Kind::Option, Check::Str),
    ("proxyjump", "proxyjump", Kind::Jump, Check::None),
    ("securitykeyprovider", "securitykeyprovider", Kind::Option, Check::Str),
    ("knownhostscommand", "knownhostscommand", Kind::Command, Check::None),
    ("requiredrsasize", "requiredrsasize", Kind::Option, Check::Int),
    ("enableescapecommandline", "enableescapecommandline", Kind::Option, Check::Flag),
    ("tag", "tag", Kind::Newer, Check::None),
    ("channeltimeout", "channeltimeout", Kind::Newer, Check::None),
    ("obscurekeystroketiming", "obscurekeystroketiming", Kind::Newer, Check::None),
    ("versionaddendum", "versionaddendum", Kind::Newer, Check::None),
    ("refuseconnection", "refuseconnection", Kind::Newer, Check::None),
    ("warnweakcrypto", "warnweakcrypto", Kind::Newer, Check::None),
];

pub(super) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// C `strtol`/`strtoll` in base 10: (value, bytes used); `None` when no digits.
pub(super) fn strtol(s: &[u8]) -> Option<(i128, usize)> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let digits_start = i;
    let mut v: i128 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = (v * 10 + i128::from(s[i] - b'0')).min(i128::from(i64::MAX) + 1);
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    let v = if neg { -v } else { v.min(i128::from(i64::MAX)) };
    Some((v, i))
}

/// OpenBSD `strtonum(s, min, max)`.
pub(super) fn strtonum(s: &[u8], min: i128, max: i128) -> Option<i128> {
    let (v, used) = strtol(s)?;
    (used == s.len() && v >= min && v <= max).then_some(v)
}

/// `convtime`: seconds, or `None` for an invalid time.
pub fn convtime(s: &[u8]) -> Option<i64> {
    const MAX: i128 = i32::MAX as i128;
    if s.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    let mut p = 0;
    while p < s.len() {
        let (secs, used) = strtol(&s[p..])?;
        if secs < 0 || secs >= i128::from(i64::MAX) {
            return None;
        }
        let mut end = p + used;
        let mult: i128 = match s.get(end) {
            None => 1,
            Some(c) => {
                end += 1;
                match c {
                    b's' | b'S' => 1,
                    b'm' | b'M' => 60,
                    b'h' | b'H' => 3600,
                    b'd' | b'D' => 86_400,
                    b'w' | b'W' => 604_800,
                    _ => return None,
                }
            }
        };
        if secs > MAX / mult {
            return None;
        }
        let secs = secs * mult;
        if total > MAX - secs {
            return None;
        }
        total += secs;
        p = end;
    }
    Some(total as i64)
}

fn is_none(a: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b"none")
}

/// `valid_env_name`.
pub(super) fn valid_env_name(n: &[u8]) -> bool {
    !n.is_empty()
        && !n[0].is_ascii_digit()
        && n.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `dollar_expand` syntax check: every `${` has a valid name and a closing `}`.
/// (Whether the variable is set is not known here; see `Check::AgentPath`.)
fn dollar_syntax_ok(a: &[u8]) -> bool {
    let mut i = 0;
    while i < a.len() {
        if a[i] == b'$' && a.get(i + 1) == Some(&b'{') {
            let Some(end) = a[i + 2..].iter().position(|&c| c == b'}') else {
                return false;
            };
            if !valid_env_name(&a[i + 2..i + 2 + end]) {
                return false;
            }
            i += 2 + end + 1;
        } else {
            i += 1;
        }
    }
    true
}

/// `parse_ipqos` names.
const IPQOS: &[&str] = &[
    "af11",
    "af12",
    "af13",
    "af21",
    "af22",
    "af23",
    "af31",
    "af32",
    "af33",
    "af41",
    "af42",
    "af43",
    "cs0",
    "cs1",
    "cs2",
    "cs3",
    "cs4",
    "cs5",
    "cs6",
    "cs7",
    "ef",
    "le",
    "lowdelay",
    "throughput",
    "reliability",
    "none",
];

fn ipqos_ok(a: &[u8]) -> bool {
    if IPQOS.iter().any(|n| a.eq_ignore_ascii_case(n.as_bytes())) {
        return true;
    }
    // strtol(s, &ep, 0): decimal, 0x hex or 0 octal, 0..=255, nothing after.
    let s = std::str::from_utf8(a).unwrap_or("");
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse::<i64>().ok()
    };
    !t.is_empty() && matches!(v, Some(v) if !neg && (0..=255).contains(&v) || neg && v == 0)
}

/// `a2tun`: `any`, a number, optionally `:` and `any`/a number.
fn tun_ok(a: &[u8]) -> bool {
    let one = |p: &[u8]| p == b"any" || strtonum(p, 0, 0x7fff_ffff - 2).is_some();
    match a.iter().position(|&c| c == b':') {
        Some(i) => one(&a[..i]) && one(&a[i + 1..]),
        None => one(a),
    }
}

/// `valid_domain(name, makelower=1)`.
pub(super) fn valid_domain(a: &[u8]) -> bool {
    if a.is_empty() || !a[0].is_ascii_alphanumeric() {
        return false;
    }
    let mut last = 0u8;
    for &c in a {
        if !(c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_')
            || (c == b'.' && last == b'.')
        {
            return false;
        }
        last = c;
    }
    true
}

/// `scan_scaled` accepts a number with an optional fraction and a B/K/M/G/T/P/E unit.
fn scaled_ok(a: &[u8]) -> Option<i128> {
    let s = std::str::from_utf8(a).ok()?;
    let s = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (body, unit) = match s.as_bytes().last() {
        Some(c) if c.is_ascii_alphabetic() => (&s[..s.len() - 1], Some(c.to_ascii_uppercase())),
        _ => (s, None),
    };
    let mult: i128 = match unit {
        None | Some(b'B') => 1,
        Some(b'K') => 1 << 10,
        Some(b'M') => 1 << 20,
        Some(b'G') => 1 << 30,
        Some(b'T') => 1 << 40,
        Some(b'P') => 1 << 50,
        Some(b'E') => 1 << 60,
        _ => return None,
    };
    let body = body.strip_prefix('+').unwrap_or(body);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|c| c.is_ascii_digit()) || (!frac.is_empty() && unit.is_none()) {
        return None;
    }
    let v: i128 = int.parse().ok()?;
    let v = v.checked_mul(mult)?;
    (v <= i128::from(i64::MAX)).then_some(v)
}

/// Checks one keyword's arguments as `process_config_line_depth` does; `Err(reason)`.
pub(super) fn check(chk: Check, kw: &str, args: &[Vec<u8>]) -> Result<(), ParseError> {
    let mut it = args.iter().map(|a| a.as_slice());
    let missing = || ParseError::MissingArgument;
    let nonempty = |a: Option<&[u8]>| -> Result<(), ParseError> {
        match a {
            Some(a) if !a.is_empty() => Ok(()),
            _ => Err(ParseError::MissingArgument),
        }
    };
    match chk {
        Check::None => return Ok(()),
        Check::Flag => multi(it.next(), FLAG)?,
        Check::Multi(t) => multi(it.next(), t)?,
        Check::Time => {
            let a = it
                .next()
                .filter(|a| !a.is_empty())
                .ok_or(ParseError::MissingArgument)?;
            if a != b"none" && convtime(a).is_none() {
                return Err(ParseError::InvalidTime);
            }
        }
        Check::Int => {
            let a = it
                .next()
                .filter(|a| !a.is_empty())
                .ok_or(ParseError::MissingArgument)?;
            strtonum(a, 0, i128::from(i32::MAX)).ok_or(ParseError::InvalidInteger)?;
        }
        Check::Port => {
            let a = it.next().filter(|a| !a.is_empty()).ok_or_else(missing)?;
            match strtonum(a, 0, 65535) {
                Some(v) if v > 0 => {}
                Some(_) => return Err(ParseError::BadPort),
                None if a.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                    && a[0].is_ascii_alphabetic() => {}
                None => return Err(ParseError::BadPort),
            }
        }
        Check::Str | Check::Distro => nonempty(it.next())?,
        Check::List => {
            let n = args.len();
            for (i, a) in it.by_ref().enumerate() {
                if a.is_empty() {
                    return Err(ParseError::EmptyArgument { keyword: kw.into() });
                }
                if is_none(a) && (i > 0 || n > 1) {
                    return Err(ParseError::NoneNotAlone { keyword: kw.into() });
                }
            }
        }
        Check::LogLevel => {
            const L: &[&str] = &[
                "QUIET", "FATAL", "ERROR", "INFO", "VERBOSE", "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3",
            ];
            let a = it.next().unwrap_or(b"");
            if !L.iter().any(|l| a.eq_ignore_ascii_case(l.as_bytes())) {
                return Err(ParseError::UnsupportedLogLevel);
            }
        }
        Check::LogFacility => {
            const F: &[&str] = &[
                "DAEMON", "USER", "AUTH", "AUTHPRIV", "LOCAL0", "LOCAL1", "LOCAL2", "LOCAL3",
                "LOCAL4", "LOCAL5", "LOCAL6", "LOCAL7",
            ];
            let a = it.next().unwrap_or(b"");
            if !F.iter().any(|l| a.eq_ignore_ascii_case(l.as_bytes())) {
                return Err(ParseError::UnsupportedLogFacility);
            }
        }
        Check::Forward(kind) => {
            let a = it.next().filter(|a| !a.is_empty()).ok_or_else(missing)?;
            let mut dynamic = kind == Fwd::Dynamic;
            let remote = kind == Fwd::Remote;
            let mut spec = a.to_vec();
            if !dynamic {
                match it.next().filter(|b| !b.is_empty()) {
                    Some(b) => {
                        spec.push(b':');
                        spec.extend_from_slice(b);
                    }
                    None if remote => dynamic = true,
                    None => return Err(ParseError::MissingTarget),
                }
            }
            // ssh formats the spec into a 256-byte buffer (snprintf/strlcpy truncate).
            spec.truncate(255);
            if !forward_ok(&spec, dynamic, remote) {
                return Err(ParseError::BadForwarding);
            }
        }
        Check::PermitRemoteOpen => {
            if args.is_empty() {
                return Err(ParseError::MissingPermitRemoteOpen);
            }
            for (i, a) in it.by_ref().enumerate() {
                if is_none(a) || a.eq_ignore_ascii_case(b"any") {
                    if i > 0 || args.len() > 1 {
                        return Err(ParseError::NoneOrAnyNotAlone);
                    }
                    continue;
                }
                let s = text(a);
                let f = split_fwd(&s).unwrap_or_default();
                let ok = matches!(f.as_slice(), [h, p] if !h.is_empty() && (p == "*" || strtonum(p.as_bytes(), 1, 65535).is_some()));
                if !ok {
                    return Err(ParseError::BadPermitRemoteOpen);
                }
            }
        }
        Check::EscapeChar => {
            let a = it.next().filter(|a| !a.is_empty()).ok_or_else(missing)?;
            let ok = a == b"none"
                || a.len() == 1
                || (a.len() == 2 && a[0] == b'^' && (64..128).contains(&a[1]));
            if !ok {
                return Err(ParseError::BadEscapeChar);
            }
        }
        Check::SendEnv => {
            for a in it.by_ref() {
                if a.is_empty() || a.contains(&b'=') {
                    return Err(ParseError::InvalidEnvironmentName);
                }
            }
        }
        Check::SetEnv => {
            for a in it.by_ref() {
                if !a.contains(&b'=') {
                    return Err(ParseError::InvalidSetEnv);
                }
            }
        }
        Check::ControlPersist => {
            let a = it.next().filter(|a| !a.is_empty()).ok_or_else(missing)?;
            if !matches!(a, b"no" | b"false" | b"yes" | b"true") && convtime(a).is_none() {
                return Err(ParseError::BadControlPersist);
            }
        }
        Check::TunnelDevice => {
            let a = it.next().filter(|a| !a.is_empty()).ok_or_else(missing)?;
            if !tun_ok(a) {
                return Err(ParseError::BadTunDevice);
            }
        }
        Check::IpQos => {
            let a = it.next().unwrap_or(b"");
            if !ipqos_ok(a) {
                return Err(ParseError::BadIpQos);
            }
            if let Some(b) = it.next()
                && !ipqos_ok(b)
            {
                return Err(ParseError::BadIpQos);
            }
        }
        Check::CanonicalDomains => {
            let n = args.len();
            for (i, a) in it.by_ref().enumerate() {
                if a.is_empty() {
                    return Err(ParseError::EmptyArgument { keyword: kw.into() });
                }
                if is_none(a) && (i > 0 || n > 1) {
                    return Err(ParseError::NoneNotAlone { keyword: kw.into() });
                }
                if !valid_domain(a) {
                    return Err(ParseError::InvalidDomain);
                }
            }
        }
        Check::PermittedCnames => {
            let n = args.len();
            for (i, a) in it.by_ref().enumerate() {
                if is_none(a) {
                    if i > 0 || n > 1 {
                        return Err(ParseError::NoneNotAlone { keyword: kw.into() });
                    }
                } else if a != b"*" {
                    match a.iter().position(|&c| c == b':') {
                        Some(p) if p + 1 < a.len() => {}
                        _ => return Err(ParseError::InvalidPermittedCname),
                    }
                }
            }
        }
        Check::StreamMask => {
            let a = it.next().filter(|a| !a.is_empty()).ok_or_else(missing)?;
            let s = text(a);
            let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
            let t = t.strip_prefix('+').unwrap_or(t);
            let digits: String = t.chars().take_while(|c| ('0'..='7').contains(c)).collect();
            match i64::from_str_radix(&digits, 8) {
                Ok(v) if v <= 0o777 => {}
                _ => return Err(ParseError::BadMask),
            }
        }
        Check::FingerprintHash => {
            let a = it.next().filter(|a| !a.is_empty()).ok_or_else(missing)?;
            if !(a.eq_ignore_ascii_case(b"md5") || a.eq_ignore_ascii_case(b"sha256")) {
                return Err(ParseError::InvalidHashAlgorithm);
            }
        }
        Check::AddKeys => {
            const T: &[&str] = &["true", "false", "yes", "no", "ask", "confirm"];
            let a = it.next();
            let b = it.next();
            let v = a
                .filter(|a| !a.is_empty())
                .and_then(|a| T.iter().position(|t| a.eq_ignore_ascii_case(t.as_bytes())));
            let time_ok = |t: &[u8]| convtime(t).is_some();
            let ok = match (v, b) {
                (Some(5), Some(b)) => time_ok(b),
                (Some(_), None) => true,
                (None, None) => a.is_some_and(|a| !a.is_empty() && time_ok(a)),
                _ => false,
            };
            if !ok {
                return Err(ParseError::UnsupportedOption);
            }
        }
        Check::ForwardAgent | Check::AgentPath => {
            let a = it.next().filter(|a| !a.is_empty()).ok_or_else(missing)?;
            if chk == Check::ForwardAgent
                && FLAG.iter().any(|f| a.eq_ignore_ascii_case(f.as_bytes()))
            {
                // a plain yes/no
            } else {
                if !dollar_syntax_ok(a) {
                    return Err(ParseError::InvalidEnvironmentExpansion);
                }
                if a[0] == b'$' && a.get(1) != Some(&b'{') && !valid_env_name(&a[1..]) {
                    return Err(ParseError::InvalidEnvironmentName);
                }
            }
        }
        Check::RekeyLimit => {
            let a = it.next().filter(|a| !a.is_empty()).ok_or_else(missing)?;
            if a != b"default" {
                let v = scaled_ok(a).ok_or(ParseError::BadNumber)?;
                if v != 0 && v < 16 {
                    return Err(ParseError::RekeyLimitTooSmall);
                }
            }
            if let Some(b) = it.next()
                && b != b"none"
                && (b.is_empty() || convtime(b).is_none())
            {
                return Err(ParseError::InvalidTime);
            }
        }
        Check::Algorithms => {
            let a = it.next().filter(|a| !a.is_empty()).ok_or_else(missing)?;
            let body = match a[0] {
                b'-' => None,
                b'+' | b'^' => Some(&a[1..]),
                _ => Some(a),
            };
            if let Some(body) = body
                && (body.is_empty()
                    || body
                        .split(|&c| c == b',')
                        .any(|n| n.is_empty() || !n.iter().all(|c| c.is_ascii_graphic())))
            {
                return Err(ParseError::BadAlgorithmList);
            }
        }
    }
    if it.next().is_some() {
        return Err(ParseError::ExtraArguments { keyword: kw.into() });
    }
    Ok(())
}

pub(super) fn multi(a: Option<&[u8]>, table: &[&str]) -> Result<(), ParseError> {
    let a = a
        .filter(|a| !a.is_empty())
        .ok_or(ParseError::MissingArgument)?;
    if table.iter().any(|t| a.eq_ignore_ascii_case(t.as_bytes())) {
        Ok(())
    } else {
        Err(ParseError::UnsupportedOptionValue { value: text(a) })
    }
}
