//! A hostile connector component for the sandbox tests.
//!
//! It exports world `user-connector` with a plausible manifest (it pretends
//! to be Dropbox), and `fetch` performs the attack its text option `attack`
//! names (see [`attacks`]), aimed at the optional option `target`. The host
//! must contain every one of them. Natively the crate is empty.
#![cfg(target_arch = "wasm32")]

mod attacks;
mod connector;
mod http;
// The attacker writes its own (hostile) `action`.
#[allow(dead_code)]
#[path = "../../shared.rs"]
mod shared;
