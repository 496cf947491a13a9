//! A desktop on the test's session bus: a StatusNotifierWatcher with a host (as Xfce's
//! panel is) and a notification server, recording what the app sends them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zbus::zvariant::OwnedValue;

#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Services that registered a tray item.
    pub items: Arc<Mutex<Vec<String>>>,
    /// (summary, body) of each notification.
    pub notifications: Arc<Mutex<Vec<(String, String)>>>,
}

impl Seen {
    pub fn notifications(&self) -> Vec<(String, String)> {
        self.notifications.lock().expect("lock").clone()
    }
    pub fn items(&self) -> Vec<String> {
        self.items.lock().expect("lock").clone()
    }
}

struct Watcher(Seen);

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: &str) {
        self.0.items.lock().expect("lock").push(service.to_owned());
    }
    fn register_status_notifier_host(&self, _service: &str) {}
    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.0.items()
    }
    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }
    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

struct Notifications(Seen);

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        _app_name: &str,
        _replaces_id: u32,
        _app_icon: &str,
        summary: &str,
        body: &str,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut seen = self.0.notifications.lock().expect("lock");
        seen.push((summary.to_owned(), body.to_owned()));
        u32::try_from(seen.len()).unwrap_or(u32::MAX)
    }
    fn close_notification(&self, _id: u32) {}
    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into(), "actions".into()]
    }
    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "fake".into(),
            "qubes-config-sync tests".into(),
            "1".into(),
            "1.2".into(),
        )
    }
}

/// Serve both on the bus at `address`; they live as long as the connection.
pub fn serve(address: &str) -> (zbus::Connection, Seen) {
    let seen = Seen::default();
    let connection = zbus::block_on(async {
        let connection = zbus::connection::Builder::address(address)?
            .serve_at("/StatusNotifierWatcher", Watcher(seen.clone()))?
            .serve_at(
                "/org/freedesktop/Notifications",
                Notifications(seen.clone()),
            )?
            .build()
            .await?;
        connection
            .request_name("org.kde.StatusNotifierWatcher")
            .await?;
        connection
            .request_name("org.freedesktop.Notifications")
            .await?;
        Ok::<_, zbus::Error>(connection)
    })
    .expect("the fake desktop serves");
    (connection, seen)
}

/// Bus names of registered tray items still present on the bus.
pub fn live_items(address: &str) -> Vec<String> {
    zbus::block_on(async {
        let connection = zbus::connection::Builder::address(address)?.build().await?;
        let dbus = zbus::fdo::DBusProxy::new(&connection).await?;
        let names = dbus.list_names().await?;
        Ok::<_, zbus::Error>(
            names
                .into_iter()
                .map(|n| n.to_string())
                .filter(|n| n.starts_with("org.kde.StatusNotifierItem-"))
                .collect(),
        )
    })
    .expect("list the bus names")
}
