//! The `qvm-config-sync` commands that talk to the backend over D-Bus (the session bus,
//! or `--bus-address`), in the style of the qvm-* tools: the session, errors as reasons,
//! the dispatcher, and the settings/profile/status commands (jobs are in [`super::jobs`],
//! the review in [`super::review`]). Human output is in [`super::output`]; `--json`
//! prints the backend's document (after decoding it, so a document this client cannot
//! read is an error, not passed on).
//!
//! Exit codes: 0 success; 1 the command ran but the outcome is not clean (a qube failed
//! in a push, conflicts, refused accept, declined prompt, files lost at restart); 2 error
//! (backend unreachable, bad usage, the backend refused the request).

use std::io::Write;

use qcs_client::types::{self, API_VERSION, ProfileView, QubeList, SyncState, Verdict};
use qcs_client::{Code, ConfigSyncProxy, Error as ApiError, Reason, job};
use qcs_core::render::{self, terminal};
use serde::Serialize;

use super::args::{Common, JsonOpt, PolicyCommand, ProfileCommand};
use super::output::{colour, safe, sentence};
use super::{EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, history, jobs, policy, review, targets, vars};

/// Failure of a backend command (exit code 2), always shown as a sentence.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The backend (or the bus) said why, as a reason.
    #[error("{0}")]
    Reason(Reason),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<ApiError> for RemoteError {
    fn from(e: ApiError) -> RemoteError {
        RemoteError::Reason(e.reason())
    }
}

impl From<zbus::Error> for RemoteError {
    fn from(e: zbus::Error) -> RemoteError {
        RemoteError::Reason(qcs_client::error::bus_reason(&e))
    }
}

impl From<serde_json::Error> for RemoteError {
    fn from(e: serde_json::Error) -> RemoteError {
        RemoteError::Reason(Reason::new(Code::ReplyUnreadable).arg("detail", e))
    }
}

impl From<job::JobError> for RemoteError {
    fn from(e: job::JobError) -> RemoteError {
        RemoteError::Reason(e.reason())
    }
}

/// The connection of one command.
pub(crate) struct Session {
    _connection: zbus::Connection,
    pub(crate) proxy: ConfigSyncProxy<'static>,
}

async fn session(address: Option<&str>) -> Result<Session, RemoteError> {
    let (connection, proxy) = qcs_client::connect_any(address)
        .await
        .map_err(|e| RemoteError::Reason(Reason::new(Code::BusUnreachable).arg("detail", e)))?;
    Ok(Session {
        _connection: connection,
        proxy,
    })
}

/// Decodes a JSON document of the backend and refuses a newer API version.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, RemoteError> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: u32,
    }
    let v: Versioned = serde_json::from_str(json)?;
    if v.version > API_VERSION {
        return Err(RemoteError::Reason(
            Reason::new(Code::ClientTooOld).arg("version", v.version),
        ));
    }
    Ok(serde_json::from_str(json)?)
}

/// Prints a value as one JSON document.
pub(crate) fn print_json(out: &mut impl Write, value: &impl Serialize) -> Result<u8, RemoteError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(EXIT_CLEAN)
}

fn mode_bits(text: &str) -> Result<u32, RemoteError> {
    u32::from_str_radix(text.trim_start_matches("0o"), 8)
        .map_err(|_| RemoteError::Reason(Reason::new(Code::ModeInvalid).arg("mode", text)))
}

fn sync_text(state: SyncState) -> &'static str {
    match state {
        SyncState::InSync => "in-sync",
        SyncState::NeverPushed => "never-pushed",
        SyncState::Outdated => "outdated",
        SyncState::Drifted => "DRIFTED",
        SyncState::Unknown => "UNKNOWN",
    }
}

/// `status`: the qube × profile matrix.
async fn status(
    out: &mut impl Write,
    s: &Session,
    json: JsonOpt,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let list: QubeList = decode(&s.proxy.list_qubes().await?)?;
    if json.json {
        return print_json(out, &list);
    }
    let pending: u32 = s.proxy.pending_proposals().await?;
    if let Some(e) = &list.admin_error {
        writeln!(out, "warning: {}", sentence(e, opts))?;
    }
    let mut profiles: Vec<String> = list
        .qubes
        .iter()
        .flat_map(|q| q.profiles.iter().map(|p| p.profile.clone()))
        .collect();
    profiles.sort();
    profiles.dedup();
    let name_width = list
        .qubes
        .iter()
        .map(|q| q.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    write!(
        out,
        "{:<name_width$}  {:<12} {:<8}",
        "QUBE", "CLASS", "STATE"
    )?;
    for p in &profiles {
        write!(out, "  {:<12}", safe(p, opts))?;
    }
    writeln!(out, "  PROPOSALS")?;
    for qube in &list.qubes {
        write!(
            out,
            "{:<name_width$}  {:<12} {:<8}",
            safe(&qube.name, opts),
            safe(&qube.class, opts),
            safe(&qube.power_state, opts)
        )?;
        for p in &profiles {
            let cell = match qube.profiles.iter().find(|s| &s.profile == p) {
                Some(s) => sync_text(s.state),
                None => "-",
            };
            write!(out, "  {cell:<12}")?;
        }
        let lost = qube
            .persistence
            .iter()
            .filter(|p| matches!(p.verdict, Verdict::LostAtRestart | Verdict::Unknown))
            .count();
        write!(out, "  {}", qube.pending_proposals)?;
        if lost > 0 {
            write!(out, "  ({lost} file(s) lost at restart or unknown)")?;
        }
        if qube.class.is_empty() {
            write!(out, "  (not reported by the Admin API)")?;
        }
        writeln!(out)?;
    }
    targets::write_rule_sources(out, &list, opts)?;
    writeln!(out, "{pending} pending proposal(s)")?;
    Ok(EXIT_CLEAN)
}

/// `settings QUBE`.
async fn settings(
    out: &mut impl Write,
    s: &Session,
    qube: &str,
    json: JsonOpt,
) -> Result<u8, RemoteError> {
    let (assigned, may_propose, auto_apply) = s.proxy.get_qube_settings(qube).await?;
    if json.json {
        #[derive(Serialize)]
        struct Settings<'a> {
            version: u32,
            qube: &'a str,
            assigned: Vec<String>,
            may_propose: Vec<String>,
            auto_apply: bool,
        }
        return print_json(
            out,
            &Settings {
                version: API_VERSION,
                qube,
                assigned,
                may_propose,
                auto_apply,
            },
        );
    }
    let opts = terminal::Options::default();
    let list = |l: &[String]| {
        if l.is_empty() {
            "none".to_owned()
        } else {
            safe(&l.join(", "), opts)
        }
    };
    writeln!(out, "qube:        {}", safe(qube, opts))?;
    writeln!(out, "assigned:    {}", list(&assigned))?;
    writeln!(out, "may propose: {}", list(&may_propose))?;
    writeln!(
        out,
        "auto-apply:  {}",
        if auto_apply { "on" } else { "off" }
    )?;
    Ok(EXIT_CLEAN)
}

/// `profile …`.
async fn profile(
    out: &mut impl Write,
    s: &Session,
    command: &ProfileCommand,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let proxy = &s.proxy;
    match command {
        ProfileCommand::List { json } => {
            let profiles = proxy.list_profiles().await?;
            if json.json {
                #[derive(Serialize)]
                struct Entry {
                    id: String,
                    description: String,
                    generation: u64,
                }
                #[derive(Serialize)]
                struct Profiles {
                    version: u32,
                    profiles: Vec<Entry>,
                }
                return print_json(
                    out,
                    &Profiles {
                        version: API_VERSION,
                        profiles: profiles
                            .into_iter()
                            .map(|(id, description, generation)| Entry {
                                id,
                                description,
                                generation,
                            })
                            .collect(),
                    },
                );
            }
            for (id, description, generation) in profiles {
                writeln!(
                    out,
                    "{:<20} gen {generation:<5} {}",
                    safe(&id, opts),
                    safe(&description, opts)
                )?;
            }
        }
        ProfileCommand::Show {
            profile,
            content,
            json,
        } => {
            if let Some(path) = content {
                let (bytes, mode, generation) = proxy.get_file(profile, path).await?;
                writeln!(
                    out,
                    "# {} mode {mode:04o} generation {generation}",
                    safe(path, opts)
                )?;
                let lines = render::render_file(&bytes, &[]);
                out.write_all(terminal::lines(&lines, opts).as_bytes())?;
                return Ok(EXIT_CLEAN);
            }
            let view: ProfileView = decode(&proxy.get_profile(profile).await?)?;
            if json.json {
                return print_json(out, &view);
            }
            writeln!(
                out,
                "{} (generation {}): {}",
                safe(&view.id, opts),
                view.generation,
                safe(&view.description, opts)
            )?;
            writeln!(
                out,
                "assigned to: {}",
                safe(&view.assigned_to.join(", "), opts)
            )?;
            writeln!(
                out,
                "new paths allowed: {}",
                allowlist_text(&view.new_path_globs, opts)
            )?;
            print_files(out, &view, opts)?;
            let templated = vars::templated(s, profile).await?;
            if !templated.is_empty() {
                writeln!(
                    out,
                    "templates (rendered per qube): {}",
                    safe(&templated.join(", "), opts)
                )?;
            }
        }
        ProfileCommand::Files { profile, json } => {
            let view: ProfileView = decode(&proxy.get_profile(profile).await?)?;
            if json.json {
                #[derive(Serialize)]
                struct Files<'a> {
                    version: u32,
                    profile: &'a str,
                    generation: u64,
                    files: &'a [types::FileSummary],
                }
                return print_json(
                    out,
                    &Files {
                        version: view.version,
                        profile: &view.id,
                        generation: view.generation,
                        files: &view.files,
                    },
                );
            }
            print_files(out, &view, opts)?;
        }
        ProfileCommand::Create {
            profile,
            description,
        } => proxy.create_profile(profile, description).await?,
        ProfileCommand::Describe {
            profile,
            description,
        } => proxy.set_profile_description(profile, description).await?,
        ProfileCommand::AddFile {
            profile,
            path,
            from,
            mode,
            template,
        } => {
            if from.is_dir() {
                return Err(RemoteError::Usage(format!(
                    "{} is a directory: use `profile add-dir PROFILE PATH --from DIR`",
                    from.display()
                )));
            }
            let content = std::fs::read(from)
                .map_err(|e| RemoteError::Usage(format!("cannot read {}: {e}", from.display())))?;
            let generation = if *template {
                vars::add_template_file(s, profile, path, &content, mode_bits(mode)?).await?
            } else {
                proxy
                    .put_file(profile, path, &content, mode_bits(mode)?)
                    .await?
            };
            writeln!(out, "{}: generation {generation}", safe(profile, opts))?;
        }
        ProfileCommand::AddDir {
            profile,
            path,
            from,
        } => return super::dirs::add_dir(out, s, profile, path, from, opts).await,
        ProfileCommand::Template { profile, path, off } => {
            return vars::mark_template(out, s, profile, path, !off, common).await;
        }
        ProfileCommand::Edit { profile, path } => {
            let (bytes, mode, _) = proxy.get_file(profile, path).await?;
            let edited = edit_in_editor(&bytes)?;
            if edited == bytes {
                writeln!(out, "no change")?;
            } else {
                let generation = proxy.put_file(profile, path, &edited, mode).await?;
                writeln!(out, "{}: generation {generation}", safe(profile, opts))?;
            }
        }
        ProfileCommand::RemoveFile { profile, path } => {
            let generation = proxy.remove_file(profile, path).await?;
            writeln!(out, "{}: generation {generation}", safe(profile, opts))?;
        }
        ProfileCommand::Revert {
            profile,
            generation,
        } => {
            let new = proxy.revert_profile(profile, *generation).await?;
            writeln!(
                out,
                "{}: now at generation {new} (as {generation})",
                safe(profile, opts)
            )?;
        }
        ProfileCommand::AllowNew {
            profile,
            globs,
            remove,
        } => {
            let list = if globs.is_empty() {
                let view: ProfileView = decode(&proxy.get_profile(profile).await?)?;
                view.new_path_globs
            } else {
                let globs: Vec<&str> = globs.iter().map(String::as_str).collect();
                proxy.allow_new_paths(profile, &globs, !remove).await?
            };
            writeln!(
                out,
                "{}: new paths allowed: {}",
                safe(profile, opts),
                allowlist_text(&list, opts)
            )?;
        }
    }
    Ok(EXIT_CLEAN)
}

fn print_files(
    out: &mut impl Write,
    view: &ProfileView,
    opts: terminal::Options,
) -> std::io::Result<()> {
    for f in &view.files {
        writeln!(
            out,
            "  {} {:>7} gen {:<4} {}  ({})",
            safe(&f.mode, opts),
            f.size,
            f.generation,
            safe(&f.path, opts),
            sentence(&f.provenance, opts)
        )?;
    }
    Ok(())
}

/// `cat PROFILE PATH`: the stored bytes, exactly (a file of the store, already
/// reviewed; to see hidden characters use `profile show --content`).
async fn cat(
    out: &mut impl Write,
    s: &Session,
    profile: &str,
    path: &str,
) -> Result<u8, RemoteError> {
    let (bytes, _mode, _generation) = s.proxy.get_file(profile, path).await?;
    out.write_all(&bytes)?;
    out.flush()?;
    Ok(EXIT_CLEAN)
}

/// A profile's allowlist of new paths for people.
fn allowlist_text(globs: &[String], opts: terminal::Options) -> String {
    if globs.is_empty() {
        "none (only the profile's files may be proposed)".to_owned()
    } else {
        globs
            .iter()
            .map(|g| safe(g, opts))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Opens the content in the user's editor (a private temporary file in the config qube:
/// the content is the store's, already trusted).
fn edit_in_editor(content: &[u8]) -> Result<Vec<u8>, RemoteError> {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let editor = set("VISUAL")
        .or_else(|| set("EDITOR"))
        .unwrap_or_else(|| "vi".to_owned());
    let dir = std::env::temp_dir();
    let path = dir.join(format!("qvm-config-sync-edit-{}", std::process::id()));
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(content)?;
    }
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status();
    let result = match status {
        Ok(s) if s.success() => std::fs::read(&path).map_err(RemoteError::from),
        Ok(s) => Err(RemoteError::Usage(format!("the editor exited with {s}"))),
        Err(e) => Err(RemoteError::Usage(format!("cannot run the editor: {e}"))),
    };
    let _ = std::fs::remove_file(&path);
    result
}

/// `auto-apply QUBE on|off`: a change that would change nothing is an error.
async fn auto_apply(s: &Session, qube: &str, on: bool) -> Result<u8, RemoteError> {
    let (assigned, may, current) = s.proxy.get_qube_settings(qube).await?;
    if current == on {
        return Err(RemoteError::Reason(
            Reason::new(Code::SettingsAutoApplyUnchanged)
                .arg("qube", qube)
                .arg("state", if on { "on" } else { "off" }),
        ));
    }
    let assigned: Vec<&str> = assigned.iter().map(String::as_str).collect();
    let may: Vec<&str> = may.iter().map(String::as_str).collect();
    s.proxy.set_qube_settings(qube, &assigned, &may, on).await?;
    Ok(EXIT_CLEAN)
}

/// `persistence QUBE [--fix PATH]`.
async fn persistence(
    out: &mut impl Write,
    s: &Session,
    qube: &str,
    fix: Option<&str>,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    if let Some(path) = fix {
        let (applied, command) = s.proxy.fix_persistence(qube, path).await?;
        if applied {
            writeln!(
                out,
                "set through the Admin API (takes effect at the next start of {}); the same in dom0:",
                safe(qube, opts)
            )?;
        } else {
            writeln!(out, "not allowed to set it from here; run in dom0:")?;
        }
        writeln!(out, "  {}", safe(&command, opts))?;
        return Ok(EXIT_CLEAN);
    }
    let list: QubeList = decode(&s.proxy.get_qube(qube).await?)?;
    let mut lost = false;
    for q in &list.qubes {
        for p in &q.persistence {
            writeln!(
                out,
                "{:<40} {}",
                safe(&p.path, opts),
                sentence(&p.detail, opts)
            )?;
            if let Some(command) = &p.fix_command {
                writeln!(out, "{:<40} fix in dom0: {}", "", safe(command, opts))?;
            }
            if matches!(p.verdict, Verdict::LostAtRestart | Verdict::Unknown) {
                lost = true;
            }
        }
    }
    Ok(if lost { EXIT_FINDINGS } else { EXIT_CLEAN })
}

/// Runs an async command and maps its error to exit code 2 (a sentence, never a
/// D-Bus error name).
fn block<F: std::future::Future<Output = Result<u8, RemoteError>>>(future: F) -> u8 {
    match zbus::block_on(future) {
        Ok(code) => code,
        Err(e) => {
            let text = match &e {
                RemoteError::Reason(r) => sentence(r, terminal::Options::default()),
                other => safe(&other.to_string(), terminal::Options::default()),
            };
            eprintln!("qvm-config-sync: error: {text}");
            EXIT_ERROR
        }
    }
}

/// Runs a command other than `scan`; returns the exit code.
pub fn run(command: super::Command, address: Option<&str>) -> u8 {
    use super::Command;
    let mut out = std::io::stdout().lock();
    if let Command::Policy {
        command: PolicyCommand::Check { dir, verbose },
    } = &command
    {
        return block(async { policy::policy_check(&mut out, dir, *verbose) });
    }
    block(async {
        let s = session(address).await?;
        match command {
            Command::Scan(_) => Ok(EXIT_ERROR),
            Command::Status { json, common } => status(&mut out, &s, json, &common).await,
            Command::Profile { command, common } => profile(&mut out, &s, &command, &common).await,
            Command::Cat { profile, path } => cat(&mut out, &s, &profile, &path).await,
            Command::Settings { qube, json } => settings(&mut out, &s, &qube, json).await,
            Command::Assign {
                qube,
                profile,
                rule,
                unassign,
            } => targets::assign(&mut out, &s, &qube, profile.as_deref(), &rule, unassign).await,
            Command::Rules { json, common } => targets::rules(&mut out, &s, json, &common).await,
            Command::Adopt {
                qube,
                path,
                profile,
                common,
            } => targets::adopt(&mut out, &s, &qube, &path, &profile, &common).await,
            Command::AllowPropose {
                qube,
                profile,
                deny,
            } => {
                s.proxy.allow_proposals(&qube, &profile, !deny).await?;
                Ok(EXIT_CLEAN)
            }
            Command::AutoApply { qube, state } => auto_apply(&s, &qube, state == "on").await,
            Command::Push { args, common } => jobs::push(&mut out, &s, &args, &common).await,
            Command::Diff {
                qubes,
                profiles,
                json,
                common,
            } => jobs::diff(&mut out, &s, &qubes, &profiles, json, &common).await,
            Command::Proposals { command, common } => {
                review::proposals(&mut out, &s, &command, &common).await
            }
            Command::Snapshot {
                qube,
                profiles,
                common,
            } => jobs::snapshot(&mut out, &s, &qube, &profiles, &common).await,
            Command::Generations {
                profile,
                json,
                common,
            } => history::generations(&mut out, &s, &profile, json, &common).await,
            Command::Undo {
                qube,
                profile,
                yes,
                common,
            } => history::undo(&mut out, &s, &qube, &profile, yes, &common).await,
            Command::Rollback { args, common } => {
                history::rollback(&mut out, &s, &args, &common).await
            }
            Command::Persistence { qube, fix, common } => {
                persistence(&mut out, &s, &qube, fix.as_deref(), &common).await
            }
            Command::Var { command, common } => vars::var(&mut out, &s, &command, &common).await,
            Command::Export {
                dir,
                profiles,
                json,
                common: _,
            } => vars::export(&mut out, &s, &dir, &profiles, json.json).await,
            Command::Import {
                dir,
                json,
                common: _,
            } => vars::import(&mut out, &s, &dir, json.json).await,
            Command::Policy { command } => match command {
                PolicyCommand::Print => {
                    out.write_all(s.proxy.generate_policy().await?.as_bytes())?;
                    Ok(EXIT_CLEAN)
                }
                PolicyCommand::Check { dir, verbose } => {
                    policy::policy_check(&mut out, &dir, verbose)
                }
            },
        }
    })
}
