//! Benchmark of the review pane on hostile input, under Xvfb: the real app against the
//! demo's real backend, opening proposals of a 256 KiB file, a single 256 KiB line and
//! 10 000 hunks. For each it reports the time until the findings are drawn, the time
//! until the whole diff is laid out, the longest main-loop stall while it lays out (a
//! 1 ms timer that should fire every millisecond: the longest gap between two of its
//! runs), and the longest frame while the diff is scrolled from top to bottom a page
//! per frame; and, apart, the backend's share: GetProposal over the bus and parsing
//! its JSON (the app parses on a worker thread). Figures only: nothing here asserts a
//! time.
//!
//! Run: `cargo bench --bench review_pane [-- WORD…]` (release build; only the cases
//! whose name has a WORD; without a display it runs itself again under `xvfb-run -a`).
//! The figures are in the README.

#[path = "../tests/common/mod.rs"]
mod common;

use std::cell::Cell;
use std::process::{Command, ExitCode};
use std::rc::Rc;
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::glib;
use qubes_config_sync::demo::{self, Demo};
use qubes_config_sync::window::QcsWindow;

const INNER: &str = "QCS_BENCH_INNER";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !has_display && std::env::var_os(INNER).is_none() {
        let exe = std::env::current_exe().expect("bench executable path");
        let status = Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1600x1000x24"])
            .arg(exe)
            .args(&args[1..])
            .env(INNER, "1")
            .status();
        return match status {
            Ok(s) if s.success() => ExitCode::SUCCESS,
            other => {
                eprintln!("review_pane bench under xvfb-run failed: {other:?}");
                ExitCode::FAILURE
            }
        };
    }
    run();
    ExitCode::SUCCESS
}

/// Iterate the main loop (blocking: the 1 ms probe keeps it awake) until `done`.
fn run_until(what: &str, mut done: impl FnMut() -> bool) {
    let context = glib::MainContext::default();
    let limit = Instant::now() + Duration::from_secs(300);
    while !done() {
        assert!(Instant::now() < limit, "gave up waiting for {what}");
        context.iteration(true);
    }
}

/// Records the longest gap between runs of a 1 ms timer while armed.
#[derive(Clone, Default)]
struct StallProbe {
    armed: Rc<Cell<bool>>,
    last: Rc<Cell<Option<Instant>>>,
    longest: Rc<Cell<Duration>>,
}

impl StallProbe {
    fn start() -> StallProbe {
        let probe = StallProbe::default();
        let p = probe.clone();
        glib::timeout_add_local(Duration::from_millis(1), move || {
            let now = Instant::now();
            if p.armed.get()
                && let Some(last) = p.last.get()
            {
                p.longest.set(p.longest.get().max(now - last));
            }
            p.last.set(Some(now));
            glib::ControlFlow::Continue
        });
        probe
    }

    fn arm(&self) {
        self.longest.set(Duration::ZERO);
        self.last.set(None);
        self.armed.set(true);
    }

    fn disarm(&self) -> Duration {
        self.armed.set(false);
        self.longest.get()
    }
}

struct Figures {
    findings: Duration,
    laid_out: Duration,
    stall: Duration,
    rows: usize,
    frames: u32,
    longest_frame: Duration,
    mean_frame: Duration,
}

fn spool(world: &std::path::Path, address: &str, path: &str, content: &[u8]) -> i64 {
    demo::spool_proposal(
        &world.join("spool"),
        "personal",
        "vim",
        path,
        content,
        "bench",
    )
    .expect("spool");
    zbus::block_on(async {
        let (_c, proxy) = qcs_client::connect_to(address).await.expect("connect");
        proxy.ingest_spool().await.expect("IngestSpool");
        let json = proxy.list_proposals("pending").await.expect("list");
        let list: qcs_client::types::ProposalList =
            serde_json::from_str(&json).expect("ProposalList");
        list.proposals
            .iter()
            .filter(|p| p.path == path)
            .map(|p| p.id)
            .max()
            .expect("the bench proposal")
    })
}

/// The backend's part: GetProposal over the bus and parsing its JSON, outside the app.
fn fetch(address: &str, id: i64) -> (Duration, Duration, usize) {
    zbus::block_on(async {
        let (_c, proxy) = qcs_client::connect_to(address).await.expect("connect");
        let started = Instant::now();
        let json = proxy.get_proposal(id).await.expect("GetProposal");
        let fetched = started.elapsed();
        let started = Instant::now();
        let view: qcs_client::types::ProposalView =
            serde_json::from_str(&json).expect("ProposalView");
        let parsed = started.elapsed();
        drop(view);
        (fetched, parsed, json.len())
    })
}

fn measure(window: &QcsWindow, probe: &StallProbe, id: i64) -> Figures {
    let review = window.review_pane();
    let drawn = Rc::new(Cell::new(false));
    let started = Instant::now();
    probe.arm();
    window.open_proposal(id);
    run_until("the proposal on show", || review.proposal_id() == Some(id));
    // The findings are drawn at the next frame after the pane took the proposal.
    let clock = window.frame_clock().expect("a frame clock");
    let d = drawn.clone();
    let handler = clock.connect_after_paint(move |_| d.set(true));
    run_until("the findings drawn", || drawn.get());
    let findings = started.elapsed();
    clock.disconnect(handler);
    run_until("the diff laid out", || review.diff_view().laid_out());
    let laid_out = started.elapsed();
    // One more frame: the rows on screen are made.
    drawn.set(false);
    let d = drawn.clone();
    let handler = clock.connect_after_paint(move |_| d.set(true));
    run_until("a frame", || drawn.get());
    clock.disconnect(handler);
    let stall = probe.disarm();

    // Scroll to the bottom a page per frame, measuring the frames.
    review.diff_view().scroll_to(0.0);
    let adjustment = review.diff_view().vadjustment();
    let frames = Rc::new(Cell::new(0u32));
    let longest = Rc::new(Cell::new(Duration::ZERO));
    let total = Rc::new(Cell::new(Duration::ZERO));
    let last: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
    let done = Rc::new(Cell::new(false));
    let (f, l, t, la, dn, adj) = (
        frames.clone(),
        longest.clone(),
        total.clone(),
        last.clone(),
        done.clone(),
        adjustment.clone(),
    );
    let tick = review.diff_view().add_tick_callback(move |_, _| {
        let now = Instant::now();
        if let Some(previous) = la.get() {
            let gap = now - previous;
            l.set(l.get().max(gap));
            t.set(t.get() + gap);
            f.set(f.get() + 1);
        }
        la.set(Some(now));
        let next = adj.value() + adj.page_size();
        adj.set_value(next);
        if next + adj.page_size() >= adj.upper() || f.get() >= 600 {
            dn.set(true);
        }
        glib::ControlFlow::Continue
    });
    run_until("the scroll to the bottom", || done.get());
    tick.remove();
    let frames = frames.get().max(1);
    Figures {
        findings,
        laid_out,
        stall,
        rows: review.diff_view().rendered_rows().len(),
        frames,
        longest_frame: longest.get(),
        mean_frame: total.get() / frames,
    }
}

fn run() {
    common::build_workspace_programs();
    let world = tempfile::tempdir().expect("temp dir");
    let demo = Demo::start(Some(world.path().to_owned())).expect("the demo starts");
    let address = demo.bus_address().to_owned();
    common::init_gtk_on(&address);
    adw::init().expect("libadwaita initialises");
    let (app, window) = common::start_app(&address, true);
    window.set_default_size(1360, 860);
    let probe = StallProbe::start();
    run_until("the sidebar", || !window.pending_proposals().is_empty());

    // 256 KiB of many lines with hidden characters (a new file).
    let mut many = String::new();
    let mut i = 0;
    while many.len() < 256 * 1024 - 80 {
        many.push_str(&format!("set option{i}=value\u{200B}{i} \" comment {i}\n"));
        i += 1;
    }
    // One 256 KiB line.
    let mut one_line = vec![b'y'; 256 * 1024 - 1];
    one_line.push(b'\n');
    // 10 000 hunks: one changed line in every eight of an 80 000-line store file.
    let (base, hunks) = qcs_test_support::ten_thousand_hunks();
    zbus::block_on(async {
        let (_c, proxy) = qcs_client::connect_to(&address).await.expect("connect");
        proxy
            .put_file("vim", ".bench-hunks", base.as_bytes(), 0o644)
            .await
            .expect("PutFile");
        // New files reach the inbox only through the profile's allowlist.
        proxy
            .allow_new_paths("vim", &[".bench-*"], true)
            .await
            .expect("AllowNewPaths");
    });
    let cases: Vec<(&str, i64)> = vec![
        (
            "256 KiB file, 6 000 lines",
            spool(world.path(), &address, ".bench-many", many.as_bytes()),
        ),
        (
            "one 256 KiB line",
            spool(world.path(), &address, ".bench-line", &one_line),
        ),
        (
            "10 000 hunks",
            spool(world.path(), &address, ".bench-hunks", hunks.as_bytes()),
        ),
    ];
    let ids: Vec<i64> = cases.iter().map(|(_, id)| *id).collect();
    run_until("the proposals in the sidebar", || {
        let pending = window.pending_proposals();
        ids.iter().all(|id| pending.iter().any(|p| p.id == *id))
    });
    println!(
        "| input | backend: GetProposal, parse (JSON size) | findings drawn | diff laid out | longest main-loop stall | rows | scroll: frames, longest, mean |"
    );
    println!("|---|---|---:|---:|---:|---:|---|");
    // `cargo bench --bench review_pane -- WORD`: only the cases whose name has WORD.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for (name, id) in cases {
        if !only.is_empty() && !only.iter().any(|w| name.contains(w.as_str())) {
            continue;
        }
        let (fetched, parsed, bytes) = fetch(&address, id);
        let figures = measure(&window, &probe, id);
        let hunks = window.review_pane().diff_view().decisions().len();
        println!(
            "| {name} ({hunks} hunks) | {:.0} ms, {:.0} ms ({:.1} MB) | {:.0} ms | {:.0} ms | {:.1} ms | {} | {} frames, {:.1} ms, {:.1} ms |",
            fetched.as_secs_f64() * 1000.0,
            parsed.as_secs_f64() * 1000.0,
            bytes as f64 / 1e6,
            figures.findings.as_secs_f64() * 1000.0,
            figures.laid_out.as_secs_f64() * 1000.0,
            figures.stall.as_secs_f64() * 1000.0,
            figures.rows,
            figures.frames,
            figures.longest_frame.as_secs_f64() * 1000.0,
            figures.mean_frame.as_secs_f64() * 1000.0,
        );
    }
    window.close();
    drop(app);
    drop(demo);
}
