//! Waiting, settling, screenshots and backend calls: the tools every step of the UI
//! scenario uses. No step of its own and no assertion about the app here.

use super::*;

/// Run the main loop until `done` holds. The limit only stops a hung test; nothing
/// here measures time.
pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let context = glib::MainContext::default();
    let limit = Instant::now() + Duration::from_secs(180);
    while !done() {
        assert!(Instant::now() < limit, "gave up waiting for {what}");
        if !context.iteration(false) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Let pending redraws and layouts run.
pub(crate) fn settle() {
    let context = glib::MainContext::default();
    for _ in 0..40 {
        while context.iteration(false) {}
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn screenshot_dir() -> PathBuf {
    if std::env::var_os("QCS_UPDATE_SCREENSHOTS").is_some() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    }
}

/// Render a window to a PNG, as it is on screen.
pub(crate) fn screenshot(window: &impl IsA<gtk::Widget>, name: &str) -> PathBuf {
    let widget = window.as_ref();
    wait_until("the window to be mapped", || widget.is_mapped());
    settle();
    let paintable = gtk::WidgetPaintable::new(Some(widget));
    let snapshot = gtk::Snapshot::new();
    paintable.snapshot(
        snapshot.upcast_ref::<gtk::gdk::Snapshot>(),
        f64::from(widget.width()),
        f64::from(widget.height()),
    );
    let node = snapshot.to_node().expect("the window drew something");
    let renderer = widget
        .native()
        .and_then(|n| n.renderer())
        .expect("a realized window has a renderer");
    let texture = renderer.render_texture(&node, None);
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let path = dir.join(name);
    texture.save_to_png(&path).expect("write the screenshot");
    println!("screenshot: {}", path.display());
    path
}

/// The text entries inside a widget, in order.
pub(crate) fn entries_of(root: &gtk::Widget) -> Vec<gtk::Entry> {
    let mut found = Vec::new();
    let mut child = root.first_child();
    while let Some(widget) = child {
        if let Some(entry) = widget.downcast_ref::<gtk::Entry>() {
            found.push(entry.clone());
        } else {
            found.extend(entries_of(&widget));
        }
        child = widget.next_sibling();
    }
    found
}

/// A blocking D-Bus call for the checks: through the same API the app uses.
pub(crate) fn backend<T>(
    address: &str,
    call: impl AsyncFnOnce(&ConfigSyncProxy<'static>) -> T,
) -> T {
    zbus::block_on(async {
        let (_connection, proxy) = qcs_client::connect_to(address)
            .await
            .expect("connect to the demo bus");
        call(&proxy).await
    })
}

pub(crate) fn qube_list(address: &str) -> QubeList {
    let json = backend(address, async |p| p.list_qubes().await.expect("ListQubes"));
    serde_json::from_str(&json).expect("QubeList")
}

/// Run one named step of the scenario: its name is printed first, and again if it fails.
pub(crate) fn step<T>(name: &str, run: impl FnOnce() -> T) -> T {
    struct Guard<'a>(&'a str);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("step FAILED: {}", self.0);
            }
        }
    }
    println!("step: {name}");
    let guard = Guard(name);
    let started = Instant::now();
    let value = run();
    drop(guard);
    println!("step done in {:.1} s", started.elapsed().as_secs_f64());
    value
}

/// A named step of the scenario's main line, without a closure: `begin` prints its
/// name, `end` its time; a failure in between prints the name again.
pub(crate) struct Step {
    name: &'static str,
    started: Instant,
}

pub(crate) fn begin(name: &'static str) -> Step {
    println!("step: {name}");
    Step {
        name,
        started: Instant::now(),
    }
}

impl Step {
    pub(crate) fn end(self) {
        println!("step done in {:.1} s", self.started.elapsed().as_secs_f64());
        std::mem::forget(self);
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("step FAILED: {}", self.name);
        }
    }
}

/// The ids of the pending proposals, from the backend.
pub(crate) fn pending_ids(address: &str) -> Vec<i64> {
    let json = backend(address, async |p| {
        p.list_proposals("pending").await.expect("ListProposals")
    });
    let list: qcs_client::types::ProposalList = serde_json::from_str(&json).expect("ProposalList");
    list.proposals.into_iter().map(|p| p.id).collect()
}

/// Where a widget lies in the window: (left, right) edges.
pub(crate) fn horizontal_extent(widget: &impl IsA<gtk::Widget>, window: &QcsWindow) -> (f32, f32) {
    let bounds = widget
        .as_ref()
        .compute_bounds(window)
        .expect("the widget is inside the window");
    (bounds.x(), bounds.x() + bounds.width())
}

/// Runs the main loop until `widget`'s frame clock has painted `frames` more frames (each
/// one asked for with a redraw), or 10 s passed.
pub(crate) fn wait_frames(widget: &impl IsA<gtk::Widget>, frames: i64) {
    let context = glib::MainContext::default();
    let Some(clock) = widget.frame_clock() else {
        while context.iteration(false) {}
        return;
    };
    let target = clock.frame_counter() + frames;
    let limit = Instant::now() + Duration::from_secs(10);
    while clock.frame_counter() < target && Instant::now() < limit {
        widget.queue_draw();
        // Wake the blocking iteration even if no frame is due.
        glib::timeout_add_local_once(Duration::from_millis(20), || {});
        context.iteration(true);
    }
}

/// The labels under `root` that carry CSS class `class`.
pub(crate) fn labels_with_class(root: &gtk::Widget, class: &str) -> Vec<gtk::Label> {
    let mut found = Vec::new();
    let mut child = root.first_child();
    while let Some(widget) = child {
        if let Some(label) = widget.downcast_ref::<gtk::Label>()
            && label.has_css_class(class)
        {
            found.push(label.clone());
        }
        found.extend(labels_with_class(&widget, class));
        child = widget.next_sibling();
    }
    found
}

/// The first widget of type `T` under `root`, depth first.
pub(crate) fn find<T: IsA<gtk::Widget>>(root: &gtk::Widget) -> Option<T> {
    if let Ok(found) = root.clone().downcast::<T>() {
        return Some(found);
    }
    let mut child = root.first_child();
    while let Some(c) = child {
        if let Some(found) = find::<T>(&c) {
            return Some(found);
        }
        child = c.next_sibling();
    }
    None
}
