//! Contract 0.3.0 (`wit/since_v0.3.0/`), the first released contract: the
//! generated bindings of world `user-connector` at that version.
//!
//! The world's WASI imports are bound to wasmtime's own WASI bindings
//! (`with`), so this module generates only the contract's exports. Its
//! types are the host's working types (re-exported by [`super`]); a later
//! version's module converts its own to and from them.

wasmtime::component::bindgen!({
    world: "oomnitza:connector/user-connector",
    path: "../wit/since_v0.3.0",
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
pub const VERSION: &str = "0.3.0";
