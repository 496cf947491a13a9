//! OpenSSH's evaluation of parsed ssh_config lines for one host (first match wins,
//! Host/Match, Include with the includer's active state, the final pass, the keys
//! that apply even in inactive blocks, ssh.c's run-time checks), and the `ssh -G`
//! spelling of each compared key. Test-only: the product never evaluates for a host.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use qcs_core::risk::parse::ssh::{
    self, Kind, Line, convtime, match_pattern, match_pattern_list, parse_jump,
};

// ------------------------------------------------------------------ evaluator

#[derive(Debug, Default, Clone)]
pub(crate) struct Opts {
    scalar: HashMap<&'static str, String>,
    identity: Vec<String>,
    certificate: Vec<String>,
    sendenv: Vec<String>,
    setenv: Option<Vec<String>>,
    ukh: Option<Vec<String>>,
    syslog: Option<String>,
    mask: Option<String>,
    proxycommand: Option<String>,
    jump: Option<ssh::Jump>,
    ignore: Option<String>,
    hostname_raw: Option<String>,
    user_raw: Option<String>,
    /// Keys whose value holds %, ~ or $ (expanded by ssh): not compared.
    expanded: Vec<&'static str>,
}

pub(crate) struct Eval<'a> {
    pub(crate) host_arg: &'a str,
    pub(crate) local_user: &'a str,
    pub(crate) home: &'a Path,
}

struct Pass {
    final_pass: bool,
    host: String,
    want_final: bool,
}

const FLAG_KEYS: &[&str] = &[
    "batchmode",
    "identitiesonly",
    "forwardx11",
    "checkhostip",
    "hashknownhosts",
    "tcpkeepalive",
    "permitlocalcommand",
    "visualhostkey",
    "gatewayports",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "forwardagent",
    "exitonforwardfailure",
];

fn multistate_print(key: &str, v: &str) -> String {
    let v = v.to_ascii_lowercase();
    match (key, v.as_str()) {
        ("compression", _) | ("addressfamily", _) | ("forwardagent", _) => match v.as_str() {
            "true" => "yes".into(),
            "false" => "no".into(),
            _ => v,
        },
        ("stricthostkeychecking", "yes" | "true") => "true".into(),
        ("stricthostkeychecking", "no" | "false" | "off") => "false".into(),
        (_, "yes" | "true") => "true".into(),
        (_, "no" | "false") => "false".into(),
        _ => v,
    }
}

fn printed(key: &'static str, args: &[String]) -> Option<String> {
    let a = args.first()?.clone();
    Some(match key {
        "forwardagent" => match a.to_ascii_lowercase().as_str() {
            "yes" | "true" => "yes".into(),
            "no" | "false" => "no".into(),
            _ => a,
        },
        k if FLAG_KEYS.contains(&k) => match a.to_ascii_lowercase().as_str() {
            "yes" | "true" => "yes".into(),
            _ => "no".into(),
        },
        "controlmaster"
        | "stricthostkeychecking"
        | "requesttty"
        | "pubkeyauthentication"
        | "compression"
        | "updatehostkeys"
        | "addressfamily" => multistate_print(key, &a),
        "serveraliveinterval" | "connecttimeout" => {
            if a == "none" {
                return None;
            }
            convtime(a.as_bytes())?.to_string()
        }
        "serveralivecountmax" | "connectionattempts" | "port" => a
            .trim_start()
            .trim_start_matches('+')
            .parse::<i64>()
            .ok()?
            .to_string(),
        "hostname" | "hostkeyalias" => a.to_ascii_lowercase(),
        "loglevel" => {
            let u = a.to_ascii_uppercase();
            // log_level_name() spells QUIET as SILENT and DEBUG1 as DEBUG.
            match u.as_str() {
                "DEBUG1" => "DEBUG".into(),
                "QUIET" => "SILENT".into(),
                _ => u,
            }
        }
        "controlpersist" => match a.as_str() {
            "no" | "false" => "no".into(),
            "yes" | "true" => "yes".into(),
            t => match convtime(t.as_bytes())? {
                0 => "yes".into(),
                s => s.to_string(),
            },
        },
        _ => a,
    })
}

const COMPARED: &[&str] = &[
    "exitonforwardfailure",
    "user",
    "hostname",
    "port",
    "identityfile",
    "certificatefile",
    "proxycommand",
    "proxyjump",
    "localcommand",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "compression",
    "serveraliveinterval",
    "serveralivecountmax",
    "connecttimeout",
    "stricthostkeychecking",
    "loglevel",
    "batchmode",
    "identitiesonly",
    "forwardx11",
    "checkhostip",
    "hashknownhosts",
    "tcpkeepalive",
    "permitlocalcommand",
    "visualhostkey",
    "gatewayports",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "hostkeyalias",
    "sendenv",
    "setenv",
    "requesttty",
    "pubkeyauthentication",
    "userknownhostsfile",
    "syslogfacility",
    "streamlocalbindmask",
    "connectionattempts",
    "updatehostkeys",
    "addressfamily",
    "forwardagent",
    "preferredauthentications",
];

fn static_key(k: &str) -> Option<&'static str> {
    COMPARED.iter().copied().find(|c| *c == k)
}

impl Eval<'_> {
    fn read(
        &self,
        path: &Path,
        o: &mut Opts,
        p: &mut Pass,
        nevermatch: bool,
        active: &mut bool,
        depth: usize,
    ) -> Result<(), String> {
        if depth > 16 {
            return Err("include depth".into());
        }
        let Ok(content) = std::fs::read(path) else {
            return if depth == 0 {
                Err("cannot open".into())
            } else {
                Ok(())
            };
        };
        let lines =
            ssh::parse_lines(&content).map_err(|e| format!("{}: {:?}", path.display(), e))?;
        for l in &lines {
            self.line(l, o, p, nevermatch, active, depth)?;
        }
        Ok(())
    }

    fn line(
        &self,
        l: &Line,
        o: &mut Opts,
        p: &mut Pass,
        nevermatch: bool,
        active: &mut bool,
        depth: usize,
    ) -> Result<(), String> {
        match l.kind {
            Kind::Host => {
                *active = false;
                if nevermatch {
                    return Ok(());
                }
                for a in &l.args {
                    let (neg, pat) = match a.strip_prefix('!') {
                        Some(p) => (true, p),
                        None => (false, a.as_str()),
                    };
                    if match_pattern(p.host.as_bytes(), pat.as_bytes()) {
                        if neg {
                            *active = false;
                            break;
                        }
                        *active = true;
                    }
                }
            }
            Kind::Match => {
                let mut result = true;
                let host = if p.final_pass {
                    p.host.clone()
                } else {
                    o.hostname_raw
                        .clone()
                        .unwrap_or_else(|| self.host_arg.to_string())
                };
                for c in &l.criteria {
                    let r = match c.name.as_str() {
                        "all" => {
                            if result {
                                result = !c.negated;
                            }
                            break;
                        }
                        "canonical" | "final" => {
                            if c.name == "final" {
                                p.want_final = true;
                            }
                            p.final_pass
                        }
                        "host" => {
                            match_pattern_list(
                                host.to_ascii_lowercase().as_bytes(),
                                c.arg.as_deref().unwrap_or("").as_bytes(),
                                true,
                            ) == 1
                        }
                        "originalhost" => {
                            match_pattern_list(
                                self.host_arg.to_ascii_lowercase().as_bytes(),
                                c.arg.as_deref().unwrap_or("").as_bytes(),
                                true,
                            ) == 1
                        }
                        "user" => {
                            let ruser = o
                                .user_raw
                                .clone()
                                .unwrap_or_else(|| self.local_user.to_string());
                            match_pattern_list(
                                ruser.as_bytes(),
                                c.arg.as_deref().unwrap_or("").as_bytes(),
                                false,
                            ) == 1
                        }
                        "localuser" => {
                            match_pattern_list(
                                self.local_user.as_bytes(),
                                c.arg.as_deref().unwrap_or("").as_bytes(),
                                false,
                            ) == 1
                        }
                        other => return Err(format!("criterion {other} must not be generated")),
                    };
                    if r == c.negated {
                        result = false;
                    }
                }
                *active = !nevermatch && result;
            }
            Kind::Include => {
                let oactive = *active;
                for a in &l.args {
                    let path = if a.starts_with('/') {
                        PathBuf::from(a)
                    } else if let Some(rest) = a.strip_prefix("~/") {
                        self.home.join(rest)
                    } else {
                        self.home.join(".ssh").join(a)
                    };
                    if a.contains(['*', '?', '[', '\\', '~']) && !a.starts_with("~/") {
                        return Err("glob patterns are not generated".into());
                    }
                    self.read(&path, o, p, nevermatch || !oactive, active, depth + 1)?;
                    *active = oactive;
                }
            }
            Kind::IgnoredUnknown => {
                let ok = o.ignore.as_ref().is_some_and(|pat| {
                    match_pattern_list(l.written.as_bytes(), pat.as_bytes(), true) == 1
                });
                if !ok {
                    return Err(format!("unknown keyword {} not ignored", l.written));
                }
            }
            Kind::Ignored | Kind::Unsupported => {}
            Kind::Newer => {
                return Err(format!(
                    "newer: {} is not a keyword of OpenSSH 9.2",
                    l.written
                ));
            }
            Kind::Command | Kind::Jump | Kind::Option => self.option(l, o, *active),
        }
        Ok(())
    }

    fn option(&self, l: &Line, o: &mut Opts, active: bool) {
        let kw = l.keyword;
        // Applied even in inactive blocks.
        if kw == "syslogfacility" {
            o.syslog
                .get_or_insert_with(|| l.args[0].to_ascii_uppercase());
            return;
        }
        if kw == "streamlocalbindmask" {
            let digits: String = l.args[0]
                .trim_start()
                .trim_start_matches('+')
                .chars()
                .take_while(|c| ('0'..='7').contains(c))
                .collect();
            let v = i64::from_str_radix(&digits, 8).unwrap_or(0);
            o.mask = Some(format!("0{v:o}"));
            return;
        }
        if !active {
            return;
        }
        let has_expansion = |s: &str| s.contains(['%', '$', '~']);
        match kw {
            "forwardagent" => {
                let a = &l.args[0];
                let flag = matches!(
                    a.to_ascii_lowercase().as_str(),
                    "yes" | "true" | "no" | "false"
                );
                if !o.scalar.contains_key("forwardagent.flag") {
                    o.scalar.insert(
                        "forwardagent.flag",
                        if flag {
                            printed("forwardagent", &l.args).unwrap_or_default()
                        } else {
                            "yes".into()
                        },
                    );
                }
                if !flag && !o.scalar.contains_key("forwardagent.path") {
                    o.scalar.insert("forwardagent.path", a.clone());
                    if has_expansion(a) {
                        o.expanded.push("forwardagent");
                    }
                }
            }
            "ignoreunknown" => {
                o.ignore.get_or_insert_with(|| l.args[0].clone());
            }
            "proxycommand" => {
                let skip = o.jump.as_ref().is_some_and(|j| !j.none);
                if !skip && o.proxycommand.is_none() {
                    o.proxycommand = l.raw.clone();
                }
            }
            "proxyjump" => {
                let raw = l.raw.clone().unwrap_or_default();
                if o.proxycommand.is_none() && o.jump.is_none() {
                    let j = parse_jump(&raw).expect("parser accepted it");
                    if !j.none {
                        o.proxycommand = Some("none".into());
                    }
                    o.jump = Some(j);
                }
            }
            "identityfile" | "certificatefile" => {
                let list = if kw == "identityfile" {
                    &mut o.identity
                } else {
                    &mut o.certificate
                };
                if !list.contains(&l.args[0]) {
                    list.push(l.args[0].clone());
                }
                if has_expansion(&l.args[0]) {
                    o.expanded.push(if kw == "identityfile" {
                        "identityfile"
                    } else {
                        "certificatefile"
                    });
                }
            }
            "sendenv" => {
                for a in &l.args {
                    if let Some(pat) = a.strip_prefix('-') {
                        o.sendenv
                            .retain(|e| !match_pattern(e.as_bytes(), pat.as_bytes()));
                    } else {
                        o.sendenv.push(a.clone());
                    }
                }
            }
            "setenv" => {
                if o.setenv.is_none() {
                    let mut v: Vec<String> = Vec::new();
                    for a in &l.args {
                        let name = a.split('=').next().unwrap_or("");
                        if !v.iter().any(|e| e.split('=').next() == Some(name)) {
                            v.push(a.clone());
                        }
                    }
                    o.setenv = Some(v);
                }
            }
            "userknownhostsfile" => {
                if o.ukh.is_none() {
                    o.ukh = Some(l.args.clone());
                    if l.args.iter().any(|a| has_expansion(a)) {
                        o.expanded.push("userknownhostsfile");
                    }
                }
            }
            _ => {
                let Some(key) = static_key(kw) else { return };
                if key == "user" && o.user_raw.is_none() {
                    o.user_raw = Some(l.args[0].clone());
                }
                if key == "hostname" && o.hostname_raw.is_none() {
                    o.hostname_raw = Some(l.args[0].clone());
                }
                if o.scalar.contains_key(key) {
                    return;
                }
                let value = if l.kind == Kind::Command {
                    l.raw.clone()
                } else {
                    printed(key, &l.args)
                };
                if let Some(v) = value {
                    if matches!(key, "user" | "hostname" | "controlpath" | "hostkeyalias")
                        && has_expansion(&v)
                    {
                        o.expanded.push(key);
                    }
                    o.scalar.insert(key, v);
                }
            }
        }
    }

    /// ssh.c's checks on the effective options after the config is read (not config
    /// syntax: ssh refuses to run with them for this host).
    fn runtime_checks(&self, o: &Opts) -> Result<(), String> {
        if let Some(path) = o.scalar.get("forwardagent.path")
            && o.scalar
                .get("exitonforwardfailure")
                .is_some_and(|v| v == "yes")
            && std::fs::metadata(path).is_err()
        {
            return Err("runtime: Cannot forward agent socket path (ExitOnForwardFailure)".into());
        }
        if o.scalar.get("connectionattempts").is_some_and(|v| v == "0") {
            return Err("runtime: Invalid number of ConnectionAttempts".into());
        }
        if let Some(j) = o.jump.as_ref().filter(|j| !j.none) {
            let host = o
                .hostname_raw
                .clone()
                .unwrap_or_else(|| self.host_arg.to_string());
            let host = if host.parse::<std::net::IpAddr>().is_ok() {
                host
            } else {
                host.to_ascii_lowercase()
            };
            let port: u32 = o
                .scalar
                .get("port")
                .and_then(|p| p.parse().ok())
                .unwrap_or(22);
            let user = o
                .user_raw
                .clone()
                .unwrap_or_else(|| self.local_user.to_string());
            let juser = j.user.clone().unwrap_or_else(|| user.clone());
            if j.host == host && j.port.unwrap_or(22) == port && juser == user {
                return Err("runtime: jumphost loop".into());
            }
        }
        Ok(())
    }

    /// Both passes over `main`; Err when OpenSSH would refuse.
    pub(crate) fn run(&self, main: &Path) -> Result<Opts, String> {
        let mut o = Opts::default();
        let mut p = Pass {
            final_pass: false,
            host: self.host_arg.to_string(),
            want_final: false,
        };
        let mut active = true;
        self.read(main, &mut o, &mut p, false, &mut active, 0)?;
        if p.want_final {
            let h = o
                .hostname_raw
                .clone()
                .unwrap_or_else(|| self.host_arg.to_string());
            let h = if h.parse::<std::net::IpAddr>().is_ok() {
                h
            } else {
                h.to_ascii_lowercase()
            };
            // ssh.c sets options.hostname to this host before the final pass, so a
            // HostName in a `Match final` block never takes effect (first value wins).
            o.hostname_raw = Some(h.clone());
            p = Pass {
                final_pass: true,
                host: h,
                want_final: false,
            };
            let mut active = true;
            self.read(main, &mut o, &mut p, false, &mut active, 0)?;
        }
        self.runtime_checks(&o)?;
        Ok(o)
    }
}

/// What we expect `ssh -G` to print for the compared keys (None: not compared).
pub(crate) fn expected(
    o: &Opts,
    baseline: &HashMap<String, Vec<String>>,
) -> HashMap<&'static str, Option<Vec<String>>> {
    let mut out = HashMap::new();
    for &k in COMPARED {
        let base = baseline.get(k).cloned().unwrap_or_default();
        let v: Vec<String> = match k {
            "identityfile" if !o.identity.is_empty() => o.identity.clone(),
            "certificatefile" if !o.certificate.is_empty() => o.certificate.clone(),
            "sendenv" => o.sendenv.clone(),
            "setenv" => o.setenv.clone().unwrap_or_default(),
            "userknownhostsfile" => match &o.ukh {
                Some(v) => vec![v.join(" ")],
                None => base,
            },
            "syslogfacility" => o.syslog.clone().map(|v| vec![v]).unwrap_or(base),
            "streamlocalbindmask" => o.mask.clone().map(|v| vec![v]).unwrap_or(base),
            "proxycommand" => match (&o.jump, &o.proxycommand) {
                (Some(j), _) if !j.none => vec![],
                (_, Some(c)) if !c.eq_ignore_ascii_case("none") => vec![c.clone()],
                _ => vec![],
            },
            "proxyjump" => match &o.jump {
                Some(j) if !j.none => {
                    let numeric = j.host.contains(':')
                        || j.host.bytes().all(|c| c.is_ascii_digit() || c == b'.');
                    let mut s = String::new();
                    if let Some(e) = &j.extra {
                        s.push_str(e);
                        s.push(',');
                    }
                    if let Some(u) = &j.user {
                        s.push_str(u);
                        s.push('@');
                    }
                    if numeric {
                        s.push_str(&format!("[{}]", j.host));
                    } else {
                        s.push_str(&j.host);
                    }
                    if let Some(p) = j.port {
                        s.push_str(&format!(":{p}"));
                    }
                    vec![s]
                }
                _ => vec![],
            },
            "localcommand" | "controlpath" => match o.scalar.get(k) {
                Some(v) if !v.eq_ignore_ascii_case("none") => vec![v.clone()],
                _ => vec![],
            },
            // Debian's keepalive patch: BatchMode yes makes the default 300 seconds.
            "serveraliveinterval"
                if !o.scalar.contains_key(k)
                    && o.scalar.get("batchmode").is_some_and(|v| v == "yes") =>
            {
                vec!["300".into()]
            }
            // The socket path wins over the flag in the dump.
            "forwardagent" => match (
                o.scalar.get("forwardagent.path"),
                o.scalar.get("forwardagent.flag"),
            ) {
                (Some(p), _) => vec![p.clone()],
                (None, Some(f)) => vec![f.clone()],
                (None, None) => base,
            },
            "hostname" => match &o.hostname_raw {
                Some(h) if h.parse::<std::net::IpAddr>().is_ok() => vec![h.clone()],
                Some(h) => vec![h.to_ascii_lowercase()],
                None => base,
            },
            _ => o.scalar.get(k).map(|v| vec![v.clone()]).unwrap_or(base),
        };
        // UpdateHostKeys' default depends on other options (UserKnownHostsFile …).
        // (and `ask` is turned off by ssh.c depending on ControlPersist, RequestTTY, …).
        let derived_default = k == "updatehostkeys" && o.scalar.get(k).is_none_or(|v| v == "ask");
        let skip = o.expanded.contains(&k) || derived_default;
        out.insert(k, if skip { None } else { Some(v) });
    }
    out
}
