//! Shared helpers: a scratch directory per test, the runner command with a shared
//! compile cache, fixture paths, and readers for `--output json` events.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The compiled-component cache shared by every test (compiling is the slow part).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

pub fn fixture(name: &str) -> String {
    Path::new(env!("RUNNER_FIXTURES_DIR"))
        .join(format!("{name}.wasm"))
        .display()
        .to_string()
}

/// A temporary working directory with its own state dir.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join(".runner")
    }

    /// `runner <args>` run in this directory.
    pub fn runner(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runner"));
        cmd.args(args)
            .current_dir(self.path())
            .env("RUNNER_CACHE_DIR", cache_dir())
            .env_remove("RUNNER_STATE_DIR");
        cmd
    }

    /// Runs to completion, killing it after `limit`.
    pub fn run(&self, args: &[&str]) -> Output {
        let child = self
            .runner(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_with_limit(child, Duration::from_secs(120))
    }

    /// The run directories, oldest first.
    pub fn runs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.state_dir().join("runs"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// Waits for the child while draining its output (a full pipe would block it),
/// killing it after `limit`.
pub fn wait_with_limit(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            let out = rx.recv().unwrap().unwrap();
            panic!(
                "runner did not finish within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Parses `--output json` (or a journal): one event per line.
pub fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not an event ({e}): {l}")))
        .collect()
}

pub fn journal(run_dir: &Path) -> Vec<Value> {
    events(&std::fs::read_to_string(run_dir.join("journal.ndjson")).unwrap())
}

/// The `step_finished` event of a step.
pub fn finished<'a>(events: &'a [Value], step: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == step)
        .unwrap_or_else(|| panic!("no step_finished for `{step}` in {events:#?}"))
}

pub fn count(events: &[Value], event: &str, step: &str) -> usize {
    events
        .iter()
        .filter(|e| e["event"] == event && e["step"] == step)
        .count()
}

/// Stops the scratch directory's sandbox even when an assertion fails.
pub struct Down<'a>(pub &'a Scratch);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["sandbox", "down"]);
    }
}

/// Parses `export K='V'` lines (what `runner sandbox env` prints).
pub fn exports(text: &str) -> std::collections::HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

/// A stock AWS client (the `aws` CLI, python3 with boto3) that sees the sandbox's
/// endpoint and keys from `env` and nothing of the user's own profiles or credentials.
pub fn isolated_aws_client(
    program: &str,
    env: &std::collections::HashMap<String, String>,
) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .envs(env);
    cmd
}
