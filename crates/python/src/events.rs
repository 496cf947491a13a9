//! `admin.Events` for Python: `app.events()` gives an iterator of events, fed by the
//! Rust client's background subscription (which reconnects after 1 s, as
//! `qubesadmin`'s `EventsDispatcher`).
//!
//! Waiting never holds the GIL, and wakes up regularly so Ctrl-C (or any pending
//! signal handler) is honoured.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use qubesadmin::{EventMessage, EventSubscription, EventsOptions, Qubes};

use crate::errors::{admin_error, new_err};

/// How often a blocked wait looks for pending signals.
const SIGNAL_CHECK: Duration = Duration::from_millis(200);

/// One event: `subject` is the qube (`None` for events of the whole system, such
/// as `domain-add` and `connection-established`).
#[pyclass(module = "qubes_config_sync", name = "Event", frozen, get_all)]
pub struct PyEvent {
    subject: Option<String>,
    /// e.g. `domain-start`, `domain-feature-set:custom-persist.home`.
    name: String,
    /// Keyword arguments as qubesd sent them (values are Python `str()`s).
    kwargs: BTreeMap<String, String>,
}

#[pymethods]
impl PyEvent {
    fn __repr__(&self) -> String {
        format!(
            "Event(subject={:?}, name={:?}, kwargs={:?})",
            self.subject, self.name, self.kwargs
        )
    }
}

/// The events of `admin.Events`, as an iterator. The first event of every
/// (re)connection is `connection-established`: whatever was cached must be
/// fetched again. `close()` (or leaving a `with` block) ends it.
#[pyclass(module = "qubes_config_sync", name = "EventStream", frozen)]
pub struct EventStream {
    receiver: Mutex<Option<Receiver<EventMessage>>>,
    subscription: Mutex<Option<EventSubscription>>,
    reconnect: bool,
}

impl EventStream {
    pub fn open(app: &Qubes, dest: String, reconnect: bool) -> EventStream {
        let (subscription, receiver) = app.events_channel(EventsOptions {
            dest,
            reconnect,
            ..EventsOptions::default()
        });
        EventStream {
            receiver: Mutex::new(Some(receiver)),
            subscription: Mutex::new(Some(subscription)),
            reconnect,
        }
    }

    /// The next event, `None` at the end of the stream or when `deadline` passed.
    fn next_until(&self, py: Python<'_>, deadline: Option<Instant>) -> PyResult<Option<PyEvent>> {
        let mut guard = self
            .receiver
            .lock()
            .map_err(|_| new_err("QubesException", "event stream poisoned"))?;
        loop {
            // Moved into the GIL-free wait and back (a receiver is Send, not Sync).
            let Some(receiver) = guard.take() else {
                return Ok(None);
            };
            let wait = match deadline {
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            let (receiver, received) = py.detach(move || {
                let received = receiver.recv_timeout(wait);
                (receiver, received)
            });
            *guard = Some(receiver);
            match received {
                Ok(EventMessage::RefetchAll) => {
                    return Ok(Some(PyEvent {
                        subject: None,
                        name: "connection-established".to_owned(),
                        kwargs: BTreeMap::new(),
                    }));
                }
                Ok(EventMessage::Event(event)) => {
                    return Ok(Some(PyEvent {
                        subject: event.subject,
                        name: event.name,
                        kwargs: event.kwargs.into_iter().collect(),
                    }));
                }
                // With reconnection the thread tries again by itself; without, the
                // channel closes next and the reason is raised here.
                Ok(EventMessage::Disconnected(error)) => {
                    if !self.reconnect {
                        return Err(admin_error(error));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(None);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
            }
        }
    }

    fn stop(&self, py: Python<'_>) {
        let subscription = self.subscription.lock().ok().and_then(|mut s| s.take());
        if let Some(subscription) = subscription {
            // Joining waits for the reader thread, which never needs the GIL.
            py.detach(|| subscription.stop());
        }
    }
}

#[pymethods]
impl EventStream {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next event; the iteration ends when the stream is closed. Without
    /// reconnection, the end of the connection raises its reason
    /// (`QubesDaemonCommunicationError`, …).
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyEvent>> {
        self.next_until(py, None)
    }

    /// The next event, or `None` when none came within `timeout` seconds (or the
    /// stream is closed).
    #[pyo3(signature = (timeout = None))]
    fn next_event(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<PyEvent>> {
        self.next_until(py, crate::errors::deadline_after(timeout)?)
    }

    /// Stops listening; iteration ends.
    fn close(&self, py: Python<'_>) {
        self.stop(py);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _traceback: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.stop(py);
        false
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        // Dropping the subscription stops and joins its thread.
        if let Ok(mut subscription) = self.subscription.lock() {
            subscription.take();
        }
    }
}

/// Registers the event classes.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<EventStream>()?;
    module.add_class::<PyEvent>()?;
    Ok(())
}
