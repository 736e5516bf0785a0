//! Helpers shared by the AWS tests: an in-process sandbox on a temp dir with a short
//! delay, the stock `aws` CLI and python pointed at it, and a tiny SigV4-signing HTTP
//! client for requests no SDK would send (malformed bodies, wrong secrets).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use runner_sandbox::{Endpoints, Sandbox, SandboxConfig, SandboxHandle};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Transitions in tests take this long.
pub const DELAY: Duration = Duration::from_millis(20);
/// No external client call may take longer than this.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub fn config(dir: &Path) -> SandboxConfig {
    let mut cfg = SandboxConfig::load_or_new(dir.to_path_buf()).unwrap();
    cfg.transition_delay = DELAY;
    cfg
}

pub async fn start(dir: &Path) -> SandboxHandle {
    tokio::time::timeout(Duration::from_secs(30), Sandbox::start(config(dir)))
        .await
        .expect("sandbox start timed out")
        .expect("sandbox start failed")
}

/// The environment that points the aws CLI, boto3 and SDKs at the sandbox and at
/// nothing else (no user config, no metadata service).
pub fn aws_env(ep: &Endpoints) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("AWS_ENDPOINT_URL".into(), ep.aws.clone()),
        ("AWS_ACCESS_KEY_ID".into(), ep.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY".into(), ep.secret_access_key.clone()),
        ("AWS_DEFAULT_REGION".into(), ep.region.clone()),
        ("AWS_REGION".into(), ep.region.clone()),
    ];
    env.extend(isolation_env());
    env
}

pub fn isolation_env() -> Vec<(String, String)> {
    vec![
        ("AWS_CONFIG_FILE".into(), "/nonexistent/aws-config".into()),
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            "/nonexistent/aws-credentials".into(),
        ),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("AWS_PAGER".into(), String::new()),
        ("AWS_MAX_ATTEMPTS".into(), "1".into()),
    ]
}

/// Runs a program with `env` (and no inherited AWS_* variables), bounded by CALL_TIMEOUT.
pub async fn run(
    program: &str,
    args: &[&str],
    env: &[(String, String)],
    cwd: Option<&Path>,
) -> Output {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k == "KUBECONFIG" {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    tokio::time::timeout(CALL_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} timed out"))
        .unwrap_or_else(|e| panic!("running {program}: {e}{}", install_hint(program, &e)))
}

/// What to install when a client these tests drive is missing.
pub fn install_hint(program: &str, e: &std::io::Error) -> &'static str {
    if e.kind() != std::io::ErrorKind::NotFound {
        return "";
    }
    match program {
        "aws" | "python3" => {
            " (the AWS tests need: pip install 'awscli==1.45.11' 'boto3==1.43.11' 'moto[server]==5.2.1')"
        }
        "kubectl" => " (the end-to-end test needs kubectl v1.32 on PATH)",
        _ => "",
    }
}

/// Runs the aws CLI against the sandbox; panics with its stderr unless it succeeds.
pub async fn aws_ok(ep: &Endpoints, args: &[&str]) -> String {
    let out = run("aws", args, &aws_env(ep), None).await;
    assert!(
        out.status.success(),
        "aws {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs the aws CLI expecting failure; returns its stderr.
pub async fn aws_err(ep: &Endpoints, env: &[(String, String)], args: &[&str]) -> String {
    let _ = ep;
    let out = run("aws", args, env, None).await;
    assert!(
        !out.status.success(),
        "aws {args:?} unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts")
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// What to send: everything a malformed-request test may want to get wrong.
pub struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: Vec<u8>,
    pub service: &'a str,
    pub region: &'a str,
    /// None: unsigned.
    pub key: Option<(&'a str, &'a str)>,
    /// `X-Amz-Date`; None: now.
    pub amz_date: Option<String>,
}

/// The current time as `YYYYMMDDTHHMMSSZ`, `offset_secs` from now.
pub fn amz_date_at(offset_secs: i64) -> String {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(offset_secs);
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

fn amz_date_now() -> String {
    amz_date_at(0)
}

impl<'a> Req<'a> {
    pub fn ga(op: &str, body: &str, ep: &'a Endpoints) -> Self {
        Req {
            method: "POST",
            path: "/",
            query: "",
            headers: vec![
                ("x-amz-target", format!("GlobalAccelerator_V20180706.{op}")),
                ("content-type", "application/x-amz-json-1.1".into()),
            ],
            body: body.as_bytes().to_vec(),
            service: "globalaccelerator",
            region: "us-west-2",
            key: Some((&ep.access_key_id, &ep.secret_access_key)),
            amz_date: None,
        }
    }

    pub fn query(service: &'a str, region: &'a str, form: &str, ep: &'a Endpoints) -> Self {
        Req {
            method: "POST",
            path: "/",
            query: "",
            headers: vec![(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            body: form.as_bytes().to_vec(),
            service,
            region,
            key: Some((&ep.access_key_id, &ep.secret_access_key)),
            amz_date: None,
        }
    }

    pub fn route53(method: &'a str, path: &'a str, body: &str, ep: &'a Endpoints) -> Self {
        Req {
            method,
            path,
            query: "",
            headers: vec![("content-type", "text/xml".into())],
            body: body.as_bytes().to_vec(),
            service: "route53",
            region: "us-east-1",
            key: Some((&ep.access_key_id, &ep.secret_access_key)),
            amz_date: None,
        }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Sends one request over a fresh connection (SigV4-signed when `key` is set).
pub async fn send(ep: &Endpoints, req: Req<'_>) -> Reply {
    let addr = ep.aws.strip_prefix("http://").unwrap().to_string();
    let amz_date = req.amz_date.clone().unwrap_or_else(amz_date_now);
    let date = amz_date[..8].to_string();
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    headers.push(("host".into(), addr.clone()));
    headers.push(("x-amz-date".into(), amz_date.clone()));
    if let Some((key, secret)) = req.key {
        headers.sort();
        let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        let signed = signed.join(";");
        let canonical_headers: String = headers
            .iter()
            .map(|(k, v)| format!("{k}:{}\n", v.trim()))
            .collect();
        let canonical = format!(
            "{}\n{}\n{}\n{canonical_headers}\n{signed}\n{}",
            req.method,
            req.path,
            req.query,
            hex::encode(Sha256::digest(&req.body))
        );
        let scope = format!("{date}/{}/{}/aws4_request", req.region, req.service);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        for part in [req.region, req.service, "aws4_request"] {
            k = hmac(&k, part.as_bytes());
        }
        let sig = hex::encode(hmac(&k, to_sign.as_bytes()));
        headers.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={signed}, Signature={sig}"
            ),
        ));
    }
    let target = if req.query.is_empty() {
        req.path.to_string()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    let mut head = format!("{} {target} HTTP/1.1\r\n", req.method);
    for (k, v) in &headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += &format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        req.body.len()
    );
    let io = async {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        // The server may answer (e.g. 413) before reading a huge body: ignore write errors.
        let _ = s.write_all(&req.body).await;
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        buf
    };
    let buf = tokio::time::timeout(Duration::from_secs(20), io)
        .await
        .expect("request timed out");
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Reply { status, body }
}

/// Asserts the AWS endpoint still answers an authenticated call.
pub async fn assert_still_answers(ep: &Endpoints) {
    let who = send(
        ep,
        Req::query(
            "sts",
            "us-east-1",
            "Action=GetCallerIdentity&Version=2011-06-15",
            ep,
        ),
    )
    .await;
    assert_eq!(who.status, 200, "{}", who.body);
}

/// The error code in an awsJson or XML error body.
pub fn error_code(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        return v["__type"].as_str().unwrap_or_default().to_string();
    }
    body.split_once("<Code>")
        .and_then(|(_, r)| r.split_once("</Code>"))
        .map(|(c, _)| c.to_string())
        .unwrap_or_default()
}

/// What the controller asks for when the tutorial's Ingress `py-az-ingress` appears.
pub fn tutorial_alb(cluster: &str, region: &str) -> runner_sandbox::provider::AlbRequest {
    runner_sandbox::provider::AlbRequest {
        cluster: cluster.into(),
        region: region.into(),
        namespace: "default".into(),
        ingress: "py-az-ingress".into(),
        scheme: "internet-facing".into(),
        tags: Default::default(),
    }
}
