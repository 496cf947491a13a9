//! Admin API client for Qubes OS, shaped like Python `qubesadmin`.
//!
//! Its one job: talk to qubesd — over `qrexec-client-vm` from a qube or over
//! `/var/run/qubesd.sock` in dom0 — with the real wire format, typed errors and
//! client-side validation of every name and value it sends.
//!
//! It must not know about profiles, the store or GTK, and must never panic on a
//! reply: replies are parsed as untrusted bytes.

pub mod app;
pub mod error;
pub mod events;
pub mod parallel;
pub mod persist;
pub mod transport;
pub mod validate;
pub mod wire;

pub use app::{Features, PowerState, Property, Qubes, Tags, Vm, VmInfo};
pub use error::{DenyReason, Error, ExceptionKind, ProtocolError, QubesError, TransportError};
pub use events::{EventMessage, EventSubscription, EventsOptions};
pub use persist::{CustomPersistFeature, CustomPersistState};
pub use transport::{
    CountingTransport, QrexecTransport, SocketTransport, StreamConnection, Transport,
};
pub use wire::Event;
