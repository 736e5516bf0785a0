//! A one-cluster sandbox (`primary` in us-east-1, 20 ms transitions) on a temp dir, on
//! its own runtime so data plane tests can block on the stock kubectl, aws and curl.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use runner_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::Value;

pub struct Sb {
    pub rt: tokio::runtime::Runtime,
    pub handle: Option<SandboxHandle>,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Sb {
    pub fn start() -> Sb {
        Sb::start_with(|_| {})
    }

    /// A sandbox whose first configuration `edit` changed (e.g. the data plane's
    /// timeouts shortened), saved before the first start as `up` would.
    pub fn start_with(edit: impl FnOnce(&mut SandboxConfig)) -> Sb {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut sb = Sb {
            rt,
            handle: None,
            dir: tempfile::tempdir().unwrap(),
            kubeconfig: PathBuf::new(),
        };
        let mut cfg = SandboxConfig::new(sb.state());
        edit(&mut cfg);
        std::fs::create_dir_all(sb.state()).unwrap();
        runner_sandbox::persist::save(&sb.state().join(runner_sandbox::CONFIG_FILE), &cfg).unwrap();
        sb.up();
        sb
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn up(&mut self) {
        let mut cfg = SandboxConfig::load_or_new(self.state()).unwrap();
        cfg.clusters.truncate(1);
        cfg.transition_delay = Duration::from_millis(20);
        let handle = self
            .rt
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(30), Sandbox::start(cfg)).await
            })
            .expect("sandbox start timed out")
            .expect("sandbox start failed");
        self.kubeconfig = handle.endpoints().kubeconfig.clone();
        self.handle = Some(handle);
    }

    pub fn down(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown()).unwrap();
        }
    }

    pub fn handle(&self) -> &SandboxHandle {
        self.handle.as_ref().unwrap()
    }

    /// kubectl that must succeed; returns stdout.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = Command::new("timeout")
            .arg("60")
            .arg("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("kubecache"))
            .arg("--request-timeout=20s")
            .args(args)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The stock aws CLI against this sandbox and nothing else, as JSON.
    pub fn aws(&self, args: &[&str]) -> Value {
        let s = self.handle().aws().settings();
        let out = Command::new("timeout")
            .arg("60")
            .arg("aws")
            .arg("--endpoint-url")
            .arg(&self.handle().endpoints().aws)
            .arg("--region")
            .arg("us-east-1")
            .arg("--output")
            .arg("json")
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &s.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &s.secret_access_key)
            .env("AWS_CONFIG_FILE", self.dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.path().join("none"))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Sb {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = self.rt.block_on(h.shutdown());
        }
    }
}
