//! The GTK-free heart of qubes-config-sync: the store (SQLite), profiles,
//! assignments, proposals and generations, push planning, the diff and review model,
//! the risk rules engine and persistence analysis.
//!
//! It must not do I/O with qubes (that is the backend's job) and must never run a
//! tool (git, ssh, a shell, an editor) on content that came from a qube.

pub mod characters;
pub mod diff;
pub mod dirtree;
pub mod findings;
pub mod persistence;
pub mod plan;
pub mod render;
pub mod review;
pub mod risk;
#[cfg(feature = "store")]
pub mod store;
