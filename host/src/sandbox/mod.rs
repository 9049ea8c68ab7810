//! The sandbox a connector runs in: its store state, its outbound HTTP
//! policy, and the limits on each call.
//!
//! The WASI context grants nothing: no preopened directories, no
//! environment, no arguments, no sockets, no name lookup. The only way out
//! is `wasi:http/outgoing-handler`, and every request passes
//! [`hooks::OutboundHooks`], which enforces the allowlist and adds the
//! credential the component never sees.

mod budget;
pub mod hooks;
pub mod net;
pub mod policy;
mod send;

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::config::LimitsConfig;
use crate::config::limits::defaults;

pub use budget::CallBudget;
pub use hooks::{OutboundHooks, OutboundPolicy, OutboundStats, Route};
pub use net::AddressPolicy;

/// Per-call resource limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock deadline for one component call (fetch, map, action).
    pub call_timeout: Duration,
    /// Linear memory cap for one instance.
    pub max_memory_bytes: usize,
    /// Host-side resources (header sets, requests, responses, bodies,
    /// streams, pollables) one instance may hold at once. With
    /// `max_header_bytes` and the body chunk size this bounds the host
    /// memory a guest can pin, which `max_memory_bytes` does not see.
    pub max_host_resources: usize,
    /// Bytes in one set of headers the guest builds.
    pub max_header_bytes: usize,
}

impl Limits {
    /// The limits `[limits]` sets.
    pub fn from_config(l: &LimitsConfig) -> Self {
        Self {
            call_timeout: Duration::from_secs(l.call_timeout_secs),
            max_memory_bytes: l.max_memory_mib << 20,
            max_host_resources: l.max_host_resources as usize,
            max_header_bytes: (l.max_header_kib as usize) << 10,
        }
    }
}

/// The config's defaults ([`defaults`]), the one place they are spelled.
impl Default for Limits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(defaults::CALL_TIMEOUT_SECS),
            max_memory_bytes: defaults::MAX_MEMORY_MIB << 20,
            max_host_resources: defaults::MAX_HOST_RESOURCES as usize,
            max_header_bytes: (defaults::MAX_HEADER_KIB as usize) << 10,
        }
    }
}

/// The trap message of a full resource table (wasmtime's wording).
pub const TABLE_FULL: &str = "resource table has no free keys";

/// Everything a connector's store holds.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    limits: MemoryCap,
    /// The call in progress: its budget (a breach stops the guest at the
    /// next epoch tick) and its wall-clock deadline.
    budget: Arc<CallBudget>,
    deadline: Instant,
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
    /// Starts a call that must end by `deadline`.
    pub fn start_call(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    fn new(hooks: OutboundHooks, budget: Arc<CallBudget>, limits: &Limits) -> Self {
        // Nothing is inherited: no stdio, env, args, preopens or sockets.
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(limits.max_header_bytes);
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_host_resources);
        Self {
            wasi,
            http,
            table,
            hooks,
            limits: MemoryCap {
                max_bytes: limits.max_memory_bytes,
            },
            budget,
            deadline: Instant::now() + limits.call_timeout,
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

/// A new store for one connector instance, with limits applied. The epoch
/// deadline is one tick: at every tick the guest is stopped if its call
/// breached a limit (a guest looping on refused requests must not go on
/// until the deadline) or ran past its deadline.
pub fn new_store(
    engine: &Engine,
    hooks: OutboundHooks,
    budget: Arc<CallBudget>,
    limits: &Limits,
) -> Store<HostState> {
    let mut store = Store::new(engine, HostState::new(hooks, budget, limits));
    store.limiter(|s| &mut s.limits);
    store.epoch_deadline_callback(|ctx| {
        let state = ctx.data();
        if state.budget.breached() || Instant::now() >= state.deadline {
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Continue(1))
    });
    store
}
