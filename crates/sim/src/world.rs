//! The world: what the simulated dom0 knows, kept in a **world directory**.
//!
//! ```text
//! WORLD/world.json        qubes, global properties, labels (golden `world.json` format)
//! WORLD/policy/           dom0 qrexec policy directory (/etc/qubes/policy.d)
//! WORLD/qubes/NAME/home/  the qube's home directory (created on demand)
//! WORLD/qubes/NAME/rpc/   the qube's qrexec services (created on demand)
//! ```
//!
//! `world.json` is the format of `golden/qubesd/world.json` with one addition:
//! each qube may carry `property_defaults` (and the world
//! `global_property_defaults`), the value a property returns to after
//! `Reset` (`null` = the property has no default). A golden file has none;
//! they are then derived at load time, see [`World::from_json_file`].
//!
//! This module only stores and looks up state. What a change *means* on the
//! wire (events, errors) is the business of [`crate::qubesd`].

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// File name of the world description inside a world directory.
pub const WORLD_FILE: &str = "world.json";
/// The dom0 policy directory inside a world directory.
pub const POLICY_DIR: &str = "policy";
/// Per-qube directories live under this directory of a world.
pub const QUBES_DIR: &str = "qubes";

/// One property as `admin.vm.property.GetAll` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    /// `default=True`: the value is not set explicitly.
    pub default: bool,
    /// `str`, `int`, `bool`, `vm` or `label`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value as qubesd prints it (`''` for none).
    pub value: String,
}

/// One qube (domain) of the world, dom0 included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qube {
    pub name: String,
    /// `AdminVM`, `AppVM`, `TemplateVM`, `StandaloneVM` or `DispVM`.
    pub class: String,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
    pub label: String,
    /// Kept sorted, as `admin.vm.tag.List` returns them.
    #[serde(default)]
    pub tags: Vec<String>,
    /// In insertion order, the order of `admin.vm.feature.List`.
    #[serde(default)]
    pub features: IndexMap<String, String>,
    #[serde(default)]
    pub properties_explicit: IndexMap<String, String>,
    /// `Halted`, `Running`, `Paused`, …
    pub power_state: String,
    /// Body of `admin.vm.CurrentState` as recorded (`null` for dom0 offline).
    #[serde(default)]
    pub current_state: Option<String>,
    #[serde(default)]
    pub properties_all: IndexMap<String, Property>,
    /// Value each property returns to on `Reset` (`None`: no default).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub property_defaults: IndexMap<String, Option<String>>,
}

/// A label (colour) qubes can have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub name: String,
    /// `0xRRGGBB`.
    pub color: String,
    pub index: u32,
}

/// The serialised world (`world.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub vms: Vec<Qube>,
    #[serde(default)]
    pub global_properties: IndexMap<String, Property>,
    #[serde(default)]
    pub global_properties_explicit: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub global_property_defaults: IndexMap<String, Option<String>>,
    pub labels: Vec<Label>,
    /// Policy files qubesd reads to filter `admin.vm.List`/`admin.Events`.
    /// In a world directory the files of `policy/` are authoritative; this
    /// copy seeds that directory when a world is created from a golden file.
    #[serde(default)]
    pub qubesd_policy: IndexMap<String, String>,
    /// Present in golden files; kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub creation_calls: Vec<serde_json::Value>,
    /// Kernel versions installed in dom0. A golden file has none; the
    /// kernels in use (`default_kernel`, qubes' `kernel`) are installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub installed_kernels: Vec<String>,
}

/// The world, in memory, optionally backed by a world directory.
#[derive(Debug, Clone)]
pub struct World {
    dir: Option<PathBuf>,
    pub data: WorldData,
}

/// The classes qubesd knows (its `qubes.vm` entry points).
pub const QUBE_CLASSES: [&str; 5] = ["AdminVM", "AppVM", "DispVM", "StandaloneVM", "TemplateVM"];

/// Properties that never have a default: `GetDefault` answers with an empty body.
const NO_DEFAULT: [&str; 6] = ["name", "label", "qid", "uuid", "template", "dispid"];

impl World {
    /// An empty-directory-less world from parsed data; derives missing defaults.
    pub fn from_data(mut data: WorldData) -> Result<World, SimError> {
        validate_data(&data)?;
        derive_defaults(&mut data);
        for qube in &mut data.vms {
            qube.tags.sort();
            qube.tags.dedup();
        }
        let in_use: Vec<String> = data
            .global_properties
            .get("default_kernel")
            .into_iter()
            .map(|p| p.value.clone())
            .chain(
                data.vms
                    .iter()
                    .filter_map(|q| q.properties_all.get("kernel").map(|p| p.value.clone())),
            )
            .filter(|k| !k.is_empty())
            .collect();
        for kernel in in_use {
            if !data.installed_kernels.contains(&kernel) {
                data.installed_kernels.push(kernel);
            }
        }
        let mut world = World { dir: None, data };
        // A recorded world is already consistent (a no-op there); a
        // hand-written one gets its inherited defaults filled in.
        world.refresh_inherited();
        Ok(world)
    }

    /// Parse a `world.json` (e.g. the golden one) without a directory.
    pub fn from_json_file(path: &Path) -> Result<World, SimError> {
        let text = fs::read_to_string(path).map_err(|e| SimError::io("reading", path, e))?;
        let data: WorldData =
            serde_json::from_str(&text).map_err(|source| SimError::WorldFormat {
                path: path.to_owned(),
                source,
            })?;
        World::from_data(data)
    }

    /// Load a world directory.
    pub fn load(dir: &Path) -> Result<World, SimError> {
        let mut world = World::from_json_file(&dir.join(WORLD_FILE))?;
        world.dir = Some(dir.to_owned());
        Ok(world)
    }

    /// Write this world into `dir` (creating it) and bind it to that directory.
    /// The policy directory is seeded from `qubesd_policy` when it is empty.
    pub fn create_dir(mut self, dir: &Path) -> Result<World, SimError> {
        fs::create_dir_all(dir).map_err(|e| SimError::io("creating", dir, e))?;
        let policy = dir.join(POLICY_DIR);
        fs::create_dir_all(&policy).map_err(|e| SimError::io("creating", &policy, e))?;
        let empty = fs::read_dir(&policy)
            .map_err(|e| SimError::io("reading", &policy, e))?
            .next()
            .is_none();
        if empty {
            for (file, text) in &self.data.qubesd_policy {
                // Plain names, or `include/NAME`-style paths inside the directory.
                let parts: Vec<&str> = file.split('/').collect();
                if parts.iter().any(|p| p.is_empty() || p.starts_with('.')) {
                    return Err(SimError::WorldInvalid(format!(
                        "policy file name {file:?} is not a path inside the policy directory"
                    )));
                }
                let path = policy.join(file);
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(|e| SimError::io("creating", parent, e))?;
                }
                write_atomic(&path, text.as_bytes())?;
            }
        }
        let qubes = dir.join(QUBES_DIR);
        fs::create_dir_all(&qubes).map_err(|e| SimError::io("creating", &qubes, e))?;
        self.dir = Some(dir.to_owned());
        self.save()?;
        Ok(self)
    }

    /// The world directory, if this world has one.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Persist `world.json` atomically (temp file, fsync, rename). A world
    /// without a directory has nothing to persist.
    pub fn save(&self) -> Result<(), SimError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let text =
            serde_json::to_vec_pretty(&self.data).map_err(|source| SimError::WorldFormat {
                path: dir.join(WORLD_FILE),
                source,
            })?;
        write_atomic(&dir.join(WORLD_FILE), &text)
    }

    /// The policy directory of this world (not created here).
    pub fn policy_dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(POLICY_DIR))
    }

    /// `qubes/NAME/home`, created on demand.
    pub fn qube_home(&self, name: &str) -> Result<PathBuf, SimError> {
        self.qube_subdir(name, "home")
    }

    /// `qubes/NAME/rpc` (the qube's qrexec services), created on demand.
    pub fn qube_rpc_dir(&self, name: &str) -> Result<PathBuf, SimError> {
        self.qube_subdir(name, "rpc")
    }

    /// Install an executable qrexec service `service` (a plain name such as
    /// `test.Dump` or `test.Dump+arg`) into the qube's rpc directory, mode 0755.
    pub fn install_rpc_service(
        &self,
        qube: &str,
        service: &str,
        content: &[u8],
    ) -> Result<PathBuf, SimError> {
        use std::os::unix::fs::PermissionsExt;
        if service.is_empty() || service.starts_with('.') || service.contains('/') {
            return Err(SimError::WorldInvalid(format!(
                "service name {service:?} is not a file name"
            )));
        }
        let path = self.qube_rpc_dir(qube)?.join(service);
        write_atomic(&path, content)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .map_err(|e| SimError::io("setting the mode of", &path, e))?;
        Ok(path)
    }

    fn qube_subdir(&self, name: &str, sub: &str) -> Result<PathBuf, SimError> {
        let dir = self
            .dir
            .as_ref()
            .ok_or_else(|| SimError::WorldInvalid("the world has no directory".into()))?;
        if self.qube(name).is_none() {
            return Err(SimError::WorldInvalid(format!("no qube named {name:?}")));
        }
        // Names were validated as VM names (no '/', no leading '.').
        let path = dir.join(QUBES_DIR).join(name).join(sub);
        fs::create_dir_all(&path).map_err(|e| SimError::io("creating", &path, e))?;
        Ok(path)
    }

    /// A qube by name.
    pub fn qube(&self, name: &str) -> Option<&Qube> {
        self.data.vms.iter().find(|q| q.name == name)
    }

    /// A qube by name, mutable.
    pub fn qube_mut(&mut self, name: &str) -> Option<&mut Qube> {
        self.data.vms.iter_mut().find(|q| q.name == name)
    }

    /// A qube by uuid (canonical lowercase form).
    pub fn qube_by_uuid(&self, uuid: &str) -> Option<&Qube> {
        self.data
            .vms
            .iter()
            .find(|q| q.uuid.as_deref() == Some(uuid))
    }

    /// Names in qubesd's order: dom0 (the AdminVM) first, then by name.
    pub fn sorted_names(&self) -> Vec<String> {
        let mut names: Vec<&Qube> = self.data.vms.iter().collect();
        names.sort_by(|a, b| {
            (a.class != "AdminVM", a.name.as_str()).cmp(&(b.class != "AdminVM", b.name.as_str()))
        });
        names.into_iter().map(|q| q.name.clone()).collect()
    }

    /// A label by name.
    pub fn label(&self, name: &str) -> Option<&Label> {
        self.data.labels.iter().find(|l| l.name == name)
    }

    /// Whether dom0 has this kernel version installed.
    pub fn kernel_installed(&self, version: &str) -> bool {
        self.data.installed_kernels.iter().any(|k| k == version)
    }

    /// A label as qubesd's `get_label` finds it: by name, else by index.
    pub fn find_label(&self, text: &str) -> Option<&Label> {
        self.label(text).or_else(|| {
            let index: u32 = text.trim().parse().ok()?;
            self.data.labels.iter().find(|l| l.index == index)
        })
    }

    /// Start building a world in memory.
    pub fn builder() -> WorldBuilder {
        WorldBuilder::new()
    }
}

/// Write `bytes` to `path` atomically: temp file beside it, fsync, rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SimError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            // Persist the rename; not all filesystems allow fsync on a directory.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        SimError::io("writing", path, e)
    })
}

fn validate_data(data: &WorldData) -> Result<(), SimError> {
    let mut names = BTreeSet::new();
    let mut admin = 0;
    for qube in &data.vms {
        if qube.class == "AdminVM" {
            admin += 1;
        } else {
            qubesadmin::validate::vm_name(&qube.name)
                .map_err(|e| SimError::WorldInvalid(format!("qube {:?}: {e}", qube.name)))?;
        }
        if !QUBE_CLASSES.contains(&qube.class.as_str()) {
            return Err(SimError::WorldInvalid(format!(
                "qube {:?} has unknown class {:?}",
                qube.name, qube.class
            )));
        }
        if !names.insert(qube.name.as_str()) {
            return Err(SimError::WorldInvalid(format!(
                "qube {:?} appears twice",
                qube.name
            )));
        }
        for tag in &qube.tags {
            qubesadmin::validate::tag(tag).map_err(|e| {
                SimError::WorldInvalid(format!("qube {:?} tag {tag:?}: {e}", qube.name))
            })?;
        }
    }
    if admin != 1 {
        return Err(SimError::WorldInvalid(format!(
            "a world needs exactly one AdminVM (dom0), found {admin}"
        )));
    }
    for qube in &data.vms {
        if let Some(t) = &qube.template
            && !names.contains(t.as_str())
        {
            return Err(SimError::WorldInvalid(format!(
                "qube {:?} has template {t:?} which does not exist",
                qube.name
            )));
        }
    }
    Ok(())
}

/// Fill in `property_defaults` where the file has none.
///
/// A property reported with `default=True` defaults to its current value.
/// For an explicitly set property the default is not in the recording; it is
/// taken from another qube of the same class that has it at its default (the
/// recorded qubesd computes most defaults per class or from global
/// properties), then from any qube, then from the built-in class table.
/// Properties without a default in qubesd (`name`, `label`, `template`, …)
/// stay without one.
fn derive_defaults(data: &mut WorldData) {
    let snapshot: Vec<(String, IndexMap<String, Property>)> = data
        .vms
        .iter()
        .map(|q| (q.class.clone(), q.properties_all.clone()))
        .collect();
    for qube in &mut data.vms {
        for (name, prop) in &qube.properties_all {
            if qube.property_defaults.contains_key(name) {
                continue;
            }
            let default = if prop.default {
                Some(prop.value.clone())
            } else if NO_DEFAULT.contains(&name.as_str()) {
                None
            } else {
                let peer = |same_class: bool| {
                    snapshot.iter().find_map(|(class, props)| {
                        if same_class && *class != qube.class {
                            return None;
                        }
                        props
                            .get(name)
                            .filter(|p| p.default)
                            .map(|p| p.value.clone())
                    })
                };
                peer(true).or_else(|| peer(false)).or_else(|| {
                    class_property(&qube.class, name).and_then(|(_, v)| v.map(str::to_owned))
                })
            };
            qube.property_defaults.insert(name.clone(), default);
        }
    }
    let globals: Vec<(String, Property)> = data
        .global_properties
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (name, prop) in globals {
        if data.global_property_defaults.contains_key(&name) {
            continue;
        }
        let default = if prop.default {
            Some(prop.value.clone())
        } else {
            global_default(&name, data)
        };
        data.global_property_defaults.insert(name, default);
    }
}

/// Defaults of global properties that are not derivable from a recording
/// (qubes/app.py: `default=None` prints as an empty value; no `default=`
/// means `GetDefault` answers with an empty body).
fn global_default(name: &str, data: &WorldData) -> Option<String> {
    let value = |n: &str| data.global_properties.get(n).map(|p| p.value.clone());
    match name {
        "default_dispvm" | "management_dispvm" | "default_netvm" | "updatevm" | "clockvm" => {
            Some(String::new())
        }
        "default_guivm" | "default_audiovm" => Some("dom0".into()),
        "default_pool_kernel"
        | "default_pool_private"
        | "default_pool_root"
        | "default_pool_volatile" => value("default_pool"),
        "default_qrexec_timeout" | "default_shutdown_timeout" => Some("60".into()),
        "check_updates_vm" => Some("True".into()),
        "stats_interval" => Some("3".into()),
        _ => None,
    }
}

/// Properties whose default is the template's value for template-based
/// qubes (`_default_with_template` in qubes/vm/qubesvm.py).
const TEMPLATE_INHERITED: [&str; 10] = [
    "default_user",
    "kernel",
    "kernelopts",
    "management_dispvm",
    "maxmem",
    "memory",
    "qrexec_timeout",
    "shutdown_timeout",
    "vcpus",
    "virt_mode",
];

/// The global property a qube property defaults to (after the template).
fn global_source(prop: &str) -> Option<&'static str> {
    match prop {
        "kernel" => Some("default_kernel"),
        "qrexec_timeout" => Some("default_qrexec_timeout"),
        "shutdown_timeout" => Some("default_shutdown_timeout"),
        "management_dispvm" => Some("management_dispvm"),
        "default_dispvm" => Some("default_dispvm"),
        "netvm" => Some("default_netvm"),
        "audiovm" => Some("default_audiovm"),
        "guivm" => Some("default_guivm"),
        _ => None,
    }
}

impl World {
    /// The default a qube's property follows from elsewhere: its template's
    /// value, or a global property. `None`: not inherited (see
    /// `property_defaults`).
    pub fn inherited_default(&self, qube: &str, prop: &str) -> Option<String> {
        let q = self.qube(qube)?;
        if q.class == "DispVM" && prop == "default_dispvm" {
            // qubes.vm.dispvm: a disposable's default is its own template.
            return q.properties_all.get("template").map(|p| p.value.clone());
        }
        if TEMPLATE_INHERITED.contains(&prop)
            && let Some(template) = q
                .properties_all
                .get("template")
                .filter(|p| !p.value.is_empty())
            && let Some(value) = self
                .qube(&template.value)
                .and_then(|t| t.properties_all.get(prop))
        {
            return Some(value.value.clone());
        }
        let global = global_source(prop)?;
        self.data
            .global_properties
            .get(global)
            .map(|p| p.value.clone())
    }

    /// The value `prop` of `qube` returns to on `Reset` (`None`: no default).
    pub fn default_value(&self, qube: &str, prop: &str) -> Option<String> {
        self.inherited_default(qube, prop).or_else(|| {
            self.qube(qube)
                .and_then(|q| q.property_defaults.get(prop).cloned().flatten())
        })
    }

    /// Recompute the inherited values of properties at their default after a
    /// change (a template's or a global property), templates before the
    /// qubes based on them.
    pub fn refresh_inherited(&mut self) {
        // Each round settles one more level of template chains.
        for _ in 0..=self.data.vms.len() {
            let mut changes = Vec::new();
            for q in &self.data.vms {
                for (prop, p) in &q.properties_all {
                    if !p.default {
                        continue;
                    }
                    if let Some(v) = self.inherited_default(&q.name, prop)
                        && v != p.value
                    {
                        changes.push((q.name.clone(), prop.clone(), v));
                    }
                }
            }
            if changes.is_empty() {
                return;
            }
            for (name, prop, value) in changes {
                if let Some(p) = self
                    .qube_mut(&name)
                    .and_then(|q| q.properties_all.get_mut(&prop))
                {
                    p.value = value;
                }
            }
        }
    }
}

/// Which qube property inherits which global property (value at default).
pub(crate) fn inherited_from_global(global: &str) -> Option<&'static str> {
    match global {
        "default_dispvm" => Some("default_dispvm"),
        "default_netvm" => Some("netvm"),
        "default_kernel" => Some("kernel"),
        "default_audiovm" => Some("audiovm"),
        "default_guivm" => Some("guivm"),
        "management_dispvm" => Some("management_dispvm"),
        "default_qrexec_timeout" => Some("qrexec_timeout"),
        "default_shutdown_timeout" => Some("shutdown_timeout"),
        _ => None,
    }
}

/// Type and default of a property of a class in the recorded qubesd
/// (qubes-core-admin 4.4, offline mode); `None` default = computed per qube
/// (name, qid, uuid, label, icon, klass, template, global-derived values) or none.
fn class_property(class: &str, name: &str) -> Option<(&'static str, Option<&'static str>)> {
    class_properties(class)
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, kind, default)| (*kind, *default))
}

type PropSpec = (&'static str, &'static str, Option<&'static str>);

/// Properties qubesd loads late (`load_stage=4`); `sorted(properties)` puts
/// them after all others, which is the order of `GetAll`.
const LOAD_STAGE_4: [&str; 9] = [
    "appvm_default_bootmode",
    "audiovm",
    "bootmode",
    "default_dispvm",
    "guivm",
    "kernelopts",
    "management_dispvm",
    "netvm",
    "template",
];

const ADMINVM_PROPS: &[PropSpec] = &[
    ("devices_denied", "str", Some("")),
    ("icon", "str", None),
    ("include_in_backups", "bool", Some("True")),
    ("keyboard_layout", "str", Some("us++")),
    ("klass", "str", None),
    ("label", "label", None),
    ("maxmem", "int", Some("4096")),
    ("name", "str", None),
    ("qid", "int", None),
    ("updateable", "bool", Some("True")),
    ("uuid", "str", None),
    ("default_dispvm", "vm", None),
];

const QUBESVM_PROPS: &[PropSpec] = &[
    ("audiovm", "vm", None),
    ("autostart", "bool", Some("False")),
    ("backup_timestamp", "int", Some("")),
    ("bootmode", "str", Some("default")),
    ("debug", "bool", Some("False")),
    ("default_dispvm", "vm", None),
    ("default_user", "str", Some("user")),
    ("devices_denied", "str", Some("")),
    ("dns", "str", Some("")),
    ("gateway", "str", Some("")),
    ("gateway6", "str", Some("")),
    ("guivm", "vm", None),
    ("icon", "str", None),
    ("include_in_backups", "bool", Some("True")),
    ("installed_by_rpm", "bool", Some("False")),
    ("ip", "str", Some("")),
    ("ip6", "str", Some("")),
    ("kernel", "str", None),
    ("kernelopts", "str", Some("swiotlb=2048")),
    ("keyboard_layout", "str", Some("us++")),
    ("klass", "str", None),
    ("label", "label", None),
    ("mac", "str", Some("00:16:3e:5e:6c:00")),
    ("management_dispvm", "vm", None),
    ("maxmem", "int", Some("0")),
    ("memory", "int", Some("400")),
    ("name", "str", None),
    ("netvm", "vm", None),
    ("provides_network", "bool", Some("False")),
    ("qid", "int", None),
    ("qrexec_timeout", "int", None),
    ("shutdown_timeout", "int", None),
    ("start_time", "str", Some("")),
    ("stubdom_mem", "int", Some("")),
    ("stubdom_uuid", "str", Some("")),
    ("stubdom_xid", "int", Some("-1")),
    ("updateable", "bool", None),
    ("uuid", "str", None),
    ("vcpus", "int", Some("2")),
    ("virt_mode", "str", Some("pvh")),
    ("visible_gateway", "str", Some("")),
    ("visible_gateway6", "str", Some("")),
    ("visible_ip", "str", Some("")),
    ("visible_ip6", "str", Some("")),
    ("visible_netmask", "str", Some("")),
    ("xid", "int", Some("-1")),
];

const APPVM_EXTRA: &[PropSpec] = &[
    ("template", "vm", None),
    ("template_for_dispvms", "bool", Some("False")),
];
const TEMPLATEVM_EXTRA: &[PropSpec] = &[("appvm_default_bootmode", "str", Some("default"))];
const STANDALONEVM_EXTRA: &[PropSpec] = &[("template_for_dispvms", "bool", Some("False"))];
const DISPVM_EXTRA: &[PropSpec] = &[
    ("auto_cleanup", "bool", Some("False")),
    ("dispid", "int", None),
    ("is_preload", "bool", Some("False")),
    ("template", "vm", None),
];

fn class_properties(class: &str) -> Vec<PropSpec> {
    if class == "AdminVM" {
        return ADMINVM_PROPS.to_vec();
    }
    let extra: &[PropSpec] = match class {
        "AppVM" => APPVM_EXTRA,
        "TemplateVM" => TEMPLATEVM_EXTRA,
        "StandaloneVM" => STANDALONEVM_EXTRA,
        "DispVM" => DISPVM_EXTRA,
        _ => &[],
    };
    let mut all: Vec<PropSpec> = QUBESVM_PROPS.iter().chain(extra).copied().collect();
    all.sort_by_key(|(n, _, _)| (LOAD_STAGE_4.contains(n), *n));
    all
}

/// The icon qubesd derives from class and label (`appvm-green`, …).
pub(crate) fn icon_for(class: &str, label: &str, template_for_dispvms: bool) -> String {
    let prefix = match class {
        "AdminVM" => "adminvm",
        "TemplateVM" => "templatevm",
        "StandaloneVM" => "standalonevm",
        "DispVM" => "dispvm",
        // An AppVM that is a disposable template shows the template icon.
        _ if template_for_dispvms => "templatevm",
        _ => "appvm",
    };
    format!("{prefix}-{label}")
}

/// What a new qube of `class` looks like in `world` (property set and
/// defaults), for `admin.vm.Create.*` and the builder. Uses a qube of the same
/// class already in the world as the model when there is one, so the property
/// set matches the qubesd the world was recorded from.
pub(crate) struct NewQube<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub label: &'a str,
    pub template: Option<&'a str>,
    pub uuid: String,
    pub qid: u32,
}

pub(crate) fn new_qube(world: &WorldData, spec: NewQube<'_>) -> Qube {
    let global = |name: &str| {
        world
            .global_properties
            .get(name)
            .map(|p| p.value.clone())
            .unwrap_or_default()
    };
    let model = world.vms.iter().find(|q| q.class == spec.class);
    let specs: Vec<(String, String, Option<String>)> = match model {
        Some(m) => m
            .properties_all
            .iter()
            .map(|(n, p)| {
                let d = m.property_defaults.get(n).cloned().flatten();
                (n.clone(), p.kind.clone(), d)
            })
            .collect(),
        None => class_properties(spec.class)
            .into_iter()
            .map(|(n, k, d)| (n.to_owned(), k.to_owned(), d.map(str::to_owned)))
            .collect(),
    };
    let mut properties_all = IndexMap::new();
    let mut property_defaults = IndexMap::new();
    let mut explicit = IndexMap::new();
    for (name, kind, model_default) in specs {
        // (value, is_default, default-after-reset)
        let (value, is_default, default): (String, bool, Option<String>) = match name.as_str() {
            "name" => (spec.name.to_owned(), spec.class == "AdminVM", None),
            "qid" => (spec.qid.to_string(), spec.class == "AdminVM", None),
            "uuid" => (spec.uuid.clone(), spec.class == "AdminVM", None),
            "label" => (spec.label.to_owned(), false, None),
            "klass" => (spec.class.to_owned(), true, Some(spec.class.to_owned())),
            "icon" => {
                let icon = icon_for(spec.class, spec.label, false);
                (icon.clone(), true, Some(icon))
            }
            "template" => (spec.template.unwrap_or_default().to_owned(), false, None),
            "dispid" => (format!("{}", 50 + spec.qid), false, None),
            "updateable" => {
                let v = if matches!(spec.class, "TemplateVM" | "StandaloneVM" | "AdminVM") {
                    "True"
                } else {
                    "False"
                };
                (v.to_owned(), true, Some(v.to_owned()))
            }
            "kernel" | "default_dispvm" | "management_dispvm" | "netvm" | "qrexec_timeout"
            | "shutdown_timeout" | "audiovm" | "guivm" => {
                let global_name = match name.as_str() {
                    "kernel" => "default_kernel",
                    "netvm" => "default_netvm",
                    "qrexec_timeout" => "default_qrexec_timeout",
                    "shutdown_timeout" => "default_shutdown_timeout",
                    "audiovm" => "default_audiovm",
                    "guivm" => "default_guivm",
                    other => other,
                };
                let v = global(global_name);
                (v.clone(), true, Some(v))
            }
            _ => {
                let d = model_default.unwrap_or_default();
                (d.clone(), true, Some(d))
            }
        };
        if !is_default {
            explicit.insert(name.clone(), value.clone());
        }
        property_defaults.insert(name.clone(), default);
        properties_all.insert(
            name,
            Property {
                default: is_default,
                kind,
                value,
            },
        );
    }
    let power_state = if spec.class == "AdminVM" {
        "Running"
    } else {
        "Halted"
    };
    Qube {
        name: spec.name.to_owned(),
        class: spec.class.to_owned(),
        uuid: Some(spec.uuid),
        template: spec.template.map(str::to_owned),
        label: spec.label.to_owned(),
        tags: Vec::new(),
        features: IndexMap::new(),
        properties_explicit: explicit,
        power_state: power_state.to_owned(),
        current_state: None,
        properties_all,
        property_defaults,
    }
}

/// A fresh random uuid (version 4), from the kernel's random source.
pub(crate) fn random_uuid() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let read = fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom: fall back to the clock and pid (still unique here).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = (nanos ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The labels of a default Qubes installation, in index order.
pub const DEFAULT_LABELS: [(&str, &str); 8] = [
    ("red", "0xcc0000"),
    ("orange", "0xf57900"),
    ("yellow", "0xedd400"),
    ("green", "0x73d216"),
    ("gray", "0x555555"),
    ("blue", "0x3465a4"),
    ("purple", "0x75507b"),
    ("black", "0x000000"),
];

/// Description of one qube for [`WorldBuilder`].
#[derive(Debug, Clone)]
pub struct QubeSpec {
    name: String,
    class: String,
    label: String,
    template: Option<String>,
    features: Vec<(String, String)>,
    tags: Vec<String>,
    properties: Vec<(String, String)>,
    running: bool,
}

impl QubeSpec {
    fn new(name: &str, class: &str) -> QubeSpec {
        QubeSpec {
            name: name.to_owned(),
            class: class.to_owned(),
            label: "red".to_owned(),
            template: None,
            features: Vec::new(),
            tags: Vec::new(),
            properties: Vec::new(),
            running: false,
        }
    }
    /// An AppVM based on `template`.
    pub fn app(name: &str, template: &str) -> QubeSpec {
        QubeSpec::new(name, "AppVM").template(template)
    }
    /// A TemplateVM.
    pub fn template_vm(name: &str) -> QubeSpec {
        QubeSpec::new(name, "TemplateVM")
    }
    /// A StandaloneVM.
    pub fn standalone(name: &str) -> QubeSpec {
        QubeSpec::new(name, "StandaloneVM")
    }
    /// An AppVM that is a disposable template (`template_for_dispvms=True`).
    pub fn dvm_template(name: &str, template: &str) -> QubeSpec {
        QubeSpec::app(name, template).property("template_for_dispvms", "True")
    }
    /// A DispVM based on the disposable template `dvm`.
    pub fn disposable(name: &str, dvm: &str) -> QubeSpec {
        QubeSpec::new(name, "DispVM").template(dvm)
    }
    pub fn label(mut self, label: &str) -> QubeSpec {
        self.label = label.to_owned();
        self
    }
    pub fn template(mut self, template: &str) -> QubeSpec {
        self.template = Some(template.to_owned());
        self
    }
    /// A feature; features keep the order they are given in.
    pub fn feature(mut self, name: &str, value: &str) -> QubeSpec {
        self.features.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn tag(mut self, tag: &str) -> QubeSpec {
        self.tags.push(tag.to_owned());
        self
    }
    /// An explicitly set property (value as qubesd prints it).
    pub fn property(mut self, name: &str, value: &str) -> QubeSpec {
        self.properties.push((name.to_owned(), value.to_owned()));
        self
    }
    /// Start the qube in the `Running` state.
    pub fn running(mut self) -> QubeSpec {
        self.running = true;
        self
    }
}

/// Builds worlds for tests, the demo and benchmarks without hand-written JSON.
///
/// ```
/// use qcs_sim::world::{World, QubeSpec};
/// let world = World::builder()
///     .qube(QubeSpec::template_vm("fedora").label("black").feature("os", "Linux"))
///     .qube(QubeSpec::app("work", "fedora").label("blue").tag("config-managed"))
///     .build()
///     .unwrap();
/// assert_eq!(world.sorted_names(), ["dom0", "fedora", "work"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct WorldBuilder {
    qubes: Vec<QubeSpec>,
    policy: Vec<(String, String)>,
    globals: Vec<(String, String)>,
    kernels: Vec<String>,
}

impl WorldBuilder {
    fn new() -> WorldBuilder {
        WorldBuilder::default()
    }
    pub fn qube(mut self, spec: QubeSpec) -> WorldBuilder {
        self.qubes.push(spec);
        self
    }
    /// A file of the dom0 policy directory (also used by qubesd's filtering).
    pub fn policy_file(mut self, name: &str, text: &str) -> WorldBuilder {
        self.policy.push((name.to_owned(), text.to_owned()));
        self
    }
    /// A kernel version installed in dom0 (the default kernel is installed
    /// implicitly).
    pub fn kernel(mut self, version: &str) -> WorldBuilder {
        self.kernels.push(version.to_owned());
        self
    }

    /// An explicitly set global property (`default_template`, …).
    pub fn global_property(mut self, name: &str, value: &str) -> WorldBuilder {
        self.globals.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The world, in memory.
    pub fn build(self) -> Result<World, SimError> {
        let mut data = WorldData {
            set: None,
            description: Some("built by qcs_sim::world::WorldBuilder".into()),
            vms: Vec::new(),
            global_properties: default_global_properties(),
            global_properties_explicit: IndexMap::new(),
            global_property_defaults: IndexMap::new(),
            labels: DEFAULT_LABELS
                .iter()
                .enumerate()
                .map(|(i, (name, color))| Label {
                    name: (*name).to_owned(),
                    color: (*color).to_owned(),
                    index: i as u32 + 1,
                })
                .collect(),
            qubesd_policy: self.policy.into_iter().collect(),
            creation_calls: Vec::new(),
            installed_kernels: self.kernels,
        };
        for (name, value) in &self.globals {
            let prop = data.global_properties.get_mut(name).ok_or_else(|| {
                SimError::WorldInvalid(format!("unknown global property {name:?}"))
            })?;
            prop.default = false;
            prop.value = value.clone();
            data.global_properties_explicit
                .insert(name.clone(), value.clone());
        }
        let dom0 = new_qube(
            &data,
            NewQube {
                name: "dom0",
                class: "AdminVM",
                label: "black",
                template: None,
                uuid: "00000000-0000-0000-0000-000000000000".into(),
                qid: 0,
            },
        );
        data.vms.push(dom0);
        for (i, spec) in self.qubes.into_iter().enumerate() {
            if data.vms.iter().any(|q| q.name == spec.name) {
                return Err(SimError::WorldInvalid(format!(
                    "qube {:?} given twice",
                    spec.name
                )));
            }
            if data.labels.iter().all(|l| l.name != spec.label) {
                return Err(SimError::WorldInvalid(format!(
                    "unknown label {:?}",
                    spec.label
                )));
            }
            let mut qube = new_qube(
                &data,
                NewQube {
                    name: &spec.name,
                    class: &spec.class,
                    label: &spec.label,
                    template: spec.template.as_deref(),
                    uuid: random_uuid(),
                    qid: i as u32 + 1,
                },
            );
            for (k, v) in spec.features {
                qube.features.insert(k, v);
            }
            qube.tags = spec.tags;
            qube.tags
                .extend(["audiovm-dom0", "created-by-dom0", "guivm-dom0"].map(String::from));
            for (name, value) in spec.properties {
                let prop = qube.properties_all.get_mut(&name).ok_or_else(|| {
                    SimError::WorldInvalid(format!("{} has no property {name:?}", spec.class))
                })?;
                prop.default = false;
                prop.value = value.clone();
                qube.properties_explicit.insert(name, value);
            }
            let tfd = qube
                .properties_all
                .get("template_for_dispvms")
                .is_some_and(|p| p.value == "True");
            if let Some(icon) = qube.properties_all.get_mut("icon") {
                icon.value = icon_for(&qube.class, &qube.label, tfd);
                qube.property_defaults
                    .insert("icon".into(), Some(icon.value.clone()));
            }
            if spec.running {
                qube.power_state = "Running".into();
            }
            qube.current_state = Some(format!(
                "mem=0 mem_static_max=0 cputime=0 power_state={}",
                qube.power_state
            ));
            data.vms.push(qube);
        }
        World::from_data(data)
    }

    /// The world, written to (and bound to) the world directory `dir`.
    pub fn create(self, dir: &Path) -> Result<World, SimError> {
        self.build()?.create_dir(dir)
    }
}

fn default_global_properties() -> IndexMap<String, Property> {
    let p = |kind: &str, value: &str| Property {
        default: true,
        kind: kind.to_owned(),
        value: value.to_owned(),
    };
    [
        ("check_updates_vm", p("bool", "True")),
        ("clockvm", p("vm", "")),
        ("default_audiovm", p("vm", "dom0")),
        ("default_dispvm", p("vm", "")),
        ("default_guivm", p("vm", "dom0")),
        ("default_kernel", p("str", "")),
        ("default_netvm", p("vm", "")),
        ("default_pool", p("str", "varlibqubes")),
        ("default_pool_kernel", p("str", "linux-kernel")),
        ("default_pool_private", p("str", "varlibqubes")),
        ("default_pool_root", p("str", "varlibqubes")),
        ("default_pool_volatile", p("str", "varlibqubes")),
        ("default_qrexec_timeout", p("int", "60")),
        ("default_shutdown_timeout", p("int", "60")),
        ("default_template", p("vm", "")),
        ("management_dispvm", p("vm", "")),
        ("maxmem", p("int", "0")),
        ("no_cpus", p("int", "2")),
        ("stats_interval", p("int", "3")),
        ("updatevm", p("vm", "")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
