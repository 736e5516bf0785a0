//! What a hostile plugin can push onto the host is bounded, for operators who run
//! other people's automation: the journal, the audit log and what is printed each stay
//! within their documented limits however often or how large the plugin calls.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

use crate::support::*;

/// The host's limits these tests hold it to (host/src/capabilities/state.rs,
/// host/src/state/audit.rs, host/src/engine/outcome.rs).
const MAX_JOURNALED_STATE: u64 = 128 * (64 << 10);
const MAX_AUDIT_RECORDS_PER_STEP: usize = 10_000;
const MAX_FAILURE_MESSAGE: usize = 4 << 10;

/// Runs the `flood` fixture with `with`; returns the output and the run's directory.
fn flood(s: &Scratch, with: &str, output: &str) -> (Output, PathBuf) {
    s.write(
        "wf.toml",
        &format!(
            "name = \"flood\"\n[[steps]]\nid = \"flood\"\nplugin = \"{}\"\nwith = {{ {with} }}\n",
            fixture("flood")
        ),
    );
    let out = s.run(&["exec", "wf.toml", "--output", output]);
    let run = s.runs().last().expect("a run").clone();
    (out, run)
}

fn size(path: PathBuf) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn rewriting_one_state_key_keeps_the_journal_bounded() {
    let s = Scratch::new();
    // 20,000 rewrites of 36 KB: 720 MB of journal without the bound.
    let (out, run) = flood(&s, "state_writes = 20000, state_bytes = 36000", "json");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let journal_bytes = size(run.join("journal.ndjson"));
    assert!(
        journal_bytes <= MAX_JOURNALED_STATE + (1 << 20),
        "journal is {journal_bytes} bytes"
    );
    let ev = events(&stdout(&out));
    let done = ev
        .iter()
        .find(|e| e["event"] == "step_log" && e["message"] == "flood done")
        .expect("the plugin's closing log");
    let refused: u64 = done["fields"]["state_errors"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Each write is 36,001 bytes of value and one of key: the budget journals 233 of
    // them. Past it, a write that would change the value is refused (the alternate
    // ones; the others leave the value as it is and journal nothing).
    let journaled = journal(&run)
        .iter()
        .filter(|e| e["event"] == "step_state")
        .count() as u64;
    assert_eq!(journaled, MAX_JOURNALED_STATE / 36_002);
    assert!(refused >= (20_000 - journaled) / 2, "{done}");
}

#[test]
fn denied_calls_and_a_log_flood_keep_the_audit_log_bounded_and_the_first_denial() {
    let s = Scratch::new();
    let calls = 100_000u64;
    let (out, run) = flood(&s, &format!("denied_calls = {calls}, logs = 30000"), "json");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let audit = std::fs::read_to_string(run.join("audit.ndjson")).unwrap();
    let records: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        records.len() <= MAX_AUDIT_RECORDS_PER_STEP + 20,
        "{} audit records",
        records.len()
    );
    assert!(audit.len() < 4 << 20, "audit log is {} bytes", audit.len());
    let denied =
        |r: &&Value| r["interface"] == "route53" && r["function"] == "list-hosted-zones-by-name";
    let first = records.iter().find(denied).expect("the first denial");
    assert!(
        first["outcome"]
            .as_str()
            .unwrap()
            .starts_with("denied: no grant allows Route 53"),
        "{first}"
    );
    // Every call is accounted for: written in full, or counted in a `repeated` line.
    let written = records
        .iter()
        .filter(denied)
        .filter(|r| r.get("repeated").is_none())
        .count() as u64;
    let counted: u64 = records
        .iter()
        .filter(denied)
        .filter_map(|r| r["repeated"].as_u64())
        .sum();
    assert!(counted > 0, "past the budget calls are counted");
    assert_eq!(written + counted, calls);
}

#[test]
fn a_huge_error_is_cut_where_it_is_printed_journaled_and_audited() {
    let s = Scratch::new();
    let bytes = 16 << 20;
    for output in ["human", "json"] {
        let (out, run) = flood(&s, &format!("error_bytes = {bytes}"), output);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let printed = out.stdout.len() + out.stderr.len();
        assert!(
            printed < 4 * MAX_FAILURE_MESSAGE + (16 << 10),
            "{output}: {printed} bytes printed"
        );
        assert!(
            stderr(&out).contains(&format!("… ({bytes} bytes)"))
                || stdout(&out).contains(&format!("… ({bytes} bytes)")),
            "{output}: the cut says how long the message was"
        );
        for file in ["journal.ndjson", "audit.ndjson"] {
            let len = size(run.join(file));
            assert!(len < 64 << 10, "{output}: {file} is {len} bytes");
        }
    }
}

/// The host's peak resident memory, in bytes, for `runner args` in `s`, and its exit.
#[allow(clippy::zombie_processes)] // reaped by wait4, which also returns its rusage
fn peak_memory(s: &Scratch, args: &[&str]) -> (i32, u64) {
    let child = s
        .runner(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    (libc::WEXITSTATUS(status), usage.ru_maxrss as u64 * 1024)
}

/// Ten million zeros in 20 MB of output (under a raised 32 MiB output limit) cost the
/// host a gigabyte when parsed; the value count is refused first.
#[test]
fn an_output_of_millions_of_tiny_values_is_refused_at_a_bounded_cost() {
    let s = Scratch::new();
    s.write(
        "wf.toml",
        &format!(
            "name = \"amp\"\n[[steps]]\nid = \"big\"\nplugin = \"{}\"\nwith = {{ output_items = 10000000 }}\nlimits = {{ output = \"32MiB\", memory = \"256MiB\" }}\n",
            fixture("flood")
        ),
    );
    let (exit, peak) = peak_memory(&s, &["exec", "wf.toml"]);
    assert_eq!(exit, 1, "the step fails");
    let run = s.runs().last().unwrap().clone();
    let failed = journal(&run)
        .into_iter()
        .find(|e| e["event"] == "step_finished")
        .unwrap();
    assert_eq!(failed["error"]["kind"], "limit", "{failed}");
    // The guest's own 20 MB string, the host's copy of it, and the runtime.
    assert!(peak < 300 << 20, "peak resident memory {} MiB", peak >> 20);
}

/// `describe` (run at validation) obeys the step's own deadline when it is shorter
/// than describe's fixed 5 s.
#[test]
fn describe_obeys_the_steps_deadline() {
    let s = Scratch::new();
    let workflow = |spins: bool| {
        format!(
            "name = \"d\"\n[[steps]]\nid = \"spins\"\nplugin = \"{}\"\nwith = {{ describe_spins = {spins} }}\ntimeout = \"1s\"\n",
            fixture("flood")
        )
    };
    // Once without spinning: the component is compiled into the cache first.
    s.write("wf.toml", &workflow(false));
    assert_eq!(code(&s.run(&["validate", "wf.toml"])), 0);
    s.write("wf.toml", &workflow(true));
    let started = std::time::Instant::now();
    let out = s.run(&["validate", "wf.toml"]);
    let took = started.elapsed();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("describe failed: timed out: exceeded its deadline of 1s"),
        "{}",
        stderr(&out)
    );
    assert!(
        took < std::time::Duration::from_secs(4),
        "validation took {took:?}"
    );
}
