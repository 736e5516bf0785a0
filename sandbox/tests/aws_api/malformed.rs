//! Requests no SDK would send get each protocol's own error shape and a 4xx status,
//! never a panic or a hang; and nothing they carry is applied.

use crate::support::{self, Req, error_code, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_protocol_errors() {
    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let ep = sb.endpoints().clone();
    let before = serde_json::to_string(&sb.aws().snapshot()).unwrap();
    let huge = "x".repeat(2 * 1024 * 1024);
    let cases: Vec<(&str, Req<'_>, u16, &str)> = vec![
        // Global Accelerator, awsJson1_1.
        (
            "bad json",
            Req::ga("CreateAccelerator", "{not json", &ep),
            400,
            "SerializationException",
        ),
        (
            "json array",
            Req::ga("CreateAccelerator", "[1,2]", &ep),
            400,
            "SerializationException",
        ),
        (
            "wrong type",
            Req::ga(
                "CreateAccelerator",
                r#"{"Name":5,"IdempotencyToken":"t"}"#,
                &ep,
            ),
            400,
            "SerializationException",
        ),
        (
            "missing field",
            Req::ga("CreateAccelerator", r#"{"IdempotencyToken":"t"}"#, &ep),
            400,
            "InvalidArgumentException",
        ),
        (
            "bad name",
            Req::ga(
                "CreateAccelerator",
                r#"{"Name":"-bad-","IdempotencyToken":"t"}"#,
                &ep,
            ),
            400,
            "InvalidArgumentException",
        ),
        (
            "unknown op",
            Req::ga("LaunchRockets", "{}", &ep),
            400,
            "UnknownOperationException",
        ),
        (
            "not found",
            Req::ga(
                "DescribeAccelerator",
                r#"{"AcceleratorArn":"arn:aws:globalaccelerator::000000000000:accelerator/nope"}"#,
                &ep,
            ),
            400,
            "AcceleratorNotFoundException",
        ),
        (
            "bad max results",
            Req::ga("ListAccelerators", r#"{"MaxResults":1000}"#, &ep),
            400,
            "InvalidArgumentException",
        ),
        (
            "oversized json",
            Req::ga("CreateAccelerator", &huge, &ep),
            413,
            "RequestEntityTooLarge",
        ),
        (
            "unsigned json",
            Req {
                key: None,
                ..Req::ga("ListAccelerators", "{}", &ep)
            },
            403,
            "MissingAuthenticationTokenException",
        ),
        // Route 53, restXml.
        (
            "bad xml",
            Req::route53(
                "POST",
                "/2013-04-01/hostedzone",
                "<CreateHostedZoneRequest><Name>x",
                &ep,
            ),
            400,
            "InvalidInput",
        ),
        (
            "wrong root",
            Req::route53("POST", "/2013-04-01/hostedzone", "<Foo/>", &ep),
            400,
            "InvalidInput",
        ),
        (
            "missing name",
            Req::route53(
                "POST",
                "/2013-04-01/hostedzone",
                "<CreateHostedZoneRequest><CallerReference>r</CallerReference></CreateHostedZoneRequest>",
                &ep,
            ),
            400,
            "InvalidInput",
        ),
        (
            "bad domain",
            Req::route53(
                "POST",
                "/2013-04-01/hostedzone",
                "<CreateHostedZoneRequest><Name>a..b</Name><CallerReference>r</CallerReference></CreateHostedZoneRequest>",
                &ep,
            ),
            400,
            "InvalidDomainName",
        ),
        (
            "no zone",
            Req::route53("GET", "/2013-04-01/hostedzone/ZNOPE", "", &ep),
            404,
            "NoSuchHostedZone",
        ),
        (
            "no change",
            Req::route53("GET", "/2013-04-01/change/CNOPE", "", &ep),
            404,
            "NoSuchChange",
        ),
        (
            "unknown path",
            Req::route53("GET", "/2013-04-01/frobnicate", "", &ep),
            404,
            "UnknownOperationException",
        ),
        (
            "oversized xml",
            Req::route53("POST", "/2013-04-01/hostedzone", &huge, &ep),
            413,
            "RequestEntityTooLarge",
        ),
        (
            "unsigned xml",
            Req {
                key: None,
                ..Req::route53("GET", "/2013-04-01/hostedzone", "", &ep)
            },
            403,
            "MissingAuthenticationToken",
        ),
        // ELBv2 and STS, awsQuery.
        (
            "no action",
            Req::query(
                "elasticloadbalancing",
                "us-east-1",
                "Version=2015-12-01",
                &ep,
            ),
            400,
            "MissingAction",
        ),
        (
            "unknown action",
            Req::query(
                "elasticloadbalancing",
                "us-east-1",
                "Action=Explode&Version=2015-12-01",
                &ep,
            ),
            400,
            "InvalidAction",
        ),
        (
            "classic elb version",
            Req::query(
                "elasticloadbalancing",
                "us-east-1",
                "Action=DescribeLoadBalancers&Version=2012-06-01",
                &ep,
            ),
            400,
            "InvalidAction",
        ),
        (
            "missing param",
            Req::query(
                "elasticloadbalancing",
                "us-east-1",
                "Action=DeleteLoadBalancer&Version=2015-12-01",
                &ep,
            ),
            400,
            "ValidationError",
        ),
        (
            "bad page size",
            Req::query(
                "elasticloadbalancing",
                "us-east-1",
                "Action=DescribeLoadBalancers&Version=2015-12-01&PageSize=0",
                &ep,
            ),
            400,
            "ValidationError",
        ),
        (
            "lb not found",
            Req::query(
                "elasticloadbalancing",
                "us-east-1",
                "Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1=nope",
                &ep,
            ),
            400,
            "LoadBalancerNotFound",
        ),
        (
            "garbage form",
            Req::query("elasticloadbalancing", "us-east-1", "%%%&&==&\u{1}", &ep),
            400,
            "MissingAction",
        ),
        (
            "oversized form",
            Req::query("elasticloadbalancing", "us-east-1", &huge, &ep),
            413,
            "RequestEntityTooLarge",
        ),
        (
            "sts unknown action",
            Req::query(
                "sts",
                "us-east-1",
                "Action=AssumeRole&Version=2011-06-15",
                &ep,
            ),
            400,
            "InvalidAction",
        ),
        (
            "unsigned query",
            Req {
                key: None,
                ..Req::query(
                    "sts",
                    "us-east-1",
                    "Action=GetCallerIdentity&Version=2011-06-15",
                    &ep,
                )
            },
            403,
            "MissingAuthenticationToken",
        ),
        (
            "unknown service",
            Req::query(
                "ec2",
                "us-east-1",
                "Action=DescribeInstances&Version=2016-11-15",
                &ep,
            ),
            400,
            "InvalidAction",
        ),
    ];
    // Wrong credentials, each protocol (the CLI test covers the rest with the real CLI).
    let bad_secret = Some((ep.access_key_id.as_str(), "wrong-secret"));
    let bad_key = Some(("AKIAUNKNOWN", ep.secret_access_key.as_str()));
    let mut cases = cases;
    cases.extend([
        (
            "ga unknown key",
            Req {
                key: bad_key,
                ..Req::ga("ListAccelerators", "{}", &ep)
            },
            403,
            "UnrecognizedClientException",
        ),
        (
            "route53 unknown key",
            Req {
                key: bad_key,
                ..Req::route53("GET", "/2013-04-01/hostedzone", "", &ep)
            },
            403,
            "InvalidClientTokenId",
        ),
        (
            "sts wrong secret",
            Req {
                key: bad_secret,
                ..Req::query(
                    "sts",
                    "us-east-1",
                    "Action=GetCallerIdentity&Version=2011-06-15",
                    &ep,
                )
            },
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "elbv2 wrong secret",
            Req {
                key: bad_secret,
                ..Req::query(
                    "elasticloadbalancing",
                    "us-east-1",
                    "Action=DeleteLoadBalancer&Version=2015-12-01&LoadBalancerArn=x",
                    &ep,
                )
            },
            403,
            "SignatureDoesNotMatch",
        ),
    ]);
    // Replays: a correct signature made 20 minutes ago (or ahead) is refused.
    cases.extend([
        (
            "json stale signature",
            Req {
                amz_date: Some(support::amz_date_at(-20 * 60)),
                ..Req::ga("ListAccelerators", "{}", &ep)
            },
            403,
            "InvalidSignatureException",
        ),
        (
            "query future signature",
            Req {
                amz_date: Some(support::amz_date_at(20 * 60)),
                ..Req::query(
                    "sts",
                    "us-east-1",
                    "Action=GetCallerIdentity&Version=2011-06-15",
                    &ep,
                )
            },
            403,
            "SignatureDoesNotMatch",
        ),
    ]);
    // A scope for another region or service than the endpoint's, validly signed with it.
    cases.extend([
        (
            "json scoped to another region",
            Req {
                region: "us-east-1",
                ..Req::ga("ListAccelerators", "{}", &ep)
            },
            403,
            "InvalidSignatureException",
        ),
        (
            "json scoped to another service",
            Req {
                service: "route53",
                ..Req::ga("ListAccelerators", "{}", &ep)
            },
            403,
            "InvalidSignatureException",
        ),
        (
            "xml scoped to another region",
            Req {
                region: "eu-west-1",
                ..Req::route53("GET", "/2013-04-01/hostedzone", "", &ep)
            },
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "query elbv2 call scoped to sts",
            Req::query(
                "sts",
                "us-east-1",
                "Action=DescribeLoadBalancers&Version=2015-12-01",
                &ep,
            ),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "query scoped to no region",
            Req::query(
                "sts",
                "moon",
                "Action=GetCallerIdentity&Version=2011-06-15",
                &ep,
            ),
            403,
            "SignatureDoesNotMatch",
        ),
    ]);
    for (name, req, status, code) in cases {
        let xml = !req.headers.iter().any(|(k, _)| *k == "x-amz-target");
        let reply = send(&ep, req).await;
        assert_eq!(reply.status, status, "{name}: {}", reply.body);
        assert_eq!(error_code(&reply.body), code, "{name}: {}", reply.body);
        if xml {
            assert!(
                reply.body.contains("<ErrorResponse") && reply.body.contains("<Type>Sender</Type>"),
                "{name}: {}",
                reply.body
            );
        } else {
            let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            assert!(v["message"].is_string(), "{name}: {}", reply.body);
        }
    }
    // The sandbox still answers, and none of it changed anything.
    support::assert_still_answers(&ep).await;
    assert_eq!(before, serde_json::to_string(&sb.aws().snapshot()).unwrap());
    sb.shutdown().await.unwrap();
}
