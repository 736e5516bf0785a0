//! Error mapping on the SDK's real error path: a loopback server answers with the
//! services' own error documents (status, XML body) in the order a test gives, so the
//! SDK's parsers, its standard retry policy and our mapping all run as they would
//! against AWS. Throttling is retried by the SDK and then surfaced as `throttled`,
//! missing resources become `not-found`, refusals `denied`.
//!
//! A stub on the wire rather than aws-smithy-mocks: the mocks need the SDK's
//! `test-util` features, which would give `cargo test` a different build of every AWS
//! crate than `cargo run` and keep test-only code in the shipped binary.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use runner_workflow::{Elbv2Grant, Grants, HostedZone, Route53Grant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Reach, StepHost};
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::{elbv2, route53};
use crate::cloud::{Cloud, CloudKind};
use crate::exec::recorder::Recorder;

const ROUTE53_NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
const ELBV2_NS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

/// One canned answer: status and XML body.
struct Answer {
    status: u16,
    body: String,
}

/// The service's error document, as restXml (Route 53) and awsQuery (ELBv2) write it.
fn error(status: u16, ns: &str, code: &str, message: &str) -> Answer {
    Answer {
        status,
        body: format!(
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type>\
             <Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>5d3f7d2c-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
        ),
    }
}

/// A loopback HTTP/1.1 server that answers each request with the next canned answer
/// and remembers each request's method and target.
struct Stub {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Stub {
    async fn start(answers: Vec<Answer>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, answers.clone(), seen.clone()));
            }
        });
        Stub { url, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serves one keep-alive connection: head, `Content-Length` body, next answer.
async fn serve(
    mut socket: TcpStream,
    answers: Arc<Mutex<std::vec::IntoIter<Answer>>>,
    seen: Arc<Mutex<Vec<String>>>,
) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let length = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
        buf.drain(..head_end + length);
        let request_line = head.lines().next().unwrap_or_default().to_string();
        seen.lock().unwrap().push(format!("{request_line} {body}"));
        let Some(answer) = answers.lock().unwrap().next() else {
            return; // more requests than the test expected: the client sees a reset
        };
        let response = format!(
            "HTTP/1.1 {} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{}",
            answer.status,
            answer.body.len(),
            answer.body
        );
        if socket.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn host(grants: Grants, cloud: Cloud) -> StepHost {
    StepHost::new(
        "wire".into(),
        Arc::new(Recorder::detached()),
        Default::default(),
        Reach {
            grants: Arc::new(grants),
            cloud: Some(Arc::new(cloud)),
        },
    )
}

/// An AWS cloud whose every service is the stub, with the SDK's standard retry policy
/// (3 attempts) and backoff short enough for a test.
fn cloud(stub: &Stub) -> Cloud {
    let credentials =
        aws_sdk_sts::config::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .sleep_impl(aws_smithy_async::rt::sleep::SharedAsyncSleep::new(
            aws_smithy_async::rt::sleep::TokioSleep::new(),
        ))
        .build();
    Cloud::new(
        CloudKind::Aws,
        sdk,
        Some(stub.url.clone()),
        Default::default(),
    )
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

fn elbv2_grant() -> Grants {
    Grants {
        elbv2: vec![Elbv2Grant {
            regions: vec!["us-east-1".into()],
        }],
        ..Default::default()
    }
}

fn throttling() -> Answer {
    error(400, ROUTE53_NS, "Throttling", "Rate exceeded")
}

#[tokio::test]
async fn throttling_is_retried_then_surfaced() {
    let stub = Stub::start(vec![throttling(), throttling(), throttling()]).await;
    let mut host = host(zone_grant(), cloud(&stub));
    let result = route53::Host::list_hosted_zones_by_name(&mut host, None)
        .await
        .unwrap();
    let requests = stub.requests();
    assert_eq!(requests.len(), 3, "the SDK retries throttling twice");
    assert!(
        requests
            .iter()
            .all(|r| r.starts_with("GET /2013-04-01/hostedzonesbyname")),
        "{requests:?}"
    );
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
    let listing = Answer {
        status: 200,
        body: format!(
            "<?xml version=\"1.0\"?>\n<ListHostedZonesByNameResponse xmlns=\"{ROUTE53_NS}\">\
             <HostedZones><HostedZone><Id>/hostedzone/Z0EXAMPLE</Id><Name>example.com.</Name>\
             <CallerReference>ref</CallerReference><Config><PrivateZone>false</PrivateZone>\
             </Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>\
             </HostedZones><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems>\
             </ListHostedZonesByNameResponse>"
        ),
    };
    let stub = Stub::start(vec![throttling(), listing]).await;
    let mut host = host(zone_grant(), cloud(&stub));
    let zones = route53::Host::list_hosted_zones_by_name(&mut host, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stub.requests().len(), 2);
    assert_eq!(zones.len(), 1);
    assert_eq!(zones[0].id, "Z0EXAMPLE");
    assert_eq!(zones[0].name, "example.com.");
}

#[tokio::test]
async fn a_missing_zone_is_not_found() {
    let missing = error(
        404,
        ROUTE53_NS,
        "NoSuchHostedZone",
        "No hosted zone found with ID: Z0EXAMPLE",
    );
    let stub = Stub::start(vec![missing]).await;
    let mut host = host(zone_grant(), cloud(&stub));
    let result = route53::Host::get_hosted_zone(&mut host, "Z0EXAMPLE".into())
        .await
        .unwrap();
    let requests = stub.requests();
    assert_eq!(requests.len(), 1, "not-found is not retried");
    assert!(
        requests[0].starts_with("GET /2013-04-01/hostedzone/Z0EXAMPLE "),
        "{requests:?}"
    );
    match result {
        Err(PluginError::NotFound(m)) => assert!(m.contains("NoSuchHostedZone"), "{m}"),
        other => panic!("expected not-found, got {other:?}"),
    }
}

#[tokio::test]
async fn access_denied_is_denied() {
    let denied = error(
        403,
        ELBV2_NS,
        "AccessDenied",
        "User is not authorized to perform: elasticloadbalancing:DescribeLoadBalancers",
    );
    let stub = Stub::start(vec![denied]).await;
    let mut host = host(elbv2_grant(), cloud(&stub));
    let result =
        elbv2::Host::describe_load_balancers(&mut host, "us-east-1".into(), vec![], vec![])
            .await
            .unwrap();
    let requests = stub.requests();
    assert_eq!(requests.len(), 1, "a refusal is not retried");
    assert!(
        requests[0].contains("Action=DescribeLoadBalancers"),
        "{requests:?}"
    );
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
    // No answers: a request that reached the stub would be recorded, then reset.
    let stub = Stub::start(vec![]).await;
    let mut host = host(elbv2_grant(), cloud(&stub));
    let result =
        elbv2::Host::describe_load_balancers(&mut host, "us-west-1".into(), vec![], vec![])
            .await
            .unwrap();
    assert_eq!(stub.requests(), Vec::<String>::new());
    match result {
        Err(PluginError::Denied(m)) => assert_eq!(
            m,
            "no grant allows Elastic Load Balancing in region `us-west-1` (grants.elbv2)"
        ),
        other => panic!("expected denied, got {other:?}"),
    }
}
