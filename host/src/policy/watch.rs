//! The reconcile loop behind `runner watch`: every `[policy] every`, observe, decide,
//! clamp to the guard rails, apply, and report. A failed observation or decision is
//! reported and the loop goes on at the next tick with the policy's memory unchanged;
//! only the caller (Ctrl-C, `--ticks`) ends it.

use std::fs::File;
use std::io::{LineWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use runner_workflow::Policy;
use serde_json::{Value, json};

use super::apply::{self, Plan};
use super::observation::{self, Carried};
use super::observe::Observer;
use super::runtime::PolicyRuntime;
use crate::bindings::policy::Observation;
use crate::capabilities::StepHost;
use crate::engine::outcome::plugin_failure;

/// How a watch runs, from the command line.
pub struct WatchOptions {
    /// Stop after this many ticks (None: until interrupted).
    pub ticks: Option<u64>,
    /// Append every observation to this file (NDJSON), for `runner policy test`.
    pub record: Option<PathBuf>,
    /// NDJSON lines on stdout instead of one human line per tick.
    pub json: bool,
}

/// What one tick did, as printed.
struct Tick {
    tick: u64,
    observation: Option<Observation>,
    decision: Option<Value>,
    plan: Plan,
    error: Option<String>,
    observe_ms: u128,
    decide_us: u128,
    apply_ms: u128,
}

/// How a loop ended.
pub struct Ended {
    /// Ticks whose observation or decision failed, or whose changes were not all applied.
    pub failures: u64,
    /// Whether `stop` ended it (rather than `--ticks`).
    pub stopped: bool,
}

/// Runs the loop until `ticks` are done or `stop` turns true. A stop between ticks ends
/// the loop at once; during a tick, after it, so a change is never cut off half-sent.
pub async fn run(
    policy: &Policy,
    runtime: &PolicyRuntime,
    host: &mut StepHost,
    options: &WatchOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<Ended> {
    let mut record = match &options.record {
        Some(path) => Some(LineWriter::new(
            File::options()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    std::io::Error::new(e.kind(), format!("opening {}: {e}", path.display()))
                })?,
        )),
        None => None,
    };
    let guard = policy.grants.dial_guard(&policy.accelerator, &[]);
    let params = policy.with.to_string();
    let mut observer = Observer::new(policy.accelerator.clone(), policy.probe.clone());
    let mut memory: Option<String> = None;
    let mut carried = Carried::default();
    let mut failures = 0;
    let mut interval = tokio::time::interval(policy.every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopped = false;
    for tick in 1.. {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|s| *s) => {
                stopped = true;
                break;
            }
        }
        let started = Instant::now();
        let mut t = Tick {
            tick,
            observation: None,
            decision: None,
            plan: Plan::default(),
            error: None,
            observe_ms: 0,
            decide_us: 0,
            apply_ms: 0,
        };
        match observer.observe(host, tick, &params, memory.clone()).await {
            Err(e) => {
                let f = plugin_failure(e);
                t.error = Some(format!("observing: {}: {}", f.kind, f.message));
            }
            Ok(obs) => {
                t.observe_ms = started.elapsed().as_millis();
                if let Some(out) = &mut record {
                    writeln!(out, "{}", observation::to_record(&obs))?;
                }
                let decide_started = Instant::now();
                let decided = runtime.decide(&obs).await;
                t.decide_us = decide_started.elapsed().as_micros();
                match decided {
                    Err(f) => {
                        t.error = Some(format!(
                            "policy {}: {}: {}",
                            runtime.label, f.kind, f.message
                        ));
                        host.audit(
                            "policy",
                            "decide",
                            String::new(),
                            format!("{}: {}", f.kind, f.message),
                            decide_started,
                        );
                    }
                    Ok(decision) => {
                        memory = decision.memory.clone();
                        t.plan = apply::plan(&decision, &obs, &guard);
                        let apply_started = Instant::now();
                        apply::apply(host, &mut t.plan, &mut carried).await;
                        t.apply_ms = apply_started.elapsed().as_millis();
                        let applied = t
                            .plan
                            .changes
                            .iter()
                            .filter(|c| c.outcome.as_deref() == Some("ok"))
                            .count();
                        host.audit(
                            "policy",
                            "decide",
                            decision.reason.clone(),
                            format!(
                                "ok: {applied} of {} changes applied, {} refused",
                                t.plan.changes.len(),
                                t.plan.refused.len()
                            ),
                            decide_started,
                        );
                        t.decision = Some(observation::decision_json(&decision));
                    }
                }
                t.observation = Some(obs);
            }
        }
        if t.error.is_some()
            || t.plan
                .changes
                .iter()
                .any(|c| c.outcome.as_deref() != Some("ok"))
        {
            failures += 1;
        }
        print_tick(&t, options.json);
        if *stop.borrow() {
            stopped = true;
            break;
        }
        if options.ticks == Some(tick) {
            break;
        }
        // A tick that took longer than the interval starts the next one at once, but
        // never busy-loops on a dead cloud.
        if started.elapsed() > policy.every {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(Ended { failures, stopped })
}

/// One line per tick: the regions' dials, health and probe figures, and what changed.
fn print_tick(t: &Tick, json: bool) {
    if json {
        let line = json!({
            "v": 1,
            "event": "policy_tick",
            "ts_ms": crate::events::now_ms(),
            "tick": t.tick,
            "observation": t.observation.as_ref().map(observation::to_record),
            "decision": t.decision,
            "applied": t.plan.changes,
            "refused": t.plan.refused,
            "error": t.error,
            "observe_ms": t.observe_ms,
            "decide_us": t.decide_us,
            "apply_ms": t.apply_ms,
        });
        println!("{line}");
        return;
    }
    let mut line = format!("tick {}", t.tick);
    if let Some(obs) = &t.observation {
        for g in obs.listeners.iter().flat_map(|l| &l.endpoint_groups) {
            let health = g
                .endpoints
                .iter()
                .map(|e| e.health_state.as_str())
                .collect::<Vec<_>>()
                .join("/");
            line.push_str(&format!(
                "  {} dial {} {health}",
                g.region, g.traffic_dial_percentage
            ));
            if let Some(p) = obs.probes.iter().find(|p| p.region == g.region) {
                line.push_str(&format!(
                    " p95 {:.1}ms err {:.0}%",
                    p.p95_ms,
                    p.error_rate * 100.0
                ));
            }
        }
    }
    if let Some(error) = &t.error {
        line.push_str(&format!("\n  error: {error}"));
    }
    if let Some(reason) = t.decision.as_ref().and_then(|d| d["reason"].as_str()) {
        if t.plan.changes.is_empty() {
            line.push_str(&format!("\n  no change: {reason}"));
        } else {
            line.push_str(&format!("\n  decided: {reason}"));
        }
    }
    for c in &t.plan.changes {
        let mut what = Vec::new();
        if let Some(dial) = c.dial {
            what.push(format!("dial {} -> {dial}", c.from_dial));
        }
        for (endpoint, from, to) in &c.weights {
            what.push(format!("weight of {endpoint} {from} -> {to}"));
        }
        line.push_str(&format!(
            "\n  {}: {} [{}]",
            c.region,
            what.join(", "),
            c.outcome.as_deref().unwrap_or("not sent")
        ));
        if let Some(note) = &c.note {
            line.push_str(&format!(" ({note})"));
        }
    }
    for r in &t.plan.refused {
        line.push_str(&format!("\n  refused: {r}"));
    }
    println!("{line}");
}
