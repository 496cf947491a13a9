//! Templates and variables in the backend: a templated file is rendered per target qube,
//! in the config qube, from the Admin API's facts (name, label, class, template, tags)
//! and the store's variables, wherever the backend plans a write (push, auto-apply,
//! rollback) and wherever it compares with a qube (snapshot import, proposal review,
//! the three-way base).
//!
//! A render error is the qube's plan error (`template.*`), so nothing is written to that
//! qube; the other qubes are planned as usual. Content from a qube is never rendered: the
//! only text rendered is the store's version of a file marked as a template, and a
//! proposal for a templated file is shown against that qube's rendered version, next to
//! the template source, and cannot be accepted (`proposal.templated-file`): the user
//! edits the template.
//!
//! It must not write anything into a qube; the rendered bytes go into the plan.

use std::collections::{BTreeMap, BTreeSet};

use qcs_core::plan::QubeInput;
use qcs_core::store::{Proposal, StoreError, TemplateRefusal, VariableScope};
use qcs_core::template::{self, Facts, RenderError, Resolved, Source, Template};
use qcs_protocol::{ProfileId, RelativePath, VmName, sha256_hex};

use super::{Backend, BackendError, Result, views};
use crate::client::types::{API_VERSION, ProposalView, PushPlan};
use crate::client::variables::{
    ExportResult, ImportResult, ImportedProfile, ProposalTemplate, TemplatePreview, UsedVariable,
    VariableList, VariableScope as WireScope, VariableView,
};
use crate::client::{Code, ErrorKind, Reason};

/// The reason of a render failure of `path` (of `profile`) for `qube`.
pub fn render_reason(
    qube: &VmName,
    profile: &ProfileId,
    path: &RelativePath,
    error: &RenderError,
) -> Reason {
    let at = |r: Reason, at: template::Position| r.arg("line", at.line).arg("column", at.column);
    let base = |code| {
        Reason::new(code)
            .arg("qube", qube)
            .arg("profile", profile)
            .arg("path", path)
    };
    match error {
        RenderError::Syntax(e) => at(base(Code::TemplateSyntax), e.at).arg("detail", &e.kind),
        RenderError::MissingVariable { name, at: pos } => {
            at(base(Code::TemplateMissingVariable).arg("name", name), *pos)
        }
        RenderError::AmbiguousVariable {
            name,
            tags,
            at: pos,
        } => at(
            base(Code::TemplateAmbiguousVariable)
                .arg("name", name)
                .arg("tags", tags.join(", ")),
            *pos,
        ),
        RenderError::TooLarge { limit } => base(Code::TemplateTooLarge).arg("limit", limit),
    }
}

/// A store refusal of a template or variable operation: its D-Bus error kind and reason.
pub fn refusal_reason(refusal: &TemplateRefusal) -> (ErrorKind, Reason) {
    let r = Reason::new;
    match refusal {
        TemplateRefusal::InvalidName(e) => match e {
            template::SyntaxError::InvalidTagName(tag) => (
                ErrorKind::InvalidArgument,
                r(Code::VariableInvalidTag).arg("tag", tag),
            ),
            template::SyntaxError::InvalidVariableName(name) => (
                ErrorKind::InvalidArgument,
                r(Code::VariableInvalidName)
                    .arg("name", name)
                    .arg("detail", e),
            ),
            other => (
                ErrorKind::InvalidArgument,
                r(Code::VariableInvalidName)
                    .arg("name", "")
                    .arg("detail", other),
            ),
        },
        TemplateRefusal::InvalidValue { name, source } => (
            ErrorKind::InvalidArgument,
            r(Code::VariableInvalidValue)
                .arg("name", name)
                .arg("detail", source),
        ),
        TemplateRefusal::NotSet { scope, name } => (
            ErrorKind::NotFound,
            r(Code::VariableNotSet)
                .arg("scope", scope)
                .arg("name", name),
        ),
        TemplateRefusal::TooManyVariables { scope } => (
            ErrorKind::Refused,
            r(Code::VariableTooMany)
                .arg("scope", scope)
                .arg("limit", qcs_core::store::MAX_VARIABLES_PER_SCOPE),
        ),
        TemplateRefusal::Syntax { path, source } => (
            ErrorKind::Refused,
            r(Code::TemplateSyntax)
                .arg("profile", "")
                .arg("path", path)
                .arg("line", source.at.line)
                .arg("column", source.at.column)
                .arg("detail", &source.kind),
        ),
        TemplateRefusal::FromProposal {
            path,
            qube,
            proposal,
        } => (
            ErrorKind::Refused,
            r(Code::TemplateFromProposal)
                .arg("path", path)
                .arg("qube", qube)
                .arg("id", proposal),
        ),
        TemplateRefusal::TemplatedFile { profile, path } => (
            ErrorKind::Refused,
            r(Code::ProposalTemplatedFile)
                .arg("profile", profile)
                .arg("path", path),
        ),
    }
}

/// The rendered version of a templated file for a qube (`None`: neither renderable now
/// nor pushed before), with why it could not be rendered now.
type RenderedBase = (Option<Vec<u8>>, Option<Reason>);

fn refused(reason: Reason) -> BackendError {
    BackendError::Refused(reason)
}

/// A variable scope as a client names it (`qube`, `tag`, `profile`) with its target.
pub fn scope(kind: &str, target: &str) -> Result<VariableScope> {
    match kind {
        "qube" => Ok(VariableScope::Qube(views::qube_name(target)?)),
        "tag" => {
            template::validate_tag_name(target).map_err(|_| {
                BackendError::InvalidArgument(
                    Reason::new(Code::VariableInvalidTag)
                        .arg("tag", target.chars().take(64).collect::<String>()),
                )
            })?;
            Ok(VariableScope::Tag(target.to_owned()))
        }
        "profile" => Ok(VariableScope::ProfileDefault(views::profile_id(target)?)),
        other => Err(BackendError::InvalidArgument(
            Reason::new(Code::VariableScopeInvalid)
                .arg("kind", other.chars().take(32).collect::<String>()),
        )),
    }
}

fn wire_scope(scope: &VariableScope) -> (WireScope, String) {
    match scope {
        VariableScope::Qube(q) => (WireScope::Qube, q.to_string()),
        VariableScope::Tag(t) => (WireScope::Tag, t.clone()),
        VariableScope::ProfileDefault(p) => (WireScope::Profile, p.to_string()),
    }
}

/// The lines of `bytes` as safe segments.
fn lines(bytes: &[u8]) -> Vec<Vec<crate::client::types::Segment>> {
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(|line| views::text_segments(line.strip_suffix(b"\n").unwrap_or(line)))
        .collect()
}

impl Backend {
    /// What the Admin API says about `qube` for its templates: class (from the list),
    /// label, template (AppVM and DispVM only) and tags, read now.
    pub(super) fn template_facts(&self, qube: &VmName) -> Result<Facts> {
        let unavailable = |detail: &dyn std::fmt::Display| {
            refused(
                Reason::new(Code::TemplateFactsUnavailable)
                    .arg("qube", qube)
                    .arg("detail", detail),
            )
        };
        let vm = self
            .admin
            .domain(qube.as_str())
            .map_err(|e| unavailable(&e))?
            .ok_or_else(|| {
                BackendError::NotFound(Reason::new(Code::QubeUnknown).arg("qube", qube))
            })?;
        let label = vm
            .property("label")
            .map_err(|e| unavailable(&e))?
            .as_name()
            .unwrap_or_default()
            .to_owned();
        let template = if matches!(vm.class(), "AppVM" | "DispVM") {
            vm.property("template")
                .map_err(|e| unavailable(&e))?
                .as_name()
                .map(str::to_owned)
        } else {
            None
        };
        let tags = vm
            .tags()
            .list()
            .map_err(|e| unavailable(&e))?
            .into_iter()
            .collect();
        Ok(Facts {
            name: qube.to_string(),
            label,
            class: vm.class().to_owned(),
            template,
            tags,
        })
    }

    /// Renders the templated files of `input` for its qube (as of `generation` for a
    /// rollback, else the current versions): content and hash become the rendered ones,
    /// which are remembered as the three-way base; the last pushed content of rendered
    /// paths is filled from what was rendered then. A render error is
    /// `BackendError::Refused` with its `template.*` reason: the caller plans nothing
    /// for the qube.
    pub(crate) fn render_templates(
        &self,
        input: &mut QubeInput,
        generation: Option<u64>,
    ) -> Result<()> {
        let profiles: BTreeSet<ProfileId> =
            input.desired.iter().map(|d| d.profile.clone()).collect();
        let mut templated: BTreeMap<(ProfileId, RelativePath), String> = BTreeMap::new();
        {
            let store = self.store();
            for profile in profiles {
                let files = store.templated_files_at(&profile, generation.unwrap_or(u64::MAX))?;
                for (path, sha) in files {
                    templated.insert((profile.clone(), path), sha);
                }
            }
        }
        if !templated.is_empty() {
            // Facts only when there is something to render: no Admin API call otherwise.
            let facts = self.template_facts(&input.qube)?;
            let mut rendered = Vec::new();
            for file in &mut input.desired {
                let key = (file.profile.clone(), file.path.clone());
                let Some(template_sha) = templated.get(&key) else {
                    continue;
                };
                if *template_sha != file.sha256 {
                    return Err(BackendError::failed(
                        "the profile changed while it was planned; plan again",
                    ));
                }
                let vars = self.store().variables_for(&input.qube, &file.profile)?;
                let bytes = template::render_file(&file.content, &facts, &vars).map_err(|e| {
                    refused(render_reason(&input.qube, &file.profile, &file.path, &e))
                })?;
                file.sha256 = sha256_hex(&bytes);
                file.content = bytes;
                rendered.push(file.path.clone());
            }
            let mut store = self.store();
            for file in input.desired.iter().filter(|f| rendered.contains(&f.path)) {
                store.remember_rendered(&input.qube, &file.path, &file.sha256, &file.content)?;
            }
        }
        let store = self.store();
        for (path, last) in &mut input.last_pushed {
            if last.content.is_none() {
                last.content = store.rendered_content(&input.qube, path, &last.sha256)?;
            }
        }
        Ok(())
    }

    /// Marks the plan's items of templated files with the template's hash.
    pub(crate) fn mark_templates(&self, plan: &mut PushPlan) -> Result<()> {
        let mut cache: BTreeMap<String, BTreeMap<RelativePath, String>> = BTreeMap::new();
        let store = self.store();
        for qube in &mut plan.qubes {
            for item in &mut qube.items {
                if !cache.contains_key(&item.profile) {
                    let files = match views::profile_id(&item.profile) {
                        Ok(profile) => store.templated_files(&profile)?,
                        Err(_) => BTreeMap::new(),
                    };
                    cache.insert(item.profile.clone(), files);
                }
                item.template_sha256 = cache.get(&item.profile).and_then(|files| {
                    files
                        .iter()
                        .find(|(path, _)| path.as_str() == item.path)
                        .map(|(_, sha)| sha.clone())
                });
            }
        }
        Ok(())
    }

    /// Whether a qube's file with hash `sha256` at a templated `path` is what we rendered
    /// for it (pushed or planned): then it is no change of the qube's.
    pub(crate) fn is_rendered_for(
        &self,
        qube: &VmName,
        profile: &ProfileId,
        path: &RelativePath,
        sha256: &str,
    ) -> Result<bool> {
        let store = self.store();
        if !store.is_template(profile, path)? {
            return Ok(false);
        }
        let pushed = store
            .qube_file_states(qube)?
            .into_iter()
            .any(|s| &s.path == path && s.pushed.is_some_and(|p| p.sha256 == sha256));
        Ok(pushed || store.rendered_content(qube, path, sha256)?.is_some())
    }

    /// The rendered version of a templated file for the qube that proposed it: rendered
    /// now, else (rendering fails) what was last pushed there. `None` when the file is
    /// not a template.
    fn rendered_base(&self, p: &Proposal) -> Result<Option<RenderedBase>> {
        let current = {
            let store = self.store();
            if !store.is_template(&p.profile, &p.path)? {
                return Ok(None);
            }
            store.current_file(&p.profile, &p.path)?
        };
        let Some(current) = current else {
            return Ok(None);
        };
        let attempt = self.template_facts(&p.source_qube).and_then(|facts| {
            let vars = self.store().variables_for(&p.source_qube, &p.profile)?;
            template::render_file(&current.bytes, &facts, &vars)
                .map_err(|e| refused(render_reason(&p.source_qube, &p.profile, &p.path, &e)))
        });
        match attempt {
            Ok(bytes) => Ok(Some((Some(bytes), None))),
            Err(e) => {
                let store = self.store();
                let pushed = store
                    .qube_file_states(&p.source_qube)?
                    .into_iter()
                    .find(|s| s.path == p.path)
                    .and_then(|s| s.pushed);
                let last = match pushed {
                    Some(pushed) => {
                        store.rendered_content(&p.source_qube, &p.path, &pushed.sha256)?
                    }
                    None => None,
                };
                Ok(Some((last, Some(self.reason_for(&p.source_qube, &e)))))
            }
        }
    }

    /// For a proposal of a templated file: the review's base and diff become the
    /// proposing qube's rendered version (the template itself is shown by
    /// `GetProposalTemplate`), and the three-way view, when the qube's base is a render
    /// we remember, is base = that render, ours = the current render, theirs = the
    /// proposal. The proposal's bytes are never rendered.
    pub(crate) fn show_rendered_base(&self, p: &Proposal, view: &mut ProposalView) -> Result<bool> {
        let Some((rendered, _)) = self.rendered_base(p)? else {
            return Ok(false);
        };
        let base = rendered.unwrap_or_default();
        let diff = qcs_core::diff::diff(&base, &p.content);
        view.base_sha256 = Some(sha256_hex(&base));
        view.base_b64 = Some(views::b64(&base));
        view.diff = views::diff_view(&diff, &[]);
        view.three_way = None;
        if let Some(old) = p.base_sha256.as_deref() {
            let remembered = self
                .store()
                .rendered_content(&p.source_qube, &p.path, old)?;
            if let Some(old_bytes) = remembered
                && old_bytes != base
            {
                let three_way = qcs_core::diff::three_way(&old_bytes, &base, &p.content);
                view.three_way = Some(views::three_way_view(
                    &three_way,
                    &views::PROPOSAL_THREE_WAY,
                ));
            }
        }
        Ok(true)
    }

    /// Refuses to accept a proposal of a templated file (`proposal.templated-file`).
    pub(crate) fn refuse_templated_accept(&self, id: i64) -> Result<()> {
        let store = self.store();
        let Some(p) = store.proposal(id)? else {
            return Ok(());
        };
        if store.is_template(&p.profile, &p.path)? {
            return Err(refused(
                Reason::new(Code::ProposalTemplatedFile)
                    .arg("profile", &p.profile)
                    .arg("path", &p.path),
            ));
        }
        Ok(())
    }

    /// `GetProposalTemplate`: the template source next to the rendered version the
    /// proposal is reviewed against.
    pub fn proposal_template(&self, id: i64) -> Result<ProposalTemplate> {
        let p = self.store().proposal(id)?.ok_or_else(|| {
            BackendError::NotFound(Reason::new(Code::ProposalUnknown).arg("id", id))
        })?;
        let mut out = ProposalTemplate {
            version: API_VERSION,
            proposal: id,
            profile: p.profile.to_string(),
            path: p.path.to_string(),
            qube: p.source_qube.to_string(),
            template: false,
            template_b64: None,
            template_sha256: None,
            template_lines: Vec::new(),
            rendered_sha256: None,
            render_error: None,
            accept_refused: None,
        };
        let Some((rendered, error)) = self.rendered_base(&p)? else {
            return Ok(out);
        };
        let current = self.store().current_file(&p.profile, &p.path)?;
        if let Some(file) = current {
            out.template = true;
            out.template_b64 = Some(views::b64(&file.bytes));
            out.template_sha256 = Some(file.sha256.clone());
            out.template_lines = lines(&file.bytes);
        }
        out.rendered_sha256 = Some(sha256_hex(&rendered.unwrap_or_default()));
        out.render_error = error;
        out.accept_refused = Some(
            Reason::new(Code::ProposalTemplatedFile)
                .arg("profile", &p.profile)
                .arg("path", &p.path),
        );
        Ok(out)
    }

    /// `PreviewTemplate`: `path` of `profile` rendered for `qube`, with every variable it
    /// uses and where its value comes from. Writes nothing.
    pub fn preview_template(
        &self,
        profile: &ProfileId,
        path: &RelativePath,
        qube: &VmName,
    ) -> Result<TemplatePreview> {
        self.check_target(qube)?;
        let file = {
            let store = self.store();
            let file = store.current_file(profile, path)?.ok_or_else(|| {
                BackendError::NotFound(
                    Reason::new(Code::FileUnknown)
                        .arg("profile", profile)
                        .arg("path", path),
                )
            })?;
            if !store.is_template(profile, path)? {
                return Err(refused(
                    Reason::new(Code::TemplateNotAFile)
                        .arg("profile", profile)
                        .arg("path", path),
                ));
            }
            file
        };
        let facts = self.template_facts(qube)?;
        let vars = self.store().variables_for(qube, profile)?;
        let mut preview = TemplatePreview {
            version: API_VERSION,
            profile: profile.to_string(),
            path: path.to_string(),
            qube: qube.to_string(),
            template_sha256: file.sha256.clone(),
            rendered_b64: None,
            rendered_sha256: None,
            lines: Vec::new(),
            error: None,
            variables: Vec::new(),
        };
        let parsed = match Template::parse_bytes(&file.bytes) {
            Ok(t) => t,
            Err(e) => {
                preview.error = Some(render_reason(qube, profile, path, &e.into()));
                return Ok(preview);
            }
        };
        for name in parsed.variables() {
            let mut used = UsedVariable {
                name: name.clone(),
                value: None,
                scope: None,
                target: None,
                ambiguous: false,
            };
            match vars.resolve(&name, &facts.tags) {
                Resolved::Found { value, source } => {
                    used.value = Some(value.to_owned());
                    let (scope, target) = match source {
                        Source::Qube => (WireScope::Qube, qube.to_string()),
                        Source::Tag(tag) => (WireScope::Tag, tag),
                        Source::ProfileDefault => (WireScope::Profile, profile.to_string()),
                    };
                    used.scope = Some(scope);
                    used.target = Some(target);
                }
                Resolved::Missing => {}
                Resolved::Ambiguous { .. } => used.ambiguous = true,
            }
            preview.variables.push(used);
        }
        match parsed.render(&facts, &vars) {
            Ok(text) => {
                let bytes = text.into_bytes();
                preview.rendered_sha256 = Some(sha256_hex(&bytes));
                preview.lines = lines(&bytes);
                preview.rendered_b64 = Some(views::b64(&bytes));
            }
            Err(e) => preview.error = Some(render_reason(qube, profile, path, &e)),
        }
        Ok(preview)
    }

    /// `SetVariable`. A qube scope needs a qube the Admin API knows (not dom0, not this
    /// qube); removing works for any name.
    pub fn set_variable(&self, scope: &VariableScope, name: &str, value: &str) -> Result<()> {
        if let VariableScope::Qube(qube) = scope {
            self.check_target(qube)?;
        }
        self.store().set_variable(scope, name, value)?;
        self.notifier().qube_changed("");
        Ok(())
    }

    /// `UnsetVariable`.
    pub fn unset_variable(&self, scope: &VariableScope, name: &str) -> Result<()> {
        self.store().unset_variable(scope, name)?;
        self.notifier().qube_changed("");
        Ok(())
    }

    /// `ListVariables`: every variable, or (with `qube`) those that apply to it — its
    /// own, those of its tags (from the Admin API), the defaults of its profiles (single
    /// assignments and covering rules)
    /// — each marked with whether it is the value the qube gets.
    pub fn list_variables(&self, qube: Option<&VmName>) -> Result<VariableList> {
        let all = self.store().variables()?;
        let Some(qube) = qube else {
            return Ok(VariableList {
                version: API_VERSION,
                qube: None,
                tags: Vec::new(),
                profiles: Vec::new(),
                variables: all
                    .iter()
                    .map(|e| {
                        let (scope, target) = wire_scope(&e.scope);
                        VariableView {
                            scope,
                            target,
                            name: e.name.clone(),
                            value: e.value.clone(),
                            effective: None,
                            ambiguous: false,
                        }
                    })
                    .collect(),
            });
        };
        self.check_target(qube)?;
        let tags = self.template_facts(qube)?.tags;
        // Profiles assigned singly or by a rule that covers the qube now: a profile's
        // defaults apply wherever the profile is pushed.
        let assigned = self.effective_profiles(qube)?;
        let own: BTreeSet<&str> = all
            .iter()
            .filter(|e| e.scope == VariableScope::Qube(qube.clone()))
            .map(|e| e.name.as_str())
            .collect();
        let mut tag_values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for e in &all {
            if let VariableScope::Tag(t) = &e.scope
                && tags.contains(t)
            {
                tag_values
                    .entry(e.name.as_str())
                    .or_default()
                    .insert(e.value.as_str());
            }
        }
        let mut variables = Vec::new();
        for e in &all {
            let (applies, effective, ambiguous) = match &e.scope {
                VariableScope::Qube(q) => (q == qube, true, false),
                VariableScope::Tag(t) => {
                    let ambiguous = tag_values.get(e.name.as_str()).is_some_and(|v| v.len() > 1);
                    (
                        tags.contains(t),
                        !own.contains(e.name.as_str()) && !ambiguous,
                        ambiguous && !own.contains(e.name.as_str()),
                    )
                }
                VariableScope::ProfileDefault(p) => (
                    assigned.contains(p),
                    !own.contains(e.name.as_str()) && !tag_values.contains_key(e.name.as_str()),
                    false,
                ),
            };
            if !applies {
                continue;
            }
            let (scope, target) = wire_scope(&e.scope);
            variables.push(VariableView {
                scope,
                target,
                name: e.name.clone(),
                value: e.value.clone(),
                effective: Some(effective),
                ambiguous,
            });
        }
        Ok(VariableList {
            version: API_VERSION,
            qube: Some(qube.to_string()),
            tags: tags.into_iter().collect(),
            profiles: assigned.iter().map(|p| p.to_string()).collect(),
            variables,
        })
    }

    /// `PutTemplateFile`: adds or replaces a file as a template (a local edit).
    pub fn put_template_file(
        &self,
        profile: &ProfileId,
        path: &RelativePath,
        content: &[u8],
        mode: u32,
    ) -> Result<u64> {
        let generation =
            self.store()
                .put_template_file(profile, path, Some(content), Some(mode), true)?;
        self.profile_changed();
        Ok(generation)
    }

    /// `SetFileTemplate`: marks or unmarks an existing file, keeping its content.
    pub fn set_file_template(
        &self,
        profile: &ProfileId,
        path: &RelativePath,
        template: bool,
    ) -> Result<u64> {
        let generation = self.store().set_template(profile, path, template)?;
        self.profile_changed();
        Ok(generation)
    }

    /// `TemplatedFiles`: the paths of a profile's templated files.
    pub fn templated_files(&self, profile: &ProfileId) -> Result<Vec<String>> {
        let store = self.store();
        if store.profile(profile)?.is_none() {
            return Err(BackendError::Store(StoreError::ProfileNotFound(
                profile.to_string(),
            )));
        }
        Ok(store
            .templated_files(profile)?
            .into_keys()
            .map(|p| p.to_string())
            .collect())
    }

    /// `ExportProfiles` into the absolute directory `dir`.
    pub fn export_profiles(&self, dir: &str, profiles: &[ProfileId]) -> Result<ExportResult> {
        let dir = absolute(dir)?;
        let summary = self.store().export_profiles(&dir, profiles)?;
        Ok(ExportResult {
            version: API_VERSION,
            profiles: summary.profiles,
            files: summary.files,
        })
    }

    /// `ImportProfiles` from the absolute directory `dir`: read and checked first, then
    /// every qube the file sets variables for must be a target (`check_target`: not
    /// dom0, not this qube, a qube the Admin API knows), then applied in one transaction.
    pub fn import_profiles(&self, dir: &str) -> Result<ImportResult> {
        let dir = absolute(dir)?;
        let set = qcs_core::store::read_import(&dir)?;
        for qube in set.qubes() {
            self.check_target(qube)?;
        }
        let summary = self.store().apply_import(set)?;
        self.profile_changed();
        self.notifier().qube_changed("");
        Ok(ImportResult {
            version: API_VERSION,
            profiles: summary
                .profiles
                .into_iter()
                .map(|(profile, generation, files)| ImportedProfile {
                    profile: profile.to_string(),
                    generation,
                    files,
                })
                .collect(),
            variables: summary.variables,
            rules: summary.rules,
        })
    }
}

/// An absolute directory named by a client (the backend's working directory is not the
/// caller's).
fn absolute(dir: &str) -> Result<std::path::PathBuf> {
    let path = std::path::PathBuf::from(dir);
    if !path.is_absolute() {
        return Err(BackendError::InvalidArgument(
            Reason::new(Code::ExchangeNotAbsolute)
                .arg("path", dir.chars().take(256).collect::<String>()),
        ));
    }
    Ok(path)
}
