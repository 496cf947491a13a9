//! `qvm-config-sync scan FILE --as HOME_RELATIVE_PATH [--base OLD_FILE] [--json]`:
//! runs the risk engine and the renderer on a local file, without the backend.
//!
//! The file is treated like a proposal: its bytes are untrusted, it is read with
//! `O_NOFOLLOW|O_NONBLOCK` after an lstat (a FIFO cannot hang us, a symlink is
//! reported as one, not followed), capped before anything parses it, and every
//! line shown goes through the safe terminal renderer.

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::Args;
use qcs_core::diff;
use qcs_core::render::{self, terminal};
use qcs_core::risk::{Engine, FileKind, Finding, ScanInput, Severity, Side};
use rustix::fs::{FileType, Mode, OFlags};

use super::{CliError, ColourChoice, EXIT_CLEAN, EXIT_FINDINGS};

/// Longest part of a line shown in human output (the rest is summarised).
const MAX_SHOWN_LINE_BYTES: usize = 1000;

/// Arguments of `scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The file to scan (read as untrusted bytes).
    pub file: PathBuf,
    /// Where the file would go, relative to the home directory (e.g. `.gitconfig`);
    /// decides which rules apply.
    #[arg(long = "as", value_name = "HOME_RELATIVE_PATH")]
    pub as_path: String,
    /// The previous version (what was accepted before): added, changed and removed
    /// settings are told apart and removed protections are reported.
    #[arg(long, value_name = "OLD_FILE")]
    pub base: Option<PathBuf>,
    /// Print one JSON object with a `findings` array instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also print the rendered diff against --base.
    #[arg(long)]
    pub diff: bool,
    /// Colour human output.
    #[arg(long, value_enum, default_value_t = ColourChoice::Auto, value_name = "WHEN")]
    pub color: ColourChoice,
}

/// A file read for scanning.
struct Input {
    content: Vec<u8>,
    mode: Option<u32>,
    kind: FileKind,
}

/// A path as given, safe to print (control and other hidden characters escaped).
fn shown(path: &Path) -> String {
    path.to_string_lossy().escape_debug().to_string()
}

fn read_input(path: &Path, limit: usize) -> Result<Input, CliError> {
    let read_err = |source: std::io::Error| CliError::Read {
        path: shown(path),
        source,
    };
    let meta = std::fs::symlink_metadata(path).map_err(read_err)?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        // A proposal carrying a symlink carries its target, never the pointee.
        let target = std::fs::read_link(path).map_err(read_err)?;
        return Ok(Input {
            content: target.as_os_str().as_bytes().to_vec(),
            mode: None,
            kind: FileKind::Symlink,
        });
    }
    if !ft.is_file() {
        return Err(CliError::NotRegular {
            path: shown(path),
            kind: if ft.is_dir() {
                "a directory"
            } else {
                "a special file"
            },
        });
    }
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| read_err(e.into()))?;
    // Check again on the open handle: the path may have been swapped since lstat.
    let st = rustix::fs::fstat(&fd).map_err(|e| read_err(e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(CliError::NotRegular {
            path: shown(path),
            kind: "a special file",
        });
    }
    let too_large = || CliError::TooLarge {
        path: shown(path),
        limit,
    };
    if usize::try_from(st.st_size).is_ok_and(|size| size > limit) || st.st_size < 0 {
        return Err(too_large());
    }
    let mut content = Vec::new();
    std::fs::File::from(fd)
        .take(limit as u64 + 1)
        .read_to_end(&mut content)
        .map_err(read_err)?;
    if content.len() > limit {
        return Err(too_large());
    }
    Ok(Input {
        content,
        mode: Some(st.st_mode & 0o7777),
        kind: if st.st_nlink > 1 {
            FileKind::Hardlink
        } else {
            FileKind::Regular
        },
    })
}

fn use_colour(choice: ColourChoice) -> bool {
    use std::io::IsTerminal;
    match choice {
        ColourChoice::Always => true,
        ColourChoice::Never => false,
        ColourChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
        }
    }
}

/// Runs `scan`, writing the report to `out`; returns the exit code.
pub fn run_scan(args: &ScanArgs, out: &mut impl Write) -> Result<u8, CliError> {
    let invalid_as = |reason: String| CliError::InvalidAs {
        path: args.as_path.escape_debug().to_string(),
        reason,
    };
    if args.as_path == "~" || args.as_path.starts_with("~/") {
        return Err(invalid_as(
            "give the path relative to the home directory, without \"~/\"".into(),
        ));
    }
    let as_path = qcs_protocol::path::validate_relative_path(&args.as_path)
        .map_err(|e| invalid_as(e.to_string()))?;
    let engine = Engine::shared();
    let limit = engine.limits().max_scan_bytes;
    let input = read_input(&args.file, limit)?;
    let base = match &args.base {
        Some(p) => Some(read_input(p, limit)?.content),
        None => None,
    };
    // A file scanned on its own is not a profile: `meta.new-path` (a file the
    // profile does not have yet) only means something in a proposal's review.
    let findings: Vec<Finding> = engine
        .scan(&ScanInput {
            path: as_path.as_str(),
            content: &input.content,
            base: base.as_deref(),
            mode: input.mode,
            kind: input.kind,
        })
        .into_iter()
        .filter(|f| f.rule != "meta.new-path")
        .collect();
    if args.json {
        write_json(out, as_path.as_str(), &findings)?;
    } else {
        let opts = terminal::Options {
            colour: use_colour(args.color),
        };
        write_human(
            out,
            as_path.as_str(),
            &input.content,
            base.as_deref(),
            &findings,
            opts,
        )?;
        if args.diff
            && let Some(base) = &base
        {
            let d = diff::diff(base, &input.content);
            writeln!(out)?;
            if d.is_unchanged() {
                writeln!(out, "no changes against the base")?;
            } else {
                out.write_all(
                    terminal::lines(&render::render_diff(&d, &findings), opts).as_bytes(),
                )?;
            }
        }
    }
    out.flush()?;
    Ok(if findings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}

fn write_json(out: &mut impl Write, path: &str, findings: &[Finding]) -> Result<(), CliError> {
    let items: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "rule": f.rule,
                "severity": f.severity.as_str(),
                "line": f.line,
                "message": f.message,
                "text": message_json(&f.text),
                "side": f.side.as_str(),
                "change": f.change.as_str(),
                "span": f.span.map(|s| serde_json::json!({"start": s.start, "end": s.end})),
                "why": f.why,
                "reference": f.reference,
                "gated": f.gated(),
            })
        })
        .collect();
    let report = serde_json::json!({ "path": path, "findings": items });
    // serde_json escapes every control character, so content cannot reach the terminal raw.
    writeln!(out, "{report}")?;
    Ok(())
}

/// A message's template and arguments (what a translation starts from).
fn message_json(m: &qcs_core::risk::Message) -> serde_json::Value {
    serde_json::json!({
        "template": m.template,
        "args": m.args.iter().map(|a| serde_json::json!({
            "name": a.name,
            "value": a.value,
            "translate": a.translate,
        })).collect::<Vec<_>>(),
        "more": m.more.iter().map(message_json).collect::<Vec<_>>(),
    })
}

/// Text that came from rules or content, passed through the safe renderer.
fn safe(text: &str, opts: terminal::Options) -> String {
    terminal::segments(&render::render_line(text.as_bytes()), opts)
}

fn counts(findings: &[Finding]) -> String {
    let mut parts = Vec::new();
    for sev in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Info,
    ] {
        let n = findings.iter().filter(|f| f.severity == sev).count();
        if n > 0 {
            parts.push(format!("{n} {}", sev.as_str()));
        }
    }
    parts.join(", ")
}

fn write_human(
    out: &mut impl Write,
    path: &str,
    content: &[u8],
    base: Option<&[u8]>,
    findings: &[Finding],
    opts: terminal::Options,
) -> Result<(), CliError> {
    let path = safe(path, opts);
    if findings.is_empty() {
        writeln!(out, "{path}: no findings")?;
        return Ok(());
    }
    let plural = if findings.len() == 1 { "" } else { "s" };
    writeln!(
        out,
        "{path}: {} finding{plural} ({})",
        findings.len(),
        counts(findings)
    )?;
    let new_lines = diff::split_lines(content);
    let base_lines = base.map(diff::split_lines).unwrap_or_default();
    let (alert, reset) = (terminal::SGR[6], terminal::SGR[0]);
    for f in findings {
        writeln!(out)?;
        let label = f.severity.as_str().to_uppercase();
        let where_ = match (f.line, f.side) {
            (Some(l), Side::Proposed) => format!("line {l}"),
            (Some(l), Side::Base) => format!("removed, base line {l}"),
            (None, _) => "whole file".to_string(),
        };
        if opts.colour && f.severity >= Severity::High {
            writeln!(
                out,
                "{alert}{label}{reset} {} ({where_})",
                safe(&f.rule, opts)
            )?;
        } else {
            writeln!(out, "{label} {} ({where_})", safe(&f.rule, opts))?;
        }
        writeln!(out, "    {}", safe(&f.message, opts))?;
        let lines = if f.side == Side::Base {
            &base_lines
        } else {
            &new_lines
        };
        if let Some(line) = f.line.and_then(|l| lines.get((l as usize).wrapping_sub(1))) {
            let marker = if f.side == Side::Base { '-' } else { '|' };
            writeln!(
                out,
                "    {:>5} {marker} {}",
                f.line.unwrap_or(0),
                shown_line(line, opts)
            )?;
        }
        if !f.reference.is_empty() {
            writeln!(out, "    reference: {}", safe(&f.reference, opts))?;
        }
    }
    Ok(())
}

/// One content line rendered safely, cut at [`MAX_SHOWN_LINE_BYTES`].
fn shown_line(line: &[u8], opts: terminal::Options) -> String {
    if line.len() <= MAX_SHOWN_LINE_BYTES {
        return terminal::line(line, opts);
    }
    // Cut on a UTF-8 boundary so the cut itself does not invent invalid bytes.
    let mut cut = MAX_SHOWN_LINE_BYTES;
    while cut > MAX_SHOWN_LINE_BYTES - 3 && line.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
        cut -= 1;
    }
    format!(
        "{} … ({} more bytes)",
        terminal::line(&line[..cut], opts),
        line.len() - cut
    )
}
