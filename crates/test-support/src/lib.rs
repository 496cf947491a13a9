//! Helpers the workspace's tests, fuzz-like tests and benchmarks share: reproducible random
//! numbers ([`XorShift64`], [`XorShift64Star`]), the location of the golden qubesd
//! recordings ([`golden_dir`]), the policy the qrexec recordings were made with
//! ([`recorded_qrexec_policy`]), and running a program with a request on its standard
//! input as qrexec does ([`run_with_stdin`]), and hostile inputs shared by benches
//! ([`ten_thousand_hunks`]).
//!
//! Dev-only: every crate lists it under `[dev-dependencies]`, so no shipped binary links it.
//! It must not grow product logic, depend on a workspace crate (it would make a
//! dependency cycle with the crates that test through it) or read anything outside the
//! repository.

mod golden;
mod hostile;
mod process;
mod rng;

pub use golden::{golden_dir, golden_file, recorded_qrexec_policy};
pub use hostile::ten_thousand_hunks;
pub use process::run_with_stdin;
pub use rng::{XorShift64, XorShift64Star};
