//! The app's translations of the backend's reason codes (`qcs_client::Code`): one
//! gettext sentence per code (German in po/de.po), filled with the reason's arguments.
//! The match is exhaustive, so a new code does not build until it has its sentence; the
//! English msgids are the client crate's English table (a test keeps them equal).
//!
//! Argument values are data (qube names, paths, escaped untrusted detail): a caller that
//! shows the result as Pango markup escapes it first.

use gettextrs::gettext;
use qcs_client::{Code, Reason};

/// The translated sentence of `code`, with `{name}` placeholders.
pub fn template(code: &Code) -> String {
    match code {
        Code::QubeUnknown => gettext(
            "there is no qube named {qube} that this qube may see (dom0 policy shows it the qubes tagged qubes-config-sync-managed)",
        ),
        Code::QubeAdmin => {
            gettext("{qube} is dom0 (an admin qube): nothing is ever synced into it")
        }
        Code::QubeConfig => {
            gettext("{qube} is the config qube itself: it holds the store and is never a target")
        }
        Code::QubeInvalidName => gettext("{qube} is not a valid qube name: {detail}"),
        Code::QubeListUnavailable => gettext(
            "the qubes could not be listed through the Admin API, so the name cannot be checked: {detail}",
        ),
        Code::QubeNotConfigured => gettext("nothing is configured for {qube}"),
        Code::QubeHalted => gettext(
            "{qube} is halted: nothing starts it without being asked (start it, or choose to start it in the push plan)",
        ),
        Code::QubeNotRunning => {
            gettext("{qube} is not running ({state}): not planned, never started")
        }
        Code::SettingsAlreadyAssigned => gettext("{profile} is already assigned to {qube}"),
        Code::SettingsNotAssigned => gettext("{profile} is not assigned to {qube}"),
        Code::SettingsAlreadyMayPropose => {
            gettext("{qube} may already propose changes to {profile}")
        }
        Code::SettingsMayNotPropose => {
            gettext("{qube} may not propose changes to {profile} anyway")
        }
        Code::SettingsAutoApplyUnchanged => gettext("auto-apply is already {state} for {qube}"),
        Code::SettingsNothingAssigned => {
            gettext("no profile is assigned to {qube}, so there is nothing to apply")
        }
        Code::SettingsGlobUnchanged => {
            gettext("the allowlist of new paths of {profile} is unchanged by {glob}")
        }
        Code::ProfileUnknown => gettext("there is no profile {profile}"),
        Code::ProfileExists => gettext("profile {profile} already exists"),
        Code::ProfileInvalidId => gettext("{profile} is not a valid profile name: {detail}"),
        Code::ProfileTooManyFiles => {
            gettext("profile {profile} would have more than {limit} files")
        }
        Code::FileUnknown => gettext("profile {profile} has no file {path}"),
        Code::GenerationUnknown => {
            gettext("profile {profile} has no generation {generation} (it is at {current})")
        }
        Code::UndoNothing => gettext(
            "no push of {profile} into {qube} left a backup to undo (or the last one was undone already)",
        ),
        Code::UndoStale => gettext(
            "the last push of {profile} into {qube} is not the one planned any more: plan the undo again",
        ),
        Code::UndoChanged => gettext("changed in the qube since the push; not restored"),
        Code::GenerationSameContent => gettext(
            "profile {profile} already has the content of generation {generation}: nothing to roll back",
        ),
        Code::PathInvalid => {
            gettext("{path} is not a valid path relative to the home directory: {detail}")
        }
        Code::PathNeverSync => {
            gettext("{path} is on the never-sync list (secrets, histories, .git)")
        }
        Code::PathDuplicate => gettext("{path} appears twice in one change"),
        Code::ModeNotAllowed => gettext("this file mode is not allowed: {detail}"),
        Code::ModeInvalid => gettext("{mode} is not a file mode (octal, e.g. 0644)"),
        Code::TooLarge => gettext("{size} bytes are over the limit of {limit}"),
        Code::HashInvalid => gettext("{value} is not a sha256 (64 lowercase hex digits)"),
        Code::GlobInvalid => gettext("{glob} is not a valid glob for new paths: {detail}"),
        Code::GlobTooMany => {
            gettext("profile {profile} would have more than {limit} globs for new paths")
        }
        Code::ProposalUnknown => gettext("there is no proposal #{id}"),
        Code::ProposalDecided => gettext("proposal #{id} is already {status}"),
        Code::ProposalStatusInvalid => {
            gettext("{status} is not a proposal status (pending, accepted, rejected or all)")
        }
        Code::ProposalNotAllowed => gettext("{qube} may not propose changes to {profile}"),
        Code::ProposalQuota => gettext("{qube} already has {limit} pending proposals"),
        Code::ProposalNewPath => gettext(
            "profile {profile} has no file {path} and its allowlist of new paths does not name it",
        ),
        Code::ProposalNotInProfile => {
            gettext("profile {profile} has no file {path}: only its files are imported")
        }
        Code::ProposalMixedBatch => gettext("the files of one submission come from one qube"),
        Code::ProposalInvalid => gettext("the proposal cannot be reviewed: {detail}"),
        Code::ReviewStale => gettext("the review changed since it was shown; open it again"),
        Code::ReviewUnknownHunk => gettext("not a hunk of this review: {ids}"),
        Code::ReviewDuplicateHunk => gettext("a hunk is named twice: {ids}"),
        Code::ReviewNothingAccepted => gettext("no hunk is accepted; reject the proposal instead"),
        Code::ReviewUnknownFinding => gettext("not a finding of this review: {ids}"),
        Code::ReviewUnacknowledged => {
            gettext("these findings must be acknowledged to accept: {ids}")
        }
        Code::ReviewUnreviewed => gettext(
            "the chosen hunks together raise findings the review did not show ({ids}); accept other hunks or all of them",
        ),
        Code::ReviewApply => gettext("the chosen hunks do not apply to the file"),
        Code::ReviewUnknown => gettext("the review refused the accept ({code})"),
        Code::RuleInvalid => {
            gettext("{value} is not a valid {kind} for an assignment rule: {detail}")
        }
        Code::RuleExists => gettext("the assignment rule {rule} exists already"),
        Code::RuleUnknown => gettext("there is no assignment rule {rule}"),
        Code::RuleTooMany => gettext("the store holds at most {limit} assignment rules"),
        Code::AdoptMissing => gettext("there is no {path} in {qube} to adopt"),
        Code::AdoptNotRegular => {
            gettext("{path} in {qube} is not a regular file ({kind}): only files are adopted")
        }
        Code::AdoptTooLarge => {
            gettext("{path} in {qube} is over the size limit of one file: not adopted")
        }
        Code::ExchangeNotAbsolute => gettext(
            "{path} is not an absolute path: the backend does not know the caller's directory",
        ),
        Code::ImportRefused => gettext("the import was refused, nothing changed: {detail}"),
        Code::ExportRefused => gettext("the export was refused: {detail}"),
        Code::DirSymlink => gettext(
            "{path} in the source directory is a symbolic link: a directory entry holds regular files only (copy the file it points to, or remove the link)",
        ),
        Code::DirSpecial => gettext(
            "{path} in the source directory is a {kind}: a directory entry holds regular files only",
        ),
        Code::DirNotADirectory => {
            gettext("the source is not a directory (use profile add-file for a file)")
        }
        Code::DirEmpty => gettext("the source directory holds no file to store"),
        Code::DirTooMany => {
            gettext("the directory holds more than {limit} files, more than one profile can carry")
        }
        Code::DirTooLarge => gettext(
            "{path} in the source directory has {size} bytes, over the limit of {limit} for one file",
        ),
        Code::DirTooDeep => {
            gettext("{path} in the source directory is nested deeper than {limit} directories")
        }
        Code::DirBadName => {
            gettext("{path} in the source directory cannot be a path in a qube: {detail}")
        }
        Code::DirUnreadable => gettext("{path} in the source directory cannot be read ({detail})"),
        Code::DirChanged => {
            gettext("{path} in the source directory changed while it was read; try again")
        }
        Code::DirOutside => gettext("{path} is not inside the directory entry {dir}"),
        Code::TemplateMissingVariable => gettext(
            "{path} of {profile} cannot be rendered for {qube}: {name} is not set (line {line}, column {column}); nothing is written to {qube}",
        ),
        Code::TemplateAmbiguousVariable => gettext(
            "{path} of {profile} cannot be rendered for {qube}: var.{name} is set differently by its tags {tags} (line {line}, column {column}); set it for {qube} to choose",
        ),
        Code::TemplateTooLarge => gettext(
            "{path} of {profile} rendered for {qube} would exceed {limit} bytes; nothing is written to {qube}",
        ),
        Code::TemplateSyntax => gettext(
            "{path} of {profile} is not a valid template (line {line}, column {column}): {detail}",
        ),
        Code::TemplateFactsUnavailable => gettext(
            "the Admin API facts of {qube} (label, class, template, tags) could not be read, so its templates cannot be rendered: {detail}",
        ),
        Code::TemplateFromProposal => gettext(
            "the current version of {path} was accepted from {qube} (proposal #{id}); a template is written in the config qube: add it from a file with --template",
        ),
        Code::TemplateNotAFile => gettext("{path} of {profile} is not a template"),
        Code::ProposalTemplatedFile => gettext(
            "{path} of {profile} is a template: a proposal cannot be accepted into it; edit the template (the review shows the proposed change next to the template source), then reject the proposal",
        ),
        Code::VariableInvalidName => gettext(
            "{name} is not a valid variable name: letters, digits, _ and -, starting with a letter or _, at most 64 bytes",
        ),
        Code::VariableInvalidTag => {
            gettext("{tag} is not a valid tag name: letters, digits, _ and -, at most 64 bytes")
        }
        Code::VariableInvalidValue => gettext("the value of {name} is refused: {detail}"),
        Code::VariableNotSet => gettext("{name} is not set for {scope}"),
        Code::VariableTooMany => gettext("{scope} would have more than {limit} variables"),
        Code::VariableScopeInvalid => {
            gettext("{kind} is not a variable scope (qube, tag or profile)")
        }
        Code::PushNoTargets => gettext("no qube has a profile assigned: nothing to push"),
        Code::PushProfileNotAssigned => {
            gettext("{profile} is not assigned to any of the chosen qubes")
        }
        Code::PlanUnknown => gettext(
            "plan {plan} is gone (executed, replaced by newer plans, or the backend restarted): plan again",
        ),
        Code::PlanInvalid => gettext("{plan} is not a plan id"),
        Code::JobUnknown => gettext("there is no running job {job} (it may have finished)"),
        Code::JobSpawn => gettext("the job could not be started: {detail}"),
        Code::JobCancelled => gettext("cancelled before this qube was started"),
        Code::JobHaltedSkipped => {
            gettext("{qube} was halted and not chosen to be started: skipped, nothing sent")
        }
        Code::JobStartFailed => gettext("{qube} could not be started: {detail}"),
        Code::PlanStartNotHalted => gettext(
            "{qube} is not a halted qube of this plan: only those can be chosen to be started",
        ),
        Code::JobEarlierReplyRefused => {
            gettext("not sent: an earlier reply of this qube was refused")
        }
        Code::JobNotRecorded => gettext("written, but the store could not record it: {detail}"),
        Code::JobRequest => gettext("the request for {profile} could not be built: {detail}"),
        Code::PlanChangedSincePush => gettext("changed in the qube since the last push"),
        Code::PlanPreExisting => gettext("a file this tool never wrote is there"),
        Code::PlanNotRegular => gettext("not a regular file ({kind})"),
        Code::PlanStateUnknown => gettext("the qube did not report this file"),
        Code::PlanTwoProfiles => gettext("provided by several assigned profiles: {profiles}"),
        Code::ApplyChangedSincePlan => {
            gettext("changed in the qube since the plan; not overwritten")
        }
        Code::ApplyRemoved => gettext("the agent reported the file as removed"),
        Code::PlanRemove => gettext(
            "removed from {profile} in generation {generation}: removed here, a backup is kept in the qube",
        ),
        Code::ApplyRemoveChanged => gettext("changed in the qube since the plan; not removed"),
        Code::ApplyRefused => gettext("the qube refused to write it ({code}: {detail})"),
        Code::QrexecDenied => gettext("dom0 policy denied {service} to {qube}"),
        Code::QrexecNotTagged => gettext(
            "{qube} does not carry the tag {tag}, so dom0 policy refuses every call into it",
        ),
        Code::QrexecNoService => gettext(
            "{qube} does not offer {service}: is the qubes-config-sync agent installed in its template?",
        ),
        Code::QrexecIo => gettext("the qrexec client could not be run: {detail}"),
        Code::ServiceFailed => {
            gettext("{service} in {qube} failed (exit status {status}): {detail}")
        }
        Code::ServiceRefused => {
            gettext("{service} in {qube} refused the request ({code}): {detail}")
        }
        Code::ServiceTimeout => {
            gettext("{service} in {qube} did not answer within {seconds} s and was stopped")
        }
        Code::ReplyUnparsable => gettext("{qube} sent an unreadable reply to {service}: {detail}"),
        Code::ReplyInvented => gettext(
            "{qube} answered {service} about a file it was not asked about, refused whole: {detail}",
        ),
        Code::ReplyDuplicate => {
            gettext("{qube} answered {service} twice for one file, refused whole: {detail}")
        }
        Code::ReplyMissing => {
            gettext("{qube} left a file out of its answer to {service}, refused whole: {detail}")
        }
        Code::ReplyContentMismatch => gettext(
            "{qube} answered {service} with content that does not match its hash, refused whole: {detail}",
        ),
        Code::ReplyOverBudget => gettext(
            "{qube} answered {service} with more than was asked for, refused whole: {detail}",
        ),
        Code::ReplyInconsistent => gettext(
            "{qube} answered {service} with a reply that contradicts the request, refused whole: {detail}",
        ),
        Code::ReplyDetailTooLong => {
            gettext("{qube} answered {service} with an over-long detail, refused whole: {detail}")
        }
        Code::SnapshotSame => gettext("same as in the store"),
        Code::SnapshotImported => gettext("imported as a proposal"),
        Code::SnapshotMissing => gettext("not in the qube"),
        Code::SnapshotNotRegular => gettext("not imported: {kind}"),
        Code::SnapshotTooLarge => gettext("not imported: too large"),
        Code::SnapshotPending => gettext("already pending as a proposal"),
        Code::SnapshotNothingAssigned => {
            gettext("no profile is assigned to {qube}: nothing to read")
        }
        Code::PersistPersistent => gettext("persists across restarts"),
        Code::PersistVolatile => {
            gettext("a disposable: lost at every restart, applied again at each start")
        }
        Code::PersistLost => {
            gettext("lost at restart: custom-persist is on and nothing covers this path")
        }
        Code::PersistNotSupported => {
            gettext("custom-persist features have no effect on this Qubes release")
        }
        Code::PersistNotReported => gettext("the Admin API did not report this qube"),
        Code::PersistFeaturesUnreadable => gettext("the qube's features could not be read"),
        Code::PersistUnknownClass => gettext("unknown qube class {class}"),
        Code::PersistNoFix => gettext("this path cannot be made persistent: {detail}"),
        Code::ProvenanceLocalEdit => gettext("local edit"),
        Code::ProvenanceAccepted => gettext("accepted proposal #{id} from {qube}"),
        Code::AdminApi => gettext("the Admin API failed: {detail}"),
        Code::AdminDenied => gettext("dom0 policy denied an Admin API call: {detail}"),
        Code::StoreFailed => gettext("the store failed: {detail}"),
        Code::PolicyEntrySkipped => {
            gettext("an entry of the store cannot be written as policy and was left out: {detail}")
        }
        Code::Failed => gettext("the backend failed: {detail}"),
        Code::BusFailed => gettext("D-Bus failed: {detail}"),
        Code::BusUnreachable => {
            gettext("cannot reach the backend (is qubes-config-syncd running?): {detail}")
        }
        Code::ReplyUnreadable => {
            gettext("the backend sent an answer this client cannot read: {detail}")
        }
        Code::ClientTooOld => {
            gettext("the backend speaks a newer API (version {version}); update this program")
        }
        Code::Unknown(_) => gettext("unknown reason {code} ({args})"),
    }
}

/// The reason as a translated sentence for people.
pub fn text(reason: &Reason) -> String {
    let mut args: Vec<(String, String)> = reason
        .args
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Code::Unknown(code) = &reason.code {
        let all = reason
            .args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        args.push(("code".to_owned(), code.clone()));
        args.push(("args".to_owned(), all));
    }
    let args: std::collections::BTreeMap<String, String> = args.into_iter().collect();
    let template = template(&reason.code);
    let text = qcs_client::reason::fill(&template, &args);
    // A sentence starts upper-case, unless it starts with a value (a qube name is
    // case-sensitive: `work` is not `Work`).
    if template.starts_with('{') {
        text
    } else {
        capitalise(&text)
    }
}

/// First letter upper-case, as a sentence for a toast or a dialog.
fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use qcs_client::{Code, Reason};

    use super::{template, text};

    #[test]
    fn every_code_has_the_client_crates_english_sentence() {
        // Without a translation gettext returns the msgid: it must be the one table's.
        for code in Code::ALL {
            assert_eq!(template(code), code.english(), "{code}");
        }
    }

    #[test]
    fn arguments_are_filled_and_unknown_codes_stay_visible() {
        let r = Reason::new(Code::QubeUnknown).arg("qube", "typo");
        assert!(text(&r).starts_with("There is no qube named typo that"));
        let named = Reason::new(Code::QubeAdmin).arg("qube", "dom0");
        assert!(text(&named).starts_with("dom0 is dom0"), "{}", text(&named));
        let unknown = Reason::new(Code::Unknown("future.code".into())).arg("x", "1");
        let shown = text(&unknown);
        assert!(
            shown.contains("future.code") && shown.contains("x=1"),
            "{shown}"
        );
    }
}
