//! Reasons: what the backend says about a failure, a refusal or an outcome, as a stable
//! code with named arguments — never as prose. Clients turn a [`Reason`] into a sentence
//! at the edge: the CLI (and the Python module) with [`Reason::english`] from the one
//! English table below, the app with its gettext table (same codes, German in po/de.po).
//!
//! On the wire a reason is `{"code": "qube.unknown", "args": {"qube": "x"}}`. A code this
//! client does not know decodes as [`Code::Unknown`] keeping its text: it still is a
//! failure (fail closed), shown as "unknown reason" with its code and arguments.
//!
//! It must not hold anything but the codes, their arguments and their English sentences.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $wire:literal => $english:literal,)*) => {
        /// Every reason code of the API. See the crate's README for the arguments.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
            /// A code this client does not know (a newer backend): still a failure.
            Unknown(String),
        }

        impl Code {
            /// Every known code (for exhaustive tests of translation tables).
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as on the wire, e.g. `qube.unknown`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Code::$variant => $wire,)*
                    Code::Unknown(text) => text,
                }
            }

            /// The code of a wire string; unknown strings become [`Code::Unknown`].
            pub fn from_wire(text: &str) -> Code {
                match text {
                    $($wire => Code::$variant,)*
                    other => Code::Unknown(other.chars().take(128).collect()),
                }
            }

            /// The English sentence with `{name}` placeholders for the arguments.
            pub fn english(&self) -> &'static str {
                match self {
                    $(Code::$variant => $english,)*
                    Code::Unknown(_) => "unknown reason {code} ({args})",
                }
            }
        }
    };
}

codes! {
    // ----- qube names -----
    /// args: qube
    QubeUnknown = "qube.unknown" => "there is no qube named {qube} that this qube may see (dom0 policy shows it the qubes tagged qubes-config-sync-managed)",
    /// args: qube
    QubeAdmin = "qube.dom0" => "{qube} is dom0 (an admin qube): nothing is ever synced into it",
    /// args: qube
    QubeConfig = "qube.config-qube" => "{qube} is the config qube itself: it holds the store and is never a target",
    /// args: qube, detail
    QubeInvalidName = "qube.invalid-name" => "{qube} is not a valid qube name: {detail}",
    /// args: detail. The names could not be checked against the Admin API: refused.
    QubeListUnavailable = "qube.list-unavailable" => "the qubes could not be listed through the Admin API, so the name cannot be checked: {detail}",
    /// args: qube
    QubeNotConfigured = "qube.not-configured" => "nothing is configured for {qube}",

    // ----- settings (no-ops are errors) -----
    /// args: qube, profile
    SettingsAlreadyAssigned = "settings.already-assigned" => "{profile} is already assigned to {qube}",
    /// args: qube, profile
    SettingsNotAssigned = "settings.not-assigned" => "{profile} is not assigned to {qube}",
    /// args: qube, profile
    SettingsAlreadyMayPropose = "settings.already-may-propose" => "{qube} may already propose changes to {profile}",
    /// args: qube, profile
    SettingsMayNotPropose = "settings.may-not-propose" => "{qube} may not propose changes to {profile} anyway",
    /// args: qube, state (on/off)
    SettingsAutoApplyUnchanged = "settings.auto-apply-unchanged" => "auto-apply is already {state} for {qube}",
    /// args: qube
    SettingsNothingAssigned = "settings.nothing-assigned" => "no profile is assigned to {qube}, so there is nothing to apply",
    /// args: glob, profile
    SettingsGlobUnchanged = "settings.glob-unchanged" => "the allowlist of new paths of {profile} is unchanged by {glob}",

    // ----- profiles, files, generations -----
    /// args: profile
    ProfileUnknown = "profile.unknown" => "there is no profile {profile}",
    /// args: profile
    ProfileExists = "profile.exists" => "profile {profile} already exists",
    /// args: profile, detail
    ProfileInvalidId = "profile.invalid-id" => "{profile} is not a valid profile name: {detail}",
    /// args: profile, limit
    ProfileTooManyFiles = "profile.too-many-files" => "profile {profile} would have more than {limit} files",
    /// args: profile, path
    FileUnknown = "file.unknown" => "profile {profile} has no file {path}",
    /// args: profile, generation, current
    GenerationUnknown = "generation.unknown" => "profile {profile} has no generation {generation} (it is at {current})",
    /// args: profile, generation
    GenerationSameContent = "generation.same-content" => "profile {profile} already has the content of generation {generation}: nothing to roll back",
    /// args: qube, profile
    UndoNothing = "undo.nothing" => "no push of {profile} into {qube} left a backup to undo (or the last one was undone already)",
    /// args: qube, profile
    UndoStale = "undo.stale" => "the last push of {profile} into {qube} is not the one planned any more: plan the undo again",
    UndoChanged = "undo.changed" => "changed in the qube since the push; not restored",
    /// args: path, detail
    PathInvalid = "path.invalid" => "{path} is not a valid path relative to the home directory: {detail}",
    /// args: path
    PathNeverSync = "path.never-sync" => "{path} is on the never-sync list (secrets, histories, .git)",
    /// args: path
    PathDuplicate = "path.duplicate" => "{path} appears twice in one change",
    /// args: detail
    ModeNotAllowed = "mode.not-allowed" => "this file mode is not allowed: {detail}",
    /// args: mode
    ModeInvalid = "mode.invalid" => "{mode} is not a file mode (octal, e.g. 0644)",
    /// args: size, limit
    TooLarge = "size.too-large" => "{size} bytes are over the limit of {limit}",
    /// args: value
    HashInvalid = "hash.invalid" => "{value} is not a sha256 (64 lowercase hex digits)",
    /// args: glob, detail
    GlobInvalid = "glob.invalid" => "{glob} is not a valid glob for new paths: {detail}",
    /// args: profile, limit
    GlobTooMany = "glob.too-many" => "profile {profile} would have more than {limit} globs for new paths",

    // ----- proposals and the review gate -----
    /// args: id
    ProposalUnknown = "proposal.unknown" => "there is no proposal #{id}",
    /// args: id, status
    ProposalDecided = "proposal.decided" => "proposal #{id} is already {status}",
    /// args: status
    ProposalStatusInvalid = "proposal.status-invalid" => "{status} is not a proposal status (pending, accepted, rejected or all)",
    /// args: qube, profile
    ProposalNotAllowed = "proposal.not-allowed" => "{qube} may not propose changes to {profile}",
    /// args: qube, limit
    ProposalQuota = "proposal.quota" => "{qube} already has {limit} pending proposals",
    /// args: profile, path
    ProposalNewPath = "proposal.new-path" => "profile {profile} has no file {path} and its allowlist of new paths does not name it",
    /// args: profile, path
    ProposalNotInProfile = "proposal.not-in-profile" => "profile {profile} has no file {path}: only its files are imported",
    ProposalMixedBatch = "proposal.mixed-batch" => "the files of one submission come from one qube",
    /// args: detail
    ProposalInvalid = "proposal.invalid" => "the proposal cannot be reviewed: {detail}",
    /// args: ids
    ReviewStale = "review.stale" => "the review changed since it was shown; open it again",
    /// args: ids
    ReviewUnknownHunk = "review.unknown-hunk" => "not a hunk of this review: {ids}",
    /// args: ids
    ReviewDuplicateHunk = "review.duplicate-hunk" => "a hunk is named twice: {ids}",
    ReviewNothingAccepted = "review.nothing-accepted" => "no hunk is accepted; reject the proposal instead",
    /// args: ids
    ReviewUnknownFinding = "review.unknown-finding" => "not a finding of this review: {ids}",
    /// args: ids
    ReviewUnacknowledged = "review.unacknowledged" => "these findings must be acknowledged to accept: {ids}",
    /// args: ids
    ReviewUnreviewed = "review.unreviewed" => "the chosen hunks together raise findings the review did not show ({ids}); accept other hunks or all of them",
    /// args: ids
    ReviewApply = "review.apply" => "the chosen hunks do not apply to the file",
    /// A review refusal whose message could not be read (args: code).
    ReviewUnknown = "review.unknown" => "the review refused the accept ({code})",

    // ----- assignment rules and adopting -----
    /// args: kind, value, detail
    RuleInvalid = "rule.invalid" => "{value} is not a valid {kind} for an assignment rule: {detail}",
    /// args: rule
    RuleExists = "rule.exists" => "the assignment rule {rule} exists already",
    /// args: rule
    RuleUnknown = "rule.unknown" => "there is no assignment rule {rule}",
    /// args: limit
    RuleTooMany = "rule.too-many" => "the store holds at most {limit} assignment rules",
    /// args: qube, path
    AdoptMissing = "adopt.missing" => "there is no {path} in {qube} to adopt",
    /// args: qube, path, kind
    AdoptNotRegular = "adopt.not-regular" => "{path} in {qube} is not a regular file ({kind}): only files are adopted",
    /// args: qube, path
    AdoptTooLarge = "adopt.too-large" => "{path} in {qube} is over the size limit of one file: not adopted",
    /// args: path
    ExchangeNotAbsolute = "exchange.not-absolute" => "{path} is not an absolute path: the backend does not know the caller's directory",
    /// args: detail
    ImportRefused = "import.refused" => "the import was refused, nothing changed: {detail}",
    /// args: detail
    ExportRefused = "export.refused" => "the export was refused: {detail}",

    // ----- directory entries (a local source directory; paths relative to it) -----
    /// args: path
    DirSymlink = "dir.symlink" => "{path} in the source directory is a symbolic link: a directory entry holds regular files only (copy the file it points to, or remove the link)",
    /// args: path, kind
    DirSpecial = "dir.special" => "{path} in the source directory is a {kind}: a directory entry holds regular files only",
    DirNotADirectory = "dir.not-a-directory" => "the source is not a directory (use profile add-file for a file)",
    DirEmpty = "dir.empty" => "the source directory holds no file to store",
    /// args: limit
    DirTooMany = "dir.too-many" => "the directory holds more than {limit} files, more than one profile can carry",
    /// args: path, size, limit
    DirTooLarge = "dir.too-large" => "{path} in the source directory has {size} bytes, over the limit of {limit} for one file",
    /// args: path, limit
    DirTooDeep = "dir.too-deep" => "{path} in the source directory is nested deeper than {limit} directories",
    /// args: path, detail
    DirBadName = "dir.bad-name" => "{path} in the source directory cannot be a path in a qube: {detail}",
    /// args: path, detail
    DirUnreadable = "dir.unreadable" => "{path} in the source directory cannot be read ({detail})",
    /// args: path
    DirChanged = "dir.changed" => "{path} in the source directory changed while it was read; try again",
    /// args: path, dir
    DirOutside = "dir.outside" => "{path} is not inside the directory entry {dir}",
    // ----- templates and variables -----
    /// args: qube, profile, path, name, line, column
    TemplateMissingVariable = "template.missing-variable" => "{path} of {profile} cannot be rendered for {qube}: {name} is not set (line {line}, column {column}); nothing is written to {qube}",
    /// args: qube, profile, path, name, tags, line, column
    TemplateAmbiguousVariable = "template.ambiguous-variable" => "{path} of {profile} cannot be rendered for {qube}: var.{name} is set differently by its tags {tags} (line {line}, column {column}); set it for {qube} to choose",
    /// args: qube, profile, path, limit
    TemplateTooLarge = "template.too-large" => "{path} of {profile} rendered for {qube} would exceed {limit} bytes; nothing is written to {qube}",
    /// args: profile, path, line, column, detail (qube when met while planning)
    TemplateSyntax = "template.syntax" => "{path} of {profile} is not a valid template (line {line}, column {column}): {detail}",
    /// args: qube, detail
    TemplateFactsUnavailable = "template.facts-unavailable" => "the Admin API facts of {qube} (label, class, template, tags) could not be read, so its templates cannot be rendered: {detail}",
    /// args: path, qube, id
    TemplateFromProposal = "template.from-proposal" => "the current version of {path} was accepted from {qube} (proposal #{id}); a template is written in the config qube: add it from a file with --template",
    /// args: profile, path
    TemplateNotAFile = "template.not-a-template" => "{path} of {profile} is not a template",
    /// args: profile, path
    ProposalTemplatedFile = "proposal.templated-file" => "{path} of {profile} is a template: a proposal cannot be accepted into it; edit the template (the review shows the proposed change next to the template source), then reject the proposal",
    /// args: name, detail
    VariableInvalidName = "variable.invalid-name" => "{name} is not a valid variable name: letters, digits, _ and -, starting with a letter or _, at most 64 bytes",
    /// args: tag
    VariableInvalidTag = "variable.invalid-tag" => "{tag} is not a valid tag name: letters, digits, _ and -, at most 64 bytes",
    /// args: name, detail
    VariableInvalidValue = "variable.invalid-value" => "the value of {name} is refused: {detail}",
    /// args: scope, name
    VariableNotSet = "variable.not-set" => "{name} is not set for {scope}",
    /// args: scope, limit
    VariableTooMany = "variable.too-many" => "{scope} would have more than {limit} variables",
    /// args: kind
    VariableScopeInvalid = "variable.scope-invalid" => "{kind} is not a variable scope (qube, tag or profile)",

    // ----- push, plans, jobs -----
    PushNoTargets = "push.no-targets" => "no qube has a profile assigned: nothing to push",
    /// args: profile
    PushProfileNotAssigned = "push.profile-not-assigned" => "{profile} is not assigned to any of the chosen qubes",
    /// args: plan
    PlanUnknown = "plan.unknown" => "plan {plan} is gone (executed, replaced by newer plans, or the backend restarted): plan again",
    /// args: plan
    PlanInvalid = "plan.invalid" => "{plan} is not a plan id",
    /// args: job
    JobUnknown = "job.unknown" => "there is no running job {job} (it may have finished)",
    /// args: detail
    JobSpawn = "job.spawn" => "the job could not be started: {detail}",
    JobCancelled = "job.cancelled" => "cancelled before this qube was started",
    /// args: qube
    JobHaltedSkipped = "job.halted-skipped" => "{qube} was halted and not chosen to be started: skipped, nothing sent",
    /// args: qube, detail
    JobStartFailed = "job.start-failed" => "{qube} could not be started: {detail}",
    /// args: qube
    PlanStartNotHalted = "plan.start-not-halted" => "{qube} is not a halted qube of this plan: only those can be chosen to be started",
    JobEarlierReplyRefused = "job.earlier-reply-refused" => "not sent: an earlier reply of this qube was refused",
    /// args: detail
    JobNotRecorded = "job.not-recorded" => "written, but the store could not record it: {detail}",
    /// args: profile, detail
    JobRequest = "job.request" => "the request for {profile} could not be built: {detail}",
    PlanChangedSincePush = "plan.changed-since-push" => "changed in the qube since the last push",
    PlanPreExisting = "plan.pre-existing" => "a file this tool never wrote is there",
    /// args: kind
    PlanNotRegular = "plan.not-regular" => "not a regular file ({kind})",
    PlanStateUnknown = "plan.state-unknown" => "the qube did not report this file",
    /// args: profiles
    PlanTwoProfiles = "plan.two-profiles" => "provided by several assigned profiles: {profiles}",
    ApplyChangedSincePlan = "apply.changed-since-plan" => "changed in the qube since the plan; not overwritten",
    ApplyRemoved = "apply.removed" => "the agent reported the file as removed",
    /// args: profile, generation
    PlanRemove = "plan.remove" => "removed from {profile} in generation {generation}: removed here, a backup is kept in the qube",
    ApplyRemoveChanged = "apply.remove-changed" => "changed in the qube since the plan; not removed",
    /// args: code, detail (the agent's refusal code and its untrusted detail)
    ApplyRefused = "apply.refused" => "the qube refused to write it ({code}: {detail})",

    // ----- qrexec and the agent -----
    /// args: qube
    QubeHalted = "qube.halted" => "{qube} is halted: nothing starts it without being asked (start it, or choose to start it in the push plan)",
    /// args: qube, state
    QubeNotRunning = "qube.not-running" => "{qube} is not running ({state}): not planned, never started",
    /// args: qube, service
    QrexecDenied = "qrexec.denied" => "dom0 policy denied {service} to {qube}",
    /// args: qube, tag
    QrexecNotTagged = "qrexec.not-tagged" => "{qube} does not carry the tag {tag}, so dom0 policy refuses every call into it",
    /// args: qube, service
    QrexecNoService = "qrexec.no-service" => "{qube} does not offer {service}: is the qubes-config-sync agent installed in its template?",
    /// args: detail
    QrexecIo = "qrexec.io" => "the qrexec client could not be run: {detail}",
    /// args: qube, service, status, detail
    ServiceFailed = "service.failed" => "{service} in {qube} failed (exit status {status}): {detail}",
    /// args: qube, service, code, detail
    ServiceRefused = "service.refused" => "{service} in {qube} refused the request ({code}): {detail}",
    /// args: qube, service, seconds
    ServiceTimeout = "service.timeout" => "{service} in {qube} did not answer within {seconds} s and was stopped",
    /// args: qube, service, detail
    ReplyUnparsable = "reply.unparsable" => "{qube} sent an unreadable reply to {service}: {detail}",
    /// args: qube, service, detail
    ReplyInvented = "reply.invented" => "{qube} answered {service} about a file it was not asked about, refused whole: {detail}",
    /// args: qube, service, detail
    ReplyDuplicate = "reply.duplicate" => "{qube} answered {service} twice for one file, refused whole: {detail}",
    /// args: qube, service, detail
    ReplyMissing = "reply.missing" => "{qube} left a file out of its answer to {service}, refused whole: {detail}",
    /// args: qube, service, detail
    ReplyContentMismatch = "reply.content-mismatch" => "{qube} answered {service} with content that does not match its hash, refused whole: {detail}",
    /// args: qube, service, detail
    ReplyOverBudget = "reply.over-budget" => "{qube} answered {service} with more than was asked for, refused whole: {detail}",
    /// args: qube, service, detail
    ReplyInconsistent = "reply.inconsistent" => "{qube} answered {service} with a reply that contradicts the request, refused whole: {detail}",
    /// args: qube, service, detail
    ReplyDetailTooLong = "reply.detail-too-long" => "{qube} answered {service} with an over-long detail, refused whole: {detail}",

    // ----- snapshots -----
    SnapshotSame = "snapshot.same" => "same as in the store",
    SnapshotImported = "snapshot.imported" => "imported as a proposal",
    SnapshotMissing = "snapshot.missing" => "not in the qube",
    /// args: kind
    SnapshotNotRegular = "snapshot.not-regular" => "not imported: {kind}",
    SnapshotTooLarge = "snapshot.too-large" => "not imported: too large",
    SnapshotPending = "snapshot.pending" => "already pending as a proposal",
    /// args: qube
    SnapshotNothingAssigned = "snapshot.nothing-assigned" => "no profile is assigned to {qube}: nothing to read",

    // ----- persistence -----
    PersistPersistent = "persistence.persistent" => "persists across restarts",
    PersistVolatile = "persistence.volatile" => "a disposable: lost at every restart, applied again at each start",
    PersistLost = "persistence.lost-at-restart" => "lost at restart: custom-persist is on and nothing covers this path",
    PersistNotSupported = "persistence.not-supported" => "custom-persist features have no effect on this Qubes release",
    PersistNotReported = "persistence.not-reported" => "the Admin API did not report this qube",
    PersistFeaturesUnreadable = "persistence.features-unreadable" => "the qube's features could not be read",
    /// args: class
    PersistUnknownClass = "persistence.unknown-class" => "unknown qube class {class}",
    /// args: detail
    PersistNoFix = "persistence.no-fix" => "this path cannot be made persistent: {detail}",

    // ----- provenance of a stored file -----
    ProvenanceLocalEdit = "provenance.local-edit" => "local edit",
    /// args: qube, id
    ProvenanceAccepted = "provenance.accepted" => "accepted proposal #{id} from {qube}",

    // ----- backend, store, bus -----
    /// args: detail
    AdminApi = "admin.failed" => "the Admin API failed: {detail}",
    /// args: detail
    AdminDenied = "admin.denied" => "dom0 policy denied an Admin API call: {detail}",
    /// args: detail
    StoreFailed = "store.failed" => "the store failed: {detail}",
    /// args: detail
    PolicyEntrySkipped = "policy.entry-skipped" => "an entry of the store cannot be written as policy and was left out: {detail}",
    /// args: detail
    Failed = "backend.failed" => "the backend failed: {detail}",
    /// args: detail
    BusFailed = "bus.failed" => "D-Bus failed: {detail}",
    /// args: detail
    BusUnreachable = "bus.unreachable" => "cannot reach the backend (is qubes-config-syncd running?): {detail}",
    /// args: detail
    ReplyUnreadable = "client.unreadable" => "the backend sent an answer this client cannot read: {detail}",
    /// args: version
    ClientTooOld = "client.too-old" => "the backend speaks a newer API (version {version}); update this program",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Code, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Code::from_wire(&text))
    }
}

/// A code with its named arguments (values are data: qube names, paths, numbers,
/// escaped untrusted detail — a client shows them escaped, never as markup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: Code,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
}

impl Reason {
    /// A reason without arguments.
    pub fn new(code: Code) -> Reason {
        Reason {
            code,
            args: BTreeMap::new(),
        }
    }

    /// Adds an argument (builder style).
    pub fn arg(mut self, name: &str, value: impl ToString) -> Reason {
        self.args.insert(name.to_owned(), value.to_string());
        self
    }

    /// An argument's value (`""` when the backend did not send it).
    pub fn get(&self, name: &str) -> &str {
        self.args.get(name).map(String::as_str).unwrap_or("")
    }

    /// The reason carried by a D-Bus error message (JSON); a message that is not one
    /// becomes [`Code::Unknown`] with the text as its `detail` (still a failure).
    pub fn from_message(message: &str) -> Reason {
        serde_json::from_str(message).unwrap_or_else(|_| {
            Reason::new(Code::Unknown("unreadable".to_owned()))
                .arg("detail", message.chars().take(1024).collect::<String>())
        })
    }

    /// The JSON text of a D-Bus error message.
    pub fn to_message(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| format!("{{\"code\":\"{}\"}}", self.code))
    }

    /// The English sentence: the code's template with the arguments filled in (one
    /// pass: a value holding `{…}` is never expanded again). The values are not
    /// escaped here; a terminal renders the result through its safe renderer.
    pub fn english(&self) -> String {
        let args = if let Code::Unknown(code) = &self.code {
            let mut all = self.args.clone();
            all.insert("code".to_owned(), code.clone());
            all.insert(
                "args".to_owned(),
                self.args
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            all
        } else {
            self.args.clone()
        };
        fill(self.code.english(), &args)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.english())
    }
}

/// Replaces each `{name}` with its argument in one pass; an unknown placeholder stays.
pub fn fill(template: &str, args: &BTreeMap<String, String>) -> String {
    fill_with(template, |name| args.get(name).map(String::as_str))
}

/// Replaces each `{name}` with what `lookup` gives for it, in one pass: a value is never
/// scanned for placeholders again (a qube's text cannot expand one), and a placeholder
/// `lookup` does not know stays as written. The one implementation for the CLI's
/// sentences and the app's translated ones.
pub fn fill_with<'a>(template: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after
            .find('}')
            .and_then(|close| lookup(&after[..close]).map(|v| (v, close)));
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::{Code, Reason};

    #[test]
    fn codes_round_trip_and_unknown_codes_are_kept() {
        for code in Code::ALL {
            assert_eq!(&Code::from_wire(code.as_str()), code);
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(&serde_json::from_str::<Code>(&json).unwrap(), code);
        }
        let unknown: Reason =
            serde_json::from_str(r#"{"code":"future.thing","args":{"qube":"work"}}"#).unwrap();
        assert_eq!(unknown.code, Code::Unknown("future.thing".into()));
        let text = unknown.english();
        assert!(
            text.contains("future.thing") && text.contains("qube=work"),
            "{text}"
        );
    }

    #[test]
    fn every_placeholder_of_a_sentence_is_an_argument_name() {
        // A sentence names arguments in `{name}` form; none is left unbalanced.
        for code in Code::ALL {
            let text = code.english();
            assert_eq!(
                text.matches('{').count(),
                text.matches('}').count(),
                "{code}"
            );
            assert!(!text.is_empty() && !text.ends_with('.'), "{code}: {text}");
        }
    }

    #[test]
    fn arguments_are_filled_once_and_messages_that_are_not_reasons_fail_closed() {
        let r = Reason::new(Code::ProfileUnknown).arg("profile", "{profile}");
        assert_eq!(r.english(), "there is no profile {profile}");
        let back = Reason::from_message(&r.to_message());
        assert_eq!(back, r);
        let prose = Reason::from_message("org.qubes.Something went wrong");
        assert!(matches!(prose.code, Code::Unknown(_)));
        assert_eq!(prose.get("detail"), "org.qubes.Something went wrong");
    }
}
