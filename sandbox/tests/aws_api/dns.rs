//! The data plane's DNS server driven by the stock `dig`: hosted-zone records, an alias
//! to an accelerator, the accelerator's own name, NXDOMAIN, REFUSED, TXT, truncation
//! over UDP with the full answer over TCP, the port kept across a restart, and TCP
//! clients trickling a query closed at the idle timeout while dig is answered. State is
//! created with the stock `aws` CLI, as a person would.

use std::time::Duration;

use runner_sandbox::serving::slow_client;
use runner_sandbox::{Endpoints, Sandbox};

use crate::support::{self, aws_ok};

/// Runs `dig @127.0.0.1 -p <port> <args>`; panics with its output unless it succeeds.
async fn dig(ep: &Endpoints, args: &[&str]) -> String {
    let (host, port) = ep
        .dataplane
        .dns
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("no DNS address in the endpoints: {:?}", ep.dataplane));
    let mut cmd = tokio::process::Command::new("dig");
    cmd.arg(format!("@{host}"))
        .args(["-p", port, "+time=5", "+tries=1"])
        .args(args)
        .kill_on_drop(true);
    let out = tokio::time::timeout(support::CALL_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("dig {args:?} timed out"))
        .unwrap_or_else(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                " (the DNS tests need dig: apt-get install bind9-dnsutils)"
            } else {
                ""
            };
            panic!("running dig: {e}{hint}")
        });
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "dig {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `dig +short` answers, sorted.
async fn short(ep: &Endpoints, args: &[&str]) -> Vec<String> {
    let mut all = vec!["+short"];
    all.extend_from_slice(args);
    let mut lines: Vec<String> = dig(ep, &all)
        .await
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(";;"))
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

/// The flags of dig's `;; flags: qr aa rd;` line.
fn flags(full: &str) -> Vec<String> {
    let line = full
        .lines()
        .find_map(|l| l.strip_prefix(";; flags:"))
        .unwrap_or_else(|| panic!("no flags line in {full}"));
    let flags = line.split(';').next().unwrap_or("");
    flags.split_whitespace().map(String::from).collect()
}

/// Creates a hosted zone for `domain` with the CLI and returns its bare id.
async fn create_zone(ep: &Endpoints, domain: &str) -> String {
    let id = aws_ok(
        ep,
        &[
            "route53",
            "create-hosted-zone",
            "--name",
            domain,
            "--caller-reference",
            &format!("dns-test-{domain}"),
            "--query",
            "HostedZone.Id",
            "--output",
            "text",
        ],
    )
    .await;
    id.rsplit('/').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_resolves_records_aliases_and_accelerator_names() {
    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let ep = sb.endpoints().clone();
    assert!(
        ep.dataplane.dns.starts_with("127.0.0.1:"),
        "{:?}",
        ep.dataplane
    );

    let acc_args = [
        "globalaccelerator",
        "create-accelerator",
        "--name",
        "multi-region",
        "--region",
        "us-west-2",
        "--query",
        "Accelerator",
        "--output",
        "json",
    ];
    let (zone, acc) = tokio::join!(create_zone(&ep, "example.com"), aws_ok(&ep, &acc_args));
    let acc: serde_json::Value = serde_json::from_str(&acc).unwrap();
    let acc_dns = acc["DnsName"].as_str().unwrap().to_string();
    let mut acc_ips: Vec<String> = acc["IpSets"][0]["IpAddresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ip| ip.as_str().unwrap().to_string())
        .collect();
    acc_ips.sort();
    assert_eq!(acc_ips.len(), 2, "{acc}");

    // Enough TXT values that the answer cannot fit in a 512-byte datagram.
    let big: Vec<String> = (0..30)
        .map(|i| format!(r#"{{"Value": "\"value {i:02} padded to make the answer long\""}}"#))
        .collect();
    let batch = format!(
        r#"{{"Changes": [
  {{"Action": "CREATE", "ResourceRecordSet": {{"Name": "www.example.com", "Type": "A", "TTL": 300, "ResourceRecords": [{{"Value": "192.0.2.10"}}]}}}},
  {{"Action": "CREATE", "ResourceRecordSet": {{"Name": "txt.example.com", "Type": "TXT", "TTL": 300, "ResourceRecords": [{{"Value": "\"hello world\""}}]}}}},
  {{"Action": "CREATE", "ResourceRecordSet": {{"Name": "big.example.com", "Type": "TXT", "TTL": 300, "ResourceRecords": [{}]}}}},
  {{"Action": "CREATE", "ResourceRecordSet": {{"Name": "multi-region.example.com.", "Type": "A", "AliasTarget": {{"HostedZoneId": "Z2BJ6XQ5FK7U4H", "DNSName": "{acc_dns}", "EvaluateTargetHealth": false}}}}}}
]}}"#,
        big.join(", ")
    );
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("records.json");
    std::fs::write(&path, batch).unwrap();
    aws_ok(
        &ep,
        &[
            "route53",
            "change-resource-record-sets",
            "--hosted-zone-id",
            &zone,
            "--change-batch",
            &format!("file://{}", path.display()),
        ],
    )
    .await;

    let acc_query = [acc_dns.as_str()];
    let (a, a_tcp, alias, alias_tcp, acc_name, txt) = tokio::join!(
        short(&ep, &["www.example.com"]),
        short(&ep, &["+tcp", "WWW.Example.COM."]),
        short(&ep, &["multi-region.example.com"]),
        short(&ep, &["+tcp", "multi-region.example.com", "A"]),
        short(&ep, &acc_query),
        short(&ep, &["txt.example.com", "TXT"]),
    );
    assert_eq!(a, ["192.0.2.10"]);
    assert_eq!(a_tcp, ["192.0.2.10"]);
    assert_eq!(
        alias, acc_ips,
        "the alias answers the accelerator's static IPs"
    );
    assert_eq!(alias_tcp, acc_ips);
    assert_eq!(acc_name, acc_ips);
    assert_eq!(txt, [r#""hello world""#]);

    let (missing, outside, udp_big, tcp_big, retried, full_alias) = tokio::join!(
        dig(&ep, &["nope.example.com"]),
        dig(&ep, &["example.org"]),
        dig(&ep, &["+ignore", "+notcp", "big.example.com", "TXT"]),
        dig(&ep, &["+tcp", "big.example.com", "TXT"]),
        short(&ep, &["big.example.com", "TXT"]),
        dig(&ep, &["multi-region.example.com"]),
    );
    assert!(missing.contains("status: NXDOMAIN"), "{missing}");
    assert!(flags(&missing).contains(&"aa".to_string()), "{missing}");
    assert!(
        missing.contains("AUTHORITY: 1") && missing.contains("awsdns-hostmaster.amazon.com."),
        "the zone's SOA in the authority section: {missing}"
    );
    assert!(outside.contains("status: REFUSED"), "{outside}");
    assert!(flags(&udp_big).contains(&"tc".to_string()), "{udp_big}");
    assert!(udp_big.contains("ANSWER: 0"), "{udp_big}");
    assert!(!flags(&tcp_big).contains(&"tc".to_string()), "{tcp_big}");
    assert!(tcp_big.contains("ANSWER: 30"), "{tcp_big}");
    assert_eq!(retried.len(), 30, "dig retries a truncated answer over TCP");
    assert!(full_alias.contains("status: NOERROR"), "{full_alias}");
    assert!(
        full_alias
            .lines()
            .filter(
                |l| l.split_whitespace().collect::<Vec<_>>()[..].starts_with(&[
                    "multi-region.example.com.",
                    "60",
                    "IN",
                    "A"
                ])
            )
            .count()
            == 2,
        "alias answers have TTL 60: {full_alias}"
    );
    sb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_port_is_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let ep = sb.endpoints().clone();
    create_zone(&ep, "example.net").await;
    let soa = "ns-2048.awsdns-64.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400";
    assert_eq!(short(&ep, &["example.net", "SOA"]).await, [soa]);
    sb.shutdown().await.unwrap();
    assert!(dir.path().join("dns.json").exists());

    let sb = support::start(dir.path()).await;
    assert_eq!(
        sb.endpoints().dataplane.dns,
        ep.dataplane.dns,
        "the DNS port moved"
    );
    let (soa_again, ns) = tokio::join!(
        short(&ep, &["+tcp", "example.net", "SOA"]),
        short(&ep, &["example.net", "NS"]),
    );
    assert_eq!(soa_again, [soa]);
    assert_eq!(ns.len(), 4, "{ns:?}");
    sb.shutdown().await.unwrap();
}

/// A DNS query for `name`, type SOA, framed for TCP (a two-byte length first).
fn tcp_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 6, 0, 1]);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    framed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_over_tcp_closes_clients_trickling_a_query_while_dig_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = support::config(dir.path());
    cfg.dataplane.dns.tcp_idle_timeout = Duration::from_secs(1);
    let sb = tokio::time::timeout(Duration::from_secs(30), Sandbox::start(cfg))
        .await
        .expect("sandbox start timed out")
        .expect("sandbox start failed");
    let ep = sb.endpoints().clone();
    create_zone(&ep, "example.com").await;
    let addr = ep.dataplane.dns.parse().unwrap();
    // A byte every 200 ms: the whole query would take 6 s.
    let query = tcp_query("example.com.");
    let slow = slow_client::trickle_many(20, addr, &query, Duration::from_millis(200));
    for _ in 0..5 {
        let answer = dig(&ep, &["+tcp", "example.com", "SOA"]).await;
        assert!(answer.contains("status: NOERROR"), "{answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let closed = slow_client::assert_all_cut_at(slow, query.len(), Duration::from_secs(1)).await;
    assert!(closed.iter().all(|t| t.answer.is_empty()), "{closed:?}");
    sb.shutdown().await.unwrap();
}
