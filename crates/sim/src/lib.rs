//! "Qubes in a directory": a qubesd-compatible Admin API server on a unix socket
//! and a `qrexec-client-vm`-compatible client, for the demo and for tests.
//!
//! It must behave like Qubes — same wire format, same errors, same environment for
//! services — so production code runs on it unchanged. It must not be linked into
//! production code paths other than the demo launcher.
//!
//! * [`world`]: the world directory (qubes, properties, labels, dom0 policy,
//!   per-qube homes) and a builder for test worlds;
//! * [`qubesd`]: the simulated qubesd ([`qubesd::Server::start`]), with
//!   qubesd's framing, semantics, messages and `admin.Events` stream;
//! * [`qrexec_client`]: one qrexec service call from a qube of the world,
//!   decided by the world's dom0 policy (the `qrexec-client-vm` binary);
//! * [`replay`]: byte-for-byte comparison against golden recordings of the
//!   real qubesd (`qubes-sim replay`).

pub mod error;
pub mod qrexec_client;
pub mod qubesd;
pub mod replay;
pub mod world;

pub use error::SimError;
pub use qubesd::{Server, ServerHandle};
pub use world::{QubeSpec, World, WorldBuilder};
