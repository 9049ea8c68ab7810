//! Oomnitza: the wire types of the bulk API and an HTTP client for it.
//! See `shared/reference/oomnitza-api.md`.

pub mod client;
pub mod wire;

pub use client::{ListQuery, OomnitzaClient, OomnitzaError};
