//! kill -9 in the middle of a run, then `exec` again: completed steps are not run
//! again, what the killed step recorded is handed back to it, the run completes, and
//! the journal of the killed run is intact.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

fn workflow(kit: &str) -> String {
    format!(
        r#"
name = "resume"
[vars]
nap = 0
[[steps]]
id = "first"
plugin = "echo"
with = {{ outputs = {{ x = 1 }} }}
[[steps]]
id = "slow"
plugin = "{kit}"
needs = ["first"]
with = {{ sleep_ms = "${{vars.nap}}", state = {{ created = "thing-1" }}, outputs = {{ y = 2 }} }}
[[steps]]
id = "last"
plugin = "echo"
with = {{ outputs = {{ z = "${{steps.slow.outputs.y}}" }} }}
"#
    )
}

#[test]
fn kill_dash_nine_then_exec_resumes_without_rerunning_completed_steps() {
    let s = Scratch::new();
    s.write("wf.toml", &workflow(&fixture("testkit")));
    let mut child = s
        .runner(&["exec", "wf.toml", "--var", "nap=20000", "--output", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once `slow` has recorded what it created and is busy.
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the run never reached `slow`"
        );
        if let Some(run) = s.runs().first()
            && std::fs::read_to_string(run.join("journal.ndjson"))
                .unwrap_or_default()
                .contains(r#""event":"step_state","step":"slow""#)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let killed = journal(&s.runs()[0]);
    assert!(
        killed.iter().all(|e| e["event"] != "run_finished"),
        "the killed run never finished"
    );
    assert_eq!(finished(&killed, "first")["status"], "succeeded");

    let out = s.run(&["exec", "wf.toml", "--var", "nap=0", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stderr_text = stderr(&out);
    assert!(
        stderr_text.contains("did not exit cleanly"),
        "the dead holder's lock is reported: {stderr_text}"
    );
    let ev = events(&stdout(&out));
    let first_id = s.runs()[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(ev[0]["resumed_from"], first_id.as_str());
    assert_eq!(
        count(&ev, "step_started", "first"),
        0,
        "a completed step is not run again"
    );
    assert_eq!(finished(&ev, "first")["status"], "reused");
    let carried = ev
        .iter()
        .find(|e| e["event"] == "step_carried" && e["step"] == "slow")
        .unwrap();
    assert_eq!(
        carried["state"]["created"], "thing-1",
        "what the killed step recorded is kept"
    );
    assert_eq!(finished(&ev, "slow")["status"], "succeeded");
    assert_eq!(ev.last().unwrap()["outputs"]["last"]["z"], 2);

    // Both journals parse completely (the killed one's torn tail, if any, was cut).
    assert_eq!(journal(&s.runs()[0]).len(), killed.len());
    assert_eq!(journal(&s.runs()[1]), ev);

    // A third exec after a success starts afresh: nothing is reused.
    let again = s.run(&["exec", "wf.toml", "--output", "json"]);
    let ev = events(&stdout(&again));
    assert!(ev[0].get("resumed_from").is_none());
    assert_eq!(finished(&ev, "first")["status"], "succeeded");
}

#[test]
fn a_failed_run_resumes_and_fresh_forces_a_full_run() {
    let s = Scratch::new();
    let kit = fixture("testkit");
    let wf = |fail: &str| {
        format!(
            "name = \"r\"\n[[steps]]\nid = \"ok\"\nplugin = \"echo\"\n[[steps]]\nid = \"flaky\"\nplugin = \"{kit}\"\nneeds = [\"ok\"]\nwith = {{ {fail} }}\n"
        )
    };
    s.write("wf.toml", &wf("fail = \"internal\""));
    assert_eq!(code(&s.run(&["exec", "wf.toml"])), 1);
    s.write("wf.toml", &wf("log = \"fixed\""));
    let ev = events(&stdout(&s.run(&["exec", "wf.toml", "--output", "json"])));
    assert_eq!(finished(&ev, "ok")["status"], "reused");
    assert_eq!(finished(&ev, "flaky")["status"], "succeeded");

    s.write("wf.toml", &wf("fail = \"internal\""));
    assert_eq!(code(&s.run(&["exec", "wf.toml"])), 1);
    let ev = events(&stdout(
        &s.run(&["exec", "wf.toml", "--fresh", "--output", "json"]),
    ));
    assert!(ev[0].get("resumed_from").is_none());
    assert_eq!(
        finished(&ev, "ok")["status"],
        "succeeded",
        "--fresh runs everything"
    );
}

/// Kills `exec` at random moments, over and over, then lets it finish: a step that
/// completed in one run is never started again in a later one, and the last run
/// completes with every step.
#[test]
fn repeated_kills_at_random_moments_never_rerun_a_completed_step() {
    let s = Scratch::new();
    let mut wf = String::from("name = \"kills\"\n");
    for i in 0..8 {
        wf.push_str(&format!(
            "[[steps]]\nid = \"s{i}\"\nplugin = \"{}\"\nwith = {{ sleep_ms = 40, state = {{ made = \"m{i}\" }}, outputs = {{ i = {i} }} }}\n",
            fixture("testkit")
        ));
        if i > 0 {
            wf.push_str(&format!("needs = [\"s{}\"]\n", i - 1));
        }
    }
    s.write("wf.toml", &wf);
    // A cheap deterministic sequence of kill delays (no rand dependency).
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Kill somewhere between the run's start and (about) its end.
        let delay = Duration::from_millis(seed % 350);
        let before = s.runs().len();
        let mut child = s
            .runner(&["exec", "wf.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while s.runs().len() == before && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
    }
    let out = s.run(&["exec", "wf.toml", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let mut completed: Vec<String> = Vec::new();
    for run in s.runs() {
        let ev = journal(&run);
        for e in &ev {
            let step = e["step"].as_str().unwrap_or_default().to_string();
            if e["event"] == "step_started" {
                assert!(
                    !completed.contains(&step),
                    "`{step}` started again in {} after completing",
                    run.display()
                );
            }
            if e["event"] == "step_finished" && e["status"] == "succeeded" {
                completed.push(step);
            }
            if e["event"] == "run_finished" && e["status"] == "succeeded" {
                // After a successful run the next exec rightly starts afresh.
                completed.clear();
            }
        }
    }
    let killed = s
        .runs()
        .iter()
        .filter(|r| journal(r).iter().all(|e| e["event"] != "run_finished"))
        .count();
    assert!(
        killed >= 3,
        "only {killed} runs were killed mid-run: the test did not exercise resume"
    );
    let last = journal(s.runs().last().unwrap());
    let finish = last.last().unwrap();
    assert_eq!(finish["event"], "run_finished");
    assert_eq!(finish["status"], "succeeded");
    assert_eq!(
        finish["outputs"].as_object().unwrap().len(),
        8,
        "every step's outputs are there"
    );
}
