//! Policy filtering of `admin.vm.List` and `admin.Events` for non-dom0 callers
//! (qubes.ext.admin.AdminExtension), evaluated with crates/qrexec.
//!
//! Three qubesd behaviours are reproduced on purpose:
//! * only `allow` counts; `ask` and `deny` both hide the qube or event;
//! * the system info the policy sees is **cached**
//!   (qubes.api.internal.SystemInfoCache) and dropped by the handlers of the
//!   events that change it;
//! * whether such an event is filtered with the old or the new view depends
//!   on the order of two handlers on the qube the event is about: qubesd keeps
//!   handlers in the order their event pattern was first registered on that
//!   object. The cache registers its handlers on every qube the first time
//!   system info is built (the first filtered call, or the qrexec policy
//!   daemon's `internal.GetSystemInfo`, see [`PolicyFilter::system_info`]);
//!   an `admin.Events` stream registers its dispatcher (`*`) when it connects.
//!   Registered first, the cache is dropped *before* the event is dispatched
//!   and the event is judged with the new view (the tag that makes a qube
//!   managed is then delivered to the config qube); registered second, it is
//!   dropped *after*, and the event is judged with the old view. The golden
//!   `events.jsonl` was recorded without a policy daemon, streams first.
//!   For a qube created while both are registered, the order is Python's set
//!   order of two `domain-add` handlers; the simulator uses the recorded one
//!   (dispatcher first).

use std::collections::HashSet;
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
    /// The same cache as qubesd's JSON (`internal.GetSystemInfo`).
    system_json: Option<String>,
    /// The cache's handlers are registered (it was built at least once).
    registered: bool,
    /// Objects (qube names; [`APP`] for the application object) with the
    /// cache's handlers, and with an event dispatcher's `*` handler.
    cache_keyed: HashSet<String>,
    dispatch_keyed: HashSet<String>,
    /// Objects whose cache handlers were registered before any dispatcher.
    cache_first: HashSet<String>,
}

/// The key of the Qubes application object (global events) in the handler
/// bookkeeping; no qube can be named like this.
pub const APP: &str = "";

impl PolicyFilter {
    pub fn new(dir: Option<PathBuf>) -> PolicyFilter {
        PolicyFilter {
            dir,
            policy: None,
            fingerprint: Vec::new(),
            system: None,
            system_json: None,
            registered: false,
            cache_keyed: HashSet::new(),
            dispatch_keyed: HashSet::new(),
            cache_first: HashSet::new(),
        }
    }

    /// `SystemInfoCache.get_system_info`: the cached system info, built (and
    /// on first use, the cache's handlers registered on every qube) when
    /// there is none. What `internal.GetSystemInfo` answers.
    pub fn system_info(&mut self, world: &World) -> &SystemInfo {
        if !self.registered {
            self.registered = true;
            self.register_cache(APP);
            for q in &world.data.vms {
                self.register_cache(&q.name);
            }
        }
        if self.system.is_none() {
            self.system_json = Some(system_info_json(world));
        }
        self.system.get_or_insert_with(|| system_info(world))
    }

    /// The answer of `internal.GetSystemInfo` (qrexec's policy daemon asks
    /// before every evaluation): the cached system info as qubesd's JSON.
    pub fn system_info_answer(&mut self, world: &World) -> String {
        self.system_info(world);
        self.system_json
            .clone()
            .unwrap_or_else(|| system_info_json(world))
    }

    fn register_cache(&mut self, object: &str) {
        if self.cache_keyed.insert(object.to_owned()) && !self.dispatch_keyed.contains(object) {
            self.cache_first.insert(object.to_owned());
        }
    }

    /// An `admin.Events` stream registered its dispatcher on `object`.
    pub fn register_dispatcher(&mut self, object: &str) {
        self.dispatch_keyed.insert(object.to_owned());
    }

    /// A qube was added; `streams_for_all` = a stream for every qube is
    /// connected (its `domain-add` handler registers a dispatcher on the
    /// new qube, before the cache's, as recorded).
    pub fn on_domain_add(&mut self, name: &str, streams_for_all: bool) {
        if streams_for_all {
            self.register_dispatcher(name);
        }
        if self.registered {
            self.register_cache(name);
        }
    }

    /// A qube was removed: its handlers went with it.
    pub fn on_domain_delete(&mut self, name: &str) {
        self.cache_keyed.remove(name);
        self.dispatch_keyed.remove(name);
        self.cache_first.remove(name);
    }

    /// Whether an invalidating event about `object` drops the cache before
    /// listeners get it (see the module doc).
    pub fn invalidates_first(&self, object: &str) -> bool {
        self.cache_first.contains(object)
    }

    /// Drop the cached system info; rebuilt on the next evaluation.
    pub fn invalidate(&mut self) {
        self.system = None;
        self.system_json = None;
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
        if !matches!(self.policy, Some(Ok(_))) {
            return false;
        }
        self.system_info(world);
        let (Some(Ok(policy)), Some(system)) = (&self.policy, &self.system) else {
            return false;
        };
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

/// `SystemInfoCache.get_system_info` as JSON: every key qubesd sends.
pub fn system_info_json(world: &World) -> String {
    let domains: serde_json::Map<String, serde_json::Value> = world
        .data
        .vms
        .iter()
        .map(|q| {
            let prop = |name: &str| {
                q.properties_all
                    .get(name)
                    .map(|p| p.value.clone())
                    .filter(|v| !v.is_empty())
            };
            let label = prop("label");
            let color = label
                .as_deref()
                .and_then(|l| world.find_label(l))
                .map(|l| l.color.clone());
            let info = serde_json::json!({
                "internal": q.features.get("internal"),
                "tags": q.tags,
                "type": q.class,
                "template_for_dispvms": prop("template_for_dispvms").is_some_and(|v| v == "True"),
                "default_dispvm": prop("default_dispvm"),
                "icon": prop("icon"),
                "label": color,
                "guivm": prop("guivm"),
                "relayvm": prop("relayvm"),
                "transport_rpc": prop("transport_rpc"),
                "power_state": q.power_state,
                "uuid": q.uuid,
            });
            (q.name.clone(), info)
        })
        .collect();
    serde_json::json!({ "domains": domains }).to_string()
}
