//! `runner destroy`: each step's `destroy` gets what its `run` recorded, dependents
//! first; a second destroy finds nothing left.

use crate::support::*;

#[test]
fn destroy_undoes_recorded_steps_in_reverse_order_and_is_rerunnable() {
    let s = Scratch::new();
    let kit = fixture("testkit");
    s.write(
        "wf.toml",
        &format!(
            r#"
name = "made"
[[steps]]
id = "base"
plugin = "{kit}"
with = {{ state = {{ id = "base-1" }}, outputs = {{ name = "b" }} }}
[[steps]]
id = "top"
plugin = "{kit}"
with = {{ state = {{ id = "top-1", extra = "x" }}, log = "${{steps.base.outputs.name}}" }}
[[steps]]
id = "plain"
plugin = "echo"
"#
        ),
    );
    assert_eq!(code(&s.run(&["exec", "wf.toml"])), 0);
    let out = s.run(&["destroy", "wf.toml", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ev = events(&stdout(&out));
    assert_eq!(ev[0]["kind"], "destroy");
    let pos = |step: &str| {
        ev.iter()
            .position(|e| e["event"] == "step_finished" && e["step"] == step)
            .unwrap()
    };
    assert!(pos("top") < pos("base"), "the dependent is destroyed first");
    assert_eq!(finished(&ev, "top")["status"], "destroyed");
    assert_eq!(finished(&ev, "base")["status"], "destroyed");
    let log = ev
        .iter()
        .find(|e| e["event"] == "step_log" && e["step"] == "top")
        .unwrap();
    assert_eq!(
        log["fields"]["state"], "extra,id",
        "destroy receives the recorded state"
    );

    let again = s.run(&["destroy", "wf.toml", "--output", "json"]);
    assert_eq!(code(&again), 0);
    let ev = events(&stdout(&again));
    assert_eq!(finished(&ev, "base")["status"], "skipped");
    assert_eq!(
        finished(&ev, "base")["reason"],
        "nothing recorded to destroy"
    );
}
