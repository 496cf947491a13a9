//! The backend's work, as plain blocking Rust: the single owner of the [`Store`], the
//! Admin API view of the qubes, push planning and execution through the agent's qrexec
//! services, snapshots, the proposal spool and the review decisions.
//!
//! It holds no D-Bus code: [`crate::dbus`] calls it from worker threads (never on the
//! D-Bus executor) and reports what it does through a [`Notifier`]. Review and storage
//! rules live in `qcs_core`; this module only gathers inputs, carries out decisions and
//! records them.

mod adopt;
mod dirs;
mod errors;
mod history;
mod intake;
mod jobs;
mod proposals;
mod qubes;
pub mod replies;
mod review_cache;
mod rules;
pub mod services;
pub mod templates;
pub mod views;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use qcs_core::plan::QubePlan;
use qcs_core::risk::Engine;
use qcs_core::store::Store;
use qcs_protocol::{ProfileId, VmName};
use qubesadmin::Qubes;

pub use errors::BackendError;
pub use jobs::JobKind;
pub use qubes::LiveQube;
pub use rules::{Effective, assignment_rule};
use services::ServiceCaller;

use crate::client::{Code, Reason};

/// Result of backend operations.
pub type Result<T, E = BackendError> = std::result::Result<T, E>;

/// How many plans are kept for `ExecutePlan` (older ones are dropped).
const MAX_KEPT_PLANS: usize = 16;

/// Receives what the backend does, to tell clients (D-Bus signals). Called from worker
/// threads; must not block for long.
pub trait Notifier: Send + Sync {
    fn proposals_changed(&self, pending: u32);
    /// `""`: everything may have changed.
    fn qube_changed(&self, qube: &str);
    fn job_progress(&self, job: u64, done: u32, total: u32, qube: &str);
    fn job_finished(&self, job: u64, success: bool, summary: &crate::client::types::JobSummary);
}

/// A [`Notifier`] that tells nobody (tools and tests without a bus).
#[derive(Debug, Default)]
pub struct Silent;

impl Notifier for Silent {
    fn proposals_changed(&self, _pending: u32) {}
    fn qube_changed(&self, _qube: &str) {}
    fn job_progress(&self, _job: u64, _done: u32, _total: u32, _qube: &str) {}
    fn job_finished(&self, _: u64, _: bool, _: &crate::client::types::JobSummary) {}
}

/// What the backend is configured with.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub store_path: PathBuf,
    /// Where `qubes.ConfigPropose` spools proposals; `None`: no spool.
    pub spool_dir: Option<PathBuf>,
    /// The program that calls qrexec services in qubes (`qrexec-client-vm`).
    pub qrexec_program: PathBuf,
    /// Most qubes talked to at once (transfers and snapshots).
    pub max_parallel: usize,
    /// This qube's name, the target of proposals in the generated policy.
    pub config_qube: String,
    /// Longest one qrexec service call may take.
    pub call_timeout: std::time::Duration,
}

/// A plan waiting for `ExecutePlan`.
struct StoredPlan {
    plans: Vec<QubePlan>,
    /// Qubes that were halted when planned: not looked into; started and pushed only
    /// when the execute request names them.
    halted: Vec<VmName>,
}

/// The backend. Share it in an `Arc`.
pub struct Backend {
    store: Mutex<Store>,
    admin: Qubes,
    services: ServiceCaller,
    engine: Engine,
    config: BackendConfig,
    notifier: Mutex<Arc<dyn Notifier>>,
    next_id: AtomicU64,
    plans: Mutex<BTreeMap<u64, StoredPlan>>,
    jobs: Mutex<BTreeMap<u64, Arc<std::sync::atomic::AtomicBool>>>,
    live: Mutex<qubes::LiveCache>,
    /// One spool pass at a time (the watcher and `IngestSpool` may overlap).
    ingest: Mutex<()>,
    /// Qubes a push job is starting and writing ("start and push"): their
    /// `domain-start` does not trigger a second, concurrent auto-apply.
    starting: Mutex<std::collections::BTreeSet<String>>,
    /// Built reviews (`GetProposal` replies and inbox risk markers), see review_cache.rs.
    reviews: Mutex<review_cache::ReviewCache>,
    /// The rule set's fingerprint, part of every review's cache key.
    rules: Arc<str>,
    /// Wakes the review warmer (see [`Backend::start_review_warmer`]).
    warmer: Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock must not take every later call down with it; the
    // data behind these locks stays consistent (the store is transactional).
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Backend {
    /// Opens the store and sets up the backend.
    pub fn open(config: BackendConfig, admin: Qubes) -> Result<Backend> {
        if let Some(parent) = config.store_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                BackendError::failed(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let store = Store::open(&config.store_path)?;
        let engine = Engine::load_default();
        let rules: Arc<str> = Arc::from(qcs_core::review::rules_fingerprint(&engine));
        Ok(Backend {
            store: Mutex::new(store),
            admin: admin.with_max_workers(config.max_parallel.max(1)),
            services: ServiceCaller::new(&config.qrexec_program).with_timeout(config.call_timeout),
            engine,
            config,
            notifier: Mutex::new(Arc::new(Silent)),
            next_id: AtomicU64::new(1),
            plans: Mutex::new(BTreeMap::new()),
            jobs: Mutex::new(BTreeMap::new()),
            live: Mutex::new(qubes::LiveCache::default()),
            ingest: Mutex::new(()),
            starting: Mutex::new(std::collections::BTreeSet::new()),
            reviews: Mutex::new(review_cache::ReviewCache::default()),
            rules,
            warmer: Mutex::new(None),
        })
    }

    /// Sets who hears about changes.
    pub fn set_notifier(&self, notifier: Arc<dyn Notifier>) {
        *lock(&self.notifier) = notifier;
    }

    fn notifier(&self) -> Arc<dyn Notifier> {
        // Something changed: the inbox's risk markers may need reviews built.
        self.request_warm();
        Arc::clone(&lock(&self.notifier))
    }

    /// Builds the reviews of pending proposals on a thread of its own whenever the
    /// backend announces a change (intake, decisions, store edits), a burst coalesced
    /// into one pass, so `ListProposals` can carry each one's risk marker and the
    /// first `GetProposal` is served from the cache. Ends when the backend is dropped.
    pub fn start_review_warmer(self: &Arc<Self>) {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        *lock(&self.warmer) = Some(tx);
        let backend = Arc::downgrade(self);
        std::thread::spawn(move || {
            while rx.recv().is_ok() {
                while rx.try_recv().is_ok() {}
                let Some(backend) = backend.upgrade() else {
                    return;
                };
                if let Err(e) = backend.warm_reviews() {
                    eprintln!("qubes-config-syncd: reviews: {e}");
                }
            }
        });
        self.request_warm();
    }

    fn request_warm(&self) {
        if let Some(tx) = lock(&self.warmer).as_ref() {
            let _ = tx.send(());
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub fn config(&self) -> &BackendConfig {
        &self.config
    }

    pub fn admin(&self) -> &Qubes {
        &self.admin
    }

    /// Number of qrexec service calls made so far.
    pub fn service_calls(&self) -> u64 {
        self.services.calls()
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs `f` with the store (short: one query or one transaction).
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        f(&mut self.store())
    }

    pub fn pending_count(&self) -> Result<u32> {
        let n = self.store().pending_count()?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn announce_pending(&self) {
        if let Ok(n) = self.pending_count() {
            self.notifier().proposals_changed(n);
        }
    }

    /// The generated dom0 policy for the store's whitelist. An entry that cannot be
    /// policy (dom0, the config qube, a name qrexec does not accept, a qube the Admin API
    /// does not list — left from before names were checked; a qube created later under
    /// that name must not inherit its grants) is left out and named in a comment at the
    /// end; it never stops the rest from being generated.
    pub fn generate_policy(&self) -> Result<String> {
        use qrexec::generator::{is_valid_profile_id, is_valid_qube_name};
        let known: Option<std::collections::BTreeSet<String>> = self
            .live_view()
            .ok()
            .map(|view| view.qubes.iter().map(|q| q.name.clone()).collect());
        let settings = self.store().qubes()?;
        let config = &self.config.config_qube;
        let mut whitelist = qrexec::generator::Whitelist {
            config_qube: config.clone(),
            ..Default::default()
        };
        let mut left_out = Vec::new();
        for qube in settings {
            let name = &qube.qube.to_string();
            let usable = is_valid_qube_name(name)
                && name != config
                && name != "dom0"
                && known.as_ref().is_none_or(|known| known.contains(name));
            let pairs = qube
                .assigned
                .iter()
                .map(|p| (true, p))
                .chain(qube.may_propose.iter().map(|p| (false, p)));
            for (assigned, p) in pairs {
                if !usable || !is_valid_profile_id(p.as_str()) {
                    left_out.push(format!("{name:?} {}", p.as_str()));
                    continue;
                }
                let set = if assigned {
                    &mut whitelist.assigned
                } else {
                    &mut whitelist.may_propose
                };
                set.insert((name.clone(), p.as_str().to_owned()));
            }
        }
        // The qubes assignment rules cover now, as pairs: a qube that gains a tag later
        // needs this file generated (and installed) again.
        if let Ok(view) = self.live_view() {
            for (qube, entries) in self.effective_all(&view)? {
                for entry in entries.iter().filter(|e| !e.rules.is_empty()) {
                    if is_valid_profile_id(entry.profile.as_str()) {
                        whitelist
                            .assigned
                            .insert((qube.to_string(), entry.profile.as_str().to_owned()));
                    }
                }
            }
        }
        let mut text = qrexec::generator::generate_profile_policy(&whitelist).map_err(|e| {
            BackendError::Refused(Reason::new(Code::PolicyEntrySkipped).arg("detail", e))
        })?;
        if known.is_none() {
            text.push_str(
                "\n# The qubes could not be listed through the Admin API: the names above are \
                 not checked.\n",
            );
        }
        if !left_out.is_empty() {
            text.push_str(
                "\n# Left out (not a qube this policy may name; remove them with\n\
                 # `qvm-config-sync assign --unassign` / `allow-propose --deny`):\n",
            );
            for entry in left_out {
                let shown: String = entry
                    .chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect();
                text.push_str(&format!("#   {shown}\n"));
            }
        }
        Ok(text)
    }

    /// Checks a change of a qube's settings: anything added (a profile assigned or
    /// allowed, auto-apply turned on) needs a qube the Admin API knows that is not dom0
    /// nor the config qube, and profiles that exist; a change that only removes is
    /// always allowed (so entries of qubes that no longer exist can be cleared).
    fn check_settings_change(
        &self,
        old: &qcs_core::store::QubeSettings,
        new: &qcs_core::store::QubeSettings,
    ) -> Result<()> {
        let added_assigned: Vec<_> = new
            .assigned
            .iter()
            .filter(|p| !old.assigned.contains(p))
            .collect();
        let added_propose: Vec<_> = new
            .may_propose
            .iter()
            .filter(|p| !old.may_propose.contains(p))
            .collect();
        let adds = !added_assigned.is_empty()
            || !added_propose.is_empty()
            || (new.auto_apply && !old.auto_apply);
        if !adds {
            return Ok(());
        }
        self.check_target(&new.qube)?;
        {
            let store = self.store();
            for p in added_assigned.iter().chain(added_propose.iter()) {
                if store.profile(p)?.is_none() {
                    return Err(BackendError::NotFound(
                        Reason::new(Code::ProfileUnknown).arg("profile", p.as_str()),
                    ));
                }
            }
        }
        if new.auto_apply && new.assigned.is_empty() {
            return Err(BackendError::Refused(
                Reason::new(Code::SettingsNothingAssigned).arg("qube", &new.qube),
            ));
        }
        Ok(())
    }

    /// Replaces a qube's settings.
    pub fn set_qube_settings(&self, settings: &qcs_core::store::QubeSettings) -> Result<()> {
        let old = self.store().qube_settings(&settings.qube)?;
        self.check_settings_change(&old, settings)?;
        self.store().set_qube_settings(settings)?;
        self.notifier().qube_changed(settings.qube.as_str());
        Ok(())
    }

    /// Assigns or unassigns a profile.
    pub fn assign(&self, qube: &VmName, profile: &ProfileId, assigned: bool) -> Result<()> {
        let old = self.store().qube_settings(qube)?;
        let has = old.assigned.contains(profile);
        if has == assigned {
            let code = if assigned {
                Code::SettingsAlreadyAssigned
            } else {
                Code::SettingsNotAssigned
            };
            return Err(BackendError::Refused(
                Reason::new(code).arg("qube", qube).arg("profile", profile),
            ));
        }
        let mut settings = old.clone();
        settings.assigned.retain(|p| p != profile);
        if assigned {
            settings.assigned.push(profile.clone());
        } else if settings.assigned.is_empty() {
            // Nothing left to re-apply.
            settings.auto_apply = false;
        }
        self.check_settings_change(&old, &settings)?;
        self.store().set_qube_settings(&settings)?;
        self.notifier().qube_changed(qube.as_str());
        Ok(())
    }

    /// Lets a qube propose a profile, or stops it.
    pub fn allow_proposals(&self, qube: &VmName, profile: &ProfileId, allowed: bool) -> Result<()> {
        let old = self.store().qube_settings(qube)?;
        if old.may_propose.contains(profile) == allowed {
            let code = if allowed {
                Code::SettingsAlreadyMayPropose
            } else {
                Code::SettingsMayNotPropose
            };
            return Err(BackendError::Refused(
                Reason::new(code).arg("qube", qube).arg("profile", profile),
            ));
        }
        let mut settings = old.clone();
        settings.may_propose.retain(|p| p != profile);
        if allowed {
            settings.may_propose.push(profile.clone());
        }
        self.check_settings_change(&old, &settings)?;
        self.store().set_qube_settings(&settings)?;
        self.notifier().qube_changed(qube.as_str());
        Ok(())
    }

    /// Adds (`allowed`) or removes globs of a profile's allowlist of new paths: a qube
    /// that may propose the profile may then propose a file the profile does not have
    /// yet when its path matches one (still a finding to acknowledge). Returns the list.
    pub fn allow_new_paths(
        &self,
        profile: &ProfileId,
        globs: &[String],
        allowed: bool,
    ) -> Result<Vec<String>> {
        let globs: Vec<&str> = globs.iter().map(String::as_str).collect();
        let after = self.store().allow_new_paths(profile, &globs, allowed)?;
        self.notifier().qube_changed("");
        Ok(after)
    }
}

impl Backend {
    /// A profile's files changed: the sync state of every qube may have.
    pub fn profile_changed(&self) {
        self.notifier().qube_changed("");
    }

    /// A profile with its files and the qubes it is assigned to.
    pub fn profile_view(&self, profile: &ProfileId) -> Result<crate::client::types::ProfileView> {
        let store = self.store();
        let p = store.profile(profile)?.ok_or_else(|| {
            BackendError::NotFound(Reason::new(Code::ProfileUnknown).arg("profile", profile))
        })?;
        let files = store
            .current_files(profile)?
            .iter()
            .map(|f| crate::client::types::FileSummary {
                path: f.path.to_string(),
                mode: f.mode.to_string(),
                sha256: f.sha256.clone(),
                size: f.bytes.len() as u64,
                generation: f.generation,
                provenance: views::provenance(&f.provenance),
            })
            .collect();
        let assigned_to = store
            .qubes()?
            .into_iter()
            .filter(|q| q.assigned.contains(&p.id))
            .map(|q| q.qube.to_string())
            .collect();
        let new_path_globs = store.new_path_globs(profile)?;
        Ok(crate::client::types::ProfileView {
            version: crate::client::types::API_VERSION,
            id: p.id.to_string(),
            description: p.description,
            generation: p.generation,
            files,
            assigned_to,
            new_path_globs,
        })
    }

    /// Audit entries after `after`, at most `limit` (capped at 10 000).
    pub fn audit_view(&self, after: i64, limit: u32) -> Result<crate::client::types::AuditView> {
        let limit = usize::try_from(limit.min(10_000)).unwrap_or(10_000);
        let entries = self
            .store()
            .audit_log(after, limit)?
            .into_iter()
            .map(|e| crate::client::types::AuditEntryView {
                id: e.id,
                at: e.at,
                action: e.action,
                qube: e.qube,
                profile: e.profile,
                path: e.path,
                proposal_id: e.proposal_id,
                generation: e.generation,
                sha256: e.sha256,
                detail: e.detail,
            })
            .collect();
        Ok(crate::client::types::AuditView {
            version: crate::client::types::API_VERSION,
            entries,
        })
    }
}
