//! Command lines of the two binaries: argument parsing by hand (a handful of words),
//! the qrexec environment, reading the request, writing the reply, exit codes.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use qcs_protocol::{
    ApplyRequest, ProfileId, ProposeRequest, Refusal, RefusalCode, RollbackRequest, ServiceReply,
    SnapshotRequest,
};
use serde::Serialize;

use crate::fsafe::Home;
use crate::services::find_duplicate;
use crate::{propose_client, services, spool};

/// The reply is `ok` (per-file conflicts and refusals are inside it).
pub const EXIT_OK: i32 = 0;
/// The request was refused as a whole; the reply says why; nothing was changed.
pub const EXIT_REFUSED: i32 = 1;
/// Unknown subcommand or bad arguments.
pub const EXIT_USAGE: i32 = 2;

pub const AGENT_USAGE: &str = "\
usage: qubes-config-agent SERVICE [PROFILE]
  services (run by qrexec; request on stdin, JSON reply on stdout):
    apply             qubes.ConfigApply+PROFILE      (managed qube)
    snapshot          qubes.ConfigSnapshot+PROFILE   (managed qube)
    rollback          qubes.ConfigRollback+PROFILE   (managed qube)
    propose-receive   qubes.ConfigPropose+PROFILE    (config qube)
  PROFILE comes from QREXEC_SERVICE_ARGUMENT, or from the command line.
  propose PROFILE FILE...   same as qubes-config-propose
exit codes: 0 reply ok, 1 request refused (see the reply), 2 usage error";

/// `qubes-config-agent`'s main; returns the exit code.
pub fn agent_main(args: Vec<OsString>) -> i32 {
    let mut args = args.into_iter().skip(1);
    let Some(command) = args.next() else {
        eprintln!("{AGENT_USAGE}");
        return EXIT_USAGE;
    };
    let rest: Vec<OsString> = args.collect();
    match command.to_str() {
        Some("apply") => serve(&rest, |home, profile, request: ApplyRequest| {
            check_profile(profile, &request.profile)?;
            let entries = request.files.len() + request.removals.len();
            if entries > qcs_protocol::limits::MAX_FILES {
                // The reply answers every entry; it must stay within the protocol too.
                return Err(Refusal::new(
                    RefusalCode::TooManyFiles,
                    format!("{entries} files and removals in one request"),
                ));
            }
            let paths = request.files.iter().map(|f| &f.path);
            if let Some(dup) = find_duplicate(paths.chain(request.removals.iter().map(|r| &r.path)))
            {
                return Err(Refusal::new(
                    RefusalCode::DuplicatePath,
                    format!("'{dup}' appears twice"),
                ));
            }
            Ok(services::apply(home, request))
        }),
        Some("snapshot") => serve(&rest, |home, profile, request: SnapshotRequest| {
            check_profile(profile, &request.profile)?;
            Ok(services::snapshot(home, request))
        }),
        Some("rollback") => serve(&rest, |home, profile, request: RollbackRequest| {
            check_profile(profile, &request.profile)?;
            Ok(services::rollback(home, request))
        }),
        Some("propose-receive") => propose_receive(&rest),
        Some("propose") => propose_main(rest),
        Some("--help" | "-h" | "help") => {
            println!("{AGENT_USAGE}");
            EXIT_OK
        }
        _ => {
            eprintln!("{AGENT_USAGE}");
            EXIT_USAGE
        }
    }
}

/// `qubes-config-propose`'s main; returns the exit code.
pub fn propose_main(args: Vec<OsString>) -> i32 {
    match propose_client::run(args) {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(failure) => {
            eprintln!("qubes-config-propose: {}", failure.message);
            failure.code
        }
    }
}

fn check_profile(argument: &ProfileId, body: &ProfileId) -> Result<(), Refusal> {
    if argument == body {
        Ok(())
    } else {
        Err(Refusal::new(
            RefusalCode::ProfileMismatch,
            format!("request is for profile '{body}' but the service argument is '{argument}'"),
        ))
    }
}

/// The profile of this call: `QREXEC_SERVICE_ARGUMENT` (set by qrexec), else the
/// first command-line argument; both, when present, must agree.
fn service_profile(rest: &[OsString]) -> Result<ProfileId, Refusal> {
    let from_env = std::env::var_os("QREXEC_SERVICE_ARGUMENT").filter(|v| !v.is_empty());
    let from_args = rest.first().cloned();
    let raw = match (from_env, from_args) {
        (Some(env), Some(arg)) if env != arg => {
            return Err(Refusal::new(
                RefusalCode::BadEnvironment,
                "QREXEC_SERVICE_ARGUMENT and the command-line argument differ",
            ));
        }
        (Some(v), _) | (None, Some(v)) => v,
        (None, None) => {
            return Err(Refusal::new(
                RefusalCode::InvalidProfile,
                "no profile given (qubes.ConfigX+PROFILE)",
            ));
        }
    };
    let text = raw.to_str().ok_or_else(|| {
        Refusal::new(RefusalCode::InvalidProfile, "profile id is not valid UTF-8")
    })?;
    qcs_protocol::profile::validate_profile_id(text)
        .map_err(|e| Refusal::new(RefusalCode::InvalidProfile, e.to_string()))
}

fn open_home() -> Result<Home, Refusal> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| Refusal::new(RefusalCode::BadEnvironment, "HOME is not set"))?;
    Home::open(&home)
        .map_err(|e| Refusal::new(RefusalCode::BadEnvironment, format!("home directory: {e}")))
}

/// Runs one managed-qube service: profile, request (read to EOF with the protocol's
/// limits), home, handler, reply.
fn serve<Req, Rep>(
    rest: &[OsString],
    handler: impl FnOnce(&Home, &ProfileId, Req) -> Result<Rep, Refusal>,
) -> i32
where
    Req: serde::de::DeserializeOwned,
    Rep: Serialize,
{
    let result = (|| {
        let profile = service_profile(rest)?;
        let request: Req =
            qcs_protocol::read_request(std::io::stdin().lock()).map_err(|e| e.to_refusal())?;
        let home = open_home()?;
        handler(&home, &profile, request)
    })();
    respond(result)
}

fn propose_receive(rest: &[OsString]) -> i32 {
    let result = (|| {
        let profile = service_profile(rest)?;
        let source = std::env::var("QREXEC_REMOTE_DOMAIN").map_err(|_| {
            Refusal::new(
                RefusalCode::BadEnvironment,
                "QREXEC_REMOTE_DOMAIN is not set",
            )
        })?;
        let source = qcs_protocol::validate_vm_name(&source)
            .map_err(|e| Refusal::new(RefusalCode::BadEnvironment, format!("source qube: {e}")))?;
        let config = spool::SpoolConfig::from_env()
            .map_err(|e| Refusal::new(RefusalCode::BadEnvironment, e))?;
        let request: ProposeRequest =
            qcs_protocol::read_request(std::io::stdin().lock()).map_err(|e| e.to_refusal())?;
        spool::receive(&config, &source, &profile, request)
    })();
    respond(result)
}

fn respond<Rep: Serialize>(result: Result<Rep, Refusal>) -> i32 {
    let (reply, code) = match result {
        Ok(rep) => (ServiceReply::Ok(rep), EXIT_OK),
        Err(refusal) => {
            // stderr goes to the qrexec log of this qube as well as to the caller.
            eprintln!(
                "qubes-config-agent: refused: {}",
                refusal.message.escape_debug()
            );
            (ServiceReply::Refused(refusal), EXIT_REFUSED)
        }
    };
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(&qcs_protocol::to_json(&reply))
        .and_then(|()| out.flush());
    if written.is_err() {
        eprintln!("qubes-config-agent: could not write the reply");
    }
    code
}
