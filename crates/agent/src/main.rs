//! `qubes-config-agent`: the in-VM side of qubes-config-sync — the qrexec services
//! that apply, snapshot, roll back and propose configuration files.
//!
//! It must stay tiny (no GTK, no SQLite, no async runtime) and must never follow a
//! symlink, write outside the service user's home or create a special file.

fn main() {
    eprintln!("qubes-config-agent: no services yet");
    std::process::exit(2);
}
