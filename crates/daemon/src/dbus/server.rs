//! The `org.qubes.ConfigSync1` object: each method runs the backend's blocking work on
//! the `blocking` thread pool (never on the D-Bus executor) and maps errors to
//! `org.qubes.ConfigSync1.Error.*`. Qube names, profile ids and paths are parsed into
//! the protocol's types here, at the edge (`views::qube_name`, `profile_id`,
//! `relative_path`): an invalid one is `Error.InvalidArgument` naming the rule, and
//! never reaches the backend or the store.

use std::sync::Arc;

use zbus::interface;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

use super::error::Error;
use crate::backend::{Backend, BackendError, Notifier, views};
use crate::client::types::JobSummary;
use crate::client::{INTERFACE, OBJECT_PATH};

/// The served object.
pub struct ConfigSync {
    backend: Arc<Backend>,
}

impl ConfigSync {
    pub fn new(backend: Arc<Backend>) -> Self {
        ConfigSync { backend }
    }
}

/// Runs blocking backend work off the executor and converts its error.
async fn run<T: Send + 'static>(
    backend: &Arc<Backend>,
    f: impl FnOnce(&Arc<Backend>) -> Result<T, BackendError> + Send + 'static,
) -> Result<T, Error> {
    let backend = Arc::clone(backend);
    blocking::unblock(move || f(&backend))
        .await
        .map_err(Error::from)
}

#[interface(name = "org.qubes.ConfigSync1")]
impl ConfigSync {
    // ----- qubes -----

    #[zbus(out_args("qubes_json"))]
    async fn list_qubes(&self) -> Result<String, Error> {
        run(&self.backend, |b| views::to_json(&b.list_qubes(None)?)).await
    }

    #[zbus(out_args("qubes_json"))]
    async fn get_qube(&self, qube: String) -> Result<String, Error> {
        run(&self.backend, move |b| {
            views::to_json(&b.list_qubes(Some(&views::qube_name(&qube)?))?)
        })
        .await
    }

    #[zbus(out_args("assigned", "may_propose", "auto_apply"))]
    async fn get_qube_settings(
        &self,
        qube: String,
    ) -> Result<(Vec<String>, Vec<String>, bool), Error> {
        run(&self.backend, move |b| {
            let qube = views::qube_name(&qube)?;
            let s = b.with_store(|store| Ok(store.qube_settings(&qube)?))?;
            Ok((
                s.assigned.iter().map(|p| p.to_string()).collect(),
                s.may_propose.iter().map(|p| p.to_string()).collect(),
                s.auto_apply,
            ))
        })
        .await
    }

    async fn set_qube_settings(
        &self,
        qube: String,
        assigned: Vec<String>,
        may_propose: Vec<String>,
        auto_apply: bool,
    ) -> Result<(), Error> {
        run(&self.backend, move |b| {
            let settings = qcs_core::store::QubeSettings {
                qube: views::qube_name(&qube)?,
                assigned: views::profile_ids(&assigned)?,
                may_propose: views::profile_ids(&may_propose)?,
                auto_apply,
            };
            b.set_qube_settings(&settings)
        })
        .await
    }

    async fn assign(&self, qube: String, profile: String, assigned: bool) -> Result<(), Error> {
        run(&self.backend, move |b| {
            b.assign(
                &views::qube_name(&qube)?,
                &views::profile_id(&profile)?,
                assigned,
            )
        })
        .await
    }

    async fn allow_proposals(
        &self,
        qube: String,
        profile: String,
        allowed: bool,
    ) -> Result<(), Error> {
        run(&self.backend, move |b| {
            b.allow_proposals(
                &views::qube_name(&qube)?,
                &views::profile_id(&profile)?,
                allowed,
            )
        })
        .await
    }

    #[zbus(out_args("allowlist"))]
    async fn allow_new_paths(
        &self,
        profile: String,
        globs: Vec<String>,
        allowed: bool,
    ) -> Result<Vec<String>, Error> {
        run(&self.backend, move |b| {
            b.allow_new_paths(&views::profile_id(&profile)?, &globs, allowed)
        })
        .await
    }

    #[zbus(out_args("rules_json"))]
    async fn list_assignment_rules(&self) -> Result<String, Error> {
        run(&self.backend, |b| views::to_json(&b.rules_view()?)).await
    }

    async fn set_assignment_rule(
        &self,
        kind: String,
        value: String,
        profile: String,
        add: bool,
    ) -> Result<(), Error> {
        run(&self.backend, move |b| {
            b.set_assignment_rule(
                &crate::backend::assignment_rule(&kind, value, &profile)?,
                add,
            )
        })
        .await
    }

    // ----- profiles and files -----

    #[zbus(out_args("profiles"))]
    async fn list_profiles(&self) -> Result<Vec<(String, String, u64)>, Error> {
        run(&self.backend, |b| {
            let profiles = b.with_store(|s| Ok(s.profiles()?))?;
            Ok(profiles
                .into_iter()
                .map(|p| (p.id.to_string(), p.description, p.generation))
                .collect())
        })
        .await
    }

    #[zbus(out_args("profile_json"))]
    async fn get_profile(&self, profile: String) -> Result<String, Error> {
        run(&self.backend, move |b| {
            views::to_json(&b.profile_view(&views::profile_id(&profile)?)?)
        })
        .await
    }

    async fn create_profile(&self, profile: String, description: String) -> Result<(), Error> {
        run(&self.backend, move |b| {
            let profile = views::profile_id(&profile)?;
            b.with_store(|s| Ok(s.create_profile(&profile, &description).map(|_| ())?))
        })
        .await
    }

    async fn set_profile_description(
        &self,
        profile: String,
        description: String,
    ) -> Result<(), Error> {
        run(&self.backend, move |b| {
            let profile = views::profile_id(&profile)?;
            b.with_store(|s| Ok(s.set_profile_description(&profile, &description)?))
        })
        .await
    }

    #[zbus(out_args("content", "mode", "generation"))]
    async fn get_file(&self, profile: String, path: String) -> Result<(Vec<u8>, u32, u64), Error> {
        run(&self.backend, move |b| {
            let (profile, path) = (views::profile_id(&profile)?, views::relative_path(&path)?);
            let file = b.with_store(|s| Ok(s.current_file(&profile, &path)?))?;
            let file = file.ok_or_else(|| {
                BackendError::NotFound(
                    crate::client::Reason::new(crate::client::Code::FileUnknown)
                        .arg("profile", &profile)
                        .arg("path", &path),
                )
            })?;
            Ok((file.bytes, file.mode.bits(), file.generation))
        })
        .await
    }

    #[zbus(out_args("generation"))]
    async fn put_file(
        &self,
        profile: String,
        path: String,
        content: Vec<u8>,
        mode: u32,
    ) -> Result<u64, Error> {
        run(&self.backend, move |b| {
            let (profile, path) = (views::profile_id(&profile)?, views::relative_path(&path)?);
            let generation = b.with_store(|s| Ok(s.put_file(&profile, &path, &content, mode)?))?;
            b.profile_changed();
            Ok(generation)
        })
        .await
    }

    #[zbus(out_args("generation", "removed"))]
    async fn put_directory(
        &self,
        profile: String,
        path: String,
        files: Vec<(String, Vec<u8>, u32)>,
    ) -> Result<(u64, u32), Error> {
        run(&self.backend, move |b| {
            let files = files
                .into_iter()
                .map(|(p, content, mode)| Ok((views::relative_path(&p)?, content, mode)))
                .collect::<Result<Vec<_>, BackendError>>()?;
            b.put_directory(
                &views::profile_id(&profile)?,
                &views::relative_path(&path)?,
                &files,
            )
        })
        .await
    }

    #[zbus(out_args("generation"))]
    async fn remove_file(&self, profile: String, path: String) -> Result<u64, Error> {
        run(&self.backend, move |b| {
            let (profile, path) = (views::profile_id(&profile)?, views::relative_path(&path)?);
            let generation = b.with_store(|s| Ok(s.remove_file(&profile, &path)?))?;
            b.profile_changed();
            Ok(generation)
        })
        .await
    }

    #[zbus(out_args("new_generation"))]
    async fn revert_profile(&self, profile: String, generation: u64) -> Result<u64, Error> {
        run(&self.backend, move |b| {
            b.rollback_profile(&views::profile_id(&profile)?, generation)
        })
        .await
    }

    #[zbus(out_args("plan_json"))]
    async fn plan_undo(&self, qube: String, profile: String) -> Result<String, Error> {
        run(&self.backend, move |b| {
            views::to_json(&b.plan_undo(&views::qube_name(&qube)?, &views::profile_id(&profile)?)?)
        })
        .await
    }

    #[zbus(out_args("summary_json"))]
    async fn undo(&self, qube: String, profile: String, backup: String) -> Result<String, Error> {
        run(&self.backend, move |b| {
            views::to_json(&b.undo(
                &views::qube_name(&qube)?,
                &views::profile_id(&profile)?,
                &backup,
            )?)
        })
        .await
    }

    #[zbus(out_args("generations_json"))]
    async fn generations(&self, profile: String) -> Result<String, Error> {
        run(&self.backend, move |b| {
            views::to_json(&b.generations(&views::profile_id(&profile)?)?)
        })
        .await
    }

    // ----- push -----

    #[zbus(out_args("plan_json"))]
    async fn plan_push(
        &self,
        qubes: Vec<String>,
        profiles: Vec<String>,
        overwrite: Vec<(String, String)>,
    ) -> Result<String, Error> {
        run(&self.backend, move |b| {
            let overwrite = overwrite
                .iter()
                .map(|(q, p)| Ok((views::qube_name(q)?, views::relative_path(p)?)))
                .collect::<Result<Vec<_>, BackendError>>()?;
            views::to_json(&b.plan_push(
                &views::qube_names(&qubes)?,
                &views::profile_ids(&profiles)?,
                &overwrite,
            )?)
        })
        .await
    }

    #[zbus(out_args("job"))]
    async fn execute_plan(&self, plan_id: String) -> Result<u64, Error> {
        run(&self.backend, move |b| b.execute_plan(&plan_id, &[])).await
    }

    #[zbus(out_args("job"))]
    async fn execute_plan_starting(
        &self,
        plan_id: String,
        start: Vec<String>,
    ) -> Result<u64, Error> {
        run(&self.backend, move |b| b.execute_plan(&plan_id, &start)).await
    }

    async fn cancel_job(&self, job: u64) -> Result<(), Error> {
        run(&self.backend, move |b| b.cancel_job(job)).await
    }

    // ----- snapshot and proposals -----

    #[zbus(out_args("result_json"))]
    async fn snapshot(&self, qube: String, profiles: Vec<String>) -> Result<String, Error> {
        run(&self.backend, move |b| {
            views::to_json(&b.snapshot(&views::qube_name(&qube)?, &views::profile_ids(&profiles)?)?)
        })
        .await
    }

    #[zbus(out_args("result_json"))]
    async fn adopt(
        &self,
        qube: String,
        path: String,
        profile: String,
        create: bool,
    ) -> Result<String, Error> {
        run(&self.backend, move |b| {
            let (qube, path) = (views::qube_name(&qube)?, views::relative_path(&path)?);
            views::to_json(&b.adopt(&qube, &path, &views::profile_id(&profile)?, create)?)
        })
        .await
    }

    #[zbus(out_args("proposals_json"))]
    async fn list_proposals(&self, status: String) -> Result<String, Error> {
        run(&self.backend, move |b| {
            views::to_json(&b.list_proposals(&status)?)
        })
        .await
    }

    #[zbus(out_args("proposal_json"))]
    async fn get_proposal(&self, id: i64) -> Result<String, Error> {
        run(&self.backend, move |b| {
            Ok(b.get_proposal_json(id)?.to_string())
        })
        .await
    }

    #[zbus(out_args("generation"))]
    #[allow(clippy::too_many_arguments)]
    async fn accept_proposal(
        &self,
        #[zbus(connection)] connection: &zbus::Connection,
        #[zbus(header)] header: Header<'_>,
        id: i64,
        digest: String,
        hunks: Vec<String>,
        acknowledged: Vec<String>,
        note: String,
    ) -> Result<u64, Error> {
        let by = super::caller::describe(connection, &header, "AcceptProposal").await;
        run(&self.backend, move |b| {
            b.accept_proposal(id, &digest, &hunks, &acknowledged, &note, &by)
        })
        .await
    }

    async fn reject_proposal(&self, id: i64, note: String) -> Result<(), Error> {
        run(&self.backend, move |b| b.reject_proposal(id, &note)).await
    }

    #[zbus(out_args("ingested"))]
    async fn ingest_spool(&self) -> Result<u32, Error> {
        run(&self.backend, |b| b.ingest_spool()).await
    }

    // ----- persistence, policy, audit -----

    #[zbus(out_args("applied", "dom0_command"))]
    async fn fix_persistence(&self, qube: String, path: String) -> Result<(bool, String), Error> {
        run(&self.backend, move |b| {
            b.fix_persistence(&views::qube_name(&qube)?, &views::relative_path(&path)?)
        })
        .await
    }

    #[zbus(out_args("policy"))]
    async fn generate_policy(&self) -> Result<String, Error> {
        run(&self.backend, |b| b.generate_policy()).await
    }

    #[zbus(out_args("entries_json"))]
    async fn audit_log(&self, after: i64, limit: u32) -> Result<String, Error> {
        run(&self.backend, move |b| {
            views::to_json(&b.audit_view(after, limit)?)
        })
        .await
    }

    // ----- signals and property -----

    #[zbus(signal)]
    async fn proposals_changed(emitter: &SignalEmitter<'_>, pending: u32) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn qube_changed(emitter: &SignalEmitter<'_>, qube: &str) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn job_progress(
        emitter: &SignalEmitter<'_>,
        job: u64,
        done: u32,
        total: u32,
        qube: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn job_finished(
        emitter: &SignalEmitter<'_>,
        job: u64,
        success: bool,
        summary_json: &str,
    ) -> zbus::Result<()>;

    #[zbus(property)]
    async fn pending_proposals(&self) -> zbus::fdo::Result<u32> {
        let backend = Arc::clone(&self.backend);
        blocking::unblock(move || backend.pending_count())
            .await
            .map_err(|e| zbus::fdo::Error::Failed(e.reason().to_message()))
    }
}

/// Emits the backend's notifications as D-Bus signals (from worker threads, never
/// from the D-Bus executor).
pub struct DbusNotifier {
    conn: zbus::Connection,
}

impl DbusNotifier {
    pub fn new(conn: zbus::Connection) -> Self {
        DbusNotifier { conn }
    }

    fn emitter(&self) -> zbus::Result<SignalEmitter<'static>> {
        SignalEmitter::new(&self.conn, OBJECT_PATH)
    }
}

fn report(what: &str, result: zbus::Result<()>) {
    if let Err(e) = result {
        eprintln!("qubes-config-syncd: cannot emit {what} on {INTERFACE}: {e}");
    }
}

impl Notifier for DbusNotifier {
    fn proposals_changed(&self, pending: u32) {
        report(
            "ProposalsChanged",
            zbus::block_on(async {
                ConfigSync::proposals_changed(&self.emitter()?, pending).await
            }),
        );
        report(
            "PropertiesChanged(PendingProposals)",
            zbus::block_on(async {
                let iface = self
                    .conn
                    .object_server()
                    .interface::<_, ConfigSync>(OBJECT_PATH)
                    .await?;
                let guard = iface.get().await;
                guard
                    .pending_proposals_changed(iface.signal_emitter())
                    .await
            }),
        );
    }

    fn qube_changed(&self, qube: &str) {
        report(
            "QubeChanged",
            zbus::block_on(async { ConfigSync::qube_changed(&self.emitter()?, qube).await }),
        );
    }

    fn job_progress(&self, job: u64, done: u32, total: u32, qube: &str) {
        report(
            "JobProgress",
            zbus::block_on(async {
                ConfigSync::job_progress(&self.emitter()?, job, done, total, qube).await
            }),
        );
    }

    fn job_finished(&self, job: u64, success: bool, summary: &JobSummary) {
        let json = serde_json::to_string(summary).unwrap_or_else(|_| "{}".to_owned());
        report(
            "JobFinished",
            zbus::block_on(async {
                ConfigSync::job_finished(&self.emitter()?, job, success, &json).await
            }),
        );
    }
}
