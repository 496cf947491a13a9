//! The backend's error type and its mapping to the D-Bus errors of the API.

use qcs_core::review::GateError;
use qcs_core::store::StoreError;

use super::services::ServiceError;
use crate::client::types::{API_VERSION, ReviewRefusal};
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
    NotFound(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Refused(String),
    #[error("{code}: {0}", code = .0.code())]
    Review(#[from] GateError),
    #[error("{0}")]
    Failed(String),
}

impl From<BackendError> for DbusError {
    fn from(error: BackendError) -> DbusError {
        let message = error.to_string();
        match error {
            BackendError::Store(store) => match store {
                StoreError::ProfileNotFound(_)
                | StoreError::FileNotFound { .. }
                | StoreError::NoSuchGeneration { .. }
                | StoreError::ProposalNotFound(_) => DbusError::NotFound(message),
                StoreError::InvalidPath { .. }
                | StoreError::InvalidProfileId { .. }
                | StoreError::InvalidQubeName { .. }
                | StoreError::ModeNotAllowed(_)
                | StoreError::InvalidHash(_)
                | StoreError::InvalidGlob { .. } => DbusError::InvalidArgument(message),
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
                | StoreError::MixedBatch
                | StoreError::ImportRefused(_)
                | StoreError::ExportRefused(_) => DbusError::Refused(message),
                _ => DbusError::Store(message),
            },
            BackendError::Admin(_) => DbusError::AdminApi(message),
            BackendError::Service(_) => DbusError::Qrexec(message),
            BackendError::NotFound(_) => DbusError::NotFound(message),
            BackendError::InvalidArgument(_) => DbusError::InvalidArgument(message),
            BackendError::Refused(_) => DbusError::Refused(message),
            BackendError::Review(gate) => DbusError::ReviewRefused(review_refusal(&gate)),
            BackendError::Failed(_) => DbusError::Failed(message),
        }
    }
}

/// The JSON message of a `ReviewRefused` error.
fn review_refusal(gate: &GateError) -> String {
    let refusal = ReviewRefusal {
        version: API_VERSION,
        code: gate.code().to_owned(),
        ids: gate.ids().to_vec(),
        message: gate.to_string(),
    };
    serde_json::to_string(&refusal).unwrap_or_else(|_| gate.code().to_owned())
}

#[cfg(test)]
mod tests {
    use qcs_core::review::GateError;
    use qcs_core::store::StoreError;

    use super::BackendError;
    use crate::client::types::ReviewRefusal;
    use crate::dbus::error::Error as DbusError;

    #[test]
    fn each_kind_of_failure_has_its_dbus_error_with_the_message() {
        type Check = fn(&DbusError) -> bool;
        let cases: Vec<(BackendError, Check)> = vec![
            (
                StoreError::ProfileNotFound("git".into()).into(),
                |e| matches!(e, DbusError::NotFound(m) if m.contains("git")),
            ),
            (
                StoreError::NeverSync(".ssh/id_rsa".into()).into(),
                |e| matches!(e, DbusError::Refused(m) if m.contains(".ssh/id_rsa")),
            ),
            (StoreError::InvalidHash("x".into()).into(), |e| {
                matches!(e, DbusError::InvalidArgument(_))
            }),
            (
                StoreError::Corrupt("bad row".into()).into(),
                |e| matches!(e, DbusError::Store(m) if m.contains("bad row")),
            ),
            (
                GateError::Unacknowledged(vec!["git.core.fsmonitor@.gitconfig:p2#0011aabb".into()])
                    .into(),
                |e| match e {
                    DbusError::ReviewRefused(m) => {
                        let r = ReviewRefusal::parse(m);
                        r.code == "review.unacknowledged"
                            && r.ids == ["git.core.fsmonitor@.gitconfig:p2#0011aabb"]
                    }
                    _ => false,
                },
            ),
            (BackendError::Refused("no".into()), |e| {
                matches!(e, DbusError::Refused(_))
            }),
        ];
        for (error, check) in cases {
            let text = error.to_string();
            let mapped = DbusError::from(error);
            assert!(check(&mapped), "{text} became {mapped:?}");
        }
    }
}
