//! End-to-end tests: the real `oomnitza-connect` binary, the real Dropbox
//! component, and the fake Dropbox and Oomnitza servers on loopback.
//!
//! One test binary (each links wasmtime), modules by purpose. Compiled
//! components are cached in `target/e2e-component-cache`, so only the first
//! test of a fresh checkout pays for compilation.

mod support;

mod browser;
mod config_errors;
mod console;
mod contract;
mod durability;
mod faults;
mod hostile;
mod hostile_cli;
mod library;
mod mapping;
mod oauth;
mod saas;
mod sandbox;
mod seats;
mod second_connector;
mod sync;
mod workflows;
