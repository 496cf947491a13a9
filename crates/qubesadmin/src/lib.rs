//! Admin API client for Qubes OS, shaped like Python `qubesadmin`.
//!
//! Its one job: talk to qubesd — over `qrexec-client-vm` from a qube or over
//! `/var/run/qubesd.sock` in dom0 — with the real wire format, typed errors and
//! client-side validation of every name and value it sends.
//!
//! It must not know about profiles, the store or GTK, and must never panic on a
//! reply: replies are parsed as untrusted bytes, with bounded sizes.
//!
//! # Layout
//!
//! * [`validate`] — qubesd's rules for VM names, features, tags, labels,
//!   qrexec arguments and custom-persist keys/values; errors display qubesd's
//!   own messages ([`validate::ValidationError::qubesd_exception`] names the
//!   class), so the simulator reuses them verbatim.
//! * [`wire`] — the one reply parser: `0\0data`, `2\0type\0tb\0msg\0…`, the
//!   incremental `admin.Events` parser; caps [`wire::MAX_REPLY_BYTES`] (16 MiB)
//!   and [`wire::MAX_EVENT_FRAME_BYTES`] (1 MiB).
//! * [`transport`] — [`Transport`] with [`QrexecTransport`] (exit 126 =
//!   refused by policy), [`SocketTransport`] (dom0) and [`CountingTransport`].
//! * [`app`] — [`Qubes`] (`domains`, labels, global properties), [`Vm`]
//!   (features, tags, properties, current state); no caching.
//! * [`events`] — `admin.Events` on a thread: reconnect after 1 s,
//!   [`EventMessage::RefetchAll`] on every `connection-established`, `stop()`.
//! * [`parallel`], [`persist`] — bounded worker threads (default
//!   [`app::DEFAULT_MAX_WORKERS`] = 16) and
//!   [`Qubes::custom_persist_state`] in `N + (custom-persist features)` calls.
//!
//! Errors: [`Error`] — `AccessDenied` (empty reply, `PermissionDenied`, qrexec
//! exit 126), `Qubes` (exception class, [`ExceptionKind`], message),
//! `Protocol` (malformed reply), `Transport`, `Validation`.
//!
//! ```no_run
//! let app = qubesadmin::Qubes::default(); // socket in dom0, qrexec in a qube
//! for vm in app.domains()? {
//!     let persist = vm.features().get("service.custom-persist")?;
//!     println!("{} {} {:?}", vm.name(), vm.class(), persist);
//! }
//! # Ok::<(), qubesadmin::Error>(())
//! ```
//!
//! # Fuzzing
//!
//! `fuzz/` is a cargo-fuzz project (its own workspace) fuzzing the reply and
//! event parsers and the typed output parsers. From the repository root, on
//! the stable toolchain:
//!
//! ```sh
//! cargo install cargo-fuzz
//! mkdir -p crates/qubesadmin/fuzz/corpus/reply_parser
//! RUSTC_BOOTSTRAP=1 cargo fuzz run reply_parser --fuzz-dir crates/qubesadmin/fuzz \
//!     crates/qubesadmin/fuzz/corpus/reply_parser crates/qubesadmin/fuzz/seeds/reply_parser \
//!     -- -max_total_time=20
//! ```
//!
//! New inputs go to `corpus/` (ignored by git); `seeds/` holds small recorded
//! qubesd replies. `cargo test` runs a deterministic mutation test of the same
//! parsers (`tests/parser_mutation.rs`) without nightly tools.
//!
//! # Benchmark
//!
//! `cargo bench -p qubesadmin --bench list_custom_persist` lists 100 qubes
//! with their custom-persist state through `qubes-sim` at 20 ms per call and
//! prints calls and wall time per worker bound.

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
