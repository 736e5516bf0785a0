//! The tutorial's Global Accelerator, ELBv2 and Route 53 commands, verbatim where the
//! blog is right, with the stock `aws` CLI; then its cleanup in the blog's order.

use std::time::{Duration, Instant};

use runner_sandbox::provider::LoadBalancers;

use crate::support::{self, aws_err, aws_ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_runs_the_tutorial() {
    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let ep = sb.endpoints().clone();
    // The Load Balancer Controller stand-in's two ALBs, one per region.
    let alb1 = sb
        .aws()
        .ensure_ingress_alb(&support::tutorial_alb("primary", "us-east-1"))
        .unwrap();
    let alb2 = sb
        .aws()
        .ensure_ingress_alb(&support::tutorial_alb("secondary", "us-east-2"))
        .unwrap();
    assert!(
        alb1.name.starts_with("k8s-default-pyazingr-"),
        "{}",
        alb1.name
    );
    assert!(
        alb1.dns_name.ends_with(".us-east-1.elb.amazonaws.com"),
        "{}",
        alb1.dns_name
    );

    // The CLI takes most of a second per call: independent calls overlap.
    let zone_args = [
        "route53",
        "create-hosted-zone",
        "--name",
        "example.com",
        "--caller-reference",
        "tutorial-1",
    ];
    let wait_args = [
        "elbv2",
        "wait",
        "load-balancer-available",
        "--region",
        "us-east-1",
        "--names",
        &alb1.name,
    ];
    let (account, _, _) = tokio::join!(
        aws_ok(
            &ep,
            &[
                "sts",
                "get-caller-identity",
                "--query",
                "Account",
                "--output",
                "text"
            ]
        ),
        // The tutorial expects a hosted zone for the domain.
        aws_ok(&ep, &zone_args),
        aws_ok(&ep, &wait_args),
    );
    assert_eq!(account, "000000000000");

    let ga_arn = aws_ok(
        &ep,
        &[
            "globalaccelerator",
            "create-accelerator",
            "--name",
            "multi-region",
            "--region",
            "us-west-2",
            "--query",
            "Accelerator.AcceleratorArn",
            "--output",
            "text",
        ],
    )
    .await;
    assert!(
        ga_arn.starts_with("arn:aws:globalaccelerator::000000000000:accelerator/"),
        "{ga_arn}"
    );
    let listener_arn = aws_ok(
        &ep,
        &[
            "globalaccelerator",
            "create-listener",
            "--accelerator-arn",
            &ga_arn,
            "--region",
            "us-west-2",
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
    assert!(listener_arn.starts_with(&format!("{ga_arn}/listener/")));

    let mut groups = Vec::new();
    for (region, alb, dial) in [("us-east-1", &alb1, None), ("us-east-2", &alb2, Some("0"))] {
        let query = format!(
            "LoadBalancers[?contains(DNSName, '{}')].LoadBalancerArn",
            alb.dns_name
        );
        let arn = aws_ok(
            &ep,
            &[
                "elbv2",
                "describe-load-balancers",
                "--region",
                region,
                "--query",
                &query,
                "--output",
                "text",
            ],
        )
        .await;
        assert_eq!(arn, alb.arn);
        let config = format!("EndpointId={arn},Weight=128,ClientIPPreservationEnabled=True");
        let mut args = vec![
            "globalaccelerator",
            "create-endpoint-group",
            "--region",
            "us-west-2",
        ];
        if let Some(d) = dial {
            args.extend(["--traffic-dial-percentage", d]);
        }
        args.extend([
            "--listener-arn",
            &listener_arn,
            "--endpoint-group-region",
            region,
            "--query",
            "EndpointGroup.EndpointGroupArn",
            "--output",
            "text",
            "--endpoint-configurations",
            &config,
        ]);
        groups.push(aws_ok(&ep, &args).await);
    }
    // One group per region: a second one for us-east-1 is refused.
    let env = support::aws_env(&ep);
    let again_args = [
        "globalaccelerator",
        "create-endpoint-group",
        "--region",
        "us-west-2",
        "--listener-arn",
        &listener_arn,
        "--endpoint-group-region",
        "us-east-1",
    ];
    let dns_args = [
        "globalaccelerator",
        "describe-accelerator",
        "--accelerator-arn",
        &ga_arn,
        "--region",
        "us-west-2",
        "--query",
        "Accelerator.DnsName",
        "--output",
        "text",
    ];
    let dial_args = [
        "globalaccelerator",
        "describe-endpoint-group",
        "--region",
        "us-west-2",
        "--endpoint-group-arn",
        &groups[1],
        "--query",
        "EndpointGroup.TrafficDialPercentage",
        "--output",
        "text",
    ];
    let zone_args = [
        "route53",
        "list-hosted-zones",
        "--query",
        "HostedZones[?Name == 'example.com.'].[Id]",
        "--output",
        "text",
    ];
    let (again, dns, dial, zone) = tokio::join!(
        aws_err(&ep, &env, &again_args),
        aws_ok(&ep, &dns_args),
        aws_ok(&ep, &dial_args),
        aws_ok(&ep, &zone_args),
    );
    assert!(
        again.contains("EndpointGroupAlreadyExistsException"),
        "{again}"
    );
    assert!(
        dns.starts_with('a')
            && dns.ends_with(".awsglobalaccelerator.com")
            && dns.len() == 17 + ".awsglobalaccelerator.com".len(),
        "{dns}"
    );
    assert_eq!(dial, "0.0");
    let zone = zone
        .split('/')
        .nth(2)
        .expect("zone id like /hostedzone/Z…")
        .to_string();
    let records = format!(
        r#"{{"Comment": "Multi region Global Accelerator", "Changes": [{{"Action": "CREATE", "ResourceRecordSet": {{"Name": "multi-region.example.com.", "Type": "A", "AliasTarget": {{"HostedZoneId": "Z2BJ6XQ5FK7U4H", "DNSName": "{dns}", "EvaluateTargetHealth": false}}}}}}]}}"#
    );
    let work = tempfile::tempdir().unwrap();
    let batch = work.path().join("route53-records.json");
    std::fs::write(&batch, &records).unwrap();
    let batch_arg = format!("file://{}", batch.display());
    let change = aws_ok(
        &ep,
        &[
            "route53",
            "change-resource-record-sets",
            "--hosted-zone-id",
            &zone,
            "--change-batch",
            &batch_arg,
            "--query",
            "ChangeInfo.Id",
            "--output",
            "text",
        ],
    )
    .await;
    aws_ok(
        &ep,
        &[
            "route53",
            "wait",
            "resource-record-sets-changed",
            "--id",
            &change,
        ],
    )
    .await;
    let alias = aws_ok(
        &ep,
        &[
            "route53",
            "list-resource-record-sets",
            "--hosted-zone-id",
            &zone,
            "--query",
            "ResourceRecordSets[?Type == 'A'].AliasTarget.DNSName",
            "--output",
            "text",
        ],
    )
    .await;
    assert_eq!(alias, format!("{dns}."));

    // Error paths: CREATE of an existing record; deleting an enabled accelerator.
    let env = support::aws_env(&ep);
    let dup_args = [
        "route53",
        "change-resource-record-sets",
        "--hosted-zone-id",
        &zone,
        "--change-batch",
        &batch_arg,
    ];
    let enabled_args = [
        "globalaccelerator",
        "delete-accelerator",
        "--accelerator-arn",
        &ga_arn,
        "--region",
        "us-west-2",
    ];
    let busy_args = [
        "globalaccelerator",
        "delete-listener",
        "--region",
        "us-west-2",
        "--listener-arn",
        &listener_arn,
    ];
    let (dup, enabled, listener_busy) = tokio::join!(
        aws_err(&ep, &env, &dup_args),
        aws_err(&ep, &env, &enabled_args),
        aws_err(&ep, &env, &busy_args),
    );
    assert!(dup.contains("InvalidChangeBatch"), "{dup}");
    assert!(
        dup.contains("Tried to create resource record set [name='multi-region.example.com.', type='A'] but it already exists"),
        "{dup}"
    );
    assert!(
        enabled.contains("AcceleratorNotDisabledException"),
        "{enabled}"
    );
    assert!(
        listener_busy.contains("AssociatedEndpointGroupFoundException"),
        "{listener_busy}"
    );

    // Cleanup, in the tutorial's order (its `--no-traffic` is spelled `--no-enabled`).
    aws_ok(
        &ep,
        &[
            "globalaccelerator",
            "delete-endpoint-group",
            "--region",
            "us-west-2",
            "--endpoint-group-arn",
            &groups[1],
        ],
    )
    .await;
    aws_ok(
        &ep,
        &[
            "globalaccelerator",
            "delete-endpoint-group",
            "--region",
            "us-west-2",
            "--endpoint-group-arn",
            &groups[0],
        ],
    )
    .await;
    aws_ok(
        &ep,
        &[
            "globalaccelerator",
            "delete-listener",
            "--region",
            "us-west-2",
            "--listener-arn",
            &listener_arn,
        ],
    )
    .await;
    aws_ok(
        &ep,
        &[
            "globalaccelerator",
            "update-accelerator",
            "--region",
            "us-west-2",
            "--accelerator-arn",
            &ga_arn,
            "--no-enabled",
        ],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = aws_ok(
            &ep,
            &[
                "globalaccelerator",
                "describe-accelerator",
                "--region",
                "us-west-2",
                "--accelerator-arn",
                &ga_arn,
                "--query",
                "Accelerator.Status",
                "--output",
                "text",
            ],
        )
        .await;
        if status == "DEPLOYED" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "accelerator never became DEPLOYED"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    aws_ok(
        &ep,
        &[
            "globalaccelerator",
            "delete-accelerator",
            "--region",
            "us-west-2",
            "--accelerator-arn",
            &ga_arn,
        ],
    )
    .await;
    std::fs::write(&batch, records.replace("CREATE", "DELETE")).unwrap();
    aws_ok(
        &ep,
        &[
            "route53",
            "change-resource-record-sets",
            "--hosted-zone-id",
            &zone,
            "--change-batch",
            &batch_arg,
        ],
    )
    .await;

    let counts = sb.aws().snapshot().counts();
    assert_eq!(
        (
            counts.accelerators,
            counts.listeners,
            counts.endpoint_groups
        ),
        (0, 0, 0)
    );
    assert_eq!(counts.record_sets, 2, "only the zone's SOA and NS remain");
    sb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_with_wrong_credentials_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let ep = sb.endpoints().clone();
    let before = serde_json::to_string(&sb.aws().snapshot()).unwrap();
    let with = |key: &str, secret: &str| {
        let mut env = support::aws_env(&ep);
        env.retain(|(k, _)| k != "AWS_ACCESS_KEY_ID" && k != "AWS_SECRET_ACCESS_KEY");
        env.push(("AWS_ACCESS_KEY_ID".into(), key.into()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), secret.into()));
        env
    };
    let wrong_secret = with(&ep.access_key_id, "not-the-secret");
    let unknown_key = with("AKIAUNKNOWN", &ep.secret_access_key);
    type Env = Vec<(String, String)>;
    let cases: Vec<(&Env, Vec<&str>, &str)> = vec![
        (
            &wrong_secret,
            vec!["globalaccelerator", "create-accelerator", "--name", "x"],
            "InvalidSignatureException",
        ),
        (
            &wrong_secret,
            vec![
                "route53",
                "create-hosted-zone",
                "--name",
                "x.com",
                "--caller-reference",
                "r",
            ],
            "SignatureDoesNotMatch",
        ),
        (
            &wrong_secret,
            vec![
                "elbv2",
                "create-target-group",
                "--name",
                "tg",
                "--protocol",
                "HTTP",
                "--port",
                "80",
                "--vpc-id",
                "vpc-1",
            ],
            "SignatureDoesNotMatch",
        ),
        (
            &unknown_key,
            vec!["elbv2", "describe-load-balancers"],
            "InvalidClientTokenId",
        ),
    ];
    let runs = cases
        .iter()
        .map(|(env, args, _)| support::run("aws", args, env, None));
    let outs = futures_join(runs).await;
    for ((_, args, code), out) in cases.iter().zip(outs) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(code),
            "{args:?}: expected {code}, got {stderr}"
        );
    }
    assert_eq!(
        before,
        serde_json::to_string(&sb.aws().snapshot()).unwrap(),
        "a refused request changed state"
    );
    sb.shutdown().await.unwrap();
}

/// Runs the futures concurrently (the CLI is slow to start; its runs overlap well).
pub(crate) async fn futures_join<F: std::future::Future>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futs.map(|f| Box::pin(f)).collect();
    let mut out = Vec::new();
    // Poll them together: join_all without the futures crate.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    for r in results {
        out.push(r.expect("completed"));
    }
    out
}
