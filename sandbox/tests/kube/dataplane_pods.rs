//! Pods answering HTTP on loopback, through a whole in-process sandbox driven by the
//! stock kubectl and curl: the tutorial's image answers `Welcome to <zone>`, others the
//! generic text; scaling to zero closes the sockets; a restart keeps each pod's address.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::one_cluster::Sb;
use serde_json::Value;

const TUTORIAL_IMAGE: &str = "public.ecr.aws/b5x3e7x1/eks-py-az";

impl Sb {
    /// `pods.json`'s entries that are listening and whose name starts with `prefix`:
    /// pod name → (address, zone).
    fn listening(&self, prefix: &str) -> BTreeMap<String, (String, String)> {
        let text = std::fs::read_to_string(self.state().join("pods.json")).unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let mut out = BTreeMap::new();
        for e in v["pods"].as_object().into_iter().flat_map(|m| m.values()) {
            let name = e["name"].as_str().unwrap_or_default();
            if e["listening"] == true && name.starts_with(prefix) {
                out.insert(
                    name.to_string(),
                    (
                        e["address"].as_str().unwrap().to_string(),
                        e["zone"].as_str().unwrap().to_string(),
                    ),
                );
            }
        }
        out
    }

    /// Waits until `n` pods named `<prefix>...` listen, and they are the pods kubectl lists.
    fn wait_listening(&self, prefix: &str, n: usize) -> BTreeMap<String, (String, String)> {
        let mut pods = BTreeMap::new();
        eventually(&format!("{n} listening {prefix} pods"), || {
            pods = self.listening(prefix);
            pods.len() == n
        });
        let names = self.kubectl(&["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"]);
        let names: BTreeSet<&str> = names
            .split_whitespace()
            .filter(|n| n.starts_with(prefix))
            .collect();
        assert_eq!(names, pods.keys().map(String::as_str).collect());
        pods
    }
}

/// curl's exit code and stdout.
fn curl(addr: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "5"])
        .args(extra)
        .arg(format!("http://{addr}/some/path"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn body(addr: &str) -> String {
    let (code, out) = curl(addr, &[]);
    assert_eq!(code, 0, "curl {addr}");
    out
}

/// Waits (at most 10 s) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tutorial_pods_answer_their_zone_stop_at_zero_and_keep_addresses() {
    let mut sb = Sb::start();
    sb.kubectl(&[
        "create",
        "deployment",
        "py-az",
        &format!("--image={TUTORIAL_IMAGE}"),
        "--replicas=3",
        "--port=5000",
    ]);
    sb.kubectl(&["rollout", "status", "deployment/py-az", "--timeout=20s"]);
    let pods = sb.wait_listening("py-az-", 3);

    let mut zones = BTreeSet::new();
    for (name, (addr, zone)) in &pods {
        assert!(
            addr.starts_with("127.") && addr.ends_with(":5000"),
            "{addr}"
        );
        assert!(
            ["us-east-1a", "us-east-1b", "us-east-1c"].contains(&zone.as_str()),
            "{zone}"
        );
        assert_eq!(body(addr), format!("Welcome to {zone}"));
        let (_, head) = curl(addr, &["-I"]);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.contains(&format!("x-sandbox-pod: default/{name}")),
            "{head}"
        );
        assert!(head.contains(&format!("x-sandbox-zone: {zone}")), "{head}");
        let (_, code) = curl(
            addr,
            &["-X", "POST", "-o", "/dev/null", "-w", "%{http_code}"],
        );
        assert_eq!(code, "405");
        zones.insert(zone.clone());
    }
    // Replicas of one ReplicaSet are spread over the zones: three land in three.
    assert_eq!(zones.len(), 3, "{pods:?}");
    // Distinct pods, distinct addresses (same containerPort, different pod IPs).
    let addrs: BTreeSet<&String> = pods.values().map(|(a, _)| a).collect();
    assert_eq!(addrs.len(), 3);

    // Scaling to zero closes every socket within 2 s: connection refused (curl exit 7).
    let scaled = Instant::now();
    sb.kubectl(&["scale", "deployment/py-az", "--replicas=0"]);
    for (addr, _) in pods.values() {
        while curl(addr, &[]).0 != 7 {
            assert!(
                scaled.elapsed() < Duration::from_secs(2),
                "{addr} still answers"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    eventually("no listening pods", || sb.listening("py-az-").is_empty());

    sb.kubectl(&["scale", "deployment/py-az", "--replicas=2"]);
    sb.kubectl(&["rollout", "status", "deployment/py-az", "--timeout=20s"]);
    let pods = sb.wait_listening("py-az-", 2);
    for (addr, zone) in pods.values() {
        assert_eq!(body(addr), format!("Welcome to {zone}"));
    }

    // A restart on the same directory: the same pods answer on the same addresses.
    sb.down();
    for (addr, _) in pods.values() {
        // The listeners' tasks are aborted by the shutdown and drop their sockets just after.
        eventually(&format!("{addr} refusing after shutdown"), || {
            curl(addr, &[]).0 == 7
        });
    }
    sb.up();
    for (name, (addr, zone)) in &pods {
        let mut answered = String::new();
        eventually(&format!("{name} answering on {addr} again"), || {
            answered = curl(addr, &["-D", "-"]).1;
            !answered.is_empty()
        });
        assert!(
            answered.ends_with(&format!("Welcome to {zone}")),
            "{answered}"
        );
        assert!(
            answered.contains(&format!("x-sandbox-pod: default/{name}")),
            "{answered}"
        );
    }
    assert_eq!(sb.wait_listening("py-az-", 2), pods);
}

#[test]
fn other_images_get_the_generic_responder() {
    let sb = Sb::start();
    sb.kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=1",
        "--port=8080",
    ]);
    // A bare pod with no containerPort and its own zone label.
    sb.kubectl(&[
        "run",
        "solo",
        "--image=busybox:1.36",
        "--labels=topology.kubernetes.io/zone=us-east-1c",
    ]);
    sb.kubectl(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    sb.kubectl(&["wait", "--for=condition=Ready", "pod/solo", "--timeout=20s"]);

    let web = sb.wait_listening("web-", 1);
    let (name, (addr, zone)) = web.iter().next().unwrap();
    assert!(addr.ends_with(":8080"), "{addr}");
    assert_eq!(
        body(addr),
        format!("{name} (default) in primary {zone}: nginx:1.27\n")
    );

    let solo = sb.wait_listening("solo", 1);
    let (addr, zone) = &solo["solo"];
    assert_eq!(zone, "us-east-1c");
    assert_eq!(
        body(addr),
        "solo (default) in primary us-east-1c: busybox:1.36\n"
    );
    let (_, head) = curl(addr, &["-I"]);
    assert!(head.contains("content-type: text/plain"), "{head}");

    // A deleted pod stops answering.
    sb.kubectl(&["delete", "pod", "solo", "--wait=false"]);
    eventually("solo refusing connections", || curl(addr, &[]).0 == 7);
    assert!(sb.listening("solo").is_empty());
}
