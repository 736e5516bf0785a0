//! Error mapping on the SDK's real error path, with aws-smithy-mocks standing in for
//! AWS: throttling is retried by the SDK's standard policy and then surfaced as
//! `throttled`, missing resources become `not-found`, refusals `denied`.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use runner_workflow::{Elbv2Grant, Grants, HostedZone, Route53Grant};

use super::{Reach, StepHost};
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::{elbv2, route53};
use crate::cloud::{Cloud, CloudKind};
use crate::exec::recorder::Recorder;

fn host(grants: Grants, cloud: Cloud) -> StepHost {
    StepHost::new(
        "mock".into(),
        Arc::new(Recorder::detached()),
        Default::default(),
        Reach {
            grants: Arc::new(grants),
            cloud: Some(Arc::new(cloud)),
        },
    )
}

fn cloud() -> Cloud {
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .build();
    Cloud::new(CloudKind::Aws, sdk, None, Default::default())
}

/// The SDK's standard retry policy (3 attempts), with backoff short enough for a test.
fn standard_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

fn zone_grant() -> Grants {
    Grants {
        route53: vec![Route53Grant {
            zones: vec![HostedZone::Id("Z0EXAMPLE".into())],
            records: vec!["*".into()],
        }],
        ..Default::default()
    }
}

fn error(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

#[tokio::test]
async fn throttling_is_retried_then_surfaced() {
    use aws_sdk_route53::operation::list_hosted_zones_by_name::ListHostedZonesByNameError as E;
    let rule = mock!(aws_sdk_route53::Client::list_hosted_zones_by_name)
        .sequence()
        .error(|| E::generic(error("Throttling", "Rate exceeded")))
        .times(3)
        .build();
    let mut cloud = cloud();
    cloud.route53 = mock_client!(aws_sdk_route53, RuleMode::Sequential, &[&rule], |c| c
        .retry_config(standard_retries()));
    let mut host = host(zone_grant(), cloud);
    let result = route53::Host::list_hosted_zones_by_name(&mut host, None)
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 3, "the SDK retries throttling twice");
    match result {
        Err(PluginError::Throttled(m)) => {
            assert!(
                m.contains("ListHostedZonesByName: Throttling: Rate exceeded"),
                "{m}"
            )
        }
        other => panic!("expected throttled, got {other:?}"),
    }
}

#[tokio::test]
async fn throttling_that_clears_succeeds() {
    use aws_sdk_route53::operation::list_hosted_zones_by_name::{
        ListHostedZonesByNameError as E, ListHostedZonesByNameOutput as O,
    };
    let zone = aws_sdk_route53::types::HostedZone::builder()
        .id("/hostedzone/Z0EXAMPLE")
        .name("example.com.")
        .caller_reference("ref")
        .build()
        .unwrap();
    let rule = mock!(aws_sdk_route53::Client::list_hosted_zones_by_name)
        .sequence()
        .error(|| E::generic(error("Throttling", "Rate exceeded")))
        .output(move || {
            O::builder()
                .hosted_zones(zone.clone())
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        })
        .build();
    let mut cloud = cloud();
    cloud.route53 = mock_client!(aws_sdk_route53, RuleMode::Sequential, &[&rule], |c| c
        .retry_config(standard_retries()));
    let mut host = host(zone_grant(), cloud);
    let zones = route53::Host::list_hosted_zones_by_name(&mut host, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rule.num_calls(), 2);
    assert_eq!(zones.len(), 1);
    assert_eq!(zones[0].id, "Z0EXAMPLE");
    assert_eq!(zones[0].name, "example.com.");
}

#[tokio::test]
async fn a_missing_zone_is_not_found() {
    use aws_sdk_route53::operation::get_hosted_zone::GetHostedZoneError as E;
    let rule = mock!(aws_sdk_route53::Client::get_hosted_zone).then_error(|| {
        E::NoSuchHostedZone(
            aws_sdk_route53::types::error::NoSuchHostedZone::builder()
                .message("No hosted zone found with ID: Z0EXAMPLE")
                .meta(error(
                    "NoSuchHostedZone",
                    "No hosted zone found with ID: Z0EXAMPLE",
                ))
                .build(),
        )
    });
    let mut cloud = cloud();
    cloud.route53 = mock_client!(aws_sdk_route53, RuleMode::Sequential, &[&rule], |c| c
        .retry_config(standard_retries()));
    let mut host = host(zone_grant(), cloud);
    let result = route53::Host::get_hosted_zone(&mut host, "Z0EXAMPLE".into())
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1, "not-found is not retried");
    match result {
        Err(PluginError::NotFound(m)) => assert!(m.contains("NoSuchHostedZone"), "{m}"),
        other => panic!("expected not-found, got {other:?}"),
    }
}

#[tokio::test]
async fn access_denied_is_denied() {
    use aws_sdk_elasticloadbalancingv2::operation::describe_load_balancers::DescribeLoadBalancersError as E;
    let rule =
        mock!(aws_sdk_elasticloadbalancingv2::Client::describe_load_balancers).then_error(|| {
            E::generic(error(
                "AccessDenied",
                "User is not authorized to perform: elasticloadbalancing:DescribeLoadBalancers",
            ))
        });
    let cloud = cloud();
    cloud.set_elbv2(
        "us-east-1",
        mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::Sequential,
            &[&rule],
            |c| c.retry_config(standard_retries())
        ),
    );
    let grants = Grants {
        elbv2: vec![Elbv2Grant {
            regions: vec!["us-east-1".into()],
        }],
        ..Default::default()
    };
    let mut host = host(grants, cloud);
    let result =
        elbv2::Host::describe_load_balancers(&mut host, "us-east-1".into(), vec![], vec![])
            .await
            .unwrap();
    assert_eq!(rule.num_calls(), 1);
    match result {
        Err(PluginError::Denied(m)) => {
            assert!(
                m.starts_with("DescribeLoadBalancers: AccessDenied: User is not authorized"),
                "{m}"
            )
        }
        other => panic!("expected denied, got {other:?}"),
    }
}

#[tokio::test]
async fn out_of_grant_calls_reach_no_client() {
    // The mock has no rules: any request would fail the test with a "no rule" error
    // rather than `denied`.
    let rule = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_load_balancers)
        .then_error(|| unreachable!("the call must not be sent"));
    let cloud = cloud();
    cloud.set_elbv2(
        "us-west-1",
        mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::Sequential,
            &[&rule]
        ),
    );
    let grants = Grants {
        elbv2: vec![Elbv2Grant {
            regions: vec!["us-east-1".into()],
        }],
        ..Default::default()
    };
    let mut host = host(grants, cloud);
    let result =
        elbv2::Host::describe_load_balancers(&mut host, "us-west-1".into(), vec![], vec![])
            .await
            .unwrap();
    assert_eq!(rule.num_calls(), 0);
    match result {
        Err(PluginError::Denied(m)) => assert_eq!(
            m,
            "no grant allows Elastic Load Balancing in region `us-west-1` (grants.elbv2)"
        ),
        other => panic!("expected denied, got {other:?}"),
    }
}
