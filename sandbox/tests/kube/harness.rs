//! A cluster started in-process on a loopback port, with a temporary state directory,
//! a 20 ms transition delay and a fake LoadBalancers, driven by the stock kubectl and
//! by curl for raw requests. Every external command runs under `timeout`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runner_sandbox::config::{ClusterSpec, SandboxConfig};
use runner_sandbox::kube::{self, Cluster};
use runner_sandbox::provider::{AlbInfo, AlbRequest, LoadBalancers};
use serde_json::Value;

/// Records every call; ensure returns a stable ALB per Ingress.
#[derive(Default)]
pub struct FakeLbs {
    pub calls: Mutex<Vec<String>>,
    pub requests: Mutex<Vec<AlbRequest>>,
}

impl LoadBalancers for FakeLbs {
    fn ensure_ingress_alb(&self, req: &AlbRequest) -> anyhow::Result<AlbInfo> {
        self.calls.lock().unwrap().push(format!(
            "ensure {}/{}/{}",
            req.cluster, req.namespace, req.ingress
        ));
        self.requests.lock().unwrap().push(req.clone());
        let name = format!(
            "k8s-{}-{}-0123456789",
            req.namespace,
            req.ingress.replace('-', "")
        );
        Ok(AlbInfo {
            arn: format!(
                "arn:aws:elasticloadbalancing:{}:000000000000:loadbalancer/app/{name}/50dc6c495c0c9188",
                req.region
            ),
            dns_name: format!("{name}-1234567890.{}.elb.amazonaws.com", req.region),
            name,
        })
    }

    fn delete_ingress_alb(
        &self,
        cluster: &str,
        namespace: &str,
        ingress: &str,
    ) -> anyhow::Result<()> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("delete {cluster}/{namespace}/{ingress}"));
        Ok(())
    }
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub cfg: SandboxConfig,
    pub lbs: Arc<FakeLbs>,
    pub cluster: Option<Arc<Cluster>>,
    pub url: String,
    pub kubeconfig: PathBuf,
    rt: tokio::runtime::Runtime,
    server: Option<tokio::task::JoinHandle<()>>,
}

pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kube")
        .join(name)
        .display()
        .to_string()
}

impl Sandbox {
    pub fn start() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = SandboxConfig::new(dir.path().join("state"));
        cfg.clusters = vec![ClusterSpec {
            name: "primary".into(),
            region: "us-east-1".into(),
        }];
        cfg.transition_delay = Duration::from_millis(20);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut sb = Sandbox {
            kubeconfig: dir.path().join("kubeconfig"),
            dir,
            cfg,
            lbs: Arc::new(FakeLbs::default()),
            cluster: None,
            url: String::new(),
            rt,
            server: None,
        };
        sb.serve();
        sb
    }

    fn serve(&mut self) {
        let cluster = Cluster::open(&self.cfg.clusters[0], &self.cfg, self.lbs.clone()).unwrap();
        let listener = self
            .rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        self.url = format!("http://{}", listener.local_addr().unwrap());
        let c = cluster.clone();
        self.server = Some(self.rt.spawn(async move {
            kube::serve(c, listener).await.unwrap();
        }));
        self.cluster = Some(cluster);
        std::fs::write(
            &self.kubeconfig,
            kube::kubeconfig(&[("primary".into(), self.url.clone())]),
        )
        .unwrap();
    }

    /// Stops the API server and controllers, drops the cluster, and opens it again
    /// from the same state directory on a new port.
    #[allow(dead_code)]
    pub fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
            let _ = self.rt.block_on(s);
        }
        // No explicit flush: stopping `serve` saves the state.
        drop(self.cluster.take());
        self.serve();
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    pub fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("timeout")
            .arg("60")
            .arg("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("kubecache"))
            .arg("--request-timeout=20s")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// kubectl that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    /// A raw request; returns (status code, body as JSON or a string).
    pub fn curl(&self, method: &str, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let mut cmd = Command::new("timeout");
        cmd.args(["30", "curl", "-s", "-X", method, "-w", "\n%{http_code}"]);
        if !content_type.is_empty() {
            cmd.args([
                "-H",
                &format!("Content-Type: {content_type}"),
                "--data-binary",
                body,
            ]);
        }
        let out = cmd.arg(format!("{}{}", self.url, path)).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        let value = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
        (code.trim().parse().unwrap_or(0), value)
    }

    /// A GET with an Accept header; returns (status code, body as JSON).
    pub fn get_accept(&self, path: &str, accept: &str) -> (u16, Value) {
        let out = Command::new("timeout")
            .args([
                "30",
                "curl",
                "-s",
                "-w",
                "\n%{http_code}",
                "-H",
                &format!("Accept: {accept}"),
            ])
            .arg(format!("{}{}", self.url, path))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        let value = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
        (code.trim().parse().unwrap_or(0), value)
    }

    /// Starts a watch (the request is answered, so the server is subscribed, when this
    /// returns) and collects `events` lines, for at most 20 s, on a thread.
    pub fn watch(&self, path: &str, events: usize) -> std::thread::JoinHandle<String> {
        use std::io::{BufRead, BufReader, Read, Write};
        let addr = self.url.trim_start_matches("http://").to_string();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        std::thread::spawn(move || {
            // Chunked transfer encoding: size line, data, CRLF.
            let mut body = String::new();
            let start = Instant::now();
            while body.lines().count() < events && start.elapsed() < Duration::from_secs(20) {
                let mut size = String::new();
                if reader.read_line(&mut size).unwrap_or(0) == 0 {
                    break;
                }
                let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
                    break;
                };
                if n == 0 {
                    break;
                }
                let mut chunk = vec![0; n + 2];
                if reader.read_exact(&mut chunk).is_err() {
                    break;
                }
                body.push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
            body
        })
    }

    /// Waits (at most 10 s) until `f` holds.
    pub fn eventually(&self, what: &str, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn calls(&self) -> Vec<String> {
        self.lbs.calls.lock().unwrap().clone()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }
}
