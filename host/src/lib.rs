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
//! [`cli`] is the command line, and the only module that prints (through
//! its `Printer`); its `demo` verb (the `demo` feature) wires the bundled
//! fakes to a sync. [`admission`] decides which components may be linked.

// Every line the binary prints goes through `cli::Printer`, and so through
// `term::outln!`/`errln!`, which escape control characters a component may
// have put in its strings. Library code returns what it has to say.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod admission;
pub mod bindings;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod credentials;
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
