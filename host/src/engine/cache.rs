//! On-disk cache of compiled components.
//!
//! Compiling a component with Cranelift costs 100 ms or more; loading the compiled
//! artifact costs well under a millisecond. Entries are keyed by the component's
//! sha256 and by the engine's compatibility hash, which wasmtime derives from its own
//! version and every configuration setting that affects code generation, so a
//! changed engine never loads a stale artifact.
//! Entries are written to a temporary file and renamed, so readers never see a torn one.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components live, and the engine they were compiled for.
pub struct ComponentCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// How a component was obtained, for benchmarks and `runner plugins`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
}

impl ComponentCache {
    /// `dir` None disables the disk cache (components are compiled every time).
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_key = format!("engine-{:016x}", h.finish());
        Self { dir, engine_key }
    }

    /// The default location: `$RUNNER_CACHE_DIR`, else `$XDG_CACHE_HOME/runner`, else `~/.cache/runner`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("RUNNER_CACHE_DIR") {
            return Some(PathBuf::from(d));
        }
        if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
            return Some(PathBuf::from(d).join("runner"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("runner"))
    }

    fn entry(&self, sha256: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| {
            d.join("components")
                .join(format!("{sha256}-{}.cwasm", self.engine_key))
        })
    }

    /// Loads the compiled form of `bytes` (whose sha256 is given), compiling and
    /// storing it on a miss. A corrupt or unreadable entry is recompiled.
    pub fn load(
        &self,
        engine: &Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let entry = self.entry(sha256);
        if let Some(path) = &entry
            && path.exists()
        {
            // SAFETY: the file was written by `store` below from a component this
            // engine compiled; the key pins the engine version and configuration.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(c) => return Ok((c, CacheOutcome::Hit)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unreadable compiled component")
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Some(path) = &entry
            && let Err(e) = store(path, &component)
        {
            tracing::warn!(path = %path.display(), error = %e, "could not cache the compiled component");
        }
        Ok((component, CacheOutcome::Compiled))
    }
}

fn store(path: &Path, component: &Component) -> anyhow::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let dir = path.parent().expect("cache entries live in a directory");
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&bytes)?;
    tmp.persist(path)?;
    Ok(())
}
