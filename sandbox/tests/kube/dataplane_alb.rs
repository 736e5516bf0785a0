//! ALBs answering on loopback through a whole in-process sandbox, driven by the stock
//! kubectl, aws and curl: the tutorial app behind its Ingress answers through the ALB;
//! scaling to zero makes the ALB answer ELB's 502 and the targets unhealthy after
//! interval x threshold; scaling back makes them healthy and answering again.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::one_cluster::Sb;
use serde_json::Value;

const BAD_GATEWAY: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";

/// curl: status code, headers and body.
fn curl(addr: &str) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "5", "-i"])
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

#[test]
fn alb_proxies_to_healthy_targets_and_answers_502_without_them() {
    let sb = Sb::start();
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
