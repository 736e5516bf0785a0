//! `runner sandbox env|status|kubeconfig|reset` (the `cli` module) on a sandbox started
//! in-process; `up`/`down` need the runner binary and are exercised from the host side.

use std::process::ExitCode;

use runner_sandbox::cli::{self, SandboxCommand};

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_env_status_kubeconfig_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    // Before the first start: env explains what to do; status says stopped.
    let err = cli::run(SandboxCommand::Env, path.clone())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("runner sandbox up"), "{err:#}");
    assert_eq!(
        cli::run(SandboxCommand::Status, path.clone())
            .await
            .unwrap(),
        ExitCode::from(cli::EXIT_STOPPED)
    );

    let sb = support::start(&path).await;
    let ep = sb.endpoints().clone();
    let env = cli::env_lines(&ep);
    for var in [
        "AWS_ENDPOINT_URL=",
        "AWS_ENDPOINT_URL_GLOBAL_ACCELERATOR=",
        "AWS_ENDPOINT_URL_ROUTE_53=",
        "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2=",
        "AWS_ENDPOINT_URL_STS=",
        "AWS_ACCESS_KEY_ID=",
        "AWS_SECRET_ACCESS_KEY=",
        "AWS_REGION='us-east-1'",
        "AWS_DEFAULT_REGION='us-east-1'",
        "KUBECONFIG=",
    ] {
        assert!(
            env.contains(&format!("export {var}")),
            "missing {var} in\n{env}"
        );
    }
    assert!(env.contains(&ep.aws));
    // The exports work in a real shell with the stock aws CLI.
    let script = format!("{env}aws sts get-caller-identity --query Account --output text");
    let out = support::run("sh", &["-c", &script], &support::isolation_env(), None).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "000000000000",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kubeconfig = std::fs::read_to_string(&ep.kubeconfig).unwrap();
    for c in &ep.clusters {
        assert!(
            kubeconfig.contains(&format!("name: sandbox-{}", c.name)),
            "{kubeconfig}"
        );
        assert!(kubeconfig.contains(&c.url), "{kubeconfig}");
    }
    assert_eq!(
        cli::run(SandboxCommand::Kubeconfig, path.clone())
            .await
            .unwrap(),
        ExitCode::SUCCESS
    );

    // A pid file naming a live process means "running": reset refuses.
    std::fs::write(path.join(cli::PID_FILE), std::process::id().to_string()).unwrap();
    assert_eq!(
        cli::run(SandboxCommand::Status, path.clone())
            .await
            .unwrap(),
        ExitCode::SUCCESS
    );
    let err = cli::run(SandboxCommand::Reset, path.clone())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("runner sandbox down"),
        "{err:#}"
    );
    std::fs::remove_file(path.join(cli::PID_FILE)).unwrap();
    sb.shutdown().await.unwrap();

    assert!(path.join(runner_sandbox::AWS_STATE_FILE).exists());
    assert_eq!(
        cli::run(SandboxCommand::Reset, path.clone()).await.unwrap(),
        ExitCode::SUCCESS
    );
    assert!(!path.join(runner_sandbox::AWS_STATE_FILE).exists());
    assert!(
        path.join(runner_sandbox::CONFIG_FILE).exists()
            && path.join(runner_sandbox::PORTS_FILE).exists()
    );
    // After a reset the sandbox comes back empty on the same endpoints.
    let sb = support::start(&path).await;
    assert_eq!(sb.endpoints(), &ep);
    assert_eq!(sb.aws().snapshot().counts(), Default::default());
    sb.shutdown().await.unwrap();
}

/// Not a test of its own: `cli_up_runs_until_down` runs this in a child process (the
/// test binary itself) so that `down`'s SIGTERM reaches only that child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by cli_up_runs_until_down"]
async fn sandbox_up_child() {
    let dir = std::env::var("RUNNER_SANDBOX_TEST_DIR").expect("RUNNER_SANDBOX_TEST_DIR");
    // With RUNNER_SANDBOX_TEST_DETACH the child runs `up --detach`, which starts this
    // same test once more in the background, marked with DETACHED_ENV: that one serves.
    let detach = std::env::var_os("RUNNER_SANDBOX_TEST_DETACH").is_some()
        && std::env::var_os(cli::DETACHED_ENV).is_none();
    let up = SandboxCommand::Up {
        detach,
        clusters: vec!["east=us-east-1".into()],
        delay_ms: Some(20),
        home_region: None,
        faults: None,
        seed: 0,
    };
    assert_eq!(cli::run(up, dir.into()).await.unwrap(), ExitCode::SUCCESS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_up_runs_until_down() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (child, ep) = spawn_up_child(&path, true).await;
    assert_eq!(ep.clusters.len(), 1);
    assert_eq!(
        (ep.clusters[0].name.as_str(), ep.region.as_str()),
        ("east", "us-east-1")
    );
    support::aws_ok(
        &ep,
        &[
            "route53",
            "create-hosted-zone",
            "--name",
            "example.com",
            "--caller-reference",
            "up-1",
        ],
    )
    .await;

    assert_eq!(
        cli::run(SandboxCommand::Down, path.clone()).await.unwrap(),
        ExitCode::SUCCESS
    );
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Sandbox running") && stdout.contains(&ep.aws),
        "{stdout}"
    );
    assert_eq!(
        cli::run(SandboxCommand::Status, path.clone())
            .await
            .unwrap(),
        ExitCode::from(cli::EXIT_STOPPED)
    );
    assert!(!path.join(cli::PID_FILE).exists());
    // The zone made while it ran is on disk; the saved config keeps the one cluster.
    let state: runner_sandbox::aws::AwsState =
        runner_sandbox::persist::load(&path.join(runner_sandbox::AWS_STATE_FILE))
            .unwrap()
            .unwrap();
    assert_eq!(state.counts().hosted_zones, 1);
    let cfg: runner_sandbox::SandboxConfig =
        runner_sandbox::persist::load(&path.join(runner_sandbox::CONFIG_FILE))
            .unwrap()
            .unwrap();
    assert_eq!(cfg.clusters.len(), 1);
    assert_eq!(cfg.transition_delay.as_millis(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_up_detach_returns_once_it_answers_and_down_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let _guard = StopOnDrop(path.clone());
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "cli_commands::sandbox_up_child",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env("RUNNER_SANDBOX_TEST_DIR", &path)
            .env("RUNNER_SANDBOX_TEST_DETACH", "1")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("`up --detach` did not return")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Sandbox running in the background"),
        "{stdout}"
    );
    // It answers right away, from another process (and session) than the one that returned.
    assert_eq!(
        cli::run(SandboxCommand::Status, path.clone())
            .await
            .unwrap(),
        ExitCode::SUCCESS
    );
    let pid: i32 = std::fs::read_to_string(path.join(cli::PID_FILE))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let ep: runner_sandbox::Endpoints =
        runner_sandbox::persist::load(&path.join(runner_sandbox::ENDPOINTS_FILE))
            .unwrap()
            .unwrap();
    assert!(stdout.contains(&ep.aws), "{stdout}");
    // A second `up` finds it running and leaves it alone.
    let again = SandboxCommand::Up {
        detach: true,
        clusters: vec![],
        delay_ms: None,
        home_region: None,
        faults: None,
        seed: 0,
    };
    assert_eq!(
        cli::run(again, path.clone()).await.unwrap(),
        ExitCode::SUCCESS
    );
    assert_eq!(
        std::fs::read_to_string(path.join(cli::PID_FILE))
            .unwrap()
            .trim(),
        pid.to_string()
    );

    assert_eq!(
        cli::run(SandboxCommand::Down, path.clone()).await.unwrap(),
        ExitCode::SUCCESS
    );
    assert_eq!(
        cli::run(SandboxCommand::Status, path.clone())
            .await
            .unwrap(),
        ExitCode::from(cli::EXIT_STOPPED)
    );
    let log = std::fs::read_to_string(path.join(cli::LOG_FILE)).unwrap();
    assert!(log.contains("Sandbox stopped."), "{log}");
}

/// Stops a background sandbox left running by a failed assertion.
struct StopOnDrop(std::path::PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.0.join(cli::PID_FILE))
            && let Ok(pid) = pid.trim().parse::<i32>()
            && pid > 0
        {
            // SAFETY: signals only the pid our own `up --detach` recorded.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (mut child, ep) = spawn_up_child(&path, false).await;
    let mut arns = Vec::new();
    for i in 0..5 {
        let body = format!(r#"{{"Name":"acc-{i}","IdempotencyToken":"k9-{i}"}}"#);
        let r = support::send(&ep, support::Req::ga("CreateAccelerator", &body, &ep)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        arns.push(
            v["Accelerator"]["AcceleratorArn"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // No chance to save on the way out.
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    assert_eq!(
        cli::run(SandboxCommand::Status, path.clone())
            .await
            .unwrap(),
        ExitCode::from(cli::EXIT_STOPPED)
    );

    let sb = support::start(&path).await;
    assert_eq!(sb.endpoints().aws, ep.aws);
    let kept: Vec<String> = sb
        .aws()
        .snapshot()
        .ga
        .accelerators
        .iter()
        .map(|a| a.arn.clone())
        .collect();
    assert_eq!(kept, arns);
    sb.shutdown().await.unwrap();
}

/// Runs `sandbox up` in the foreground in a child process (the ignored
/// `sandbox_up_child` test) and waits until it answers; returns it and its endpoints.
async fn spawn_up_child(
    path: &std::path::Path,
    capture: bool,
) -> (tokio::process::Child, runner_sandbox::Endpoints) {
    let io = || {
        if capture {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        }
    };
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "cli_commands::sandbox_up_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("RUNNER_SANDBOX_TEST_DIR", path)
        .stdout(io())
        .stderr(io())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while cli::run(SandboxCommand::Status, path.to_path_buf())
        .await
        .unwrap()
        != ExitCode::SUCCESS
    {
        assert!(std::time::Instant::now() < deadline, "`up` never answered");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ep = runner_sandbox::persist::load(&path.join(runner_sandbox::ENDPOINTS_FILE))
        .unwrap()
        .unwrap();
    (child, ep)
}
