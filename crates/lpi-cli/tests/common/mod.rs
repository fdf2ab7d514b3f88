//! Runs the built `lpi` binary.

use std::ffi::OsStr;
use std::process::Command;

/// Runs `lpi` with `args`; returns its exit code and its stdout followed by its stderr.
pub fn lpi(args: &[&OsStr]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lpi"))
        .args(args)
        .output()
        .expect("lpi runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("an exit code"), text)
}
