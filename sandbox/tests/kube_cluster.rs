//! The emulated Kubernetes API driven by the stock kubectl and by raw HTTP: the
//! tutorial's flow, the Load Balancer Controller stand-in, Status errors, the patch
//! types, selectors, watches, CRDs and persistence across a restart.

#[path = "kube/harness.rs"]
mod harness;

use harness::{Sandbox, fixture};
use serde_json::{Value, json};

#[test]
fn tutorial_flow_with_stock_kubectl() {
    let sb = Sandbox::start();
    sb.ok(&["apply", "-f", &fixture("lbc_standin.yaml")]);
    sb.ok(&[
        "-n",
        "kube-system",
        "rollout",
        "status",
        "deployment/aws-load-balancer-controller",
        "--timeout=20s",
    ]);

    let out = sb.ok(&["apply", "-f", &fixture("sample_application.yaml")]);
    assert!(out.contains("deployment.apps/py-az created"), "{out}");
    assert!(out.contains("service/py-az created"), "{out}");
    assert!(
        out.contains("ingress.networking.k8s.io/py-az-ingress created"),
        "{out}"
    );
    let out = sb.ok(&["rollout", "status", "deployment/py-az", "--timeout=20s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    sb.ok(&[
        "wait",
        "--for=condition=Available",
        "deployment/py-az",
        "--timeout=20s",
    ]);

    // The Ingress gets the ALB's hostname once the (fake) ALB is provisioned.
    let mut host = String::new();
    sb.eventually("the ingress hostname", || {
        host = sb.ok(&[
            "get",
            "ingress",
            "py-az-ingress",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].hostname}",
        ]);
        !host.is_empty()
    });
    assert!(host.ends_with(".us-east-1.elb.amazonaws.com"), "{host}");
    let req = sb.lbs.requests.lock().unwrap()[0].clone();
    assert_eq!(req.scheme, "internet-facing");
    assert_eq!(req.tags["elbv2.k8s.aws/cluster"], "primary");
    assert_eq!(req.tags["ingress.k8s.aws/stack"], "default/py-az-ingress");

    // The NodePort service got a node port and endpoints from the ready pod.
    let np = sb.ok(&[
        "get",
        "svc",
        "py-az",
        "-o",
        "jsonpath={.spec.ports[0].nodePort}",
    ]);
    let np: u16 = np.parse().unwrap();
    assert!((30000..=32767).contains(&np));
    sb.eventually("endpoints", || {
        sb.ok(&[
            "get",
            "endpoints",
            "py-az",
            "-o",
            "jsonpath={.subsets[0].addresses[0].ip}",
        ])
        .starts_with("10.")
    });
    assert_eq!(
        sb.ok(&[
            "get",
            "endpoints",
            "py-az",
            "-o",
            "jsonpath={.subsets[0].ports[0].port}"
        ]),
        "5000"
    );

    // kubectl get prints the server's table.
    let table = sb.ok(&["get", "deploy"]);
    assert!(
        table.contains("READY") && table.contains("py-az") && table.contains("1/1"),
        "{table}"
    );

    // Scale to 0 and back, as the failover drill does.
    sb.ok(&["scale", "deployment", "py-az", "--replicas=0"]);
    sb.eventually("no pods", || {
        sb.ok(&["get", "pods", "-l", "app=py-az", "-o", "name"])
            .trim()
            .is_empty()
    });
    sb.ok(&["rollout", "status", "deployment/py-az", "--timeout=20s"]);
    sb.eventually("empty endpoints", || {
        sb.ok(&["get", "endpoints", "py-az", "-o", "jsonpath={.subsets}"])
            .trim()
            .is_empty()
            || sb
                .ok(&["get", "endpoints", "py-az", "-o", "jsonpath={.subsets}"])
                .trim()
                == "[]"
    });
    sb.ok(&["scale", "deployment", "py-az", "--replicas=3"]);
    sb.ok(&["rollout", "status", "deployment/py-az", "--timeout=20s"]);
    sb.ok(&[
        "wait",
        "--for=condition=Available",
        "deployment/py-az",
        "--timeout=20s",
    ]);
    let pods = sb.ok(&["get", "pods", "-l", "app=py-az", "-o", "name"]);
    assert_eq!(pods.lines().count(), 3, "{pods}");

    // Delete everything the manifest created; the ALB goes with the Ingress.
    let out = sb.ok(&[
        "delete",
        "-f",
        &fixture("sample_application.yaml"),
        "--timeout=20s",
    ]);
    assert!(
        out.contains("ingress.networking.k8s.io \"py-az-ingress\" deleted"),
        "{out}"
    );
    sb.eventually("pods gone", || {
        sb.ok(&["get", "pods", "-o", "name"]).trim().is_empty()
    });
    assert!(sb.ok(&["get", "rs", "-o", "name"]).trim().is_empty());
    let calls = sb.calls();
    let first_delete = calls
        .iter()
        .position(|c| c.starts_with("delete"))
        .expect("the ALB was deleted");
    assert!(
        calls[..first_delete]
            .iter()
            .any(|c| c == "ensure primary/default/py-az-ingress"),
        "{calls:?}"
    );
    assert_eq!(calls[first_delete], "delete primary/default/py-az-ingress");
}

#[test]
fn without_the_controller_an_ingress_gets_no_address() {
    let sb = Sandbox::start();
    sb.ok(&["apply", "-f", &fixture("sample_application.yaml")]);
    sb.ok(&[
        "wait",
        "--for=condition=Available",
        "deployment/py-az",
        "--timeout=20s",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let host = sb.ok(&[
        "get",
        "ingress",
        "py-az-ingress",
        "-o",
        "jsonpath={.status.loadBalancer.ingress}",
    ]);
    assert_eq!(host.trim(), "");
    assert!(sb.calls().is_empty());
    // And deleting it does not wait for a controller that is not there.
    sb.ok(&["delete", "ingress", "py-az-ingress", "--timeout=20s"]);
}

fn body(v: Value) -> String {
    v.to_string()
}

#[test]
fn status_errors() {
    let sb = Sandbox::start();
    let cm = "/api/v1/namespaces/default/configmaps";
    let (code, s) = sb.curl("GET", &format!("{cm}/nope"), "", "");
    assert_eq!(code, 404);
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["reason"], "NotFound");
    assert_eq!(s["message"], "configmaps \"nope\" not found");

    let (code, created) = sb.curl(
        "POST",
        cm,
        "application/json",
        &body(json!({"metadata": {"name": "c1"}, "data": {"a": "1"}})),
    );
    assert_eq!(code, 201, "{created}");
    assert!(created["metadata"]["uid"].as_str().unwrap().len() == 36);
    let (code, s) = sb.curl(
        "POST",
        cm,
        "application/json",
        &body(json!({"metadata": {"name": "c1"}})),
    );
    assert_eq!((code, s["reason"].as_str()), (409, Some("AlreadyExists")));

    // A stale resourceVersion is a Conflict; the current one wins.
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let put = |rv: &str, v: &str| {
        sb.curl(
            "PUT",
            &format!("{cm}/c1"),
            "application/json",
            &body(json!({"metadata": {"name": "c1", "resourceVersion": rv}, "data": {"a": v}})),
        )
    };
    let (code, updated) = put(&rv, "2");
    assert_eq!(code, 200, "{updated}");
    let (code, s) = put(&rv, "3");
    assert_eq!((code, s["reason"].as_str()), (409, Some("Conflict")));

    // 422 Invalid with causes.
    let (code, s) = sb.curl(
        "POST",
        cm,
        "application/json",
        &body(json!({"metadata": {"labels": {"a": "bad value!"}}})),
    );
    assert_eq!((code, s["reason"].as_str()), (422, Some("Invalid")), "{s}");
    let fields: Vec<&str> = s["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["metadata.name", "metadata.labels"]);
    let (code, s) = sb.curl("POST", "/apis/apps/v1/namespaces/default/deployments", "application/json",
        &body(json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})));
    assert_eq!(code, 422);
    assert_eq!(
        s["details"]["causes"][0]["field"],
        "spec.template.metadata.labels"
    );

    // Malformed bodies are 400, unknown paths 404, wrong methods 405, huge bodies 413.
    let (code, s) = sb.curl("POST", cm, "application/json", "{not json");
    assert_eq!((code, s["reason"].as_str()), (400, Some("BadRequest")));
    let (code, _) = sb.curl(
        "PATCH",
        &format!("{cm}/c1"),
        "application/merge-patch+json",
        "[1,",
    );
    assert_eq!(code, 400);
    let (code, _) = sb.curl("PATCH", &format!("{cm}/c1"), "text/plain", "{}");
    assert_eq!(code, 415);
    let (code, _) = sb.curl("GET", "/apis/nope.example.com/v1/things", "", "");
    assert_eq!(code, 404);
    let (code, _) = sb.curl("PUT", cm, "application/json", "{}");
    assert_eq!(code, 405);
    let huge = format!(
        "{{\"metadata\":{{\"name\":\"big\"}},\"data\":{{\"a\":\"{}\"}}}}",
        "x".repeat(4 << 20)
    );
    let path = sb.dir.path().join("huge.json");
    std::fs::write(&path, huge).unwrap();
    let (code, _) = sb.curl(
        "POST",
        cm,
        "application/json",
        &format!("@{}", path.display()),
    );
    assert_eq!(code, 413);
    // The namespace must exist.
    let (code, _) = sb.curl(
        "POST",
        "/api/v1/namespaces/nowhere/configmaps",
        "application/json",
        &body(json!({"metadata": {"name": "x"}})),
    );
    assert_eq!(code, 404);
}
