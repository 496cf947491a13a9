//! The backend's error type and its mapping to the D-Bus errors of the API: every
//! failure becomes a reason code with arguments (`qcs_client::Reason`), never prose.
//! The English `Display` is for the backend's own log only.

use qcs_core::review::GateError;
use qcs_core::store::StoreError;

use super::services::ServiceError;
use crate::client::types::{API_VERSION, ReviewRefusal};
use crate::client::{Code, ErrorKind, Reason};
use crate::dbus::error::Error as DbusError;

/// Why a backend operation failed; nothing half-done is left behind.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("Admin API: {0}")]
    Admin(#[from] qubesadmin::Error),
    #[error("{0}")]
    Service(#[from] ServiceError),
    #[error("{0}")]
    NotFound(Reason),
    #[error("{0}")]
    InvalidArgument(Reason),
    #[error("{0}")]
    Refused(Reason),
    #[error("{code}: {0}", code = .0.code())]
    Review(#[from] GateError),
    #[error("{0}")]
    Failed(Reason),
}

impl BackendError {
    /// Shorthand: a failure of the backend itself with a technical detail.
    pub fn failed(detail: impl ToString) -> BackendError {
        BackendError::Failed(Reason::new(Code::Failed).arg("detail", detail.to_string()))
    }

    /// Why, as a reason code with arguments.
    pub fn reason(&self) -> Reason {
        match self {
            BackendError::Store(e) => store_reason(e),
            BackendError::Admin(e) => admin_reason(e),
            BackendError::Service(e) => e.reason(),
            BackendError::NotFound(r)
            | BackendError::InvalidArgument(r)
            | BackendError::Refused(r)
            | BackendError::Failed(r) => r.clone(),
            BackendError::Review(gate) => {
                Reason::new(Code::from_wire(gate.code())).arg("ids", gate.ids().join(", "))
            }
        }
    }
}

/// An Admin API failure as a reason.
pub fn admin_reason(e: &qubesadmin::Error) -> Reason {
    let code = if e.is_access_denied() {
        Code::AdminDenied
    } else {
        Code::AdminApi
    };
    Reason::new(code).arg("detail", e)
}

/// A store failure as a reason (its fields as arguments).
pub fn store_reason(e: &StoreError) -> Reason {
    let r = Reason::new;
    match e {
        StoreError::InvalidPath { path, source } => {
            r(Code::PathInvalid).arg("path", path).arg("detail", source)
        }
        StoreError::InvalidProfileId { id, source } => r(Code::ProfileInvalidId)
            .arg("profile", id)
            .arg("detail", source),
        StoreError::ModeNotAllowed(m) => r(Code::ModeNotAllowed).arg("detail", m),
        StoreError::TooLarge { size, limit, .. } => {
            r(Code::TooLarge).arg("size", size).arg("limit", limit)
        }
        StoreError::TooManyFiles(profile) => r(Code::ProfileTooManyFiles)
            .arg("profile", profile)
            .arg("limit", qcs_protocol::limits::MAX_FILES),
        StoreError::NeverSync(path) => r(Code::PathNeverSync).arg("path", path),
        StoreError::DuplicatePath(path) => r(Code::PathDuplicate).arg("path", path),
        StoreError::InvalidHash(h) => r(Code::HashInvalid).arg("value", h),
        StoreError::ProfileNotFound(p) => r(Code::ProfileUnknown).arg("profile", p),
        StoreError::ProfileExists(p) => r(Code::ProfileExists).arg("profile", p),
        StoreError::FileNotFound { profile, path } => r(Code::FileUnknown)
            .arg("profile", profile)
            .arg("path", path),
        StoreError::NoSuchGeneration {
            profile,
            generation,
            current,
        } => r(Code::GenerationUnknown)
            .arg("profile", profile)
            .arg("generation", generation)
            .arg("current", current),
        StoreError::SameContent {
            profile,
            generation,
        } => r(Code::GenerationSameContent)
            .arg("profile", profile)
            .arg("generation", generation),
        StoreError::ProposalNotFound(id) => r(Code::ProposalUnknown).arg("id", id),
        StoreError::ProposalNotPending { id, status } => r(Code::ProposalDecided)
            .arg("id", id)
            .arg("status", status.as_str()),
        StoreError::NotAllowedToPropose { qube, profile } => r(Code::ProposalNotAllowed)
            .arg("qube", qube)
            .arg("profile", profile),
        StoreError::ProposalQuotaExceeded { qube, limit } => {
            r(Code::ProposalQuota).arg("qube", qube).arg("limit", limit)
        }
        StoreError::NewPathNotAllowed { profile, path } => r(Code::ProposalNewPath)
            .arg("profile", profile)
            .arg("path", path),
        StoreError::NotInProfile { profile, path } => r(Code::ProposalNotInProfile)
            .arg("profile", profile)
            .arg("path", path),
        StoreError::MixedBatch => r(Code::ProposalMixedBatch),
        StoreError::InvalidGlob { glob, why } => {
            r(Code::GlobInvalid).arg("glob", glob).arg("detail", why)
        }
        StoreError::TooManyGlobs { profile, limit } => r(Code::GlobTooMany)
            .arg("profile", profile)
            .arg("limit", limit),
        StoreError::InvalidRule { kind, value, why } => r(Code::RuleInvalid)
            .arg("kind", kind)
            .arg("value", value)
            .arg("detail", why),
        StoreError::RuleExists(rule) => r(Code::RuleExists).arg("rule", rule),
        StoreError::RuleNotFound(rule) => r(Code::RuleUnknown).arg("rule", rule),
        StoreError::TooManyRules(limit) => r(Code::RuleTooMany).arg("limit", limit),
        StoreError::Template(t) => super::templates::refusal_reason(t).1,
        StoreError::ImportRefused(why) => r(Code::ImportRefused).arg("detail", why),
        StoreError::ExportRefused(why) => r(Code::ExportRefused).arg("detail", why),
        other => r(Code::StoreFailed).arg("detail", other),
    }
}

impl From<BackendError> for DbusError {
    fn from(error: BackendError) -> DbusError {
        let reason = error.reason();
        let kind = match &error {
            BackendError::Store(store) => match store {
                StoreError::ProfileNotFound(_)
                | StoreError::FileNotFound { .. }
                | StoreError::NoSuchGeneration { .. }
                | StoreError::ProposalNotFound(_)
                | StoreError::RuleNotFound(_) => ErrorKind::NotFound,
                StoreError::InvalidPath { .. }
                | StoreError::InvalidProfileId { .. }
                | StoreError::ModeNotAllowed(_)
                | StoreError::InvalidHash(_)
                | StoreError::InvalidGlob { .. }
                | StoreError::InvalidRule { .. } => ErrorKind::InvalidArgument,
                StoreError::TooLarge { .. }
                | StoreError::TooManyFiles(_)
                | StoreError::NeverSync(_)
                | StoreError::DuplicatePath(_)
                | StoreError::ProfileExists(_)
                | StoreError::ProposalNotPending { .. }
                | StoreError::NotAllowedToPropose { .. }
                | StoreError::ProposalQuotaExceeded { .. }
                | StoreError::NewPathNotAllowed { .. }
                | StoreError::NotInProfile { .. }
                | StoreError::TooManyGlobs { .. }
                | StoreError::RuleExists(_)
                | StoreError::TooManyRules(_)
                | StoreError::MixedBatch
                | StoreError::SameContent { .. }
                | StoreError::ImportRefused(_)
                | StoreError::ExportRefused(_) => ErrorKind::Refused,
                StoreError::Template(t) => super::templates::refusal_reason(t).0,
                _ => ErrorKind::Store,
            },
            BackendError::Admin(_) => ErrorKind::AdminApi,
            BackendError::Service(_) => ErrorKind::Qrexec,
            BackendError::NotFound(_) => ErrorKind::NotFound,
            BackendError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            BackendError::Refused(_) => ErrorKind::Refused,
            BackendError::Review(gate) => return DbusError::ReviewRefused(review_refusal(gate)),
            BackendError::Failed(_) => ErrorKind::Failed,
        };
        DbusError::of(kind, &reason)
    }
}

/// The JSON message of a `ReviewRefused` error.
fn review_refusal(gate: &GateError) -> String {
    let refusal = ReviewRefusal {
        version: API_VERSION,
        code: Code::from_wire(gate.code()),
        ids: gate.ids().to_vec(),
    };
    serde_json::to_string(&refusal).unwrap_or_else(|_| gate.code().to_owned())
}

#[cfg(test)]
mod tests {
    use qcs_core::review::GateError;
    use qcs_core::store::StoreError;

    use super::BackendError;
    use crate::client::types::ReviewRefusal;
    use crate::client::{Code, Reason};
    use crate::dbus::error::Error as DbusError;

    #[test]
    fn each_kind_of_failure_has_its_dbus_error_and_a_reason_code() {
        type Check = fn(&DbusError) -> bool;
        let cases: Vec<(BackendError, Check)> = vec![
            (StoreError::ProfileNotFound("git".into()).into(), |e| {
                matches!(e, DbusError::NotFound(_))
                    && e.reason() == Reason::new(Code::ProfileUnknown).arg("profile", "git")
            }),
            (StoreError::NeverSync(".ssh/id_rsa".into()).into(), |e| {
                matches!(e, DbusError::Refused(_))
                    && e.reason().code == Code::PathNeverSync
                    && e.reason().get("path") == ".ssh/id_rsa"
            }),
            (StoreError::InvalidHash("x".into()).into(), |e| {
                matches!(e, DbusError::InvalidArgument(_)) && e.reason().code == Code::HashInvalid
            }),
            (StoreError::Corrupt("bad row".into()).into(), |e| {
                matches!(e, DbusError::Store(_))
                    && e.reason().code == Code::StoreFailed
                    && e.reason().get("detail").contains("bad row")
            }),
            (
                GateError::Unacknowledged(vec!["git.core.fsmonitor@.gitconfig:p2#0011aabb".into()])
                    .into(),
                |e| match e {
                    DbusError::ReviewRefused(m) => {
                        let r = ReviewRefusal::parse(m);
                        r.code == Code::ReviewUnacknowledged
                            && r.ids == ["git.core.fsmonitor@.gitconfig:p2#0011aabb"]
                    }
                    _ => false,
                },
            ),
            (
                StoreError::Template(qcs_core::store::TemplateRefusal::TemplatedFile {
                    profile: "git".into(),
                    path: ".gitconfig".into(),
                })
                .into(),
                |e| {
                    matches!(e, DbusError::Refused(_))
                        && e.reason().code == Code::ProposalTemplatedFile
                        && e.reason().get("path") == ".gitconfig"
                },
            ),
            (
                StoreError::Template(qcs_core::store::TemplateRefusal::NotSet {
                    scope: "tag dev".into(),
                    name: "email".into(),
                })
                .into(),
                |e| matches!(e, DbusError::NotFound(_)) && e.reason().code == Code::VariableNotSet,
            ),
            (
                BackendError::Refused(Reason::new(Code::QubeAdmin).arg("qube", "dom0")),
                |e| matches!(e, DbusError::Refused(_)) && e.reason().code == Code::QubeAdmin,
            ),
        ];
        for (error, check) in cases {
            let text = error.to_string();
            let mapped = DbusError::from(error);
            assert!(check(&mapped), "{text} became {mapped:?}");
            // No D-Bus error carries prose: every message is a reason.
            assert!(
                !matches!(mapped.reason().code, Code::Unknown(_)),
                "{mapped:?}"
            );
        }
    }
}
