//! What the benches that drive the built `runner` share.

use std::path::Path;
use std::process::Command;

/// Runs the built `runner` in `dir` to completion; its stdout. Panics with its output
/// when it fails: a bench figure from a failed run would be meaningless.
pub fn runner(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running runner");
    assert!(
        out.status.success(),
        "runner {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
