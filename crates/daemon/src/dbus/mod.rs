//! The backend's side of `org.qubes.ConfigSync1` (contract: `API.md` beside the crate's
//! `Cargo.toml`; introspection: `data/org.qubes.ConfigSync1.xml`).

mod caller;
pub mod error;
pub mod server;
pub mod templates;
