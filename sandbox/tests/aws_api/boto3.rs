//! boto3 (botocore's own serializers, parsers, paginators and waiters) through the
//! tutorial's operations, from `tests/scripts/tutorial_boto3.py`.

use runner_sandbox::provider::LoadBalancers;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_runs_the_tutorial_operations() {
    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let ep = sb.endpoints().clone();
    let mut env = support::aws_env(&ep);
    for (cluster, region, var) in [
        ("primary", "us-east-1", "ALB1_DNS"),
        ("secondary", "us-east-2", "ALB2_DNS"),
    ] {
        let alb = sb
            .aws()
            .ensure_ingress_alb(&support::tutorial_alb(cluster, region))
            .unwrap();
        env.push((var.into(), alb.dns_name));
    }
    let script = support::scripts_dir().join("tutorial_boto3.py");
    let out = support::run("python3", &[script.to_str().unwrap()], &env, None).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tutorial_boto3.py failed:\n{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({"account": "000000000000", "accelerators_left": 0, "zones_left": 0})
    );
    sb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_urls_from_the_aws_cli_and_boto3_verify() {
    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let env = support::aws_env(sb.endpoints());
    let script = support::scripts_dir().join("presigned_boto3.py");
    let out = support::run("python3", &[script.to_str().unwrap()], &env, None).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "presigned_boto3.py failed:\n{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({"eks_token": "ok", "presigned": "ok"})
    );
    sb.shutdown().await.unwrap();
}
