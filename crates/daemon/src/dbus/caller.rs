//! Who called a D-Bus method, for the audit log: the method, the caller's unique bus
//! name and what the bus daemon knows about it (uid, pid and the program's name).
//!
//! It is a record, not an authorisation: every client of the session bus runs as the
//! same user in the config qube, and a program name can be chosen by its program. It
//! must not fail a call: what cannot be found out is left out.

use zbus::fdo::DBusProxy;
use zbus::message::Header;
use zbus::names::BusName;

/// `"D-Bus <method> from <bus name> (uid U, pid P, <program>)"`, with what is known.
pub async fn describe(connection: &zbus::Connection, header: &Header<'_>, method: &str) -> String {
    let Some(sender) = header.sender() else {
        return format!("D-Bus {method} (sender unknown)");
    };
    let mut facts = Vec::new();
    if let Ok(proxy) = DBusProxy::new(connection).await
        && let Ok(credentials) = proxy
            .get_connection_credentials(BusName::Unique(sender.to_owned()))
            .await
    {
        if let Some(uid) = credentials.unix_user_id() {
            facts.push(format!("uid {uid}"));
        }
        if let Some(pid) = credentials.process_id() {
            facts.push(format!("pid {pid}"));
            if let Some(program) = program_name(pid) {
                facts.push(program);
            }
        }
    }
    if facts.is_empty() {
        format!("D-Bus {method} from {sender}")
    } else {
        format!("D-Bus {method} from {sender} ({})", facts.join(", "))
    }
}

/// The process's `comm` (at most 15 bytes, set by the process), escaped.
fn program_name(pid: u32) -> Option<String> {
    let comm = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
    let name = String::from_utf8_lossy(comm.strip_suffix(b"\n").unwrap_or(&comm)).into_owned();
    (!name.is_empty()).then(|| format!("{:?}", name.chars().take(16).collect::<String>()))
}
