//! `var set|unset|list|preview`, `profile add-file --template`, `profile template`,
//! `export` and `import` (which carry the variables), and the template side of
//! `proposals show`: the command line of templates and variables, a
//! client of `org.qubes.ConfigSync1.Templates`.
//!
//! Everything printed that came from the backend goes through the safe terminal renderer
//! (variable values and rendered lines included).

use std::io::Write;

use clap::Subcommand;
use qcs_client::variables::{
    ExportResult, ImportResult, ProposalTemplate, TemplatePreview, TemplatesProxy, VariableList,
    VariableScope, templates_proxy,
};
use qcs_core::render::terminal;

use super::EXIT_CLEAN;
use super::args::{Common, JsonOpt};
use super::output::{colour, core_segments, safe, sentence};
use super::remote::{RemoteError, Session, decode, print_json};

/// `var` subcommands.
#[derive(Debug, Subcommand)]
pub enum VarCommand {
    /// Set a variable of templates: `var set QUBE NAME VALUE` for one qube, `var set --tag
    /// TAG NAME VALUE` for every qube with the tag, `var set --profile PROFILE NAME VALUE`
    /// as the profile's default. The most specific wins: qube, then tag, then default.
    Set {
        /// Set it for the qubes with this tag.
        #[arg(long, value_name = "TAG", conflicts_with = "profile")]
        tag: Option<String>,
        /// Set it as this profile's default.
        #[arg(long, value_name = "PROFILE", value_parser = crate::names::profile)]
        profile: Option<String>,
        /// QUBE NAME VALUE (or NAME VALUE with --tag or --profile).
        #[arg(
            num_args = 2..=3,
            value_name = "[QUBE] NAME VALUE",
            required = true,
            allow_hyphen_values = true
        )]
        args: Vec<String>,
    },
    /// Remove a variable: `var unset QUBE NAME`, `var unset --tag TAG NAME`, `var unset
    /// --profile PROFILE NAME`.
    Unset {
        /// Remove it from this tag.
        #[arg(long, value_name = "TAG", conflicts_with = "profile")]
        tag: Option<String>,
        /// Remove it from this profile's defaults.
        #[arg(long, value_name = "PROFILE", value_parser = crate::names::profile)]
        profile: Option<String>,
        /// QUBE NAME (or NAME with --tag or --profile).
        #[arg(num_args = 1..=2, value_name = "[QUBE] NAME", required = true)]
        args: Vec<String>,
    },
    /// List every variable, or those that apply to QUBE (its own, its tags', its
    /// profiles' defaults) with the value it gets marked `*`.
    List {
        /// The qube.
        #[arg(value_parser = crate::names::qube)]
        qube: Option<String>,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Show a template rendered for a qube (nothing is written), with the variables it
    /// uses and where each value comes from.
    Preview {
        /// The profile.
        #[arg(value_parser = crate::names::profile)]
        profile: String,
        /// The template's path.
        #[arg(value_parser = crate::names::path)]
        path: String,
        /// The qube to render for.
        #[arg(value_parser = crate::names::qube)]
        qube: String,
        #[command(flatten)]
        json: JsonOpt,
    },
}

/// The scope and the remaining arguments of `var set`/`var unset`.
fn scope_of<'a>(
    tag: &'a Option<String>,
    profile: &'a Option<String>,
    args: &'a [String],
    rest: usize,
) -> Result<(&'static str, &'a str, &'a [String]), RemoteError> {
    let usage = || {
        RemoteError::Usage(format!(
            "expected {} argument(s) after the qube, or --tag/--profile and {}",
            rest, rest
        ))
    };
    match (tag, profile) {
        (Some(tag), None) if args.len() == rest => Ok(("tag", tag.as_str(), args)),
        (None, Some(profile)) if args.len() == rest => Ok(("profile", profile.as_str(), args)),
        (None, None) if args.len() == rest + 1 => Ok(("qube", args[0].as_str(), &args[1..])),
        _ => Err(usage()),
    }
}

async fn templates(s: &Session) -> Result<TemplatesProxy<'static>, RemoteError> {
    Ok(templates_proxy(&s.proxy).await?)
}

/// `var …`.
pub(crate) async fn var(
    out: &mut impl Write,
    s: &Session,
    command: &VarCommand,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let t = templates(s).await?;
    match command {
        VarCommand::Set { tag, profile, args } => {
            let (scope, target, rest) = scope_of(tag, profile, args, 2)?;
            t.set_variable(scope, target, &rest[0], &rest[1]).await?;
        }
        VarCommand::Unset { tag, profile, args } => {
            let (scope, target, rest) = scope_of(tag, profile, args, 1)?;
            t.unset_variable(scope, target, &rest[0]).await?;
        }
        VarCommand::List { qube, json } => {
            let list: VariableList =
                decode(&t.list_variables(qube.as_deref().unwrap_or("")).await?)?;
            if json.json {
                return print_json(out, &list);
            }
            if let Some(qube) = &list.qube {
                writeln!(
                    out,
                    "{}: tags {} · profiles {}",
                    safe(qube, opts),
                    safe(&list.tags.join(", "), opts),
                    safe(&list.profiles.join(", "), opts)
                )?;
            }
            for v in &list.variables {
                let mark = match (v.effective, v.ambiguous) {
                    (_, true) => "!",
                    (Some(true), _) => "*",
                    _ => " ",
                };
                writeln!(
                    out,
                    "{mark} {:<8} {:<20} {:<24} {}",
                    v.scope.as_str(),
                    safe(&v.target, opts),
                    safe(&v.name, opts),
                    safe(&v.value, opts)
                )?;
            }
            if list.variables.iter().any(|v| v.ambiguous) {
                writeln!(
                    out,
                    "! the qube's tags disagree on this value: set it for the qube"
                )?;
            }
        }
        VarCommand::Preview {
            profile,
            path,
            qube,
            json,
        } => {
            let preview: TemplatePreview = decode(&t.preview_template(profile, path, qube).await?)?;
            if json.json {
                return print_json(out, &preview);
            }
            return print_preview(out, &preview, opts);
        }
    }
    Ok(EXIT_CLEAN)
}

fn print_preview(
    out: &mut impl Write,
    preview: &TemplatePreview,
    opts: terminal::Options,
) -> Result<u8, RemoteError> {
    writeln!(
        out,
        "# {} of {} rendered for {}",
        safe(&preview.path, opts),
        safe(&preview.profile, opts),
        safe(&preview.qube, opts)
    )?;
    for v in &preview.variables {
        let from = match (&v.scope, &v.target) {
            (Some(scope), Some(target)) => {
                format!("from {} {}", scope_word(*scope), safe(target, opts))
            }
            _ if v.ambiguous => "ambiguous: the qube's tags disagree".to_owned(),
            _ => "NOT SET".to_owned(),
        };
        writeln!(
            out,
            "#   var.{} = {} ({from})",
            safe(&v.name, opts),
            safe(v.value.as_deref().unwrap_or(""), opts)
        )?;
    }
    if let Some(error) = &preview.error {
        writeln!(out, "cannot be rendered: {}", sentence(error, opts))?;
        return Ok(super::EXIT_FINDINGS);
    }
    for line in &preview.lines {
        writeln!(out, "{}", terminal::segments(&core_segments(line), opts))?;
    }
    Ok(EXIT_CLEAN)
}

fn scope_word(scope: VariableScope) -> &'static str {
    match scope {
        VariableScope::Qube => "qube",
        VariableScope::Tag => "tag",
        VariableScope::Profile => "the default of profile",
        VariableScope::Unknown => "an unknown scope",
    }
}

/// `profile add-file … --template`: the file as a template, in one step.
pub(crate) async fn add_template_file(
    s: &Session,
    profile: &str,
    path: &str,
    content: &[u8],
    mode: u32,
) -> Result<u64, RemoteError> {
    Ok(templates(s)
        .await?
        .put_template_file(profile, path, content, mode)
        .await?)
}

/// `profile template PROFILE PATH [--off]`.
pub(crate) async fn mark_template(
    out: &mut impl Write,
    s: &Session,
    profile: &str,
    path: &str,
    on: bool,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let generation = templates(s)
        .await?
        .set_file_template(profile, path, on)
        .await?;
    let what = if on {
        "is a template"
    } else {
        "is a plain file"
    };
    writeln!(
        out,
        "{} {what} now: generation {generation}",
        safe(path, opts)
    )?;
    Ok(EXIT_CLEAN)
}

/// The templated paths of a profile (for `profile show`).
pub(crate) async fn templated(s: &Session, profile: &str) -> Result<Vec<String>, RemoteError> {
    Ok(templates(s).await?.templated_files(profile).await?)
}

/// The template side of `proposals show`: for a templated file, the template source
/// beside the diff (which is against the qube's rendered version) and why accepting is
/// refused. Nothing for other files.
pub(crate) async fn print_proposal_template(
    out: &mut impl Write,
    s: &Session,
    id: i64,
    opts: terminal::Options,
) -> Result<(), RemoteError> {
    let view: ProposalTemplate = decode(&templates(s).await?.get_proposal_template(id).await?)?;
    if !view.template {
        return Ok(());
    }
    writeln!(
        out,
        "{} is a template: the diff above is against what it renders for {}; the template:",
        safe(&view.path, opts),
        safe(&view.qube, opts)
    )?;
    for (i, line) in view.template_lines.iter().enumerate() {
        writeln!(
            out,
            "{:>4} | {}",
            i + 1,
            terminal::segments(&core_segments(line), opts)
        )?;
    }
    if let Some(error) = &view.render_error {
        writeln!(
            out,
            "rendering for the qube fails now: {}",
            sentence(error, opts)
        )?;
    }
    if let Some(refused) = &view.accept_refused {
        writeln!(out, "{}", sentence(refused, opts))?;
        writeln!(
            out,
            "edit it with `qvm-config-sync profile edit {} {}`",
            safe(&view.profile, opts),
            safe(&view.path, opts)
        )?;
    }
    Ok(())
}

/// The directory as an absolute path for the backend (whose working directory is not
/// ours); not canonicalised, so a symlink is still the backend's to refuse.
fn absolute_dir(dir: &std::path::Path) -> Result<String, RemoteError> {
    let path = std::path::absolute(dir)?;
    path.to_str().map(str::to_owned).ok_or_else(|| {
        RemoteError::Reason(
            qcs_client::Reason::new(qcs_client::Code::ExchangeNotAbsolute)
                .arg("path", path.to_string_lossy()),
        )
    })
}

/// `export DIR [PROFILE…]`.
pub(crate) async fn export(
    out: &mut impl Write,
    s: &Session,
    dir: &std::path::Path,
    profiles: &[String],
    json: bool,
) -> Result<u8, RemoteError> {
    let t = templates(s).await?;
    let names: Vec<&str> = profiles.iter().map(String::as_str).collect();
    let result: ExportResult = decode(&t.export_profiles(&absolute_dir(dir)?, &names).await?)?;
    if json {
        return print_json(out, &result);
    }
    writeln!(
        out,
        "exported {} profiles ({} files) to {}",
        result.profiles,
        result.files,
        dir.display()
    )?;
    Ok(EXIT_CLEAN)
}

/// `import DIR`.
pub(crate) async fn import(
    out: &mut impl Write,
    s: &Session,
    dir: &std::path::Path,
    json: bool,
) -> Result<u8, RemoteError> {
    let t = templates(s).await?;
    let result: ImportResult = decode(&t.import_profiles(&absolute_dir(dir)?).await?)?;
    if json {
        return print_json(out, &result);
    }
    for p in &result.profiles {
        writeln!(
            out,
            "{}: generation {}, {} files",
            safe(&p.profile, Default::default()),
            p.generation,
            p.files
        )?;
    }
    writeln!(
        out,
        "{} variables set, {} rules added",
        result.variables, result.rules
    )?;
    Ok(EXIT_CLEAN)
}
