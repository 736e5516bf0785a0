//! Stopping the sandbox and starting it again on the same state dir keeps every AWS
//! resource and every endpoint.

use runner_sandbox::provider::LoadBalancers;

use crate::support::{self, Req, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_resources_and_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let ep = sb.endpoints().clone();
    let alb = sb
        .aws()
        .ensure_ingress_alb(&support::tutorial_alb("primary", "us-east-1"))
        .unwrap();
    tokio::time::sleep(support::DELAY * 2).await;
    let r = send(
        &ep,
        Req::ga(
            "CreateAccelerator",
            r#"{"Name":"multi-region","IdempotencyToken":"t1"}"#,
            &ep,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let acc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let acc_arn = acc["Accelerator"]["AcceleratorArn"]
        .as_str()
        .unwrap()
        .to_string();
    let body = format!(
        r#"{{"AcceleratorArn":"{acc_arn}","Protocol":"TCP","PortRanges":[{{"FromPort":80,"ToPort":80}}],"IdempotencyToken":"t2"}}"#
    );
    let r = send(&ep, Req::ga("CreateListener", &body, &ep)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let listener: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let listener_arn = listener["Listener"]["ListenerArn"].as_str().unwrap();
    let body = format!(
        r#"{{"ListenerArn":"{listener_arn}","EndpointGroupRegion":"us-east-1","IdempotencyToken":"t3","EndpointConfigurations":[{{"EndpointId":"{}"}}]}}"#,
        alb.arn
    );
    let r = send(&ep, Req::ga("CreateEndpointGroup", &body, &ep)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let zone = r#"<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>example.com</Name><CallerReference>c1</CallerReference></CreateHostedZoneRequest>"#;
    let r = send(
        &ep,
        Req::route53("POST", "/2013-04-01/hostedzone", zone, &ep),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let form =
        "Action=CreateTargetGroup&Version=2015-12-01&Name=tg1&Protocol=HTTP&Port=80&VpcId=vpc-1";
    let r = send(
        &ep,
        Req::query("elasticloadbalancing", "us-east-1", form, &ep),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Let every transition finish so both descriptions read DEPLOYED.
    tokio::time::sleep(support::DELAY * 3).await;
    let before = sb.aws().snapshot();
    let describe = format!(r#"{{"AcceleratorArn":"{acc_arn}"}}"#);
    let described_before = send(&ep, Req::ga("DescribeAccelerator", &describe, &ep))
        .await
        .body;
    sb.shutdown().await.unwrap();

    let sb = support::start(dir.path()).await;
    assert_eq!(sb.endpoints(), &ep, "endpoints changed across a restart");
    let after = sb.aws().snapshot();
    assert_eq!(
        serde_json::to_value(&before).unwrap(),
        serde_json::to_value(&after).unwrap()
    );
    let counts = after.counts();
    assert_eq!(
        (
            counts.accelerators,
            counts.listeners,
            counts.endpoint_groups,
            counts.hosted_zones,
            counts.load_balancers,
            counts.target_groups
        ),
        (1, 1, 1, 1, 1, 1)
    );
    let described_after = send(&ep, Req::ga("DescribeAccelerator", &describe, &ep))
        .await
        .body;
    assert_eq!(described_before, described_after);
    // The controller seam finds the same ALB again instead of creating another.
    let again = sb
        .aws()
        .ensure_ingress_alb(&support::tutorial_alb("primary", "us-east-1"))
        .unwrap();
    assert_eq!(again, alb);
    sb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sandbox_on_the_same_dir_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let err = match runner_sandbox::Sandbox::start(support::config(dir.path())).await {
        Ok(_) => panic!("two sandboxes started on one state dir"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("is another sandbox running on it?"), "{err}");
    // The first one is unharmed.
    let ok = send(
        sb.endpoints(),
        Req::query(
            "sts",
            "us-east-1",
            "Action=GetCallerIdentity&Version=2011-06-15",
            sb.endpoints(),
        ),
    )
    .await;
    assert_eq!(ok.status, 200);
    sb.shutdown().await.unwrap();
}
