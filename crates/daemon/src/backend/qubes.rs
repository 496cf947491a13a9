//! The qube view: live state from the Admin API (cached, refreshed on events) joined
//! with the store's settings, sync state and the persistence analysis; persistence
//! fixes; reactions to `admin.Events`.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;

use qcs_core::persistence::{self, QubeClass, QubesRelease, Verdict};
use qcs_core::store::{CurrentFile, QubeFileState, SeenState};
use qubesadmin::{EventMessage, EventsOptions, PowerState};

use super::{Backend, BackendError, Result, lock};
use crate::client::types::{PathPersistence, ProfileSync, QubeList, QubeView, SyncState};

/// What the Admin API says about one qube.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveQube {
    pub name: String,
    pub class: String,
    pub power_state: String,
    pub label: String,
    pub template: Option<String>,
    /// `service.custom-persist` and `custom-persist.*` (name → value); `None` when the
    /// features could not be read.
    pub persist_features: Option<BTreeMap<String, String>>,
}

/// The cached Admin API view.
#[derive(Debug, Default)]
pub struct LiveView {
    pub qubes: Vec<LiveQube>,
    pub release: Option<QubesRelease>,
}

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

impl Backend {
    /// The live view, fetched if not cached: `admin.vm.List`, then per qube
    /// `admin.vm.property.GetAll` and its custom-persist features, in parallel.
    pub fn live_view(&self) -> Result<Arc<LiveView>> {
        if let Some(view) = lock(&self.live).as_ref() {
            return Ok(Arc::clone(view));
        }
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
        // admin.vm.property.Get only (the shipped policy grants no GetAll): the label,
        // and the template of the classes that have one.
        let props = self.admin.map_parallel(&vms, |vm| {
            let get = |name: &str| {
                vm.property(name)
                    .ok()
                    .and_then(|p| p.as_name().map(str::to_owned))
            };
            let template = matches!(vm.class(), "AppVM" | "DispVM")
                .then(|| get("template"))
                .flatten();
            (get("label"), template)
        });
        let persist = self.admin.custom_persist_state(&vms);
        let mut qubes = Vec::with_capacity(vms.len());
        for ((vm, (label, template)), persist) in vms.iter().zip(props).zip(persist) {
            let persist_features = persist.ok().map(|state| {
                let mut map = BTreeMap::new();
                if let Some(service) = state.service {
                    map.insert(persistence::SERVICE_FEATURE.to_owned(), service);
                }
                for feature in state.features {
                    map.insert(
                        format!("{}{}", persistence::ENTRY_PREFIX, feature.key),
                        feature.value,
                    );
                }
                map
            });
            qubes.push(LiveQube {
                name: vm.name().to_owned(),
                class: vm.class().to_owned(),
                power_state: power_state_text(vm.power_state()),
                label: label.unwrap_or_default(),
                template,
                persist_features,
            });
        }
        let view = Arc::new(LiveView {
            qubes,
            release: Some(release),
        });
        *lock(&self.live) = Some(Arc::clone(&view));
        Ok(view)
    }

    /// Drops the cached live view (after an event).
    pub fn invalidate_live(&self) {
        *lock(&self.live) = None;
    }

    /// Every qube (or only `only`), joined with the store.
    pub fn list_qubes(&self, only: Option<&str>) -> Result<QubeList> {
        let (live, admin_error) = match self.live_view() {
            Ok(view) => (view, None),
            Err(e) => (Arc::new(LiveView::default()), Some(e.to_string())),
        };
        let store = self.store();
        let settings: BTreeMap<String, qcs_core::store::QubeSettings> = store
            .qubes()?
            .into_iter()
            .map(|s| (s.qube.clone(), s))
            .collect();
        let mut pending: BTreeMap<String, u32> = BTreeMap::new();
        for p in store.proposals(Some(qcs_core::store::ProposalStatus::Pending))? {
            *pending.entry(p.source_qube).or_default() += 1;
        }
        let mut names: BTreeSet<String> = live.qubes.iter().map(|q| q.name.clone()).collect();
        names.extend(settings.keys().cloned());
        if let Some(only) = only {
            if !names.contains(only) {
                return Err(BackendError::NotFound(format!(
                    "no qube named {:?}",
                    only.chars().take(64).collect::<String>()
                )));
            }
            names = BTreeSet::from([only.to_owned()]);
        }
        let mut profile_files: BTreeMap<String, (u64, Vec<CurrentFile>)> = BTreeMap::new();
        let mut qubes = Vec::new();
        for name in names {
            let live_qube = live.qubes.iter().find(|q| q.name == name);
            let config = settings.get(&name).cloned().unwrap_or_default();
            let states = if settings.contains_key(&name) {
                store.qube_file_states(&name)?
            } else {
                Vec::new()
            };
            let mut profiles = Vec::new();
            let mut persistence_view = Vec::new();
            for profile in &config.assigned {
                if !profile_files.contains_key(profile.as_str()) {
                    let generation = store.profile(profile.as_str())?.map_or(0, |p| p.generation);
                    let files = store.current_files(profile.as_str())?;
                    profile_files.insert(profile.as_str().to_owned(), (generation, files));
                }
                let Some((generation, files)) = profile_files.get(profile.as_str()) else {
                    continue;
                };
                profiles.push(sync_state(profile.as_str(), *generation, files, &states));
                for file in files {
                    persistence_view.push(path_persistence(&name, live_qube, live.release, file));
                }
            }
            qubes.push(QubeView {
                class: live_qube.map(|q| q.class.clone()).unwrap_or_default(),
                power_state: live_qube.map(|q| q.power_state.clone()).unwrap_or_default(),
                label: live_qube.map(|q| q.label.clone()).unwrap_or_default(),
                template: live_qube.and_then(|q| q.template.clone()),
                auto_apply: config.auto_apply,
                assigned: config.assigned.iter().map(|p| p.to_string()).collect(),
                may_propose: config.may_propose.iter().map(|p| p.to_string()).collect(),
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
    pub fn fix_persistence(&self, qube: &str, path: &str) -> Result<(bool, String)> {
        qubesadmin::validate::vm_name(qube)
            .map_err(|e| BackendError::InvalidArgument(format!("invalid qube name: {e}")))?;
        let rel = qcs_protocol::path::validate_relative_path(path)
            .map_err(|e| BackendError::InvalidArgument(format!("invalid path: {e}")))?;
        // The file's mode in an assigned profile decides the pre-created file's mode.
        let mode = {
            let store = self.store();
            let settings = store.qube_settings(qube)?;
            let mut mode = 0o644;
            for profile in &settings.assigned {
                if let Some(file) = store.current_file(profile.as_str(), rel.as_str())? {
                    mode = file.mode.bits();
                }
            }
            mode
        };
        let fix = persistence::fix_for(qube, &rel, mode).map_err(BackendError::Refused)?;
        let vm = self.admin.vm_blind(qube);
        match vm.features().set(&fix.feature, &fix.value) {
            Ok(()) => {
                self.invalidate_live();
                self.notifier().qube_changed(qube);
                Ok((true, fix.dom0_command))
            }
            // Denied (the default policy grants no feature writes) or failed: the user
            // makes the same change in dom0.
            Err(_) => Ok((false, fix.dom0_command)),
        }
    }

    /// Subscribes to `admin.Events`: keeps the live view current, tells clients, and
    /// re-applies the profiles of auto-apply qubes when they start.
    pub fn watch_events(self: &Arc<Self>) -> qubesadmin::EventSubscription {
        let backend = Arc::clone(self);
        self.admin
            .subscribe_events(EventsOptions::default(), move |message| match message {
                EventMessage::RefetchAll => {
                    backend.invalidate_live();
                    backend.notifier().qube_changed("");
                }
                EventMessage::Disconnected(_) => {}
                EventMessage::Event(event) => backend.on_event(&event),
            })
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
        self.invalidate_live();
        self.notifier().qube_changed(&subject);
        if name == "domain-start" && !subject.is_empty() {
            let auto = self
                .store()
                .qube_settings(&subject)
                .map(|s| s.auto_apply && !s.assigned.is_empty())
                .unwrap_or(false);
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

fn sync_state(
    profile: &str,
    generation: u64,
    files: &[CurrentFile],
    states: &[QubeFileState],
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
        if pushed.sha256 != file.sha256 || pushed.mode != file.mode {
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
    }
}

fn path_persistence(
    qube: &str,
    live: Option<&LiveQube>,
    release: Option<QubesRelease>,
    file: &CurrentFile,
) -> PathPersistence {
    let unknown = |detail: String| PathPersistence {
        path: file.path.to_string(),
        verdict: "unknown".to_owned(),
        detail,
        fix_command: None,
    };
    let (Some(live), Some(release)) = (live, release) else {
        return unknown("the Admin API did not report this qube".to_owned());
    };
    let class = match QubeClass::from_str(&live.class) {
        Ok(class) => class,
        Err(e) => return unknown(e.to_string()),
    };
    let Some(features) = &live.persist_features else {
        return unknown("the qube's features could not be read".to_owned());
    };
    let analysis =
        persistence::analyse(qube, class, release, features, &file.path, file.mode.bits());
    let (verdict, fix_command) = match &analysis.verdict {
        Verdict::Persistent(_) => ("persistent", None),
        Verdict::Volatile => ("volatile", None),
        Verdict::LostAtRestart { fix, .. } => (
            "lost-at-restart",
            fix.as_ref().map(|f| f.dom0_command.clone()),
        ),
        Verdict::NotSupported { .. } => ("not-supported", None),
    };
    PathPersistence {
        path: file.path.to_string(),
        verdict: verdict.to_owned(),
        detail: analysis.verdict.to_string(),
        fix_command,
    }
}

#[cfg(test)]
mod tests {
    use qcs_core::store::{CurrentFile, Provenance, PushedState, QubeFileState, SeenState};
    use qcs_protocol::mode::validate_mode;
    use qcs_protocol::path::validate_relative_path;
    use qcs_protocol::profile::validate_profile_id;

    use super::sync_state;
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
            qube: "work".to_owned(),
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
    fn never_pushed_outdated_in_sync_and_drifted() {
        let files = [file(A)];
        let s = |states: &[QubeFileState]| sync_state("git", 2, &files, states).state;
        assert_eq!(s(&[]), SyncState::NeverPushed);
        assert_eq!(s(&[state(Some(B), None)]), SyncState::Outdated);
        assert_eq!(
            s(&[state(Some(A), Some((regular(A), 100)))]),
            SyncState::InSync
        );
        // Seen after the push and different: drifted, with the path named.
        let drifted = sync_state("git", 2, &files, &[state(Some(A), Some((regular(B), 200)))]);
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
}
