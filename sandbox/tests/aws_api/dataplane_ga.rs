//! Global Accelerator's data plane driven by stock clients: an accelerator, a TCP:80
//! listener and two endpoint groups made with the `aws` CLI in front of two load
//! balancers (their data plane stood in for by two tiny HTTP servers), then `curl` on
//! the static IPs: all traffic to the primary, failover to a dial-0 secondary when the
//! primary turns unhealthy, failback, and a 50/50 dial split; flows idle for the
//! accelerator's idle timeout are closed while others are served.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use runner_sandbox::dataplane::accelerator::{
    ACCELERATORS_FILE, AcceleratorMap, Binding, PORT_MEMORY_FILE, status_lines,
};
use runner_sandbox::serving::slow_client;
use runner_sandbox::{Sandbox, SandboxHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{self, aws_ok};

/// A tiny HTTP server answering `body` to every request, one per connection.
async fn http_server(body: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// `curl -s http://<addr>/` on a new connection; its body.
async fn curl(addr: SocketAddr) -> String {
    let url = format!("http://{addr}/");
    let out = support::run("curl", &["-s", "--max-time", "5", &url], &[], None).await;
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Waits (up to 10 s) until the accelerator listens on `ip:80` and returns where.
async fn bound(dir: &Path, arn: &str, ip: &str) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(map)) = AcceleratorMap::load(dir)
            && let Some(addr) = map.bound(arn, ip, 80)
        {
            return addr;
        }
        assert!(Instant::now() < deadline, "{ip}:80 never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Retries `curl` until it answers `want` (health and dial changes reach new
/// connections within a tick); panics after 5 s.
async fn until_answer(addr: SocketAddr, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = curl(addr).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An accelerator (`multi-region`, TCP:80) in front of one load balancer per
/// `(region, server, dial)`, each load balancer's data plane stood in for by `server`
/// (the ALB data plane is another part). The accelerator's ARN, the load balancers'
/// ARNs and the endpoint groups' ARNs, in the order given.
async fn accelerator_in_front_of(
    sb: &SandboxHandle,
    backends: &[(&str, SocketAddr, &str)],
) -> (String, Vec<String>, Vec<String>) {
    let ep = sb.endpoints().clone();
    let mut lbs = Vec::new();
    for (i, (region, server, _)) in backends.iter().enumerate() {
        let name = format!("ga-lb-{i}");
        let lb = aws_ok(
            &ep,
            &[
                "elbv2",
                "create-load-balancer",
                "--region",
                region,
                "--name",
                &name,
                "--subnets",
                "subnet-1a",
                "subnet-1b",
                "--query",
                "LoadBalancers[0].LoadBalancerArn",
                "--output",
                "text",
            ],
        )
        .await;
        assert!(
            sb.aws()
                .set_load_balancer_listen(&lb, Some(server.to_string()))
        );
        lbs.push(lb);
    }
    let acc = aws_ok(
        &ep,
        &[
            "globalaccelerator",
            "create-accelerator",
            "--region",
            "us-west-2",
            "--name",
            "multi-region",
            "--query",
            "Accelerator.AcceleratorArn",
            "--output",
            "text",
        ],
    )
    .await;
    let listener = aws_ok(
        &ep,
        &[
            "globalaccelerator",
            "create-listener",
            "--region",
            "us-west-2",
            "--accelerator-arn",
            &acc,
            "--protocol",
            "TCP",
            "--port-ranges",
            "FromPort=80,ToPort=80",
            "--query",
            "Listener.ListenerArn",
            "--output",
            "text",
        ],
    )
    .await;
    let mut groups = Vec::new();
    for ((region, _, dial), lb) in backends.iter().zip(&lbs) {
        let config = format!("EndpointId={lb},Weight=128");
        groups.push(
            aws_ok(
                &ep,
                &[
                    "globalaccelerator",
                    "create-endpoint-group",
                    "--region",
                    "us-west-2",
                    "--listener-arn",
                    &listener,
                    "--endpoint-group-region",
                    region,
                    "--traffic-dial-percentage",
                    dial,
                    "--endpoint-configurations",
                    &config,
                    "--query",
                    "EndpointGroup.EndpointGroupArn",
                    "--output",
                    "text",
                ],
            )
            .await,
        );
    }
    (acc, lbs, groups)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accelerator_routes_new_connections_by_dials_and_health() {
    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let ep = sb.endpoints().clone();
    let primary = http_server("primary").await;
    let secondary = http_server("secondary").await;
    let (acc, lbs, groups) = accelerator_in_front_of(
        &sb,
        &[("us-east-1", primary, "100"), ("us-east-2", secondary, "0")],
    )
    .await;
    let lb1 = &lbs[0];

    // The static IPs come from this sandbox's loopback block and listen on port 80.
    let state = sb.aws().snapshot();
    let ips = state.ga.accelerators[0].ips.clone();
    let block = runner_sandbox::dataplane::NetBlock::load_or_new(dir.path()).unwrap();
    let expected: Vec<String> = block
        .accelerator_ips(0)
        .unwrap()
        .iter()
        .map(|ip| ip.to_string())
        .collect();
    assert_eq!(ips, expected);
    let a = bound(dir.path(), &acc, &ips[0]).await;
    let b = bound(dir.path(), &acc, &ips[1]).await;
    assert_eq!(a.to_string(), format!("{}:80", ips[0]));
    let status = status_lines(dir.path());
    assert!(
        status
            .iter()
            .any(|l| l.starts_with("accelerator multi-region (")
                && l.contains(&a.to_string())
                && l.contains(&b.to_string())),
        "{status:?}"
    );
    // Wait out the endpoints' INITIAL period.
    until_answer(a, "primary").await;

    // Dials 100/0, both healthy: every new connection, on either IP, to the primary.
    for addr in [a, b].into_iter().cycle().take(10) {
        assert_eq!(curl(addr).await, "primary");
    }

    // The primary turns unhealthy: new connections fail over to the dial-0 secondary.
    assert_eq!(
        sb.aws().set_endpoint_health(lb1, Some("UNHEALTHY".into())),
        1
    );
    until_answer(a, "secondary").await;
    for addr in [a, b].into_iter().cycle().take(10) {
        assert_eq!(curl(addr).await, "secondary");
    }

    // Failback once it is healthy again.
    assert_eq!(sb.aws().set_endpoint_health(lb1, Some("HEALTHY".into())), 1);
    until_answer(a, "primary").await;

    // Dials 50/50: connections split evenly.
    for g in &groups {
        aws_ok(
            &ep,
            &[
                "globalaccelerator",
                "update-endpoint-group",
                "--region",
                "us-west-2",
                "--endpoint-group-arn",
                g,
                "--traffic-dial-percentage",
                "50",
            ],
        )
        .await;
    }
    let mut answers = Vec::new();
    for chunk in 0..10 {
        let batch: Vec<_> = (0..20)
            .map(|i| curl(if (chunk + i) % 2 == 0 { a } else { b }))
            .collect();
        answers.extend(crate::cli_tutorial::futures_join(batch.into_iter()).await);
    }
    let primaries = answers.iter().filter(|s| *s == "primary").count();
    let secondaries = answers.iter().filter(|s| *s == "secondary").count();
    assert_eq!(primaries + secondaries, 200, "{answers:?}");
    // Binomial(200, 0.5): 35–65% is more than 4 standard deviations either way.
    assert!(
        (70..=130).contains(&primaries),
        "{primaries} of 200 to the primary"
    );

    // Disabling the accelerator closes its listeners.
    aws_ok(
        &ep,
        &[
            "globalaccelerator",
            "update-accelerator",
            "--region",
            "us-west-2",
            "--accelerator-arn",
            &acc,
            "--no-enabled",
        ],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(a).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "{a} still listens after disabling"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sb.shutdown().await.unwrap();

    // Stopped: no listener table (status lists none); the bound ports are remembered.
    assert!(!dir.path().join(ACCELERATORS_FILE).exists());
    assert!(dir.path().join(PORT_MEMORY_FILE).exists());
    assert_eq!(status_lines(dir.path()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_table_left_by_a_killed_sandbox_is_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let binding = Binding {
        accelerator_arn: "arn:aws:globalaccelerator::123456789012:accelerator/x".into(),
        accelerator_name: "left-over".into(),
        ip: "127.0.0.1".into(),
        port: 80,
        bound: "127.0.0.1:80".into(),
    };
    let write = |pid: u32| {
        let map = AcceleratorMap {
            bindings: vec![binding.clone()],
            pid: Some(pid),
        };
        std::fs::write(
            dir.path().join(ACCELERATORS_FILE),
            serde_json::to_vec(&map).unwrap(),
        )
        .unwrap();
    };
    // A process that has exited (and been reaped) wrote it.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    write(dead);
    assert_eq!(status_lines(dir.path()), Vec::<String>::new());
    assert_eq!(AcceleratorMap::load(dir.path()).unwrap(), None);
    // The same table from a live process is shown.
    write(std::process::id());
    assert_eq!(
        status_lines(dir.path()),
        vec![format!(
            "accelerator left-over ({}): listening on 127.0.0.1:80",
            binding.accelerator_arn
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accelerator_closes_flows_idle_for_its_idle_timeout_while_serving_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = support::config(dir.path());
    cfg.dataplane.accelerator.idle_timeout = Duration::from_secs(1);
    let sb = tokio::time::timeout(Duration::from_secs(30), Sandbox::start(cfg))
        .await
        .expect("sandbox start timed out")
        .expect("sandbox start failed");
    let server = http_server("served").await;
    let (acc, _, _) = accelerator_in_front_of(&sb, &[("us-east-1", server, "100")]).await;
    let ip = sb.aws().snapshot().ga.accelerators[0].ips[0].clone();
    let a = bound(dir.path(), &acc, &ip).await;
    until_answer(a, "served").await;
    // A byte every 1.5 s is slower than the idle timeout: each flow is closed after its
    // first byte, while curl keeps being answered.
    let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let slow = slow_client::trickle_many(20, a, head, Duration::from_millis(1500));
    for _ in 0..10 {
        assert_eq!(curl(a).await, "served");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    slow_client::assert_all_cut_at(slow, head.len(), Duration::from_secs(1)).await;
    sb.shutdown().await.unwrap();
}
