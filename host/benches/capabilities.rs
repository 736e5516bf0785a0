//! Capability benchmarks: prints figures for BENCHMARKS.md.
//!
//! `cargo bench -p runner --bench capabilities`. A denied call is the host path alone
//! (grant check, error, audit record); the round trip is an allowed ELBv2 call through
//! the capability against an in-process sandbox, beside the same SDK call made directly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runner::bindings::runner::plugin::{elbv2, global_accelerator};
use runner::capabilities::{Reach, StepHost};
use runner::cloud::{Cloud, CloudKind};
use runner::exec::recorder::{Recorder, Silent};
use runner::state::{AuditLog, Journal};
use runner_workflow::{AcceleratorGrant, AcceleratorSelector, Elbv2Grant, Grants};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{what}: median {:.2} µs, p99 {:.2} µs ({} calls)",
        us(percentile(&samples, 0.5)),
        us(percentile(&samples, 0.99)),
        samples.len()
    );
}

fn grants() -> Grants {
    Grants {
        global_accelerator: vec![AcceleratorGrant {
            accelerators: vec![AcceleratorSelector::Name("allowed".into())],
            create: true,
            guard: Default::default(),
        }],
        elbv2: vec![Elbv2Grant {
            regions: vec!["us-east-1".into()],
        }],
        ..Default::default()
    }
}

fn host(recorder: Arc<Recorder>, cloud: Arc<Cloud>) -> StepHost {
    StepHost::new(
        "bench".into(),
        recorder,
        Default::default(),
        Reach {
            grants: Arc::new(grants()),
            cloud: Some(cloud),
        },
    )
}

fn create_input(name: &str) -> global_accelerator::CreateAcceleratorInput {
    global_accelerator::CreateAcceleratorInput {
        name: name.into(),
        ip_address_type: None,
        enabled: true,
        tags: vec![],
        idempotency_token: "t".into(),
    }
}

/// A create outside the grant: checked, refused and audited without leaving the host.
async fn denied(cloud: Arc<Cloud>, recorder: Arc<Recorder>, what: &str) {
    let mut host = host(recorder, cloud);
    let mut samples = Vec::with_capacity(20_000);
    for i in 0..21_000 {
        let start = Instant::now();
        let r = global_accelerator::Host::create_accelerator(&mut host, create_input("other"))
            .await
            .unwrap();
        let took = start.elapsed();
        assert!(r.is_err());
        if i >= 1000 {
            samples.push(took);
        }
    }
    report(what, samples);
}

async fn round_trip(cloud: Arc<Cloud>) {
    let mut host = host(Arc::new(Recorder::detached()), cloud.clone());
    let client = cloud.elbv2("us-east-1");
    let (mut through, mut direct) = (Vec::new(), Vec::new());
    for i in 0..1100 {
        let start = Instant::now();
        elbv2::Host::describe_load_balancers(&mut host, "us-east-1".into(), vec![], vec![])
            .await
            .unwrap()
            .unwrap();
        let a = start.elapsed();
        let start = Instant::now();
        client.describe_load_balancers().send().await.unwrap();
        let b = start.elapsed();
        if i >= 100 {
            through.push(a);
            direct.push(b);
        }
    }
    report(
        "sandbox round trip through the elbv2 capability (DescribeLoadBalancers)",
        through,
    );
    report("the same call made directly with aws-sdk-rust", direct);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = runner_sandbox::Sandbox::start(runner_sandbox::SandboxConfig::new(
            dir.path().join("sandbox"),
        ))
        .await
        .unwrap();
        let ep = sandbox.endpoints().clone();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
                aws_sdk_sts::config::Credentials::new(
                    ep.access_key_id.clone(),
                    ep.secret_access_key.clone(),
                    None,
                    None,
                    "bench",
                ),
            ))
            .build();
        let cloud = Arc::new(Cloud::new(
            CloudKind::Sandbox,
            sdk,
            Some(ep.aws.clone()),
            Default::default(),
        ));
        denied(
            cloud.clone(),
            Arc::new(Recorder::detached()),
            "denied capability call (grant check + error), no audit file",
        )
        .await;
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        let recorder = Arc::new(Recorder::new(
            "bench".into(),
            Journal::create(&run.join("journal.ndjson")).unwrap(),
            AuditLog::create(&run.join("audit.ndjson")).unwrap(),
            Arc::new(Silent),
        ));
        denied(
            cloud.clone(),
            recorder,
            "denied capability call, audited to audit.ndjson",
        )
        .await;
        round_trip(cloud).await;
        sandbox.shutdown().await.unwrap();
    });
}
