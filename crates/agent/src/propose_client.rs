//! `qubes-config-propose PROFILE FILE...`, run by a user inside a managed qube:
//! sends the files (below home) as a proposal for PROFILE to the config qube through
//! `qrexec-client-vm @default qubes.ConfigPropose+PROFILE` and prints the answer.
//!
//! Exit codes: 0 accepted; 1 refused by the config qube; 2 usage error; 3 a file
//! cannot be proposed (outside home, symlink, special file, too large, on the
//! never-sync list, ...);
//! 4 the qrexec call failed or was denied by policy (126); 5 the reply was unreadable.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use qcs_protocol::limits::{MAX_FILE_BYTES, MAX_FILES};
use qcs_protocol::{
    Content, Note, ObservedMode, ProfileId, ProposeAccepted, ProposeRequest, ProposedFile,
    ServiceReply, Sha256Hex, Version, service,
};

use crate::fsafe::{self, Home, Target};
use crate::never_sync;

/// Overrides the qrexec client program (the simulator provides one).
pub const QREXEC_CLIENT_ENV: &str = "QUBES_CONFIG_SYNC_QREXEC_CLIENT";
const DEFAULT_QREXEC_CLIENT: &str = "qrexec-client-vm";

pub const USAGE: &str = "usage: qubes-config-propose [--note TEXT] PROFILE FILE...";

/// A failure with its exit code and message.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

fn fail(code: i32, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

/// Runs the client with `args` (without the program name); returns the line to print
/// on success.
pub fn run(args: Vec<OsString>) -> Result<String, Failure> {
    let mut note = None;
    let mut rest = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--note" {
            let text = args.next().ok_or_else(|| fail(2, USAGE))?;
            let text = text
                .into_string()
                .map_err(|_| fail(2, "the note is not valid UTF-8"))?;
            note = Some(Note::new(text).map_err(|e| fail(2, e.to_string()))?);
        } else if arg == "--help" || arg == "-h" {
            return Err(fail(2, USAGE));
        } else if arg == "--" {
            rest.extend(args.by_ref());
        } else {
            rest.push(arg);
        }
    }
    if rest.len() < 2 {
        return Err(fail(2, USAGE));
    }
    let profile_arg = rest.remove(0);
    let profile = profile_arg
        .to_str()
        .and_then(|p| qcs_protocol::profile::validate_profile_id(p).ok())
        .ok_or_else(|| fail(2, format!("invalid profile id {profile_arg:?}")))?;
    if rest.len() > MAX_FILES {
        return Err(fail(2, format!("at most {MAX_FILES} files per proposal")));
    }
    let home_path = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| fail(3, "HOME is not set"))?;
    let home = Home::open(&home_path).map_err(|e| fail(3, format!("home directory: {e}")))?;
    let cwd = std::env::current_dir().map_err(|e| fail(3, format!("current directory: {e}")))?;
    let files = rest
        .iter()
        .map(|file| read_proposed(&home, &home_path, &cwd, Path::new(file)))
        .collect::<Result<Vec<_>, _>>()?;
    let request = ProposeRequest {
        version: Version,
        profile: profile.clone(),
        files,
        note,
    };
    let reply = call(&profile, &qcs_protocol::to_json(&request))?;
    match reply {
        ServiceReply::Ok(accepted) => Ok(format!(
            "proposal accepted by the config qube: {}",
            accepted.proposal_id
        )),
        ServiceReply::Refused(refusal) => Err(fail(
            1,
            format!(
                "proposal refused by the config qube ({}): {}",
                serde_json::to_string(&refusal.code).unwrap_or_default(),
                refusal.message
            ),
        )),
    }
}

/// Reads one file given on the command line; it must be a regular file below home,
/// reached without symlinks.
fn read_proposed(
    home: &Home,
    home_path: &Path,
    cwd: &Path,
    file: &Path,
) -> Result<ProposedFile, Failure> {
    let absolute = normalize(&if file.is_absolute() {
        file.to_path_buf()
    } else {
        cwd.join(file)
    });
    let shown = file.display();
    let relative = absolute
        .strip_prefix(home_path)
        .map_err(|_| fail(3, format!("{shown}: not below the home directory")))?;
    let text = relative
        .to_str()
        .ok_or_else(|| fail(3, format!("{shown}: name is not valid UTF-8")))?;
    let path = qcs_protocol::path::validate_relative_path(text)
        .map_err(|e| fail(3, format!("{shown}: {e}")))?;
    // A private key or credential never leaves the qube, even when the user names it.
    never_sync::check(&path).map_err(|why| fail(3, format!("{shown}: {why}")))?;
    let dir = home
        .open_parent(&path, false)
        .map_err(|e| fail(3, format!("{shown}: {e}")))?;
    let mut regular = match fsafe::inspect(&dir, path.file_name(), false) {
        Ok(Target::Regular(regular)) => regular,
        Ok(Target::Missing) => return Err(fail(3, format!("{shown}: does not exist"))),
        Err(e) => return Err(fail(3, format!("{shown}: {e}"))),
    };
    let bytes = fsafe::read_up_to(&mut regular.file, MAX_FILE_BYTES)
        .map_err(|e| fail(3, format!("{shown}: {e}")))?
        .ok_or_else(|| fail(3, format!("{shown}: larger than {MAX_FILE_BYTES} bytes")))?;
    let content = Content::new(bytes).map_err(|e| fail(3, format!("{shown}: {e}")))?;
    Ok(ProposedFile {
        path,
        mode: ObservedMode::new(regular.mode),
        sha256: Sha256Hex::of(content.as_bytes()),
        content,
        base_sha256: None,
    })
}

/// Removes `.` and resolves `..` lexically, as a user typing `../.bashrc` means. Safe
/// here because the result is then opened without following any symlink.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn call(profile: &ProfileId, request: &[u8]) -> Result<ServiceReply<ProposeAccepted>, Failure> {
    let program = std::env::var_os(QREXEC_CLIENT_ENV)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_QREXEC_CLIENT.into());
    let mut child = Command::new(&program)
        .arg("@default")
        .arg(format!("{}+{profile}", service::PROPOSE))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            fail(
                4,
                format!("cannot run {}: {e}", Path::new(&program).display()),
            )
        })?;
    let mut stdin = child.stdin.take().ok_or_else(|| fail(4, "no stdin pipe"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| fail(4, "no stdout pipe"))?;
    // Write from a thread so a peer that answers before reading everything cannot
    // deadlock us; dropping stdin is the end of the request (qrexec EOF).
    let request = request.to_vec();
    let writer = std::thread::spawn(move || {
        let result = stdin.write_all(&request);
        drop(stdin);
        result
    });
    let reply = qcs_protocol::read_reply::<ServiceReply<ProposeAccepted>>(stdout);
    let _ = writer.join();
    let status = child
        .wait()
        .map_err(|e| fail(4, format!("waiting for the qrexec client: {e}")))?;
    match (reply, status.code()) {
        (Ok(reply), _) => Ok(reply),
        (Err(_), Some(126)) => Err(fail(4, "the call was denied by qrexec policy (exit 126)")),
        (Err(_), Some(code)) if code != 0 => Err(fail(
            4,
            format!("the qrexec call failed with exit code {code}"),
        )),
        (Err(_), None) => Err(fail(4, "the qrexec client was killed")),
        (Err(e), _) => Err(fail(
            5,
            format!("unreadable reply from the config qube: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new("/home/u/sub/../.bashrc")),
            Path::new("/home/u/.bashrc")
        );
        assert_eq!(
            normalize(Path::new("/home/u/./a/./b")),
            Path::new("/home/u/a/b")
        );
        assert_eq!(normalize(Path::new("/../../etc")), Path::new("/etc"));
    }
}
