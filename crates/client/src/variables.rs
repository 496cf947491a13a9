//! The wire of templates and variables: the `org.qubes.ConfigSync1.Templates` interface
//! (served on the same object as `org.qubes.ConfigSync1`, see `API.md`) as a zbus proxy,
//! and the JSON documents it returns. A [`TemplatesProxy`] is made from the connection
//! of a [`crate::ConfigSyncProxy`] with [`templates_proxy`].
//!
//! It must not contain backend logic: rendering happens in the backend, with the Admin
//! API's facts; these types only carry its results (contents as base64, and every line a
//! client shows as safe [`Segment`]s).

use serde::{Deserialize, Serialize};
use zbus::proxy;

use crate::Error;
use crate::types::{Reason, Segment};

/// Interface name of the templates and variables methods.
pub const TEMPLATES_INTERFACE: &str = "org.qubes.ConfigSync1.Templates";

/// Variables and templates (see `API.md`, "Templates and variables").
#[proxy(
    interface = "org.qubes.ConfigSync1.Templates",
    default_service = "org.qubes.ConfigSync1",
    default_path = "/org/qubes/ConfigSync1",
    gen_blocking = false
)]
pub trait Templates {
    /// Sets variable `name` in a scope: `scope` is `qube`, `tag` or `profile` (the
    /// profile's default) and `target` names the qube, tag or profile.
    fn set_variable(&self, scope: &str, target: &str, name: &str, value: &str)
    -> Result<(), Error>;
    /// Removes a variable from a scope (`variable.not-set` when it is not set there).
    fn unset_variable(&self, scope: &str, target: &str, name: &str) -> Result<(), Error>;
    /// Every variable (`qube` empty), or those that apply to `qube` with the value each
    /// name gets. JSON [`VariableList`].
    fn list_variables(&self, qube: &str) -> Result<String, Error>;
    /// Adds or replaces a file as a template (a local edit, one generation): the text must
    /// parse. Returns the profile's new generation.
    fn put_template_file(
        &self,
        profile: &str,
        path: &str,
        content: &[u8],
        mode: u32,
    ) -> Result<u64, Error>;
    /// Marks (`true`) or unmarks a profile's file as a template, keeping its content.
    /// Returns the profile's new generation.
    fn set_file_template(&self, profile: &str, path: &str, template: bool) -> Result<u64, Error>;
    /// The paths of a profile's files that are templates.
    fn templated_files(&self, profile: &str) -> Result<Vec<String>, Error>;
    /// A template rendered for one qube (nothing is written). JSON [`TemplatePreview`].
    fn preview_template(&self, profile: &str, path: &str, qube: &str) -> Result<String, Error>;
    /// For a proposal of a templated file: the template source next to the rendered
    /// version the proposal is reviewed against. JSON [`ProposalTemplate`].
    fn get_proposal_template(&self, id: i64) -> Result<String, Error>;
    /// Exports profiles (all when `profiles` is empty) with their template flags, the
    /// variables of every qube and tag, the profiles' defaults and rules into the absolute
    /// directory `dir` (missing or empty). JSON [`ExportResult`].
    fn export_profiles(&self, dir: &str, profiles: &[&str]) -> Result<String, Error>;
    /// Imports an export directory (absolute `dir`): all or nothing, every name and value
    /// checked as `SetVariable` checks it. JSON [`ImportResult`].
    fn import_profiles(&self, dir: &str) -> Result<String, Error>;
}

/// Result of `ExportProfiles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportResult {
    pub version: u32,
    pub profiles: usize,
    pub files: usize,
}

/// One imported profile: its generation after the import and its number of files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedProfile {
    pub profile: String,
    pub generation: u64,
    pub files: usize,
}

/// Result of `ImportProfiles`: the profiles, and the variables set or changed and the
/// rules added (existing ones are not counted; nothing is removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportResult {
    pub version: u32,
    pub profiles: Vec<ImportedProfile>,
    pub variables: usize,
    pub rules: usize,
}

/// The templates proxy on the connection of `proxy`.
pub async fn templates_proxy(
    proxy: &crate::ConfigSyncProxy<'_>,
) -> zbus::Result<TemplatesProxy<'static>> {
    TemplatesProxy::new(proxy.inner().connection()).await
}

/// Where a variable is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VariableScope {
    Qube,
    Tag,
    /// A profile's default.
    Profile,
    /// A scope this client does not know.
    #[serde(other)]
    Unknown,
}

impl VariableScope {
    /// As on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            VariableScope::Qube => "qube",
            VariableScope::Tag => "tag",
            VariableScope::Profile => "profile",
            VariableScope::Unknown => "unknown",
        }
    }
}

/// One variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableView {
    pub scope: VariableScope,
    /// The qube, tag or profile it is set for.
    pub target: String,
    pub name: String,
    pub value: String,
    /// In a qube's list: whether this is the value the qube gets for `name` (for a
    /// profile default: when that profile is rendered). `None` in the list of all.
    #[serde(default)]
    pub effective: Option<bool>,
    /// In a qube's list: the qube's tags set `name` to different values (a plan error
    /// until the qube has its own value).
    #[serde(default)]
    pub ambiguous: bool,
}

/// `ListVariables`' result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableList {
    pub version: u32,
    /// The qube asked about (`None`: every variable).
    #[serde(default)]
    pub qube: Option<String>,
    /// That qube's tags, from the Admin API.
    #[serde(default)]
    pub tags: Vec<String>,
    /// That qube's assigned profiles (whose defaults apply).
    #[serde(default)]
    pub profiles: Vec<String>,
    pub variables: Vec<VariableView>,
}

/// A variable a template uses, as resolved for one qube.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedVariable {
    pub name: String,
    /// The value the qube gets; `None` when it is missing or ambiguous.
    #[serde(default)]
    pub value: Option<String>,
    /// Where the value comes from.
    #[serde(default)]
    pub scope: Option<VariableScope>,
    #[serde(default)]
    pub target: Option<String>,
    /// The qube's tags set it to different values.
    #[serde(default)]
    pub ambiguous: bool,
}

/// `PreviewTemplate`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplatePreview {
    pub version: u32,
    pub profile: String,
    pub path: String,
    pub qube: String,
    pub template_sha256: String,
    /// The rendered file (base64), when rendering worked.
    #[serde(default)]
    pub rendered_b64: Option<String>,
    #[serde(default)]
    pub rendered_sha256: Option<String>,
    /// The rendered file's lines as safe segments (empty on error).
    #[serde(default)]
    pub lines: Vec<Vec<Segment>>,
    /// Why it cannot be rendered for this qube (`template.*`): a push would refuse the
    /// qube with this reason.
    #[serde(default)]
    pub error: Option<Reason>,
    /// Every variable the template uses, resolved for this qube.
    #[serde(default)]
    pub variables: Vec<UsedVariable>,
}

/// `GetProposalTemplate`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposalTemplate {
    pub version: u32,
    pub proposal: i64,
    pub profile: String,
    pub path: String,
    /// The qube that proposed.
    pub qube: String,
    /// Whether the file is a template; the other fields are empty when not.
    pub template: bool,
    /// The template source (base64) and its lines as safe segments.
    #[serde(default)]
    pub template_b64: Option<String>,
    #[serde(default)]
    pub template_sha256: Option<String>,
    #[serde(default)]
    pub template_lines: Vec<Vec<Segment>>,
    /// The qube's rendered version the proposal's diff is against (`base_b64` of
    /// `GetProposal`).
    #[serde(default)]
    pub rendered_sha256: Option<String>,
    /// Why the template could not be rendered for the qube now (the diff is then
    /// against what was last pushed there, or against an empty file).
    #[serde(default)]
    pub render_error: Option<Reason>,
    /// Why it cannot be accepted (`proposal.templated-file`): edit the template instead.
    #[serde(default)]
    pub accept_refused: Option<Reason>,
}
