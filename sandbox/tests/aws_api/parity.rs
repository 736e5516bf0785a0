//! Parity with moto: one boto3 script (`tests/scripts/parity_boto3.py`) runs against
//! `moto_server` and against the sandbox; the normalized results must be identical for
//! the Route 53 and ELBv2 behaviours where moto follows AWS.

use std::time::{Duration, Instant};

use crate::support;

/// A moto_server on a free loopback port, killed when dropped.
struct Moto {
    child: tokio::process::Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "starting moto_server: {e}{}",
                support::install_hint("aws", &e)
            )
        });
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "moto_server did not start within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_sees_the_same_route53_and_elbv2_as_on_moto() {
    let script = support::scripts_dir().join("parity_boto3.py");
    let script = script.to_str().unwrap();
    let moto = start_moto().await;
    let mut moto_env = vec![
        ("AWS_ENDPOINT_URL".to_string(), moto.url.clone()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
    ];
    moto_env.extend(support::isolation_env());

    let dir = tempfile::tempdir().unwrap();
    let sb = support::start(dir.path()).await;
    let sb_env = support::aws_env(sb.endpoints());

    let (moto_args, sandbox_args) = ([script, "moto"], [script, "sandbox"]);
    let (on_moto, on_sandbox) = tokio::join!(
        support::run("python3", &moto_args, &moto_env, None),
        support::run("python3", &sandbox_args, &sb_env, None),
    );
    drop(moto);
    assert!(
        on_moto.status.success(),
        "against moto: {}",
        String::from_utf8_lossy(&on_moto.stderr)
    );
    assert!(
        on_sandbox.status.success(),
        "against the sandbox: {}",
        String::from_utf8_lossy(&on_sandbox.stderr)
    );
    let moto_steps: Vec<serde_json::Value> = serde_json::from_slice(&on_moto.stdout).unwrap();
    let sandbox_steps: Vec<serde_json::Value> = serde_json::from_slice(&on_sandbox.stdout).unwrap();
    assert_eq!(moto_steps.len(), sandbox_steps.len());
    for (m, s) in moto_steps.iter().zip(&sandbox_steps) {
        assert_eq!(m, s, "moto and the sandbox differ at step {}", m["step"]);
    }
    sb.shutdown().await.unwrap();
}
