//! Python bindings of qubes-config-sync: the module `qubes_config_sync`, for Qubes'
//! own Python tools (qubes-vm-settings, the qui widgets, Salt modules).
//!
//! Its one job: expose the project's Rust crates to Python in the style of
//! `qubesadmin` — the Admin API client (`Qubes`, `app.domains`, `vm.features`,
//! `vm.tags`, properties, labels, `app.events()`) with `qubesadmin`'s exception
//! names (`errors`), the offline risk scan, safe rendering and persistence
//! analysis of `qcs-core` (`review`), and a client of the D-Bus backend
//! `qubes-config-syncd` (`backend`, with its signals in `signals`).
//!
//! It must not hold logic of its own beyond conversion: every decision (validation,
//! risk, persistence, what the store accepts) is made by the Rust crates or the
//! backend. It must not write the store (only the backend does) and must not
//! panic on anything that came from qubesd, the backend or a qube.

use pyo3::prelude::*;

mod admin;
mod backend;
mod errors;
mod events;
mod review;
mod signals;

/// qubes-config-sync for Python: Admin API client in the shape of `qubesadmin`,
/// offline risk scan and safe rendering, persistence analysis, and a client of
/// the qubes-config-sync backend.
#[pymodule]
fn qubes_config_sync(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(module)?;
    admin::register(module)?;
    review::register(module)?;
    backend::register(module)?;
    events::register(module)?;
    signals::register(module)?;
    Ok(())
}
