//! `qubes.ConfigPropose` in the config qube: takes a proposal from a managed qube and
//! stores it, unread, in the spool for the backend to ingest.
//!
//! Layout: `<spool>/<source-qube>/<proposal-id>.json`, one [`SpooledProposal`] per
//! file, named by the receiver. The quota of each source qube (count and bytes of
//! its spooled proposals) is checked under an exclusive `flock` on
//! `<spool>/<source-qube>/.lock`, so parallel calls cannot exceed it. The backend
//! removes a proposal file once it has ingested it, which frees quota.

use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use qcs_protocol::{
    ProfileId, ProposalId, ProposeAccepted, ProposeRequest, Refusal, RefusalCode, SpooledProposal,
    Version, VmName,
};
use rustix::fs::{FileType, FlockOperation, Mode, OFlags};

use crate::fsafe::{self, FsRefusal};
use crate::services::find_duplicate;

/// Overrides the spool directory.
pub const SPOOL_ENV: &str = "QUBES_CONFIG_SYNC_SPOOL";
/// Overrides [`DEFAULT_MAX_COUNT`].
pub const MAX_COUNT_ENV: &str = "QUBES_CONFIG_SYNC_SPOOL_MAX_COUNT";
/// Overrides [`DEFAULT_MAX_BYTES`].
pub const MAX_BYTES_ENV: &str = "QUBES_CONFIG_SYNC_SPOOL_MAX_BYTES";
/// Proposals a qube may have waiting in the spool.
pub const DEFAULT_MAX_COUNT: usize = 32;
/// Bytes of spooled proposals a qube may have waiting (four maximal requests).
pub const DEFAULT_MAX_BYTES: u64 = 32 * 1024 * 1024;

const LOCK_NAME: &str = ".lock";
const SUFFIX: &str = ".json";

/// Where and how much may be spooled.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub max_count: usize,
    pub max_bytes: u64,
}

impl SpoolConfig {
    /// `$QUBES_CONFIG_SYNC_SPOOL`, else `$XDG_DATA_HOME/qubes-config-sync/spool`, else
    /// `$HOME/.local/share/qubes-config-sync/spool`; quotas from the environment or
    /// the defaults.
    pub fn from_env() -> Result<SpoolConfig, String> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let dir = if let Some(dir) = var(SPOOL_ENV) {
            PathBuf::from(dir)
        } else if let Some(data) = var("XDG_DATA_HOME") {
            Path::new(&data).join("qubes-config-sync/spool")
        } else if let Some(home) = var("HOME") {
            Path::new(&home).join(".local/share/qubes-config-sync/spool")
        } else {
            return Err("neither QUBES_CONFIG_SYNC_SPOOL, XDG_DATA_HOME nor HOME is set".into());
        };
        if !dir.is_absolute() {
            return Err(format!("spool directory {} is not absolute", dir.display()));
        }
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .to_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("{name} is not a number")),
            }
        };
        Ok(SpoolConfig {
            dir,
            max_count: number(MAX_COUNT_ENV, DEFAULT_MAX_COUNT as u64)? as usize,
            max_bytes: number(MAX_BYTES_ENV, DEFAULT_MAX_BYTES)?,
        })
    }
}

fn refuse(code: RefusalCode, message: impl Into<String>) -> Refusal {
    Refusal::new(code, message)
}

/// Validates a parsed proposal from `source` for `profile` and spools it. The file
/// is durable (fsynced, renamed, directory fsynced) before this returns `Ok`.
pub fn receive(
    config: &SpoolConfig,
    source: &VmName,
    profile: &ProfileId,
    request: ProposeRequest,
) -> Result<ProposeAccepted, Refusal> {
    if &request.profile != profile {
        return Err(refuse(
            RefusalCode::ProfileMismatch,
            "the request names another profile than the service argument",
        ));
    }
    if request.files.is_empty() {
        return Err(refuse(RefusalCode::Empty, "the proposal carries no file"));
    }
    for file in &request.files {
        if file.content.sha256() != file.sha256 {
            return Err(refuse(
                RefusalCode::HashMismatch,
                format!("content of '{}' does not match its sha256", file.path),
            ));
        }
    }
    if let Some(dup) = find_duplicate(request.files.iter().map(|f| &f.path)) {
        return Err(refuse(
            RefusalCode::DuplicatePath,
            format!("'{dup}' appears twice"),
        ));
    }
    let io = |e: FsRefusal| refuse(RefusalCode::Io, format!("spool: {e}"));
    let qube_dir = open_qube_dir(config, source).map_err(io)?;
    let lock = open_lock(&qube_dir).map_err(io)?;
    rustix::fs::flock(&lock, FlockOperation::LockExclusive).map_err(|errno| {
        io(FsRefusal::Io {
            context: "locking the spool",
            errno,
        })
    })?;

    let (count, bytes) = usage(&qube_dir).map_err(io)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let id_text = format!("{:020}-{}", now.as_nanos(), std::process::id());
    let proposal_id = ProposalId::parse(&id_text)
        .map_err(|_| refuse(RefusalCode::Internal, "could not form a proposal id"))?;
    let record = SpooledProposal {
        version: Version,
        proposal_id: proposal_id.clone(),
        source_qube: source.clone(),
        profile: profile.clone(),
        received_unix: now.as_secs(),
        request,
    };
    let encoded = qcs_protocol::to_json(&record);
    if count + 1 > config.max_count {
        return Err(refuse(
            RefusalCode::QuotaExceeded,
            format!(
                "qube '{source}' already has {count} proposals waiting (limit {})",
                config.max_count
            ),
        ));
    }
    if bytes + encoded.len() as u64 > config.max_bytes {
        return Err(refuse(
            RefusalCode::QuotaExceeded,
            format!(
                "qube '{source}' has {bytes} bytes of proposals waiting; {} more exceed the limit of {}",
                encoded.len(),
                config.max_bytes
            ),
        ));
    }
    fsafe::create_file_atomically(&qube_dir, &format!("{id_text}{SUFFIX}"), &encoded)
        .map_err(io)?;
    drop(lock);
    Ok(ProposeAccepted {
        version: Version,
        proposal_id,
    })
}

fn open_qube_dir(config: &SpoolConfig, source: &VmName) -> Result<OwnedFd, FsRefusal> {
    // The spool path is the config qube's own setting; create it like `mkdir -p`
    // (0700), then open its last component without following a symlink.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.dir)
        .map_err(|e| fsafe::io_err("creating the spool directory", e))?;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let spool =
        rustix::fs::open(&config.dir, flags, Mode::empty()).map_err(|errno| FsRefusal::Io {
            context: "opening the spool directory",
            errno,
        })?;
    fsafe::open_dir_component(&spool, source.as_str(), true)
}

fn open_lock(dir: &OwnedFd) -> Result<OwnedFd, FsRefusal> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(dir, LOCK_NAME, flags, Mode::from_raw_mode(0o600)).map_err(|errno| {
        FsRefusal::Io {
            context: "opening the spool lock",
            errno,
        }
    })
}

/// Count and total size of the spooled proposals (and of leftover temporary files,
/// which use space too) in a qube's spool directory.
fn usage(dir: &OwnedFd) -> Result<(usize, u64), FsRefusal> {
    let entries = rustix::fs::Dir::read_from(dir).map_err(|errno| FsRefusal::Io {
        context: "listing the spool",
        errno,
    })?;
    let (mut count, mut bytes) = (0usize, 0u64);
    for entry in entries {
        let entry = entry.map_err(|errno| FsRefusal::Io {
            context: "listing the spool",
            errno,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "." || name == ".." || name == LOCK_NAME {
            continue;
        }
        let Ok(st) = fsafe::lstat_at(dir, &name) else {
            continue; // removed by the backend meanwhile
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            continue;
        }
        if name.ends_with(SUFFIX) {
            count += 1;
        }
        bytes += st.st_size as u64;
    }
    Ok((count, bytes))
}
