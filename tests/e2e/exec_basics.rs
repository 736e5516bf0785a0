//! A workflow runs through the built binary: outputs flow between steps, independent
//! steps overlap, retries apply only to retryable errors, conditions skip steps, and
//! runs are listed and replayable.

use crate::support::*;

const THREE_STEPS: &str = r#"
name = "three"
[vars]
who = "world"

[[steps]]
id = "make"
plugin = "echo"
with = { message = "making", outputs = { greeting = "hello ${vars.who}", count = 3 } }

[[steps]]
id = "use"
plugin = "echo"
with = { outputs = { copied = "${steps.make.outputs.greeting}", n = "${steps.make.outputs.count}", text = "n=${steps.make.outputs.count}" } }

[[steps]]
id = "check"
plugin = "assert"
needs = ["use"]
with = { actual = "${steps.use.outputs.copied}", expected = "hello world" }
"#;

#[test]
fn three_steps_pass_an_output_through_interpolation() {
    let s = Scratch::new();
    s.write("wf.toml", THREE_STEPS);
    let out = s.run(&["exec", "wf.toml", "--output", "json", "--var", "who=world"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ev = events(&stdout(&out));
    assert!(ev.iter().all(|e| e["v"] == 1), "every event is versioned");
    assert_eq!(ev[0]["event"], "run_started");
    let last = ev.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["status"], "succeeded");
    // A whole-string reference keeps the JSON type; an embedded one is stringified.
    assert_eq!(last["outputs"]["use"]["copied"], "hello world");
    assert_eq!(last["outputs"]["use"]["n"], 3);
    assert_eq!(last["outputs"]["use"]["text"], "n=3");
    // `use` depends on `make` through the reference alone, so it starts after it.
    let pos = |event: &str, step: &str| {
        ev.iter()
            .position(|e| e["event"] == event && e["step"] == step)
            .unwrap()
    };
    assert!(pos("step_finished", "make") < pos("step_started", "use"));
    assert!(pos("step_finished", "use") < pos("step_started", "check"));
    let log = ev
        .iter()
        .find(|e| e["event"] == "step_log" && e["step"] == "make")
        .unwrap();
    assert_eq!(log["message"], "making");
    assert!(finished(&ev, "make")["duration_ms"].is_u64());
}

#[test]
fn human_output_ends_with_a_summary_and_runs_are_listed_and_replayable() {
    let s = Scratch::new();
    s.write("wf.toml", THREE_STEPS);
    let out = s.run(&["exec", "wf.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("[make] info: making"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("succeeded: 3 succeeded"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(r#"use.copied = "hello world""#),
        "{}",
        stdout(&out)
    );

    let runs = s.run(&["runs", "--output", "json"]);
    let listed = events(&stdout(&runs));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["workflow"], "three");
    assert_eq!(listed[0]["status"], "succeeded");
    assert_eq!(listed[0]["steps"]["succeeded"], 3);

    let id = listed[0]["run"].as_str().unwrap();
    let logs = s.run(&["logs", &id[..12], "--output", "json"]);
    assert_eq!(code(&logs), 0, "{}", stderr(&logs));
    assert_eq!(
        events(&stdout(&logs)),
        journal(&s.runs()[0]),
        "logs replays the journal"
    );
    let human = s.run(&["logs", "latest"]);
    assert!(
        stdout(&human).contains("[check] ok in"),
        "{}",
        stdout(&human)
    );
}

#[test]
fn independent_steps_run_in_parallel() {
    let s = Scratch::new();
    s.write(
        "wf.toml",
        r#"
name = "parallel"
[[steps]]
id = "a"
plugin = "sleep"
with = { ms = 600 }
[[steps]]
id = "b"
plugin = "sleep"
with = { ms = 600 }
"#,
    );
    let out = s.run(&["exec", "wf.toml", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ev = events(&stdout(&out));
    let total = ev.last().unwrap()["duration_ms"].as_u64().unwrap();
    assert!(
        total < 1100,
        "two 600 ms steps took {total} ms in all: not in parallel"
    );
}

#[test]
fn retries_apply_to_retryable_errors_only() {
    let s = Scratch::new();
    let kit = fixture("testkit");
    s.write(
        "wf.toml",
        &format!(
            r#"
name = "retry"
[[steps]]
id = "flaky"
plugin = "{kit}"
retry = {{ attempts = 3, backoff = "20ms" }}
with = {{ fail = "unavailable", fail_attempts = 2, outputs = {{ ok = true }} }}
[[steps]]
id = "broken"
plugin = "{kit}"
retry = {{ attempts = 3, backoff = "20ms" }}
with = {{ fail = "invalid" }}
"#
        ),
    );
    let out = s.run(&["exec", "wf.toml", "--output", "json"]);
    assert_eq!(code(&out), 1);
    let ev = events(&stdout(&out));
    assert_eq!(finished(&ev, "flaky")["status"], "succeeded");
    assert_eq!(finished(&ev, "flaky")["attempt"], 3);
    assert_eq!(count(&ev, "step_retry", "flaky"), 2);
    assert_eq!(finished(&ev, "broken")["status"], "failed");
    assert_eq!(
        finished(&ev, "broken")["attempt"],
        1,
        "invalid is not retried"
    );
    assert_eq!(finished(&ev, "broken")["error"]["kind"], "invalid");
}

#[test]
fn a_false_condition_skips_the_step_and_its_dependents() {
    let s = Scratch::new();
    s.write(
        "wf.toml",
        r#"
name = "cond"
[vars]
env = "dev"
[[steps]]
id = "prod-only"
plugin = "echo"
if = "${vars.env} == 'prod'"
with = { outputs = { x = 1 } }
[[steps]]
id = "after"
plugin = "echo"
needs = ["prod-only"]
[[steps]]
id = "always"
plugin = "echo"
if = "${vars.env} != 'prod'"
"#,
    );
    let out = s.run(&["exec", "wf.toml", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ev = events(&stdout(&out));
    assert_eq!(finished(&ev, "prod-only")["status"], "skipped");
    assert_eq!(
        finished(&ev, "prod-only")["reason"],
        "condition `${vars.env} == 'prod'` is false"
    );
    assert_eq!(finished(&ev, "after")["status"], "skipped");
    assert_eq!(
        finished(&ev, "after")["reason"],
        "dependency `prod-only` was skipped"
    );
    assert_eq!(finished(&ev, "always")["status"], "succeeded");
}

#[test]
fn every_host_call_is_audited() {
    let s = Scratch::new();
    s.write(
        "wf.toml",
        &format!(
            "name = \"audit\"\n[[steps]]\nid = \"kit\"\nplugin = \"{}\"\nwith = {{ log = \"hi\", state = {{ created = \"id-1\" }} }}\n",
            fixture("testkit")
        ),
    );
    let out = s.run(&["exec", "wf.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let audit = events(&std::fs::read_to_string(s.runs()[0].join("audit.ndjson")).unwrap());
    let calls: Vec<(String, String)> = audit
        .iter()
        .map(|a| {
            (
                a["interface"].as_str().unwrap().to_string(),
                a["function"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        vec![("log".into(), "log".into()), ("state".into(), "set".into())]
    );
    assert_eq!(audit[1]["step"], "kit");
    assert_eq!(audit[1]["outcome"], "ok");
    assert_eq!(audit[1]["args"], "created (4 bytes)");
    assert!(audit[1]["duration_us"].is_u64());
}
