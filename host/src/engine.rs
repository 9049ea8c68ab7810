//! The wasmtime engine, the on-disk cache of compiled components, and
//! loading a connector component into a pre-instantiated, linked form.
//!
//! Compiling a component takes seconds; loading a cached artifact takes
//! milliseconds. Artifacts are keyed by the component's sha256 and the
//! engine's compatibility hash, and are only ever read from a directory this
//! user owns and nobody else can write (deserializing is `unsafe`: a forged
//! artifact is native code).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::admission;
use crate::bindings::ConnectorPre;
use crate::sandbox::HostState;

/// How often the epoch ticks; call deadlines are counted in ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(50);

/// Builds the engine every connector runs on.
pub fn new_engine() -> Result<Engine> {
    let mut config = Config::new();
    // Deadlines: a guest in a busy loop is interrupted when the epoch passes
    // its store's deadline (the epoch callback in `sandbox::new_store`).
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling()));
    let engine = Engine::new(&config)?;
    // One ticker per engine, on a plain thread so it ticks even while the
    // async runtime is busy. It holds only a weak handle: when the engine
    // goes, so does the thread.
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(engine)
}

/// Instances come from a pool of pre-reserved slots (memories, tables,
/// fiber stacks), so a pre-instantiated component starts in microseconds:
/// what a hub that runs one instance per request needs. The pool is sized
/// for [`POOL_INSTANCES`] live instances per engine; slots are address
/// space, not memory (a 4 GiB reservation per linear memory, committed as
/// the guest grows, under the store's own memory limit).
fn pooling() -> PoolingAllocationConfig {
    let mut p = PoolingAllocationConfig::default();
    p.total_component_instances(POOL_INSTANCES)
        .total_memories(POOL_INSTANCES)
        .total_tables(POOL_INSTANCES * 4)
        .total_core_instances(POOL_INSTANCES * 8)
        .total_stacks(POOL_INSTANCES);
    p
}

/// Live instances an engine can hold at once.
pub const POOL_INSTANCES: u32 = 32;

/// A component ready to instantiate: compiled, checked, linked.
pub struct LoadedComponent {
    pub pre: ConnectorPre<HostState>,
    pub sha256: String,
    pub path: PathBuf,
    /// Whether the compiled artifact came from the cache.
    pub cached: bool,
}

/// Loads the component at `path`: verifies an optional pinned sha256,
/// compiles it (or loads the cached artifact), has [`admission`] check it
/// implements the contract and imports only what the host grants, and
/// links it against the sandbox's WASI imports.
pub fn load_component(
    engine: &Engine,
    path: &Path,
    pinned_sha256: Option<&str>,
    cache_dir: Option<&Path>,
) -> Result<LoadedComponent> {
    let bytes = read_component(path)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    if let Some(pin) = pinned_sha256
        && !pin.eq_ignore_ascii_case(&sha256)
    {
        bail!(
            "component {} has sha256 {sha256}, but the config pins {pin}; refusing to load it",
            path.display()
        );
    }
    let (component, cached) = match cache_dir {
        Some(dir) => compile_cached(engine, &bytes, &sha256, dir, path)?,
        None => (compile(engine, &bytes, path)?, false),
    };
    let version = admission::check_contract(engine, &component, path)?;
    admission::check_imports(engine, &component, path)?;

    let mut linker = Linker::<HostState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(anyhow::Error::from)
        .with_context(|| {
            format!(
                "component {} needs imports this host does not grant",
                path.display()
            )
        })?;
    let pre = ConnectorPre::new(version, pre)
        .map_err(anyhow::Error::from)
        .with_context(|| {
            format!(
                "component {} does not match oomnitza:connector@{}",
                path.display(),
                version.as_str()
            )
        })?;
    Ok(LoadedComponent {
        pre,
        sha256,
        path: path.to_path_buf(),
        cached,
    })
}

/// The largest component file the host reads (a connector is a few MiB).
pub const MAX_COMPONENT_BYTES: u64 = 256 << 20;

/// Reads the component file: a regular file (checked on the open handle,
/// so it cannot be swapped in between) of at most [`MAX_COMPONENT_BYTES`].
fn read_component(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let cannot = || {
        format!(
            "cannot read component {}; build the connector first: `cargo build --release --target wasm32-wasip2 -p <its crate>` (in this repository, `scripts/dev component` builds them all)",
            path.display()
        )
    };
    let file = std::fs::File::open(path).with_context(cannot)?;
    let meta = file.metadata().with_context(cannot)?;
    if !meta.is_file() {
        bail!(
            "component {} is not a regular file (a device, a pipe or a directory); give the path of a .wasm file",
            path.display()
        );
    }
    if meta.len() > MAX_COMPONENT_BYTES {
        bail!(
            "component {} is {} MiB, over the {} MiB a component may be",
            path.display(),
            meta.len() >> 20,
            MAX_COMPONENT_BYTES >> 20
        );
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_COMPONENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(cannot)?;
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        bail!(
            "component {} grew past {} MiB while being read",
            path.display(),
            MAX_COMPONENT_BYTES >> 20
        );
    }
    Ok(bytes)
}

fn compile(engine: &Engine, bytes: &[u8], path: &Path) -> Result<Component> {
    Component::new(engine, bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{} is not a valid WebAssembly component", path.display()))
}

fn compile_cached(
    engine: &Engine,
    bytes: &[u8],
    sha256: &str,
    dir: &Path,
    path: &Path,
) -> Result<(Component, bool)> {
    ensure_private_dir(dir)?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let file = dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()));
    if file.exists() {
        // SAFETY: the artifact was written by this host (below) into a
        // directory only this user can write, under a name that binds the
        // component's hash and the engine's configuration; wasmtime also
        // checks the artifact's header against the engine.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &file) } {
            Ok(c) => return Ok((c, true)),
            Err(e) => tracing::warn!(
                "ignoring unusable cached artifact {}: {e:#}",
                file.display()
            ),
        }
    }
    let component = compile(engine, bytes, path)?;
    let artifact = component.serialize()?;
    // Write then rename, so a concurrent reader never sees half a file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{sha256}.{}.{unique}.tmp", std::process::id()));
    std::fs::write(&tmp, artifact).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &file).with_context(|| format!("cannot write {}", file.display()))?;
    Ok((component, false))
}

/// Creates `dir` (mode 0700) or checks an existing one is ours alone.
fn ensure_private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create cache directory {}", dir.display()))?;
        }
        let meta = std::fs::metadata(dir)
            .with_context(|| format!("cannot read cache directory {}", dir.display()))?;
        let mode = meta.permissions().mode();
        // SAFETY-free: geteuid via the metadata of a file we just created
        // would be indirect; compare with the owner of our own process dir.
        let me = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(meta.uid());
        if meta.uid() != me || mode & 0o022 != 0 {
            bail!(
                "cache directory {} must be owned by this user and not writable by others (mode {:o}); run `chmod go-w {}` or choose another cache_dir",
                dir.display(),
                mode & 0o777,
                dir.display()
            );
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// The default cache folder: `$XDG_CACHE_HOME/oomnitza-connect` or
/// `~/.cache/oomnitza-connect`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("oomnitza-connect"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("oomnitza-connect"))
}
