//! `qubes-config-agent`: the in-VM side of qubes-config-sync — the qrexec services
//! that apply, snapshot, roll back and propose configuration files.
//!
//! It must stay tiny (no GTK, no SQLite, no async runtime) and must never follow a
//! symlink, write outside the service user's home or create a special file.
//!
//! * [`fsafe`]: the no-symlink, below-home file access every service uses.
//! * [`services`]: apply, snapshot, rollback (managed qube).
//! * [`backup`]: previous versions kept by apply and rollback.
//! * [`never_sync`]: the compiled-in list of paths never written, read or restored.
//! * [`spool`]: `qubes.ConfigPropose` receiver (config qube).
//! * [`propose_client`]: `qubes-config-propose` (managed qube).
//! * [`cli`]: command lines, qrexec environment, exit codes.
//!
//! Environment: `HOME` (the only tree apply/snapshot/rollback touch),
//! `QREXEC_SERVICE_ARGUMENT` (the profile id), `QREXEC_REMOTE_DOMAIN` (the proposing
//! qube, config-qube side), `QUBES_CONFIG_SYNC_SPOOL`, `..._SPOOL_MAX_COUNT`,
//! `..._SPOOL_MAX_BYTES` (spool and quota), `QUBES_CONFIG_SYNC_QREXEC_CLIENT` (the
//! program `qubes-config-propose` calls instead of `qrexec-client-vm`),
//! `QUBES_CONFIG_AGENT_FORCE_OPENAT_CHAIN=1` (never use openat2). Guarantees and their
//! tests: `SECURITY.md` beside this crate.

pub mod backup;
pub mod cli;
pub mod fsafe;
pub mod never_sync;
pub mod propose_client;
pub mod services;
pub mod spool;
