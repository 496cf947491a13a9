//! `--demo` without a display: the demo world, the private bus and the real backend
//! come up, seeded with profiles and settings, and the risky proposal waits in the
//! inbox with its critical findings and hidden characters as tokens — all read back
//! through the backend's D-Bus API, as the app reads it.

mod common;

use qcs_client::types::{ProposalList, ProposalView, QubeList, Segment};
use qubes_config_sync::demo::Demo;

#[test]
fn demo_starts_the_backend_on_a_private_bus_with_a_pending_risky_proposal() {
    common::build_workspace_programs();
    let world = tempfile::tempdir().unwrap();
    let demo = Demo::start(Some(world.path().to_owned())).expect("demo starts");
    assert!(demo.bus_address().starts_with("unix:path="));
    assert!(world.path().join("world.json").is_file());

    zbus::block_on(async {
        let (_c, proxy) = qcs_client::connect_to(demo.bus_address()).await.unwrap();
        let qubes: QubeList = serde_json::from_str(&proxy.list_qubes().await.unwrap()).unwrap();
        for (name, class) in [
            ("work", "AppVM"),
            ("disp1234", "DispVM"),
            ("fedora-42-xfce", "TemplateVM"),
            ("dev-box", "StandaloneVM"),
        ] {
            let qube = qubes
                .qubes
                .iter()
                .find(|q| q.name == name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(qube.class, class);
        }
        let vault = qubes.qubes.iter().find(|q| q.name == "vault").unwrap();
        assert_eq!(vault.assigned, ["git"]);
        let lost: Vec<&str> = vault
            .persistence
            .iter()
            .filter(|p| p.verdict.as_str() == "lost-at-restart")
            .map(|p| p.path.as_str())
            .collect();
        assert_eq!(lost, [".config/git/ignore"], "{:?}", vault.persistence);
        let kept = vault
            .persistence
            .iter()
            .find(|p| p.path == ".gitconfig")
            .unwrap();
        assert_eq!(kept.verdict.as_str(), "persistent");

        let profiles = proxy.list_profiles().await.unwrap();
        let ids: Vec<&str> = profiles.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(ids, ["git", "git-identity", "nvim", "ssh", "vim"]);
        // The tag rules: every qube tagged dev gets nvim and the git-identity template,
        // and `status` says why.
        let rules: qcs_client::rules::RuleList =
            serde_json::from_str(&proxy.list_assignment_rules().await.unwrap()).unwrap();
        let mut by_rule: Vec<(&str, &[String])> = rules
            .rules
            .iter()
            .map(|r| (r.profile.as_str(), r.covers.as_slice()))
            .collect();
        by_rule.sort();
        let covered = ["personal".to_owned(), "work".to_owned()];
        assert_eq!(
            by_rule,
            [("git-identity", &covered[..]), ("nvim", &covered[..])]
        );
        let work = qubes.qubes.iter().find(|q| q.name == "work").unwrap();
        for profile in ["nvim", "git-identity"] {
            let p = work.profiles.iter().find(|p| p.profile == profile).unwrap();
            assert_eq!(p.sources[0].english(), "tag dev", "{profile}");
        }
        // A push of the template plans work its own email (personal is halted: its
        // preview renders its own).
        let plan: qcs_client::types::PushPlan = serde_json::from_str(
            &proxy
                .plan_push(&["work"], &["git-identity"], &[])
                .await
                .unwrap(),
        )
        .unwrap();
        let q = &plan.qubes[0];
        assert!(q.error.is_none(), "{:?}", q.error);
        assert_eq!(q.items.len(), 1, "{:?}", q.items);
        assert!(q.items[0].template_sha256.is_some());
        let diff = serde_json::to_string(&q.items[0].diff).unwrap();
        assert!(diff.contains("alice@work.example"), "{diff}");
        assert!(!diff.contains("alice@home.example"), "{diff}");
        assert!(!diff.contains("{{"), "{diff}");
        let templates = qcs_client::variables::templates_proxy(&proxy)
            .await
            .unwrap();
        let preview: qcs_client::variables::TemplatePreview = serde_json::from_str(
            &templates
                .preview_template("git-identity", ".config/git/config", "personal")
                .await
                .unwrap(),
        )
        .unwrap();
        assert!(preview.error.is_none(), "{:?}", preview.error);
        let rendered = serde_json::to_string(&preview.lines).unwrap();
        assert!(rendered.contains("alice@home.example"), "{rendered}");

        let pending: ProposalList =
            serde_json::from_str(&proxy.list_proposals("pending").await.unwrap()).unwrap();
        assert_eq!(pending.proposals.len(), 1);
        let summary = &pending.proposals[0];
        assert_eq!(
            (summary.source_qube.as_str(), summary.path.as_str()),
            ("work", ".gitconfig")
        );
        let proposal: ProposalView =
            serde_json::from_str(&proxy.get_proposal(summary.id).await.unwrap()).unwrap();
        assert!(proposal.diff.hunks.len() >= 3, "{:?}", proposal.diff.hunks);
        let critical: Vec<&str> = proposal
            .findings
            .iter()
            .filter(|f| f.severity.as_str() == "critical")
            .map(|f| f.rule.as_str())
            .collect();
        assert!(critical.len() >= 2, "{:?}", proposal.findings);
        let tokens: Vec<&str> = proposal
            .diff
            .lines
            .iter()
            .flat_map(|l| &l.segments)
            .filter_map(|s| match s {
                Segment::Token { class, label, .. }
                    if *class != qcs_client::types::TokenClass::Whitespace =>
                {
                    Some(label.as_str())
                }
                _ => None,
            })
            .collect();
        assert!(tokens.iter().any(|t| t.contains("202E")), "{tokens:?}");
        assert!(tokens.iter().any(|t| t.contains("200B")), "{tokens:?}");
    });
    drop(demo);
}
