//! Hostile plugins: each fails only its own step, within its limit (plus 10%), with a
//! message naming the limit or the fault, while an independent step completes.

use crate::support::*;

/// Runs `hostile` beside an independent sleeper and a dependent, and returns the
/// hostile step's `step_finished` event.
fn run_hostile(step: &str) -> serde_json::Value {
    let s = Scratch::new();
    s.write(
        "wf.toml",
        &format!(
            r#"
name = "hostile"
{step}
[[steps]]
id = "bystander"
plugin = "sleep"
with = {{ ms = 300 }}

[[steps]]
id = "dependent"
plugin = "echo"
needs = ["hostile"]
"#
        ),
    );
    let out = s.run(&["exec", "wf.toml", "--output", "json"]);
    assert_eq!(
        code(&out),
        1,
        "a failed step exits 1; stderr: {}",
        stderr(&out)
    );
    let ev = events(&stdout(&out));
    assert_eq!(
        finished(&ev, "bystander")["status"],
        "succeeded",
        "the independent step completes"
    );
    assert_eq!(finished(&ev, "dependent")["status"], "skipped");
    assert_eq!(
        finished(&ev, "dependent")["reason"],
        "dependency `hostile` failed"
    );
    let hostile = finished(&ev, "hostile").clone();
    assert_eq!(hostile["status"], "failed");
    // The host is still healthy: the same state dir runs a clean workflow next.
    s.write(
        "ok.toml",
        "name = \"after\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\n",
    );
    assert_eq!(code(&s.run(&["exec", "ok.toml"])), 0);
    hostile
}

fn message(e: &serde_json::Value) -> String {
    format!(
        "{}: {}",
        e["error"]["kind"].as_str().unwrap(),
        e["error"]["message"].as_str().unwrap()
    )
}

fn step(plugin: &str, extra: &str) -> String {
    format!(
        "[[steps]]\nid = \"hostile\"\nplugin = \"{}\"\n{extra}\n",
        fixture(plugin)
    )
}

#[test]
fn an_infinite_loop_is_stopped_at_its_deadline() {
    let e = run_hostile(&step("spin", "timeout = \"1s\""));
    assert_eq!(
        message(&e),
        "timeout: timed out: exceeded its deadline of 1s"
    );
    let ms = e["duration_ms"].as_u64().unwrap();
    assert!(
        (1000..=1100).contains(&ms),
        "stopped after {ms} ms; the limit is 1000 ms + 10%"
    );
}

#[test]
fn an_infinite_loop_is_stopped_by_its_fuel_budget() {
    let e = run_hostile(&step("spin", "limits = { fuel = 5000000 }"));
    assert_eq!(message(&e), "limit: fuel limit of 5000000 exhausted");
}

#[test]
fn deep_recursion_hits_the_stack_limit() {
    let e = run_hostile(&step("recurse", ""));
    assert_eq!(
        message(&e),
        "limit: stack overflow: exceeded the wasm stack limit of 512 KiB"
    );
}

#[test]
fn a_memory_bomb_hits_the_memory_cap() {
    let e = run_hostile(&step("membomb", "limits = { memory = \"16MiB\" }"));
    let msg = message(&e);
    assert!(
        msg.starts_with("limit: memory limit of 16 MiB exceeded (the plugin asked for 16."),
        "{msg}"
    );
}

#[test]
fn a_huge_output_is_refused() {
    let e = run_hostile(&step(
        "bigout",
        "limits = { output = \"64KiB\" }\nwith = { bytes = 200000 }",
    ));
    assert_eq!(
        message(&e),
        "limit: output of 195.3 KiB exceeds the output limit of 64 KiB"
    );
}

#[test]
fn a_panic_fails_the_step_with_the_panic_message() {
    let e = run_hostile(&step("panic", ""));
    let msg = message(&e);
    assert!(msg.starts_with("trap: plugin panicked: "), "{msg}");
    assert!(msg.ends_with("fixture panicked on purpose"), "{msg}");
}

#[test]
fn a_pointer_outside_guest_memory_is_refused() {
    let e = run_hostile(&step("badhost", "with = { mode = \"oob-pointer\" }"));
    assert_eq!(
        message(&e),
        "trap: plugin failed in a host call: string pointer/length out of bounds of memory"
    );
}

#[test]
fn an_enum_out_of_range_is_refused() {
    let e = run_hostile(&step("badhost", "with = { mode = \"bad-enum\" }"));
    assert_eq!(
        message(&e),
        "trap: plugin failed in a host call: unexpected discriminant: 77"
    );
}

#[test]
fn a_state_flood_is_capped() {
    let e = run_hostile(&step("badhost", "with = { mode = \"state-flood\" }"));
    assert_eq!(
        message(&e),
        "invalid: a step may keep at most 128 state keys"
    );
}

#[test]
fn a_huge_log_message_is_cut_not_fatal() {
    let s = Scratch::new();
    s.write(
        "wf.toml",
        &format!(
            "name = \"log\"\n{}",
            step("badhost", "with = { mode = \"huge-log\" }")
        ),
    );
    let out = s.run(&["exec", "wf.toml", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ev = events(&stdout(&out));
    let log = ev.iter().find(|e| e["event"] == "step_log").unwrap();
    let msg = log["message"].as_str().unwrap();
    assert!(
        msg.len() < 5000 && msg.ends_with("… (4194304 bytes)"),
        "message of {} bytes",
        msg.len()
    );
}

#[test]
fn a_plugin_has_no_files_sockets_environment_or_arguments() {
    let s = Scratch::new();
    s.write(
        "wf.toml",
        &format!(
            "name = \"escape\"\n{}",
            step("testkit", "with = { escape = true }")
        ),
    );
    let out = s
        .runner(&["exec", "wf.toml", "--output", "json"])
        .env("AWS_SECRET_ACCESS_KEY", "hunter2")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ev = events(&stdout(&out));
    let seen = &ev.last().unwrap()["outputs"]["hostile"];
    assert_eq!(
        seen["env"],
        serde_json::json!([]),
        "no environment variables leak in"
    );
    assert_eq!(seen["args"], 0);
    assert_ne!(seen["file"], "read");
    assert_ne!(seen["dir"], "listed");
    assert_ne!(seen["net"], "connected");
    assert!(!stdout(&out).contains("hunter2"));
}
