//! Templates end to end (issue 15, item 1): the real `qubes-config-syncd` on a private
//! bus, the simulated dom0 and qubes running the real agent. One `.gitconfig` template
//! with a different `user.email` in three qubes (per-qube and per-tag variables, a
//! profile default), a qube with a missing variable (a plan error, nothing written there,
//! the others written), drift and the three-way view on rendered versions, a proposal
//! against the templated file (reviewed against the qube's rendered version, the template
//! unchanged, accept refused), and a hostile qube whose proposal carries template syntax
//! (never rendered, shown literally).
//!
//! `harness = false`: the binary is also the agent inside the simulated qubes.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine as _;
use qcs_daemon::client::types::{
    DiffView, PlanAction, ProposalList, ProposalView, PushPlan, QubeList, Segment, SyncState,
};
use qcs_daemon::client::variables::{
    ProposalTemplate, TemplatePreview, TemplatesProxy, VariableList, VariableScope, templates_proxy,
};
use qcs_daemon::client::{Code, ConfigSyncProxy, Error as ApiError};
use qcs_sim::world::QubeSpec;
use support::{Env, EnvOptions, managed, wait_job};

fn main() -> std::process::ExitCode {
    support::dispatch();
    support::run_all(&[
        (
            "one_template_a_different_email_in_each_qube",
            one_template_a_different_email_in_each_qube,
        ),
        (
            "a_proposal_against_a_template_is_never_rendered_nor_accepted",
            a_proposal_against_a_template_is_never_rendered_nor_accepted,
        ),
        (
            "a_variable_or_tag_change_that_changes_the_rendering_makes_a_qube_outdated",
            a_variable_or_tag_change_that_changes_the_rendering_makes_a_qube_outdated,
        ),
        (
            "export_and_import_carry_variables_rules_and_refuse_a_hostile_file",
            export_and_import_carry_variables_rules_and_refuse_a_hostile_file,
        ),
        (
            "variables_and_templates_from_the_cli",
            variables_and_templates_from_the_cli,
        ),
        (
            "templates_interface_matches_checked_in_xml",
            templates_interface_matches_checked_in_xml,
        ),
    ])
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    zbus::block_on(f)
}

const TEMPLATE: &str = "[user]\n\tname = {{ var.name }}\n\temail = {{ var.email }}\n\
{{#if tag:dev}}\n[alias]\n\tlg = log --oneline\n{{/if}}\n\
# {{ qube.name }} ({{ qube.label }} {{ qube.class }} on {{ qube.template }})\n";

fn rendered(email: &str, dev: bool, qube: &str, label: &str) -> String {
    let alias = if dev {
        "[alias]\n\tlg = log --oneline\n"
    } else {
        ""
    };
    format!(
        "[user]\n\tname = Alice\n\temail = {email}\n{alias}# {qube} ({label} AppVM on fedora)\n"
    )
}

fn plan(proxy: &ConfigSyncProxy<'static>, qubes: &[&str]) -> PushPlan {
    serde_json::from_str(&block(proxy.plan_push(qubes, &[], &[])).unwrap()).unwrap()
}

fn execute(
    proxy: &ConfigSyncProxy<'static>,
    plan: &PushPlan,
) -> (bool, qcs_daemon::client::types::JobSummary) {
    let mut finished = block(proxy.receive_job_finished()).unwrap();
    let job = block(proxy.execute_plan(&plan.plan_id)).unwrap();
    wait_job(&mut finished, job)
}

fn text(line: &[Segment]) -> String {
    line.iter()
        .map(|s| match s {
            Segment::Text { text, .. } => text.clone(),
            Segment::Token { label, .. } => format!("<{label}>"),
            Segment::FindingAnchor { .. } => String::new(),
        })
        .collect()
}

/// The diff's lines as `kind text`.
fn diff_lines(diff: &DiffView) -> Vec<String> {
    diff.lines
        .iter()
        .filter(|l| l.kind.as_str() != "hunk-header")
        .map(|l| format!("{} {}", l.kind.as_str(), text(&l.segments)))
        .collect()
}

fn sync_state(proxy: &ConfigSyncProxy<'static>, qube: &str) -> SyncState {
    let list: QubeList = serde_json::from_str(&block(proxy.get_qube(qube)).unwrap()).unwrap();
    list.qubes[0]
        .profiles
        .iter()
        .find(|p| p.profile == "git")
        .unwrap()
        .state
}

fn set(t: &TemplatesProxy<'static>, scope: &str, target: &str, name: &str, value: &str) {
    block(t.set_variable(scope, target, name, value)).unwrap();
}

fn read(env: &Env, qube: &str) -> Option<String> {
    std::fs::read_to_string(env.home(qube).join(".gitconfig")).ok()
}

/// work and personal carry tag `dev` with their own email; vault (tags `dev` and
/// `offline`) gets its email from `offline`; `name` is the profile's default; `broken`
/// has no email anywhere.
fn setup() -> (
    Env,
    zbus::Connection,
    ConfigSyncProxy<'static>,
    TemplatesProxy<'static>,
) {
    let env = Env::start(
        vec![
            managed(
                QubeSpec::app("work", "fedora")
                    .label("blue")
                    .tag("dev")
                    .running(),
            ),
            managed(
                QubeSpec::app("personal", "fedora")
                    .label("green")
                    .tag("dev")
                    .running(),
            ),
            managed(
                QubeSpec::app("vault", "fedora")
                    .label("black")
                    .tag("dev")
                    .tag("offline")
                    .running(),
            ),
            managed(QubeSpec::app("broken", "fedora").label("red").running()),
        ],
        EnvOptions::default(),
    );
    let (conn, proxy) = env.client();
    let t = block(templates_proxy(&proxy)).unwrap();
    block(proxy.create_profile("git", "")).unwrap();
    block(t.put_template_file("git", ".gitconfig", TEMPLATE.as_bytes(), 0o644)).unwrap();
    set(&t, "profile", "git", "name", "Alice");
    set(&t, "qube", "work", "email", "alice@work.example");
    set(&t, "qube", "personal", "email", "alice@home.example");
    set(&t, "tag", "offline", "email", "alice@vault.example");
    for qube in ["work", "personal", "vault", "broken"] {
        block(proxy.assign(qube, "git", true)).unwrap();
    }
    (env, conn, proxy, t)
}

fn one_template_a_different_email_in_each_qube() {
    let (env, _conn, proxy, t) = setup();
    let template_sha = qcs_protocol::sha256_hex(TEMPLATE.as_bytes());

    // The plan: each qube its rendered file and diff; broken a plan error naming the
    // variable, with no item.
    let p = plan(&proxy, &[]);
    for (qube, email, dev, label) in [
        ("work", "alice@work.example", true, "blue"),
        ("personal", "alice@home.example", true, "green"),
        ("vault", "alice@vault.example", true, "black"),
    ] {
        let q = p.qubes.iter().find(|q| q.qube == qube).unwrap();
        assert!(q.error.is_none(), "{qube}: {:?}", q.error);
        let item = &q.items[0];
        assert_eq!(item.action, PlanAction::Create);
        assert_eq!(item.template_sha256.as_deref(), Some(template_sha.as_str()));
        let want = rendered(email, dev, qube, label);
        assert_eq!(item.new_sha256, qcs_protocol::sha256_hex(want.as_bytes()));
        let lines = diff_lines(item.diff.as_ref().unwrap());
        assert!(
            lines.contains(&format!("added <TAB>email = {email}")),
            "{qube}: {lines:?}"
        );
        assert!(lines.iter().all(|l| !l.contains("{{")), "{lines:?}");
    }
    let broken = p.qubes.iter().find(|q| q.qube == "broken").unwrap();
    let error = broken.error.as_ref().expect("broken has a plan error");
    assert_eq!(error.code, Code::TemplateMissingVariable);
    assert_eq!(error.get("name"), "var.email");
    assert_eq!((error.get("line"), error.get("column")), ("3", "10"));
    assert!(broken.items.is_empty());

    // The push writes the three renderings; nothing reaches broken.
    let (success, summary) = execute(&proxy, &p);
    assert!(success, "{summary:?}");
    assert_eq!(
        read(&env, "work").unwrap(),
        rendered("alice@work.example", true, "work", "blue")
    );
    assert_eq!(
        read(&env, "personal").unwrap(),
        rendered("alice@home.example", true, "personal", "green")
    );
    assert_eq!(
        read(&env, "vault").unwrap(),
        rendered("alice@vault.example", true, "vault", "black")
    );
    assert_eq!(read(&env, "broken"), None, "nothing is written to broken");
    // Pushed renderings are in sync (the store holds the template, not these).
    assert_eq!(sync_state(&proxy, "work"), SyncState::InSync);
    assert_eq!(sync_state(&proxy, "broken"), SyncState::NeverPushed);

    // Once broken has an email, it gets its own file.
    set(&t, "qube", "broken", "email", "alice@broken.example");
    let p = plan(&proxy, &["broken", "work"]);
    let by = |q: &str| p.qubes.iter().find(|x| x.qube == q).unwrap().clone();
    assert_eq!(by("broken").items[0].action, PlanAction::Create);
    assert_eq!(by("work").items[0].action, PlanAction::Unchanged);
    let (success, _) = execute(&proxy, &p);
    assert!(success);
    assert!(
        read(&env, "broken")
            .unwrap()
            .contains("email = alice@broken.example")
    );

    // A tag variable changes: vault's plan updates the email line only.
    set(&t, "tag", "offline", "email", "vault@example.org");
    let p = plan(&proxy, &["vault"]);
    let item = &p.qubes[0].items[0];
    assert_eq!(item.action, PlanAction::Update);
    let lines = diff_lines(item.diff.as_ref().unwrap());
    let changed: Vec<&String> = lines.iter().filter(|l| !l.starts_with("context")).collect();
    assert_eq!(
        changed,
        [
            "removed <TAB>email = alice@vault.example",
            "added <TAB>email = vault@example.org"
        ]
    );

    // Two tags that disagree: vault (dev and offline) is a plan error until it has its
    // own value; work (dev only, its own value unset) takes dev's.
    set(&t, "tag", "dev", "email", "dev@example.org");
    block(t.unset_variable("qube", "work", "email")).unwrap();
    let p = plan(&proxy, &["work", "vault"]);
    let vault = p.qubes.iter().find(|q| q.qube == "vault").unwrap();
    let error = vault.error.as_ref().expect("ambiguous is a plan error");
    assert_eq!(error.code, Code::TemplateAmbiguousVariable);
    assert_eq!(error.get("tags"), "dev, offline");
    assert!(vault.items.is_empty());
    let work = p.qubes.iter().find(|q| q.qube == "work").unwrap();
    assert_eq!(work.items[0].action, PlanAction::Update, "{work:?}");
    assert!(
        diff_lines(work.items[0].diff.as_ref().unwrap())
            .contains(&"added <TAB>email = dev@example.org".to_owned())
    );
    // The preview shows the same, naming the variable.
    let preview: TemplatePreview =
        serde_json::from_str(&block(t.preview_template("git", ".gitconfig", "vault")).unwrap())
            .unwrap();
    assert_eq!(
        preview.error.as_ref().map(|e| e.code.clone()),
        Some(Code::TemplateAmbiguousVariable)
    );
    assert!(preview.rendered_b64.is_none());
    let used = |preview: &TemplatePreview, name: &str| {
        preview
            .variables
            .iter()
            .find(|v| v.name == name)
            .unwrap()
            .clone()
    };
    assert!(used(&preview, "email").ambiguous);
    assert_eq!(used(&preview, "name").scope, Some(VariableScope::Profile));
    set(&t, "qube", "vault", "email", "v@example.org");
    let preview: TemplatePreview =
        serde_json::from_str(&block(t.preview_template("git", ".gitconfig", "vault")).unwrap())
            .unwrap();
    assert!(preview.error.is_none());
    assert_eq!(used(&preview, "email").scope, Some(VariableScope::Qube));
    let lines: Vec<String> = preview.lines.iter().map(|l| text(l)).collect();
    assert!(
        lines.contains(&"<TAB>email = v@example.org".to_owned()),
        "{lines:?}"
    );

    // Drift: work's file edited in the qube → drifted, and the plan's conflict shows the
    // three-way view of rendered versions (base = what we pushed).
    set(&t, "qube", "work", "email", "alice@work.example");
    let local = rendered("alice@work.example", true, "work", "blue").replace("Alice", "Al");
    std::fs::write(env.home("work").join(".gitconfig"), &local).unwrap();
    set(&t, "profile", "git", "name", "Alice B.");
    let p = plan(&proxy, &["work"]);
    let item = &p.qubes[0].items[0];
    assert_eq!(item.action, PlanAction::Conflict);
    assert_eq!(sync_state(&proxy, "work"), SyncState::Drifted);
    let view = item
        .three_way
        .as_ref()
        .expect("three-way of rendered versions");
    let conflict = view
        .regions
        .iter()
        .find(|r| r.kind.as_str() == "conflict")
        .expect("a conflict region");
    let side = |s: &qcs_daemon::client::types::ThreeWaySideView| {
        s.lines.iter().map(|l| text(l)).collect::<Vec<_>>()
    };
    assert_eq!(side(&conflict.base), ["<TAB>name = Alice"]);
    assert_eq!(side(&conflict.ours), ["<TAB>name = Alice B."]);
    assert_eq!(side(&conflict.theirs), ["<TAB>name = Al"]);

    // The qube's view of the variables: its own, its tags', its profiles' defaults.
    let list: VariableList =
        serde_json::from_str(&block(t.list_variables("work")).unwrap()).unwrap();
    assert!(list.tags.contains(&"dev".to_owned()));
    let effective: Vec<(&str, &str)> = list
        .variables
        .iter()
        .filter(|v| v.effective == Some(true))
        .map(|v| (v.name.as_str(), v.value.as_str()))
        .collect();
    assert_eq!(
        effective,
        [("email", "alice@work.example"), ("name", "Alice B.")]
    );
    // dom0 and unknown qubes are no scope for a variable.
    for bad in ["dom0", "nosuchqube"] {
        assert!(block(t.set_variable("qube", bad, "x", "y")).is_err());
    }
}

/// A qube proposes a change of the templated file, with template syntax of its own in
/// it: the review is against that qube's rendered version, the proposal's text is shown
/// literally (never rendered), the template source is shown beside it, accept is
/// refused and the template is unchanged.
fn a_proposal_against_a_template_is_never_rendered_nor_accepted() {
    let (env, _conn, proxy, t) = setup();
    block(proxy.assign("broken", "git", false)).unwrap();
    set(&t, "profile", "git", "secret", "TOPSECRET");
    let (success, summary) = execute(&proxy, &plan(&proxy, &[]));
    assert!(success, "{summary:?}");

    // A snapshot of an unchanged rendering is no change of the qube's.
    let snap: qcs_daemon::client::types::SnapshotResult =
        serde_json::from_str(&block(proxy.snapshot("work", &[])).unwrap()).unwrap();
    assert!(snap.proposal_ids.is_empty(), "{snap:?}");

    // The hostile qube's edit: a new pager line and a template tag of its own.
    let hostile = rendered("alice@work.example", true, "work", "blue")
        .replace("[alias]\n", "[alias]\n\tsk = {{ var.secret }}\n");
    std::fs::write(env.home("work").join(".gitconfig"), &hostile).unwrap();
    let snap: qcs_daemon::client::types::SnapshotResult =
        serde_json::from_str(&block(proxy.snapshot("work", &[])).unwrap()).unwrap();
    assert_eq!(snap.proposal_ids.len(), 1, "{snap:?}");
    let id = snap.proposal_ids[0];
    let list: ProposalList =
        serde_json::from_str(&block(proxy.list_proposals("pending")).unwrap()).unwrap();
    assert_eq!(list.proposals.len(), 1);

    let view: ProposalView = serde_json::from_str(&block(proxy.get_proposal(id)).unwrap()).unwrap();
    // Reviewed against work's rendering: one added line, shown literally.
    let changed: Vec<String> = diff_lines(&view.diff)
        .into_iter()
        .filter(|l| !l.starts_with("context"))
        .collect();
    assert_eq!(changed, ["added <TAB>sk = {{ var.secret }}"]);
    let base = base64::engine::general_purpose::STANDARD
        .decode(view.base_b64.as_deref().unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(base).unwrap(),
        rendered("alice@work.example", true, "work", "blue")
    );
    let proposed = base64::engine::general_purpose::STANDARD
        .decode(&view.proposed_b64)
        .unwrap();
    assert_eq!(
        proposed,
        hostile.as_bytes(),
        "the proposal's bytes are kept as sent"
    );
    let whole = serde_json::to_string(&view).unwrap();
    assert!(
        !whole.contains("TOPSECRET"),
        "the qube's template tag was rendered"
    );

    // The template side: the source beside it, accept refused.
    let tv: ProposalTemplate =
        serde_json::from_str(&block(t.get_proposal_template(id)).unwrap()).unwrap();
    assert!(tv.template);
    let source: Vec<String> = tv.template_lines.iter().map(|l| text(l)).collect();
    assert!(
        source.contains(&"<TAB>email = {{ var.email }}".to_owned()),
        "{source:?}"
    );
    assert_eq!(
        tv.accept_refused.as_ref().map(|r| r.code.clone()),
        Some(Code::ProposalTemplatedFile)
    );
    assert!(!serde_json::to_string(&tv).unwrap().contains("TOPSECRET"));

    let err = block(proxy.accept_proposal(id, &view.digest, &[], &[], "")).unwrap_err();
    match err {
        ApiError::Refused(m) => {
            let reason = qcs_daemon::client::Reason::from_message(&m);
            assert_eq!(reason.code, Code::ProposalTemplatedFile, "{reason:?}");
        }
        other => panic!("accept was not refused: {other:?}"),
    }
    // Some hunks only: refused the same way.
    let hunks: Vec<&str> = view.diff.hunks.iter().map(|h| h.id.as_str()).collect();
    assert!(block(proxy.accept_proposal(id, &view.digest, &hunks, &[], "")).is_err());
    let (content, _, _) = block(proxy.get_file("git", ".gitconfig")).unwrap();
    assert_eq!(content, TEMPLATE.as_bytes(), "the template is unchanged");
    let list: ProposalList =
        serde_json::from_str(&block(proxy.list_proposals("pending")).unwrap()).unwrap();
    assert_eq!(list.proposals.len(), 1, "still pending");

    // The user edits the template (a local edit) and rejects the proposal.
    let edited = TEMPLATE.replace("[alias]\n", "[alias]\n\tst = status\n");
    block(proxy.put_file("git", ".gitconfig", edited.as_bytes(), 0o644)).unwrap();
    let marked: Vec<String> = block(t.templated_files("git")).unwrap();
    assert_eq!(marked, [".gitconfig"], "an edit keeps the template flag");
    block(proxy.reject_proposal(id, "edited the template")).unwrap();
    // The next push renders the edited template for every qube; work's local change is
    // a conflict as always (not overwritten), the others update.
    let p = plan(&proxy, &[]);
    for q in &p.qubes {
        let item = &q.items[0];
        let expected = if q.qube == "work" {
            PlanAction::Conflict
        } else {
            PlanAction::Update
        };
        assert_eq!(item.action, expected, "{}", q.qube);
    }
    assert!(!serde_json::to_string(&p).unwrap().contains("TOPSECRET"));
}

/// The stable command line: `var set QUBE NAME VALUE`, `var set --tag`, `var unset`,
/// `var list [QUBE] [--json]`, `profile add-file … --template`.
fn variables_and_templates_from_the_cli() {
    let env = Env::start(
        vec![managed(
            QubeSpec::app("work", "fedora")
                .label("blue")
                .tag("dev")
                .running(),
        )],
        EnvOptions::default(),
    );
    let (_conn, proxy) = env.client();
    block(proxy.create_profile("git", "")).unwrap();
    let file = env.dir.path().join("gitconfig.tmpl");
    std::fs::write(&file, TEMPLATE).unwrap();
    let ok = |args: &[&str]| {
        let (code, out, err) = env.cli(args);
        assert_eq!(code, 0, "{args:?}: {out} {err}");
        out
    };
    ok(&[
        "profile",
        "add-file",
        "git",
        ".gitconfig",
        "--from",
        file.to_str().unwrap(),
        "--template",
    ]);
    ok(&["var", "set", "work", "email", "w@example.org"]);
    ok(&["var", "set", "--tag", "dev", "name", "Dev"]);
    ok(&["var", "set", "--profile", "git", "name", "Alice"]);
    // A value may start with a dash.
    ok(&["var", "set", "work", "pager_opts", "-FRX"]);
    let out = ok(&["var", "list", "work"]);
    assert!(out.contains("w@example.org"), "{out}");
    assert!(out.contains("-FRX"), "{out}");
    ok(&["var", "unset", "work", "pager_opts"]);
    let json = ok(&["var", "list", "--json"]);
    let list: VariableList = serde_json::from_str(&json).unwrap();
    assert_eq!(list.variables.len(), 3);
    let out = ok(&["var", "preview", "git", ".gitconfig", "work"]);
    assert!(out.contains("email = w@example.org"), "{out}");
    assert!(out.contains("name = Dev"), "{out}");
    ok(&["var", "unset", "--tag", "dev", "name"]);
    let (code, _, err) = env.cli(&["var", "unset", "--tag", "dev", "name"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not set"), "{err}");
    let (code, _, err) = env.cli(&["var", "set", "work", "bad name", "x"]);
    assert_eq!(code, 2, "{err}");
    // A file that does not parse is refused as a template, with its line and column.
    std::fs::write(&file, "x = {{ var.y\n").unwrap();
    let (code, _, err) = env.cli(&[
        "profile",
        "add-file",
        "git",
        ".bad",
        "--from",
        file.to_str().unwrap(),
        "--template",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("line 1, column 5"), "{err}");
    // The push renders; `profile show` marks the template.
    block(proxy.assign("work", "git", true)).unwrap();
    let (code, out, err) = env.cli(&["push", "-y"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(read(&env, "work").unwrap().contains("name = Alice"));
    let out = ok(&["profile", "show", "git"]);
    assert!(out.contains("template"), "{out}");
    ok(&["profile", "template", "git", ".gitconfig", "--off"]);
    let t = block(templates_proxy(&proxy)).unwrap();
    assert!(block(t.templated_files("git")).unwrap().is_empty());
}

/// `method Name(arg:type:dir,…)` of the Templates interface in introspection XML.
fn templates_members(xml: &str) -> Vec<String> {
    let start = xml
        .find("<interface name=\"org.qubes.ConfigSync1.Templates\"")
        .expect("the Templates interface in the XML");
    let end = xml[start..].find("</interface>").expect("interface end") + start;
    let attr = |tag: &str, name: &str| -> String {
        let key = format!("{name}=\"");
        tag.find(&key)
            .map(|i| {
                let rest = &tag[i + key.len()..];
                rest[..rest.find('"').unwrap_or(rest.len())].to_owned()
            })
            .unwrap_or_default()
    };
    let mut members = Vec::new();
    let mut current = String::new();
    let mut args: Vec<String> = Vec::new();
    for tag in xml[start..end].split('<').map(|t| format!("<{t}")) {
        let tag = tag.trim_end();
        if tag.starts_with("<method") {
            current = attr(tag, "name");
            args.clear();
            if tag.ends_with("/>") {
                members.push(format!("method {current}()"));
            }
        } else if tag.starts_with("<arg") {
            let dir = attr(tag, "direction");
            let dir = if dir.is_empty() { "in".to_owned() } else { dir };
            args.push(format!("{}:{}:{dir}", attr(tag, "name"), attr(tag, "type")));
        } else if tag.starts_with("</method") {
            members.push(format!("method {current}({})", args.join(",")));
        }
    }
    members.sort();
    members
}

fn templates_interface_matches_checked_in_xml() {
    let env = Env::start(vec![], EnvOptions::default());
    let (conn, _proxy) = env.client();
    let xml: String = block(async {
        let proxy = zbus::fdo::IntrospectableProxy::builder(&conn)
            .destination(qcs_daemon::client::BUS_NAME)?
            .path(qcs_daemon::client::OBJECT_PATH)?
            .build()
            .await?;
        proxy.introspect().await.map_err(zbus::Error::from)
    })
    .unwrap();
    let live = templates_members(&xml);
    let file = templates_members(include_str!("../data/org.qubes.ConfigSync1.xml"));
    assert_eq!(live.len(), 10, "{live:#?}");
    assert_eq!(
        live, file,
        "introspection differs from data/org.qubes.ConfigSync1.xml"
    );
}

fn admin(env: &Env) -> qubesadmin::Qubes {
    qubesadmin::Qubes::new(qubesadmin::SocketTransport::new(env.socket()))
}

/// Waits (bounded) until `check` holds: the backend's view follows Admin API events.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// "Outdated" is computed from what each qube's templated file renders to now against
/// what was last pushed there: a variable change or a tag event that changes the
/// rendering makes the qube outdated (`ListQubes` and `status`), the same value again or
/// a variable the template does not use does not, a push brings it back in sync, and a
/// template edit that does not change a qube's rendering leaves that qube in sync.
fn a_variable_or_tag_change_that_changes_the_rendering_makes_a_qube_outdated() {
    let (env, _conn, proxy, t) = setup();
    let (success, summary) = execute(&proxy, &plan(&proxy, &["work", "personal", "vault"]));
    assert!(success, "{summary:?}");
    for qube in ["work", "personal", "vault"] {
        assert_eq!(sync_state(&proxy, qube), SyncState::InSync, "{qube}");
    }
    let status = |qube: &str| -> SyncState {
        let (code, out, err) = env.cli(&["status", "--json"]);
        assert_eq!(code, 0, "{out}{err}");
        let list: QubeList = serde_json::from_str(&out).unwrap();
        let q = list.qubes.iter().find(|q| q.name == qube).unwrap();
        q.profiles
            .iter()
            .find(|p| p.profile == "git")
            .unwrap()
            .state
    };

    // A new value of work's own variable: work is outdated, the others are not.
    set(&t, "qube", "work", "email", "alice@new.example");
    assert_eq!(sync_state(&proxy, "work"), SyncState::Outdated);
    assert_eq!(status("work"), SyncState::Outdated);
    assert_eq!(sync_state(&proxy, "personal"), SyncState::InSync);
    // The push writes it: in sync.
    let (success, summary) = execute(&proxy, &plan(&proxy, &["work"]));
    assert!(success, "{summary:?}");
    assert_eq!(
        read(&env, "work").unwrap(),
        rendered("alice@new.example", true, "work", "blue")
    );
    assert_eq!(sync_state(&proxy, "work"), SyncState::InSync);
    // The same value again, and a variable the template does not use: still in sync.
    set(&t, "qube", "work", "email", "alice@new.example");
    set(&t, "qube", "work", "unused", "x");
    assert_eq!(sync_state(&proxy, "work"), SyncState::InSync);
    assert_eq!(status("work"), SyncState::InSync);
    // Back to the old value and again to the pushed one: outdated, then in sync again
    // without a push (the state follows the rendering, not a flag).
    set(&t, "qube", "work", "email", "alice@work.example");
    assert_eq!(sync_state(&proxy, "work"), SyncState::Outdated);
    set(&t, "qube", "work", "email", "alice@new.example");
    assert_eq!(sync_state(&proxy, "work"), SyncState::InSync);

    // A tag variable: vault (tag offline) is outdated, work and personal are not.
    set(&t, "tag", "offline", "email", "vault@example.org");
    assert_eq!(sync_state(&proxy, "vault"), SyncState::Outdated);
    assert_eq!(sync_state(&proxy, "personal"), SyncState::InSync);

    // A tag event: personal loses `dev`, so its rendering loses the alias section.
    admin(&env)
        .qubesd_call("personal", "admin.vm.tag.Remove", "dev", b"")
        .expect("admin.vm.tag.Remove");
    eventually("personal is outdated after losing its tag", || {
        sync_state(&proxy, "personal") == SyncState::Outdated
    });
    admin(&env)
        .qubesd_call("personal", "admin.vm.tag.Set", "dev", b"")
        .expect("admin.vm.tag.Set");
    eventually("personal is in sync with its tag back", || {
        sync_state(&proxy, "personal") == SyncState::InSync
    });

    // A template edit that changes only a section personal does not render (tag
    // offline): personal stays in sync, vault is outdated.
    let edited = format!("{TEMPLATE}{{{{#if tag:offline}}}}\n# offline\n{{{{/if}}}}\n");
    block(t.put_template_file("git", ".gitconfig", edited.as_bytes(), 0o644)).unwrap();
    assert_eq!(sync_state(&proxy, "personal"), SyncState::InSync);
    assert_eq!(sync_state(&proxy, "vault"), SyncState::Outdated);

    // A variable the template needs goes missing: outdated (the next plan shows the
    // error), and the plan writes nothing there.
    block(t.unset_variable("qube", "work", "email")).unwrap();
    assert_eq!(sync_state(&proxy, "work"), SyncState::Outdated);
    let p = plan(&proxy, &["work"]);
    assert_eq!(
        p.qubes[0].error.as_ref().map(|e| e.code.clone()),
        Some(Code::TemplateMissingVariable)
    );
}

/// `export` and `import` through the backend and the CLI: the variables (per qube, per
/// tag, profile defaults), the template flag and the rules come back after they were
/// removed; a hostile file — a variable for dom0, for the config qube, for a qube the
/// Admin API does not know, an oversized value, a bad name — is refused whole with a
/// sentence naming why, and nothing changes; a relative directory is refused.
fn export_and_import_carry_variables_rules_and_refuse_a_hostile_file() {
    let (env, _conn, proxy, t) = setup();
    let cli = |args: &[&str]| env.cli(args);
    let ok = |args: &[&str]| {
        let (code, out, err) = cli(args);
        assert_eq!(code, 0, "{args:?}: {out} {err}");
        out
    };
    ok(&["assign", "--tag", "dev", "git"]);
    let everything = |env: &Env| -> (String, String, Vec<String>) {
        let (_, vars, _) = env.cli(&["var", "list", "--json"]);
        let (_, rules, _) = env.cli(&["rules", "--json"]);
        let templated = block(t.templated_files("git")).unwrap();
        let rules: serde_json::Value = serde_json::from_str(&rules).unwrap();
        (vars, rules["rules"].to_string(), templated)
    };
    let before = everything(&env);
    assert!(before.0.contains("alice@work.example"), "{}", before.0);
    assert_eq!(before.2, [".gitconfig"]);

    let out_dir = env.dir.path().join("backup");
    let out = ok(&["export", out_dir.to_str().unwrap()]);
    assert!(out.contains("exported 1 profiles (1 files)"), "{out}");
    let manifest = std::fs::read_to_string(out_dir.join("manifest.toml")).unwrap();
    assert!(manifest.contains("[variables.qubes.work]"), "{manifest}");
    assert!(manifest.contains("[[rules]]"), "{manifest}");

    // Lose variables, the rule and the flag; the import brings them back.
    block(t.unset_variable("qube", "work", "email")).unwrap();
    block(t.unset_variable("tag", "offline", "email")).unwrap();
    block(t.unset_variable("profile", "git", "name")).unwrap();
    ok(&["assign", "--tag", "dev", "git", "--unassign"]);
    block(t.set_file_template("git", ".gitconfig", false)).unwrap();
    assert_ne!(everything(&env), before);
    let (code, out, err) = cli(&["import", out_dir.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out} {err}");
    let result: qcs_daemon::client::variables::ImportResult = serde_json::from_str(&out).unwrap();
    assert_eq!((result.variables, result.rules), (3, 1));
    assert_eq!(everything(&env), before);
    // The restored variables render for work again.
    let preview: TemplatePreview =
        serde_json::from_str(&block(t.preview_template("git", ".gitconfig", "work")).unwrap())
            .unwrap();
    assert!(preview.error.is_none(), "{:?}", preview.error);

    // Hostile files: each refused whole, nothing changed.
    let oversized = "x".repeat(qcs_core::template::MAX_VARIABLE_VALUE_BYTES + 1);
    for (extra, expected) in [
        ("[variables.qubes.dom0]\nemail = \"x\"\n".to_owned(), "dom0"),
        (
            format!(
                "[variables.qubes.{}]\nemail = \"x\"\n",
                support::CONFIG_QUBE
            ),
            "config qube",
        ),
        (
            "[variables.qubes.nosuchqube]\nemail = \"x\"\n".to_owned(),
            "nosuchqube",
        ),
        (
            format!("[variables.tags.ops]\nbig = \"{oversized}\"\n"),
            "variable big",
        ),
        (
            "[variables.tags.ops]\n\"qube.name\" = \"x\"\n".to_owned(),
            "variables of tag ops",
        ),
    ] {
        let dir = env.dir.path().join(format!("hostile-{}", extra.len()));
        let (code, out, err) = cli(&["export", dir.to_str().unwrap()]);
        assert_eq!(code, 0, "{out} {err}");
        let manifest = dir.join("manifest.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{text}\n{extra}")).unwrap();
        block(t.set_variable("qube", "work", "email", "changed@example.org")).unwrap();
        let before = everything(&env);
        let generation = proxy_generation(&proxy);
        let (code, out, err) = cli(&["import", dir.to_str().unwrap()]);
        assert_ne!(code, 0, "{extra}: {out}");
        assert!(err.contains(expected), "{expected:?} not in {err:?}");
        assert!(!err.contains("org.qubes"), "{err}");
        assert_eq!(everything(&env), before, "{extra}: the store changed");
        assert_eq!(proxy_generation(&proxy), generation);
    }
    // A relative directory means nothing to the backend.
    let error: ApiError = block(t.import_profiles("backup")).unwrap_err();
    assert_eq!(error.reason().code, Code::ExchangeNotAbsolute);
}

fn proxy_generation(proxy: &ConfigSyncProxy<'static>) -> String {
    block(proxy.get_profile("git")).unwrap()
}
