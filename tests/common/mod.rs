//! Shared by the root package's tests: the workspace programs the demo runs.

use std::path::PathBuf;
use std::process::Command;

/// The programs `--demo` starts, from other packages of the workspace. Cargo builds
/// only this package's binaries for its tests, so build theirs (incrementally: a no-op
/// when they are current) into the same target directory, and point the demo at them.
pub fn build_workspace_programs() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable in target/<profile>/deps")
        .to_owned();
    let target_dir = profile_dir.parent().expect("target directory").to_owned();
    // The same profile as this test: its directory is named after it ("debug" is dev).
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(name) => name.to_owned(),
    };
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--profile",
            &profile,
            "-p",
            "qcs-daemon",
            "-p",
            "qcs-sim",
            "-p",
            "qcs-agent",
            "--bins",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build for the workspace programs");
    assert!(status.success(), "building the workspace programs failed");
    // SAFETY-free: set before any thread of the test starts.
    unsafe { std::env::set_var("QCS_BIN_DIR", &profile_dir) };
    profile_dir
}
