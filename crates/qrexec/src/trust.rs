//! The names the shipped dom0 policy, the generator and the checker agree on: our services, the
//! tags that mark the config qube and the managed qubes, the policy file names, and the Admin
//! API calls the config qube may make (DESIGN §2, invariant 8).

/// Tag dom0 puts on the config qube (the qube holding the store): `qvm-tags CONFIGQUBE add
/// qubes-config-sync-manager`.
pub const MANAGER_TAG: &str = "qubes-config-sync-manager";

/// Tag dom0 puts on every qube the config qube may write into: `qvm-tags QUBE add
/// qubes-config-sync-managed`.
pub const MANAGED_TAG: &str = "qubes-config-sync-managed";

/// Config qube → managed qube: write a profile's files.
pub const SERVICE_APPLY: &str = "qubes.ConfigApply";
/// Config qube → managed qube: report the current state of a profile's files.
pub const SERVICE_SNAPSHOT: &str = "qubes.ConfigSnapshot";
/// Config qube → managed qube: restore the files of a previous push.
pub const SERVICE_ROLLBACK: &str = "qubes.ConfigRollback";
/// Managed qube → config qube: propose a change to a profile (always reviewed).
pub const SERVICE_PROPOSE: &str = "qubes.ConfigPropose";

/// The services the config qube calls on managed qubes.
pub const MANAGER_SERVICES: [&str; 3] = [SERVICE_APPLY, SERVICE_SNAPSHOT, SERVICE_ROLLBACK];

/// All four of our services.
pub const ALL_SERVICES: [&str; 4] = [
    SERVICE_APPLY,
    SERVICE_SNAPSHOT,
    SERVICE_ROLLBACK,
    SERVICE_PROPOSE,
];

/// The shipped allow rules (services and read-only Admin API).
pub const STATIC_POLICY_FILE: &str = "70-config-sync.policy";
/// The shipped catch-all denials for our four services.
pub const DEFAULT_POLICY_FILE: &str = "80-config-sync-default.policy";
/// The file the generator writes: per qube × profile rules (read before the two above).
pub const GENERATED_POLICY_FILE: &str = "50-config-sync-profiles.policy";
/// The opt-in include (in `include/`) granting `admin.vm.feature.Set/Remove` for custom-persist.
pub const ADMIN_WRITE_INCLUDE: &str = "include/config-sync-admin-write";

/// Admin API calls the config qube needs, all read-only.
pub const ADMIN_READ_CALLS: [&str; 7] = [
    "admin.vm.List",
    "admin.vm.feature.List",
    "admin.vm.feature.Get",
    "admin.vm.feature.CheckWithTemplate",
    "admin.vm.property.Get",
    "admin.vm.tag.List",
    "admin.Events",
];

/// Admin API calls that start a managed qube: the shipped policy grants them for managed
/// qubes only, because our services carry `autostart=no` (a call never starts a halted
/// qube by itself); the backend starts only a qube the user chose to "start and push".
/// The same power the services had with qrexec's default autostart, made explicit.
pub const ADMIN_START_CALLS: [&str; 1] = ["admin.vm.Start"];

/// Admin API writes the config qube may get, only through [`ADMIN_WRITE_INCLUDE`].
pub const ADMIN_OPT_IN_WRITE_CALLS: [&str; 2] = ["admin.vm.feature.Set", "admin.vm.feature.Remove"];

/// Other powerful calls the checker probes: Admin API writes and executes nobody of ours needs,
/// the policy admin API, and the shell/copy services that would bypass our narrow services.
pub const PROBED_OTHER_CALLS: &[&str] = &[
    "admin.vm.tag.Set",
    "admin.vm.tag.Remove",
    "admin.vm.property.Set",
    "admin.vm.property.Reset",
    "admin.vm.property.GetAll",
    "admin.vm.Shutdown",
    "admin.vm.Kill",
    "admin.vm.Pause",
    "admin.vm.Unpause",
    "admin.vm.Console",
    "admin.vm.Create.AppVM",
    "admin.vm.CreateDisposable",
    "admin.vm.Remove",
    "admin.vm.CurrentState",
    "admin.vm.device.pci.Attach",
    "admin.vm.volume.Import",
    "admin.vm.firewall.Set",
    "admin.property.Set",
    "admin.property.Get",
    "admin.label.List",
    "admin.vmclass.List",
    "policy.Replace",
    "policy.Get",
    "qubes.VMShell",
    "qubes.VMRootShell",
];

/// Does this qube carry the config-qube tag?
pub fn is_config_qube(tags: &[String]) -> bool {
    tags.iter().any(|t| t == MANAGER_TAG)
}

/// Does this qube carry the managed-qube tag?
pub fn is_managed_qube(tags: &[String]) -> bool {
    tags.iter().any(|t| t == MANAGED_TAG)
}
