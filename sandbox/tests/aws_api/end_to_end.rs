//! The whole sandbox, as the tutorial uses it: kubectl installs the Load Balancer
//! Controller stand-in and the sample app in both clusters, each Ingress gets an ALB in
//! its cluster's region, the aws CLI finds the ALB by the Ingress hostname and puts it
//! behind an accelerator; deleting the Ingress deletes the ALB.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{self, Req, aws_ok, send};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kube")
        .join(name)
}

async fn kubectl(kubeconfig: &Path, context: &str, args: &[&str]) -> String {
    let mut all = vec![
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        context,
    ];
    all.extend_from_slice(args);
    let out = support::run("kubectl", &all, &[], None).await;
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_ingresses_get_albs_that_the_aws_cli_puts_behind_an_accelerator() {
    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let ep = sb.endpoints().clone();
    let (standin, app) = (
        fixture("lbc_standin.yaml"),
        fixture("sample_application.yaml"),
    );
    let mut hosts = Vec::new();
    for c in &ep.clusters {
        kubectl(
            &ep.kubeconfig,
            &c.context,
            &["apply", "-f", standin.to_str().unwrap()],
        )
        .await;
        kubectl(
            &ep.kubeconfig,
            &c.context,
            &["apply", "-f", app.to_str().unwrap()],
        )
        .await;
    }
    for c in &ep.clusters {
        let deadline = Instant::now() + Duration::from_secs(30);
        let host = loop {
            let host = kubectl(
                &ep.kubeconfig,
                &c.context,
                &[
                    "get",
                    "ingress",
                    "py-az-ingress",
                    "-o",
                    "jsonpath={.status.loadBalancer.ingress[0].hostname}",
                ],
            )
            .await;
            if !host.is_empty() {
                break host;
            }
            assert!(
                Instant::now() < deadline,
                "no ALB hostname on the ingress of {}",
                c.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(host.starts_with("k8s-default-pyazingr-"), "{host}");
        assert!(
            host.ends_with(&format!(".{}.elb.amazonaws.com", c.region)),
            "{host}"
        );
        hosts.push(host);
    }

    // The tutorial's lookup, per region, then one endpoint group per region.
    let acc = send(
        &ep,
        Req::ga(
            "CreateAccelerator",
            r#"{"Name":"multi-region","IdempotencyToken":"e2e-1"}"#,
            &ep,
        ),
    )
    .await;
    let acc: serde_json::Value = serde_json::from_str(&acc.body).unwrap();
    let acc_arn = acc["Accelerator"]["AcceleratorArn"].as_str().unwrap();
    let body = format!(
        r#"{{"AcceleratorArn":"{acc_arn}","Protocol":"TCP","PortRanges":[{{"FromPort":80,"ToPort":80}}],"IdempotencyToken":"e2e-2"}}"#
    );
    let listener: serde_json::Value =
        serde_json::from_str(&send(&ep, Req::ga("CreateListener", &body, &ep)).await.body).unwrap();
    let listener_arn = listener["Listener"]["ListenerArn"]
        .as_str()
        .unwrap()
        .to_string();
    for (c, host) in ep.clusters.iter().zip(&hosts) {
        let query = format!("LoadBalancers[?contains(DNSName, '{host}')].LoadBalancerArn");
        let arn = aws_ok(
            &ep,
            &[
                "elbv2",
                "describe-load-balancers",
                "--region",
                &c.region,
                "--query",
                &query,
                "--output",
                "text",
            ],
        )
        .await;
        assert!(
            arn.starts_with(&format!("arn:aws:elasticloadbalancing:{}:", c.region)),
            "{arn}"
        );
        let tags = aws_ok(
            &ep,
            &[
                "elbv2",
                "describe-tags",
                "--region",
                &c.region,
                "--resource-arns",
                &arn,
                "--query",
                "TagDescriptions[0].Tags[?Key=='elbv2.k8s.aws/cluster'].Value",
                "--output",
                "text",
            ],
        )
        .await;
        assert_eq!(tags, c.name);
        let config = format!("EndpointId={arn},Weight=128,ClientIPPreservationEnabled=True");
        let group = aws_ok(
            &ep,
            &[
                "globalaccelerator",
                "create-endpoint-group",
                "--region",
                "us-west-2",
                "--listener-arn",
                &listener_arn,
                "--endpoint-group-region",
                &c.region,
                "--endpoint-configurations",
                &config,
                "--query",
                "EndpointGroup.EndpointDescriptions[0].EndpointId",
                "--output",
                "text",
            ],
        )
        .await;
        assert_eq!(group, arn);
    }

    // Deleting the primary's Ingress deletes its ALB.
    let primary = &ep.clusters[0];
    kubectl(
        &ep.kubeconfig,
        &primary.context,
        &["delete", "ingress", "py-az-ingress", "--timeout=30s"],
    )
    .await;
    let name = hosts[0]
        .split('.')
        .next()
        .unwrap()
        .rsplit_once('-')
        .unwrap()
        .0
        .to_string();
    let form = format!("Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1={name}");
    let gone = send(
        &ep,
        Req::query("elasticloadbalancing", "us-east-1", &form, &ep),
    )
    .await;
    assert_eq!(
        support::error_code(&gone.body),
        "LoadBalancerNotFound",
        "{}",
        gone.body
    );
    sb.shutdown().await.unwrap();
}
