//! The qube view: live state from the Admin API (cached, refreshed on events) joined
//! with the store's settings, sync state and the persistence analysis; persistence
//! fixes; reactions to `admin.Events`.
//!
//! The live view costs `1 + 3N + F` Admin API calls for N qubes (`admin.vm.List`; per
//! qube `admin.vm.property.GetAll` — or, where policy denies it, `property.Get` of
//! `label` and `template` —, `admin.vm.tag.List` (for assignment rules by tag) and
//! `admin.vm.feature.List`; one `feature.Get` per
//! custom-persist feature F of an AppVM, the only class whose persistence depends on
//! them), all in one pool of [`ADMIN_READS_AT_ONCE`] calls at a time. It is fetched when
//! the event subscription starts and kept current by events: an event marks its qube,
//! and the next view fetches the list (states, added and removed qubes) and only the
//! marked qubes' details.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use qcs_core::persistence::{self, QubeClass, QubesRelease, Verdict};
use qcs_core::store::{CurrentFile, QubeFileState, SeenState};
use qcs_protocol::{RelativePath, VmName, validate_vm_name};
use qubesadmin::{EventMessage, EventsOptions, PowerState};

use super::services::ServiceError;
use super::{Backend, BackendError, Result, lock};
use crate::client::types::{
    PathPersistence, ProfileSync, QubeList, QubeView, SyncState, Verdict as WireVerdict,
};
use crate::client::{Code, Reason};

/// What the Admin API says about one qube.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveQube {
    pub name: String,
    pub class: String,
    pub power_state: String,
    pub label: String,
    pub template: Option<String>,
    /// The features the persistence analysis of this qube depends on (name → value):
    /// for an AppVM `service.custom-persist` and `custom-persist.*`; none for the other
    /// classes, whose verdict does not depend on features. `None` when they could not
    /// be read.
    pub persist_features: Option<BTreeMap<String, String>>,
    /// The qube's tags (`admin.vm.tag.List`, sorted); `None` when they could not be read
    /// (then no tag rule covers the qube: fail closed).
    pub tags: Option<Vec<String>>,
}

/// The cached Admin API view.
#[derive(Debug, Default)]
pub struct LiveView {
    pub qubes: Vec<LiveQube>,
    pub release: Option<QubesRelease>,
}

/// Admin API reads of the live view in flight at once. Each waits mostly on qrexec's
/// per-call latency (qubesd answers reads at once), so this is wider than the bound
/// on qubes talked to at once for transfers.
pub const ADMIN_READS_AT_ONCE: usize = 32;

/// The live view and what events changed since it was fetched.
#[derive(Debug, Default)]
pub struct LiveCache {
    view: Option<Arc<LiveView>>,
    /// Qubes whose details changed, with the event count when they were marked.
    dirty: BTreeMap<String, u64>,
    /// Events seen so far (marks made before a refresh started are cleared by it).
    events: u64,
    /// An event changed power states or the set of qubes: the list is fetched again
    /// (with its value of `events` when that was last marked).
    list_stale: Option<u64>,
    /// `admin.vm.property.GetAll` was refused once: use `property.Get` from then on.
    get_all_denied: Arc<AtomicBool>,
    /// Held while a refresh runs: a second caller waits for it instead of fetching
    /// the same again (e.g. the first request while the start-up fetch runs).
    refreshing: Arc<std::sync::Mutex<()>>,
}

/// One qube's details: label, template, the features its persistence depends on, tags.
type Details = (
    String,
    Option<String>,
    Option<BTreeMap<String, String>>,
    Option<Vec<String>>,
);

fn power_state_text(state: &PowerState) -> String {
    match state {
        PowerState::Halted => "Halted",
        PowerState::Transient => "Transient",
        PowerState::Running => "Running",
        PowerState::Paused => "Paused",
        PowerState::Suspended => "Suspended",
        PowerState::Halting => "Halting",
        PowerState::Dying => "Dying",
        PowerState::Crashed => "Crashed",
        PowerState::NotAvailable => "NA",
        PowerState::Unknown => "",
        PowerState::Other(text) => text,
    }
    .to_owned()
}

/// Label and template of `vm`: one `admin.vm.property.GetAll`, or (once refused) the
/// two `property.Get`s.
fn fetch_props(vm: &qubesadmin::Vm, get_all_denied: &AtomicBool) -> (String, Option<String>) {
    let wants_template = matches!(vm.class(), "AppVM" | "DispVM");
    if !get_all_denied.load(Ordering::Relaxed) {
        let reply = vm
            .app()
            .qubesd_call(vm.name(), "admin.vm.property.GetAll", "", b"");
        match reply {
            Ok(data) => {
                let method = "admin.vm.property.GetAll";
                let parsed = String::from_utf8(data)
                    .ok()
                    .and_then(|text| qubesadmin::app::parse_property_get_all(method, &text).ok());
                if let Some(all) = parsed {
                    let name = |p: &str| all.get(p).and_then(|p| p.as_name()).map(str::to_owned);
                    let template = wants_template.then(|| name("template")).flatten();
                    return (name("label").unwrap_or_default(), template);
                }
            }
            Err(e) if e.is_access_denied() => get_all_denied.store(true, Ordering::Relaxed),
            Err(_) => {}
        }
    }
    let get = |name: &str| {
        vm.property(name)
            .ok()
            .and_then(|p| p.as_name().map(str::to_owned))
    };
    let template = wants_template.then(|| get("template")).flatten();
    (get("label").unwrap_or_default(), template)
}

/// The custom-persist features of an AppVM: `feature.List`, then the `Get`s of the
/// relevant ones at once. Other classes need none.
fn fetch_persist_features(vm: &qubesadmin::Vm) -> Option<BTreeMap<String, String>> {
    if vm.class() != "AppVM" {
        return Some(BTreeMap::new());
    }
    let names: Vec<String> = vm
        .features()
        .list()
        .ok()?
        .into_iter()
        .filter(|n| n == persistence::SERVICE_FEATURE || n.starts_with(persistence::ENTRY_PREFIX))
        .collect();
    let values =
        qubesadmin::parallel::map_bounded(&names, names.len(), |name| vm.features().get(name));
    let mut map = BTreeMap::new();
    for (name, value) in names.into_iter().zip(values) {
        // A feature removed between the List and its Get is left out.
        if let Some(value) = value.ok()? {
            map.insert(name, value);
        }
    }
    Some(map)
}

/// Details of every qube in `vms`, in order: props and features of all qubes as one
/// pool of tasks.
fn fetch_details(vms: &[&qubesadmin::Vm], get_all_denied: &AtomicBool) -> Vec<Details> {
    enum Part {
        Props(String, Option<String>),
        Persist(Option<BTreeMap<String, String>>),
        Tags(Option<Vec<String>>),
    }
    let tasks: Vec<(usize, u8)> = (0..vms.len())
        .flat_map(|i| [(i, 0), (i, 1), (i, 2)])
        .collect();
    let parts =
        qubesadmin::parallel::map_bounded(&tasks, ADMIN_READS_AT_ONCE, |(i, part)| match part {
            0 => {
                let (label, template) = fetch_props(vms[*i], get_all_denied);
                Part::Props(label, template)
            }
            1 => Part::Persist(fetch_persist_features(vms[*i])),
            _ => Part::Tags(vms[*i].tags().list().ok()),
        });
    let mut details: Vec<Details> = vms
        .iter()
        .map(|_| (String::new(), None, None, None))
        .collect();
    for ((i, _), part) in tasks.into_iter().zip(parts) {
        match part {
            Part::Props(label, template) => {
                details[i].0 = label;
                details[i].1 = template;
            }
            Part::Persist(features) => details[i].2 = features,
            Part::Tags(tags) => details[i].3 = tags,
        }
    }
    details
}

impl Backend {
    /// The live view: cached; otherwise `admin.vm.List` and the details of the qubes
    /// that are new or were marked by events (all of them the first time), fetched in
    /// one bounded pool (see the module doc).
    pub fn live_view(&self) -> Result<Arc<LiveView>> {
        let refreshing = Arc::clone(&lock(&self.live).refreshing);
        let _one_refresh = lock(&refreshing);
        let (previous, dirty, started_at, get_all_denied) = {
            let cache = lock(&self.live);
            if let Some(view) = &cache.view
                && cache.dirty.is_empty()
                && cache.list_stale.is_none()
            {
                return Ok(Arc::clone(view));
            }
            (
                cache.view.clone(),
                cache.dirty.keys().cloned().collect::<BTreeSet<String>>(),
                cache.events,
                Arc::clone(&cache.get_all_denied),
            )
        };
        let vms: Vec<qubesadmin::Vm> = self
            .admin
            .domains()?
            .into_iter()
            .filter(|vm| vm.class() != "AdminVM")
            .collect();
        let release = if vms.iter().any(|vm| vm.uuid().is_some()) {
            QubesRelease::R4_3
        } else {
            QubesRelease::R4_2
        };
        let known = |vm: &qubesadmin::Vm| {
            previous.as_ref().and_then(|view| {
                view.qubes
                    .iter()
                    .find(|q| q.name == vm.name() && q.class == vm.class())
                    .filter(|_| !dirty.contains(vm.name()))
            })
        };
        let to_fetch: Vec<&qubesadmin::Vm> = vms.iter().filter(|vm| known(vm).is_none()).collect();
        let mut fetched = fetch_details(&to_fetch, &get_all_denied).into_iter();
        let mut qubes = Vec::with_capacity(vms.len());
        for vm in &vms {
            let (label, template, persist_features, tags) = match known(vm) {
                Some(q) => (
                    q.label.clone(),
                    q.template.clone(),
                    q.persist_features.clone(),
                    q.tags.clone(),
                ),
                None => fetched.next().unwrap_or_default(),
            };
            qubes.push(LiveQube {
                name: vm.name().to_owned(),
                class: vm.class().to_owned(),
                power_state: power_state_text(vm.power_state()),
                label,
                template,
                persist_features,
                tags,
            });
        }
        let view = Arc::new(LiveView {
            qubes,
            release: Some(release),
        });
        let mut cache = lock(&self.live);
        // Marks made while this refresh ran may describe changes it did not see.
        cache.dirty.retain(|_, marked_at| *marked_at > started_at);
        cache.list_stale = cache.list_stale.filter(|marked_at| *marked_at > started_at);
        cache.view = Some(Arc::clone(&view));
        Ok(view)
    }

    /// Drops the cached live view: everything is fetched again.
    pub fn invalidate_live(&self) {
        let mut cache = lock(&self.live);
        cache.events += 1;
        cache.view = None;
    }

    /// Marks one qube's details as changed (an event about it), or (`None`) only the
    /// list (power states, qubes added or removed).
    pub(super) fn mark_live(&self, qube: Option<&str>) {
        let mut cache = lock(&self.live);
        cache.events += 1;
        let at = cache.events;
        match qube {
            Some(qube) => {
                cache.dirty.insert(qube.to_owned(), at);
            }
            None => cache.list_stale = Some(at),
        }
    }

    /// Fetches the live view in the background (at start, with the event subscription),
    /// so the first client request finds it ready.
    fn warm_live_view(self: &Arc<Self>) {
        let backend = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("live-view".to_owned())
            .spawn(move || {
                if let Err(e) = backend.live_view() {
                    eprintln!("qubes-config-syncd: cannot read the qubes: {e}");
                }
            });
        if let Err(e) = spawned {
            eprintln!("qubes-config-syncd: cannot start reading the qubes: {e}");
        }
    }

    /// Every qube (or only `only`), joined with the store.
    pub fn list_qubes(&self, only: Option<&VmName>) -> Result<QubeList> {
        let (live, admin_error) = match self.live_view() {
            Ok(view) => (view, None),
            Err(e) => (Arc::new(LiveView::default()), Some(e.reason())),
        };
        // Before the store is locked: it locks the store itself.
        let effective = self.effective_all(&live)?;
        let store = self.store();
        let settings: BTreeMap<String, qcs_core::store::QubeSettings> = store
            .qubes()?
            .into_iter()
            .map(|s| (s.qube.to_string(), s))
            .collect();
        let mut pending: BTreeMap<String, u32> = BTreeMap::new();
        for p in store.proposals(Some(qcs_core::store::ProposalStatus::Pending))? {
            *pending.entry(p.source_qube.to_string()).or_default() += 1;
        }
        let mut names: BTreeSet<String> = live.qubes.iter().map(|q| q.name.clone()).collect();
        names.extend(settings.keys().cloned());
        if let Some(only) = only {
            if !names.contains(only.as_str()) {
                return Err(BackendError::NotFound(
                    Reason::new(Code::QubeUnknown).arg("qube", only),
                ));
            }
            names = BTreeSet::from([only.to_string()]);
        }
        let mut profile_files: BTreeMap<String, (u64, Vec<CurrentFile>, Templated)> =
            BTreeMap::new();
        let mut qubes = Vec::new();
        for name in names {
            let live_qube = live.qubes.iter().find(|q| q.name == name);
            let config = settings.get(&name);
            let states = match config {
                Some(config) => store.qube_file_states(&config.qube)?,
                None => Vec::new(),
            };
            let (assigned, may_propose) = match config {
                Some(c) => (c.assigned.as_slice(), c.may_propose.as_slice()),
                None => (&[][..], &[][..]),
            };
            let mut profiles = Vec::new();
            let mut persistence_view = Vec::new();
            let effective_here = effective
                .iter()
                .find(|(q, _)| q.as_str() == name)
                .map(|(_, e)| e.as_slice())
                .unwrap_or_default();
            for entry in effective_here {
                let profile = &entry.profile;
                if !profile_files.contains_key(profile.as_str()) {
                    let generation = store.profile(profile)?.map_or(0, |p| p.generation);
                    let files = store.current_files(profile)?;
                    let templated = store.templated_files(profile)?;
                    profile_files
                        .insert(profile.as_str().to_owned(), (generation, files, templated));
                }
                let Some((generation, files, templated)) = profile_files.get(profile.as_str())
                else {
                    continue;
                };
                // A templated file is compared as rendered for this qube now (its facts
                // from the live view, the store's variables): a variable, tag or rule
                // change that changes the rendered text makes the qube outdated.
                let facts = live_qube.and_then(live_facts);
                let vars = match (&facts, templated.is_empty()) {
                    (Some(_), false) => match validate_vm_name(&name) {
                        Ok(qube) => Some(store.variables_for(&qube, profile)?),
                        Err(_) => None,
                    },
                    _ => None,
                };
                let render = |file: &CurrentFile| -> Rendered {
                    match (&facts, &vars) {
                        (Some(facts), Some(vars)) => {
                            match qcs_core::template::render_file(&file.bytes, facts, vars) {
                                Ok(bytes) => Rendered::Sha256(qcs_protocol::sha256_hex(&bytes)),
                                Err(_) => Rendered::Fails,
                            }
                        }
                        _ => Rendered::NoFacts,
                    }
                };
                let mut sync = sync_state(
                    profile.as_str(),
                    *generation,
                    files,
                    templated,
                    &states,
                    &render,
                );
                sync.sources = entry.sources();
                profiles.push(sync);
                for file in files {
                    persistence_view.push(path_persistence(&name, live_qube, live.release, file));
                }
            }
            qubes.push(QubeView {
                class: live_qube.map(|q| q.class.clone()).unwrap_or_default(),
                power_state: live_qube.map(|q| q.power_state.clone()).unwrap_or_default(),
                label: live_qube.map(|q| q.label.clone()).unwrap_or_default(),
                template: live_qube.and_then(|q| q.template.clone()),
                auto_apply: config.is_some_and(|c| c.auto_apply),
                assigned: assigned.iter().map(|p| p.to_string()).collect(),
                may_propose: may_propose.iter().map(|p| p.to_string()).collect(),
                profiles,
                persistence: persistence_view,
                pending_proposals: pending.get(&name).copied().unwrap_or(0),
                name,
            });
        }
        Ok(QubeList {
            version: crate::client::types::API_VERSION,
            qubes,
            admin_error,
        })
    }

    /// Makes `path` persist in `qube`: sets `custom-persist.<key>` through the Admin API
    /// when dom0 policy allows it; returns whether it did and the equivalent dom0 command.
    pub fn fix_persistence(&self, qube: &VmName, rel: &RelativePath) -> Result<(bool, String)> {
        self.check_target(qube)?;
        // The file's mode in an assigned profile decides the pre-created file's mode.
        let mode = {
            let profiles = self.effective_profiles(qube)?;
            let store = self.store();
            let mut mode = 0o644;
            for profile in &profiles {
                if let Some(file) = store.current_file(profile, rel)? {
                    mode = file.mode.bits();
                }
            }
            mode
        };
        let fix = persistence::fix_for(qube.as_str(), rel, mode).map_err(|why| {
            BackendError::Refused(Reason::new(Code::PersistNoFix).arg("detail", why))
        })?;
        let vm = self.admin.vm_blind(qube.as_str());
        match vm.features().set(&fix.feature, &fix.value) {
            Ok(()) => {
                self.invalidate_live();
                self.notifier().qube_changed(qube.as_str());
                Ok((true, fix.dom0_command))
            }
            // Denied (the default policy grants no feature writes) or failed: the user
            // makes the same change in dom0.
            Err(_) => Ok((false, fix.dom0_command)),
        }
    }

    /// Checks that `qube` may be a target or carry settings: a valid name of a qube the
    /// Admin API lists, not dom0 (nor another admin qube) and not the config qube
    /// itself. When the qubes cannot be listed the name is refused (fail closed).
    pub fn check_target(&self, qube: &VmName) -> Result<()> {
        let qube = qube.as_str();
        let shown = || qube.to_owned();
        if qube == "dom0" {
            return Err(BackendError::Refused(
                Reason::new(Code::QubeAdmin).arg("qube", qube),
            ));
        }
        if qube == self.config.config_qube {
            return Err(BackendError::Refused(
                Reason::new(Code::QubeConfig).arg("qube", qube),
            ));
        }
        let view = self.live_view().map_err(|e| {
            BackendError::Refused(
                Reason::new(Code::QubeListUnavailable).arg("detail", e.reason().english()),
            )
        })?;
        if view.qubes.iter().any(|q| q.name == qube) {
            return Ok(());
        }
        // The live view leaves admin qubes out; ask once more to tell them apart from
        // names that do not exist (and to see a qube created since the last refresh).
        match self.admin.domains() {
            Ok(vms) => match vms.iter().find(|vm| vm.name() == qube) {
                Some(vm) if vm.class() == "AdminVM" => Err(BackendError::Refused(
                    Reason::new(Code::QubeAdmin).arg("qube", qube),
                )),
                Some(_) => {
                    self.mark_live(None);
                    Ok(())
                }
                None => Err(BackendError::NotFound(
                    Reason::new(Code::QubeUnknown).arg("qube", shown()),
                )),
            },
            Err(e) => Err(BackendError::Refused(
                Reason::new(Code::QubeListUnavailable).arg("detail", e),
            )),
        }
    }

    /// The reason of a failure that concerned `qube`; a qrexec refusal is told apart
    /// (unknown qube, qube without the managed tag, or dom0 policy denied it).
    pub(crate) fn reason_for(&self, qube: &VmName, error: &BackendError) -> Reason {
        let qube = qube.as_str();
        match error {
            BackendError::Service(ServiceError::Denied { service, .. }) => {
                self.explain_denied(qube, service)
            }
            other => other.reason(),
        }
    }

    /// Why qrexec refused a call into `qube`: qrexec itself does not say, so ask the
    /// Admin API whether the qube exists, runs, and carries the tag the shipped policy
    /// needs.
    fn explain_denied(&self, qube: &str, service: &str) -> Reason {
        let denied = Reason::new(Code::QrexecDenied)
            .arg("qube", qube)
            .arg("service", service);
        let Ok(vms) = self.admin.domains() else {
            return denied;
        };
        let Some(vm) = vms.iter().find(|vm| vm.name() == qube) else {
            return Reason::new(Code::QubeUnknown).arg("qube", qube);
        };
        // The shipped policy allows our services with autostart=no: a halted qube is
        // refused, not started.
        if matches!(vm.power_state(), PowerState::Halted) {
            return Reason::new(Code::QubeHalted).arg("qube", qube);
        }
        match vm.tags().list() {
            Ok(tags) if !tags.iter().any(|t| t == qrexec::trust::MANAGED_TAG) => {
                Reason::new(Code::QrexecNotTagged)
                    .arg("qube", qube)
                    .arg("tag", qrexec::trust::MANAGED_TAG)
            }
            _ => denied,
        }
    }

    /// Subscribes to `admin.Events`: keeps the live view current, tells clients, and
    /// re-applies the profiles of auto-apply qubes when they start.
    pub fn watch_events(self: &Arc<Self>) -> qubesadmin::EventSubscription {
        let backend = Arc::clone(self);
        let subscription = self
            .admin
            .subscribe_events(EventsOptions::default(), move |message| match message {
                EventMessage::RefetchAll => {
                    backend.invalidate_live();
                    backend.notifier().qube_changed("");
                }
                EventMessage::Disconnected(_) => {}
                EventMessage::Event(event) => backend.on_event(&event),
            });
        // Subscribed first, so no change between the fetch and the stream is missed.
        self.warm_live_view();
        subscription
    }

    fn on_event(self: &Arc<Self>, event: &qubesadmin::Event) {
        let name = event.name.as_str();
        let subject = event
            .subject
            .clone()
            .or_else(|| event.get("vm").map(str::to_owned))
            .unwrap_or_default();
        let relevant = name.starts_with("domain-")
            || name.starts_with("property-set:")
            || name.starts_with("property-del:")
            || name.starts_with("property-reset:");
        if !relevant {
            return;
        }
        if !subject.is_empty() {
            if changes_details(name) {
                self.mark_live(Some(&subject));
            } else if changes_list(name) {
                self.mark_live(None);
            }
        }
        // Global events need nothing: qubesd announces their effect on each qube.
        self.notifier().qube_changed(&subject);
        // A name qubesd sent that is not a qube name has no settings to act on.
        let started = (name == "domain-start")
            .then(|| validate_vm_name(&subject).ok())
            .flatten();
        if let Some(subject) = started {
            let auto = self
                .store()
                .qube_settings(&subject)
                .map(|s| s.auto_apply && !s.assigned.is_empty())
                .unwrap_or(false)
                // A push that started it on the user's choice writes it already.
                && !self.push_is_starting(subject.as_str());
            if auto {
                let backend = Arc::clone(self);
                // Off the events thread: the push talks to the qube for a while.
                let spawned = std::thread::Builder::new()
                    .name("auto-apply".to_owned())
                    .spawn(move || backend.auto_apply(&subject));
                if let Err(e) = spawned {
                    eprintln!("qubes-config-syncd: cannot start the auto-apply: {e}");
                }
            }
        }
    }
}

/// Whether an event changes what the live view holds about its qube beyond the
/// list's class and state: its label or template, a tag (assignment rules), or a
/// custom-persist feature (also the pre-set: qubesd keeps a value it then refuses,
/// without a `domain-feature-set`).
fn changes_details(event: &str) -> bool {
    if event.starts_with("domain-tag-add:") || event.starts_with("domain-tag-delete:") {
        return true;
    }
    let persist_feature = |name: &str| {
        name == persistence::SERVICE_FEATURE || name.starts_with(persistence::ENTRY_PREFIX)
    };
    if let Some(feature) = event
        .strip_prefix("domain-feature-set:")
        .or_else(|| event.strip_prefix("domain-feature-pre-set:"))
        .or_else(|| event.strip_prefix("domain-feature-delete:"))
    {
        return persist_feature(feature);
    }
    ["property-set:", "property-reset:", "property-del:"]
        .iter()
        .filter_map(|prefix| event.strip_prefix(prefix))
        .any(|property| matches!(property, "label" | "template"))
}

/// Whether an event may change what `admin.vm.List` says (power states, the set of
/// qubes); feature and tag events never do.
fn changes_list(event: &str) -> bool {
    event.starts_with("domain-")
        && !event.starts_with("domain-feature-")
        && !event.starts_with("domain-tag-")
}

/// The templated files of a profile (path → template hash).
type Templated = BTreeMap<RelativePath, String>;

/// A templated file as rendered for one qube now, for its sync state.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rendered {
    /// The hash of the rendered text.
    Sha256(String),
    /// Rendering fails (a missing variable, …): the next plan shows the error, so the
    /// qube needs a push (it is outdated).
    Fails,
    /// The qube's facts are unknown (no live view, tags unreadable): fall back to the
    /// generation pushed.
    NoFacts,
}

/// The template facts of a qube from the live view, as `template_facts` reads them
/// (the template only for AppVMs and DispVMs); `None` when its tags are unknown.
fn live_facts(live: &LiveQube) -> Option<qcs_core::template::Facts> {
    Some(qcs_core::template::Facts {
        name: live.name.clone(),
        label: live.label.clone(),
        class: live.class.clone(),
        template: live
            .template
            .clone()
            .filter(|_| matches!(live.class.as_str(), "AppVM" | "DispVM")),
        tags: live.tags.as_ref()?.iter().cloned().collect(),
    })
}

/// A templated file is pushed rendered: it is outdated when what it renders to for the
/// qube now (`render`) differs from what was last pushed — so a change of a variable, of
/// a tag or of a rule that changes the rendered text shows, and one that does not change
/// it does not; without the qube's facts, when the template changed after the generation
/// pushed. Drift compares the rendered hashes like any file's.
fn sync_state(
    profile: &str,
    generation: u64,
    files: &[CurrentFile],
    templated: &Templated,
    states: &[QubeFileState],
    render: &dyn Fn(&CurrentFile) -> Rendered,
) -> ProfileSync {
    let mut drifted = Vec::new();
    let mut never = false;
    let mut outdated = false;
    let mut pushed_generation: Option<u64> = None;
    for file in files {
        let state = states.iter().find(|s| s.path == file.path);
        let pushed = state.and_then(|s| s.pushed.as_ref());
        let Some(pushed) = pushed.filter(|p| p.profile.as_str() == profile) else {
            never = true;
            continue;
        };
        pushed_generation =
            Some(pushed_generation.map_or(pushed.generation, |g| g.min(pushed.generation)));
        let changed = if templated.contains_key(&file.path) {
            match render(file) {
                Rendered::Sha256(sha256) => pushed.sha256 != sha256,
                Rendered::Fails => true,
                Rendered::NoFacts => pushed.generation < file.generation,
            }
        } else {
            pushed.sha256 != file.sha256
        };
        if changed || pushed.mode != file.mode {
            outdated = true;
        }
        if let Some((seen, seen_at)) = state.and_then(|s| s.seen.as_ref())
            && *seen_at >= pushed.at
        {
            let same = matches!(seen, SeenState::Regular { sha256, mode }
                if *sha256 == pushed.sha256 && *mode == pushed.mode.bits());
            if !same {
                drifted.push(file.path.to_string());
            }
        }
    }
    let state = if !drifted.is_empty() {
        SyncState::Drifted
    } else if never {
        SyncState::NeverPushed
    } else if outdated {
        SyncState::Outdated
    } else {
        SyncState::InSync
    };
    ProfileSync {
        profile: profile.to_owned(),
        state,
        generation,
        pushed_generation,
        drifted_paths: drifted,
        sources: Vec::new(),
    }
}

fn path_persistence(
    qube: &str,
    live: Option<&LiveQube>,
    release: Option<QubesRelease>,
    file: &CurrentFile,
) -> PathPersistence {
    let unknown = |detail: Reason| PathPersistence {
        path: file.path.to_string(),
        verdict: WireVerdict::Unknown,
        detail,
        fix_command: None,
    };
    let (Some(live), Some(release)) = (live, release) else {
        return unknown(Reason::new(Code::PersistNotReported));
    };
    let class = match QubeClass::from_str(&live.class) {
        Ok(class) => class,
        Err(_) => {
            return unknown(Reason::new(Code::PersistUnknownClass).arg("class", &live.class));
        }
    };
    let Some(features) = &live.persist_features else {
        return unknown(Reason::new(Code::PersistFeaturesUnreadable));
    };
    let analysis =
        persistence::analyse(qube, class, release, features, &file.path, file.mode.bits());
    let (verdict, code, fix_command) = match &analysis.verdict {
        Verdict::Persistent(_) => (WireVerdict::Persistent, Code::PersistPersistent, None),
        Verdict::Volatile => (WireVerdict::Volatile, Code::PersistVolatile, None),
        Verdict::LostAtRestart { fix, .. } => (
            WireVerdict::LostAtRestart,
            Code::PersistLost,
            fix.as_ref().map(|f| f.dom0_command.clone()),
        ),
        Verdict::NotSupported { .. } => {
            (WireVerdict::NotSupported, Code::PersistNotSupported, None)
        }
    };
    PathPersistence {
        path: file.path.to_string(),
        verdict,
        detail: Reason::new(code),
        fix_command,
    }
}

#[cfg(test)]
mod tests {
    use qcs_core::store::{CurrentFile, Provenance, PushedState, QubeFileState, SeenState};
    use qcs_protocol::mode::validate_mode;
    use qcs_protocol::path::validate_relative_path;
    use qcs_protocol::profile::validate_profile_id;

    use super::{Rendered, Templated, changes_details, changes_list, sync_state};
    use crate::client::types::SyncState;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn file(sha: &str) -> CurrentFile {
        CurrentFile {
            version_id: 1,
            path: validate_relative_path(".gitconfig").unwrap(),
            bytes: Vec::new(),
            sha256: sha.to_owned(),
            mode: validate_mode(0o644).unwrap(),
            generation: 2,
            provenance: Provenance::LocalEdit,
        }
    }

    fn state(pushed: Option<&str>, seen: Option<(SeenState, i64)>) -> QubeFileState {
        QubeFileState {
            qube: qcs_protocol::validate_vm_name("work").unwrap(),
            path: validate_relative_path(".gitconfig").unwrap(),
            pushed: pushed.map(|sha| PushedState {
                profile: validate_profile_id("git").unwrap(),
                sha256: sha.to_owned(),
                mode: validate_mode(0o644).unwrap(),
                generation: 1,
                at: 100,
            }),
            seen,
        }
    }

    fn regular(sha: &str) -> SeenState {
        SeenState::Regular {
            sha256: sha.to_owned(),
            mode: 0o644,
        }
    }

    #[test]
    fn which_events_refetch_what() {
        for details in [
            "domain-feature-set:custom-persist.git",
            "domain-feature-pre-set:custom-persist.bad",
            "domain-feature-delete:service.custom-persist",
            "property-set:label",
            "property-reset:template",
            "domain-tag-add:dev",
            "domain-tag-delete:dev",
        ] {
            assert!(changes_details(details), "{details}");
        }
        for other in [
            "domain-feature-set:menu-items",
            "property-set:memory",
            "property-set:labelx",
            "domain-start",
        ] {
            assert!(!changes_details(other), "{other}");
        }
        for list in [
            "domain-start",
            "domain-shutdown",
            "domain-add",
            "domain-delete",
        ] {
            assert!(changes_list(list), "{list}");
        }
        for not_list in [
            "domain-feature-set:x",
            "domain-tag-add:t",
            "property-set:label",
        ] {
            assert!(!changes_list(not_list), "{not_list}");
        }
    }

    #[test]
    fn never_pushed_outdated_in_sync_and_drifted() {
        let files = [file(A)];
        let s = |states: &[QubeFileState]| {
            sync_state("git", 2, &files, &Templated::new(), states, &no_facts).state
        };
        assert_eq!(s(&[]), SyncState::NeverPushed);
        assert_eq!(s(&[state(Some(B), None)]), SyncState::Outdated);
        assert_eq!(
            s(&[state(Some(A), Some((regular(A), 100)))]),
            SyncState::InSync
        );
        // Seen after the push and different: drifted, with the path named.
        let drifted = sync_state(
            "git",
            2,
            &files,
            &Templated::new(),
            &[state(Some(A), Some((regular(B), 200)))],
            &no_facts,
        );
        assert_eq!(drifted.state, SyncState::Drifted);
        assert_eq!(drifted.drifted_paths, [".gitconfig"]);
        // Gone, or replaced by something else, is drift too.
        assert_eq!(
            s(&[state(Some(A), Some((SeenState::Absent, 200)))]),
            SyncState::Drifted
        );
        // A snapshot older than the push says nothing about now.
        assert_eq!(
            s(&[state(Some(A), Some((regular(B), 50)))]),
            SyncState::InSync
        );
        // Pushed by another profile: not this profile's push.
        let mut other = state(Some(A), None);
        if let Some(p) = other.pushed.as_mut() {
            p.profile = validate_profile_id("ssh").unwrap();
        }
        assert_eq!(s(&[other]), SyncState::NeverPushed);
    }

    fn no_facts(_: &CurrentFile) -> Rendered {
        Rendered::NoFacts
    }

    #[test]
    fn a_templated_file_compares_what_it_renders_to_with_what_was_pushed() {
        // The store holds the template (hash A); the qube got a rendering (hash B).
        let files = [file(A)];
        let templated: Templated = [(validate_relative_path(".gitconfig").unwrap(), A.to_owned())]
            .into_iter()
            .collect();
        let rendered = |rendered: Rendered, generation: u64| {
            let mut st = state(Some(B), None);
            if let Some(p) = st.pushed.as_mut() {
                p.generation = generation;
            }
            sync_state("git", 2, &files, &templated, &[st], &|_| rendered.clone()).state
        };
        // Renders to what was pushed: in sync, whatever the generation pushed (a template
        // edit that does not change this qube's text does not make it outdated).
        assert_eq!(
            rendered(Rendered::Sha256(B.to_owned()), 2),
            SyncState::InSync
        );
        assert_eq!(
            rendered(Rendered::Sha256(B.to_owned()), 1),
            SyncState::InSync
        );
        // Renders to something else (a variable, tag or rule changed): outdated, even at
        // the template's generation.
        assert_eq!(
            rendered(Rendered::Sha256(A.to_owned()), 2),
            SyncState::Outdated
        );
        // Rendering fails (a variable went missing): the next push shows the error.
        assert_eq!(rendered(Rendered::Fails, 2), SyncState::Outdated);
    }

    #[test]
    fn a_templated_file_without_facts_compares_generations_and_rendered_hashes() {
        // The store holds the template (hash A); the qube got a rendering (hash B).
        let files = [file(A)];
        let templated: Templated = [(validate_relative_path(".gitconfig").unwrap(), A.to_owned())]
            .into_iter()
            .collect();
        let with = |generation: u64, seen: Option<(SeenState, i64)>| {
            let mut st = state(Some(B), seen);
            if let Some(p) = st.pushed.as_mut() {
                p.generation = generation;
            }
            sync_state("git", 2, &files, &templated, &[st], &no_facts).state
        };
        // Pushed at the template's generation: in sync, although the hashes differ.
        assert_eq!(with(2, None), SyncState::InSync);
        // The template changed after the generation pushed: outdated.
        assert_eq!(with(1, None), SyncState::Outdated);
        // The qube's file is not the rendering we wrote: drifted.
        assert_eq!(with(2, Some((regular(A), 200))), SyncState::Drifted);
        assert_eq!(with(2, Some((regular(B), 200))), SyncState::InSync);
    }
}
