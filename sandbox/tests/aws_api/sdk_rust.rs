//! aws-sdk-rust (the clients runner's plugins use) against the sandbox: the tutorial's
//! Global Accelerator, ELBv2 and Route 53 operations, typed errors, pagination.

use aws_sdk_elasticloadbalancingv2 as elbv2;
use aws_sdk_globalaccelerator as ga;
use aws_sdk_route53 as route53;
use runner_sandbox::Endpoints;
use runner_sandbox::provider::LoadBalancers;

use crate::support;

macro_rules! client {
    ($krate:ident, $ep:expr, $region:expr) => {{
        let ep: &Endpoints = $ep;
        let conf = $krate::Config::builder()
            .behavior_version($krate::config::BehaviorVersion::latest())
            .region($krate::config::Region::new($region))
            .endpoint_url(&ep.aws)
            .credentials_provider($krate::config::Credentials::new(
                &ep.access_key_id,
                &ep.secret_access_key,
                None,
                None,
                "sandbox",
            ))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        $krate::Client::from_conf(conf)
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_sdk_rust_runs_the_tutorial_operations() {
    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let ep = sb.endpoints().clone();
    let alb = sb
        .aws()
        .ensure_ingress_alb(&support::tutorial_alb("primary", "us-east-1"))
        .unwrap();
    tokio::time::sleep(support::DELAY * 2).await;

    let elb = client!(elbv2, &ep, "us-east-1");
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    let found: Vec<_> = lbs
        .load_balancers()
        .iter()
        .filter(|lb| lb.dns_name().unwrap_or_default().contains(&alb.dns_name))
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].load_balancer_arn(), Some(alb.arn.as_str()));
    assert_eq!(
        found[0].state().and_then(|s| s.code()).map(|c| c.as_str()),
        Some("active")
    );
    let err = elb
        .describe_load_balancers()
        .names("nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_load_balancer_not_found_exception()
    );

    let ga = client!(ga, &ep, "us-west-2");
    let acc = ga
        .create_accelerator()
        .name("multi-region")
        .send()
        .await
        .unwrap();
    let acc = acc.accelerator().unwrap();
    let acc_arn = acc.accelerator_arn().unwrap().to_string();
    assert_eq!(acc.ip_sets()[0].ip_addresses().len(), 2);
    let listener = ga
        .create_listener()
        .accelerator_arn(&acc_arn)
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
    let listener_arn = listener
        .listener()
        .unwrap()
        .listener_arn()
        .unwrap()
        .to_string();
    let group = ga
        .create_endpoint_group()
        .listener_arn(&listener_arn)
        .endpoint_group_region("us-east-1")
        .endpoint_configurations(
            ga::types::EndpointConfiguration::builder()
                .endpoint_id(&alb.arn)
                .weight(128)
                .client_ip_preservation_enabled(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let group = group.endpoint_group().unwrap();
    assert_eq!(group.traffic_dial_percentage(), Some(100.0));
    assert_eq!(group.endpoint_descriptions()[0].weight(), Some(128));
    let err = ga
        .delete_accelerator()
        .accelerator_arn(&acc_arn)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_accelerator_not_disabled_exception()
    );
    let err = ga
        .create_endpoint_group()
        .listener_arn(&listener_arn)
        .endpoint_group_region("us-east-1")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_endpoint_group_already_exists_exception()
    );
    let mut pages = ga
        .list_accelerators()
        .max_results(1)
        .into_paginator()
        .send();
    let mut seen = 0;
    while let Some(page) = pages.next().await {
        seen += page.unwrap().accelerators().len();
    }
    assert_eq!(seen, 1);
    let dns = ga
        .describe_accelerator()
        .accelerator_arn(&acc_arn)
        .send()
        .await
        .unwrap();
    let dns = dns.accelerator().unwrap().dns_name().unwrap().to_string();

    let r53 = client!(route53, &ep, "us-east-1");
    let zone = r53
        .create_hosted_zone()
        .name("example.com")
        .caller_reference("sdk-1")
        .send()
        .await
        .unwrap();
    let zone_id = zone.hosted_zone().unwrap().id().to_string();
    assert!(zone_id.starts_with("/hostedzone/Z"), "{zone_id}");
    let record = route53::types::ResourceRecordSet::builder()
        .name("multi-region.example.com.")
        .r#type(route53::types::RrType::A)
        .alias_target(
            route53::types::AliasTarget::builder()
                .hosted_zone_id("Z2BJ6XQ5FK7U4H")
                .dns_name(&dns)
                .evaluate_target_health(false)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let batch = |action| {
        route53::types::ChangeBatch::builder()
            .changes(
                route53::types::Change::builder()
                    .action(action)
                    .resource_record_set(record.clone())
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    // The SDK trims the /hostedzone/ prefix itself.
    let change = r53
        .change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(batch(route53::types::ChangeAction::Create))
        .send()
        .await
        .unwrap();
    let change_id = change.change_info().unwrap().id().to_string();
    let err = r53
        .change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(batch(route53::types::ChangeAction::Create))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_change_batch());
    tokio::time::sleep(support::DELAY * 2).await;
    let status = r53.get_change().id(&change_id).send().await.unwrap();
    assert_eq!(
        status.change_info().unwrap().status(),
        &route53::types::ChangeStatus::Insync
    );
    let sets = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .unwrap();
    let alias = sets
        .resource_record_sets()
        .iter()
        .find(|r| r.r#type() == &route53::types::RrType::A)
        .unwrap();
    assert_eq!(alias.alias_target().unwrap().dns_name(), format!("{dns}."));

    // A wrong secret is refused with the typed error.
    let mut wrong = ep.clone();
    wrong.secret_access_key = "wrong".into();
    let bad = client!(ga, &wrong, "us-west-2");
    let err = bad.list_accelerators().send().await.unwrap_err();
    let code = err.into_service_error();
    assert_eq!(
        ga::error::ProvideErrorMetadata::code(&code),
        Some("InvalidSignatureException")
    );
    sb.shutdown().await.unwrap();
}
