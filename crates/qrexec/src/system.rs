//! The system description a policy is evaluated against: the JSON of qubesd's
//! `internal.GetSystemInfo`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// All qubes known to dom0, by name (`{"domains": {NAME: {...}}}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    pub domains: BTreeMap<String, DomainInfo>,
}

/// What the policy needs to know about one qube. Other keys of qubesd's JSON (label, guivm,
/// internal, relayvm, …) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainInfo {
    /// The qube class: `AdminVM`, `AppVM`, `TemplateVM`, `StandaloneVM`, `DispVM`, `RemoteVM`.
    #[serde(rename = "type")]
    pub r#type: String,
    pub tags: Vec<String>,
    pub template_for_dispvms: bool,
    #[serde(default)]
    pub default_dispvm: Option<String>,
    /// `Running`, `Halted`, … (only `Running` counts for `autostart=no`).
    pub power_state: String,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
}

impl SystemInfo {
    /// Parses the JSON of `internal.GetSystemInfo` (as `qrexec-policy-graph --system-info` reads it).
    pub fn from_json(text: &str) -> Result<SystemInfo, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Looks a qube up by name or by `uuid:UUID`, the two forms qrexec accepts (qrexec adds
    /// `uuid:` keys to its copy of the system info; this does the same without copying).
    pub fn lookup(&self, name_or_uuid: &str) -> Option<(&str, &DomainInfo)> {
        if let Some(uuid) = name_or_uuid.strip_prefix("uuid:") {
            return self
                .domains
                .iter()
                .find(|(_, d)| d.uuid.as_deref() == Some(uuid))
                .map(|(n, d)| (n.as_str(), d));
        }
        self.domains
            .get_key_value(name_or_uuid)
            .map(|(n, d)| (n.as_str(), d))
    }

    pub(crate) fn contains(&self, name_or_uuid: &str) -> bool {
        self.lookup(name_or_uuid).is_some()
    }

    pub(crate) fn get(&self, name_or_uuid: &str) -> Option<&DomainInfo> {
        self.lookup(name_or_uuid).map(|(_, d)| d)
    }
}
