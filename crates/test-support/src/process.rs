//! Running a program of the workspace the way qrexec does: the request written to its
//! standard input from another thread and then closed (a service may answer, or exit,
//! before it read everything), its standard output and error collected whole.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `command` with `stdin` as its standard input and returns how it ended and what
/// it printed. A program that exits without reading all of `stdin` is not an error.
///
/// # Panics
/// When the program cannot be started or waited for.
pub fn run_with_stdin(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut input = child.stdin.take().expect("a piped stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // Dropping `input` afterwards is the end of the request.
        let _ = input.write_all(&data);
    });
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("cannot wait for {command:?}: {e}"));
    let _ = writer.join();
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_reaches_the_program_and_both_outputs_come_back() {
        let mut sh = Command::new("sh");
        sh.args(["-c", "wc -c; echo err >&2; exit 3"]);
        let out = run_with_stdin(sh, &[b'x'; 200_000]);
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200000");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn a_program_that_reads_nothing_is_no_error() {
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo early"]);
        let out = run_with_stdin(sh, &[b'x'; 1 << 20]);
        assert!(out.status.success());
        assert_eq!(out.stdout, b"early\n");
    }
}
