//! Admin API client for Qubes OS, shaped like Python `qubesadmin`.
//!
//! Its one job: talk to qubesd — over `qrexec-client-vm` from a qube or over
//! `/var/run/qubesd.sock` in dom0 — with the real wire format, typed errors and
//! client-side validation of every name and value it sends.
//!
//! It must not know about profiles, the store or GTK, and must never panic on a
//! reply: replies are parsed as untrusted bytes.

pub mod validate;
