//! The qrexec layer: the Qubes R4.1+ policy format (parser and evaluator),
//! qrexec's argument rules, and the policy generator and checker for our services.
//!
//! It must not talk to qubesd or spawn processes: it is pure logic over policy text
//! and a system description, so dom0 administrators can trust what it prints.
