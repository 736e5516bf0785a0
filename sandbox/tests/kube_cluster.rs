//! The emulated Kubernetes API driven by the stock kubectl and by raw HTTP: the
//! tutorial's flow, the Load Balancer Controller stand-in, Status errors, the patch
//! types, selectors, watches, CRDs and persistence across a restart.

#[path = "kube/dataplane_alb.rs"]
mod dataplane_alb;
#[path = "kube/dataplane_pods.rs"]
mod dataplane_pods;
#[path = "kube/harness.rs"]
mod harness;
#[path = "kube/one_cluster.rs"]
mod one_cluster;

/// Named `kube` so that `cargo test -p runner-sandbox kube` selects every test here.
mod kube {
    use super::harness::{Sandbox, fixture};
    use serde_json::{Value, json};

    /// Polls `check` every 50 ms for up to 10 s.
    fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !check() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "timed out waiting for {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// A namespace that another finalizer holds is emptied, then stays Terminating
    /// (refusing new content with 403) until that finalizer is removed, as on a real
    /// cluster: it is not deleted at once.
    #[test]
    fn a_namespace_held_by_a_finalizer_stays_terminating_until_released() {
        let sb = Sandbox::start();
        let (code, _) = sb.curl(
            "POST",
            "/api/v1/namespaces",
            "application/json",
            r#"{"metadata":{"name":"held","finalizers":["example.com/keep"]}}"#,
        );
        assert_eq!(code, 201);
        sb.ok(&[
            "-n",
            "held",
            "create",
            "configmap",
            "c",
            "--from-literal=a=b",
        ]);
        sb.ok(&["delete", "namespace", "held", "--wait=false"]);
        eventually("the namespace's content to go", || {
            sb.curl("GET", "/api/v1/namespaces/held/configmaps/c", "", "")
                .0
                == 404
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        let (code, ns) = sb.curl("GET", "/api/v1/namespaces/held", "", "");
        assert_eq!(code, 200, "{ns}");
        assert_eq!(ns["status"]["phase"], "Terminating", "{ns}");
        let (code, status) = sb.curl(
            "POST",
            "/api/v1/namespaces/held/configmaps",
            "application/json",
            r#"{"metadata":{"name":"late"}}"#,
        );
        assert_eq!(code, 403, "{status}");
        assert!(
            status["message"]
                .as_str()
                .unwrap()
                .contains("because it is being terminated"),
            "{status}"
        );
        let (code, _) = sb.curl(
            "PATCH",
            "/api/v1/namespaces/held",
            "application/merge-patch+json",
            r#"{"metadata":{"finalizers":null}}"#,
        );
        assert_eq!(code, 200);
        eventually("the released namespace to go", || {
            sb.curl("GET", "/api/v1/namespaces/held", "", "").0 == 404
        });
    }

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

        // EndpointSlices too, which kubectl describe reads.
        let slice = sb.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=py-az",
            "-o",
            "jsonpath={.items[0].endpoints[0].conditions.ready} {.items[0].ports[0].port}",
        ]);
        assert_eq!(slice, "true 5000");
        let described = sb.ok(&["describe", "svc", "py-az"]);
        assert!(
            described.contains("Endpoints:                10.244."),
            "{described}"
        );
        let wide = sb.ok(&["get", "pods", "-o", "wide"]);
        assert!(
            wide.contains("10.244.") && wide.contains("sandbox-primary-node"),
            "{wide}"
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

        // A new image rolls out through a new ReplicaSet within the surge limits.
        sb.ok(&[
            "set",
            "image",
            "deployment/py-az",
            "eks-py-az=public.ecr.aws/b5x3e7x1/eks-py-az:v2",
        ]);
        let out = sb.ok(&["rollout", "status", "deployment/py-az", "--timeout=20s"]);
        assert!(out.contains("successfully rolled out"), "{out}");
        let images = sb.ok(&[
            "get",
            "pods",
            "-l",
            "app=py-az",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ]);
        assert_eq!(
            images.split(' ').filter(|i| i.ends_with(":v2")).count(),
            3,
            "{images}"
        );
        let rs = sb.ok(&["get", "rs", "-o", "jsonpath={.items[*].spec.replicas}"]);
        let mut rs: Vec<&str> = rs.split(' ').collect();
        rs.sort();
        assert_eq!(rs, ["0", "3"]);
        let history = sb.ok(&["rollout", "history", "deployment/py-az"]);
        assert!(history.contains('2'), "{history}");

        // Undo returns to the first ReplicaSet; a paused Deployment holds a new template.
        sb.ok(&["rollout", "undo", "deployment/py-az"]);
        sb.ok(&["rollout", "status", "deployment/py-az", "--timeout=20s"]);
        let image = "jsonpath={.spec.template.spec.containers[0].image}";
        assert_eq!(
            sb.ok(&["get", "deploy", "py-az", "-o", image]),
            "public.ecr.aws/b5x3e7x1/eks-py-az"
        );
        assert_eq!(sb.ok(&["get", "rs", "-o", "name"]).lines().count(), 2);
        sb.ok(&["rollout", "pause", "deployment/py-az"]);
        sb.ok(&[
            "set",
            "image",
            "deployment/py-az",
            "eks-py-az=public.ecr.aws/b5x3e7x1/eks-py-az:v3",
        ]);
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(sb.ok(&["get", "rs", "-o", "name"]).lines().count(), 2);
        sb.ok(&["rollout", "resume", "deployment/py-az"]);
        sb.ok(&["rollout", "status", "deployment/py-az", "--timeout=20s"]);
        assert_eq!(sb.ok(&["get", "rs", "-o", "name"]).lines().count(), 3);
        let events = sb.ok(&["get", "events"]);
        assert!(
            events.contains("ScalingReplicaSet") && events.contains("deployment/py-az"),
            "{events}"
        );

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

    #[test]
    fn an_ingress_leaving_class_alb_loses_its_alb() {
        let sb = Sandbox::start();
        sb.ok(&["apply", "-f", &fixture("lbc_standin.yaml")]);
        sb.ok(&["apply", "-f", &fixture("sample_application.yaml")]);
        let host = "jsonpath={.status.loadBalancer.ingress[0].hostname}";
        sb.eventually("the ingress hostname", || {
            !sb.ok(&["get", "ingress", "py-az-ingress", "-o", host])
                .is_empty()
        });
        assert_eq!(
            sb.ok(&[
                "get",
                "ingress",
                "py-az-ingress",
                "-o",
                "jsonpath={.metadata.finalizers}"
            ]),
            r#"["ingress.k8s.aws/resources"]"#
        );
        sb.ok(&[
            "patch",
            "ingress",
            "py-az-ingress",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"ingressClassName":"nginx"}}"#,
        ]);
        sb.eventually("the ALB to go", || {
            sb.calls().iter().any(|c| c.starts_with("delete"))
        });
        sb.eventually("the address to go", || {
            sb.ok(&["get", "ingress", "py-az-ingress", "-o", host])
                .is_empty()
        });
        assert_eq!(
            sb.ok(&[
                "get",
                "ingress",
                "py-az-ingress",
                "-o",
                "jsonpath={.metadata.finalizers}"
            ]),
            ""
        );
        // kubectl create ingress (protobuf on the wire) works too.
        sb.ok(&[
            "create",
            "ingress",
            "made",
            "--class=alb",
            "--rule=example.com/*=py-az:80",
        ]);
        let backend = sb.ok(&[
            "get",
            "ingress",
            "made",
            "-o",
            "jsonpath={.spec.rules[0].host} {.spec.rules[0].http.paths[0].backend.service.name}",
        ]);
        assert_eq!(backend, "example.com py-az");
        sb.eventually("the second ALB", || {
            !sb.ok(&["get", "ingress", "made", "-o", host]).is_empty()
        });
    }

    #[test]
    fn jobs_run_to_completion() {
        let sb = Sandbox::start();
        sb.ok(&[
            "create",
            "job",
            "hello",
            "--image=busybox:1.36",
            "--",
            "echo",
            "hi",
        ]);
        sb.ok(&[
            "wait",
            "--for=condition=complete",
            "job/hello",
            "--timeout=20s",
        ]);
        let table = sb.ok(&["get", "jobs"]);
        assert!(
            table.contains("Complete") && table.contains("1/1"),
            "{table}"
        );
        let phase = sb.ok(&[
            "get",
            "pods",
            "-l",
            "job-name=hello",
            "-o",
            "jsonpath={.items[*].status.phase}",
        ]);
        assert_eq!(phase, "Succeeded");
        // Three completions, two at a time.
        let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: batch\nspec:\n  completions: 3\n  parallelism: 2\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox:1.36\n";
        let path = sb.dir.path().join("job.yaml");
        std::fs::write(&path, job).unwrap();
        sb.ok(&["apply", "-f", path.to_str().unwrap()]);
        sb.ok(&[
            "wait",
            "--for=condition=complete",
            "job/batch",
            "--timeout=20s",
        ]);
        assert_eq!(
            sb.ok(&["get", "job", "batch", "-o", "jsonpath={.status.succeeded}"]),
            "3"
        );
        // A Job's pods may not restart forever.
        std::fs::write(
            &path,
            job.replace("Never", "Always")
                .replace("name: batch", "name: bad"),
        )
        .unwrap();
        let (ok, _, err) = sb.kubectl(&["apply", "-f", path.to_str().unwrap()]);
        assert!(
            !ok && err.contains("spec.template.spec.restartPolicy: Unsupported value"),
            "{err}"
        );
        sb.ok(&["delete", "job", "hello", "batch", "--timeout=20s"]);
        sb.eventually("the job pods to go", || {
            sb.ok(&["get", "pods", "-o", "name"]).trim().is_empty()
        });
    }

    #[test]
    fn stateful_sets_and_daemon_sets_roll_out() {
        let sb = Sandbox::start();
        sb.ok(&["apply", "-f", &fixture("sets.yaml")]);
        sb.ok(&["rollout", "status", "statefulset/db", "--timeout=20s"]);
        sb.ok(&["rollout", "status", "daemonset/agent", "--timeout=20s"]);
        let names = sb.ok(&[
            "get",
            "pods",
            "-l",
            "app=db",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]);
        assert_eq!(names, "db-0 db-1 db-2");
        assert_eq!(
            sb.ok(&["get", "pods", "-l", "app=agent", "-o", "name"])
                .lines()
                .count(),
            1
        );
        sb.ok(&["set", "image", "statefulset/db", "db=postgres:17"]);
        sb.ok(&["rollout", "status", "statefulset/db", "--timeout=20s"]);
        let images = sb.ok(&[
            "get",
            "pods",
            "-l",
            "app=db",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ]);
        assert_eq!(images, "postgres:17 postgres:17 postgres:17");
        sb.ok(&["scale", "statefulset/db", "--replicas=1"]);
        sb.eventually("one db pod", || {
            sb.ok(&[
                "get",
                "pods",
                "-l",
                "app=db",
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ]) == "db-0"
        });
        sb.ok(&["set", "image", "daemonset/agent", "agent=busybox:1.37"]);
        sb.ok(&["rollout", "status", "daemonset/agent", "--timeout=20s"]);
        let image = sb.ok(&[
            "get",
            "pods",
            "-l",
            "app=agent",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ]);
        assert_eq!(image, "busybox:1.37");
        sb.ok(&["delete", "-f", &fixture("sets.yaml"), "--timeout=20s"]);
        sb.eventually("no pods", || {
            sb.ok(&["get", "pods", "-o", "name"]).trim().is_empty()
        });
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
        // Patches and deletes with a stale resourceVersion conflict too.
        let stale = format!(r#"{{"metadata":{{"resourceVersion":"{rv}"}},"data":{{"a":"4"}}}}"#);
        let (code, _) = sb.curl(
            "PATCH",
            &format!("{cm}/c1"),
            "application/merge-patch+json",
            &stale,
        );
        assert_eq!(code, 409);
        let precondition = format!(r#"{{"preconditions":{{"resourceVersion":"{rv}"}}}}"#);
        let (code, _) = sb.curl(
            "DELETE",
            &format!("{cm}/c1"),
            "application/json",
            &precondition,
        );
        assert_eq!(code, 409);
        let current = updated["metadata"]["resourceVersion"].as_str().unwrap();
        let ok = format!(r#"{{"metadata":{{"resourceVersion":"{current}"}},"data":{{"a":"5"}}}}"#);
        let (code, _) = sb.curl(
            "PATCH",
            &format!("{cm}/c1"),
            "application/merge-patch+json",
            &ok,
        );
        assert_eq!(code, 200);

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
        // Well-formed JSON of the wrong shape is a 4xx too, and the server stays up.
        let deploys = "/apis/apps/v1/namespaces/default/deployments";
        for (method, path, ct, body) in [
            (
                "POST",
                deploys,
                "application/json",
                r#"{"metadata":{"name":"s"},"spec":"x"}"#,
            ),
            ("POST", deploys, "application/json", r#"{"metadata":"x"}"#),
            ("POST", deploys, "application/json", r#"[1,2]"#),
            (
                "PATCH",
                "/api/v1/namespaces/default/configmaps/n?fieldManager=t",
                "application/apply-patch+yaml",
                r#"{"metadata":"x"}"#,
            ),
            (
                "PATCH",
                "/api/v1/namespaces/default/configmaps/c1",
                "application/json-patch+json",
                r#"{"op":"add"}"#,
            ),
            (
                "PUT",
                "/api/v1/namespaces/default/configmaps/c1",
                "application/json",
                r#"{"metadata":{"name":"other"}}"#,
            ),
        ] {
            let (code, s) = sb.curl(method, path, ct, body);
            assert!(
                (400..500).contains(&code),
                "{method} {path} {body}: {code} {s}"
            );
            assert_eq!(s["kind"], "Status", "{s}");
        }
        let (code, _) = sb.curl("GET", "/version", "", "");
        assert_eq!(code, 200);

        // kubectl's default validation is the server's strict decoding: typos are refused.
        let typo = std::fs::read_to_string(fixture("sample_application.yaml"))
            .unwrap()
            .replace("replicas: 1", "replica: 1")
            .replace("containerPort: 5000", "containerPrt: 5000");
        let path = sb.dir.path().join("typo.yaml");
        std::fs::write(&path, typo).unwrap();
        let (ok, _, err) = sb.kubectl(&["apply", "-f", path.to_str().unwrap()]);
        assert!(!ok);
        assert!(
            err.contains(r#"strict decoding error: unknown field "spec.replica""#),
            "{err}"
        );
        assert!(
            err.contains(
                r#"unknown field "spec.template.spec.containers[0].ports[0].containerPrt""#
            ),
            "{err}"
        );
        // Without validation the unknown fields are dropped, and the missing port is a 422.
        let (ok, _, err) = sb.kubectl(&["apply", "--validate=false", "-f", path.to_str().unwrap()]);
        assert!(
            !ok && err
                .contains("spec.template.spec.containers[0].ports[0].containerPort: Invalid value"),
            "{err}"
        );
        // The namespace must exist.
        let (code, _) = sb.curl(
            "POST",
            "/api/v1/namespaces/nowhere/configmaps",
            "application/json",
            &body(json!({"metadata": {"name": "x"}})),
        );
        assert_eq!(code, 404);
    }

    /// Server-side apply's field ownership through the stock kubectl: a field another
    /// manager set to another value is a conflict kubectl reports, `--force-conflicts`
    /// takes it over, an object managed by client-side apply moves to server-side apply
    /// (kubectl rewrites its managedFields with a JSON patch), and what an apply must or
    /// must not carry is refused with kube-apiserver's words.
    #[test]
    fn server_side_apply_conflicts_with_other_managers() {
        let sb = Sandbox::start();
        sb.ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=1",
        ]);
        let manifest = |replicas: u32, image: &str| {
            let text = format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: nginx\n        image: {image}\n"
            );
            let path = sb.dir.path().join(format!(
                "web-{replicas}-{}.yaml",
                image.replace([':', '/'], "-")
            ));
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        // The same values: shared with kubectl-create, no conflict.
        sb.ok(&["apply", "--server-side", "-f", &manifest(1, "nginx:1.27")]);
        // Other values: kubectl-create owns them.
        let (ok, _, err) =
            sb.kubectl(&["apply", "--server-side", "-f", &manifest(3, "nginx:1.28")]);
        assert!(!ok);
        assert!(
            err.contains(
                r#"Apply failed with 2 conflicts: conflicts with "kubectl-create" using apps/v1:"#
            ) && err.contains("- .spec.replicas")
                && err.contains(r#"- .spec.template.spec.containers[name="nginx"].image"#),
            "{err}"
        );
        assert_eq!(
            sb.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
            "1"
        );
        let (code, status) = sb.curl(
            "PATCH",
            "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=kubectl",
            "application/apply-patch+yaml",
            &body(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}})),
        );
        assert_eq!(code, 409, "{status}");
        assert_eq!(
            status,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Apply failed with 1 conflict: conflict with \"kubectl-create\" using apps/v1: .spec.replicas",
                "reason": "Conflict", "code": 409,
                "details": {"causes": [{"reason": "FieldManagerConflict",
                    "message": "conflict with \"kubectl-create\" using apps/v1", "field": ".spec.replicas"}]}})
        );
        // Forced, the fields change hands.
        sb.ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &manifest(3, "nginx:1.28"),
        ]);
        assert_eq!(
            sb.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
            "3"
        );
        let fields = |manager: &str| {
            let out = sb.ok(&[
                "get",
                "deploy",
                "web",
                "--show-managed-fields",
                "-o",
                "json",
            ]);
            let obj: Value = serde_json::from_str(&out).unwrap();
            obj["metadata"]["managedFields"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["manager"] == manager)
                .map(|e| e["fieldsV1"].clone())
        };
        let kubectl = fields("kubectl").unwrap();
        assert!(kubectl.pointer("/f:spec/f:replicas").is_some(), "{kubectl}");
        let creator = fields("kubectl-create").unwrap();
        assert!(creator.pointer("/f:spec/f:replicas").is_none(), "{creator}");
        assert!(creator.pointer("/f:spec/f:strategy").is_some(), "{creator}");
        // A scale takes replicas over, and the applier then conflicts with it.
        sb.ok(&["scale", "deployment", "web", "--replicas=2"]);
        let (ok, _, err) =
            sb.kubectl(&["apply", "--server-side", "-f", &manifest(3, "nginx:1.28")]);
        assert!(
            !ok && err.contains(r#"with subresource "scale" using apps/v1: .spec.replicas"#),
            "{err}"
        );

        // Client-side apply first, then server-side: the first server-side apply of the
        // same values succeeds, after which kubectl moves the ownership over (a JSON patch
        // of managedFields and resourceVersion), so a change no longer conflicts.
        let cm = sb.dir.path().join("cm.yaml");
        let write_cm = |a: &str| {
            std::fs::write(&cm, format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: moved\ndata:\n  a: \"{a}\"\n")).unwrap();
            cm.to_str().unwrap().to_string()
        };
        sb.ok(&["apply", "-f", &write_cm("1")]);
        let (ok, _, err) = sb.kubectl(&["apply", "--server-side", "-f", &write_cm("2")]);
        assert!(
            !ok && err.contains(r#"conflict with "kubectl-client-side-apply" using v1: .data.a"#),
            "{err}"
        );
        sb.ok(&["apply", "--server-side", "-f", &write_cm("1")]);
        sb.ok(&["apply", "--server-side", "-f", &write_cm("2")]);
        assert_eq!(
            sb.ok(&["get", "cm", "moved", "-o", "jsonpath={.data.a}"]),
            "2"
        );
        let managers = sb.ok(&[
            "get",
            "cm",
            "moved",
            "--show-managed-fields",
            "-o",
            "jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}",
        ]);
        assert!(managers.contains("kubectl/Apply"), "{managers}");
        assert!(
            !managers.contains("kubectl-client-side-apply"),
            "{managers}"
        );

        // What an apply must name, and what only an apply may carry.
        let cm_path = "/api/v1/namespaces/default/configmaps/moved";
        let config =
            body(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "moved"}}));
        for (query, ct, payload, code, message) in [
            (
                "",
                "application/apply-patch+yaml",
                config.as_str(),
                422,
                r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#,
            ),
            (
                "?force=false",
                "application/merge-patch+json",
                "{}",
                422,
                r#"PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch"#,
            ),
            (
                "?fieldManager=m&force=maybe",
                "application/apply-patch+yaml",
                config.as_str(),
                400,
                r#"strconv.ParseBool: parsing "maybe": invalid syntax"#,
            ),
            (
                "?fieldManager=m",
                "application/apply-patch+yaml",
                r#"{"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "moved"}}"#,
                400,
                "invalid object type: apps/v1, Kind=ConfigMap",
            ),
            (
                "?fieldManager=m",
                "application/apply-patch+yaml",
                r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "moved", "managedFields": []}}"#,
                400,
                "metadata.managedFields must be nil",
            ),
        ] {
            let (got, status) = sb.curl("PATCH", &format!("{cm_path}{query}"), ct, payload);
            assert_eq!(
                (got, status["message"].as_str()),
                (code, Some(message)),
                "{query} {payload}"
            );
        }
        let long = "m".repeat(129);
        let (got, status) = sb.curl(
            "PATCH",
            &format!("{cm_path}?fieldManager={long}"),
            "application/apply-patch+yaml",
            &config,
        );
        assert_eq!(
            (got, status["message"].as_str()),
            (
                422,
                Some(
                    r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes"#
                )
            )
        );
    }

    /// What kubectl shows for the refusals of typed decoding (a value of the wrong type,
    /// Secret data that is not base64) and of immutable fields, and that nothing of
    /// them is stored.
    #[test]
    fn kubectl_shows_typed_decoding_and_immutable_field_errors() {
        let sb = Sandbox::start();
        let write = |name: &str, text: &str| {
            let path = sb.dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let deploy = |replicas: &str, app: &str| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n      labels:\n        app: {app}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n        ports:\n        - containerPort: 80\n"
            )
        };
        let (ok, _, err) =
            sb.kubectl(&["apply", "-f", &write("typed.yaml", &deploy("\"3\"", "a"))]);
        assert!(!ok);
        assert!(
            err.contains(r#"Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"#),
            "{err}"
        );
        let (ok, _, _) = sb.kubectl(&["get", "deploy", "web"]);
        assert!(!ok, "the refused deployment was stored");
        let secret =
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  password: hunter2\n";
        let (ok, _, err) = sb.kubectl(&["apply", "-f", &write("secret.yaml", secret)]);
        assert!(
            !ok && err.contains(r#"Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4"#),
            "{err}"
        );
        sb.ok(&["apply", "-f", &write("web.yaml", &deploy("1", "a"))]);
        for flags in [&[][..], &["--server-side", "--force-conflicts"][..]] {
            let mut args = vec!["apply"];
            args.extend_from_slice(flags);
            let file = write("moved.yaml", &deploy("1", "b"));
            args.extend(["-f", file.as_str()]);
            let (ok, _, err) = sb.kubectl(&args);
            assert!(!ok, "{flags:?}");
            assert!(
                err.contains(r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"b"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#),
                "{flags:?}: {err}"
            );
        }
        assert_eq!(
            sb.ok(&[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.spec.selector.matchLabels.app}"
            ]),
            "a"
        );
    }

    #[test]
    fn every_patch_type() {
        let sb = Sandbox::start();
        sb.ok(&["create", "-f", &fixture("sample_application.yaml")]);
        sb.ok(&["apply", "-f", &fixture("crd.yaml")]);
        let cm = "/api/v1/namespaces/default/configmaps";
        let (code, _) = sb.curl(
            "POST",
            cm,
            "application/json",
            &body(json!({"metadata": {"name": "p"}, "data": {"a": "1", "b": "2"}})),
        );
        assert_eq!(code, 201);

        // JSON merge patch: null deletes.
        sb.ok(&[
            "patch",
            "configmap",
            "p",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"a":null,"c":"3"}}"#,
        ]);
        assert_eq!(
            sb.ok(&["get", "cm", "p", "-o", "jsonpath={.data}"]),
            r#"{"b":"2","c":"3"}"#
        );

        // JSON patch, and a failing test op leaves the object alone (422).
        sb.ok(&[
            "patch",
            "cm",
            "p",
            "--type",
            "json",
            "-p",
            r#"[{"op":"add","path":"/data/d","value":"4"},{"op":"remove","path":"/data/b"}]"#,
        ]);
        assert_eq!(
            sb.ok(&["get", "cm", "p", "-o", "jsonpath={.data}"]),
            r#"{"c":"3","d":"4"}"#
        );
        let (code, _) = sb.curl(
            "PATCH",
            &format!("{cm}/p"),
            "application/json-patch+json",
            r#"[{"op":"remove","path":"/data/c"},{"op":"test","path":"/data/d","value":"no"}]"#,
        );
        assert_eq!(code, 422);
        assert_eq!(sb.ok(&["get", "cm", "p", "-o", "jsonpath={.data.c}"]), "3");

        // Strategic merge patch: containers merge by name, `$patch: delete` removes one.
        sb.ok(&["patch", "deployment", "py-az", "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}"#]);
        let names = sb.ok(&[
            "get",
            "deploy",
            "py-az",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name}",
        ]);
        assert_eq!(names, "eks-py-az sidecar");
        assert_eq!(
            sb.ok(&[
                "get",
                "deploy",
                "py-az",
                "-o",
                "jsonpath={.metadata.generation}"
            ]),
            "2"
        );
        sb.ok(&[
        "patch",
        "deployment",
        "py-az",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}"#,
    ]);
        let names = sb.ok(&[
            "get",
            "deploy",
            "py-az",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name}",
        ]);
        assert_eq!(names, "eks-py-az");
        // A new template makes a new ReplicaSet; the old one is scaled down.
        sb.ok(&["rollout", "status", "deployment/py-az", "--timeout=20s"]);
        sb.eventually("two replica sets", || {
            sb.ok(&["get", "rs", "-o", "name"]).lines().count() >= 2
        });

        // Server-side apply creates, then merges; kubectl apply --server-side works too.
        let apply = |obj: Value| {
            sb.curl(
                "PATCH",
                "/api/v1/namespaces/default/configmaps/ssa?fieldManager=test&force=true",
                "application/apply-patch+yaml",
                &body(obj),
            )
        };
        let (code, o) = apply(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"x": "1"}}),
        );
        assert_eq!(code, 200, "{o}");
        let (code, o) = apply(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "labels": {"l": "v"}}, "data": {"y": "2"}}),
        );
        assert_eq!(code, 200, "{o}");
        // The same manager stopped sending data.x: it is gone (server-side apply semantics).
        assert_eq!(o["data"], json!({"y": "2"}));
        assert_eq!(o["metadata"]["managedFields"][0]["manager"], "test");
        // Fields an applier stops sending go away; other appliers' fields stay.
        let cm_yaml = |labels: &str, data: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\n  labels: {{{labels}}}\ndata: {{{data}}}\n"
            )
        };
        let path = sb.dir.path().join("owned.yaml");
        std::fs::write(&path, cm_yaml("a: \"1\", b: \"2\"", "k1: \"1\", k2: \"2\"")).unwrap();
        sb.ok(&["apply", "--server-side", "-f", path.to_str().unwrap()]);
        let other = path.with_file_name("other.yaml");
        std::fs::write(&other, cm_yaml("b: \"2\"", "")).unwrap();
        sb.ok(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            other.to_str().unwrap(),
        ]);
        std::fs::write(&path, cm_yaml("a: \"1\"", "k1: \"1\"")).unwrap();
        eprintln!(
            "{}",
            sb.ok(&["get", "cm", "owned", "--show-managed-fields", "-o", "json"])
        );
        sb.ok(&["apply", "--server-side", "-f", path.to_str().unwrap()]);
        assert_eq!(
            sb.ok(&["get", "cm", "owned", "-o", "jsonpath={.metadata.labels}"]),
            r#"{"a":"1","b":"2"}"#
        );
        assert_eq!(
            sb.ok(&["get", "cm", "owned", "-o", "jsonpath={.data}"]),
            r#"{"k1":"1"}"#
        );
        let managers = sb.ok(&[
            "get",
            "cm",
            "owned",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ]);
        // Appliers come first, oldest first, ties by name: both are here, whatever the clock.
        let mut managers: Vec<&str> = managers.split_whitespace().collect();
        managers.sort();
        assert_eq!(managers, ["kubectl", "other"]);

        let out = sb.ok(&[
            "apply",
            "--server-side",
            "-f",
            &fixture("sample_application.yaml"),
        ]);
        assert!(
            out.contains("deployment.apps/py-az serverside-applied"),
            "{out}"
        );

        // The status subresource: writes to the main resource keep the status, /status sets it.
        sb.ok(&["apply", "-f", &fixture("widget.yaml")]);
        let w = "/apis/example.com/v1/namespaces/default/widgets/gear";
        let (code, _) = sb.curl(
            "PATCH",
            w,
            "application/merge-patch+json",
            r#"{"status":{"phase":"x"},"spec":{"teeth":13}}"#,
        );
        assert_eq!(code, 200);
        let (code, o) = sb.curl(
            "PATCH",
            &format!("{w}/status"),
            "application/merge-patch+json",
            r#"{"status":{"phase":"Ready"}}"#,
        );
        assert_eq!(code, 200);
        assert_eq!(
            (o["status"]["phase"].as_str(), o["spec"]["teeth"].as_i64()),
            (Some("Ready"), Some(13))
        );

        // The scale subresource, and dry runs that store nothing.
        let (code, s) = sb.curl(
            "GET",
            "/apis/apps/v1/namespaces/default/deployments/py-az/scale",
            "",
            "",
        );
        assert_eq!(
            (code, s["kind"].as_str(), s["status"]["selector"].as_str()),
            (200, Some("Scale"), Some("app=py-az"))
        );
        let (code, _) = sb.curl(
            "POST",
            &format!("{cm}?dryRun=All"),
            "application/json",
            &body(json!({"metadata": {"name": "dry"}})),
        );
        assert_eq!(code, 201);
        let (code, _) = sb.curl("GET", &format!("{cm}/dry"), "", "");
        assert_eq!(code, 404);
    }

    #[test]
    fn label_and_field_selectors() {
        let sb = Sandbox::start();
        sb.ok(&["create", "namespace", "other"]);
        for (ns, name, env) in [
            ("default", "a", "prod"),
            ("default", "b", "dev"),
            ("default", "c", "test"),
            ("other", "d", "prod"),
        ] {
            let (code, _) = sb.curl(
                "POST",
                &format!("/api/v1/namespaces/{ns}/configmaps"),
                "application/json",
                &body(json!({"metadata": {"name": name, "labels": {"env": env, "team": "x"}}})),
            );
            assert_eq!(code, 201);
        }
        let names = |args: &[&str]| -> String {
            let mut a = vec!["get", "cm", "-o", "jsonpath={.items[*].metadata.name}"];
            a.extend_from_slice(args);
            sb.ok(&a)
        };
        assert_eq!(names(&["-l", "env=prod", "-A"]), "a d");
        assert_eq!(names(&["-l", "env in (dev,test)"]), "b c");
        assert_eq!(names(&["-l", "env notin (dev),team"]), "a c");
        assert_eq!(names(&["-l", "!team"]), "kube-root-ca.crt");
        assert_eq!(names(&["-l", "env!=prod,team=x"]), "b c");
        assert_eq!(names(&["--field-selector", "metadata.name=b"]), "b");
        assert_eq!(
            names(&[
                "--field-selector",
                "metadata.namespace!=default",
                "-A",
                "-l",
                "team"
            ]),
            "d"
        );
        let (ok, _, err) = sb.kubectl(&["get", "cm", "--field-selector", "spec.nope=1"]);
        assert!(!ok && err.contains("field label not supported"), "{err}");
        let (code, _) = sb.curl(
            "GET",
            "/api/v1/configmaps?labelSelector=env%20in%20(a",
            "",
            "",
        );
        assert_eq!(code, 400);

        // Paged lists: limit and continue, as kubectl --chunk-size and kube-rs pagers use.
        let (_, page) = sb.curl(
            "GET",
            "/api/v1/configmaps?labelSelector=team&limit=3",
            "",
            "",
        );
        assert_eq!(page["items"].as_array().unwrap().len(), 3);
        // With a selector kube-apiserver cannot count what remains, and says nothing.
        assert!(
            page["metadata"].get("remainingItemCount").is_none(),
            "{page}"
        );
        let token = page["metadata"]["continue"].as_str().unwrap();
        let (_, rest) = sb.curl(
            "GET",
            &format!("/api/v1/configmaps?labelSelector=team&limit=3&continue={token}"),
            "",
            "",
        );
        assert_eq!(rest["items"][0]["metadata"]["name"], "d");
        assert!(rest["metadata"].get("continue").is_none());
        let all = sb.ok(&[
            "get",
            "cm",
            "-A",
            "-l",
            "team",
            "--chunk-size=1",
            "-o",
            "name",
        ]);
        assert_eq!(all.lines().count(), 4, "{all}");

        // Deleting a namespace deletes what is in it, then the namespace.
        sb.ok(&[
            "-n",
            "other",
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
        ]);
        sb.ok(&[
            "-n",
            "other",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=20s",
        ]);
        let out = sb.ok(&["delete", "namespace", "other", "--timeout=20s"]);
        assert!(out.contains("namespace \"other\" deleted"), "{out}");
        let (ok, _, err) = sb.kubectl(&["get", "namespace", "other"]);
        assert!(!ok && err.contains("NotFound"), "{err}");
        assert!(
            sb.ok(&["get", "pods,cm,deploy", "-n", "other", "-o", "name"])
                .trim()
                .is_empty()
        );
        let (ok, _, err) = sb.kubectl(&["delete", "namespace", "default"]);
        assert!(!ok && err.contains("may not be deleted"), "{err}");

        // kube-rs' metadata API: objects reduced to metadata.
        let meta =
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        let (code, list) = sb.get_accept("/api/v1/namespaces/default/configmaps", meta);
        assert_eq!(
            (code, list["kind"].as_str()),
            (200, Some("PartialObjectMetadataList"))
        );
        assert!(
            list["items"][0].get("data").is_none()
                && list["items"][0]["metadata"]["name"].is_string()
        );
        let meta = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
        let (_, one) = sb.get_accept("/api/v1/namespaces/default/configmaps/a", meta);
        assert_eq!(one["kind"], "PartialObjectMetadata");
        assert_eq!(one["metadata"]["labels"]["env"], "prod");
        // Aggregated discovery, as kubectl asks for it.
        let agg =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        let (_, groups) = sb.get_accept("/apis", agg);
        assert_eq!(groups["kind"], "APIGroupDiscoveryList");
        let apps = groups["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let deploy = &apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap()
            .clone();
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        assert_eq!(deploy["subresources"][1]["responseKind"]["kind"], "Scale");

        // No authorization in the sandbox: every access review says yes.
        assert_eq!(
            sb.ok(&["auth", "can-i", "create", "deployments"]).trim(),
            "yes"
        );
        let rules = sb.ok(&["auth", "can-i", "--list"]);
        assert!(rules.contains("*.*"), "{rules}");
    }

    #[test]
    fn watch_streams_added_modified_deleted() {
        let sb = Sandbox::start();
        let cm = "/api/v1/namespaces/default/configmaps";
        let (_, list) = sb.curl("GET", cm, "", "");
        let rv = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(list["kind"], "ConfigMapList");

        // A live watch started before the changes.
        let live = sb.watch(&format!("{cm}?watch=true&resourceVersion={rv}"), 3);
        sb.curl(
            "POST",
            cm,
            "application/json",
            &body(json!({"metadata": {"name": "w"}, "data": {"a": "1"}})),
        );
        sb.ok(&[
            "patch",
            "cm",
            "w",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"a":"2"}}"#,
        ]);
        sb.ok(&["delete", "cm", "w"]);
        let events = |text: &str| -> Vec<(String, String)> {
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .map(|e| {
                    (
                        e["type"].as_str().unwrap().to_string(),
                        e["object"]["metadata"]["name"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                    )
                })
                .collect()
        };
        let expected: Vec<(String, String)> = ["ADDED", "MODIFIED", "DELETED"]
            .iter()
            .map(|t| (t.to_string(), "w".to_string()))
            .collect();
        assert_eq!(events(&live.join().unwrap()), expected);

        // Resuming from the same resourceVersion replays the same history.
        let (_, replay) = sb.curl(
            "GET",
            &format!("{cm}?watch=true&timeoutSeconds=1&resourceVersion={rv}"),
            "",
            "",
        );
        let text = match replay {
            Value::String(s) => s,
            v => v.to_string(),
        };
        assert_eq!(events(&text), expected);
        // With bookmarks allowed, a watch that times out ends with the latest resourceVersion.
        let (_, quiet) = sb.curl(
            "GET",
            &format!(
                "{cm}?watch=true&timeoutSeconds=1&allowWatchBookmarks=true&resourceVersion={rv}"
            ),
            "",
            "",
        );
        let text = match quiet {
            Value::String(s) => s,
            v => v.to_string(),
        };
        let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["type"], "BOOKMARK");
        let bookmark_rv: u64 = last["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(bookmark_rv > rv.parse().unwrap());

        // With a selector, leaving the selection is a DELETED and entering it an ADDED.
        let live = sb.watch(&format!("{cm}?watch=true&labelSelector=env%3Da"), 4);
        sb.curl(
            "POST",
            cm,
            "application/json",
            &body(json!({"metadata": {"name": "s", "labels": {"env": "a"}}})),
        );
        sb.ok(&["label", "cm", "s", "env=b", "--overwrite"]);
        sb.ok(&["label", "cm", "s", "other=x"]);
        sb.ok(&["label", "cm", "s", "env=a", "--overwrite"]);
        sb.ok(&["delete", "cm", "s"]);
        let kinds: Vec<String> = events(&live.join().unwrap())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kinds, ["ADDED", "DELETED", "ADDED", "DELETED"]);

        // kubectl's own watch: wait for deletion of something that goes away.
        sb.curl(
            "POST",
            cm,
            "application/json",
            &body(json!({"metadata": {"name": "gone"}})),
        );
        let waiter = {
            let kubeconfig = sb.kubeconfig.clone();
            std::thread::spawn(move || {
                std::process::Command::new("timeout")
                    .args(["20", "kubectl", "--kubeconfig"])
                    .arg(kubeconfig)
                    .args(["wait", "--for=delete", "configmap/gone", "--timeout=15s"])
                    .status()
                    .unwrap()
                    .success()
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(500));
        sb.ok(&["delete", "cm", "gone"]);
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn crds_and_custom_resources() {
        let sb = Sandbox::start();
        let out = sb.ok(&["apply", "-f", &fixture("crd.yaml")]);
        assert!(
            out.contains(
                "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
            ),
            "{out}"
        );
        sb.ok(&[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
            "--timeout=10s",
        ]);
        let out = sb.ok(&["apply", "-f", &fixture("widget.yaml")]);
        assert!(out.contains("widget.example.com/gear created"), "{out}");
        assert_eq!(
            sb.ok(&["get", "wd", "-o", "name"]).trim(),
            "widget.example.com/gear"
        );
        assert_eq!(
            sb.ok(&[
                "get",
                "widgets",
                "-l",
                "size=small",
                "-o",
                "jsonpath={.items[0].spec.teeth}"
            ]),
            "12"
        );
        let table = sb.ok(&["get", "widgets"]);
        assert!(table.contains("TEETH") && table.contains("12"), "{table}");
        let nodes = sb.ok(&["get", "nodes"]);
        assert!(nodes.contains("sandbox-primary-node   Ready"), "{nodes}");
        // Re-applying a changed manifest patches it (a merge patch: CRs have no strategic patch).
        let changed = std::fs::read_to_string(fixture("widget.yaml"))
            .unwrap()
            .replace("teeth: 12", "teeth: 14");
        let path = sb.dir.path().join("widget.yaml");
        std::fs::write(&path, changed).unwrap();
        let out = sb.ok(&["apply", "-f", path.to_str().unwrap()]);
        assert!(out.contains("configured"), "{out}");
        assert_eq!(
            sb.ok(&["get", "widget", "gear", "-o", "jsonpath={.spec.teeth}"]),
            "14"
        );
        // A cluster-scoped custom resource, as the controller's chart installs.
        let params = "apiVersion: elbv2.k8s.aws/v1beta1\nkind: IngressClassParams\nmetadata:\n  name: alb\nspec:\n  scheme: internet-facing\n";
        let path = sb.dir.path().join("params.yaml");
        std::fs::write(&path, params).unwrap();
        sb.ok(&["apply", "-f", path.to_str().unwrap()]);
        assert_eq!(
            sb.ok(&[
                "get",
                "ingressclassparams",
                "alb",
                "-o",
                "jsonpath={.spec.scheme}"
            ]),
            "internet-facing"
        );
        // A structural schema: defaults, types, enums, required fields, unknown fields.
        let gadget = |spec: &str| {
            let path = sb.dir.path().join("gadget.yaml");
            std::fs::write(
                &path,
                format!(
                    "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\nspec: {spec}\n"
                ),
            )
            .unwrap();
            path.to_str().unwrap().to_string()
        };
        sb.ok(&["apply", "-f", &gadget("{size: 3, parts: [a, b]}")]);
        assert_eq!(
            sb.ok(&["get", "gadget", "g", "-o", "jsonpath={.spec.color}"]),
            "red"
        );
        let (ok, _, err) = sb.kubectl(&["apply", "-f", &gadget("{size: big}")]);
        assert!(
            !ok && err.contains("spec.size in body must be of type integer"),
            "{err}"
        );
        let (ok, _, err) = sb.kubectl(&["apply", "-f", &gadget("{color: green}")]);
        assert!(
            !ok && err.contains("spec.size: Required value") && err.contains("supported values"),
            "{err}"
        );
        let (ok, _, err) = sb.kubectl(&["apply", "-f", &gadget("{size: 4, weight: 2}")]);
        assert!(
            !ok && err.contains(r#"unknown field "spec.weight""#),
            "{err}"
        );
        sb.ok(&[
            "apply",
            "--validate=false",
            "-f",
            &gadget("{size: 4, weight: 2}"),
        ]);
        assert_eq!(
            sb.ok(&["get", "gadget", "g", "-o", "jsonpath={.spec}"]),
            r#"{"color":"red","size":4}"#
        );

        // Discovery lists them; deleting the CRD deletes its objects.
        let resources = sb.ok(&["api-resources", "--api-group=example.com", "-o", "name"]);
        assert_eq!(resources.trim(), "gadgets.example.com\nwidgets.example.com");
        sb.ok(&["delete", "crd", "widgets.example.com"]);
        let (code, _) = sb.curl(
            "GET",
            "/apis/example.com/v1/namespaces/default/widgets/gear",
            "",
            "",
        );
        assert_eq!(code, 404);
    }

    #[test]
    fn restart_keeps_every_object() {
        let mut sb = Sandbox::start();
        sb.ok(&["apply", "-f", &fixture("lbc_standin.yaml")]);
        sb.ok(&["apply", "-f", &fixture("crd.yaml")]);
        sb.ok(&["apply", "-f", &fixture("widget.yaml")]);
        sb.ok(&["apply", "-f", &fixture("sample_application.yaml")]);
        sb.ok(&[
            "wait",
            "--for=condition=Available",
            "deployment/py-az",
            "--timeout=20s",
        ]);
        sb.eventually("the ingress hostname", || {
            !sb.ok(&[
                "get",
                "ingress",
                "py-az-ingress",
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].hostname}",
            ])
            .is_empty()
        });
        let kinds = "deploy,rs,pods,svc,ep,ing,ingressclass,sa,cm,ns,crd,widgets";
        let snapshot = |sb: &Sandbox| -> Vec<(String, String, String)> {
            let v: Value =
                serde_json::from_str(&sb.ok(&["get", kinds, "-A", "-o", "json"])).unwrap();
            let mut items: Vec<(String, String, String)> = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    let m = &o["metadata"];
                    (
                        format!("{}/{}/{}", o["kind"], m["namespace"], m["name"]),
                        m["uid"].to_string(),
                        m["resourceVersion"].to_string(),
                    )
                })
                .collect();
            items.sort();
            items
        };
        // Let the controllers settle so nothing changes across the restart.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let before = snapshot(&sb);
        let (_, list) = sb.curl("GET", "/api/v1/namespaces", "", "");
        let rv_before: u64 = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let open_watch = sb.watch("/api/v1/namespaces/default/configmaps?watch=true", 1000);
        sb.restart();
        // A watch open across the restart ends instead of hanging on the old server.
        let stopped = std::time::Instant::now();
        open_watch.join().unwrap();
        assert!(stopped.elapsed() < std::time::Duration::from_secs(5));
        let after = snapshot(&sb);
        // Every object is back with its uid; resourceVersions only move forward (the
        // controllers may still have been settling when the snapshot was taken).
        let identity = |v: &[(String, String, String)]| -> Vec<(String, String)> {
            v.iter().map(|(k, u, _)| (k.clone(), u.clone())).collect()
        };
        assert_eq!(identity(&before), identity(&after));
        let rv = |s: &str| s.trim_matches('"').parse::<u64>().unwrap();
        for (b, a) in before.iter().zip(&after) {
            assert!(rv(&a.2) >= rv(&b.2), "{b:?} -> {a:?}");
        }
        assert!(after.iter().filter(|(b, _, _)| b.contains("Pod")).count() >= 3);
        assert!(sb.dir.path().join("state/kube-primary.json").exists());
        let host = sb.ok(&[
            "get",
            "ingress",
            "py-az-ingress",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].hostname}",
        ]);
        assert!(host.contains("elb.amazonaws.com"));
        // The resourceVersion counter continues; the controllers run again.
        let (_, o) = sb.curl(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            &body(json!({"metadata": {"name": "new"}})),
        );
        let rv: u64 = o["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(rv > rv_before);
        sb.ok(&["scale", "deployment", "py-az", "--replicas=2"]);
        sb.ok(&["rollout", "status", "deployment/py-az", "--timeout=20s"]);

        // An acknowledged change is already on disk (a kill -9 would not lose it).
        sb.ok(&["create", "configmap", "durable", "--from-literal=k=v"]);
        let saved = std::fs::read_to_string(sb.dir.path().join("state/kube-primary.json")).unwrap();
        assert!(saved.contains("\"durable\""));
    }
}
