//! Address specifications in ssh_config values, as OpenSSH 9.2 reads them: forward
//! specs (`parse_forward` with `parse_fwd_field`, for LocalForward, RemoteForward and
//! DynamicForward) and ProxyJump hops (`parse_jump`, as the Debian 10.3p1 backport
//! reads them). Whether ssh accepts the value, and what a jump names; the keyword
//! checks that call these are in `ssh_check`.

use super::ssh_check::{strtonum, valid_domain};

/// `parse_fwd_field`: one field (`[…]` literal, `\\` escapes, `/` marks a path).
/// Returns (field, is_path, rest) or `None` at the end / on a bad bracket.
/// One forward field: its bytes, whether it is a path, and the rest after it.
type FwdField<'a> = (Vec<u8>, bool, Option<&'a [u8]>);

fn fwd_field(p: &[u8]) -> Option<FwdField<'_>> {
    if p.is_empty() {
        return None;
    }
    if p[0] == b'[' {
        let end = p[1..].iter().position(|&c| c == b']').map(|e| e + 1)?;
        let after = p.get(end + 1).copied();
        if after.is_some() && after != Some(b':') {
            return None;
        }
        let field = p[1..end].to_vec();
        let is_path = field.contains(&b'/');
        let rest = if after.is_some() {
            &p[end + 2..]
        } else {
            &p[end + 1..]
        };
        return Some((field, is_path, Some(rest)));
    }
    let mut field = Vec::new();
    let mut is_path = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'\\' => {
                i += 1;
                field.push(*p.get(i)?);
            }
            b'/' => {
                is_path = true;
                field.push(b'/');
            }
            b':' => return Some((field, is_path, Some(&p[i + 1..]))),
            c => field.push(c),
        }
        i += 1;
    }
    Some((field, is_path, Some(&p[p.len()..])))
}

/// `a2port` as an int: port, 0, or -1.
fn a2port(a: &[u8]) -> i64 {
    match strtonum(a, 0, 65535) {
        Some(v) => v as i64,
        None => match port_of(&String::from_utf8_lossy(a)) {
            Some(_) => 1,
            None => -1,
        },
    }
}

/// `parse_forward(fwd, spec, dynamic, remote) != 0`. `${VAR}` is expanded by ssh
/// first; a spec with `$` is refused here (its value is not known).
pub(super) fn forward_ok(spec: &[u8], dynamic: bool, remote: bool) -> bool {
    if spec.contains(&b'$') {
        return false;
    }
    let mut cp = spec;
    while let Some(c) = cp.first()
        && c.is_ascii_whitespace()
    {
        cp = &cp[1..];
    }
    let mut fields: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut rest: Option<&[u8]> = Some(cp);
    while fields.len() < 4 {
        let Some(r) = rest else { break };
        match fwd_field(r) {
            Some((f, path, next)) => {
                fields.push((f, path));
                rest = next;
            }
            None => {
                if !r.is_empty() {
                    fields.clear();
                    rest = None;
                    break;
                }
                rest = None;
                break;
            }
        }
    }
    let n = if rest.is_some_and(|r| !r.is_empty()) {
        0
    } else {
        fields.len()
    };
    // (listen_port, listen_path, connect_port, connect_path)
    let (lport, lpath, cport, cpath): (i64, bool, i64, bool) = match n {
        1 if fields[0].1 => (-2, true, 0, false),
        1 => (a2port(&fields[0].0), false, 0, false),
        2 if fields[0].1 && fields[1].1 => (-2, true, -2, true),
        2 if fields[1].1 => (a2port(&fields[0].0), false, -2, true),
        2 => (a2port(&fields[1].0), false, 0, false),
        3 if fields[0].1 => (-2, true, a2port(&fields[2].0), false),
        3 if fields[2].1 => (a2port(&fields[1].0), false, -2, true),
        3 => (a2port(&fields[0].0), false, a2port(&fields[2].0), false),
        4 => (a2port(&fields[1].0), false, a2port(&fields[3].0), false),
        _ => return false,
    };
    if dynamic {
        if !(n == 1 || n == 2) {
            return false;
        }
    } else {
        if !(n == 3 || n == 4 || cpath || lpath) {
            return false;
        }
        if cport <= 0 && !cpath {
            return false;
        }
    }
    if (lport < 0 && !lpath) || (!remote && lport == 0) {
        return false;
    }
    let too_long = |i: usize, max: usize| fields.get(i).is_some_and(|f| f.0.len() >= max);
    !(too_long(0, 1025) || too_long(1, 1025) || too_long(2, 1025) || too_long(3, 1025))
}

/// Splits a forward spec at `:` outside `[…]`.
pub(super) fn split_fwd(spec: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        match c {
            '[' => {
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some(x) => inner.push(x),
                        None => return None,
                    }
                }
                cur.push_str(&inner);
            }
            ':' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    Some(out)
}

/// What `parse_jump` stores for a ProxyJump value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    /// `ProxyJump none`.
    pub none: bool,
    /// User of the last hop (the one ssh connects through directly).
    pub user: Option<String>,
    /// Host of the last hop.
    pub host: String,
    /// Port of the last hop, when given.
    pub port: Option<u32>,
    /// The hops before it, as written.
    pub extra: Option<String>,
}

/// `a2port`: a number 1..=65535, or a name that may be a service (not resolved here).
fn port_of(p: &str) -> Option<Option<u32>> {
    match strtonum(p.as_bytes(), 0, 65535) {
        Some(v) if v > 0 => Some(Some(v as u32)),
        Some(_) => None,
        None if !p.is_empty()
            && p.as_bytes()[0].is_ascii_alphabetic()
            && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') =>
        {
            Some(None)
        }
        None => None,
    }
}

/// `hpdelim`: the host field (up to `:` or `/`, or a `[…]`), and the rest.
fn hpdelim(s: &str) -> Option<(&str, Option<&str>)> {
    let end = if s.starts_with('[') {
        s.find(']')? + 1
    } else {
        s.find([':', '/']).unwrap_or(s.len())
    };
    match s.as_bytes().get(end) {
        None => Some((s, None)),
        Some(b':' | b'/') => Some((&s[..end], Some(&s[end + 1..]))),
        Some(_) => None,
    }
}

fn cleanhostname(h: &str) -> &str {
    if h.len() >= 2 && h.starts_with('[') && h.ends_with(']') {
        &h[1..h.len() - 1]
    } else {
        h
    }
}

/// One hop: `ssh://[user@]host[:port][/]` (`parse_ssh_uri`) or `[user@]host[:port]`
/// (`parse_user_host_port`).
fn jump_hop(hop: &str) -> Option<(Option<String>, String, Option<u32>)> {
    if let Some(uri) = hop.strip_prefix("ssh://") {
        let (user, rest) = match uri.find('@') {
            Some(i) => {
                let u = uri[..i].split(';').next().unwrap_or("");
                if u.is_empty() || u.contains('%') || u.contains('+') {
                    return None;
                }
                (Some(u.to_string()), &uri[i + 1..])
            }
            None => (None, uri),
        };
        let end = if rest.starts_with('[') {
            rest.find(']')? + 1
        } else {
            rest.find([':', '/']).unwrap_or(rest.len())
        };
        let (host, delim, tail) = match rest.as_bytes().get(end) {
            None => (&rest[..end], None, ""),
            Some(c @ (b':' | b'/')) => (&rest[..end], Some(*c), &rest[end + 1..]),
            Some(_) => return None,
        };
        let host = cleanhostname(host);
        if host.is_empty() || !valid_domain(host.as_bytes()) {
            return None;
        }
        let host = host.strip_suffix('.').unwrap_or(host).to_string();
        let mut port = None;
        if delim == Some(b':') && !tail.is_empty() {
            let p = tail.split('/').next().unwrap_or("");
            port = port_of(p)?;
            let path = tail.split_once('/').map(|x| x.1).unwrap_or("");
            if path.contains('%') || path.contains('+') {
                return None;
            }
        } else if tail.contains('%') || tail.contains('+') {
            return None;
        }
        return Some((user, host, port));
    }
    let (user, rest) = match hop.rfind('@') {
        Some(0) => return None,
        Some(i) => (Some(hop[..i].to_string()), &hop[i + 1..]),
        None => (None, hop),
    };
    let (host, tail) = hpdelim(rest)?;
    if host.is_empty() {
        return None;
    }
    let port = match tail {
        Some(t) if !t.is_empty() => port_of(t)?,
        _ => None,
    };
    Some((user, cleanhostname(host).to_string(), port))
}

/// `parse_jump` as the Debian 9.2p1 build (with the 10.3p1 ProxyJump backport) runs
/// it on the raw value: the whole value compared with `none`; otherwise the hops are
/// read up to the first `#` or blank (quotes are not removed), comma-separated, each
/// of which must parse. `None` when ssh rejects the value.
pub fn parse_jump(raw: &str) -> Option<Jump> {
    if raw.eq_ignore_ascii_case("none") {
        return Some(Jump {
            none: true,
            user: None,
            host: String::new(),
            port: None,
            extra: None,
        });
    }
    let s = &raw[..raw.find([' ', '\t', '\r', '\n', '#']).unwrap_or(raw.len())];
    let mut hops = s.rsplit(',');
    let (user, host, port) = jump_hop(hops.next()?)?;
    for h in hops {
        jump_hop(h)?;
    }
    let extra = match s.rfind(',') {
        Some(i) if i > 0 => Some(s[..i].to_string()),
        _ => None,
    };
    Some(Jump {
        none: false,
        user,
        host,
        port,
        extra,
    })
}
