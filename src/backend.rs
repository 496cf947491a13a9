//! The app's only way to the store and the qubes: the D-Bus backend
//! `org.qubes.ConfigSync1`, through `qcs_client`'s proxy. Every failure is a reason
//! code, shown as a translated sentence (`crate::reasons`), never a D-Bus error name.
//!
//! JSON results are parsed off the UI thread (`gio::spawn_blocking`): a proposal or a
//! plan carries whole rendered diffs, and a big one must not freeze the window. A
//! document whose `version` is newer than this app understands is refused, not guessed.

use gtk::gio;
use qcs_client::types::ReviewRefusal;
use qcs_client::types::{
    API_VERSION, JobSummary, ProfileView, ProposalList, ProposalView, PushPlan, QubeList,
    SnapshotResult,
};
use qcs_client::{Code, ConfigSyncProxy, Reason, connect, connect_to};
use serde::de::DeserializeOwned;

/// A failed backend call; its `Display` is the translated sentence for the user.
#[derive(Debug)]
pub enum BackendError {
    /// Why, as the backend (or the bus, or this app) said it.
    Reason(Reason),
    /// The review gate refused an accept (`refusal.code` says why).
    Review(ReviewRefusal),
}

impl BackendError {
    /// The reason behind the error.
    pub fn reason(&self) -> Reason {
        match self {
            BackendError::Reason(r) => r.clone(),
            BackendError::Review(refusal) => refusal.reason(),
        }
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::reasons::text(&self.reason()))
    }
}

impl std::error::Error for BackendError {}

impl From<qcs_client::Error> for BackendError {
    fn from(e: qcs_client::Error) -> BackendError {
        match e {
            qcs_client::Error::ReviewRefused(message) => {
                BackendError::Review(ReviewRefusal::parse(&message))
            }
            other => BackendError::Reason(other.reason()),
        }
    }
}

impl From<serde_json::Error> for BackendError {
    fn from(e: serde_json::Error) -> BackendError {
        BackendError::Reason(Reason::new(Code::ReplyUnreadable).arg("detail", e))
    }
}

/// A connection to the backend; cheap to clone.
#[derive(Clone, Debug)]
pub struct Backend {
    proxy: ConfigSyncProxy<'static>,
}

/// Something with the document version field.
trait Versioned {
    fn version(&self) -> u32;
}

macro_rules! versioned {
    ($($t:ty),*) => { $(impl Versioned for $t { fn version(&self) -> u32 { self.version } })* };
}
versioned!(
    QubeList,
    ProfileView,
    PushPlan,
    ProposalList,
    ProposalView,
    JobSummary,
    SnapshotResult,
    qcs_client::history::GenerationList,
    qcs_client::history::UndoPlan
);

/// Parse a JSON document on a worker thread and check its version.
async fn parse<T>(json: String) -> Result<T, BackendError>
where
    T: DeserializeOwned + Versioned + Send + 'static,
{
    let parsed = gio::spawn_blocking(move || serde_json::from_str::<T>(&json))
        .await
        .map_err(|_| {
            BackendError::Reason(
                Reason::new(Code::ReplyUnreadable).arg("detail", "the parser thread panicked"),
            )
        })??;
    check_version(parsed)
}

fn check_version<T: Versioned>(document: T) -> Result<T, BackendError> {
    if document.version() > API_VERSION {
        return Err(BackendError::Reason(
            Reason::new(Code::ClientTooOld).arg("version", document.version()),
        ));
    }
    Ok(document)
}

/// Parse a job summary (small; parsed in place).
pub fn parse_job_summary(json: &str) -> Result<JobSummary, BackendError> {
    check_version(serde_json::from_str::<JobSummary>(json)?)
}

impl Backend {
    /// Connect to the session bus, or to `address` (the demo's private bus).
    pub async fn connect(address: Option<&str>) -> Result<Backend, BackendError> {
        let (_connection, proxy) = match address {
            Some(address) => connect_to(address).await,
            None => connect().await,
        }
        .map_err(|e| BackendError::Reason(Reason::new(Code::BusUnreachable).arg("detail", e)))?;
        Ok(Backend { proxy })
    }

    pub fn proxy(&self) -> &ConfigSyncProxy<'static> {
        &self.proxy
    }

    pub async fn qubes(&self) -> Result<QubeList, BackendError> {
        parse(self.proxy.list_qubes().await?).await
    }

    pub async fn qube(&self, name: &str) -> Result<QubeList, BackendError> {
        parse(self.proxy.get_qube(name).await?).await
    }

    pub async fn profiles(&self) -> Result<Vec<(String, String, u64)>, BackendError> {
        Ok(self.proxy.list_profiles().await?)
    }

    pub async fn create_profile(&self, id: &str, description: &str) -> Result<(), BackendError> {
        Ok(self.proxy.create_profile(id, description).await?)
    }

    pub async fn profile(&self, id: &str) -> Result<ProfileView, BackendError> {
        parse(self.proxy.get_profile(id).await?).await
    }

    pub async fn file(&self, profile: &str, path: &str) -> Result<(Vec<u8>, u32), BackendError> {
        let (content, mode, _generation) = self.proxy.get_file(profile, path).await?;
        Ok((content, mode))
    }

    pub async fn put_file(
        &self,
        profile: &str,
        path: &str,
        content: &[u8],
        mode: u32,
    ) -> Result<u64, BackendError> {
        Ok(self.proxy.put_file(profile, path, content, mode).await?)
    }

    pub async fn remove_file(&self, profile: &str, path: &str) -> Result<u64, BackendError> {
        Ok(self.proxy.remove_file(profile, path).await?)
    }

    /// The profile's generations, oldest first.
    pub async fn generations(
        &self,
        profile: &str,
    ) -> Result<qcs_client::history::GenerationList, BackendError> {
        parse(self.proxy.generations(profile).await?).await
    }

    /// What undoing the last push of `profile` into `qube` would do (nothing changes).
    pub async fn plan_undo(
        &self,
        qube: &str,
        profile: &str,
    ) -> Result<qcs_client::history::UndoPlan, BackendError> {
        parse(self.proxy.plan_undo(qube, profile).await?).await
    }

    /// Undoes the last push of `profile` into `qube` from `backup` (the planned one).
    pub async fn undo(
        &self,
        qube: &str,
        profile: &str,
        backup: &str,
    ) -> Result<JobSummary, BackendError> {
        parse(self.proxy.undo(qube, profile, backup).await?).await
    }

    /// Rolls the profile back to `generation` as a new generation; returns its number.
    pub async fn rollback_profile(
        &self,
        profile: &str,
        generation: u64,
    ) -> Result<u64, BackendError> {
        Ok(self.proxy.revert_profile(profile, generation).await?)
    }

    /// Adds (`allowed`) or removes a glob of the profile's allowlist of new paths;
    /// returns the list after the change.
    pub async fn allow_new_paths(
        &self,
        profile: &str,
        glob: &str,
        allowed: bool,
    ) -> Result<Vec<String>, BackendError> {
        Ok(self
            .proxy
            .allow_new_paths(profile, &[glob], allowed)
            .await?)
    }

    pub async fn plan_push(
        &self,
        qubes: &[String],
        profiles: &[String],
        overwrite: &[(String, String)],
    ) -> Result<PushPlan, BackendError> {
        let qubes: Vec<&str> = qubes.iter().map(String::as_str).collect();
        let profiles: Vec<&str> = profiles.iter().map(String::as_str).collect();
        let overwrite: Vec<(&str, &str)> = overwrite
            .iter()
            .map(|(q, p)| (q.as_str(), p.as_str()))
            .collect();
        parse(self.proxy.plan_push(&qubes, &profiles, &overwrite).await?).await
    }

    /// Executes a plan; `start` names the halted qubes the user chose to start and
    /// push to (the others are skipped).
    pub async fn execute_plan(&self, plan_id: &str, start: &[String]) -> Result<u64, BackendError> {
        if start.is_empty() {
            return Ok(self.proxy.execute_plan(plan_id).await?);
        }
        let start: Vec<&str> = start.iter().map(String::as_str).collect();
        Ok(self.proxy.execute_plan_starting(plan_id, &start).await?)
    }

    pub async fn cancel_job(&self, job: u64) -> Result<(), BackendError> {
        Ok(self.proxy.cancel_job(job).await?)
    }

    pub async fn snapshot(&self, qube: &str) -> Result<SnapshotResult, BackendError> {
        parse(self.proxy.snapshot(qube, &[]).await?).await
    }

    /// Adopts `path` of `qube` into `profile` (created when missing): the file arrives
    /// as a proposal to review.
    pub async fn adopt(
        &self,
        qube: &str,
        path: &str,
        profile: &str,
    ) -> Result<SnapshotResult, BackendError> {
        parse(self.proxy.adopt(qube, path, profile, true).await?).await
    }

    pub async fn pending_proposals(&self) -> Result<ProposalList, BackendError> {
        parse(self.proxy.list_proposals("pending").await?).await
    }

    pub async fn proposal(&self, id: i64) -> Result<ProposalView, BackendError> {
        parse(self.proxy.get_proposal(id).await?).await
    }

    pub async fn accept_proposal(
        &self,
        id: i64,
        digest: &str,
        hunks: &[String],
        acknowledged: &[String],
    ) -> Result<u64, BackendError> {
        let hunks: Vec<&str> = hunks.iter().map(String::as_str).collect();
        let acknowledged: Vec<&str> = acknowledged.iter().map(String::as_str).collect();
        Ok(self
            .proxy
            .accept_proposal(id, digest, &hunks, &acknowledged, "")
            .await?)
    }

    pub async fn reject_proposal(&self, id: i64) -> Result<(), BackendError> {
        Ok(self.proxy.reject_proposal(id, "").await?)
    }

    pub async fn qube_settings(
        &self,
        qube: &str,
    ) -> Result<(Vec<String>, Vec<String>, bool), BackendError> {
        Ok(self.proxy.get_qube_settings(qube).await?)
    }

    pub async fn set_qube_settings(
        &self,
        qube: &str,
        assigned: &[String],
        may_propose: &[String],
        auto_apply: bool,
    ) -> Result<(), BackendError> {
        let assigned: Vec<&str> = assigned.iter().map(String::as_str).collect();
        let may_propose: Vec<&str> = may_propose.iter().map(String::as_str).collect();
        Ok(self
            .proxy
            .set_qube_settings(qube, &assigned, &may_propose, auto_apply)
            .await?)
    }

    /// Every assignment rule with the qubes it covers now.
    pub async fn rules(&self) -> Result<qcs_client::rules::RuleList, BackendError> {
        let json = self.proxy.list_assignment_rules().await?;
        let list: qcs_client::rules::RuleList = serde_json::from_str(&json)?;
        if list.version > API_VERSION {
            return Err(BackendError::Reason(
                Reason::new(Code::ClientTooOld).arg("version", list.version),
            ));
        }
        Ok(list)
    }

    /// Adds (`add`) or removes the rule "every qube of `kind` `value` gets `profile`".
    pub async fn set_rule(
        &self,
        kind: qcs_client::rules::SourceKind,
        value: &str,
        profile: &str,
        add: bool,
    ) -> Result<(), BackendError> {
        Ok(self
            .proxy
            .set_assignment_rule(kind.as_str(), value, profile, add)
            .await?)
    }

    /// Replaces the directory entry `path` of `profile` with `files` (path inside it,
    /// content, mode) in one generation; (new generation, files removed).
    pub async fn put_directory(
        &self,
        profile: &str,
        path: &str,
        files: &[(String, Vec<u8>, u32)],
    ) -> Result<(u64, u32), BackendError> {
        let files: Vec<(&str, &[u8], u32)> = files
            .iter()
            .map(|(p, c, m)| (p.as_str(), c.as_slice(), *m))
            .collect();
        Ok(self.proxy.put_directory(profile, path, &files).await?)
    }

    pub async fn fix_persistence(
        &self,
        qube: &str,
        path: &str,
    ) -> Result<(bool, String), BackendError> {
        Ok(self.proxy.fix_persistence(qube, path).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_document_is_refused_not_guessed() {
        let json = format!(
            r#"{{"version": {}, "kind": "push", "cancelled": false, "qubes": []}}"#,
            API_VERSION + 1
        );
        assert!(matches!(
            parse_job_summary(&json),
            Err(BackendError::Reason(r)) if r.code == Code::ClientTooOld
        ));
        let json = format!(
            r#"{{"version": {API_VERSION}, "kind": "push", "cancelled": true, "qubes": []}}"#
        );
        assert!(parse_job_summary(&json).is_ok_and(|s| s.cancelled));
        assert!(matches!(
            parse_job_summary("{\"version\": 1"),
            Err(BackendError::Reason(r)) if r.code == Code::ReplyUnreadable
        ));
    }
}
