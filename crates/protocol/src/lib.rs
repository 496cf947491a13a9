//! The JSON messages between the config qube and the in-VM agent
//! (`qubes.ConfigApply`, `qubes.ConfigSnapshot`, `qubes.ConfigRollback`,
//! `qubes.ConfigPropose`), with their limits and validation.
//!
//! It must not touch the file system or the network: both ends parse with it, so it
//! stays small enough for the agent.
