//! The sandbox a connector runs in: its store state, its outbound HTTP
//! policy, and the limits on each call.
//!
//! The WASI context grants nothing: no preopened directories, no
//! environment, no arguments, no sockets, no name lookup. The only way out
//! is `wasi:http/outgoing-handler`, and every request passes
//! [`hooks::OutboundHooks`], which enforces the allowlist and adds the
//! credential the component never sees.

pub mod hooks;
pub mod net;
pub mod policy;
mod send;

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub use hooks::{CallBudget, OutboundHooks, OutboundPolicy, OutboundStats, Route};
pub use net::AddressPolicy;

/// Per-call resource limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock deadline for one component call (fetch, map, action).
    pub call_timeout: Duration,
    /// Linear memory cap for one instance.
    pub max_memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(60),
            max_memory_bytes: 128 << 20,
        }
    }
}

/// Everything a connector's store holds.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    limits: MemoryCap,
}

/// Caps an instance's linear memory (and tables), with an error that names
/// the limit so the operator knows which setting to change.
struct MemoryCap {
    max_bytes: usize,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            return Err(wasmtime::Error::msg(format!(
                "the component tried to grow its memory to {} MiB, over the limit of {} MiB (limits.max_memory_mib)",
                desired >> 20,
                self.max_bytes >> 20
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; no connector needs a million.
        Ok(desired <= 1_000_000)
    }
}

impl HostState {
    fn new(hooks: OutboundHooks, limits: &Limits) -> Self {
        // Nothing is inherited: no stdio, env, args, preopens or sockets.
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks,
            limits: MemoryCap {
                max_bytes: limits.max_memory_bytes,
            },
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// A new store for one connector instance, with limits applied.
pub fn new_store(engine: &Engine, hooks: OutboundHooks, limits: &Limits) -> Store<HostState> {
    let mut store = Store::new(engine, HostState::new(hooks, limits));
    store.limiter(|s| &mut s.limits);
    store.epoch_deadline_trap();
    store
}
