//! A connector component that really imports `wasi:sockets` and
//! `wasi:filesystem/preopens`, for the sandbox tests: a host that provides
//! only what a connector may use should refuse to instantiate it.
//!
//! It exports world `user-connector` with the same manifest shape as
//! `hostile-attacker` (name `imports`). `fetch` uses the imports: it lists
//! the preopened directories and reads files, creates TCP and UDP sockets,
//! connects to `target` (`ip:port`, default `127.0.0.1:9`) and resolves a
//! name; it returns one record per observation (`id` the label, values
//! `[label, observation]`). Natively the crate is empty.
#![cfg(target_arch = "wasm32")]

mod connector;
mod probes;
// Not every helper is used here.
#[allow(dead_code)]
#[path = "../../shared.rs"]
mod shared;
