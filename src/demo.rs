//! The demo world: a handful of qubes of every class on the simulator, so the app can be
//! tried (and tested) without Qubes OS.

use qcs_sim::world::{QubeSpec, World, WorldBuilder};

/// The tag the shipped dom0 policy uses for qubes whose configuration we manage.
const MANAGED_TAG: &str = "qubes-config-sync-managed";
/// The tag that marks the config qube in the shipped dom0 policy.
const MANAGER_TAG: &str = "qubes-config-sync-manager";

/// The qubes of the demo: a template, a disposable template and one of its disposables,
/// a standalone, the config qube, and managed AppVMs — one of them (`vault`) with
/// custom-persist on, so part of its home does not survive a restart.
pub fn world() -> WorldBuilder {
    World::builder()
        .global_property("default_template", "fedora-42-xfce")
        .global_property("default_dispvm", "default-dvm")
        .qube(
            QubeSpec::template_vm("fedora-42-xfce")
                .label("black")
                .feature("os", "Linux"),
        )
        .qube(
            QubeSpec::template_vm("debian-12-minimal")
                .label("gray")
                .feature("os", "Linux"),
        )
        .qube(QubeSpec::dvm_template("default-dvm", "fedora-42-xfce").label("red"))
        .qube(
            QubeSpec::disposable("disp1234", "default-dvm")
                .label("red")
                .tag(MANAGED_TAG)
                .running(),
        )
        .qube(
            QubeSpec::app("config", "debian-12-minimal")
                .label("purple")
                .tag(MANAGER_TAG)
                .running(),
        )
        .qube(
            QubeSpec::app("work", "fedora-42-xfce")
                .label("blue")
                .tag(MANAGED_TAG)
                .running(),
        )
        .qube(
            QubeSpec::app("personal", "fedora-42-xfce")
                .label("green")
                .tag(MANAGED_TAG),
        )
        .qube(
            QubeSpec::app("vault", "debian-12-minimal")
                .label("black")
                .tag(MANAGED_TAG)
                .feature("service.custom-persist", "1")
                .feature(
                    "custom-persist.gnupg",
                    "dir:user:user:0700:/home/user/.gnupg",
                )
                .feature(
                    "custom-persist.gitconfig",
                    "file:user:user:0644:/home/user/.gitconfig",
                ),
        )
        .qube(
            QubeSpec::app("untrusted", "fedora-42-xfce")
                .label("red")
                .tag(MANAGED_TAG),
        )
        .qube(QubeSpec::standalone("dev-box").label("orange"))
}
