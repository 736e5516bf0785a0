//! `runner sandbox` through the built binary: start it in the background, point the
//! stock `kubectl` and `aws` CLI at it with `runner sandbox env`, stop it.

use std::process::Command;

use crate::support::*;

#[test]
fn sandbox_up_env_down_serves_stock_kubectl_and_aws() {
    let s = Scratch::new();
    let up = s
        .runner(&["sandbox", "up", "--detach"])
        .env("RUNNER_SANDBOX_DELAY_MS", "20")
        .output()
        .unwrap();
    let _down = Down(&s);
    assert_eq!(code(&up), 0, "{}", stderr(&up));
    assert!(
        stdout(&up).contains("cluster primary (us-east-1)"),
        "{}",
        stdout(&up)
    );

    let env = exports(&stdout(&s.run(&["sandbox", "env"])));
    assert!(std::path::Path::new(&env["KUBECONFIG"]).is_absolute());
    let kubectl = Command::new("kubectl")
        .args([
            "--context",
            "sandbox-secondary",
            "get",
            "namespace",
            "kube-system",
            "-o",
            "jsonpath={.metadata.name}",
        ])
        .envs(&env)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&kubectl.stdout),
        "kube-system",
        "{}",
        String::from_utf8_lossy(&kubectl.stderr)
    );
    let aws = Command::new("aws")
        .args([
            "sts",
            "get-caller-identity",
            "--query",
            "Account",
            "--output",
            "text",
        ])
        .envs(&env)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&aws.stdout).trim(),
        "000000000000",
        "{}",
        String::from_utf8_lossy(&aws.stderr)
    );

    let down = s.run(&["sandbox", "down"]);
    assert_eq!(code(&down), 0, "{}", stderr(&down));
    let status = s.run(&["sandbox", "status"]);
    assert_eq!(
        code(&status),
        3,
        "status of a stopped sandbox: {}",
        stdout(&status)
    );
}
