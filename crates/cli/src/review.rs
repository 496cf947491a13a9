//! `proposals list|show|accept|reject`: the review from the command line. An accept goes
//! through the backend's one gate; refusals are shown by their reason code, with the
//! `--ack` arguments still missing.

use std::io::Write;

use qcs_client::types::{self, ProposalList, ProposalView, ReviewRefusal};
use qcs_client::{Code, Error as ApiError};

use super::args::{Common, ProposalsCommand};
use super::output::{self, colour, safe, sentence};
use super::remote::{RemoteError, Session, decode, print_json};
use super::{EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};

/// `proposals …`.
pub(crate) async fn proposals(
    out: &mut impl Write,
    s: &Session,
    command: &ProposalsCommand,
    common: &Common,
) -> Result<u8, RemoteError> {
    let opts = colour(common.color);
    let proxy = &s.proxy;
    match command {
        ProposalsCommand::List { status, json } => {
            let status = if status == "all" { "" } else { status.as_str() };
            let list: ProposalList = decode(&proxy.list_proposals(status).await?)?;
            if json.json {
                return print_json(out, &list);
            }
            for p in &list.proposals {
                writeln!(
                    out,
                    "#{:<6} {:<9} {:<16} {:<10} {} ({} bytes)",
                    p.id,
                    p.status.as_str(),
                    safe(&p.source_qube, opts),
                    safe(&p.profile, opts),
                    safe(&p.path, opts),
                    p.size
                )?;
            }
            Ok(EXIT_CLEAN)
        }
        ProposalsCommand::Show { id, json } => {
            let view: ProposalView = decode(&proxy.get_proposal(*id).await?)?;
            if json.json {
                return print_json(out, &view);
            }
            output::print_proposal(out, &view, opts)?;
            super::vars::print_proposal_template(out, s, *id, opts).await?;
            Ok(EXIT_CLEAN)
        }
        ProposalsCommand::Accept {
            id,
            hunks,
            acknowledged,
            digest,
            note,
        } => {
            let view: ProposalView = decode(&proxy.get_proposal(*id).await?)?;
            let acks = match resolve_acks(&view, hunks, acknowledged) {
                Ok(acks) => acks,
                Err(message) => {
                    writeln!(out, "not accepted: {}", safe(&message, opts))?;
                    return Ok(EXIT_ERROR);
                }
            };
            let digest = digest.as_deref().unwrap_or(&view.digest);
            let hunks: Vec<&str> = hunks.iter().map(String::as_str).collect();
            let acks: Vec<&str> = acks.iter().map(String::as_str).collect();
            match proxy
                .accept_proposal(*id, digest, &hunks, &acks, note)
                .await
            {
                Ok(generation) => {
                    writeln!(out, "proposal #{id} accepted: generation {generation}")?;
                    Ok(EXIT_CLEAN)
                }
                Err(ApiError::ReviewRefused(message)) => {
                    let refusal = ReviewRefusal::parse(&message);
                    writeln!(
                        out,
                        "not accepted ({}): {}",
                        safe(refusal.code.as_str(), opts),
                        sentence(&refusal.reason(), opts)
                    )?;
                    match refusal.code {
                        Code::ReviewUnacknowledged => {
                            for finding in &refusal.ids {
                                writeln!(out, "  --ack {}", safe(finding, opts))?;
                            }
                            writeln!(
                                out,
                                "review with `qvm-config-sync proposals show {id}`, then repeat with --ack for each"
                            )?;
                            Ok(EXIT_FINDINGS)
                        }
                        Code::ReviewUnreviewed => Ok(EXIT_FINDINGS),
                        Code::ReviewStale => {
                            writeln!(
                                out,
                                "look at it again with `qvm-config-sync proposals show {id}`"
                            )?;
                            Ok(EXIT_ERROR)
                        }
                        _ => Ok(EXIT_ERROR),
                    }
                }
                Err(e) => Err(e.into()),
            }
        }
        ProposalsCommand::Reject { id, note } => {
            proxy.reject_proposal(*id, note).await?;
            writeln!(out, "proposal #{id} rejected")?;
            Ok(EXIT_CLEAN)
        }
    }
}

/// The finding ids to acknowledge for `--ack` arguments: a finding id stays as it is; a
/// bare rule id becomes the id of the one gated finding of that rule in the accepted
/// hunks (`hunks`, all when empty), and is an error listing the ids when there are
/// none or several. Anything else is passed on (the backend refuses an unknown id).
fn resolve_acks(
    view: &ProposalView,
    hunks: &[String],
    acknowledged: &[String],
) -> Result<Vec<String>, String> {
    let accepted =
        |f: &types::FindingView| hunks.is_empty() || f.hunks.iter().any(|h| hunks.contains(h));
    let mut ids = Vec::with_capacity(acknowledged.len());
    for ack in acknowledged {
        if view.findings.iter().any(|f| &f.id == ack) {
            ids.push(ack.clone());
            continue;
        }
        let of_rule: Vec<&str> = view
            .findings
            .iter()
            .filter(|f| &f.rule == ack && f.gated)
            .map(|f| f.id.as_str())
            .collect();
        if of_rule.is_empty() {
            ids.push(ack.clone());
            continue;
        }
        let in_part: Vec<&str> = view
            .findings
            .iter()
            .filter(|f| &f.rule == ack && f.gated && accepted(f))
            .map(|f| f.id.as_str())
            .collect();
        match in_part.as_slice() {
            [one] => ids.push((*one).to_owned()),
            [] => {
                return Err(format!(
                    "--ack {ack}: no gated finding of this rule is in the accepted hunks (its findings: {})",
                    of_rule.join(", ")
                ));
            }
            several => {
                return Err(format!(
                    "--ack {ack}: {} findings of this rule are in the accepted hunks; name each by its id: {}",
                    several.len(),
                    several.join(", ")
                ));
            }
        }
    }
    Ok(ids)
}
