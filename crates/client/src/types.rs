//! The serde types carried as JSON strings over D-Bus (see the crate's `API.md`).
//!
//! Every JSON document a method returns is an object with `"version": 2`
//! ([`API_VERSION`]); a client that sees a higher version must refuse to interpret it.
//! Byte contents travel as base64 (`*_b64` fields) because file contents are arbitrary
//! bytes, not UTF-8; text that came from a qube is only ever shown through the
//! [`Segment`]s of the rendered diff, never raw.
//!
//! Every closed set of values is an enum with one fail-closed fallback (`Unknown`): an
//! unknown severity gates like a critical one, an unknown file outcome or plan action is
//! a failure, an unknown sync state or persistence verdict needs attention. Messages are
//! [`Reason`]s (codes with arguments), never prose.
//!
//! The types live in topic files, all re-exported here (callers name `types::X`):
//! `review` (severity, findings, the gate's refusal), `diff` (hunks, three-way views, the
//! rendered [`Segment`]s — the token class is `Segment::Token`'s `class`), `proposals`,
//! `qubes` (qube list, sync states, profiles), `push` (the plan), `jobs` (summaries,
//! outcomes, snapshots) and `audit`.

pub use crate::reason::{Code, Reason};

mod audit;
mod diff;
mod jobs;
mod proposals;
mod push;
mod qubes;
mod review;

pub use audit::*;
pub use diff::*;
pub use jobs::*;
pub use proposals::*;
pub use push::*;
pub use qubes::*;
pub use review::*;

/// Version of the JSON documents below. Bumped on any incompatible change (3: reasons
/// as codes, outcomes and states as enums).
pub const API_VERSION: u32 = 3;

/// Wire names into the enums, with the same fail-closed fallback as decoding (for
/// tests and for values that arrive outside a JSON document).
macro_rules! from_wire_name {
    ($($t:ty),*) => {$(
        impl From<&str> for $t {
            fn from(name: &str) -> $t {
                serde_json::from_value(serde_json::Value::String(name.to_owned()))
                    .unwrap_or(<$t>::Unknown)
            }
        }
    )*};
}
from_wire_name!(
    Severity,
    FileOutcome,
    Verdict,
    ProposalStatus,
    JobKind,
    PlanAction,
    SyncState,
    ThreeWaySide,
    LineKind,
    RegionKind,
    FindingSide,
    FindingChange
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_wire_values_fail_closed() {
        // An unknown severity gates like a critical one.
        let s: Severity = serde_json::from_str("\"catastrophic\"").unwrap();
        assert_eq!(s, Severity::Unknown);
        assert!(s.gates() && s.rank() == Severity::Critical.rank());
        assert!(Severity::High.gates() && !Severity::Medium.gates());
        assert_eq!(Severity::from("CRITICAL"), Severity::Unknown);
        // An unknown file outcome is a failure, and so is the job.
        let f: FileOutcome = serde_json::from_str("\"teleported\"").unwrap();
        assert_eq!(f, FileOutcome::Unknown);
        assert!(!f.is_success());
        let summary: JobSummary = serde_json::from_str(
            r#"{"version":3,"kind":"push","cancelled":false,"qubes":[
                {"qube":"work","error":null,"files":[
                    {"profile":"git","path":".gitconfig","outcome":"teleported","detail":null}]}]}"#,
        )
        .unwrap();
        assert!(!summary.is_success());
        assert_eq!(summary.failed_qubes()[0].qube, "work");
        // An unknown plan action is not a write; unknown states need attention.
        assert_eq!(PlanAction::from("merge"), PlanAction::Unknown);
        assert_eq!(SyncState::from("fine"), SyncState::Unknown);
        assert_eq!(Verdict::from("forever"), Verdict::Unknown);
        assert_eq!(JobKind::from("migrate"), JobKind::Unknown);
        assert_eq!(ProposalStatus::from("maybe"), ProposalStatus::Unknown);
        // A job error with an unknown reason code stays an error with the code shown.
        let q: QubeOutcome = serde_json::from_str(
            r#"{"qube":"work","error":{"code":"qrexec.exploded","args":{"qube":"work"}},"files":[]}"#,
        )
        .unwrap();
        assert!(!q.is_success());
        assert!(q.error.unwrap().english().contains("qrexec.exploded"));
    }

    #[test]
    fn an_unknown_line_kind_decodes_as_unknown_and_known_ones_round_trip() {
        let k: LineKind = serde_json::from_str("\"moved\"").unwrap();
        assert_eq!(k, LineKind::Unknown);
        assert_eq!(LineKind::from("hunk-header"), LineKind::HunkHeader);
        assert_eq!(
            serde_json::to_string(&LineKind::HunkHeader).unwrap(),
            "\"hunk-header\""
        );
        let line: RenderedLineView = serde_json::from_str(
            r#"{"kind":"Added","old_number":null,"new_number":1,"segments":[]}"#,
        )
        .unwrap();
        assert_eq!(line.kind, LineKind::Unknown);
    }

    #[test]
    fn an_unknown_region_kind_decodes_as_unknown() {
        let k: RegionKind = serde_json::from_str("\"merged\"").unwrap();
        assert_eq!(k, RegionKind::Unknown);
        assert_eq!(RegionKind::from("conflict"), RegionKind::Conflict);
        assert_eq!(RegionKind::from(""), RegionKind::Unknown);
    }

    #[test]
    fn an_unknown_finding_side_is_not_the_base_and_an_unknown_change_is_unknown() {
        let s: FindingSide = serde_json::from_str("\"theirs\"").unwrap();
        assert_eq!(s, FindingSide::Unknown);
        assert!(!s.is_base() && FindingSide::Base.is_base());
        let c: FindingChange = serde_json::from_str("\"renamed\"").unwrap();
        assert_eq!(c, FindingChange::Unknown);
        assert_eq!(FindingChange::from("removed"), FindingChange::Removed);
        let l: LocationView =
            serde_json::from_str(r#"{"path":"a","side":"BASE","line":null}"#).unwrap();
        assert_eq!(l.side, FindingSide::Unknown);
    }

    #[test]
    fn a_review_refusal_that_is_not_json_is_still_a_refusal() {
        let r = ReviewRefusal::parse("org.qubes.ConfigSync1.Error.ReviewRefused: nope");
        assert_eq!(r.code, Code::ReviewUnknown);
        let ok =
            ReviewRefusal::parse(r#"{"version":3,"code":"review.unacknowledged","ids":["a"]}"#);
        assert_eq!(ok.code, Code::ReviewUnacknowledged);
        assert_eq!(ok.reason().get("ids"), "a");
    }

    #[test]
    fn a_finding_message_is_translated_and_filled_once_with_the_qubes_text_as_it_is() {
        let wire = r#"{"rule":"git.core.pager","severity":"critical","side":"proposed",
            "change":"added","line":2,"span":null,"message":"core.pager = {why}<b>: runs",
            "text":{"template":"{setting} = {value}: {why}","args":[
                {"name":"setting","value":"core.pager"},
                {"name":"value","value":"{why}<b>"},
                {"name":"why","value":"runs","translate":true}],
              "more":[{"template":" ({why})","args":[{"name":"why","value":"also","translate":true}]}]},
            "why":"runs","reference":"r"}"#;
        let f: FindingView = serde_json::from_str(wire).unwrap_or_else(|e| panic!("{e}"));
        let de = |s: &str| match s {
            "runs" => "führt aus".to_owned(),
            "also" => "auch".to_owned(),
            other => other.to_owned(),
        };
        assert_eq!(
            f.message_with(&de),
            "core.pager = {why}<b>: führt aus (auch)"
        );
        // An older backend without a template: the English message.
        let old: FindingView = serde_json::from_str(&wire.replace("\"text\"", "\"unknown\""))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old.message_with(&de), "core.pager = {why}<b>: runs");
    }

    #[test]
    fn a_dbus_error_message_that_is_prose_fails_closed() {
        let e = crate::Error::NotFound("profile git does not exist".into());
        let reason = e.reason();
        assert!(matches!(reason.code, Code::Unknown(_)));
        assert_eq!(reason.get("detail"), "profile git does not exist");
        let e = crate::Error::of(
            crate::ErrorKind::Refused,
            &Reason::new(Code::QubeConfig).arg("qube", "config"),
        );
        assert_eq!(e.reason().code, Code::QubeConfig);
        assert!(!e.reason().english().contains("org.qubes"));
    }
}
