//! The typed client contract of `org.qubes.ConfigSync1` (DESIGN §3): a zbus proxy, the
//! serde [`types`] its JSON arguments carry (closed sets as enums with one fail-closed
//! fallback), the [`reason`] codes every message is made of (with the one English table),
//! the D-Bus [`Error`]s and the [`job`] follower. The app, the CLI and the Python module
//! use only this crate; the backend serialises the same types, so all agree on one
//! definition.
//!
//! It must not contain backend logic, storage, or anything GTK: it is the wire.
//!
//! The proxy is async (zbus with `async-io`, no tokio). A blocking caller runs it with
//! [`zbus::block_on`]; the GTK app with `glib::MainContext::spawn_local`.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use qcs_client::{ConfigSyncProxy, connect, types::QubeList};
//! zbus::block_on(async {
//!     let (_conn, proxy) = connect().await?;
//!     let list: QubeList = serde_json::from_str(&proxy.list_qubes().await?)?;
//!     for qube in list.qubes { println!("{}", qube.name); }
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```

pub mod error;
pub mod job;
pub mod reason;
pub mod rules;
pub mod types;

use zbus::proxy;

pub use error::{Error, ErrorKind};
pub use reason::{Code, Reason};

/// Well-known bus name of the backend.
pub const BUS_NAME: &str = "org.qubes.ConfigSync1";
/// Object path of the backend.
pub const OBJECT_PATH: &str = "/org/qubes/ConfigSync1";
/// Interface name.
pub const INTERFACE: &str = "org.qubes.ConfigSync1";

/// The `org.qubes.ConfigSync1` interface. See `API.md` beside the crate's `Cargo.toml`
/// for each method's contract; JSON results deserialize into [`types`].
#[proxy(
    interface = "org.qubes.ConfigSync1",
    default_service = "org.qubes.ConfigSync1",
    default_path = "/org/qubes/ConfigSync1",
    gen_blocking = false
)]
pub trait ConfigSync {
    // ----- qubes -----

    /// Every qube with class, power state, label, settings, sync state per profile and
    /// persistence per path. JSON [`types::QubeList`].
    fn list_qubes(&self) -> Result<String, Error>;
    /// One qube, as a [`types::QubeList`] with one entry.
    fn get_qube(&self, qube: &str) -> Result<String, Error>;
    /// (assigned profiles, may-propose profiles, auto-apply on start).
    fn get_qube_settings(&self, qube: &str) -> Result<(Vec<String>, Vec<String>, bool), Error>;
    /// Replaces a qube's settings as a whole.
    fn set_qube_settings(
        &self,
        qube: &str,
        assigned: &[&str],
        may_propose: &[&str],
        auto_apply: bool,
    ) -> Result<(), Error>;
    /// Assigns (`true`) or unassigns (`false`) a profile.
    fn assign(&self, qube: &str, profile: &str, assigned: bool) -> Result<(), Error>;
    /// Lets a qube propose changes to a profile, or stops it.
    fn allow_proposals(&self, qube: &str, profile: &str, allowed: bool) -> Result<(), Error>;
    /// Adds (`allowed`) or removes globs of a profile's allowlist of new paths; returns
    /// the list after the change.
    fn allow_new_paths(
        &self,
        profile: &str,
        globs: &[&str],
        allowed: bool,
    ) -> Result<Vec<String>, Error>;

    /// Every assignment rule with the qubes it covers now. JSON [`rules::RuleList`].
    fn list_assignment_rules(&self) -> Result<String, Error>;
    /// Adds (`add`) or removes the rule `kind` (`tag`, `template`, `class`) = `value` →
    /// `profile`. Covered qubes are evaluated live; dom0 and the config qube never are.
    fn set_assignment_rule(
        &self,
        kind: &str,
        value: &str,
        profile: &str,
        add: bool,
    ) -> Result<(), Error>;

    // ----- profiles and files -----

    /// (id, description, generation) of every profile.
    fn list_profiles(&self) -> Result<Vec<(String, String, u64)>, Error>;
    /// JSON [`types::ProfileView`].
    fn get_profile(&self, profile: &str) -> Result<String, Error>;
    fn create_profile(&self, profile: &str, description: &str) -> Result<(), Error>;
    fn set_profile_description(&self, profile: &str, description: &str) -> Result<(), Error>;
    /// (content, mode, generation the file last changed in).
    fn get_file(&self, profile: &str, path: &str) -> Result<(Vec<u8>, u32, u64), Error>;
    /// Adds or edits a file as a local edit; returns the profile's new generation.
    fn put_file(&self, profile: &str, path: &str, content: &[u8], mode: u32) -> Result<u64, Error>;
    /// Replaces the directory entry `path` (e.g. `.config/nvim`) of a profile with
    /// `files` — (path inside it, content, mode) — as one local edit: files under it
    /// that are not given are removed. Returns (new generation, files removed).
    fn put_directory(
        &self,
        profile: &str,
        path: &str,
        files: &[(&str, &[u8], u32)],
    ) -> Result<(u64, u32), Error>;
    /// Removes a file; returns the new generation.
    fn remove_file(&self, profile: &str, path: &str) -> Result<u64, Error>;
    /// Store-side rollback: the profile's files as at `generation`, as a new generation.
    fn revert_profile(&self, profile: &str, generation: u64) -> Result<u64, Error>;

    // ----- push -----

    /// Snapshots the qubes (all with assignments when `qubes` is empty) and plans the
    /// push of their assigned profiles (only `profiles` when not empty). `overwrite`
    /// holds (qube, path) pairs the user chose to overwrite. JSON [`types::PushPlan`].
    fn plan_push(
        &self,
        qubes: &[&str],
        profiles: &[&str],
        overwrite: &[(&str, &str)],
    ) -> Result<String, Error>;
    /// Starts a job that carries out a plan; returns the job id. Progress arrives as
    /// `JobProgress`, the end as `JobFinished`. Qubes that were halted when planned are
    /// skipped (reported as skipped), never started.
    fn execute_plan(&self, plan_id: &str) -> Result<u64, Error>;
    /// Like `execute_plan`, but starts the halted qubes of the plan named in `start`
    /// (the user chose them), then plans and pushes them; the other halted qubes are
    /// skipped. A name that is not a halted qube of the plan is refused
    /// (`plan.start-not-halted`) and nothing runs.
    fn execute_plan_starting(&self, plan_id: &str, start: &[&str]) -> Result<u64, Error>;
    /// Asks a job to stop: qubes not started yet are skipped.
    fn cancel_job(&self, job: u64) -> Result<(), Error>;
    /// Writes the profile's files as at `generation` into the qube (a job). Files that
    /// changed in the qube since our last push are conflicts, never overwritten.
    fn rollback(&self, qube: &str, profile: &str, generation: u64) -> Result<u64, Error>;

    // ----- snapshot and proposals -----

    /// Reads the qube's files of the given profiles (its assigned ones when empty) and
    /// imports those that differ from the store as proposals. JSON
    /// [`types::SnapshotResult`].
    fn snapshot(&self, qube: &str, profiles: &[&str]) -> Result<String, Error>;
    /// Adopts `path` from `qube` into `profile` (created when missing when `create`;
    /// assigned to the qube when it is not): a snapshot of that one path, imported as a
    /// proposal to review like every other. JSON [`types::SnapshotResult`].
    fn adopt(&self, qube: &str, path: &str, profile: &str, create: bool) -> Result<String, Error>;
    /// `status`: `pending`, `accepted`, `rejected` or `""` for all. JSON
    /// [`types::ProposalList`].
    fn list_proposals(&self, status: &str) -> Result<String, Error>;
    /// JSON [`types::ProposalView`].
    fn get_proposal(&self, id: i64) -> Result<String, Error>;
    /// Accepts all hunks (`hunks` empty) or only the given hunk ids of the review whose
    /// `digest` [`types::ProposalView`] gave. Every gated finding in the accepted hunks
    /// must be in `acknowledged` (finding ids). Refusals of the gate are
    /// `Error::ReviewRefused` with a JSON [`types::ReviewRefusal`]. Returns the
    /// profile's new generation.
    fn accept_proposal(
        &self,
        id: i64,
        digest: &str,
        hunks: &[&str],
        acknowledged: &[&str],
        note: &str,
    ) -> Result<u64, Error>;
    fn reject_proposal(&self, id: i64, note: &str) -> Result<(), Error>;
    /// Ingests the spool now (it is also watched); returns how many proposals entered
    /// quarantine.
    fn ingest_spool(&self) -> Result<u32, Error>;

    // ----- persistence, policy, audit -----

    /// Makes `path` persist in `qube` (custom-persist). Returns (applied through the
    /// Admin API, the dom0 command that does the same); when not applied, the user runs
    /// the command in dom0.
    fn fix_persistence(&self, qube: &str, path: &str) -> Result<(bool, String), Error>;
    /// The generated dom0 policy file for the store's whitelist.
    fn generate_policy(&self) -> Result<String, Error>;
    /// Audit log entries with id > `after`, at most `limit`. JSON [`types::AuditView`].
    fn audit_log(&self, after: i64, limit: u32) -> Result<String, Error>;

    // ----- signals and properties -----

    /// The set of pending proposals changed; `pending` is the new count.
    #[zbus(signal)]
    fn proposals_changed(&self, pending: u32) -> zbus::Result<()>;
    /// Something about a qube changed (state, settings, sync state): refetch it.
    #[zbus(signal)]
    fn qube_changed(&self, qube: &str) -> zbus::Result<()>;
    /// `done` of `total` qubes finished; `qube` is the one that just finished.
    #[zbus(signal)]
    fn job_progress(&self, job: u64, done: u32, total: u32, qube: &str) -> zbus::Result<()>;
    /// The job ended; `summary_json` is JSON [`types::JobSummary`].
    #[zbus(signal)]
    fn job_finished(&self, job: u64, success: bool, summary_json: &str) -> zbus::Result<()>;

    /// Number of pending proposals.
    #[zbus(property)]
    fn pending_proposals(&self) -> zbus::Result<u32>;
}

/// Connects to `address` when given, else to the session bus.
pub async fn connect_any(
    address: Option<&str>,
) -> zbus::Result<(zbus::Connection, ConfigSyncProxy<'static>)> {
    match address {
        Some(address) => connect_to(address).await,
        None => connect().await,
    }
}

/// Connects to the session bus (`DBUS_SESSION_BUS_ADDRESS`) and makes a proxy.
pub async fn connect() -> zbus::Result<(zbus::Connection, ConfigSyncProxy<'static>)> {
    let conn = zbus::Connection::session().await?;
    let proxy = ConfigSyncProxy::new(&conn).await?;
    Ok((conn, proxy))
}

/// Connects to the bus at `address` (e.g. `unix:path=/tmp/bus`) and makes a proxy.
pub async fn connect_to(
    address: &str,
) -> zbus::Result<(zbus::Connection, ConfigSyncProxy<'static>)> {
    let conn = zbus::connection::Builder::address(address)?.build().await?;
    let proxy = ConfigSyncProxy::new(&conn).await?;
    Ok((conn, proxy))
}
