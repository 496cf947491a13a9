//! `admin.Events`: event values, their wire encoding, and the listeners.

use std::io::Write;
use std::os::unix::net::UnixStream;

/// One event as qubesd fires it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The qube the event is about; `None` = the Qubes application object
    /// (global events: `domain-add`, global property changes, …).
    pub subject: Option<String>,
    pub name: String,
    /// Keyword arguments in the order qubesd passes them.
    pub kwargs: Vec<(String, String)>,
}

impl Event {
    pub fn vm(subject: &str, name: impl Into<String>, kwargs: &[(&str, &str)]) -> Event {
        Event {
            subject: Some(subject.to_owned()),
            name: name.into(),
            kwargs: kwargs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    pub fn app(name: impl Into<String>, kwargs: &[(&str, &str)]) -> Event {
        Event {
            subject: None,
            name: name.into(),
            kwargs: kwargs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// `1\0SUBJECT\0EVENT\0(KEY\0VALUE\0)*\0`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"1\0".to_vec();
        if let Some(s) = &self.subject {
            out.extend_from_slice(s.as_bytes());
        }
        out.push(0);
        out.extend_from_slice(self.name.as_bytes());
        out.push(0);
        for (k, v) in &self.kwargs {
            out.extend_from_slice(k.as_bytes());
            out.push(0);
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out.push(0);
        out
    }

    /// The qube the policy is asked about for a filtered listener: the
    /// subject, the `vm` argument of a global event, or `@adminvm`
    /// (qubes.ext.admin.AdminExtension.admin_events).
    pub fn policy_target(&self) -> String {
        match &self.subject {
            Some(s) => s.clone(),
            None => self
                .kwargs
                .iter()
                .find(|(k, _)| k == "vm")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "@adminvm".to_owned()),
        }
    }

    /// Whether qubesd's cached system info (used for policy filtering) is
    /// dropped *after* this event was dispatched
    /// (qubes.api.internal.SystemInfoCache.vm_events, domain-add/-delete).
    pub fn invalidates_system_info(&self) -> bool {
        if self.subject.is_none() {
            return matches!(self.name.as_str(), "domain-add" | "domain-delete");
        }
        let n = self.name.as_str();
        matches!(n, "domain-spawn" | "domain-start" | "domain-shutdown")
            || n.starts_with("domain-tag-add:")
            || n.starts_with("domain-tag-delete:")
            || matches!(
                n,
                "domain-feature-set:internal" | "domain-feature-delete:internal"
            )
            || [
                "template_for_dispvms",
                "default_dispvm",
                "icon",
                "label",
                "guivm",
                "relayvm",
                "transport_rpc",
                "uuid",
            ]
            .iter()
            .any(|p| n == format!("property-set:{p}") || n == format!("property-reset:{p}"))
    }
}

/// How long a write to a stalled listener may block before it is dropped.
pub const LISTENER_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One connected `admin.Events` client.
#[derive(Debug)]
pub struct Listener {
    pub id: u64,
    pub stream: UnixStream,
    /// The calling qube (dom0 sees everything; others are filtered by policy).
    pub src: String,
    /// `dom0` = every event; a qube name = only events about that qube.
    pub dest: String,
    pub dest_is_admin: bool,
}

impl Listener {
    /// Whether the event concerns this listener at all (before policy).
    pub fn subscribed(&self, event: &Event) -> bool {
        if self.dest_is_admin {
            return true;
        }
        event.subject.as_deref() == Some(self.dest.as_str())
    }

    /// Write one encoded event; `false` if the listener is gone.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_qubesd() {
        let e = Event::vm("personal", "domain-tag-add:x", &[("tag", "x")]);
        assert_eq!(e.encode(), b"1\0personal\0domain-tag-add:x\0tag\0x\0\0");
        let e = Event::app("connection-established", &[]);
        assert_eq!(e.encode(), b"1\0\0connection-established\0\0");
        assert_eq!(
            Event::app("domain-add", &[("vm", "s")]).policy_target(),
            "s"
        );
        assert_eq!(
            Event::app("property-set:x", &[]).policy_target(),
            "@adminvm"
        );
    }

    #[test]
    fn cache_invalidation_set() {
        assert!(Event::vm("a", "domain-tag-add:t", &[]).invalidates_system_info());
        assert!(Event::vm("a", "property-reset:icon", &[]).invalidates_system_info());
        assert!(!Event::vm("a", "domain-create-on-disk", &[]).invalidates_system_info());
        assert!(!Event::vm("a", "domain-feature-set:x", &[]).invalidates_system_info());
        assert!(Event::app("domain-add", &[]).invalidates_system_info());
        assert!(!Event::app("domain-pre-delete", &[]).invalidates_system_info());
    }
}
