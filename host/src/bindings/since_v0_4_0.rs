//! Contract 0.4.0 (`wit/since_v0.4.0/`): the generated bindings of world
//! `user-connector` at that version. It added `seats` (a team's licensed
//! and provisioned seats) and the `cursor-expired` error case.
//!
//! The world's WASI imports are bound to wasmtime's own WASI bindings
//! (`with`), so this module generates only the contract's exports. Its
//! types are the host's working types (re-exported by [`super`]); an older
//! version's module converts its own to and from them
//! ([`super::since_v0_3_0`]).

wasmtime::component::bindgen!({
    world: "oomnitza:connector/user-connector",
    path: "../wit/since_v0.4.0",
    exports: { default: async },
    additional_derives: [PartialEq],
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
        "wasi:cli": wasmtime_wasi::p2::bindings::cli,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
});

/// The version this module binds, as in the exported interface's name.
pub const VERSION: &str = "0.4.0";
