//! Steps about the window as a whole: no backend, the shortcuts window, narrow widths.
//! Nothing about a page's content here.

use super::*;

/// Issue 14: without a backend, the window says why and Push… (the action, the button
/// and a direct call) leaves that page: no empty plan with a Push Now that does nothing.
pub(crate) fn no_backend(app: &QcsApplication) {
    let lonely = QcsWindow::new(app);
    lonely.set_default_size(900, 600);
    lonely.present();
    lonely.connect(Some(
        "unix:path=/nonexistent/qubes-config-sync-test-bus".to_owned(),
    ));
    wait_until("the backend error", || lonely.backend_error().is_some());
    assert_eq!(lonely.current_page().as_deref(), Some("empty"));
    for action in ["plan-push", "execute-plan", "new-profile", "refresh"] {
        let enabled = lonely
            .lookup_action(action)
            .unwrap_or_else(|| panic!("win.{action}"))
            .is_enabled();
        assert!(!enabled, "win.{action} is on without a backend");
    }
    let _ = WidgetExt::activate_action(&lonely, "win.plan-push", None);
    lonely.plan_push(Vec::new());
    settle();
    assert_eq!(lonely.current_page().as_deref(), Some("empty"));
    assert!(lonely.push_plan().plan_data().is_none());
    let push = lonely
        .header_buttons()
        .into_iter()
        .find(|b| {
            b.downcast_ref::<gtk::Button>()
                .and_then(|b| b.action_name())
                .is_some_and(|a| a == "win.plan-push")
        })
        .expect("the Push… button");
    assert!(!push.is_sensitive(), "Push… is offered without a backend");
    screenshot(&lonely, "no-backend.png");
    lonely.destroy();
}

/// The keyboard shortcuts window comes from the GResource (gtk/help-overlay.ui).
pub(crate) fn shortcuts_window(ui: &Ui) {
    let window = ui.window.clone();
    let overlay = window
        .help_overlay()
        .expect("a help overlay from the resources");
    WidgetExt::activate_action(&window, "win.show-help-overlay", None).expect("help overlay");
    wait_until("the shortcuts window", || overlay.is_mapped());
    shortcuts_tell_keys_apart(overlay.upcast_ref());
    screenshot(&overlay, "shortcuts.png");
    overlay.close();
}

/// The shortcuts window shows Ctrl+, and Ctrl+. as key caps of one small glyph each;
/// their rows must name the key in words, so they do not read as the same shortcut.
pub(crate) fn shortcuts_tell_keys_apart(root: &gtk::Widget) {
    fn shortcuts(widget: &gtk::Widget, out: &mut Vec<gtk::ShortcutsShortcut>) {
        if let Some(s) = widget.downcast_ref::<gtk::ShortcutsShortcut>() {
            out.push(s.clone());
        }
        let mut child = widget.first_child();
        while let Some(c) = child {
            shortcuts(&c, out);
            child = c.next_sibling();
        }
    }
    let mut all = Vec::new();
    shortcuts(root, &mut all);
    let words = |accel: &str| -> String {
        let s = all
            .iter()
            .find(|s| s.property::<Option<String>>("accelerator").as_deref() == Some(accel))
            .unwrap_or_else(|| panic!("no shortcut {accel}"));
        format!(
            "{} {}",
            s.property::<Option<String>>("title").unwrap_or_default(),
            s.property::<Option<String>>("subtitle").unwrap_or_default()
        )
    };
    let comma = words("<Control>comma");
    let period = words("<Control>period");
    assert!(comma.contains("comma"), "{comma}");
    assert!(period.contains("period"), "{period}");
    assert!(!comma.contains("period") && !period.contains("comma"));
}

/// Issue 14: at 600 px every header button is whole and inside the window; at 360 px
/// the sidebar folds away, the content has a back button, and back shows the lists.
pub(crate) fn narrow_windows(window: &QcsWindow) {
    window.open_qube("work");
    for width in [600, 360] {
        window.set_default_size(width, 700);
        for _ in 0..20 {
            settle();
            if window.width() <= width {
                break;
            }
        }
        let min = |w: &gtk::Widget| w.measure(gtk::Orientation::Horizontal, -1).0;
        assert!(
            window.width() <= width,
            "the window cannot get that narrow; smallest widths: window {} (header buttons {}), qube page {}, profile editor {}, push plan {}, review pane {}",
            min(window.upcast_ref()),
            window
                .header_buttons()
                .iter()
                .map(|b| format!("{}:{}", b.parent().map(|p| min(&p)).unwrap_or(0), min(b)))
                .collect::<Vec<_>>()
                .join(","),
            min(window.qube_page().upcast_ref()),
            min(window.profile_editor().upcast_ref()),
            min(window.push_plan().upcast_ref()),
            min(window.review_pane().upcast_ref()),
        );
        if width == 600 {
            assert!(!window.is_folded() || window.shows_content());
        } else {
            assert!(window.is_folded(), "360 px folds the sidebar");
            assert!(window.shows_content());
            assert!(window.back_button().is_visible());
        }
        for button in window.header_buttons() {
            if !button.is_mapped() {
                continue;
            }
            let (left, right) = horizontal_extent(&button, window);
            let (min, _, _, _) = button.measure(gtk::Orientation::Horizontal, -1);
            assert!(
                left >= 0.0 && right <= window.width() as f32 + 0.5,
                "{width} px: a header button lies at {left}..{right}"
            );
            assert!(
                (right - left) + 0.5 >= min as f32,
                "{width} px: a header button is cut to {} of {min} px",
                right - left
            );
        }
        screenshot(window, &format!("main-window-{width}.png"));
    }
    // Folded: back shows the lists, choosing a qube shows its page.
    window.back_button().emit_clicked();
    wait_until("the lists", || !window.shows_content());
    assert!(window.click_in_sidebar(&SidebarItem::Qube("vault".to_owned())));
    wait_until("vault's page", || {
        window.shows_content() && window.qube_page().qube_name().as_deref() == Some("vault")
    });
    // Wide again: unfolded, the lists and the content side by side.
    window.set_default_size(1360, 860);
    for _ in 0..20 {
        settle();
        if !window.is_folded() {
            break;
        }
    }
    assert!(!window.is_folded(), "{} px wide", window.width());
}
