//! The tray: a StatusNotifierItem (ksni, async-io) that exists only while proposals
//! are pending, with the count and a menu (review, open the app).
//!
//! The item lives on the user's session bus (not the backend's bus). Without a tray
//! host — or without a session bus — it logs one line and the app goes on; it tries
//! again the next time the count goes from zero to more.

use std::cell::Cell;
use std::rc::Rc;

use gettextrs::gettext;
use gtk::glib;
use ksni::TrayMethods;

use crate::config::APP_ID;
use crate::i18n::ngettext_f;

/// What the user asked the tray for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayCommand {
    Review,
    Open,
}

struct PendingTray {
    count: u32,
    commands: async_channel::Sender<TrayCommand>,
}

impl PendingTray {
    fn send(&self, command: TrayCommand) {
        // The receiver lives as long as the app; a closed channel means the app is
        // going away, and there is nothing left to do.
        let _ = self.commands.try_send(command);
    }
}

impl ksni::Tray for PendingTray {
    fn id(&self) -> String {
        APP_ID.to_owned()
    }

    fn title(&self) -> String {
        gettext("Config Sync")
    }

    fn icon_name(&self) -> String {
        "mail-unread-symbolic".to_owned()
    }

    fn status(&self) -> ksni::Status {
        ksni::Status::NeedsAttention
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: gettext("Config Sync"),
            description: tooltip(self.count),
            ..Default::default()
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        self.send(TrayCommand::Review);
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        use ksni::menu::StandardItem;
        vec![
            StandardItem {
                label: ngettext_f(
                    "Review {n} Proposal",
                    "Review {n} Proposals",
                    self.count,
                    &[],
                ),
                icon_name: "mail-unread-symbolic".into(),
                activate: Box::new(|tray: &mut Self| tray.send(TrayCommand::Review)),
                ..Default::default()
            }
            .into(),
            StandardItem {
                label: gettext("Open Config Sync"),
                activate: Box::new(|tray: &mut Self| tray.send(TrayCommand::Open)),
                ..Default::default()
            }
            .into(),
        ]
    }
}

/// The tooltip text for `count` pending proposals.
pub fn tooltip(count: u32) -> String {
    ngettext_f(
        "{n} proposal waits for review",
        "{n} proposals wait for review",
        count,
        &[],
    )
}

/// Shows and hides the tray item as the pending count changes. One task on the UI
/// thread owns the item; counts reach it through a channel and a burst of counts is
/// applied as its last one.
#[derive(Debug, Clone)]
pub struct TrayController {
    counts: async_channel::Sender<u32>,
    state: Rc<TrayState>,
}

/// What the tray task reports back.
#[derive(Debug, Default)]
struct TrayState {
    shown: Cell<bool>,
    /// Counts applied so far.
    applied: Cell<u32>,
    /// Times the missing host was logged.
    warnings: Cell<u32>,
}

impl TrayController {
    /// Start the controller; the tray's commands arrive on the returned receiver.
    pub fn start() -> (TrayController, async_channel::Receiver<TrayCommand>) {
        let (commands, command_receiver) = async_channel::unbounded();
        let (counts, count_receiver) = async_channel::unbounded();
        let state = Rc::new(TrayState::default());
        glib::spawn_future_local(run(count_receiver, commands, state.clone()));
        (TrayController { counts, state }, command_receiver)
    }

    /// Apply a new pending count.
    pub fn set_count(&self, count: u32) {
        // The task ends only with the app; a send error then has nothing left to do.
        let _ = self.counts.try_send(count);
    }

    /// Whether the item is registered now.
    pub fn is_shown(&self) -> bool {
        self.state.shown.get()
    }

    /// How many counts the tray task has applied (tests wait on it).
    pub fn applied(&self) -> u32 {
        self.state.applied.get()
    }

    /// How many times a missing tray host was logged.
    pub fn warnings(&self) -> u32 {
        self.state.warnings.get()
    }
}

async fn run(
    counts: async_channel::Receiver<u32>,
    commands: async_channel::Sender<TrayCommand>,
    state: Rc<TrayState>,
) {
    let mut handle: Option<ksni::Handle<PendingTray>> = None;
    let mut warned = false;
    while let Ok(mut count) = counts.recv().await {
        while let Ok(newer) = counts.try_recv() {
            count = newer;
        }
        match (count, &handle) {
            (0, Some(item)) => {
                // Removing the item is how it hides: hosts show every registered item.
                item.shutdown().await;
                handle = None;
            }
            (0, None) => {}
            (n, Some(item)) => {
                if item.update(|tray| tray.count = n).await.is_none() {
                    handle = None;
                }
            }
            (n, None) => {
                let tray = PendingTray {
                    count: n,
                    commands: commands.clone(),
                };
                match tray.spawn().await {
                    Ok(item) => {
                        handle = Some(item);
                        warned = false;
                    }
                    Err(e) if !warned => {
                        eprintln!(
                            "qubes-config-sync: no tray icon ({e}); pending proposals are shown in the app and as notifications"
                        );
                        warned = true;
                        state.warnings.set(state.warnings.get() + 1);
                    }
                    Err(_) => {}
                }
            }
        }
        state.shown.set(handle.is_some());
        state.applied.set(state.applied.get() + 1);
    }
}
