//! Admission: what a compiled component must be before the host links it.
//! It must export the contract version this host supports, and import
//! nothing beyond [`GRANTED_IMPORTS`] (no sockets, no filesystem, no
//! incoming HTTP, no custom host functions). Both checks read only the
//! component's type, so they run before anything is instantiated.
//!
//! Kept apart from the engine because the list changes with the contract
//! version, the engine does not.

use std::path::Path;

use anyhow::{Context, Result, bail};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::bindings::Version;

/// The contract version the component implements (its export
/// `oomnitza:connector/connector@X.Y.Z`), or a refusal that names the
/// version it exports and the ones this host supports.
pub(crate) fn check_contract(
    engine: &Engine,
    component: &Component,
    path: &Path,
) -> Result<Version> {
    let ty = component.component_type();
    crate::bindings::select(ty.exports(engine).map(|(name, _)| name))
        .with_context(|| format!("cannot load component {}", path.display()))
}

/// The interfaces a connector may import. Everything else (sockets,
/// filesystem, incoming HTTP, custom host functions) is refused at load.
pub const GRANTED_IMPORTS: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    // Rust's std imports these; the sandbox gives them empty stdin, no
    // arguments, no environment, and discards stdout and stderr.
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
];

/// Refuses a component that imports anything the host does not grant,
/// naming every such import.
pub(crate) fn check_imports(engine: &Engine, component: &Component, path: &Path) -> Result<()> {
    let ty = component.component_type();
    let refused: Vec<&str> = ty
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| {
            let (iface, version) = name.split_once('@').unwrap_or((name, ""));
            !(GRANTED_IMPORTS.contains(&iface) && version.starts_with("0.2."))
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    bail!(
        "component {} imports what this host does not grant: {}. A connector may import only wasi:io, wasi:clocks, wasi:random, wasi:cli (empty) and wasi:http/{{types,outgoing-handler}} at 0.2.x",
        path.display(),
        refused.join(", ")
    )
}
