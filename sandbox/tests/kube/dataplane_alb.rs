//! ALBs answering on loopback through a whole in-process sandbox, driven by the stock
//! kubectl, aws and curl: the tutorial app behind its Ingress answers through the ALB;
//! scaling to zero makes the ALB answer ELB's 502 and the targets unhealthy after
//! interval x threshold; scaling back makes them healthy and answering again. Requests
//! RFC 9112 or the ALB's header limits make errors get the ALB's own 400 or 501 and a
//! close, sent by curl where curl can send them and over raw sockets where it cannot;
//! clients trickling their heads are closed at the header deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::one_cluster::Sb;
use runner_sandbox::serving::slow_client;
use serde_json::Value;

const BAD_GATEWAY: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";

/// curl: status code, headers and body.
fn curl(addr: &str) -> (u16, String, String) {
    curl_with(addr, &[])
}

/// curl with `extra` arguments: status code, headers (lowercased) and body.
fn curl_with(addr: &str, extra: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "5", "-i"])
        .args(extra)
        .arg(format!("http://{addr}/"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// Sends `raw` on a new connection and reads until the ALB closes it (at most 5 s).
fn raw_exchange(addr: &str, raw: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The ALB may refuse before it has read everything: a failed write is fine.
    let _ = c.write_all(raw);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("the ALB did not close the connection: {got:?}")
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
    start.elapsed()
}

const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: py-az, labels: {app: py-az}}
spec:
  replicas: 2
  selector: {matchLabels: {app: py-az}}
  template:
    metadata: {labels: {app: py-az}}
    spec:
      containers:
      - {name: eks-py-az, image: public.ecr.aws/b5x3e7x1/eks-py-az, ports: [{containerPort: 5000}]}
---
apiVersion: v1
kind: Service
metadata: {name: py-az}
spec:
  selector: {app: py-az}
  ports: [{port: 80, targetPort: 5000}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: py-az-ingress
  annotations:
    alb.ingress.kubernetes.io/scheme: internet-facing
    alb.ingress.kubernetes.io/target-type: ip
    alb.ingress.kubernetes.io/healthcheck-interval-seconds: "5"
    alb.ingress.kubernetes.io/healthy-threshold-count: "2"
    alb.ingress.kubernetes.io/unhealthy-threshold-count: "2"
spec:
  ingressClassName: alb
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: py-az, port: {number: 80}}}}
"#;

/// Installs the controller stand-in and the tutorial app behind its Ingress.
fn install_app(sb: &Sb) {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kube/lbc_standin.yaml");
    sb.kubectl(&["apply", "-f", fixture]);
    sb.kubectl(&[
        "wait",
        "-n",
        "kube-system",
        "--for=condition=Available",
        "--timeout=20s",
        "deployment/aws-load-balancer-controller",
    ]);
    let app = sb.dir.path().join("app.yaml");
    std::fs::write(&app, APP).unwrap();
    sb.kubectl(&["apply", "-f", app.to_str().unwrap()]);
}

/// Where the load balancer `name` listens, once it answers HTTP with `status`.
fn alb_answering(sb: &Sb, name: &str, status: u16) -> String {
    let mut listen = String::new();
    eventually("the ALB's listener", Duration::from_secs(20), || {
        listen = sb
            .handle()
            .aws()
            .snapshot()
            .elbv2
            .load_balancers
            .iter()
            .find(|lb| lb.name.starts_with(name))
            .and_then(|lb| lb.listen.clone())
            .unwrap_or_default();
        !listen.is_empty() && curl(&listen).0 == status
    });
    listen
}

#[test]
fn alb_proxies_to_healthy_targets_and_answers_502_without_them() {
    let sb = Sb::start();
    install_app(&sb);

    // The ALB, its target group and listener, through the stock CLI.
    let mut lb_arn = String::new();
    eventually("the ALB", Duration::from_secs(10), || {
        let v = sb.aws(&["elbv2", "describe-load-balancers"]);
        lb_arn = v["LoadBalancers"][0]["LoadBalancerArn"]
            .as_str()
            .unwrap_or("")
            .into();
        !lb_arn.is_empty()
    });
    let mut tg = Value::Null;
    eventually("the target group", Duration::from_secs(10), || {
        let v = sb.aws(&[
            "elbv2",
            "describe-target-groups",
            "--load-balancer-arn",
            &lb_arn,
        ]);
        tg = v["TargetGroups"][0].clone();
        !tg.is_null()
    });
    assert!(
        tg["TargetGroupName"]
            .as_str()
            .unwrap()
            .starts_with("k8s-default-pyaz-"),
        "{tg}"
    );
    assert_eq!(tg["Port"], 5000);
    assert_eq!(tg["TargetType"], "ip");
    assert_eq!(tg["HealthCheckIntervalSeconds"], 5);
    assert_eq!(tg["HealthCheckPath"], "/");
    let tg_arn = tg["TargetGroupArn"].as_str().unwrap().to_string();
    let listeners = sb.aws(&[
        "elbv2",
        "describe-listeners",
        "--load-balancer-arn",
        &lb_arn,
    ]);
    assert_eq!(listeners["Listeners"][0]["Port"], 80, "{listeners}");
    assert_eq!(
        listeners["Listeners"][0]["DefaultActions"][0]["TargetGroupArn"],
        tg_arn.as_str()
    );

    let states = || -> Vec<String> {
        let v = sb.aws(&[
            "elbv2",
            "describe-target-health",
            "--target-group-arn",
            &tg_arn,
        ]);
        v["TargetHealthDescriptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["TargetHealth"]["State"].as_str().unwrap().to_string())
            .collect()
    };
    eventually("2 healthy targets", Duration::from_secs(20), || {
        states() == ["healthy", "healthy"]
    });
    let listen = sb.handle().aws().snapshot().elbv2.load_balancers[0]
        .listen
        .clone()
        .expect("a listen address");
    let (status, head, body) = curl(&listen);
    assert_eq!(status, 200, "{head}{body}");
    assert!(body.starts_with("Welcome to us-east-1"), "{body}");
    assert!(
        head.contains("x-sandbox-alb: k8s-default-pyazingr-"),
        "{head}"
    );

    // No pods: 502 from the ALB itself, and the targets fail their checks.
    sb.kubectl(&["scale", "deployment", "py-az", "--replicas=0"]);
    eventually("a 502", Duration::from_secs(10), || curl(&listen).0 == 502);
    let (_, head, body) = curl(&listen);
    assert_eq!(body, BAD_GATEWAY);
    assert!(head.contains("server: awselb/2.0"), "{head}");
    let took = eventually("unhealthy targets", Duration::from_secs(20), || {
        let s = states();
        !s.is_empty() && s.iter().all(|s| s == "unhealthy")
    });
    assert!(took <= Duration::from_secs(16), "took {took:?}");

    // Back: healthy and answering again.
    sb.kubectl(&["scale", "deployment", "py-az", "--replicas=2"]);
    eventually("healthy targets again", Duration::from_secs(20), || {
        states().iter().filter(|s| *s == "healthy").count() == 2
    });
    let (status, _, body) = curl(&listen);
    assert_eq!(status, 200);
    assert!(body.starts_with("Welcome to us-east-1"), "{body}");
}

#[test]
fn alb_refuses_what_rfc_9112_and_its_header_limits_make_errors_with_400_or_501_and_a_close() {
    let sb = Sb::start();
    install_app(&sb);
    // A request the ALB accepts reaches a pod (200); one it refuses gets its 400/501.
    let listen = alb_answering(&sb, "k8s-default-pyazingr-", 200);
    let big = sb.dir.path().join("big-header");
    std::fs::write(&big, format!("X-Big: {}", "b".repeat(70 * 1024))).unwrap();
    let big = format!("@{}", big.display());
    let sent_by_curl: [(&str, &[&str], u16); 8] = [
        (
            "chunked beside Content-Length",
            &[
                "-H",
                "Transfer-Encoding: chunked",
                "-H",
                "Content-Length: 3",
                "--data-binary",
                "abc",
            ],
            400,
        ),
        (
            "Content-Length +5",
            &["-H", "Content-Length: +5", "--data-binary", "hello"],
            400,
        ),
        (
            "Content-Length -1",
            &["-H", "Content-Length: -1", "--data-binary", "hello"],
            400,
        ),
        (
            "Transfer-Encoding gzip",
            &["-H", "Transfer-Encoding: gzip"],
            501,
        ),
        (
            "Transfer-Encoding identity",
            &["-H", "Transfer-Encoding: identity"],
            501,
        ),
        (
            "chunked not the final coding",
            &[
                "-H",
                "Transfer-Encoding: chunked, gzip",
                "--data-binary",
                "abc",
            ],
            400,
        ),
        ("HTTP/1.1 without Host", &["-H", "Host:"], 400),
        ("a 70 KiB header", &["-H", &big], 400),
    ];
    for (what, args, want) in sent_by_curl {
        let (status, head, _) = curl_with(&listen, args);
        assert_eq!(status, want, "{what}: {head}");
        assert!(head.contains("\r\nconnection: close"), "{what}: {head}");
        assert!(head.contains("\r\nserver: awselb/2.0"), "{what}: {head}");
    }
    // HTTP/1.0 needs no Host; the same bodies framed right are forwarded.
    assert_eq!(curl_with(&listen, &["--http1.0", "-H", "Host:"]).0, 200);
    let chunked = ["-H", "Transfer-Encoding: chunked", "--data-binary", "abc"];
    assert_eq!(
        curl_with(&listen, &chunked).0,
        405,
        "the pod's own answer to POST"
    );
    // TLS to the HTTP listener: curl reads the plain-text 400 as a broken handshake and
    // fails at once (35), where it used to wait for an answer that never came (28).
    let tls = Command::new("curl")
        .args(["-s", "-k", "-m", "5"])
        .arg(format!("https://{listen}/"))
        .status()
        .unwrap();
    assert_eq!(tls.code(), Some(35));

    let sent_raw: [(&str, &[u8], &str); 6] = [
        ("two Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"),
        ("an obsolete line folding", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n", "400"),
        ("whitespace before a colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "400"),
        ("GARBAGE", b"GARBAGE\r\n\r\n", "400"),
        ("binary", b"\x00\xff\x13\x37\x80\x7f", "400"),
        (
            "a chunk size that is not hex",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            "400",
        ),
    ];
    for (what, raw, want) in sent_raw {
        let got = raw_exchange(&listen, raw);
        assert!(
            got.starts_with(&format!("HTTP/1.1 {want} ")),
            "{what}: {got:?}"
        );
        assert!(got.contains("\r\nConnection: close\r\n"), "{what}: {got:?}");
    }
}

#[test]
fn alb_closes_clients_trickling_their_heads_at_its_header_deadline_while_serving_others() {
    let sb = Sb::start_with(|cfg| cfg.dataplane.alb.header_timeout = Duration::from_secs(1));
    install_app(&sb);
    // Registered targets answer before their checks pass (fail-open).
    let listen = alb_answering(&sb, "k8s-default-pyazingr-", 200);
    let addr: SocketAddr = listen.parse().unwrap();
    sb.rt.block_on(async {
        let head = b"GET / HTTP/1.1\r\nHost: shop.example.com\r\nX-Pad: 0123\r\n\r\n";
        let slow = slow_client::trickle_many(50, addr, head, Duration::from_millis(200));
        for _ in 0..10 {
            let l = listen.clone();
            let (status, _, body) = tokio::task::spawn_blocking(move || curl(&l)).await.unwrap();
            assert_eq!(status, 200, "{body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        slow_client::assert_all_cut_at(slow, head.len(), Duration::from_secs(1)).await;
    });
}
