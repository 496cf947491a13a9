//! Policy filtering of `admin.vm.List` and `admin.Events` for non-dom0 callers
//! (qubes.ext.admin.AdminExtension), evaluated with crates/qrexec.
//!
//! Two qubesd behaviours are reproduced on purpose:
//! * only `allow` counts; `ask` and `deny` both hide the qube or event;
//! * the system info the policy sees is **cached** and dropped only *after*
//!   an invalidating event was dispatched (qubes.api.internal.SystemInfoCache).
//!   So an event that changes what the policy would say (e.g. the tag that
//!   makes a new qube match `@tag:…`) is itself filtered with the old view,
//!   and a qube created a moment ago is unknown to the filter until the next
//!   rebuild. The golden `events.jsonl` records exactly this.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use qrexec::{DomainInfo, Policy, SystemInfo};

use crate::world::World;

/// The policy (reloaded when the policy directory changes) and the cached
/// system info.
#[derive(Debug)]
pub struct PolicyFilter {
    dir: Option<PathBuf>,
    /// `Err` = the policy does not load: every filtered request is denied.
    policy: Option<Result<Policy, String>>,
    fingerprint: Vec<(String, SystemTime, u64)>,
    system: Option<SystemInfo>,
}

impl PolicyFilter {
    pub fn new(dir: Option<PathBuf>) -> PolicyFilter {
        PolicyFilter {
            dir,
            policy: None,
            fingerprint: Vec::new(),
            system: None,
        }
    }

    /// Drop the cached system info; rebuilt on the next evaluation.
    pub fn invalidate(&mut self) {
        self.system = None;
    }

    /// The last policy load error, if the policy does not load.
    pub fn policy_error(&self) -> Option<&str> {
        match &self.policy {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    }

    /// Whether `source` may see `target` through `service` (`allow` only).
    pub fn allows(
        &mut self,
        world: &World,
        service: &str,
        argument: &str,
        source: &str,
        target: &str,
    ) -> bool {
        self.refresh_policy(world);
        let Some(Ok(policy)) = &self.policy else {
            return false;
        };
        let system = self.system.get_or_insert_with(|| system_info(world));
        policy
            .evaluate(system, service, argument, source, target)
            .is_allow()
    }

    fn refresh_policy(&mut self, world: &World) {
        match &self.dir {
            Some(dir) => {
                let fp = fingerprint(dir);
                if self.policy.is_none() || fp != self.fingerprint {
                    self.policy = Some(Policy::load_dir(dir).map_err(|e| e.to_string()));
                    self.fingerprint = fp;
                }
            }
            None => {
                if self.policy.is_none() {
                    let files: Vec<(String, String)> = world
                        .data
                        .qubesd_policy
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    self.policy = Some(Policy::from_files(&files).map_err(|e| e.to_string()));
                }
            }
        }
    }
}

/// Names, modification times and sizes of the policy files (and one level
/// of subdirectories such as `include/`): a change means reload.
fn fingerprint(dir: &Path) -> Vec<(String, SystemTime, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new(), 0)];
    while let Some((path, prefix, depth)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if depth < 1 {
                    stack.push((entry.path(), format!("{name}/"), depth + 1));
                }
                continue;
            }
            out.push((
                name,
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                meta.len(),
            ));
        }
    }
    out.sort();
    out
}

/// The world as qubesd's `internal.GetSystemInfo` describes it.
pub fn system_info(world: &World) -> SystemInfo {
    let domains = world
        .data
        .vms
        .iter()
        .map(|q| {
            let prop = |name: &str| q.properties_all.get(name).map(|p| p.value.clone());
            let info = DomainInfo {
                r#type: q.class.clone(),
                tags: q.tags.clone(),
                template_for_dispvms: prop("template_for_dispvms").is_some_and(|v| v == "True"),
                default_dispvm: prop("default_dispvm").filter(|v| !v.is_empty()),
                power_state: q.power_state.clone(),
                uuid: q.uuid.clone(),
                icon: prop("icon"),
            };
            (q.name.clone(), info)
        })
        .collect();
    SystemInfo { domains }
}
