//! The component side (wasm32 only): the WIT glue, and the transport and
//! sleeper over the host's `wasi:http` and `wasi:clocks`.

pub mod bindings;
mod clock;
mod http;

pub use clock::WasiSleeper;
pub use http::WasiTransport;
