//! `oomnitza-connect`: runs WebAssembly user connectors in a sandbox and
//! syncs what they fetch into Oomnitza.
//!
//! The flow of a sync, by module:
//! - [`config`] reads the operator's TOML; [`credentials`] its secrets;
//! - [`engine`] compiles (or loads from cache) and links the component;
//! - [`integration`] reads its manifest, builds the [`sandbox`] policy and
//!   runs the launch ("draft") check;
//! - [`instance`] calls the component under the sandbox's limits;
//! - [`sync`] streams fetch → map → [`oomnitza`] bulk upserts.
//!
//! [`cli`] is the command line; `demo` (the `demo` feature) wires the
//! bundled fakes to a sync.

// Every line the binary prints goes through `term::outln!`/`errln!`, which
// escape control characters a component may have put in its strings.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod admission;
pub mod bindings;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod credentials;
#[cfg(feature = "demo")]
pub mod demo;
pub mod engine;
pub mod example_config;
pub mod instance;
pub mod integration;
pub mod manifest_text;
pub mod oomnitza;
pub mod outage;
pub mod report;
pub mod retry;
pub mod sandbox;
pub mod schedule;
pub mod state;
pub mod sync;
pub mod term;
pub mod vendor;
pub mod views;
pub mod workflow;
