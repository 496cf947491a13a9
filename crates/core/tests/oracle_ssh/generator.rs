//! Random ssh_config lines and mutations for the OpenSSH oracle: keywords in every
//! spelling (case, quotes inside the keyword, `=` separators), argument quoting and
//! escapes, Host/Match headers, Include lines, comments, unknown keywords. It never
//! writes `Match exec` or hostname canonicalisation, and never mutates Include lines.

// ------------------------------------------------------------------ randomness

pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub(crate) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    /// Mostly the first half of the pool (where the valid values are listed).
    pub(crate) fn pick_mostly_valid<'a>(&mut self, items: &[&'a str]) -> &'a str {
        if self.chance(85) {
            items[self.below(items.len().div_ceil(2))]
        } else {
            self.pick(items)
        }
    }
}

// ------------------------------------------------------------------ generator

const FLAGS: &[&str] = &["yes", "no", "true", "false", "YES", "No", "maybe", "1"];
const INTS: &[&str] = &[
    "3",
    "10",
    "+5",
    "2147483647",
    "0",
    "-1",
    "abc",
    "99999999999",
    "7x",
];
const TIMES: &[&str] = &[
    "30",
    "1m",
    "1h30m",
    "5s",
    "none",
    "0",
    "-5",
    "10x",
    "1M",
    "2147483648",
    "2W",
];
const PORTS: &[&str] = &["22", "2222", "65535", "+22", "0", "65536", "22x", "-1"];
const NAMES: &[&str] = &["alice", "bob", "git", "Deploy", "a=b", "root"];
const HOSTNAMES: &[&str] = &["bastion", "H1.Example.com", "10.0.0.5", "Gateway", "jump-1"];
const PATHS: &[&str] = &[
    "/tmp/id_a",
    "/tmp/id_b",
    "/etc/ssh/k",
    "id_rsa",
    "/x/y#z",
    "/tmp/id_a",
];
const JUMPS: &[&str] = &[
    "bastion",
    "alice@bastion:2222",
    "a,b",
    "none",
    "ssh://u@h:22",
    "ssh://u@h:22/",
    "[10.0.0.1]:22",
    "u@",
    "@h",
    ":22",
    "h:0",
    "a,,b",
    "NONE",
    "x,y,z:2200",
    "h:22 # c",
];
const COMMANDS: &[&str] = &[
    "nc %h %p",
    "ssh -W %h:%p bastion",
    "none",
    "echo \"hi\" # c",
    "true 'a b'",
    "printf x=y",
];

/// Keyword (as it may be written) and the raw argument pool for it.
fn keyword_and_args(r: &mut Rng) -> (String, Vec<String>) {
    let (kw, pool): (&str, &[&str]) = match r.below(40) {
        0 | 1 => ("User", NAMES),
        2 | 3 => ("HostName", HOSTNAMES),
        4 | 5 => ("Port", PORTS),
        6 | 7 => ("IdentityFile", PATHS),
        8 => ("IdentityFile2", PATHS),
        9 => ("CertificateFile", PATHS),
        10 | 11 => ("ProxyCommand", COMMANDS),
        12 | 13 => ("ProxyJump", JUMPS),
        14 => ("LocalCommand", COMMANDS),
        15 => (
            "ControlMaster",
            &["auto", "yes", "no", "ask", "autoask", "AUTO", "sometimes"],
        ),
        16 => ("ControlPath", &["/tmp/cm-a", "none", "/tmp/cm b"]),
        17 => (
            "ControlPersist",
            &["yes", "no", "10m", "600", "YES", "true", "4x", "0"],
        ),
        18 => ("Compression", &["yes", "no", "Yes", "maybe"]),
        19 => ("ServerAliveInterval", TIMES),
        20 => ("ServerAliveCountMax", INTS),
        21 => ("ConnectTimeout", TIMES),
        22 => (
            "StrictHostKeyChecking",
            &["yes", "no", "ask", "accept-new", "off", "OFF", "strict"],
        ),
        23 => (
            "LogLevel",
            &[
                "INFO", "debug", "DEBUG1", "verbose", "QUIET", "loud", "debug3",
            ],
        ),
        24 => (
            r.pick(&[
                "BatchMode",
                "IdentitiesOnly",
                "ForwardX11",
                "CheckHostIP",
                "HashKnownHosts",
            ]),
            FLAGS,
        ),
        25 => (
            r.pick(&[
                "TCPKeepAlive",
                "KeepAlive",
                "ExitOnForwardFailure",
                "PermitLocalCommand",
                "VisualHostKey",
                "GatewayPorts",
            ]),
            FLAGS,
        ),
        26 => (
            r.pick(&[
                "PasswordAuthentication",
                "KbdInteractiveAuthentication",
                "ChallengeResponseAuthentication",
            ]),
            FLAGS,
        ),
        27 => ("HostKeyAlias", &["Alias", "h1-key", "x"]),
        28 => ("SendEnv", &["LANG", "LC_*", "-LANG", "A=B", "-*", "GIT_*"]),
        29 => ("SetEnv", &["A=1", "B=\"two words\"", "C", "D=", "A=2"]),
        30 => (
            "RequestTTY",
            &["yes", "no", "force", "auto", "Force", "always"],
        ),
        31 => (
            "PubkeyAuthentication",
            &["yes", "no", "unbound", "host-bound", "bound"],
        ),
        32 => (
            "UserKnownHostsFile",
            &["/tmp/kh", "/tmp/kh2", "none", "/dev/null"],
        ),
        33 => ("SyslogFacility", &["USER", "local0", "AUTH", "nope"]),
        34 => (
            "StreamLocalBindMask",
            &["0177", "0777", "777", "0", "1000", "x", "0o7"],
        ),
        35 => ("ConnectionAttempts", INTS),
        36 => ("UpdateHostKeys", &["yes", "no", "ask", "maybe"]),
        37 => ("AddressFamily", &["any", "inet", "inet6", "INET", "ipx"]),
        38 => ("ForwardAgent", &["yes", "no", "maybe"]),
        _ => (
            "PreferredAuthentications",
            &["publickey", "publickey,password", "keyboard-interactive"],
        ),
    };
    let single = !matches!(kw, "SendEnv" | "SetEnv" | "UserKnownHostsFile");
    let count = if single {
        if r.chance(4) {
            2
        } else if r.chance(2) {
            0
        } else {
            1
        }
    } else {
        1 + r.below(3)
    };
    let args = (0..count)
        .map(|_| r.pick_mostly_valid(pool).to_string())
        .collect();
    (kw.to_string(), args)
}

fn spell_keyword(r: &mut Rng, kw: &str) -> String {
    let cased: String = match r.below(4) {
        0 => kw.to_ascii_lowercase(),
        1 => kw.to_ascii_uppercase(),
        2 => kw
            .chars()
            .map(|c| {
                if r.chance(50) {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
        _ => kw.to_string(),
    };
    if r.chance(8) {
        return format!("\"{cased}\"");
    }
    if r.chance(6) && cased.len() > 2 {
        let cut = 1 + r.below(cased.len() - 1);
        return format!("{}\"{}\"", &cased[..cut], &cased[cut..]);
    }
    cased
}

fn quote_arg(r: &mut Rng, a: &str) -> String {
    let needs = a.contains(' ') || a.is_empty();
    match r.below(12) {
        0 => format!("\"{a}\""),
        1 => format!("'{a}'"),
        2 if a.len() > 1 => format!("{}\"{}\"", &a[..1], &a[1..]),
        3 => a.replace('a', "\\a"),
        4 if r.chance(20) => format!("\"{a}"),
        _ if needs => format!("\"{a}\""),
        _ => a.to_string(),
    }
}

fn separator(r: &mut Rng) -> &'static str {
    r.pick(&[" ", " ", "\t", "=", " = ", "= ", " =", "  ", "\t=\t", "=="])
}

fn trailer(r: &mut Rng) -> &'static str {
    r.pick(&["", "", "", " ", "\t", " # note", " #x", "\r", "\x0c", "#x"])
}

fn option_line(r: &mut Rng) -> String {
    let (kw, args) = keyword_and_args(r);
    let raw_value = matches!(kw.as_str(), "ProxyCommand" | "LocalCommand" | "ProxyJump");
    let args: Vec<String> = if raw_value {
        args
    } else {
        args.iter().map(|a| quote_arg(r, a)).collect()
    };
    let lead = r.pick(&["", "", "    ", "\t", " "]);
    let joiner = r.pick(&[" ", " ", "\t", "  "]);
    format!(
        "{lead}{}{}{}{}",
        spell_keyword(r, &kw),
        separator(r),
        args.join(joiner),
        trailer(r)
    )
}

fn host_line(r: &mut Rng) -> String {
    const PATS: &[&str] = &[
        "h1",
        "H1",
        "h2",
        "*",
        "h?",
        "!h2",
        "web.*",
        "*.example.com",
        "other",
        "h2,h1",
        "!*",
        "x",
    ];
    let n = 1 + r.below(3);
    let pats: Vec<String> = (0..n)
        .map(|_| {
            let p = r.pick(PATS);
            quote_arg(r, p)
        })
        .collect();
    format!(
        "{}{}{}",
        spell_keyword(r, "Host"),
        separator(r),
        pats.join(" ")
    )
}

fn match_line(r: &mut Rng) -> String {
    const CRIT: &[&str] = &[
        "all",
        "host h1",
        "host h1,h2",
        "host !h2,*",
        "originalhost H1",
        "originalhost h*",
        "user root",
        "user alice",
        "localuser root",
        "localuser nobody",
        "canonical",
        "final",
        "!host h1",
        "host=h2",
        "!final",
        "Host web.*",
        "user",
        "bogus x",
        "all host h1",
    ];
    let n = 1 + r.below(2);
    let crits: Vec<&str> = (0..n).map(|_| r.pick_mostly_valid(CRIT)).collect();
    format!(
        "{}{}{}{}",
        spell_keyword(r, "Match"),
        separator(r),
        crits.join(" "),
        trailer(r)
    )
}

/// One generated config. `includes`: relative names that may be included.
pub(crate) fn generate(r: &mut Rng, includes: &[String], nested: bool) -> String {
    let n = 3 + r.below(14);
    let mut out = String::new();
    for _ in 0..n {
        let line = match r.below(20) {
            0..=1 => host_line(r),
            2 => match_line(r),
            3 => r
                .pick(&["# comment", "", "   # indented", "\t", "#Host h1"])
                .to_string(),
            4 if !nested => r
                .pick(&[
                    "Frobnicate yes",
                    "UseKeychain yes",
                    "GSSAPIKeyExchange no",
                    "Cipher blowfish",
                    "RSAAuthentication yes",
                    "Protocol 2",
                ])
                .to_string(),
            5 if !nested && r.chance(50) => {
                format!(
                    "IgnoreUnknown {}",
                    r.pick(&["Frob*", "usekeychain", "*", "x,frobnicate"])
                )
            }
            6 if !includes.is_empty() && r.chance(60) => {
                format!("Include {}", includes[r.below(includes.len())])
            }
            _ => option_line(r),
        };
        out.push_str(&line);
        out.push('\n');
    }
    if r.chance(5) {
        out.pop();
    }
    out
}

pub(crate) fn mutate(r: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    for _ in 0..1 + r.below(3) {
        let i = r.below(lines.len());
        if lines[i].to_ascii_lowercase().contains("include") {
            continue;
        }
        match r.below(6) {
            0 | 1 => {
                let l = &mut lines[i];
                let pos = if l.is_empty() {
                    0
                } else {
                    r.below(l.len() + 1)
                };
                if l.is_char_boundary(pos) {
                    let c = r.pick(&[" ", "\t", "\"", "'", "=", "#", "\\", "\r"]);
                    l.insert_str(pos, c);
                }
            }
            2 => {
                let l = &mut lines[i];
                if !l.is_empty() {
                    let pos = r.below(l.len());
                    if l.is_char_boundary(pos) && l.is_char_boundary(pos + 1) {
                        l.remove(pos);
                    }
                }
            }
            3 => {
                let l = lines[i].clone();
                let j = r.below(lines.len());
                lines.insert(j, l);
            }
            4 => {
                let j = r.below(lines.len());
                lines.swap(i, j);
            }
            _ => {
                let l = &mut lines[i];
                *l = l
                    .chars()
                    .map(|c| {
                        if r.chance(30) {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect();
            }
        }
    }
    lines.join("\n")
}
