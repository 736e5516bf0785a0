//! The WebAssembly engine: one wasmtime `Engine` and `Linker` per process, compiled
//! components cached on disk and pre-instantiated once per component, and a fresh
//! `Store` per step attempt with its memory cap, fuel budget and wall-clock deadline.

pub mod cache;
pub mod limits;
pub mod outcome;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::policy::RoutingPolicyPre;
use crate::bindings::{Step, StepPre};
use crate::capabilities::StepHost;
pub use cache::{CacheOutcome, ComponentCache};
pub use limits::{StepLimiter, StepLimits};

/// How often the epoch advances: the resolution of step deadlines, and how often a
/// busy guest yields to other steps.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances alive at once under the pooling allocator (steps plus `describe` calls).
pub const POOL_INSTANCES: u32 = 512;

/// What a plugin may print to stdout/stderr (kept for error messages and debug logs).
const CAPTURE_LIMIT: usize = 64 << 10;

/// Everything a step's `Store` holds.
pub struct StepState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: StepLimiter,
    pub host: StepHost,
    pub stdout: MemoryOutputPipe,
    pub stderr: MemoryOutputPipe,
    pub deadline: Instant,
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// The on-disk compile cache; None compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Use wasmtime's pooling instance allocator (the CLI does).
    pub pooling: bool,
}

/// A component ready to instantiate.
pub struct LoadedPlugin {
    pub sha256: String,
    pub pre: StepPre<StepState>,
    pub outcome: CacheOutcome,
}

/// A routing-policy component ready to instantiate.
pub struct LoadedPolicy {
    pub sha256: String,
    pub pre: RoutingPolicyPre<StepState>,
}

/// Why a file is not a usable step plugin (or routing policy).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    #[error("does not implement the runner:plugin/step world: {0}")]
    WrongWorld(String),
    #[error("does not implement the runner:plugin/routing-policy world: {0}")]
    NotAPolicy(String),
}

pub struct WasmEngine {
    engine: Engine,
    linker: Linker<StepState>,
    cache: ComponentCache,
    loaded: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
    policies: Mutex<HashMap<String, Arc<LoadedPolicy>>>,
    stop_ticker: Arc<AtomicBool>,
}

impl WasmEngine {
    pub fn new(options: EngineOptions) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // Always on so any step can have a fuel budget; the cost is a counter per block.
        config.consume_fuel(true);
        config.max_wasm_stack(512 << 10);
        // Plugins use the synchronous component ABI; without the async-ABI bookkeeping
        // every store and every call is cheaper (about 2x on calls, measured here).
        config.concurrency_support(false);
        if options.pooling {
            // Slots are reserved address space, not memory: POOL_INSTANCES concurrent
            // instances of up to 4 GiB (all of wasm32) each. Halves instantiation time
            // (BENCHMARKS.md).
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_component_instances(POOL_INSTANCES)
                .total_core_instances(POOL_INSTANCES * 4)
                .total_memories(POOL_INSTANCES)
                .total_tables(POOL_INSTANCES * 4)
                .max_memory_size(4 << 30);
            config.allocation_strategy(pool);
        }
        let engine =
            Engine::new(&config).map_err(|e| anyhow::anyhow!("creating the wasm engine: {e:#}"))?;
        let mut linker = Linker::new(&engine);
        // WASI is linked because Rust guests import it, but the context grants nothing:
        // no files, no sockets, no environment, no arguments.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        Step::add_to_linker::<StepState, wasmtime::component::HasSelf<StepHost>>(
            &mut linker,
            |s| &mut s.host,
        )
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let cache = ComponentCache::new(&engine, options.cache_dir);
        let stop_ticker = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), stop_ticker.clone());
        Ok(Self {
            engine,
            linker,
            cache,
            loaded: Mutex::new(HashMap::new()),
            policies: Mutex::new(HashMap::new()),
            stop_ticker,
        })
    }

    /// Compiles (or loads from the cache) and pre-instantiates a component, once per
    /// distinct content; later calls return the same `LoadedPlugin`.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<LoadedPlugin>, LoadError> {
        self.load_hashed(&sha256_hex(bytes), bytes)
    }

    /// `load` for bytes whose sha256 the caller has already computed (and checked
    /// against a pin), so a component is hashed once per load.
    pub fn load_hashed(&self, sha256: &str, bytes: &[u8]) -> Result<Arc<LoadedPlugin>, LoadError> {
        if let Some(p) = self.loaded.lock().unwrap().get(sha256) {
            return Ok(p.clone());
        }
        let (pre, outcome) = self.instance_pre(sha256, bytes, LoadError::WrongWorld)?;
        let pre = StepPre::new(pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let plugin = Arc::new(LoadedPlugin {
            sha256: sha256.to_string(),
            pre,
            outcome,
        });
        let mut loaded = self.loaded.lock().unwrap();
        loaded.insert(sha256.to_string(), plugin.clone());
        Ok(plugin)
    }

    /// `load` for a routing policy: the same compile cache and linker (a policy imports
    /// only `log`, which the step world has too), checked against the policy world.
    pub fn load_policy(&self, bytes: &[u8]) -> Result<Arc<LoadedPolicy>, LoadError> {
        let sha256 = sha256_hex(bytes);
        if let Some(p) = self.policies.lock().unwrap().get(&sha256) {
            return Ok(p.clone());
        }
        let (pre, _) = self.instance_pre(&sha256, bytes, LoadError::NotAPolicy)?;
        let pre =
            RoutingPolicyPre::new(pre).map_err(|e| LoadError::NotAPolicy(format!("{e:#}")))?;
        let policy = Arc::new(LoadedPolicy {
            sha256: sha256.clone(),
            pre,
        });
        self.policies.lock().unwrap().insert(sha256, policy.clone());
        Ok(policy)
    }

    /// Compiles (or loads from the cache) a component and links it; a linking failure
    /// is the component asking for imports of another world (`wrong_world`).
    fn instance_pre(
        &self,
        sha256: &str,
        bytes: &[u8],
        wrong_world: fn(String) -> LoadError,
    ) -> Result<(wasmtime::component::InstancePre<StepState>, CacheOutcome), LoadError> {
        let (component, outcome) = self
            .cache
            .load(&self.engine, sha256, bytes)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| wrong_world(format!("{e:#}")))?;
        Ok((pre, outcome))
    }

    /// A fresh store for one attempt of one step.
    pub fn store(&self, host: StepHost, limits: &StepLimits) -> Store<StepState> {
        let stdout = MemoryOutputPipe::new(CAPTURE_LIMIT);
        let stderr = MemoryOutputPipe::new(CAPTURE_LIMIT);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(4096);
        let state = StepState {
            wasi,
            table,
            limiter: StepLimiter::new(limits.memory),
            host,
            stdout,
            stderr,
            deadline: Instant::now() + limits.timeout,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(limits.fuel.unwrap_or(u64::MAX))
            .expect("fuel is enabled on this engine");
        store.set_epoch_deadline(1);
        // Every tick: stop at the deadline, otherwise yield so parallel steps progress.
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// Instantiates a plugin in a store.
    pub async fn instantiate(
        &self,
        plugin: &LoadedPlugin,
        store: &mut Store<StepState>,
    ) -> wasmtime::Result<Step> {
        plugin.pre.instantiate_async(store).await
    }
}

impl Drop for WasmEngine {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// Advances the engine's epoch every tick until the engine is dropped. A thread, not
/// a task: deadlines must fire even when every tokio worker is busy running guests.
fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("runner-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("spawning the epoch thread");
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
