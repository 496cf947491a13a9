//! `admin.Events` subscription on a background thread.
//!
//! The thread connects, parses the stream incrementally and hands every
//! message to a callback (or a channel). When the stream ends or fails it
//! reports [`EventMessage::Disconnected`] and reconnects after a delay (1 s
//! by default, as Python `qubesadmin`). Every (re)connection starts with
//! qubesd's `connection-established` event, delivered as the distinct
//! [`EventMessage::RefetchAll`]: events may have been missed, so whatever
//! the caller has cached must be fetched again.

use std::io::Read;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::app::Qubes;
use crate::error::{Error, TransportError};
use crate::transport::{self, Transport};
use crate::wire::{Event, EventParser};

/// Delay before reconnecting, as `QUBESD_RECONNECT_DELAY` in qubesadmin.
pub const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// What the subscription delivers.
#[derive(Debug)]
pub enum EventMessage {
    /// (Re)connected: drop every cache and fetch again.
    RefetchAll,
    /// An event (never `connection-established`, which is `RefetchAll`).
    Event(Event),
    /// The stream ended or could not be opened; a reconnect follows unless
    /// reconnecting is off or the subscription was stopped.
    Disconnected(Error),
}

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct EventsOptions {
    /// `dom0` for every visible qube, or a qube's name for its events only.
    pub dest: String,
    /// Reconnect after a disconnection (default true).
    pub reconnect: bool,
    /// Delay before reconnecting (default [`RECONNECT_DELAY`]).
    pub reconnect_delay: Duration,
}

impl Default for EventsOptions {
    fn default() -> Self {
        EventsOptions {
            dest: "dom0".to_owned(),
            reconnect: true,
            reconnect_delay: RECONNECT_DELAY,
        }
    }
}

type Interrupt = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Shared {
    stopped: Mutex<bool>,
    wake: Condvar,
    interrupt: Mutex<Option<Interrupt>>,
}

impl Shared {
    fn is_stopped(&self) -> bool {
        self.stopped.lock().map(|s| *s).unwrap_or(true)
    }

    fn stop(&self) {
        if let Ok(mut stopped) = self.stopped.lock() {
            *stopped = true;
        }
        self.wake.notify_all();
        if let Ok(interrupt) = self.interrupt.lock()
            && let Some(interrupt) = interrupt.as_ref()
        {
            interrupt();
        }
    }

    /// Sleep for `delay` unless stopped first; true if stopped.
    fn wait_stopped(&self, delay: Duration) -> bool {
        let Ok(guard) = self.stopped.lock() else {
            return true;
        };
        match self
            .wake
            .wait_timeout_while(guard, delay, |stopped| !*stopped)
        {
            Ok((guard, _)) => *guard,
            Err(_) => true,
        }
    }
}

/// A running subscription. [`EventSubscription::stop`] (or dropping it)
/// ends the stream and joins the thread.
pub struct EventSubscription {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl EventSubscription {
    /// Stop listening and wait for the thread to end. The callback is not
    /// called after this returns.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.shared.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// True once the thread has ended (stopped, or reconnect off and the
    /// stream ended).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Drop for EventSubscription {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl Qubes {
    /// Listen for events on a background thread, calling `handler` for each
    /// message (on that thread).
    pub fn subscribe_events(
        &self,
        options: EventsOptions,
        mut handler: impl FnMut(EventMessage) + Send + 'static,
    ) -> EventSubscription {
        spawn(Arc::clone(self.transport()), options, move |message| {
            handler(message);
            true
        })
    }

    /// Listen for events on a background thread and receive them on a
    /// channel. Dropping the receiver ends the subscription at the next message.
    pub fn events_channel(
        &self,
        options: EventsOptions,
    ) -> (EventSubscription, mpsc::Receiver<EventMessage>) {
        let (sender, receiver) = mpsc::channel();
        let subscription = spawn(Arc::clone(self.transport()), options, move |message| {
            sender.send(message).is_ok()
        });
        (subscription, receiver)
    }
}

fn spawn(
    transport: Arc<dyn Transport>,
    options: EventsOptions,
    mut deliver: impl FnMut(EventMessage) -> bool + Send + 'static,
) -> EventSubscription {
    let shared = Arc::new(Shared::default());
    let thread_shared = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("qubesadmin-events".to_owned())
        .spawn(move || {
            let shared = thread_shared;
            while !shared.is_stopped() {
                let outcome = listen_once(transport.as_ref(), &options.dest, &shared, &mut deliver);
                match outcome {
                    Listen::ReceiverGone => break,
                    _ if shared.is_stopped() => break,
                    Listen::Ended(error) => {
                        if !deliver(EventMessage::Disconnected(error)) {
                            break;
                        }
                    }
                }
                if !options.reconnect || shared.wait_stopped(options.reconnect_delay) {
                    break;
                }
            }
        });
    match thread {
        Ok(thread) => EventSubscription {
            shared,
            thread: Some(thread),
        },
        Err(_) => {
            // No thread: report a subscription that is already finished.
            shared.stop();
            EventSubscription {
                shared,
                thread: None,
            }
        }
    }
}

enum Listen {
    Ended(Error),
    ReceiverGone,
}

fn listen_once(
    transport: &dyn Transport,
    dest: &str,
    shared: &Shared,
    deliver: &mut impl FnMut(EventMessage) -> bool,
) -> Listen {
    let connection = match transport.open_stream(dest, "admin.Events", "") {
        Ok(connection) => connection,
        Err(error) => return Listen::Ended(error),
    };
    let mut reader = connection.reader;
    if let Ok(mut slot) = shared.interrupt.lock() {
        *slot = Some(connection.interrupt);
    }
    // stop() may have run before the interrupt was registered.
    if shared.is_stopped() {
        shared.stop();
    }
    let result = pump(&mut reader, shared, deliver);
    if let Ok(mut slot) = shared.interrupt.lock() {
        *slot = None;
    }
    result
}

fn pump(
    reader: &mut dyn Read,
    shared: &Shared,
    deliver: &mut impl FnMut(EventMessage) -> bool,
) -> Listen {
    let mut parser = EventParser::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut events = Vec::new();
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Listen::Ended(transport::stream_error(e)),
        };
        if read == 0 {
            return Listen::Ended(match parser.finish() {
                Ok(()) => TransportError::StreamClosed.into(),
                Err(error) => error,
            });
        }
        let fed = parser.feed(&buffer[..read], &mut events);
        for event in events.drain(..) {
            if shared.is_stopped() {
                return Listen::ReceiverGone;
            }
            let message = if event.is_connection_established() {
                EventMessage::RefetchAll
            } else {
                EventMessage::Event(event)
            };
            if !deliver(message) {
                shared.stop();
                return Listen::ReceiverGone;
            }
        }
        if let Err(error) = fed {
            return Listen::Ended(error);
        }
    }
}
