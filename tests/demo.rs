//! The README's demo command, end to end: the binary builds the demo world, serves it with
//! the simulated qubesd, lists it through the real Admin API client, and stops on EOF.

use std::process::{Command, Stdio};

#[test]
fn demo_lists_every_qube_of_the_simulated_world_and_stops_on_eof() {
    let world = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_qubes-config-sync"))
        .arg("--demo")
        .arg("--world")
        .arg(world.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (name, class, state) in [
        ("work", "AppVM", "Running"),
        ("personal", "AppVM", "Halted"),
        ("fedora-42-xfce", "TemplateVM", "Halted"),
        ("disp1234", "DispVM", "Running"),
        ("dev-box", "StandaloneVM", "Halted"),
    ] {
        let row = stdout
            .lines()
            .find(|line| line.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name} in:\n{stdout}"));
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&columns[1..3], [class, state], "row {row:?}");
    }
    let vault = stdout.lines().find(|l| l.starts_with("vault ")).unwrap();
    assert!(
        vault.contains("custom-persist: dir:user:user:0700:/home/user/.gnupg"),
        "{vault}"
    );
    assert!(
        !stdout.lines().any(|l| l.starts_with("dom0 ")),
        "dom0 is not a qube to manage"
    );
    // The world was kept in the requested directory, loadable by the simulator.
    assert!(world.path().join("world.json").is_file());
}
