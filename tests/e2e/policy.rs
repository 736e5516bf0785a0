//! Routing policies: the built-ins' decisions on recorded scenarios (`runner policy
//! test`), guard rails, hostile policies offline and in the loop, a policy made from the
//! template by following README.md word for word, and `runner watch` against the
//! sandbox moving traffic (seen with the stock `curl`) when the primary's pods go.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cloud::{aws, sandbox_up};
use crate::dataplane::{dig, kubectl, regions, scale_primary};
use crate::support::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scenario(name: &str) -> String {
    repo()
        .join("tests/policies")
        .join(name)
        .display()
        .to_string()
}

/// A `.expected` file: the policy, its params, and each tick's dials after its decision.
struct Expected {
    policy: String,
    params: String,
    dials: Vec<(u64, BTreeMap<String, f64>)>,
}

fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(scenario(&format!("{name}.expected"))).unwrap();
    let header = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
            .unwrap_or_else(|| panic!("{name}.expected has no `# {key}:` line"))
            .to_string()
    };
    let dials = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let tick = parts.next().unwrap().parse().unwrap();
            let dials = parts
                .map(|p| {
                    let (region, dial) = p.split_once('=').unwrap();
                    (region.to_string(), dial.parse().unwrap())
                })
                .collect();
            (tick, dials)
        })
        .collect();
    Expected {
        policy: header("policy"),
        params: header("params"),
        dials,
    }
}

/// `runner policy test` with `--output json`: exit code and one line per tick.
fn replay(
    s: &Scratch,
    policy: &str,
    observations: &str,
    extra: &[&str],
) -> (i32, Vec<Value>, String) {
    let mut args = vec![
        "policy",
        "test",
        policy,
        "--observations",
        observations,
        "-o",
        "json",
    ];
    args.extend(extra);
    let out = s.run(&args);
    let ticks = stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("tick").is_some())
        .collect();
    (code(&out), ticks, stderr(&out))
}

fn dials_of(tick: &Value) -> BTreeMap<String, f64> {
    tick["dials"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(r, d)| (r.clone(), d.as_f64().unwrap()))
        .collect()
}

#[test]
fn built_in_policies_decide_as_their_scenarios_expect() {
    let s = Scratch::new();
    for name in ["flapping", "recovery", "slow-region", "fixed-weights"] {
        let want = expected(name);
        let (code, ticks, err) = replay(
            &s,
            &want.policy,
            &scenario(&format!("{name}.ndjson")),
            &["--with", &want.params],
        );
        assert_eq!(code, 0, "{name}: {err}");
        let got: Vec<(u64, BTreeMap<String, f64>)> = ticks
            .iter()
            .map(|t| (t["tick"].as_u64().unwrap(), dials_of(t)))
            .collect();
        assert_eq!(got, want.dials, "{name} ({})", want.policy);
        // Every decision says why, and a converged state asks for nothing.
        for t in &ticks {
            assert!(!t["decision"]["reason"].as_str().unwrap().is_empty(), "{t}");
        }
        let last = ticks.last().unwrap();
        assert_eq!(last["applied"], serde_json::json!([]), "{name}: {last}");
    }
    // The weighted policy sets the one weight it was given on the first tick only.
    let want = expected("fixed-weights");
    let (_, ticks, _) = replay(
        &s,
        "weighted",
        &scenario("fixed-weights.ndjson"),
        &["--with", &want.params],
    );
    let weights: Vec<usize> = ticks
        .iter()
        .map(|t| {
            t["applied"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["weights"].as_array().unwrap().len())
                .sum()
        })
        .collect();
    assert_eq!(weights[0], 1, "{:?}", ticks[0]);
    assert!(weights[1..].iter().all(|w| *w == 0), "{weights:?}");
    let weight = &ticks[0]["applied"][0]["weights"][0];
    assert_eq!(
        (&weight[1], &weight[2]),
        (&serde_json::json!(128), &serde_json::json!(200))
    );
}

#[test]
fn guard_rails_clamp_decisions_and_bad_input_is_named() {
    let s = Scratch::new();
    let want = expected("slow-region");
    // The latency policy asks for 25-point steps; a 10-point rail makes them 10.
    let (exit, ticks, err) = replay(
        &s,
        "latency",
        &scenario("slow-region.ndjson"),
        &["--with", &want.params, "--max-dial-step", "10"],
    );
    assert_eq!(exit, 0, "{err}");
    let east: Vec<f64> = ticks.iter().map(|t| dials_of(t)["us-east-1"]).collect();
    assert_eq!(
        &east[..6],
        &[100.0, 100.0, 90.0, 80.0, 70.0, 60.0],
        "{east:?}"
    );
    let note = ticks[2]["applied"][0]["note"].as_str().unwrap();
    assert!(note.contains("clamped to 90"), "{note}");

    // An observation file with a wrong field: the file, the line and the field.
    let mut lines: Vec<String> = std::fs::read_to_string(scenario("flapping.ndjson"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines[2] = lines[2].replacen("\"tick\":3", "\"tick\":\"three\"", 1);
    s.write("bad.ndjson", &lines.join("\n"));
    let out = s.run(&[
        "policy",
        "test",
        "active-failover",
        "--observations",
        "bad.ndjson",
    ]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("bad.ndjson:3: not an observation") && err.contains("three"),
        "{err}"
    );
    // Bad params are the policy's `invalid` error naming the field, per decision.
    let (exit, ticks, _) = replay(
        &s,
        "latency",
        &scenario("slow-region.ndjson"),
        &["--with", "{\"bound_ms\": -1}"],
    );
    assert_eq!(exit, 1);
    let error = ticks[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("invalid: ") && error.contains("bound_ms"),
        "{error}"
    );
    // Not a policy at all, and no such built-in: exit 2, saying what is wrong.
    for (policy, want) in [
        (fixture("testkit"), "routing-policy world"),
        (
            "no-such-policy".into(),
            "built-ins: active-failover, latency, weighted",
        ),
    ] {
        let flapping = scenario("flapping.ndjson");
        let out = s.run(&["policy", "test", &policy, "--observations", &flapping]);
        assert_eq!(code(&out), 2, "{policy}");
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
    }
}

#[test]
fn hostile_policies_fail_only_their_own_decisions_offline() {
    let s = Scratch::new();
    let flapping = scenario("flapping.ndjson");
    let three = std::fs::read_to_string(&flapping)
        .unwrap()
        .lines()
        .take(3)
        .collect::<Vec<_>>()
        .join("\n");
    let three = s.write("three.ndjson", &three).display().to_string();
    // Loops forever: each decision is stopped at its deadline, and every tick is tried.
    let started = Instant::now();
    let (code, ticks, _) = replay(&s, &fixture("policy-spin"), &three, &[]);
    assert_eq!(code, 1);
    assert_eq!(ticks.len(), 3);
    for t in &ticks {
        let e = t["error"].as_str().unwrap();
        assert!(
            e.starts_with("timeout: ") || e.starts_with("limit: fuel"),
            "{e}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // A 64 MiB reason: stopped by the memory cap. A million changes: the same. A
    // thousand changes fit in memory and are refused whole by the host.
    for (params, want) in [
        ("{}", "limit: memory limit"),
        ("{\"changes\": 1000000}", "limit: memory limit"),
        (
            "{\"changes\": 1000}",
            "limit: the decision asks for 1000 endpoint-group changes",
        ),
    ] {
        let (code, ticks, _) = replay(&s, &fixture("policy-huge"), &flapping, &["--with", params]);
        assert_eq!(code, 1, "{params}");
        let e = ticks[0]["error"].as_str().unwrap();
        assert!(e.starts_with(want), "{params}: {e}");
        assert_eq!(dials_of(&ticks[0])["us-east-1"], 100.0);
    }
    // A 4 MiB reason fits: it is cut, and the decision stands.
    let (code, ticks, _) = replay(
        &s,
        &fixture("policy-huge"),
        &flapping,
        &["--with", "{\"reason_bytes\": 4194304}"],
    );
    assert_eq!(code, 0);
    assert!(ticks[0]["decision"]["reason"].as_str().unwrap().len() < 2048);
    // Greedy: clamped to the rails, the unobserved group refused, NaN ignored.
    let (code, ticks, _) = replay(
        &s,
        &fixture("policy-greedy"),
        &flapping,
        &[
            "--max-dial-step",
            "10",
            "--min-dial",
            "5",
            "--max-dial",
            "95",
        ],
    );
    assert_eq!(code, 0);
    let east: Vec<f64> = ticks
        .iter()
        .take(4)
        .map(|t| dials_of(t)["us-east-1"])
        .collect();
    let west: Vec<f64> = ticks
        .iter()
        .take(4)
        .map(|t| dials_of(t)["us-west-2"])
        .collect();
    assert_eq!(east, [95.0, 95.0, 85.0, 85.0]);
    assert_eq!(west, [10.0, 20.0, 10.0, 10.0]);
    for t in &ticks {
        let refused = t["refused"].to_string();
        assert!(
            refused.contains("is not one of the accelerator's"),
            "{refused}"
        );
    }
}

/// The fenced block after `<!-- policy-walkthrough -->` in README.md.
fn readme_walkthrough() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let after = readme
        .split_once("<!-- policy-walkthrough -->")
        .expect("README.md has the policy walkthrough")
        .1;
    let block = after
        .split_once("```sh\n")
        .unwrap()
        .1
        .split_once("```")
        .unwrap()
        .0;
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_policy_made_from_the_template_by_following_the_readme() {
    let s = Scratch::new();
    let commands = readme_walkthrough();
    assert!(commands.len() >= 3, "{commands:?}");
    // `runner` on PATH is the binary under test; everything else is the README's text.
    let bin = Path::new(env!("CARGO_BIN_EXE_runner")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let script = format!("set -e\n{}\n", commands.join("\n"));
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(s.path())
        .env("PATH", path)
        .env("RUNNER_CACHE_DIR", cache_dir())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{script}\n{text}\n{}", stderr(&out));
    // The template's own scenario: it fails over after its streak, not before.
    let ticks: Vec<&str> = text.lines().filter(|l| l.starts_with("tick ")).collect();
    assert!(ticks.len() >= 5, "{text}");
    assert!(ticks[0].contains("no change"), "{text}");
    assert!(ticks.iter().any(|t| t.contains("changed:")), "{text}");
    // And the component is a routing policy that loads like a built-in.
    let wasm = s
        .path()
        .join("my-policy/target/wasm32-wasip2/release/my_policy.wasm");
    assert!(wasm.exists(), "{text}");
    // `policy new` refuses to write over what exists.
    let again = s.run(&["policy", "new", "my-policy"]);
    assert_eq!(code(&again), 2);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}

/// The reference workflow and its app, copied into the scratch directory.
fn reference(s: &Scratch) {
    for f in ["active-failover.toml", "sample-app.yaml"] {
        s.write(
            f,
            &std::fs::read_to_string(repo().join("workflows").join(f)).unwrap(),
        );
    }
}

/// region -> (dial, first endpoint's health, group ARN) of the accelerator's groups, by
/// the aws CLI.
fn groups(env: &HashMap<String, String>, name: &str) -> BTreeMap<String, (f64, String, String)> {
    let accs = aws(
        env,
        &[
            "globalaccelerator",
            "list-accelerators",
            "--region",
            "us-west-2",
        ],
    );
    let arn = accs["Accelerators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["Name"] == name)
        .unwrap_or_else(|| panic!("no accelerator {name}: {accs}"))["AcceleratorArn"]
        .as_str()
        .unwrap()
        .to_string();
    let listeners = aws(
        env,
        &[
            "globalaccelerator",
            "list-listeners",
            "--region",
            "us-west-2",
            "--accelerator-arn",
            &arn,
        ],
    );
    let listener = listeners["Listeners"][0]["ListenerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let groups = aws(
        env,
        &[
            "globalaccelerator",
            "list-endpoint-groups",
            "--region",
            "us-west-2",
            "--listener-arn",
            &listener,
        ],
    );
    groups["EndpointGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let health = g["EndpointDescriptions"][0]["HealthState"]
                .as_str()
                .unwrap_or("")
                .to_string();
            (
                g["EndpointGroupRegion"].as_str().unwrap().to_string(),
                (
                    g["TrafficDialPercentage"].as_f64().unwrap(),
                    health,
                    g["EndpointGroupArn"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

fn watch(s: &Scratch, wf: &str, ticks: u32, extra: &[&str]) -> (i32, String) {
    let ticks = ticks.to_string();
    let mut args = vec![
        "watch",
        wf,
        "--ticks",
        ticks.as_str(),
        "--var",
        "policy_every=1s",
    ];
    args.extend(extra);
    let out = s.run(&args);
    (code(&out), format!("{}\n{}", stdout(&out), stderr(&out)))
}

#[test]
fn watch_moves_traffic_when_the_primarys_pods_go_and_back_when_they_return() {
    let s = Scratch::new();
    let _down = Down(&s);
    let env = sandbox_up(&s);
    reference(&s);
    let out = s.run(&["exec", "active-failover.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ips = dig(&s, "multi-region.example.com");
    let url = format!("http://{}/", ips[0]);
    assert_eq!(regions(&url, 10).get("us-east-1"), Some(&10));

    let (code1, text) = watch(&s, "active-failover.toml", 2, &[]);
    assert_eq!(code1, 0, "{text}");
    assert_eq!(
        text.matches("no change: us-east-1 active and healthy")
            .count(),
        2,
        "{text}"
    );

    scale_primary(&env, 0);
    let started = Instant::now();
    let (code2, text) = watch(
        &s,
        "active-failover.toml",
        2,
        &["--record", "degraded.ndjson"],
    );
    let reaction = started.elapsed();
    assert_eq!(code2, 0, "{text}");
    assert!(
        text.contains("failing over to us-east-2: us-east-1 probe error rate 1.00"),
        "{text}"
    );
    let after = groups(&env, "multi-region");
    assert_eq!(
        (after["us-east-1"].0, after["us-east-2"].0),
        (0.0, 100.0),
        "{after:?}\n{text}"
    );
    // Through the data plane, with the stock curl: every answer from the standby now.
    let seen = regions(&url, 20);
    assert_eq!(seen.get("us-east-2"), Some(&20), "{seen:?}");
    eprintln!("the policy moved the dials within {reaction:?} of the pods going (one tick)");

    // Hysteresis: healthy again, but it fails back only on the third healthy tick.
    scale_primary(&env, 2);
    kubectl(
        &env,
        &[
            "--context",
            "sandbox-primary",
            "rollout",
            "status",
            "deployment",
            "py-az",
            "--timeout=60s",
        ],
    );
    let (code3, text) = watch(&s, "active-failover.toml", 3, &["-o", "json"]);
    assert_eq!(code3, 0, "{text}");
    let ticks: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "policy_tick")
        .collect();
    let applied: Vec<usize> = ticks
        .iter()
        .map(|t| t["applied"].as_array().unwrap().len())
        .collect();
    assert_eq!(applied, [0, 0, 2], "{text}");
    let after = groups(&env, "multi-region");
    assert_eq!(
        (after["us-east-1"].0, after["us-east-2"].0),
        (100.0, 0.0),
        "{after:?}"
    );
    assert_eq!(regions(&url, 10).get("us-east-1"), Some(&10));

    // Every change is audited, with the policy's reason beside it.
    let audits: Vec<Value> = std::fs::read_dir(s.state_dir().join("watch"))
        .unwrap()
        .flatten()
        .map(|d| d.path().join("audit.ndjson"))
        .flat_map(|audit| events(&std::fs::read_to_string(&audit).unwrap()))
        .collect();
    let updates = audits
        .iter()
        .filter(|a| a["function"] == "update-endpoint-group" && a["outcome"] == "ok")
        .count();
    assert_eq!(updates, 4, "two to fail over, two to fail back");
    assert!(audits.iter().any(|a| {
        a["interface"] == "policy"
            && a["args"]
                .as_str()
                .unwrap()
                .starts_with("failing over to us-east-2")
    }));

    // The recording replays offline to the same decision.
    let (code4, ticks, err) = replay(&s, "active-failover", "degraded.ndjson", &[]);
    assert_eq!(code4, 0, "{err}");
    assert_eq!(dials_of(&ticks[0])["us-east-2"], 100.0, "{ticks:?}");
}

#[test]
fn hostile_policies_in_the_loop_change_nothing_outside_their_grants() {
    let s = Scratch::new();
    let _down = Down(&s);
    let env = sandbox_up(&s);
    // Two accelerators made with the aws CLI: the policy is granted only `mine`, and
    // only its us-east-1 dial, 10 points at a time.
    for name in ["mine", "theirs"] {
        let acc = aws(
            &env,
            &[
                "globalaccelerator",
                "create-accelerator",
                "--region",
                "us-west-2",
                "--name",
                name,
            ],
        );
        let arn = acc["Accelerator"]["AcceleratorArn"]
            .as_str()
            .unwrap()
            .to_string();
        let l = aws(
            &env,
            &[
                "globalaccelerator",
                "create-listener",
                "--region",
                "us-west-2",
                "--accelerator-arn",
                &arn,
                "--protocol",
                "TCP",
                "--port-ranges",
                "FromPort=80,ToPort=80",
            ],
        );
        let listener = l["Listener"]["ListenerArn"].as_str().unwrap().to_string();
        for region in ["us-east-1", "us-east-2"] {
            aws(
                &env,
                &[
                    "globalaccelerator",
                    "create-endpoint-group",
                    "--region",
                    "us-west-2",
                    "--listener-arn",
                    &listener,
                    "--endpoint-group-region",
                    region,
                    "--traffic-dial-percentage",
                    "50",
                ],
            );
        }
    }
    let workflow = |plugin: &str| {
        format!(
            "name = \"hostile-loop\"\n[vars]\npolicy_every = \"1s\"\n[policy]\nplugin = \"{plugin}\"\naccelerator = \"mine\"\nevery = \"${{vars.policy_every}}\"\nprobe = {{ enabled = false }}\n[policy.grants]\nglobal_accelerator = {{ accelerators = [\"name:mine\"], max_dial_step = 10, regions = [\"us-east-1\"] }}\n[[steps]]\nid = \"noop\"\nplugin = \"echo\"\n"
        )
    };
    s.write("greedy.toml", &workflow(&fixture("policy-greedy")));
    let (exit, text) = watch(&s, "greedy.toml", 4, &[]);
    assert_eq!(exit, 0, "{text}");
    assert!(
        text.contains("clamped to 60") && text.contains("refused"),
        "{text}"
    );
    let mine = groups(&env, "mine");
    // 50 -> 60 (asked 100) -> 70 (asked 250) -> 60 (asked -5) -> 60 (asked NaN).
    assert_eq!(mine["us-east-1"].0, 60.0, "{text}");
    assert_eq!(mine["us-east-2"].0, 50.0, "{text}");
    let theirs = groups(&env, "theirs");
    assert_eq!((theirs["us-east-1"].0, theirs["us-east-2"].0), (50.0, 50.0));

    // The guard rails are grants: a step that holds them is held to them by the
    // capability itself, with nothing sent for a refused change.
    let update = |arn: &str, dial: f64| {
        serde_json::json!({"call": "global-accelerator.update-endpoint-group", "args": [{
            "endpoint_group_arn": arn, "endpoints": null, "traffic_dial_percentage": dial, "health_check": {}
        }]})
    };
    let script = serde_json::json!([
        update(&mine["us-east-1"].2, 100.0),
        update(&mine["us-east-1"].2, 65.0),
        update(&mine["us-east-2"].2, 55.0),
    ]);
    s.write(
        "step.toml",
        &format!(
            "name = \"guarded-step\"\n[[steps]]\nid = \"kit\"\nplugin = \"{}\"\nwith = {{ script = '{script}' }}\n[steps.grants]\nglobal_accelerator = {{ accelerators = [\"name:mine\"], max_dial_step = 10, regions = [\"us-east-1\"] }}\n",
            fixture("cloudkit")
        ),
    );
    let out = s.run(&["exec", "step.toml", "-o", "json"]);
    let r = crate::cloud::results(&out, "kit");
    assert_eq!(r[0]["error"]["kind"], "denied", "{r:?}");
    let why = r[0]["error"]["message"].as_str().unwrap();
    assert!(
        why.contains(
            "moving the dial from 60 to 100 is more than the guard rail `max_dial_step = 10`"
        ),
        "{why}"
    );
    crate::cloud::ok(&r, 1);
    let why = r[2]["error"]["message"].as_str().unwrap();
    assert!(
        why.contains("only the endpoint groups in us-east-1, not `us-east-2`"),
        "{why}"
    );
    let mine = groups(&env, "mine");
    assert_eq!((mine["us-east-1"].0, mine["us-east-2"].0), (65.0, 50.0));

    // A policy that never returns: every tick fails at its deadline, the loop goes on.
    s.write("spin.toml", &workflow(&fixture("policy-spin")));
    let (exit, text) = watch(&s, "spin.toml", 2, &[]);
    assert_eq!(exit, 1, "{text}");
    assert_eq!(text.matches("error: policy").count(), 2, "{text}");
    assert!(text.contains("2 tick(s) failed"), "{text}");
    assert_eq!(groups(&env, "mine")["us-east-1"].0, 65.0);

    // Without --ticks the loop runs until Ctrl-C, which stops it cleanly (exit 130).
    let child = s
        .runner(&["watch", "greedy.toml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(4000));
    // One loop per accelerator: a second one is refused while the first runs.
    let second = s.run(&["watch", "greedy.toml", "--ticks", "1"]);
    assert_eq!(code(&second), 3, "{}", stderr(&second));
    assert!(
        stderr(&second).contains("accelerator `mine` is already being watched"),
        "{}",
        stderr(&second)
    );
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = wait_with_limit(child, Duration::from_secs(20));
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    assert!(stdout(&out).contains("tick 1"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("stopped; every applied change is in"),
        "{}",
        stderr(&out)
    );
}
