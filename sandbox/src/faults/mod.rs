//! Fault injection: `runner sandbox up --faults SPEC --seed N` makes the sandbox's AWS
//! endpoint and Kubernetes API servers fail calls the way the real services do
//! (throttling, 5xx, connections reset before or after a request is applied, latency,
//! Kubernetes 409 conflicts, 410 Gone and dropped watches), so clients' retries and
//! idempotency are exercised against the real wire protocols.
//!
//! [`spec`] is the SPEC language; [`conn`] the connections a fault can cut. Each server
//! asks [`Faults::decide`] once per call, with the operation it serves, and renders the
//! fault in its own protocol's shape. The decision is a pure function of the seed, the
//! service and operation and how many calls that operation has had, so the same seed
//! and the same call sequence give the same faults, whatever else runs concurrently.
//! What was injected is counted per operation and kind in `faults.json` in the state
//! directory (see [`Counts`]), and live in the AWS endpoint's `GET /_sandbox/health`.
//! `POST /_sandbox/faults/pause` and `/_sandbox/faults/resume` on the AWS endpoint stop
//! and restart injection (every service), to look at the result with clients that do
//! not retry, such as kubectl.

pub mod conn;
pub mod spec;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use conn::Conn;
pub use spec::{FaultSpec, Kind, Service, SpecError};

/// Where a sandbox keeps what it injected.
pub const FAULTS_FILE: &str = "faults.json";

/// What `--faults` and `--seed` asked for; kept in `config.json` so a detached sandbox
/// runs with the same faults as the `up` that started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultConfig {
    /// The spec's text (a file's contents when given as `@PATH`).
    pub spec: String,
    pub seed: u64,
}

impl FaultConfig {
    /// From the `--faults` argument: the inline spec, or `@PATH` for a file holding one.
    /// The spec is validated here, so a bad one is refused before anything starts.
    pub fn from_arg(arg: &str, seed: u64) -> Result<FaultConfig, SpecError> {
        let spec = match arg.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path).map_err(|e| SpecError::File {
                path: path.into(),
                error: e.to_string(),
            })?,
            None => arg.to_string(),
        };
        FaultSpec::parse(&spec)?;
        Ok(FaultConfig { spec, seed })
    }
}

/// One decided fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: Kind,
    /// For `latency`: how long to wait before answering.
    pub latency: Duration,
    /// For a Kubernetes 429: the Retry-After in seconds.
    pub retry_after_s: u64,
    /// More random bits from the same roll, for choices inside a kind (500 or 503, when
    /// a watch is dropped), so they are seeded too.
    pub bits: u64,
}

impl Fault {
    /// For `5xx`: whether this one is a 503 (else a 500).
    pub fn unavailable(&self) -> bool {
        self.bits & 1 == 1
    }

    /// For `drop-watch`: how long the stream runs before it is cut (20-300 ms).
    pub fn drop_after(&self) -> Duration {
        Duration::from_millis(20 + (self.bits >> 1) % 281)
    }
}

/// What a sandbox injected since it started: `faults.json`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub spec: String,
    pub seed: u64,
    /// Calls that were rolled for (every API call while faults are on).
    pub calls: u64,
    /// Faults injected, all kinds.
    pub injected: u64,
    /// By kind: `{"throttle": 12, "reset-after": 3}`.
    pub by_kind: BTreeMap<String, u64>,
    /// By `service.operation`, then kind.
    pub by_operation: BTreeMap<String, BTreeMap<String, u64>>,
    /// Whether injection is paused right now.
    #[serde(default)]
    pub paused: bool,
}

/// The fault injector shared by the AWS endpoint and every cluster's API server.
pub struct Faults {
    spec: FaultSpec,
    seed: u64,
    path: Option<PathBuf>,
    /// Calls per `service.operation` so far: the roll's input.
    calls: Mutex<HashMap<String, u64>>,
    counts: Mutex<Counts>,
    dirty: AtomicBool,
    /// While set, no call is rolled for (`POST /_sandbox/faults/pause`).
    paused: AtomicBool,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("seed", &self.seed)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Faults {
    /// An injector for `config`, counting into `path` (`faults.json`) when given.
    pub fn new(config: &FaultConfig, path: Option<PathBuf>) -> Result<Faults, SpecError> {
        let spec = FaultSpec::parse(&config.spec)?;
        Ok(Faults {
            spec,
            seed: config.seed,
            path,
            calls: Mutex::new(HashMap::new()),
            counts: Mutex::new(Counts {
                spec: config.spec.clone(),
                seed: config.seed,
                ..Counts::default()
            }),
            dirty: AtomicBool::new(true),
            paused: AtomicBool::new(false),
        })
    }

    /// Stops (or resumes) injecting: while paused, calls are served cleanly and not
    /// counted, e.g. while a person or a test looks at the result with kubectl.
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Rolls for one call to `service` `op`: the fault to inject, if any, counted.
    pub fn decide(&self, service: Service, op: &str) -> Option<Fault> {
        if self.paused.load(Ordering::SeqCst) {
            return None;
        }
        let key = format!("{service}.{op}");
        let n = {
            let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            let n = calls.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let roll = mix(mix(self.seed ^ fnv1a(&key)).wrapping_add(n));
        let unit = (roll >> 11) as f64 / (1u64 << 53) as f64;
        let mut cumulative = 0.0;
        let kind = Kind::ALL.into_iter().find(|k| {
            cumulative += self.spec.rate(service, op, *k);
            unit < cumulative
        });
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.calls += 1;
        let kind = kind?;
        counts.injected += 1;
        *counts.by_kind.entry(kind.name().into()).or_default() += 1;
        *counts
            .by_operation
            .entry(key)
            .or_default()
            .entry(kind.name().into())
            .or_default() += 1;
        self.dirty.store(true, Ordering::SeqCst);
        let bits = mix(roll);
        let latency_ms = self.spec.latency_ms;
        Some(Fault {
            kind,
            // Between half and all of latency-ms, so latencies differ from call to call.
            latency: Duration::from_millis(latency_ms / 2 + bits % (latency_ms / 2 + 1)),
            retry_after_s: self.spec.retry_after_s,
            bits,
        })
    }

    /// What was injected so far.
    pub fn counts(&self) -> Counts {
        let mut c = self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        c.paused = self.paused.load(Ordering::SeqCst);
        c
    }

    /// Writes `faults.json` if anything changed since the last write.
    pub fn flush(&self) -> anyhow::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if self.dirty.swap(false, Ordering::SeqCst) {
            crate::persist::save(path, &self.counts())
                .inspect_err(|_| self.dirty.store(true, Ordering::SeqCst))?;
        }
        Ok(())
    }
}

/// SplitMix64's finalizer: a well-mixed 64-bit value from any input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a: a stable hash of an operation's name (std's hasher is seeded per process).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(spec: &str, seed: u64) -> Faults {
        Faults::new(
            &FaultConfig {
                spec: spec.into(),
                seed,
            },
            None,
        )
        .unwrap()
    }

    fn sequence(f: &Faults) -> Vec<Option<Kind>> {
        (0..2000)
            .map(|i| {
                let op = ["get", "patch", "watch"][i % 3];
                f.decide(Service::Kube, op).map(|x| x.kind)
            })
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_and_rates_hold() {
        let spec = "throttle=0.1,5xx=0.05,kube.patch:conflict=0.2,kube:gone=0.1";
        let a = sequence(&faults(spec, 7));
        assert_eq!(a, sequence(&faults(spec, 7)));
        assert_ne!(a, sequence(&faults(spec, 8)));
        // Interleaving other operations does not change an operation's faults.
        let f = faults(spec, 7);
        let patches: Vec<_> = (0..300)
            .map(|_| {
                f.decide(Service::Ga, "ListAccelerators");
                f.decide(Service::Kube, "patch").map(|x| x.kind)
            })
            .collect();
        let g = faults(spec, 7);
        let alone: Vec<_> = (0..300)
            .map(|_| g.decide(Service::Kube, "patch").map(|x| x.kind))
            .collect();
        assert_eq!(patches, alone);

        let f = faults(spec, 1);
        let n = 20_000;
        let count = |op: &str, kind: Kind| {
            (0..n)
                .filter(|_| f.decide(Service::Kube, op).map(|x| x.kind) == Some(kind))
                .count() as f64
                / n as f64
        };
        let near = |x: f64, want: f64| (x - want).abs() < 0.015;
        assert!(near(count("get", Kind::Throttle), 0.1));
        assert!(near(count("patch", Kind::Conflict), 0.2));
        assert!(near(count("watch", Kind::Gone), 0.1));
        assert_eq!(count("get", Kind::Conflict), 0.0);
        let c = f.counts();
        assert_eq!(c.calls, 4 * n as u64);
        assert_eq!(c.injected, c.by_kind.values().sum::<u64>());
        assert_eq!(c.by_operation["kube.get"].get("conflict"), None);
    }

    #[test]
    fn full_and_zero_rates_are_exact() {
        let f = faults("ga.CreateAccelerator:reset-after=1,latency-ms=10", 3);
        for _ in 0..100 {
            let x = f.decide(Service::Ga, "CreateAccelerator").unwrap();
            assert_eq!(x.kind, Kind::ResetAfter);
            assert!(f.decide(Service::Ga, "DeleteAccelerator").is_none());
        }
        let f = faults("latency=1,latency-ms=10", 3);
        let l = f.decide(Service::Sts, "GetCallerIdentity").unwrap().latency;
        assert!((5..=10).contains(&l.as_millis()), "{l:?}");
    }

    #[test]
    fn counts_are_written_to_faults_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FAULTS_FILE);
        let f = Faults::new(
            &FaultConfig {
                spec: "throttle=1".into(),
                seed: 0,
            },
            Some(path.clone()),
        )
        .unwrap();
        f.decide(Service::Route53, "GetChange");
        f.flush().unwrap();
        let c: Counts = crate::persist::load(&path).unwrap().unwrap();
        assert_eq!((c.calls, c.injected, c.seed), (1, 1, 0));
        assert_eq!(c.by_operation["route53.GetChange"]["throttle"], 1);
        assert!(
            FaultConfig::from_arg("@/nonexistent/faults", 1)
                .unwrap_err()
                .to_string()
                .contains("@/nonexistent/faults: cannot read the file")
        );
    }
}
