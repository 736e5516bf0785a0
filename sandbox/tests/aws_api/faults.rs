//! `--faults` on the wire: each service's own throttling and 5xx shapes, connections
//! reset before (nothing applied) or after (applied) a call, aws-sdk-rust's retries
//! converging on one resource through the idempotency token, and the Kubernetes faults
//! (429 with Retry-After, 409 Conflict, 410 Gone, a watch cut mid-stream).

use std::time::Duration;

use aws_sdk_globalaccelerator as ga;
use runner_sandbox::faults::FaultConfig;
use runner_sandbox::{Endpoints, Sandbox, SandboxHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, Req, error_code, send};

async fn start(dir: &std::path::Path, spec: &str, seed: u64) -> SandboxHandle {
    let mut cfg = support::config(dir);
    cfg.faults = Some(FaultConfig::from_arg(spec, seed).unwrap());
    tokio::time::timeout(Duration::from_secs(30), Sandbox::start(cfg))
        .await
        .unwrap()
        .unwrap()
}

const CREATE_ZONE: &str = r#"<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>example.com</Name><CallerReference>r1</CallerReference></CreateHostedZoneRequest>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_5xx_come_in_each_services_own_shape() {
    let dir = tempfile::tempdir().unwrap();
    let sb = start(dir.path(), "throttle=1", 1).await;
    let ep = sb.endpoints().clone();
    let r = send(&ep, Req::ga("ListAccelerators", "{}", &ep)).await;
    assert_eq!(
        (r.status, error_code(&r.body).as_str()),
        (400, "ThrottlingException"),
        "{}",
        r.body
    );
    let r = send(&ep, Req::route53("GET", "/2013-04-01/hostedzone", "", &ep)).await;
    assert_eq!(
        (r.status, error_code(&r.body).as_str()),
        (400, "Throttling"),
        "{}",
        r.body
    );
    assert!(r.body.contains("<ErrorResponse") && r.body.contains("<Type>Sender</Type>"));
    let r = send(
        &ep,
        Req::route53("POST", "/2013-04-01/hostedzone/Z1/rrset", "<x/>", &ep),
    )
    .await;
    assert_eq!(error_code(&r.body), "PriorRequestNotComplete", "{}", r.body);
    let form = "Action=DescribeLoadBalancers&Version=2015-12-01";
    let r = send(
        &ep,
        Req::query("elasticloadbalancing", "us-east-1", form, &ep),
    )
    .await;
    assert_eq!(
        (r.status, error_code(&r.body).as_str()),
        (400, "Throttling"),
        "{}",
        r.body
    );
    let form = "Action=GetCallerIdentity&Version=2011-06-15";
    let r = send(&ep, Req::query("sts", "us-east-1", form, &ep)).await;
    assert_eq!(
        (r.status, error_code(&r.body).as_str()),
        (400, "Throttling"),
        "{}",
        r.body
    );
    let counts = sb.fault_counts().unwrap();
    assert_eq!(counts.injected, 5);
    assert_eq!(
        counts.by_operation["route53.ListHostedZones"]["throttle"],
        1
    );
    sb.shutdown().await.unwrap();
    let saved: runner_sandbox::faults::Counts =
        serde_json::from_slice(&std::fs::read(dir.path().join("faults.json")).unwrap()).unwrap();
    assert_eq!(saved.injected, 5);

    let dir = tempfile::tempdir().unwrap();
    let sb = start(dir.path(), "5xx=1", 2).await;
    let ep = sb.endpoints().clone();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let r = send(&ep, Req::ga("ListAccelerators", "{}", &ep)).await;
        seen.insert((r.status, error_code(&r.body)));
        let r = send(&ep, Req::route53("GET", "/2013-04-01/hostedzone", "", &ep)).await;
        if r.status == 500 {
            assert!(r.body.contains("<Type>Receiver</Type>"), "{}", r.body);
        }
        seen.insert((r.status, error_code(&r.body)));
    }
    let want: std::collections::BTreeSet<(u16, String)> = [
        (500, "InternalServiceErrorException"),
        (503, "ServiceUnavailableException"),
        (500, "InternalFailure"),
        (503, "ServiceUnavailable"),
    ]
    .into_iter()
    .map(|(s, c)| (s, c.to_string()))
    .collect();
    assert_eq!(seen, want);
    sb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_before_changes_nothing_and_a_reset_after_does() {
    for (kind, zones) in [("reset-before", 0), ("reset-after", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let sb = start(dir.path(), &format!("route53.CreateHostedZone:{kind}=1"), 3).await;
        let ep = sb.endpoints().clone();
        let r = send(
            &ep,
            Req::route53("POST", "/2013-04-01/hostedzone", CREATE_ZONE, &ep),
        )
        .await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (0, ""),
            "{kind}: an answer came back"
        );
        assert_eq!(sb.aws().snapshot().route53.zones.len(), zones, "{kind}");
        // Other operations are untouched.
        let r = send(&ep, Req::route53("GET", "/2013-04-01/hostedzone", "", &ep)).await;
        assert_eq!(r.status, 200, "{kind}: {}", r.body);
        sb.shutdown().await.unwrap();
    }
}

fn ga_client(ep: &Endpoints, attempts: u32) -> ga::Client {
    let conf = ga::Config::builder()
        .behavior_version(ga::config::BehaviorVersion::latest())
        .region(ga::config::Region::new("us-west-2"))
        .endpoint_url(&ep.aws)
        .credentials_provider(ga::config::Credentials::new(
            &ep.access_key_id,
            &ep.secret_access_key,
            None,
            None,
            "sandbox",
        ))
        .retry_config(
            ga::config::retry::RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    ga::Client::from_conf(conf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_retries_of_lost_creates_reuse_the_token_and_make_one_resource() {
    let dir = tempfile::tempdir().unwrap();
    let sb = start(
        dir.path(),
        "ga.CreateAccelerator:reset-after=0.4,ga.CreateListener:reset-after=0.4,ga:throttle=0.05,5xx=0.05",
        9,
    )
    .await;
    let ep = sb.endpoints().clone();
    let client = ga_client(&ep, 10);
    for i in 0..6 {
        let acc = client
            .create_accelerator()
            .name(format!("acc-{i}"))
            .send()
            .await
            .unwrap();
        let arn = acc.accelerator().unwrap().accelerator_arn().unwrap();
        client
            .create_listener()
            .accelerator_arn(arn)
            .protocol(ga::types::Protocol::Tcp)
            .port_ranges(
                ga::types::PortRange::builder()
                    .from_port(80)
                    .to_port(80)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let state = sb.aws().snapshot();
    assert_eq!(state.ga.accelerators.len(), 6);
    for a in &state.ga.accelerators {
        assert_eq!(a.listeners.len(), 1, "{}", a.name);
    }
    let c = sb.fault_counts().unwrap();
    for op in ["ga.CreateAccelerator", "ga.CreateListener"] {
        assert!(
            c.by_operation[op]
                .get("reset-after")
                .is_some_and(|n| *n >= 2),
            "{op}: {c:#?}"
        );
    }

    // When every attempt is lost, the SDK gives up after its attempts, having made one.
    let dir2 = tempfile::tempdir().unwrap();
    let sb2 = start(dir2.path(), "ga.CreateAccelerator:reset-after=1", 1).await;
    let client = ga_client(sb2.endpoints(), 4);
    let err = client
        .create_accelerator()
        .name("lost")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            aws_sdk_globalaccelerator::error::SdkError::DispatchFailure(_)
        ),
        "{err:?}"
    );
    assert_eq!(sb2.aws().snapshot().ga.accelerators.len(), 1);
    assert_eq!(
        sb2.fault_counts().unwrap().by_operation["ga.CreateAccelerator"]["reset-after"],
        4
    );
    sb2.shutdown().await.unwrap();
    sb.shutdown().await.unwrap();
}

/// One raw HTTP/1.1 exchange with a cluster's API server: status line, headers and body
/// as read until the server closes (or `None` when it reset the connection).
async fn kube_call(url: &str, method: &str, path: &str, ct: &str, body: &str) -> Option<String> {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("the API server neither answered nor closed");
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).into_owned())
        }
        Err(e) => panic!("{e}"),
    }
}

const CM: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_faults_look_like_kube_apiserver() {
    let dir = tempfile::tempdir().unwrap();
    let sb = start(
        dir.path(),
        "kube.list:throttle=1,kube.patch:conflict=1,kube.watch:gone=0.5,kube.watch:drop-watch=0.5,kube.delete:reset-after=1,retry-after=3",
        4,
    )
    .await;
    let url = sb.endpoints().clusters[0].url.clone();
    let created = kube_call(
        &url,
        "POST",
        CM,
        "application/json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}"#,
    )
    .await
    .unwrap();
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");

    let listed = kube_call(&url, "GET", CM, "", "").await.unwrap();
    assert!(listed.starts_with("HTTP/1.1 429"), "{listed}");
    assert!(
        listed.to_ascii_lowercase().contains("retry-after: 3\r\n"),
        "{listed}"
    );
    assert!(
        listed.contains(r#""reason":"TooManyRequests""#)
            && listed.contains(r#""retryAfterSeconds":3"#),
        "{listed}"
    );

    let patched = kube_call(
        &url,
        "PATCH",
        &format!("{CM}/a"),
        "application/merge-patch+json",
        r#"{"data":{"k":"w"}}"#,
    )
    .await
    .unwrap();
    assert!(patched.starts_with("HTTP/1.1 409"), "{patched}");
    assert!(
        patched.contains(r#""reason":"Conflict""#)
            && patched.contains(r#"Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"#),
        "{patched}"
    );

    let (mut gone, mut dropped) = (0, 0);
    for _ in 0..10 {
        let w = kube_call(
            &url,
            "GET",
            &format!("{CM}?watch=true&resourceVersion=1"),
            "",
            "",
        )
        .await;
        match w {
            Some(w) if w.contains(r#""type":"ERROR""#) => {
                assert!(w.starts_with("HTTP/1.1 200"), "{w}");
                assert!(
                    w.contains(r#""code":410"#) && w.contains(r#""reason":"Expired""#),
                    "{w}"
                );
                assert!(w.contains("too old resource version"), "{w}");
                gone += 1;
            }
            // Cut mid-stream: the chunked body never gets its last chunk.
            Some(w) => {
                assert!(w.starts_with("HTTP/1.1 200"), "{w}");
                assert!(!w.ends_with("0\r\n\r\n"), "the watch ended cleanly: {w}");
                dropped += 1;
            }
            None => dropped += 1,
        }
    }
    assert!(gone > 0 && dropped > 0, "gone {gone}, dropped {dropped}");

    // Deleted, then the connection reset: no answer, but the object is gone.
    let deleted = kube_call(&url, "DELETE", &format!("{CM}/a"), "", "").await;
    assert_eq!(deleted, None);
    let get = kube_call(&url, "GET", &format!("{CM}/a"), "", "")
        .await
        .unwrap();
    assert!(get.starts_with("HTTP/1.1 404"), "{get}");
    sb.shutdown().await.unwrap();
}
